"""Customize over HTTP: offers, the next best action and its response, quotes, campaigns.

Campaigns are read only here: an analyst creates and analyses them on the warehouse.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from patron.api.auth import Caller, allow, store_of
from patron.api.common import Limit, Offset, audit, known_customer, page
from patron.api.schemas import Channel, Page
from patron.customize.agent import offer_text
from patron.customize.campaigns import get_campaign, list_campaigns
from patron.customize.nba import next_best_action
from patron.customize.offers import create_offer, delete_offer, get_offer, list_offers, update_offer
from patron.customize.quotes import quote
from patron.customize.responses import record_response

__all__ = ["router"]

router = APIRouter(tags=["customize"])

OfferId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
CustomerId = Annotated[str, Path(min_length=1, max_length=320)]
Kind = Literal["cross-sell", "up-sell", "reactivation", "retention", "service", "loyalty"]
Purpose = Literal["marketing", "profiling", "service"]
Money = Annotated[float, Field(ge=0, le=1e12)]
Share = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=128)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferFields(_In):
    """An offer's fields (see docs/customize.md); all but id, name and kind optional."""

    name: Short
    kind: Kind
    product: Short | None = None
    category: Short | None = None
    eligibility: Text | None = Field(
        default=None, description="A condition in the --map language over the profile and facts."
    )
    channels: list[Channel] = Field(default=["email"], min_length=1)
    contact_cost: dict[Channel, Money] = Field(default_factory=dict)
    margin: Annotated[float, Field(ge=-1e12, le=1e12)] | None = None
    margin_rate: Share | None = None
    price: Money | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    max_per_customer: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    consent_purpose: Purpose = "marketing"
    weight: Annotated[float, Field(ge=0, le=1e6)] = 1.0
    response_rate: Share | None = None
    uplift: Annotated[float, Field(ge=-1, le=1)] | None = None
    uplift_by_segment: dict[Short, Annotated[float, Field(ge=-1, le=1)]] = Field(
        default_factory=dict
    )


class OfferIn(OfferFields):
    """A new offer."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class OfferOut(BaseModel):
    """An offer of the catalogue."""

    id: str
    name: str
    kind: str
    product: str | None
    category: str | None
    eligibility: str | None
    channels: list[str]
    contact_cost: dict[str, float]
    margin: float | None
    margin_rate: float | None
    price: float | None
    valid_from: str | None
    valid_to: str | None
    max_per_customer: int | None
    consent_purpose: str
    weight: float
    response_rate: float | None
    uplift: float | None
    uplift_by_segment: dict[str, float]


class CandidateOut(BaseModel):
    """One offer considered: its score components and why it won, lost or was excluded."""

    offer_id: str
    name: str
    kind: str
    status: str
    step: str
    reason: str
    response: float | None
    response_source: str | None
    margin: float | None
    at_stake: float | None
    contact_cost: float | None
    expected_value: float | None
    weight: float | None
    boost: float | None
    score: float | None
    price: float | None
    item: str | None


class DecisionOut(BaseModel):
    """The next best action (``action`` null: no action beats doing nothing), and why."""

    id: int | None
    customer_id: str
    channel: str
    at: str
    action: CandidateOut | None
    no_action: bool
    reason: str
    offer_text: str | None = Field(description="The action in one line for an agent.")
    candidates: list[CandidateOut]
    inputs_hash: str
    campaign: str | None


class ResponseIn(_In):
    """What the customer did with the offer a decision chose."""

    outcome: Literal["accepted", "declined"]
    agent: Short | None = None


class ResponseOut(BaseModel):
    """The recorded response (``repeated``: it had been recorded before; nothing changed)."""

    decision_id: int
    customer_id: str
    offer_id: str
    outcome: str
    at: str
    touchpoint_id: int | None
    repeated: bool


class QuoteIn(_In):
    """Ask for the price to show a customer for a product on a channel."""

    customer_id: Short
    product: Short
    channel: Channel
    price: Money | None = Field(
        default=None, description="The price this channel would show; none: only a live quote."
    )
    offer_id: Short | None = None
    on_conflict: Literal["align", "refuse"] = "align"


class QuoteRecord(BaseModel):
    """A live price for a customer and product."""

    id: int
    customer_id: str
    product: str
    price: float
    channel: str
    offer_id: str | None
    created_at: str
    expires_at: str


class QuoteOut(BaseModel):
    """What was quoted (``status``: new, reused, aligned or refused), the quote, and why."""

    status: str
    quote: QuoteRecord | None
    reason: str


class CampaignOut(BaseModel):
    """A campaign: its offers, audience, holdout, arms' sizes and whether it was exported."""

    name: str
    offers: list[str]
    channel: str
    audience: str | None
    holdout: float
    start: str
    end: str
    at: str
    price_conflict: str
    counts: dict[str, int]
    actions: dict[str, int]
    exported_at: str | None
    lift: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The last analysis against the holdout (`patron campaign analyze`): per metric the "
            "lift, its 95% interval, p-value and sentence; per offer; the sample-ratio check."
        ),
    )


# --- offers ------------------------------------------------------------------------------------


