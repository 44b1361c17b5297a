"""Consent per channel and purpose: the decision now, its history, and recording it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from patron.api.auth import Caller, allow, store_of
from patron.api.common import Limit, Offset, audit, known_customer, page
from patron.api.routers.customers import CustomerId
from patron.api.schemas import Channel, ConsentIn, ConsentOut, ConsentRecordOut, Page
from patron.interact.consent import consent_decisions, consent_history, set_consent
from patron.interact.policy import contact_policy
from patron.interact.profiles import resolve_customer

__all__ = ["router"]

router = APIRouter(prefix="/customers", tags=["consent"])


@router.get(
    "/{customer_id}/consent",
    operation_id="customers.consent",
    response_model=ConsentOut,
    summary="The customer's consent on a channel",
)
def consent(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.consent")],
    channel: Annotated[Channel, Query()] = "email",
) -> dict[str, Any]:
    """Per purpose: allowed or not, the record that decided (or the default), in words."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        defaults = contact_policy(conn).consent_defaults
        decisions = consent_decisions(conn, cid, channel, defaults=defaults)
    return {
        "customer_id": cid,
        "channel": channel,
        "purposes": {
            p: {
                "allowed": d.allowed,
                "reason": d.reason,
                "record": d.record.to_dict() if d.record else None,
            }
            for p, d in decisions.items()
        },
    }


@router.get(
    "/{customer_id}/consent/history",
    operation_id="customers.consent_history",
    response_model=Page[ConsentRecordOut],
    summary="Every consent record of the customer, oldest first",
)
def history(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.consent_history")],
    purpose: Annotated[str | None, Query(pattern="^(marketing|profiling|service)$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One page of the consent history (a customer has a handful of records)."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        records = consent_history(conn, cid, purpose)
    return page([r.to_dict() for r in records[offset : offset + limit + 1]], limit, offset)


@router.post(
    "/{customer_id}/consent",
    operation_id="customers.set_consent",
    response_model=ConsentRecordOut,
    status_code=201,
    summary="Record the customer's consent decision, with evidence",
)
def record_consent(
    request: Request,
    customer_id: CustomerId,
    body: ConsentIn,
    caller: Annotated[Caller, allow("customers.set_consent")],
) -> dict[str, Any]:
    """Appended to the history (the latest record decides); ``evidence`` is required."""
    store = store_of(request)
    known_customer(store, customer_id)
    record = set_consent(
        store,
        customer_id,
        body.channel,
        body.purpose,
        body.state,
        source=body.source,
        evidence=body.evidence,
        at=body.occurred_at,
    )
    audit(
        store,
        caller,
        target=customer_id,
        detail={"consent": record.id, "purpose": body.purpose, "state": body.state},
    )
    return record.to_dict()
