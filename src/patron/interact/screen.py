"""The agent screen: everything a call-centre agent (or any face) needs about one customer.

One domain function, :func:`agent_screen`, used by the CLI now and by the service later: who
the customer is, their value, needs, what we know (facts and preferences with dates), recent
touch points, what to ask (the next question and its purpose), what to offer, and a short
script in words. Everything comes from the store (the live publication), never the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.interact.consent import ConsentDecision, consent_decisions
from patron.interact.policy import (
    POLICY_KEY,
    ContactDecision,
    ContactPolicy,
    contact_decision,
    policy_from_text,
)
from patron.interact.profiles import Profile, find_profile
from patron.interact.profiling import Fact, NextQuestion, current_facts, plan_questions
from patron.interact.questions import BANK_VERSION_KEY
from patron.interact.touchpoints import Touchpoint, recent_touchpoints
from patron.interact.vocabulary import CHANNELS, check_choice, to_utc, utc_now
from patron.store import Store
from patron.store.publish import PHONE_REGION_KEY, PUBLICATION_KEY
from patron.store.schema import identifiers, store_meta

__all__ = ["AgentScreen", "CustomerView", "agent_screen", "read_customer", "screen_from"]

_TIER_WORDS = {
    "MVC": "one of our most valuable customers",
    "MGC": "a customer with much room to grow",
    "BZ": "a customer who does not yet cover the cost of serving them",
    "other": "a regular customer",
}


@dataclass(frozen=True)
class AgentScreen:
    """What the agent sees (see the module docstring); :meth:`to_dict` is the JSON view."""

    customer_id: str
    channel: str
    publication: int
    profile: Profile
    identifiers: list[tuple[str, str]]
    facts: list[Fact]
    touchpoints: list[Touchpoint]
    consent: dict[str, bool]
    contact: ContactDecision
    next_question: NextQuestion | None
    no_question_reason: str
    offer: str | None
    script: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The screen as strict JSON-ready data."""
        p = self.profile
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "publication": self.publication,
            "identifiers": [{"kind": k, "value": v} for k, v in self.identifiers],
            "customer_type": p.customer_type,
            "email": p.email,
            "phone": p.phone,
            "value": {
                "clv": p.clv,
                "clv_low": p.clv_low,
                "clv_high": p.clv_high,
                "interval": "95%",
                "p_alive": p.p_alive,
                "expected_purchases": p.expected_purchases,
                "tier": p.tier,
                "tier_reason": p.tier_reason,
                "loyalty": p.loyalty,
                "last_purchase": p.last_purchase.date().isoformat() if p.last_purchase else None,
                "text": _value_words(p),
            },
            "needs": {
                "segment": p.segment,
                "description": p.segment_description,
                "recent_categories": (
                    [c for c in p.recent_categories.split(";") if c]
                    if p.recent_categories is not None
                    else None
                ),
            },
            "relationship": (
                {
                    "current": p.relationship,
                    "recommended": p.relationship_recommended,
                    "actions": [a for a in (p.relationship_actions or "").split("\n") if a],
                }
                if p.relationship
                else None
            ),
            "facts": [f.to_dict() for f in self.facts if not f.is_preference],
            "preferences": [f.to_dict() for f in self.facts if f.is_preference],
            "touchpoints": [t.to_dict() for t in self.touchpoints],
            "consent": self.consent,
            "contact": self.contact.to_dict(),
            "next_question": self.next_question.to_dict() if self.next_question else None,
            "no_question_reason": self.no_question_reason or None,
            "offer": {"tier": p.tier, "action": self.offer},
            "script": self.script,
        }


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"{x:,.2f}"


def _value_words(p: Profile) -> str:
    if p.clv is None:
        return "No value estimate is published for this customer."
    parts = [f"Expected value over the horizon {_money(p.clv)}"]
    if p.clv_low is not None and p.clv_high is not None:
        parts.append(f"(95% interval {_money(p.clv_low)} to {_money(p.clv_high)})")
    text = " ".join(parts) + "."
    if p.p_alive is not None:
        text += f" {p.p_alive:.0%} likely to be still buying."
    if p.tier:
        text += f" Tier {p.tier}" + (f": {p.tier_reason}." if p.tier_reason else ".")
    return text


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _script(
    p: Profile,
    facts: list[Fact],
    question: NextQuestion | None,
    offer: str | None,
    contact: ContactDecision,
) -> list[str]:
    who = _TIER_WORDS.get(p.tier or "", "a customer")
    loyalty = f" ({p.loyalty})" if p.loyalty else ""
    lines = [f"Greet the customer by name: {who}{loyalty}."]
    prefs = [f for f in facts if f.is_preference]
    if prefs:
        remembered = "; ".join(f"{f.attribute.replace('_', ' ')}: {_show(f.value)}" for f in prefs)
        lines.append(f"Use what they told us: {remembered}.")
    if p.last_purchase is not None:
        lines.append(f"Their last purchase was on {p.last_purchase:%d %B %Y}.")
    if p.recent_categories:
        lately = ", ".join(c for c in p.recent_categories.split(";") if c)
        lines.append(f"Lately they bought: {lately}.")
    if question is not None:
        q = question.question
        choices = f" ({', '.join(q.answers)})" if q.answers else ""
        lines.append(f'Ask one question: "{q.text}"{choices} - say why: {q.purpose}')
    else:
        lines.append("Do not ask for information today.")
    if offer:
        if contact.allowed:
            lines.append(f"What to offer: {offer}")
        else:
            lines.append(
                f"Do not make a marketing offer now ({contact.reason}); help with their request."
            )
    return lines


