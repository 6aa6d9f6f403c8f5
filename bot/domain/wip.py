"""Work-in-progress limits (SPEC §2): per person per workstream, and per project."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import PermissionDenied, WipLimitExceeded
from bot.domain.model import Actor, Experiment, ProjectRules, Role, Workstream


def _line(e: Experiment) -> str:
    return f"{e.key} {e.title} ({e.status}, {e.workstream}, <@{e.owner_id}>, {e.project})"


def personal_limit_reached(in_flight: int, limit: int) -> bool:
    """Whether a person's next start in a stream is refused: the in-flight count is theirs
    in every project (running or analyzing), the limit that of the project started in."""
    return in_flight >= limit


def personal_limit_words(who: str | None, in_flight: int, stream: Workstream, limit: int) -> str:
    """A reached personal limit as the start refusal and the Home both say it (``who`` a
    mention, or None for "You"), without a full stop."""
    subject = f"{who} already has" if who else "You already have"
    return f"{subject} {in_flight} {stream}-stream experiment(s) in flight (limit {limit})"


def check_start(
    experiment: Experiment,
    rules: ProjectRules,
    owner_in_flight: Sequence[Experiment],
    project_in_flight: Sequence[Experiment],
    actor: Actor,
    force: bool,
) -> bool:
    """Refuse to start ``experiment`` beyond a limit; return True when ``force`` overrode one.

    ``owner_in_flight`` are the owner's running experiments in the same workstream,
    ``project_in_flight`` the project's; neither includes ``experiment`` itself.
    """
    breaches: list[tuple[str, Sequence[Experiment]]] = []
    personal = rules.limit_for(experiment.workstream)
    if personal_limit_reached(len(owner_in_flight), personal):
        words = personal_limit_words(
            f"<@{experiment.owner_id}>", len(owner_in_flight), experiment.workstream, personal
        )
        breaches.append((words + ".", owner_in_flight))
    if rules.wip_project and len(project_in_flight) >= rules.wip_project:
        breaches.append(
            (
                f"Project {experiment.project} already has {len(project_in_flight)} experiment(s)"
                f" in flight (limit {rules.wip_project}).",
                project_in_flight,
            )
        )
    if not breaches:
        return False
    if force:
        if not actor.has(Role.MANAGER, experiment.project):
            raise PermissionDenied("Only a manager can pass --force past a WIP limit.")
        return True
    message = " ".join(reason for reason, _ in breaches)
    hint = " Finish or abandon one first, or ask a manager to start it with --force."
    seen: dict[int, Experiment] = {}
    for _, group in breaches:
        seen.update((e.id, e) for e in group)
    raise WipLimitExceeded(message + hint, [_line(e) for e in seen.values()])


def check_stream_change(
    experiment: Experiment, rules: ProjectRules, owner_in_flight: Sequence[Experiment]
) -> None:
    """Refuse to move an in-flight ``experiment`` into a stream whose limit is reached.

    ``owner_in_flight`` are the owner's in-flight experiments in the target stream (not
    ``experiment``). The project-wide count does not change, so only the personal limit
    applies; there is no --force here: finish or move another one first.
    """
    limit = rules.limit_for(experiment.workstream)
    if len(owner_in_flight) < limit:
        return
    raise WipLimitExceeded(
        f"{experiment.key} is in flight, and <@{experiment.owner_id}> already has"
        f" {len(owner_in_flight)} {experiment.workstream}-stream experiment(s) in flight"
        f" (limit {limit}). Finish, abandon or move one of them first.",
        [_line(e) for e in owner_in_flight],
    )
