"""Where per-customer summaries come from: the warehouse's transactions, or a summary file.

Either way the result is a :class:`SummarySource`: an Ibis table with one row per customer,
its compressed unique rows for the models, and what it was made from. A summary file is
checked row by row in the engine before any fit (the first bad row is named by its line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from patron.data import people
from patron.data.plausible import DEFAULT_MAX_ABS, Limits
from patron.data.warehouse import Warehouse, connect
from patron.errors import DataError, UsageError, first_line
from patron.value.models import BadRowError
from patron.value.summary import (
    TIME_UNITS,
    Compressed,
    SummarySpec,
    check_summary,
    compress,
    customer_summary,
    expand_summary,
    only_returns,
    stored_summary,
)

__all__ = ["SUMMARY_ALIASES", "SummarySource", "summary_from_file", "summary_from_warehouse"]

_PARQUET = (".parquet", ".pq")
#: The numeric columns a summary file may have (frequency, recency and T required).
_SUMMARY_NUMBERS = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "weights",
    "holdout_frequency",
    "cost_to_serve",
    "duration_holdout",
)
#: Other tools' names for a summary's columns, read when Patron's own is absent: lifetimes'
#: ``calibration_and_holdout_data`` (``*_cal``, ``*_holdout``) and BTYD's ``elog2cbs`` (R).
SUMMARY_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("cust", "id"),
    "frequency": ("frequency_cal", "x"),
    "recency": ("recency_cal", "t.x", "t_x"),
    "T": ("T_cal", "T.cal"),
    "monetary_value": ("monetary_value_cal", "m.x"),
    "holdout_frequency": ("frequency_holdout", "x.star"),
    "duration_holdout": ("T.star",),
}
#: Those that count something, so must be whole numbers (recency and T too for BG/BB).
_SUMMARY_COUNTS = ("frequency", "weights", "holdout_frequency")


@dataclass
class SummarySource:
    """A per-customer summary (an Ibis table) plus what it was made from."""

    table: ir.Table
    unit: str
    info: dict[str, Any]
    compressed: Compressed
    warehouse: Warehouse

    @property
    def unit_days(self) -> float:
        """Length of the summary's time unit in days."""
        return TIME_UNITS[self.unit]

    @property
    def has_holdout(self) -> bool:
        """Whether holdout purchases are available for validation."""
        return "holdout_frequency" in self.table.columns

    staging: str | None = None
    #: The summary's definition with the dates actually used (None for a summary file).
    spec: SummarySpec | None = None
    #: Whether frequency, recency and T count whole periods (for BG/BB).
    discrete: bool = False
    _holdout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _stages: list[str] = field(default_factory=list, repr=False)

    def stage(self, stem: str, obj: ir.Table) -> ir.Table:
        """Compute ``obj`` into a staging table dropped with the summary (:meth:`release`)."""
        name, table = self.warehouse.materialize(stem, obj)
        self._stages.append(name)
        return table

    def check_source(self) -> SummarySource | None:
        """The summary a holdout check needs, when this one was computed with it.

        :func:`summary_from_warehouse` with ``check_weeks`` computes both in one pass; the
        check's reads the same staging table (dropped with this source).
        """
        if self.staging is None or "check_end" not in self.info or self.spec is None:
            return None
        stored, info = check_summary(self.warehouse.con.table(self.staging), self.info)
        table = expand_summary(stored, info)
        spec = SummarySpec(
            self.unit,
            date.fromisoformat(info["calibration_end"]),
            date.fromisoformat(info["observation_end"]),
        )
        comp = compress(table, self.unit_days, money=False)  # the check grades purchases
        return SummarySource(table, self.unit, info, comp, self.warehouse, spec=spec)

    def release(self) -> None:
        """Drop the materialised summary and the staging tables made from it."""
        for name in (*self._stages, *([self.staging] if self.staging else [])):
            self.warehouse.drop(name)
        self._stages.clear()
        self.staging = None

    def __enter__(self) -> SummarySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def summary_from_warehouse(
    wh: Warehouse, spec: SummarySpec, *, check_weeks: int | None = None
) -> SummarySource:
    """Summarise the warehouse's transactions (in the engine) and compress them.

    The summary carries each customer's yearly ``cost_to_serve`` from ``customers`` when
    that column exists (0 for customers without one). With ``check_weeks`` (a summary without
    a holdout, in days), the summary of a holdout check of the last ``check_weeks`` weeks is
    computed in the same pass (:meth:`SummarySource.check_source`).
    """
    products = wh.con.table("products") if wh.has_table("products") else None
    table, info = customer_summary(
        people.transactions(wh),
        spec,
        products=products,
        check_days=None if check_weeks is None else 7 * check_weeks,
    )
    if wh.has_table("customers") and "cost_to_serve" in wh.table("customers").columns:
        _check_costs(wh.table("customers"))  # the rows as stored, before people are combined
    customers = people.customers(wh)
    if customers is not None and "cost_to_serve" in customers.columns:
        cs = customers.select(_cid=customers.customer_id, _cts=customers.cost_to_serve)
        joined = table.left_join(cs, table.customer_id == cs._cid)
        table = joined.select(
            *table.columns, cost_to_serve=ibis.coalesce(joined._cts.cast("float64"), 0.0)
        )
    # Computed once: every later step (fit, score, validate) reads the customer-level rows.
    # Stored without the columns row_key encodes, which the returned table decodes.
    with wh.aggregating():
        name, stored = wh.materialize("summary", stored_summary(table, info))
    table = expand_summary(stored, info)
    try:
        if info["customers_only_returns"] is None:
            info["customers_only_returns"] = only_returns(people.transactions(wh), stored)
        # A discrete summary's time columns are whole periods already.
        comp = compress(table, 1.0 if spec.discrete else spec.unit_days)
    except BaseException:
        wh.drop(name)
        raise
    resolved = SummarySpec(
        spec.unit,
        date.fromisoformat(info["calibration_end"]),
        date.fromisoformat(info["observation_end"]),
        spec.discrete,
    )
    return SummarySource(
        table, spec.unit, info, comp, wh, staging=name, spec=resolved, discrete=spec.discrete
    )


