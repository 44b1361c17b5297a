"""Contractual retention (sBG) from cohort counts or per-customer rows: one function for faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from patron.errors import DataError, UsageError
from patron.value.models import CohortData, ShiftedBetaGeoModel

__all__ = ["retention_report"]


def _cohort(alive: str | None, from_file: Path | None, cohort: str | None) -> CohortData:
    if (alive is None) == (from_file is None):
        raise UsageError("Give either --alive COUNTS or --from-file FILE.")
    if alive is not None:
        try:
            counts = [float(v) for v in alive.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--alive {alive!r} must be numbers separated by commas.") from None
        return CohortData.from_counts(counts)
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
    recency = np.asarray(table.column(names["recency"]).to_numpy(), dtype=float)
    T = np.asarray(table.column(names["t"]).to_numpy(), dtype=float)
    if cohort is not None:
        if "cohort" not in names:
            raise DataError(f"{from_file}: --cohort needs a cohort column.")
        labels = np.asarray(table.column(names["cohort"]).to_pylist(), dtype=object)
        keep = labels == cohort
        if not keep.any():
            raise DataError(
                f"{from_file}: no rows of cohort {cohort!r} "
                f"(cohorts: {', '.join(sorted(set(labels)))})."
            )
        recency, T = recency[keep], T[keep]
    return CohortData.from_lifetimes(recency, T)


def retention_report(
    alive: str | None,
    from_file: Path | None,
    cohort: str | None,
    project: int,
    discount_rate: float,
) -> dict[str, Any]:
    """Fit sBG and return parameters, survival (actual and projected) and DERL, JSON-ready."""
    if project < 1:
        raise UsageError(f"--project {project} must be at least 1.")
    if not 0 <= discount_rate < 10:
        raise UsageError(f"--discount-rate {discount_rate!r} must be a rate per period, e.g. 0.1.")
    data = _cohort(alive, from_file, cohort)
    model = ShiftedBetaGeoModel().fit(data)
    start = data.alive[0]
    periods = max(project, len(data.alive) - 1)
    t = np.arange(0, periods + 1)
    survival = model.survival(t)
    retention = np.concatenate([[1.0], model.retention_rate(t[1:])])
    rows = [
        {
            "period": int(i),
            "actual": float(data.alive[i] / start) if i < len(data.alive) else None,
            "model": float(survival[i]),
            "retention": float(retention[i]),
        }
        for i in t
    ]
    return {
        "model": "sbg",
        "params": model.params_,
        "standard_errors": model.standard_errors_,
        "log_likelihood": model.log_likelihood_,
        "cohort_size": float(start),
        "periods": len(data.alive) - 1,
        "survival": rows,
        "discount_rate_per_period": discount_rate,
        "derl_new": float(model.derl(discount_rate, 0)),
    }
