"""Loading into an engine that reads no files (PostgreSQL): check locally, copy the good rows.

:func:`patron.data.loader.load` comes here when the warehouse takes ``COPY ... FROM STDIN``
(:attr:`Warehouse.copy_connection`), with the same guarantees as a DuckDB load:

1. Every file is read, typed and checked in a throwaway DuckDB in a temporary folder, by the
   same code as a DuckDB load: rows rejected by reason with their first lines, ``strict``,
   a file whose every row is rejected fails, nothing written yet.
2. One transaction on the warehouse: the table and the ledger are made if absent, the rows
   of earlier loads a ``replace`` replaces are deleted, attribute columns added, and each
   file's good rows streamed in by ``COPY`` in batches (Arrow renders each batch of the local
   query as CSV; the table never passes through Python rows); keyed tables (customers,
   products, identities) go through a temporary table and replace the rows with the same
   key. Each file's ledger row is written in the same transaction and the rows copied are
   checked against the count the local check found. Any failure rolls everything back: the
   warehouse is left exactly as it was.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv

from patron.data.contracts import Contract
from patron.data.loader import (
    LEDGER,
    LEDGER_SCHEMA,
    LOAD_ID,
    LoadOptions,
    _check,
    _Context,
    _engine_error,
    _ensure_table,
    _ledger_entry,
    _nothing_loaded,
    _reading,
    _rows_to_write,
    _Staged,
    _strict,
    table_schema,
)
from patron.data.warehouse import Warehouse, connect
from patron.errors import PatronError, WarehouseError, first_line

__all__ = ["BATCH_ROWS", "load_by_copy"]

#: Rows per batch streamed from the local check into ``COPY`` (about 10 MB of CSV).
BATCH_ROWS = 100_000


def load_by_copy(
    wh: Warehouse, contract: Contract, options: LoadOptions, staged: Sequence[_Staged]
) -> None:
    """Check ``staged`` files locally and copy their good rows into ``wh`` in one transaction.

    Parameters
    ----------
    wh
        A warehouse with a :attr:`~patron.data.warehouse.Warehouse.copy_connection`.
    contract
        The target table's contract.
    options
        The load's options (their date window already fixed).
    staged
        The files to load (those not skipped by the ledger); their reports are filled in.

    Raises
    ------
    DataError
        As a DuckDB load: a file all rejected, any rejection when ``strict``, an unreadable
        file. Nothing is written.
    WarehouseError
        The warehouse refused the write; nothing is written.
    """
    conn = wh.copy_connection
    if conn is None:  # pragma: no cover - the loader asks first
        raise WarehouseError(f"The warehouse {wh.url or wh.backend} does not take COPY.")
    with (
        tempfile.TemporaryDirectory(prefix="patron-stage-") as folder,
        connect(f"duckdb://{Path(folder) / 'stage.duckdb'}") as local,
        local.scratch() as created,
    ):
        ctx = _Context(local, contract, options, created)
        for item in staged:
            with _reading(item.src):
                _check(ctx, item)
        reports = [item.report for item in staged]
        if options.strict:
            _strict(reports)
        _nothing_loaded(reports)
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            with conn.transaction():
                _write(wh, conn, ctx, staged, now)
        except PatronError:
            raise
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "psycopg":
                raise
            raise WarehouseError(
                f"The warehouse {wh.url or wh.backend} refused the load into "
                f"{contract.table} ({first_line(exc)}); nothing was loaded."
            ) from exc


def _write(
    wh: Warehouse, conn: Any, ctx: _Context, staged: Sequence[_Staged], when: datetime
) -> None:
    """Everything the load writes; the caller holds the transaction."""
    from psycopg import sql

    contract = ctx.contract
    target = contract.table
    _ensure_table(wh, target, table_schema(contract))
    _ensure_table(wh, LEDGER, LEDGER_SCHEMA)
    with conn.cursor() as cur:
        replaced = [lid for item in staged for lid in item.replaces]
        if replaced:
            for table, column in ((target, LOAD_ID), (LEDGER, "load_id")):
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                        sql.Identifier(table), sql.Identifier(column)
                    ),
                    [replaced],
                )
        for item in staged:
            rows, extras = _rows_to_write(ctx, item)
            for name in extras:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} TEXT").format(
                        sql.Identifier(target), sql.Identifier(name)
                    )
                )
            have = set(wh.con.table(target).columns)
            rows = rows.select(*[c for c in rows.columns if c in have])
            if contract.key:
                copied = _upsert(cur, item, target, list(contract.key), rows)
            else:
                copied = _copy(cur, item, target, rows)
            if copied != item.report.rows_loaded:
                raise WarehouseError(
                    f"{item.src.path}: {copied:,} row(s) copied into {target} where the check "
                    f"found {item.report.rows_loaded:,}; nothing was loaded. This is a bug in "
                    "Patron; please report it."
                )
            entry = _ledger_entry(item, when)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(LEDGER),
                    sql.SQL(", ").join(map(sql.Identifier, entry)),
                    sql.SQL(", ").join(sql.Placeholder() * len(entry)),
                ),
                list(entry.values()),
            )


def _upsert(cur: Any, item: _Staged, target: str, key: list[str], rows: ir.Table) -> int:
    """Copy a keyed table's rows into a temporary table, then replace the rows by key."""
    from psycopg import sql

    name = f"_patron_copy_{item.load_id[:12]}"
    stage = sql.Identifier(name)
    cur.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP").format(
            stage, sql.Identifier(target)
        )
    )
    copied = _copy(cur, item, name, rows)
    same = sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in key)
    cur.execute(
        sql.SQL("DELETE FROM {} AS t USING {} AS s WHERE {}").format(
            sql.Identifier(target), stage, same
        )
    )
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(sql.Identifier(target), stage))
    return copied


def _copy(cur: Any, item: _Staged, table: str, rows: ir.Table) -> int:
    """Stream ``rows`` (a local DuckDB query) into ``table`` by ``COPY``; the rows copied."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, rows.columns))
    )
    copied = 0
    with cur.copy(statement) as copy:
        try:
            batches = rows.to_pyarrow_batches(chunk_size=BATCH_ROWS)
        except Exception as exc:
            raise _engine_error(item.src, exc) from exc
        for batch in batches:
            _send(copy, batch)
            copied += batch.num_rows
    return copied


def _send(copy: Any, batch: pa.RecordBatch) -> None:
    """One batch as CSV into an open ``COPY`` (an empty field is NULL, ``""`` empty text)."""
    buffer = io.BytesIO()
    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
    copy.write(buffer.getbuffer())
