"""`patron value score` beside the lean floor, alternating in one sitting (issue 20, item 11).

Needs the work folder of ``bench_value.py --customers N --keep DIR`` (the simulated shop and
its loaded DuckDB warehouse). Each round runs, each as its own process timed from outside
(start-up included): the lean floor (``bench_lean_floor.py``, DuckDB + numpy on the same
Parquet), ``patron value score`` (graded on a 13-week holdout), ``patron value score
--no-check``, and the CLI's ``--help``, ``value --help`` and ``--version``; with ``--before
SRC`` (an export of an earlier commit's ``src``, e.g. ``git archive COMMIT src | tar -x -C
/tmp/before``), the same ``value score`` and ``--help`` of that code too. Usage::

    .venv/bin/python benchmarks/bench_value_vs_floor.py DIR [--customers 1000000] [--rounds 3]
        [--before /tmp/before/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="an earlier commit's src")
    ns = parser.parse_args()
    shop = ns.work / f"shop{ns.customers}"
    url = f"duckdb://{ns.work / f'value{ns.customers}.duckdb'}"
    floor = Path(__file__).with_name("bench_lean_floor.py")
    patron = [sys.executable, "-m", "patron"]
    steps = {
        "lean floor (DuckDB + numpy)": [sys.executable, str(floor), str(shop)],
        "patron value score": [*patron, "value", "score", "-w", url],
        "patron value score --no-check": [*patron, "value", "score", "--no-check", "-w", url],
        "patron --help": [*patron, "--help"],
        "patron value --help": [*patron, "value", "--help"],
        "patron --version": [*patron, "--version"],
    }
    envs: dict[str, dict[str, str] | None] = dict.fromkeys(steps)
    if ns.before is not None:
        before = {**os.environ, "PYTHONPATH": str(ns.before.resolve())}
        for label in ("patron value score", "patron --help"):
            steps[f"before: {label}"] = steps[label]
            envs[f"before: {label}"] = before
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(ns.rounds):
        for label, cmd in steps.items():
            times[label].append(timed(cmd, envs[label]))
    base = statistics.median(times["lean floor (DuckDB + numpy)"])
    print(f"{ns.customers:,} customers; {ns.rounds} rounds, alternating")
    print("| command | runs (s) | median (s) | x lean floor |")
    print("|---|---|---:|---:|")
    for label, values in times.items():
        median = statistics.median(values)
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {label} | {shown} | {median:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
