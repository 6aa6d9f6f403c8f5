"""The workflow model's invariants, each read through the product's own read paths.

Used by tests/integration/test_workflow_model.py after every step. A check returns the
list of what is wrong (empty: all is well) so that one step reports every broken rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.domain.commands import ListExperiments
from bot.domain.lifecycle import FINAL
from bot.domain.model import Actor, AuditEntry, Experiment, Role, Status
from bot.domain.review import ReviewKind, Verdict
from bot.services import experiments as exp_service
from bot.services.ports import Context
from tests.integration.conftest import TEAM
from tests.integration.workflow_world import ADMINS, World, is_member

try:  # another engineer adds this read path (issue 10); until then its invariant waits
    from bot.services.next_steps import next_steps
except ImportError:  # pragma: no cover - only while the module does not exist yet
    next_steps = None

try:
    from bot.services.reviews import open_results_review
except ImportError:  # pragma: no cover - only until the reviews engineer adds it
    open_results_review = None

ADMIN = Actor(TEAM, ADMINS[0], frozenset({Role.ADMIN}))
ASKING = frozenset({"review_requested", "reviewer_changed", "review_reminder", "review_reopened"})


@dataclass
class Seen:
    """What the checks have already looked at, so each step checks only what is new."""

    statuses: dict[int, Status] = field(default_factory=dict)  # experiment id -> status
    changed: set[int] = field(default_factory=set)  # experiments this step touched
    world: Any = None  # roles and rules last seen: when they change, every step is rechecked
    audit: dict[int, int] = field(default_factory=dict)  # experiment id -> entries seen
    dms: int = 0


def experiments(world: World) -> list[Experiment]:
    """Every experiment, as an admin's `/exp list all` finds them."""
    with world.db.read() as uow:
        ctx = Context(ADMIN, world.clock(), world.notices)
        found = exp_service.list_experiments(uow, ctx, ListExperiments(everything=True))
    return sorted(found, key=lambda e: e.number)


def audit_and_gate(world: World, seen: Seen, found: list[Experiment]) -> list[str]:
    """Each status change has exactly one audit row (the rows chain old -> new status);
    un-forced starts keep WIP limits and start only with a hypothesis and a criterion;
    nothing reaches `scheduled` without quorum approvals of the current results."""
    problems: list[str] = []
    seen.changed = set()
    with world.db.read() as uow:
        for e in found:
            entries = uow.audit.for_experiment(e)
            new = entries[seen.audit.get(e.id, 0) :]
            if new or seen.statuses.get(e.id) is not e.status:
                seen.changed.add(e.id)
            seen.audit[e.id] = len(entries)
            status: Status | None = seen.statuses.get(e.id)
            chain = [x for x in new if x.to_status is not None]
            for x in chain:
                if x.from_status != (status.value if status else None):
                    problems.append(
                        f"{e.key}: audit row {x.action} {x.from_status}->{x.to_status}"
                        f" but the experiment was {status}"
                    )
                status = Status(x.to_status)  # type: ignore[arg-type]
            if status is not e.status:
                problems.append(
                    f"{e.key}: status {seen.statuses.get(e.id)} -> {e.status} but the audit"
                    f" rows of this step end at {status} ({[x.action for x in new]})"
                )
            seen.statuses[e.id] = e.status
            for x in chain:
                if x.to_status == Status.RUNNING.value:
                    problems += _start_rules(uow, e, x)
                if x.to_status == Status.SCHEDULED.value:
                    problems += _gate_held(uow, e)
    return problems


def _start_rules(uow: Any, e: Experiment, entry: AuditEntry) -> list[str]:
    problems = []
    if not e.hypothesis.strip() or e.criterion is None:
        problems.append(f"{e.key} started without a hypothesis and a success criterion (item 2)")
    rules = uow.projects.require(TEAM, e.project).rules
    mine = uow.experiments.find(
        TEAM,
        owner_id=e.owner_id,
        workstream=e.workstream,
        statuses=frozenset({Status.RUNNING, Status.ANALYZING}),
    )
    here = uow.experiments.find(
        TEAM, project=e.project, statuses=frozenset({Status.RUNNING, Status.ANALYZING})
    )
    over = len(mine) > rules.limit_for(e.workstream) or (
        rules.wip_project and len(here) > rules.wip_project
    )
    forced = bool(entry.detail.get("forced_past_wip_limit"))
    if over and not forced:
        problems.append(f"{e.key} started past a WIP limit without --force ({len(mine)} in flight)")
    return problems


