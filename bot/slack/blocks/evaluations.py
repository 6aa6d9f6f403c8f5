"""Metric summaries, baselines and parity checks as Slack messages (pure renderers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.evaluation import Baseline, EvaluationRecord, Kind
from bot.domain.model import PIPELINE_ACTORS, Experiment
from bot.domain.parity import Parity
from bot.domain.stats import Delta, Interval
from bot.domain.summary import Summary, Verdict
from bot.slack.blocks import (
    CUT_TO_FIT,
    Reply,
    clip,
    context,
    escape,
    header,
    reply,
    section,
    to_dicts,
    who,
)

NAMES = {
    "auc": "AUC",
    "ap": "avg precision",
    "log_loss": "log loss",
    "brier": "Brier",
    "accuracy": "accuracy@0.5",
    "f1": "F1@0.5",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}
ORDER = {
    Kind.CLASSIFICATION: ("auc", "ap", "log_loss", "brier", "accuracy", "f1"),
    Kind.REGRESSION: ("rmse", "mae", "r2"),
}
VERDICT_ICON = {Verdict.BETTER: "🟢", Verdict.WORSE: "🔴", Verdict.SAME: "⚪"}


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _ci(ci: Interval | None) -> str:
    return f"[{ci.low:+.4f}, {ci.high:+.4f}]" if ci else "no interval"


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def _count(n: int | None) -> str:
    return f"{n:,}" if n is not None else "?"


def table(summary: Summary) -> str:
    """The metrics as a fixed-width table: candidate, baseline, difference with its CI."""
    names = [m for m in ORDER[summary.kind] if m in summary.metrics] or list(summary.metrics)
    base = summary.baseline_metrics or {}
    lines = [f"{'metric':<13} {'model':>8} {'baseline':>9}  Δ (95% CI)"]
    for name in names:
        delta: Delta | None = summary.deltas.get(name)
        diff = ""
        if delta is not None and delta.delta is not None:
            diff = f"{delta.delta:+.4f} {_ci(delta.ci)} {_p(delta.p_value)}".rstrip()
        lines.append(
            f"{NAMES.get(name, name):<13} {_num(summary.metrics.get(name)):>8}"
            f" {_num(base.get(name)):>9}  {diff}"
        )
    return "```\n" + "\n".join(lines) + "\n```"


def headline(experiment: Experiment, summary: Summary, baseline: Baseline | None) -> str:
    """One line a reader can stop at: the verdict on the success metric."""
    against = f" vs baseline EXP-{baseline.experiment_number}" if baseline else ""
    if summary.verdict is None:
        why = "no test (see the warnings)" if summary.paired else "no paired comparison"
        return f"{experiment.key} evaluated{against}: {why}."
    metric = NAMES.get(summary.criterion_metric, summary.criterion_metric)
    delta = summary.deltas.get(summary.criterion_metric)
    text = f"{experiment.key}{against}: {metric} *{summary.verdict.value}*"
    if delta is not None and delta.delta is not None:
        text += f" (Δ {delta.delta:+.4f}, 95% CI {_ci(delta.ci)}"
        text += f", {_p(delta.p_value)})" if delta.p_value is not None else ")"
    if summary.criterion_met is not None and experiment.criterion is not None:
        met = "met" if summary.criterion_met else "not met"
        text += f". Success criterion ({experiment.criterion.describe()}): *{met}*"
    return text + "."


def _population(summary: Summary) -> str:
    if summary.rows is None:
        return "Scalar metrics as reported by the pipeline (no rows, so no intervals)."
    if summary.kind is Kind.CLASSIFICATION:
        pos, neg = summary.positives or 0, summary.negatives or 0
        share = pos / (pos + neg) if pos + neg else 0.0
        return (
            f"{_count(summary.rows)} held-out rows: {pos:,} positive ({share:.1%}),"
            f" {neg:,} negative."
        )
    return f"{_count(summary.rows)} held-out rows."


def _auc_line(summary: Summary) -> str | None:
    auc = summary.metrics.get("auc")
    if auc is None:
        return None
    ci = summary.auc_ci
    shown = f" (95% CI {ci.low:.4f}–{ci.high:.4f}, DeLong)" if ci else " (no interval)"
    return f"AUC {auc:.4f}{shown}" + (f": {summary.band}" if summary.band else "")


def _prior_line(summary: Summary) -> str | None:
    if not summary.prior:
        return None
    shown = ", ".join(f"{NAMES.get(k, k)} {v:.4f}" for k, v in summary.prior.items())
    what = "predicting the base rate" if summary.kind is Kind.CLASSIFICATION else "the mean"
    return f"No-ML baseline ({what}): {shown}."


def summary_blocks(
    experiment: Experiment,
    summary: Summary,
    baseline: Baseline | None,
    dismissed: int = 0,
    credit: str = "",
    logged: Mapping[str, float] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The thread message for a new evaluation: (fallback text, blocks); ``credit`` says
    who sent it (see ``credit``), ``logged`` the scalar metrics its MLflow run logged."""
    title = headline(experiment, summary, baseline)
    icon = VERDICT_ICON.get(summary.verdict, "📊") if summary.verdict else "📊"
    lines = [f"{icon} {title}", _population(summary)]
    lines += [x for x in (_auc_line(summary), _prior_line(summary)) if x]
    blocks: list[Block] = [
        header(f"Metric summary: {experiment.key}"),
        section("\n".join(lines)),
        section(table(summary)),
    ]
    if logged:
        blocks.append(section(logged_line(logged)))
    warnings = list(summary.warnings)
    if dismissed:
        warnings.append(
            f"This new evaluation dismissed {dismissed} approval(s) given on earlier results:"
            " reviewers must approve again before engineering can be scheduled."
        )
    if warnings:
        blocks.append(section("\n".join(f":warning: {w}" for w in warnings)))
    blocks.append(context(f"{credit} · {_method(summary)}" if credit else _method(summary)))
    fallback = title + ("".join(f" ⚠ {w}" for w in warnings))
    return clip(fallback, 3000), to_dicts(blocks, more=CUT_TO_FIT)


