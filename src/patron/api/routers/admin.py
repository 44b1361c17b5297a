"""Keys and the audit log (admin only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from patron.api.auth import Caller, allow, store_of
from patron.api.common import Limit, Offset, page
from patron.api.schemas import AuditOut, KeyCreated, KeyIn, KeyOut, Page
from patron.store.keys import audit_entries, create_key, list_keys, revoke_key

__all__ = ["router"]

router = APIRouter(tags=["keys and audit"])


@router.get("/keys", operation_id="keys.list", response_model=Page[KeyOut], summary="Keys")
def keys(
    request: Request,
    caller: Annotated[Caller, allow("keys.list")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The stored keys, oldest first (never the keys themselves)."""
    found = list_keys(store_of(request), limit=limit + 1, offset=offset)
    return page([k.to_dict() for k in found], limit, offset)


@router.post(
    "/keys",
    operation_id="keys.create",
    response_model=KeyCreated,
    status_code=201,
    summary="Create a key (shown once)",
)
def new_key(
    request: Request, body: KeyIn, caller: Annotated[Caller, allow("keys.create")]
) -> dict[str, Any]:
    """The key is in this response only; the store keeps its HMAC."""
    lifetime = None if body.expires_days is None else timedelta(days=body.expires_days)
    created = create_key(
        store_of(request),
        request.app.state.secret,
        name=body.name,
        role=body.role,
        expires_in=lifetime,
        by=caller.key,
    )
    record = created.record.to_dict()
    return {
        "key": created.key,
        "role": record["role"],
        "name": record["name"],
        "id": record["id"],
        "expires_at": record["expires_at"],
    }


@router.post(
    "/keys/{key_id}/revoke",
    operation_id="keys.revoke",
    response_model=KeyOut,
    summary="Revoke a key (refused from the next request on)",
)
def revoke(
    request: Request,
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    caller: Annotated[Caller, allow("keys.revoke")],
) -> dict[str, Any]:
    """Revoking twice is harmless."""
    return revoke_key(store_of(request), key_id, by=caller.key).to_dict()


@router.get("/audit", operation_id="audit.list", response_model=Page[AuditOut], summary="Audit")
def audit_log(
    request: Request,
    caller: Annotated[Caller, allow("audit.list")],
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The audit log, newest first (ids only, no personal data)."""
    found = audit_entries(store_of(request), limit=limit + 1, offset=offset, action=action)
    return page([e.to_dict() for e in found], limit, offset)
