"""The ``patron`` command: a thin face over the domain packages.

Exit codes (one place): 0 success, 2 usage error, 65 data error, 69 warehouse unavailable or
refused, 70 internal error (a bug: run with ``--debug`` and report it), 78 configuration error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from patron import __version__
from patron.data.loader import LoadOptions, LoadReport, load, parse_mappings
from patron.data.simulate import simulate_shop
from patron.data.status import warehouse_status
from patron.data.warehouse import Warehouse, connect
from patron.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    NotFittedError,
    PatronError,
    UsageError,
    WarehouseError,
)
from patron.measure import (
    OUTCOME_METRICS,
    AnalysisResult,
    AssignmentResult,
    analyze_experiment,
    analyze_table,
    assign_new_customers,
    create_experiment,
    experiment_table,
    fit_uplift,
    load_experiment,
    parse_arms,
    plan_experiment,
    read_outcome_file,
)
from patron.measure.experiments import ASSIGNMENTS_TABLE
from patron.needs import SegmentResult, segment_customers
from patron.report import write_experiment_report, write_report
from patron.settings import Settings
from patron.value.clv import ValueSettings
from patron.value.history import (
    Migration,
    apply_tiers,
    migration,
    score_into_warehouse,
    value_trend,
)
from patron.value.retention import retention_report
from patron.value.summary import SummarySpec
from patron.value.tiers import TierRules, TierSummary
from patron.value.validation import holdout_report
from patron.value.workflow import (
    FitResult,
    ScoreResult,
    SummarySource,
    fit_purchase_model,
    require_scorable,
    score_customers,
    summary_from_file,
    summary_from_warehouse,
)

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_DATA = 65
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70
EXIT_CONFIG = 78

#: How each error class maps to an exit code (the first matching class wins).
EXIT_CODES: tuple[tuple[type[PatronError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (ConfigError, EXIT_CONFIG),
    (DataError, EXIT_DATA),
    (ConvergenceError, EXIT_DATA),
    (NotFittedError, EXIT_USAGE),
    (WarehouseError, EXIT_UNAVAILABLE),
    (PatronError, EXIT_INTERNAL),
)

app = typer.Typer(
    name="patron",
    help="Patron: one-to-one marketing on your own customer data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    debug = False
    warehouse: str | None = None


STATE = _State()

WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="Warehouse URL (default: $PATRON_WAREHOUSE or duckdb://patron.duckdb).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _open(warehouse: str | None) -> Warehouse:
    url = warehouse or STATE.warehouse or Settings().warehouse
    return connect(url)


def _version(value: bool) -> None:
    if value:
        out.print(f"patron {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    warehouse: WarehouseOpt = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Patron: identify, differentiate, interact, customize, measure."""
    STATE.debug = debug or STATE.debug
    STATE.warehouse = warehouse
    if STATE.debug:
        logging.basicConfig(level=logging.DEBUG)


def _emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _print_load(report: LoadReport) -> None:
    table = Table(title=f"Load into {report.table}", title_justify="left")
    for col in ("file", "status", "read", "loaded", "rejected", "returns"):
        table.add_column(col, justify="right" if col not in {"file", "status"} else "left")
    for f in report.files:
        table.add_row(
            Path(f.path).name,
            f.status,
            f"{f.rows_read:,}",
            f"{f.rows_loaded:,}",
            f"{f.rows_rejected:,}",
            f"{f.returns:,}",
        )
    out.print(table)
    for f in report.files:
        if f.message:
            out.print(f"{Path(f.path).name}: {f.message}")
        for r in f.rejections:
            lines = ", ".join(str(n) for n in r.first_lines)
            more = ", ..." if r.count > len(r.first_lines) else ""
            out.print(f"  rejected {r.count:,} row(s): {r.reason} (lines {lines}{more})")


def _check_table_file(out_file: Path) -> None:
    """Refuse, before any work, an --out that is not .csv/.parquet or whose folder is missing."""
    if out_file.suffix.lower() not in {".csv", ".parquet"}:
        raise UsageError(f"--out {out_file}: use a .csv or .parquet file name.")
    if not out_file.resolve().parent.is_dir():
        raise UsageError(f"--out {out_file}: folder {out_file.resolve().parent} does not exist.")


def _write_table_file(rows: Any, out_file: Path) -> None:
    """Write an Ibis table to CSV or Parquet by the engine, atomically (temp file + rename)."""
    tmp = out_file.with_name(f".{out_file.name}.partial")
    try:
        if out_file.suffix.lower() == ".csv":
            rows.to_csv(tmp)
        else:
            rows.to_parquet(tmp)
        tmp.replace(out_file)
    finally:
        tmp.unlink(missing_ok=True)


