"""Model-fit benchmark: each purchase model (and Gamma-Gamma) on one warehouse's summary.

The summary is computed once in the engine; each fit is timed on its compressed unique rows
(L-BFGS-B with the model's gradient, plus the Hessian for standard errors).

Usage::

    .venv/bin/python benchmarks/bench_fit.py duckdb:///DIR/value1000000.duckdb

(the warehouse ``bench_value.py --customers 1000000 --keep DIR`` leaves).
"""

from __future__ import annotations

import sys
import time

from patron.data import connect
from patron.value.models import MODELS, GammaGammaModel
from patron.value.summary import SummarySpec, spend_data
from patron.value.workflow import CONTINUOUS_MODELS, summary_from_warehouse


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with connect(sys.argv[1]) as wh, summary_from_warehouse(wh, SummarySpec("week")) as source:
        rfm = source.compressed.rfm
        print(f"unique rows: {len(rfm.frequency):,}; customers: {rfm.n_customers:,.0f}")
        print("| model | fit seconds | log-likelihood |")
        print("|---|---:|---:|")
        for name in CONTINUOUS_MODELS:
            start = time.perf_counter()
            model = MODELS[name]().fit(rfm)
            took = time.perf_counter() - start
            print(f"| {name} | {took:.2f} | {model.log_likelihood_:,.1f} |")
        spend = spend_data(source.table)
        start = time.perf_counter()
        gg = GammaGammaModel().fit(spend)
        took = time.perf_counter() - start
        print(f"| gg ({len(spend.frequency):,} rows) | {took:.2f} | {gg.log_likelihood_:,.1f} |")


if __name__ == "__main__":
    main()
