"""The Slack messages changes cause, rendered for the outbox (implements services.Notices)."""

from __future__ import annotations

from typing import Any

from bot.domain.model import Experiment, OutgoingMessage, Project
from bot.slack.blocks import experiments as render


class SlackNotices:
    """Each experiment has one thread in its project channel; its root shows the status."""

    def project_added(self, project: Project, actor_id: str) -> list[OutgoingMessage]:
        text = render.project_intro(project, actor_id)
        return [
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "conversations.join",
                {"channel": project.channel_id},
            ),
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "chat.postMessage",
                {"channel": project.channel_id, "text": text},
            ),
        ]

    def experiment_created(self, experiment: Experiment, project: Project) -> list[OutgoingMessage]:
        text, blocks = render.thread_root(experiment)
        return [
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "chat.postMessage",
                {"channel": project.channel_id, "text": text, "blocks": blocks},
                experiment_id=experiment.id,
                thread_root=True,
            )
        ]

    def experiment_changed(
        self,
        experiment: Experiment,
        project: Project,
        actor_id: str,
        action: str,
        detail: dict[str, Any],
    ) -> list[OutgoingMessage]:
        channel = project.channel_id
        text, blocks = render.thread_root(experiment)
        return [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.postMessage",
                {
                    "channel": channel,
                    "text": render.change_message(experiment, actor_id, action, detail),
                },
                experiment_id=experiment.id,
            ),
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.update",
                {"channel": channel, "text": text, "blocks": blocks},
                experiment_id=experiment.id,
            ),
        ]
