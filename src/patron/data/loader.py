"""``patron load``: files into warehouse tables, validated, atomically and idempotently.

How a load works
----------------
1. Every file is inspected (one streaming pass: content hash, strict text decoding, delimiter
   and header sniffed from a small sample).
2. A file whose content hash is already in the ledger table ``_patron_loads`` for that table is
   skipped: loading the same data twice never doubles it, whatever the file is called. A file
   whose *name* was loaded before with other content is refused unless ``replace`` is set, in
   which case the rows of the earlier load are replaced.
3. Each file is scanned by the engine into typed contract columns with, for each row, the
   first reason to reject it (missing customer id, unparseable date, non-numeric amount, a
   number or date outside :attr:`LoadOptions.limits`, ...). Columns outside the contract are
   kept as text attributes (added to the table). A file whose every row is rejected fails
   the load.
4. On engines with transactions, the good rows of every file and their ledger entries are
   written in one transaction and then verified with cheap counts (rows read from the file,
   rows loaded from the table); only when rows were rejected is the per-reason breakdown,
   with the first line numbers, computed. ``strict`` or any failure rolls everything back,
   so the warehouse is left exactly as it was. Engines without transactions (Spark) check
   every file first and write only when all are staged.

Customers and products are keyed: a later load updates a customer (the last line of a file
wins). Identities are keyed by (source, record_id) too, but a key twice in one file is refused
(``Contract.unique_key``). Transactions are appended; each row carries the ``_load_id`` of its
ledger entry.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir

from patron.data.contracts import CONTRACTS, Column, Contract, contract_for, normalise_name
from patron.data.dates import guess_format, parse_timestamp
from patron.data.engine import local_time
from patron.data.expressions import (
    as_number,
    compile_expression,
    referenced_names,
    resolve_column,
)
from patron.data.plausible import Limits
from patron.data.sources import SourceFile, expand_paths, inspect_file, read_raw
from patron.data.warehouse import Warehouse
from patron.errors import DataError, PatronError, UsageError, engine_io_error, first_line

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
_FALSE = ("false", "f", "no", "n", "0")

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
    #: The plausible range of numbers and dates; rows outside are rejected with the reason.
    limits: Limits = field(default_factory=Limits)


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
    #: Contract column -> the file's column or expression it was read from.
    mapping: dict[str, str] = field(default_factory=dict)
    #: The file's other columns, kept as text: file column -> stored column.
    attributes: dict[str, str] = field(default_factory=dict)
    #: Keyed tables: good rows that repeated a key already in the file (the last line won).
    merged: int = 0

    def describe(self, typer: _Typer) -> None:
        """Note what the file's columns became."""
        self.mapping = {c: typer.mapping[c] for c in typer.contract.names if c in typer.mapping}
        self.attributes = {column: name for name, column in typer.extras.items()}

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


def _attribute_names(columns: Sequence[str], contract: Contract) -> dict[str, str]:
    """Stored names for a file's columns outside the contract: ``Unit Price`` -> ``unit_price``.

    Lower-case words joined by ``_``; a name a contract column (or the load id) already has,
    or one taken by an earlier column, gets ``attr_`` in front.
    """
    taken = {*contract.names, LOAD_ID}
    out: dict[str, str] = {}
    for column in columns:
        name = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_") or "column"
        if name[0].isdigit() or name in taken:
            name = f"attr_{name}"
        while name in taken:
            name += "_"
        taken.add(name)
        out[name] = column
    return out


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


def _present(value: ir.Value) -> ir.BooleanValue:
    """Whether a source value is there: not null and, for text, not empty."""
    if isinstance(value, ir.StringValue):
        return value.notnull() & (value != "")
    return value.notnull()


def _to_number(value: ir.StringValue) -> ir.FloatingValue:
    """Text to float64; a leading currency sign is dropped only when the plain cast fails."""
    plain = value.try_cast("float64")
    return ibis.coalesce(plain, value.strip().re_replace(r"^[$£€]", "").try_cast("float64"))


@dataclass
class _Staged:
    src: SourceFile
    report: FileReport
    target: str
    load_id: str
    replaces: list[str]
    formats: dict[str, str | None]
    #: File columns not kept as attributes (they vary within one key of a keyed table).
    skip: set[str] = field(default_factory=set)


