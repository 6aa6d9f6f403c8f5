"""Use cases for workspaces, projects, members and rules."""

from __future__ import annotations

from collections.abc import Collection
from zoneinfo import ZoneInfo

from bot.domain.errors import AlreadyExists, NotFound, PermissionDenied, ValidationError
from bot.domain.model import Actor, Project, ProjectRules, Role
from bot.domain.rules import rules_to_dict, updated_rules
from bot.services.ports import Context
from storage.unit_of_work import Database, UnitOfWork


def resolve_actor(
    uow: UnitOfWork,
    team_id: str,
    user_id: str,
    admins: Collection[str] = (),
    workspace_admin: bool = False,
) -> Actor:
    """The actor with the roles mlgov knows; MLGOV_ADMINS and Slack admins are admins."""
    member = uow.members.get(team_id, user_id)
    roles = set(member.roles) if member else set()
    if workspace_admin or user_id in admins:
        roles.add(Role.ADMIN)
    return Actor(team_id, user_id, frozenset(roles), member.project_roles if member else {})


PRESENTING = frozenset({Role.SCIENTIST, Role.ENGINEER})


def _may_configure(actor: Actor, project: str | None) -> bool:
    return actor.is_admin() or actor.has(Role.MANAGER, project)


def add_project(uow: UnitOfWork, ctx: Context, slug: str, channel_id: str) -> Project:
    """Create project ``slug`` with its home channel (admins and workspace managers)."""
    actor = ctx.actor
    if not _may_configure(actor, None):
        raise PermissionDenied("Only an admin or a workspace manager can add projects.")
    uow.workspaces.ensure(actor.team_id, ctx.now)
    project = uow.projects.add(actor.team_id, slug, channel_id, ctx.now)
    if project is None:
        raise AlreadyExists(f"Project '{slug}' exists already.")
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "project_added",
        ctx.now,
        project_id=project.id,
        detail={"slug": slug, "channel": channel_id},
    )
    for message in ctx.notices.project_added(project, actor.user_id):
        uow.outbox.add(message, ctx.now)
    return project


def add_member(
    uow: UnitOfWork,
    ctx: Context,
    user_id: str,
    role: Role,
    project_slug: str | None,
    name: str = "",
) -> bool:
    """Grant ``role`` (on a project or workspace-wide); False when it was held already."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, project_slug) if project_slug else None
    if not _may_configure(actor, project_slug):
        where = f"project {project_slug}" if project_slug else "the workspace"
        raise PermissionDenied(f"Only an admin or a manager of {where} can add members.")
    if role is Role.ADMIN and (project is not None or not actor.is_admin()):
        raise PermissionDenied("Only an admin can make admins, and only workspace-wide.")
    uow.workspaces.ensure(actor.team_id, ctx.now)
    added = uow.members.add_role(
        actor.team_id, user_id, role, project.id if project else None, ctx.now, name=name
    )
    if added:
        uow.audit.record(
            actor.team_id,
            actor.user_id,
            "member_added",
            ctx.now,
            project_id=project.id if project else None,
            detail={"user": user_id, "role": role.value, "project": project_slug},
        )
    if project is not None and role in PRESENTING:
        # Scientists and engineers of a project present at its weekly review by default;
        # /rotation leave opts out.
        today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
        uow.rotations.join(project.id, user_id, role, today)
    return added


def remove_member(
    uow: UnitOfWork, ctx: Context, user_id: str, role: Role | None, project_slug: str | None
) -> int:
    """Remove a member's roles (all, one, or on one project); returns how many went."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, project_slug) if project_slug else None
    if not _may_configure(actor, project_slug):
        raise PermissionDenied("Only an admin or a manager can remove members.")
    if not actor.is_admin():
        target = uow.members.get(actor.team_id, user_id)
        touches_admin = role is Role.ADMIN or (role is None and project is None)
        if touches_admin and target is not None and Role.ADMIN in target.roles:
            raise PermissionDenied("Only an admin can remove an admin.")
    removed = uow.members.remove_roles(
        actor.team_id, user_id, role, project.id if project else None
    )
    if not removed:
        raise NotFound(f"<@{user_id}> has no such role to remove.")
    if project is not None and (role is None or role in PRESENTING):
        uow.rotations.leave(project.id, user_id, role)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "member_removed",
        ctx.now,
        project_id=project.id if project else None,
        detail={
            "user": user_id,
            "role": role.value if role else "all",
            "project": project_slug,
            "count": removed,
        },
    )
    return removed


def project_rules(uow: UnitOfWork, ctx: Context, slug: str) -> ProjectRules:
    return uow.projects.require(ctx.actor.team_id, slug).rules


def set_rules(uow: UnitOfWork, ctx: Context, slug: str, changes: dict[str, str]) -> ProjectRules:
    """Change a project's rules (managers of the project and admins); all or nothing."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, slug)
    if not _may_configure(actor, slug):
        raise PermissionDenied(f"Only an admin or a manager of {slug} can change its rules.")
    new = updated_rules(project.rules, changes)
    uow.projects.set_rules(project.id, new)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "rules_changed",
        ctx.now,
        project_id=project.id,
        detail={"before": rules_to_dict(project.rules), "after": rules_to_dict(new)},
    )
    return new


def resolve_team(db: Database, given: str | None) -> str:
    """The workspace: ``?team=T…``, or the only one this mlgov serves."""
    with db.read() as uow:
        teams = uow.workspaces.team_ids()
    if given:
        if given not in teams:
            raise NotFound(f"No workspace {given[:40]} here.")
        return given
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise NotFound("No workspace is set up yet: add a project in Slack first.")
    raise ValidationError(
        "This mlgov serves several workspaces: say which (?team=T… or --team T…)."
    )
