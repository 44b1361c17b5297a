"""The contact policy: caps per channel and overall, gaps, quiet hours, tier rules."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request

from patron.api.auth import Caller, allow, store_of
from patron.api.common import audit
from patron.api.schemas import PolicyIn, PolicyOut
from patron.interact.policy import ContactPolicy, contact_policy, set_contact_policy

__all__ = ["router"]

router = APIRouter(prefix="/contact-policy", tags=["contact policy"])


@router.get("", operation_id="policy.get", response_model=PolicyOut, summary="The policy")
def get_policy(request: Request, caller: Annotated[Caller, allow("policy.get")]) -> dict[str, Any]:
    """The contact policy in force (the default until one is set)."""
    result: dict[str, Any] = json.loads(contact_policy(store_of(request)).to_json())
    return result


@router.put("", operation_id="policy.set", response_model=PolicyOut, summary="Replace it")
def set_policy(
    request: Request, body: PolicyIn, caller: Annotated[Caller, allow("policy.set")]
) -> dict[str, Any]:
    """Replace the whole contact policy (checked first: nothing changes on an error)."""
    store = store_of(request)
    policy = ContactPolicy.from_dict(body.model_dump())
    set_contact_policy(store, policy)
    audit(store, caller, detail={"rules": len(policy.rules)})
    result: dict[str, Any] = json.loads(policy.to_json())
    return result
