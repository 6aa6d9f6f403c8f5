"""The world of the workflow model: people, projects, evaluations, and watched notices.

Helpers for tests/integration/test_workflow_model.py. Everything here drives or observes
the product through its own surface-neutral core (the Dispatcher), its services and its
jobs; nothing restates the product's rules.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.domain.evaluation import Kind, Predictions
from bot.domain.model import Actor, Experiment, OutgoingMessage, Project
from bot.services import team as team_service
from bot.services.ports import Context
from bot.shell.render import Names, Renderer
from bot.slack.blocks import Reply
from bot.slack.dispatch import UNEXPECTED, Dispatcher, Origin
from bot.slack.notices import SlackNotices
from storage.db import SessionFactories, create_db_engine
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock

ADMINS = ("UADMIN",)  # MLGOV_ADMINS: an admin with no member row at all
PROJECTS = {"churn": "C0CHURN", "fraud": "C0FRAUD"}
# Who starts with which role; the model adds and removes roles as it goes.
START_ROLES: tuple[tuple[str, str, str | None], ...] = (
    ("UMIA", "manager", None),  # workspace-wide manager
    ("UMGR", "manager", "churn"),
    ("UALICE", "scientist", "churn"),
    ("UALICE", "scientist", "fraud"),
    ("UBOB", "scientist", "churn"),
    ("UCAROL", "scientist", "fraud"),
    ("UCAROL", "engineer", "churn"),
    ("UERIN", "engineer", "churn"),
    ("UERIN", "engineer", "fraud"),
    ("UDAN", "scientist", "fraud"),
)
# UZOE is known to nobody: every one of her commands should be refused politely.
PEOPLE = ("UADMIN", "UMIA", "UMGR", "UALICE", "UBOB", "UCAROL", "UERIN", "UDAN", "UZOE")
ROLES = ("scientist", "engineer", "manager", "admin")


# --- evaluations on one fixed held-out set -----------------------------------------------

HOLDOUT_ROWS = 240
_labels_rng = np.random.default_rng(20261201)
_LABELS = (_labels_rng.random(HOLDOUT_ROWS) < 0.4).astype(float)
_IDS = np.array([f"r{i:04d}" for i in range(HOLDOUT_ROWS)], dtype=np.str_)


def _model(strength: float, seed: int) -> Predictions:
    noise = np.random.default_rng(seed).normal(0.0, 1.0, HOLDOUT_ROWS)
    score = 1.0 / (1.0 + np.exp(-(strength * (2.0 * _LABELS - 1.0) + noise)))
    return Predictions(Kind.CLASSIFICATION, _LABELS.copy(), score, _IDS.copy())


BASELINE = _model(0.8, seed=7)
EVALUATIONS = {
    "better": _model(2.5, seed=11),  # AUC far above the baseline's: "better", criterion met
    "worse": _model(0.1, seed=13),  # near chance: "worse"
    "same": BASELINE,  # the baseline's own scores: "no significant difference"
}


# --- notices that remember who was messaged ----------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A direct message some change queued: to whom, about which projects, by which notice."""

    notice: str
    recipient: str
    projects: tuple[str, ...]
    owners: tuple[str, ...]
    text: str


