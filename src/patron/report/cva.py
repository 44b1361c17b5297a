"""The customer value analysis report: satisfaction, value against competitors, relationships.

One self-contained HTML page built from the domain results (``measure.cva``,
``measure.satisfaction``, ``measure.relationship``, ``measure.b2b``): every figure with its
interval and a sentence, every section with what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from patron.report._render import Section, chart, check_out_path, render_page

__all__ = ["b2b_section", "relationship_section", "write_cva_report"]

LEVELS = ("basic", "reactive", "accountable", "proactive", "partnership")
QUADRANT_COLOURS = {
    "develop": "#1b7f3b",
    "grow": "#2a6fdb",
    "maintain": "#d49b00",
    "serve efficiently": "#8a8f99",
}


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _span(low: float | None, high: float | None, fmt: str) -> str:
    if low is None or high is None:
        return "-"
    return f"{format(low, fmt)} to {format(high, fmt)}"


def _with(row: dict[str, Any], key: str, fmt: str, low: str = "", high: str = "") -> str:
    """``row[key]`` with its interval (``key_low``/``key_high`` unless named), as text."""
    lo, hi = row.get(low or f"{key}_low"), row.get(high or f"{key}_high")
    return f"{_num(row.get(key), fmt)} ({_span(lo, hi, fmt)})"


def _error(
    values: list[float | None], lows: list[float | None], highs: list[float | None]
) -> dict[str, Any]:
    return {
        "type": "data",
        "symmetric": False,
        "array": [
            (h - v) if h is not None and v is not None else 0
            for v, h in zip(values, highs, strict=True)
        ],
        "arrayminus": [
            (v - lo) if lo is not None and v is not None else 0
            for v, lo in zip(values, lows, strict=True)
        ],
    }


def _satisfaction_section(sat: dict[str, Any]) -> Section:
    groups = sat["groups"]
    by = sat["by"]
    fig = go.Figure()
    labels = [" / ".join(str(g[k]) for k in by) for g in groups]
    csat = [100 * g["csat"] if "csat" in g else None for g in groups]
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=csat,
            mode="markers+lines" if len(by) == 1 else "markers",
            name="CSAT (% top-2-box)",
            error_y=_error(
                csat,
                [100 * g["csat_low"] if g.get("csat_low") is not None else None for g in groups],
                [100 * g["csat_high"] if g.get("csat_high") is not None else None for g in groups],
            ),
        )
    )
    nps = [g.get("nps") for g in groups]
    if any(v is not None for v in nps):
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=nps,
                mode="markers+lines" if len(by) == 1 else "markers",
                name="NPS (points)",
                error_y=_error(
                    nps, [g.get("nps_low") for g in groups], [g.get("nps_high") for g in groups]
                ),
            )
        )
    fig.update_yaxes(title="percent / NPS points")
    significant = [c for c in sat["changes"] if c.get("significant")]
    action = (
        "Find out what changed in the waves with a significant change before the next wave."
        if significant
        else "Keep surveying each wave; no change so far is beyond chance."
    )
    table = [
        [
            " / ".join(str(g[k]) for k in by),
            f"{g['responses']:,}",
            f"{_num(g.get('csat'), '.0%')} ({_span(g.get('csat_low'), g.get('csat_high'), '.0%')})",
            f"{_num(g.get('nps'), '+.0f')} ({_span(g.get('nps_low'), g.get('nps_high'), '+.0f')})",
            g.get("note", ""),
        ]
        for g in groups
    ]
    return Section(
        "Satisfaction over the waves",
        " ".join(sat["findings"][-3:]) if sat["findings"] else "",
        action,
        chart(fig, 340),
        table,
        [" / ".join(by), "responses", "CSAT (95% interval)", "NPS (95% interval)", "note"],
    )


def _behaviour_section(beh: dict[str, Any]) -> Section:
    bands = [b for b in beh["bands"] if b["customers"]]
    fig = go.Figure(
        go.Bar(
            x=[b["band"] for b in bands],
            y=[b["p_alive"] for b in bands],
            error_y=_error(
                [b["p_alive"] for b in bands],
                [b.get("p_alive_low") for b in bands],
                [b.get("p_alive_high") for b in bands],
            ),
            name="mean P(alive)",
        )
    )
    fig.update_yaxes(title="mean P(alive)", range=[0, 1])
    table = [
        [
            b["band"],
            f"{b['customers']:,}",
            _with(b, "repeat_share", ".0%", "repeat_low", "repeat_high"),
            _with(b, "p_alive", ".2f"),
            _with(b, "clv", ",.0f"),
            b.get("note", ""),
        ]
        for b in beh["bands"]
    ]
    return Section(
        f"Satisfaction and behaviour (wave {beh['wave']})",
        " ".join(beh["findings"]),
        "Use dissatisfied, valuable customers as a call list for service recovery; test "
        "whether it keeps them with a holdout before scaling it.",
        chart(fig, 300),
        table,
        ["band", "customers", "repeat buyers", "P(alive)", "CLV", "note"],
    )


def _importance_section(cva: dict[str, Any]) -> Section:
    attrs = cva["attributes"]
    names = [a["attribute"] for a in attrs]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[a["importance"] for a in attrs],
            error_y=_error(
                [a["importance"] for a in attrs],
                [a["importance_low"] for a in attrs],
                [a["importance_high"] for a in attrs],
            ),
            name="importance",
        )
    )
    fig.update_yaxes(title="importance (share, sums to 1)", tickformat=".0%")
    table = [
        [
            a["attribute"],
            f"{a['importance']:.0%} ({_span(a['importance_low'], a['importance_high'], '.0%')})",
            f"{_num(a['ours'], '.2f')} ({_span(a.get('ours_low'), a.get('ours_high'), '.2f')})",
            *[
                f"{_num(a['competitors'][c].get('rating'), '.2f')}, gap "
                + _with(a["competitors"][c], "gap", "+.2f")
                for c in cva["competitors"]
            ],
        ]
        for a in attrs
    ]
    return Section(
        f"What customers weigh, and how we compare (wave {cva['wave']})",
        f"Importance: {cva['importance_definition']}. " + cva["findings"][0],
        "",
        chart(fig, 320),
        table,
        ["attribute", "importance (95%)", f"{cva['ours']} (95%)", *cva["competitors"]],
    )


def _gap_section(cva: dict[str, Any]) -> Section:
    fig = go.Figure()
    names = [a["attribute"] for a in cva["attributes"]]
    for c in cva["competitors"]:
        gaps = [a["competitors"][c].get("gap") for a in cva["attributes"]]
        fig.add_trace(
            go.Scatter(
                x=gaps,
                y=names,
                mode="markers",
                name=f"ours − {c}",
                error_x=_error(
                    gaps,
                    [a["competitors"][c].get("gap_low") for a in cva["attributes"]],
                    [a["competitors"][c].get("gap_high") for a in cva["attributes"]],
                ),
            )
        )
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title="our rating minus the competitor's (rating points, 95% interval)")
    fix = cva["fix_first"]
    return Section(
        "Attributes to fix first",
        " ".join(f["sentence"] for f in fix)
        if fix
        else "We are not clearly behind any competitor on any attribute.",
        f"Start with {fix[0]['attribute']}: it costs the most overall rating."
        if fix
        else "Defend the attributes where we lead.",
        chart(fig, 320),
        [
            [
                f["attribute"],
                f["behind"],
                f"{f['gap']:+.2f}",
                f"{f['importance']:.0%}",
                f"{f['weighted_gap']:+.3f}",
            ]
            for f in fix
        ],
        ["attribute", "behind", "gap", "importance", "importance × gap"],
    )


def _segment_section(cva: dict[str, Any]) -> Section | None:
    by = cva.get("by_segment") or {}
    if not by.get("segments"):
        return None
    major = by["major_competitor"]
    fig = go.Figure()
    table = []
    for name, rows in by["segments"].items():
        rated = [r for r in rows if r.get("gap") is not None]
        gaps = [r["gap"] for r in rated]
        fig.add_trace(
            go.Scatter(
                x=gaps,
                y=[r["attribute"] for r in rated],
                mode="markers",
                name=name,
                error_x=_error(gaps, [r["gap_low"] for r in rated], [r["gap_high"] for r in rated]),
            )
        )
        table += [
            [
                name,
                r["attribute"],
                _num(r.get("ours"), ".2f"),
                _num(r.get("competitor"), ".2f"),
                _with(r, "gap", "+.2f"),
                r.get("note", ""),
            ]
            for r in rows
        ]
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title=f"our rating minus {major}'s, per segment (95% interval)")
    return Section(
        f"Each segment against {major}, attribute by attribute",
        " ".join(by["findings"]) or f"No segment rates us clearly behind {major} on any attribute.",
        f"{major} is the major competitor: the best mean overall rating in this wave.",
        chart(fig, 320),
        table,
        ["segment", "attribute", cva["ours"], major, "gap (95%)", "note"],
    )


def _value_map_section(cva: dict[str, Any]) -> Section:
    vm = cva["value_map"]
    if not vm.get("available"):
        return Section("Customer perceived value map", f"Not drawn: {vm['reason']}.")
    pts = vm["points"]
    fig = go.Figure(
        go.Scatter(
            x=[p["relative_cost"] for p in pts],
            y=[p["relative_benefit"] for p in pts],
            text=[p["brand"] for p in pts],
            mode="markers+text",
            textposition="top center",
            marker={"size": 14},
        )
    )
    fig.add_hline(y=0, line_dash="dot")
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title="perceived cost relative to the market (higher: costs more)")
    fig.update_yaxes(title="perceived benefit relative to the market")
    table = [
        [
            p["brand"],
            f"{p['benefit']:.2f} ({_span(p['benefit_low'], p['benefit_high'], '.2f')})",
            f"{p['cost']:.2f} ({_span(p['cost_low'], p['cost_high'], '.2f')})",
            f"{p['perceived_value']:+.2f}",
        ]
        for p in pts
    ]
    return Section(
        "Customer perceived value map",
        f"{vm['finding']} Definition: {vm['definition']}.",
        "Above the diagonal through the origin a brand gives more benefit for its cost than "
        "the market; move up (benefits that weigh) or left (cost) to gain.",
        chart(fig, 360),
        table,
        ["brand", "benefit (95%)", "cost (95%)", "perceived value"],
    )


def _changes_section(cva: dict[str, Any]) -> Section:
    ch = cva["changes"]
    if not ch.get("previous_wave"):
        return Section("Changes between waves", "The first wave: nothing to compare with yet.")
    rows = [
        [
            r["attribute"],
            _with(r, "ours_change", "+.2f"),
            "yes" if r.get("significant") else "no",
            "; ".join(
                f"{c}: {g['change']:+.2f}{' (significant)' if g['significant'] else ''}"
                for c, g in r.get("gaps", {}).items()
            ),
        ]
        for r in ch["attributes"]
    ]
    return Section(
        f"Changes since {ch['previous_wave']}",
        " ".join(ch["findings"]),
        "",
        "",
        rows,
        ["attribute", "our rating change (95%)", "significant", "gap change per competitor"],
    )


def relationship_section(rel: dict[str, Any]) -> Section:
    """Current against recommended relationship levels, and the actions that close the gaps."""
    levels = rel["levels"]
    fig = go.Figure()
    for kind, colour in (("current", "#8a8f99"), ("recommended", "#2a6fdb")):
        fig.add_trace(
            go.Bar(
                x=list(LEVELS),
                y=[levels[lv][kind] for lv in LEVELS],
                name=kind,
                marker_color=colour,
            )
        )
    fig.update_yaxes(title="customers")
    fig.update_layout(barmode="group")
    rows = [
        [
            r["current"],
            r["recommended"],
            f"{r['customers']:,}",
            " ".join(r["actions"]) or "keep as is",
        ]
        for r in rel["matrix"][:15]
    ]
    finding = " ".join(rel["findings"] + rel.get("notes", []))
    return Section(
        f"Relationship levels (by {rel['group_by']}, touch points up to {rel['as_of'][:10]})",
        finding,
        "Work down the table: each row is a group of customers and the actions that bring "
        "their relationship to the level their margin and numbers pay for.",
        chart(fig, 300),
        rows,
        ["current", "recommended", "customers", "actions"],
    )


def b2b_section(b2b: dict[str, Any]) -> Section:
    """The business customers' portfolio: actual value against potential."""
    fig = go.Figure()
    for quadrant, colour in QUADRANT_COLOURS.items():
        pts = [p for p in b2b["points"] if p["quadrant"] == quadrant]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p["clv"] for p in pts],
                y=[p["potential_score"] for p in pts],
                text=[p["customer_id"] for p in pts],
                mode="markers",
                name=quadrant,
                marker={"color": colour, "size": 9},
            )
        )
    fig.add_vline(x=b2b["medians"]["clv"], line_dash="dot")
    fig.add_hline(y=b2b["medians"]["potential_score"], line_dash="dot")
    fig.update_xaxes(title="actual value (CLV, currency)")
    fig.update_yaxes(title="potential score (0-1)")
    q = b2b["quadrants"]
    finding = (
        f"{b2b['rated']:,} business customers: {q['develop']:,} to develop, {q['grow']:,} to "
        f"grow, {q['maintain']:,} to maintain, {q['serve efficiently']:,} to serve efficiently "
        "(split at the medians)."
    )
    return Section(
        "Business customers: value against potential",
        finding,
        "Invest account management in 'grow' (low value today, high potential) and protect "
        "'develop'; serve the low-potential ones efficiently.",
        chart(fig, 380),
        [
            [t["customer_id"], f"{t['clv']:,.0f}", f"{t['potential_score']:.2f}", t["quadrant"]]
            for t in b2b["top"]
        ],
        ["customer", "CLV", "potential", "quadrant"],
    )


