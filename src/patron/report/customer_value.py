"""The customer-value report: one self-contained HTML file for a marketing manager.

Everything is aggregated in the engine (a few hundred numbers reach Python); charts are Plotly
figures rendered by the Plotly library embedded in the file, so the report works offline and
makes no network request. Each chart carries one sentence of interpretation computed from the
data and the recommended action.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import plotly.graph_objects as go  # type: ignore[import-untyped]

from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.needs.segments import SEGMENTS_TABLE, load_segment_model, segment_strength
from patron.report._render import Money, Section, chart, check_out_path, render_page
from patron.value.history import VALUE_TABLE, latest_run, migration, snapshot_dates
from patron.value.tiers import BZ_UNKNOWN, TIER_ACTIONS, TIERS
from patron.value.validation import GRADES, check_model
from patron.value.workflow import INTERVAL_MEANING

__all__ = ["Section", "build_report", "overview", "write_report"]

TIER_COLOURS = {"MVC": "#1b7f3b", "MGC": "#2a6fdb", "BZ": "#c0392b", "other": "#8c8c8c"}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _concentration(t: ibis.Table) -> Section:
    pct = ibis.ntile(100).over(order_by=[ibis.desc(t.clv), t.customer_id])
    ranked = t.select(clv=t.clv, bucket=pct)
    rows = ranked.group_by("bucket").aggregate(v=ranked.clv.sum()).order_by("bucket").to_pyarrow()
    values = [max(float(v), 0.0) for v in rows.column("v").to_pylist()]
    total = sum(values) or 1.0
    cum, x, y = 0.0, [0.0], [0.0]
    for i, v in enumerate(values):
        cum += v
        x.append((i + 1) / len(values))
        y.append(cum / total)
    top10 = y[min(10, len(y) - 1)] if len(values) >= 10 else y[-1]
    top20 = y[min(20, len(y) - 1)] if len(values) >= 20 else y[-1]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="customers by CLV", line={"width": 3}))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal value", line={"dash": "dot"})
    )
    fig.update_xaxes(title="share of customers (highest CLV first)", tickformat=".0%")
    fig.update_yaxes(title="share of positive customer equity", tickformat=".0%")
    return Section(
        "Where the equity is (Pareto / Lorenz curve)",
        f"The top 10% of customers carry {top10:.0%} of the positive customer equity, the top "
        f"20% carry {top20:.0%}.",
        "Concentrate retention spending where the curve is steep: losing one of these "
        "customers costs many ordinary ones.",
        chart(fig),
    )


def _tiers(details: dict[str, Any], _money: Money) -> Section:
    bz_known = details.get("bz_identified", True)
    tiers = [t for t in details.get("tiers", []) if bz_known or t["tier"] != "BZ"]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=[t["tier"] for t in tiers],
            y=[t["equity"] for t in tiers],
            marker_color=[TIER_COLOURS[t["tier"]] for t in tiers],
            text=[_pct(t["equity_share"]) for t in tiers],
            textposition="outside",
            name="equity",
        )
    )
    fig.update_yaxes(title="customer equity (currency)")
    by = {t["tier"]: t for t in tiers}
    mvc, bz = by.get("MVC", {}), by.get("BZ", {})
    finding = (
        f"{mvc.get('customer_share', 0):.1%} of customers (MVC) carry "
        f"{_pct(mvc.get('equity_share'))} of customer equity; "
        + (
            f"{bz.get('customer_share', 0):.1%} (BZ) are expected to cost more to serve than "
            f"they bring ({_money(bz.get('equity'))} together)."
            if bz_known
            else "below-zero customers cannot be identified without costs (no cost to serve "
            "or cost per order was given), so no BZ tier is shown."
        )
    )
    rows = [
        [
            t["tier"],
            f"{t['customers']:,}",
            _pct(t["customer_share"]),
            _money(t["equity"]),
            _pct(t["equity_share"]),
            "-" if t["mean_clv"] is None else f"{t['mean_clv']:,.2f}",
            "-"
            if t["mean_cost_to_serve_yearly"] is None
            else f"{t['mean_cost_to_serve_yearly']:,.2f}",
            TIER_ACTIONS[t["tier"]],
        ]
        for t in tiers
    ]
    if not bz_known:
        rows.append(["BZ", "-", "-", "-", "-", "-", "-", BZ_UNKNOWN])
    return Section(
        "Value tiers",
        finding,
        "Retain MVC; grow MGC with cross-sell and up-sell; "
        + (
            "make BZ profitable or cut their cost to serve."
            if bz_known
            else "give the costs to serve to find who is below zero."
        ),
        chart(fig, 320),
        rows,
        [
            "tier",
            "customers",
            "share",
            "equity",
            "equity share",
            "mean CLV",
            "cost to serve / year",
            "action",
        ],
    )


def _p_alive(t: ibis.Table, unit: str, identified: bool) -> Section:
    if not identified:
        row = (
            t.aggregate(lo=t.p_alive.min(), med=t.p_alive.median(), n=t.count())
            .to_pyarrow()
            .to_pylist()[0]
        )
        return Section(
            "Who is still active: P(alive)",
            "The model cannot tell who has left: this history barely shows customers leaving, "
            f"so P(alive) is near 1 for almost everyone (lowest {float(row['lo']):.2f}, median "
            f"{float(row['med']):.4f}). Nobody is called lapsed for that reason, which does not "
            "mean that nobody left; the P(alive) grid is not shown.",
            "Judge lapsing by days since the last purchase against each customer's usual gap, "
            "or score again on a longer history.",
        )
    f = t.frequency
    fbin = ibis.cases(
        (f == 0, "0"), (f == 1, "1"), (f == 2, "2"), (f <= 4, "3-4"), (f <= 9, "5-9"),
        else_="10+",
    )  # fmt: skip
    since = t["T"] - t.recency
    q = t.aggregate(**{f"q{i}": since.quantile(i / 5) for i in range(1, 5)}).to_pyarrow()
    cuts = [float(q.column(f"q{i}")[0].as_py() or 0.0) for i in range(1, 5)]
    rbin: ibis.Value = ibis.literal(4)
    for i in reversed(range(4)):
        rbin = ibis.ifelse(since <= cuts[i], i, rbin)
    grid = (
        t.group_by(fb=fbin, rb=rbin)
        .aggregate(p=t.p_alive.mean(), n=t.count())
        .to_pyarrow()
        .to_pylist()
    )
    f_labels = ["0", "1", "2", "3-4", "5-9", "10+"]
    edges = [0.0, *cuts]
    r_labels = [
        f"<= {cuts[0]:.0f}",
        *[f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(1, 4)],
        f"> {cuts[3]:.0f}",
    ]
    z: list[list[float | None]] = [[None] * 5 for _ in f_labels]
    for r in grid:
        z[f_labels.index(r["fb"])][int(r["rb"])] = float(r["p"])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=r_labels,
            y=f_labels,
            colorscale="RdYlGn",
            zmin=0,
            zmax=1,
            colorbar={"title": "P(alive)"},
            texttemplate="%{z:.2f}",
        )
    )
    fig.update_xaxes(title=f"{unit}s since the last purchase (quintiles)")
    fig.update_yaxes(title="repeat purchases")
    hi = [r for r in grid if r["fb"] in ("3-4", "5-9", "10+") and int(r["rb"]) == 4]
    lost = sum(int(r["n"]) for r in hi if float(r["p"]) < 0.5)
    return Section(
        "Who is still active: P(alive) by frequency and recency",
        "Frequent buyers who have not bought for a long time are the most likely to have left "
        f"({lost:,} frequent customers in the longest-silent fifth have P(alive) below 0.5).",
        "Send reactivation offers to frequent buyers whose P(alive) is falling, before it drops "
        "below one half.",
        chart(fig, 380),
    )


def _holdout(
    wh: Warehouse, model: str, as_of: date, unit: str, score: dict[str, Any]
) -> tuple[Section, dict[str, Any] | None]:
    """The scoring run's holdout check (stored with the run, or refitted 13 weeks earlier).

    Returns the section and the grade (``FitGrade.to_dict()``), None when not checked.
    """
    check = score.get("check")
    if not check:
        checked = check_model(
            wh,
            unit,
            as_of,
            model if model else "bgnbd",
            penalizer=_penalizer(score),
            dropout_prior=score.get("model", {}).get("dropout_prior"),
        )
        check = checked.to_dict()
    grade: dict[str, Any] = check["grade"]
    if "totals" not in check:
        return (
            Section(
                "Model check: calibration vs holdout",
                f"Not available: {grade['reason']}. The CLV figures are untested.",
                "Have the model checked on a longer history before acting on CLV amounts.",
            ),
            None,
        )
    bins = check["by_frequency"]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=[b["frequency"] for b in bins], y=[b["actual_mean"] for b in bins], name="actual")
    )
    fig.add_trace(
        go.Bar(
            x=[b["frequency"] for b in bins],
            y=[b["predicted_mean"] for b in bins],
            name=f"predicted ({check['model']})",
        )
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="repeat purchases in the calibration period")
    fig.update_yaxes(title="purchases per customer in the holdout")
    tot = check["totals"]
    caveat = ""
    if check.get("dropout_identified") is False:
        caveat = (
            " No customer dropout was visible up to then, so the fit counts (nearly) every "
            "customer as active."
        )
    actions = {
        "good": "Use the CLV amounts and the ranking; re-check after each scoring run.",
        "rough": "Use the ranking and the tiers; read CLV amounts and equity as approximate.",
        "do not use": (
            "Do not act on CLV amounts, equity or tiers until the model tracks the holdout: "
            "check for seasonality or a short history, or have the other models compared on "
            "the same holdout."
        ),
    }
    return (
        Section(
            "Model check: calibration vs holdout",
            f"Fitted up to {check['calibration_end']} and checked on the following "
            f"{check['holdout_weeks']} weeks: {tot['actual']:,.0f} purchases happened, the "
            f"model predicted {tot['predicted']:,.0f} ({tot['error_pct']:+.1f}%).{caveat} "
            f"Grade: {grade['grade']} — {grade['reason']}.",
            actions.get(grade["grade"], grade["meaning"]),
            chart(fig, 320),
        ),
        grade,
    )


#: Bars of the CLV distribution (between the 1st and 99th percentiles; the tails are counted
#: in the first and last bar).
CLV_BINS = 40
#: Customers shown by name in the top-customers chart.
TOP_CUSTOMERS = 15


def _distribution(t: ibis.Table, _money: Money, costs_known: bool) -> Section:
    """How CLV is spread over customers: a histogram computed in the engine."""
    q = (
        t.aggregate(
            lo=t.clv.quantile(0.01),
            hi=t.clv.quantile(0.99),
            median=t.clv.median(),
            below=(t.clv < 0).sum(),
            n=t.count(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    lo, hi, n = float(q["lo"] or 0.0), float(q["hi"] or 0.0), int(q["n"] or 0)
    width = (hi - lo) / CLV_BINS if hi > lo else 1.0
    b = ((t.clv.clip(lower=lo, upper=hi) - lo) / width).floor().clip(upper=CLV_BINS - 1)
    binned = t.select(bin=b.cast("int64"))
    rows = binned.group_by("bin").aggregate(c=binned.count()).order_by("bin").to_pyarrow()
    centres = [lo + (int(i) + 0.5) * width for i in rows.column("bin").to_pylist()]
    fig = go.Figure(go.Bar(x=centres, y=rows.column("c").to_pylist(), name="customers"))
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title="CLV over the horizon (tails folded into the end bars)")
    fig.update_yaxes(title="customers")
    below = int(q["below"] or 0)
    zero = (
        f"{below / max(n, 1):.0%} are below zero (their expected margin does not cover their "
        "cost to serve)"
        if costs_known
        else "with no costs known, no one can show as below zero"
    )
    return Section(
        "How CLV is spread",
        f"Half the customers are worth less than {_money(q['median'])} over the horizon; "
        f"{zero}. Most customers are worth little and a few a great deal: averages hide both.",
        "Treat the long flat part of the curve with low-cost, automated contact; give the "
        "right-hand tail personal attention.",
        chart(fig),
    )


def _top_customers(t: ibis.Table, _money: Money) -> Section:
    """The most valuable customers by name, with their intervals."""
    cols = [c for c in ("customer_id", "clv", "clv_low", "clv_high", "p_alive", "tier", "segment")
            if c in t.columns]  # fmt: skip
    top = (
        t.select(*cols)
        .order_by([ibis.desc("clv"), "customer_id"])
        .limit(TOP_CUSTOMERS)
        .to_pyarrow()
        .to_pylist()
    )
    ids = [str(r["customer_id"]) for r in top][::-1]
    clv = [float(r["clv"]) for r in top][::-1]
    fig = go.Figure(
        go.Bar(
            x=clv,
            y=ids,
            orientation="h",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [float(r["clv_high"]) - float(r["clv"]) for r in top][::-1],
                "arrayminus": [float(r["clv"]) - float(r["clv_low"]) for r in top][::-1],
            },
            name="CLV with 95% interval",
        )
    )
    fig.update_xaxes(title="CLV over the horizon (95% interval: parameter uncertainty only)")
    table = [
        [
            str(r["customer_id"]),
            _money(r["clv"]),
            f"{_money(r['clv_low'])} .. {_money(r['clv_high'])}",
            _pct(r.get("p_alive")),
            str(r.get("tier") or "-"),
            str(r.get("segment") or "-"),
        ]
        for r in top
    ]
    return Section(
        f"The {len(top)} most valuable customers",
        "Each bar is one customer's expected value with its interval; where the intervals of "
        "two customers overlap, their order is not certain.",
        "Give each of them a named contact and ask what would make them buy more from you.",
        chart(fig, 120 + 26 * len(top)),
        table,
        ["customer", "CLV", "95% interval", "P(alive)", "tier", "segment"],
    )


def _profile_chart(model: Any) -> str:
    """Each segment against the average customer, feature by feature (standard deviations)."""
    labels = [model.labels.get(f, f) for f in model.features]
    fig = go.Figure(
        go.Heatmap(
            z=model.centroids,
            x=labels,
            y=list(model.names),
            colorscale="RdBu",
            zmid=0,
            texttemplate="%{z:+.1f}",
            colorbar={"title": "sd from average"},
        )
    )
    fig.update_xaxes(tickangle=-30)
    return chart(fig, 160 + 50 * len(model.names))


def _segments(wh: Warehouse, t: ibis.Table) -> list[Section]:
    model = load_segment_model(wh)
    if model is None or not wh.has_table(SEGMENTS_TABLE):
        return [
            Section(
                "Needs segments",
                "No needs segments yet.",
                "Have the customers segmented by needs to find what groups of them need.",
            )
        ]
    cross = (
        t.group_by(["segment", "tier"])
        .aggregate(n=t.count(), equity=t.clv.sum())
        .to_pyarrow()
        .to_pylist()
    )
    seg = wh.table(SEGMENTS_TABLE)
    sizes = seg.group_by("segment_no").aggregate(n=seg.count()).order_by("segment_no").to_pyarrow()
    total = sum(sizes.column("n").to_pylist()) or 1
    rows = []
    numbers, ns = sizes.column("segment_no").to_pylist(), sizes.column("n").to_pylist()
    for no, n in zip(numbers, ns, strict=True):
        i = int(no) - 1
        rows.append([model.names[i], f"{n:,}", f"{n / total:.0%}", model.descriptions[i]])
    names = list(model.names)
    strength, silhouette = segment_strength(model)
    z = [[0.0 for _ in TIERS] for _ in names]
    counts = [[0 for _ in TIERS] for _ in names]
    for r in cross:
        if r["segment"] in names and r["tier"] in TIERS:
            z[names.index(r["segment"])][TIERS.index(r["tier"])] = float(r["equity"] or 0.0)
            counts[names.index(r["segment"])][TIERS.index(r["tier"])] = int(r["n"])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(TIERS),
            y=names,
            colorscale="Blues",
            text=[[f"{c:,} customers" for c in row] for row in counts],
            texttemplate="%{text}<br>%{z:,.0f}",
            colorbar={"title": "equity"},
        )
    )
    best = max(
        range(len(names)),
        key=lambda i: z[i][TIERS.index("MGC")] if "MGC" in TIERS else 0,
        default=0,
    )
    return [
        Section(
            "Needs segments",
            f"{model.k} segments ({model.criterion}); each is described by what most sets it "
            "apart from all customers, from "
            f"{len(model.features)} features ({', '.join(model.labels.values())})."
            + (
                f" The segments are {strength} (mean silhouette {silhouette:.2f}): read them "
                "as tendencies, not distinct groups."
                if silhouette is not None and silhouette <= 0.5
                else ""
            )
            + " The chart shows how far each segment's centre lies from the average customer "
            "on each feature, in standard deviations (red above, blue below).",
            "Design offers per segment: the same value tier needs different offers in different "
            "segments.",
            _profile_chart(model),
            rows,
            ["segment", "customers", "share", "what distinguishes it"],
        ),
        Section(
            "Tiers within segments",
            f"Most of the growable value (MGC) sits in segment '{names[best]}'."
            if names
            else "No segments.",
            "Start cross-sell and up-sell campaigns in the segment with the most MGC equity.",
            chart(fig, 120 + 60 * len(names)),
        ),
    ]


def _migration(wh: Warehouse) -> Section:
    dates = snapshot_dates(wh)
    if len(dates) < 2:
        return Section(
            "Tier migration",
            f"One value snapshot so far ({dates[0] if dates else 'none'}).",
            "Score again as new data arrives: each run stores a dated snapshot, and this section "
            "then shows who moved between tiers.",
        )
    m = migration(wh)
    labels_from, labels_to = m.labels_from, m.labels_to
    rows = [[a, *(f"{m.moved(a, b):,}" for b in labels_to)] for a in labels_from]
    h = m.to_dict()["highlights"]
    return Section(
        f"Tier migration {m.from_date} to {m.to_date}",
        f"{h['MGC to MVC']:,} customers grew from MGC into MVC; {h['fell to BZ']:,} fell to BZ; "
        f"{h['MVC to MGC or other']:,} MVC slipped out of the top tier.",
        "Call the MVC who slipped before they lapse; check what worked for those who grew.",
        "",
        rows,
        ["from \\ to", *labels_to],
    )


def _penalizer(score: dict[str, Any]) -> float:
    """The penalizer the stored scoring run fitted with (0 when it did not record one)."""
    value = score.get("model", {}).get("penalizer", 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


#: The columns of a scored ``customer_value`` the report reads besides the tier.
_SCORED_COLUMNS = (
    "clv",
    "model",
    "time_unit",
    "horizon_months",
    "discount_rate_yearly",
    "as_of",
)


def build_report(wh: Warehouse, money: Money | None = None) -> dict[str, Any]:
    """Everything the report shows, aggregated in the engine (a dict for the template).

    ``money`` says how amounts are written (currency and decimals; see :class:`Money`).
    """
    money = money or Money()
    if not wh.has_table(VALUE_TABLE):
        raise DataError(f"No {VALUE_TABLE} table; run `patron value score` first.")
    t = wh.table(VALUE_TABLE)
    if "tier" not in t.columns:
        raise DataError(f"{VALUE_TABLE} has no tiers; run `patron tiers` first.")
    missing = [c for c in _SCORED_COLUMNS if c not in t.columns]
    if missing:
        raise DataError(
            f"{VALUE_TABLE} lacks {', '.join(missing)} (it was not written by "
            "`patron value score`); score customers again."
        )
    details = latest_run(wh)
    head = (
        t.aggregate(
            n=t.count(),
            equity=t.clv.sum(),
            model=t.model.max(),
            unit=t.time_unit.max(),
            horizon=t.horizon_months.max(),
            rate=t.discount_rate_yearly.max(),
            as_of=t.as_of.max(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    as_of = head["as_of"]
    score = details.get("score", {})
    holdout, grade = _holdout(wh, str(head["model"]), as_of, str(head["unit"]), score)
    identified = bool(score.get("model", {}).get("dropout_identified", True))
    sections = [
        _concentration(t),
        _distribution(t, money, bool(details.get("bz_identified", True))),
        _top_customers(t, money),
        _tiers(details, money),
        _p_alive(t, str(head["unit"]), identified),
        holdout,
        *_segments(wh, t),
        _migration(wh),
    ]
    grid = {g["cell"]: g["customers"] for g in details.get("profit_loyalty", [])}
    loyalty = {g["loyalty"]: g["customers"] for g in details.get("loyalty", [])}
    sections.append(
        Section(
            "Loyalty and profitability",
            f"True friends (CLV above the median, active repeat buyers): "
            f"{grid.get('true friends', 0):,}; butterflies (above the median, short-term): "
            f"{grid.get('butterflies', 0):,}; barnacles (repeat buyers below the median): "
            f"{grid.get('barnacles', 0):,}; strangers: {grid.get('strangers', 0):,}."
            + (
                ""
                if identified
                else " Short-term here means first-time buyers only: the model cannot tell who "
                "has lapsed."
            ),
            "Reward true friends; harvest butterflies while they buy; raise the value of "
            "barnacles (bigger baskets, cheaper channels); spend little on strangers.",
            "",
            [
                [k, f"{v:,}" if identified or k != "lapsed" else "cannot tell (no dropout seen)"]
                for k, v in loyalty.items()
            ],
            ["loyalty status", "customers"],
        )
    )
    return {
        "title": "Customer value report",
        "as_of": str(as_of),
        "customers": int(head["n"]),
        "money": money,
        "equity": float(head["equity"] or 0.0),
        "equity_low": score.get("customer_equity_low"),
        "equity_high": score.get("customer_equity_high"),
        "model": head["model"],
        "unit": head["unit"],
        "horizon": head["horizon"],
        "rate": head["rate"],
        "basis": _basis_words(str(score.get("margin_basis", ""))),
        "thresholds": details.get("thresholds", {}),
        "rules": details.get("rules", {}),
        "sections": sections,
        "grade": grade,
        "grade_meaning": GRADES[grade["grade"]] if grade else GRADES["not checked"],
        "notes": [
            words
            for n in details.get("notes", [])
            if not n.startswith("Checked by") and (words := for_managers(n))
        ],
        "interval_meaning": INTERVAL_MEANING,
        "bz_identified": details.get("bz_identified", True),
    }


#: What marks a sentence as an instruction for the analyst: a command in backticks, a CLI
#: flag, or a ``patron`` command.
_ANALYST = re.compile(r"`[^`]*`|(?:^|[\s(])--[a-z]|\bpatron [a-z]|\bin Python\b")


def _basis_words(basis: str) -> str:
    """The value basis without the CLI's advice ("pass --margin-rate")."""
    return re.sub(r":\s*pass --[a-z-]+", "", basis).strip()