def _about(args: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The project slugs and experiment owners a notice's arguments concern."""
    projects: list[str] = []
    owners: list[str] = []
    for arg in args:
        if isinstance(arg, Experiment):
            projects.append(arg.project)
            owners.append(arg.owner_id)
        elif isinstance(arg, Project):
            projects.append(arg.slug)
        elif isinstance(getattr(arg, "project", None), Project):  # a Digest
            projects.append(arg.project.slug)
    return tuple(dict.fromkeys(projects)), tuple(dict.fromkeys(owners))


class WatchedNotices:
    """The product's own SlackNotices, remembering every direct message they render.

    Any notice, including ones added after this test was written, is wrapped: a message
    to a user id (``U…``) is a DM.
    """

    def __init__(self) -> None:
        self.inner = SlackNotices()
        self.sent: list[Sent] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> list[OutgoingMessage]:
            messages: list[OutgoingMessage] = method(*args, **kwargs)
            projects, owners = _about(args)
            for message in messages:
                if message.channel.startswith("U") and message.method == "chat.postMessage":
                    text = str(message.payload.get("text", ""))
                    self.sent.append(Sent(name, message.channel, projects, owners, text))
            return messages

        return call


class AcceptingSlack:
    """A Slack Web API that accepts every call (the outbox job delivers into it)."""

    def __init__(self) -> None:
        self._serial = itertools.count(1)

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        ts = f"{next(self._serial)}.000100"
        return {"ok": True, "ts": ts, "channel": payload.get("channel", ""), "view": {"id": "V1"}}


# --- failures the product only logs ------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects ERROR records of the product (a job's swallowed failure is still a bug)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("bot", "storage")):
            self.records.append(record)

    def take(self) -> list[str]:
        formatter = logging.Formatter("%(name)s: %(message)s")
        found = [formatter.format(r) for r in self.records]
        self.records.clear()
        return found


# --- the world -----------------------------------------------------------------------------


class World:
    """One example's workspace: a fresh SQLite copy, a hand-moved clock, the dispatcher."""

    def __init__(self, template: Path, copy_to: Path) -> None:
        self.path = copy_to
        if template != copy_to:
            shutil.copyfile(template, self.path)
        engine = create_db_engine(f"sqlite:///{self.path}")
        self.db = Database(SessionFactories(engine))
        self.clock = Clock(datetime.fromisoformat("2026-03-02T09:00:00+00:00"))
        self.notices = WatchedNotices()
        self.dispatcher = Dispatcher(self.db, self.clock, self.notices, admins=ADMINS)
        self.renderer = Renderer(Names())
        self.transcript: list[str] = []
        self.errors = ErrorLog()
        logging.getLogger().addHandler(self.errors)

    def close(self, keep: bool = False) -> None:
        logging.getLogger().removeHandler(self.errors)
        self.db.engine.dispose()
        if not keep:
            self.path.unlink(missing_ok=True)

    def say(self, who: str, command: str, text: str) -> Reply:
        """Type ``command text`` as ``who``; a crash of the product fails the model at once."""
        reply = self.dispatcher.command(Origin(TEAM, who), command, text)
        self.note(who, f"{command} {text}", reply)
        return reply

    def note(self, who: str, what: str, reply: Reply) -> None:
        mark = "✗" if reply.failed else "✓"
        self.transcript.append(f"{who}: {what}  {mark} {reply.text[:160]}")
        assert UNEXPECTED not in reply.text, "\n".join(
            [f"{who}: {what} -> {reply.text}", *self.errors.take(), *self.transcript[-20:]]
        )

    def look(self, who: str, command: str, text: str) -> str:
        """A read the checks make (kept out of the transcript), as the person reads it."""
        reply = self.dispatcher.command(Origin(TEAM, who), command, text)
        assert UNEXPECTED not in reply.text, "\n".join(
            [f"{who}: {command} {text} -> {reply.text}", *self.errors.take()]
        )
        return self.text_of(reply)

    def must(self, who: str, command: str, text: str) -> Reply:
        reply = self.say(who, command, text)
        assert not reply.failed, f"set-up step refused: {who}: {command} {text}: {reply.text}"
        return reply

    def text_of(self, reply: Reply) -> str:
        """What a person reads: the fallback text and every block, rendered as the shell does."""
        return reply.text + "\n" + self.renderer.blocks(reply.blocks, reply.text).text

    def actor(self, who: str) -> Actor:
        with self.db.read() as uow:
            return team_service.resolve_actor(uow, TEAM, who, ADMINS)

    def roles(self) -> dict[str, Actor]:
        """Everyone mlgov knows, with their roles now (one read)."""
        with self.db.read() as uow:
            found = {m.user_id: m.as_actor() for m in uow.members.all_in(TEAM)}
            for admin in ADMINS:
                found[admin] = team_service.resolve_actor(uow, TEAM, admin, ADMINS)
        return found


def is_member(roles: dict[str, Actor], who: str, project: str) -> bool:
    """On the project by a role there, a workspace-wide role, or an admin."""
    actor = roles.get(who)
    return actor is not None and (actor.on_project(project) or actor.is_admin())


def set_up_world(world: World) -> None:
    """Projects, people and a baseline per project, through the product (once per run)."""
    from bot.services import evaluations

    w = world
    for slug, channel in PROJECTS.items():
        w.must("UADMIN", "/mlgov", f"project add {slug} #{channel}")
    for user, role, project in START_ROLES:
        w.must("UADMIN", "/mlgov", f"member add <@{user}> {role} {project or ''}".strip())
    pipeline = Context(Actor(TEAM, "cli", pipeline=True), w.clock(), w.notices)
    for number, (owner, slug) in enumerate((("UALICE", "churn"), ("UCAROL", "fraud")), 1):
        w.must(owner, "/exp", f"new {slug} Current model {criterion_flags(True, True)}")
        submission = evaluations.Submission(number, BASELINE, "cli", "baseline.csv")
        assert evaluations.submit_evaluation(w.db, pipeline, submission) is not None
        w.must("UMIA", "/exp", f"baseline {slug} EXP-{number}")


def criterion_flags(hypothesis: bool, criterion: bool) -> str:
    words = "--hypothesis tenure predicts churn" if hypothesis else ""
    return words + (" --metric auc --min-delta 0.01" if criterion else "")


def form_state(values: dict[str, str]) -> dict[str, dict[str, dict[str, str]]]:
    """A form's ``view.state.values`` as Slack sends it."""
    return {block: {"value": {"value": value}} for block, value in values.items()}
