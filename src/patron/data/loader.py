"""``patron load``: files into warehouse tables, validated, atomically and idempotently.

How a load works
----------------
1. Every file is inspected (one streaming pass: content hash, strict text decoding, delimiter
   and header sniffed from a small sample).
2. A file whose content hash is already in the ledger table ``_patron_loads`` for that table is
   skipped: loading the same data twice never doubles it, whatever the file is called. A file
   whose *name* was loaded before with other content is refused unless ``replace`` is set, in
   which case the rows of the earlier load are replaced.
3. Each file is scanned by the engine into a staging table with typed contract columns, a
   rejection reason per row and its line number. Counts by reason come from the engine.
4. Only when every file has been staged (and ``strict`` found no rejection) are the rows
   written, together with their ledger entries, in one transaction where the engine has them.
   A failure before the commit leaves the warehouse exactly as it was.

Customers and products are keyed: a later load updates a customer (the last line of a file
wins). Transactions are appended; each row carries the ``_load_id`` of its ledger entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from patron.data.contracts import CONTRACTS, Column, Contract, contract_for, normalise_name
from patron.data.dates import guess_format, parse_timestamp
from patron.data.expressions import as_number, compile_expression, resolve_column
from patron.data.sources import SourceFile, expand_paths, inspect_file, read_raw
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError

__all__ = [
    "LEDGER",
    "FileReport",
    "LoadOptions",
    "LoadReport",
    "Rejection",
    "load",
    "parse_mappings",
    "table_schema",
]

LEDGER = "_patron_loads"
LOAD_ID = "_load_id"
FIRST_LINES = 5
UNIT_PRICE_NAMES = ("unitprice", "price", "itemprice", "listprice")
_TRUE = ("true", "t", "yes", "y", "1")

LEDGER_SCHEMA = ibis.schema(
    {
        "load_id": "string",
        "table_name": "string",
        "source": "string",
        "file_name": "string",
        "content_hash": "string",
        "rows_read": "int64",
        "rows_loaded": "int64",
        "rows_rejected": "int64",
        "loaded_at": "timestamp",
    }
)


@dataclass(frozen=True)
class LoadOptions:
    """How to read and map the files of one load."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    date_format: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    encoding: str = "utf-8"
    strict: bool = False
    replace: bool = False
    return_if: str | None = None


@dataclass
class Rejection:
    """Rows rejected for one reason, with the first offending line numbers."""

    reason: str
    count: int
    first_lines: list[int]


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    status: str  # "loaded", "replaced" or "skipped"
    rows_read: int = 0
    rows_loaded: int = 0
    returns: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    message: str = ""

    @property
    def rows_rejected(self) -> int:
        """Rows not loaded because of a rejection."""
        return sum(r.count for r in self.rejections)


@dataclass
class LoadReport:
    """What a load did, file by file."""

    table: str
    files: list[FileReport]

    @property
    def rows_read(self) -> int:
        """Data rows read over all files."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        """Rows written over all files."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected over all files."""
        return sum(f.rows_rejected for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "table": self.table,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "files": [{**asdict(f), "rows_rejected": f.rows_rejected} for f in self.files],
        }


def parse_mappings(items: Sequence[str], table: str) -> dict[str, str]:
    """Parse repeated ``target=source`` options; the target must be a contract column."""
    contract = contract_for(table)
    mapping: dict[str, str] = {}
    for item in items:
        target, sep, source = item.partition("=")
        target = target.strip()
        if not sep or not target or not source.strip():
            raise UsageError(f"--map {item!r} must look like target=source, e.g. amount=Sales.")
        if target not in contract.names:
            raise UsageError(
                f"--map {item!r}: {target!r} is not a column of {table}; "
                f"use one of: {', '.join(contract.names)}."
            )
        mapping[target] = source.strip()
    return mapping


def table_schema(contract: Contract) -> ibis.Schema:
    """The warehouse schema of a contract table (plus the load id)."""
    return ibis.schema({**{c.name: c.dtype for c in contract.columns}, LOAD_ID: "string"})


def _known_names() -> set[str]:
    names: set[str] = set()
    for contract in CONTRACTS.values():
        for col in contract.columns:
            names.add(normalise_name(col.name))
            names.update(col.synonyms)
    names.update(UNIT_PRICE_NAMES)
    return names