def for_managers(note: str) -> str:
    """A note in a manager's words: sentences that tell the analyst what to run are left out.

    The CLI and ``--json`` keep the whole note (with the commands); the report, read by
    people who act on the numbers rather than run Patron, keeps what the note says about
    the data. Empty when nothing but instructions is left.
    """
    parts = re.split(r"(?<=[.;:])\s+", note.strip())
    kept = [p for p in parts if p and not _ANALYST.search(p)]
    text = " ".join(kept).strip()
    if text.endswith((";", ":")):
        text = text[:-1].rstrip() + "."
    return text


def overview(wh: Warehouse, money: Money | None = None) -> dict[str, Any]:
    """What the report shows, as JSON-ready data for the console (words, tables and charts).

    The same sections as :func:`build_report` (each with its finding, action, table and chart
    fragment), the equity with its interval and what the interval covers, the model's grade
    and the notes in a manager's words, with every amount already written by ``money``.
    """
    money = money or Money()
    data = build_report(wh, money)
    low, high = data["equity_low"], data["equity_high"]
    return {
        "as_of": data["as_of"],
        "customers": data["customers"],
        "equity": data["equity"],
        "equity_text": money(data["equity"]),
        "equity_interval_text": (
            f"{money(low)} to {money(high)}" if low is not None and high is not None else ""
        ),
        "interval_meaning": data["interval_meaning"],
        "model": str(data["model"]),
        "horizon_months": data["horizon"],
        "basis": data["basis"],
        "grade": data["grade"],
        "grade_meaning": data["grade_meaning"],
        "notes": data["notes"],
        "bz_identified": data["bz_identified"],
        "sections": [
            {
                "title": s.title,
                "finding": s.finding,
                "action": s.action,
                "chart": s.chart,
                "header": s.header,
                "table": s.table,
            }
            for s in data["sections"]
        ],
    }


def write_report(wh: Warehouse, path: Path, money: Money | None = None) -> Path:
    """Write the customer-value report to ``path`` (one self-contained HTML file).

    ``money``: how amounts are written (the settings' currency and decimals).
    """
    check_out_path(path)
    return render_page("customer_value.html", path, build_report(wh, money))
