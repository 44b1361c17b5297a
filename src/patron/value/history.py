"""Value over time: tiers applied to ``customer_value``, dated snapshots and tier migration.

Every scoring run (and every re-tiering) stores a snapshot of each customer's value and tier
in ``value_snapshots``, dated by the day the data was observed up to (``as_of``, the summary's
observation end), and the run's rules and thresholds in ``value_runs``. Scoring the same
``as_of`` again replaces that snapshot, so snapshots are one per date.

How they are kept (``value_snapshots`` is a view over ``customer_value`` and the history of
earlier runs) is :mod:`patron.value.snapshots`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.value.clv import ValueSettings
from patron.value.snapshots import (
    HISTORY_TABLE,
    SNAPSHOTS_TABLE,
    VALUE_TABLE,
    as_date,
    delete_dated,
    replace_dated,
    snapshot_dates,
    snapshots_table,
    tiered_run_date,
    write_value,
)
from patron.value.tiers import (
    TIER_CATEGORIES,
    TIERS,
    TierRules,
    TierSummary,
    summarise_tiers,
    tier_customers,
)
from patron.value.workflow import (
    NO_COSTS_NOTE,
    VALUE_CATEGORIES,
    FitResult,
    ScoreResult,
    SummarySource,
    score_customers,
)

__all__ = [
    "HISTORY_TABLE",
    "RUNS_TABLE",
    "SEGMENTS_TABLE",
    "SNAPSHOTS_TABLE",
    "VALUE_TABLE",
    "Migration",
    "apply_tiers",
    "latest_run",
    "migration",
    "prune_snapshots",
    "score_into_warehouse",
    "snapshot_dates",
    "snapshot_summary",
    "value_trend",
]

RUNS_TABLE = "value_runs"
SEGMENTS_TABLE = "customer_segments"
#: The string columns of customer_value and its snapshots with a closed set of values.
CATEGORIES = {**VALUE_CATEGORIES, **TIER_CATEGORIES}


def _run_facts(table: ir.Table) -> tuple[date, str, str]:
    """The scored table's date (``as_of``), time unit and model, in one query."""
    if "as_of" not in table.columns:
        raise DataError(
            f"{VALUE_TABLE} has no as_of column; score again with `patron value score`."
        )
    text = ibis.literal("")
    row = (
        table.aggregate(
            as_of=table.as_of.max(),
            unit=table.time_unit.max() if "time_unit" in table.columns else text,
            model=table.model.max() if "model" in table.columns else text,
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    value = row["as_of"]
    if value is None:
        raise DataError(f"{VALUE_TABLE} is empty; run `patron value score` first.")
    return as_date(value), str(row["unit"] or ""), str(row["model"] or "")


def snapshot_summary(wh: Warehouse) -> list[dict[str, Any]]:
    """Per stored snapshot, oldest first: its date, customers, customer equity and MVCs."""
    if not wh.has_table(SNAPSHOTS_TABLE):
        return []
    snaps = wh.table(SNAPSHOTS_TABLE)
    rows = (
        snaps.group_by("as_of")
        .aggregate(
            customers=snaps.count(),
            equity=snaps.clv.sum(),
            mvc=(snaps.tier == "MVC").sum(),
        )
        .order_by("as_of")
        .to_pyarrow()
        .to_pylist()
    )
    return [
        {
            "as_of": str(r["as_of"])[:10],
            "customers": int(r["customers"]),
            "equity": float(r["equity"] or 0.0),
            "mvc": int(r["mvc"] or 0),
        }
        for r in rows
    ]


def prune_snapshots(
    wh: Warehouse,
    *,
    keep_last: int | None = None,
    before: date | None = None,
    dry_run: bool = False,
) -> tuple[list[date], list[date]]:
    """Delete stored snapshots: all but the ``keep_last`` latest and/or those before ``before``.

    The latest snapshot always stays (migration starts from it), and so does the snapshot of
    the run ``customer_value`` holds (usually the latest; after scoring an earlier date, that
    one too: it leaves when a later run replaces ``customer_value``); the run records in
    ``value_runs`` stay too (a few hundred bytes each). Returns the dates removed (or, with
    ``dry_run``, that would be) and the dates kept.
    """
    if keep_last is None and before is None:
        raise UsageError("Say which snapshots to remove: --keep-last N and/or --before DATE.")
    if keep_last is not None and keep_last < 1:
        raise UsageError(f"--keep-last {keep_last} must be 1 or more (the latest always stays).")
    dates = snapshot_dates(wh)
    drop = set(dates[:-keep_last]) if keep_last is not None else set()
    if before is not None:
        drop |= {d for d in dates if d < before}
    drop -= set(dates[-1:])
    drop.discard(tiered_run_date(wh))  # customer_value's own: it goes when a new run replaces it
    removed = sorted(drop)
    if removed and not dry_run:
        with wh.transaction():
            delete_dated(wh, snapshots_table(wh, CATEGORIES), removed, CATEGORIES)
    return removed, [d for d in dates if d not in drop]


#: Business customers' judged potential (written by ``patron b2b``); read by name, since the
#: domains meet in the warehouse.
B2B_POTENTIAL_TABLE = "b2b_potential"
B2B_NOTE = (
    "The strategic value of the business customers rated with `patron b2b` is their judged "
    "potential: the potential score times the room to the whole wallet (or their CLV)."
)


def apply_tiers(
    wh: Warehouse,
    rules: TierRules | None = None,
    scored: ir.Table | None = None,
    *,
    score: dict[str, Any] | None = None,
) -> TierSummary:
    """Tier the scored customers, write ``customer_value`` and store the dated snapshot.

    ``scored`` is a freshly scored table (from :func:`score_customers` with
    ``write=None``; it is read several times, so pass a materialised one); without it the
    existing ``customer_value`` table is re-tiered (new rules, or segments found since).
    Needs segments come from ``customer_segments`` and share of wallet from ``customers``
    when those exist; the previous snapshot (the latest
    one dated before this one) gives "value growing". ``score`` (the scoring result, e.g.
    the equity interval) is stored with the run; re-tiering keeps the stored one.
    """
    if scored is not None:
        table = scored
    elif wh.has_table(VALUE_TABLE):
        table = wh.table(VALUE_TABLE)
    else:
        raise DataError(f"No {VALUE_TABLE} table; run `patron value score` first.")
    as_of, unit, model = _run_facts(table)
    previous = None
    earlier = [d for d in snapshot_dates(wh) if d < as_of]
    if earlier:
        snaps = wh.table(SNAPSHOTS_TABLE)
        previous = snaps.filter(snaps.as_of == ibis.literal(earlier[-1]))
    if score is None:
        score = latest_run(wh, as_of).get("score")
    summary = tier_customers(
        table,
        rules,
        segments=wh.table(SEGMENTS_TABLE) if wh.has_table(SEGMENTS_TABLE) else None,
        customers=people.customers(wh),
        previous=previous,
        costs_known=_costs_known(table, score),
        potential=wh.table(B2B_POTENTIAL_TABLE) if wh.has_table(B2B_POTENTIAL_TABLE) else None,
    )
    summary.thresholds.time_unit = unit
    if score is not None:
        summary.dropout_identified = bool(score.get("model", {}).get("dropout_identified", True))
        summary.notes = list(score.get("notes", []))
        check = score.get("check")
        if check:
            summary.grade = check.get("grade")
            summary.notes.insert(0, str(check.get("sentence", "")))
    if not summary.bz_identified and NO_COSTS_NOTE not in summary.notes:
        summary.notes.append(NO_COSTS_NOTE)
    if wh.has_table(B2B_POTENTIAL_TABLE):
        summary.notes.append(B2B_NOTE)
    # customer_value, its snapshot and the run record change together, or not at all
    # (one transaction where the engine has them).
    with wh.transaction():
        write_value(wh, summary.table, as_of, CATEGORIES)
        stored = wh.table(VALUE_TABLE)
        summary.table = stored
        summarise_tiers(summary, stored)
        details = summary.to_dict()
        if score is not None:
            details["score"] = score
        run = ibis.memtable(
            {
                "as_of": [as_of],
                "recorded_at": [datetime.now(UTC).replace(tzinfo=None)],
                "model": [model],
                "details": [json.dumps(details, sort_keys=True, default=str)],
            }
        )
        replace_dated(wh, RUNS_TABLE, run, as_of)
    return summary


def _costs_known(table: ir.Table, score: dict[str, Any] | None) -> bool:
    """Whether the scored CLVs carry a cost: as the scoring run stored it, else from the data.

    A run scored before this was recorded counts as costed when any customer has a cost to
    serve.
    """
    if score is not None and isinstance(score.get("costs"), dict):
        return bool(score["costs"].get("known"))
    if "cost_to_serve_yearly" not in table.columns:
        return False
    costed = table.aggregate(k=(table.cost_to_serve_yearly > 0).any()).to_pyarrow()
    return bool(costed.column("k")[0].as_py())


def latest_run(wh: Warehouse, as_of: date | None = None) -> dict[str, Any]:
    """The stored details of the run dated ``as_of`` (default: the latest), or ``{}``."""
    if not wh.has_table(RUNS_TABLE):
        return {}
    runs = wh.table(RUNS_TABLE)
    if as_of is not None:
        runs = runs.filter(runs.as_of == ibis.literal(as_of))
    rows = runs.order_by(ibis.desc("as_of")).limit(1).to_pyarrow().to_pylist()
    if not rows:
        return {}
    details: dict[str, Any] = json.loads(rows[0]["details"])
    details["as_of"] = str(rows[0]["as_of"])[:10]
    details["model"] = rows[0]["model"]
    return details


@dataclass
class Migration:
    """Customers moving between tiers from one snapshot to another."""

    from_date: date
    to_date: date
    #: counts[from_tier][to_tier]; "new" rows are customers first seen in the later snapshot,
    #: "gone" columns customers absent from it.
    counts: dict[str, dict[str, int]]

    @property
    def labels_from(self) -> list[str]:
        """Row labels in display order."""
        return [t for t in (*TIERS, "new") if t in self.counts]

    @property
    def labels_to(self) -> list[str]:
        """Column labels in display order."""
        seen = {k for row in self.counts.values() for k in row}
        return [t for t in (*TIERS, "gone") if t in seen]

    def moved(self, a: str, b: str) -> int:
        """How many customers went from tier ``a`` to tier ``b``."""
        return self.counts.get(a, {}).get(b, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "from": self.from_date.isoformat(),
            "to": self.to_date.isoformat(),
            "counts": self.counts,
            "highlights": {
                "MGC to MVC": self.moved("MGC", "MVC"),
                "MVC to MGC or other": self.moved("MVC", "MGC") + self.moved("MVC", "other"),
                "fell to BZ": sum(self.moved(t, "BZ") for t in TIERS if t != "BZ"),
                "left BZ": sum(self.moved("BZ", t) for t in TIERS if t != "BZ"),
            },
        }


def migration(
    wh: Warehouse, from_date: date | None = None, to_date: date | None = None
) -> Migration:
    """The tier migration matrix between two snapshots (default: the latest two)."""
    dates = snapshot_dates(wh)
    if len(dates) < 2 and (from_date is None or to_date is None):
        raise UsageError(
            f"Tier migration needs two snapshots; found {len(dates)}. Score again with a later "
            "--observation-end (each scoring run stores one snapshot per date)."
        )
    a_date = from_date or dates[-2]
    b_date = to_date or dates[-1]
    for d in (a_date, b_date):
        if d not in dates:
            known = ", ".join(x.isoformat() for x in dates) or "none"
            raise UsageError(f"No snapshot dated {d}; stored snapshots: {known}.")
    snaps = wh.table(SNAPSHOTS_TABLE)
    a = snaps.filter(snaps.as_of == ibis.literal(a_date)).select(_a=snaps.customer_id, f=snaps.tier)
    b = snaps.filter(snaps.as_of == ibis.literal(b_date)).select(_b=snaps.customer_id, t=snaps.tier)
    j = a.outer_join(b, a._a == b._b)
    rows = (
        j.group_by(f=ibis.coalesce(j.f, "new"), t=ibis.coalesce(j.t, "gone"))
        .aggregate(n=j.count())
        .to_pyarrow()
        .to_pylist()
    )
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(str(r["f"]), {})[str(r["t"])] = int(r["n"])
    return Migration(a_date, b_date, counts)


def value_trend(wh: Warehouse, customer_id: str) -> list[dict[str, Any]]:
    """One customer's value and tier in every snapshot, oldest first."""
    if not wh.has_table(SNAPSHOTS_TABLE):
        return []
    snaps = wh.table(SNAPSHOTS_TABLE)
    rows = (
        snaps.filter(snaps.customer_id == customer_id)
        .order_by("as_of")
        .select("as_of", "clv", "clv_low", "clv_high", "p_alive", "tier", "segment")
        .to_pyarrow()
        .to_pylist()
    )
    out: list[dict[str, Any]] = []
    for r in rows:
        out.append({**r, "as_of": str(r["as_of"])[:10]})
    return out


def score_into_warehouse(
    source: SummarySource,
    fit: FitResult,
    settings: ValueSettings,
    rules: TierRules | None = None,
    *,
    check: dict[str, Any] | None = None,
) -> tuple[ScoreResult, TierSummary]:
    """Score every customer, tier them, write ``customer_value`` and store the snapshot.

    ``check`` (the model's holdout check, ``ModelCheck.to_dict()``) is stored with the run,
    so that ``tiers`` and the report show the model's grade.
    """
    result, scored = score_customers(source, fit, settings, write=None, check=check)
    summary = apply_tiers(source.warehouse, rules, scored, score=result.to_dict())
    result.table = VALUE_TABLE
    return result, summary
