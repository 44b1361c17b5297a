"""Model validation: calibration vs holdout by frequency bin, error measures, tracking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import ConvergenceError, DataError, UsageError
from patron.value.summary import SummarySpec, first_purchase_cohorts, repeat_purchases_by_period
from patron.value.workflow import (
    DISCRETE_MODELS,
    FitResult,
    SummarySource,
    fit_purchase_model,
    holdout_prediction,
    holdout_sums,
    summary_from_warehouse,
)

__all__ = [
    "GRADES",
    "HOLDOUT_WEEKS",
    "FitGrade",
    "HoldoutReport",
    "ModelCheck",
    "check_model",
    "fit_and_check",
    "grade_holdout",
    "holdout_report",
    "tracking",
]

MAX_BIN = 7
#: The holdout the scoring run checks its model on: the last 13 weeks (a quarter).
HOLDOUT_WEEKS = 13
#: Grades, best first, and what each means for the reader.
GRADES: dict[str, str] = {
    "good": "the model tracked the holdout: CLV amounts and ranking can be used",
    "rough": (
        "the model tracked the holdout only roughly: use the ranking and the tiers, read "
        "CLV amounts and equity as approximate"
    ),
    "do not use": (
        "the model did not track the holdout: do not act on CLV amounts, equity or tiers; "
        "check the data (seasonality, a short history) or try another model"
    ),
    "not checked": "no holdout check: the CLV figures are untested",
}
#: Total holdout purchases within this share of the actual: good; within the second: rough.
TOTAL_LIMITS = (0.10, 0.25)
#: A frequency bin is judged when it holds at least this many customers ...
BIN_MIN_CUSTOMERS = 50
#: ... by its mean holdout purchases within these shares of the actual (good, rough), or
#: within BIN_ABS_SLACK purchases per customer (small means are noisy in relative terms).
BIN_LIMITS = (0.20, 0.40)
BIN_ABS_SLACK = 0.05


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

    @property
    def grade(self) -> FitGrade:
        """The fit's grade from this holdout (see :func:`grade_holdout`)."""
        return grade_holdout(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (purchases count purchase days; for bgbb purchase periods)."""
        return {
            "grade": self.grade.to_dict(),
            "model": self.model,
            "unit": self.unit,
            "calibration_end": self.calibration_end,
            "holdout_days": self.holdout_days,
            "holdout_length": self.holdout_length,
            "by_frequency": self.bins,
            "totals": self.totals,
            "tracking": self.tracking,
        }


@dataclass
class FitGrade:
    """A model's grade from a holdout, in words a manager reads, with the reason."""

    grade: str
    reason: str
    #: Per judged frequency bin: frequency, customers, actual and predicted means, error
    #: (share of the actual) and that bin's grade.
    bins: list[dict[str, Any]] = field(default_factory=list)

    @property
    def meaning(self) -> str:
        """What the grade means for using the CLV figures."""
        return GRADES[self.grade]

    @property
    def sentence(self) -> str:
        """The grade, its reason and its meaning, in one sentence."""
        return f"Model grade: {self.grade} — {self.reason}; {self.meaning}."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the thresholds are stated with it."""
        return {
            "grade": self.grade,
            "reason": self.reason,
            "meaning": self.meaning,
            "bins": self.bins,
            "rules": {
                "total_error_good": TOTAL_LIMITS[0],
                "total_error_rough": TOTAL_LIMITS[1],
                "bin_min_customers": BIN_MIN_CUSTOMERS,
                "bin_error_good": BIN_LIMITS[0],
                "bin_error_rough": BIN_LIMITS[1],
                "bin_abs_slack": BIN_ABS_SLACK,
            },
        }


def _level(error: float, limits: tuple[float, float]) -> int:
    """0 good, 1 rough, 2 do not use, for an absolute relative error."""
    return 0 if error <= limits[0] else 1 if error <= limits[1] else 2


def grade_holdout(report: HoldoutReport) -> FitGrade:
    """Grade a fit from its holdout: good, rough or do not use, with the reason.

    Total holdout purchases predicted within 10% of the actual: good; within 25%: rough;
    else do not use. Every frequency bin with at least 50 customers is judged too, by its
    mean holdout purchases per customer: within 20% of the actual (or 0.05 purchases)
    good, within 40% (or 0.05) rough, else do not use. The grade is the worst of these.
    """
    t = report.totals
    names = ("good", "rough", "do not use")
    actual, predicted = t["actual"], t["predicted"]
    if actual <= 0:
        return FitGrade(
            "not checked", "nobody bought in the holdout, so there is nothing to compare with"
        )
    total_error = abs(predicted - actual) / actual
    level = _level(total_error, TOTAL_LIMITS)
    direction = "fewer" if predicted < actual else "more"
    reasons = [
        f"it predicted {abs(predicted - actual) / actual:.1%} {direction} holdout purchases "
        f"than happened ({predicted:,.0f} against {actual:,.0f})"
    ]
    bins: list[dict[str, Any]] = []
    worst: tuple[int, float, dict[str, Any]] | None = None
    for b in report.bins:
        if b["customers"] < BIN_MIN_CUSTOMERS:
            continue
        a, p = b["actual_mean"], b["predicted_mean"]
        gap = abs(p - a)
        rel = gap / a if a > 0 else (0.0 if gap <= BIN_ABS_SLACK else float("inf"))
        lv = 0 if gap <= BIN_ABS_SLACK else _level(rel, BIN_LIMITS)
        row = {
            "frequency": b["frequency"],
            "customers": b["customers"],
            "actual_mean": a,
            "predicted_mean": p,
            "error": (p - a) / a if a > 0 else None,
            "grade": names[lv],
        }
        bins.append(row)
        if worst is None or (lv, rel) > (worst[0], worst[1]):
            worst = (lv, rel, row)
    if worst is not None and worst[0] > 0:
        row = worst[2]
        fewer = "fewer" if row["actual_mean"] > row["predicted_mean"] else "more"
        share = f"{worst[1]:.0%} " if np.isfinite(worst[1]) else ""
        f = row["frequency"]
        who = "no repeat purchase" if f == "0" else f"{f} repeat purchase{'' if f == '1' else 's'}"
        reasons.append(
            f"for customers with {who} in the calibration period it predicted {share}{fewer} "
            f"purchases than happened ({row['predicted_mean']:.2f} against "
            f"{row['actual_mean']:.2f} each)"
        )
        level = max(level, worst[0])
    return FitGrade(names[level], "; ".join(reasons), bins)


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
        "error_pct": 100.0 * (predicted - actual) / actual if actual else 0.0,
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


@dataclass
class ModelCheck:
    """The scoring model refitted without its last weeks and checked on them."""

    model: str
    #: None for a summary file's own holdout.
    calibration_end: date | None
    weeks: int
    report: HoldoutReport | None
    grade: FitGrade
    #: The calibration fit (its selection when the model was ``auto``).
    fit: FitResult | None = None

    @property
    def sentence(self) -> str:
        """The check in one sentence for people."""
        if self.report is None:
            return self.grade.sentence
        if self.calibration_end is None:
            return f"Checked on the summary file's holdout. {self.grade.sentence}"
        return (
            f"Checked by refitting on the data up to {self.calibration_end} and predicting "
            f"the following {self.weeks} weeks. {self.grade.sentence}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored with the scoring run in ``value_runs``)."""
        out: dict[str, Any] = {
            "model": self.model,
            "calibration_end": self.calibration_end.isoformat() if self.calibration_end else None,
            "holdout_weeks": self.weeks,
            "grade": self.grade.to_dict(),
            "sentence": self.sentence,
        }
        if self.report is not None:
            out["totals"] = self.report.totals
            out["by_frequency"] = self.report.bins
            out["dropout_identified"] = self.fit.dropout_identified if self.fit else None
        if self.fit is not None and self.fit.reason:
            out["selection"] = {"reason": self.fit.reason, "candidates": self.fit.candidates}
        return out


def check_model(
    wh: Warehouse,
    unit: str,
    as_of: date,
    model: str,
    *,
    penalizer: float = 0.0,
    dropout_prior: float | None = None,
    weeks: int = HOLDOUT_WEEKS,
    scored: SummarySource | None = None,
) -> ModelCheck:
    """Refit ``model`` on the data up to ``weeks`` before ``as_of`` and grade it on them.

    With ``auto`` the choice among the continuous models is made on that holdout. Where the
    model cannot be fitted that early, the grade is "not checked" with the reason.
    ``scored``: the summary being scored, when it was computed with this check's summary
    (``summary_from_warehouse(..., check_weeks=weeks)``), which is then used instead of a
    second pass over the transactions.
    """
    cal = as_of - timedelta(weeks=weeks)
    spec = SummarySpec(unit, cal, as_of, discrete=model in DISCRETE_MODELS)
    try:
        shared = _shared_check(scored, spec)
        with shared or summary_from_warehouse(wh, spec) as source:
            return _graded(source, model, penalizer, dropout_prior, cal, weeks)
    except (DataError, UsageError, ConvergenceError) as exc:
        return _not_checked(model, cal, weeks, exc)


def _shared_check(scored: SummarySource | None, spec: SummarySpec) -> SummarySource | None:
    """The check's summary from the scoring pass, when it was computed there for ``spec``."""
    if (
        scored is not None
        and not spec.discrete
        and spec.calibration_end is not None
        and scored.info.get("check_end") == spec.calibration_end.isoformat()
    ):
        return scored.check_source()
    return None


def _not_checked(model: str, cal: date, weeks: int, exc: Exception) -> ModelCheck:
    why = (
        f"refitted on the data up to {cal} only, the model gives no answer ({str(exc).rstrip('.')})"
    )
    return ModelCheck(model, cal, weeks, None, FitGrade("not checked", why))


def _graded(
    source: SummarySource,
    model: str,
    penalizer: float,
    dropout_prior: float | None,
    cal: date,
    weeks: int,
) -> ModelCheck:
    """Fit ``model`` on the check's summary and grade it on the holdout after ``cal``."""
    # The grade compares purchases only: no spend model is needed.
    fit = fit_purchase_model(
        source, model, penalizer=penalizer, dropout_prior=dropout_prior, spend=False
    )
    report = holdout_report(source, fit, track=False)
    return ModelCheck(fit.model.name, cal, weeks, report, report.grade, fit)


def fit_and_check(
    source: SummarySource,
    model: str,
    *,
    penalizer: float = 0.0,
    dropout_prior: float | None = None,
    check: bool = True,
) -> tuple[FitResult, ModelCheck | None]:
    """Fit the scoring model on ``source`` and check it on a holdout of its last weeks.

    For a warehouse summary without a holdout of its own, the model (or, with ``auto``,
    each continuous model) is refitted on the data up to ``HOLDOUT_WEEKS`` before its end
    and checked on them (:func:`check_model`); ``auto`` takes the model chosen there, so the
    choice rests on holdout accuracy rather than BIC. A summary with its own holdout is
    checked on it; a summary file without one is not checked.
    """
    if source.spec is None or not check:
        fit = fit_purchase_model(source, model, penalizer=penalizer, dropout_prior=dropout_prior)
        if source.has_holdout and source.info.get("holdout_days", 0) > 0 and check:
            report = holdout_report(source, fit, track=False)
            return fit, ModelCheck(fit.model.name, None, 0, report, report.grade, fit)
        return fit, None
    if source.has_holdout and source.info.get("holdout_days", 0) > 0:
        fit = fit_purchase_model(source, model, penalizer=penalizer, dropout_prior=dropout_prior)
        report = holdout_report(source, fit, track=False)
        cal = source.spec.calibration_end
        weeks = round(source.info["holdout_days"] / 7)
        return fit, ModelCheck(fit.model.name, cal, weeks, report, report.grade, fit)
    as_of = source.spec.observation_end or date.today()
    checked = check_model(
        source.warehouse,
        source.unit,
        as_of,
        model,
        penalizer=penalizer,
        dropout_prior=dropout_prior,
        scored=source,
    )
    chosen = model
    if model == "auto" and checked.fit is not None:
        chosen = checked.fit.model.name
    fit = fit_purchase_model(source, chosen, penalizer=penalizer, dropout_prior=dropout_prior)
    if model == "auto" and checked.fit is not None:
        fit.reason = (
            f"chosen on the {checked.weeks}-week holdout before {as_of}: {checked.fit.reason}"
        )
        fit.candidates = checked.fit.candidates
    return fit, checked
