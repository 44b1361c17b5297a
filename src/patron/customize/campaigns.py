"""Campaigns that close the loop: an experiment whose treated customers get their next best action.

:func:`create_campaign` makes an experiment in the warehouse (the measure package: a stable
random holdout, stratified by tier when tiers exist) over the audience, and chooses every
audience member's next best action among the campaign's offers on its channel, in the engine
(:func:`~patron.customize.batch.nba_batch`) — the holdout's too, so that each offer can later
be compared with the holdout customers who would have got it. Actions go to the warehouse
table ``campaign_actions``; the definition to the store (``campaigns``).

:func:`export_campaign` writes the contact list for a sending tool: the treated customers
with an action who are still contactable *now* in the store (consent, every contact rule,
the offer's ``max_per_customer``), each with the offer and its quoted price (one price per
customer and product: a live quote is reused, or the contact refused, per
``price_conflict``); it logs each contact as an outbound touch point and a ``sent`` decision,
in one store transaction per batch, and refuses a second export.

:func:`analyze_campaign` measures, from the transactions after the send, the incremental
conversion, revenue and margin per customer of the treated arm against the holdout, overall
(intention to treat: every treated customer counts, contacted or not) and per offer.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlalchemy as sa

from patron.customize.batch import nba_batch
from patron.customize.nba import NbaSettings
from patron.customize.offers import Offer, catalogue
from patron.customize.quotes import quote_many
from patron.data.warehouse import Warehouse
from patron.errors import NotFoundError, UsageError
from patron.interact.consent import ALL_CHANNELS
from patron.interact.policy import (
    LIMITED_PURPOSES,
    Contact,
    ContactPolicy,
    contact_policy,
    decide,
)
from patron.interact.touchpoints import Touchpoint, insert_touchpoints
from patron.interact.vocabulary import CHANNELS, check_choice, to_utc, utc_now
from patron.measure.analysis import AnalysisResult, analyze_table
from patron.measure.experiments import Arm, audience_table, create_experiment, load_experiment
from patron.measure.outcomes import experiment_outcomes
from patron.store import Store
from patron.store.publish import live_publication
from patron.store.schema import campaigns, consents, decisions, profiles, touchpoints

__all__ = [
    "ACTIONS_TABLE",
    "MIN_PER_ARM",
    "Campaign",
    "CampaignAnalysis",
    "CampaignExport",
    "OfferUplift",
    "UpliftEstimate",
    "analyze_campaign",
    "apply_uplift",
    "create_campaign",
    "export_campaign",
    "get_campaign",
    "measure_uplift",
]

#: Warehouse table of every campaign's chosen actions (treated and holdout).
ACTIONS_TABLE = "campaign_actions"
TREATED, HOLDOUT = "treated", "holdout"
METRICS = ["conversion", "revenue", "margin"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_BATCH = 2_000


@dataclass
class Campaign:
    """A campaign's definition (JSON in the store's ``campaigns``)."""

    name: str
    offers: list[str]
    channel: str
    audience: str | None
    holdout: float
    start: str
    end: str
    at: str
    price_conflict: str = "align"
    counts: dict[str, int] = field(default_factory=dict)  # customers per arm
    actions: dict[str, int] = field(default_factory=dict)  # of whom with an action
    exported_at: str | None = None
    #: The last analysis (``patron campaign analyze``), kept for the console and the service.
    lift: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def get_campaign(store: Store, name: str) -> Campaign:
    """A stored campaign; :class:`NotFoundError` when there is none."""
    with store.read() as conn:
        row = conn.execute(sa.select(campaigns).where(campaigns.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"No campaign {name!r}; create it with `patron campaign create`.")
    return _campaign(row)


def _campaign(row: Any) -> Campaign:
    camp = Campaign(**json.loads(row.definition))
    camp.exported_at = row.exported_at.isoformat() + "Z" if row.exported_at else None
    return camp


def list_campaigns(store: Store, *, limit: int = 50, offset: int = 0) -> list[Campaign]:
    """Stored campaigns, newest first (then by name)."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(campaigns)
            .order_by(campaigns.c.created_at.desc(), campaigns.c.name)
            .limit(limit)
            .offset(offset)
        ).all()
    return [_campaign(r) for r in rows]


