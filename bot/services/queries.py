"""What the read API shows (SPEC §13): experiments page by page, one experiment with all
that is known of it, a week's digest and the rotation ahead. Reads only; the figures come
from the same services Slack uses (the digest's, the rotation's), never recomputed here."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.digest_values import Week
from bot.domain.errors import PermissionDenied
from bot.domain.evaluation import EvaluationRecord
from bot.domain.model import AuditEntry, Experiment, Project, Status
from bot.domain.review import Review
from bot.services import digest, rotation
from bot.services.ports import Context
from storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ExperimentPage:
    items: list[Experiment]
    total: int  # matching experiments on every page
    next_before: int | None  # the number the next page starts below; None: the last page


@dataclass(frozen=True)
class ExperimentRecord:
    experiment: Experiment
    reviews: list[Review]
    evaluations: list[EvaluationRecord]
    history: list[AuditEntry]


def list_experiments(
    uow: UnitOfWork,
    ctx: Context,
    *,
    project: str | None,
    statuses: list[Status] | None,
    owner: str | None,
    limit: int,
    before: int | None,
) -> ExperimentPage:
    """The experiments the actor may read, newest first, ``limit`` at a time."""
    team = ctx.actor.team_id
    if project is not None:
        _readable_project(uow, ctx, project)
    elif not ctx.actor.pipeline and not ctx.actor.is_admin():
        # Every project's experiments are for admins and the API's tokens only.
        raise PermissionDenied("Name a project (?project=…) you are on.")
    found = uow.experiments.find(
        team,
        project=project,
        owner_id=owner,
        statuses=statuses,
        limit=limit + 1,
        before=before,
    )
    total = uow.experiments.count(team, project=project, owner_id=owner, statuses=statuses)
    more = len(found) > limit
    items = found[:limit]
    return ExperimentPage(items, total, items[-1].number if more and items else None)


def experiment_record(uow: UnitOfWork, ctx: Context, number: int) -> ExperimentRecord:
    """One experiment with its reviews (and decisions), evaluations and audit history."""
    experiment = uow.experiments.require(ctx.actor.team_id, number)
    if not ctx.actor.may_read(experiment.project):
        raise PermissionDenied(f"You are not on project {experiment.project}.")
    return ExperimentRecord(
        experiment,
        uow.reviews.of_experiment(experiment.id),
        uow.evaluations.of_experiment(experiment.id),
        uow.audit.for_experiment(experiment),
    )


def week_digest(uow: UnitOfWork, ctx: Context, slug: str, week: Week) -> digest.Digest:
    """A project's digest of ``week``, as the weekly job computes it."""
    return digest.of_week(uow, ctx, slug, week)


def rotation_ahead(uow: UnitOfWork, ctx: Context, slug: str, weeks: int) -> rotation.Schedule:
    """The next ``weeks`` meetings, exactly as `/rotation show` lists them."""
    project = _readable_project(uow, ctx, slug)
    return rotation.upcoming(uow, ctx, project, ctx.timezone, weeks)


def _readable_project(uow: UnitOfWork, ctx: Context, slug: str) -> Project:
    project = uow.projects.require(ctx.actor.team_id, slug)
    if not ctx.actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    return project