class _Typer:
    """Builds typed contract columns and a rejection reason for one raw table."""

    def __init__(
        self,
        raw: ir.Table,
        contract: Contract,
        options: LoadOptions,
        src: SourceFile,
        formats: dict[str, str | None],
        skip: set[str] | None = None,
    ):
        self.formats = formats
        self.skip = skip or set()
        self.raw = raw
        self.contract = contract
        self.options = options
        self.src = src
        self.values: dict[str, ir.Value] = {}
        self.flags: dict[str, ir.Value] = {}
        self.present: dict[str, ir.Value] = {}
        self.conversions: list[tuple[str, str]] = []
        #: Contract column -> the file's column or expression it came from.
        self.mapping: dict[str, str] = {}
        #: File columns read into a contract column (by name or in a --map expression).
        self.used: set[str] = set()
        #: Other file columns, kept as text attributes: stored name -> file column.
        self.extras: dict[str, str] = {}

    def source_expr(self, col: Column) -> ir.Value | None:
        if col.name in self.options.mapping:
            text = self.options.mapping[col.name]
            self.mapping[col.name] = text
            for mentioned in referenced_names(text):
                if (found := resolve_column(self.raw, mentioned)) is not None:
                    self.used.add(found)
            return compile_expression(
                self.options.mapping[col.name], self.raw, what=f"--map {col.name}="
            )
        name = _find_source(self.raw, col)
        if name is not None:
            self.mapping[col.name] = name
            self.used.add(name)
            return self.raw[name]
        if col.name == "amount" and self.contract.table == "transactions":
            qty = self.values.get("quantity")
            price = next(
                (p for n in UNIT_PRICE_NAMES if (p := resolve_column(self.raw, n)) is not None),
                None,
            )
            if qty is not None and price is not None:
                self.mapping[col.name] = f"{self.mapping.get('quantity', 'quantity')} * {price}"
                self.used.add(price)
                return as_number(self.raw[price]) * qty
        return None

    def missing_required(self, col: Column) -> DataError:
        found = ", ".join(c for c in self.raw.columns if not c.startswith("_"))
        hint = ""
        if len([c for c in self.raw.columns if not c.startswith("_")]) == 1:
            hint = " Only one column was found: is the delimiter right (--delimiter)?"
        elif not self.src.header and self.src.kind != "parquet":
            hint = " The file has no header line, so columns are named column1, column2, ..."
        return DataError(
            f"{self.src.path}: no column for required field {col.name!r} of "
            f"{self.contract.table}; the file has: {found}.{hint} Name the source with "
            f"--map {col.name}=COLUMN (or an expression, e.g. --map amount=Quantity*UnitPrice)."
            + (
                " A log without amounts: --no-amount counts purchases."
                if col.name == "amount"
                else ""
            )
        )

    def convert_all(self) -> None:
        """Convert every contract column once (raw-based expressions in ``self.values``)."""
        order = ["quantity"] + [c.name for c in self.contract.columns if c.name != "quantity"]
        for name in order:
            if name not in self.contract.names or name == "is_return":
                continue
            col = self.contract.column(name)
            source = self.source_expr(col)
            if source is None:
                if col.required:
                    raise self.missing_required(col)
                self.values[col.name] = ibis.null(col.dtype)
                continue
            self.values[col.name] = self.convert(col, source)
        if "is_return" in self.contract.names:
            source = self.source_expr(self.contract.column("is_return"))
            if source is not None:
                self.flags["_r_source"] = source.cast("string").strip().lower().isin(_TRUE)
            if self.options.return_if:
                rule = compile_expression(
                    self.options.return_if,
                    self.raw,
                    what="--return-if",
                    aliases=self.values,
                    condition=True,
                )
                self.flags["_r_rule"] = rule.fill_null(False)
        self.extras = _attribute_names(
            [
                c
                for c in self.raw.columns
                if not c.startswith("_") and c not in self.used and c not in self.skip
            ],
            self.contract,
        )

    def _finish(self, first: ir.Table, extra: dict[str, ir.Value]) -> ir.Table:
        out: dict[str, ir.Value] = {n: first[n] for n in self.values}
        if "is_return" in self.contract.names:
            flag: ir.BooleanValue = ibis.literal(False)
            for name in ("_r_source", "_r_rule"):
                if name in first.columns:
                    flag = flag | first[name]
            for name in ("amount", "quantity"):
                if name in self.values:
                    flag = flag | (first[name] < 0).fill_null(False)
            out["is_return"] = flag
        out.update({name: first[name] for name in self.extras})
        if "_line" in first.columns:
            out["_line"] = first._line
        out.update(extra)
        names = [*self.contract.names, *(k for k in out if k not in self.contract.names)]
        return first.select(*[out[n].name(n) for n in names])

    def build(self) -> ir.Table:
        """Typed contract columns, ``_reason`` (null for good rows) and ``_line`` if present.

        Two projections: the first converts each source column once (and keeps a "present"
        flag where a conversion can fail); the second derives reasons and returns from the
        converted values, so no conversion is computed twice.
        """
        self.convert_all()
        lines = {"_line": self.raw._line} if "_line" in self.raw.columns else {}
        first = self.raw.select(
            **self.values, **self.flags, **self.present, **self.attributes(), **lines
        )
        reasons = []
        for c in self.contract.columns:
            if c.required:
                flag = f"_p_{c.name}"
                missing = ~first[flag] if flag in first.columns else first[c.name].isnull()
                reasons.append((missing, f"missing {c.name}"))
        for name, label in self.conversions:
            reasons.append((first[f"_p_{name}"] & first[name].isnull(), f"{label} {name}"))
        reasons.extend(self.implausible(first))
        reason = ibis.cases(*reasons, else_=ibis.null("string")) if reasons else None
        return self._finish(
            first, {"_reason": reason if reason is not None else ibis.null("string")}
        )

    def build_good(self) -> ir.Table:
        """Only the rows :meth:`build` gives no reason, computed without the reasons.

        A row is good when every required column converted to a value and every optional
        column that was present converted too. Used for the write pass, where computing all
        reasons would cost a full evaluation of every condition.
        """
        self.convert_all()
        lines = {"_line": self.raw._line} if "_line" in self.raw.columns else {}
        optional = {
            k: v for k, v in self.present.items() if not self.contract.column(k[3:]).required
        }
        first = self.raw.select(
            **self.values, **self.flags, **optional, **self.attributes(), **lines
        )
        good: ir.BooleanValue = ibis.literal(True)
        for c in self.contract.columns:
            if c.required:
                good = good & first[c.name].notnull()
        for name, _ in self.conversions:
            if f"_p_{name}" in optional:
                good = good & (first[name].notnull() | ~first[f"_p_{name}"])
        limits = self.options.limits
        for name in self.checked():
            value = first[name]
            ok = limits.date_ok(value) if value.type().is_timestamp() else limits.number_ok(value)
            good = good & ok
        return self._finish(first.filter(good), {})

    def attributes(self) -> dict[str, ir.Value]:
        """The file's other columns as text, under their stored names."""
        out: dict[str, ir.Value] = {}
        for name, column in self.extras.items():
            value = self.raw[column].cast("string")
            out[name] = value.strip().nullif("") if self.src.kind != "parquet" else value
        return out

    def checked(self) -> list[str]:
        """Numbers and timestamps that came from the file (checked against the limits)."""
        return [
            c.name
            for c in self.contract.columns
            if c.dtype in ("float64", "timestamp")
            and c.name in self.values
            and not isinstance(self.values[c.name].op(), ops.Literal)
        ]

    def implausible(self, first: ir.Table) -> list[tuple[ir.Value, str]]:
        """Reasons for values outside :attr:`LoadOptions.limits` (non-finite, huge, odd dates)."""
        limits = self.options.limits
        out: list[tuple[ir.Value, str]] = []
        for name in self.checked():
            value = first[name]
            if value.type().is_timestamp():
                out.append(limits.date_reason(value, name))
            else:
                out.extend(limits.number_reason(value, name))
        return out

    def convert(self, col: Column, source: ir.Value) -> ir.Value:
        """The source converted to the column's type; notes where conversion can fail."""
        can_fail = False
        label = ""
        if col.dtype == "string":
            value = source.cast("string")
            if self.src.kind != "parquet" and col.name in (*self.contract.key, "customer_id"):
                value = value.strip()
            value = value.nullif("")
        elif col.dtype == "float64":
            if source.type().is_numeric() or source.type().is_boolean():
                value = source.cast("float64")
            elif source.type().is_string():
                value = _to_number(source)
                if col.flag:  # a yes/no flag in text counts as 1/0
                    word = source.strip().lower()
                    value = ibis.cases(
                        (word.isin(_TRUE), 1.0), (word.isin(_FALSE), 0.0), else_=value
                    )
                can_fail = True
            else:
                raise UsageError(
                    f"{self.src.path}: {col.name} must be numeric, got {source.type()}."
                )
            label = "non-numeric"
        elif col.dtype == "timestamp":
            value = self.timestamp(col, source)
            can_fail = not (source.type().is_timestamp() or source.type().is_date())
            label = "unparseable"
        else:  # pragma: no cover - contracts use the types above
            raise AssertionError(col.dtype)
        if can_fail:
            self.present[f"_p_{col.name}"] = _present(source)
            self.conversions.append((col.name, label))
        return value

    def timestamp(self, col: Column, source: ir.Value) -> ir.Value:
        typ = source.type()
        if typ.is_timestamp():
            zone = self.src.zones.get(source.get_name()) if self.src.zones else None
            if zone is not None and zone.upper() not in ("UTC", "Z", "+00:00", "ETC/UTC"):
                return local_time(source, zone)  # the local wall-clock time, as text keeps
            return source.cast(dt.Timestamp())
        if typ.is_date():
            return source.cast("timestamp")
        fmt = self.options.date_format
        if fmt is None and col.name in self.formats:
            fmt = self.formats[col.name]
        elif fmt is None:
            sample = (
                self.raw.select(v=source.cast("string").strip().nullif(""))
                .filter(lambda t: t.v.notnull())
                .limit(500)
                .to_pyarrow()
                .column("v")
                .to_pylist()
            )
            fmt = guess_format([str(v) for v in sample], column=col.name)
            self.formats[col.name] = fmt
        return parse_timestamp(source, fmt)


