"""Use cases for experiments: create, move through the lifecycle, link, read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain import lifecycle, wip
from bot.domain.commands import EditExperiment, ListExperiments, NewExperiment
from bot.domain.editing import apply_edit
from bot.domain.errors import GateClosed, PermissionDenied, ValidationError
from bot.domain.lifecycle import FINAL, IN_FLIGHT
from bot.domain.model import (
    Actor,
    AuditEntry,
    Experiment,
    Link,
    Outcome,
    Project,
    Status,
    Workstream,
    success_criterion,
)
from bot.domain.review import ReviewKind, design_gate
from bot.services.ports import Context
from bot.services.review_requests import open_after_conclude
from storage.unit_of_work import UnitOfWork

BY_HAND = frozenset({"start", "analyze", "conclude", "abandon"})


def require_readable(actor: Actor, experiment: Experiment) -> Experiment:
    """``experiment``, or PermissionDenied when the actor is not on its project."""
    if not actor.may_read(experiment.project):
        raise PermissionDenied(
            f"{experiment.key} belongs to project {experiment.project}, which you are not on."
        )
    return experiment


def _announce(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    action: str,
    detail: dict[str, Any],
) -> None:
    for message in ctx.notices.experiment_changed(
        experiment, project, ctx.actor.user_id, action, detail
    ):
        uow.outbox.add(message, ctx.now)


def create_experiment(uow: UnitOfWork, ctx: Context, cmd: NewExperiment) -> Experiment:
    """Propose an experiment in a project; the actor owns it."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, cmd.project)
    if not (actor.on_project(project.slug) or actor.is_admin()):
        raise PermissionDenied(
            f"You are not on project {project.slug}; a manager can add you with"
            f" /mlgov member add <@{actor.user_id}> scientist {project.slug}."
        )
    criterion = None
    if cmd.metric is not None:
        criterion = success_criterion(cmd.metric, cmd.direction, cmd.min_delta)
    elif cmd.direction is not None or cmd.min_delta is not None:
        raise ValidationError("--min-delta and --direction need --metric.")
    draft = Experiment(
        id=0,
        team_id=actor.team_id,
        number=uow.workspaces.allocate_experiment_number(actor.team_id),
        project=project.slug,
        title=cmd.title,
        hypothesis=cmd.hypothesis,
        owner_id=actor.user_id,
        workstream=cmd.stream,
        criterion=criterion,
        status=Status.PROPOSED,
        outcome=None,
        learnings="",
        version=1,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    experiment = uow.experiments.add(draft, project.id)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "created",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        to_status=Status.PROPOSED.value,
        detail={
            "title": cmd.title,
            "stream": cmd.stream.value,
            "criterion": criterion.describe() if criterion else None,
        },
    )
    for message in ctx.notices.experiment_created(experiment, project):
        uow.outbox.add(message, ctx.now)
    return experiment


@dataclass(frozen=True)
class Moved:
    before: Experiment
    after: Experiment
    forced: bool = False


def take_step(
    uow: UnitOfWork,
    ctx: Context,
    number: int,
    step: str,
    *,
    force: bool = False,
    outcome: Outcome | None = None,
    text: str = "",
) -> Moved:
    """Move an experiment by ``step`` (start, analyze, conclude, abandon), audited."""
    if step not in BY_HAND:
        # schedule goes through the review gate (services.reviews), review steps through
        # decisions: no other surface may reach them through here.
        raise ValidationError(f"'{step}' is not a step taken here.")
    actor = ctx.actor
    if step in ("start", "conclude"):
        # Two starts at once must not both pass a WIP limit, nor two conclusions pick
        # reviewers by the same workloads: take the workspace lock before reading, so
        # the second sees what the first committed.
        uow.workspaces.lock(actor.team_id)
    before = uow.experiments.require(actor.team_id, number)
    project = uow.projects.require(actor.team_id, before.project)
    after = lifecycle.apply(
        before,
        step,
        actor,
        ctx.now,
        outcome=outcome,
        learnings=text if step == "conclude" else None,
    )
    forced = False
    if step == "start":
        _check_design(uow, before, project)
        forced = wip.check_start(
            before,
            project.rules,
            _in_flight(uow, actor.team_id, owner_id=before.owner_id, stream=before.workstream),
            _in_flight(uow, actor.team_id, project=project.slug)
            if project.rules.wip_project
            else [],
            actor,
            force,
        )
    elif force:
        raise PermissionDenied("--force only applies to start.")
    saved = uow.experiments.save(after)
    detail: dict[str, Any] = {}
    if step == "conclude":
        dismissed = results_changed(uow, saved)
        detail["conclusion"] = saved.conclusions
        if dismissed:
            detail["approvals_dismissed"] = dismissed
    if forced:
        detail["forced_past_wip_limit"] = True
    if step == "conclude":
        detail.update(outcome=saved.outcome.value if saved.outcome else None, learnings=text)
    if step == "abandon":
        detail["reason"] = text
        uow.reviews.close_open(saved.id)  # nobody should review abandoned work
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        step,
        ctx.now,
        experiment=saved,
        project_id=project.id,
        from_status=before.status.value,
        to_status=saved.status.value,
        detail=detail,
    )
    _announce(uow, ctx, saved, project, step, detail)
    if step == "conclude":
        open_after_conclude(uow, ctx, saved, project)  # no experiment in review unasked
    return Moved(before, saved, forced)