def _check_costs(customers: ir.Table) -> None:
    """Refuse a ``customers`` table (written by another tool) with an impossible cost to serve.

    ``patron load`` rejects such rows; a table made elsewhere would give NaN or infinite CLVs.
    """
    cost = customers.cost_to_serve.cast("float64")
    bad = customers.filter(~Limits().number_ok(cost))
    first = bad.select("customer_id", cost=cost).limit(1).to_pyarrow().to_pylist()
    if first:
        n = int(bad.count().to_pyarrow().as_py())
        row = first[0]
        raise DataError(
            f"The customers table has {n:,} cost_to_serve value(s) that are not finite or "
            f"are beyond ±{DEFAULT_MAX_ABS:,.0f} (e.g. customer {row['customer_id']!r}: "
            f"{row['cost']}); correct them (`patron load customers` rejects such rows)."
        )


def summary_from_file(
    path: Path, unit: str, *, discrete: bool = False, holdout_length: float | None = None
) -> SummarySource:
    """Read a summary file (CSV or Parquet) with ``frequency, recency, T`` columns.

    Optional: ``monetary_value``, ``weights`` (rows standing for that many customers),
    ``customer_id``, ``holdout_frequency``, ``cost_to_serve`` (yearly) and
    ``duration_holdout``. Times are in ``unit``; ``discrete``: recency and T are whole periods
    (BG/BB's t_x and n). The names lifetimes' ``calibration_and_holdout_data`` and BTYD's
    ``elog2cbs`` write are read too (``frequency_cal``, ``x``, ``t.x``, ``T.cal``, ``x.star``,
    ...; see ``SUMMARY_ALIASES``).

    The holdout, for validation and ``auto``: ``holdout_frequency`` counts each customer's
    purchases in it; its length in ``unit`` is ``holdout_length`` or the ``duration_holdout``
    column (the same on every row).
    """
    if unit not in TIME_UNITS:
        raise UsageError(f"--unit {unit!r} is not known; use one of: {', '.join(TIME_UNITS)}.")
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    wh = connect("duckdb://:memory:")
    try:
        raw = (
            wh.con.read_parquet(str(path))
            if path.suffix.lower() in _PARQUET
            else wh.con.read_csv(str(path))
        )
    except Exception as exc:
        raise DataError(f"{path}: could not read the file ({first_line(exc)}).") from exc
    cols = _summary_columns(raw.columns)
    missing = [c for c in ("frequency", "recency", "T") if c not in cols]
    if missing:
        raise DataError(
            f"{path}: a summary needs columns frequency, recency, T (or lifetimes' "
            "frequency_cal, recency_cal, T_cal, or BTYD's x, t.x, T.cal); missing "
            f"{', '.join(missing)} (found: {', '.join(raw.columns)})."
        )
    days = TIME_UNITS[unit]
    # Every number as given (float64), with its data row: checked before any rounding cast.
    given = {name: raw[cols[name]] for name in _SUMMARY_NUMBERS if name in cols}
    row = (ibis.row_number() + 1).cast("int64")  # the data row, in file order
    try:
        numbers = wh.create_table(
            "summary_numbers",
            raw.select(
                _row=row,
                customer_id=raw[cols["customer_id"]].cast("string")
                if "customer_id" in cols
                else row.cast("string"),
                **{name: value.cast("float64") for name, value in given.items()},
            ),
        )
    except Exception as exc:
        raise DataError(
            f"{path}: frequency, recency and T (and monetary_value, weights, cost_to_serve) "
            f"must be numbers ({first_line(exc)})."
        ) from exc
    _check_summary_rows(numbers, path, discrete=discrete)
    if "customer_id" in cols:
        _check_customer_ids(numbers, path)
    info: dict[str, Any] = {"unit": unit, "source": str(path), "has_costs": False}
    info.update(_file_holdout(numbers, path, unit, discrete, holdout_length))
    n = numbers
    table = n.select(
        "customer_id",
        "_row",
        frequency=n.frequency.cast("int64"),
        recency_days=n.recency * days,
        T_days=n["T"] * days,
        recency=n.recency,
        T=n["T"],
        monetary_value=n.monetary_value if "monetary_value" in given else ibis.literal(0.0),
        margin_value=ibis.null("float64"),
        weights=n.weights.cast("int64") if "weights" in given else ibis.literal(1, "int64"),
        **(
            {"holdout_frequency": n.holdout_frequency.cast("int64")}
            if "holdout_frequency" in given
            else {}
        ),
        **(
            {"cost_to_serve": ibis.coalesce(n.cost_to_serve, 0.0)}
            if "cost_to_serve" in given
            else {}
        ),
    )
    wh.create_table("raw_summary", table)
    # One integer key per distinct (frequency, recency, T), as warehouse summaries have.
    raw_table = wh.table("raw_summary")
    keys = raw_table.select("frequency", "recency_days", "T_days").distinct()
    keys = keys.select(
        _f=keys.frequency,
        _r=keys.recency_days,
        _t=keys.T_days,
        row_key=(ibis.row_number() + 1).cast("int64"),
    )
    keyed = raw_table.inner_join(
        keys,
        [
            raw_table.frequency == keys._f,
            raw_table.recency_days == keys._r,
            raw_table.T_days == keys._t,
        ],
    ).drop("_f", "_r", "_t", "_row")
    table = wh.create_table("summary", keyed)
    if not table.count().to_pyarrow().as_py():
        raise DataError(f"{path}: the summary has no rows.")
    comp = compress(table, days, weights="weights")
    try:  # the models' own checks (recency within T, ...), on the compressed rows
        comp.periods if discrete else comp.rfm  # noqa: B018
    except BadRowError as exc:
        # The first data row of the file with the bad row's values.
        r, i = raw_table, exc.row
        first = r.filter(
            (r.frequency == int(comp.frequency[i]))
            & (r.recency_days == float(comp.recency_days[i]))
            & (r.T_days == float(comp.T_days[i]))
        )._row.min()
        raise _bad_summary_row(numbers, path, int(first.to_pyarrow().as_py()), exc.reason) from exc
    return SummarySource(table, unit, info, comp, wh, discrete=discrete)