def _ledger(wh: Warehouse) -> ir.Table | None:
    return wh.con.table(LEDGER) if wh.has_table(LEDGER) else None


def _previous_loads(wh: Warehouse, table: str) -> list[dict[str, Any]]:
    ledger = _ledger(wh)
    if ledger is None:
        return []
    rows = ledger.filter(ledger.table_name == table).to_pyarrow().to_pylist()
    return list(rows)


class _Context:
    """What every step of one load shares."""

    def __init__(self, wh: Warehouse, contract: Contract, options: LoadOptions, created: list[str]):
        self.wh = wh
        self.contract = contract
        self.options = options
        self.created = created

    def typer(self, item: _Staged, *, with_lines: bool) -> _Typer:
        raw = read_raw(self.wh, item.src, self.created, with_lines=with_lines)
        return _Typer(raw, self.contract, self.options, item.src, item.formats, item.skip)

    def count_read(self, item: _Staged) -> int:
        raw = read_raw(self.wh, item.src, self.created)
        try:
            return int(raw.count().to_pyarrow().as_py())
        except Exception as exc:
            raise _engine_error(item.src, exc) from exc


_RAGGED = re.compile(r"CSV Error on Line: (\d+)")
_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _engine_error(src: SourceFile, exc: Exception) -> Exception:
    """What to raise for an engine's error while reading ``src``.

    Its own I/O errors (a full disk) become :class:`OSError`; a row with the wrong number of
    fields a :class:`DataError` naming the line; anything else a :class:`DataError` quoting
    the engine's first line.
    """
    io = engine_io_error(exc)
    if io is not None:
        return io
    text = str(exc)
    line, fields = _RAGGED.search(text), _FIELDS.search(text)
    if line and fields:
        want, got = fields.groups()
        return DataError(
            f"{src.path}, line {line.group(1)}: {got} field(s) where the header has {want}. "
            "Quote values that contain the delimiter, or fix the row; check the delimiter "
            "(--delimiter)."
        )
    return DataError(
        f"{src.path}: the engine could not read the file ({first_line(exc)}). Check the "
        "delimiter (--delimiter), the header (--header/--no-header) and the encoding "
        "(--encoding)."
    )


