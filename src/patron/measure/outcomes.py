"""Per-customer outcomes of an experiment, computed in the engine from the transactions."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import ibis
import ibis.expr.types as ir

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError, first_line
from patron.measure.analysis import AnalysisResult, analyze_table
from patron.measure.experiments import (
    ASSIGNMENTS_TABLE,
    Experiment,
    audience_table,
    load_experiment,
)

__all__ = [
    "OUTCOME_METRICS",
    "analyze_experiment",
    "experiment_outcomes",
    "experiment_table",
    "read_outcome_file",
]

#: Metrics available from the transactions (per customer, in the window).
OUTCOME_METRICS = ("conversion", "revenue", "margin", "orders")


def experiment_outcomes(wh: Warehouse, exp: Experiment) -> tuple[ir.Table, date, date]:
    """Per-customer outcomes of an experiment's customers, and the window used.

    Columns: ``customer_id, arm, stratum``, each metric in the window, and ``pre_<metric>`` in
    the window of the same length just before it (for CUPED); customers without purchases
    get 0.

    The window is the experiment's start..end (inclusive; end defaults to the last day with
    transactions).
    """
    if not exp.start:
        raise UsageError(
            f"Experiment {exp.name!r} has no start date: its outcomes need a window; "
            "create it with --start (or analyse an outcome file with --from-file)."
        )
    if not wh.has_table("transactions"):
        raise DataError("No transactions in the warehouse; load them first.")
    tx = people.transactions(wh)
    start = date.fromisoformat(exp.start)
    last = tx.timestamp.max().to_pyarrow().as_py()
    end = date.fromisoformat(exp.end) if exp.end else (last.date() if last else start)
    if end < start or last is None or last.date() < start:
        through = f" (they end on {last.date()})" if last is not None else ""
        raise DataError(
            f"No transactions since the experiment's start {start}{through}; nothing to "
            "analyse yet. Load the transactions of the campaign window, then analyse again."
        )
    length = (end - start).days + 1
    pre_start = start - timedelta(days=length)
    win_start, win_end = ibis.literal(start), ibis.literal(end)
    day0 = tx.timestamp.date()
    rel = tx.filter((day0 >= ibis.literal(pre_start)) & (day0 <= win_end))
    day = rel.timestamp.date()
    in_win = day >= win_start
    in_pre = day < win_start
    buy = ~rel.is_return.fill_null(False)
    order = rel.order_id if "order_id" in rel.columns else day.cast("string")
    cost = rel.cost if "cost" in rel.columns else ibis.null("float64")
    aggs: dict[str, ir.Value] = {}
    for prefix, where in (("", in_win), ("pre_", in_pre)):
        aggs[f"{prefix}revenue"] = rel.amount.sum(where=where)
        aggs[f"{prefix}margin"] = (rel.amount - cost).sum(where=where)
        aggs[f"{prefix}orders"] = order.nunique(where=where & buy)
        aggs[f"{prefix}conversion"] = ibis.ifelse(where & buy, 1, 0).cast("int64").max()
    per = rel.group_by(_c=rel.customer_id).aggregate(**aggs)
    a = wh.table(ASSIGNMENTS_TABLE)
    a = a.filter(a.experiment == exp.name)
    j = a.left_join(per, a.customer_id == per._c)
    cols = {
        name: ibis.coalesce(j[name], 0).cast("float64")
        for name in (*OUTCOME_METRICS, *(f"pre_{m}" for m in OUTCOME_METRICS))
    }
    return j.select("customer_id", "arm", "stratum", **cols), start, end


def read_outcome_file(path: Path) -> ir.Table:
    """A per-customer outcome file (CSV or Parquet) as an engine table (in-memory DuckDB)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    con = ibis.duckdb.connect()
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return con.read_parquet(str(path))
        return con.read_csv(str(path))
    except Exception as exc:
        raise DataError(f"{path}: could not read the file ({first_line(exc)}).") from exc


def analyze_experiment(
    wh: Warehouse, name: str, metrics: list[str], *, pre: str | None = None, alpha: float = 0.05
) -> tuple[AnalysisResult, date, date]:
    """Analyse a stored experiment on outcomes from its transaction window.

    ``pre="period"`` adjusts each metric by its own value in the pre-period (CUPED).
    """
    exp = load_experiment(wh, name)
    unknown = [m for m in metrics if m not in OUTCOME_METRICS]
    if unknown:
        raise UsageError(
            f"--metric {', '.join(unknown)}: from the transactions Patron measures "
            f"{', '.join(OUTCOME_METRICS)}."
        )
    notes: list[str] = []
    tx = wh.table("transactions") if wh.has_table("transactions") else None
    if "margin" in metrics and tx is not None:
        has_cost = "cost" in tx.columns and bool(tx.cost.count().to_pyarrow().as_py())
        if not has_cost:
            metrics = [m for m in metrics if m != "margin"]
            notes.append(
                "margin: no cost data (the transactions have no cost), so margin is not "
                "analysed; load transactions with a cost column."
            )
            if not metrics:
                raise DataError(
                    "margin: no cost data (the transactions have no cost); analyse revenue or "
                    "conversion, or load transactions with a cost column."
                )
    table, start, end = experiment_outcomes(wh, exp)
    pre_of: dict[str, str] | None = None
    if pre == "period":
        pre_of = {m: f"pre_{m}" for m in metrics}
    elif pre:
        pre_of = {m: pre for m in metrics}
    result = analyze_table(
        table,
        arm="arm",
        control=exp.control,
        metrics=metrics,
        pre=pre_of,
        stratum="stratum" if exp.stratify else None,
        shares={a.name: a.share for a in exp.arms},
        alpha=alpha,
    )
    result.notes[:0] = notes
    return result, start, end


def experiment_table(wh: Warehouse, name: str) -> tuple[ir.Table, Experiment]:
    """Outcomes of an experiment's customers beside their attributes (for uplift models).

    Columns: those of :func:`experiment_outcomes` plus every customer attribute of
    :func:`~patron.measure.experiments.audience_table` (customers, value tier, CLV, segment ...).
    """
    exp = load_experiment(wh, name)
    outcomes, _, _ = experiment_outcomes(wh, exp)
    attrs = audience_table(wh)
    extra = [c for c in attrs.columns if c not in outcomes.columns]
    side = attrs.select(_aid=attrs.customer_id.cast("string"), **{c: attrs[c] for c in extra})
    joined = outcomes.left_join(side, outcomes.customer_id == side._aid).drop("_aid")
    return joined, exp
