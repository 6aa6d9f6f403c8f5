"""Work-in-progress limits (SPEC §2): per person per workstream, per project, and --force."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.errors import PermissionDenied, WipLimitExceeded
from bot.domain.model import Actor, Experiment, ProjectRules, Role, Status, Workstream
from bot.domain.wip import check_start

AT = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
OWNER = Actor("T1", "UALICE", frozenset({Role.SCIENTIST}))
MANAGER = Actor("T1", "UBOSS", project_roles={"churn": frozenset({Role.MANAGER})})
ORG_MANAGER = Actor("T1", "UCTO", frozenset({Role.MANAGER}))
OTHER_MANAGER = Actor("T1", "UOTHER", project_roles={"fraud": frozenset({Role.MANAGER})})
ADMIN = Actor("T1", "UADMIN", frozenset({Role.ADMIN}))
DEFAULTS = ProjectRules()


def exp(
    number: int,
    stream: Workstream = Workstream.MAIN,
    owner: str = "UALICE",
    status: Status = Status.RUNNING,
    title: str | None = None,
) -> Experiment:
    """Experiment ``EXP-<number>`` of project churn."""
    return Experiment(
        id=number,
        team_id="T1",
        number=number,
        project="churn",
        title=title or f"Idea number {number}",
        hypothesis="",
        owner_id=owner,
        workstream=stream,
        criterion=None,
        status=status,
        outcome=None,
        learnings="",
        version=1,
        created_at=AT,
        updated_at=AT,
    )


def candidate(stream: Workstream = Workstream.MAIN) -> Experiment:
    return exp(100, stream, status=Status.PROPOSED, title="The new one")


def test_default_limits_are_one_main_and_three_side() -> None:
    assert (DEFAULTS.wip_main, DEFAULTS.wip_side, DEFAULTS.wip_project) == (1, 3, 0)


def test_first_main_stream_experiment_starts() -> None:
    assert check_start(candidate(), DEFAULTS, [], [], OWNER, force=False) is False


def test_second_main_stream_experiment_is_refused_with_what_is_in_flight() -> None:
    running = exp(3, title="Tenure features")
    with pytest.raises(WipLimitExceeded) as refused:
        check_start(candidate(), DEFAULTS, [running], [running], OWNER, force=False)
    error = refused.value
    assert len(error.in_flight) == 1
    assert "EXP-3" in error.in_flight[0]
    assert "Tenure features" in error.in_flight[0]
    assert "EXP-3 Tenure features" in str(error)
    assert "limit 1" in str(error)
    assert "main" in str(error)
    assert "--force" in str(error)


@pytest.mark.parametrize("running", [0, 1, 2])
def test_side_stream_allows_three(running: int) -> None:
    owner_side = [exp(n, Workstream.SIDE) for n in range(1, running + 1)]
    started = check_start(
        candidate(Workstream.SIDE), DEFAULTS, owner_side, owner_side, OWNER, False
    )
    assert started is False


def test_fourth_side_stream_experiment_is_refused_listing_all_three() -> None:
    owner_side = [exp(n, Workstream.SIDE) for n in (4, 5, 6)]
    with pytest.raises(WipLimitExceeded) as refused:
        check_start(candidate(Workstream.SIDE), DEFAULTS, owner_side, owner_side, OWNER, False)
    assert [line.split()[0] for line in refused.value.in_flight] == ["EXP-4", "EXP-5", "EXP-6"]
    assert "limit 3" in str(refused.value)
    assert "side" in str(refused.value)


def test_a_main_stream_slot_is_not_taken_by_side_work() -> None:
    # The caller passes the owner's in-flight work of the same workstream only.
    side = [exp(2, Workstream.SIDE)]
    assert check_start(candidate(Workstream.MAIN), DEFAULTS, [], side, OWNER, False) is False


def test_limits_come_from_the_project_rules() -> None:
    rules = ProjectRules(wip_main=2)
    one = [exp(1)]
    assert check_start(candidate(), rules, one, one, OWNER, False) is False
    two = [exp(1), exp(2)]
    with pytest.raises(WipLimitExceeded, match="limit 2"):
        check_start(candidate(), rules, two, two, OWNER, False)


def test_a_side_limit_of_zero_refuses_all_side_work() -> None:
    with pytest.raises(WipLimitExceeded):
        check_start(candidate(Workstream.SIDE), ProjectRules(wip_side=0), [], [], OWNER, False)


def test_project_limit_refuses_even_when_the_person_is_free() -> None:
    rules = ProjectRules(wip_project=2)
    others = [exp(1, owner="UBOB", title="Bob's"), exp(2, owner="UCAROL", title="Carol's")]
    with pytest.raises(WipLimitExceeded) as refused:
        check_start(candidate(), rules, [], others, OWNER, False)
    assert "churn" in str(refused.value)
    assert "limit 2" in str(refused.value)
    assert [line.split()[0] for line in refused.value.in_flight] == ["EXP-1", "EXP-2"]
    assert "UBOB" in str(refused.value)


def test_project_limit_below_the_count_passes() -> None:
    rules = ProjectRules(wip_project=3)
    others = [exp(1, owner="UBOB"), exp(2, owner="UCAROL")]
    assert check_start(candidate(), rules, [], others, OWNER, False) is False


def test_no_project_limit_when_unset() -> None:
    crowd = [exp(n, owner=f"U{n:03d}") for n in range(1, 200)]
    assert check_start(candidate(), DEFAULTS, [], crowd, OWNER, False) is False


def test_both_limits_breached_list_each_experiment_once() -> None:
    mine = exp(1)
    rules = ProjectRules(wip_project=2)
    with pytest.raises(WipLimitExceeded) as refused:
        check_start(candidate(), rules, [mine], [mine, exp(2, owner="UBOB")], OWNER, False)
    keys = [line.split()[0] for line in refused.value.in_flight]
    assert sorted(keys) == ["EXP-1", "EXP-2"]
    assert "UALICE" in str(refused.value) and "Project churn" in str(refused.value)


@pytest.mark.parametrize("manager", [MANAGER, ORG_MANAGER], ids=["project", "workspace"])
def test_a_manager_forces_past_the_limit(manager: Actor) -> None:
    running = [exp(1)]
    assert check_start(candidate(), DEFAULTS, running, running, manager, force=True) is True


def test_a_manager_forces_past_the_project_limit() -> None:
    crowd = [exp(1, owner="UBOB")]
    assert check_start(candidate(), ProjectRules(wip_project=1), [], crowd, MANAGER, True) is True


@pytest.mark.parametrize(
    "actor", [OWNER, OTHER_MANAGER, ADMIN], ids=["owner", "manager-elsewhere", "admin"]
)
def test_force_by_a_non_manager_is_denied(actor: Actor) -> None:
    running = [exp(1)]
    with pytest.raises(PermissionDenied, match="manager"):
        check_start(candidate(), DEFAULTS, running, running, actor, force=True)


def test_force_within_the_limits_is_not_reported_as_forced() -> None:
    # Nothing was overridden, so nothing should be logged as forced, whoever asked.
    assert check_start(candidate(), DEFAULTS, [], [], OWNER, force=True) is False
    assert check_start(candidate(), DEFAULTS, [], [], MANAGER, force=True) is False
