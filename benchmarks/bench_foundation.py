"""Foundation benchmark: simulate -> load (Parquet and CSV) -> status, at N customers.

Each step runs as its own process (the real CLI) so that its wall time and peak memory
(max RSS from wait4) are its own. Usage::

    .venv/bin/python benchmarks/bench_foundation.py --customers 1000000 [--keep DIR]
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


def run(args: list[str]) -> tuple[float, float]:
    """Run the CLI in a child process; return (seconds, peak RSS in MiB)."""
    cmd = [sys.executable, "-m", "patron", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024.0


INPROCESS = """
import sys, time
from patron.data import connect, load
wh = connect(sys.argv[1])
t0 = time.perf_counter()
load(wh, "transactions", [sys.argv[2]])
t1 = time.perf_counter()
wh.close()
print(f"{t1 - t0:.3f} {time.perf_counter() - t1:.3f}")
"""


def in_process(url: str, path: Path) -> tuple[float, float]:
    """Time ``load()`` itself and the close (DuckDB checkpoint) in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", INPROCESS, url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    ns = parser.parse_args()
    work = ns.keep or Path(tempfile.mkdtemp(prefix="patron-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    shop = work / "shop"
    rows: list[tuple[str, float, float]] = []
    rows.append(
        (
            "simulate",
            *run(["simulate", "-n", str(ns.customers), "--seed", str(ns.seed), "--out", str(shop)]),
        )
    )
    import duckdb

    csv_path = work / "transactions.csv"
    duckdb.sql(f"COPY (SELECT * FROM '{shop / 'transactions.parquet'}') TO '{csv_path}' (HEADER)")
    n_rows = duckdb.sql(f"SELECT count(*) FROM '{shop / 'transactions.parquet'}'").fetchone()
    for db in ("parquet.duckdb", "csv.duckdb"):
        (work / db).unlink(missing_ok=True)
    for label, path, db in (
        ("load transactions (Parquet)", shop / "transactions.parquet", "parquet.duckdb"),
        ("load transactions (CSV)", csv_path, "csv.duckdb"),
    ):
        rows.append(
            (label, *run(["load", "transactions", str(path), "-w", f"duckdb://{work / db}"]))
        )
    rows.append(("status", *run(["status", "-w", f"duckdb://{work / 'parquet.duckdb'}"])))
    inner = []
    for label, path in (("Parquet", shop / "transactions.parquet"), ("CSV", csv_path)):
        db = work / f"inproc-{label}.duckdb"
        db.unlink(missing_ok=True)
        inner.append((label, *in_process(f"duckdb://{db}", path)))
    print(f"customers: {ns.customers:,}; transaction rows: {n_rows[0] if n_rows else 0:,}")
    print("| step | seconds | peak RSS (MiB) |")
    print("|---|---:|---:|")
    for label, secs, rss in rows:
        print(f"| {label} | {secs:.1f} | {rss:,.0f} |")
    print()
    print("| load() in process | load seconds | close (checkpoint) seconds |")
    print("|---|---:|---:|")
    for label, secs, close in inner:
        print(f"| {label} | {secs:.1f} | {close:.1f} |")
    if ns.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
