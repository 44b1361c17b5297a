"""``patron load responses``: survey responses into the warehouse, checked whole.

A responses file has one row per answered questionnaire: who answered (``customer_id``,
optional for anonymous market surveys), the ``wave`` (a date or a label such as ``2025-Q1``;
waves are ordered by their text, so use ISO dates or sortable labels), the ``brand`` rated
(ours, or a competitor's name; which one is ours is the ``ours`` setting, default ``ours``,
compared without regard to case), the ``overall`` rating, one ``rating_<attribute>`` column per
attribute, optionally ``importance_<attribute>`` (stated importance), ``nps`` (0–10, likelihood
to recommend) and ``segment``.

Storage (why long, not wide)
----------------------------
The attribute columns are dynamic: each survey names its own attributes, and a later wave
may add or drop one. Two tables keep that without altering a table per file:

- ``responses``: one row per response (``response_id``, ``customer_id``, ``wave``,
  ``brand``, ``is_ours``, ``overall``, ``nps``, ``segment``, ``scale_low``, ``scale_high``,
  ``_load_id``);
- ``response_ratings``: one row per response and attribute (``response_id``, ``attribute``,
  ``rating``, ``importance``) — the long form every analysis aggregates with one
  ``group_by(attribute)``, and which a regression pivots back for the rows it needs.

The rating scale
----------------
Declared, not guessed: ``scale`` (default 1–5) applies to ``overall``, every
``rating_<attribute>`` and every ``importance_<attribute>``; NPS is always 0–10. A guessed
scale would turn a typo (a 55 for a 5) into a 1–55 survey; a declared one refuses it. The
scale is stored with every response, so analyses (top-2-box) know it.

Checks (nothing is written when any fails)
------------------------------------------
Unlike transactions, where a bad row is dropped and counted, a survey row that is off the
scale means the file was read wrongly, so *any* bad row refuses the whole file with its line
numbers and the field: a value that is not a number, a rating outside the scale, an attribute
rated without an overall rating, a row with no rating at all, a missing wave or brand, an
importance for an attribute that has no rating column, a wave with a single response (no
spread, no interval), and a file in which our brand is never rated. Loads are idempotent and
atomic like every other load (the ``_patron_loads`` ledger, one transaction).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

from patron.data.expressions import resolve_column
from patron.data.loader import (
    LEDGER,
    LEDGER_SCHEMA,
    FileReport,
    LoadReport,
    _engine_error,
    _reading,
)
from patron.data.sources import SourceFile, expand_paths, inspect_file, read_raw
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError

__all__ = [
    "RATINGS_TABLE",
    "RESPONSES_TABLE",
    "RESPONSE_FIELDS",
    "Scale",
    "load_responses",
    "parse_scale",
]

RESPONSES_TABLE = "responses"
RATINGS_TABLE = "response_ratings"
FIRST_LINES = 5
NPS_LOW, NPS_HIGH = 0.0, 10.0

#: The fixed fields of a responses file and the column names they may come under.
RESPONSE_FIELDS: dict[str, tuple[str, ...]] = {
    "customer_id": ("customerid", "custid", "customer", "clientid", "userid"),
    "wave": ("wave", "surveywave", "survey", "period", "round"),
    "brand": ("brand", "company", "supplier", "competitor", "ratedbrand"),
    "overall": ("overall", "overallrating", "overallsatisfaction", "satisfaction", "csat"),
    "nps": ("nps", "recommend", "likelihoodtorecommend", "npsscore"),
    "segment": ("segment", "customersegment"),
}
_RATING = re.compile(r"^rating[_\s.-]*(.+)$", re.IGNORECASE)
_IMPORTANCE = re.compile(r"^importance[_\s.-]*(.+)$", re.IGNORECASE)

RESPONSES_SCHEMA = ibis.schema(
    {
        "response_id": "string",
        "customer_id": "string",
        "wave": "string",
        "brand": "string",
        "is_ours": "boolean",
        "overall": "float64",
        "nps": "float64",
        "segment": "string",
        "scale_low": "float64",
        "scale_high": "float64",
        "_load_id": "string",
    }
)
RATINGS_SCHEMA = ibis.schema(
    {
        "response_id": "string",
        "attribute": "string",
        "rating": "float64",
        "importance": "float64",
        "_load_id": "string",
    }
)


@dataclass(frozen=True)
class Scale:
    """The rating scale of ``overall``, attribute ratings and stated importance (inclusive)."""

    low: float = 1.0
    high: float = 5.0

    def __post_init__(self) -> None:
        if not (self.high - self.low >= 2):
            raise UsageError(
                f"--scale {self.low:g}-{self.high:g}: the top must be at least 2 above the "
                "bottom (e.g. 1-5, 1-7, 0-10)."
            )

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g}"


def parse_scale(text: str) -> Scale:
    """``"1-5"`` → ``Scale(1, 5)``; a :class:`UsageError` naming ``--scale`` otherwise."""
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:-|–|\.\.|to)\s*(-?\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise UsageError(f"--scale {text!r} must look like LOW-HIGH, e.g. 1-5 or 0-10.")
    return Scale(float(match.group(1)), float(match.group(2)))


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass
class _Layout:
    """Which file column holds which field and attribute."""

    fields: dict[str, str]
    ratings: dict[str, str]  # attribute -> file column
    importances: dict[str, str]


def _layout(src: SourceFile, raw: ir.Table, mapping: Mapping[str, str]) -> _Layout:
    fields: dict[str, str] = {}
    for name, synonyms in RESPONSE_FIELDS.items():
        if name in mapping:
            found = resolve_column(raw, mapping[name])
            if found is None:
                raise UsageError(
                    f"--map {name}={mapping[name]}: {src.path} has no column "
                    f"{mapping[name]!r}; it has: {', '.join(_columns(raw))}."
                )
            fields[name] = found
            continue
        for candidate in (name, *synonyms):
            found = resolve_column(raw, candidate)
            if found is not None:
                fields[name] = found
                break
    ratings: dict[str, str] = {}
    importances: dict[str, str] = {}
    for column in _columns(raw):
        for pattern, into in ((_RATING, ratings), (_IMPORTANCE, importances)):
            match = pattern.match(column)
            if match and (attribute := _snake(match.group(1))):
                if attribute in into:
                    raise DataError(
                        f"{src.path}: columns {into[attribute]!r} and {column!r} both name "
                        f"attribute {attribute!r}; keep one."
                    )
                into[attribute] = column
    for name in ("wave", "brand"):
        if name not in fields:
            raise DataError(
                f"{src.path}: no column for required field {name!r} of responses; the file "
                f"has: {', '.join(_columns(raw))}. Name it with --map {name}=COLUMN."
            )
    if "overall" not in fields and "nps" not in fields:
        raise DataError(
            f"{src.path}: no 'overall' rating and no 'nps' column; a response needs at least "
            "one of them (attribute ratings are rating_<attribute> columns)."
        )
    unrated = sorted(set(importances) - set(ratings))
    if unrated:
        raise DataError(
            f"{src.path}: field importance_{unrated[0]} has no rating_{unrated[0]} column; "
            "stated importance is asked about the attributes that are rated. Add the ratings "
            "or drop the column."
        )
    return _Layout(fields, ratings, importances)


def _columns(raw: ir.Table) -> list[str]:
    return [str(c) for c in raw.columns if not str(c).startswith("_")]


def _number(raw: ir.Table, column: str) -> tuple[ir.FloatingValue, ir.BooleanValue]:
    value = raw[column]
    if value.type().is_numeric():
        return value.cast("float64"), value.notnull()
    text = value.cast("string").strip()
    present = text.notnull() & (text != "")
    return text.try_cast("float64"), present


def _typed(raw: ir.Table, layout: _Layout, scale: Scale) -> tuple[ir.Table, list[str]]:
    """Typed columns plus ``_reason`` (null for a good row); the number fields checked."""
    values: dict[str, ir.Value] = {"_line": raw._line}
    reasons: list[tuple[ir.BooleanValue, ir.StringValue]] = []

    def text(name: str) -> ir.StringValue:
        if name not in layout.fields:
            return ibis.null("string")
        return raw[layout.fields[name]].cast("string").strip().nullif("")

    for name in ("customer_id", "wave", "brand", "segment"):
        values[name] = text(name)
    for name in ("wave", "brand"):
        reasons.append((text(name).isnull(), ibis.literal(f"missing {name}")))

    def checked(field: str, column: str, low: float, high: float) -> ir.FloatingValue:
        number, present = _number(raw, column)
        shown = raw[column].cast("string")
        reasons.append(
            (present & number.isnull(), ibis.literal(f"{field} is not a number: ") + shown)
        )
        reasons.append(
            (
                number.notnull() & ((number < low) | (number > high) | number.isnan()),
                ibis.literal(f"{field} is outside the scale {low:g}-{high:g}: ") + shown,
            )
        )
        return number

    overall = (
        checked("overall", layout.fields["overall"], scale.low, scale.high)
        if "overall" in layout.fields
        else ibis.null("float64")
    )
    nps = (
        checked("nps", layout.fields["nps"], NPS_LOW, NPS_HIGH)
        if "nps" in layout.fields
        else ibis.null("float64")
    )
    values["overall"], values["nps"] = overall, nps
    rated: ir.BooleanValue = ibis.literal(False)
    for attribute, column in layout.ratings.items():
        rating = checked(f"rating_{attribute}", column, scale.low, scale.high)
        values[f"r__{attribute}"] = rating
        rated = rated | rating.notnull()
    for attribute, column in layout.importances.items():
        values[f"i__{attribute}"] = checked(
            f"importance_{attribute}", column, scale.low, scale.high
        )
    reasons.append(
        (
            rated & overall.isnull(),
            ibis.literal("attribute(s) rated without an overall rating"),
        )
    )
    reasons.append(
        (
            ~rated & overall.isnull() & nps.isnull(),
            ibis.literal("no rating at all (overall, attributes and nps are empty)"),
        )
    )
    reason = ibis.cases(*reasons, else_=ibis.null("string"))
    return raw.select(**values, _reason=reason), list(values)


def _refuse_bad_rows(src: SourceFile, typed: ir.Table) -> int:
    """Raise naming the first bad lines and their reasons; else the number of rows."""
    counts = typed.aggregate(n=typed.count(), bad=typed._reason.notnull().sum())
    got = counts.to_pyarrow().to_pylist()[0]
    n, bad = int(got["n"]), int(got["bad"] or 0)
    if n == 0:
        raise DataError(f"{src.path}: file has no data rows; nothing to load.")
    if bad:
        first = (
            typed.filter(typed._reason.notnull())
            .order_by("_line")
            .limit(FIRST_LINES)
            .select("_line", "_reason")
            .to_pyarrow()
            .to_pylist()
        )
        shown = "; ".join(f"line {r['_line']}: {r['_reason']}" for r in first)
        more = f" (and {bad - len(first)} more)" if bad > len(first) else ""
        raise DataError(
            f"{src.path}: {bad} of {n} response(s) are invalid — {shown}{more}. Nothing was "
            "loaded: fix the file (or the scale, --scale LOW-HIGH) and load it again."
        )
    return n


def _refuse_small_waves(src: SourceFile, typed: ir.Table) -> None:
    per = typed.group_by("wave").aggregate(n=typed.count(), line=typed._line.min())
    small = per.filter(per.n < 2).order_by("line").limit(FIRST_LINES).to_pyarrow().to_pylist()
    if small:
        shown = ", ".join(f"{r['wave']!r} (line {r['line']})" for r in small)
        raise DataError(
            f"{src.path}: wave {shown} has a single response; a wave needs at least two "
            "respondents to give a spread and an interval. Nothing was loaded: check the wave "
            "labels (a typo makes a wave of one) or drop the row."
        )


def _refuse_without_ours(src: SourceFile, typed: ir.Table, ours: str) -> None:
    mine = typed.filter(typed.brand.lower() == ours.strip().lower())
    if int(mine.count().to_pyarrow().as_py()) == 0:
        brands = (
            typed.select("brand").distinct().order_by("brand").limit(10).to_pyarrow().to_pylist()
        )
        names = ", ".join(str(r["brand"]) for r in brands)
        raise DataError(
            f"{src.path}: no response rates our brand {ours!r} (field brand); the brands "
            f"rated are: {names}. Name ours with --ours NAME."
        )


def _previous(wh: Warehouse) -> list[dict[str, object]]:
    if not wh.has_table(LEDGER):
        return []
    ledger = wh.table(LEDGER)
    return list(ledger.filter(ledger.table_name == RESPONSES_TABLE).to_pyarrow().to_pylist())


def load_responses(
    wh: Warehouse,
    paths: Sequence[str],
    *,
    ours: str = "ours",
    scale: Scale | None = None,
    mapping: Mapping[str, str] | None = None,
    replace: bool = False,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> LoadReport:
    """Load survey response files into ``responses`` and ``response_ratings``.

    Parameters
    ----------
    wh
        The warehouse.
    paths
        Files, folders or glob patterns (CSV or Parquet).
    ours
        The brand name that is ours (case-insensitive); other brands are competitors.
    scale
        The rating scale of overall, attribute ratings and importance (default 1–5).
    mapping
        ``field -> file column`` for the fixed fields (``wave``, ``brand``, ``overall``, ...).
    replace
        Replace the rows of an earlier load of a file with the same name.
    encoding, delimiter
        How to read text files (sniffed when not given).

    Returns
    -------
    LoadReport
        Per file: responses read and loaded, the fields found and the attributes.

    Raises
    ------
    DataError
        For any invalid response (see the module docstring); nothing is written.
    """
    scale = scale or Scale()
    if not ours.strip():
        raise UsageError("--ours must name our brand, e.g. --ours Acme.")
    mapping = dict(mapping or {})
    for name in mapping:
        if name not in RESPONSE_FIELDS:
            raise UsageError(
                f"--map {name}=...: {name!r} is not a field of responses; use one of: "
                f"{', '.join(RESPONSE_FIELDS)} (attributes are rating_<attribute> columns)."
            )
    previous = _previous(wh)
    by_hash = {str(r["content_hash"]): r for r in previous}
    known = {s for syns in RESPONSE_FIELDS.values() for s in syns} | {"rating", "importance"}
    reports: list[FileReport] = []
    todo: list[tuple[SourceFile, FileReport, list[str]]] = []
    seen: set[str] = set()
    for path in expand_paths(paths):
        src = inspect_file(
            path, encoding=encoding, delimiter=delimiter, header=True, known_names=known
        )
        earlier = by_hash.get(src.content_hash)
        if src.content_hash in seen or (earlier and not replace):
            reports.append(
                FileReport(str(path), "skipped", message="same content already loaded; skipped")
            )
            continue
        seen.add(src.content_hash)
        replaces = [str(r["load_id"]) for r in previous if r["file_name"] == path.name]
        if replaces and not replace:
            raise DataError(
                f"{path}: a file named {path.name!r} was loaded into responses before with "
                "other content. Pass --replace to replace that earlier load, or give the "
                "file another name if it holds a new wave."
            )
        report = FileReport(str(path), "replaced" if replaces else "loaded")
        reports.append(report)
        todo.append((src, report, replaces))
    if not todo:
        return LoadReport(RESPONSES_TABLE, reports)
    now = datetime.now(UTC).replace(tzinfo=None)
    with wh.scratch() as created:
        staged: list[tuple[SourceFile, FileReport, list[str], ir.Table, _Layout]] = []
        for src, report, replaces in todo:  # check every file before writing anything
            with _reading(src):
                raw = read_raw(wh, src, created, with_lines=True)
                layout = _layout(src, raw, mapping)
                typed, _ = _typed(raw, layout, scale)
                name, typed = wh.materialize("responses_typed", typed)
                created.append(name)
                try:
                    n = _refuse_bad_rows(src, typed)
                except DataError:
                    raise
                except Exception as exc:
                    raise _engine_error(src, exc) from exc
                _refuse_small_waves(src, typed)
                _refuse_without_ours(src, typed, ours)
            report.rows_read = report.rows_loaded = n
            report.mapping = dict(layout.fields)
            report.message = (
                "attributes: "
                + ", ".join(
                    f"{a} (rating{', stated importance' if a in layout.importances else ''})"
                    for a in layout.ratings
                )
                if layout.ratings
                else "no rating_<attribute> columns: overall and NPS only"
            )
            staged.append((src, report, replaces, typed, layout))
        with wh.transaction():
            for table, schema in (
                (RESPONSES_TABLE, RESPONSES_SCHEMA),
                (RATINGS_TABLE, RATINGS_SCHEMA),
            ):
                if not wh.has_table(table):
                    wh.con.create_table(table, schema=schema)
            if not wh.has_table(LEDGER):
                wh.con.create_table(LEDGER, schema=LEDGER_SCHEMA)
            gone = [lid for *_, replaces, _t, _l in staged for lid in replaces]
            if gone:
                for table in (RESPONSES_TABLE, RATINGS_TABLE, LEDGER):
                    t = wh.table(table)
                    column = t.load_id if table == LEDGER else t._load_id
                    wh.replace_table(table, t.filter(~column.isin(gone)))
            for src, report, _replaces, typed, layout in staged:
                load_id = uuid.uuid4().hex
                _write(wh, typed, layout, load_id, ours, scale)
                _ledger(wh, src, report, load_id, now)
    return LoadReport(RESPONSES_TABLE, reports)


def _write(
    wh: Warehouse, typed: ir.Table, layout: _Layout, load_id: str, ours: str, scale: Scale
) -> None:
    rid = ibis.literal(f"{load_id}:") + typed._line.cast("string")
    rows = typed.select(
        response_id=rid,
        customer_id=typed.customer_id,
        wave=typed.wave,
        brand=typed.brand,
        is_ours=typed.brand.lower() == ours.strip().lower(),
        overall=typed.overall,
        nps=typed.nps,
        segment=typed.segment,
        scale_low=ibis.literal(scale.low, "float64"),
        scale_high=ibis.literal(scale.high, "float64"),
        _load_id=ibis.literal(load_id),
    )
    wh.insert(RESPONSES_TABLE, rows)
    for attribute in layout.ratings:
        importance = (
            typed[f"i__{attribute}"] if attribute in layout.importances else ibis.null("float64")
        )
        part = typed.select(
            response_id=rid,
            attribute=ibis.literal(attribute),
            rating=typed[f"r__{attribute}"],
            importance=importance,
            _load_id=ibis.literal(load_id),
        )
        wh.insert(RATINGS_TABLE, part.filter(part.rating.notnull() | part.importance.notnull()))


def _ledger(
    wh: Warehouse, src: SourceFile, report: FileReport, load_id: str, when: datetime
) -> None:
    entry = ibis.memtable(
        {
            "load_id": [load_id],
            "table_name": [RESPONSES_TABLE],
            "source": [str(src.path.resolve())],
            "file_name": [src.path.name],
            "content_hash": [src.content_hash],
            "rows_read": [report.rows_read],
            "rows_loaded": [report.rows_loaded],
            "rows_rejected": [0],
            "loaded_at": [when],
        },
        schema=LEDGER_SCHEMA,
    )
    wh.insert(LEDGER, entry)
