"""Who reviews (SPEC §3): the candidates, hand-overs, the quorum a project can reach, and
reviews nobody eligible can take (they keep their reviewers and "need a reviewer")."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.domain.errors import PermissionDenied, ValidationError
from bot.domain.model import Experiment, Project, Role
from bot.domain.review import Candidate, Review, Verdict, select_reviewers
from bot.services.availability import slack_away, unchecked_note
from bot.services.ports import Context
from storage.unit_of_work import UnitOfWork

# The run ledger keeps "the managers were told this review needs a reviewer" once per review.
TOLD = "review-needs-reviewer"


def load_experiment(uow: UnitOfWork, ctx: Context, number: int) -> tuple[Experiment, Project]:
    """The experiment and its project, or PermissionDenied for someone not on it."""
    experiment = uow.experiments.require(ctx.actor.team_id, number)
    if not ctx.actor.may_read(experiment.project):
        raise PermissionDenied(f"You are not on project {experiment.project}.")
    return experiment, uow.projects.require(ctx.actor.team_id, experiment.project)


@dataclass(frozen=True)
class Pool:
    """The candidates a selection chooses from, and why Slack statuses could not be read
    for it ("" when they were, or are not used)."""

    candidates: list[Candidate]
    unchecked: str = ""

    @property
    def note(self) -> str:
        """What the assignment says about it ("" when nothing)."""
        return unchecked_note(self.unchecked) if self.unchecked else ""


def candidates(uow: UnitOfWork, ctx: Context, project: Project) -> Pool:
    """The project's scientists, with their open reviews, last assignment and absence
    (recorded with `/rotation ooo`, or said by their Slack status)."""
    load = uow.reviews.workload(project.team_id)
    day = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
    away = {a.user_id for a in uow.rotations.absences(project.team_id, day) if a.covers(day)}
    scientists = [
        (order, member)
        for order, member in enumerate(uow.members.all_in(project.team_id))
        if member.as_actor().has(Role.SCIENTIST, project.slug)
    ]
    slack = slack_away(uow, ctx, [m.user_id for _, m in scientists])
    away |= set(slack.away)
    found = []
    for order, member in scientists:
        open_reviews, last = load.get(member.user_id, (0, None))
        found.append(Candidate(member.user_id, order, open_reviews, last, member.user_id in away))
    return Pool(found, slack.unchecked)


def scientists_of(uow: UnitOfWork, project: Project) -> list[str]:
    """The project's scientists (by name or workspace-wide), in joining order."""
    return [
        m.user_id
        for m in uow.members.all_in(project.team_id)
        if m.as_actor().has(Role.SCIENTIST, project.slug)
    ]


def managers_of(uow: UnitOfWork, project: Project) -> list[str]:
    """Who is told about the project's reviews: its managers (of it, or workspace-wide)."""
    return [
        m.user_id
        for m in uow.members.all_in(project.team_id)
        if m.as_actor().has(Role.MANAGER, project.slug)
    ]


def _quorum_refusal(project: Project, eligible: int, quorum: int, whose: str) -> str:
    fix = f"add a scientist (`/mlgov member add @user scientist {project.slug}`)"
    if eligible >= 1:
        fix += f" or lower the quorum (`/mlgov rules {project.slug} quorum={eligible}`)"
    return (
        f"A quorum of {quorum} needs {quorum} scientists other than {whose}, and"
        f" {project.slug} has {eligible}: {fix}."
    )


def check_quorum(uow: UnitOfWork, project: Project, owner: str) -> None:
    """Refuse a review that could never reach the project's quorum (away people count:
    they come back; the owner does not)."""
    eligible = [u for u in scientists_of(uow, project) if u != owner]
    if len(eligible) < project.rules.quorum:
        raise ValidationError(
            _quorum_refusal(project, len(eligible), project.rules.quorum, "the owner")
        )


def check_new_quorum(uow: UnitOfWork, project: Project, quorum: int) -> None:
    """Refuse raising the quorum above what an experiment of a scientist can reach (the
    project's scientists but its owner); lowering it is always allowed."""
    if quorum <= project.rules.quorum:
        return
    eligible = max(0, len(scientists_of(uow, project)) - 1)
    if quorum > eligible:
        raise ValidationError(
            "Rules not changed: " + _quorum_refusal(project, eligible, quorum, "the owner")
        )


