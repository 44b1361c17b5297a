"""What every command shares: the app, consoles, common options, small helpers."""

from __future__ import annotations

import errno
import json
import logging
import math
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from patron.errors import PatronError, UsageError, first_line

if TYPE_CHECKING:
    from patron.data.warehouse import Warehouse

# Every command module imports the domain packages (Ibis, DuckDB, pandas, SciPy, ...) inside
# its command functions, never at module level: ``patron --help`` and ``patron value --help``
# then start in a tenth of a second instead of over one (tests/test_cli_startup.py guards it).

app = typer.Typer(
    name="patron",
    help="Patron: one-to-one marketing on your own customer data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    debug = False
    warehouse: str | None = None


STATE = _State()

WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="Warehouse URL (default: $PATRON_WAREHOUSE or duckdb://patron.duckdb).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _open(warehouse: str | None) -> Warehouse:
    from patron.data.warehouse import connect
    from patron.settings import Settings

    url = warehouse or STATE.warehouse or Settings.load().warehouse
    return connect(url)


def _version(value: bool) -> None:
    if value:
        from patron import __version__

        out.print(f"patron {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    warehouse: WarehouseOpt = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Patron: identify, differentiate, interact, customize, measure."""
    STATE.debug = debug or STATE.debug
    STATE.warehouse = warehouse
    if STATE.debug:
        logging.basicConfig(level=logging.DEBUG)


def _finite(value: Any, path: str, found: list[str]) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (noted in ``found``)."""
    if isinstance(value, float) and not math.isfinite(value):
        found.append(f"{path or 'value'}: {'not a number' if math.isnan(value) else value}")
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _emit_json(payload: Any) -> None:
    """Print strict JSON: a NaN or infinity becomes null, and ``non_finite`` says where."""
    found: list[str] = []
    clean = _finite(payload, "", found)
    if found and isinstance(clean, dict):
        clean["non_finite"] = [f"{f} (no finite value; shown as null)" for f in found]
    sys.stdout.write(json.dumps(clean, indent=2, default=str, allow_nan=False) + "\n")


def _check_table_file(out_file: Path) -> None:
    """Refuse, before any work, an --out that is not .csv/.parquet, a folder, or in none."""
    from patron.data.sources import check_output_file

    check_output_file(out_file, (".csv", ".parquet"))


def _write_table_file(rows: Any, out_file: Path) -> None:
    """Write an Ibis table to CSV or Parquet by the engine, atomically (temp file + rename)."""
    tmp = out_file.with_name(f".{out_file.name}.partial")
    try:
        if out_file.suffix.lower() == ".csv":
            rows.to_csv(tmp)
        else:
            rows.to_parquet(tmp)
        tmp.replace(out_file)
    except Exception as exc:
        # The engine's own I/O errors are not OSErrors; they name the file they could not
        # write. Anything else (a query the engine refused) stays an internal error.
        if isinstance(exc, PatronError | OSError) or tmp.name not in str(exc):
            raise
        raise OSError(
            errno.EIO, f"could not write the file ({first_line(exc)})", str(out_file)
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD.") from None


def _split(values: list[str] | None) -> list[str]:
    """Repeated and/or comma-separated option values, in order."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
