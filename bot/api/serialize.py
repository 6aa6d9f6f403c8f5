"""Domain values as the read API's JSON (pure; its shapes are in bot.api.openapi)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from bot.domain.digest_values import ProjectDigest, Week
from bot.domain.evaluation import EvaluationRecord
from bot.domain.model import AuditEntry, Experiment, experiment_key
from bot.domain.review import Review
from bot.domain.rotation import WEEKDAYS, RotationConfig, Slot, at_local
from bot.services.digest import Digest
from bot.services.queries import ExperimentRecord
from bot.services.rotation import Schedule

PREFIX = "/api/v1"


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def number(value: float | None) -> float | None:
    """A float JSON can carry (NaN and inf become null)."""
    return value if value is not None and math.isfinite(value) else None


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def experiment(e: Experiment) -> dict[str, Any]:
    c = e.criterion
    return {
        "key": e.key,
        "number": e.number,
        "project": e.project,
        "title": e.title,
        "hypothesis": e.hypothesis,
        "owner": e.owner_id,
        "workstream": e.workstream.value,
        "status": e.status.value,
        "outcome": e.outcome.value if e.outcome else None,
        "learnings": e.learnings,
        "criterion": (
            {"metric": c.metric, "direction": c.direction.value, "min_delta": c.min_delta}
            if c
            else None
        ),
        "criterion_changed_after_start": e.criterion_changed_after_start,
        "created_at": when(e.created_at),
        "updated_at": when(e.updated_at),
        "url": f"{PREFIX}/experiments/{e.key}",
    }


def experiment_detail(record: ExperimentRecord) -> dict[str, Any]:
    e = record.experiment
    return {
        **experiment(e),
        "links": [
            {"url": x.url, "label": x.label, "added_by": x.added_by, "added_at": when(x.added_at)}
            for x in e.links
        ],
        "reviews": [review(r) for r in record.reviews],
        "decisions": [
            {"review": r.id, "kind": r.kind.value, **decision}
            for r in record.reviews
            for decision in _decisions(r)
        ],
        "evaluations": [evaluation(x) for x in record.evaluations],
        "history": [history(h) for h in record.history],
    }


def review(r: Review) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind.value,
        "requested_by": r.requested_by,
        "requested_at": when(r.requested_at),
        "open": r.open,
        "needs_reviewer": r.needs_reviewer,
        "assignments": [
            {
                "reviewer": a.reviewer,
                "assigned_at": when(a.assigned_at),
                "verdict": a.verdict.value,
                "decided_at": when(a.decided_at),
            }
            for a in r.assignments
        ],
        "decisions": _decisions(r),
    }


def _decisions(r: Review) -> list[dict[str, Any]]:
    return [
        {
            "reviewer": d.reviewer,
            "approve": d.approve,
            "at": when(d.at),
            "conclusion": d.conclusion,
            "evaluation": d.evaluation,
            "dismissed": d.dismissed,
            "text": d.text,
        }
        for d in r.decisions
    ]


def evaluation(x: EvaluationRecord) -> dict[str, Any]:
    return {
        "id": x.id,
        "kind": x.kind.value,
        "source": x.source,
        "filename": x.filename,
        "submitted_by": x.submitted_by,
        "created_at": when(x.created_at),
        "rows": x.rows,
        "baseline_evaluation": x.baseline_id,
        "summary": x.summary,
    }


def history(h: AuditEntry) -> dict[str, Any]:
    return {
        "at": when(h.at),
        "actor": h.actor_id,
        "action": h.action,
        "from": h.from_status,
        "to": h.to_status,
        "detail": h.detail,
    }


def week(w: Week) -> dict[str, Any]:
    return {"iso": iso_week(w.monday), "start": when(w.start), "end": when(w.end)}


def digest(d: Digest, config: RotationConfig | None) -> dict[str, Any]:
    f: ProjectDigest = d.figures
    keys = {name: [experiment_key(n) for n in numbers] for name, numbers in f.moved.items()}
    best = f.best_movement
    return {
        "project": d.project.slug,
        "week": week(f.week),
        "so_far": when(d.so_far),
        "board": f.board,
        "wip": [
            {
                "owner": w.owner_id,
                "workstream": w.workstream,
                "in_flight": w.in_flight,
                "limit": w.limit,
                "in_flight_everywhere": w.in_flight_everywhere,
                "over": w.over,
            }
            for w in f.wip
        ],
        "movements": f.movements,
        "moved": keys,
        "velocity": [{"week": iso_week(day), "concluded": counts} for day, counts in f.velocity],
        "cycle_time_days": number(f.cycle_time_days),
        "review_latency_days": number(f.review_latency_days),
        "pending_reviews": [
            {
                "experiment": experiment_key(p.number),
                "title": p.title,
                "reviewer": p.reviewer or None,
                "review": p.review_id,
                "age_days": number(p.age_days),
                "working_days": p.working_days,
                "overdue": p.overdue,
                "needs_reviewer": p.needs_reviewer,
            }
            for p in f.pending_reviews
        ],
        "stale": [
            {
                "experiment": experiment_key(s.number),
                "title": s.title,
                "owner": s.owner_id,
                "idle_days": s.idle_days,
                "status": s.status,
            }
            for s in f.stale
        ],
        "best_movement": (
            {
                "experiment": experiment_key(best.number),
                "metric": best.metric,
                "delta": number(best.delta),
                "improvement": number(best.improvement),
                "criterion_met": best.criterion_met,
                "baseline": experiment_key(best.baseline_number) if best.baseline_number else None,
            }
            if best
            else None
        ),
        "next_rotation": (meeting(d.next_rotation, config) if d.next_rotation and config else None),
    }


def meeting(slot: Slot, config: RotationConfig) -> dict[str, Any]:
    return {
        "date": slot.week.isoformat(),
        "starts_at": when(at_local(config, slot.week, config.meeting).astimezone(config.zone)),
        "topic": slot.topic.value,
        "stands_in_for": slot.instead_of.value if slot.instead_of else None,
        "presenter": slot.presenter,
        "skipped": [{"user": user, "reason": why} for user, why in slot.skipped],
        "swapped_from": slot.swapped_from,
        "cancelled": slot.cancelled is not None,
        "reason": slot.cancelled,
    }


def schedule(plan: Schedule) -> dict[str, Any]:
    c = plan.config
    return {
        "project": plan.project.slug,
        "config": {
            "weekday": WEEKDAYS[c.weekday],
            "time": f"{c.meeting:%H:%M}",
            "announce": f"{c.announce:%H:%M}",
            "timezone": c.timezone,
            "pattern": [t.value for t in c.pattern],
        },
        "meetings": [meeting(s, c) for s in plan.slots],
        "note": plan.note or None,
    }