def below_quorum(uow: UnitOfWork, ctx: Context, slug: str | None) -> dict[str, str]:
    """Projects (``slug``, or every one) whose scientists cannot reach the quorum of an
    experiment a scientist owns, each with what to do about it."""
    team = ctx.actor.team_id
    projects = [uow.projects.require(team, slug)] if slug else uow.projects.all_in(team)
    found = {}
    for project in projects:
        eligible = max(0, len(scientists_of(uow, project)) - 1)
        if eligible < project.rules.quorum:
            found[project.slug] = (
                f"{project.slug} now has {eligible} scientist(s) besides an experiment's owner"
                f" for a quorum of {project.rules.quorum}: its reviews cannot all be approved"
                f" until a scientist joins (`/mlgov member add @user scientist {project.slug}`)"
                f" or the quorum is lowered (`/mlgov rules {project.slug}"
                f" quorum={max(1, eligible)}`)."
            )
    return found


def needs_reviewer(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    review: Review,
    why: str,
) -> bool:
    """Show ``review`` as needing a reviewer and tell the managers, once per review (the
    run ledger); True when they were told now."""
    uow.reviews.needs_reviewer(review.id, review.needs_reviewer_since or ctx.now)
    if not uow.ledger.claim(TOLD, str(review.id), "managers", ctx.now):
        return False
    managers = managers_of(uow, project)
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "review_needs_reviewer",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={"review": review.id, "reason": why, "managers": managers},
    )
    for message in ctx.notices.review_needs_reviewer(experiment, project, review, managers, why):
        uow.outbox.add(message, ctx.now)
    return True


def staffed(uow: UnitOfWork, review_id: int, owner: str, quorum: int) -> None:
    """Clear "needs a reviewer" once enough people are on the review again."""
    review = uow.reviews.get(review_id)
    if review is not None and review.needs_reviewer and not review.short_of(owner, quorum):
        uow.reviews.needs_reviewer(review_id, None)


def hand_over(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    review: Review,
    leaving: str,
    why: str,
    reason: str,
) -> str | None:
    """The next reviewer by the selection rule takes over from ``leaving`` (whose verdict
    the caller set); with nobody eligible, the review needs a reviewer."""
    taken = {a.reviewer for a in review.assignments}
    pool = candidates(uow, ctx, project)
    nxt = select_reviewers(pool.candidates, experiment.owner_id, 1, taken)
    successor = nxt[0] if nxt else None
    if successor is not None:
        uow.reviews.assign(review.id, successor, ctx.now)
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        f"review_{why}",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={"review": review.id, "reviewer": leaving, "reason": reason, "successor": successor},
    )
    for message in ctx.notices.reviewer_changed(
        experiment, project, review, leaving, successor, why, reason, unchecked=pool.note
    ):
        uow.outbox.add(message, ctx.now)
    if successor is None:
        what = "declined" if why == "declined" else f"left the review ({reason})"
        needs_reviewer(
            uow,
            ctx,
            experiment,
            project,
            uow.reviews.get(review.id) or review,
            f"<@{leaving}> {what} and no other scientist of {project.slug} can take over",
        )
    else:
        uow.session.flush()
        staffed(uow, review.id, experiment.owner_id, project.rules.quorum)
    return successor


def member_left(uow: UnitOfWork, ctx: Context, user_id: str) -> list[str]:
    """Hand over the open reviews of someone who is no longer a scientist of their project
    (reviewers must be current members); returns what happened, one line each."""
    done = []
    for review, experiment_id in uow.reviews.open_for(ctx.actor.team_id):
        if user_id not in review.pending():
            continue
        experiment = uow.experiments.by_id(experiment_id)
        if experiment is None:
            continue
        project = uow.projects.require(ctx.actor.team_id, experiment.project)
        if user_id in scientists_of(uow, project):
            continue
        uow.reviews.set_verdict(review.id, user_id, Verdict.REPLACED, ctx.now)
        successor = hand_over(
            uow,
            ctx,
            experiment,
            project,
            review,
            user_id,
            "replaced",
            f"no longer a scientist of {project.slug}",
        )
        done.append(
            f"{experiment.key}: <@{successor}> reviews instead"
            if successor
            else f"{experiment.key}: needs a reviewer (its managers were told)"
        )
    return done
