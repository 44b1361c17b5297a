"""Contractual retention (sBG) from cohort counts or per-customer rows: one function for faces.

With per-customer rows, every subscriber still active is valued: the chance to renew at the
next period and the discounted expected residual lifetime (DERL, Fader & Hardie 2010) given
the renewals already made, with a 95% interval from the parameters' covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from patron.errors import DataError, UsageError
from patron.value.clv import Z95
from patron.value.models import CohortData, ShiftedBetaGeoModel

__all__ = ["RetentionResult", "retention_report"]


@dataclass
class _Rows:
    """Per-customer rows of a file: id, cohort, period of churn (or T if active), T."""

    ids: list[Any]
    cohorts: list[Any]
    recency: np.ndarray
    T: np.ndarray


@dataclass
class RetentionResult:
    """The cohort report (JSON-ready) and, from per-customer rows, each subscriber's value."""

    payload: dict[str, Any]
    subscribers: pa.Table | None = None


def _cohort(
    alive: str | None, from_file: Path | None, cohort: str | None
) -> tuple[CohortData, _Rows | None]:
    if (alive is None) == (from_file is None):
        raise UsageError("Give either --alive COUNTS or --from-file FILE.")
    if alive is not None:
        try:
            counts = [float(v) for v in alive.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--alive {alive!r} must be numbers separated by commas.") from None
        return CohortData.from_counts(counts), None
    assert from_file is not None
    if not from_file.is_file():
        raise DataError(f"{from_file}: no such file.")
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(from_file)
    except Exception as exc:
        raise DataError(f"{from_file}: could not read it as CSV ({exc}).") from exc
    names = {n.lower(): n for n in table.column_names}
    for need in ("recency", "t"):
        if need not in names:
            raise DataError(
                f"{from_file}: needs columns recency and T "
                f"(found: {', '.join(table.column_names)})."
            )
    try:
        recency = np.asarray(table.column(names["recency"]).to_numpy(), dtype=float)
        T = np.asarray(table.column(names["t"]).to_numpy(), dtype=float)
    except (pa.ArrowInvalid, TypeError, ValueError):
        raise DataError(f"{from_file}: recency and T must be whole numbers of periods.") from None
    n = table.num_rows
    if n == 0:
        raise DataError(f"{from_file}: no rows (one per customer: recency, T).")
    _check_rows(from_file, recency, T)
    ids = (
        table.column(names["customer_id"]).to_pylist()
        if "customer_id" in names
        else list(range(1, n + 1))
    )
    _check_ids(from_file, ids)
    labels = table.column(names["cohort"]).to_pylist() if "cohort" in names else [None] * n
    if cohort is not None:
        if "cohort" not in names:
            raise DataError(f"{from_file}: --cohort needs a cohort column.")
        keep = np.asarray(labels, dtype=object) == cohort
        if not keep.any():
            raise DataError(
                f"{from_file}: no rows of cohort {cohort!r} "
                f"(cohorts: {', '.join(sorted({str(v) for v in labels}))})."
            )
        recency, T = recency[keep], T[keep]
        ids = [v for v, k in zip(ids, keep, strict=True) if k]
        labels = [v for v, k in zip(labels, keep, strict=True) if k]
    try:
        data = CohortData.from_lifetimes(recency, T)
    except DataError as exc:
        raise DataError(f"{from_file}: {exc}") from None
    return data, _Rows(ids, labels, recency, T)


def _check_rows(path: Path, recency: np.ndarray, T: np.ndarray) -> None:
    """Refuse, naming its line, the first row whose recency or T is not a whole period >= 1."""
    with np.errstate(invalid="ignore"):
        bad = np.zeros(len(recency), dtype=bool)
        for values in (recency, T):
            bad |= ~np.isfinite(values) | (values != np.round(values)) | (values < 1)
    if bad.any():
        i = int(np.argmax(bad))
        shown = ", ".join(
            f"{name}={'missing' if np.isnan(v) else f'{v:g}'}"
            for name, v in (("recency", recency[i]), ("T", T[i]))
        )
        raise DataError(
            f"{path}, line {i + 2:,}: recency and T must be whole periods >= 1 ({shown}; "
            "recency is the period of churn, or T or more if still active); correct or "
            "remove that row."
        )


def _check_ids(path: Path, ids: list[Any]) -> None:
    """Refuse a missing customer_id, or one on two rows (valued twice), naming the lines."""
    seen: dict[Any, int] = {}
    for i, key in enumerate(ids):
        if key is None or key == "":
            raise DataError(f"{path}, line {i + 2:,}: customer_id is missing; fill or remove it.")
        if key in seen:
            raise DataError(
                f"{path}: customer_id {key!r} is on line {seen[key] + 2:,} and line {i + 2:,}; "
                "give one row per customer."
            )
        seen[key] = i


def _subscribers(
    model: ShiftedBetaGeoModel, rows: _Rows, discount: float, value: float | None
) -> pa.Table:
    """Each still-active subscriber: renewals made, P(renew next), DERL with its interval."""
    active = rows.recency >= rows.T
    renewals = rows.T[active] - 1.0  # observed active after T − 1 periods
    p_renew = model.retention_rate(renewals + 1.0)
    derl = model.derl(discount, renewals)
    # Delta method on the log-parameters (DERL is smooth in them).
    params = np.asarray(list(model.params_.values()))
    h = 1e-6
    grads = []
    for j in range(2):
        shifted = model.with_params(params * np.exp(h * np.eye(2)[j]))
        grads.append((shifted.derl(discount, renewals) - derl) / h)
    g = np.stack(grads, axis=1)
    cov_log = model.covariance_ / np.outer(params, params)
    sd = np.sqrt(np.clip(np.sum((g @ cov_log) * g, axis=1), 0.0, None))
    columns: dict[str, Any] = {
        "customer_id": [str(v) for v, a in zip(rows.ids, active, strict=True) if a],
        "cohort": [v for v, a in zip(rows.cohorts, active, strict=True) if a],
        "renewals": renewals.astype(np.int64),
        "p_renew": p_renew,
        "derl": derl,
        "derl_low": derl - Z95 * sd,
        "derl_high": derl + Z95 * sd,
    }
    if value is not None:
        columns["residual_value"] = derl * value
        columns["residual_value_low"] = (derl - Z95 * sd) * value
        columns["residual_value_high"] = (derl + Z95 * sd) * value
    return pa.table(columns)


def _notes(model: ShiftedBetaGeoModel, periods: int) -> list[str]:
    """The fit's notes: churn alike for everyone (held at the cap), barely identified α, β."""
    notes = model.homogeneous_notes("period")
    weak = model.weak_note()
    if weak:
        notes.append(
            f"{weak}. The {periods} periods observed fix the churn early on, not how retention "
            "changes with tenure, so the projection beyond them and DERL are uncertain; a "
            "longer history of the cohort would help."
        )
    return notes


def retention_report(
    alive: str | None,
    from_file: Path | None,
    cohort: str | None,
    project: int,
    discount_rate: float,
    value_per_period: float | None = None,
) -> RetentionResult:
    """Fit sBG: parameters, survival (actual and projected), DERL, and per-subscriber values.

    ``subscribers`` (from ``from_file`` only) has one row per customer still active:
    ``customer_id, cohort, renewals, p_renew, derl`` (+ interval) and, with
    ``value_per_period``, ``residual_value`` = DERL × that value (+ interval).
    """
    if project < 1:
        raise UsageError(f"--project {project} must be at least 1.")
    if not 0 <= discount_rate <= 1:
        raise UsageError(
            f"--discount-rate {discount_rate!r} must be a rate per period between 0 and 1 "
            "written as a fraction: 0.1 is 10% (for 5% write 0.05, not 5)."
        )
    if value_per_period is not None and value_per_period < 0:
        raise UsageError(f"--value-per-period {value_per_period!r} must be >= 0.")
    data, rows = _cohort(alive, from_file, cohort)
    model = ShiftedBetaGeoModel().fit(data)
    actual = data.survival
    periods = max(project, data.periods)
    t = np.arange(0, periods + 1)
    survival = model.survival(t)
    retention = np.concatenate([[1.0], model.retention_rate(t[1:])])
    table = [
        {
            "period": int(i),
            "actual": float(actual[i]) if i < len(actual) else None,
            "model": float(survival[i]),
            "retention": float(retention[i]),
        }
        for i in t
    ]
    derl_new = float(model.derl(discount_rate, 0))
    payload: dict[str, Any] = {
        "model": "sbg",
        "params": model.params_,
        "standard_errors": model.standard_errors_,
        "log_likelihood": model.log_likelihood_,
        "cohort_size": data.size,
        "periods": data.periods,
        "survival": table,
        "discount_rate_per_period": discount_rate,
        "derl_new": derl_new,
        "notes": _notes(model, data.periods),
    }
    if value_per_period is not None:
        payload["value_per_period"] = value_per_period
        payload["residual_value_new"] = derl_new * value_per_period
    if rows is None:
        return RetentionResult(payload)
    subscribers = _subscribers(model, rows, discount_rate, value_per_period)
    payload["active_subscribers"] = subscribers.num_rows
    if value_per_period is not None:
        payload["residual_value_total"] = float(np.sum(subscribers.column("residual_value")))
    return RetentionResult(payload, subscribers)
