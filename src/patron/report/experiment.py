"""The experiment report: lifts with intervals per arm and metric, strata, uplift (Qini)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from patron.measure.analysis import SMALL_STRATUM, AnalysisResult
from patron.measure.uplift import UpliftResult
from patron.report._render import Section, chart, check_out_path, render_page

__all__ = ["write_experiment_report"]


def _scale(row: dict[str, Any]) -> tuple[float, str]:
    """Lifts of rates in percentage points; of amounts in their own unit."""
    return (100.0, " (percentage points)") if row["kind"] == "proportion" else (1.0, "")


def _mean(value: float, rate: bool) -> str:
    """A mean as people read it: a rate as a percentage, an amount as a number."""
    if not math.isfinite(value):
        return "-"
    return f"{value:.1%}" if rate else f"{value:,.4g}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def _lift_section(result: AnalysisResult, metric: str) -> Section:
    rows = [r for r in result.results if r["metric"] == metric]
    factor, unit = _scale(rows[0])
    cuped = rows[0].get("means") == "CUPED-adjusted"
    fig = go.Figure(
        go.Scatter(
            x=[r["lift"] * factor for r in rows],
            y=[r["arm"] for r in rows],
            mode="markers",
            marker={"size": 12},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [(r["ci_high"] - r["lift"]) * factor for r in rows],
                "arrayminus": [(r["lift"] - r["ci_low"]) * factor for r in rows],
            },
            name="lift with 95% CI",
        )
    )
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title=f"lift over {result.control} in {metric}{unit}")
    several = rows[0].get("arms_compared", 1) > 1
    low_key = "ci_low_adjusted" if several else "ci_low"
    best = max(rows, key=lambda r: r[low_key])
    if best[low_key] > 0:
        action = (
            f"Roll out {best['arm']} for {metric}: its whole interval is above zero "
            f"({_num(best['relative_lift'], '+.0%')} over control)"
            + (" after adjusting for the several arms." if several else ".")
        )
    else:
        action = f"No arm clearly moves {metric}; do not roll out on this metric alone."
    rate = rows[0]["kind"] == "proportion"
    table = [
        [
            r["arm"],
            _mean(r["arm_mean"], rate),
            _mean(r["control_mean"], rate),
            _num(r["lift"] * factor, "+,.4g"),
            f"{_num(r['ci_low'] * factor, '+,.4g')} .. {_num(r['ci_high'] * factor, '+,.4g')}",
            _num(r["relative_lift"], "+.1%"),
            _num(r["p_value"], ".2g"),
            _num(r["p_value_adjusted"], ".2g"),
        ]
        for r in rows
    ]
    return Section(
        f"{metric}: lift over {result.control}",
        " ".join(r["summary"] for r in rows),
        action,
        chart(fig, 120 + 70 * len(rows)),
        table,
        [
            "arm",
            "arm mean, CUPED-adjusted" if cuped else "arm mean",
            "control mean, CUPED-adjusted" if cuped else "control mean",
            "lift" + unit,
            "95% CI" + unit,
            "relative",
            "p",
            "p (Holm)",
        ],
    )


def _strata_section(result: AnalysisResult, metric: str) -> Section | None:
    every = [r for r in result.by_stratum if r["metric"] == metric]
    rows = [r for r in every if r["lift"] is not None]
    if not rows:
        return None
    tiny = sorted({r["stratum"] for r in every if r["too_small"]})
    fig = go.Figure()
    for arm in sorted({r["arm"] for r in rows}):
        mine = [r for r in rows if r["arm"] == arm]
        fig.add_trace(
            go.Scatter(
                x=[r["lift"] for r in mine],
                y=[r["stratum"] for r in mine],
                mode="markers",
                name=arm,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [r["ci_high"] - r["lift"] for r in mine],
                    "arrayminus": [r["lift"] - r["ci_low"] for r in mine],
                },
            )
        )
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title=f"lift in {metric} (95% CI)")
    judged = [r for r in rows if not r["too_small"]] or rows
    strongest = max(judged, key=lambda r: r["lift"])
    small = (
        f" Too small to tell (fewer than {SMALL_STRATUM} customers in an arm): {', '.join(tiny)}."
        if tiny
        else ""
    )
    return Section(
        f"{metric} by stratum",
        f"The largest lift is in stratum {strongest['stratum']} ({strongest['arm']}: "
        f"{strongest['lift']:+.4g}); strata with intervals crossing zero show no clear effect."
        + small,
        "Target the strata where the interval is clearly above zero first.",
        chart(fig, 140 + 28 * len({r["stratum"] for r in rows})),
    )


def _uplift_section(up: UpliftResult) -> Section:
    d = up.to_dict()
    x, q = d["curve"]["x"], d["curve"]["qini"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=q, mode="lines", name=f"{up.learner} model"))
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, q[-1]], mode="lines", name="random", line={"dash": "dot"})
    )
    fig.update_xaxes(title="share of customers targeted (highest predicted uplift first)")
    fig.update_yaxes(title="incremental outcomes per customer (Qini)")
    beats = d["qini_coefficient"] > d["qini_coefficient_random_rankings_p95"]
    return Section(
        f"Who is persuadable: uplift of {up.treatment} on {up.outcome}",
        f"Qini coefficient {d['qini_coefficient']:.4g} on {up.n_test:,} held-out customers "
        f"(random rankings reach {d['qini_coefficient_random_rankings_p95']:.4g} at their 95th "
        "percentile): "
        + (
            "the model finds customers who respond more than average."
            if beats
            else "the model does not rank better than random."
        ),
        "Send the next campaign to the top of the ranked list."
        if beats
        else "Treat everyone alike (or no one): targeting by this model would not pay.",
        chart(fig, 360),
        [[k, f"{v:+.4g}"] for k, v in d["uplift_at"].items()],
        ["top share", "uplift among them"],
    )


def write_experiment_report(
    result: AnalysisResult, title: str, path: Path, uplift: UpliftResult | None = None
) -> Path:
    """Write the experiment report to ``path`` (one self-contained HTML file)."""
    check_out_path(path)
    srm = result.srm
    sections = [
        Section(
            "Sample ratio check",
            srm["message"],
            "" if not srm["alarm"] else "Find out why the arms differ in size before acting.",
            "",
            [
                [a, f"{n:,.0f}", f"{srm['expected_shares'].get(a, 0):.1%}"]
                for a, n in srm["counts"].items()
            ],
            ["arm", "customers", "design share"],
        )
    ]
    for metric in result.metrics:
        sections.append(_lift_section(result, metric))
        strata = _strata_section(result, metric)
        if strata is not None:
            sections.append(strata)
    if uplift is not None:
        sections.append(_uplift_section(uplift))
    if result.notes:
        sections.append(Section("Notes", " ".join(result.notes)))
    return render_page(
        "experiment.html",
        path,
        {
            "title": f"Experiment report: {title}",
            "sections": sections,
            "control": result.control,
            "has_uplift": uplift is not None,
        },
    )
