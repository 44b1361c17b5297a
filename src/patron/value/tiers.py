"""Value tiers (MVC, MGC, BZ), strategic value, loyalty, RFM — in the engine.

Computed on the scored customers: tiers, strategic value, loyalty status, the
profitability × loyalty grid and RFM scores.

The rules (defaults justified in the README, section "Tiers"):

- **actual value** is the customer's CLV (``clv``, from :mod:`patron.value.workflow`);
- **strategic value** is what the customer would be worth if they spent, per purchase, what the
  best customers with the same needs spend: the ``reference_quantile`` (default 0.8) of expected
  spend per purchase among the repeat buyers of the customer's needs segment (all customers
  when there are no segments). Expected purchases, margin rate and cost to serve stay the
  customer's own. When the ``customers`` table has a ``share_of_wallet`` column (0 < s ≤ 1),
  strategic value is instead the CLV at the whole wallet: the margin part divided by s;
- **growth potential** = strategic − actual value (never negative);
- **BZ** (below zero): CLV below ``bz_below`` (default 0): the expected margin does not cover
  the cost to serve. Only when a cost is known (a cost to serve or a cost per order): without
  costs CLV is margin or revenue, which no customer falls below zero on but by returns, so
  no BZ tier is assigned and the summary says why (``bz_identified``);
- **MVC** (most valuable): the customers with the highest CLV that together carry
  ``mvc_equity_share`` (default 0.5) of the positive equity — "the few that carry most of it";
- **MGC** (most growable): among the others (not MVC, not BZ) with a positive growth potential,
  the ``mgc_share`` (default 0.2) with the largest potential; and any of them whose CLV grew by at
  least ``growth_rate`` (default 25%) since the previous snapshot;
- everyone else is **other**.

Loyalty status: *lapsed* when P(alive) < ``lapsed_p_alive`` (default 0.5: the model thinks the
customer more likely gone than active); else *first-time* with no repeat purchase; else
*regular* when the repeat purchase rate (frequency / T, per time unit) is at least
``regular_rate`` (default: the median rate of the active repeat buyers); else *occasional*.
Profitability × loyalty grid (Reinartz & Kumar 2002): high profitability = CLV at or above the
median customer's; long-term = an active repeat buyer (regular or occasional). Cells: *true
friends* (high, long-term), *butterflies* (high, short-term), *barnacles* (low, long-term),
*strangers* (low, short-term). RFM scores 1-5 are quintiles of days since the last purchase
(recent = 5), frequency and mean spend, cut points stored with the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.errors import DataError, UsageError

__all__ = [
    "BZ_UNKNOWN",
    "GRID_CELLS",
    "LOYALTY_STATUSES",
    "TIERS",
    "TIER_ACTIONS",
    "TIER_CATEGORIES",
    "TIER_REASONS",
    "Thresholds",
    "TierRules",
    "TierSummary",
    "tier_customers",
]

#: Tier labels, in report order.
TIERS = ("MVC", "MGC", "BZ", "other")
#: What to do with each tier (Peppers & Rogers).
TIER_ACTIONS = {
    "MVC": "Retain: protect the relationship (recognition, service, loyalty benefits).",
    "MGC": "Grow: cross-sell and up-sell toward their strategic value.",
    "BZ": "Make them profitable (fees, cheaper channels) or cut the cost to serve them.",
    "other": "Maintain at low cost; watch for movement into MGC or BZ.",
}
#: The BZ row's action when no costs are known.
BZ_UNKNOWN = (
    "Cannot be identified without costs: give a cost to serve (per customer per year) or a "
    "cost per order when scoring."
)
LOYALTY_STATUSES = ("first-time", "occasional", "regular", "lapsed")
GRID_CELLS = ("true friends", "butterflies", "barnacles", "strangers")
#: Why a customer is in their tier (the last: no particular reason, tier "other").
TIER_REASONS = (
    "expected margin does not cover the cost to serve",
    "in the top group carrying the equity share",
    "large gap to strategic value",
    "value growing since the previous snapshot",
    "",
)
#: Every RFM code: recency, frequency and monetary scores of 1 to 5, e.g. "531".
RFM_CODES = tuple(f"{r}{f}{m}" for r in range(1, 6) for f in range(1, 6) for m in range(1, 6))
#: The added string columns with a closed set of values.
TIER_CATEGORIES: dict[str, tuple[str, ...]] = {
    "tier": TIERS,
    "tier_reason": TIER_REASONS,
    "loyalty": LOYALTY_STATUSES,
    "profit_loyalty": GRID_CELLS,
    "rfm": RFM_CODES,
}

#: Columns the scored table must have.
REQUIRED = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_spend",
    "margin_rate",
    "discounted_purchases",
    "clv",
)
#: Columns this module adds (dropped first when re-tiering a table).
ADDED = (
    "segment",
    "strategic_value",
    "growth_potential",
    "clv_previous",
    "tier",
    "tier_reason",
    "loyalty",
    "profit_loyalty",
    "r_score",
    "f_score",
    "m_score",
    "rfm",
)


@dataclass(frozen=True)
class TierRules:
    """Configurable tier rules (see the module docstring for their meaning)."""

    mvc_equity_share: float = 0.5
    mgc_share: float = 0.2
    growth_rate: float = 0.25
    bz_below: float = 0.0
    reference_quantile: float = 0.8
    lapsed_p_alive: float = 0.5
    #: Repeat purchases per time unit for "regular"; None = median of active repeat buyers.
    regular_rate: float | None = None

    def __post_init__(self) -> None:
        for name in ("mvc_equity_share", "mgc_share", "reference_quantile", "lapsed_p_alive"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise UsageError(
                    f"{name.replace('_', '-')} must be between 0 and 1 (exclusive), got {value}."
                )
        if self.growth_rate < 0:
            raise UsageError(f"growth-rate must not be negative, got {self.growth_rate}.")
        if self.regular_rate is not None and self.regular_rate <= 0:
            raise UsageError(f"regular-rate must be positive, got {self.regular_rate}.")


@dataclass
class Thresholds:
    """The cut-offs actually used (stored with the run)."""

    mvc_min_clv: float | None
    mgc_min_growth: float | None
    regular_rate: float | None
    high_profit_clv: float | None
    reference_spend: dict[str, float]
    rfm_recency_cuts: list[float]
    rfm_frequency_cuts: list[float]
    rfm_monetary_cuts: list[float]
    time_unit: str = ""


@dataclass
class TierSummary:
    """Tiers per customer (as an Ibis table) and what they add up to."""

    table: ir.Table
    rules: TierRules
    thresholds: Thresholds
    equity: float
    tiers: list[dict[str, Any]] = field(default_factory=list)
    loyalty: list[dict[str, Any]] = field(default_factory=list)
    grid: list[dict[str, Any]] = field(default_factory=list)
    by_segment: bool = False
    share_of_wallet: bool = False
    has_previous: bool = False
    #: Whether BZ could be assigned (a cost to serve or a cost per order is known).
    bz_identified: bool = True
    #: What the reader should know: the fit's notes, costs, the model's grade.
    notes: list[str] = field(default_factory=list)
    #: Whether the model identified dropout (else "lapsed" cannot be told from P(alive)).
    dropout_identified: bool = True
    #: The model's grade from its holdout check (``FitGrade.to_dict()``), when checked.
    grade: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rules, thresholds, tiers (with equity shares), loyalty and grid counts."""
        return {
            "customer_equity": self.equity,
            "rules": asdict(self.rules),
            "thresholds": asdict(self.thresholds),
            "strategic_value_basis": (
                "share of wallet"
                if self.share_of_wallet
                else "reference spend of the best customers "
                + ("in the same needs segment" if self.by_segment else "(no segments yet)")
            ),
            "compared_with_previous_snapshot": self.has_previous,
            "bz_identified": self.bz_identified,
            "lapsed_identified": self.dropout_identified,
            "grade": self.grade,
            "notes": self.notes,
            "tiers": self.tiers,
            "loyalty": self.loyalty,
            "profit_loyalty": self.grid,
        }


