"""Help, rules and team confirmations."""

from __future__ import annotations

from bot.domain.model import Project, ProjectRules, Role
from bot.domain.rules import describe_rules, rules_to_dict
from bot.slack.blocks import Reply, escape, reply, section
from bot.slack.parsing import USAGE

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
    text += f"\nYou can also mention me: `@mlgov {command} …`."
    return reply(text, [section(text)])


def rules(project: str, value: ProjectRules, changed: bool) -> Reply:
    pairs = "  ".join(f"`{k}={v}`" for k, v in rules_to_dict(value).items())
    verb = "now" if changed else "currently"
    return reply(f"Rules of *{project}* are {verb}: {pairs}")


def project_added(project: Project) -> Reply:
    return reply(
        f"Project *{project.slug}* created, home channel <#{project.channel_id}>. "
        f"Add people with `/mlgov member add @user scientist {project.slug}`."
    )


def member_added(user_id: str, role: Role, project: str | None, added: bool) -> Reply:
    where = f"on *{project}*" if project else "workspace-wide"
    if not added:
        return reply(f"<@{user_id}> already is {role.value} {where}; nothing changed.")
    return reply(f"<@{user_id}> is now {role.value} {where}.")


def member_removed(user_id: str, count: int) -> Reply:
    return reply(f"Removed {count} role(s) of <@{user_id}>.")