def _summary_columns(names: Sequence[str]) -> dict[str, str]:
    """Patron's name -> the file's column (names match in any case; own names first)."""
    lower = {c.lower(): c for c in names}
    found: dict[str, str] = {}
    for name in (*_SUMMARY_NUMBERS, "customer_id"):
        for candidate in (name, *SUMMARY_ALIASES.get(name, ())):
            if candidate.lower() in lower:
                found[name] = lower[candidate.lower()]
                break
    return found


def _file_holdout(
    numbers: ir.Table, path: Path, unit: str, discrete: bool, length: float | None
) -> dict[str, Any]:
    """The holdout of a summary file: its length from ``length`` or ``duration_holdout``."""
    if "duration_holdout" in numbers.columns:
        d = numbers.duration_holdout
        lo, hi = numbers.aggregate(lo=d.min(), hi=d.max()).to_pyarrow().to_pylist()[0].values()
        if lo != hi:
            raise DataError(
                f"{path}: duration_holdout must be the same on every row (one holdout period "
                f"for all customers); it runs from {lo:g} to {hi:g}."
            )
        if not lo > 0:
            raise DataError(
                f"{path}: duration_holdout must be > 0 (the holdout's length in {unit}s)."
            )
        if length is not None and length != lo:
            raise UsageError(
                f"--holdout-length {length:g} differs from the file's duration_holdout {lo:g}; "
                "give one of them."
            )
        length = lo
    if length is None:
        return {}
    if not (math.isfinite(length) and length > 0):
        raise UsageError(f"The holdout's length must be a number of {unit}s > 0, not {length:g}.")
    if "holdout_frequency" not in numbers.columns:
        raise DataError(
            f"{path}: a holdout length needs a holdout_frequency column (each customer's "
            "purchases in the holdout)."
        )
    info: dict[str, Any] = {"holdout_days": length * TIME_UNITS[unit]}
    if discrete:
        if length != round(length):
            raise UsageError(
                f"BG/BB counts whole periods: the holdout's length {length:g} must be a whole "
                f"number of {unit}s."
            )
        info["holdout_periods"] = int(length)
    return info