@dataclass(frozen=True)
class CustomerView:
    """One customer on one channel, as one read of the store sees them.

    The store's settings (``store_meta``), the live published profile, the current facts,
    the contact policy and the consent per purpose; contact decisions are computed once per
    purpose and time (:meth:`contact`). Read by :func:`read_customer`; shared by the agent
    screen and Customize's next best action, so that a screen with its offer reads the
    customer once.
    """

    channel: str
    meta: Mapping[str, str]
    profile: Profile
    facts: list[Fact]
    policy: ContactPolicy
    consents: dict[str, ConsentDecision]
    _contacts: dict[tuple[str, datetime], ContactDecision] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def customer_id(self) -> str:
        """The customer's id (the published profile's)."""
        return self.profile.customer_id

    def contact(self, conn: Connection, purpose: str, at: datetime) -> ContactDecision:
        """May we contact the customer for ``purpose`` on this channel at ``at`` (computed once)."""
        key = (purpose, at)
        found = self._contacts.get(key)
        if found is None:
            found = contact_decision(
                conn,
                self.customer_id,
                self.channel,
                at,
                purpose,
                policy=self.policy,
                profile=self.profile,
                consent=self.consents[purpose],
            )
            self._contacts[key] = found
        return found


def read_customer(conn: Connection, customer: str, channel: str) -> CustomerView:
    """Read one customer (by id, e-mail, phone or card) on a channel, inside the caller's read.

    Raises
    ------
    NotFoundError
        No published customer has that id or identifier, or nothing is published yet.
    """
    check_choice(channel, CHANNELS, "channel")
    meta = {
        str(k): str(v) for k, v in conn.execute(sa.select(store_meta.c.key, store_meta.c.value))
    }
    live = meta.get(PUBLICATION_KEY)
    profile = find_profile(
        conn, customer, int(live) if live is not None else None, meta.get(PHONE_REGION_KEY)
    )
    policy = policy_from_text(meta.get(POLICY_KEY))
    return CustomerView(
        channel=channel,
        meta=meta,
        profile=profile,
        facts=current_facts(conn, profile.customer_id),
        policy=policy,
        consents=consent_decisions(
            conn, profile.customer_id, channel, defaults=policy.consent_defaults
        ),
    )


def screen_from(
    conn: Connection,
    view: CustomerView,
    at: datetime,
    *,
    offers: Mapping[str, str] | None = None,
    offer: str | None = None,
    touchpoint_limit: int = 10,
) -> AgentScreen:
    """The agent screen of a customer already read (:func:`read_customer`), in the same read."""
    profile = view.profile
    customer_id = view.customer_id
    publication = profile.publication_id
    idents = [("customer_id", customer_id)] + [
        (str(k), str(v))
        for k, v in conn.execute(
            sa.select(identifiers.c.kind, identifiers.c.value)
            .where(
                identifiers.c.publication_id == publication,
                identifiers.c.customer_id == customer_id,
            )
            .order_by(identifiers.c.kind, identifiers.c.value)
        )
    ]
    tps = recent_touchpoints(conn, customer_id, touchpoint_limit)
    plan = plan_questions(
        conn,
        customer_id,
        view.channel,
        at=at,
        profile=profile,
        consent=view.consents["profiling"],
        facts_now=view.facts,
        bank_version=view.meta.get(BANK_VERSION_KEY),
    )
    contact = view.contact(conn, "marketing", at)
    consent = {purpose: d.allowed for purpose, d in view.consents.items()}
    if offer is None and profile.tier:
        offer = (offers or {}).get(profile.tier or "")
    return AgentScreen(
        customer_id=customer_id,
        channel=view.channel,
        publication=publication,
        profile=profile,
        identifiers=idents,
        facts=view.facts,
        touchpoints=tps,
        consent=consent,
        contact=contact,
        next_question=plan.best,
        no_question_reason=plan.why_none,
        offer=offer,
        script=_script(profile, view.facts, plan.best, offer, contact),
    )


def agent_screen(
    store: Store,
    customer: str,
    channel: str = "phone",
    *,
    at: datetime | None = None,
    offers: Mapping[str, str] | None = None,
    offer: str | None = None,
    touchpoint_limit: int = 10,
) -> AgentScreen:
    """Assemble the agent screen for a customer found by id, e-mail, phone or card.

    Parameters
    ----------
    customer
        A customer id or identifier (e-mail, phone, card, source id).
    channel
        The channel of the interaction (the next question must be allowed on it).
    at
        The time of the interaction (default now; UTC if naive).
    offers
        What to offer per tier (the tiers' actions, when no offer is chosen).
    offer
        What to offer this customer (the next best action, chosen by Customize); wins over
        ``offers``.
    touchpoint_limit
        How many recent touch points to show.

    Raises
    ------
    NotFoundError
        No published customer has that id or identifier, or nothing is published yet.
    """
    check_choice(channel, CHANNELS, "channel")
    when = to_utc(at) if at is not None else utc_now()
    with store.read() as conn:
        view = read_customer(conn, customer, channel)
        return screen_from(
            conn, view, when, offers=offers, offer=offer, touchpoint_limit=touchpoint_limit
        )
