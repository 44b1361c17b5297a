"""Summaries and scoring on PySpark give the DuckDB answers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from patron.data.warehouse import Warehouse
from patron.value.clv import ValueSettings
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, score_customers, summary_from_warehouse
from tests.value.conftest import cdnow_sample_on, load_cdnow_sample

pytestmark = pytest.mark.spark


def _scores(warehouse: Warehouse, model: str) -> tuple[object, dict[str, float]]:
    spec = SummarySpec("week", date(1997, 9, 30), discrete=model == "bgbb")
    with summary_from_warehouse(warehouse, spec) as source:
        fit = fit_purchase_model(source, model)
        result, scored = score_customers(source, fit, ValueSettings(12, 0.1))
        df = scored.execute().sort_values("customer_id").reset_index(drop=True)
        holdout = float(source.table.holdout_frequency.sum().execute())
    return df, {"equity": result.equity, "low": result.equity_low, "holdout": holdout} | dict(
        fit.model.params_
    )


@pytest.mark.parametrize("model", ["bgnbd", "bgbb"])
def test_spark_scores_equal_duckdb(spark_wh: Warehouse, wh: Warehouse, model: str) -> None:
    cdnow_sample_on(spark_wh)
    load_cdnow_sample(wh)
    spark_df, spark_info = _scores(spark_wh, model)
    duck_df, duck_info = _scores(wh, model)
    # Sums run in another order on Spark, and interval gradients are finite differences:
    # equal up to floating-point rounding.
    assert spark_info == pytest.approx(duck_info, rel=1e-7)
    assert spark_df.customer_id.tolist() == duck_df.customer_id.tolist()
    for col in ("frequency", "recency", "T", "p_alive", "clv", "clv_low", "clv_high"):
        np.testing.assert_allclose(
            spark_df[col].to_numpy(float), duck_df[col].to_numpy(float), rtol=1e-6
        )
    assert [t for t in spark_wh.list_tables() if t.startswith("_patron_")] == ["_patron_loads"]
