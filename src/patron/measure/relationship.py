"""Relationship levels (Kotler): the level we keep with each customer, and the one that pays.

Five levels, from the least to the most involved:

- **basic**: we sell; nothing else happens;
- **reactive**: the customer contacts us (questions, complaints, service);
- **accountable**: we follow up after a sale (an outbound service contact within
  ``follow_up_days`` after a purchase);
- **proactive**: we contact them with suggestions (outbound offers or marketing contacts);
- **partnership**: continuous joint work — a touch point of a key-account programme (its
  campaign matches ``partnership_pattern``: "key account", "partnership", "joint plan"), or
  two-way non-sales contact in each of the last ``partnership_months`` months.

The **current level** is the highest one reached in the ``window_days`` before ``as_of``, read
from the touch points the store exported to the warehouse (``interact_touchpoints``, written by
``patron interact export``; purchases from ``transactions``). Without exported touch points
every customer is *basic* and the result says why.

The **recommended level** follows Kotler's grid of margin against the number of customers:

====================  ============  ============  ============
customers / margin    high          medium        low
====================  ============  ============  ============
many                  accountable   reactive      basic
medium                proactive     accountable   reactive
few                   partnership   proactive     accountable
====================  ============  ============  ============

*Margin per customer* is the customer's CLV (the discounted margin expected over the scoring
horizon net of the cost to serve, from ``customer_value``): high at or above the
``high_margin_quantile`` (default 0.9) of all customers' CLV, low below ``low_margin_quantile``
(default 0.5), medium between. *Number of customers* is the size of the customer's group
(value tier by default, or needs segment) as a share of all customers: many from
``many_share`` (25%), few under ``few_share`` (5%). The gap between the two levels is a list
of actions (:func:`relationship_actions`, pure, for an agent screen too).

Everything per customer is one engine expression, written to ``customer_relationships``;
only the counts per (current, recommended) reach Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.people import transactions
from patron.data.warehouse import Warehouse
from patron.errors import DataError, NotFoundError, UsageError

__all__ = [
    "LEVELS",
    "LEVEL_ACTIONS",
    "RECOMMENDED",
    "RELATIONSHIP_TABLE",
    "RelationshipResult",
    "RelationshipRules",
    "customer_relationship",
    "recommended_level",
    "relationship_actions",
    "relationship_levels",
]

LEVELS = ("basic", "reactive", "accountable", "proactive", "partnership")
RELATIONSHIP_TABLE = "customer_relationships"
TOUCHPOINTS = "interact_touchpoints"
#: Kotler's grid: (number of customers, margin) -> the level that pays.
RECOMMENDED: dict[tuple[str, str], str] = {
    ("many", "high"): "accountable",
    ("many", "medium"): "reactive",
    ("many", "low"): "basic",
    ("medium", "high"): "proactive",
    ("medium", "medium"): "accountable",
    ("medium", "low"): "reactive",
    ("few", "high"): "partnership",
    ("few", "medium"): "proactive",
    ("few", "low"): "accountable",
}
#: What it takes to reach each level from the one below.
LEVEL_ACTIONS = {
    "reactive": "Invite them to contact us: a named contact and a visible service channel for "
    "questions and complaints.",
    "accountable": "Follow up after each purchase (within a few weeks) to check it met "
    "expectations, and ask for suggestions.",
    "proactive": "Contact them from time to time with suggestions: better uses of what they "
    "bought, new products that fit their needs.",
    "partnership": "Work with them continuously: a key-account plan with shared goals, a "
    "named account manager and regular joint reviews.",
}
_SCALE_BACK = {
    "basic": "sell efficiently through the cheapest channels; no proactive contact",
    "reactive": "answer them well when they contact us, but stop unprompted contact",
    "accountable": "keep the after-sale follow-up, drop the unprompted suggestions",
    "proactive": "keep suggestions, drop the joint-work programme",
}
_INBOUND_KINDS = ("inquiry", "complaint", "service")
_OFFER_KINDS = ("offer_shown", "offer_accepted", "offer_declined")


@dataclass(frozen=True)
class RelationshipRules:
    """Thresholds of the current and recommended levels (see the module docstring)."""

    window_days: int = 365
    follow_up_days: int = 30
    partnership_months: int = 6
    partnership_pattern: str = r"(?i)key.?account|partnership|joint.?plan"
    high_margin_quantile: float = 0.9
    low_margin_quantile: float = 0.5
    many_share: float = 0.25
    few_share: float = 0.05
    group_by: str = "tier"

    def __post_init__(self) -> None:
        if self.group_by not in ("tier", "segment"):
            raise UsageError(f"--group-by {self.group_by!r}: use tier or segment.")
        if not 0 < self.low_margin_quantile < self.high_margin_quantile < 1:
            raise UsageError(
                "Margin quantiles must satisfy 0 < low < high < 1, got "
                f"low={self.low_margin_quantile}, high={self.high_margin_quantile}."
            )
        if not 0 < self.few_share < self.many_share < 1:
            raise UsageError(
                f"Group shares must satisfy 0 < few < many < 1, got few={self.few_share}, "
                f"many={self.many_share}."
            )
        for name in ("window_days", "follow_up_days", "partnership_months"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}.")


def recommended_level(size_band: str, margin_band: str) -> str:
    """Kotler's level for a number-of-customers band and a margin band."""
    try:
        return RECOMMENDED[(size_band, margin_band)]
    except KeyError:
        raise UsageError(
            f"Unknown bands ({size_band!r}, {margin_band!r}); sizes: many, medium, few; "
            "margins: high, medium, low."
        ) from None


