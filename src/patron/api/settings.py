"""The service's settings: Patron's settings plus the API's own (``PATRON_*`` variables)."""

from __future__ import annotations

from pydantic import Field

from patron.settings import Settings

__all__ = ["ApiSettings"]


class ApiSettings(Settings):
    """Settings of ``patron serve`` and :func:`patron.api.create_app`.

    Every field can be set by a ``PATRON_<NAME>`` environment variable.
    """

    api_secret: str | None = Field(
        default=None,
        description=(
            "Server secret the API keys are hashed with (HMAC-SHA-256; 16 characters or more). "
            "Unset: a secret generated on first use and kept in the store (store_meta)."
        ),
    )
    api_rate_limit: float = Field(
        default=100.0,
        ge=0.0,
        description="Requests per second each key may make, per worker process (0: no limit).",
    )
    api_rate_burst: int = Field(
        default=200,
        ge=1,
        description="How many requests a key may make at once before the rate limit applies.",
    )
    api_max_body: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted, in bytes (larger: 413).",
    )
    api_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Threads per worker process that run requests (the store's calls block). Unset: 1 "
            "on SQLite, whose reads are short and CPU-bound (more threads only contend for "
            "Python's lock: measured, benchmarks/RESULTS.md), 8 on PostgreSQL, whose calls "
            "wait on the network."
        ),
    )
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed by CORS (empty, the default: CORS off).",
    )
    console_https_only: bool = Field(
        default=False,
        description=(
            "Send the console's session cookie over HTTPS only (set it when served behind HTTPS)."
        ),
    )
