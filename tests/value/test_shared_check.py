"""The holdout check's summary comes from the scoring summary's pass (issue 20, item 11).

``patron value score`` grades its model on the last 13 weeks; the calibration summary that
needs is computed in the same grouping as the scoring summary. It must be the summary a
separate pass gives, and the check the same check.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from patron.data.loader import load
from patron.data.simulate import simulate_shop
from patron.data.warehouse import Warehouse
from patron.value.summary import SummarySpec
from patron.value.validation import HOLDOUT_WEEKS, check_model, fit_and_check
from patron.value.workflow import summary_from_warehouse
from tests.value.conftest import load_cdnow_sample


def _shop_with_unknown_costs(wh: Warehouse, tmp_path: Path) -> None:
    """A simulated shop with costs, one row in ten without one (margins then tracked)."""
    simulate_shop(1500, tmp_path / "shop", seed=3)
    path = tmp_path / "tx.parquet"
    source = tmp_path / "shop" / "transactions.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CASE WHEN hash(order_id, product_id) % 10 = 0 THEN NULL "
        f"ELSE cost END AS cost) FROM '{source}') TO '{path}' (FORMAT parquet)"
    )
    load(wh, "transactions", [str(path)])


def _same(a: pa.Table, b: pa.Table) -> None:
    """Equal tables; sums may differ in the last bits (the engine adds in parallel)."""
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = (
            a.column(name).to_numpy(zero_copy_only=False),
            b.column(name).to_numpy(zero_copy_only=False),
        )
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9, err_msg=name)
        else:
            assert x.tolist() == y.tolist(), name


@pytest.mark.parametrize("data", ["cdnow", "shop with unknown costs"])
def test_the_check_summary_equals_a_separate_pass(wh: Warehouse, tmp_path: Path, data: str) -> None:
    if data == "cdnow":
        load_cdnow_sample(wh)
    else:
        _shop_with_unknown_costs(wh, tmp_path)
    with summary_from_warehouse(wh, SummarySpec("week"), check_weeks=HOLDOUT_WEEKS) as scored:
        obs = scored.spec.observation_end if scored.spec else None
        assert obs is not None
        cal = obs - timedelta(weeks=HOLDOUT_WEEKS)
        shared = scored.check_source()
        assert shared is not None
        with summary_from_warehouse(wh, SummarySpec("week", cal, obs)) as separate:
            # The check grades purchases: its summary's purchase columns are a separate
            # pass's, its money columns are left null (never summed for it).
            order = "customer_id"
            money = ["row_key", "monetary_value", "margin_value", "holdout_spend"]
            _same(
                shared.table.order_by(order).to_pyarrow().drop_columns(money),
                separate.table.order_by(order).to_pyarrow().drop_columns(money),
            )
            nulls = shared.table.aggregate(
                **{f"{c}_set": shared.table[c].count() for c in money[1:]}
            ).to_pyarrow()
            assert nulls.to_pylist() == [{f"{c}_set": 0 for c in money[1:]}]
            assert shared.info | {"key_base": 0} == separate.info | {"key_base": 0}
            for name in ("frequency", "recency_days", "T_days", "counts"):
                np.testing.assert_array_equal(
                    getattr(shared.compressed, name), getattr(separate.compressed, name)
                )
        # The scoring summary itself is what it is without the check's columns.
        with summary_from_warehouse(wh, SummarySpec("week")) as plain:
            _same(
                scored.table.order_by("customer_id").to_pyarrow(),
                plain.table.order_by("customer_id").to_pyarrow(),
            )
        together = check_model(wh, "week", obs, "bgnbd", scored=scored).to_dict()
        alone = check_model(wh, "week", obs, "bgnbd").to_dict()
        for key in ("model", "calibration_end", "holdout_weeks"):
            assert together[key] == alone[key]
        assert together["grade"]["grade"] == alone["grade"]["grade"]
        assert together["totals"] == pytest.approx(alone["totals"], rel=1e-9)
        _, checked = fit_and_check(scored, "bgnbd")  # what `patron value score` runs
        assert checked is not None
        assert checked.to_dict()["totals"] == pytest.approx(alone["totals"], rel=1e-9)
    assert [t for t in wh.list_tables() if t.startswith("_patron_")] == ["_patron_loads"]
