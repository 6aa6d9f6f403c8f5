"""Who is who in the shell's workspace: names <-> Slack-like ids, read from the database.

The shell makes ids up the same way every time (``alice`` -> ``UALICE``, ``#churn`` ->
``CCHURN``), so a name typed today finds the member created yesterday. Display names
come from the members table; an id nobody named reads back as its made-up name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.model import Member, Role
from bot.shell.ids import channel_id_for, name_from_id, user_id_for
from bot.shell.render import Names
from storage.unit_of_work import Database

TEAM_ID = "TLOCAL"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,39}$")
ID_PATTERN = re.compile(r"^[UW][A-Z0-9]{2,}$")
__all__ = [
    "ID_PATTERN",
    "NAME_PATTERN",
    "TEAM_ID",
    "Directory",
    "Person",
    "channel_id_for",
    "to_slack_text",
    "user_id_for",
]
# Only names of letters and digits become user ids: Slack ids have no other characters. A
# name glued to more word characters (alice@example.com, @mary-jane) is left alone.
_USER_TOKEN = re.compile(r"(?<![\w.@<])@([A-Za-z][A-Za-z0-9]*)(?![\w-])")
# Channel names as Slack allows them (letters, digits, - and _), starting with a letter so
# that "#12" stays an issue number, ending with a letter or digit ("#ml-leads." is a
# sentence's end, not part of the name).
_CHANNEL_TOKEN = re.compile(r"(?<![\w&<#])#([A-Za-z](?:[A-Za-z0-9_-]{0,78}[A-Za-z0-9])?)(?![\w-])")


def to_slack_text(line: str) -> str:
    """Write typed ``@name`` and ``#channel`` the way Slack sends them: ``<@UNAME|name>``.

    An ``@`` word that already is an id (all capitals, like ``@UALICE``) stays an id.
    """

    def user(match: re.Match[str]) -> str:
        word = match.group(1)
        if ID_PATTERN.match(word):
            return f"<@{word}>"
        return f"<@{user_id_for(word)}|{word.lower()}>"

    def channel(match: re.Match[str]) -> str:
        word = match.group(1)
        return f"<#{channel_id_for(word)}|{word.lower()}>"

    return _CHANNEL_TOKEN.sub(channel, _USER_TOKEN.sub(user, line))


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    member: Member | None

    def describe_roles(self) -> str:
        """``admin, manager; scientist on churn, fraud`` — or ``no roles yet``."""
        if self.member is None:
            return "no roles yet"
        parts = [r.value for r in Role if r in self.member.roles]
        by_role: dict[Role, list[str]] = {}
        for slug, roles in sorted(self.member.project_roles.items()):
            for role in roles:
                by_role.setdefault(role, []).append(slug)
        parts += [f"{r.value} on {', '.join(by_role[r])}" for r in Role if r in by_role]
        return ", ".join(parts) or "no roles yet"


class Directory:
    """The workspace's members as the shell sees them (always read fresh)."""

    def __init__(self, db: Database, team_id: str = TEAM_ID) -> None:
        self.db = db
        self.team_id = team_id

    def members(self) -> list[Member]:
        with self.db.read() as uow:
            return uow.members.all_in(self.team_id)

    def names(self) -> Names:
        return Names(users={m.user_id: m.name for m in self.members() if m.name})

    def resolve(self, word: str) -> Person:
        """A person by name or id; someone not yet a member gets the shell's made-up id."""
        word = word.lstrip("@")
        with self.db.read() as uow:
            member = uow.members.find_by_name(self.team_id, word)
            if member is None and ID_PATTERN.match(word):
                member = uow.members.get(self.team_id, word)
                if member is None:
                    return Person(word, name_from_id(word), None)
            if member is None:
                member = uow.members.get(self.team_id, user_id_for(word))
        if member is None:
            return Person(user_id_for(word), word.lower(), None)
        return Person(member.user_id, member.name or name_from_id(member.user_id), member)

    def person(self, user_id: str) -> Person:
        with self.db.read() as uow:
            member = uow.members.get(self.team_id, user_id)
        name = member.name if member and member.name else name_from_id(user_id)
        return Person(user_id, name, member)

    def default_user(self) -> str | None:
        """The first admin, else the first manager, of the workspace (None when empty)."""
        members = self.members()
        for wanted in (Role.ADMIN, Role.MANAGER):
            for m in members:
                if wanted in m.roles or any(wanted in r for r in m.project_roles.values()):
                    return m.user_id
        return None