def relationship_actions(current: str, recommended: str) -> list[str]:
    """The actions that close the gap from ``current`` to ``recommended`` (empty when equal).

    Up: one action per level to climb. Down: one sentence on what to scale back (the
    relationship costs more than the customer's margin pays for).
    """
    for level in (current, recommended):
        if level not in LEVELS:
            raise UsageError(f"Unknown relationship level {level!r}; use one of {LEVELS}.")
    i, j = LEVELS.index(current), LEVELS.index(recommended)
    if j > i:
        return [LEVEL_ACTIONS[level] for level in LEVELS[i + 1 : j + 1]]
    if j < i:
        return [
            f"Scale back from {current} to {recommended}: the margin does not pay for it; "
            f"{_SCALE_BACK[recommended]}."
        ]
    return []


@dataclass
class RelationshipResult:
    """Counts per current and recommended level, with the actions and words."""

    customers: int
    as_of: str
    group_by: str
    matrix: list[dict[str, Any]]
    levels: dict[str, dict[str, int]]
    rules: dict[str, Any]
    margin_cuts: dict[str, float]
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _touch_flags(
    wh: Warehouse, rules: RelationshipRules, start: datetime, as_of: datetime
) -> ir.Table | None:
    """Per customer, which levels the touch points of the window show (None: no export)."""
    if not wh.has_table(TOUCHPOINTS):
        return None
    tp = wh.table(TOUCHPOINTS)
    tp = tp.filter((tp.occurred_at >= start) & (tp.occurred_at <= as_of))
    inbound = (tp.direction == "inbound") & tp.kind.isin(_INBOUND_KINDS)
    outbound = tp.direction == "outbound"
    suggest = outbound & (tp.kind.isin(_OFFER_KINDS) | (tp.purpose == "marketing"))
    key_account = tp.campaign.notnull() & tp.campaign.re_search(rules.partnership_pattern)
    two_way = tp.kind != "purchase"
    month_start = as_of - timedelta(days=30 * rules.partnership_months)
    # Which of the last N 30-day periods (counted back from as_of) had contact each way.
    age_days = (ibis.literal(as_of).epoch_seconds() - tp.occurred_at.epoch_seconds()) / 86400
    period = (age_days / 30).floor().cast("int64")
    recent = two_way & (tp.occurred_at >= month_start)
    flags = tp.mutate(
        _in=inbound,
        _sug=suggest,
        _key=key_account.fill_null(False),
        _period_in=ibis.ifelse(recent & (tp.direction == "inbound"), period, ibis.null("int64")),
        _period_out=ibis.ifelse(recent & outbound, period, ibis.null("int64")),
    )
    per = flags.group_by("customer_id").aggregate(
        reactive=flags._in.any(),
        proactive=flags._sug.any(),
        key_account=flags._key.any(),
        months_in=flags._period_in.nunique(),
        months_out=flags._period_out.nunique(),
    )
    # Accountable: an outbound service contact within follow_up_days after a purchase.
    service = tp.filter(outbound & ((tp.kind == "service") | (tp.purpose == "service"))).select(
        _cid=tp.customer_id, _at=tp.occurred_at
    )
    follow = None
    if wh.has_table("transactions"):
        tx = transactions(wh)
        buys = tx.filter(~tx.is_return).select(_bid=tx.customer_id, _ts=tx.timestamp)
        j = service.join(
            buys,
            [
                service._cid == buys._bid,
                buys._ts <= service._at,
                buys._ts >= service._at - ibis.interval(days=rules.follow_up_days),
            ],
        )
        follow = j.select(customer_id=j._cid).distinct().mutate(accountable=ibis.literal(True))
    if follow is not None:
        per = per.left_join(follow, "customer_id").drop("customer_id_right")
        accountable = per.accountable.fill_null(False)
    else:
        accountable = ibis.literal(False)
    n = rules.partnership_months
    return per.mutate(
        accountable=accountable,
        partnership=per.key_account | ((per.months_in >= n) & (per.months_out >= n)),
    ).select("customer_id", "reactive", "accountable", "proactive", "partnership")