def _find_source(raw: ir.Table, col: Column) -> str | None:
    found = resolve_column(raw, col.name)
    if found is not None:
        return found
    for syn in col.synonyms:
        found = resolve_column(raw, syn)
        if found is not None:
            return found
    return None


def _blank_to_null(value: ir.Value) -> ir.Value:
    if isinstance(value, ir.StringValue):
        stripped = value.strip()
        return stripped.nullif("")
    return value


class _Typer:
    """Builds typed contract columns and a rejection reason for one raw table."""

    def __init__(self, raw: ir.Table, contract: Contract, options: LoadOptions, src: SourceFile):
        self.raw = raw
        self.contract = contract
        self.options = options
        self.src = src
        self.values: dict[str, ir.Value] = {}
        self.reasons: list[tuple[ir.BooleanValue, str]] = []

    def source_expr(self, col: Column) -> ir.Value | None:
        if col.name in self.options.mapping:
            return compile_expression(
                self.options.mapping[col.name], self.raw, what=f"--map {col.name}="
            )
        name = _find_source(self.raw, col)
        if name is not None:
            return self.raw[name]
        if col.name == "amount" and self.contract.table == "transactions":
            qty = self.values.get("quantity")
            price = next(
                (p for n in UNIT_PRICE_NAMES if (p := resolve_column(self.raw, n)) is not None),
                None,
            )
            if qty is not None and price is not None:
                return as_number(self.raw[price]) * qty
        return None

    def missing_required(self, col: Column) -> DataError:
        found = ", ".join(c for c in self.raw.columns if not c.startswith("_"))
        hint = ""
        if len(self.raw.columns) <= 2 and self.src.kind == "csv":
            hint = " Only one column was found: is the delimiter right (--delimiter)?"
        elif not self.src.header and self.src.kind != "parquet":
            hint = " The file has no header line, so columns are named column1, column2, ..."
        return DataError(
            f"{self.src.path}: no column for required field {col.name!r} of "
            f"{self.contract.table}; the file has: {found}.{hint} Name the source with "
            f"--map {col.name}=COLUMN (or an expression, e.g. --map amount=Quantity*UnitPrice)."
        )

    def build(self) -> ir.Table:
        order = ["quantity"] + [c.name for c in self.contract.columns if c.name != "quantity"]
        for name in order:
            if name not in self.contract.names:
                continue
            col = self.contract.column(name)
            if col.name == "is_return":
                continue
            source = self.source_expr(col)
            if source is None:
                if col.required:
                    raise self.missing_required(col)
                self.values[col.name] = ibis.null(col.dtype)
                continue
            self.values[col.name] = self.convert(col, source)
        if "is_return" in self.contract.names:
            self.values["is_return"] = self.returns()
        reason = ibis.cases(*self.reasons, else_=ibis.null("string")) if self.reasons else None
        return self.raw.select(
            **{c: self.values[c] for c in self.contract.names},
            _line=self.raw._line,
            _reason=reason if reason is not None else ibis.null("string"),
        )

    def convert(self, col: Column, source: ir.Value) -> ir.Value:
        present = _blank_to_null(source).notnull()
        if col.dtype == "string":
            value = _blank_to_null(source.cast("string"))
        elif col.dtype == "float64":
            if source.type().is_numeric():
                value = source.cast("float64")
            elif source.type().is_string():
                value = source.strip().re_replace(r"^[$£€]", "").try_cast("float64")
            else:
                raise UsageError(
                    f"{self.src.path}: {col.name} must be numeric, got {source.type()}."
                )
            self.reasons.append((present & value.isnull(), f"non-numeric {col.name}"))
        elif col.dtype == "timestamp":
            value = self.timestamp(col, source)
            self.reasons.append((present & value.isnull(), f"unparseable {col.name}"))
        elif col.dtype == "boolean":
            value = source.cast("string").strip().lower().isin(_TRUE)
        else:  # pragma: no cover - contracts use the types above
            raise AssertionError(col.dtype)
        if col.required:
            self.reasons.insert(
                sum(1 for _, r in self.reasons if r.startswith("missing ")),
                (~present, f"missing {col.name}"),
            )
        return value

    def timestamp(self, col: Column, source: ir.Value) -> ir.Value:
        typ = source.type()
        if typ.is_timestamp():
            return source.cast(dt.Timestamp())
        if typ.is_date():
            return source.cast("timestamp")
        fmt = self.options.date_format
        if fmt is None:
            sample = (
                self.raw.select(v=_blank_to_null(source.cast("string")))
                .filter(lambda t: t.v.notnull())
                .limit(500)
                .to_pyarrow()
                .column("v")
                .to_pylist()
            )
            fmt = guess_format([str(v) for v in sample], column=col.name)
        return parse_timestamp(source, fmt)

    def returns(self) -> ir.BooleanValue:
        flag: ir.BooleanValue = ibis.literal(False)
        col = self.contract.column("is_return")
        source = self.source_expr(col)
        if source is not None:
            flag = source.cast("string").strip().lower().isin(_TRUE)
        for name in ("amount", "quantity"):
            if name in self.values:
                flag = flag | (self.values[name] < 0).fill_null(False)
        if self.options.return_if:
            rule = compile_expression(
                self.options.return_if, self.raw, what="--return-if", aliases=self.values
            )
            flag = flag | rule.fill_null(False)
        return flag


