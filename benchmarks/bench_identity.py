"""Identity benchmark: load identity records, then resolve them (deterministic or with Splink).

Deterministic mode makes N records of N/1.4 people (vectorised): each record carries its
person's e-mail (60%), phone (50%) and card (40%), written in varied forms, so the run
normalises every distinct value, builds the identifier edges and the components. Probabilistic
mode uses the simulated shop's identity records (``simulate_identities``: names, addresses,
typos; about 1.43 records per customer) and runs Splink too.

Usage::

    .venv/bin/python benchmarks/bench_identity.py --records 1000000 --mode deterministic
    .venv/bin/python benchmarks/bench_identity.py --records 100000 --mode probabilistic
    .venv/bin/python benchmarks/bench_identity.py --records 1000000 --engine pyspark

Prints the seconds of each step and the process's peak RSS (``ru_maxrss``; in deterministic mode
the records are made by a child process, so the peak is the load's and the resolution's).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patron.data import connect, load
from patron.data.simulate import simulate_identities
from patron.identity import ResolveOptions, resolve_identities


def _text(numbers: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")


def deterministic_records(n: int, seed: int) -> pa.Table:
    """N identity records of about N/1.4 people with e-mail, phone and card numbers."""
    rng = np.random.default_rng(seed)
    people = max(1, int(n / 1.4))
    person = np.sort(rng.integers(0, people, n))
    record = np.arange(n)
    null = pa.scalar(None, pa.string())

    def some(values: pa.Array, share: float) -> pa.Array:
        return pc.if_else(pa.array(rng.random(n) < share), values, null)

    email = pc.binary_join_element_wise("person", _text(person, 8), "@mail.example.org", "")
    email = pc.if_else(pa.array(rng.random(n) < 0.1), pc.utf8_upper(email), email)
    phone_digits = _text((person.astype(np.int64) * 7919 + 12345) % 10**9, 9)
    phone = pc.if_else(
        pa.array(rng.random(n) < 0.5),
        pc.binary_join_element_wise("07", phone_digits, ""),
        pc.binary_join_element_wise("+44 7", phone_digits, ""),
    )
    card = pc.binary_join_element_wise("6331-", _text(person, 10), "")
    return pa.table(
        {
            "source": pa.array(np.where(rng.random(n) < 0.5, "web", "pos")),
            "record_id": _text(record, 10),
            "email": some(email, 0.6),
            "phone": some(phone, 0.5),
            "card": some(card, 0.4),
        }
    )


def _write_deterministic(n: int, seed: int, path: str) -> None:
    pq.write_table(deterministic_records(n, seed), path)


def pairwise(wh: Any, truth: pa.Table) -> tuple[float, float]:
    """Pairwise precision and recall of ``identity_map`` against the true persons (engine)."""
    import ibis

    m = wh.con.table("identity_map")
    t = ibis.memtable(truth)
    j = m.join(t, [m.source == t.source, m.record_id == t.record_id])

    def pairs(keys: list[Any]) -> int:
        g = j.group_by(keys).aggregate(n=j.count())
        return int((g.n * (g.n - 1) / 2).sum().to_pyarrow().as_py())

    both = pairs([j.customer_id, j.person])
    return both / max(pairs([j.customer_id]), 1), both / max(pairs([j.person]), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--mode", choices=("deterministic", "probabilistic"), default="deterministic"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engine", choices=("duckdb", "pyspark"), default="duckdb", help="the warehouse engine"
    )
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        truth = None
        path = folder / "identities.parquet"
        if ns.mode == "deterministic":
            # Made in a child process, so that the peak RSS below is the load's and the
            # resolution's, not the generator's (10M records take ~1 GB as Arrow arrays).
            child = mp.get_context("spawn").Process(
                target=_write_deterministic, args=(ns.records, ns.seed, str(path))
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"making the records failed (exit {child.exitcode})")
        else:
            records, truth = simulate_identities(max(1, int(ns.records / 1.43)), ns.seed)
            pq.write_table(records, path)
        made = time.perf_counter() - t0
        wh = connect(
            f"duckdb://{folder / 'w.duckdb'}" if ns.engine == "duckdb" else f"pyspark://{folder}"
        )
        t1 = time.perf_counter()
        load(wh, "identities", [str(path)])
        loaded = time.perf_counter() - t1
        t2 = time.perf_counter()
        report = resolve_identities(
            wh, ResolveOptions(deterministic_only=ns.mode == "deterministic")
        )
        resolved = time.perf_counter() - t2
        scores = pairwise(wh, truth) if truth is not None else None
        t3 = time.perf_counter()
        again = resolve_identities(
            wh, ResolveOptions(deterministic_only=ns.mode == "deterministic")
        )
        rerun = time.perf_counter() - t3
        wh.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{ns.mode}: {report.records:,} records -> {report.customers:,} customers "
        f"(links by rule {report.links_by_rule}; {report.rounds} rounds)"
    )
    print(f"make records {made:.1f} s; load {loaded:.1f} s; resolve {resolved:.1f} s")
    print(
        f"re-run on the same records (normalised values cached): {rerun:.1f} s, "
        f"{again.changed_records:,} records changed"
    )
    print(f"peak RSS {peak:,} KiB")
    if scores is not None:
        print(f"against the true persons: precision {scores[0]:.4f}, recall {scores[1]:.4f}")


if __name__ == "__main__":
    main()
