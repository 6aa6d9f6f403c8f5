"""The gate in MLflow's model registry (SPEC §12).

Registry events (webhooks, through the inbox), polls of the models named by the rule
``mlflow_model=`` and any change recorded about an experiment make a *check* of a model
version due (storage.registry). A check reads the version from MLflow, decides its gate
tags and its warnings in one transaction (the warnings go out through the outbox, each
once: the version remembers what they said), then writes the tags to MLflow. MLflow away:
the check is owed again later, with backoff; nothing is lost.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import MlflowError
from bot.domain.evaluation import EvaluationRecord
from bot.domain.mlflow_runs import TAG, tagged_number
from bot.domain.model import Experiment
from bot.domain.registry import (
    BLOCKED,
    GATE,
    PASSED,
    GateTags,
    KnownVersion,
    RegistryEvent,
    gate_tags,
    is_echo,
    registry_gate,
    warnings_due,
)
from bot.domain.review import Review, ReviewKind
from bot.mlflow.entities import ModelVersion, Run
from bot.services.ports import MlflowApi, Notices
from bot.services.review_staffing import managers_of
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)
MISSING = "RESOURCE_DOES_NOT_EXIST"
BLOCKED_ACTION = "registry_blocked"  # audited with the experiment (its history shows it)


def record_event(uow: UnitOfWork, event: RegistryEvent, now: datetime) -> bool:
    """Make a check of the event's version due; False when there is nothing to look at:
    MLflow telling of a tag mlgov set, or of someone's own tag on a version mlgov knows."""
    known = uow.registry.get(event.model, event.version)
    if known is not None and event.tag is not None:
        if is_echo(event, known.wanted) or not event.tag[0].startswith("mlgov."):
            return False
    uow.registry.mark(event.model, event.version, now)
    return True


def version_link(base_url: str, model: str, version: str) -> str:
    """The version's page in MLflow's UI."""
    return f"{base_url}/#/models/{urllib.parse.quote(model, safe='')}/versions/{version}"