def _chosen_offers(store: Store, ids: Sequence[str] | None) -> list[Offer]:
    with store.read() as conn:
        every = {o.id: o for o in catalogue(conn)}
    if not every:
        raise UsageError("The offer catalogue is empty; load offers with `patron offers load`.")
    if not ids:
        return list(every.values())
    missing = [i for i in ids if i not in every]
    if missing:
        raise UsageError(
            f"--offers: no offer {', '.join(repr(m) for m in missing)} in the catalogue; "
            f"offers are: {', '.join(sorted(every))}."
        )
    return [every[i] for i in ids]


def create_campaign(
    store: Store,
    wh: Warehouse,
    name: str,
    *,
    offers: Sequence[str] | None = None,
    audience: str | None = None,
    channel: str = "email",
    holdout: float = 0.1,
    start: date | None = None,
    weeks: int = 4,
    at: datetime | None = None,
    settings: NbaSettings | None = None,
    salt: str | None = None,
) -> Campaign:
    """Create a campaign: its experiment, every audience member's next best action.

    Parameters
    ----------
    offers
        Offer ids from the catalogue (default: every offer).
    audience
        A condition over customer attributes (``--audience``); ``None``: everyone.
    channel
        The channel of the contacts.
    holdout
        Share of the audience held out (0 < holdout < 1).
    start, weeks
        The send day (default: the day of ``at``) and the weeks after it whose
        transactions measure the effect.
    at
        When the actions are decided (default now; UTC if naive).
    settings
        Price-conflict rule (kept for the export) and preference boost.
    salt
        The experiment's assignment salt (default: derived from the name).

    Raises
    ------
    UsageError
        A bad name, holdout, channel or offer id, or a campaign or experiment of that name.
    """
    if not _NAME.match(name):
        raise UsageError(
            f"Campaign name {name!r}: use letters, digits, _ . - (at most 64 characters)."
        )
    if not 0.0 < holdout < 1.0:
        raise UsageError(f"--holdout {holdout:g} must be between 0 and 1 (e.g. 0.1).")
    if weeks < 1:
        raise UsageError(f"--weeks {weeks} must be at least 1.")
    check_choice(channel, CHANNELS, "channel")
    cfg = settings or NbaSettings()
    when = to_utc(at) if at is not None else utc_now()
    first = start or when.date()
    with store.read() as conn:
        taken = conn.execute(sa.select(campaigns.c.name).where(campaigns.c.name == name)).first()
    if taken is not None:
        raise UsageError(f"Campaign {name!r} exists already; choose another name.")
    chosen = _chosen_offers(store, offers)
    policy = contact_policy(store)
    stratify = ["tier"] if "tier" in audience_table(wh, {"tier"}).columns else []
    last = first + timedelta(weeks=weeks) - timedelta(days=1)
    create_experiment(
        wh,
        name,
        [Arm(TREATED, 1.0 - holdout), Arm(HOLDOUT, holdout)],
        control=HOLDOUT,
        audience=audience,
        stratify=stratify,
        start=first,
        end=last,
        salt=salt or f"campaign:{name}",
    )
    best = nba_batch(
        wh, chosen, channel=channel, at=when, policy=policy, audience=audience, settings=cfg
    )
    a = wh.table("experiment_assignments")
    a = a.filter(a.experiment == name).select(_cid=a.customer_id.cast("string"), arm=a.arm)
    rows = a.inner_join(best, a._cid == best.customer_id).select(
        campaign=ibis.literal(name),
        customer_id=best.customer_id,
        arm=a.arm,
        offer_id=best.offer_id,
        expected_value=best.expected_value,
        price=best.price,
        item=best.item,
    )
    if wh.has_table(ACTIONS_TABLE):
        old = wh.table(ACTIONS_TABLE)
        rows = ibis.union(old.filter(old.campaign != name), rows)
    wh.replace_table(ACTIONS_TABLE, rows)

    def per_arm(table: ir.Table) -> dict[str, int]:
        rows = table.group_by("arm").aggregate(n=table.count()).to_pyarrow().to_pylist()
        return {str(r["arm"]): int(r["n"]) for r in rows}

    acts = wh.table(ACTIONS_TABLE)
    assigned = wh.table("experiment_assignments")
    camp = Campaign(
        name=name,
        offers=[o.id for o in chosen],
        channel=channel,
        audience=audience,
        holdout=holdout,
        start=first.isoformat(),
        end=last.isoformat(),
        at=when.isoformat(),
        price_conflict=cfg.price_conflict,
        counts=per_arm(assigned.filter(assigned.experiment == name)),
        actions=per_arm(acts.filter(acts.campaign == name)),
    )
    with store.write() as conn:
        conn.execute(
            sa.insert(campaigns).values(
                name=name, definition=json.dumps(camp.to_dict()), created_at=utc_now()
            )
        )
    return camp


