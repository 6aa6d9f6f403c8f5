"""/mlgov handlers, and help for every command."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import (
    AddMember,
    AddProject,
    Help,
    RemoveMember,
    SetRules,
    SetWorkspaceRules,
    ShowProject,
)
from bot.services import team
from bot.services.ports import Context
from bot.services.review_staffing import below_quorum
from bot.slack.blocks import Reply
from bot.slack.blocks import team as render
from storage.unit_of_work import UnitOfWork


def help_text(uow: UnitOfWork, ctx: Context, cmd: Help) -> Reply:
    return render.help_text(cmd.command)


def add_project(uow: UnitOfWork, ctx: Context, cmd: AddProject) -> Reply:
    return render.project_added(team.add_project(uow, ctx, cmd.slug, cmd.channel_id))


def show_project(uow: UnitOfWork, ctx: Context, cmd: ShowProject) -> Reply:
    return render.roster(team.project_roster(uow, ctx, cmd.slug))


def add_member(uow: UnitOfWork, ctx: Context, cmd: AddMember) -> Reply:
    added = team.add_member(uow, ctx, cmd.user_id, cmd.role, cmd.project, cmd.name)
    return render.member_added(cmd.user_id, cmd.role, cmd.project, added)


def remove_member(uow: UnitOfWork, ctx: Context, cmd: RemoveMember) -> Reply:
    was_short = below_quorum(uow, ctx, cmd.project)
    count = team.remove_member(uow, ctx, cmd.user_id, cmd.role, cmd.project)
    # Say so when a project falls below its review quorum.
    short = [t for p, t in below_quorum(uow, ctx, cmd.project).items() if p not in was_short]
    return render.member_removed(cmd.user_id, count, short)


def rules(uow: UnitOfWork, ctx: Context, cmd: SetRules) -> Reply:
    if not cmd.changes:
        return render.rules(cmd.project, team.project_rules(uow, ctx, cmd.project), False)
    return render.rules(cmd.project, team.set_rules(uow, ctx, cmd.project, cmd.changes), True)


def workspace_rules(uow: UnitOfWork, ctx: Context, cmd: SetWorkspaceRules) -> Reply:
    rules = team.set_workspace_rules(uow, ctx, cmd.changes)
    return render.workspace_rules(rules, bool(cmd.changes))


HANDLERS: dict[type, Any] = {
    Help: help_text,
    AddProject: add_project,
    ShowProject: show_project,
    AddMember: add_member,
    RemoveMember: remove_member,
    SetRules: rules,
    SetWorkspaceRules: workspace_rules,
}
