"""What the routers share: pagination, the audit record of a write, known customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from patron.api.auth import Caller
from patron.interact.profiles import require_profile
from patron.store import Store
from patron.store.keys import record_audit

__all__ = ["MAX_LIMIT", "Limit", "Offset", "audit", "known_customer", "page"]

#: The largest page a list returns.
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1 to 500).")]
Offset = Annotated[int, Query(ge=0, le=10_000, description="Items to skip (at most 10000).")]


def page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """A page from ``items`` read with ``limit + 1`` rows (the extra one says there is more)."""
    more = len(items) > limit
    return {
        "items": items[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


def audit(
    store: Store,
    caller: Caller,
    *,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a successful write (the caller's key and operation; ids only in ``detail``)."""
    with store.write() as conn:
        record_audit(
            conn,
            caller.operation,
            key_id=caller.key_id,
            role=caller.role,
            target=target,
            detail=detail,
        )


def known_customer(store: Store, customer_id: str) -> str:
    """``customer_id`` when it is in the live publication, else a NotFoundError (404)."""
    with store.read() as conn:
        return require_profile(conn, customer_id).customer_id
