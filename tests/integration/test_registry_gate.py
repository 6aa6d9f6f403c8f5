"""Checks of model versions against the gate, with a fake MLflow registry (our own port's
double), on SQLite and PostgreSQL: MLflow away, a version deleted, warnings once, and the
experiment's changes making its versions' checks due in their own transaction."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from bot.domain.errors import MlflowError, MlflowUnavailable
from bot.domain.model import Outcome
from bot.domain.registry import RegistryEvent
from bot.mlflow.entities import ModelVersion, RegisteredModel, Run
from bot.services.experiments import take_step
from bot.services.registry_gate import RegistryGate, record_event
from bot.slack.notices import SlackNotices
from tests.integration.conftest import Team
from tests.integration.test_review_services import propose

RUN = "a" * 32
TOLD = ["C-CHURN", "UADMIN", "UBOSS", "UMGR"]


@dataclass
class FakeRegistry:
    """MLflow's registry as the gate asks it; ``down`` makes every call fail as MLflow
    away does (after the client's own retries)."""

    base_url: str = "http://mlflow.test"
    versions: dict[tuple[str, str], ModelVersion] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    down: bool = False
    writes: int = 0

    def _up(self) -> None:
        if self.down:
            raise MlflowUnavailable("MLflow did not answer after 4 tries")

    def add(self, name: str, version: str, run_id: str, *aliases: str) -> None:
        self.versions[(name, version)] = ModelVersion(name, version, run_id, aliases=aliases)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        self._up()
        if (name, version) not in self.versions:
            raise MlflowError("not found", "RESOURCE_DOES_NOT_EXIST", 404)
        return self.versions[(name, version)]

    def get_run(self, run_id: str) -> Run:
        self._up()
        return self.runs[run_id]

    def get_registered_model(self, name: str) -> RegisteredModel:
        self._up()
        aliases = {a: v for (n, v), mv in self.versions.items() if n == name for a in mv.aliases}
        return RegisteredModel(name, aliases)

    def search_model_versions(
        self, filter_string: str = "", order_by: tuple[str, ...] = (), page_token: str = ""
    ) -> tuple[list[ModelVersion], str]:
        self._up()
        return [mv for (n, _), mv in self.versions.items() if f"'{n}'" in filter_string], ""

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._tag(name, version, {key: value}, ())

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        self._tag(name, version, {}, (key,))

    def _tag(self, name: str, version: str, put: dict[str, str], drop: tuple[str, ...]) -> None:
        self._up()
        mv = self.versions[(name, version)]
        tags = {k: v for k, v in {**mv.tags, **put}.items() if k not in drop}
        self.versions[(name, version)] = replace(mv, tags=tags)
        self.writes += 1


@pytest.fixture
def mlflow() -> FakeRegistry:
    registry = FakeRegistry()
    registry.runs[RUN] = Run(RUN, "1", "FINISHED", tags={"mlgov.experiment": "EXP-1"})
    return registry


def gate_of(team: Team, mlflow: FakeRegistry) -> RegistryGate:
    return RegistryGate(team.db, mlflow, SlackNotices(), team.clock)


def warnings(team: Team) -> list[tuple[str, str]]:
    """(channel, text) of the gate's warnings queued so far."""
    rows = team.outbox_rows()
    return [(r.channel, r.payload["text"]) for r in rows if "⛔" in r.payload.get("text", "")]


def arrived(team: Team, event: RegistryEvent) -> None:
    with team.db.write() as uow:
        record_event(uow, event, team.clock())
        uow.commit()


def due(team: Team) -> list[tuple[str, int]]:
    return team.read(lambda uow: [(v.version, v.attempts) for v in uow.registry.due(team.clock())])


def test_mlflow_away_delays_the_check_with_backoff_and_loses_nothing(
    team: Team, mlflow: FakeRegistry
) -> None:
    propose(team)
    mlflow.add("churn", "1", RUN, "champion")
    arrived(team, RegistryEvent("churn", "1", "alias", alias="champion"))
    gate = gate_of(team, mlflow)

    mlflow.down = True
    assert gate.deliver_due() == 0
    assert due(team) == []  # owed again in 30 s, not now
    team.clock.advance(seconds=30)
    assert due(team) == [("1", 1)]
    assert gate.deliver_due() == 0
    team.clock.advance(seconds=59)
    assert due(team) == []  # the next wait doubled
    team.clock.advance(seconds=1)

    mlflow.down = False
    assert gate.deliver_due() == 1
    assert mlflow.versions[("churn", "1")].tags["mlgov.gate"] == "blocked"
    # The thread, and every manager of churn (admins manage every project).
    assert sorted(channel for channel, _ in warnings(team)) == TOLD
    assert due(team) == [] and gate.deliver_due() == 0


def test_each_warning_goes_out_once_however_often_the_version_is_checked(
    team: Team, mlflow: FakeRegistry
) -> None:
    propose(team)
    mlflow.add("churn", "1", RUN)
    gate = gate_of(team, mlflow)
    for _ in range(2):
        arrived(team, RegistryEvent("churn", "1", "created"))
        gate.deliver_due()
    assert len(warnings(team)) == len(TOLD)  # about the registration
    assert "registered before the review passed" in warnings(team)[0][1]
    writes = mlflow.writes

    mlflow.add("churn", "1", RUN, "champion")
    mlflow.versions[("churn", "1")] = replace(
        mlflow.versions[("churn", "1")], tags={"mlgov.gate": "blocked"}
    )
    for _ in range(2):
        arrived(team, RegistryEvent("churn", "1", "alias", alias="champion"))
        gate.deliver_due()
    told = warnings(team)[len(TOLD) :]
    assert len(told) == len(TOLD) and all("`champion`" in text for _, text in told)
    assert mlflow.writes == writes + 2  # the two tags the hand-made change had dropped


def test_an_echo_of_mlgovs_own_tag_and_someone_elses_tag_make_no_check(
    team: Team, mlflow: FakeRegistry
) -> None:
    propose(team)
    mlflow.add("churn", "1", RUN)
    arrived(team, RegistryEvent("churn", "1", "created"))
    gate_of(team, mlflow).deliver_due()

    arrived(team, RegistryEvent("churn", "1", "tag", tag=("mlgov.gate", "blocked")))
    arrived(team, RegistryEvent("churn", "1", "tag", tag=("owner", "risk-team")))
    assert due(team) == []
    arrived(team, RegistryEvent("churn", "1", "tag", tag=("mlgov.gate", "passed")))
    assert due(team) == [("1", 0)]  # by hand: set back by the next check


def test_a_version_deleted_in_mlflow_is_let_go(team: Team, mlflow: FakeRegistry) -> None:
    arrived(team, RegistryEvent("churn", "9", "created"))
    assert gate_of(team, mlflow).deliver_due() == 1
    assert due(team) == [] and warnings(team) == []


def test_changes_to_the_experiment_make_its_versions_checks_due_with_them(
    team: Team, mlflow: FakeRegistry
) -> None:
    number = propose(team)
    mlflow.add("churn", "1", RUN)
    arrived(team, RegistryEvent("churn", "1", "created"))
    gate = gate_of(team, mlflow)
    gate.deliver_due()
    reasons = mlflow.versions[("churn", "1")].tags["mlgov.gate.reasons"]
    assert "EXP-1 is proposed, not approved" in reasons

    team.clock.advance(minutes=1)
    team.run("alice", take_step, number, "start")
    assert due(team) == [("1", 0)]
    gate.deliver_due()
    assert "EXP-1 is running" in mlflow.versions[("churn", "1")].tags["mlgov.gate.reasons"]

    gate.deliver_due()
    team.run("alice", take_step, number, "conclude", outcome=Outcome.SUCCESS, text="t")
    assert due(team) == [("1", 0)]


def test_a_version_of_no_experiment_gets_no_tags(team: Team, mlflow: FakeRegistry) -> None:
    mlflow.runs[RUN] = replace(mlflow.runs[RUN], tags={})
    mlflow.add("churn", "1", RUN, "champion")
    arrived(team, RegistryEvent("churn", "1", "alias", alias="champion"))
    assert gate_of(team, mlflow).deliver_due() == 1
    assert mlflow.versions[("churn", "1")].tags == {} and warnings(team) == []
