"""`patron value score` beside the lean floor, alternating in one sitting (issue 20, item 11).

Needs the work folder of ``bench_value.py --customers N --keep DIR`` (the simulated shop and
its loaded DuckDB warehouse). Each round runs, each as its own process timed from outside
(start-up included): the lean floor (``bench_lean_floor.py``, DuckDB + numpy on the same
Parquet), ``patron value score`` (graded on a 13-week holdout), ``patron value score
--no-check``, and the CLI's ``--help``, ``value --help`` and ``--version`` (``--startup-only``:
these alone); wall and CPU seconds (user + system) of each; with ``--before
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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, from ``wait4``) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{errors.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="an earlier commit's src")
    parser.add_argument("--startup-only", action="store_true", help="only --help, --version")
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
    if ns.startup_only:
        steps = {k: v for k, v in steps.items() if "help" in k or "version" in k}
    envs: dict[str, dict[str, str] | None] = dict.fromkeys(steps)
    if ns.before is not None:
        before = {**os.environ, "PYTHONPATH": str(ns.before.resolve())}
        for label in ("patron value score", "patron --help", "patron value --help"):
            if label not in steps:
                continue
            steps[f"before: {label}"] = steps[label]
            envs[f"before: {label}"] = before
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in steps}
    for _ in range(ns.rounds):
        for label, cmd in steps.items():
            times[label].append(timed(cmd, envs[label]))
    floor = times.get("lean floor (DuckDB + numpy)")
    base = statistics.median(w for w, _ in floor) if floor else None
    print(f"{ns.customers:,} customers; {ns.rounds} rounds, alternating")
    print("| command | wall runs (s) | wall median (s) | x lean floor | CPU median (min-max) |")
    print("|---|---|---:|---:|---:|")
    for label, values in times.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        median = statistics.median(wall)
        shown = ", ".join(f"{v:.2f}" for v in wall)
        ratio = f"{median / base:.2f}" if base else "-"
        print(
            f"| {label} | {shown} | {median:.2f} | {ratio} | "
            f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) |"
        )


if __name__ == "__main__":
    main()
