"""Patron: one-to-one marketing on a company's own customer data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("patron")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