@contextlib.contextmanager
def _reading(src: SourceFile) -> Iterator[None]:
    """Turn an engine's error while reading ``src`` into a message naming the file."""
    try:
        yield
    except PatronError:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0].lstrip("_") not in _ENGINE_MODULES:
            raise
        raise _engine_error(src, exc) from exc


#: Where engines' own exception classes live (anything else is a bug, not the file).
_ENGINE_MODULES = frozenset({"duckdb", "pyspark", "py4j", "psycopg", "psycopg2"})


def _check(ctx: _Context, item: _Staged) -> None:
    """Fill ``item.report``: rows by rejection reason (one engine pass), first bad lines."""
    typer = ctx.typer(item, with_lines=False)
    typed = typer.build()
    item.report.describe(typer)
    returns = typed.is_return.sum() if "is_return" in typed.columns else ibis.literal(0)
    try:
        counts = (
            typed.group_by("_reason")
            .aggregate(n=typed.count(), returns=returns)
            .to_pyarrow()
            .to_pylist()
        )
    except Exception as exc:
        raise _engine_error(item.src, exc) from exc
    report = item.report
    report.rows_read = report.rows_loaded = report.returns = 0
    report.rejections = []
    for row in counts:
        report.rows_read += int(row["n"])
        if row["_reason"] is None:
            report.rows_loaded = int(row["n"])
            report.returns = int(row["returns"] or 0)
    if report.rows_read == 0:
        raise DataError(f"{item.src.path}: file has no data rows; nothing to load.")
    if ctx.contract.key and report.rows_loaded:
        # A keyed table gets one row per key: rows repeating a key are merged (last wins).
        good = typed.filter(typed._reason.isnull()).select(*ctx.contract.key).distinct()
        keys = int(good.count().to_pyarrow().as_py())
        report.merged = report.rows_loaded - keys
        report.rows_loaded = keys
        if report.merged and typer.extras:
            _skip_varying(ctx, item, typer, typed)
    rejected = sorted(  # most frequent first; ties by reason, so the report is stable
        (r for r in counts if r["_reason"] is not None), key=lambda r: (-int(r["n"]), r["_reason"])
    )
    if rejected:
        numbered = ctx.typer(item, with_lines=True).build()
        for row in rejected:
            lines = (
                numbered.filter(numbered._reason == row["_reason"])
                .order_by("_line")
                .limit(FIRST_LINES)
                ._line.to_pyarrow()
                .to_pylist()
            )
            report.rejections.append(Rejection(str(row["_reason"]), int(row["n"]), lines))