def _check_summary_rows(numbers: ir.Table, path: Path, *, discrete: bool) -> None:
    """Refuse, naming the first bad data row, a summary file with a value no model can use.

    Missing values, NaN or infinity, and negative or fractional counts (checked before the
    counts are cast to integers, which would round them). The models' own checks
    (recency within T, ...) run later on the compressed rows.
    """
    t = numbers
    checks: list[tuple[ir.BooleanValue, str, str]] = []
    for name in _SUMMARY_NUMBERS:
        if name not in t.columns:
            continue
        value = t[name]
        if name not in ("monetary_value", "cost_to_serve"):  # unknown spend or cost: allowed
            checks.append((value.isnull(), name, "is missing"))
        checks.append((value.isnan() | value.isinf(), name, "is not a finite number"))
        too_big = f"is beyond ±{DEFAULT_MAX_ABS:,.0f} (not a plausible value)"
        checks.append(((value.abs() > DEFAULT_MAX_ABS) & ~value.isnan(), name, too_big))
        if name in _SUMMARY_COUNTS:
            checks.append((value < 0, name, "is negative"))
        if name in _SUMMARY_COUNTS or (discrete and name in ("recency", "T")):
            checks.append((value != value.round(), name, "is not a whole number"))
    firsts = t.aggregate(
        **{f"c{i}": t._row.min(where=bad) for i, (bad, _, _) in enumerate(checks)}
    ).to_pyarrow()
    found = [
        (row, name, text)
        for (_, name, text), row in zip(checks, firsts.to_pylist()[0].values(), strict=True)
        if row is not None
    ]
    if found:
        row, name, text = min(found, key=lambda f: f[0])
        raise _bad_summary_row(numbers, path, row, f"{name} {text}", name)
    if "weights" in t.columns and not t.weights.sum().to_pyarrow().as_py():
        raise DataError(
            f"{path}: weights are 0 on every row, so the summary stands for no customer; "
            "give each row the number of customers it stands for (or leave weights out)."
        )


def _check_customer_ids(numbers: ir.Table, path: Path) -> None:
    """Refuse a missing customer_id, or one on two rows, naming the lines."""
    t = numbers
    missing = t._row.min(where=t.customer_id.isnull()).to_pyarrow().as_py()
    if missing is not None:
        raise _bad_summary_row(numbers, path, missing, "customer_id is missing")
    dup = (
        t.group_by("customer_id")
        .aggregate(n=t.count(), first=t._row.min(), last=t._row.max())
        .filter(lambda g: g.n > 1)
        .order_by("first")
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    if dup:
        d = dup[0]
        first, last = (_location(path, d[k]) for k in ("first", "last"))
        where = f"{first} and {last}" if d["n"] == 2 else f"{d['n']} rows, {first} to {last}"
        raise DataError(
            f"{path}: customer_id {d['customer_id']!r} is on {where}; a summary has one row "
            "per customer: merge them, or leave out customer_id and give weights to rows that "
            "stand for several customers."
        )


def _location(path: Path, row: int) -> str:
    """Where data row ``row`` (1 = the first) of a file is: a CSV's line, a Parquet row."""
    # A CSV summary has a header line (its columns are found by name).
    return f"row {row:,}" if path.suffix.lower() in _PARQUET else f"line {row + 1:,}"


def _bad_summary_row(
    numbers: ir.Table, path: Path, row: int, text: str, column: str | None = None
) -> DataError:
    """The error for data row ``row`` (1 = the first) of a summary file, with its values."""
    cols = list(dict.fromkeys(c for c in ("frequency", "recency", "T", column) if c))
    values = numbers.filter(numbers._row == row).select(*cols).to_pyarrow().to_pylist()[0]
    shown = ", ".join(f"{k}={'missing' if v is None else f'{v:g}'}" for k, v in values.items())
    where = _location(path, row)
    return DataError(f"{path}, {where}: {text} ({shown}); correct or remove that row.")
