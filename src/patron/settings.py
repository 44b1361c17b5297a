"""Typed settings, built at start-up and passed in (never read at import time)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from patron.errors import ConfigError

__all__ = ["DEFAULT_STORE", "DEFAULT_WAREHOUSE", "Settings"]

DEFAULT_WAREHOUSE = "duckdb://patron.duckdb"
#: The operational store: a SQLite file beside the default warehouse (the working directory).
DEFAULT_STORE = "sqlite:///patron.store.sqlite"


class Settings(BaseSettings):
    """Patron's settings; every field can be set by a ``PATRON_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    @classmethod
    def load(cls, **values: Any) -> Self:
        """The settings from ``values`` and the ``PATRON_*`` environment.

        Raises
        ------
        ConfigError
            A value is invalid: the message names its variable and what is wrong (never a
            validation traceback).
        """
        try:
            return cls(**values)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = str(problem["loc"][0]).upper() if problem["loc"] else "?"
            raise ConfigError(f"PATRON_{field}: {problem['msg']}.") from None

    warehouse: str = Field(
        default=DEFAULT_WAREHOUSE,
        description=(
            "Warehouse URL: duckdb://FILE (default duckdb://patron.duckdb in the working "
            "directory), duckdb://:memory:, pyspark:///DIR, or any Ibis backend URL."
        ),
    )
    store: str = Field(
        default=DEFAULT_STORE,
        description=(
            "Operational store URL: sqlite:///FILE (default sqlite:///patron.store.sqlite in the "
            "working directory) or postgresql+psycopg://USER@HOST/DB."
        ),
    )
    currency: str = Field(
        default="",
        max_length=8,
        description=(
            "Currency shown with amounts in reports: a symbol (£, $, €) or a code (EUR); "
            "empty shows numbers alone."
        ),
    )
    money_decimals: int | None = Field(
        default=None,
        ge=0,
        le=4,
        description=("Decimals of amounts in reports; unset: cents below 100, whole units above."),
    )
