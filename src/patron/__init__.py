"""Patron: one-to-one marketing on a company's own customer data."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is read from the installed metadata on first use: importing
    # importlib.metadata costs every command's start-up (``patron --help``) tens of ms.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("patron")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            found = "0.0.0"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'patron' has no attribute {name!r}")
