"""The weekly science/engineering review rotation (SPEC §4): pure and deterministic.

Presenter choice: among the pool for the week's topic, the member who presented least
recently goes next; never presented comes first, in joining order; ties in joining order.
Someone out of office that week is skipped and keeps their place. A swap for a week hands
the slot from one of the two to the other; a week's swaps apply in the order they were
recorded, each to whoever the ones before it left presenting. A swap moves nobody's turn:
the one who was due counts as having presented, so no one else's week changes (a trade of
two weeks between two people is two swaps, as bot.services.swaps records it). A swap
recorded before swaps were trades (``trade`` False) keeps the meaning it was planned with:
a hand-over, counted for whoever presented. A topic whose pool is empty gives its week to
the next topic of the pattern that has presenters.
A week a manager skipped holds no meeting and counts for nobody: the weeks after it shift
by one, topics included, and the next meeting goes to whoever the skipped one was due to
(unless they are away then), so the meetings held are those there would have been without
the skip, each a meeting later, as far as absences on the new dates allow.

The plan is a function of the schedule: every meeting since the first counts, as announced
where it was and as planned where it was not, so a missed announcement moves nobody.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.errors import ValidationError
from bot.domain.model import AuditEntry, Project, Role

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Topic(StrEnum):
    SCIENCE = "science"
    ENGINEERING = "engineering"


TOPIC_ROLE = {Topic.SCIENCE: Role.SCIENTIST, Topic.ENGINEERING: Role.ENGINEER}


@dataclass(frozen=True)
class RotationConfig:
    """When a project meets, and in which order topics come."""

    weekday: int = 0  # Monday
    meeting: time = time(10, 0)
    announce: time = time(9, 0)  # on the meeting day; the presenter is told a day earlier
    timezone: str = "UTC"
    pattern: tuple[Topic, ...] = (Topic.SCIENCE, Topic.ENGINEERING)
    # The Monday of the week the pattern starts counting from.
    anchor: date = date(2024, 1, 1)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        return (
            f"weekday={WEEKDAYS[self.weekday]} time={self.meeting:%H:%M}"
            f" announce={self.announce:%H:%M} timezone={self.timezone}"
            f" pattern={','.join(self.pattern)}"
        )


@dataclass(frozen=True)
class PoolMember:
    user_id: str
    role: Role
    joined: int  # joining order: smaller joined earlier
    joined_on: date


@dataclass(frozen=True)
class Absence:
    user_id: str
    start: date
    end: date  # inclusive
    reason: str = "out of office"  # what a skip for it says (a Slack status says its own)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Swap:
    week: date  # the meeting date
    a: str
    b: str
    # False: a one-sided hand-over recorded before swaps were trades; the meeting counts for
    # whoever presented, as it was planned then, so upgrading replans nobody.
    trade: bool = True


@dataclass(frozen=True)
class Skip:
    """A meeting a manager cancelled (``/rotation skip``)."""

    week: date  # the meeting date; it cancels that week's meeting, whatever its weekday
    reason: str = ""


@dataclass(frozen=True)
class Slot:
    """One meeting: its topic, presenter, who was skipped and why, and any swap."""

    week: date
    topic: Topic
    presenter: str | None
    skipped: tuple[tuple[str, str], ...] = ()  # (user, reason)
    swapped_from: str | None = None
    # The pattern's topic for the week, when its pool was empty and ``topic`` stood in.
    instead_of: Topic | None = None
    # Skipped by a manager: the reason ("" when none was given); None for a meeting held.
    cancelled: str | None = None

    @property
    def nobody_in_any_pool(self) -> bool:
        """No topic of the pattern had anyone to present (not: everyone was away)."""
        return self.presenter is None and not self.skipped and self.cancelled is None


@dataclass(frozen=True)
class SwapRequest:
    """A presenter's week offered to their pool (``/rotation swap request``)."""

    id: int
    project_id: int
    week: date  # the meeting date
    presenter: str
    requested_by: str
    created_at: datetime
    taken_by: str | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Offer:
    """A swap request with the meeting it offers, as its post shows it."""

    project: Project
    request: SwapRequest
    slot: Slot
    meeting: datetime  # when the meeting starts (UTC)
    config: RotationConfig
    # Taken: the taker's later week the presenter presents in exchange (None: handed over).
    traded: date | None = None


