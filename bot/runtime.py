"""The composition root: builds every part once, from Settings, and wires them together."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text

from bot.config import Settings
from bot.domain.errors import SchemaOutOfDate
from bot.jobs import JobEnv
from bot.services.delivery import OutboxDispatcher, OutboxWorker, RetryPolicy, SlackApi
from bot.services.inbox_worker import (
    DRAIN_SECONDS,
    LEASE,
    POLL_SECONDS,
    Acks,
    AcksFirst,
    InboxWorker,
)
from bot.services.ports import MlflowSource
from bot.slack.dispatch import Dispatcher
from bot.slack.notices import SlackNotices
from storage import migrate
from storage.db import SessionFactories, create_db_engine, missing_sqlite_file
from storage.inbox import InboxStore
from storage.outbox import OutboxStore
from storage.unit_of_work import Database

log = logging.getLogger(__name__)


# Threads of every process that may hold a database connection besides the HTTP and
# inbox threads: the outbox, the inbox heartbeat, the scheduler's job, /healthz and /metrics.
OWN_THREADS = 4


def utc_now() -> datetime:
    return datetime.now(UTC)


def mlflow_source(settings: Settings) -> MlflowSource | None:
    """The MLflow server to follow, or None when MLFLOW_TRACKING_URI is not set."""
    if not settings.has_mlflow:
        return None
    from bot.mlflow.client import MlflowClient

    return MlflowSource(MlflowClient.from_settings(settings), settings.mlflow_artifact)


def _owner() -> str:
    """A lease holder's name, unique per process and worker; fits the lease columns."""
    return f"{os.getpid()}:{uuid.uuid4().hex}"


