"""Model validation: calibration vs holdout by frequency bin, error measures, tracking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from patron.data import people
from patron.errors import UsageError
from patron.value.summary import first_purchase_cohorts, repeat_purchases_by_period
from patron.value.workflow import FitResult, SummarySource, holdout_prediction, holdout_sums

__all__ = ["HoldoutReport", "holdout_report", "tracking"]

MAX_BIN = 7


@dataclass
class HoldoutReport:
    """Actual vs predicted holdout purchases, by calibration frequency and in total."""

    model: str
    unit: str
    #: None for a summary file (summarised elsewhere).
    calibration_end: str | None
    holdout_days: int
    bins: list[dict[str, Any]]
    totals: dict[str, float]
    tracking: list[dict[str, float]]
    #: The holdout's length in ``unit``.
    holdout_length: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (purchases count purchase days; for bgbb purchase periods)."""
        return {
            "model": self.model,
            "unit": self.unit,
            "calibration_end": self.calibration_end,
            "holdout_days": self.holdout_days,
            "holdout_length": self.holdout_length,
            "by_frequency": self.bins,
            "totals": self.totals,
            "tracking": self.tracking,
        }


def holdout_report(source: SummarySource, fit: FitResult, *, track: bool = True) -> HoldoutReport:
    """Compare the model's holdout predictions with what customers actually did."""
    if not source.has_holdout or source.info.get("holdout_days", 0) <= 0:
        if source.spec is None:  # a summary file
            raise UsageError(
                "Validating a summary file needs its holdout: a holdout_frequency column (each "
                "customer's purchases in it) and its length in --unit (--holdout-length, or a "
                "duration_holdout column)."
            )
        raise UsageError(
            "Validation needs a holdout period: give --calibration-end DATE (before the last "
            "transaction); the model is fitted up to it and checked on the days after."
        )
    model = fit.model
    if not hasattr(model, "conditional_expected_purchases"):
        raise UsageError(f"Model {model.name!r} cannot be validated on a holdout here.")
    if source.discrete and source.info.get("holdout_periods", 0) < 1:
        raise UsageError(
            f"{model.name} counts whole periods, and the holdout "
            f"({source.info['holdout_days']} days) holds no whole {source.unit}; give an "
            "earlier --calibration-end or a shorter --unit."
        )
    c = source.compressed
    pred = holdout_prediction(model, source)
    y, y2, _ = holdout_sums(source)
    n = c.counts
    bins: list[dict[str, Any]] = []
    gaps: list[float] = []
    label = np.minimum(c.frequency, MAX_BIN)
    for b in range(MAX_BIN + 1):
        sel = label == b
        if not np.any(sel):
            continue
        m = float(n[sel].sum())
        actual_mean = float(y[sel].sum() / m)
        predicted_mean = float(np.dot(pred[sel], n[sel]) / m)
        gaps.append(abs(actual_mean - predicted_mean))
        bins.append(
            {
                "frequency": f"{b}+" if b == MAX_BIN else str(b),
                "customers": m,
                "actual_mean": actual_mean,
                "predicted_mean": predicted_mean,
            }
        )
    total_n = float(n.sum())
    sse = float(np.sum(y2 - 2 * pred * y + n * pred**2))
    actual, predicted = float(y.sum()), float(np.dot(pred, n))
    totals = {
        "customers": total_n,
        "actual": actual,
        "predicted": predicted,
        "error_pct": 100.0 * (predicted - actual) / actual if actual else float("nan"),
        "rmse_per_customer": float(np.sqrt(max(sse, 0.0) / total_n)),
        "bin_mae": float(np.mean(gaps)),
    }
    return HoldoutReport(
        model.name,
        source.unit,
        source.info.get("calibration_end"),
        round(source.info.get("holdout_days", 0)),
        bins,
        totals,
        tracking(source, fit) if track else [],
        source.info["holdout_days"] / source.unit_days,
    )


def tracking(source: SummarySource, fit: FitResult, period_days: int = 7) -> list[dict[str, float]]:
    """Cumulative repeat purchases per period (week by default): actual vs the model.

    The prediction sums, over first-purchase cohorts, the model's expected purchases of a new
    customer since that cohort's first purchase.
    """
    if source.spec is None or source.discrete:
        # A summary file has no transactions to track; whole periods are not tracked by day.
        return []
    transactions = people.transactions(source.warehouse)
    start, actual = repeat_purchases_by_period(transactions, source.spec, period_days)
    first_days, counts = first_purchase_cohorts(source.table)
    ends = start + period_days * np.arange(1, len(actual) + 1)
    t = np.clip(ends[:, None] - first_days[None, :] - 1, 0, None) / source.unit_days
    expected = fit.model.expected_purchases(t) @ counts  # type: ignore[attr-defined]
    cum_actual = np.cumsum(actual)
    return [
        {"period": int(i + 1), "actual": float(a), "predicted": float(p)}
        for i, (a, p) in enumerate(zip(cum_actual, expected, strict=True))
    ]