@dataclass(frozen=True)
class Moved:
    """Someone whose planned weeks a swap changed: the weeks they no longer present, and
    the weeks they now do."""

    user: str
    lost: tuple[date, ...]
    gained: tuple[date, ...]


@dataclass(frozen=True)
class Agenda:
    """What a meeting should look at, built from the board (SPEC §4)."""

    moves: list[tuple[AuditEntry, str]]  # (audit entry, experiment title)
    in_review: list[tuple[str, str]]  # (key, title); science weeks only


# --- time -----------------------------------------------------------------------------


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def meeting_date(config: RotationConfig, week_monday: date) -> date:
    return week_monday + timedelta(days=config.weekday)


def at_local(config: RotationConfig, day: date, clock: time) -> datetime:
    """``day`` at wall-clock ``clock`` in the team's zone, as an aware UTC datetime.

    zoneinfo applies the offset in force on that date, so 09:00 Berlin is 09:00 Berlin
    in March and in November; a time skipped by a spring-forward change (02:30) comes
    out as the instant the clocks then read 03:30.
    """
    return datetime.combine(day, clock, tzinfo=config.zone).astimezone(UTC)


def topic_for(config: RotationConfig, day: date, cancelled: Collection[date] = ()) -> Topic:
    return topics_from(config, day, cancelled)[0]


def topics_from(config: RotationConfig, day: date, cancelled: Collection[date] = ()) -> list[Topic]:
    """The pattern read from ``day``'s topic on: who stands in when a pool is empty.

    ``cancelled`` (Mondays of skipped weeks) hold no topic: the pattern resumes after them
    where it stopped."""
    monday, anchor = monday_of(day), monday_of(config.anchor)
    weeks = (monday - anchor).days // 7
    weeks -= sum(1 for m in cancelled if anchor <= m < monday)
    at = weeks % len(config.pattern)
    return list(config.pattern[at:] + config.pattern[:at])


def meetings_from(config: RotationConfig, now: datetime, count: int) -> list[date]:
    """The next ``count`` meeting dates whose meeting has not started at ``now``."""
    local_today = now.astimezone(config.zone).date()
    day = meeting_date(config, monday_of(local_today))
    if at_local(config, day, config.meeting) <= now:
        day += timedelta(days=7)
    return [day + timedelta(days=7 * i) for i in range(count)]


# --- who presents ---------------------------------------------------------------------


def plan(
    config: RotationConfig,
    pool: Sequence[PoolMember],
    history: Iterable[Slot],
    absences: Iterable[Absence],
    swaps: Iterable[Swap],
    weeks: Sequence[date],
    skips: Iterable[Skip] = (),
) -> list[Slot]:
    """The meeting of each of ``weeks`` (ascending), continuing from ``history``.

    ``history`` holds the announced meetings: facts, taken as they were, in whichever
    week they fall (before or among ``weeks``). A week of ``skips`` that was not announced
    is cancelled: it counts for nobody and the pattern resumes after it. Every other week
    of ``weeks`` is chosen and counts as presented for the weeks after it, announced or not.
    """
    announced = {monday_of(slot.week): slot for slot in history}
    planned = {monday_of(week): week for week in weeks}
    reasons = {monday_of(s.week): s.reason for s in skips}
    cancelled = frozenset(m for m in reasons if m not in announced)
    until = max(planned, default=date.min)
    # Per topic: presenting in engineering weeks must not push back a turn in science.
    last: dict[tuple[str, Topic], date] = {}
    away: dict[str, list[Absence]] = {}
    for absence in absences:
        away.setdefault(absence.user_id, []).append(absence)
    swaps_by_week: dict[date, list[Swap]] = {}
    for swap in swaps:
        swaps_by_week.setdefault(swap.week, []).append(swap)
    slots = []
    due = _Due()
    for monday in sorted(m for m in announced.keys() | planned.keys() if m <= until):
        fact = announced.get(monday)
        if fact is not None:
            slot = _as_announced(config, pool, fact, cancelled)
            credited = _credited_as_announced(slot, swaps_by_week.get(slot.week, []))
            due.held(slot)
        elif monday in cancelled:
            week = planned[monday]
            would_be, _ = _choose(config, pool, last, away, [], week, cancelled, due.first)
            due.cancelled(would_be)
            slot = Slot(week, topic_for(config, week, cancelled), None, cancelled=reasons[monday])
            credited = None
        else:
            week = planned[monday]
            swapping = swaps_by_week.get(week, [])
            slot, credited = _choose(config, pool, last, away, swapping, week, cancelled, due.first)
            due.held(slot)
        if credited is not None:
            # The one due is credited, not whoever a trade swapped in: it moves nobody else.
            last[(credited, slot.topic)] = slot.week
        if monday in planned:
            slots.append(slot)
    return slots


