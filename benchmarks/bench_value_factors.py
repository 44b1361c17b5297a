"""CLV factors (with their delta-method uncertainty) for BG/NBD: closed form vs quadrature.

``value_factors`` evaluates the model's expected purchases and survival on every unique
(frequency, T) pair and month of the horizon, at the estimate and at each shifted parameter.
For a dropout shape a up to 100 that goes through scipy's hyp2f1; above it (a fit on a short
or churn-free history) through Gauss quadrature of the Beta posterior of p. This times both
on one warehouse's compressed summary, with the parameters set (not fitted), so the two paths
see the same rows.

Usage::

    .venv/bin/python benchmarks/bench_value_factors.py duckdb:///DIR/value1000000.duckdb

(the warehouse ``bench_value.py --customers 1000000 --keep DIR`` leaves).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from patron.data import connect
from patron.value.clv import ValueSettings, value_factors
from patron.value.models import BetaGeoModel
from patron.value.summary import SummarySpec
from patron.value.workflow import summary_from_warehouse

CASES = {
    "a = 0.793 (the shop's; closed form)": [0.243, 4.414, 0.793, 2.426],
    "a = 30 (closed form, in logs)": [0.243, 4.414, 30.0, 90.0],
    "a = 300,000 (quadrature)": [0.243, 4.414, 3e5, 9e5],
}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with connect(sys.argv[1]) as wh, summary_from_warehouse(wh, SummarySpec("week")) as source:
        c = source.compressed
        print(f"unique rows: {len(c.counts):,}; customers: {int(c.counts.sum()):,}")
        print("| parameters | horizon 12 months, s | horizon 120 months, s |")
        print("|---|---:|---:|")
        for label, params in CASES.items():
            model = BetaGeoModel().with_params(np.array(params))
            model.covariance_ = np.diag((0.05 * np.array(params)) ** 2)
            secs = []
            for months in (12, 120):
                start = time.perf_counter()
                f = value_factors(
                    model,
                    c.frequency,
                    c.recency_days,
                    c.T_days,
                    unit_days=7.0,
                    settings=ValueSettings(months, 0.1),
                )
                secs.append(time.perf_counter() - start)
                assert np.all(np.isfinite(f.de))
                assert np.all(np.isfinite(f.var_de))
            print(f"| {label} | {secs[0]:.2f} | {secs[1]:.2f} |")


if __name__ == "__main__":
    main()
