"""Next best action: the one offer worth making to a customer now, or none — with its reasons.

The arbitration (:func:`arbitrate`) is a pure function of what we know, so the same inputs
always give the same decision:

1. **Eligibility**: the offer is made on the channel, valid today, its condition holds for the
   customer (profile, facts, preferences, days since the last purchase), and it has not been
   made ``max_per_customer`` times already.
2. **Expected value**: response probability (the uplift an experiment measured for the
   customer's needs segment, else overall, else the offer's prior response rate) × the value
   of a response − the contact cost on the channel. The value of a response is the offer's
   margin (at the live quoted price, see 3); for **retention** and **reactivation** offers it
   also counts the customer value at stake, CLV × (1 − P(alive)). The score ranking the
   offers is the expected value × the offer's business weight.
3. **Price**: an offer for a product with a live quote at another price is aligned to it (its
   margin moves with the price) or refused (``NbaSettings.price_conflict``).
4. **Preferences**: hard filters first (``preferred_channel``: no offer on another channel;
   ``avoid_categories`` and ``avoid_kinds``), then re-ranking (an offer in the customer's
   ``favourite_department`` scores ``1 + preference_boost`` times more).
5. **Consent and contact policy** (from Interact): the consent the offer's purpose needs on
   the channel, and every contact rule (caps, gaps, quiet hours, tier rules); service offers
   are exempt from the rules but not from consent.
6. The best remaining offer by score (ties: by offer id), if its expected value is above zero
   (doing nothing costs nothing); else **no action**.

:func:`next_best_action` reads everything from the store (never the warehouse) and logs the
decision in ``decisions`` with every candidate's components and why it lost.
:func:`nba_batch` runs the same steps for an audience in the warehouse engine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.customize.offers import PROFILE_ATTRIBUTES, Offer, catalogue
from patron.customize.quotes import PRICE_CONFLICT, Quote, live_quotes
from patron.errors import NotFoundError, UsageError
from patron.interact.policy import ContactDecision
from patron.interact.profiles import Profile
from patron.interact.profiling import Fact
from patron.interact.screen import CustomerView, read_customer
from patron.interact.vocabulary import CHANNELS, check_choice, to_utc, utc_now
from patron.store import Store
from patron.store.schema import decisions

__all__ = [
    "Candidate",
    "Decision",
    "NbaInputs",
    "NbaSettings",
    "arbitrate",
    "customer_attributes",
    "decide",
    "decision_log",
    "gather_inputs",
    "next_best_action",
    "record_decision",
]

#: Offer kinds whose value counts the customer value at stake (CLV × (1 − P(alive))).
AT_RISK_KINDS = ("retention", "reactivation")


@dataclass(frozen=True)
class NbaSettings:
    """How the arbitration treats prices and preferences.

    Parameters
    ----------
    price_conflict
        ``align`` (an offer's price is set to the live quote's) or ``refuse`` (the offer is
        not made while a quote at another price is live).
    preference_boost
        Extra share of score for an offer in the customer's favourite department (0.2:
        +20%); re-ranks, never turns a loss into a gain (the expected value decides "no
        action").
    """

    price_conflict: str = "align"
    preference_boost: float = 0.2

    def __post_init__(self) -> None:
        check_choice(self.price_conflict, PRICE_CONFLICT, "price conflict rule")
        if not self.preference_boost >= 0:
            raise UsageError("preference_boost must be 0 or more.")


@dataclass(frozen=True)
class NbaInputs:
    """Everything the arbitration reads about one customer, channel and moment."""

    customer_id: str
    channel: str
    day: date
    attributes: Mapping[str, Any]  # profile, facts and preferences (lower-case names)
    preferences: Mapping[str, Any]
    consent: Mapping[str, tuple[bool, str]]  # purpose -> (allowed, reason)
    contact: Mapping[str, tuple[bool, str]]  # purpose -> (allowed, reason): consent + rules
    made: Mapping[str, int]  # offer id -> times made (sent) to this customer
    quotes: Mapping[str, float]  # product -> live quoted price
    offers: Sequence[Offer]

    def digest(self) -> str:
        """A hash of the inputs (the same inputs give the same hash, and the same decision)."""
        data = {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "day": self.day.isoformat(),
            "attributes": {k: _plain(v) for k, v in sorted(self.attributes.items())},
            "preferences": {k: _plain(v) for k, v in sorted(self.preferences.items())},
            "consent": {k: list(v) for k, v in sorted(self.consent.items())},
            "contact": {k: list(v) for k, v in sorted(self.contact.items())},
            "made": dict(sorted(self.made.items())),
            "quotes": dict(sorted(self.quotes.items())),
            "offers": [_offer_digest(o) for o in self.offers],
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


_DIGESTS: dict[int, tuple[Offer, str]] = {}


def _offer_digest(offer: Offer) -> str:
    """A hash of an offer's definition, memoised per offer object."""
    found = _DIGESTS.get(id(offer))
    if found is not None and found[0] is offer:
        return found[1]
    text = json.dumps(offer.to_dict(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if len(_DIGESTS) > 10_000:
        _DIGESTS.clear()
    _DIGESTS[id(offer)] = (offer, digest)
    return digest


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Candidate:
    """One offer considered for the customer: its score components and its fate.

    ``status`` is ``chosen``, ``lost`` (eligible and allowed, but another scored higher or
    doing nothing is better) or ``excluded`` (at ``step``: channel, validity, eligibility,
    limit, price, preference, consent, contact policy); ``reason`` says why in words.
    """

    offer_id: str
    name: str
    kind: str
    status: str
    step: str
    reason: str
    response: float | None = None
    response_source: str | None = None
    margin: float | None = None
    at_stake: float | None = None
    contact_cost: float | None = None
    expected_value: float | None = None
    weight: float | None = None
    boost: float | None = None
    score: float | None = None
    price: float | None = None
    item: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (non-finite numbers as null)."""
        return {k: _plain(getattr(self, k)) for k in _CANDIDATE_FIELDS}


_CANDIDATE_FIELDS = tuple(f.name for f in fields(Candidate))


@dataclass(frozen=True)
class Decision:
    """The next best action for one customer on one channel: an offer, or none, and why."""

    customer_id: str
    channel: str
    at: datetime
    action: Candidate | None
    reason: str
    candidates: list[Candidate]
    inputs_hash: str
    id: int | None = None
    campaign: str | None = None
    screen: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The decision as strict JSON-ready data."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "at": self.at.isoformat() + "Z",
            "action": self.action.to_dict() if self.action else None,
            "no_action": self.action is None,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "inputs_hash": self.inputs_hash,
            "campaign": self.campaign,
        }


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, list | tuple | set):
        return {str(v).lower() for v in value}
    return {v.strip().lower() for v in str(value).replace(";", ",").split(",") if v.strip()}


def _excluded(offer: Offer, step: str, reason: str, **parts: Any) -> Candidate:
    return Candidate(offer.id, offer.name, offer.kind, "excluded", step, reason, **parts)


def arbitrate(
    inputs: NbaInputs, settings: NbaSettings | None = None
) -> tuple[Candidate | None, str, list[Candidate]]:
    """The best action for the inputs (or None), the reason in words, and every candidate.

    Pure and deterministic: see the module docstring for the steps.
    """
    cfg = settings or NbaSettings()
    attrs = inputs.attributes
    segment = attrs.get("segment")
    clv = _number(attrs.get("clv")) or 0.0
    p_alive = _number(attrs.get("p_alive"))
    prefs = inputs.preferences
    preferred = prefs.get("preferred_channel")
    avoid_categories = _as_set(prefs.get("avoid_categories"))
    avoid_kinds = _as_set(prefs.get("avoid_kinds"))
    favourite = attrs.get("favourite_department")
    favourite = str(favourite).lower() if favourite is not None else None
    scored: list[Candidate] = []
    out: list[Candidate] = []
    for offer in sorted(inputs.offers, key=lambda o: o.id):
        # 1. eligibility
        if inputs.channel not in offer.channels:
            out.append(
                _excluded(
                    offer,
                    "channel",
                    f"not made on {inputs.channel} (only {', '.join(offer.channels)})",
                )
            )
            continue
        if not offer.valid_on(inputs.day):
            span = f"{offer.valid_from or '...'} to {offer.valid_to or '...'}"
            out.append(_excluded(offer, "validity", f"valid {span}, not on {inputs.day}"))
            continue
        rule = offer.rule()
        if rule is not None and not rule(attrs):
            out.append(
                _excluded(offer, "eligibility", f"not eligible: {offer.eligibility} is not true")
            )
            continue
        times = inputs.made.get(offer.id, 0)
        if offer.max_per_customer is not None and times >= offer.max_per_customer:
            out.append(
                _excluded(
                    offer,
                    "limit",
                    f"made {times} time(s) already; at most {offer.max_per_customer}",
                )
            )
            continue
        # 2-3. expected value, at the one live price
        price = offer.price
        item = offer.item
        if item is not None and item in inputs.quotes and price is not None:
            live = inputs.quotes[item]
            if abs(live - price) >= 1e-9:
                if cfg.price_conflict == "refuse":
                    out.append(
                        _excluded(
                            offer,
                            "price",
                            f"{item} is quoted at {live:,.2f} to this customer; the offer's "
                            f"{price:,.2f} would contradict it",
                            price=price,
                            item=item,
                        )
                    )
                    continue
                price = live
        response, source = offer.response(str(segment) if segment is not None else None)
        margin = offer.unit_margin(price)
        at_stake = 0.0
        if offer.kind in AT_RISK_KINDS and p_alive is not None:
            at_stake = max(clv, 0.0) * (1.0 - min(max(p_alive, 0.0), 1.0))
        cost = offer.cost(inputs.channel)
        ev = response * (margin + at_stake) - cost
        parts: dict[str, Any] = {
            "response": response,
            "response_source": source,
            "margin": margin,
            "at_stake": at_stake,
            "contact_cost": cost,
            "expected_value": ev,
            "weight": offer.weight,
            "price": price,
            "item": item,
        }
        # 4. preferences: hard filters, then re-ranking
        if preferred is not None and str(preferred) != inputs.channel:
            out.append(
                _excluded(offer, "preference", f"prefers to hear from us by {preferred}", **parts)
            )
            continue
        if offer.category is not None and offer.category.lower() in avoid_categories:
            out.append(
                _excluded(offer, "preference", f"asked for no {offer.category} offers", **parts)
            )
            continue
        if offer.kind.lower() in avoid_kinds:
            out.append(_excluded(offer, "preference", f"asked for no {offer.kind} offers", **parts))
            continue
        boost = 1.0
        if offer.category is not None and offer.category.lower() == favourite:
            boost = 1.0 + cfg.preference_boost
        score = ev * offer.weight * (boost if ev > 0 else 1.0)
        parts.update(boost=boost, score=score)
        # 5. consent and contact policy
        allowed, why = inputs.consent.get(offer.consent_purpose, (False, "no consent known"))
        if not allowed:
            out.append(_excluded(offer, "consent", why, **parts))
            continue
        allowed, why = inputs.contact.get(offer.consent_purpose, (False, "no contact decision"))
        if not allowed:
            out.append(_excluded(offer, "contact policy", why, **parts))
            continue
        scored.append(Candidate(offer.id, offer.name, offer.kind, "lost", "", "", **parts))
    # 6. the best, or nothing
    scored.sort(key=lambda c: (-(c.score or 0.0), c.offer_id))
    # the highest score among offers worth more than doing nothing (ties: by offer id)
    best = next((c for c in scored if (c.expected_value or 0.0) > 0), None)
    final: list[Candidate] = []
    for c in scored:
        if best is not None and c.offer_id == best.offer_id:
            final.append(_with(c, "chosen", "best", "the highest score"))
        elif (c.expected_value or 0.0) <= 0:
            final.append(
                _with(
                    c,
                    "lost",
                    "value",
                    f"expected value {c.expected_value:,.2f} is not above 0: doing nothing is "
                    "better",
                )
            )
        else:
            assert best is not None
            final.append(
                _with(
                    c,
                    "lost",
                    "score",
                    f"score {c.score:,.2f} below {best.offer_id}'s {best.score:,.2f}",
                )
            )
    chosen = next((c for c in final if c.status == "chosen"), None)
    everything = final + out
    if chosen is not None:
        reason = (
            f"{chosen.name}: expected value {chosen.expected_value:,.2f} "
            f"({chosen.response:.1%} response × {chosen.margin + (chosen.at_stake or 0):,.2f} "  # type: ignore[operator]
            f"− contact {chosen.contact_cost:,.2f}), the best of {len(final)} allowed offer(s)"
        )
    elif final:
        reason = (
            f"no action: none of the {len(final)} allowed offer(s) has an expected value above "
            "0 (doing nothing is better)"
        )
    elif inputs.offers:
        steps = sorted({c.step for c in out})
        reason = f"no action: no offer is allowed ({', '.join(steps)})"
    else:
        reason = "no action: the offer catalogue is empty (load offers with `patron offers load`)"
    return chosen, reason, everything


def _with(c: Candidate, status: str, step: str, reason: str) -> Candidate:
    return replace(c, status=status, step=step, reason=reason)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def customer_attributes(
    profile: Profile, facts_now: Sequence[Fact], at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes an eligibility condition reads, and the preferences alone.

    Profile fields (:data:`~patron.customize.offers.PROFILE_ATTRIBUTES`), every current fact
    and preference by its attribute name (lower-cased), ``days_since_purchase`` and
    ``recent_categories`` (the categories bought in the log's last 90 days, ``;``-joined:
    ``recent_categories.contains('garden')``).
    """
    attrs: dict[str, Any] = {
        "customer_type": profile.customer_type,
        "clv": profile.clv,
        "clv_low": profile.clv_low,
        "clv_high": profile.clv_high,
        "p_alive": profile.p_alive,
        "expected_purchases": profile.expected_purchases,
        "tier": profile.tier,
        "loyalty": profile.loyalty,
        "segment": profile.segment,
        "time_zone": profile.time_zone,
        "days_since_purchase": (
            (at - profile.last_purchase).total_seconds() / 86400.0
            if profile.last_purchase is not None
            else None
        ),
        "recent_categories": profile.recent_categories,
    }
    prefs: dict[str, Any] = {}
    for f in facts_now:
        name = f.attribute.lower()
        if name not in PROFILE_ATTRIBUTES:  # the published profile wins over a stated fact
            attrs[name] = f.value
        if f.is_preference:
            prefs[name] = f.value
    return attrs, prefs


def _made_counts(conn: Connection, customer_id: str) -> dict[str, int]:
    rows = conn.execute(
        sa.select(decisions.c.offer_id, sa.func.count())
        .where(
            decisions.c.customer_id == customer_id,
            decisions.c.offer_id.is_not(None),
            decisions.c.status == "sent",
        )
        .group_by(decisions.c.offer_id)
    )
    return {str(o): int(n) for o, n in rows}


def gather_inputs(
    conn: Connection,
    customer: str,
    channel: str,
    at: datetime,
    *,
    offers: Sequence[Offer] | None = None,
    view: CustomerView | None = None,
) -> tuple[NbaInputs, Profile]:
    """Read what the arbitration needs about one customer from the store (one read).

    ``view`` is the customer already read in this transaction (the agent screen's), reused
    rather than read again.
    """
    seen = view if view is not None else read_customer(conn, customer, channel)
    profile = seen.profile
    customer_id = profile.customer_id
    attrs, prefs = customer_attributes(profile, seen.facts, at)
    consents = seen.consents
    chosen_offers = tuple(offers) if offers is not None else catalogue(conn, meta=seen.meta)
    purposes = sorted({o.consent_purpose for o in chosen_offers})
    contact: dict[str, tuple[bool, str]] = {}
    for purpose in purposes:
        decision: ContactDecision = seen.contact(conn, purpose, at)
        contact[purpose] = (decision.allowed, f"{decision.rule}: {decision.reason}")
    quotes_now: dict[str, Quote] = live_quotes(conn, customer_id, at)
    inputs = NbaInputs(
        customer_id=customer_id,
        channel=channel,
        day=at.date(),
        attributes=attrs,
        preferences=prefs,
        consent={p: (d.allowed, d.reason) for p, d in consents.items()},
        contact=contact,
        made=_made_counts(conn, customer_id),
        quotes={k: q.price for k, q in quotes_now.items()},
        offers=chosen_offers,
    )
    return inputs, profile


def decide(
    inputs: NbaInputs,
    at: datetime,
    settings: NbaSettings | None = None,
    *,
    campaign: str | None = None,
) -> Decision:
    """The decision on gathered inputs (pure: the same inputs give the same decision)."""
    chosen, reason, candidates = arbitrate(inputs, settings)
    return Decision(
        customer_id=inputs.customer_id,
        channel=inputs.channel,
        at=at,
        action=chosen,
        reason=reason,
        candidates=candidates,
        inputs_hash=inputs.digest(),
        campaign=campaign,
    )


def record_decision(store: Store, decision: Decision) -> Decision:
    """Write a decision to ``decisions`` (status ``proposed``); the decision with its id."""
    with store.write() as conn:
        new_id = log_decision(conn, decision)
    return Decision(**{**decision.__dict__, "id": new_id})


def log_decision(
    conn: Connection,
    decision: Decision,
    *,
    status: str = "proposed",
) -> int:
    """Write a decision to ``decisions`` (inside the caller's write); its id."""
    detail = {
        "reason": decision.reason,
        "candidates": [c.to_dict() for c in decision.candidates],
    }
    action = decision.action
    return int(
        conn.execute(
            sa.insert(decisions)
            .values(
                customer_id=decision.customer_id,
                channel=decision.channel,
                decided_at=decision.at,
                offer_id=action.offer_id if action else None,
                expected_value=action.expected_value if action else None,
                status=status,
                campaign=decision.campaign,
                inputs_hash=decision.inputs_hash,
                detail=json.dumps(detail, sort_keys=True),
            )
            .returning(decisions.c.id)
        ).scalar_one()
    )


def next_best_action(
    store: Store,
    customer: str,
    channel: str = "web",
    *,
    at: datetime | None = None,
    settings: NbaSettings | None = None,
    offers: Sequence[Offer] | None = None,
    log: bool = True,
    campaign: str | None = None,
) -> Decision:
    """The next best action for a customer on a channel, from the store, logged.

    Parameters
    ----------
    customer
        A customer id or identifier (e-mail, phone, card, source id).
    channel
        Where the action would happen.
    at
        When (default now; UTC if naive).
    settings
        Price-conflict and preference settings.
    offers
        The offers to choose from (default: the whole catalogue).
    log
        Write the decision to ``decisions`` (status ``proposed``).
    campaign
        The campaign it is for, if any (recorded with the decision).

    Raises
    ------
    NotFoundError
        No published customer has that id or identifier, or nothing is published.
    """
    check_choice(channel, CHANNELS, "channel")
    when = to_utc(at) if at is not None else utc_now()
    with store.read() as conn:
        inputs, _ = gather_inputs(conn, customer, channel, when, offers=offers)
    decision = decide(inputs, when, settings, campaign=campaign)
    return record_decision(store, decision) if log else decision


def decision_log(store: Store, customer_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """A customer's latest decisions (newest first), with their candidates, as dictionaries."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(decisions)
            .where(decisions.c.customer_id == customer_id)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc())
            .limit(limit)
        ).all()
    if not rows:
        raise NotFoundError(f"No decisions recorded for customer {customer_id!r}.")
    out = []
    for r in rows:
        detail = json.loads(r.detail)
        out.append(
            {
                "id": r.id,
                "customer_id": r.customer_id,
                "channel": r.channel,
                "decided_at": r.decided_at.isoformat() + "Z",
                "offer_id": r.offer_id,
                "expected_value": r.expected_value,
                "status": r.status,
                "campaign": r.campaign,
                "inputs_hash": r.inputs_hash,
                **detail,
            }
        )
    return out