def _scalar(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def _score(value: ir.FloatingValue, cuts: list[float], *, higher_is_better: bool) -> ir.Value:
    """1 + the number of quintile cut points the value passes (5 = best)."""
    score: ir.IntegerValue = ibis.literal(1, "int64")
    for cut in cuts:
        passed = value > cut if higher_is_better else value < cut
        score = score + ibis.ifelse(passed, 1, 0)  # no boolean cast: Postgres has none to int8
    return score


def tier_customers(
    scored: ir.Table,
    rules: TierRules | None = None,
    *,
    segments: ir.Table | None = None,
    customers: ir.Table | None = None,
    previous: ir.Table | None = None,
    costs_known: bool = True,
    potential: ir.Table | None = None,
) -> TierSummary:
    """Assign tiers, loyalty status, grid cell and RFM scores to every scored customer.

    Parameters
    ----------
    scored
        Scored customers (the ``customer_value`` table or expression): ``customer_id,
        frequency, recency, T`` (in its time unit), ``monetary_value, p_alive,
        expected_spend, margin_rate, discounted_purchases, clv`` (currency).
    rules
        Tier rules; defaults when absent.
    segments
        ``customer_id, segment``: needs segments (strategic value per segment).
    customers
        The customers table; its ``share_of_wallet`` column is used when present.
    previous
        ``customer_id, clv`` of the previous snapshot (for "value growing").
    costs_known
        Whether CLV carries a cost to serve or a cost per order; without, no BZ tier is
        assigned (below zero cannot be told from revenue or margin alone).
    potential
        ``customer_id, potential_score, monetary_value``: business customers' judged potential
        (``b2b_potential``, from ``patron b2b``). Where present it replaces the growth
        potential: the potential score (0–1) times the monetary room (the CLV at the whole
        wallet less the CLV, when the share of wallet is known; else the CLV itself).

    Returns
    -------
    TierSummary
        ``table`` is an expression (nothing is written); the thresholds and the per-tier
        figures were computed in the engine.
    """
    rules = rules or TierRules()
    missing = [c for c in REQUIRED if c not in scored.columns]
    if missing:
        raise DataError(
            f"The scored table lacks {', '.join(missing)}; run `patron value score` first."
        )
    t = scored.drop(*[c for c in ADDED if c in scored.columns])
    if segments is not None:
        seg = segments.select(_sid=segments.customer_id, segment=segments.segment.cast("string"))
        t = t.left_join(seg, t.customer_id == seg._sid).drop("_sid")
    else:
        t = t.mutate(segment=ibis.null("string"))
    sow_known = customers is not None and "share_of_wallet" in customers.columns
    if customers is not None and sow_known:
        c = customers.select(_cid=customers.customer_id, _sow=customers.share_of_wallet)
        t = t.left_join(c, t.customer_id == c._cid).drop("_cid")
    else:
        t = t.mutate(_sow=ibis.null("float64"))
    if potential is not None:
        pot = potential.select(
            _bid=potential.customer_id,
            _score=potential.potential_score.cast("float64"),
            _wallet=potential.monetary_value.cast("float64"),
        )
        t = t.left_join(pot, t.customer_id == pot._bid).drop("_bid")
    if previous is not None:
        p = previous.select(_pid=previous.customer_id, clv_previous=previous.clv)
        t = t.left_join(p, t.customer_id == p._pid).drop("_pid")
    else:
        t = t.mutate(clv_previous=ibis.null("float64"))

    # Reference spend per segment (and overall, for customers without a segment).
    rep = t.filter(t.frequency > 0)
    q = rules.reference_quantile
    ref_rows = (
        rep.group_by(_seg=rep.segment).aggregate(_ref=rep.expected_spend.quantile(q)).to_pyarrow()
    )
    overall = _scalar(rep.expected_spend.quantile(q).to_pyarrow().as_py())
    reference = {
        str(s): float(r)
        for s, r in zip(
            ref_rows.column("_seg").to_pylist(), ref_rows.column("_ref").to_pylist(), strict=True
        )
        if s is not None and r is not None
    }
    ref_expr: ir.FloatingValue = ibis.literal(overall if overall is not None else 0.0)
    for name, value in reference.items():
        ref_expr = ibis.ifelse(t.segment == name, value, ref_expr)
    margin_part = t.expected_spend * t.margin_rate * t.discounted_purchases
    gap_spend = (ref_expr - t.expected_spend).clip(lower=0.0)
    by_ref = gap_spend * t.margin_rate * t.discounted_purchases
    sow_ok = t._sow.notnull() & (t._sow > 0) & (t._sow <= 1)
    by_sow = margin_part * (1.0 / t._sow - 1.0)
    growth = ibis.ifelse(sow_ok, by_sow, by_ref).clip(lower=0.0)
    if potential is not None:
        room = ibis.ifelse(t._wallet > t.clv, t._wallet - t.clv, t.clv.clip(lower=0.0))
        judged = (t._score.clip(lower=0.0, upper=1.0) * room).clip(lower=0.0)
        growth = ibis.ifelse(t._score.notnull(), judged, growth)
    t = t.mutate(growth_potential=growth).mutate(
        strategic_value=lambda s: s.clv + s.growth_potential
    )

    # Scalar thresholds. The exact quantiles need no join, so they read the scored table; each
    # holds its whole column in memory outside the engine's buffer pool, so one at a time.
    b = scored
    rate = b.frequency.cast("float64") / b["T"]
    active_repeat = (b.frequency > 0) & (b.p_alive >= rules.lapsed_p_alive)
    quintiles = [0.2, 0.4, 0.6, 0.8]
    row = (
        b.aggregate(n=b.count(), equity=b.clv.sum(), positive=b.clv.sum(where=b.clv > 0))
        .to_pyarrow()
        .to_pylist()[0]
    )
    quantiles: dict[str, ir.Value] = {
        "median_clv": b.clv.quantile(0.5),
        "median_rate": rate.quantile(0.5, where=active_repeat),
        # One multi-quantile per column: one sort each instead of one per cut point.
        "r": (b["T"] - b.recency).quantile(quintiles),
        "f": b.frequency.cast("float64").quantile(quintiles),
        "m": b.monetary_value.quantile(quintiles),
    }
    for name, value in quantiles.items():
        row[name] = b.aggregate(v=value).to_pyarrow().column("v")[0].as_py()
    if not row["n"]:
        raise DataError("No scored customers; run `patron value score` first.")
    positive = float(row["positive"] or 0.0)

    # MVC: the top of the CLV ranking until the share of positive equity is reached.
    mvc_min: float | None = None
    if positive > 0:
        pos = t.filter(t.clv > 0)
        cum = pos.select(clv=pos.clv, cum=pos.clv.sum().over(ibis.cumulative_window(
            order_by=[ibis.desc(pos.clv), pos.customer_id]
        )))  # fmt: skip
        mvc_min = _scalar(
            cum.filter(cum.cum >= rules.mvc_equity_share * positive).clv.max().to_pyarrow().as_py()
        )
    is_bz = t.clv < rules.bz_below if costs_known else ibis.literal(False)
    is_mvc = ~is_bz & (t.clv > 0) & (t.clv >= (mvc_min if mvc_min is not None else math.inf))
    eligible = t.filter(~is_bz & ~is_mvc & (t.growth_potential > 0))
    mgc_min = _scalar(
        eligible.growth_potential.quantile(1.0 - rules.mgc_share).to_pyarrow().as_py()
    )
    by_gap = (t.growth_potential > 0) & (
        t.growth_potential >= (mgc_min if mgc_min is not None else math.inf)
    )
    growing = (
        t.clv_previous.notnull()
        & (t.clv > 0)
        & (t.clv - t.clv_previous >= rules.growth_rate * t.clv_previous.abs())
        & (t.clv > t.clv_previous)
    )
    tier = ibis.cases((is_bz, "BZ"), (is_mvc, "MVC"), (by_gap | growing, "MGC"), else_="other")
    reason = ibis.cases(
        (is_bz, TIER_REASONS[0]),
        (is_mvc, TIER_REASONS[1]),
        (by_gap, TIER_REASONS[2]),
        (growing, TIER_REASONS[3]),
        else_=TIER_REASONS[4],
    )
    regular = rules.regular_rate if rules.regular_rate is not None else _scalar(row["median_rate"])
    lapsed = t.p_alive < rules.lapsed_p_alive
    loyalty = ibis.cases(
        (lapsed, "lapsed"),
        (t.frequency == 0, "first-time"),
        (
            t.frequency.cast("float64") / t["T"] >= (regular if regular is not None else math.inf),
            "regular",
        ),
        else_="occasional",
    )
    high_clv = _scalar(row["median_clv"])
    high = t.clv >= (high_clv if high_clv is not None else math.inf)
    long_term = ~lapsed & (t.frequency > 0)
    grid = ibis.cases(
        (high & long_term, "true friends"),
        (high, "butterflies"),
        (long_term, "barnacles"),
        else_="strangers",
    )

    def cuts(prefix: str) -> list[float]:
        return [float(v or 0.0) for v in row[prefix] or [0.0] * len(quintiles)]

    r_cuts, f_cuts, m_cuts = cuts("r"), cuts("f"), cuts("m")
    r_score = _score(t["T"] - t.recency, r_cuts, higher_is_better=False)
    f_score = _score(t.frequency.cast("float64"), f_cuts, higher_is_better=True)
    m_score = _score(t.monetary_value, m_cuts, higher_is_better=True)
    out = t.drop("_sow", *(("_score", "_wallet") if potential is not None else ())).mutate(
        tier=tier,
        tier_reason=reason,
        loyalty=loyalty,
        profit_loyalty=grid,
        r_score=r_score,
        f_score=f_score,
        m_score=m_score,
    )
    out = out.mutate(
        rfm=out.r_score.cast("string") + out.f_score.cast("string") + out.m_score.cast("string")
    )
    thresholds = Thresholds(
        mvc_min,
        mgc_min,
        regular,
        high_clv,
        reference if reference else {"all": overall or 0.0},
        r_cuts,
        f_cuts,
        m_cuts,
    )
    summary = TierSummary(
        out,
        rules,
        thresholds,
        float(row["equity"] or 0.0),
        by_segment=bool(reference),
        share_of_wallet=sow_known,
        has_previous=previous is not None,
        bz_identified=costs_known,
    )
    return summary


def summarise_tiers(summary: TierSummary, table: ir.Table | None = None) -> TierSummary:
    """Fill the per-tier, loyalty and grid figures from ``table`` (default: the expression)."""
    t = table if table is not None else summary.table
    total = summary.equity
    cost = t.cost_to_serve_yearly if "cost_to_serve_yearly" in t.columns else ibis.literal(0.0)
    per = (
        t.group_by("tier")
        .aggregate(
            customers=t.count(),
            equity=t.clv.sum(),
            mean_clv=t.clv.mean(),
            mean_cost_to_serve_yearly=cost.mean(),
            growth_potential=t.growth_potential.sum(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    n = sum(int(r["customers"]) for r in per)
    found = {r["tier"]: r for r in per}
    summary.tiers = []
    for name in TIERS:
        r = found.get(name, {})
        customers = int(r.get("customers") or 0)
        equity = float(r.get("equity") or 0.0)
        summary.tiers.append(
            {
                "tier": name,
                "customers": customers,
                "customer_share": customers / n if n else 0.0,
                "equity": equity,
                "equity_share": equity / total if total > 0 else None,
                "mean_clv": _scalar(r.get("mean_clv")),
                "mean_cost_to_serve_yearly": _scalar(r.get("mean_cost_to_serve_yearly")),
                "growth_potential": float(r.get("growth_potential") or 0.0),
                "action": TIER_ACTIONS[name]
                if name != "BZ" or summary.bz_identified
                else BZ_UNKNOWN,
                "identified": name != "BZ" or summary.bz_identified,
            }
        )
    counts = t.group_by(["loyalty", "profit_loyalty"]).aggregate(n=t.count()).to_pyarrow()
    rows = counts.to_pylist()
    summary.loyalty = [
        {"loyalty": s, "customers": sum(int(r["n"]) for r in rows if r["loyalty"] == s)}
        for s in LOYALTY_STATUSES
    ]
    summary.grid = [
        {"cell": g, "customers": sum(int(r["n"]) for r in rows if r["profit_loyalty"] == g)}
        for g in GRID_CELLS
    ]
    return summary