def relationship_levels(
    wh: Warehouse,
    *,
    rules: RelationshipRules | None = None,
    as_of: datetime | None = None,
    write: bool = True,
) -> RelationshipResult:
    """Current and recommended relationship level of every scored customer.

    Parameters
    ----------
    wh
        The warehouse: ``customer_value`` (``clv``, ``tier``), optionally
        ``customer_segments``, ``interact_touchpoints`` and ``transactions``.
    rules
        Thresholds (:class:`RelationshipRules`).
    as_of
        End of the touch-point window (default: the latest exported touch point, else now).
    write
        Write ``customer_relationships`` (one row per customer) in the warehouse.

    Returns
    -------
    RelationshipResult
    """
    rules = rules or RelationshipRules()
    if not wh.has_table("customer_value"):
        raise DataError(
            "No customer values: score customers first (`patron score`); the recommended "
            "level needs each customer's margin (CLV)."
        )
    cv = wh.table("customer_value")
    notes: list[str] = []
    if as_of is None:
        latest = None
        if wh.has_table(TOUCHPOINTS):
            latest = wh.table(TOUCHPOINTS).occurred_at.max().to_pyarrow().as_py()
        as_of = latest or datetime.now().replace(microsecond=0)
    start = as_of - timedelta(days=rules.window_days)
    if rules.group_by == "tier":
        if "tier" not in cv.columns:
            raise DataError("customer_value has no tiers: run `patron tiers` (or score again).")
        base = cv.select("customer_id", "clv", group=cv.tier.cast("string"))
    else:
        if not wh.has_table("customer_segments"):
            raise DataError("No needs segments: run `patron segments` or group by tier.")
        seg = wh.table("customer_segments")
        base = cv.select("customer_id", "clv").left_join(
            seg.select(_sid=seg.customer_id, group=seg.segment.cast("string")),
            cv.customer_id == seg.customer_id,
        )
        base = base.select("customer_id", "clv", group=base.group.fill_null("(none)"))
    base = base.mutate(clv=base.clv.fill_null(0.0))
    stats = base.aggregate(
        n=base.count(),
        high=base.clv.quantile(rules.high_margin_quantile),
        low=base.clv.quantile(rules.low_margin_quantile),
    )
    got = stats.to_pyarrow().to_pylist()[0]
    total = int(got["n"])
    if total == 0:
        raise DataError("customer_value is empty: nothing to recommend.")
    hi, lo = float(got["high"]), float(got["low"])
    sizes = base.group_by("group").aggregate(_size=base.count())
    t = base.join(sizes, "group")
    share = t._size / total
    t = t.mutate(
        margin_band=ibis.cases((t.clv >= hi, "high"), (t.clv < lo, "low"), else_="medium"),
        size_band=ibis.cases(
            (share >= rules.many_share, "many"), (share < rules.few_share, "few"), else_="medium"
        ),
    )
    rec = ibis.cases(
        *[
            ((t.size_band == s) & (t.margin_band == m), level)
            for (s, m), level in RECOMMENDED.items()
        ],
        else_="basic",
    )
    t = t.mutate(recommended_level=rec)
    flags = _touch_flags(wh, rules, start, as_of)
    if flags is None:
        notes.append(
            "No touch points in the warehouse (export them with `patron interact export`): "
            "every customer is counted at the basic level, from sales alone."
        )
        t = t.mutate(current_level=ibis.literal("basic"))
    else:
        f = flags.rename(_fid="customer_id")
        t = t.left_join(f, t.customer_id == f._fid)
        t = t.mutate(
            current_level=ibis.cases(
                (t.partnership.fill_null(False), "partnership"),
                (t.proactive.fill_null(False), "proactive"),
                (t.accountable.fill_null(False), "accountable"),
                (t.reactive.fill_null(False), "reactive"),
                else_="basic",
            )
        )
    rank_cur = ibis.cases(*[(t.current_level == lv, i) for i, lv in enumerate(LEVELS)], else_=0)
    rank_rec = ibis.cases(*[(t.recommended_level == lv, i) for i, lv in enumerate(LEVELS)], else_=0)
    out = t.select(
        "customer_id",
        "group",
        "clv",
        "margin_band",
        "size_band",
        "current_level",
        "recommended_level",
        gap=(rank_rec - rank_cur).cast("int64"),
        # the actions as text, one per line (what the agent screen shows once published)
        actions=ibis.cases(
            *[
                (
                    (t.current_level == cur) & (t.recommended_level == rec),
                    "\n".join(relationship_actions(cur, rec)),
                )
                for cur in LEVELS
                for rec in LEVELS
                if cur != rec
            ],
            else_="",
        ),
    )
    if write:
        wh.replace_table(RELATIONSHIP_TABLE, out)
        out = wh.table(RELATIONSHIP_TABLE)
    counts = (
        out.group_by(["current_level", "recommended_level"])
        .aggregate(customers=out.count())
        .to_pyarrow()
        .to_pylist()
    )
    matrix: list[dict[str, Any]] = sorted(
        (
            {
                "current": str(r["current_level"]),
                "recommended": str(r["recommended_level"]),
                "customers": int(r["customers"]),
                "actions": relationship_actions(
                    str(r["current_level"]), str(r["recommended_level"])
                ),
            }
            for r in counts
        ),
        key=lambda r: (-r["customers"], r["current"]),
    )
    levels = {lv: {"current": 0, "recommended": 0} for lv in LEVELS}
    for r in matrix:
        levels[r["current"]]["current"] += r["customers"]
        levels[r["recommended"]]["recommended"] += r["customers"]
    below = sum(
        r["customers"]
        for r in matrix
        if LEVELS.index(r["recommended"]) > LEVELS.index(r["current"])
    )
    above = sum(
        r["customers"]
        for r in matrix
        if LEVELS.index(r["recommended"]) < LEVELS.index(r["current"])
    )
    findings = [
        f"{below:,} of {total:,} customers ({below / total:.0%}) get less relationship than "
        f"their margin and group size justify; {above:,} ({above / total:.0%}) get more than "
        "it pays for.",
    ]
    if matrix and matrix[0]["actions"]:
        top = matrix[0]
        findings.append(
            f"The largest group: {top['customers']:,} customers at {top['current']} who should "
            f"be {top['recommended']} — {top['actions'][0]}"
        )
    return RelationshipResult(
        customers=total,
        as_of=as_of.isoformat(sep=" "),
        group_by=rules.group_by,
        matrix=matrix,
        levels=levels,
        rules=asdict(rules),
        margin_cuts={"high_from": hi, "low_below": lo},
        notes=notes,
        findings=findings,
    )


def customer_relationship(wh: Warehouse, customer_id: str) -> dict[str, Any]:
    """One customer's levels and actions, from ``customer_relationships`` (for an agent screen).

    Raises
    ------
    NotFoundError
        No stored levels (run :func:`relationship_levels`) or no such customer.
    """
    if not wh.has_table(RELATIONSHIP_TABLE):
        raise NotFoundError("No relationship levels stored: run `patron relationship` first.")
    t = wh.table(RELATIONSHIP_TABLE)
    rows = t.filter(t.customer_id == customer_id).limit(1).to_pyarrow().to_pylist()
    if not rows:
        raise NotFoundError(f"No relationship level for customer {customer_id!r}.")
    row = rows[0]
    return {
        "customer_id": customer_id,
        "current": row["current_level"],
        "recommended": row["recommended_level"],
        "margin_band": row["margin_band"],
        "size_band": row["size_band"],
        "group": row["group"],
        "actions": relationship_actions(row["current_level"], row["recommended_level"]),
    }