def _skip_varying(ctx: _Context, item: _Staged, typer: _Typer, typed: ir.Table) -> None:
    """Keep as attributes of a keyed table only the columns constant within each key.

    A transaction log loaded as customers has an invoice number per row; kept, the last
    line's would pass for a fact about the customer.
    """
    key = list(ctx.contract.key)
    good = typed.filter(typed._reason.isnull())
    per = good.group_by(key).aggregate(**{n: good[n].nunique() for n in typer.extras})
    most = per.aggregate(**{n: per[n].max() for n in typer.extras}).to_pyarrow().to_pylist()[0]
    varying = [column for name, column in typer.extras.items() if (most[name] or 0) > 1]
    if not varying:
        return
    item.skip.update(varying)
    item.report.attributes = {c: n for c, n in item.report.attributes.items() if c not in item.skip}
    item.report.message = (
        f"not kept as attributes, as they vary within one {'/'.join(key)}: {', '.join(varying)}"
    )


def _ensure_table(wh: Warehouse, name: str, schema: ibis.Schema) -> None:
    if not wh.has_table(name):
        wh.con.create_table(name, schema=schema)


def _add_attributes(wh: Warehouse, item: _Staged, names: Sequence[str]) -> ibis.Schema:
    """Add text columns for a file's attributes the table lacks; the table's schema after.

    An engine that cannot add columns keeps the contract's columns only, and the report
    says which attributes were not kept.
    """
    target = item.target
    have = set(wh.con.table(target).columns)
    lost = []
    for name in names:
        if name in have:
            continue
        for ddl in (  # standard SQL (DuckDB, PostgreSQL), then Spark's
            f'ALTER TABLE {target} ADD COLUMN "{name}" VARCHAR',
            f"ALTER TABLE {target} ADD COLUMNS (`{name}` STRING)",
        ):
            try:
                wh.con.raw_sql(ddl)
                break
            except Exception:
                continue
        else:
            lost.append(name)
    if lost:
        item.report.message = (
            f"attribute column(s) {', '.join(lost)} not kept: the engine cannot add columns"
        )
    return wh.con.table(target).schema()


