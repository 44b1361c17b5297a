"""B2B potential: weights and ratings files checked, scores on hand-made customers, portfolio."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from patron.data.warehouse import Warehouse
from patron.errors import DataError
from patron.measure.b2b import b2b_potential, read_factor_ratings, read_weights
from tests.conftest import snapshot

WEIGHTS = "monetary: 0.5\ngrowth: 0.3\ncompany_size: 0.2\n"


def _shop(wh: Warehouse, *, sow: bool = False) -> None:
    ids = ["B1", "B2", "B3", "B4", "P1"]
    table = {
        "customer_id": ids,
        "customer_type": ["business", "Reseller", "business", "b2b", "end_user"],
    }
    if sow:
        table["share_of_wallet"] = ["0.25", "1", "", "0.5", ""]
    wh.create_table("customers", pa.table(table))
    wh.create_table(
        "customer_value",
        pa.table({"customer_id": ids, "clv": [100.0, 400.0, 200.0, 300.0, 999.0]}),
    )


def _files(tmp_path: Path, weights: str = WEIGHTS, ratings: str | None = None) -> tuple[Path, Path]:
    w = tmp_path / "weights.yaml"
    w.write_text(weights)
    r = tmp_path / "ratings.csv"
    r.write_text(
        ratings or "customer_id,company_size,growth\nB1,5,5\nB2,1,1\nB3,3,5\nB4,1,3\nP1,5,5\n"
    )
    return w, r


def test_scores_by_hand(wh: Warehouse, tmp_path: Path) -> None:
    _shop(wh)
    w, r = _files(tmp_path)
    result = b2b_potential(wh, read_factor_ratings(r), read_weights(w))
    rows = {row["customer_id"]: row for row in wh.table("b2b_potential").to_pyarrow().to_pylist()}
    assert set(rows) == {"B1", "B2", "B3", "B4"}  # P1 is an end user
    # monetary percent rank among B1..B4 by CLV (100, 400, 200, 300): 0, 1, 1/3, 2/3
    b1 = 0.5 * 0.0 + 0.3 * 1.0 + 0.2 * 1.0
    b2 = 0.5 * 1.0 + 0.3 * 0.0 + 0.2 * 0.0
    b3 = 0.5 * (1 / 3) + 0.3 * 1.0 + 0.2 * 0.5
    b4 = 0.5 * (2 / 3) + 0.3 * 0.5 + 0.2 * 0.0
    assert rows["B1"]["potential_score"] == pytest.approx(b1)
    assert rows["B2"]["potential_score"] == pytest.approx(b2)
    assert rows["B3"]["potential_score"] == pytest.approx(b3)
    assert rows["B4"]["potential_score"] == pytest.approx(b4)
    # medians: CLV 250, potential median of (0.5, 0.5, 0.5667, 0.4833) = 0.5
    assert result.medians == {"clv": 250.0, "potential_score": pytest.approx(0.5)}
    assert rows["B1"]["quadrant"] == "grow"
    assert rows["B2"]["quadrant"] == "develop"
    assert rows["B3"]["quadrant"] == "grow"
    assert rows["B4"]["quadrant"] == "maintain"
    assert result.quadrants == {"develop": 1, "grow": 2, "maintain": 1, "serve efficiently": 0}
    assert result.top[0]["customer_id"] == "B3"
    assert any("not scored business customers" in n for n in result.notes)


def test_share_of_wallet_makes_monetary_the_whole_wallet(wh: Warehouse, tmp_path: Path) -> None:
    _shop(wh, sow=True)
    w, r = _files(tmp_path)
    result = b2b_potential(wh, read_factor_ratings(r), read_weights(w))
    rows = {row["customer_id"]: row for row in wh.table("b2b_potential").to_pyarrow().to_pylist()}
    assert rows["B1"]["monetary_value"] == pytest.approx(400.0)
    assert rows["B3"]["monetary_value"] == pytest.approx(200.0)  # share unknown: CLV
    assert "whole wallet" in result.monetary_basis


@pytest.mark.parametrize(
    ("weights", "ratings", "message"),
    [
        ("monetary: 0.5\ngrowth: 0.3\n", None, "the weights sum to 0.8, not 1"),
        ("monetary: 0.5\nsize: 0.5\n", None, "unknown factor 'size' (field size)"),
        ("monetary: 1.2\ngrowth: -0.2\n", None, "field growth: weight -0.2 is negative"),
        ("monetary: one\n", None, "field monetary: weight 'one' is not a number"),
        (WEIGHTS, "customer_id,growth\nB1,7\n", "line 2, field growth: 7 is outside the scale"),
        (WEIGHTS, "customer_id,size\nB1,3\n", "unknown factor column 'size' (field size)"),
        (WEIGHTS, "customer_id,growth\nB1,3\nB1,4\n", "line 3: customer 'B1' is rated twice"),
    ],
)
def test_bad_files_name_the_field_and_write_nothing(
    wh: Warehouse, tmp_path: Path, weights: str, ratings: str | None, message: str
) -> None:
    _shop(wh)
    before = snapshot(wh)
    w, r = _files(tmp_path, weights, ratings)
    with pytest.raises(DataError) as info:
        b2b_potential(wh, read_factor_ratings(r), read_weights(w))
    assert message in str(info.value)
    assert snapshot(wh) == before


def test_no_business_customers_says_so(wh: Warehouse, tmp_path: Path) -> None:
    _shop(wh)
    w, r = _files(tmp_path)
    with pytest.raises(DataError, match="No scored business customers"):
        b2b_potential(wh, read_factor_ratings(r), read_weights(w), business_types=("gov",))
