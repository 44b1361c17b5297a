"""Customers: find, profile, the agent screen, what we know, and what the agent records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from patron.api.auth import Caller, allow, store_of
from patron.api.common import Limit, Offset, audit, known_customer, page
from patron.api.problems import ApiProblem, StrictJSONResponse
from patron.api.schemas import (
    AnswerIn,
    Channel,
    ContactDecisionOut,
    DeclineIn,
    DeclineOut,
    FactOut,
    NextQuestionAnswer,
    Page,
    PreferenceIn,
    ProfileOut,
    ScreenOut,
    TouchpointOut,
)
from patron.errors import NotFoundError
from patron.interact.policy import contact_decision
from patron.interact.profiles import live_profile, resolve_customer
from patron.interact.profiling import (
    current_facts,
    decline_question,
    plan_questions,
    record_answer,
)
from patron.interact.questions import question_bank
from patron.interact.touchpoints import recent_touchpoints
from patron.interact.vocabulary import utc_now

__all__ = ["router"]

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=320,
        description="The customer id (reads also take an e-mail, phone or card).",
    ),
]
Ident = Annotated[str | None, Query(min_length=1, max_length=320)]
ChannelQ = Annotated[Channel, Query(description="The channel of the interaction.")]


def _profile(request: Request, text: str) -> dict[str, Any]:
    store = store_of(request)
    with store.read() as conn:
        customer_id = resolve_customer(conn, text)
        profile = live_profile(conn, customer_id)
    if profile is None:  # pragma: no cover - resolve_customer found it in the live publication
        raise NotFoundError(f"Unknown customer {customer_id!r}.")
    return profile.to_dict()


@router.get(
    "",
    operation_id="customers.find",
    response_model=ProfileOut,
    summary="Find a customer by e-mail, phone or card",
)
def find_customer(
    request: Request,
    caller: Annotated[Caller, allow("customers.find")],
    email: Ident = None,
    phone: Ident = None,
    card: Ident = None,
) -> dict[str, Any]:
    """The profile of the one customer with this e-mail, phone number or card (give one)."""
    given = [v for v in (email, phone, card) if v is not None]
    if len(given) != 1:
        raise ApiProblem(422, "Give exactly one of the query parameters email, phone or card.")
    return _profile(request, given[0])


@router.get(
    "/{customer_id}",
    operation_id="customers.get",
    response_model=ProfileOut,
    summary="A customer's profile",
)
def get_customer(
    request: Request, customer_id: CustomerId, caller: Annotated[Caller, allow("customers.get")]
) -> dict[str, Any]:
    """The published profile: value with its interval, tier, loyalty, segment, contact."""
    return _profile(request, customer_id)


@router.get(
    "/{customer_id}/screen",
    operation_id="customers.screen",
    response_model=ScreenOut,
    summary="The agent screen",
)
def screen(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.screen")],
    channel: ChannelQ = "phone",
) -> Response:
    """Who, value, needs, what we know, recent touch points, what to ask and offer, a script."""
    from patron.customize.agent import offer_text, screen_with_offer

    _, decision, data = screen_with_offer(
        store_of(request), customer_id, channel, fallback=request.app.state.offers
    )
    data["next_best_action"]["offer_text"] = offer_text(decision)  # the decision's view, once
    # The hot path: the dictionary is the schema's (tests check it), sent without re-validation.
    return StrictJSONResponse(data)


@router.get(
    "/{customer_id}/next-question",
    operation_id="customers.next_question",
    response_model=NextQuestionAnswer,
    summary="The one question to ask now",
)
def next_question(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.next_question")],
    channel: ChannelQ = "phone",
) -> dict[str, Any]:
    """The question worth most for this customer on this channel, or why there is none."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        plan = plan_questions(conn, cid, channel)
    best = plan.best
    return {
        "customer_id": cid,
        "channel": channel,
        "question": best.to_dict() if best else None,
        "no_question_reason": plan.why_none or None,
    }


