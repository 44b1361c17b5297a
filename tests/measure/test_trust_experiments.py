"""Experiments say what their numbers are (issue 20, item 8).

Several arms: the sentence quotes the adjusted p and interval; CUPED means are labelled;
per-stratum intervals of 0/1 metrics stay within [-1, 1] and tiny strata are marked; a window
that starts before the data the audience was chosen on is warned about; margin without costs
says "no cost data"; an uplift ranking no better than random writes no target list unless
forced.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ibis
import numpy as np
import pyarrow.parquet as pq
import pytest
from statsmodels.stats.multitest import multipletests

from patron.cli import main
from patron.data import simulate_shop
from patron.measure import analyze_table


def _three_arms() -> ibis.Table:
    rng = np.random.default_rng(7)
    n = 3000
    arm = rng.choice(["control", "a", "b"], n)
    y = rng.normal(10, 5, n) + np.where(arm == "a", 0.45, 0.0) + np.where(arm == "b", 0.2, 0.0)
    x = y + rng.normal(0, 3, n)  # a pre-period covariate correlated with y
    return ibis.memtable({"arm": arm, "spend": y, "pre": x})


def test_several_arms_quote_the_adjusted_p_and_interval() -> None:
    result = analyze_table(_three_arms(), arm="arm", control="control", metrics=["spend"])
    rows = {r["arm"]: r for r in result.results}
    holm = multipletests([rows["a"]["p_value"], rows["b"]["p_value"]], method="holm")[1]
    for r, p in zip((rows["a"], rows["b"]), holm, strict=True):
        assert r["p_value_adjusted"] == pytest.approx(p)
        assert f"Holm-adjusted p = {r['p_value_adjusted']:.2g}" in r["summary"]
        low, high = r["ci_low_adjusted"], r["ci_high_adjusted"]
        assert (
            f"95% CI adjusted for 2 arms (Bonferroni) {low:+.3g} to {high:+.3g}" in (r["summary"])
        )
    # Holm doubles the smaller p: the sentence quotes that, not the unadjusted one.
    first = min(rows.values(), key=lambda r: r["p_value"])
    assert first["p_value_adjusted"] == pytest.approx(2 * first["p_value"])
    assert f"; p = {first['p_value']:.2g})" not in first["summary"]
    # One treated arm: plain p and interval, as before.
    two = _three_arms()
    one = analyze_table(two.filter(two.arm != "b"), arm="arm", control="control", metrics=["spend"])
    assert "Holm" not in one.results[0]["summary"]


def test_cuped_means_are_labelled_and_the_observed_ones_kept() -> None:
    t = _three_arms()
    result = analyze_table(t, arm="arm", control="control", metrics=["spend"], pre="pre")
    r = result.results[0]
    assert r["means"] == "CUPED-adjusted"
    assert "(CUPED-adjusted means)" in r["summary"]
    observed = t.filter(t.arm == "control").spend.mean().execute()
    assert r["control_mean_observed"] == pytest.approx(observed)
    assert r["control_mean"] != pytest.approx(observed)
    assert any("the means shown are adjusted" in n for n in result.notes)


def test_stratum_intervals_for_rates_are_bounded_and_tiny_strata_marked() -> None:
    # Stratum "tiny": three customers (a 0/1 metric), where Welch gave -1.5 .. 2 before.
    arm = ["t"] * 400 + ["c"] * 400 + ["t", "t", "c"]
    stratum = ["big"] * 800 + ["tiny"] * 3
    rng = np.random.default_rng(1)
    y = [*rng.integers(0, 2, 800).tolist(), 1, 0, 0]
    table = ibis.memtable({"arm": arm, "s": stratum, "buy": y})
    result = analyze_table(table, arm="arm", control="c", metrics=["buy"], stratum="s")
    rows = {r["stratum"]: r for r in result.by_stratum}
    for r in rows.values():
        assert -1 <= r["ci_low"] <= r["lift"] <= r["ci_high"] <= 1
    assert rows["tiny"]["too_small"] is True
    assert rows["tiny"]["note"].startswith("too small to tell")
    assert rows["big"]["too_small"] is False
    assert any("too small to tell" in n for n in result.notes)
    assert math.isfinite(result.results[0]["post_stratified_ci_low"])


@pytest.fixture(scope="module")
def shop_without_costs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A simulated shop loaded without product costs, scored (customer_value as of its end)."""
    out = tmp_path_factory.mktemp("nocost")
    simulate_shop(3000, out / "shop", seed=8)
    tx = pq.read_table(out / "shop" / "transactions.parquet").drop_columns(["cost"])
    pq.write_table(tx, out / "tx.parquet")
    url = f"duckdb://{out / 'w.duckdb'}"
    assert main(["load", "transactions", str(out / "tx.parquet"), "-w", url]) == 0
    assert main(["value", "score", "-w", url]) == 0
    return url


def test_a_window_before_the_audience_data_is_warned_about(
    shop_without_costs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shop_without_costs
    args = ["--arms", "treat:0.5,control:0.5", "--audience", "p_alive > 0.5", "-w", url]
    capsys.readouterr()
    assert main(["experiment", "create", "early", *args, "--start", "2025-10-01"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "warning: The window starts on 2025-10-01, on or before 2025-12-2" in text
    assert "which biases the lift" in text
    assert main(["experiment", "create", "later", *args, "--start", "2026-01-05", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []


def test_margin_without_costs_says_no_cost_data(
    shop_without_costs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = shop_without_costs
    args = ["--arms", "treat:0.5,control:0.5", "--start", "2025-10-01", "--salt", "s1", "-w", url]
    assert main(["experiment", "create", "m", *args]) == 0
    capsys.readouterr()
    assert main(["experiment", "analyze", "m", "--metric", "revenue,margin", "-w", url]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text.lower()
    assert "margin: no cost data" in text
    assert main(["experiment", "analyze", "m", "--metric", "margin", "-w", url]) == 65
    assert "margin: no cost data" in capsys.readouterr().err


def test_uplift_no_better_than_random_writes_no_list_unless_forced(
    shop_without_costs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No campaign effect at all: the arms differ by chance only.
    url = shop_without_costs
    args = ["--arms", "treat:0.5,control:0.5", "--start", "2025-10-01", "--salt", "s1", "-w", url]
    assert main(["experiment", "create", "u", *args]) == 0
    targets = tmp_path / "targets.csv"
    up = ["experiment", "uplift", "u", "--outcome", "revenue", "--out", str(targets), "-w", url]
    capsys.readouterr()
    assert main([*up, "--json"]) == 65
    err = " ".join(capsys.readouterr().err.split())
    assert "The uplift ranking is no better than random" in err
    assert "no target list was written" in err
    assert not targets.exists()
    assert main([*up, "--force"]) == 0
    assert "(--force: its ranking is no better than random)" in capsys.readouterr().out
    assert targets.exists()
