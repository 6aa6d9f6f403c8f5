"""The read API (SPEC §13): GET routes over experiments, a week's digest and the rotation.
Every parameter is checked before anything is read; a bad one is a 400 naming it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from bot.api import serialize
from bot.domain.digest_values import Week
from bot.domain.errors import NotFound, ValidationError
from bot.domain.model import KEY_PATTERN, SLUG_PATTERN, Actor, Status
from bot.services import queries, rotation
from bot.services.ports import Context, Notices
from bot.services.team import resolve_team
from storage.unit_of_work import Database, UnitOfWork

API_READER = "api"
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
DEFAULT_WEEKS, MAX_WEEKS = 12, 52
USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
ISO_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")


def _args(*known: str) -> dict[str, str]:
    """The query parameters, refused when one is unknown, given twice or empty."""
    unknown = sorted(set(request.args) - {*known, "team"})
    if unknown:
        raise ValidationError(
            f"Unknown parameter {unknown[0]!r}; this route takes: {', '.join([*known, 'team'])}."
        )
    for name in request.args:
        values = request.args.getlist(name)
        if len(values) > 1:
            raise ValidationError(f"{name} is given {len(values)} times; give it once.")
        if not values[0].strip():
            raise ValidationError(f"{name} is empty; leave it out or give a value.")
    return {k: v.strip() for k, v in request.args.items()}


def _whole(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}, not {text!r}.")
    return int(text)


def _statuses(text: str | None) -> list[Status] | None:
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",")]
    known = {s.value for s in Status}
    bad = [n for n in names if n not in known]
    if bad:
        raise ValidationError(
            f"status {bad[0]!r} is not one of {', '.join(s.value for s in Status)}"
            " (several: comma-separated)."
        )
    return [Status(n) for n in names]


def _week(text: str | None, now: datetime, zone: ZoneInfo) -> Week:
    if text is None:
        return Week.ending_before(now, zone)  # the week the Monday digest covers
    match = ISO_WEEK.match(text)
    try:
        if match is None:
            raise ValueError(text)
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValidationError(f"week must be an ISO week like 2026-W48, not {text!r}.") from None
    return Week.of(monday, zone)


def register(
    api: Blueprint,
    db: Database,
    clock: Callable[[], datetime],
    notices: Notices,
    timezone: str,
) -> None:
    def reading(query: Callable[[UnitOfWork, Context], Any]) -> tuple[Response, int]:
        team_id = resolve_team(db, request.args.get("team"))
        # No Slack port: a read never waits on Slack; it plans with the statuses last read.
        ctx = Context(Actor(team_id, API_READER, pipeline=True), clock(), notices, timezone)
        with db.read() as uow:
            return jsonify(query(uow, ctx)), 200

    @api.get("/experiments")
    def list_experiments() -> tuple[Response, int]:
        args = _args("project", "status", "owner", "limit", "cursor")
        project, owner = args.get("project"), args.get("owner")
        if project is not None and not SLUG_PATTERN.match(project):
            raise ValidationError(f"project must be a project slug like churn, not {project!r}.")
        if owner is not None and not USER.match(owner):
            raise ValidationError(f"owner must be a Slack user id like U0123ABC, not {owner!r}.")
        statuses_wanted = _statuses(args.get("status"))
        limit = _whole(args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = args.get("cursor")
        before = _whole(cursor, "cursor", 0, 1, 10**9) if cursor is not None else None

        def page(uow: UnitOfWork, ctx: Context) -> dict[str, Any]:
            found = queries.list_experiments(
                uow,
                ctx,
                project=project,
                statuses=statuses_wanted,
                owner=owner,
                limit=limit,
                before=before,
            )
            after = str(found.next_before) if found.next_before is not None else None
            link = None
            if after is not None:
                link = f"{request.path}?{urlencode({**args, 'cursor': after})}"
            return {
                "items": [serialize.experiment(e) for e in found.items],
                "total": found.total,
                "limit": limit,
                "next_cursor": after,
                "next": link,
            }

        return reading(page)

    @api.get("/experiments/<key>")
    def show_experiment(key: str) -> tuple[Response, int]:
        _args()
        match = KEY_PATTERN.match(key)
        if match is None:
            raise NotFound(f"'{key[:40]}' is not an experiment key like EXP-7.")
        number = int(match.group(1))
        return reading(
            lambda uow, ctx: serialize.experiment_detail(
                queries.experiment_record(uow, ctx, number)
            )
        )

    @api.get("/projects/<slug>/digest")
    def project_digest(slug: str) -> tuple[Response, int]:
        args = _args("week")
        now, zone = clock(), ZoneInfo(timezone)
        week = _week(args.get("week"), now, zone)

        def figures(uow: UnitOfWork, ctx: Context) -> dict[str, Any]:
            found = queries.week_digest(uow, ctx, slug, week)
            config = rotation.config_of(uow, found.project, timezone)
            return serialize.digest(found, config)

        return reading(figures)

    @api.get("/projects/<slug>/rotation")
    def project_rotation(slug: str) -> tuple[Response, int]:
        args = _args("weeks")
        weeks = _whole(args.get("weeks"), "weeks", DEFAULT_WEEKS, 1, MAX_WEEKS)
        return reading(
            lambda uow, ctx: serialize.schedule(queries.rotation_ahead(uow, ctx, slug, weeks))
        )
