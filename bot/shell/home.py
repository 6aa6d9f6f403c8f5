"""``:home`` in the shell: the current person's App Home, as Slack's Home tab shows it, with
its buttons numbered to press."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.services.home import show_home
from bot.shell.directory import TEAM_ID
from bot.slack.blocks.home import home_view

if TYPE_CHECKING:
    from bot.shell.session import Session

USAGE = ":home"


def home_command(session: Session, argument: str) -> None:
    """Show the Home of the person the shell acts as (read only: nothing is published)."""
    if argument:
        session.write(f"':home' takes no argument; it shows your own Home. Usage: {USAGE}")
        return
    runtime = session.runtime
    home = show_home(
        runtime.db,
        runtime.dispatcher.notices,
        runtime.clock(),
        runtime.settings.timezone,
        TEAM_ID,
        session.user.user_id,
    )
    blocks = home_view(home)["blocks"]
    rendered = session.renderer().blocks(blocks, "", session.board.next_number())
    session.show_buttons(rendered, "Home of")
