"""Hypothesis strategies for the rotation domain: pools, absences and swaps over many weeks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import strategies as st

from bot.domain.model import Role
from bot.domain.rotation import Absence, PoolMember, RotationConfig, Swap

ANCHOR = date(2024, 1, 1)  # RotationConfig's default anchor, a Monday


@dataclass(frozen=True)
class Scenario:
    """Everything ``plan`` needs for a run of consecutive weekly meetings."""

    config: RotationConfig
    pool: tuple[PoolMember, ...]
    absences: tuple[Absence, ...]
    swaps: tuple[Swap, ...]
    weeks: tuple[date, ...]

    def member(self, user_id: str) -> PoolMember:
        return next(m for m in self.pool if m.user_id == user_id)

    def away(self, user_id: str, day: date) -> bool:
        return any(a.user_id == user_id and a.start <= day <= a.end for a in self.absences)

    def available(self, user_id: str, day: date) -> bool:
        """Joined by ``day`` and not out of office on it."""
        return self.member(user_id).joined_on <= day and not self.away(user_id, day)

    def members(self, role: Role) -> list[PoolMember]:
        return [m for m in self.pool if m.role is role]


@st.composite
def scenarios(draw: st.DrawFn, *, weeks: int = 60, with_swaps: bool = False) -> Scenario:
    """1–8 scientists and 1–5 engineers joining at random, random absences, ``weeks`` meetings."""
    weekday = draw(st.integers(0, 6))
    config = RotationConfig(weekday=weekday, timezone="Europe/Berlin")
    first = ANCHOR + timedelta(weeks=draw(st.integers(0, 150)), days=weekday)
    days = tuple(first + timedelta(weeks=i) for i in range(weeks))

    roles = [Role.SCIENTIST] * draw(st.integers(1, 8)) + [Role.ENGINEER] * draw(st.integers(1, 5))
    # Most join before the first meeting; some join part-way, a few on the same day.
    offsets = draw(
        st.lists(
            st.one_of(st.integers(-400, 0), st.integers(-400, weeks * 7), st.just(0)),
            min_size=len(roles),
            max_size=len(roles),
        )
    )
    tie_break = draw(st.permutations(range(len(roles))))
    ranked = sorted(range(len(roles)), key=lambda i: (offsets[i], tie_break[i]))
    order = {i: rank for rank, i in enumerate(ranked)}
    members = [
        PoolMember(f"U{i:02d}", roles[i], order[i], first + timedelta(days=offsets[i]))
        for i in range(len(roles))
    ]
    pool = tuple(draw(st.permutations(members)))  # the order the pool arrives in is irrelevant

    away = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(roles) - 1),
                st.integers(-10, weeks * 7),
                st.integers(0, 40),
            ),
            min_size=1,
            max_size=20,
        )
    )
    absences = tuple(
        Absence(
            f"U{who:02d}", first + timedelta(days=start), first + timedelta(days=start + length)
        )
        for who, start, length in away
    )

    swaps: tuple[Swap, ...] = ()
    if with_swaps:
        drawn = draw(
            st.lists(
                st.tuples(
                    st.integers(0, weeks - 1),
                    st.integers(0, len(roles) - 1),
                    st.integers(0, len(roles) - 1),
                ).filter(lambda t: t[1] != t[2]),
                max_size=12,
            )
        )
        swaps = tuple(Swap(days[w], f"U{a:02d}", f"U{b:02d}") for w, a, b in drawn)
    return Scenario(config, pool, absences, swaps, days)
