"""Liveness and readiness (no key needed)."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request

from patron.api.auth import store_of
from patron.api.problems import ApiProblem
from patron.api.schemas import Health
from patron.errors import StoreError
from patron.store import head_revision, live_publication

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health", response_model=Health, summary="Liveness")
async def health() -> dict[str, Any]:
    """The process answers (nothing else is checked).

    Run on the event loop, not in the request threads: a liveness probe answers even while
    every thread waits on a slow request (on SQLite a worker has one).
    """
    return {"status": "ok"}


@router.get(
    "/ready",
    operation_id="ready",
    response_model=Health,
    summary="Readiness: the store is reachable and at this Patron's revision",
    responses={503: {"description": "Not ready (problem+json says why)"}},
)
def ready(request: Request) -> dict[str, Any]:
    """503 when the store is unreachable or not at the head revision."""
    head = head_revision()
    try:
        with store_of(request).read() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            publication = live_publication(conn) if revision == head else None
    except StoreError as exc:
        raise ApiProblem(503, f"The store is unreachable: {exc}") from None
    if revision != head:
        raise ApiProblem(
            503,
            f"The store is at revision {revision}; this Patron needs {head} "
            "(run `patron store upgrade`).",
        )
    return {"status": "ok", "revision": revision, "publication": publication}
