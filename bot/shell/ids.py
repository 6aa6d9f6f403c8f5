"""The ids the shell makes up for names, and back: ``alice`` <-> ``UALICE``, ``#ml-leads`` <->
``C06D6C2D6C65616473``.

Slack ids are capitals and digits. A name of letters and digits becomes its capitals
(``churn`` -> ``CCHURN``), as it always has, so a database from an earlier session reads
the same. Any other channel name (``ml-leads``, ``data_eng``) is spelt in hexadecimal
after ``C0``: a name that becomes capitals starts with a letter, so the two never meet.
"""

from __future__ import annotations

import re

SPELT = "0"  # after the C: the rest is the name's UTF-8 in hexadecimal
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def user_id_for(name: str) -> str:
    """The id the shell gives ``name``: ``alice`` -> ``UALICE``."""
    return "U" + name.upper()


def channel_id_for(name: str) -> str:
    """The id the shell gives channel ``name``: ``churn`` -> ``CCHURN``."""
    name = name.lower()
    if _PLAIN.match(name):
        return "C" + name.upper()
    return "C" + SPELT + name.encode().hex().upper()


def name_from_id(entity_id: str) -> str:
    """The shell's inverse of its own naming: ``UALICE`` -> ``alice``, ``CCHURN`` -> ``churn``."""
    if len(entity_id) < 2:
        return entity_id
    if entity_id[0] == "C" and entity_id[1] == SPELT:
        spelt = _spelt_name(entity_id[2:])
        if spelt is not None:
            return spelt
    return entity_id[1:].lower()


def _spelt_name(hexadecimal: str) -> str | None:
    """The channel name spelt in ``hexadecimal``; None when it is not one (a real Slack id)."""
    try:
        name = bytes.fromhex(hexadecimal).decode()
    except ValueError:  # odd length, not hex, not UTF-8
        return None
    return name if _CHANNEL_NAME.match(name) else None
