"""Use cases for workspaces, projects, members and rules."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from bot.domain.errors import AlreadyExists, NotFound, PermissionDenied, ValidationError
from bot.domain.lifecycle import NON_FINAL
from bot.domain.model import Actor, Member, Project, ProjectRules, Role
from bot.domain.rules import rules_to_dict, updated_rules
from bot.domain.workspace_rules import (
    WorkspaceRules,
    updated_workspace_rules,
    workspace_rules_to_dict,
)
from bot.services.ports import Context
from bot.services.review_staffing import check_new_quorum, member_left
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
    if not actor.has(Role.MANAGER):
        # Whoever creates a project can move its work from day one: it never starts
        # without someone who may schedule, ship and assign reviewers.
        uow.members.add_role(actor.team_id, actor.user_id, Role.MANAGER, project.id, ctx.now)
        uow.audit.record(
            actor.team_id,
            actor.user_id,
            "member_added",
            ctx.now,
            project_id=project.id,
            detail={
                "user": actor.user_id,
                "role": Role.MANAGER.value,
                "project": slug,
                "why": "created the project",
            },
        )
    for message in ctx.notices.project_added(project, actor.user_id):
        uow.outbox.add(message, ctx.now)
    return project


@dataclass(frozen=True)
class Holder:
    """Someone holding a role on a project: on the project itself, or workspace-wide."""

    user_id: str
    name: str
    workspace_wide: bool


@dataclass(frozen=True)
class Roster:
    """Who holds which role on a project (``/mlgov project show``)."""

    project: Project
    holders: dict[Role, tuple[Holder, ...]]


def project_roster(uow: UnitOfWork, ctx: Context, slug: str) -> Roster:
    """Every role on project ``slug`` and who holds it; anyone in the workspace may ask,
    so that a newcomer finds whom to ask to be added."""
    project = uow.projects.require(ctx.actor.team_id, slug)
    holders: dict[Role, list[Holder]] = {role: [] for role in Role}
    for member in uow.members.all_in(ctx.actor.team_id):
        on_project = member.project_roles.get(slug, frozenset())
        for role in Role:
            if role in member.roles:
                holders[role].append(Holder(member.user_id, member.name, True))
            elif role in on_project:
                holders[role].append(Holder(member.user_id, member.name, False))
    return Roster(project, {role: tuple(found) for role, found in holders.items()})


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
    _keep_a_manager(uow, actor.team_id, user_id, role, project)
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
    member_left(uow, ctx, user_id)  # reviewers are current members: hand their reviews on
    return removed


def _without(member: Member, role: Role | None, project: Project | None) -> Member:
    """``member`` as ``remove_roles`` would leave them."""

    def kept(roles: frozenset[Role], touched: bool) -> frozenset[Role]:
        if not touched:
            return roles
        return frozenset(r for r in roles if role is not None and r is not role)

    if project is not None:
        scoped = {s: kept(rs, s == project.slug) for s, rs in member.project_roles.items()}
        return replace(member, project_roles=scoped)
    everywhere = {s: kept(rs, True) for s, rs in member.project_roles.items()}
    return replace(member, roles=kept(member.roles, True), project_roles=everywhere)


def _keep_a_manager(
    uow: UnitOfWork, team_id: str, user_id: str, role: Role | None, project: Project | None
) -> None:
    """Refuse a removal that leaves a project with unfinished experiments and no manager.

    Managers (of the project, or workspace-wide) are the ones who can always move its
    experiments on: assign reviewers, schedule and ship. Without one, work can strand.
    """
    if role not in (None, Role.MANAGER):
        return
    members = uow.members.all_in(team_id)
    target = next((m for m in members if m.user_id == user_id), None)
    if target is None:
        return
    after = _without(target, role, project)
    others = [m.as_actor() for m in members if m.user_id != user_id]
    for p in uow.projects.all_in(team_id):
        if not target.as_actor().has(Role.MANAGER, p.slug) or after.as_actor().has(
            Role.MANAGER, p.slug
        ):
            continue
        if any(o.has(Role.MANAGER, p.slug) for o in others):
            continue
        unfinished = uow.experiments.find(team_id, project=p.slug, statuses=NON_FINAL)
        if unfinished:
            keys = ", ".join(e.key for e in unfinished[:5])
            more = "…" if len(unfinished) > 5 else ""
            raise ValidationError(
                f"<@{user_id}> is the last manager of {p.slug}, which has"
                f" {len(unfinished)} unfinished experiment(s) ({keys}{more}); without a"
                " manager nobody could assign their reviewers, schedule or ship them. Add"
                f" another manager first: `/mlgov member add @someone manager {p.slug}`."
            )


def project_rules(uow: UnitOfWork, ctx: Context, slug: str) -> ProjectRules:
    return uow.projects.require(ctx.actor.team_id, slug).rules


def set_rules(uow: UnitOfWork, ctx: Context, slug: str, changes: dict[str, str]) -> ProjectRules:
    """Change a project's rules (managers of the project and admins); all or nothing."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, slug)
    if not _may_configure(actor, slug):
        raise PermissionDenied(f"Only an admin or a manager of {slug} can change its rules.")
    new = updated_rules(project.rules, changes)
    check_new_quorum(uow, project, new.quorum)
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


def set_workspace_rules(uow: UnitOfWork, ctx: Context, changes: dict[str, str]) -> WorkspaceRules:
    """The workspace's rules; changed (admins and workspace-wide managers) when
    ``changes`` are given, all or nothing."""
    actor = ctx.actor
    current = uow.workspaces.rules(actor.team_id)
    if not changes:
        return current
    if not _may_configure(actor, None):
        raise PermissionDenied(
            "Only an admin or a workspace-wide manager can change the workspace's rules."
        )
    new = updated_workspace_rules(current, changes)
    uow.workspaces.ensure(actor.team_id, ctx.now)
    uow.workspaces.set_rules(actor.team_id, new)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "workspace_rules_changed",
        ctx.now,
        detail={
            "before": workspace_rules_to_dict(current),
            "after": workspace_rules_to_dict(new),
        },
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
