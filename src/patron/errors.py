"""The exceptions Patron raises.

One root, :class:`PatronError`; each subclass also inherits the builtin it refines, so
callers that catch ``ValueError`` keep working. Faces map each class to an exit code (CLI) or
an HTTP status (API) in one place each.
"""

from __future__ import annotations

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