@app.command("load")
def load_cmd(
    table: Annotated[str, typer.Argument(help="transactions, customers or products.")],
    paths: Annotated[list[str], typer.Argument(help="Files, folders or glob patterns.")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="target=source, repeatable; source may be an expression, e.g. "
            "amount=Quantity*UnitPrice.",
        ),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(help="strftime format of the dates, e.g. %Y%m%d; guessed when absent."),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help="Field delimiter (',', ';', '\\t', '|' or 'whitespace'); sniffed."),
    ] = None,
    header: Annotated[
        bool | None,
        typer.Option("--header/--no-header", help="Whether line 1 holds names; detected."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV files.")] = "utf-8",
    strict: Annotated[bool, typer.Option(help="Fail, loading nothing, on any rejection.")] = False,
    replace: Annotated[
        bool, typer.Option(help="Replace the rows of an earlier load of the same file.")
    ] = False,
    return_if: Annotated[
        str | None,
        typer.Option(
            help="Extra rule marking returns, e.g. \"order_id.startswith('C')\"; rows with a "
            "negative amount or quantity are always returns."
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load CSV, whitespace-separated text or Parquet files into a warehouse table.

    Loads are atomic (all files or nothing) and idempotent (a file whose content was loaded
    before is skipped). Rejected rows are counted by reason with their first line numbers.
    """
    options = LoadOptions(
        mapping=parse_mappings(mapping or [], table),
        date_format=date_format,
        delimiter=delimiter,
        header=header,
        encoding=encoding,
        strict=strict,
        replace=replace,
        return_if=return_if,
    )
    with _open(warehouse) as wh, err.status(f"Loading {len(paths)} path(s) into {table} ..."):
        report = load(wh, table, paths, options)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_load(report)


@app.command("simulate")
def simulate_cmd(
    customers: Annotated[
        int, typer.Option("--customers", "-n", help="Number of customers.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("shop"),
) -> None:
    """Simulate a shop (BG/NBD + Gamma-Gamma with needs segments) as Parquet files."""
    with err.status(f"Simulating {customers:,} customers ..."):
        result = simulate_shop(customers, out_dir, seed=seed)
    out.print(
        f"Wrote {result.customers:,} customers, {result.transactions:,} transactions and "
        f"{result.products} products to {result.out}/ (ground truth in truth.parquet)."
    )


def _print_status(status: dict[str, Any]) -> None:
    out.print(f"Warehouse {status['warehouse']} ({status['backend']})")
    out.print(f"Customers: {status['customers']:,}")
    table = Table(title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("details")
    for name, info in status["tables"].items():
        details = ""
        if name == "transactions":
            details = (
                f"{info['first'][:10] if info['first'] else '-'} .. "
                f"{info['last'][:10] if info['last'] else '-'}, revenue {info['revenue']:,.2f}, "
                f"{info['returns']:,} returns"
            )
        table.add_row(name, f"{info['rows']:,}", details)
    out.print(table)
    if not status["tables"]:
        out.print("The warehouse is empty: load data with `patron load` or run `patron demo`.")


@app.command("status")
def status_cmd(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Show the warehouse's tables, row counts, customers, date range and totals."""
    with _open(warehouse) as wh:
        status = warehouse_status(wh)
    if as_json:
        _emit_json(status)
    else:
        _print_status(status)


@app.command("demo")
def demo_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the demo's files.")] = Path(
        "patron-demo"
    ),
    customers: Annotated[int, typer.Option("--customers", "-n")] = 20_000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Simulate a shop, load it into a fresh warehouse and show what is there."""
    shop = directory / "shop"
    url = f"duckdb://{directory / 'patron.duckdb'}"
    directory.mkdir(parents=True, exist_ok=True)
    out.rule("1. Simulate a shop")
    with err.status(f"Simulating {customers:,} customers ..."):
        result = simulate_shop(customers, shop, seed=seed)
    out.print(f"{result.customers:,} customers, {result.transactions:,} transactions -> {shop}/")
    out.rule("2. Load it into the warehouse")
    wh = connect(url)
    try:
        for table in ("products", "customers", "transactions"):
            with err.status(f"Loading {table} ..."):
                report = load(wh, table, [str(result.files[table])])
            _print_load(report)
        out.rule("3. What is in the warehouse")
        _print_status(warehouse_status(wh))
        out.rule("4. Customer value")
        with (
            err.status("Fitting the purchase and spend models, scoring customers ..."),
            summary_from_warehouse(wh, SummarySpec("week")) as source,
        ):
            fit = fit_purchase_model(source, "auto")
            valued, _ = score_into_warehouse(source, fit, ValueSettings(12, 0.1))
        _print_fit(fit)
        _print_score(valued, None)
        out.rule("5. Needs segments")
        with err.status("Segmenting customers by what and how they buy ..."):
            segments = segment_customers(wh, seed=seed)
            tiers = apply_tiers(wh)
        _print_segments(segments)
        out.rule("6. Value tiers")
        _print_tiers(tiers)
        out.rule("7. The customer-value report")
        with err.status("Writing the report ..."):
            page = write_report(wh, directory / "customer-value-report.html")
        out.print(f"Report written to {page.resolve()} (open it in a browser; works offline)")
    finally:
        wh.close()
    out.rule("Next")
    out.print(f"patron status --warehouse {url}")
    out.print(f"patron value validate --model auto --calibration-end 2025-06-30 --warehouse {url}")
    out.print(f"patron value score --horizon 24 --warehouse {url}")
    out.print(f"patron tiers --mvc-share 0.6 --warehouse {url}")
    out.print(f"patron export customer_value --out customer_value.csv --warehouse {url}")
    out.print(f"patron load transactions YOUR_FILE.csv --warehouse {url}")


value_app = typer.Typer(
    help="Differentiate by value: fit purchase models, score CLV, validate on a holdout.",
    no_args_is_help=True,
)
app.add_typer(value_app, name="value")

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="bgnbd, mbgnbd, pnbd, bgbb (fit only) or auto (best holdout accuracy).",
    ),
]
UnitOpt = Annotated[str, typer.Option("--unit", help="Time unit: day, week, month or year.")]
CalOpt = Annotated[
    str | None,
    typer.Option(help="Last day of the calibration period (YYYY-MM-DD); later days are holdout."),
]
ObsOpt = Annotated[
    str | None, typer.Option(help="Last day observed (YYYY-MM-DD); default the last transaction.")
]
SummaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--from-summary",
        help="CSV/Parquet with frequency, recency, T (optional monetary_value, weights, "
        "customer_id) instead of the warehouse.",
    ),
]


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD.") from None


def _value_source(
    warehouse: str | None,
    from_summary: Path | None,
    unit: str,
    calibration_end: str | None,
    observation_end: str | None,
) -> SummarySource:
    if from_summary is not None:
        return summary_from_file(from_summary, unit)
    spec = SummarySpec(
        unit,
        _parse_date(calibration_end, "--calibration-end"),
        _parse_date(observation_end, "--observation-end"),
    )
    return summary_from_warehouse(_open(warehouse), spec)


def _print_fit(fit: FitResult) -> None:
    table = Table(
        title=f"{fit.model.name} fitted on {fit.n_customers:,.0f} customers "
        f"({fit.n_unique_rows:,} unique rows; time unit: {fit.unit})",
        title_justify="left",
    )
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("std. error", justify="right")
    for name, value in fit.model.params_.items():
        table.add_row(name, f"{value:.4f}", f"{fit.model.standard_errors_[name]:.4f}")
    out.print(table)
    out.print(f"log-likelihood: {fit.model.log_likelihood_:.2f}")
    if fit.spend_model is not None:
        p = fit.spend_model.params_
        se = fit.spend_model.standard_errors_
        out.print(
            "spend (Gamma-Gamma): "
            + ", ".join(f"{k}={v:.4f} (se {se[k]:.4f})" for k, v in p.items())
        )
    elif fit.spend_note:
        out.print(f"spend: no Gamma-Gamma fit ({fit.spend_note}); the mean spend is used.")
    if fit.reason:
        out.print(f"model choice: {fit.reason}")


@value_app.command("fit")
def value_fit_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    from_summary: SummaryOpt = None,
    save: Annotated[Path | None, typer.Option(help="Write the fitted model as JSON.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a purchase model (and Gamma-Gamma for spend) on per-customer summaries."""
    source = _value_source(warehouse, from_summary, unit, calibration_end, observation_end)
    with source, err.status(f"Fitting {model} ..."):
        fit = fit_purchase_model(source, model)
    if save is not None:
        fit.model.save(save)
    if as_json:
        _emit_json(fit.to_dict())
    else:
        _print_fit(fit)


@value_app.command("score")
def value_score_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    horizon: Annotated[int, typer.Option(help="Horizon in months.")] = 12,
    discount_rate: Annotated[float, typer.Option(help="Yearly discount rate, e.g. 0.1.")] = 0.1,
    margin_rate: Annotated[
        float | None,
        typer.Option(help="Margin as a share of revenue; default: from costs, else revenue."),
    ] = None,
    order_cost: Annotated[float, typer.Option(help="Cost to serve per order (currency).")] = 0.0,
    from_summary: SummaryOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write scores to this CSV/Parquet file.")
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every customer into the customer_value table (or --out FILE).

    Per customer: frequency, recency, T, monetary value, P(alive), expected purchases and
    spend over the horizon, CLV with a 95% interval, the model and the units used.
    """
    settings = ValueSettings(horizon, discount_rate, margin_rate, order_cost)
    if from_summary is not None and out_file is None:
        raise UsageError("--from-summary needs --out FILE for the scores.")
    if out_file is not None:
        _check_table_file(out_file)
    require_scorable(model)
    source = _value_source(warehouse, from_summary, unit, calibration_end, observation_end)
    with source, err.status(f"Fitting {model} and scoring ..."):
        fit = fit_purchase_model(source, model)
        wh = source.warehouse
        tiers: TierSummary | None = None
        if out_file is None:
            result, tiers = score_into_warehouse(source, fit, settings)
        else:
            customers = wh.con.table("customers") if wh.has_table("customers") else None
            result, scored = score_customers(source, fit, settings, customers=customers, write=None)
            _write_table_file(scored, out_file)
    if as_json:
        payload = result.to_dict()
        if tiers is not None:
            payload["tiers"] = tiers.to_dict()
        _emit_json(payload)
        return
    _print_score(result, out_file)
    if tiers is not None:
        _print_tiers(tiers)


def _print_score(result: ScoreResult, out_file: Path | None) -> None:
    where = str(out_file) if out_file else f"table {result.table}"
    out.print(f"Scored {result.customers:,} customers with {result.fit.model.name} into {where}.")
    out.print(
        f"Customer equity over {result.settings.horizon_months} months at "
        f"{result.settings.discount_rate:.1%} a year: {result.equity:,.2f} "
        f"(95% interval {result.equity_low:,.2f} .. {result.equity_high:,.2f}); "
        f"value basis: {result.margin_basis}."
    )
    table = Table(title="Most valuable customers", title_justify="left")
    for col in ("customer", "CLV", "95% interval", "P(alive)"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for row in result.top:
        table.add_row(
            str(row["customer_id"]),
            f"{row['clv']:,.2f}",
            f"{row['clv_low']:,.2f} .. {row['clv_high']:,.2f}",
            f"{row['p_alive']:.2f}",
        )
    out.print(table)


def _print_tiers(summary: TierSummary) -> None:
    th = summary.thresholds
    table = Table(
        title=f"Value tiers (customer equity {summary.equity:,.2f})", title_justify="left"
    )
    for col in ("tier", "customers", "share", "equity", "equity share", "mean CLV"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for row in summary.tiers:
        share = row["equity_share"]
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
    out.print(
        f"Thresholds used: MVC {mvc}; MGC {mgc}; BZ CLV < {summary.rules.bz_below:g}. "
        f"Strategic value: {summary.to_dict()['strategic_value_basis']}."
    )
    out.print(
        "Loyalty: "
        + ", ".join(f"{r['loyalty']} {r['customers']:,}" for r in summary.loyalty)
        + ". Profitability x loyalty: "
        + ", ".join(f"{r['cell']} {r['customers']:,}" for r in summary.grid)
        + "."
    )


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
    with _open(warehouse) as wh:
        result = migration(wh, _parse_date(from_date, "--from"), _parse_date(to_date, "--to"))
    if as_json:
        _emit_json(result.to_dict())
        return
    _print_migration(result)


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
    out.print(
        f"{result.model.k} needs segments ({how}; {result.model.criterion}); "
        f"{result.customers:,} customers assigned into customer_segments."
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


@app.command("report")
def report_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "customer-value-report.html"
    ),
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the customer-value report: one self-contained HTML file (works offline)."""
    with _open(warehouse) as wh, err.status("Building the customer-value report ..."):
        path = write_report(wh, out_file)
    out.print(f"Report written to {path.resolve()}")


@app.command("export")
def export_cmd(
    table: Annotated[str, typer.Argument(help="Table to export, e.g. customer_value.")],
    out_file: Annotated[Path, typer.Option("--out", help="A .csv or .parquet file.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Export a warehouse table to CSV or Parquet."""
    _check_table_file(out_file)
    with _open(warehouse) as wh:
        if not wh.has_table(table) or table.startswith("_"):
            names = ", ".join(n for n in sorted(wh.con.list_tables()) if not n.startswith("_"))
            raise UsageError(f"No table {table!r} in the warehouse; tables: {names or 'none'}.")
        expr = wh.table(table)
        rows = int(expr.count().to_pyarrow().as_py())
        _write_table_file(expr, out_file)
    out.print(f"Exported {rows:,} rows of {table} to {out_file}.")


@value_app.command("trend")
def value_trend_cmd(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One customer's CLV and tier in every stored snapshot, oldest first."""
    with _open(warehouse) as wh:
        rows = value_trend(wh, customer_id)
    if not rows:
        raise UsageError(
            f"No snapshot holds customer {customer_id!r}; check the id, or score with "
            "`patron value score` first."
        )
    if as_json:
        _emit_json({"customer_id": customer_id, "snapshots": rows})
        return
    table = Table(title=f"Value of customer {customer_id} over time", title_justify="left")
    for col in ("as of", "CLV", "95% interval", "P(alive)", "tier", "segment"):
        table.add_column(col, justify="right" if col in ("CLV", "P(alive)") else "left")
    for r in rows:
        table.add_row(
            r["as_of"], f"{r['clv']:,.2f}", f"{r['clv_low']:,.2f} .. {r['clv_high']:,.2f}",
            f"{r['p_alive']:.2f}", str(r["tier"]), str(r["segment"] or "-"),
        )  # fmt: skip
    out.print(table)
    if len(rows) > 1:
        change = rows[-1]["clv"] - rows[0]["clv"]
        out.print(f"CLV changed by {change:+,.2f} from {rows[0]['as_of']} to {rows[-1]['as_of']}.")


@value_app.command("validate")
def value_validate_cmd(
    model: ModelOpt = "bgnbd",
    unit: UnitOpt = "week",
    calibration_end: CalOpt = None,
    observation_end: ObsOpt = None,
    from_summary: SummaryOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit on the calibration period and compare predictions with the holdout."""
    source = _value_source(warehouse, from_summary, unit, calibration_end, observation_end)
    with source, err.status("Validating ..."):
        fit = fit_purchase_model(source, model)
        report = holdout_report(source, fit)
    if as_json:
        _emit_json(report.to_dict())
        return
    out.print(
        f"{report.model}: calibration to {report.calibration_end}, "
        f"holdout {report.holdout_days} days"
    )
    if fit.reason:
        out.print(f"model choice: {fit.reason}")
    table = Table(
        title="Holdout purchases per customer by calibration frequency", title_justify="left"
    )
    for col in ("frequency", "customers", "actual", "predicted"):
        table.add_column(col, justify="right")
    for b in report.bins:
        table.add_row(
            b["frequency"],
            f"{b['customers']:,.0f}",
            f"{b['actual_mean']:.3f}",
            f"{b['predicted_mean']:.3f}",
        )
    out.print(table)
    t = report.totals
    out.print(
        f"Total holdout purchases: actual {t['actual']:,.0f}, predicted {t['predicted']:,.1f} "
        f"({t['error_pct']:+.1f}%); RMSE per customer {t['rmse_per_customer']:.3f}; "
        f"mean absolute error over bins {t['bin_mae']:.3f}."
    )
    if report.tracking:
        last = report.tracking[-1]
        out.print(
            f"Cumulative repeat purchases after {last['period']} weeks: actual "
            f"{last['actual']:,.0f}, predicted {last['predicted']:,.1f}."
        )


@value_app.command("retention")
def value_retention_cmd(
    alive: Annotated[
        str | None,
        typer.Option(help="Customers active at t = 0, 1, 2, ... e.g. 1000,631,468,382."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            help="CSV with one row per customer: recency (period of churn, or T if still "
            "active) and T; optional cohort column."
        ),
    ] = None,
    cohort: Annotated[str | None, typer.Option(help="Use only this cohort of --from-file.")] = None,
    project: Annotated[int, typer.Option(help="Periods to project survival for.")] = 12,
    discount_rate: Annotated[float, typer.Option(help="Discount rate per period.")] = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Contractual retention (sBG): fit a cohort, project survival, value a subscriber."""
    payload = retention_report(alive, from_file, cohort, project, discount_rate)
    if as_json:
        _emit_json(payload)
        return
    p, se = payload["params"], payload["standard_errors"]
    out.print(
        f"sBG on {payload['cohort_size']:,.0f} customers over {payload['periods']} periods: "
        f"alpha={p['alpha']:.4f} (se {se['alpha']:.4f}), beta={p['beta']:.4f} "
        f"(se {se['beta']:.4f}); log-likelihood {payload['log_likelihood']:.2f}"
    )
    table = Table(title="Share still active", title_justify="left")
    for col in ("period", "actual", "model", "retention rate"):
        table.add_column(col, justify="right")
    for row in payload["survival"]:
        actual = "" if row["actual"] is None else f"{row['actual']:.1%}"
        table.add_row(str(row["period"]), actual, f"{row['model']:.1%}", f"{row['retention']:.1%}")
    out.print(table)
    out.print(
        f"Discounted expected residual lifetime of a new subscriber at {discount_rate:.0%} per "
        f"period: {payload['derl_new']:.3f} future payments."
    )


experiment_app = typer.Typer(
    help="Measure: experiments with control groups, power, lift with intervals, uplift.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


def _split(values: list[str] | None) -> list[str]:
    """Repeated and/or comma-separated option values, in order."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _print_assignment(result: AssignmentResult) -> None:
    exp = result.experiment
    out.print(
        f"Experiment {exp.name}: {result.total:,} customers assigned "
        f"({result.assigned:,} new); control arm {exp.control!r}"
        + (f"; audience {exp.audience}" if exp.audience else "")
        + (f"; strata: {', '.join(exp.stratify)}" if exp.stratify else "")
        + "."
    )
    table = Table(title="Arms", title_justify="left")
    for col in ("arm", "target share", "customers", "actual share"):
        table.add_column(col, justify="left" if col == "arm" else "right")
    for arm in exp.arms:
        n = result.by_arm.get(arm.name, 0)
        share = n / result.total if result.total else 0.0
        table.add_row(arm.name, f"{arm.share:.1%}", f"{n:,}", f"{share:.2%}")
    out.print(table)
    if exp.stratify:
        out.print(
            f"{len(result.by_stratum)} strata, each split as close to the shares as integers allow."
        )


@experiment_app.command("create")
def experiment_create_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    arms: Annotated[str, typer.Option(help="Arms with shares, e.g. treat:0.9,control:0.1.")],
    control: Annotated[str, typer.Option(help="The control arm's name.")] = "control",
    stratify: Annotated[
        str | None, typer.Option(help="Customer attributes to stratify on, e.g. tier,segment.")
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(help="Who takes part, e.g. \"tier in ('MVC', 'MGC') and p_alive > 0.5\"."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD).")] = None,
    salt: Annotated[
        str | None, typer.Option(help="Hash salt (default: random, stored with the experiment).")
    ] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an experiment and assign its audience to arms (stable, stratified hashing)."""
    parsed = parse_arms(arms)
    with _open(warehouse) as wh:
        result = create_experiment(
            wh,
            name,
            parsed,
            control=control,
            audience=audience,
            stratify=_split([stratify] if stratify else None),
            start=_parse_date(start, "--start"),
            end=_parse_date(end, "--end"),
            salt=salt,
        )
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_assignment(result)


@experiment_app.command("assign")
def experiment_assign_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign customers who joined the audience since (nobody already assigned moves)."""
    with _open(warehouse) as wh:
        result = assign_new_customers(wh, name)
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_assignment(result)


@experiment_app.command("export")
def experiment_export_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    out_file: Annotated[Path, typer.Option("--out", help="A .csv or .parquet file.")],
    arm: Annotated[str | None, typer.Option(help="Only this arm (e.g. the treated list).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Export the assignment list (customer_id, arm) for a campaign tool."""
    _check_table_file(out_file)
    with _open(warehouse) as wh:
        exp = load_experiment(wh, name)
        if arm is not None and arm not in {a.name for a in exp.arms}:
            raise UsageError(
                f"--arm {arm!r} is not an arm of {name}: {', '.join(a.name for a in exp.arms)}."
            )
        a = wh.table(ASSIGNMENTS_TABLE)
        rows = a.filter(a.experiment == name)
        if arm is not None:
            rows = rows.filter(rows.arm == arm)
        rows = rows.select("customer_id", "arm", "stratum").order_by("customer_id")
        n = int(rows.count().to_pyarrow().as_py())
        _write_table_file(rows, out_file)
    out.print(f"Exported {n:,} assignments of {name} to {out_file}.")


@experiment_app.command("plan")
def experiment_plan_cmd(
    baseline: Annotated[
        float, typer.Option(help="Control rate (0-1), or mean per customer with --sd.")
    ],
    mde: Annotated[
        float | None,
        typer.Option(help="Minimum detectable effect: rate points (0.01) or currency with --sd."),
    ] = None,
    audience: Annotated[
        int | None, typer.Option(help="Customers available; prints the detectable effect.")
    ] = None,
    sd: Annotated[float | None, typer.Option(help="Std. deviation per customer (means).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
    holdout: Annotated[float, typer.Option(help="Share held out as control.")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Holdout and sample sizes for an effect, or the effect detectable with an audience."""
    result = plan_experiment(
        baseline, mde=mde, audience=audience, sd=sd, alpha=alpha, power=power, holdout=holdout
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        out.print(result.summary)


def _analysis(
    name: str | None,
    from_file: Path | None,
    arm: str | None,
    control: str | None,
    metrics: list[str],
    pre: str | None,
    stratify: str | None,
    shares: str | None,
    warehouse: str | None,
) -> tuple[AnalysisResult, str]:
    if (name is None) == (from_file is None):
        raise UsageError("Give an experiment NAME or --from-file FILE (not both).")
    if from_file is not None:
        if arm is None or control is None:
            raise UsageError("--from-file needs --arm COLUMN and --control VALUE.")
        if not metrics:
            raise UsageError("Give the outcome columns to compare with --metric COLUMN.")
        design = {a.name: a.share for a in parse_arms(shares)} if shares else None
        table = read_outcome_file(from_file)
        result = analyze_table(
            table,
            arm=arm,
            control=control,
            metrics=metrics,
            pre=pre,
            stratum=stratify,
            shares=design,
        )
        return result, f"{from_file.name} (arms from column {arm})"
    with _open(warehouse) as wh:
        result, start, end = analyze_experiment(
            wh, str(name), metrics or ["conversion", "revenue"], pre=pre
        )
    return result, f"experiment {name}, {start} to {end}"


def _print_analysis(result: AnalysisResult, title: str) -> None:
    out.print(f"{title}: {result.srm['message']}")
    table = Table(title="Lift over control", title_justify="left")
    for col in ("arm", "metric", "control", "arm mean", "lift", "95% CI", "p", "p (adj.)"):
        table.add_column(col, justify="left" if col in ("arm", "metric") else "right")
    for r in result.results:
        pct = r["kind"] == "proportion"

        def f(v: float, pct: bool = pct) -> str:
            return f"{v:.2%}" if pct else f"{v:,.4g}"

        table.add_row(
            r["arm"], r["metric"], f(r["control_mean"]), f(r["arm_mean"]), f(r["lift"]),
            f"{f(r['ci_low'])} .. {f(r['ci_high'])}", f"{r['p_value']:.2g}",
            f"{r['p_value_adjusted']:.2g}",
        )  # fmt: skip
    out.print(table)
    for r in result.results:
        out.print(f"- {r['summary']}")
    for note in result.notes:
        out.print(f"note: {note}")


MetricOpt = Annotated[
    list[str] | None,
    typer.Option("--metric", help="Outcome(s) to compare: --metric a b, a,b or repeated."),
]
FromFileOpt = Annotated[
    Path | None, typer.Option("--from-file", help="Per-customer outcomes (CSV/Parquet).")
]
ArmOpt = Annotated[str | None, typer.Option("--arm", help="The file's arm column.")]
ControlOpt = Annotated[str | None, typer.Option("--control", help="The control arm's value.")]
PreOpt = Annotated[
    str | None,
    typer.Option(help="Pre-period covariate for CUPED: a column, or 'period' for an experiment."),
]
StrataOpt = Annotated[str | None, typer.Option("--stratify", help="Stratum column (file).")]
SharesOpt = Annotated[
    str | None, typer.Option(help="Design shares for the ratio check, e.g. a:0.5,b:0.5.")
]


@experiment_app.command("analyze")
def experiment_analyze_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: FromFileOpt = None,
    arm: ArmOpt = None,
    control: ControlOpt = None,
    metric: MetricOpt = None,
    pre: PreOpt = None,
    stratify: StrataOpt = None,
    shares: SharesOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lift of each arm over control with 95% intervals, the ratio check, and in words."""
    result, title = _analysis(
        name, from_file, arm, control, _split(metric), pre, stratify, shares, warehouse
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_analysis(result, title)


@experiment_app.command("report")
def experiment_report_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: FromFileOpt = None,
    arm: ArmOpt = None,
    control: ControlOpt = None,
    metric: MetricOpt = None,
    pre: PreOpt = None,
    stratify: StrataOpt = None,
    shares: SharesOpt = None,
    uplift_outcome: Annotated[
        str | None, typer.Option(help="With --features (file): add an uplift section.")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Feature columns for the uplift section.")
    ] = None,
    treatment: Annotated[
        str | None, typer.Option(help="Treated arm for the uplift section (default: first).")
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "experiment-report.html"
    ),
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the experiment report: one self-contained HTML file (works offline)."""
    from patron.report._render import check_out_path

    check_out_path(out_file)
    result, title = _analysis(
        name, from_file, arm, control, _split(metric), pre, stratify, shares, warehouse
    )
    up = None
    if uplift_outcome or features:
        if from_file is None or not (uplift_outcome and features) or arm is None:
            raise UsageError(
                "The uplift section needs --from-file with --arm, --uplift-outcome and --features."
            )
        treated = [a for a in result.arms if a != result.control]
        up = fit_uplift(
            read_outcome_file(from_file),
            arm=arm,
            treatment=treatment or treated[0],
            control=result.control,
            outcome=uplift_outcome,
            features=_split([features]),
        )
    path = write_experiment_report(result, title, out_file, up)
    out.print(f"Report written to {path.resolve()}")


@experiment_app.command("uplift")
def experiment_uplift_cmd(
    name: Annotated[str | None, typer.Argument(help="Experiment name.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Per-customer data (CSV/Parquet).")
    ] = None,
    arm: Annotated[str | None, typer.Option("--arm", help="The file's arm column.")] = None,
    treatment: Annotated[
        str | None, typer.Option(help="The treated arm (experiment default: the first).")
    ] = None,
    control: Annotated[
        str | None, typer.Option(help="The control arm (experiment default: its control).")
    ] = None,
    outcome: Annotated[
        str, typer.Option(help="The outcome: a column (0/1 or amount), or conversion, revenue ...")
    ] = "conversion",
    features: Annotated[
        str | None,
        typer.Option(help="Feature columns, comma-separated (experiment default: attributes)."),
    ] = None,
    learner: Annotated[str, typer.Option(help="two-model or one-model.")] = "two-model",
    id_column: Annotated[
        str | None, typer.Option("--id", help="The file's customer id column (target list).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the ranked target list (CSV).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (split, learners).")] = 0,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who is persuadable: fit an uplift learner, evaluate it (Qini), rank customers.

    For a stored experiment the outcomes come from its window and the features default to
    the customer attributes (customers, value tier, CLV, segment) and pre-period outcomes.
    """
    if (name is None) == (from_file is None):
        raise UsageError("Give an experiment NAME or --from-file FILE (not both).")
    with contextlib.ExitStack() as stack:
        if from_file is not None:
            if arm is None or treatment is None or control is None or not features:
                raise UsageError("--from-file needs --arm, --treatment, --control and --features.")
            table = read_outcome_file(from_file)
            arm_col, ids = arm, id_column
            feats = _split([features])
        else:
            wh = stack.enter_context(_open(warehouse))
            table, exp = experiment_table(wh, str(name))
            arm_col, ids = "arm", "customer_id"
            treatment = treatment or exp.treatments[0]
            control = control or exp.control
            skip = {"customer_id", "arm", "stratum", *OUTCOME_METRICS}
            feats = _split([features]) if features else [c for c in table.columns if c not in skip]
        result = fit_uplift(
            table,
            arm=arm_col,
            treatment=treatment,
            control=control,
            outcome=outcome,
            features=feats,
            learner=learner,
            id_column=ids,
            seed=seed,
        )
    if out_file is not None:
        import csv

        with out_file.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["rank", ids or "row", "predicted_uplift"])
            for rank, cid, score in result.ranked():
                writer.writerow([rank, cid, f"{score:.6g}"])
    if as_json:
        _emit_json(result.to_dict())
        return
    d = result.to_dict()
    out.print(
        f"{learner} uplift of {treatment!r} vs {control!r} on {outcome}: trained on "
        f"{result.n_train:,}, evaluated on {result.n_test:,} held-out customers "
        f"({len(feats)} features)."
    )
    beats = d["qini_coefficient"] > d["qini_coefficient_random_rankings_p95"]
    out.print(
        f"Qini coefficient {d['qini_coefficient']:.5f} (random rankings: 95th percentile "
        f"{d['qini_coefficient_random_rankings_p95']:.5f}) -> "
        + ("the ranking finds persuadable customers." if beats else "no better than random.")
    )
    out.print(
        "Uplift among the top customers: "
        + ", ".join(f"top {k}: {v:+.4g}" for k, v in d["uplift_at"].items())
    )
    if out_file is not None:
        out.print(f"Ranked target list written to {out_file}.")


def _exit_code(exc: PatronError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL  # pragma: no cover - PatronError is the last entry


#: Options that take several values after one flag (``--metric visit conversion spend``).
MULTI_VALUE = frozenset({"--metric"})


def _gather_values(args: list[str], options: frozenset[str]) -> list[str]:
    """Join the values that follow a multi-value option into one comma-separated value."""
    out: list[str] = []
    i = 0
    while i < len(args):
        out.append(args[i])
        if args[i] in options:
            values = []
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                values.append(args[i])
                i += 1
            out.append(",".join(values) if values else "")
            continue
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) the exit code."""
    args = _gather_values(list(sys.argv[1:] if argv is None else argv), MULTI_VALUE)
    STATE.debug = "--debug" in args or os.environ.get("PATRON_DEBUG", "") not in {"", "0"}
    try:
        app(args=args, prog_name="patron")  # usage errors: printed by Typer, exit code 2
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except PatronError as exc:
        if STATE.debug:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False)
        return _exit_code(exc)
    except Exception as exc:
        if STATE.debug:
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in Patron; run again "
            "with --debug for the traceback and report it.",
            markup=False,
        )
        return EXIT_INTERNAL
    return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