@dataclass
class _Due:
    """Who a skipped week's meeting was due to, per topic, until that topic's next meeting.

    A skip moves the meetings after it by one, so the next meeting of the skipped topic goes
    to whoever the skipped one was due to (ahead of anyone back from an absence that had
    passed them over then), unless they are away in turn; consecutive skips keep the first.
    The topic is the one the skipped meeting would have had: a stand-in's when the pattern's
    pool was empty then, even if the next meeting on the calendar finds that pool filled.
    """

    by_topic: dict[Topic, str] = field(default_factory=dict)

    def first(self, topic: Topic) -> str | None:
        return self.by_topic.get(topic)

    def cancelled(self, would_be: Slot) -> None:
        due = would_be.swapped_from or would_be.presenter  # a swap follows its meeting
        if due is not None:
            self.by_topic.setdefault(would_be.topic, due)

    def held(self, slot: Slot) -> None:
        self.by_topic.pop(slot.topic, None)


def _eligible(pool: Sequence[PoolMember], topic: Topic, week: date) -> list[PoolMember]:
    role = TOPIC_ROLE[topic]
    return [m for m in pool if m.role is role and m.joined_on <= week]


def _as_announced(
    config: RotationConfig, pool: Sequence[PoolMember], fact: Slot, cancelled: Collection[date]
) -> Slot:
    """An announced meeting; a stand-in topic is named again (the history keeps the topic)."""
    scheduled = topic_for(config, fact.week, cancelled)
    if fact.topic is not scheduled and not _eligible(pool, scheduled, fact.week):
        return replace(fact, instead_of=scheduled)
    return fact


def _choose(
    config: RotationConfig,
    pool: Sequence[PoolMember],
    last: dict[tuple[str, Topic], date],
    away: dict[str, list[Absence]],
    swaps: list[Swap],
    week: date,
    cancelled: Collection[date],
    due: Callable[[Topic], str | None] = lambda _: None,
) -> tuple[Slot, str | None]:
    """The week's meeting, and whom it counts for (see _swapped)."""
    topics = topics_from(config, week, cancelled)
    topic = next((t for t in topics if _eligible(pool, t, week)), topics[0])
    first = due(topic)
    eligible = sorted(
        _eligible(pool, topic, week),
        key=lambda m: (m.user_id != first, last.get((m.user_id, topic), date.min), m.joined),
    )
    absent = {
        m.user_id: next(a.reason for a in away[m.user_id] if a.covers(week))
        for m in eligible
        if any(a.covers(week) for a in away.get(m.user_id, ()))
    }
    skipped: list[tuple[str, str]] = []
    presenter: str | None = None
    for member in eligible:
        if member.user_id in absent:
            skipped.append((member.user_id, absent[member.user_id]))
            continue
        presenter = member.user_id
        break
    instead_of = topics[0] if topic is not topics[0] else None
    slot = Slot(week, topic, presenter, tuple(skipped), instead_of=instead_of)
    available = {m.user_id for m in eligible} - absent.keys()
    now_presenting, credited = _swapped(presenter, swaps, available)
    if now_presenting != presenter:
        slot = replace(slot, presenter=now_presenting, swapped_from=presenter)
    return slot, credited


