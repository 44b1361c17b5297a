"""Interact benchmark: publish N profiles, log touch points, 8 concurrent loggers, agent screen.

Usage::

    .venv/bin/python benchmarks/bench_interact.py --customers 1000000 [--postgres] [--keep DIR]

Steps (each on SQLite, and on a throwaway local PostgreSQL server with ``--postgres``):

- ``patron publish`` of N synthetic profiles (a DuckDB ``customer_value`` and ``customers``
  with e-mail and phone), as its own process: wall seconds and peak RSS (wait4);
- touch-point logging in one process: one touch point per transaction, and batches of 500;
- 8 processes logging 10,000 touch points each with idempotency keys, every key sent twice
  (by two processes): stored once each, none lost;
- the agent screen for 1,000 random customers of the N published: median and p95 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_value import run as run_cli  # noqa: E402  (the same child-process timing)

from patron.interact import (  # noqa: E402
    Touchpoint,
    agent_screen,
    example_question_bank,
    install_question_bank,
    load_question_bank,
    log_touchpoint,
    log_touchpoints,
    set_consent,
)
from patron.store import open_store, upgrade_store  # noqa: E402
from patron.store.schema import touchpoints  # noqa: E402
from tests.interact.touchpoint_worker import keys_for, log_events  # noqa: E402


def make_warehouse(path: Path, n: int) -> None:
    """N synthetic customers: customer_value (CLV, interval, tier, segment) and customers."""
    con = duckdb.connect(str(path))
    con.execute(
        f"""
        CREATE TABLE customer_value AS
        SELECT printf('C%08d', i) AS customer_id,
               round(random() * 400 - 20, 2) AS clv,
               round(random() * 200 - 40, 2) AS clv_low,
               round(random() * 400 + 100, 2) AS clv_high,
               random() AS p_alive,
               random() * 3 AS expected_purchases,
               (['MVC', 'MGC', 'BZ', 'other'])[1 + (i % 4)] AS tier,
               '' AS tier_reason,
               (['first-time', 'occasional', 'regular', 'lapsed'])[1 + (i % 4)] AS loyalty,
               (['books / web', 'games / app', 'home / store', 'music / phone'])[1 + (i % 4)]
                   AS segment
        FROM range({n}) t(i)
        """
    )
    con.execute(
        f"""
        CREATE TABLE customers AS
        SELECT printf('C%08d', i) AS customer_id,
               printf('c%08d@example.com', i) AS email,
               printf('+1415%07d', i % 10000000) AS phone,
               'end_user' AS customer_type
        FROM range({n}) t(i)
        """
    )
    con.close()


def bench_logging(url: str, n_single: int, n_batch: int) -> tuple[float, float]:
    """Touch points per second: one per transaction, then batches of 500."""
    start_at = datetime(2026, 1, 1)
    with open_store(url) as store:
        t0 = time.perf_counter()
        for i in range(n_single):
            log_touchpoint(
                store,
                Touchpoint(
                    f"C{i % 5000:08d}",
                    "web",
                    "visit",
                    occurred_at=start_at + timedelta(seconds=i),
                    idempotency_key=f"single-{i}",
                ),
            )
        single = n_single / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for first in range(0, n_batch, 500):
            log_touchpoints(
                store,
                [
                    Touchpoint(
                        f"C{i % 5000:08d}",
                        "email",
                        "offer_shown",
                        direction="outbound",
                        occurred_at=start_at + timedelta(seconds=i),
                        idempotency_key=f"batch-{i}",
                    )
                    for i in range(first, min(first + 500, n_batch))
                ],
            )
        batched = n_batch / (time.perf_counter() - t0)
    return single, batched


def bench_concurrency(url: str, workers: int, per_worker: int) -> tuple[float, int, int]:
    """8 processes, every key sent twice; (seconds, stored, expected)."""
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with ctx.Pool(workers) as pool:
        pool.starmap(log_events, [(url, w, per_worker, workers, 100) for w in range(workers)])
    seconds = time.perf_counter() - t0
    expected = {k for w in range(workers) for k in keys_for(w, per_worker, workers)}
    with open_store(url) as store, store.read() as conn:
        keys = (
            conn.execute(
                sa.select(touchpoints.c.idempotency_key).where(
                    touchpoints.c.idempotency_key.like("ev-%")
                )
            )
            .scalars()
            .all()
        )
    if len(keys) != len(set(keys)) or set(keys) != expected:
        raise SystemExit(f"concurrency check failed: {len(keys)} rows, {len(expected)} expected")
    return seconds, len(keys), len(expected)


def bench_screen(url: str, n: int, samples: int) -> tuple[float, float]:
    """Agent screen for random published customers; (median ms, p95 ms)."""
    rng = np.random.default_rng(1)
    ids = [f"C{int(i):08d}" for i in rng.integers(0, n, samples)]
    with open_store(url) as store:
        install_question_bank(store, load_question_bank(example_question_bank()))
        for cid in ids[: samples // 2]:
            set_consent(store, cid, "all", "profiling", "granted", source="bench")
        times = []
        for cid in ids:
            t0 = time.perf_counter()
            agent_screen(store, cid, "phone")
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * len(times)) - 1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway local PostgreSQL (as the tests' fixture starts one); its store URL."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = shutil.which("initdb") or (str(found[-1]) if found else None)
    if initdb is None:
        raise SystemExit("no PostgreSQL server programs (initdb); apt-get install postgresql")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    kw = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    root = Path(tempfile.mkdtemp(prefix="patron-bench-pg-"))
    if owner:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    options = f"-c listen_addresses='' -k {root} -p 5432 -c fsync=on"
    subprocess.run([initdb, "-D", str(data), "-A", "trust", "-U", "patron"], check=True,
                   capture_output=True, cwd=root, **kw)  # fmt: skip
    subprocess.run([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                    "start"], check=True, capture_output=True, cwd=root, **kw)  # fmt: skip
    try:
        yield f"postgresql+psycopg://patron@/postgres?host={root}&port=5432"
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False,
                       capture_output=True, cwd=root, **kw)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def run_all(label: str, url: str, wh_url: str, n: int, per_worker: int) -> None:
    upgrade_store(url)
    seconds, rss = run_cli(["publish", "--warehouse", wh_url, "--store", url])
    print(f"[{label}] publish {n:,} profiles: {seconds:.1f} s, peak RSS {rss:,.0f} MiB")
    single, batched = bench_logging(url, 5_000, 50_000)
    print(f"[{label}] touch points: {single:,.0f}/s one per transaction, {batched:,.0f}/s in 500s")
    secs, stored, expected = bench_concurrency(url, 8, per_worker)
    print(
        f"[{label}] 8 processes x {per_worker:,} (every key sent twice): {secs:.1f} s, "
        f"{stored:,} stored of {expected:,} distinct keys, none lost or duplicated"
    )
    median, p95 = bench_screen(url, n, 1_000)
    print(f"[{label}] agent screen from {n:,} profiles: median {median:.2f} ms, p95 {p95:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--per-worker", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="also on a local PostgreSQL")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="patron-bench-interact-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        wh_path = work / "wh.duckdb"
        if not wh_path.exists():
            make_warehouse(wh_path, args.customers)
        wh_url = f"duckdb://{wh_path}"
        store_path = work / "store.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        run_all("sqlite", f"sqlite:///{store_path}", wh_url, args.customers, args.per_worker)
        if args.postgres:
            with postgres_server() as url:
                run_all("postgres", url, wh_url, args.customers, args.per_worker)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
