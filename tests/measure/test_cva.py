"""Customer value analysis: importance recovered on simulated surveys, fix-first order, map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest

from patron.cli._app import main
from patron.data.responses import load_responses
from patron.data.simulate_survey import SurveyParams, draw_survey, simulate_survey, true_fix_order
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.measure.cva import (
    _moments,
    _wide,
    customer_value_analysis,
    importance_from_moments,
    regression_moments,
)


def test_derived_importance_recovers_true_weights_in_200_surveys() -> None:
    params = SurveyParams()
    truth = np.array(params.weights)
    hits = np.zeros(len(truth))
    for seed in range(200):
        drawn = draw_survey(np.random.default_rng(seed), params)
        fit = importance_from_moments(regression_moments(drawn["ratings"], drawn["overall"]))
        low, high = np.array(fit["importance_low"]), np.array(fit["importance_high"])
        hits += (low <= truth) & (truth <= high)
    share = hits / 200
    assert (share >= 0.90).all(), dict(zip(params.attributes, share, strict=True))


def test_engine_moments_equal_numpy_moments(wh: Warehouse, tmp_path: Path) -> None:
    shop = simulate_survey(
        tmp_path / "s", seed=4, waves=("w1",), params=SurveyParams(respondents=50)
    )
    load_responses(wh, [str(shop.responses)])
    attributes = sorted(SurveyParams().attributes)
    engine = _moments(_wide(wh.table("responses"), wh.table("response_ratings"), attributes), 5)
    table = pcsv.read_csv(shop.responses)
    x = np.column_stack([table.column(f"rating_{a}").to_numpy() for a in attributes])
    here = regression_moments(x.astype(float), table.column("overall").to_numpy().astype(float))
    assert engine["n"] == here["n"] == 150
    np.testing.assert_allclose(engine["xtx"], here["xtx"])
    np.testing.assert_allclose(engine["xty"], here["xty"])
    assert engine["yty"] == pytest.approx(here["yty"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fix_first_ranks_as_the_truth(wh: Warehouse, tmp_path: Path, seed: int) -> None:
    params = SurveyParams()
    shop = simulate_survey(tmp_path / "s", seed=seed, waves=("w1",), params=params)
    load_responses(wh, [str(shop.responses)])
    result = customer_value_analysis(wh)
    assert [f["attribute"] for f in result.fix_first] == true_fix_order(params)
    out = result.to_dict()
    row = next(a for a in out["attributes"] if a["attribute"] == "quality")
    assert {"attribute", "importance", "importance_low", "importance_high", "ours"} <= set(row)
    assert row["competitors"]["Rival A"]["gap_high"] < 0
    assert out["importance_method"] == "derived"
    assert out["value_map"]["available"]
    assert out["value_map"]["cost_attributes"] == ["price"]
    json.dumps(out, allow_nan=False)


def test_waves_segments_stated_and_errors(wh: Warehouse, tmp_path: Path) -> None:
    shop = simulate_survey(tmp_path / "s", seed=5)
    load_responses(wh, [str(shop.responses)])
    result = customer_value_analysis(wh)
    assert result.wave == "2025-09-01"
    delivery = next(c for c in result.changes["attributes"] if c["attribute"] == "delivery")
    assert delivery["significant"]
    assert delivery["ours_change_low"] > 0
    first = customer_value_analysis(wh, wave="2025-03-01")
    assert first.changes["previous_wave"] is None
    stated = customer_value_analysis(wh, importance="stated")
    order = [a["attribute"] for a in sorted(stated.attributes, key=lambda a: -a["importance"])]
    assert order[0] == "quality"
    assert customer_value_analysis(wh, segment="business").segment == "business"
    by = result.by_segment
    assert by["major_competitor"] == "Rival A"  # the best overall rating in the simulation
    quality = {
        s: next(r for r in rows if r["attribute"] == "quality")
        for s, rows in by["segments"].items()
    }
    assert set(quality) == {"private", "business"}
    assert all(q["gap_high"] < 0 for q in quality.values())  # behind in both segments
    with pytest.raises(UsageError, match="--wave 'x': no such wave"):
        customer_value_analysis(wh, wave="x")
    with pytest.raises(DataError, match="check --segment"):
        customer_value_analysis(wh, segment="nobody")
    with pytest.raises(UsageError, match="--cost"):
        customer_value_analysis(wh, cost_attributes=["fees"])


def test_too_few_responses_say_so(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "wave,brand,overall,rating_a,rating_b\n"
        "w,ours,3,3,4\nw,ours,4,4,4\nw,rival,2,2,3\nw,rival,5,5,4\n"
    )
    load_responses(wh, [str(path)])
    with pytest.raises(DataError, match="needs at least 5"):
        customer_value_analysis(wh)
    with pytest.raises(DataError, match="No stated importance"):
        customer_value_analysis(wh, importance="stated")


def test_cli_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    shop = simulate_survey(tmp_path / "s", seed=6)
    assert main(["load", "responses", str(shop.responses), "-w", url]) == 0
    capsys.readouterr()
    assert main(["cva", "--json", "-w", url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["attributes"][0]["attribute"] == "delivery"
    assert main(["cva", "-w", url, "--wave", "2025-03-01"]) == 0
    assert "Fix quality first" in capsys.readouterr().out
    report = tmp_path / "cva.html"
    assert main(["cva", "report", "--out", str(report), "-w", url]) == 0
    html = report.read_text()
    assert "Customer value analysis" in html
    assert "Each segment against Rival A" in html
    assert main(["cva", "--wave", "nope", "-w", url]) == 2
