"""Measure benchmark: assignment and analysis of an experiment on N customers.

Uses a warehouse with ``customers`` and ``transactions`` (e.g. the one ``bench_value.py --keep``
leaves: 10M customers, 29M transactions) and times, in one process:
1. ``create_experiment``: 3 arms, stratified by customer type, hashing every customer;
2. ``analyze_experiment``: conversion and revenue in a 13-week window from the transactions,
   with CUPED on the pre-period, per stratum and post-stratified, SRM check.

Usage::

    .venv/bin/python benchmarks/bench_measure.py duckdb:///path/value10000000.duckdb
"""

from __future__ import annotations

import argparse
import resource
import time
import uuid
from datetime import date

from patron.data import connect
from patron.measure import analyze_experiment, create_experiment, parse_arms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse")
    parser.add_argument("--start", default="2025-10-01")
    ns = parser.parse_args()
    wh = connect(ns.warehouse)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    created = create_experiment(
        wh,
        name,
        parse_arms("mail:0.45,sms:0.45,control:0.1"),
        stratify=["customer_type"],
        start=date.fromisoformat(ns.start),
        salt="bench",
    )
    t1 = time.perf_counter()
    result, start, end = analyze_experiment(wh, name, ["conversion", "revenue"], pre="period")
    t2 = time.perf_counter()
    wh.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"customers assigned: {created.total:,}; window {start} .. {end}; peak RSS {peak:,.0f} MiB"
    )
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| assignment (3 arms, stratified, md5 per customer, written) | {t1 - t0:.1f} |")
    print(f"| analysis (2 metrics, CUPED, strata, SRM) | {t2 - t1:.1f} |")
    print(f"| **total** | **{t2 - t0:.1f}** |")
    for r in result.results:
        print(f"- {r['summary']}")


if __name__ == "__main__":
    main()
