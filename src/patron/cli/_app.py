"""The command line: every command registered, errors mapped to exit codes in one place."""

from __future__ import annotations

import os
import sys
import traceback

from patron.cli import (  # noqa: F401  (registers commands)
    campaign,
    cva,
    data,
    demo,
    differentiate,
    experiment,
    identify,
    interact,
    nba,
    offers,
    recommend,
    serve,
    value,
)
from patron.cli._common import STATE, app, err
from patron.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    NotFittedError,
    NotFoundError,
    PatronError,
    StoreError,
    UsageError,
    WarehouseError,
    engine_io_error,
    first_line,
)

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_DATA = 65
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_CONFIG = 78

#: How each error class maps to an exit code (the first matching class wins).
EXIT_CODES: tuple[tuple[type[PatronError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (ConfigError, EXIT_CONFIG),
    (DataError, EXIT_DATA),
    (ConvergenceError, EXIT_DATA),
    (NotFittedError, EXIT_USAGE),
    (WarehouseError, EXIT_UNAVAILABLE),
    (StoreError, EXIT_UNAVAILABLE),
    (NotFoundError, EXIT_NOINPUT),
    (PatronError, EXIT_INTERNAL),
)


def _exit_code(exc: PatronError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL  # pragma: no cover - PatronError is the last entry


#: Options that take several values after one flag (``--metric visit conversion spend``).
MULTI_VALUE = frozenset({"--metric"})


def _gather_values(args: list[str], options: frozenset[str]) -> list[str]:
    """Join the values that follow a multi-value option into one comma-separated value."""
    out: list[str] = []
    i = 0
    while i < len(args):
        out.append(args[i])
        if args[i] in options:
            values = []
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            out.append(",".join(values) if values else "")
            continue
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) the exit code."""
    args = _gather_values(list(sys.argv[1:] if argv is None else argv), MULTI_VALUE)
    STATE.debug = "--debug" in args or os.environ.get("PATRON_DEBUG", "") not in {"", "0"}
    try:
        app(args=args, prog_name="patron")  # usage errors: printed by Typer, exit code 2
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except PatronError as exc:
        if STATE.debug:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False)
        return _exit_code(exc)
    except Exception as exc:
        if STATE.debug:
            traceback.print_exc()
        # A path the user gave (unwritable, vanished, a full disk, ...), or the engine's own
        # I/O error for the same (DuckDB's IOException on a full disk).
        io = engine_io_error(exc)
        if io is not None:
            where = f": {io.filename}" if io.filename else ""
            err.print(
                f"error: {io.strerror or io}{where}. Check the path, its permissions and the "
                "free space.",
                markup=False,
            )
            return EXIT_IO
        err.print(
            f"internal error: {type(exc).__name__}: {first_line(exc)}. This is a bug in "
            "Patron; run again with --debug for the traceback and report it.",
            markup=False,
        )
        return EXIT_INTERNAL
    return EXIT_OK
