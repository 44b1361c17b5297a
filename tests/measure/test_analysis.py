"""Lift analysis, power and uplift: independent checks, coverage by simulation, Hillstrom."""

from __future__ import annotations

import json
import math

import ibis
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from patron.cli import main
from patron.errors import DataError, UsageError
from patron.measure import analyze_table, fit_uplift, plan_experiment, qini_curve, srm_check
from tests.conftest import shared_file


def _table(arm: list[str], **cols: object) -> ibis.Table:
    return ibis.memtable({"arm": arm, **cols})


def _wilson(c: float, n: float, z: float) -> tuple[float, float]:
    p = c / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_intervals_match_independent_computations() -> None:
    rng = np.random.default_rng(3)
    n1, n0 = 3000, 2000
    conv = np.concatenate([rng.random(n1) < 0.12, rng.random(n0) < 0.10]).astype(int)
    spend = np.concatenate([rng.gamma(0.5, 40, n1), rng.gamma(0.5, 36, n0)])
    arm = ["t"] * n1 + ["c"] * n0
    result = analyze_table(
        _table(arm, conv=conv.tolist(), spend=spend.tolist()),
        arm="arm",
        control="c",
        metrics=["conv", "spend"],
    )
    conv_row, spend_row = result.results
    # Newcombe's hybrid score interval, from two Wilson intervals written out here.
    z = stats.norm.ppf(0.975)
    c1, c0 = conv[:n1].sum(), conv[n1:].sum()
    l1, u1 = _wilson(c1, n1, z)
    l0, u0 = _wilson(c0, n0, z)
    p1, p0 = c1 / n1, c0 / n0
    d = p1 - p0
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    assert conv_row["kind"] == "proportion"
    assert conv_row["lift"] == pytest.approx(d, rel=1e-12)
    assert conv_row["ci_low"] == pytest.approx(low, rel=1e-9)
    assert conv_row["ci_high"] == pytest.approx(high, rel=1e-9)
    # Welch: scipy's own test and interval on the raw values.
    welch = stats.ttest_ind(spend[:n1], spend[n1:], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert spend_row["kind"] == "mean"
    assert spend_row["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert spend_row["ci_low"] == pytest.approx(ci.low, rel=1e-9)
    assert spend_row["ci_high"] == pytest.approx(ci.high, rel=1e-9)


def test_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(11)
    covered = {"conv": 0, "spend": 0}
    runs = 300
    for _ in range(runs):
        n = 800
        conv = np.concatenate([rng.random(n) < 0.08, rng.random(n) < 0.05]).astype(int)
        spend = np.concatenate([rng.exponential(12.0, n), rng.exponential(10.0, n)])
        res = analyze_table(
            _table(["t"] * n + ["c"] * n, conv=conv.tolist(), spend=spend.tolist()),
            arm="arm",
            control="c",
            metrics=["conv", "spend"],
        )
        for row, truth in zip(res.results, (0.03, 2.0), strict=True):
            covered[row["metric"]] += row["ci_low"] <= truth <= row["ci_high"]
    for metric, hits in covered.items():
        # 95% nominal; 300 runs give a binomial s.e. of 1.3 points.
        assert 0.91 <= hits / runs <= 0.985, (metric, hits)


def test_cuped_reduces_variance_without_bias() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    pre = rng.gamma(2.0, 10.0, 2 * n)
    effect = np.r_[np.full(n, 1.5), np.zeros(n)]
    post = 0.8 * pre + rng.normal(0, 5, 2 * n) + effect
    res = analyze_table(
        _table(["t"] * n + ["c"] * n, y=post.tolist(), x=pre.tolist()),
        arm="arm",
        control="c",
        metrics=["y"],
        pre="x",
    )
    row = res.results[0]
    plain = analyze_table(
        _table(["t"] * n + ["c"] * n, y=post.tolist()), arm="arm", control="c", metrics=["y"]
    ).results[0]
    assert row["ci_low"] <= 1.5 <= row["ci_high"]
    assert row["variance_reduction"] > 0.5
    assert (row["ci_high"] - row["ci_low"]) < 0.7 * (plain["ci_high"] - plain["ci_low"])


def test_sample_ratio_mismatch_is_detected() -> None:
    fair = srm_check({"t": 50_080, "c": 49_920}, {"t": 0.5, "c": 0.5})
    assert not fair["alarm"]
    skewed = srm_check({"t": 50_800, "c": 49_200}, {"t": 0.5, "c": 0.5})
    assert skewed["alarm"]
    assert skewed["message"].startswith("SAMPLE RATIO MISMATCH")
    # Through the analysis: a 90/10 design analysed with its shares is fine, 50/50 is not.
    arm = ["t"] * 9000 + ["c"] * 1000
    table = _table(arm, y=[0] * 10_000)
    ok = analyze_table(table, arm="arm", control="c", metrics=["y"], shares={"t": 0.9, "c": 0.1})
    assert not ok.srm["alarm"]
    assert analyze_table(table, arm="arm", control="c", metrics=["y"]).srm["alarm"]


def test_power_matches_statsmodels_and_simulation() -> None:
    plan = plan_experiment(0.05, mde=0.01, holdout=0.2)
    h = abs(proportion_effectsize(0.06, 0.05))
    n1 = NormalIndPower().solve_power(h, nobs1=None, alpha=0.05, power=0.8, ratio=0.25)
    assert plan.treated == math.ceil(n1)
    assert plan.control == math.ceil(n1 * 0.25)
    means = plan_experiment(10.0, mde=1.0, sd=20.0, holdout=0.5)
    n_t = TTestIndPower().solve_power(0.05, nobs1=None, alpha=0.05, power=0.8, ratio=1.0)
    assert means.treated == math.ceil(n_t)
    # The detectable effect for the planned audience is the effect we planned for.
    back = plan_experiment(0.05, audience=plan.total, holdout=0.2)
    assert back.mde == pytest.approx(0.01, rel=0.01)
    # Simulated experiments of the planned size reach about 80% power.
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(300):
        ct = rng.binomial(plan.treated, 0.06)
        cc = rng.binomial(plan.control, 0.05)
        p1, p0 = ct / plan.treated, cc / plan.control
        pool = (ct + cc) / (plan.treated + plan.control)
        se = math.sqrt(pool * (1 - pool) * (1 / plan.treated + 1 / plan.control))
        hits += abs(p1 - p0) / se > 1.96
    assert 0.74 <= hits / 300 <= 0.86
    with pytest.raises(UsageError, match="Give either --mde"):
        plan_experiment(0.05)
    with pytest.raises(UsageError, match="--holdout must be a share between 0 and 1"):
        plan_experiment(0.05, mde=0.01, holdout=1.2)


def test_qini_curve_against_a_brute_force_count() -> None:
    rng = np.random.default_rng(8)
    n = 200
    score = rng.random(n)
    t = rng.random(n) < 0.5
    y = (rng.random(n) < 0.2 + 0.2 * t * score).astype(float)
    curve = qini_curve(score, t, y)
    order = np.argsort(-score)
    for k in (1, 17, 100, 200):
        top = order[:k]
        nt, nc = t[top].sum(), (~t[top]).sum()
        rt, rc = y[top][t[top]].sum(), y[top][~t[top]].sum()
        expected = (rt - rc * nt / nc) if nc else rt
        assert curve["qini"][k] * n == pytest.approx(expected)
    assert curve["qini_coefficient"] > 0  # the score carries the uplift


@pytest.fixture(scope="module")
def hillstrom() -> ibis.Table:
    path = shared_file("hillstrom", "hillstrom.csv")
    return ibis.duckdb.connect().read_csv(str(path))


def test_hillstrom_reproduces_the_known_results(hillstrom: ibis.Table) -> None:
    res = analyze_table(
        hillstrom,
        arm="segment",
        control="No E-Mail",
        metrics=["visit", "conversion", "spend"],
        stratum="history_segment",
    )
    rows = {(r["arm"], r["metric"]): r for r in res.results}
    # PROVENANCE.md of the data: rates, means and intervals computed from the file; the
    # Mens spend comparison matches the published replication (t = 5.30, p = 1.16e-07,
    # 95% CI 0.4851 .. 1.0545).
    mens, womens = "Mens E-Mail", "Womens E-Mail"
    assert rows[(mens, "visit")]["arm_mean"] == pytest.approx(0.182757, abs=1e-6)
    assert rows[(mens, "visit")]["control_mean"] == pytest.approx(0.106167, abs=1e-6)
    assert rows[(mens, "visit")]["ci_low"] == pytest.approx(0.06995, abs=5e-5)
    assert rows[(mens, "visit")]["ci_high"] == pytest.approx(0.08323, abs=5e-5)
    assert rows[(womens, "visit")]["lift"] == pytest.approx(0.0452, abs=1e-4)
    assert rows[(mens, "conversion")]["arm_mean"] == pytest.approx(0.012531093, abs=1e-9)
    assert rows[(mens, "conversion")]["relative_lift"] == pytest.approx(1.188, abs=1e-3)
    spend = rows[(mens, "spend")]
    assert spend["arm_mean"] == pytest.approx(1.4226165, abs=1e-7)
    assert spend["control_mean"] == pytest.approx(0.6527894, abs=1e-7)
    assert spend["ci_low"] == pytest.approx(0.4851384, abs=1e-4)
    assert spend["ci_high"] == pytest.approx(1.0545160, abs=1e-4)
    assert spend["p_value"] == pytest.approx(1.163e-07, rel=0.02)
    assert rows[(womens, "spend")]["lift"] == pytest.approx(0.424, abs=1e-3)
    assert res.srm["chi_square"] == pytest.approx(0.2025, abs=1e-4)
    assert res.srm["p_value"] == pytest.approx(0.904, abs=1e-3)
    assert not res.srm["alarm"]
    # Per history segment: seven strata, each with its own lift; the post-stratified lift is
    # close to the overall one (randomisation balances the strata).
    strata = {r["stratum"] for r in res.by_stratum}
    assert len(strata) == 7
    assert spend["post_stratified_lift"] == pytest.approx(spend["lift"], abs=0.02)
    top = [r for r in res.by_stratum if r["stratum"].startswith("7)") and r["metric"] == "visit"]
    assert all(r["lift"] > 0 for r in top)
    assert rows[(mens, "visit")]["summary"].startswith(
        "Mens E-Mail vs No E-Mail on visit: 18.28% vs 10.62%, a lift of +7.66 points"
    )


@pytest.mark.parametrize("learner", ["two-model", "one-model"])
def test_uplift_on_hillstrom_beats_random_targeting(hillstrom: ibis.Table, learner: str) -> None:
    result = fit_uplift(
        hillstrom,
        arm="segment",
        treatment="Womens E-Mail",
        control="No E-Mail",
        outcome="visit",
        features=["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"],
        learner=learner,
        seed=0,
    )
    d = result.to_dict()
    assert result.n_train + result.n_test == 42_693
    # Held-out Qini coefficient above the 95th percentile of 50 random rankings.
    assert d["qini_coefficient"] > d["qini_coefficient_random_rankings_p95"]
    assert len(result.scores) == 42_693


def test_text_columns_are_refused_with_their_name(hillstrom: ibis.Table) -> None:
    with pytest.raises(DataError, match="Column 'zip_code' holds string values"):
        analyze_table(hillstrom, arm="segment", control="No E-Mail", metrics=["zip_code"])
    with pytest.raises(DataError, match="Outcome 'zip_code' holds string values"):
        fit_uplift(
            hillstrom, arm="segment", treatment="Mens E-Mail", control="No E-Mail",
            outcome="zip_code", features=["recency"],
        )  # fmt: skip


def test_analyze_cli_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("hillstrom", "hillstrom.csv")
    args = ["experiment", "analyze", "--from-file", str(path), "--arm", "segment",
            "--control", "No E-Mail", "--metric", "visit", "conversion", "spend",
            "--json"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    arms = ("Mens E-Mail", "Womens E-Mail")
    assert [(r["arm"], r["metric"]) for r in out["results"]] == [
        (arm, m) for m in ("visit", "conversion", "spend") for arm in arms
    ]
    keys = {"arm", "metric", "control_mean", "arm_mean", "lift", "ci_low", "ci_high",
            "relative_lift", "p_value"}  # fmt: skip
    assert all(keys <= set(r) for r in out["results"])
    assert out["sample_ratio"]["alarm"] is False
