"""`mlgov eval push|parity`: evaluations from a terminal or a pipeline's shell step."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from bot.domain.errors import ConfigError, ValidationError


def evaluate(settings: Any, args: argparse.Namespace) -> int:
    """Record the evaluation (or parity check), post it to Slack when configured, print it."""
    from bot.domain.model import KEY_PATTERN, Actor

    # The arguments are checked before the heavy imports (pandas, the runtime), so that a
    # mistyped pipeline step fails at once.
    match = KEY_PATTERN.match(args.experiment)
    if match is None:
        raise ConfigError(f"'{args.experiment}' is not an experiment key like EXP-7.")
    number = int(match.group(1))
    if args.eval_verb == "import":
        return import_from_mlflow(settings, args, number)
    if args.eval_verb == "parity":
        _check_parity_options(args.tolerance, args.threshold)
    elif args.require_criterion and args.new_holdout:
        raise ConfigError(
            "--require-criterion needs a comparison with the baseline, which --new-holdout"
            " skips: use one or the other."
        )
    from bot.cli import CHECK_FAILED
    from bot.domain.evaluation import Kind
    from bot.domain.ingest import MAX_BYTES, parse_evaluation, parse_scores
    from bot.runtime import Runtime
    from bot.services import evaluations
    from bot.services.ports import Context
    from bot.services.team import resolve_team
    from bot.slack.blocks import evaluations as render

    runtime = Runtime.create(settings, upgrade=False)
    try:
        _attach_slack(runtime, settings)
        team_id = resolve_team(runtime.db, args.team)
        d = runtime.dispatcher
        ctx = Context(Actor(team_id, "cli", pipeline=True), runtime.clock(), d.notices, d.timezone)
        if args.eval_verb == "push":
            if args.require_criterion:
                _require_written_criterion(runtime, team_id, number)
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
            check = _print_recorded(recorded)
            code = 0 if check.met or not args.require_criterion else CHECK_FAILED
            if code:
                print(f"mlgov: success criterion {check.word}: {check.reason}", file=sys.stderr)
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
            code = 0 if result.passed else CHECK_FAILED
        if runtime.outbox is not None:
            runtime.outbox.deliver_due()
        return code
    finally:
        runtime.close()


def import_from_mlflow(settings: Any, args: argparse.Namespace, number: int) -> int:
    """`mlgov eval import EXP-7 --mlflow-run ID [--artifact PATH]`: the run's predictions."""
    from bot.domain.commands import EvaluateUpload
    from bot.domain.mlflow_runs import run_reference
    from bot.domain.model import Actor

    settings.require_mlflow()
    given = args.mlflow_run.strip()
    run_id = run_reference(given if "://" in given else f"mlflow:{given.removeprefix('mlflow:')}")
    if run_id is None:
        raise ConfigError(f"'{given}' is not an MLflow run id or run URL.")
    from bot.domain.evaluation import Kind
    from bot.runtime import Runtime
    from bot.services.mlflow_import import import_named_run
    from bot.services.ports import Context
    from bot.services.team import resolve_team

    runtime = Runtime.create(settings, upgrade=False)
    try:
        _attach_slack(runtime, settings)
        team_id = resolve_team(runtime.db, args.team)
        d = runtime.dispatcher
        actor = Actor(team_id, "cli", pipeline=True)
        ctx = Context(actor, runtime.clock(), d.notices, d.timezone, mlflow=d.mlflow)
        kind = Kind(args.kind) if args.kind else None
        command = EvaluateUpload(number, kind, args.new_holdout, run_id)
        recorded = import_named_run(runtime.db, ctx, command, artifact=args.artifact)
        assert recorded is not None
        _print_recorded(recorded)
        if runtime.outbox is not None:
            runtime.outbox.deliver_due()
        return 0
    finally:
        runtime.close()


def _print_recorded(recorded: Any) -> Any:
    """Print what was recorded and the success criterion's verdict (returned)."""
    from bot.domain.criterion_check import check_criterion
    from bot.slack.blocks import evaluations as render

    text, _ = render.summary_blocks(recorded.experiment, recorded.summary, recorded.baseline)
    print(f"recorded evaluation #{recorded.evaluation_id} of {recorded.experiment.key}")
    print(text.replace("*", ""))
    print(render.table(recorded.summary).strip("`\n"))
    check = check_criterion(recorded.experiment, recorded.summary, recorded.baseline is not None)
    print(f"Success criterion: {check.word}. {check.reason}")
    return check


def _check_parity_options(tolerance: float, threshold: float) -> None:
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"--tolerance must be a number ≥ 0, not {tolerance:g}.")
    if not (math.isfinite(threshold) and 0 < threshold < 1):
        raise ConfigError(
            f"--threshold must be between 0 and 1 (a score cut-off), not {threshold:g}."
        )


def _require_written_criterion(runtime: Any, team_id: str, number: int) -> None:
    """A gate on a criterion nobody wrote would judge nothing: refuse before recording."""
    with runtime.db.read() as uow:
        experiment = uow.experiments.require(team_id, number)
    if experiment.criterion is None:
        raise ConfigError(
            f"{experiment.key} has no success criterion to require: write one first"
            f" (`/exp edit {experiment.key} --metric auc --min-delta 0.01`); nothing recorded."
        )


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
