"""The exceptions Patron raises.

One root, :class:`PatronError`; each subclass also inherits the builtin it refines, so
callers that catch ``ValueError`` keep working. Faces map each class to an exit code (CLI) or
an HTTP status (API) in one place each.
"""

from __future__ import annotations

import errno

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "NotFittedError",
    "NotFoundError",
    "PatronError",
    "StoreError",
    "UsageError",
    "WarehouseError",
    "engine_io_error",
    "first_line",
]


class PatronError(Exception):
    """Root of every error Patron raises on purpose."""


class UsageError(PatronError, ValueError):
    """The caller asked for something inconsistent (bad option, unknown model, ...)."""


class ConfigError(PatronError, ValueError):
    """A setting is invalid (warehouse URL, environment variable, ...)."""


class DataError(PatronError, ValueError):
    """Input data is wrong: a missing column, unparseable values, an empty file, ..."""


class WarehouseError(PatronError, RuntimeError):
    """The warehouse engine refused an operation or is missing something it needs."""


class StoreError(PatronError, RuntimeError):
    """The operational store is unavailable, refused an operation, or is at another revision."""


class NotFoundError(PatronError, LookupError):
    """Something named by the caller does not exist (a customer, a question, a publication)."""


class NotFittedError(PatronError, AttributeError):
    """A model was used for prediction before ``fit`` was called."""


class ConvergenceError(PatronError, RuntimeError):
    """A model fit did not converge; the message says what to try."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name when it has none.

    What a one-line message quotes of an engine's error (engines append plans and stack traces).
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def engine_io_error(exc: BaseException) -> OSError | None:
    """The :class:`OSError` an engine's own I/O error stands for, or ``None``.

    Engines report a full disk or an unwritable file with their own classes (DuckDB's
    ``IOException``: "IO Error: Could not write ... No space left on device", with a C++
    stack); callers map it like any :class:`OSError` (the CLI: exit 74, one line).
    """
    if isinstance(exc, OSError):
        return exc
    text = first_line(exc)
    if type(exc).__name__ != "IOException" and not text.startswith("IO Error"):
        return None
    whole = str(exc)
    code = errno.ENOSPC if "No space left" in whole or "disk is full" in whole else errno.EIO
    return OSError(code, text.removeprefix("IO Error: "))
