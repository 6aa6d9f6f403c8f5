"""Pairing an evaluation with its baseline: the same rows, matched by id or by order."""

from __future__ import annotations

import numpy as np

from bot.domain.evaluation import FloatArray, Predictions, StrArray
from bot.domain.stats import IntArray


def align(
    candidate: Predictions, baseline: Predictions
) -> tuple[FloatArray, FloatArray, FloatArray] | str:
    """(y_true, candidate score, baseline score) on the same rows, or why they cannot pair.

    Matched by id when both have ids (same ids, each once, with the same label); otherwise
    by order, when both hold the same labels in the same order (what the order fingerprint
    hashes). Rows come back in the candidate's order.
    """
    different = "a different held-out set — no paired comparison."
    if candidate.kind is not baseline.kind:
        return (
            f"The baseline is a {baseline.kind} evaluation and this one {candidate.kind}:"
            " no paired comparison."
        )
    if candidate.rows != baseline.rows:
        return (
            f"This evaluation has {candidate.rows:,} rows and the baseline {baseline.rows:,}:"
            f" {different}"
        )
    base_score = baseline.score
    base_labels = baseline.y_true
    if (
        candidate.ids is not None
        and baseline.ids is not None
        and not np.array_equal(candidate.ids, baseline.ids)
    ):
        matched = _match_ids(candidate.ids, baseline.ids)
        if isinstance(matched, str):
            return f"{matched}: {different}"
        base_score, base_labels = baseline.score[matched], baseline.y_true[matched]
    if not np.array_equal(candidate.y_true, base_labels):
        return f"The labels differ from the baseline's: {different}"
    return candidate.y_true, candidate.score, base_score


def _match_ids(ids: StrArray, base_ids: StrArray) -> IntArray | str:
    """For each candidate row, the baseline row with its id; or what is wrong with the ids."""
    order, base_order = np.argsort(ids, kind="stable"), np.argsort(base_ids, kind="stable")
    ordered, base_ordered = ids[order], base_ids[base_order]
    if np.any(ordered[1:] == ordered[:-1]) or np.any(base_ordered[1:] == base_ordered[:-1]):
        return "Some ids repeat, so rows cannot be matched to the baseline's"
    if not np.array_equal(ordered, base_ordered):
        only = sorted(set(ordered.tolist()) - set(base_ordered.tolist()))[:3]
        return f"The ids differ from the baseline's (e.g. {', '.join(map(repr, only))} only here)"
    where = np.empty_like(order)
    where[order] = np.arange(order.shape[0])
    return base_order[where]
