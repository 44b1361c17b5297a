"""Typed settings, built at start-up and passed in (never read at import time)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_WAREHOUSE", "Settings"]

DEFAULT_WAREHOUSE = "duckdb://patron.duckdb"


class Settings(BaseSettings):
    """Patron's settings; every field can be set by a ``PATRON_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    warehouse: str = Field(
        default=DEFAULT_WAREHOUSE,
        description=(
            "Warehouse URL: duckdb://FILE (default duckdb://patron.duckdb in the working "
            "directory), duckdb://:memory:, pyspark:///DIR, or any Ibis backend URL."
        ),
    )
