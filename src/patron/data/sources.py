"""Reading source files into the engine as raw tables, without pulling rows into Python.

A file is first *inspected* in one streaming pass (content hash for idempotent loads, strict
UTF-8 check, a small sample for the delimiter and header); then the engine's own reader scans
it into a raw table whose columns are strings (CSV) or the file's own types (Parquet), plus
``_line``, the line number in the file, for rejection reports. Files Patron writes have their
names checked before any work (:func:`check_output_file`).
"""

from __future__ import annotations

import codecs
import csv
import glob
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError, first_line

__all__ = ["SourceFile", "check_output_file", "expand_paths", "inspect_file", "read_raw"]

SAMPLE_BYTES = 64 * 1024
SAMPLE_LINES = 50
CANDIDATE_DELIMITERS = (",", "\t", ";", "|")
DATA_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", ".parquet", ".pq")
_NUMBER = re.compile(r"^[-+]?[$£€]?\d[\d,]*(\.\d*)?([eE][-+]?\d+)?$")

#: Engine reader dialects: the option names each engine's CSV reader uses. The one place
#: where readers differ; everything after the read is portable Ibis.
_CSV_OPTIONS: dict[str, dict[str, str]] = {
    "duckdb": {"delimiter": "delim", "header": "header", "quote": "quote", "escape": "escape"},
    "pyspark": {"delimiter": "sep", "header": "header", "quote": "quote", "escape": "escape"},
}
_CSV_EXTRA: dict[str, dict[str, Any]] = {
    # A row with more or fewer fields than the header is an error naming its line (no
    # null padding: a short row would otherwise load with its last fields missing).
    "duckdb": {"all_varchar": True, "null_padding": False, "auto_detect": False},
    "pyspark": {"mode": "PERMISSIVE", "inferSchema": False},
}


def check_output_file(path: Path, suffixes: Sequence[str], option: str = "--out") -> None:
    """Refuse, before any work, a file to write with another suffix, a folder or no folder.

    ``suffixes`` are the allowed endings (lower case, with the dot); ``option`` names the
    command-line option in the message.
    """
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: use a {' or '.join(suffixes)} file name.")
    if path.is_dir():
        raise UsageError(f"{option} {path}: that is a folder; give a file name in it.")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: folder {parent} does not exist.")


@dataclass
class SourceFile:
    """What inspection found out about one file."""

    path: Path
    kind: str  # "csv", "whitespace" or "parquet"
    content_hash: str
    size: int
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: bool = False
    columns: list[str] = field(default_factory=list)
    #: Time zone of each zone-aware timestamp column of a Parquet file (from its schema).
    zones: dict[str, str] = field(default_factory=dict)

    @property
    def first_data_line(self) -> int:
        """1-based line number of the first data row."""
        return 2 if self.header else 1


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Expand globs and folders into files; an error for a path that matches nothing."""
    files: list[Path] = []
    for raw in paths:
        matches = sorted(glob.glob(raw, recursive=True)) if glob.has_magic(raw) else [raw]
        if not matches:
            raise DataError(f"{raw}: no file matches this pattern; check the path and quoting.")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                inner = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
                if not inner:
                    raise DataError(
                        f"{path}: folder has no data files ({', '.join(DATA_SUFFIXES)})."
                    )
                files.extend(inner)
            elif path.is_file():
                files.append(path)
            else:
                raise DataError(f"{path}: no such file; check the path.")
    seen: set[Path] = set()
    unique = []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def _hash_and_check(path: Path, encoding: str) -> tuple[str, int, bytes]:
    """Hash the whole file and check that it decodes, streaming; return hash, size, head."""
    digest = hashlib.blake2b(digest_size=20)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict") if encoding else None
    head = b""
    offset = 0
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            if len(head) < SAMPLE_BYTES:
                head += chunk[: SAMPLE_BYTES - len(head)]
            if decoder is not None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad = offset + exc.start
                    line += chunk[: exc.start].count(b"\n")
                    raise DataError(
                        f"{path}: line {line} is not valid {encoding} "
                        f"(byte 0x{chunk[exc.start]:02x} at offset {bad}); re-save the file as "
                        "UTF-8 or pass its encoding, e.g. --encoding latin-1."
                    ) from None
                line += chunk.count(b"\n")
            offset += len(chunk)
    return digest.hexdigest(), offset, head


def _zones(path: Path) -> dict[str, str]:
    """Time zones of a Parquet file's zone-aware timestamp columns (reads its footer only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)}).") from exc
    return {
        f.name: str(f.type.tz)
        for f in schema
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
    }


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token.strip()))


