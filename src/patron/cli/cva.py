"""Measure, from surveys: patron satisfaction, patron cva [report].

Domain modules are imported inside the commands: ``patron --help`` and the other commands do
not pay for statsmodels, scipy or plotly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from patron.cli._common import JsonOpt, WarehouseOpt, _emit_json, _open, _split, app, out
from patron.errors import DataError

if TYPE_CHECKING:
    from patron.data.warehouse import Warehouse

cva_app = typer.Typer(
    help="Customer value analysis against competitors, from survey responses "
    "(`patron load responses`). Without a subcommand: the analysis of one wave.",
    invoke_without_command=True,
)
app.add_typer(cva_app, name="cva")

WaveOpt = Annotated[
    str | None, typer.Option("--wave", help="The survey wave (default: the latest).")
]
SegmentOpt = Annotated[
    str | None, typer.Option("--segment", help="Only respondents of this survey segment.")
]
ImportanceOpt = Annotated[
    str,
    typer.Option(
        "--importance",
        help="derived (regression of overall on the attribute ratings) or stated (mean "
        "importance answers).",
    ),
]
CostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cost",
        help="Attributes measuring price or cost, for the value map (default: names with "
        "price, cost or fee).",
    ),
]


def _analysis(
    wh: Warehouse, wave: str | None, segment: str | None, importance: str, cost: list[str] | None
) -> Any:
    from patron.measure.cva import customer_value_analysis

    return customer_value_analysis(
        wh,
        wave=wave,
        segment=segment,
        importance=importance,
        cost_attributes=_split(cost) or None,
    )


def _print_cva(d: dict[str, Any]) -> None:
    from rich.table import Table

    where = f", segment {d['segment']}" if d["segment"] else ""
    out.print(
        f"Customer value analysis, wave {d['wave']}{where}: {d['ours']} against "
        f"{', '.join(d['competitors']) or 'no competitor'} "
        f"(respondents: {', '.join(f'{b} {n:,}' for b, n in d['respondents'].items())})."
    )
    out.print(f"Importance: {d['importance_definition']}.")
    table = Table(title_justify="left")
    for col in ("attribute", "importance (95%)", d["ours"], *d["competitors"]):
        table.add_column(col)

    def span(lo: float | None, hi: float | None, fmt: str) -> str:
        return "-" if lo is None or hi is None else f"{lo:{fmt}}..{hi:{fmt}}"

    for a in d["attributes"]:
        cells = []
        for c in d["competitors"]:
            e = a["competitors"][c]
            if e.get("gap") is None:
                cells.append("not rated")
                continue
            gap = span(e["gap_low"], e["gap_high"], "+.2f")
            cells.append(f"{e['rating']:.2f} (gap {e['gap']:+.2f}, {gap})")
        table.add_row(
            a["attribute"],
            f"{a['importance']:.0%} ({span(a['importance_low'], a['importance_high'], '.0%')})",
            "-" if a["ours"] is None else f"{a['ours']:.2f}",
            *cells,
        )
    out.print(table)
    for line in d["findings"][1:]:
        out.print(line)


@cva_app.callback()
def cva_cmd(
    ctx: typer.Context,
    wave: WaveOpt = None,
    segment: SegmentOpt = None,
    importance: ImportanceOpt = "derived",
    cost: CostOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rate us against competitors attribute by attribute: importance, gaps, what to fix."""
    if ctx.invoked_subcommand is not None:
        return
    with _open(warehouse) as wh:
        result = _analysis(wh, wave, segment, importance, cost)
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_cva(result.to_dict())


