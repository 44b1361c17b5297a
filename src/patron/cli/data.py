"""Identify: load, simulate, status and export."""

from __future__ import annotations

import math
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from patron.cli._common import (
    JsonOpt,
    WarehouseOpt,
    _check_table_file,
    _emit_json,
    _open,
    _parse_date,
    _write_table_file,
    app,
    err,
    out,
)
from patron.errors import UsageError

if TYPE_CHECKING:
    from patron.data.loader import LoadReport
    from patron.data.plausible import Limits

#: The defaults of :class:`patron.data.plausible.Limits`, written out so that ``--help`` need
#: not import the data package (tests/test_cli_startup.py checks they agree).
DEFAULT_MAX_ABS = 1e9
DEFAULT_EARLIEST = datetime(1970, 1, 1)


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
        name = Path(f.path).name
        if f.mapping:
            pairs = ", ".join(f"{target} <- {source}" for target, source in f.mapping.items())
            out.print(f"{name}: columns {pairs}")
        if f.attributes:
            kept = ", ".join(
                source if source == stored else f"{source} (as {stored})"
                for source, stored in f.attributes.items()
            )
            out.print(f"{name}: other columns kept as text attributes: {kept}")
        if f.merged:
            out.print(
                f"{name}: {f.rows_loaded + f.merged:,} good rows for {f.rows_loaded:,} distinct "
                f"{report.table}; {f.merged:,} rows repeating a key were merged (the last "
                "line wins)."
            )
        if f.message:
            out.print(f"{name}: {f.message}")
        for r in f.rejections:
            lines = ", ".join(str(n) for n in r.first_lines)
            more = ", ..." if r.count > len(r.first_lines) else ""
            out.print(f"  rejected {r.count:,} row(s): {r.reason} (lines {lines}{more})")


def _limits(max_amount: float, dates_from: str, dates_to: str | None) -> Limits:
    """The plausible range from the command line, checked."""
    from patron.data.plausible import Limits

    if not (math.isfinite(max_amount) and max_amount > 0):
        raise UsageError(f"--max-amount {max_amount!r} must be a positive number, e.g. 1e9.")
    earliest = _parse_date(dates_from, "--dates-from") or DEFAULT_EARLIEST.date()
    latest = _parse_date(dates_to, "--dates-to")
    end = None if latest is None else datetime.combine(latest, time.max)
    if end is not None and end.date() < earliest:
        raise UsageError(f"--dates-to {dates_to} is before --dates-from {dates_from}.")
    return Limits(max_amount, datetime.combine(earliest, time.min), end)


@app.command("load")
def load_cmd(
    table: Annotated[
        str,
        typer.Argument(
            help="transactions, customers, products, identities or responses (warehouse); "
            "touchpoints (the operational store, CSV)."
        ),
    ],
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
    max_amount: Annotated[
        float,
        typer.Option(
            help="Largest plausible magnitude of a number (amount, quantity, cost, price); "
            "rows beyond it, or with NaN or infinity, are rejected."
        ),
    ] = DEFAULT_MAX_ABS,
    dates_from: Annotated[
        str, typer.Option(help="Earliest plausible date (YYYY-MM-DD); earlier rows are rejected.")
    ] = f"{DEFAULT_EARLIEST:%Y-%m-%d}",
    dates_to: Annotated[
        str | None,
        typer.Option(
            help="Latest plausible date (YYYY-MM-DD); default: tomorrow (UTC). Later rows are "
            "rejected.",
            show_default=False,
        ),
    ] = None,
    no_amount: Annotated[
        bool,
        typer.Option(
            "--no-amount",
            help="The log has no amounts: count purchases only (amount = 1 per row; spend "
            "and CLV in money are then meaningless).",
        ),
    ] = False,
    warehouse: WarehouseOpt = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Operational store URL, for touchpoints (default: $PATRON_STORE)."
        ),
    ] = None,
    ours: Annotated[
        str, typer.Option(help="responses: the brand name that is ours (others are competitors).")
    ] = "ours",
    scale: Annotated[
        str,
        typer.Option(help="responses: the rating scale of overall, ratings and importance."),
    ] = "1-5",
    as_json: JsonOpt = False,
) -> None:
    """Load CSV, whitespace-separated text or Parquet files into a warehouse table.

    Loads are atomic (all files or nothing) and idempotent (a file whose content was loaded
    before is skipped). Rejected rows are counted by reason with their first line numbers.
    ``touchpoints`` go into the operational store instead (as ``patron interact load``).
    """
    from patron.data.loader import LoadOptions, load, parse_mappings

    if table == "touchpoints":
        from patron.cli.interact import interact_load_cmd

        for path in paths:
            interact_load_cmd(Path(path), store=store, json_out=as_json)
        return
    if table != "responses" and (ours != "ours" or scale != "1-5"):
        raise UsageError("--ours and --scale apply to `patron load responses` only.")
    if table == "responses":
        if no_amount or return_if or date_format or strict:
            raise UsageError(
                "--no-amount, --return-if, --date-format and --strict do not apply to "
                "responses (a responses file is always checked whole)."
            )
        _load_responses(
            paths, mapping or [], ours, scale, replace, encoding, delimiter, warehouse, as_json
        )
        return
    mappings = parse_mappings(mapping or [], table)
    if no_amount:
        if table != "transactions" or "amount" in mappings:
            raise UsageError("--no-amount applies to transactions without --map amount=...")
        mappings["amount"] = "1"
    options = LoadOptions(
        mapping=mappings,
        date_format=date_format,
        delimiter=delimiter,
        header=header,
        encoding=encoding,
        strict=strict,
        replace=replace,
        return_if=return_if,
        limits=_limits(max_amount, dates_from, dates_to),
    )
    with _open(warehouse) as wh, err.status(f"Loading {len(paths)} path(s) into {table} ..."):
        report = load(wh, table, paths, options)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_load(report)


