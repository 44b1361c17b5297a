"""The demo: a simulated shop through load, value, tiers, segments and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.cli._common import app, err, out
from patron.cli.data import _print_load, _print_status
from patron.cli.differentiate import _print_segments, _print_tiers
from patron.cli.value import _print_fit, _print_score
from patron.data.loader import load
from patron.data.simulate import simulate_shop
from patron.data.status import warehouse_status
from patron.data.warehouse import connect
from patron.needs import segment_customers
from patron.report import write_report
from patron.value.clv import ValueSettings
from patron.value.history import apply_tiers, score_into_warehouse
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, summary_from_warehouse


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