@cva_app.command("report")
def cva_report_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "cva-report.html"
    ),
    wave: WaveOpt = None,
    segment: SegmentOpt = None,
    importance: ImportanceOpt = "derived",
    cost: CostOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the customer value analysis report: one self-contained HTML file."""
    from patron.measure.b2b import b2b_portfolio
    from patron.measure.relationship import relationship_levels
    from patron.measure.satisfaction import satisfaction, satisfaction_behaviour
    from patron.report import check_out_path
    from patron.report.cva import b2b_section, relationship_section, write_cva_report

    check_out_path(out_file)
    notes: list[str] = []
    extra = []
    with _open(warehouse) as wh:
        result = _analysis(wh, wave, segment, importance, cost).to_dict()
        sat = satisfaction(wh).to_dict()
        try:
            beh = satisfaction_behaviour(wh, wave=result["wave"])
        except DataError as exc:
            beh = None
            notes.append(f"Satisfaction and behaviour: {exc}")
        try:
            rel = relationship_levels(wh, write=False).to_dict()
            extra.append(relationship_section(rel))
        except DataError as exc:
            notes.append(f"Relationship levels: {exc}")
        portfolio = b2b_portfolio(wh)
        if portfolio is not None:
            extra.append(b2b_section(portfolio))
        else:
            notes.append(
                "Business customers' potential: not scored yet (`patron b2b --ratings FILE "
                "--weights FILE`)."
            )
    path = write_cva_report(
        out_file, cva=result, satisfaction=sat, behaviour=beh, extra=extra, notes=notes
    )
    out.print(f"Report written to {path.resolve()}")


@app.command("satisfaction")
def satisfaction_cmd(
    by: Annotated[
        str | None,
        typer.Option("--by", help="segment (the survey's) or tier (the customer's value tier)."),
    ] = None,
    brand: Annotated[
        str | None, typer.Option("--brand", help="A competitor's name (default: ours).")
    ] = None,
    behaviour: Annotated[
        bool,
        typer.Option(
            "--behaviour",
            help="Also repeat purchase, P(alive) and CLV by satisfaction band (customers).",
        ),
    ] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CSAT and NPS per wave (segment or tier) with 95% intervals, and their changes."""
    from patron.measure.satisfaction import satisfaction, satisfaction_behaviour

    with _open(warehouse) as wh:
        result = satisfaction(wh, by=by, brand=brand).to_dict()
        if behaviour:
            result["behaviour"] = satisfaction_behaviour(wh)
    if as_json:
        _emit_json(result)
        return
    out.print(f"Satisfaction of {result['brand']}: CSAT = {result['csat_definition']}.")
    out.print(f"NPS = {result['nps_definition']}.")
    for line in result["findings"]:
        out.print(line)
    for line in result.get("behaviour", {}).get("findings", []):
        out.print(line)


@app.command("relationship")
def relationship_cmd(
    group_by: Annotated[
        str,
        typer.Option("--group-by", help="tier or segment: whose size counts as 'many customers'."),
    ] = "tier",
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Show one customer's levels and actions (stored run)."),
    ] = None,
    window_days: Annotated[
        int, typer.Option(help="Days of touch points that set the current level.")
    ] = 365,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Relationship levels: current (touch points) against recommended (margin, numbers)."""
    from patron.measure.relationship import (
        RelationshipRules,
        customer_relationship,
        relationship_levels,
    )

    with _open(warehouse) as wh:
        if customer is not None:
            one = customer_relationship(wh, customer)
            if as_json:
                _emit_json(one)
                return
            out.print(
                f"{customer}: {one['current']} now, {one['recommended']} recommended "
                f"({one['margin_band']} margin, {one['size_band']} group {one['group']})."
            )
            for action in one["actions"] or ["Keep the relationship as it is."]:
                out.print(f"  - {action}")
            return
        rules = RelationshipRules(group_by=group_by, window_days=window_days)
        result = relationship_levels(wh, rules=rules).to_dict()
    if as_json:
        _emit_json(result)
        return
    for line in result["notes"] + result["findings"]:
        out.print(line)
    for row in result["matrix"]:
        actions = " ".join(row["actions"]) or "keep as is"
        out.print(
            f"{row['customers']:>8,}  {row['current']:<12} -> {row['recommended']:<12} {actions}"
        )


@app.command("b2b")
def b2b_cmd(
    ratings: Annotated[
        Path, typer.Option("--ratings", help="CSV: customer_id and a column per factor.")
    ],
    weights: Annotated[
        Path, typer.Option("--weights", help="YAML: factor: weight (monetary, ...), sum 1.")
    ],
    scale: Annotated[str, typer.Option(help="The rating scale of the factors.")] = "1-5",
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Business customers' potential (monetary + rated factors, weighted) and the portfolio."""
    from patron.data.responses import parse_scale
    from patron.measure.b2b import b2b_potential, read_factor_ratings, read_weights

    sc = parse_scale(scale)
    w = read_weights(weights)
    r = read_factor_ratings(ratings, (sc.low, sc.high))
    with _open(warehouse) as wh:
        result = b2b_potential(wh, r, w, scale=(sc.low, sc.high)).to_dict()
    if as_json:
        _emit_json(result)
        return
    for line in result["findings"] + result["notes"]:
        out.print(line)
    out.print(f"Monetary value: {result['monetary_basis']}. Stored in b2b_potential.")
