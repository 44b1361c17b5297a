"""The ``patron`` command: a thin face over the domain packages.

Exit codes (one place): 0 success, 2 usage error, 65 data error, 66 not found (a customer,
question or publication that does not exist), 69 warehouse or store unavailable or refused (or
a store not at this Patron's revision), 70 internal error (a bug: run with ``--debug`` and
report it), 74 a file or folder could not be read or written (permissions, a full disk), 78
configuration error.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["EXIT_CODES", "app", "main", "run"]

#: Names served by :mod:`patron.cli._app`, imported on first use: importing it loads every
#: command and the domain packages behind them (over a second), which ``--version`` needs not.
_LAZY = frozenset({"EXIT_CODES", "app", "main"})


def run() -> None:
    """Console-script entry point; ``patron --version`` answers before the commands load."""
    if sys.argv[1:] == ["--version"]:
        from patron import __version__

        sys.stdout.write(f"patron {__version__}\n")
        raise SystemExit(0)
    from patron.cli._app import main

    sys.exit(main())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from patron.cli import _app

        return getattr(_app, name)
    raise AttributeError(f"module 'patron.cli' has no attribute {name!r}")
