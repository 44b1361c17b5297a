"""`patron load` of the same transactions file into DuckDB and into PostgreSQL, side by side.

Simulates a shop, keeps its first N transaction rows as one Parquet file (and the same rows
as CSV), starts a throwaway PostgreSQL server on a Unix socket (``initdb``/``pg_ctl``, as the
``postgres`` user when run as root), then runs the real CLI, alternating engines, each run
into an empty warehouse (a new DuckDB file; a new PostgreSQL database). Usage::

    .venv/bin/python benchmarks/bench_load_postgres.py --transactions 1000000 [--repeat 3]
"""

from __future__ import annotations

import argparse
import glob
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
from pathlib import Path


def _program(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise SystemExit(f"no {name}: apt-get install postgresql")
    return found


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway server; yields the URL of its ``postgres`` database."""
    as_user: dict[str, object] = {}
    root = Path(tempfile.mkdtemp(prefix="patron-pg-bench-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=root, **as_user)  # type: ignore[call-overload]

    run(_program("initdb"), "-D", str(data), "-A", "trust", "-U", "patron")
    options = f"-c listen_addresses='' -k {root} -p 5433"
    run(_program("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    try:
        yield f"postgres://patron@/postgres?host={root}&port=5433"
    finally:
        run(_program("pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    import psycopg

    host = server_url.split("host=", 1)[1].split("&", 1)[0]
    with psycopg.connect(host=host, port=5433, user="patron", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.replace("/postgres?", f"/{name}?", 1)


def cli_load(url: str, path: Path) -> float:
    """Seconds for ``patron load transactions PATH -w URL`` in its own process."""
    cmd = [sys.executable, "-m", "patron", "load", "transactions", str(path), "-w", url]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    ns = parser.parse_args()
    import duckdb

    from patron.data.simulate import simulate_shop

    work = ns.keep or Path(tempfile.mkdtemp(prefix="patron-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    parquet, csv = work / "transactions.parquet", work / "transactions.csv"
    if not parquet.exists():
        shop = work / "shop"
        simulate_shop(ns.transactions * 2 // 5 + 1000, shop, seed=1)  # ~2.9 rows a customer
        source = shop / "transactions.parquet"
        keep = f"SELECT * FROM '{source}' LIMIT {ns.transactions}"
        duckdb.sql(f"COPY ({keep}) TO '{parquet}' (FORMAT parquet)")
        duckdb.sql(f"COPY ({keep}) TO '{csv}' (HEADER)")
    n_rows = duckdb.sql(f"SELECT count(*) FROM '{parquet}'").fetchone()
    print(f"{n_rows[0] if n_rows else 0:,} transaction rows; work folder {work}")
    times: dict[str, list[float]] = {}
    with postgres_server() as server:
        for i in range(ns.repeat):
            for kind, path in (("Parquet", parquet), ("CSV", csv)):
                db = work / f"load_{kind}.duckdb"
                db.unlink(missing_ok=True)
                times.setdefault(f"DuckDB, {kind}", []).append(cli_load(f"duckdb://{db}", path))
                pg = fresh_database(server, f"bench_{kind.lower()}_{i}")
                times.setdefault(f"PostgreSQL, {kind}", []).append(cli_load(pg, path))
                import ibis

                con = ibis.connect(pg)
                loaded = con.table("transactions").count().execute()
                con.disconnect()
                assert int(loaded) == n_rows[0], (loaded, n_rows)  # type: ignore[index]
    print("| warehouse, file | runs (s) | median (s) |")
    print("|---|---|---:|")
    for label, values in times.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {label} | {shown} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
