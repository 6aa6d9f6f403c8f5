"""Work-in-progress limits (SPEC §2): per person per workstream, and per project."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import PermissionDenied, WipLimitExceeded
from bot.domain.model import Actor, Experiment, ProjectRules, Role


def _line(e: Experiment) -> str:
    return f"{e.key} {e.title} ({e.status}, {e.workstream}, <@{e.owner_id}>, {e.project})"


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
    if len(owner_in_flight) >= personal:
        breaches.append(
            (
                f"<@{experiment.owner_id}> already has {len(owner_in_flight)}"
                f" {experiment.workstream}-stream experiment(s) in flight (limit {personal}).",
                owner_in_flight,
            )
        )
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