def _swapped(
    due: str | None, swaps: Sequence[Swap], available: Collection[str] | None = None
) -> tuple[str | None, str | None]:
    """Who presents after the week's ``swaps``, in the order recorded: each hands the week
    from whoever presents by then to the other of its two, when they are ``available``
    (None: anyone); and whom the meeting counts for: whoever presented when the first trade
    applied, else (no swap, or only hand-overs recorded before trades) the one presenting."""
    presenter, credited = due, None
    for swap in swaps:
        if presenter in (swap.a, swap.b):
            other = swap.b if presenter == swap.a else swap.a
            if available is None or other in available:
                if swap.trade and credited is None:
                    credited = presenter
                presenter = other
    return presenter, credited if credited is not None else presenter


def _credited_as_announced(fact: Slot, swaps: Sequence[Swap]) -> str | None:
    """Whom an announced meeting counts for: its week's swaps replayed from the one due.

    Who was away then is not kept, so the replay takes everyone as available; should it
    not end with the presenter announced, the one due is credited unless the week's swaps
    are all hand-overs recorded before trades (then the presenter, as planned then)."""
    if fact.presenter is None or fact.swapped_from is None:
        return fact.presenter
    presenter, credited = _swapped(fact.swapped_from, swaps)
    if presenter == fact.presenter:
        return credited
    old = bool(swaps) and not any(s.trade for s in swaps)
    return fact.presenter if old else fact.swapped_from


# --- fairness you can see -------------------------------------------------------------


@dataclass
class PersonStats:
    presented: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    swaps: int = 0


def stats(slots: Iterable[Slot]) -> dict[str, PersonStats]:
    """Presentations, skips (by reason) and swaps per person over ``slots``."""
    table: dict[str, PersonStats] = {}
    for slot in slots:
        if slot.presenter is not None:
            table.setdefault(slot.presenter, PersonStats()).presented += 1
        for user, reason in slot.skipped:
            person = table.setdefault(user, PersonStats())
            person.skipped[reason] = person.skipped.get(reason, 0) + 1
        if slot.swapped_from is not None and slot.presenter is not None:
            table.setdefault(slot.swapped_from, PersonStats()).swaps += 1
            table[slot.presenter].swaps += 1
    return table


# --- configuration from key=value -----------------------------------------------------


CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _clock(value: str, key: str) -> time:
    match = CLOCK.fullmatch(value)
    if match is None:
        raise ValidationError(f"{key} must be a time like 09:00, not '{value}'")
    return time(int(match[1]), int(match[2]))


def configured(current: RotationConfig, changes: dict[str, str]) -> RotationConfig:
    """Apply ``/rotation config`` changes; every problem reported at once, all or nothing."""
    problems: list[str] = []
    values: dict[str, object] = {}
    for key, raw in changes.items():
        try:
            if key == "weekday":
                if raw.lower() not in WEEKDAYS + DAY_NAMES:
                    raise ValidationError(f"weekday must be one of {', '.join(WEEKDAYS)}")
                values["weekday"] = WEEKDAYS.index(raw.lower()[:3])
            elif key in ("time", "announce"):
                values["meeting" if key == "time" else "announce"] = _clock(raw, key)
            elif key == "timezone":
                try:
                    ZoneInfo(raw)
                except (KeyError, ValueError, OSError):  # OSError: a folder like 'Europe'
                    raise ValidationError(f"timezone '{raw}' is not an IANA zone") from None
                values["timezone"] = raw
            elif key == "pattern":
                topics = [t.strip().lower() for t in raw.split(",") if t.strip()]
                bad = [t for t in topics if t not in {x.value for x in Topic}]
                if not topics or bad or len(topics) > 12:
                    raise ValidationError(
                        "pattern must list 1–12 topics from science, engineering,"
                        f" comma-separated, not '{raw}'"
                    )
                values["pattern"] = tuple(Topic(t) for t in topics)
            else:
                raise ValidationError(
                    f"unknown key '{key}' (known: weekday, time, announce, timezone, pattern)"
                )
        except ValidationError as exc:
            problems.append(exc.message)
    if problems:
        raise ValidationError("Rotation not changed: " + "; ".join(problems) + ".")
    new = replace(current, **values)  # type: ignore[arg-type]
    if new.announce >= new.meeting:
        raise ValidationError(
            "Rotation not changed: the announcement (announce=) must not be after the meeting"
            " (time=), nor at the same time, or there would be no moment to announce it."
        )
    return new