@dataclass(frozen=True)
class CampaignExport:
    """What :func:`export_campaign` wrote and left out (and why)."""

    campaign: str
    out: str
    contacts: int
    left_out: dict[str, int]
    aligned_prices: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _latest_consents(
    conn: sa.Connection, ids: list[str], channel: str, purpose: str
) -> dict[str, str]:
    rows = conn.execute(
        sa.select(consents.c.customer_id, consents.c.state)
        .where(
            consents.c.customer_id.in_(ids),
            consents.c.purpose == purpose,
            consents.c.channel.in_([channel, ALL_CHANNELS]),
        )
        .order_by(consents.c.recorded_at, consents.c.id)
    )
    return {str(c): str(s) for c, s in rows}


def _contacts(
    conn: sa.Connection, ids: list[str], start: datetime, end: datetime
) -> dict[str, list[Contact]]:
    rows = conn.execute(
        sa.select(
            touchpoints.c.customer_id, touchpoints.c.channel, touchpoints.c.occurred_at
        ).where(
            touchpoints.c.customer_id.in_(ids),
            touchpoints.c.direction == "outbound",
            touchpoints.c.purpose.in_(LIMITED_PURPOSES),
            touchpoints.c.occurred_at > start,
            touchpoints.c.occurred_at < end,
        )
    )
    out: dict[str, list[Contact]] = {}
    for cid, ch, when in rows:
        out.setdefault(str(cid), []).append(Contact(str(ch), when))
    return out


def _made(conn: sa.Connection, ids: list[str]) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        sa.select(decisions.c.customer_id, decisions.c.offer_id, sa.func.count())
        .where(decisions.c.customer_id.in_(ids), decisions.c.status == "sent")
        .group_by(decisions.c.customer_id, decisions.c.offer_id)
    )
    return {(str(c), str(o)): int(n) for c, o, n in rows}


def _allowed(
    policy: ContactPolicy,
    offer: Offer,
    channel: str,
    at: datetime,
    profile: Any,
    consent_state: str | None,
    contacts: list[Contact],
    made: int,
) -> str | None:
    """Why the contact may not be made now (None: it may)."""
    if consent_state is None:
        allowed = bool(policy.consent_defaults.get(offer.consent_purpose, {}).get(channel, False))
    else:
        allowed = consent_state == "granted"
    if not allowed:
        return "consent"
    if offer.max_per_customer is not None and made >= offer.max_per_customer:
        return "offer limit"
    if offer.consent_purpose in LIMITED_PURPOSES:
        decision = decide(
            policy,
            contacts,
            channel,
            at,
            tier=profile.tier if profile is not None else None,
            time_zone=profile.time_zone if profile is not None else None,
        )
        if not decision.allowed:
            return f"contact policy ({decision.rule})"
    return None


def _mark_exported(conn: sa.Connection, name: str, when: datetime) -> None:
    conn.execute(sa.update(campaigns).where(campaigns.c.name == name).values(exported_at=when))


