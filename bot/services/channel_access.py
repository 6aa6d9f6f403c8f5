"""A channel Slack refuses mlgov: tell the project's managers once, and how to fix it."""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import OutgoingMessage, Project
from bot.services.review_staffing import managers_of
from storage.unit_of_work import UnitOfWork

# chat.postMessage / chat.update errors about the channel itself, not the message.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
# Of those, the ones joining may cure: a public channel mlgov was never in or was removed
# from (Slack answers channel_not_found for a private channel it is not in, too; the join
# then fails and tells us so). An archived channel cannot be joined.
JOINABLE = frozenset({"not_in_channel", "channel_not_found"})

_WHY = {
    "not_in_channel": "it is not a member of the channel",
    "channel_not_found": "the channel is private and mlgov is not in it, or it was deleted",
    "is_archived": "the channel is archived",
}
_FIX = {
    "not_in_channel": "type `/invite @mlgov` in {channel}",
    "channel_not_found": "type `/invite @mlgov` in {channel} (if it still exists)",
    "is_archived": "unarchive {channel}, then `/invite @mlgov` there",
}


def cannot_post_text(project: Project, reason: str) -> str:
    channel = f"<#{project.channel_id}>"
    why = _WHY.get(reason, reason)
    fix = _FIX.get(reason, "invite mlgov to {channel}").format(channel=channel)
    return (
        f":warning: mlgov cannot post in {channel}, the channel of project *{project.slug}*:"
        f" {why}. Updates meant for it are not posted there until this is fixed. To fix it,"
        f" {fix}. The next update then goes out; an experiment whose thread was lost"
        " starts a new one."
    )


def channel_refused(
    uow: UnitOfWork, team_id: str, channel: str, reason: str, now: datetime
) -> list[str]:
    """Record that Slack refuses ``channel``; the first time, DM its project's managers.

    Returns who was told (nobody when they were told already, or no project uses the
    channel). Runs in the transaction that settles the refused message.
    """
    if not uow.delivery.block_channel(team_id, channel, reason, now):
        return []
    project = uow.projects.by_channel(team_id, channel)
    if project is None:
        return []
    managers = managers_of(uow, project)
    text = cannot_post_text(project, reason)
    for manager in managers:
        payload = {"channel": manager, "text": text}
        uow.outbox.add(OutgoingMessage(team_id, manager, "chat.postMessage", payload), now)
    return managers
