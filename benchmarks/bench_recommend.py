"""Recommendations benchmark: every model on the Online Retail protocol; ALS at 1M x 10k.

Usage::

    .venv/bin/python benchmarks/bench_recommend.py protocol [--warehouse URL]
    .venv/bin/python benchmarks/bench_recommend.py als [--customers 1000000] [--products 10000]

``protocol``: loads ``../shared/data/online_retail/online_retail.csv`` into a temporary DuckDB
warehouse (or uses ``--warehouse``), then runs the issue's protocol (train before 2011-09-01,
test on products bought first on or after it) for every model, twice: with the shipped
defaults (chosen on the validation split by ``tune_recommend.py``) and with ``implicit``'s
own defaults and no activity rule (the anchors of the issue; the hybrid, EASE and RP3beta,
which ``implicit`` does not provide, only in the first). Prints precision@10, recall@10,
hit@10, coverage and seconds per model as a Markdown table.

``als``: SYNTHETIC data (no real log of that size is at hand): N customers x M products, each
customer buying 1 + Poisson(9) distinct products, 70 % from one of 50 taste clusters of 200
products and the rest from a Zipf-like popularity over the whole catalogue, each 1 +
Poisson(0.5) orders. Fits the shipped ALS (``make_model("als")``) on it and reports the fit's
wall seconds and the process's resident memory before and at its peak (``VmRSS``/``VmHWM`` of
``/proc/self/status``; the peak includes making the matrix).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from patron.customize.evaluate import evaluate_split, split_at  # noqa: E402
from patron.customize.recommend import MODELS, Rules, make_model  # noqa: E402
from patron.data.loader import load  # noqa: E402
from patron.data.warehouse import connect  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv"

#: implicit 0.7.3's own defaults (the issue's anchors were measured with them).
IMPLICIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "popularity": {"days": None},
    "cooccurrence": {"K": 100, "trend_weight": 0.0},
    "item_knn": {"K": 20, "trend_weight": 0.0},
    "bm25": {"K": 20, "K1": 1.2, "B": 0.75, "trend_weight": 0.0},
    "als": {
        "factors": 100,
        "regularization": 0.01,
        "alpha": 1.0,
        "iterations": 15,
        "weighting": "none",
        "trend_weight": 0.0,
    },
}


def protocol(warehouse: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = warehouse or f"duckdb://{Path(tmp) / 'retail.duckdb'}"
        wh = connect(url)
        if not wh.has_table("transactions"):
            load(wh, "transactions", [str(DATA)])
        split = split_at(wh, date(2011, 9, 1))
        print(
            f"{len(split.rows)} customers, {int(split.test_counts.sum())} test items "
            f"({split.test.nnz} in the catalogue of {split.train.shape[1]} products)\n"
        )
        for label, rules, params, models in (
            ("shipped defaults, Rules()", Rules(), None, MODELS),
            # hybrid, ease, rp3beta have no implicit default: in the first table only.
            (
                "implicit defaults, no activity rule",
                Rules(active_days=None),
                IMPLICIT_DEFAULTS,
                tuple(IMPLICIT_DEFAULTS),
            ),
        ):
            print(f"### {label}\n")
            print("| model | precision@10 | recall@10 | hit@10 | coverage | seconds | params |")
            print("|---|---:|---:|---:|---:|---:|---|")
            for s in evaluate_split(split, models, rules=rules, params=params):
                print(
                    f"| {s.model} | {s.precision:.4f} | {s.recall:.4f} | {s.hit_rate:.3f} | "
                    f"{s.coverage:.3f} | {s.seconds:.1f} | {s.params} |",
                    flush=True,
                )
            print()
        wh.close()


def _status(key: str) -> int:
    """A ``/proc/self/status`` memory figure in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def synthetic(n: int, m: int, seed: int = 0) -> sparse.csr_matrix:
    """SYNTHETIC purchases: N customers x M products (see the module docstring)."""
    rng = np.random.default_rng(seed)
    per = 1 + rng.poisson(9, n)
    rows = np.repeat(np.arange(n, dtype=np.int32), per)
    total = len(rows)
    clusters = rng.integers(0, 50, n)
    members = rng.integers(0, m, (50, 200))
    popular = 1.0 / np.arange(10, m + 10) ** 0.9
    popular /= popular.sum()
    from_cluster = rng.random(total) < 0.7
    cols = np.empty(total, dtype=np.int32)
    k = int(from_cluster.sum())
    cols[from_cluster] = members[clusters[rows[from_cluster]], rng.integers(0, 200, k)]
    cols[~from_cluster] = rng.choice(m, total - k, p=popular)
    counts = (1 + rng.poisson(0.5, total)).astype(np.float32)
    out = sparse.csr_matrix((counts, (rows, cols)), shape=(n, m), dtype=np.float32)
    out.sum_duplicates()
    return out


def als(n: int, m: int) -> None:
    start = time.perf_counter()
    matrix = synthetic(n, m)
    made = time.perf_counter() - start
    before = _status("VmRSS")
    # The shipped ALS; the trend blend is off (synthetic data has no dates; it is one
    # bincount over the purchases, nothing beside the factorisation).
    model = make_model("als", trend_weight=0.0)
    start = time.perf_counter()
    model.fit(matrix)
    fit = time.perf_counter() - start
    print(
        f"SYNTHETIC {n:,} customers x {m:,} products, {matrix.nnz:,} non-zero cells "
        f"(made in {made:.1f} s)\nALS {model.get_params()}\nfit: {fit:.1f} s; resident memory "
        f"before the fit {before / 1024:.0f} MiB, peak {_status('VmHWM') / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("protocol", "als"))
    parser.add_argument("--warehouse")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=10_000)
    args = parser.parse_args()
    if args.what == "protocol":
        protocol(args.warehouse)
    else:
        als(args.customers, args.products)


if __name__ == "__main__":
    main()
