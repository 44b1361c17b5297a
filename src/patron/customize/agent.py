"""The agent screen with its "what to offer" from the next best action.

Interact's agent screen (:func:`~patron.interact.screen.screen_from`) knows nothing of
offers (Interact never imports Customize); this composes it with the decision, for the CLI
and the service, on one read of the customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from patron.customize.nba import Decision, NbaSettings, decide, gather_inputs, record_decision
from patron.customize.offers import catalogue
from patron.interact.screen import AgentScreen, read_customer, screen_from
from patron.interact.vocabulary import to_utc, utc_now
from patron.store import Store

__all__ = ["offer_text", "screen_with_offer"]


def offer_text(decision: Decision) -> str | None:
    """The decision in one line for the agent (None when there is no action)."""
    a = decision.action
    if a is None:
        return None
    price = f" at {a.price:,.2f}" if a.price is not None else ""
    return (
        f"{a.name}{price} ({a.kind}; expected value {a.expected_value:,.2f}, "
        f"{a.response:.1%} likely to respond)"
    )


def screen_with_offer(
    store: Store,
    customer: str,
    channel: str = "phone",
    *,
    at: datetime | None = None,
    settings: NbaSettings | None = None,
    fallback: Mapping[str, str] | None = None,
) -> tuple[AgentScreen, Decision, dict[str, Any]]:
    """The agent screen whose offer is the customer's next best action (logged).

    The customer is read once, in one read transaction, for both the arbitration and the
    screen; the decision is then written. ``fallback`` (what to offer per tier) is used only
    while the offer catalogue is empty; then no decision is logged (there was nothing to
    choose from). Returns the screen, the decision, and the JSON view (the screen's, with the
    decision under ``next_best_action``).
    """
    when = to_utc(at) if at is not None else utc_now()
    with store.read() as conn:
        view = read_customer(conn, customer, channel)
        offers = catalogue(conn, meta=view.meta)
        if not offers:  # nothing to choose from: the screen alone, no arbitration, nothing logged
            screen = screen_from(conn, view, when, offers=fallback)
            decision = Decision(
                customer_id=screen.customer_id,
                channel=channel,
                at=when,
                action=None,
                reason="The offer catalogue is empty (load offers with `patron offers load`).",
                candidates=[],
                inputs_hash="",
            )
        else:
            inputs, _ = gather_inputs(conn, customer, channel, when, offers=offers, view=view)
            decision = decide(inputs, when, settings)
            screen = screen_from(conn, view, when, offer=offer_text(decision))
    if offers:
        decision = record_decision(store, decision)
    data = screen.to_dict()
    data["offer"]["reason"] = decision.reason if offers else None
    data["next_best_action"] = decision.to_dict()
    return screen, decision, data