@router.get(
    "/{customer_id}/facts",
    operation_id="customers.facts",
    response_model=list[FactOut],
    summary="What the customer told us",
)
def facts(
    request: Request, customer_id: CustomerId, caller: Annotated[Caller, allow("customers.facts")]
) -> list[dict[str, Any]]:
    """The latest answer per attribute (preferences included)."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        return [f.to_dict() for f in current_facts(conn, cid)]


@router.get(
    "/{customer_id}/preferences",
    operation_id="customers.preferences",
    response_model=list[FactOut],
    summary="The customer's remembered preferences",
)
def preferences(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.preferences")],
) -> list[dict[str, Any]]:
    """The preferences (facts learned by preference questions), latest per attribute."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        return [f.to_dict() for f in current_facts(conn, cid) if f.is_preference]


@router.get(
    "/{customer_id}/touchpoints",
    operation_id="customers.touchpoints",
    response_model=Page[TouchpointOut],
    summary="The customer's touch points, newest first",
)
def touchpoints(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.touchpoints")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One page of the customer's touch points, newest first."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        rows = recent_touchpoints(conn, cid, offset + limit + 1)[offset:]
    return page([t.to_dict() for t in rows], limit, offset)


@router.get(
    "/{customer_id}/contact",
    operation_id="customers.contact",
    response_model=ContactDecisionOut,
    summary="May we contact the customer now?",
)
def contact(
    request: Request,
    customer_id: CustomerId,
    caller: Annotated[Caller, allow("customers.contact")],
    channel: ChannelQ,
    purpose: Annotated[str, Query(pattern="^(marketing|profiling|service)$")] = "marketing",
) -> dict[str, Any]:
    """Consent and the contact policy (caps, gaps, quiet hours, tier rules) decide, now."""
    with store_of(request).read() as conn:
        cid = resolve_customer(conn, customer_id)
        return contact_decision(conn, cid, channel, utc_now(), purpose).to_dict()


@router.post(
    "/{customer_id}/answers",
    operation_id="customers.answer",
    response_model=FactOut,
    status_code=201,
    summary="Record the customer's answer to a question",
)
def answer(
    request: Request,
    customer_id: CustomerId,
    body: AnswerIn,
    caller: Annotated[Caller, allow("customers.answer")],
) -> dict[str, Any]:
    """A fact and an ``answer`` touch point, in one transaction (needs profiling consent)."""
    store = store_of(request)
    fact = record_answer(
        store,
        customer_id,
        body.question_id,
        body.answer,
        channel=body.channel,
        agent=body.agent,
        at=body.occurred_at,
        idempotency_key=body.idempotency_key,
    )
    audit(
        store,
        caller,
        target=customer_id,
        detail={"question": fact.question_id, "touchpoint": fact.touchpoint_id},
    )
    return fact.to_dict()


@router.post(
    "/{customer_id}/declines",
    operation_id="customers.decline",
    response_model=DeclineOut,
    status_code=201,
    summary="Record that the customer declined a question",
)
def decline(
    request: Request,
    customer_id: CustomerId,
    body: DeclineIn,
    caller: Annotated[Caller, allow("customers.decline")],
) -> dict[str, Any]:
    """A ``question_declined`` touch point: the question's cool-down starts."""
    store = store_of(request)
    tp = decline_question(
        store,
        customer_id,
        body.question_id,
        channel=body.channel,
        agent=body.agent,
        at=body.occurred_at,
    )
    audit(
        store, caller, target=customer_id, detail={"question": body.question_id, "touchpoint": tp}
    )
    return {"touchpoint_id": tp}


@router.post(
    "/{customer_id}/preferences",
    operation_id="customers.set_preference",
    response_model=FactOut,
    status_code=201,
    summary="Record a preference the customer states",
)
def set_preference(
    request: Request,
    customer_id: CustomerId,
    body: PreferenceIn,
    caller: Annotated[Caller, allow("customers.set_preference")],
) -> dict[str, Any]:
    """Recorded as the answer to the preference question that learns ``attribute``."""
    store = store_of(request)
    known_customer(store, customer_id)
    with store.read() as conn:
        question = question_bank(conn).for_attribute(body.attribute)
    if not question.preference:
        raise ApiProblem(
            422,
            f"{body.attribute!r} is not a preference (its question {question.id!r} is not marked "
            "preference); record it as an answer instead.",
        )
    fact = record_answer(
        store, customer_id, question.id, body.value, channel=body.channel, agent=body.agent
    )
    audit(
        store,
        caller,
        target=customer_id,
        detail={"question": question.id, "touchpoint": fact.touchpoint_id},
    )
    return fact.to_dict()
