"""`mlgov serve`: the Slack app over HTTP (or Socket Mode), with the work run by worker
threads of its own (the embedded default) or by `--workers N` child processes."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
from typing import Any

from bot.services import computing

log = logging.getLogger("mlgov")
# `serve --workers`: how far the worker processes yield the CPU to the acknowledging one,
# by database. On PostgreSQL an ack's INSERT waits for no lock a worker holds, so niced
# workers leave the CPU to the acks (closed-loop p99 1.66x the bare app's at 0, 1.3x at
# 10: benchmarks/README.md). On SQLite a niced worker holding the one write lock made
# every ack wait behind it; the CPU-heavy part of its work is niced in bot/services/computing.
WORKER_NICE = {"postgresql": 10, "sqlite": 0}


def serve(settings: Any, args: argparse.Namespace) -> int:
    from bot.runtime import Runtime
    from bot.server import HttpServer
    from bot.slack.app import build_bolt_app, web_client

    settings.require_slack()
    inbox_threads = 0 if getattr(args, "workers", 0) else getattr(args, "inbox_threads", 4)
    runtime = Runtime.create(settings, threads=args.threads + inbox_threads)
    computing.start()  # evaluations here (embedded, or the pipeline API) leave the GIL alone
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    runtime.read_statuses(client)
    socket_mode = None
    supervisor = None
    server = None
    clean = True
    try:  # Slack may refuse a token, the port may be taken: nothing is left running
        bolt = build_bolt_app(client, settings.slack_signing_secret, runtime.dispatcher)
        if settings.slack_app_token:
            from bot.slack.app import connect_socket_mode

            socket_mode = connect_socket_mode(bolt, settings.slack_app_token)
            log.info("Socket Mode connected")
        server = HttpServer(
            runtime.web_app(None if socket_mode else bolt),
            host=args.host,
            port=args.port or settings.port,
            threads=args.threads,
        )
        supervisor = _start_work(runtime, client, args)
        # Everything loaded so far lives as long as the process: keep it out of the
        # collector, whose full passes over it held the GIL (and every ack) 60-200 ms.
        gc.collect()
        gc.freeze()

        def stop(*_: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        log.info("serving on %s", server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # Stop taking requests first; a second signal must not cut the drain short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server is not None:
            server.stop()
        if socket_mode is not None:
            socket_mode.close()
        if supervisor is not None:
            clean = supervisor.stop()
        runtime.close(on_signal=True)
        computing.stop()
    return 0 if clean else 1


def _start_work(runtime: Any, client: Any, args: argparse.Namespace) -> Any:
    """Worker threads here, or the supervisor of N worker processes (returned)."""
    workers = getattr(args, "workers", 0)
    threads = getattr(args, "inbox_threads", 4)
    if workers:  # the work runs in child processes: this one only acknowledges
        from bot.cli_worker import Supervisor

        nice = getattr(args, "worker_nice", None)
        if nice is None:
            nice = WORKER_NICE.get(runtime.db.engine.dialect.name, 0)
        supervisor = Supervisor(workers, threads, nice)
        runtime.acks.publish(supervisor.board)  # its workers hold back while this one acks
        return supervisor.start()
    from bot.slack.web_api import WebApi

    runtime.start_inbox(client, threads=threads)
    runtime.start_outbox(WebApi(client))
    runtime.start_registry()
    runtime.start_scheduler()
    return None