def _conform(rows: ir.Table, schema: ibis.Schema) -> ir.Table:
    """``rows`` with exactly the table's columns (nulls for attributes the file lacks)."""
    return rows.select(
        *[
            (rows[n] if n in rows.columns else ibis.null(t)).cast(t).name(n)
            for n, t in schema.items()
        ]
    )


def _strict(reports: Sequence[FileReport]) -> None:
    bad = [r for r in reports if r.rejections]
    if bad:
        first = bad[0].rejections[0]
        raise DataError(
            f"{bad[0].path}: {bad[0].rows_rejected} row(s) rejected under --strict "
            f"({first.count} {first.reason}, first at line {first.first_lines[0]}); "
            "nothing was loaded. Fix the file or load without --strict."
        )


def _nothing_loaded(reports: Sequence[FileReport]) -> None:
    """Refuse a load in which some file had rows but every one of them was rejected."""
    for r in reports:
        if r.rows_read and not r.rows_loaded and r.rejections:
            first = r.rejections[0]
            raise DataError(
                f"{r.path}: all {r.rows_read:,} row(s) were rejected ({first.count:,} "
                f"{first.reason}, first at line {first.first_lines[0]}); nothing was loaded. "
                "Check the column mapping (--map), the date format (--date-format) and the "
                "values."
            )


def _write_file(ctx: _Context, item: _Staged, *, verify: bool) -> None:
    """Write one file's good rows (appending, or upserting by key).

    With ``verify``, the rows are written first and counted afterwards: rows read come from
    a cheap count of the file, rows loaded and returns from the target table; the full
    per-reason check runs only when some rows were rejected. Only used inside a transaction.
    """
    wh, contract = ctx.wh, ctx.contract
    target = contract.table
    rows, extras = _rows_to_write(ctx, item)
    schema = _add_attributes(wh, item, extras)
    if contract.key:
        key = list(contract.key)
        current = wh.con.table(target)
        if int(current.count().to_pyarrow().as_py()) == 0:
            # Nothing to replace (a first load): append, sparing the engine the anti-join.
            wh.insert(target, _conform(rows, schema))
            return
        kept = _conform(current.anti_join(rows.select(*key), key), schema)
        wh.replace_table(target, kept.union(_conform(rows, schema)))
        return
    try:
        wh.insert(target, _conform(rows, schema))
    except Exception as exc:
        raise _engine_error(item.src, exc) from exc
    if not verify:
        return
    table = wh.con.table(target)
    mine = table.filter(table[LOAD_ID] == item.load_id)
    got = mine.aggregate(n=mine.count(), returns=mine.is_return.sum()).to_pyarrow().to_pylist()[0]
    report = item.report
    report.rows_read = ctx.count_read(item)
    report.rows_loaded = int(got["n"])
    report.returns = int(got["returns"] or 0)
    if report.rows_read == 0:
        raise DataError(f"{item.src.path}: file has no data rows; nothing to load.")
    if report.rows_read != report.rows_loaded:
        _check(ctx, item)


def _rows_to_write(ctx: _Context, item: _Staged) -> tuple[ir.Table, list[str]]:
    """One file's good rows as they are written, and the attribute columns they carry.

    Each row carries the ``_load_id`` of its ledger entry. A keyed table gets one row per key
    (the last line wins); a file repeating a key a unique-keyed table holds once is refused.
    """
    contract = ctx.contract
    typer = ctx.typer(item, with_lines=bool(contract.key))
    rows = typer.build_good().mutate(**{LOAD_ID: ibis.literal(item.load_id)})
    item.report.describe(typer)
    if contract.key:
        key = list(contract.key)
        if contract.unique_key:
            # Refused unless every key is on one line: no need to pick the latest line.
            _refuse_repeated_keys(item, rows, key)
            return rows, list(typer.extras)
        latest = ibis.row_number().over(group_by=key, order_by=ibis.desc("_line"))
        rows = rows.mutate(_rank=latest).filter(lambda t: t._rank == 0)
    return rows, list(typer.extras)


