"""Survey benchmark: load survey waves, then satisfaction and the customer value analysis.

Simulates ``--respondents`` answers per brand and wave (3 brands, 2 waves, 5 attributes with
stated importance) into a CSV, then times, in one process, ``load_responses`` (checked whole,
stored long), ``satisfaction`` (per wave, changes) and ``customer_value_analysis`` (derived
importance from engine-aggregated moments, gaps, value map, changes). Peak RSS shows that the
responses never come into Python.

Usage::

    .venv/bin/python benchmarks/bench_survey.py --respondents 100000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from patron.data import SurveyParams, connect, load_responses, simulate_survey
from patron.measure import customer_value_analysis, satisfaction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--respondents", type=int, default=100_000)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        shop = simulate_survey(folder, seed=1, params=SurveyParams(respondents=ns.respondents))
        t1 = time.perf_counter()
        wh = connect(f"duckdb://{folder / 'survey.duckdb'}")
        load_responses(wh, [str(shop.responses)])
        t2 = time.perf_counter()
        sat = satisfaction(wh)
        t3 = time.perf_counter()
        cva = customer_value_analysis(wh)
        t4 = time.perf_counter()
        wh.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{shop.rows:,} responses (x 5 attributes); peak RSS {peak:,.0f} MiB")
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| simulate + write CSV | {t1 - t0:.1f} |")
    print(f"| `load_responses` (checked whole, long storage) | {t2 - t1:.1f} |")
    print(f"| `satisfaction` (per wave, changes) | {t3 - t2:.1f} |")
    print(f"| `customer_value_analysis` (derived importance, gaps, map, changes) | {t4 - t3:.1f} |")
    print(f"- {sat.findings[-1]}")
    print(f"- {cva.findings[1]}")


if __name__ == "__main__":
    main()
