"""The touch-point log: one touch point, or a batch in one transaction; idempotent by key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from sqlalchemy.engine import Connection

from patron.api.auth import Caller, allow, store_of
from patron.api.common import audit
from patron.api.schemas import BatchLogged, TouchpointBatchIn, TouchpointIn, TouchpointLogged
from patron.errors import NotFoundError
from patron.interact.profiles import NO_PUBLICATION, profile_in
from patron.interact.touchpoints import Touchpoint, log_touchpoints
from patron.store.publish import live_publication

__all__ = ["router"]

router = APIRouter(prefix="/touchpoints", tags=["touchpoints"])


def _touchpoint(item: TouchpointIn) -> Touchpoint:
    return Touchpoint(**item.model_dump())


def _require_known(conn: Connection, customers: set[str]) -> None:
    publication = live_publication(conn)
    if publication is None:
        raise NotFoundError(NO_PUBLICATION)
    unknown = sorted(c for c in customers if profile_in(conn, publication, c) is None)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise NotFoundError(
            f"Unknown customer {shown}{more}: not in the published profiles; nothing was logged."
        )


@router.post(
    "",
    operation_id="touchpoints.log",
    response_model=TouchpointLogged,
    status_code=201,
    summary="Log a touch point",
)
def log_one(
    request: Request, body: TouchpointIn, caller: Annotated[Caller, allow("touchpoints.log")]
) -> dict[str, Any]:
    """Stored once per ``idempotency_key``: a retry returns the first record's id."""
    store = store_of(request)
    with store.read() as conn:
        _require_known(conn, {body.customer_id})
    new_id = log_touchpoints(store, [_touchpoint(body)])[0]
    audit(store, caller, target=body.customer_id, detail={"touchpoint": new_id})
    return {"id": new_id}


@router.post(
    "/batch",
    operation_id="touchpoints.log_batch",
    response_model=BatchLogged,
    status_code=201,
    summary="Log up to 1000 touch points at once",
)
def log_batch(
    request: Request,
    body: TouchpointBatchIn,
    caller: Annotated[Caller, allow("touchpoints.log_batch")],
) -> dict[str, Any]:
    """All or none: every item is checked before anything is written."""
    store = store_of(request)
    with store.read() as conn:
        _require_known(conn, {item.customer_id for item in body.items})
    ids = log_touchpoints(store, [_touchpoint(i) for i in body.items])
    audit(store, caller, detail={"touchpoints": len(ids), "first": ids[0], "last": ids[-1]})
    return {"ids": ids, "count": len(ids)}
