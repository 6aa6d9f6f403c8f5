"""The parity check: prototype and production scores compared row by row (SPEC §5), against a
hand-worked example and a plain-Python reference."""

from __future__ import annotations

import json
import math
from random import Random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ValidationError
from bot.domain.evaluation import Kind, Predictions
from bot.domain.ingest import parse_scores
from bot.domain.parity import Parity, check_parity

MODEST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scores(values: list[float], ids: list[str] | None = None) -> Predictions:
    array = np.asarray(values, dtype=np.float64)
    id_array = None if ids is None else np.asarray(ids, dtype=np.str_)
    return Predictions(Kind.CLASSIFICATION, np.zeros_like(array), array, id_array)


def reference(
    prototype: dict[str, float], production: dict[str, float], tolerance: float, threshold: float
) -> dict[str, float]:
    """The parity figures computed the slow, obvious way, row by row, matched by key."""
    deltas = [abs(prototype[key] - production[key]) for key in prototype]
    beyond = sum(delta > tolerance for delta in deltas)
    same = sum((prototype[key] >= threshold) == (production[key] >= threshold) for key in prototype)
    return {
        "max_abs_delta": max(deltas),
        "beyond": beyond,
        "share_beyond": beyond / len(deltas),
        "agreement": same / len(deltas),
        "disagreements": len(deltas) - same,
    }


def test_a_hand_worked_example() -> None:
    # Row by row: |Δ| = 0, 1e-7, 1e-8, 0.05; decisions at 0.5: F/F, T/F, T/T, T/T.
    prototype = scores([0.10, 0.50, 0.70, 0.90])
    production = scores([0.10, 0.4999999, 0.70000001, 0.95])
    parity = check_parity(prototype, production, tolerance=1e-6, threshold=0.5)
    assert parity.rows == 4
    assert parity.max_abs_delta == pytest.approx(0.05, abs=1e-12)
    assert parity.beyond == 1 and parity.share_beyond == 0.25
    assert parity.disagreements == 1 and parity.agreement == 0.75
    assert parity.passed is False
    assert parity.tolerance == 1e-6 and parity.threshold == 0.5


def test_identical_scores_pass_and_a_looser_tolerance_can_pass() -> None:
    same = check_parity(scores([0.2, 0.8]), scores([0.2, 0.8]))
    assert same.passed and same.max_abs_delta == 0.0 and same.agreement == 1.0
    close = check_parity(scores([0.2, 0.8]), scores([0.2000001, 0.8]), tolerance=1e-6)
    assert close.passed and close.beyond == 0
    strict = check_parity(scores([0.2, 0.8]), scores([0.2000001, 0.8]), tolerance=0.0)
    assert not strict.passed and strict.beyond == 1


def test_a_delta_equal_to_the_tolerance_is_within_and_the_threshold_counts_as_yes() -> None:
    parity = check_parity(scores([0.25, 0.5]), scores([0.5, 0.75]), tolerance=0.25, threshold=0.5)
    assert parity.beyond == 0  # |Δ| = 0.25 exactly, not beyond 0.25
    assert parity.disagreements == 1  # 0.25 < 0.5 <= 0.5: the first row's decision flips


def test_rows_are_matched_by_id_when_both_files_have_ids() -> None:
    prototype = scores([0.1, 0.6, 0.9], ids=["a", "b", "c"])
    shuffled = scores([0.9, 0.1, 0.6], ids=["c", "a", "b"])
    parity = check_parity(prototype, shuffled)
    assert parity.passed and parity.max_abs_delta == 0.0 and parity.agreement == 1.0
    # Without ids on one side the order is taken as it is, and the rows differ.
    assert not check_parity(prototype, scores([0.9, 0.1, 0.6])).passed


def test_different_ids_are_refused_naming_some() -> None:
    prototype = scores([0.1, 0.6, 0.9], ids=["a", "b", "c"])
    with pytest.raises(ValidationError) as caught:
        check_parity(prototype, scores([0.1, 0.6, 0.9], ids=["a", "b", "zz"]))
    message = str(caught.value)
    assert "same ids" in message and "'c'" in message and "'zz'" in message
    with pytest.raises(ValidationError, match="1 ids of the prototype"):
        check_parity(prototype, scores([0.1, 0.6], ids=["a", "b"]))
    with pytest.raises(ValidationError, match="repeated: 'a'"):
        check_parity(prototype, scores([0.1, 0.6, 0.9], ids=["a", "a", "c"]))