def export_campaign(
    store: Store, wh: Warehouse, name: str, out: Path, *, at: datetime | None = None
) -> CampaignExport:
    """Write the campaign's contact list (CSV) and log its contacts in the store.

    Parameters
    ----------
    out
        The CSV file to write (``customer_id, email, phone, channel, offer_id, offer,
        price, quote_id, expected_value``).
    at
        When the contacts are sent (default now; UTC if naive).

    Raises
    ------
    UsageError
        The campaign was exported already.
    NotFoundError
        No such campaign.
    """
    camp = get_campaign(store, name)
    if camp.exported_at is not None:
        raise UsageError(
            f"Campaign {name!r} was exported on {camp.exported_at}; its contacts are logged "
            "already (create a new campaign to contact again)."
        )
    when = to_utc(at) if at is not None else utc_now()
    acts = wh.table(ACTIONS_TABLE)
    acts = acts.filter((acts.campaign == name) & (acts.arm == TREATED)).order_by("customer_id")
    rows = acts.select("customer_id", "offer_id", "expected_value").to_pyarrow().to_pylist()
    policy = contact_policy(store)
    with store.read() as conn:
        offers = {o.id: o for o in catalogue(conn)}
    reach = max(
        (r.reach for r in policy.rules if r.channel in (None, camp.channel)),
        default=timedelta(0),
    )
    left_out: dict[str, int] = {}
    aligned = 0
    written = 0
    tmp = out.with_name(f".{out.name}.partial")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["customer_id", "email", "phone", "channel", "offer_id", "offer", "price",
             "quote_id", "expected_value"]
        )  # fmt: skip
        for i in range(0, len(rows), _BATCH):
            chunk = rows[i : i + _BATCH]
            ids = [str(r["customer_id"]) for r in chunk]
            with store.write() as conn:
                pub = live_publication(conn)
                profs = {
                    str(p.customer_id): p
                    for p in conn.execute(
                        sa.select(
                            profiles.c.customer_id,
                            profiles.c.tier,
                            profiles.c.time_zone,
                            profiles.c.email,
                            profiles.c.phone,
                        ).where(profiles.c.publication_id == pub, profiles.c.customer_id.in_(ids))
                    )
                }
                states = {
                    p: _latest_consents(conn, ids, camp.channel, p)
                    for p in sorted({o.consent_purpose for o in offers.values()})
                }
                contacts = _contacts(conn, ids, when - reach, when + reach)
                made = _made(conn, ids)
                allowed: list[tuple[dict[str, Any], Offer]] = []
                for r in chunk:
                    cid, oid = str(r["customer_id"]), str(r["offer_id"])
                    offer = offers.get(oid)
                    if offer is None:
                        left_out["offer removed"] = left_out.get("offer removed", 0) + 1
                        continue
                    why = _allowed(
                        policy, offer, camp.channel, when, profs.get(cid),
                        states[offer.consent_purpose].get(cid), contacts.get(cid, []),
                        made.get((cid, oid), 0),
                    )  # fmt: skip
                    if why is not None:
                        left_out[why] = left_out.get(why, 0) + 1
                        continue
                    allowed.append((r, offer))
                priced = [
                    (str(r["customer_id"]), o.item, camp.channel, float(o.price), o.id)
                    for r, o in allowed
                    if o.item is not None and o.price is not None
                ]
                quoted = iter(
                    quote_many(conn, priced, at=when, on_conflict=camp.price_conflict)  # type: ignore[arg-type]
                )
                logged: list[Touchpoint] = []
                sent: list[dict[str, Any]] = []
                for r, offer in allowed:
                    cid = str(r["customer_id"])
                    price, quote_id = offer.price, None
                    if offer.item is not None and offer.price is not None:
                        q = next(quoted)
                        if q.status == "refused" or q.quote is None:
                            left_out["price conflict"] = left_out.get("price conflict", 0) + 1
                            continue
                        price, quote_id = q.quote.price, q.quote.id
                        aligned += q.status == "aligned"
                    logged.append(
                        Touchpoint(
                            cid, camp.channel, "offer_shown", "outbound", when,
                            purpose=offer.consent_purpose, campaign=name, note=offer.id,
                            idempotency_key=f"campaign:{name}:{cid}",
                        ).validated()
                    )  # fmt: skip
                    sent.append(
                        {
                            "customer_id": cid, "channel": camp.channel, "decided_at": when,
                            "offer_id": offer.id, "expected_value": r["expected_value"],
                            "status": "sent", "campaign": name, "inputs_hash": "campaign",
                            "detail": json.dumps({"reason": f"campaign {name}"}),
                        }
                    )  # fmt: skip
                    p = profs.get(cid)
                    writer.writerow(
                        [cid, p.email if p else "", p.phone if p else "", camp.channel, offer.id,
                         offer.name, f"{price:.2f}" if price is not None else "",
                         quote_id or "", f"{float(r['expected_value']):.4f}"]
                    )  # fmt: skip
                    written += 1
                insert_touchpoints(conn, logged)
                if sent:
                    conn.execute(sa.insert(decisions), sent)
                if i + _BATCH >= len(rows):
                    _mark_exported(conn, name, when)
    if not rows:
        with store.write() as conn:
            _mark_exported(conn, name, when)
    tmp.replace(out)
    return CampaignExport(name, str(out), written, dict(sorted(left_out.items())), aligned)