@dataclass
class _Staged:
    src: SourceFile
    report: FileReport
    table: str  # the staging table
    target: str
    load_id: str
    replaces: list[str]


def _ledger(wh: Warehouse) -> ir.Table | None:
    return wh.con.table(LEDGER) if wh.has_table(LEDGER) else None


def _previous_loads(wh: Warehouse, table: str) -> list[dict[str, Any]]:
    ledger = _ledger(wh)
    if ledger is None:
        return []
    rows = ledger.filter(ledger.table_name == table).to_pyarrow().to_pylist()
    return list(rows)


def _stage(
    wh: Warehouse,
    contract: Contract,
    src: SourceFile,
    options: LoadOptions,
    created: list[str],
) -> tuple[str, FileReport]:
    raw = read_raw(wh, src, created)
    typed = _Typer(raw, contract, options, src).build()
    name = wh.scratch_name("staged")
    try:
        staged = wh.create_table(name, typed)
    except DataError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{src.path}: the engine could not read the file ({text}). Check the delimiter "
            "(--delimiter), the header (--header/--no-header) and the encoding (--encoding)."
        ) from exc
    created.append(name)
    counts = (
        staged.group_by("_reason")
        .aggregate(
            n=staged.count(),
            returns=staged.is_return.sum() if "is_return" in staged.columns else ibis.literal(0),
        )
        .to_pyarrow()
        .to_pylist()
    )
    report = FileReport(path=str(src.path), status="loaded")
    for row in counts:
        report.rows_read += int(row["n"])
        if row["_reason"] is None:
            report.rows_loaded = int(row["n"])
            report.returns = int(row["returns"] or 0)
    rejected = sorted((r for r in counts if r["_reason"] is not None), key=lambda r: -int(r["n"]))
    for row in rejected:
        lines = (
            staged.filter(staged._reason == row["_reason"])
            .order_by("_line")
            .limit(FIRST_LINES)
            ._line.to_pyarrow()
            .to_pylist()
        )
        report.rejections.append(Rejection(str(row["_reason"]), int(row["n"]), lines))
    if report.rows_read == 0:
        raise DataError(f"{src.path}: file has no data rows; nothing to load.")
    return name, report


def _ensure_table(wh: Warehouse, name: str, schema: ibis.Schema) -> None:
    if not wh.has_table(name):
        wh.con.create_table(name, schema=schema)


def _write(wh: Warehouse, contract: Contract, staged: list[_Staged]) -> None:
    target = contract.table
    columns = [*contract.names, LOAD_ID]
    now = datetime.now(UTC).replace(tzinfo=None)
    with wh.transaction():
        _ensure_table(wh, target, table_schema(contract))
        _ensure_table(wh, LEDGER, LEDGER_SCHEMA)
        replaced = [lid for s in staged for lid in s.replaces]
        if replaced:
            current = wh.con.table(target)
            wh.replace_table(target, current.filter(~current[LOAD_ID].isin(replaced)))
            ledger = wh.con.table(LEDGER)
            wh.replace_table(LEDGER, ledger.filter(~ledger.load_id.isin(replaced)))
        for item in staged:
            rows = wh.con.table(item.table)
            good = rows.filter(rows._reason.isnull()).mutate(
                **{LOAD_ID: ibis.literal(item.load_id)}
            )
            if contract.key:
                key = list(contract.key)
                latest = ibis.row_number().over(group_by=key, order_by=ibis.desc("_line"))
                good = good.mutate(_rank=latest).filter(lambda t: t._rank == 0)
                current = wh.con.table(target)
                kept = current.anti_join(good.select(*key), key).select(*columns)
                wh.replace_table(target, kept.union(good.select(*columns)))
            else:
                wh.insert(target, good.select(*columns))
            _record(wh, item, now)


