"""Next best action for a whole audience, in the warehouse engine.

The same steps as the real-time arbitration (:mod:`patron.customize.nba`), as Ibis
expressions over the audience (customers ⟕ value ⟕ segments, and the facts, preferences,
consents and touch points the store exported with ``patron interact export``): for each
offer a projection customer × offer with its eligibility, expected value and score, then
all offers together, the allowed ones with an expected value above zero, and the best per
customer (highest score, then offer id). Nothing comes into Python but the result's size.

What the warehouse cannot see is checked again in the store when contacts are made
(``patron campaign export``): live price quotes, ``max_per_customer`` (offers made are
decisions in the store), quiet hours at the time of sending, and consent or contacts newer
than the last export.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from patron.customize.nba import AT_RISK_KINDS, NbaSettings
from patron.customize.offers import Offer
from patron.data import people
from patron.data.expressions import compile_expression, referenced_names
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.interact.policy import LIMITED_PURPOSES, ContactPolicy
from patron.interact.vocabulary import CHANNELS, check_choice
from patron.measure.experiments import audience_table

__all__ = ["BATCH_COLUMNS", "nba_batch"]

#: Columns of the batch result (one row per customer with an action).
BATCH_COLUMNS = (
    "customer_id",
    "offer_id",
    "expected_value",
    "score",
    "response",
    "margin",
    "contact_cost",
    "price",
    "item",
)
_FACTS = "interact_facts"
_CONSENTS = "interact_consents"
_TOUCHPOINTS = "interact_touchpoints"
#: The score of an offer that is not allowed or not worth making (below any real score).
_NONE = ibis.literal(-1e300)
_VALUE_COLUMNS = ("tier", "segment", "clv", "p_alive")
_PREFERENCES = ("preferred_channel", "avoid_categories", "avoid_kinds", "favourite_department")


def _fact_columns(wh: Warehouse, base: ir.Table, names: set[str]) -> ir.Table:
    """Join the latest exported value of each named fact (JSON text: strings unquoted)."""
    wanted = sorted(n for n in names if n not in base.columns)
    if not wanted or not wh.has_table(_FACTS):
        for name in wanted:
            base = base.mutate(**{name: ibis.null("string")})
        return base
    f = wh.table(_FACTS)
    f = f.mutate(_a=f.attribute.lower())
    f = f.filter(f._a.isin(wanted))
    latest = f.group_by([f.customer_id, f._a]).aggregate(_v=f.value.argmax(f.recorded_at))
    text = latest._v.re_replace(r'^"(.*)"$', r"\1")
    wide = latest.group_by(_fid=latest.customer_id).aggregate(
        **{name: text.max(where=latest._a == name) for name in wanted}
    )
    return base.left_join(wide, base.customer_id == wide._fid).drop("_fid")


def _days_since_purchase(wh: Warehouse, base: ir.Table, at: datetime) -> ir.Table:
    tx = people.transactions(wh)
    last = tx.group_by(_lid=tx.customer_id).aggregate(_last=tx.timestamp.max())
    joined = base.left_join(last, base.customer_id == last._lid)
    days = (ibis.literal(at).epoch_seconds() - joined._last.epoch_seconds()) / 86400.0
    return joined.mutate(days_since_purchase=days).drop("_lid", "_last")


def _recent_categories(wh: Warehouse, base: ir.Table) -> ir.Table:
    recent = people.recent_categories(wh)
    if recent is None:
        return base.mutate(recent_categories=ibis.null("string"))
    side = recent.rename(_rid="customer_id", _recent="recent_categories")
    joined = base.left_join(side, base.customer_id.cast("string") == side._rid)
    return joined.mutate(recent_categories=joined._recent.fill_null("")).drop("_rid", "_recent")


def _consent(
    wh: Warehouse, base: ir.Table, purpose: str, channel: str, policy: ContactPolicy
) -> ir.BooleanValue:
    """Whether ``purpose`` on ``channel`` is allowed (latest exported record, else default)."""
    default = bool(policy.consent_defaults.get(purpose, {}).get(channel, False))
    if not wh.has_table(_CONSENTS):
        return ibis.literal(default)
    c = wh.table(_CONSENTS)
    c = c.filter((c.purpose == purpose) & c.channel.isin([channel, "all"]))
    latest = c.group_by(_cid=c.customer_id).aggregate(
        _state=c.state.argmax(c.recorded_at.epoch_seconds() * 1e6 + c.id.cast("float64"))
    )
    return base.customer_id.isin(latest.filter(latest._state == "granted")._cid) | (
        ibis.literal(default) & ~base.customer_id.isin(latest._cid)
    )


def _policy_allowed(
    wh: Warehouse, base: ir.Table, policy: ContactPolicy, channel: str, at: datetime
) -> ir.BooleanValue:
    """Whether a contact on ``channel`` at ``at`` keeps the blocking, cap and gap rules.

    Counts the exported outbound marketing and profiling touch points before ``at``.
    """
    ok: ir.BooleanValue = ibis.literal(True)
    has_tp = wh.has_table(_TOUCHPOINTS)
    tp = wh.table(_TOUCHPOINTS) if has_tp else None
    for scope in (channel, None):
        rules = [r for r in policy.rules if r.channel == scope]
        special_tiers = sorted({t for r in rules for t in r.tiers})
        for rule in rules:
            if rule.tiers:
                applies = base.tier.isin(list(rule.tiers))
            elif special_tiers:
                applies = ~base.tier.isin(special_tiers) | base.tier.isnull()
            else:
                applies = ibis.literal(True)
            broken: ir.BooleanValue = ibis.literal(rule.blocked)
            if tp is not None and (rule.max_contacts is not None or rule.min_gap_hours):
                counted = tp.filter(
                    (tp.direction == "outbound")
                    & tp.purpose.isin(list(LIMITED_PURPOSES))
                    & (tp.occurred_at < ibis.literal(at))
                )
                if scope is not None:
                    counted = counted.filter(counted.channel == scope)
                if rule.max_contacts is not None:
                    since = at.timestamp() - rule.window_days * 86400.0
                    window = counted.filter(counted.occurred_at.epoch_seconds() > since)
                    full = window.group_by(_wid=window.customer_id).aggregate(n=window.count())
                    full = full.filter(full.n >= rule.max_contacts)
                    broken = broken | base.customer_id.isin(full._wid)
                if rule.min_gap_hours:
                    since = at.timestamp() - rule.min_gap_hours * 3600.0
                    near = counted.filter(counted.occurred_at.epoch_seconds() > since)
                    broken = broken | base.customer_id.isin(near.customer_id)
            ok = ok & ~(applies & broken)
    return ok


def nba_batch(
    wh: Warehouse,
    offers: Sequence[Offer],
    *,
    channel: str,
    at: datetime,
    policy: ContactPolicy,
    audience: str | None = None,
    settings: NbaSettings | None = None,
) -> ir.Table:
    """The best allowed offer per customer of the audience (customers without one are left out).

    Parameters
    ----------
    offers
        The offers to choose from (the catalogue, or a campaign's).
    channel
        The channel of the contacts.
    at
        When the contacts are made (naive UTC): validity dates, days since purchase, caps.
    policy
        The contact policy (and consent defaults) read from the store.
    audience
        A condition over the customer attributes (``--audience``); ``None``: everyone.
    settings
        Preference boost (prices are aligned later, in the store).

    Returns
    -------
    ibis.expr.types.Table
        :data:`BATCH_COLUMNS`, one row per customer with an action; not executed.
    """
    check_choice(channel, CHANNELS, "channel")
    cfg = settings or NbaSettings()
    live = [o for o in offers if channel in o.channels and o.valid_on(at.date())]
    needed = set(_VALUE_COLUMNS)
    for o in live:
        if o.eligibility:
            needed |= referenced_names(o.eligibility)
    if audience:
        needed |= referenced_names(audience)
    base = audience_table(wh, needed | {"tier"})
    if wh.has_table("customer_value"):  # the published segment, when segments are not a table
        cv = wh.table("customer_value")
        extra = [c for c in _VALUE_COLUMNS if c not in base.columns and c in cv.columns]
        if extra:
            v = cv.select(_vid=cv.customer_id, **{c: cv[c] for c in extra})
            base = base.left_join(v, base.customer_id == v._vid).drop("_vid")
    if "days_since_purchase" in needed and "days_since_purchase" not in base.columns:
        base = _days_since_purchase(wh, base, at)
    if "recent_categories" in needed and "recent_categories" not in base.columns:
        base = _recent_categories(wh, base)
    facts_needed = (needed | set(_PREFERENCES)) - set(base.columns)
    base = _fact_columns(wh, base, facts_needed)
    for col in _VALUE_COLUMNS:
        if col not in base.columns:
            kind = "float64" if col in ("clv", "p_alive") else "string"
            base = base.mutate(**{col: ibis.null(kind)})
    if audience:
        rule = compile_expression(
            audience, base, what="--audience", source="the customer attributes", condition=True
        )
        base = base.filter(rule.fill_null(False))
    purposes = sorted({o.consent_purpose for o in live})
    allowed = {p: _consent(wh, base, p, channel, policy) for p in purposes}
    rules_ok = _policy_allowed(wh, base, policy, channel, at)
    preferred_ok = base.preferred_channel.isnull() | (base.preferred_channel == channel)
    # One wide pass: a score column per offer (null where not allowed or not worth it), the
    # best by GREATEST, the first offer (by id) holding it by CASE. No customer × offer rows.
    live = sorted(live, key=lambda o: o.id)
    scores: list[ir.FloatingValue] = []
    components: list[dict[str, ir.Value]] = []
    for o in live:
        ok = preferred_ok & allowed[o.consent_purpose]
        if o.consent_purpose in LIMITED_PURPOSES:
            ok = ok & rules_ok
        if o.eligibility:
            cond = compile_expression(
                o.eligibility,
                base,
                what=f"offer {o.id!r} eligibility",
                source="the customer attributes",
                condition=True,
            )
            ok = ok & cond.fill_null(False)
        if o.category is not None:
            ok = ok & ~base.avoid_categories.lower().contains(o.category.lower()).fill_null(False)
        ok = ok & ~base.avoid_kinds.lower().contains(o.kind.lower()).fill_null(False)
        default, _ = o.response(None)
        response: ir.NumericValue = ibis.literal(default)
        if o.uplift_by_segment:
            cases = [(base.segment == s, ibis.literal(v)) for s, v in o.uplift_by_segment.items()]
            response = ibis.cases(*cases, else_=ibis.literal(default))
        margin = o.unit_margin()
        stake: ir.NumericValue = ibis.literal(0.0)
        if o.kind in AT_RISK_KINDS:
            clv = ibis.greatest(base.clv.cast("float64").fill_null(0.0), 0.0)
            p_alive = ibis.least(ibis.greatest(base.p_alive.cast("float64"), 0.0), 1.0)
            stake = (clv * (1.0 - p_alive)).fill_null(0.0)
        cost = o.cost(channel)
        ev = response * (margin + stake) - cost
        boost: ir.NumericValue = ibis.literal(1.0)
        if o.category is not None:
            favourite = base.favourite_department.lower() == o.category.lower()
            boost = ibis.ifelse(favourite.fill_null(False), 1.0 + cfg.preference_boost, 1.0)
        score = ev * o.weight * ibis.ifelse(ev > 0, boost, 1.0)
        worth = ok & (ev > 0)
        scores.append(ibis.ifelse(worth, score.cast("float64"), _NONE))
        components.append(
            {
                "expected_value": ev.cast("float64"),
                "response": response.cast("float64"),
                "margin": ibis.literal(margin).cast("float64"),
                "contact_cost": ibis.literal(cost).cast("float64"),
                "price": ibis.literal(o.price, type="float64"),
                "item": ibis.literal(o.item, type="string"),
            }
        )
    if not live and not offers:
        raise UsageError("No offers to choose from; load offers with `patron offers load`.")
    cols: dict[str, ir.Value] = {"customer_id": base.customer_id.cast("string")}
    for i, (sc, comp) in enumerate(zip(scores, components, strict=True)):
        cols[f"_s{i}"] = sc
        cols[f"_e{i}"] = comp["expected_value"]
        cols[f"_r{i}"] = comp["response"]
    wide = base.select(**cols)
    names = [f"_s{i}" for i in range(len(live))]
    if not live:
        wide = wide.mutate(_best=_NONE)
    elif len(live) == 1:
        wide = wide.mutate(_best=wide[names[0]])
    else:
        wide = wide.mutate(_best=ibis.greatest(*(wide[n] for n in names)))
    wide = wide.filter(wide._best > _NONE / 2)
    holder = [wide[n] == wide._best for n in names]

    def pick(values: list[ir.Value], kind: str) -> ir.Value:
        if not values:
            return ibis.null(kind)
        return ibis.cases(*zip(holder, values, strict=True), else_=ibis.null(kind)).cast(kind)

    return wide.select(
        "customer_id",
        offer_id=pick([ibis.literal(o.id) for o in live], "string"),
        expected_value=pick([wide[f"_e{i}"] for i in range(len(live))], "float64"),
        score=wide._best,
        response=pick([wide[f"_r{i}"] for i in range(len(live))], "float64"),
        margin=pick([c["margin"] for c in components], "float64"),
        contact_cost=pick([c["contact_cost"] for c in components], "float64"),
        price=pick([c["price"] for c in components], "float64"),
        item=pick([c["item"] for c in components], "string"),
    )
