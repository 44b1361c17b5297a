"""Value benchmark: Parquet transactions -> scored customer_value table.

Steps, each in a fresh process (wall time and peak RSS of that process):
1. ``patron load transactions`` (and customers) from the simulated shop's Parquet files;
2. ``patron value score`` (summary in the engine, BG/NBD + Gamma-Gamma fits on compressed
   rows, CLV with intervals, customer_value written by the engine);
plus ``score`` timed inside the process (without interpreter start-up and imports).

Usage::

    .venv/bin/python benchmarks/bench_value.py --customers 1000000 [--keep DIR] [--model bgbb]
        [--engine pyspark]

``--engine pyspark`` runs the same steps on a local Spark warehouse (``pyspark://DIR``; needs
the spark extra and Java). Its peak RSS is the Python process's; Spark's JVM is not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INPROCESS = """
import sys, time
# Imports before the clock: pyarrow.dataset (which pulls in pandas, ~0.5 s) is imported by
# Ibis on the first in-memory table, scipy's modules on the first fit.
import pyarrow.dataset, scipy.optimize, scipy.special
from patron.data import connect
from patron.value.clv import ValueSettings
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, score_customers, summary_from_warehouse
wh = connect(sys.argv[1])
model = sys.argv[2]
t0 = time.perf_counter()
source = summary_from_warehouse(wh, SummarySpec("week", discrete=model == "bgbb"))
t1 = time.perf_counter()
fit = fit_purchase_model(source, model)
t2 = time.perf_counter()
result, _ = score_customers(source, fit, ValueSettings(12, 0.1))
t3 = time.perf_counter()
print(f"{t3 - t0:.2f} {t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2:.2f} {len(source.compressed.counts)}")
"""


def run(args: list[str]) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "patron", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed: {' '.join(cmd)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--model", default="bgnbd", help="bgnbd, mbgnbd, pnbd or bgbb")
    parser.add_argument("--engine", choices=("duckdb", "pyspark"), default="duckdb")
    ns = parser.parse_args()
    work = ns.keep or Path(tempfile.mkdtemp(prefix="patron-bench-value-"))
    work.mkdir(parents=True, exist_ok=True)
    shop = work / f"shop{ns.customers}"
    if not (shop / "transactions.parquet").exists():
        run(["simulate", "-n", str(ns.customers), "--seed", str(ns.seed), "--out", str(shop)])
    if ns.engine == "duckdb":
        db = work / f"value{ns.customers}.duckdb"
        db.unlink(missing_ok=True)
    else:
        db = work / f"spark{ns.customers}"
        shutil.rmtree(db, ignore_errors=True)
    url = f"{ns.engine}://{db}"
    rows = [
        (
            "load customers (Parquet)",
            *run(["load", "customers", str(shop / "customers.parquet"), "-w", url]),
        ),
        (
            "load transactions (Parquet)",
            *run(["load", "transactions", str(shop / "transactions.parquet"), "-w", url]),
        ),
        ("value score (CLI)", *run(["value", "score", "--model", ns.model, "-w", url])),
    ]
    inner = subprocess.run(
        [sys.executable, "-c", INPROCESS, url, ns.model], capture_output=True, text=True, check=True
    ).stdout.split()
    print(f"customers: {ns.customers:,}; model: {ns.model}; engine: {ns.engine}")
    print("| step | seconds | peak RSS (MiB) |")
    print("|---|---:|---:|")
    for label, secs, rss in rows:
        print(f"| {label} | {secs:.1f} | {rss:,.0f} |")
    print()
    print("| in process | total | summary + compress | fit | score + write | unique rows |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| score | {inner[0]} | {inner[1]} | {inner[2]} | {inner[3]} | {int(inner[4]):,} |")
    if ns.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
