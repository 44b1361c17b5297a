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
from patron.data.warehouse import Warehouse, connect
from patron.needs import segment_customers
from patron.report import write_report
from patron.value.clv import ValueSettings
from patron.value.history import apply_tiers, score_into_warehouse
from patron.value.summary import SummarySpec
from patron.value.validation import fit_and_check
from patron.value.workflow import summary_from_warehouse


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
            fit, checked = fit_and_check(source, "auto")
            stored = checked.to_dict() if checked is not None else None
            valued, _ = score_into_warehouse(source, fit, ValueSettings(12, 0.1), check=stored)
        _print_fit(fit, notes=False)
        _print_score(valued, None)
        out.rule("5. Needs segments")
        with err.status("Segmenting customers by what and how they buy ..."):
            segments = segment_customers(wh, seed=seed)
            tiers = apply_tiers(wh)
        _print_segments(segments)
        out.rule("6. Value tiers")
        _print_tiers(tiers, notes=False)
        out.print(_bz_against_truth(wh, result.files["truth"]))
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


def _bz_against_truth(wh: Warehouse, truth: Path) -> str:
    """Patron's BZ tier beside the simulator's truth (``clv_12m``), in one paragraph."""
    t = wh.con.read_parquet(str(truth))
    v = wh.table("customer_value")
    j = v.inner_join(t, v.customer_id == t.customer_id)
    bz, below = j.tier == "BZ", j.clv_12m < 0
    row = (
        j.aggregate(
            n=j.count(),
            bz=bz.sum(),
            below=below.sum(),
            gone=(~j.alive_at_end).sum(),
            bz_below=(bz & below).sum(),
            bz_gone=(bz & ~j.alive_at_end).sum(),
            equity=j.clv_12m.sum(),
            patron_equity=j.clv.sum(),
            low=j.cost_to_serve_yearly.min(),
            high=j.cost_to_serve_yearly.max(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    n, n_bz = int(row["n"]), int(row["bz"])
    share = f"{n_bz / n:.1%}" if n else "-"
    of_bz = (
        f"Of Patron's BZ, {int(row['bz_below']) / n_bz:.0%} are truly below zero and "
        f"{int(row['bz_gone']) / n_bz:.0%} have already left (they would cost nothing more). "
        if n_bz
        else ""
    )
    truth_share, patron_share = int(row["below"]) / n, n_bz / n
    gap = 100 * (patron_share - truth_share)
    closeness = (
        "close to the truth"
        if abs(gap) < 3
        else f"{abs(gap):.0f} points {'below' if gap < 0 else 'above'} the truth"
    )
    equity, patron_equity = float(row["equity"]), float(row["patron_equity"])
    off = f" ({patron_equity / equity - 1:+.0%})" if equity > 0 else ""
    return (
        f"BZ against the simulated truth: Patron puts {share} of customers in BZ; in truth "
        f"{truth_share:.1%} are still active but buy too rarely for their margin to "
        f"cover their yearly cost to serve ({float(row['low'] or 0):,.2f} to "
        f"{float(row['high'] or 0):,.2f} a year, by channel), and "
        f"{int(row['gone']) / n:.1%} have already left. {of_bz}In truth the below-zero share "
        "is large because purchase rates vary widely (most customers buy rarely) while every "
        f"customer costs something to serve. Patron's share is {closeness}; its 12-month "
        f"customer equity is {patron_equity:,.2f} against the true {equity:,.2f}{off}."
    )
