"""Help, rules and team confirmations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.model import Project, ProjectRules, Role
from bot.domain.rules import describe_rules, rules_to_dict
from bot.domain.workspace_rules import (
    WorkspaceRules,
    describe_workspace_rules,
    workspace_rules_to_dict,
)
from bot.slack.blocks import Reply, escape, reply, section
from bot.slack.parsing import USAGE

if TYPE_CHECKING:
    from bot.services.team import Roster

INTRO = {
    "exp": "Experiments, from proposal to production. Each one gets a thread in its"
    " project channel; every change is audited.",
    "mlgov": "Set up projects, members and rules (admins and managers).",
    "review": "Peer review of designs and results. Engineering is scheduled only for"
    " science that a quorum of scientists other than the owner approved.",
    "rotation": "The weekly review: science and engineering weeks in turn, a fair presenter"
    " rotation that respects time off. Without a project, the channel's project is meant.",
    "digest": "The weekly digest: board, movements, velocity, reviews waiting, stale work."
    " Managers get it by DM each week (the project's digest_time, default Monday 08:00);"
    " anyone on a project may subscribe.",
}


def help_text(command: str) -> Reply:
    lines = "\n".join(f"• `{escape(usage)}`" for usage in USAGE[command].values())
    text = f"*/{command}* — {INTRO[command]}\n{lines}"
    if command == "mlgov":
        text += f"\n*Rules* (`/mlgov rules <project> key=value`):\n```{describe_rules()}```"
        text += (
            "\n*Workspace rules* (`/mlgov rules key=value`, no project):"
            f"\n```{describe_workspace_rules()}```"
        )
    text += f"\nYou can also mention me: `@mlgov {command} …`."
    return reply(text, [section(text)])


def rules(project: str, value: ProjectRules, changed: bool) -> Reply:
    pairs = rule_pairs(value)
    verb = "now" if changed else "currently"
    return reply(f"Rules of *{project}* are {verb}: {pairs}")


def workspace_rules(value: WorkspaceRules, changed: bool) -> Reply:
    verb = "now" if changed else "currently"
    pairs = "  ".join(
        f"`{k}={','.join(v) if isinstance(v, list) else v}`"
        for k, v in workspace_rules_to_dict(value).items()
    )
    return reply(f"Rules of this workspace are {verb}: {escape(pairs)}")


def rule_pairs(value: ProjectRules) -> str:
    """``key=value`` pairs; a channel as a link, which Slack shows by name (not in code);
    no MLflow model as ``none``, as it is set."""
    return "  ".join(
        f"`{k}=`<#{v}>"
        if k == "digest_channel" and v
        else f"`{k}={v or 'none'}`"
        if k == "mlflow_model"
        else f"`{k}={v}`"
        for k, v in rules_to_dict(value).items()
    )


def project_added(project: Project) -> Reply:
    return reply(
        f"Project *{project.slug}* created, home channel <#{project.channel_id}>. You manage"
        " it. "
        f"Add people with `/mlgov member add @user scientist {project.slug}`."
    )


ROLE_TITLES = {
    Role.MANAGER: "Managers",
    Role.SCIENTIST: "Scientists",
    Role.ENGINEER: "Engineers",
    Role.ADMIN: "Admins",
}
# What each role may do on a project (SPEC §2, §3), said once for /mlgov project show.
ROLE_RULES = (
    "The owner of an experiment or a manager moves it through the science states"
    " (edit, start, analyze, conclude, abandon). Scientists other than the owner review"
    " it; engineers and managers schedule and ship it. Managers also assign reviewers"
    " and set the rules; admins add projects and members."
)


def roster(value: Roster) -> Reply:
    """Who holds which role on a project, what each role does, and the rules."""
    p = value.project
    lines = [f"*Project {p.slug}* · home channel <#{p.channel_id}>"]
    for role, title in ROLE_TITLES.items():
        people = [
            f"<@{h.user_id}>" + (" (workspace-wide)" if h.workspace_wide else "")
            for h in value.holders.get(role, ())
        ]
        lines.append(f"*{title}:* {', '.join(people) or '_nobody_'}")
    pairs = rule_pairs(p.rules)
    text = "\n".join(lines)
    return reply(text, [section(text), section(ROLE_RULES), section(f"*Rules:* {pairs}")])


def member_added(user_id: str, role: Role, project: str | None, added: bool) -> Reply:
    where = f"on *{project}*" if project else "workspace-wide"
    if not added:
        return reply(f"<@{user_id}> already is {role.value} {where}; nothing changed.")
    return reply(f"<@{user_id}> is now {role.value} {where}.")


def member_removed(user_id: str, count: int, below_quorum: Sequence[str] = ()) -> Reply:
    warnings = "".join(f"\n⚠️ {line}" for line in below_quorum)
    return reply(f"Removed {count} role(s) of <@{user_id}>.{warnings}")
