"""Where value runs are kept: ``customer_value``, its dated snapshots and their history.

A scoring run writes one table of its customers, ``customer_value``. The snapshots of every run
(one per date, ``as_of``) are read through the view ``value_snapshots``: the earlier runs' rows,
kept in ``value_snapshot_history``, and the latest tiered run's, read in place from
``customer_value``. When a run replaces ``customer_value``, the replaced run's snapshot columns
are first copied into the history if its date differs (or if the new rows carry no tiers);
scoring a date again replaces that date's snapshot. So the first run and a re-run of the same
date write one table, and a run of a new date also copies the previous run's few snapshot
columns, as a snapshot table did before.

A warehouse written before the view, where ``value_snapshots`` is a table of every snapshot, is
converted on the first write: that table becomes the history, less the rows of
``customer_value``'s own date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import date

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse

__all__ = [
    "HISTORY_TABLE",
    "SNAPSHOTS_TABLE",
    "SNAPSHOT_COLUMNS",
    "VALUE_TABLE",
    "as_date",
    "delete_dated",
    "replace_dated",
    "snapshot_dates",
    "snapshots_table",
    "tiered_run_date",
    "write_value",
]

VALUE_TABLE = "customer_value"
SNAPSHOTS_TABLE = "value_snapshots"
#: The snapshots of earlier runs (``value_snapshots`` adds the latest, from ``customer_value``).
HISTORY_TABLE = "value_snapshot_history"
#: A snapshot's columns beside ``as_of`` and ``customer_id``.
SNAPSHOT_COLUMNS = (
    "clv",
    "clv_low",
    "clv_high",
    "p_alive",
    "expected_purchases",
    "strategic_value",
    "tier",
    "segment",
    "loyalty",
)

Categories = Mapping[str, Sequence[str]]


def snapshot_dates(wh: Warehouse, table: str = SNAPSHOTS_TABLE) -> list[date]:
    """The dates (``as_of``) of the stored snapshots (or of ``table``'s rows), oldest first."""
    if not wh.has_table(table):
        return []
    snaps = wh.table(table)
    rows = snaps.select("as_of").distinct().order_by("as_of").to_pyarrow().column(0).to_pylist()
    return [as_date(d) for d in rows]


def as_date(value: object) -> date:
    """A date the engine returned (a date, or a timestamp or text some engines give)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _delete_sql(name: str, dates: list[date]) -> str:
    """SQL deleting the rows of ``dates`` from ``name``.

    Plain SQL because Ibis has no DELETE; the table name and the dates are Patron's own,
    never user text.
    """
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in dates)
    return f"DELETE FROM {name} WHERE as_of IN ({listed})"


def _other_dates(table: ir.Table, dates: list[date]) -> ir.Table:
    """The rows of ``table`` dated otherwise (where the engine has no DELETE)."""
    return table.filter(~table.as_of.isin([ibis.literal(d) for d in dates]))


def delete_dated(
    wh: Warehouse, name: str, dates: list[date], categories: Categories | None = None
) -> None:
    """Remove the rows of ``dates`` from ``name``: a DELETE, or a rewrite where there is none."""
    if not dates:
        return
    if wh.supports_transactions:
        wh.con.raw_sql(_delete_sql(name, dates))
    else:
        wh.replace_table(name, _other_dates(wh.table(name), dates), categories=categories)


def replace_dated(
    wh: Warehouse,
    name: str,
    rows: ir.Table,
    as_of: date,
    categories: Categories | None = None,
) -> None:
    """Store ``rows`` as the ``as_of`` rows of ``name``, replacing earlier rows of that date."""
    if not wh.has_table(name):
        wh.create_table(name, rows, categories=categories)
        return
    old = wh.table(name)
    rows = rows.cast(old.select(*rows.columns).schema())
    if wh.supports_transactions:
        # Delete that date's rows and append, atomically: cheaper than rewriting every snapshot.
        with wh.transaction():
            wh.con.raw_sql(_delete_sql(name, [as_of]))
            wh.insert(name, rows)
        return
    kept = _other_dates(old, [as_of]).select(*rows.columns)
    wh.replace_table(name, kept.union(rows), categories=categories)


def _tiered(table: ir.Table) -> bool:
    """Whether ``table`` has a snapshot's columns (it was tiered)."""
    return all(c in table.columns for c in ("as_of", "customer_id", *SNAPSHOT_COLUMNS))


def _snapshot_rows(table: ir.Table) -> ir.Table:
    """A snapshot's columns of ``customer_value`` (or of a table shaped like it)."""
    return table.select("as_of", "customer_id", *SNAPSHOT_COLUMNS)


def tiered_run_date(wh: Warehouse) -> date | None:
    """The date of the tiered run ``customer_value`` holds (a snapshot), or None."""
    if not wh.has_table(VALUE_TABLE) or not _tiered(wh.table(VALUE_TABLE)):
        return None
    value = wh.table(VALUE_TABLE).as_of.max().to_pyarrow().as_py()
    return None if value is None else as_date(value)


def snapshots_table(wh: Warehouse, categories: Categories | None = None) -> str:
    """The table holding the stored snapshots' rows: the history, once there is one.

    A warehouse whose ``value_snapshots`` is a table (written before the view) is converted:
    that table becomes the history, less the rows of the date of the tiered run
    ``customer_value`` holds (read from ``customer_value`` from now on), and the view is made
    over both. Without stored snapshots, ``value_snapshots`` is returned (no table).
    """
    if wh.has_table(HISTORY_TABLE) or not wh.has_table(SNAPSHOTS_TABLE):
        return HISTORY_TABLE if wh.has_table(HISTORY_TABLE) else SNAPSHOTS_TABLE
    current = tiered_run_date(wh)
    wh.rename(SNAPSHOTS_TABLE, HISTORY_TABLE)
    if current is not None:
        delete_dated(wh, HISTORY_TABLE, [current], categories)
    _create_view(wh, current)
    return HISTORY_TABLE


def _create_view(wh: Warehouse, current: date | None) -> None:
    """(Re)make ``value_snapshots``: the history's rows and a tiered ``customer_value``'s.

    ``current`` is the date of the tiered run ``customer_value`` holds (None: untiered or
    absent). Plain SQL, the same on every engine: a union by position of the same columns,
    named by Patron (never user text). The history's rows of ``customer_value``'s own date
    are left out, so that a write cut short (on an engine without transactions) cannot show
    a date twice.
    """
    columns = ", ".join(("as_of", "customer_id", *SNAPSHOT_COLUMNS))
    sql = f"SELECT {columns} FROM {HISTORY_TABLE}"
    if current is not None:
        sql += (
            f" WHERE as_of <> (SELECT MAX(as_of) FROM {VALUE_TABLE})"
            f" UNION ALL SELECT {columns} FROM {VALUE_TABLE}"
        )
    wh.create_view(SNAPSHOTS_TABLE, sql)


def write_value(
    wh: Warehouse, rows: ir.Table, as_of: date, categories: Categories | None = None
) -> None:
    """Write ``rows`` (a run dated ``as_of``) as ``customer_value``, keeping the snapshots whole.

    The new rows are computed into a staging table first (they may read ``customer_value``
    and the snapshots). Then the tiered run ``customer_value`` held goes to the history when
    its date differs or the new rows carry no tiers; a tiered run replaces the history's rows
    of its date; the staging table takes ``customer_value``'s name and the view is remade.
    Run it inside :meth:`Warehouse.transaction`.
    """
    stage = wh.scratch_name("stage")
    wh.create_table(stage, rows, categories=categories)
    tiered = _tiered(rows)
    try:
        if snapshots_table(wh, categories) != HISTORY_TABLE and tiered:  # the first snapshot
            empty = _snapshot_rows(wh.table(stage)).limit(0)
            wh.create_table(HISTORY_TABLE, empty, categories=categories)
        current = tiered_run_date(wh)
        if current is not None and (current != as_of or not tiered):
            held = _snapshot_rows(wh.table(VALUE_TABLE))
            replace_dated(wh, HISTORY_TABLE, held, current, categories)
        if tiered and (wh.supports_transactions or as_of in snapshot_dates(wh, HISTORY_TABLE)):
            delete_dated(wh, HISTORY_TABLE, [as_of], categories)  # (a rewrite on Spark)
        wh.drop(SNAPSHOTS_TABLE)  # the view first: some engines refuse to drop what it reads
        wh.drop(VALUE_TABLE)
        wh.rename(stage, VALUE_TABLE)
    except BaseException:
        wh.settle_stage(stage, VALUE_TABLE)
        if not wh.supports_transactions:  # no rollback puts the view back: make it again
            with contextlib.suppress(Exception):
                if wh.has_table(HISTORY_TABLE) and not wh.has_table(SNAPSHOTS_TABLE):
                    _create_view(wh, tiered_run_date(wh))
        raise
    if wh.has_table(HISTORY_TABLE):
        _create_view(wh, as_of if tiered else None)