@dataclass
class RegistryGate:
    """Checks of model versions, for any number of threads and processes at once."""

    db: Database
    mlflow: MlflowApi
    notices: Notices
    clock: Callable[[], datetime]
    writes: bool = True  # False: a dry run, which decides and tells but tags nothing

    def deliver_due(self, budget: int = 200, stopping: Callable[[], bool] = lambda: False) -> int:
        """Check the versions due now (the OutboxWorker loop runs this); how many settled."""
        settled = 0
        seen: set[tuple[int, int]] = set()
        while budget > 0 and not stopping():
            with self.db.read() as uow:
                due = [v for v in uow.registry.due(self.clock()) if (v.id, v.due_seq) not in seen]
            if not due:
                return settled
            for known in due:
                if budget <= 0 or stopping():
                    break
                budget -= 1
                seen.add((known.id, known.due_seq))
                settled += int(self.check(known))
        return settled

    def poll(self) -> list[str]:
        """Where webhooks cannot reach mlgov: look at the registered models that project
        rules name (``mlflow_model=``) for new versions and aliases, then check them."""
        with self.db.read() as uow:
            names = sorted({p.rules.mlflow_model for p in uow.projects.everywhere()} - {""})
        done: list[str] = []
        for name in names:
            try:
                model = self.mlflow.get_registered_model(name)
                versions = self._versions(name)
            except MlflowError as exc:
                done.append(f"{name}: not polled ({exc})")
                continue
            with self.db.write() as uow:
                known = uow.registry.of_model(name)
                new = 0
                for version in versions:
                    aliases = {a for a, v in model.aliases.items() if v == version.version}
                    before = known.get(version.version)
                    if before is None or aliases - set(before):
                        uow.registry.mark(name, version.version, self.clock())
                        new += 1
                uow.commit()
            if new:
                done.append(f"{name}: {new} new version(s) or alias(es) to check")
        checked = self.deliver_due()
        return done + ([f"checked the gate of {checked} model version(s)"] if checked else [])

    def _versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name`` (the rule admits no quote in a name)."""
        versions: list[ModelVersion] = []
        token = ""
        while True:
            page, token = self.mlflow.search_model_versions(f"name = '{name}'", (), token)
            versions += page
            if not token:
                return versions

    def check(self, known: KnownVersion) -> bool:
        """Look at one version; True when its check is done (False: owed again later)."""
        try:
            version = self.mlflow.get_model_version(known.model, known.version)
            run = self._run(version.run_id)
        except MlflowError as exc:
            if exc.error_code == MISSING:  # deleted in MLflow: nothing left to tag
                return self._settle(known)
            return self._later(known, exc)
        tags = self._decide(known, version, run)
        if tags is not None and self.writes:
            changes = tags.changes(version.tags)
            # mlgov.gate goes last: whoever reads it finds its reasons or approvals there.
            ordered = sorted(changes.set.items(), key=lambda item: item[0] == GATE)
            try:
                for key in changes.remove:
                    self.mlflow.delete_model_version_tag(known.model, known.version, key)
                for key, value in ordered:
                    self.mlflow.set_model_version_tag(known.model, known.version, key, value)
            except MlflowError as exc:
                return self._later(known, exc)
        return self._settle(known)

    def _run(self, run_id: str) -> Run | None:
        if not run_id:  # a version registered from no run
            return None
        try:
            return self.mlflow.get_run(run_id)
        except MlflowError as exc:
            if exc.error_code == MISSING:
                return None
            raise

    def _decide(
        self, known: KnownVersion, version: ModelVersion, run: Run | None
    ) -> GateTags | None:
        """Record what the version's gate is and warn about it (once per registration and
        alias); the tags it should carry (None: its run belongs to no experiment)."""
        now = self.clock()
        with self.db.write() as uow:
            current = uow.registry.lock(known.id)
            experiment = _experiment_of(uow, version, run)
            if experiment is None:
                uow.registry.record(
                    known.id,
                    run_id=version.run_id,
                    experiment_id=None,
                    gate="",
                    wanted={},
                    aliases=version.aliases,
                    warned=current.warned,
                    now=now,
                )
                uow.commit()
                return None
            project = uow.projects.get(experiment.team_id, experiment.project)
            assert project is not None  # an experiment's project is never deleted
            review = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
            unmet = registry_gate(experiment, review, project.rules.quorum)
            approved_by, evaluation = _approval(uow, experiment, review) if not unmet else ([], "")
            tags = gate_tags(experiment, unmet, approved_by, evaluation)
            due = warnings_due(version.aliases, current.warned) if unmet else ()
            if due:
                self._warn(uow, experiment, version, due, unmet, now)
            uow.registry.record(
                known.id,
                run_id=version.run_id,
                experiment_id=experiment.id,
                gate=BLOCKED if unmet else PASSED,
                wanted=tags.set,
                aliases=version.aliases,
                warned=current.warned + due,
                now=now,
            )
            uow.commit()
        return tags

    def _warn(
        self,
        uow: UnitOfWork,
        experiment: Experiment,
        version: ModelVersion,
        due: tuple[str, ...],
        unmet: list[str],
        now: datetime,
    ) -> None:
        project = uow.projects.get(experiment.team_id, experiment.project)
        assert project is not None
        aliases = tuple(event.removeprefix("alias:") for event in due if event != "registered")
        link = version_link(self.mlflow.base_url, version.name, version.version)
        for message in self.notices.model_blocked(
            experiment,
            project,
            version.name,
            version.version,
            aliases,
            unmet,
            managers_of(uow, project),
            link,
        ):
            uow.outbox.add(message, now)
        uow.audit.record(
            experiment.team_id,
            "mlflow",
            BLOCKED_ACTION,
            now,
            experiment=experiment,
            project_id=project.id,
            gate=False,  # a warning, not a change: no new check of its versions
            detail={
                "model": version.name,
                "version": version.version,
                "run": version.run_id,
                "aliases": list(aliases),
                "unmet": unmet,
            },
        )

    def _settle(self, known: KnownVersion) -> bool:
        with self.db.write() as uow:
            done = uow.registry.settle(known.id, known.due_seq)
            uow.commit()
        return done

    def _later(self, known: KnownVersion, exc: MlflowError) -> bool:
        wait = min(LAST_RETRY, FIRST_RETRY * 2 ** min(known.attempts, 10))
        log.warning(
            "MLflow gate: %s version %s is checked again in %s: %s",
            known.model,
            known.version,
            wait,
            exc,
        )
        with self.db.write() as uow:
            uow.registry.retry_later(known.id, known.due_seq, self.clock() + wait, str(exc))
            uow.commit()
        return False


def _experiment_of(uow: UnitOfWork, version: ModelVersion, run: Run | None) -> Experiment | None:
    """The experiment the version's run is linked to (by hand or by the sync), else the one
    its ``mlgov.experiment`` tag names where mlgov serves one workspace (as the sync reads
    it); None: mlgov leaves versions of other runs alone."""
    linked = [
        (row.team_id, row.experiment_number)
        for row in uow.mlflow_runs.known([version.run_id]).values()
        if row.experiment_number is not None
    ]
    if len(linked) == 1:
        return uow.experiments.get(*linked[0])
    number = tagged_number(run.tags.get(TAG, "")) if run is not None else None
    teams = uow.workspaces.team_ids()
    if linked or number is None or len(teams) != 1:
        return None
    return uow.experiments.get(teams[0], number)


def _approval(
    uow: UnitOfWork, experiment: Experiment, review: Review | None
) -> tuple[list[str], str]:
    """Who approved (by name where known) and the evaluation their approvals are about."""
    if review is None:
        return [], ""
    approvers = sorted(review.approvals(experiment.owner_id))
    seen = [d.evaluation for r, d in review.latest().items() if r in approvers]
    latest = max((e for e in seen if e is not None), default=None)
    return [_named(uow, experiment.team_id, who) for who in approvers], _evaluation(uow, latest)


def _named(uow: UnitOfWork, team_id: str, user_id: str) -> str:
    member = uow.members.get(team_id, user_id)
    return f"{member.name} ({user_id})" if member is not None and member.name else user_id


def _evaluation(uow: UnitOfWork, evaluation_id: int | None) -> str:
    """How the approved evaluation is named on the version (``#12 from upload (x.csv)``)."""
    record: EvaluationRecord | None = (
        uow.evaluations.get(evaluation_id) if evaluation_id is not None else None
    )
    if record is None:
        return ""
    named = f"#{record.id} of EXP-{record.experiment_number} from {record.source}"
    return f"{named} ({record.filename})" if record.filename else named
