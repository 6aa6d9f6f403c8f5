"""The Slack messages MLflow runs cause (part of SlackNotices)."""

from __future__ import annotations

from bot.domain.model import Experiment, OutgoingMessage, Project
from bot.mlflow.entities import Run
from bot.slack.blocks import mlflow as render


class MlflowNotices:
    def mlflow_run_started(
        self, experiment: Experiment, project: Project, run: Run, url: str
    ) -> list[OutgoingMessage]:
        """A run began while its experiment is proposed: the thread hears it, the owner
        gets Start (mlgov never starts an experiment by itself)."""
        text, blocks = render.start_offer(experiment, run, url)
        owner = experiment.owner_id
        return [
            _thread_line(experiment, project, render.started(experiment, run, url)),
            OutgoingMessage(
                project.team_id,
                owner,
                "chat.postMessage",
                {"channel": owner, "text": text, "blocks": blocks},
            ),
        ]

    def mlflow_run_ended(
        self, experiment: Experiment, project: Project, run: Run, url: str, problem: str = ""
    ) -> list[OutgoingMessage]:
        """One line in the thread: the run failed, or its predictions were refused."""
        return [_thread_line(experiment, project, render.ended(experiment, run, url, problem))]


def _thread_line(experiment: Experiment, project: Project, text: str) -> OutgoingMessage:
    channel = project.channel_id
    return OutgoingMessage(
        project.team_id,
        channel,
        "chat.postMessage",
        {"channel": channel, "text": text},
        experiment_id=experiment.id,
    )
