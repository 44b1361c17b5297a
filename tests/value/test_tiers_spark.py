"""Tiers, snapshots, experiments and lift analysis on PySpark give the DuckDB answers."""

from __future__ import annotations

from datetime import date

import pytest

from patron.data.warehouse import Warehouse
from patron.measure import analyze_table, create_experiment, parse_arms
from patron.value.clv import ValueSettings
from patron.value.history import prune_snapshots, score_into_warehouse, snapshot_dates
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, summary_from_warehouse
from tests.value.conftest import cdnow_sample_on, load_cdnow_sample

pytestmark = pytest.mark.spark


def _tiered(warehouse: Warehouse) -> dict[str, object]:
    with summary_from_warehouse(warehouse, SummarySpec("week", date(1997, 9, 30))) as source:
        fit = fit_purchase_model(source, "bgnbd")
        _, tiers = score_into_warehouse(source, fit, ValueSettings(12, 0.1))
    rows = warehouse.table("customer_value").select("customer_id", "tier", "rfm").execute()
    return {
        "tiers": dict(zip(rows.customer_id, rows.tier, strict=True)),
        "rfm": dict(zip(rows.customer_id, rows.rfm, strict=True)),
        "equity": [t["equity"] for t in tiers.tiers],
        "mvc": tiers.thresholds.mvc_min_clv,
    }


def test_tiers_and_experiments_on_spark(spark_wh: Warehouse, wh: Warehouse) -> None:
    cdnow_sample_on(spark_wh)
    # The view first: PostgreSQL refuses to drop a table a view reads.
    for name in ("value_snapshots", "customer_value", "value_snapshot_history", "value_runs"):
        spark_wh.drop(name)
    load_cdnow_sample(wh)
    spark, duck = _tiered(spark_wh), _tiered(wh)
    assert spark["tiers"] == duck["tiers"]
    assert spark["rfm"] == duck["rfm"]
    assert spark["equity"] == pytest.approx(duck["equity"], rel=1e-7)
    assert spark["mvc"] == pytest.approx(duck["mvc"], rel=1e-7)
    # Scoring the same date again replaces the snapshot (no DELETE on Spark: rewritten).
    _tiered(spark_wh)
    assert snapshot_dates(spark_wh) == [date(1998, 6, 30)]  # dated by the last day observed
    assert int(spark_wh.table("value_snapshots").count().execute()) == 2357
    # An earlier snapshot, then pruned (no DELETE on Spark: the table is rewritten).
    spec = SummarySpec("week", date(1997, 9, 30), date(1998, 3, 31))
    with summary_from_warehouse(spark_wh, spec) as source:
        score_into_warehouse(source, fit_purchase_model(source, "bgnbd"), ValueSettings(12, 0.1))
    assert snapshot_dates(spark_wh) == [date(1998, 3, 31), date(1998, 6, 30)]
    # customer_value now holds the earlier run: its snapshot is not pruned.
    assert prune_snapshots(spark_wh, keep_last=1) == ([], [date(1998, 3, 31), date(1998, 6, 30)])
    # Scored at the later date again, the earlier run moves to the history and can go.
    _tiered(spark_wh)
    assert snapshot_dates(spark_wh) == [date(1998, 3, 31), date(1998, 6, 30)]
    assert prune_snapshots(spark_wh, keep_last=1) == ([date(1998, 3, 31)], [date(1998, 6, 30)])
    assert snapshot_dates(spark_wh) == [date(1998, 6, 30)]
    assert int(spark_wh.table("value_snapshots").count().execute()) == 2357
    # Assignment and analysis: the same arms and lifts on both engines.
    # The audience: every customer with transactions (other Spark tests may have left a
    # small customers table in the session's warehouse).
    spark_wh.drop("customers")
    for w in (spark_wh, wh):
        w.drop("experiments")
        w.drop("experiment_assignments")
        create_experiment(w, "e", parse_arms("t:0.7,control:0.3"), stratify=["tier"], salt="s")
    arms = []
    for w in (spark_wh, wh):
        a = w.table("experiment_assignments").select("customer_id", "arm").execute()
        arms.append(dict(zip(a.customer_id, a.arm, strict=True)))
    assert arms[0] == arms[1]
    results = []
    for w in (spark_wh, wh):
        a = w.table("experiment_assignments")
        v = w.table("customer_value")
        values = v.select(_c=v.customer_id, clv=v.clv)
        j = a.inner_join(values, a.customer_id == values._c)
        res = analyze_table(j, arm="arm", control="control", metrics=["clv"], stratum="stratum")
        results.append(res.results[0])
    # The CLVs themselves agree to ~1e-9 (each engine's parallel sums feed the fit in their own
    # order); a lift, a difference of two means, can lose a digit more: 1.4e-9 was seen.
    assert results[0]["lift"] == pytest.approx(results[1]["lift"], rel=1e-7)
    assert results[0]["ci_low"] == pytest.approx(results[1]["ci_low"], rel=1e-7)
