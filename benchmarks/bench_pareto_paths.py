"""Pareto/NBD likelihood (with gradient) and P(alive): series path vs integral path.

The likelihood's 2F1(1, b; c; z) comes from its series (or scipy's hyp2f1) up to z = 0.9
and from the log-space integral of ``models/_quadrature.py`` above it, where the purchase
and dropout scales are over tenfold apart (and scipy returned NaN once s reached the
hundreds). This times one likelihood-and-gradient evaluation, as the fit repeats it, and
P(alive) for every customer, on customers simulated from each parameter set (weekly
cohorts of 30-78 weeks, recency in whole days, compressed to unique rows as the warehouse
summary is).

Usage::

    .venv/bin/python benchmarks/bench_pareto_paths.py [CUSTOMERS]   # default 1,000,000
"""

from __future__ import annotations

import sys
import time

import numpy as np

from patron.value.models import ParetoNBDModel, RFMData
from patron.value.models.pareto_nbd import pareto_negll

CASES = {
    "CDNOW's fit (series, z ≈ 0.1)": [0.553, 10.578, 0.606, 11.669],
    "nearly homogeneous dropout, s = 1000 (integral)": [0.55, 10.6, 1000.0, 10000.0],
    "alpha << beta, s = 0.5 (integral)": [0.55, 0.5, 0.5, 100.0],
}


def _best_of(runs: int, f: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(1)
    weeks = rng.integers(30, 79, n).astype(float)
    print(f"{n:,} customers; best of 3 runs")
    print("| parameters | unique rows | (x, t_x) + (x, T) pairs", end="")
    print(" | likelihood + gradient, s | P(alive) of the unique rows, s |")
    print("|---|---:|---:|---:|---:|")
    for label, params in CASES.items():
        model = ParetoNBDModel().with_params(np.array(params))
        sim = model.sample(weeks, seed=1)
        recency = np.minimum(np.ceil(sim.recency * 7.0) / 7.0, weeks)
        rows, counts = np.unique(
            np.stack([sim.frequency, recency, weeks]), axis=1, return_counts=True
        )
        data = RFMData.from_arrays(rows[0], rows[1], rows[2], counts)
        pairs = len(data.pairs.tx) + len(data.pairs.T)
        theta = np.log(np.array(params))
        negll = _best_of(3, lambda: pareto_negll(theta, data))  # noqa: B023
        alive = _best_of(3, lambda: model.p_alive(data.frequency, data.recency, data.T))  # noqa: B023
        print(f"| {label} | {len(data.frequency):,} | {pairs:,} | {negll:.2f} | {alive:.2f} |")


if __name__ == "__main__":
    main()