def _load_responses(
    paths: list[str],
    mapping: list[str],
    ours: str,
    scale: str,
    replace: bool,
    encoding: str,
    delimiter: str | None,
    warehouse: str | None,
    as_json: bool,
) -> None:
    """``patron load responses``: survey responses, checked whole (see data.responses)."""
    from patron.data.responses import load_responses, parse_scale

    pairs = {}
    for item in mapping:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise UsageError(f"--map {item!r} must look like field=COLUMN, e.g. wave=Period.")
        pairs[target.strip()] = source.strip()
    with _open(warehouse) as wh, err.status(f"Loading {len(paths)} path(s) into responses ..."):
        report = load_responses(
            wh,
            paths,
            ours=ours,
            scale=parse_scale(scale),
            mapping=pairs,
            replace=replace,
            encoding=encoding,
            delimiter=delimiter,
        )
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
    identities: Annotated[
        bool,
        typer.Option(
            "--identities",
            help="Also write identity records (customers under several source records, with "
            "noise) and their true persons.",
        ),
    ] = False,
    split_orders: Annotated[
        bool,
        typer.Option(
            "--split-orders",
            help="With --identities: each order carries the id of the record of its channel "
            "(store: card, web: web account, phone: phone orders), as source systems would.",
        ),
    ] = False,
    survey: Annotated[
        bool,
        typer.Option(
            "--survey",
            help="Also write survey waves (ours and two competitors, known importance weights, "
            "satisfaction linked to dropout) in responses.csv, and business customers' factor "
            "ratings (b2b_ratings.csv, b2b_weights.yaml).",
        ),
    ] = False,
) -> None:
    """Simulate a shop (BG/NBD + Gamma-Gamma with needs segments) as Parquet files."""
    from patron.data.simulate import simulate_shop

    if split_orders and not identities:
        raise UsageError("--split-orders needs --identities (the records to split orders over).")
    with err.status(f"Simulating {customers:,} customers ..."):
        result = simulate_shop(
            customers, out_dir, seed=seed, identities=identities, split_orders=split_orders
        )
    out.print(
        f"Wrote {result.customers:,} customers, {result.transactions:,} transactions and "
        f"{result.products} products to {result.out}/ (ground truth in truth.parquet)."
    )
    if identities:
        out.print(
            "Identity records in identities.parquet (load with `patron load identities`), "
            "their true persons in identity_truth.parquet."
        )
    if survey:
        _simulate_survey(result.out, seed)


def _simulate_survey(folder: Path, seed: int) -> None:
    """The survey waves and the B2B slice of a simulated shop (``patron simulate --survey``)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from patron.data.simulate_survey import simulate_survey

    truth = pq.read_table(folder / "truth.parquet")
    customers = pq.read_table(
        folder / "customers.parquet", columns=["customer_id", "customer_type"]
    )
    business = customers.filter(pc.equal(customers.column("customer_type"), "reseller"))
    written = simulate_survey(folder, seed=seed, customers=truth, business=business)
    out.print(
        f"Survey: {written.rows:,} responses in {written.responses.name} (load with `patron "
        f"load responses`), truth in {written.truth.name}"
        + (
            f"; factor ratings of {business.num_rows:,} business customers in "
            "b2b_ratings.csv with b2b_weights.yaml (`patron b2b`)."
            if written.b2b_ratings
            else "."
        )
    )


def _money(value: float | None) -> str:
    """A total for people; a table written by another tool may hold a NaN or infinity."""
    if value is None:
        return "none"
    return f"{value:,.2f}" if math.isfinite(value) else "not a finite number (check the amounts)"


def _print_status(status: dict[str, Any]) -> None:
    out.print(f"Warehouse {status['warehouse']} ({status['backend']})")
    if "source_customer_ids" in status:
        out.print(
            f"Customers: {status['customers']:,} people "
            f"({status['source_customer_ids']:,} customer ids as the sources wrote them)"
        )
    else:
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
                f"{info['last'][:10] if info['last'] else '-'}, revenue {_money(info['revenue'])}, "
                f"{info['returns']:,} returns"
            )
        table.add_row(name, f"{info['rows']:,}", details)
    out.print(table)
    identity = status.get("identity")
    if identity:
        rules = ", ".join(f"{n:,} {rule}" for rule, n in identity["records_by_rule"].items())
        out.print(
            f"Identity: {identity['records']:,} records resolved to {identity['customers']:,} "
            f"customers (records by rule: {rules})."
        )
    if not status["tables"]:
        out.print("The warehouse is empty: load data with `patron load` or run `patron demo`.")


@app.command("status")
def status_cmd(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Show the warehouse's tables, row counts, customers, date range and totals."""
    from patron.data.status import warehouse_status

    with _open(warehouse) as wh:
        status = warehouse_status(wh)
    if as_json:
        _emit_json(status)
    else:
        _print_status(status)


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