@dataclass
class CampaignAnalysis:
    """A campaign's measured effect: overall and per offer, against the holdout."""

    campaign: str
    start: str
    end: str
    overall: AnalysisResult
    by_offer: dict[str, AnalysisResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON-ready data."""
        return {
            "campaign": self.campaign,
            "window": {"start": self.start, "end": self.end},
            "overall": self.overall.to_dict(),
            "by_offer": {k: v.to_dict() for k, v in self.by_offer.items()},
            "notes": self.notes,
        }


def analyze_campaign(
    wh: Warehouse, name: str, *, metrics: Sequence[str] = tuple(METRICS), alpha: float = 0.05
) -> CampaignAnalysis:
    """Incremental conversion, revenue and margin per customer, treated against the holdout.

    Overall, every audience member counts in their arm (intention to treat; per-customer
    outcomes in the campaign's window, from the transactions). Per offer, the treated
    customers whose action was that offer against the holdout customers who would have got
    it. CUPED on each metric's own pre-period reduces the variance.
    """
    exp = load_experiment(wh, name)
    wanted = list(metrics)
    notes: list[str] = []
    tx = wh.table("transactions")
    if "margin" in wanted and (
        "cost" not in tx.columns or not tx.cost.count().to_pyarrow().as_py()
    ):
        wanted.remove("margin")
        notes.append("margin: the transactions have no cost, so margin is not analysed.")
    table, start, end = experiment_outcomes(wh, exp)
    shares = {a.name: a.share for a in exp.arms}
    pre = {m: f"pre_{m}" for m in wanted}
    stratum = "stratum" if exp.stratify else None
    overall = analyze_table(
        table, arm="arm", control=HOLDOUT, metrics=wanted, pre=pre, stratum=stratum,
        shares=shares, alpha=alpha,
    )  # fmt: skip
    by_offer: dict[str, AnalysisResult] = {}
    if wh.has_table(ACTIONS_TABLE):
        acts = wh.table(ACTIONS_TABLE)
        acts = acts.filter(acts.campaign == name).select(
            _aid=acts.customer_id, offer_id=acts.offer_id
        )
        joined = table.inner_join(acts, table.customer_id.cast("string") == acts._aid)
        offer_ids = sorted(
            str(o) for o in joined.select("offer_id").distinct().to_pyarrow().column(0).to_pylist()
        )
        for oid in offer_ids:
            part: ir.Table = joined.filter(joined.offer_id == oid)
            counts = part.group_by("arm").aggregate(n=part.count()).to_pyarrow().to_pylist()
            arms = {str(r["arm"]): int(r["n"]) for r in counts}
            if arms.get(TREATED, 0) < 2 or arms.get(HOLDOUT, 0) < 2:
                notes.append(f"offer {oid}: too few customers in an arm to compare ({arms}).")
                continue
            by_offer[oid] = analyze_table(
                part, arm="arm", control=HOLDOUT, metrics=wanted, pre=pre, shares=shares,
                alpha=alpha,
            )  # fmt: skip
    return CampaignAnalysis(name, start.isoformat(), end.isoformat(), overall, by_offer, notes)


def save_analysis(store: Store, analysis: CampaignAnalysis, *, at: datetime | None = None) -> None:
    """Keep a campaign's measured lift with its definition in the store.

    The console and the service show it without reading the warehouse: per metric the lift,
    its 95% interval, the p-value and the sentence; per offer the sentences; the sample-ratio
    check; the notes. Replaced by each analysis.

    Raises
    ------
    NotFoundError
        The store holds no campaign of that name.
    """
    data = analysis.to_dict()
    overall = data["overall"]
    keep = ("metric", "lift", "ci_low", "ci_high", "p_value", "relative_lift", "summary")
    lift = {
        "analyzed_at": (at or utc_now()).isoformat(timespec="seconds") + "Z",
        "window": data["window"],
        "results": [{k: r.get(k) for k in keep} for r in overall["results"]],
        "by_offer": {
            offer: [r.get("summary") for r in result["results"]]
            for offer, result in data["by_offer"].items()
        },
        "sample_ratio": overall["sample_ratio"],
        "notes": data["notes"],
    }
    with store.write() as conn:
        row = conn.execute(
            sa.select(campaigns.c.definition).where(campaigns.c.name == analysis.campaign)
        ).first()
        if row is None:
            raise NotFoundError(f"No campaign {analysis.campaign!r} in the store.")
        definition = json.loads(row.definition)
        definition["lift"] = lift
        conn.execute(
            sa.update(campaigns)
            .where(campaigns.c.name == analysis.campaign)
            .values(definition=json.dumps(definition, allow_nan=False))
        )


#: Fewest customers per arm for a measured uplift to be written to an offer.
MIN_PER_ARM = 100


@dataclass(frozen=True)
class UpliftEstimate:
    """The incremental response to one offer (in one segment): treated against holdout.

    ``itt`` is the difference of response rates between the arms (every treated customer
    counts, contacted or not: intention to treat), with its interval. ``uplift`` is the
    effect on a contacted customer: ``itt`` divided by the share of treated customers who were
    contacted (Bloom 1984; the holdout is never contacted), with the interval scaled alike —
    what the next best action needs, since it only ever chooses for a customer it may contact.
    The interval treats the contacted share as known (the delta method would widen it a
    little). ``uplift`` and its interval are kept within [-1, 1]; ``clipped`` says the raw
    ratio left that range — too few customers contacted to tell — and then it is never
    written to an offer.
    """

    treated: int
    treated_rate: float
    holdout: int
    holdout_rate: float
    contacted: int
    contacted_share: float
    itt: float
    itt_ci_low: float
    itt_ci_high: float
    uplift: float
    ci_low: float
    ci_high: float
    clipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class OfferUplift:
    """What a campaign measured for one offer: overall and per needs segment."""

    offer_id: str
    response: str
    overall: UpliftEstimate
    by_segment: dict[str, UpliftEstimate]

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON-ready data."""
        return {
            "offer_id": self.offer_id,
            "response": self.response,
            "overall": self.overall.to_dict(),
            "by_segment": {k: v.to_dict() for k, v in self.by_segment.items()},
        }


def _responded(tx: ir.Table, offer: Offer | None, categories: bool) -> tuple[ir.Value, str]:
    """What counts as taking the offer in the log, and its words."""
    if offer is not None and offer.product:
        return tx.product_id.cast("string") == offer.product, f"bought product {offer.product}"
    if offer is not None and offer.category and categories:
        return tx.category.cast("string") == offer.category, f"bought in {offer.category}"
    return ibis.literal(True), "any purchase"


def _stage_contacts(store: Store, wh: Warehouse, name: str, batch: int = 50_000) -> str | None:
    """Stage the campaign's contacts (``sent`` decisions) in the warehouse; its name.

    Customer and offer ids stream from the store in batches into a staging table (the caller
    drops it); None when nobody was contacted.
    """
    schema = pa.schema([("_kid", pa.string()), ("_koffer", pa.string())])
    stage: str | None = None
    with store.read() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(
            sa.select(decisions.c.customer_id, decisions.c.offer_id)
            .where(
                decisions.c.campaign == name,
                decisions.c.status == "sent",
                decisions.c.offer_id.is_not(None),
            )
            .distinct()
        )
        for part in result.partitions():
            ids, offer_ids = zip(*part, strict=True) if part else ((), ())
            table = pa.table(
                {"_kid": [str(c) for c in ids], "_koffer": [str(o) for o in offer_ids]},
                schema=schema,
            )
            if stage is None:
                stage = wh.scratch_name("contacts")
                wh.create_table(stage, table)
            else:
                wh.insert(stage, table)
    return stage


def measure_uplift(
    wh: Warehouse, store: Store, name: str, *, alpha: float = 0.05, require_contacts: bool = True
) -> list[OfferUplift]:
    """Each offer's incremental response in a campaign, overall and per needs segment.

    Per offer, the treated customers whose action was that offer against the holdout
    customers who would have got it (the same rule chose both, so the comparison is fair for
    the customers the offer is chosen for — not for others); the difference is then divided
    by the share of those treated customers the export contacted (the store's ``sent``
    decisions, staged into the warehouse and joined there to the same segments), giving the
    effect on a contacted customer (:class:`UpliftEstimate`). A
    response is a purchase (not a return) in the campaign's window of the offer's product,
    else of its category (when the log or ``products`` carries categories), else any
    purchase. Segments are the needs
    segments of ``customer_value``. Counts are aggregated in the engine; the intervals are
    Newcombe's (:func:`~patron.measure.analysis.compare_proportions`).

    Raises
    ------
    NotFoundError
        No campaign of that name, or its actions are not in the warehouse.
    """
    exp = load_experiment(wh, name)
    if not wh.has_table(ACTIONS_TABLE):
        raise NotFoundError(f"Campaign {name!r}: no actions in the warehouse (create it first).")
    _, start, end = experiment_outcomes(wh, exp)  # checks the window and the log
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}.")
    with store.read() as conn:
        by_id = {o.id: o for o in catalogue(conn)}
    with wh.scratch() as staged:
        stage = _stage_contacts(store, wh, name)
        if stage is None:
            if not require_contacts:
                return []
            raise UsageError(
                f"Campaign {name!r} has contacted nobody yet: export it (`patron campaign "
                "export`) and load the transactions of its window before measuring uplift."
            )
        staged.append(stage)
        return _measure(wh, name, start, end, by_id, wh.table(stage), alpha)


def _measure(
    wh: Warehouse,
    name: str,
    start: date,
    end: date,
    by_id: dict[str, Offer],
    contacts: ir.Table,
    alpha: float,
) -> list[OfferUplift]:
    from patron.customize.interactions import product_categories
    from patron.data import people
    from patron.measure.analysis import compare_proportions

    tx = people.transactions(wh)
    day = tx.timestamp.date()
    tx = tx.filter(
        (day >= ibis.literal(start)) & (day <= ibis.literal(end)) & ~tx.is_return.fill_null(False)
    )
    if "category" not in tx.columns:
        cats = product_categories(wh)
        if cats:
            lookup = ibis.memtable({"_pid": list(cats), "category": list(cats.values())})
            tx = tx.left_join(lookup, tx.product_id.cast("string") == lookup._pid)
    has_categories = "category" in tx.columns
    acts = wh.table(ACTIONS_TABLE)
    acts = acts.filter((acts.campaign == name) & acts.offer_id.notnull())
    offer_ids = sorted(str(o) for o in acts.select("offer_id").distinct().to_pyarrow().column(0))
    segments = None
    if wh.has_table("customer_value") and "segment" in wh.table("customer_value").columns:
        cv = wh.table("customer_value")
        segments = cv.select(_sid=cv.customer_id.cast("string"), segment=cv.segment.cast("string"))
    found: list[OfferUplift] = []
    for oid in offer_ids:
        offer = by_id.get(oid)
        match, words = _responded(tx, offer, has_categories)
        buyers = tx.filter(match).select(_bid=tx.customer_id.cast("string")).distinct()
        mine = acts.filter(acts.offer_id == oid).select(
            _cid=acts.customer_id.cast("string"), arm=acts.arm
        )
        reached = contacts.filter(contacts._koffer == oid).select("_kid").distinct()
        j = mine.left_join(buyers, mine._cid == buyers._bid)
        j = j.select(j._cid, j.arm, took=j._bid.notnull().cast("int64"))
        j = j.left_join(reached, j._cid == reached._kid)
        j = j.select(j._cid, j.arm, j.took, sent=j._kid.notnull().cast("int64"))
        keys = ["arm"]
        if segments is not None:  # one source of segments for the arms and the contacts
            j = j.left_join(segments, j._cid == segments._sid).select(
                "arm", "took", "sent", segment=ibis.coalesce(segments.segment, "(none)")
            )
            keys.append("segment")
        rows = (
            j.group_by(keys)
            .aggregate(n=j.count(), k=j.took.sum(), c=j.sent.sum())
            .to_pyarrow()
            .to_pylist()
        )
        cells: dict[tuple[str, str], tuple[int, int, int]] = {}
        for r in rows:
            cell = (str(r["arm"]), str(r.get("segment", "")))
            cells[cell] = (int(r["n"]), int(r["k"] or 0), int(r["c"] or 0))

        def estimate(
            part: list[tuple[int, int, int]], other: list[tuple[int, int, int]]
        ) -> UpliftEstimate | None:
            nt, kt, ct = (sum(v[i] for v in part) for i in range(3))
            nh, kh = sum(v[0] for v in other), sum(v[1] for v in other)
            if not nt or not nh or not ct:
                return None
            d = compare_proportions(kt, nt, kh, nh, alpha)
            share = ct / nt
            raw = d["lift"] / share
            return UpliftEstimate(
                nt, kt / nt, nh, kh / nh, ct, share, d["lift"], d["ci_low"], d["ci_high"],
                max(-1.0, min(1.0, raw)),
                max(-1.0, min(1.0, d["ci_low"] / share)),
                max(-1.0, min(1.0, d["ci_high"] / share)),
                clipped=not -1.0 <= raw <= 1.0,
            )  # fmt: skip

        overall = estimate(
            [v for (a, _), v in cells.items() if a == TREATED],
            [v for (a, _), v in cells.items() if a == HOLDOUT],
        )
        if overall is None:
            continue
        by_segment: dict[str, UpliftEstimate] = {}
        for seg in sorted({s for (_, s) in cells if s and s != "(none)"}):
            t, h = cells.get((TREATED, seg)), cells.get((HOLDOUT, seg))
            one = estimate([t] if t else [], [h] if h else [])
            if one is not None:
                by_segment[seg] = one
        found.append(OfferUplift(oid, words, overall, by_segment))
    return found


def _writable(e: UpliftEstimate, min_per_arm: int) -> str | None:
    """Why an estimate may not be written to an offer, or None when it may."""
    if min(e.treated, e.holdout) < min_per_arm:
        return f"fewer than {min_per_arm} customers in an arm"
    if e.contacted < min_per_arm:
        return f"fewer than {min_per_arm} customers contacted"
    if e.clipped:
        return "too few contacted to tell (the estimate left the range of a rate)"
    return None


def apply_uplift(
    store: Store, measured: Sequence[OfferUplift], *, min_per_arm: int = MIN_PER_ARM
) -> dict[str, dict[str, Any]]:
    """Write measured uplifts into the offers, where the figures can carry them.

    An offer's ``uplift`` is written when both arms hold ``min_per_arm`` customers, at least
    ``min_per_arm`` were contacted and the estimate is a rate (not clipped); its
    ``uplift_by_segment`` is replaced by the segments measured under the same rule (the others
    fall back to the overall figure, or the prior). The next best action then uses them
    instead of the prior ``response_rate``. Returns, per offer, what was written, or why
    nothing was.
    """
    from patron.customize.offers import update_offer

    if min_per_arm < 1:
        raise UsageError(f"min_per_arm must be 1 or more, not {min_per_arm}.")
    with store.read() as conn:
        present = {o.id for o in catalogue(conn)}
    written: dict[str, dict[str, Any]] = {}
    for m in measured:
        why = (
            "no longer in the catalogue"
            if m.offer_id not in present
            else _writable(m.overall, min_per_arm)
        )
        if why is not None:
            written[m.offer_id] = {"written": False, "why": why}
            continue
        segs = {
            s: round(e.uplift, 6)
            for s, e in m.by_segment.items()
            if _writable(e, min_per_arm) is None
        }
        update_offer(
            store,
            m.offer_id,
            {"uplift": round(m.overall.uplift, 6), "uplift_by_segment": segs},
            source="campaign",
        )
        written[m.offer_id] = {
            "written": True,
            "uplift": round(m.overall.uplift, 6),
            "uplift_by_segment": segs,
        }
    return written
