"""Differentiate benchmark: tiers + needs segments + the customer-value report.

Starts from a warehouse with scored customers (run ``bench_value.py --keep DIR`` first, or
give any warehouse with ``transactions`` and ``customer_value``), then times, in one process:
1. ``segment_customers`` (features in the engine, KMeans on a sample, assignment in the engine);
2. ``apply_tiers`` on the stored ``customer_value`` with the segments (thresholds, tier
   columns, snapshot);
3. ``write_report`` (engine aggregates, a 13-week holdout check, the HTML file).

Usage::

    .venv/bin/python benchmarks/bench_differentiate.py duckdb:///path/value1000000.duckdb
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from patron.data import connect
from patron.needs import segment_customers
from patron.report import write_report
from patron.value import apply_tiers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse")
    ns = parser.parse_args()
    wh = connect(ns.warehouse)
    n = int(wh.table("customer_value").count().to_pyarrow().as_py())
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    seg = segment_customers(wh, refit=True)
    steps.append((f"segments (k={seg.model.k}: features, fit, assign)", time.perf_counter() - t0))
    t1 = time.perf_counter()
    apply_tiers(wh)
    steps.append(("tiers with segments (apply_tiers + snapshot)", time.perf_counter() - t1))
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_report(wh, Path(tmp) / "report.html")
        size = path.stat().st_size
    steps.append(("report", time.perf_counter() - t3))
    total = time.perf_counter() - t0
    wh.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"customers: {n:,}; report {size / 1e6:.1f} MB; peak RSS {peak:,.0f} MiB")
    print("| step | seconds |")
    print("|---|---:|")
    for label, secs in steps:
        print(f"| {label} | {secs:.1f} |")
    print(f"| **total** | **{total:.1f}** |")


if __name__ == "__main__":
    main()
