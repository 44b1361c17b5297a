"""Data subject requests on the store: export everything about a customer, or erase it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request

from patron.api.auth import Caller, allow, store_of
from patron.api.common import audit
from patron.api.routers.customers import CustomerId
from patron.api.schemas import CustomerExport, ErasureOut
from patron.interact.subject import erase_customer, export_customer

__all__ = ["router"]

router = APIRouter(prefix="/customers", tags=["data subject requests"])

WAREHOUSE_NOTE = (
    "The store is erased; erase the warehouse side (attributes, identities, exports) with "
    "`patron interact erase CUSTOMER` where the warehouse runs."
)


@router.get(
    "/{customer_id}/export",
    operation_id="customers.export",
    response_model=CustomerExport,
    summary="Everything the store holds about a customer",
)
def export(
    request: Request, customer_id: CustomerId, caller: Annotated[Caller, allow("customers.export")]
) -> dict[str, Any]:
    """Profiles, identifiers, facts, consents and touch points (a subject access request)."""
    return export_customer(store_of(request), customer_id)


@router.post(
    "/{customer_id}/erase",
    operation_id="customers.erase",
    response_model=ErasureOut,
    summary="Erase a customer's personal data from the store",
)
def erase(
    request: Request, customer_id: CustomerId, caller: Annotated[Caller, allow("customers.erase")]
) -> dict[str, Any]:
    """Profiles, identifiers and facts deleted; touch points and consents anonymised."""
    store = store_of(request)
    result = erase_customer(store, customer_id)
    # The audit names the erased customer's id: the record that the request was carried out.
    audit(store, caller, target=customer_id, detail={"facts": result.facts})
    return {**result.to_dict(), "warehouse": WAREHOUSE_NOTE}
