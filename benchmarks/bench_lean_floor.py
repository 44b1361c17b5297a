"""The lean floor the value target is measured against: DuckDB on the Parquet file + numpy.

What issue 3 calls "DuckDB plus a lean numpy fit": one SQL summary straight from the simulated
shop's ``transactions.parquet``, the per-customer rows pulled into numpy, rows compressed with
``np.unique`` on one integer key, BG/NBD and Gamma-Gamma fitted (Patron's pure-numpy models),
P(alive), expected purchases over 52 weeks, expected spend and an undiscounted CLV per
customer, written back as a DuckDB table of nine columns (``--write parquet``: a Parquet file).
No cost to serve, no margin, no intervals, no holdout, no tiers — the bare minimum, so a floor.

Two summaries (returns, the negative amounts, are left out):

- ``merge``: purchases merged per customer and calendar day (the BTYD convention Patron uses and
  the CDNOW reference needs): a two-level aggregation;
- ``no-merge``: every transaction row a purchase (one aggregation per customer; wrong
  frequencies wherever a customer buys twice on a day, but the cheapest possible query).

Usage::

    .venv/bin/python benchmarks/bench_lean_floor.py SHOP_DIR [--memory-limit 2GB] [--summary merge]
        [--write table]

where SHOP_DIR holds ``transactions.parquet`` from ``patron simulate``. Prints the seconds of
each stage; run it under ``/usr/bin/time -v`` for the peak memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from patron.value.models import BetaGeoModel, GammaGammaModel, RFMData, SpendData

MERGE = """
SELECT customer_id, count(*) - 1 AS x,
       date_diff('day', min(day), max(day)) AS r, date_diff('day', min(day), {end}) + 1 AS t,
       CASE WHEN count(*) > 1 THEN (sum(amount) - arg_min(amount, day)) / (count(*) - 1)
            ELSE 0 END AS m
FROM (SELECT customer_id, "timestamp"::DATE AS day, sum(amount) AS amount
      FROM read_parquet('{path}') GROUP BY ALL HAVING bool_or(amount >= 0))
GROUP BY customer_id
"""
NO_MERGE = """
SELECT customer_id, count(*) - 1 AS x,
       date_diff('day', min("timestamp")::DATE, max("timestamp")::DATE) AS r,
       date_diff('day', min("timestamp")::DATE, {end}) + 1 AS t,
       CASE WHEN count(*) > 1 THEN (sum(amount) - arg_min(amount, "timestamp")) / (count(*) - 1)
            ELSE 0 END AS m
FROM read_parquet('{path}') WHERE amount >= 0
GROUP BY customer_id
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shop", type=Path)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--summary", choices=("merge", "no-merge"), default="merge")
    parser.add_argument("--write", choices=("table", "parquet"), default="table")
    ns = parser.parse_args()
    path = ns.shop / "transactions.parquet"
    with tempfile.TemporaryDirectory(prefix="patron-lean-") as tmp:
        con = duckdb.connect(
            str(Path(tmp) / "lean.duckdb"), config={"memory_limit": ns.memory_limit}
        )
        times: dict[str, float] = {}
        start = time.perf_counter()
        end = con.sql(f"SELECT max(\"timestamp\")::DATE FROM read_parquet('{path}')").fetchone()
        end_sql = f"DATE '{end[0]}'" if end else "current_date"
        query = (MERGE if ns.summary == "merge" else NO_MERGE).format(path=path, end=end_sql)
        summary = con.sql(query).fetch_arrow_table()
        times["summary (SQL, to Arrow)"] = time.perf_counter() - start

        mark = time.perf_counter()
        xi, ri, ti = (summary[c].to_numpy().astype(np.int64) for c in ("x", "r", "t"))
        base = int(ti.max()) + 2
        _, first, inverse, counts = np.unique(
            (xi * base + ri) * base + ti, return_index=True, return_inverse=True, return_counts=True
        )
        x, r, t = xi.astype(float), ri / 7.0, ti / 7.0
        m = summary["m"].to_numpy().astype(float)
        rows = (x[first], r[first], t[first])
        times["compress"] = time.perf_counter() - mark
        mark = time.perf_counter()
        bgnbd = BetaGeoModel().fit(RFMData.from_arrays(*rows, counts))
        times["fit BG/NBD"] = time.perf_counter() - mark
        mark = time.perf_counter()
        # Gamma-Gamma on the unique (frequency, mean spend) pairs of repeat customers.
        rep = (x > 0) & (m > 0)
        xs, ms = x[rep], m[rep]
        order = np.lexsort((ms, xs))
        xs, ms = xs[order], ms[order]
        starts = np.flatnonzero(np.r_[True, (np.diff(xs) != 0) | (np.diff(ms) != 0)])
        n_pair = np.diff(np.r_[starts, len(xs)])
        spend = GammaGammaModel().fit(SpendData.from_arrays(xs[starts], ms[starts], n_pair))
        times["fit Gamma-Gamma"] = time.perf_counter() - mark

        mark = time.perf_counter()
        p_alive = bgnbd.p_alive(*rows)[inverse]
        purchases = bgnbd.conditional_expected_purchases(52.0, *rows)[inverse]
        spend_each = spend.expected_spend(x, m)
        scored = pa.table(
            {
                "customer_id": summary["customer_id"],
                "frequency": x,
                "recency": r,
                "T": t,
                "monetary_value": m,
                "p_alive": p_alive,
                "expected_purchases": purchases,
                "expected_spend": spend_each,
                "clv": purchases * spend_each,
            }
        )
        times["score (numpy)"] = time.perf_counter() - mark

        mark = time.perf_counter()
        con.register("scored", scored)
        if ns.write == "table":
            con.sql("CREATE TABLE customer_value AS SELECT * FROM scored")
            con.sql("CHECKPOINT")
        else:
            con.sql(f"COPY scored TO '{Path(tmp) / 'customer_value.parquet'}' (FORMAT parquet)")
        times[f"write customer_value ({ns.write})"] = time.perf_counter() - mark
        times["total"] = time.perf_counter() - start
        con.close()
    print(f"lean floor, summary {ns.summary}, {len(x):,} customers, {len(counts):,} unique rows")
    for label, secs in times.items():
        print(f"| {label} | {secs:.2f} |")


if __name__ == "__main__":
    main()