def edit_experiment(uow: UnitOfWork, ctx: Context, cmd: EditExperiment) -> Experiment:
    """Change an experiment's title, hypothesis, criterion or stream (owner or manager),
    audited with each field's from and to."""
    actor = ctx.actor
    if cmd.stream is not None:
        # A stream change of work in flight counts against a WIP limit, as a start does.
        uow.workspaces.lock(actor.team_id)
    before = require_readable(actor, uow.experiments.require(actor.team_id, cmd.number))
    if not lifecycle.may_move(actor, before, lifecycle.Mover.SCIENCE):
        raise PermissionDenied(
            f"Only the owner or a manager can edit {before.key} (owner: <@{before.owner_id}>)."
        )
    project = uow.projects.require(actor.team_id, before.project)
    edited = apply_edit(before, cmd, ctx.now)
    after = edited.experiment
    if "stream" in edited.changes and before.status in IN_FLIGHT:
        others = _in_flight(uow, actor.team_id, owner_id=before.owner_id, stream=after.workstream)
        wip.check_stream_change(after, project.rules, [e for e in others if e.id != before.id])
    saved = uow.experiments.save(after)
    detail: dict[str, Any] = {**edited.changes, "status": saved.status.value}
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        edited.action,
        ctx.now,
        experiment=saved,
        project_id=project.id,
        detail=detail,
    )
    _announce(uow, ctx, saved, project, edited.action, detail)
    # Read again: the flag for reviewers comes from the audit row just written.
    return uow.experiments.require(actor.team_id, cmd.number)


def _in_flight(
    uow: UnitOfWork,
    team_id: str,
    *,
    owner_id: str | None = None,
    stream: Workstream | None = None,
    project: str | None = None,
) -> list[Experiment]:
    return uow.experiments.find(
        team_id, owner_id=owner_id, workstream=stream, project=project, statuses=IN_FLIGHT
    )


def require_linker(uow: UnitOfWork, actor: Actor, number: int) -> Experiment:
    """The experiment, when ``actor`` may link things to it (people on its project)."""
    experiment = require_readable(actor, uow.experiments.require(actor.team_id, number))
    if not (actor.user_id == experiment.owner_id or actor.on_project(experiment.project)):
        raise PermissionDenied(f"Only people on {experiment.project} can add links.")
    return experiment


def add_link(uow: UnitOfWork, ctx: Context, number: int, url: str, label: str) -> Experiment:
    """Attach a link (notebook, prototype, dataset, run) to an experiment."""
    experiment = require_linker(uow, ctx.actor, number)
    uow.experiments.add_link(experiment, Link(url, label, ctx.actor.user_id, ctx.now))
    return record_link(uow, ctx, experiment, {"url": url, "label": label})


def record_link(
    uow: UnitOfWork, ctx: Context, experiment: Experiment, detail: dict[str, Any]
) -> Experiment:
    """Audit a new link of ``experiment`` (``url``, ``label``: see change_message) and say
    so in its thread; the experiment as it is now."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, experiment.project)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "link",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail=detail,
    )
    _announce(uow, ctx, experiment, project, "link", detail)
    return uow.experiments.require(actor.team_id, experiment.number)


def show_experiment(uow: UnitOfWork, ctx: Context, number: int) -> Experiment:
    return require_readable(ctx.actor, uow.experiments.require(ctx.actor.team_id, number))


def experiment_history(
    uow: UnitOfWork, ctx: Context, number: int
) -> tuple[Experiment, list[AuditEntry]]:
    experiment = show_experiment(uow, ctx, number)
    return experiment, uow.audit.for_experiment(experiment)


def list_experiments(uow: UnitOfWork, ctx: Context, query: ListExperiments) -> list[Experiment]:
    """Experiments the actor may read; active ones unless ``all`` or a status is asked for."""
    actor = ctx.actor
    if query.project is not None:
        uow.projects.require(actor.team_id, query.project)
        if not actor.may_read(query.project):
            raise PermissionDenied(f"You are not on project {query.project}.")
    owner = actor.user_id if query.mine else query.user_id
    statuses: frozenset[Status] | None
    if query.status is not None:
        statuses = frozenset({query.status})
    elif query.everything:
        statuses = None
    else:
        statuses = frozenset(Status) - FINAL
    found = uow.experiments.find(
        actor.team_id, project=query.project, owner_id=owner, statuses=statuses
    )
    return [e for e in found if actor.may_read(e.project)]


def readable_projects(uow: UnitOfWork, actor: Actor) -> list[Project]:
    return [p for p in uow.projects.all_in(actor.team_id) if actor.may_read(p.slug)]


def _check_design(uow: UnitOfWork, experiment: Experiment, project: Project) -> None:
    """Under ``design_review=required``, refuse to start without an approved design."""
    unmet = design_gate(
        project.rules.design_review,
        uow.reviews.latest(experiment.id, ReviewKind.DESIGN),
        experiment.owner_id,
        project.rules.quorum,
    )
    if unmet:
        raise GateClosed(f"{experiment.key} cannot start yet:", unmet)


def results_changed(uow: UnitOfWork, experiment: Experiment, evaluation: int | None = None) -> int:
    """The one event for new results (a new conclusion, or a new ``evaluation``): the
    approvals of earlier results are dismissed, so the review sees what ships."""
    return uow.reviews.dismiss_approvals_before(experiment.id, experiment.conclusions, evaluation)
