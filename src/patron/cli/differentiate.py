"""Differentiate: tiers, migration, needs segments, the customer-value report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from patron.cli._common import JsonOpt, WarehouseOpt, _emit_json, _open, _parse_date, app, err, out
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.needs import SegmentResult
    from patron.report import Money
    from patron.value.history import Migration
    from patron.value.tiers import TierSummary


def _print_tiers(summary: TierSummary, *, notes: bool = True) -> None:
    """The tier table, thresholds, loyalty; with ``notes`` the model's grade and notes."""
    th = summary.thresholds
    table = Table(
        title=f"Value tiers (customer equity {summary.equity:,.2f})", title_justify="left"
    )
    for col in ("tier", "customers", "share", "equity", "equity share", "mean CLV"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for row in summary.tiers:
        share = row["equity_share"]
        if not row.get("identified", True):
            table.add_row(row["tier"], "-", "-", "-", "-", "-")
            continue
        table.add_row(
            row["tier"],
            f"{row['customers']:,}",
            f"{row['customer_share']:.1%}",
            f"{row['equity']:,.2f}",
            "-" if share is None else f"{share:.1%}",
            "-" if row["mean_clv"] is None else f"{row['mean_clv']:,.2f}",
        )
    out.print(table)
    for row in summary.tiers:
        out.print(f"  {row['tier']}: {row['action']}")
    mvc = "none" if th.mvc_min_clv is None else f"CLV >= {th.mvc_min_clv:,.2f}"
    mgc = "none" if th.mgc_min_growth is None else f"growth potential >= {th.mgc_min_growth:,.2f}"
    bz = (
        f"CLV < {summary.rules.bz_below:g}"
        if summary.bz_identified
        else "not assigned (no costs known)"
    )
    out.print(
        f"Thresholds used: MVC {mvc}; MGC {mgc}; BZ {bz}. "
        f"Strategic value: {summary.to_dict()['strategic_value_basis']}."
    )
    lapsed = "" if summary.dropout_identified else " (the model cannot tell who has left)"
    out.print(
        "Loyalty: "
        + ", ".join(
            f"{r['loyalty']} {r['customers']:,}" + (lapsed if r["loyalty"] == "lapsed" else "")
            for r in summary.loyalty
        )
        + ". Profitability x loyalty: "
        + ", ".join(f"{r['cell']} {r['customers']:,}" for r in summary.grid)
        + "."
    )
    if notes:
        if summary.grade is None:
            out.print("Model grade: not checked (score with the holdout check to grade it).")
        for note in summary.notes:
            out.print(note if note.startswith(("Checked", "Model grade")) else f"note: {note}")


@app.command("tiers")
def tiers_cmd(
    mvc_share: Annotated[
        float, typer.Option(help="MVC: top customers carrying this share of positive equity.")
    ] = 0.5,
    mgc_share: Annotated[
        float, typer.Option(help="MGC: this share of the rest with the largest growth potential.")
    ] = 0.2,
    growth_rate: Annotated[
        float, typer.Option(help="MGC also: CLV grown by this much since the last snapshot.")
    ] = 0.25,
    bz_below: Annotated[float, typer.Option(help="BZ: CLV below this (currency).")] = 0.0,
    reference_quantile: Annotated[
        float, typer.Option(help="Strategic value: spend quantile of the segment's best.")
    ] = 0.8,
    lapsed_p_alive: Annotated[float, typer.Option(help="Lapsed: P(alive) below this.")] = 0.5,
    regular_rate: Annotated[
        float | None,
        typer.Option(help="Regular: repeat purchases per time unit; default the median."),
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign value tiers (MVC, MGC, BZ, other) to the scored customers and store a snapshot."""
    from patron.value.history import apply_tiers
    from patron.value.tiers import TierRules

    rules = TierRules(
        mvc_share, mgc_share, growth_rate, bz_below, reference_quantile, lapsed_p_alive,
        regular_rate,
    )  # fmt: skip
    with _open(warehouse) as wh, err.status("Assigning tiers ..."):
        summary = apply_tiers(wh, rules)
    if as_json:
        _emit_json(summary.to_dict())
    else:
        _print_tiers(summary)


@app.command("migration")
def migration_cmd(
    from_date: Annotated[
        str | None, typer.Option("--from", help="Earlier snapshot date (default: second latest).")
    ] = None,
    to_date: Annotated[
        str | None, typer.Option("--to", help="Later snapshot date (default: the latest).")
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tier migration between two value snapshots: who moved where."""
    from patron.value.history import migration

    with _open(warehouse) as wh:
        result = migration(wh, _parse_date(from_date, "--from"), _parse_date(to_date, "--to"))
    if as_json:
        _emit_json(result.to_dict())
        return
    _print_migration(result)


snapshots_app = typer.Typer(
    help="The dated value snapshots (one per scoring date): list them, prune old ones.",
    no_args_is_help=True,
)
app.add_typer(snapshots_app, name="snapshots")


@snapshots_app.command("list")
def snapshots_list(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Every stored snapshot: its date, customers, customer equity and MVCs."""
    from patron.value.history import snapshot_summary

    with _open(warehouse) as wh:
        rows = snapshot_summary(wh)
    if as_json:
        _emit_json({"snapshots": rows})
        return
    if not rows:
        out.print("No value snapshots yet; `patron value score` stores one per data date.")
        return
    table = Table(title=f"{len(rows)} value snapshot(s)", title_justify="left")
    for col in ("as of", "customers", "customer equity", "MVC"):
        table.add_column(col, justify="left" if col == "as of" else "right")
    for r in rows:
        table.add_row(r["as_of"], f"{r['customers']:,}", f"{r['equity']:,.2f}", f"{r['mvc']:,}")
    out.print(table)


@snapshots_app.command("prune")
def snapshots_prune(
    keep_last: Annotated[
        int | None, typer.Option(help="Keep this many of the latest snapshots (1 or more).")
    ] = None,
    before: Annotated[
        str | None, typer.Option(help="Remove the snapshots dated before this day.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be removed; remove nothing.")
    ] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove old value snapshots.

    The latest always stays, and so does the one of the run customer_value holds; run records
    are kept.
    """
    from patron.value.history import prune_snapshots
    from patron.value.snapshots import tiered_run_date

    day = _parse_date(before, "--before")
    with _open(warehouse) as wh:
        removed, kept = prune_snapshots(wh, keep_last=keep_last, before=day, dry_run=dry_run)
        held = tiered_run_date(wh)
    if as_json:
        _emit_json(
            {
                "removed": [d.isoformat() for d in removed],
                "kept": [d.isoformat() for d in kept],
                "dry_run": dry_run,
            }
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    listed = ", ".join(d.isoformat() for d in removed) or "none"
    out.print(f"{verb} {len(removed)} snapshot(s): {listed}. Kept {len(kept)}.")
    if held is not None and kept and held != kept[-1]:
        out.print(
            f"The snapshot of {held} stays: customer_value holds that run (it moves to the "
            "history, and can be pruned, when a later run replaces it)."
        )


def _print_migration(m: Migration) -> None:
    table = Table(
        title=f"Tier migration {m.from_date} -> {m.to_date} (rows: from, columns: to)",
        title_justify="left",
    )
    table.add_column("from")
    for label in m.labels_to:
        table.add_column(label, justify="right")
    for a in m.labels_from:
        table.add_row(a, *(f"{m.moved(a, b):,}" for b in m.labels_to))
    out.print(table)
    out.print(", ".join(f"{k}: {v:,}" for k, v in m.to_dict()["highlights"].items()) + ".")


@app.command("segment")
def segment_cmd(
    k: Annotated[
        str, typer.Option("--k", help="Number of segments, or auto (silhouette).")
    ] = "auto",
    refit: Annotated[
        bool, typer.Option(help="Fit new segments even when a segment model is stored.")
    ] = False,
    min_orders: Annotated[
        int, typer.Option(help="Train on customers with at least this many orders.")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same segments).")] = 0,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Segment customers by needs (what and how they buy) into customer_segments.

    A stored segment model is reused, so new customers join the existing segments; --refit
    (or --k N) fits anew. Tiers in customer_value are refreshed with the segments.
    """
    from patron.needs import segment_customers
    from patron.value.history import apply_tiers

    if k != "auto" and not k.isdigit():
        raise UsageError(f"--k {k!r}: give a whole number of segments or auto.")
    with _open(warehouse) as wh, err.status("Segmenting customers ..."):
        result = segment_customers(
            wh,
            k=None if k == "auto" else int(k),
            refit=refit,
            min_orders=min_orders,
            seed=seed,
        )
        tiers = apply_tiers(wh) if wh.has_table("customer_value") else None
    if as_json:
        payload = result.to_dict()
        if tiers is not None:
            payload["tiers"] = tiers.to_dict()
        _emit_json(payload)
        return
    _print_segments(result)
    if tiers is not None:
        out.print("customer_value re-tiered with the segments (strategic value per segment).")


def _print_segments(result: SegmentResult) -> None:
    how = "fitted" if result.refitted else "stored model reused"
    q = result.quality
    out.print(
        f"{result.model.k} needs segments ({how}; {result.model.criterion}; strength: "
        f"{q.get('strength', '-')}); {result.customers:,} customers assigned into "
        f"customer_segments. Features: {', '.join(q.get('features_used', []))}."
    )
    table = Table(title="Needs segments", title_justify="left")
    for col in ("#", "segment", "customers", "share", "what distinguishes it"):
        table.add_column(col, justify="right" if col in ("#", "customers", "share") else "left")
    for p in result.profiles:
        table.add_row(
            str(p["segment_no"]), p["segment"], f"{p['customers']:,}", f"{p['share']:.1%}",
            p["description"],
        )  # fmt: skip
    out.print(table)
    for note in result.notes:
        out.print(f"note: {note}")


@app.command("report")
def report_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "customer-value-report.html"
    ),
    currency: Annotated[
        str | None,
        typer.Option(help="Currency shown with amounts (£, $, EUR); default $PATRON_CURRENCY."),
    ] = None,
    money_decimals: Annotated[
        int | None,
        typer.Option(
            help="Decimals of amounts (0-4); default $PATRON_MONEY_DECIMALS, else cents below "
            "100 and whole units above."
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the customer-value report: one self-contained HTML file (works offline)."""
    from patron.report import write_report

    money = _money_format(currency, money_decimals)
    with _open(warehouse) as wh, err.status("Building the customer-value report ..."):
        path = write_report(wh, out_file, money)
    out.print(f"Report written to {path.resolve()}")


def _money_format(currency: str | None, decimals: int | None) -> Money:
    """The options, else the settings (``PATRON_CURRENCY``, ``PATRON_MONEY_DECIMALS``)."""
    from patron.report import Money
    from patron.settings import Settings

    if decimals is not None and not 0 <= decimals <= 4:
        raise UsageError(f"--money-decimals {decimals} must be between 0 and 4.")
    if currency is not None and len(currency) > 8:
        raise UsageError(f"--currency {currency!r}: give a symbol or a code of up to 8 letters.")
    settings = Settings.load()
    return Money(
        currency if currency is not None else settings.currency,
        decimals if decimals is not None else settings.money_decimals,
    )