def _record(wh: Warehouse, item: _Staged, when: datetime) -> None:
    """Write one ledger row (the commit record of a file's load)."""
    entry = ibis.memtable(
        {
            "load_id": [item.load_id],
            "table_name": [item.target],
            "source": [str(item.src.path.resolve())],
            "file_name": [item.src.path.name],
            "content_hash": [item.src.content_hash],
            "rows_read": [item.report.rows_read],
            "rows_loaded": [item.report.rows_loaded],
            "rows_rejected": [item.report.rows_rejected],
            "loaded_at": [when],
        },
        schema=LEDGER_SCHEMA,
    )
    wh.insert(LEDGER, entry)


def load(
    wh: Warehouse,
    table: str,
    paths: Sequence[str],
    options: LoadOptions | None = None,
) -> LoadReport:
    """Load files into ``table`` (``transactions``, ``customers`` or ``products``).

    Parameters
    ----------
    wh
        The warehouse.
    table
        The target table.
    paths
        Files, folders or glob patterns (CSV, whitespace-separated text or Parquet).
    options
        Mapping, date format, strictness, ... (see :class:`LoadOptions`).

    Returns
    -------
    LoadReport
        Per file: rows read, loaded, rejected by reason with first line numbers, returns.

    Raises
    ------
    DataError
        For unreadable or invalid input, or any rejection when ``strict``; nothing is written.
    """
    options = options or LoadOptions()
    contract = contract_for(table)
    files = expand_paths(paths)
    previous = _previous_loads(wh, table)
    by_hash = {r["content_hash"]: r for r in previous}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in previous:
        by_name.setdefault(r["file_name"], []).append(r)
    known = _known_names()
    reports: list[FileReport] = []
    staged: list[_Staged] = []
    seen_hashes: set[str] = set()
    with wh.scratch() as created:
        for path in files:
            src = inspect_file(
                path,
                encoding=options.encoding,
                delimiter=options.delimiter,
                header=options.header,
                known_names=known,
            )
            earlier = by_hash.get(src.content_hash)
            if src.content_hash in seen_hashes or (earlier and not options.replace):
                when = f" on {earlier['loaded_at']:%Y-%m-%d %H:%M}" if earlier else ""
                what = f" as {earlier['file_name']}" if earlier else " in this command"
                reports.append(
                    FileReport(
                        str(path),
                        "skipped",
                        message=f"same content already loaded{what}{when}; skipped "
                        "(use --replace to load it again)",
                    )
                )
                continue
            seen_hashes.add(src.content_hash)
            replaces = [r["load_id"] for r in by_name.get(path.name, [])]
            if earlier and earlier["load_id"] not in replaces:
                replaces.append(earlier["load_id"])
            if replaces and not options.replace and not contract.key:
                raise DataError(
                    f"{path}: a file named {path.name!r} was loaded into {table} before with "
                    "other content. Pass --replace to replace the rows of that earlier load, "
                    "or give the file another name if it holds new data."
                )
            name, report = _stage(wh, contract, src, options, created)
            if replaces and options.replace:
                report.status = "replaced"
            reports.append(report)
            load_id = uuid.uuid4().hex
            kept = replaces if options.replace else []
            staged.append(_Staged(src, report, name, table, load_id, kept))
        if options.strict:
            bad = [r for r in reports if r.rejections]
            if bad:
                first = bad[0].rejections[0]
                raise DataError(
                    f"{bad[0].path}: {bad[0].rows_rejected} row(s) rejected under --strict "
                    f"({first.count} {first.reason}, first at line {first.first_lines[0]}); "
                    "nothing was loaded. Fix the file or load without --strict."
                )
        if staged:
            _write(wh, contract, staged)
    return LoadReport(table, reports)
