"""The Slack messages changes cause, rendered for the outbox (implements services.Notices)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from bot.domain.evaluation import Baseline, EvaluationRecord
from bot.domain.model import SCRUB_AFTER_DELIVERY, Experiment, OutgoingMessage, Project
from bot.domain.nudges import IdleExperiment
from bot.domain.parity import Parity
from bot.domain.review import Decision, Review
from bot.domain.rotation import Agenda, Moved, Offer, RotationConfig, Slot, SwapRequest, Topic
from bot.domain.snooze import SnoozeKind
from bot.domain.summary import Summary
from bot.services.digest import Digest
from bot.services.home import Home
from bot.slack.blocks import digest as digest_render
from bot.slack.blocks import evaluations as eval_render
from bot.slack.blocks import experiments as render
from bot.slack.blocks import fresh_block_ids
from bot.slack.blocks import home as home_render
from bot.slack.blocks import nudges as nudge_render
from bot.slack.blocks import registry as registry_render
from bot.slack.blocks import reviews as review_render
from bot.slack.blocks import rotation as rotation_render
from bot.slack.blocks import snooze as snooze_render
from bot.slack.blocks import swaps as swap_render
from bot.slack.mlflow_notices import MlflowNotices

# A file upload through slack_sdk's files_upload_v2 (three Web API calls), queued as one.
UPLOAD = "files.uploadV2"


def new_stamp() -> str:
    """A fresh suffix for the block_ids of one update of a message."""
    return secrets.token_hex(4)


class SlackNotices(MlflowNotices):
    """Each experiment has one thread in its project channel; its root shows the status.

    ``stamp`` makes the block_ids of each chat.update new (Slack asks for it)."""

    def __init__(self, stamp: Callable[[], str] = new_stamp) -> None:
        self.stamp = stamp

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
            self._root_update(experiment, project),
        ]

    def rotation_announced(
        self,
        project: Project,
        slot: Slot,
        agenda: Agenda,
        meeting: datetime,
        config: RotationConfig,
        *,
        unchecked: str = "",
    ) -> list[OutgoingMessage]:
        text, blocks = rotation_render.announcement(slot, agenda, meeting, config, unchecked)
        channel = project.channel_id
        return [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.postMessage",
                {"channel": channel, "text": text, "blocks": blocks},
            )
        ]

    def presenter_reminder(
        self, project: Project, slot: Slot, meeting: datetime, config: RotationConfig
    ) -> list[OutgoingMessage]:
        assert slot.presenter is not None
        text = rotation_render.reminder(project.slug, slot, meeting, config)
        return [_direct_message(project.team_id, slot.presenter, text)]

    def rotation_pool_empty(
        self, project: Project, topics: list[Topic], slot: Slot, managers: list[str]
    ) -> list[OutgoingMessage]:
        text = rotation_render.pool_empty(project.slug, topics, slot)
        if not managers:  # nobody manages it: the channel hears it instead
            channel = project.channel_id
            payload = {"channel": channel, "text": text}
            return [OutgoingMessage(project.team_id, channel, "chat.postMessage", payload)]
        return [_direct_message(project.team_id, m, text) for m in managers]

    def meeting_skipped(
        self, project: Project, slot: Slot, reason: str, presenter: str, again: date | None
    ) -> list[OutgoingMessage]:
        text = swap_render.skipped_dm(project.slug, slot, reason, again)
        return [_direct_message(project.team_id, presenter, text)]

    def presentation_moved(
        self, project: Project, change: Slot, user: str, was: date | None, now: Slot | None
    ) -> list[OutgoingMessage]:
        text = swap_render.shifted_dm(project.slug, change, was, now)
        return [_direct_message(project.team_id, user, text)]

    def swap_offered(self, offer: Offer) -> list[OutgoingMessage]:
        text, blocks = swap_render.offer_post(offer)
        return [self._offer_post(offer.project, offer.request, "chat.postMessage", text, blocks)]

    def swap_taken(self, offer: Offer) -> list[OutgoingMessage]:
        request, team = offer.request, offer.project.team_id
        assert request.taken_by is not None
        text, blocks = swap_render.offer_taken_post(offer)
        return [
            self._offer_post(offer.project, request, "chat.update", text, self._fresh(blocks)),
            _direct_message(team, request.presenter, swap_render.taken_dm(offer, True)),
            _direct_message(team, request.taken_by, swap_render.taken_dm(offer, False)),
        ]

    def swap_closed(
        self, project: Project, request: SwapRequest, why: str
    ) -> list[OutgoingMessage]:
        text, blocks = swap_render.offer_closed_post(request, why)
        return [self._offer_post(project, request, "chat.update", text, self._fresh(blocks))]

    def presentations_moved(
        self, project: Project, config: RotationConfig, moved: Moved
    ) -> list[OutgoingMessage]:
        text = swap_render.moved_dm(project.slug, config, moved)
        return [_direct_message(project.team_id, moved.user, text)]

    def swap_unanswered(self, offer: Offer, managers: list[str]) -> list[OutgoingMessage]:
        text = swap_render.unanswered(offer)
        if not managers:  # nobody manages it: the channel hears it instead
            channel = offer.project.channel_id
            payload = {"channel": channel, "text": text}
            return [OutgoingMessage(offer.project.team_id, channel, "chat.postMessage", payload)]
        return [_direct_message(offer.project.team_id, m, text) for m in managers]

    def calendar_subscription(
        self, team_id: str, user_id: str, feed: str, url: str
    ) -> list[OutgoingMessage]:
        """The URL by DM; once delivered, the stored message no longer holds its key."""
        text = swap_render.calendar_dm(feed, url)
        payload = {"channel": user_id, "text": text}
        payload[SCRUB_AFTER_DELIVERY] = swap_render.calendar_dm_scrubbed(feed)
        return [OutgoingMessage(team_id, user_id, "chat.postMessage", payload)]

    def _offer_post(
        self,
        project: Project,
        request: SwapRequest,
        method: str,
        text: str,
        blocks: list[dict[str, Any]],
    ) -> OutgoingMessage:
        channel = project.channel_id
        payload = {"channel": channel, "text": text, "blocks": blocks}
        return OutgoingMessage(
            project.team_id, channel, method, payload, ref=swap_render.offer_ref(request)
        )

    def stale_nudge(
        self, team_id: str, user_id: str, stale: list[IdleExperiment]
    ) -> list[OutgoingMessage]:
        text = nudge_render.stale_nudge(stale)
        keys = [item.experiment.key for item in stale]
        blocks = snooze_render.with_snooze(text, SnoozeKind.STALE, ",".join(keys))
        return [_direct_message(team_id, user_id, text, blocks)]

    def review_requested(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        *,
        evaluation: EvaluationRecord | None = None,
        unchecked: str = "",
    ) -> list[OutgoingMessage]:
        text, blocks = review_render.request(experiment, review, quorum, evaluation, unchecked)
        channel = project.channel_id
        post = OutgoingMessage(
            project.team_id,
            channel,
            "chat.postMessage",
            {"channel": channel, "text": text, "blocks": blocks},
            experiment_id=experiment.id,
            ref=review_render.ref(review),
        )
        dms = [
            _direct_message(
                project.team_id,
                r,
                review_render.asked(experiment, r, review.kind, review.requested_by),
            )
            for r in reviewers
        ]
        return [post, *dms]

    def review_decided(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        decision: Decision,
        approvals: int,
        quorum: int,
        moved: Experiment | None,
        *,
        evaluation: EvaluationRecord | None = None,
    ) -> list[OutgoingMessage]:
        channel = project.channel_id
        now = moved or experiment
        text = review_render.decided(
            experiment, decision, approvals, quorum, now.status.value if moved else None
        )
        update_text, blocks = review_render.request(now, review, quorum, evaluation)
        messages = [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.postMessage",
                {"channel": channel, "text": text},
                experiment_id=experiment.id,
            ),
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.update",
                {"channel": channel, "text": update_text, "blocks": self._fresh(blocks)},
                ref=review_render.ref(review),
            ),
        ]
        if moved is not None:
            messages.append(self._root_update(moved, project))
        return messages

    def review_reminder(
        self, experiment: Experiment, reviewer: str, days: int, *, review_id: int | None = None
    ) -> list[OutgoingMessage]:
        text = review_render.reminder(experiment, days)
        if review_id is None:
            return [_direct_message(experiment.team_id, reviewer, text)]
        blocks = snooze_render.with_snooze(text, SnoozeKind.REVIEW, str(review_id))
        return [_direct_message(experiment.team_id, reviewer, text, blocks)]

    def review_overdue(
        self, experiment: Experiment, reviewer: str, days: int, managers: list[str]
    ) -> list[OutgoingMessage]:
        text = review_render.overdue(experiment, reviewer, days)
        return [_direct_message(experiment.team_id, m, text) for m in managers]

    def reviewer_changed(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        leaving: str,
        successor: str | None,
        why: str,
        reason: str,
        *,
        unchecked: str = "",
    ) -> list[OutgoingMessage]:
        channel = project.channel_id
        text = review_render.reviewer_changed(
            experiment, leaving, successor, why, reason, unchecked
        )
        messages = [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.postMessage",
                {"channel": channel, "text": text},
                experiment_id=experiment.id,
            )
        ]
        if successor is not None:
            messages.append(
                _direct_message(
                    project.team_id,
                    successor,
                    review_render.asked(experiment, successor, review.kind, review.requested_by),
                )
            )
        return messages

    def review_reopened(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        evaluation_id: int,
        dismissed: int,
        moved: Experiment | None,
        *,
        evaluation: EvaluationRecord | None = None,
        unchecked: str = "",
    ) -> list[OutgoingMessage]:
        """Why the review opened again (in the thread), the new request with its buttons,
        the thread root's status, and a DM to each reviewer asked again."""
        channel = project.channel_id
        why = review_render.reopened(experiment, evaluation_id, dismissed, reviewers)
        text, blocks = review_render.request(experiment, review, quorum, evaluation, unchecked)
        messages = [
            self._in_thread(experiment, project, why),
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.postMessage",
                {"channel": channel, "text": text, "blocks": blocks},
                experiment_id=experiment.id,
                ref=review_render.ref(review),
            ),
        ]
        if moved is not None:
            messages.append(self._root_update(moved, project))
        messages += [
            _direct_message(
                project.team_id, r, review_render.asked_again(experiment, evaluation_id)
            )
            for r in reviewers
        ]
        return messages

    def review_needs_reviewer(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        managers: list[str],
        reason: str,
    ) -> list[OutgoingMessage]:
        text = review_render.needs_reviewer(experiment, review.kind, reason)
        return [
            self._in_thread(experiment, project, text),
            *(_direct_message(project.team_id, m, text) for m in managers),
        ]

    def model_blocked(
        self,
        experiment: Experiment,
        project: Project,
        model: str,
        version: str,
        aliases: tuple[str, ...],
        unmet: list[str],
        managers: list[str],
        link: str | None,
    ) -> list[OutgoingMessage]:
        text = registry_render.model_blocked(experiment, model, version, aliases, unmet, link)
        return [
            self._in_thread(experiment, project, text),
            *(_direct_message(project.team_id, m, text) for m in managers),
        ]

    # --- evaluations ---------------------------------------------------------------

    def evaluation_recorded(
        self,
        experiment: Experiment,
        project: Project,
        summary: Summary,
        baseline: Baseline | None,
        chart: bytes | None,
        dismissed: int,
        progress_ref: str | None,
        *,
        submitted_by: str = "",
        filename: str = "",
        logged: Mapping[str, float] | None = None,
    ) -> list[OutgoingMessage]:
        channel = project.channel_id
        credit = eval_render.credit(submitted_by, filename)
        text, blocks = eval_render.summary_blocks(
            experiment, summary, baseline, dismissed, credit=credit, logged=logged
        )
        if progress_ref:  # the "computing…" message becomes the summary
            blocks = self._fresh(blocks)
        payload = {"channel": channel, "text": text, "blocks": blocks}
        messages = [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.update" if progress_ref else "chat.postMessage",
                payload,
                experiment_id=experiment.id,
                ref=progress_ref,
            )
        ]
        if chart is not None:
            kind = "roc" if summary.kind.value == "classification" else "residuals"
            messages.append(
                OutgoingMessage(
                    project.team_id,
                    channel,
                    UPLOAD,
                    {
                        "channel": channel,
                        "filename": f"{experiment.key}-{kind}.png",
                        "title": f"{experiment.key}: {kind} against the baseline",
                        "content_b64": base64.b64encode(chart).decode("ascii"),
                    },
                    experiment_id=experiment.id,
                )
            )
        return messages

    def evaluation_computing(
        self, experiment: Experiment, project: Project, rows: int, ref: str
    ) -> list[OutgoingMessage]:
        return [self._in_thread(experiment, project, eval_render.computing(experiment, rows), ref)]

    def evaluation_failed(
        self, experiment: Experiment, project: Project, why: str, ref: str
    ) -> list[OutgoingMessage]:
        channel = project.channel_id
        payload = {"channel": channel, "text": eval_render.failed(experiment, why)}
        return [
            OutgoingMessage(
                project.team_id,
                channel,
                "chat.update",
                payload,
                experiment_id=experiment.id,
                ref=ref,
            )
        ]

    def baseline_set(
        self,
        project: Project,
        experiment: Experiment,
        baseline: Baseline,
        previous: Baseline | None,
    ) -> list[OutgoingMessage]:
        text = eval_render.baseline_set(experiment, baseline, previous)
        return [
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "chat.postMessage",
                {"channel": project.channel_id, "text": text},
            )
        ]

    def parity_checked(
        self, experiment: Experiment, project: Project, parity: Parity
    ) -> list[OutgoingMessage]:
        return [self._in_thread(experiment, project, eval_render.parity_text(experiment, parity))]

    def _root_update(self, experiment: Experiment, project: Project) -> OutgoingMessage:
        """The experiment's thread root, updated in place to show its status and buttons."""
        text, blocks = render.thread_root(experiment)
        channel = project.channel_id
        return OutgoingMessage(
            project.team_id,
            channel,
            "chat.update",
            {"channel": channel, "text": text, "blocks": self._fresh(blocks)},
            experiment_id=experiment.id,
        )

    def _fresh(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return fresh_block_ids(blocks, self.stamp())

    def _in_thread(
        self, experiment: Experiment, project: Project, text: str, ref: str | None = None
    ) -> OutgoingMessage:
        channel = project.channel_id
        return OutgoingMessage(
            project.team_id,
            channel,
            "chat.postMessage",
            {"channel": channel, "text": text},
            experiment_id=experiment.id,
            ref=ref,
        )

    # --- the weekly digest ---------------------------------------------------------------

    def digest_ready(
        self, digest: Digest, recipients: list[str], channel: str | None, chart: bytes | None
    ) -> list[OutgoingMessage]:
        """For each reader (a DM) and the digest channel: the summary, then the details and
        the velocity chart as replies in its thread."""
        team = digest.project.team_id
        text, blocks = digest_render.summary(digest)
        week = digest.figures.week.start.date().isoformat()
        messages = []
        if channel and channel.startswith("C"):
            # A public channel named by the rules: join it first (a private one needs an
            # /invite, which the help of digest_channel says).
            join = {"channel": channel}
            messages.append(OutgoingMessage(team, channel, "conversations.join", join))
        for where in [*recipients, *([channel] if channel else [])]:
            ref = f"digest:{digest.project.id}:{week}:{where}"[:64]
            post = {"channel": where, "text": text, "blocks": blocks}
            messages.append(OutgoingMessage(team, where, "chat.postMessage", post, ref=ref))
            for reply_text, reply_blocks in digest_render.details(digest):
                reply = {
                    "channel": where,
                    "text": reply_text,
                    "blocks": reply_blocks,
                    "thread_ref": ref,
                }
                messages.append(OutgoingMessage(team, where, "chat.postMessage", reply))
            if chart is not None:
                upload = {
                    "channel": where,
                    "filename": f"{digest.project.slug}-velocity-{week}.png",
                    "title": f"{digest.project.slug}: concluded per week",
                    "content_b64": base64.b64encode(chart).decode("ascii"),
                    "thread_ref": ref,
                }
                messages.append(OutgoingMessage(team, where, UPLOAD, upload))
        return messages

    # --- the App Home ------------------------------------------------------------------

    def home_published(self, team_id: str, user_id: str, home: Home) -> list[OutgoingMessage]:
        """The person's Home tab; one outbox channel per person keeps publishes in order."""
        payload = {"user_id": user_id, "view": home_render.home_view(home)}
        return [OutgoingMessage(team_id, f"home:{user_id}", "views.publish", payload)]


def _direct_message(
    team_id: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> OutgoingMessage:
    # Posting to a user id lands in the app's Messages tab with that user.
    payload: dict[str, Any] = {"channel": user_id, "text": text}
    if blocks:
        payload["blocks"] = blocks
    return OutgoingMessage(team_id, user_id, "chat.postMessage", payload)