LOGGED_SHOWN = 20


def logged_line(logged: Mapping[str, float]) -> str:
    """The scalar metrics an MLflow run logged, beside the summary: shown, never tested."""
    names = sorted(logged)
    shown = " · ".join(f"{escape(k)} {logged[k]:.4g}" for k in names[:LOGGED_SHOWN])
    more = f" · and {len(names) - LOGGED_SHOWN} more" if len(names) > LOGGED_SHOWN else ""
    return f"*Logged in MLflow* (as the run reported them, not tested): {shown}{more}"


def credit(submitted_by: str, filename: str) -> str:
    """Who sent an evaluation: a person who uploaded it, or a pipeline; with the file."""
    if not submitted_by:
        return ""
    if filename.startswith("mlflow run "):  # "mlflow run <id>: <path>", by the sync or a person
        by = "" if submitted_by == "mlflow" else f" by {who(submitted_by)}"
        return f"Imported from {escape(filename)}{by}"
    verb = "Sent by" if submitted_by in PIPELINE_ACTORS else "Uploaded by"
    return f"{verb} {who(submitted_by)}" + (f" ({escape(filename)})" if filename else "")


def _method(summary: Summary) -> str:
    """How the numbers were compared, in one line under the table."""
    if summary.rows is None:
        return "Scalar metrics as the pipeline reported them: shown, never tested."
    if not summary.deltas:
        return "Not compared with a baseline (see above); the 95% AUC interval is DeLong's."
    return (
        "Paired on the same rows; 95% intervals: DeLong for AUC (with its test), normal for"
        " per-row means (log loss, Brier, accuracy, MAE), the delta method for RMSE and R²,"
        " a seeded bootstrap of 1,000 resamples for AP and F1; α = 0.05."
    )


def computing(experiment: Experiment, rows: int) -> str:
    return f"⏳ Computing the metric summary of {experiment.key} on {rows:,} rows…"


def failed(experiment: Experiment, why: str) -> str:
    return f"The evaluation of {experiment.key} was not recorded: {why}"


def baseline_set(experiment: Experiment, baseline: Baseline, previous: Baseline | None) -> str:
    was = f" (was EXP-{previous.experiment_number})" if previous else ""
    return (
        f"📏 The baseline of {baseline.project} is now {experiment.key}'s evaluation"
        f" #{baseline.evaluation_id}{was}, set by <@{baseline.set_by}>. New evaluations are"
        " compared with it."
    )


def parity_text(experiment: Experiment, parity: Parity) -> str:
    icon = "✅" if parity.passed else "❌"
    return (
        f"{icon} Parity of {experiment.key}, prototype vs production on {parity.rows:,} rows:"
        f" max |Δscore| {parity.max_abs_delta:.3g}; {parity.beyond:,} rows"
        f" ({parity.share_beyond:.2%}) beyond the tolerance {parity.tolerance:g};"
        f" decisions at {parity.threshold:g} agree on {parity.agreement:.2%}"
        f" ({parity.disagreements:,} differ)."
    )


def metrics_view(
    experiment: Experiment,
    latest: EvaluationRecord | None,
    count: int,
    baseline: Baseline | None,
    parity: Parity | None,
    compared_with: int | None,
) -> Reply:
    """``/exp metrics EXP-n``: the latest summary, which baseline it met, parity."""
    if latest is None:
        lines = [
            f"{experiment.key} has no evaluation yet. Upload predictions with"
            f" `@mlgov eval {experiment.key}` in the project channel, `mlgov eval push"
            f" {experiment.key} FILE`, or the pipeline API."
        ]
        if baseline:
            lines.append(
                f"The baseline of {experiment.project} is EXP-{baseline.experiment_number}."
            )
        return reply("\n".join(lines))
    summary = Summary.from_json(latest.summary)
    compared = f"EXP-{compared_with}" if compared_with is not None else None
    intro = (
        f"Latest of {count} evaluation(s): #{latest.id} from {latest.source}"
        f" ({escape(latest.filename) or 'no file name'}) by {who(latest.submitted_by)},"
        f" {latest.created_at:%Y-%m-%d %H:%M} UTC"
    )
    intro += f", compared with {compared}." if compared else ", with no baseline."
    blocks: list[Block] = [header(f"Metrics: {experiment.key}"), section(intro)]
    text, rendered = summary_blocks(experiment, summary, None)
    if baseline and baseline.evaluation_id != latest.baseline_id:
        blocks.append(
            section(
                f":information_source: The baseline is now EXP-{baseline.experiment_number}"
                " (changed since this evaluation): upload it again to compare."
            )
        )
    if parity is not None:
        blocks.append(section(parity_text(experiment, parity)))
    return Reply(
        text=f"Metrics of {experiment.key}: {text}", blocks=to_dicts(blocks) + rendered[1:]
    )


def baseline_history(slug: str, history: Sequence[Baseline]) -> Reply:
    if not history:
        return reply(
            f"{slug} has no baseline yet: a manager sets one with `/exp baseline {slug} EXP-n`."
        )
    lines = [
        f"• EXP-{b.experiment_number} (evaluation #{b.evaluation_id}) since"
        f" {b.set_at:%Y-%m-%d %H:%M} UTC, set by <@{b.set_by}>" + (" — current" if i == 0 else "")
        for i, b in enumerate(history)
    ]
    return reply(f"Baselines of {slug}, newest first:\n" + "\n".join(lines))