def _refuse_repeated_keys(item: _Staged, rows: ir.Table, key: list[str]) -> None:
    """Refuse a file in which a key (e.g. source and record_id) is on more than one line."""
    repeats = rows.mutate(_n=ibis._.count().over(group_by=key)).filter(ibis._._n > 1)
    lines = repeats.order_by("_line").limit(FIRST_LINES)._line.to_pyarrow().to_pylist()
    if not lines:
        return
    total = int(repeats.count().to_pyarrow().as_py())
    shown = ", ".join(str(n) for n in lines) + (", ..." if total > len(lines) else "")
    raise DataError(
        f"{item.src.path}: {total} row(s) share their ({', '.join(key)}) with another row of "
        f"the file (lines {shown}); each record must appear once. Nothing was loaded: remove "
        "or merge the repeated rows and load again."
    )


def _write(ctx: _Context, staged: list[_Staged], *, verify: bool) -> None:
    """Write every file and its ledger row, in one transaction where the engine has them."""
    wh, contract = ctx.wh, ctx.contract
    target = contract.table
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
            with _reading(item.src):
                _write_file(ctx, item, verify=verify)
            _record(wh, item, now)
        if verify and ctx.options.strict:
            _strict([item.report for item in staged])
        if verify:
            _nothing_loaded([item.report for item in staged])


def _record(wh: Warehouse, item: _Staged, when: datetime) -> None:
    """Write one ledger row (the commit record of a file's load)."""
    entry = ibis.memtable(
        {name: [value] for name, value in _ledger_entry(item, when).items()}, schema=LEDGER_SCHEMA
    )
    wh.insert(LEDGER, entry)


def _ledger_entry(item: _Staged, when: datetime) -> dict[str, Any]:
    """A file's ledger row, by :data:`LEDGER_SCHEMA`'s columns."""
    return {
        "load_id": item.load_id,
        "table_name": item.target,
        "source": str(item.src.path.resolve()),
        "file_name": item.src.path.name,
        "content_hash": item.src.content_hash,
        "rows_read": item.report.rows_read,
        "rows_loaded": item.report.rows_loaded,
        "rows_rejected": item.report.rows_rejected,
        "loaded_at": when,
    }


def load(
    wh: Warehouse,
    table: str,
    paths: Sequence[str],
    options: LoadOptions | None = None,
) -> LoadReport:
    """Load files into ``table`` (``transactions``, ``customers``, ``products``, ``identities``).

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
    # The date window is fixed once, so every pass of this load applies the same one.
    options = replace(options, limits=replace(options.limits, latest=options.limits.latest_at()))
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
        report = FileReport(str(path), "replaced" if replaces and options.replace else "loaded")
        reports.append(report)
        kept = replaces if options.replace else []
        staged.append(_Staged(src, report, table, uuid.uuid4().hex, kept, {}))
    if not staged:
        return LoadReport(table, reports)
    if wh.copy_connection is not None:
        # An engine that reads no files but takes COPY (PostgreSQL): check and stage in a
        # local DuckDB, then copy the good rows in with the ledger, in one transaction.
        from patron.data.staging import load_by_copy

        load_by_copy(wh, contract, options, staged)
        return LoadReport(table, reports)
    # Transactional engines write first and verify inside the transaction (one pass over
    # the data when nothing is rejected); others check every file before writing anything.
    verify = wh.supports_transactions and not contract.key
    with wh.scratch() as created:
        ctx = _Context(wh, contract, options, created)
        if not verify:
            for item in staged:
                with _reading(item.src):
                    _check(ctx, item)
            if options.strict:
                _strict(reports)
            _nothing_loaded(reports)
        _write(ctx, staged, verify=verify)
    return LoadReport(table, reports)
