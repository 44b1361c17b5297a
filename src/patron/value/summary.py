"""Per-customer summaries computed in the engine, and their compression for the models.

Definitions (the BTYD conventions, so CDNOW results match the papers):

- Purchases are merged per calendar day: a *purchase day* is a day with at least one
  non-return row; its amount is the day's net amount (returns that day are netted in).
  Return-only days are not purchases.
- ``frequency`` = purchase days in calibration minus one (repeat purchases);
  ``recency`` = time from the first to the last purchase day; ``T`` = time from the first
  purchase day to the end of calibration (inclusive). Both are exact day counts divided by
  the time unit (day = 1, week = 7, month = 365.25/12 days).
- ``monetary_value`` = mean net amount of the repeat purchase days (0 without repeats);
  ``margin_value`` the same for amount − cost, when costs are known.
- With a calibration end, ``holdout_frequency`` and ``holdout_spend`` count purchase days and
  net amount in (calibration end, observation end]; only customers whose first purchase falls
  in calibration are summarised.

Discrete time (BG/BB, ``SummarySpec(discrete=True)``): time is cut into periods of the unit
on one grid for everyone, ending on the calibration end (the last calibration period is the
unit's length up to and including that day), as in the paper's calendar years. A *purchase
period* is a period with a purchase day; the customer's first purchase period is period 0,
``T`` = n = the whole periods after it up to the calibration end (transaction opportunities),
``frequency`` = x = purchase periods among them, ``recency`` = t_x = the last one (0 if none);
all three are whole numbers of periods. ``monetary_value`` is the mean net amount of the
repeat purchase periods. The holdout counts purchase periods among the whole periods after
the calibration end (a period cut by the observation end is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from patron.data.engine import arg_min
from patron.errors import DataError, UsageError
from patron.value.models import DiscreteData, RFMData, SpendData

__all__ = [
    "CHECK_PREFIX",
    "TIME_UNITS",
    "Compressed",
    "RowSums",
    "SummarySpec",
    "check_summary",
    "compress",
    "customer_summary",
    "day_number",
    "expand_summary",
    "only_returns",
    "spend_data",
    "stored_summary",
]

#: Length of each time unit in days.
TIME_UNITS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12.0, "year": 365.25}
_EPOCH = date(1970, 1, 1)


def day_number(value: date | datetime | str) -> int:
    """Days since 1970-01-01 of a date (the engine's integer day numbers)."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            raise UsageError(f"{value!r} is not a date; use YYYY-MM-DD.") from None
    if isinstance(value, datetime):
        value = value.date()
    return (value - _EPOCH).days


@dataclass(frozen=True)
class SummarySpec:
    """How to summarise: time unit, calibration end and observation end (inclusive dates)."""

    unit: str = "week"
    calibration_end: date | None = None
    observation_end: date | None = None
    #: Whole periods of the unit (BG/BB's transaction opportunities) instead of days.
    discrete: bool = False

    def __post_init__(self) -> None:
        if self.unit not in TIME_UNITS:
            raise UsageError(
                f"--unit {self.unit!r} is not known; use one of: {', '.join(TIME_UNITS)}."
            )
        if (
            self.calibration_end
            and self.observation_end
            and self.calibration_end > self.observation_end
        ):
            raise UsageError(
                f"--calibration-end {self.calibration_end} must not be after the observation end "
                f"{self.observation_end}."
            )

    @property
    def unit_days(self) -> float:
        """Length of the time unit in days."""
        return TIME_UNITS[self.unit]


def _purchase_days(
    transactions: ir.Table,
    products: ir.Table | None,
    *,
    margin: bool = False,
    track_costs: bool = False,
) -> ir.Table:
    """Purchase days: ``customer_id, day`` (a date), ``amount`` (+ ``margin``, ``uncosted``).

    ``uncosted`` is true on a day with a row whose cost is unknown (then the customer's
    margin is unknown); it is only tracked when some rows may lack a cost.
    """
    tx = transactions
    cost = tx.cost
    if margin and products is not None and "cost" in products.columns:
        unit_cost = products.select(_pid=products.product_id, _pcost=products.cost)
        tx = tx.left_join(unit_cost, tx.product_id == unit_cost._pid)
        cost = ibis.coalesce(tx.cost, tx._pcost * ibis.coalesce(tx.quantity, 1.0))
    aggs: dict[str, ir.Value] = {
        "amount": tx.amount.sum(),
        "_buys": (~tx.is_return.fill_null(False)).any(),
    }
    if margin:
        aggs["margin"] = (tx.amount - cost).sum()
    if track_costs:
        aggs["uncosted"] = cost.isnull().any()
    # The calendar day as a date: a 4-byte grouping key, cheaper to hash than a day number.
    daily = tx.group_by(customer_id=tx.customer_id, day=tx.timestamp.date()).aggregate(**aggs)
    return daily.filter(daily._buys).drop("_buys")


def _purchase_day_numbers(transactions: ir.Table) -> ir.Table:
    """Purchase days with ``day`` as days since 1970-01-01."""
    daily = _purchase_days(transactions, None)
    return daily.mutate(day=_day_number(daily.day))


def _day_number(value: ir.DateValue) -> ir.IntegerValue:
    """Days since 1970-01-01 of a date expression."""
    return value.delta(ibis.date(_EPOCH), unit="day").cast("int64")


def _from_day(day: int) -> date:
    """The date of a day number (days since 1970-01-01)."""
    return _EPOCH.fromordinal(_EPOCH.toordinal() + day)


def _date(day: int) -> ir.DateScalar:
    """A day number as a date literal."""
    return ibis.date(_from_day(day))


#: Largest span of days a summary may cover: the row key packs (frequency, recency, T) in days
#: into one integer, kept below 2**53 (three numbers up to 208,063, about 570 years) so that
#: it decodes exactly where the engine divides integers in floating point (Ibis compiles
#: ``a // b`` as ``FLOOR(a / b)``; see :func:`expand_summary`).
_MAX_SPAN_DAYS = 208_000


def only_returns(tx: ir.Table, buyers: ir.Table | None = None) -> int:
    """How many customers have returns and no purchase (so no summary row).

    ``buyers``: a table of every customer with a purchase (a summary without date limits),
    against which the customers with a return are counted; without it, only the customers
    with a return are grouped over their rows. Either is far cheaper than distinct counts of
    every customer.
    """
    returned = tx.filter(tx.is_return.fill_null(False))
    if buyers is not None:
        who = returned.select("customer_id").distinct()
        return int(who.anti_join(buyers, "customer_id").count().to_pyarrow().as_py() or 0)
    theirs = tx.filter(tx.customer_id.isin(returned.customer_id))
    per = theirs.group_by("customer_id").aggregate(
        bought=(~theirs.is_return.fill_null(False)).any()
    )
    return int(per.filter(~per.bought).count().to_pyarrow().as_py() or 0)


def customer_summary(
    transactions: ir.Table,
    spec: SummarySpec,
    *,
    products: ir.Table | None = None,
    check_days: int | None = None,
) -> tuple[ir.Table, dict[str, Any]]:
    """The per-customer summary as an Ibis expression (nothing is computed in Python).

    With ``check_days`` (a summary without a holdout, in days), the same grouping also
    computes the summary a holdout check of the last ``check_days`` days needs (calibrated
    up to the observation end minus ``check_days``), in ``_check_*`` columns
    (:func:`check_summary` reads them): the check then costs no second pass over the
    transactions.

    Returns
    -------
    (table, info)
        ``table`` has ``customer_id, frequency, recency_days, T_days, recency, T,
        monetary_value, margin_value, first_purchase_day, row_key`` (+ ``holdout_frequency,
        holdout_spend`` with a calibration end); ``row_key`` is one integer per distinct
        (frequency, recency_days, T_days), the key of the compressed rows. With
        ``spec.discrete`` the ``recency_days`` and ``T_days`` columns hold whole periods
        (t_x and n; ``recency`` and ``T`` the same as floats). ``info`` has the dates used,
        ``has_costs``, ``customers_only_returns`` (None when the summary holds every buyer:
        :func:`only_returns` then counts them against the stored summary, as
        ``summary_from_warehouse`` does) and, discrete, ``holdout_periods``.
    """
    # One cheap scan for the date range and what the costs look like (no grouping needed).
    tx = transactions
    buy = ~tx.is_return.fill_null(False)
    bounds = (
        tx.aggregate(
            lo=tx.timestamp.min(where=buy),
            hi=tx.timestamp.max(where=buy),
            n=buy.sum(),  # a boolean sum: portable (Postgres casts no boolean to bigint)
            costed=tx.cost.count(),
            rows=tx.count(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    if not bounds["n"]:
        raise DataError(
            "The transactions table has no purchases (it is empty, or holds only returns); "
            "load transactions first."
        )
    lo, hi = day_number(bounds["lo"]), day_number(bounds["hi"])
    obs = day_number(spec.observation_end) if spec.observation_end else hi
    cal = day_number(spec.calibration_end) if spec.calibration_end else obs
    if cal < lo:
        raise UsageError(
            f"--calibration-end {spec.calibration_end} is before the first purchase "
            f"({_from_day(lo)})."
        )
    span = cal - lo
    if span > _MAX_SPAN_DAYS:
        raise UsageError(
            f"The calibration period spans {span:,} days (from the first purchase, "
            f"{_from_day(lo)}); more than {_MAX_SPAN_DAYS:,} "
            "cannot be summarised. Check the timestamps and --calibration-end."
        )
    product_costs = (
        products is not None
        and "cost" in products.columns
        and bool(products.cost.notnull().any().to_pyarrow().as_py())
    )
    has_costs = bool(bounds["costed"]) or product_costs
    # Per-day cost bookkeeping only when some row may lack a cost.
    track = has_costs and (product_costs or bounds["costed"] < bounds["rows"])
    daily = _purchase_days(
        tx, products if product_costs else None, margin=has_costs, track_costs=track
    )
    if obs < hi:
        daily = daily.filter(daily.day <= _date(obs))
    holdout = cal < obs
    unit = TIME_UNITS[spec.unit]
    hold_periods = int((obs - cal) // unit) if spec.discrete else 0
    units, key, cal_sel, hold_sel = daily, daily.day, None, daily.day > _date(cal)
    if spec.discrete:
        # One grid of periods for everyone: period q holds the days with
        # q*unit <= day - (cal + 1) < (q+1)*unit, so q = -1 is the last calibration period
        # and q = 0 .. hold_periods-1 are the whole holdout periods.
        q = ((_day_number(daily.day) - (cal + 1)) / unit).floor().cast("int64")
        period_aggs: dict[str, ir.Value] = {"amount": daily.amount.sum(), "day": daily.day.min()}
        if has_costs:
            period_aggs["margin"] = daily.margin.sum()
        if track:
            period_aggs["uncosted"] = daily.uncosted.any()
        units = daily.group_by(customer_id=daily.customer_id, q=q).aggregate(**period_aggs)
        key = units.q
        cal_sel = units.q < 0 if holdout else None
        hold_sel = (units.q >= 0) & (units.q < hold_periods)
    elif holdout:
        cal_sel = daily.day <= _date(cal)
    # One pass over the purchase days (periods): the first one's amount by arg-min, and with a
    # holdout the calibration aggregates filtered in the same grouping (no self-join).
    aggs: dict[str, ir.Value] = {
        "first_date": units.day.min(),
        "last": key.max(where=cal_sel),
        "days": units.count(where=cal_sel),
        "spend": units.amount.sum(where=cal_sel),
        "first_amount": arg_min(units.amount, key),
    }
    if spec.discrete:  # the first period (for days, the key is first_date itself)
        aggs["first"] = key.min()
    check = obs - check_days if check_days is not None else None
    if check is not None and (spec.discrete or holdout or not lo <= check < obs):
        check = None  # only a summary without a holdout, in days, carries a check's columns
    if check is not None:
        # The check grades purchases only: its calibration's last day and count of days (its
        # holdout's follows from the total), two more states for the engine's grouping to
        # hold (at 10M customers it spills to disk, and each state costs there).
        in_check = daily.day <= _date(check)
        aggs["_c_last"] = key.max(where=in_check)
        aggs["_c_days"] = units.count(where=in_check)
    if has_costs:
        aggs["margin"] = units.margin.sum(where=cal_sel)
        aggs["first_margin"] = arg_min(units.margin, key)
    if track:
        aggs["uncosted"] = units.uncosted.any(where=cal_sel)
    if holdout:
        aggs["hold_days"] = units.count(where=hold_sel)
        aggs["hold_spend"] = units.amount.sum(where=hold_sel)
    per = units.group_by("customer_id").aggregate(**aggs)
    if holdout:
        per = per.filter(per.first_date <= _date(cal))
    freq = (per.days - 1).cast("int64")
    if spec.discrete:
        per = per.mutate(first_purchase_day=_day_number(per.first_date))
        # recency_days and T_days hold whole periods here (t_x and n).
        recency_days = (per["last"] - per["first"]).cast("int64")
        t_days = (-1 - per["first"]).cast("int64")
        recency = recency_days.cast("float64")
        t_units = t_days.cast("float64")
    else:
        per = per.mutate(
            first_purchase_day=_day_number(per.first_date), last_day=_day_number(per["last"])
        )
        recency_days = (per.last_day - per.first_purchase_day).cast("int64")
        t_days = (ibis.literal(cal) - per.first_purchase_day).cast("int64")
        recency = recency_days.cast("float64") / ibis.literal(unit, "float64")
        t_units = t_days.cast("float64") / ibis.literal(unit, "float64")
    base = span + 2  # frequency <= span + 1, recency and T <= span: a one-to-one key
    if has_costs:
        known = freq > 0 if not track else (freq > 0) & ~per.uncosted
        margin_value = ibis.ifelse(
            known, (per.margin - per.first_margin) / freq, ibis.null("float64")
        )
    else:
        margin_value = ibis.null("float64")
    columns = {
        "frequency": freq,
        "recency_days": recency_days,
        "T_days": t_days,
        "recency": recency,
        "T": t_units,
        "monetary_value": ibis.ifelse(freq > 0, (per.spend - per.first_amount) / freq, 0.0),
        "margin_value": margin_value,
        "first_purchase_day": per.first_purchase_day,
        "row_key": (freq * base + recency_days) * base + t_days,
    }
    if holdout:
        columns["holdout_frequency"] = per.hold_days.cast("int64")
        columns["holdout_spend"] = ibis.coalesce(per.hold_spend, 0.0)
    elif spec.calibration_end:
        columns["holdout_frequency"] = ibis.literal(0, "int64")
        columns["holdout_spend"] = ibis.literal(0.0, "float64")
    if check is not None:
        # As above with the calibration ending at ``check``, purchases only; null for
        # customers whose first purchase came later (the check's summary leaves them out).
        c_freq = (per._c_days - 1).cast("int64")
        c_recency = (_day_number(per._c_last) - per.first_purchase_day).cast("int64")
        c_t = (ibis.literal(check) - per.first_purchase_day).cast("int64")
        columns |= {
            "_check_row_key": ibis.ifelse(
                per.first_date <= _date(check),
                (c_freq * base + c_recency) * base + c_t,
                ibis.null("int64"),
            ),
            "_check_holdout_frequency": (per.days - per._c_days).cast("int64"),
        }
    summary = per.select("customer_id", **columns)
    info = {
        "unit": spec.unit,
        "calibration_end": _from_day(cal).isoformat(),
        "observation_end": _from_day(obs).isoformat(),
        "holdout_days": obs - cal,
        "has_costs": has_costs,
        "discrete": spec.discrete,
        "key_base": base,
        # customers whose every row is a return: no purchase to model, so not scored. None:
        # the summary holds every buyer, so the count is made against it once stored.
        "customers_only_returns": None if not holdout and obs >= hi else only_returns(tx),
    }
    if spec.discrete:
        info["holdout_periods"] = hold_periods
    if check is not None:
        info["check_end"] = _from_day(check).isoformat()
    return summary, info


#: Prefix of the columns a summary carries for a holdout check (:func:`check_summary`).
CHECK_PREFIX = "_check_"


def check_summary(stored: ir.Table, info: dict[str, Any]) -> tuple[ir.Table, dict[str, Any]]:
    """The stored summary of a holdout check, from a summary computed with ``check_days``.

    The purchases of the table and the ``info`` a :func:`customer_summary` with
    ``calibration_end`` = ``info["check_end"]`` (and the same observation end) gives, stored:
    its customers are those who bought by then. The check grades purchases, so the money
    columns (``monetary_value``, ``margin_value``, ``holdout_spend``) are null. Expand it with
    :func:`expand_summary`; compress it with ``money=False``.
    """
    check = info["check_end"]
    rows = stored.filter(stored[f"{CHECK_PREFIX}row_key"].notnull())
    names = ("row_key", "holdout_frequency")
    money = ("monetary_value", "margin_value", "holdout_spend")
    others = [
        c
        for c in stored.columns[1:]
        if not c.startswith(CHECK_PREFIX) and c not in (*names, *money)
    ]  # what was joined on (a cost to serve)
    table = rows.select(
        "customer_id",
        row_key=rows[f"{CHECK_PREFIX}row_key"],
        monetary_value=ibis.null("float64"),
        margin_value=ibis.null("float64"),
        holdout_frequency=rows[f"{CHECK_PREFIX}holdout_frequency"],
        holdout_spend=ibis.null("float64"),
        **{c: rows[c] for c in others},
    )
    checked = {k: v for k, v in info.items() if k != "check_end"}
    checked |= {
        "calibration_end": check,
        "holdout_days": day_number(info["observation_end"]) - day_number(check),
    }
    return table, checked


#: Summary columns a stored summary leaves out: :func:`expand_summary` decodes them from
#: ``row_key`` (and, in days, the calibration end). ``first_purchase_day`` is stored for a
#: discrete summary, whose ``T`` counts whole periods.
_DECODED = ("frequency", "recency_days", "T_days", "recency", "T", "first_purchase_day")


def stored_summary(summary: ir.Table, info: dict[str, Any]) -> ir.Table:
    """The columns of a :func:`customer_summary` worth storing when it is materialised.

    Frequency, recency and T are one-to-one with ``row_key``, so a stored summary keeps the
    key alone (about half the columns; at 10M customers the process holds ~370 MB less,
    which :meth:`Warehouse.aggregating` spends on the summary's aggregations);
    :func:`expand_summary` gives the full table back.
    """
    derived = _DECODED[:-1] if info["discrete"] else _DECODED
    return summary.select(*(c for c in summary.columns if c not in derived))


def expand_summary(stored: ir.Table, info: dict[str, Any]) -> ir.Table:
    """The full summary over a :func:`stored_summary` (the same columns, in the same order)."""
    base = ibis.literal(int(info["key_base"]), "int64")
    key = stored.row_key
    # Each division is of an exact multiple of the base below 2**53, so it is exact even as
    # FLOOR(a / b) in floating point, which is how Ibis compiles integer division.
    t_days = key % base
    rest = (key - t_days) // base
    recency_days = rest % base
    freq = (rest - recency_days) // base
    unit = 1.0 if info["discrete"] else TIME_UNITS[info["unit"]]
    decoded: dict[str, ir.Value] = {
        "frequency": freq.cast("int64"),
        "recency_days": recency_days.cast("int64"),
        "T_days": t_days.cast("int64"),
        "recency": recency_days.cast("float64") / ibis.literal(unit, "float64"),
        "T": t_days.cast("float64") / ibis.literal(unit, "float64"),
    }
    if not info["discrete"]:
        cal = day_number(info["calibration_end"])
        decoded["first_purchase_day"] = (ibis.literal(cal, "int64") - t_days).cast("int64")
    order = ["customer_id", *_DECODED[:-1], "monetary_value", "margin_value", _DECODED[-1]]
    order += [c for c in stored.columns if c not in order and not c.startswith(CHECK_PREFIX)]
    return stored.select(**{c: decoded[c] if c in decoded else stored[c] for c in order})


@dataclass(frozen=True)
class RowSums:
    """Per unique row, sums over its customers (rows of the summary), made by :func:`compress`.

    With ``z`` the mean repeat spend (0 without repeats, and 0 for a repeat buyer whose net
    spend is zero or negative: returns as large as the purchases) and ``m`` the margin per
    repeat purchase: ``rows``; ``spenders``, the rows whose expected spend the spend model
    gives (all but ``nonpositive``, the repeat buyers with net spend <= 0, expected to spend
    nothing); ``sum_z`` over the spenders; customers with their own margin rate (``m`` known and
    ``z > 0``): ``own`` of them, ``own_rate`` = Σ m/z, ``own_m`` = Σ m, ``own_z`` = Σ z;
    ``margins`` customers with ``m`` known and ``sum_m`` = Σ m over them; ``sum_cts`` = Σ
    yearly cost to serve. Expected spend is linear in ``z`` for a given frequency, so these
    give customer equity and its gradient without going back to the customers.
    """

    rows: np.ndarray
    spenders: np.ndarray
    nonpositive: np.ndarray
    sum_z: np.ndarray
    own: np.ndarray
    own_rate: np.ndarray
    own_m: np.ndarray
    own_z: np.ndarray
    margins: np.ndarray
    sum_m: np.ndarray
    sum_cts: np.ndarray


@dataclass(frozen=True)
class Compressed:
    """Unique (frequency, recency_days, T_days) rows with their key and counts, by key."""

    frequency: np.ndarray
    recency_days: np.ndarray
    T_days: np.ndarray
    counts: np.ndarray
    unit_days: float
    #: The summary's ``row_key`` of each unique row (int64, ascending).
    keys: np.ndarray
    #: Sums over each row's customers for customer equity.
    sums: RowSums

    def _in_units(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        u = self.unit_days
        return self.frequency, self.recency_days / u, self.T_days / u, self.counts

    @cached_property
    def rfm(self) -> RFMData:
        """Model input in the summary's time unit."""
        return RFMData.from_arrays(*self._in_units())

    @cached_property
    def periods(self) -> DiscreteData:
        """BG/BB input: the time columns as whole periods (x, t_x, n), every row."""
        return DiscreteData.from_arrays(*self._in_units())

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Index of each given row key among the unique rows (which are sorted by key)."""
        return np.asarray(np.searchsorted(self.keys, keys))


def compress(
    summary: ir.Table, unit_days: float, weights: str | None = None, *, money: bool = True
) -> Compressed:
    """Group the summary into unique rows by ``row_key`` in the engine; only those reach numpy.

    ``weights`` names a column of row weights (customers a row stands for); default 1 each.
    The same pass sums what customer equity needs per unique row (see :class:`RowSums`);
    ``money=False`` leaves those sums at zero (a holdout check grades purchases only).
    """
    t = summary
    money_sums: dict[str, ir.Value] = {}
    if money:
        nonpositive = ((t.frequency > 0) & (t.monetary_value <= 0)).fill_null(False)
        z = ibis.ifelse((t.frequency > 0) & (t.monetary_value > 0), t.monetary_value, 0.0)
        m = t.margin_value
        own = m.notnull() & (t.monetary_value > 0) & (t.frequency > 0)
        money_sums = {
            "spenders": (~nonpositive).sum(),
            "nonpositive": nonpositive.sum(),
            "sum_z": z.sum(),
            "own": own.sum(),
            "own_rate": ibis.ifelse(own, m / t.monetary_value, 0.0).sum(),
            "own_m": ibis.ifelse(own, m, 0.0).sum(),
            "own_z": ibis.ifelse(own, z, 0.0).sum(),
            "margins": m.count(),
            "sum_m": m.sum(),
        }
        if "cost_to_serve" in t.columns:
            money_sums["sum_cts"] = t.cost_to_serve.sum()
    grouped = t.group_by("row_key").aggregate(
        frequency=t.frequency.min(),
        recency_days=t.recency_days.min(),
        T_days=t.T_days.min(),
        n=t[weights].sum() if weights else t.count(),
        rows=t.count(),
        **money_sums,
    )
    arrow = grouped.to_pyarrow()
    if arrow.num_rows == 0:
        raise DataError("No customer has a purchase in the calibration period.")
    keys = np.asarray(arrow.column("row_key").to_numpy(), dtype=np.int64)
    order = np.argsort(keys)  # sorted by key, so that positions() is a binary search

    def col(name: str) -> np.ndarray:
        if name not in arrow.column_names:  # no cost to serve known (or money not summed)
            return np.zeros(len(keys))
        values = arrow.column(name).to_numpy(zero_copy_only=False)
        return np.nan_to_num(np.asarray(values, dtype=np.float64))[order]

    sums = RowSums(**{f.name: col(f.name) for f in fields(RowSums)})
    return Compressed(
        col("frequency"),
        col("recency_days"),
        col("T_days"),
        col("n"),
        unit_days,
        keys[order],
        sums,
    )


def spend_data(summary: ir.Table) -> SpendData:
    """(frequency, mean repeat spend) of repeat customers with positive spend, for Gamma-Gamma."""
    rep = summary.filter((summary.frequency > 0) & (summary.monetary_value > 0))
    grouped = rep.group_by(["frequency", "monetary_value"]).aggregate(n=rep.count()).to_pyarrow()
    x = grouped.column("frequency").to_numpy().astype(float)
    z = grouped.column("monetary_value").to_numpy().astype(float)
    # A fixed row order, so that every engine gives the fit the same sums in the same order.
    order = np.lexsort((z, x))
    return SpendData.from_arrays(
        x[order], z[order], grouped.column("n").to_numpy().astype(float)[order]
    )


def _window(daily: ir.Table, spec: SummarySpec) -> tuple[int, int, int]:
    """First purchase day in the data, calibration end and observation end (day numbers)."""
    row = daily.aggregate(lo=daily.day.min(), hi=daily.day.max()).to_pyarrow().to_pylist()[0]
    if row["lo"] is None:
        raise DataError("The transactions table has no purchases; load transactions first.")
    obs = day_number(spec.observation_end) if spec.observation_end else int(row["hi"])
    cal = day_number(spec.calibration_end) if spec.calibration_end else obs
    return int(row["lo"]), cal, obs


def repeat_purchases_by_period(
    transactions: ir.Table, spec: SummarySpec, period_days: int = 7
) -> tuple[int, np.ndarray]:
    """Repeat purchase days per period since the first purchase in the data (engine counts).

    Only customers whose first purchase falls in calibration are counted, as in the summary.
    Returns ``(start_day, counts)``: ``counts[i]`` is the number of repeat purchase days in
    period ``i`` (days ``start_day + i*period_days`` to ``start_day + (i+1)*period_days − 1``).
    """
    daily = _purchase_day_numbers(transactions)
    start, cal, obs = _window(daily, spec)
    daily = daily.filter(daily.day <= obs)
    first = daily.group_by("customer_id").aggregate(first_day=daily.day.min())
    first = first.filter(first.first_day <= cal)
    joined = daily.inner_join(first, "customer_id")
    repeats = joined.filter(joined.day > joined.first_day)
    period = ((repeats.day - start) // period_days).cast("int64")
    counts = repeats.group_by(period=period).aggregate(n=repeats.count()).to_pyarrow()
    size = (obs - start) // period_days + 1
    out = np.zeros(size)
    idx = counts.column("period").to_numpy()
    out[idx] = counts.column("n").to_numpy()
    return start, out


def first_purchase_cohorts(summary: ir.Table) -> tuple[np.ndarray, np.ndarray]:
    """(first purchase day, number of customers) pairs, from the engine."""
    grouped = summary.group_by("first_purchase_day").aggregate(n=summary.count()).to_pyarrow()
    return (
        np.asarray(grouped.column("first_purchase_day").to_numpy(), dtype=float),
        np.asarray(grouped.column("n").to_numpy(), dtype=float),
    )
