"""The Slack messages MLflow runs cause (part of SlackNotices)."""

from __future__ import annotations

from bot.domain.model import Experiment, OutgoingMessage, Project
from bot.mlflow.entities import Run
from bot.slack.blocks import mlflow as render


class MlflowNotices:
    def _in_thread(
        self, experiment: Experiment, project: Project, text: str, ref: str | None = None
    ) -> OutgoingMessage:
        raise NotImplementedError  # SlackNotices's, which this class is a part of

    def mlflow_run_started(
        self, experiment: Experiment, project: Project, run: Run, url: str
    ) -> list[OutgoingMessage]:
        """A run began while its experiment is proposed: the thread hears it, the owner
        gets Start (mlgov never starts an experiment by itself)."""
        text, blocks = render.start_offer(experiment, run, url)
        owner = experiment.owner_id
        return [
            self._in_thread(experiment, project, render.started(experiment, run, url)),
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
        return [self._in_thread(experiment, project, render.ended(experiment, run, url, problem))]

