"""`mlgov eval push|parity`: evaluations from a terminal or a pipeline's shell step."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bot.domain.errors import ConfigError, ValidationError


def evaluate(settings: Any, args: argparse.Namespace) -> int:
    """Record the evaluation (or parity check), post it to Slack when configured, print it."""
    from bot.domain.evaluation import Kind
    from bot.domain.ingest import MAX_BYTES, parse_evaluation, parse_scores
    from bot.domain.model import KEY_PATTERN, Actor
    from bot.runtime import Runtime
    from bot.services import evaluations
    from bot.services.ports import Context
    from bot.services.team import resolve_team
    from bot.slack.blocks import evaluations as render

    match = KEY_PATTERN.match(args.experiment)
    if match is None:
        raise ConfigError(f"'{args.experiment}' is not an experiment key like EXP-7.")
    number = int(match.group(1))
    if args.eval_verb == "parity" and not (
        math.isfinite(args.tolerance) and args.tolerance >= 0 and math.isfinite(args.threshold)
    ):
        raise ConfigError("--tolerance must be a finite number ≥ 0 and --threshold finite.")
    runtime = Runtime.create(settings, upgrade=False)
    try:
        _attach_slack(runtime, settings)
        team_id = resolve_team(runtime.db, args.team)
        d = runtime.dispatcher
        ctx = Context(Actor(team_id, "cli", pipeline=True), runtime.clock(), d.notices, d.timezone)
        if args.eval_verb == "push":
            evaluation = parse_evaluation(
                _read(args.file, MAX_BYTES),
                filename=Path(args.file).name,
                kind=Kind(args.kind) if args.kind else None,
            )
            submission = evaluations.Submission(
                number, evaluation, "cli", Path(args.file).name, args.new_holdout
            )
            recorded = evaluations.submit_evaluation(runtime.db, ctx, submission)
            assert recorded is not None
            text, _ = render.summary_blocks(
                recorded.experiment, recorded.summary, recorded.baseline
            )
            print(f"recorded evaluation #{recorded.evaluation_id} of {recorded.experiment.key}")
            print(text.replace("*", ""))
            print(render.table(recorded.summary).strip("`\n"))
        else:
            result = evaluations.record_parity(
                runtime.db,
                ctx,
                number,
                parse_scores(_read(args.prototype, MAX_BYTES), filename=args.prototype),
                parse_scores(_read(args.production, MAX_BYTES), filename=args.production),
                source="cli",
                tolerance=args.tolerance,
                threshold=args.threshold,
            )
            assert result is not None
            with runtime.db.read() as uow:
                experiment = uow.experiments.require(team_id, number)
            print(render.parity_text(experiment, result))
        if runtime.outbox is not None:
            runtime.outbox.deliver_due()
        return 0
    finally:
        runtime.close()


def _read(path: str, limit: int) -> bytes:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > limit:
            raise ValidationError(
                f"{path} is {size / 2**20:.0f} MB; the limit is {limit // 2**20} MB."
            )
        return file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _attach_slack(runtime: Any, settings: Any) -> None:
    if settings.has_slack:
        from bot.slack.app import web_client
        from bot.slack.web_api import WebApi

        runtime.attach_outbox(WebApi(web_client(settings.slack_bot_token, settings.slack_api_url)))