@dataclass
class Runtime:
    settings: Settings
    db: Database
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    outbox: OutboxDispatcher | None = None
    worker: OutboxWorker | None = None
    inbox: InboxWorker | None = None
    gate_worker: OutboxWorker | None = None  # MLflow's gate tags (SPEC §12)
    scheduler: Any | None = None
    # The Slack requests this process is acknowledging; its inbox threads let them go first.
    acks: AcksFirst = field(default_factory=AcksFirst)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        upgrade: bool = True,
        threads: int = 1,
    ) -> Runtime:
        """Open the database (migrating it when ``upgrade``) and build the dispatcher;
        ``threads``: the HTTP and inbox threads this process will run (the pool's size)."""
        missing = missing_sqlite_file(settings.database_url)
        if missing and not upgrade:  # opening it would leave an empty file behind
            raise SchemaOutOfDate(
                f"There is no database at {missing}: run `mlgov db upgrade` first."
            )
        engine = create_db_engine(settings.database_url, connections=threads + OWN_THREADS)
        if upgrade:
            migrate.upgrade(engine)
        migrate.ensure_current(engine)
        db = Database(SessionFactories(engine))
        dispatcher = Dispatcher(
            db,
            clock,
            SlackNotices(),
            settings.admins,
            settings.timezone,
            mlflow=mlflow_source(settings),
            public_url=settings.public_url or "",
        )
        return cls(settings, db, dispatcher, clock)

    def start_outbox(
        self, slack: SlackApi, poll_seconds: float = 1.0, policy: RetryPolicy | None = None
    ) -> OutboxWorker:
        """Deliver queued Slack messages in the background, woken by every commit."""
        outbox = self.attach_outbox(slack, policy)
        self.worker = OutboxWorker(outbox, poll_seconds).start()
        self.db.on_outbox(self.worker.wake)
        pending = Gauge(
            "mlgov_outbox_pending", "Slack messages waiting for delivery", registry=self.registry
        )
        pending.set_function(lambda: float(outbox.store.pending_count()))
        return self.worker

    def attach_outbox(self, slack: SlackApi, policy: RetryPolicy | None = None) -> OutboxDispatcher:
        """A dispatcher for this process, to deliver on demand (see start_outbox)."""
        self.outbox = OutboxDispatcher(
            OutboxStore(self.db, _owner()), slack, self.clock, policy or RetryPolicy()
        )
        return self.outbox

    def read_statuses(self, client: Any) -> None:
        """Read people's Slack statuses (who is away) through ``client`` from now on."""
        from bot.slack.statuses import SlackStatuses

        if self.dispatcher.statuses is None:
            self.dispatcher.statuses = SlackStatuses(client, self.db, self.clock)

    def start_inbox(
        self,
        client: Any,
        threads: int = 4,
        poll_seconds: float = POLL_SECONDS,
        acks: Acks | None = None,
    ) -> InboxWorker:
        """Run stored Slack requests on ``threads`` threads, woken by every store here,
        after the acks of this process (or ``acks``: another's, see AcksElsewhere)."""
        from bot.slack.app import bot_user_id
        from bot.slack.inbox_work import InboxRunner

        self.read_statuses(client)
        store = InboxStore(self.db, _owner(), LEASE)
        runner = InboxRunner(self.dispatcher, client, store, bot_user_id(client))
        self.inbox = InboxWorker(
            store, runner, self.clock, threads, poll_seconds, acks=acks or self.acks
        ).start()
        self.db.on_inbox(self.inbox.wake)
        pending = Gauge(
            "mlgov_inbox_pending", "Slack requests waiting for a worker", registry=self.registry
        )
        pending.set_function(lambda: float(store.pending_count()))
        return self.inbox

    def start_registry(self, poll_seconds: float = 30.0) -> None:
        """Check model versions in MLflow's registry against the gate in the background,
        woken by every commit that made a check due (nothing while MLflow is off)."""
        source = self.dispatcher.mlflow
        if source is None:
            return
        from bot.services.registry_gate import RegistryGate

        gate = RegistryGate(self.db, source.client, self.dispatcher.notices, self.clock)
        self.gate_worker = OutboxWorker(gate, poll_seconds, name="mlgov-registry").start()
        self.db.on_registry(self.gate_worker.wake)

    def job_env(self) -> JobEnv:
        deliver = self.outbox.deliver_due if self.outbox is not None else None
        d = self.dispatcher
        return JobEnv(
            self.db,
            d.notices,
            self.settings.timezone,
            deliver,
            mlflow=d.mlflow,
            statuses=d.statuses,
        )

    def start_scheduler(self, names: tuple[str, ...] | None = None) -> Any:
        """Run the scheduled jobs in the background (every replica may; see bot.jobs)."""
        from bot.jobs.scheduler import start_scheduler

        self.scheduler = start_scheduler(self.job_env(), self.clock, names)
        return self.scheduler

    def health_problem(self) -> str | None:
        try:
            with self.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # report any failure as unhealthy, never raise
            return f"database: {type(exc).__name__}"
        return None

    def web_app(self, bolt_app: Any | None = None) -> Any:
        from bot.api import create_api
        from bot.api import mount as mount_api
        from bot.api.mlflow_webhook import create_webhook
        from bot.web import create_web_app

        web = create_web_app(self.health_problem, self.registry)
        d = self.dispatcher
        api = create_api(
            self.db,
            self.clock,
            d.notices,
            self.settings.api_token,
            d.timezone,
            read_token=self.settings.api_read_token,
            statuses=d.statuses,
        )
        mount_api(web, api)
        s = self.settings
        web.register_blueprint(
            create_webhook(
                self.db, self.clock, s.mlflow_webhook_secret, s.mlflow_tracking_uri, time.time
            )
        )
        from bot.calendar_http import mount as mount_calendar

        mount_calendar(web, d)
        if bolt_app is not None:
            from bot.slack.http import mount

            mount(web, bolt_app, self.settings.slack_signing_secret, acks=self.acks)
        return web

    def close(self, drain_seconds: float = DRAIN_SECONDS, *, on_signal: bool = False) -> None:
        """Stop: the inbox drains for at most ``drain_seconds`` (the rest stays stored for
        the next start), then what is left of that time delivers the replies queued."""
        deadline = time.monotonic() + drain_seconds
        if self.scheduler is not None:
            # A stop on a signal does not wait for a running job before draining the inbox
            # (it finishes beside the drain): every job is idempotent per period (the run
            # ledger), so one cut short is made up later. Otherwise wait for it.
            self.scheduler.shutdown(wait=not on_signal)
        if self.inbox is not None:
            self.inbox.stop(max(0.0, deadline - time.monotonic()))
        if self.gate_worker is not None:  # a check cut short is owed still: done next start
            self.gate_worker.stop()
        if self.worker is not None:
            self.worker.stop()
            if self.outbox is not None and self.inbox is not None:
                try:
                    self.outbox.deliver_due(stopping=lambda: time.monotonic() > deadline)
                except Exception:  # undelivered messages stay queued for the next start
                    log.exception("outbox: the last delivery round failed")
        if self.dispatcher.statuses is not None:  # statuses still being read: not waited for
            self.dispatcher.statuses.close()
        self.db.close()