def _gate_held(uow: Any, e: Experiment) -> list[str]:
    review = uow.reviews.latest(e.id, ReviewKind.RESULTS)
    quorum = uow.projects.require(TEAM, e.project).rules.quorum
    latest = uow.evaluations.latest_id(e.id)
    current = set()
    if review is not None:
        for reviewer, d in review.latest().items():
            if d.approve and not d.dismissed and reviewer != e.owner_id:
                if d.conclusion == e.conclusions and d.evaluation == latest:
                    current.add(reviewer)
    if len(current) < quorum or e.outcome is None or e.outcome.value != "success":
        return [
            f"{e.key} reached scheduled with {len(current)} current approvals of {quorum}"
            f" (outcome {e.outcome})"
        ]
    return []


def reviews_and_messages(
    world: World, seen: Seen, found: list[Experiment], roles: dict[str, Actor]
) -> list[str]:
    """in_review <=> an open results review waiting on someone (or shown as needing a
    reviewer); nobody reviews their own work; no DM goes to a non-member of its project."""
    problems: list[str] = []
    listing = world.look(ADMINS[0], "/review", "list pending")
    lines = {n: ln for ln in listing.splitlines() for n in _keys(ln)}
    by_number = {e.number: e for e in found}
    with world.db.read() as uow:
        for e in found:
            if e.status is not Status.IN_REVIEW:
                continue
            review = (
                open_results_review(uow, e)
                if open_results_review is not None
                else uow.reviews.latest(e.id, ReviewKind.RESULTS)
            )
            if review is None or not review.open:
                problems.append(f"{e.key} is in_review with no open results review (item 5)")
                continue
            line = lines.get(e.number)
            if line is None:
                problems.append(f"{e.key} is in_review but `/review list` does not show it")
            elif not re.search(r"@\w", line) and "needs a reviewer" not in line:
                problems.append(f"{e.key}: `/review list` says {line.strip()!r} (item 5)")
        for review, experiment_id in uow.reviews.open_for(TEAM):
            e = uow.experiments.by_id(experiment_id)
            pending = {a.reviewer for a in review.assignments if a.verdict is Verdict.PENDING}
            if e is not None and e.owner_id in pending:
                problems.append(f"{e.key}: its owner is asked to review it")
    for n, line in lines.items():
        e = by_number.get(n)
        if e is not None and "· results ·" in line and e.status is not Status.IN_REVIEW:
            problems.append(f"`/review list` shows {e.key} ({e.status}): {line.strip()!r}")
    for sent in world.notices.sent[seen.dms :]:
        for project in sent.projects:
            if not is_member(roles, sent.recipient, project):
                problems.append(
                    f"{sent.notice} DM to <@{sent.recipient}>, not on {project}: {sent.text[:90]!r}"
                )
        if sent.notice in ASKING and sent.recipient in sent.owners:
            problems.append(f"{sent.notice}: <@{sent.recipient}> asked to review their own work")
    seen.dms = len(world.notices.sent)
    return problems


def _keys(line: str) -> list[int]:
    return [int(m) for m in re.findall(r"\bEXP-(\d+)\b", line)[:1]]


def named_next_steps(
    world: World, seen: Seen, found: list[Experiment], roles: dict[str, Actor]
) -> list[str]:
    """Every non-final experiment has a step other than abandon that a current member of
    its project may take, the product names who, and `/exp show` says "Next steps"."""
    if next_steps is None:
        return []
    problems: list[str] = []
    with world.db.read() as uow:
        rules = [(p.slug, p.rules) for p in uow.projects.all_in(TEAM)]
    everything = seen.world != (roles, rules)
    seen.world = (roles, rules)
    for e in found:
        if e.status in FINAL or not (everything or e.id in seen.changed):
            continue
        with world.db.read() as uow:
            steps = next_steps(uow, e)
        usable = [
            s
            for s in steps
            if s.step != "abandon" and s.who and all(is_member(roles, w, e.project) for w in s.who)
        ]
        if not usable:
            problems.append(f"{e.key} ({e.status}) has no next step for a member: {steps}")
        if e.id not in seen.changed:
            continue  # /exp show is read again when the experiment changes
        shown = world.look(ADMINS[0], "/exp", f"show {e.key}")
        if "Next steps" not in shown:
            problems.append(f"`/exp show {e.key}` does not name the next steps")
    return problems