def test_row_counts_must_match_without_ids() -> None:
    with pytest.raises(ValidationError, match="3 rows but production has 2"):
        check_parity(scores([0.1, 0.6, 0.9]), scores([0.1, 0.6]))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"tolerance": -1e-6}, "tolerance"),
        ({"tolerance": math.nan}, "tolerance"),
        ({"tolerance": math.inf}, "tolerance"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": -math.inf}, "threshold"),
    ],
)
def test_settings_must_be_finite(options: dict[str, float], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        check_parity(scores([0.1, 0.2]), scores([0.1, 0.2]), **options)


def test_non_finite_scores_and_empty_inputs_are_refused() -> None:
    with pytest.raises(ValidationError, match="production scores include NaN"):
        check_parity(scores([0.1, 0.2]), scores([0.1, math.nan]))
    with pytest.raises(ValidationError, match="no rows"):
        check_parity(scores([]), scores([]))


def test_a_large_random_case_agrees_with_the_plain_python_reference() -> None:
    rng = np.random.default_rng(11)
    rows = 5_000
    prototype = rng.random(rows)
    production = prototype + rng.normal(scale=1e-6, size=rows) * (rng.random(rows) < 0.3)
    ids = [f"r{i}" for i in range(rows)]
    order = rng.permutation(rows)
    parity = check_parity(
        scores(prototype.tolist(), ids),
        scores(production[order].tolist(), [ids[i] for i in order]),
        tolerance=1e-6,
        threshold=0.3,
    )
    expected = reference(
        dict(zip(ids, prototype.tolist(), strict=True)),
        dict(zip(ids, production.tolist(), strict=True)),
        1e-6,
        0.3,
    )
    assert 0 < parity.beyond < rows  # the example exercises both sides of the tolerance
    assert {key: getattr(parity, key) for key in expected} == pytest.approx(expected, abs=0)


def test_json_round_trip() -> None:
    parity = check_parity(scores([0.1, 0.6, 0.9]), scores([0.1, 0.61, 0.2]), tolerance=1e-3)
    stored = json.loads(json.dumps(parity.to_json()))
    assert Parity.from_json(stored) == parity
    assert stored["passed"] is False and stored["beyond"] == 2


def test_files_read_for_parity_compare_as_expected() -> None:
    prototype = parse_scores(b"id,y_score\n007,0.25\n008,0.75\n")
    production = parse_scores(b"ID,y_score,y_true\n008,0.75\n007,0.2500004,1\n")
    parity = check_parity(prototype, production, tolerance=1e-6)
    assert parity.beyond == 0 and parity.max_abs_delta == pytest.approx(4e-7, rel=1e-6)


finite_scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@MODEST
@given(
    st.lists(st.tuples(finite_scores, finite_scores), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.floats(min_value=0, max_value=10),
    st.floats(min_value=-2, max_value=2),
)
def test_matching_by_id_equals_the_reference_for_any_order(
    pairs: list[tuple[float, float]], rng: Random, tolerance: float, threshold: float
) -> None:
    ids = [f"id-{i}" for i in range(len(pairs))]
    shuffled = list(range(len(pairs)))
    rng.shuffle(shuffled)
    parity = check_parity(
        scores([a for a, _ in pairs], ids),
        scores([pairs[i][1] for i in shuffled], [ids[i] for i in shuffled]),
        tolerance=tolerance,
        threshold=threshold,
    )
    expected = reference(
        {key: a for key, (a, _) in zip(ids, pairs, strict=True)},
        {key: b for key, (_, b) in zip(ids, pairs, strict=True)},
        tolerance,
        threshold,
    )
    assert {key: getattr(parity, key) for key in expected} == pytest.approx(expected, abs=0)
    assert parity.passed == (parity.beyond == 0)
    swapped = check_parity(
        scores([b for _, b in pairs], ids), scores([a for a, _ in pairs], ids), tolerance=tolerance
    )
    assert swapped.max_abs_delta == parity.max_abs_delta and swapped.beyond == parity.beyond
