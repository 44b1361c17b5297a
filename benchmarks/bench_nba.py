"""Next-best-action benchmark: batch for N customers × K offers, real time from an N-profile store.

Usage::

    .venv/bin/python benchmarks/bench_nba.py --customers 1000000 --offers 50 [--keep DIR]

Steps:

- a DuckDB warehouse of N synthetic customers (``customer_value`` and ``customers``, as in
  ``bench_interact.py``), and K synthetic offers (eligibility conditions over tier, segment,
  CLV and P(alive); per-segment uplifts; retention offers with CLV at stake);
- batch: :func:`patron.customize.batch.nba_batch` for everyone on ``web``, the best offer per
  customer written to a table in the engine — wall seconds;
- real time: ``patron publish`` of the N profiles into a SQLite store (its own process), the
  K offers loaded, then :func:`patron.customize.next_best_action` (logged, as in service) for
  1,000 random customers — median and p95 milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_interact import make_warehouse  # noqa: E402
from bench_value import run as run_cli  # noqa: E402

from patron.customize import list_offers, load_offers, next_best_action  # noqa: E402
from patron.customize.batch import nba_batch  # noqa: E402
from patron.data.warehouse import connect  # noqa: E402
from patron.interact import contact_policy  # noqa: E402
from patron.store import open_store, upgrade_store  # noqa: E402

SEGMENTS = ("books / web", "games / app", "home / store", "music / phone")
CONDITIONS = (
    None,
    "tier in ('MVC', 'MGC')",
    "clv > 100",
    "segment == 'books / web' or segment == 'music / phone'",
    "p_alive > 0.3 and tier != 'BZ'",
)


def make_offers(path: Path, k: int, seed: int = 0) -> None:
    """K offers: cross-sell and up-sell with per-segment uplift, some retention offers."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(k):
        kind = "retention" if i % 10 == 9 else ("cross-sell" if i % 2 else "up-sell")
        row = {
            "id": f"offer{i:03d}",
            "name": f"Offer {i}",
            "kind": kind,
            "category": f"cat{i % 12}",
            "channels": ["web", "email", "app"],
            "contact_cost": {"web": 0.02, "email": 0.05, "app": 0.01},
            "margin": round(float(rng.uniform(2, 30)), 2),
            "price": round(float(rng.uniform(10, 120)), 2),
            "response_rate": round(float(rng.uniform(0.005, 0.05)), 4),
            "uplift_by_segment": {
                s: round(float(rng.uniform(-0.005, 0.06)), 4)
                for s in SEGMENTS
                if rng.random() < 0.7
            },
        }
        condition = CONDITIONS[i % len(CONDITIONS)]
        if kind == "retention":
            condition = "p_alive < 0.5 and clv > 50"
        if condition:
            row["eligibility"] = condition
        rows.append(row)
    path.write_text(yaml.safe_dump(rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, default=None)
    ns = parser.parse_args()
    work = ns.keep or Path(tempfile.mkdtemp(prefix="patron-bench-nba-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"nba{ns.customers}.duckdb"
    store_url = f"sqlite:///{work / f'nba{ns.customers}.store.sqlite'}"
    if not db.exists():
        make_warehouse(db, ns.customers)
    offers_file = work / f"offers{ns.offers}.yaml"
    make_offers(offers_file, ns.offers)
    upgrade_store(store_url)
    with open_store(store_url) as store:
        load_offers(store, offers_file, replace_all=True)
        offers = list_offers(store)
        policy = contact_policy(store)
    at = datetime(2026, 3, 2, 10, 0)

    wh = connect(f"duckdb://{db}")
    try:
        expr = nba_batch(wh, offers, channel="web", at=at, policy=policy)
        t0 = time.perf_counter()
        wh.con.create_table("nba_actions", expr, overwrite=True)
        batch_s = time.perf_counter() - t0
        with_action = int(wh.table("nba_actions").count().to_pyarrow().as_py())
    finally:
        wh.close()
    print(
        f"batch: {ns.customers:,} customers x {len(offers)} offers in {batch_s:.1f} s "
        f"({with_action:,} with an action)"
    )

    publish_s, rss = run_cli(["publish", "--warehouse", f"duckdb://{db}", "--store", store_url])
    print(f"publish {ns.customers:,} profiles: {publish_s:.1f} s, peak RSS {rss:,.0f} MiB")
    rng = np.random.default_rng(7)
    picks = [f"C{int(i):08d}" for i in rng.integers(0, ns.customers, ns.calls)]
    times = []
    with open_store(store_url) as store:
        next_best_action(store, picks[0], "web", at=at)  # warm the catalogue cache
        for cid in picks:
            t0 = time.perf_counter()
            next_best_action(store, cid, "web", at=at)
            times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"real time: {len(times):,} customers of {ns.customers:,}, {len(offers)} offers, "
        f"logged: median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms"
    )


if __name__ == "__main__":
    main()