def _split_sample(lines: list[str], delimiter: str | None) -> list[list[str]]:
    if delimiter is None:
        return [ln.split() for ln in lines]
    return [row for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits every sample line into the same number (>1) of fields.

    ``None`` means whitespace-separated (runs of spaces or tabs).
    """
    best: tuple[int, str | None] = (1, ",")
    for delim in CANDIDATE_DELIMITERS:
        counts = {len(r) for r in _split_sample(lines, delim)}
        if len(counts) == 1 and (n := counts.pop()) > best[0]:
            best = (n, delim)
    if best[0] > 1:
        return best[1]
    # No delimiter splits every line alike (a ragged row): the one that splits most lines
    # (all but one, or 80%) into the same number of fields, so the odd row is named later.
    for delim in CANDIDATE_DELIMITERS:
        counts_list = [len(r) for r in _split_sample(lines, delim)]
        common = max(set(counts_list), key=counts_list.count)
        agree = counts_list.count(common)
        if common > best[0] and agree >= 2 and agree >= len(lines) - max(1, len(lines) // 5):
            best = (common, delim)
    if best[0] > 1:
        return best[1]
    counts = {len(ln.split()) for ln in lines}
    if len(counts) == 1 and counts.pop() > 1:
        return None
    return ","


def _looks_like_header(rows: list[list[str]], known_names: set[str]) -> bool:
    from patron.data.contracts import normalise_name

    first = rows[0]
    if any(normalise_name(tok) in known_names for tok in first if tok.strip()):
        return True
    if any(_is_number(tok) for tok in first):
        return False
    # No numbers in the first row: a header when a later row has numbers in those columns.
    return any(_is_number(tok) for row in rows[1:] for tok in row)


def inspect_file(
    path: Path,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    header: bool | None = None,
    known_names: set[str] | None = None,
) -> SourceFile:
    """Hash, check and sniff one file (reads it once, streaming; keeps only a small sample).

    Parameters
    ----------
    path
        The file.
    encoding
        Text encoding of CSV files; the whole file is checked.
    delimiter
        Field delimiter; ``None`` to detect it, ``"whitespace"`` for runs of blanks.
    header
        Whether the first line holds column names; ``None`` to detect it.
    known_names
        Normalised column names that mark a header line when present in the first line.
    """
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        content_hash, size, _ = _hash_and_check(path, "")
        if size == 0:
            raise DataError(f"{path}: file is empty; nothing to load.")
        return SourceFile(path, "parquet", content_hash, size, header=True, zones=_zones(path))
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UsageError(f"--encoding {encoding!r} is not a known text encoding.") from None
    content_hash, size, head = _hash_and_check(path, encoding)
    text = head.decode(encoding, errors="ignore")
    lines = [ln for ln in text.splitlines()[:SAMPLE_LINES] if ln.strip()]
    if len(head) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut short
    if not lines:
        raise DataError(f"{path}: file is empty; nothing to load.")
    if delimiter == "whitespace":
        delim: str | None = None
    elif delimiter is None:
        delim = _sniff_delimiter(lines)
    else:
        delim = delimiter.encode().decode("unicode_escape")
        if len(delim) != 1:
            raise UsageError(f"--delimiter {delimiter!r} must be one character or 'whitespace'.")
    rows = _split_sample(lines, delim)
    has_header = _looks_like_header(rows, known_names or set()) if header is None else header
    if has_header:
        columns = [c.strip() or f"column{i + 1}" for i, c in enumerate(rows[0])]
        sample = rows[1:]
    else:
        columns = [f"column{i + 1}" for i in range(max(len(r) for r in rows))]
        sample = rows
    if has_header and not sample and len(text.splitlines()) <= 1:
        raise DataError(f"{path}: file has a header line but no data rows; nothing to load.")
    dupes = {c for c in columns if columns.count(c) > 1}
    if dupes:
        raise DataError(
            f"{path}: the header names column(s) {sorted(dupes)} more than once; rename them."
        )
    return SourceFile(
        path,
        "whitespace" if delim is None else "csv",
        content_hash,
        size,
        encoding=encoding,
        delimiter=delim,
        header=has_header,
        columns=columns,
    )


def read_raw(
    wh: Warehouse, src: SourceFile, created: list[str], *, with_lines: bool = False
) -> ir.Table:
    """Scan ``src`` in the engine: its columns (strings for text files).

    With ``with_lines``, a ``_line`` column holds each row's line number in the file (row
    number for Parquet). Numbering needs a window over the whole file, so it is asked for
    only to report where rejected rows are. The name of the view the engine registers is
    appended to ``created`` for clean-up.
    """
    name = wh.scratch_name("raw")
    created.append(name)
    dialect = wh.backend if wh.backend in _CSV_OPTIONS else "duckdb"
    opts = _CSV_OPTIONS[dialect]
    path = str(src.path.resolve())
    con = wh.con
    try:
        if src.kind == "parquet":
            raw = con.read_parquet(path, table_name=name)
            first = 1
        elif src.kind == "whitespace":
            kwargs: dict[str, Any] = {
                opts["delimiter"]: "\x1f",
                opts["header"]: src.header and not with_lines,
                opts["quote"]: "",
                opts["escape"]: "",
                **_CSV_EXTRA[dialect],
            }
            if dialect == "duckdb":
                kwargs["columns"] = {"line": "VARCHAR"}
            if src.encoding.lower().replace("_", "-") not in {"utf-8", "utf8"}:
                kwargs["encoding"] = src.encoding
            lines = con.read_csv(path, table_name=name, **kwargs)
            lines = (
                lines.rename({"line": lines.columns[0]}) if "line" not in lines.columns else lines
            )
            if with_lines:
                lines = lines.mutate(_line=ibis.row_number() + 1)
                if src.header:
                    lines = lines.filter(lines._line > 1)
            lines = lines.filter(lines.line.strip() != "")
            parts = lines.line.strip().re_split(r"\s+")
            extra = {"_line": lines._line} if with_lines else {}
            return lines.select(**{col: parts[i] for i, col in enumerate(src.columns)}, **extra)
        else:
            kwargs = {
                opts["delimiter"]: src.delimiter,
                opts["header"]: src.header,
                opts["quote"]: '"',
                opts["escape"]: '"',
                **_CSV_EXTRA[dialect],
            }
            if dialect == "duckdb":
                kwargs["columns"] = {c: "VARCHAR" for c in src.columns}
                kwargs["skip"] = 1 if src.header else 0
                kwargs["header"] = False
            if src.encoding.lower().replace("_", "-") not in {"utf-8", "utf8"}:
                kwargs["encoding"] = src.encoding
            raw = con.read_csv(path, table_name=name, **kwargs)
            if list(raw.columns) != src.columns:
                raw = raw.rename(dict(zip(src.columns, raw.columns, strict=False)))
            first = src.first_data_line
    except Exception as exc:
        raise DataError(
            f"{src.path}: the engine could not read the file: {first_line(exc)}"
        ) from exc
    return raw.mutate(_line=ibis.row_number() + first) if with_lines else raw