def write_cva_report(
    path: Path,
    *,
    cva: dict[str, Any] | None = None,
    satisfaction: dict[str, Any] | None = None,
    behaviour: dict[str, Any] | None = None,
    extra: list[Section] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write the report (one self-contained HTML file) from the domain results' dictionaries.

    Parameters
    ----------
    path
        The ``.html`` file to write (atomically).
    cva, satisfaction, behaviour
        ``to_dict()`` of the customer value analysis and satisfaction, and the behaviour
        link; a part that is ``None`` is left out.
    extra
        Further sections (relationship levels, B2B potential).
    notes
        Sentences on what could not be shown and why.
    """
    check_out_path(path)
    sections: list[Section] = []
    if satisfaction is not None:
        sections.append(_satisfaction_section(satisfaction))
    if behaviour is not None:
        sections.append(_behaviour_section(behaviour))
    if cva is not None:
        sections += [_importance_section(cva), _gap_section(cva)]
        by_segment = _segment_section(cva)
        if by_segment is not None:
            sections.append(by_segment)
        sections += [_value_map_section(cva), _changes_section(cva)]
    sections += extra or []
    if notes:
        sections.append(Section("Not shown", " ".join(notes)))
    title = "Customer value analysis"
    if cva is not None:
        title += f": {cva['ours']} against {', '.join(cva['competitors']) or 'no competitor'}"
    return render_page("cva.html", path, {"title": title, "sections": sections})
