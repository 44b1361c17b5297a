"""The touch-point log: one touch point, or a batch in one transaction; idempotent by key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Connection

from patron.api.auth import Caller, allow, store_of
from patron.api.problems import StrictJSONResponse
from patron.api.schemas import BatchLogged, TouchpointBatchIn, TouchpointIn, TouchpointLogged
from patron.errors import NotFoundError
from patron.interact.profiles import NO_PUBLICATION, profile_in
from patron.interact.touchpoints import Touchpoint, insert_touchpoints
from patron.store.keys import record_audit
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
) -> Response:
    """Stored once per ``idempotency_key``: a retry returns the first record's id."""
    ids = _log(request, caller, [body])
    return StrictJSONResponse({"id": ids[0]}, status_code=201)


def _log(request: Request, caller: Caller, items: list[TouchpointIn]) -> list[int]:
    """Check, store and audit touch points: one transaction (the customers known, all or none)."""
    checked = [_touchpoint(item).validated() for item in items]
    with store_of(request).write() as conn:
        _require_known(conn, {tp.customer_id for tp in checked})
        ids = insert_touchpoints(conn, checked)[0]
        detail: dict[str, Any] = (
            {"touchpoint": ids[0]}
            if len(ids) == 1
            else {"touchpoints": len(ids), "first": ids[0], "last": ids[-1]}
        )
        record_audit(
            conn,
            caller.operation,
            key_id=caller.key_id,
            role=caller.role,
            target=checked[0].customer_id if len(checked) == 1 else None,
            detail=detail,
        )
    return ids


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
    ids = _log(request, caller, body.items)
    return {"ids": ids, "count": len(ids)}