@router.get(
    "/offers",
    operation_id="offers.list",
    response_model=Page[OfferOut],
    summary="The offer catalogue",
)
def offers_list(
    request: Request,
    caller: Annotated[Caller, allow("offers.list")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One page of the catalogue, by id."""
    every = list_offers(store_of(request))
    return page([o.to_dict() for o in every[offset : offset + limit + 1]], limit, offset)


@router.post(
    "/offers",
    operation_id="offers.create",
    response_model=OfferOut,
    status_code=201,
    summary="Add an offer",
)
def offers_create(
    request: Request, body: OfferIn, caller: Annotated[Caller, allow("offers.create")]
) -> dict[str, Any]:
    """Checked like an offers file (eligibility parsed against known attributes); 422 if not."""
    store = store_of(request)
    offer = create_offer(
        store, body.model_dump(mode="json", exclude_none=True), source=f"api key {caller.key_id}"
    )
    audit(store, caller, target=offer.id)
    return offer.to_dict()


@router.get(
    "/offers/{offer_id}",
    operation_id="offers.get",
    response_model=OfferOut,
    summary="One offer",
)
def offers_get(
    request: Request, offer_id: OfferId, caller: Annotated[Caller, allow("offers.get")]
) -> dict[str, Any]:
    """An offer's definition."""
    return get_offer(store_of(request), offer_id).to_dict()


@router.put(
    "/offers/{offer_id}",
    operation_id="offers.update",
    response_model=OfferOut,
    summary="Replace an offer's fields",
)
def offers_update(
    request: Request,
    offer_id: OfferId,
    body: OfferFields,
    caller: Annotated[Caller, allow("offers.update")],
) -> dict[str, Any]:
    """The offer with these fields (checked as a whole; the id stays)."""
    store = store_of(request)
    offer = update_offer(
        store,
        offer_id,
        body.model_dump(mode="json", exclude_none=False),
        source=f"api key {caller.key_id}",
    )
    audit(store, caller, target=offer_id)
    return offer.to_dict()


@router.delete(
    "/offers/{offer_id}",
    operation_id="offers.delete",
    status_code=204,
    summary="Remove an offer",
)
def offers_delete(
    request: Request, offer_id: OfferId, caller: Annotated[Caller, allow("offers.delete")]
) -> Response:
    """Decisions and quotes that name it stay, as history."""
    store = store_of(request)
    delete_offer(store, offer_id)
    audit(store, caller, target=offer_id)
    return Response(status_code=204)


# --- next best action ---------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/next-best-action",
    operation_id="customers.next_best_action",
    response_model=DecisionOut,
    summary="The next best action for a channel",
)
def customer_nba(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.next_best_action")],
    channel: Annotated[Channel, Query(description="Where the action would happen.")] = "web",
) -> dict[str, Any]:
    """Eligible offers by expected value, under preferences, consent and the contact policy.

    The decision is logged with every candidate's score components; report what the customer
    did with ``POST /decisions/{id}/response``.
    """
    store = store_of(request)
    decision = next_best_action(store, customer_id, channel)
    audit(store, caller, target=decision.customer_id, detail={"decision": decision.id})
    return {**decision.to_dict(), "offer_text": offer_text(decision)}


@router.post(
    "/decisions/{decision_id}/response",
    operation_id="decisions.response",
    response_model=ResponseOut,
    summary="The customer accepted or declined the offer",
)
def decision_response(
    request: Request,
    decision_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ResponseIn,
    caller: Annotated[Caller, allow("decisions.response")],
) -> dict[str, Any]:
    """Logs an ``offer_accepted``/``offer_declined`` touch point.

    The same response twice is recorded once; the other one afterwards is refused (422).
    """
    store = store_of(request)
    result = record_response(store, decision_id, body.outcome, agent=body.agent)
    if not result.repeated:
        audit(
            store,
            caller,
            target=result.customer_id,
            detail={"decision": decision_id, "outcome": body.outcome},
        )
    return result.to_dict()


# --- prices --------------------------------------------------------------------------------------


@router.post(
    "/quotes",
    operation_id="quotes.quote",
    response_model=QuoteOut,
    summary="The one price to show a customer for a product",
)
def quotes_quote(
    request: Request, body: QuoteIn, caller: Annotated[Caller, allow("quotes.quote")]
) -> dict[str, Any]:
    """A live quote is reused across channels; a different price is aligned or refused."""
    store = store_of(request)
    known_customer(store, body.customer_id)
    outcome = quote(
        store,
        body.customer_id,
        body.product,
        body.channel,
        price=body.price,
        offer_id=body.offer_id,
        on_conflict=body.on_conflict,
    )
    audit(store, caller, target=body.customer_id, detail={"status": outcome.status})
    return outcome.to_dict()


# --- campaigns -----------------------------------------------------------------------------------


@router.get(
    "/campaigns",
    operation_id="campaigns.list",
    response_model=Page[CampaignOut],
    summary="Campaigns, newest first",
)
def campaigns_list(
    request: Request,
    caller: Annotated[Caller, allow("campaigns.list")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One page of campaigns with their holdout, arms' sizes and export time."""
    found = list_campaigns(store_of(request), limit=limit + 1, offset=offset)
    items = [c.to_dict() for c in found]
    return page(items, limit, offset)


@router.get(
    "/campaigns/{name}",
    operation_id="campaigns.get",
    response_model=CampaignOut,
    summary="One campaign's status",
)
def campaigns_get(
    request: Request,
    name: Annotated[str, Path(min_length=1, max_length=64)],
    caller: Annotated[Caller, allow("campaigns.get")],
) -> dict[str, Any]:
    """Its definition, the customers per arm, those with an action, and the export time."""
    return get_campaign(store_of(request), name).to_dict()
