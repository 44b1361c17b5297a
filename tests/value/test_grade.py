"""The model's grade from a holdout: the stated thresholds, overall and per frequency bin."""

from __future__ import annotations

from typing import Any

import pytest

from patron.value.validation import GRADES, HoldoutReport, grade_holdout


def _report(actual: float, predicted: float, bins: list[tuple[str, float, float, float]]) -> Any:
    rows = [
        {"frequency": f, "customers": n, "actual_mean": a, "predicted_mean": p}
        for f, n, a, p in bins
    ]
    totals = {"actual": actual, "predicted": predicted, "error_pct": 0.0}
    return HoldoutReport("bgnbd", "week", "2020-01-01", 91, rows, totals, [])


@pytest.mark.parametrize(
    ("predicted", "grade"),
    [(1000, "good"), (1095, "good"), (905, "good"), (1110, "rough"), (760, "rough"),
     (1250, "rough"), (740, "do not use"), (1300, "do not use")],
)  # fmt: skip
def test_total_error_thresholds(predicted: float, grade: str) -> None:
    """Within 10% good, within 25% rough, else do not use (bins all on target here)."""
    got = grade_holdout(_report(1000, predicted, [("0", 500, 1.0, 1.0)]))
    assert got.grade == grade
    assert got.meaning == GRADES[grade]
    direction = "fewer" if predicted < 1000 else "more"
    assert f"{direction} holdout purchases than happened" in got.reason


def test_a_bin_far_off_lowers_the_grade_and_says_which() -> None:
    # Total on target, but the 2-purchase customers bought twice what was predicted.
    bins = [("0", 500, 0.5, 0.52), ("1", 200, 1.0, 1.02), ("2", 100, 1.6, 0.8)]
    got = grade_holdout(_report(1000, 1000, bins))
    assert got.grade == "do not use"
    assert (
        "for customers with 2 repeat purchases in the calibration period it predicted 50% "
        "fewer purchases than happened (0.80 against 1.60 each)" in got.reason
    )
    assert [b["grade"] for b in got.bins] == ["good", "good", "do not use"]
    # 30% off is rough; small bins (under 50 customers) are not judged; tiny means within
    # 0.05 purchases are good whatever their relative error.
    assert grade_holdout(_report(1000, 1000, [("2", 100, 1.0, 0.7)])).grade == "rough"
    assert grade_holdout(_report(1000, 1000, [("7+", 49, 1.0, 0.1)])).grade == "good"
    assert grade_holdout(_report(1000, 1000, [("0", 900, 0.04, 0.0)])).grade == "good"


def test_no_purchases_in_the_holdout_is_not_checked() -> None:
    got = grade_holdout(_report(0, 10, []))
    assert got.grade == "not checked"
    assert "nobody bought in the holdout" in got.reason
