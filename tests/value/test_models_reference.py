"""Each model reproduces its published estimates on the data in ../shared/data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.errors import DataError
from patron.value.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    CohortData,
    DiscreteData,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    RFMData,
    ShiftedBetaGeoModel,
    SpendData,
)
from tests.conftest import shared_file

#: The published CDNOW estimates of the continuous-time purchase models.
PUBLISHED_CONTINUOUS = [
    (BetaGeoModel, [0.243, 4.414, 0.793, 2.426]),
    (ModifiedBetaGeoModel, [0.525, 6.183, 0.891, 1.614]),
    (ParetoNBDModel, [0.553, 10.578, 0.606, 11.669]),
]


def cdnow_cbs() -> RFMData:
    cbs = pd.read_csv(shared_file("cdnow", "btyd_R", "cdnowSummary_cbs.csv"))
    return RFMData.from_arrays(cbs["x"], cbs["t.x"], cbs["T.cal"])


def close(value: float, published: float, decimals: int) -> bool:
    """Equal to the paper's printed precision: within half a unit of the last printed digit."""
    return abs(value - published) <= 0.5 * 10.0**-decimals + 1e-12


def test_bgnbd_fader_hardie_lee_2005() -> None:
    model = BetaGeoModel().fit(cdnow_cbs())
    p = model.params_
    assert close(p["r"], 0.243, 3)
    assert close(p["alpha"], 4.414, 3)
    assert close(p["a"], 0.793, 3)
    assert close(p["b"], 2.426, 3)
    assert close(model.log_likelihood_, -9582.4, 1)
    # Paper, section 4: a customer with x=2, t_x=30.43, T=38.86 buys 1.226 times in 39 weeks.
    assert close(float(model.conditional_expected_purchases(39, 2, 30.43, 38.86)), 1.226, 3)


def test_bgnbd_on_the_lifetimes_summary_too() -> None:
    lf = pd.read_csv(shared_file("cdnow", "cdnow_customers_summary.csv"))
    model = BetaGeoModel().fit(RFMData.from_arrays(lf.frequency, lf.recency, lf["T"]))
    assert close(model.params_["r"], 0.243, 3)
    assert close(model.params_["b"], 2.426, 3)


def test_mbgnbd_batislam_2007_on_cdnow() -> None:
    model = ModifiedBetaGeoModel().fit(cdnow_cbs())
    p = model.params_
    assert close(p["r"], 0.525, 3)
    assert close(p["alpha"], 6.183, 3)
    assert close(p["a"], 0.891, 3)
    assert close(p["b"], 1.614, 3)


def test_pareto_nbd_fader_hardie_lee_2005() -> None:
    model = ParetoNBDModel().fit(cdnow_cbs())
    p = model.params_
    assert close(p["r"], 0.553, 3)
    assert close(p["alpha"], 10.578, 3)
    assert close(p["s"], 0.606, 3)
    assert close(p["beta"], 11.669, 3)
    assert close(model.log_likelihood_, -9595.0, 1)
    btyd = pd.read_csv(shared_file("cdnow", "btyd_R", "cdnowSummary_est_params.csv"))
    np.testing.assert_allclose(list(p.values()), btyd["value"].to_numpy(), rtol=2e-3)


def test_gamma_gamma_fader_hardie_2013() -> None:
    s = pd.read_csv(shared_file("cdnow", "cdnow_customers_summary_with_transactions.csv"))
    data = SpendData.from_arrays(s.x, s.zbar)
    assert len(data.frequency) == 946
    p = GammaGammaModel().fit(data).params_
    assert close(p["p"], 6.25, 2)
    assert close(p["q"], 3.74, 1)
    assert abs(p["gamma"] - 15.44) < 0.02


def test_bgbb_fader_hardie_shang_2010() -> None:
    d = pd.read_csv(shared_file("donations_bgbb", "donations.csv"))
    data = DiscreteData.from_arrays(d.frequency, d.recency, d.periods, d.weights)
    model = BetaGeoBetaBinomModel().fit(data)
    p = model.params_
    assert close(p["alpha"], 1.204, 3)
    assert close(p["beta"], 0.750, 3)
    assert close(p["gamma"], 0.657, 3)
    assert close(p["delta"], 2.783, 3)
    assert close(model.log_likelihood_, -33225.6, 1)
    assert data.weights.sum() == 11_104


@pytest.mark.parametrize(
    ("column", "alpha", "beta"),
    [("regular_pct_alive", 0.704, 1.182), ("highend_pct_alive", 0.668, 3.806)],
)
def test_sbg_fader_hardie_2007_table(column: str, alpha: float, beta: float) -> None:
    table = pd.read_csv(shared_file("sbg_fader_hardie_2007", "survival_table_pct_alive.csv"))
    model = ShiftedBetaGeoModel().fit(CohortData.from_counts(table[column][:8] * 10))
    assert close(model.params_["alpha"], alpha, 3)
    assert close(model.params_["beta"], beta, 3)
    # The holdout years 8..12 (not used in the fit) are projected within 2 points.
    projected = model.survival(np.arange(8, 13)) * 100
    assert np.max(np.abs(projected - table[column][8:13].to_numpy())) < 2.0


def test_sbg_from_per_customer_rows() -> None:
    rows = pd.read_csv(shared_file("sbg_fader_hardie_2007", "sbg_cohorts.csv"))
    regular = rows[rows.cohort == "regular"]
    data = CohortData.from_lifetimes(regular.recency, regular["T"])
    assert data.alive.tolist()[:3] == [1000, 631, 468]
    model = ShiftedBetaGeoModel().fit(data)
    assert close(model.params_["alpha"], 0.704, 3)


def test_sbg_customers_observed_for_different_lengths() -> None:
    """Active customers are censored where their own observation ends."""
    # (churn period or T if active, T): lost in 1, 1, 3; active after 1, 3, 3 periods.
    data = CohortData.from_lifetimes([1, 1, 3, 2, 4, 4, 1], [4, 2, 4, 2, 4, 4, 1])
    assert data.lost.tolist() == [2, 0, 1]
    assert data.active.tolist() == [1, 0, 2]  # the customer with T = 1 tells nothing
    assert data.size == 6
    # Kaplan-Meier: 6 at risk in period 1 (2 lost), 3 in period 2, 3 in period 3 (1 lost).
    np.testing.assert_allclose(data.survival, [1, 4 / 6, 4 / 6, 4 / 6 * 2 / 3])
    # Staggered sign-ups: recovery of known parameters needs the censoring.
    rng = np.random.default_rng(3)
    theta = rng.beta(0.704, 1.182, 40_000)
    churn = rng.geometric(theta)
    T = rng.integers(2, 10, 40_000)
    recency = np.where(churn < T, churn, T)
    model = ShiftedBetaGeoModel().fit(CohortData.from_lifetimes(recency, T))
    se = model.standard_errors_
    assert abs(model.params_["alpha"] - 0.704) < 3 * se["alpha"]
    assert abs(model.params_["beta"] - 1.182) < 3 * se["beta"]
    with pytest.raises(DataError, match=r"Row 2: recency 0\.5 and T 3 must be whole periods"):
        CohortData.from_lifetimes([1, 0.5], [2, 3])
    with pytest.raises(DataError, match="No customers: recency and T are empty"):
        CohortData.from_lifetimes([], [])
    with pytest.raises(DataError, match="recency and T must have the same length"):
        CohortData.from_lifetimes([1, 2], [3])


def test_sbg_derl_equals_the_discounted_sum() -> None:
    model = ShiftedBetaGeoModel().with_params(np.array([0.704, 1.182]))
    horizon = np.arange(0, 4000)
    survival = model.survival(horizon)
    for renewals in (0, 3):
        brute = sum(
            survival[t] / survival[renewals] / 1.1 ** (t - renewals)
            for t in range(renewals + 1, 4000)
        )
        assert float(model.derl(0.1, renewals)) == pytest.approx(brute, rel=1e-9)


def test_pareto_dert_equals_integrated_expectation() -> None:
    model = ParetoNBDModel().with_params(np.array([0.553, 10.578, 0.606, 11.669]))
    t = np.linspace(0, 4000, 400_001)
    expected = model.conditional_expected_purchases(t, 2, 30.43, 38.86)
    delta = 0.15 / 52
    brute = np.sum(np.exp(-delta * (t[1:] + t[:-1]) / 2) * np.diff(expected))
    assert float(model.dert(delta, 2, 30.43, 38.86)) == pytest.approx(brute, rel=1e-4)


def test_bgnbd_pmf_sums_to_one_and_matches_expectation() -> None:
    model = BetaGeoModel().with_params(np.array([0.243, 4.414, 0.793, 2.426]))
    n = np.arange(0, 400)
    pmf = model.probability_of_purchases(39.0, n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.dot(n, pmf)) == pytest.approx(float(model.expected_purchases(39.0)), rel=1e-6)


def test_pareto_pmf_sums_to_one_and_matches_expectation() -> None:
    model = ParetoNBDModel().with_params(np.array([0.553, 10.578, 0.606, 11.669]))
    n = np.arange(0, 400)
    pmf = model.probability_of_purchases(39.0, n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.dot(n, pmf)) == pytest.approx(float(model.expected_purchases(39.0)), rel=1e-8)


def test_bgbb_pmf_fits_the_donations_histogram() -> None:
    d = pd.read_csv(shared_file("donations_bgbb", "donations.csv"))
    actual = (d.groupby("frequency").weights.sum() / d.weights.sum()).to_numpy()
    model = BetaGeoBetaBinomModel().with_params(np.array([1.204, 0.750, 0.657, 2.783]))
    pmf = model.probability_of_purchases(6, np.arange(7))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(np.dot(np.arange(7), pmf)) == pytest.approx(float(model.expected_purchases(6)))
    assert np.max(np.abs(pmf - actual)) < 0.01  # FHS 2010, Figure 3: the model fits closely


@pytest.mark.parametrize(("cls", "params"), PUBLISHED_CONTINUOUS)
def test_new_customer_expectation_agrees_with_simulation(cls: type, params: list[float]) -> None:
    """An independent check of E[X(t)]: simulate the process the likelihood describes.

    (The MBG/NBD form (a+b−1)/(a−1)[1 − (α/(α+t))^r 2F1(r, b+1; a+b−1; z)] used by some
    implementations gives 37.4 here instead of the simulated 1.18.)
    """
    model = cls().with_params(np.array(params))
    sim = model.sample(np.full(400_000, 39.0), seed=11)
    mean, se = sim.frequency.mean(), sim.frequency.std() / np.sqrt(400_000)
    assert abs(float(model.expected_purchases(39.0)) - mean) < 4 * se


def test_mbgnbd_pmf_sums_to_one_and_matches_expectation() -> None:
    model = ModifiedBetaGeoModel().with_params(np.array([0.525, 6.183, 0.891, 1.614]))
    n = np.arange(0, 400)
    pmf = model.probability_of_purchases(39.0, n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.dot(n, pmf)) == pytest.approx(float(model.expected_purchases(39.0)), rel=1e-8)
    sim = model.sample(np.full(200_000, 39.0), seed=3)
    assert float(np.mean(sim.frequency == 0)) == pytest.approx(float(pmf[0]), abs=0.005)


@pytest.mark.parametrize(("cls", "params"), PUBLISHED_CONTINUOUS)
def test_conditional_expectations_average_to_the_unconditional(
    cls: type, params: list[float]
) -> None:
    """Total expectation over simulated histories: E[E[Y(t) | h]] = E[X(T+t)] − E[X(T)]."""
    model = cls().with_params(np.array(params))
    sim = model.sample(np.full(200_000, 39.0), seed=5)
    cond = model.conditional_expected_purchases(39.0, sim.frequency, sim.recency, sim.T)
    target = float(model.expected_purchases(78.0) - model.expected_purchases(39.0))
    se = cond.std() / np.sqrt(len(cond))
    assert abs(cond.mean() - target) < 4 * se + 1e-3


def test_bgbb_expectations_agree_with_simulation() -> None:
    model = BetaGeoBetaBinomModel().with_params(np.array([1.204, 0.750, 0.657, 2.783]))
    sim = model.sample(np.full(200_000, 6), seed=9)
    se = sim.frequency.std() / np.sqrt(200_000)
    assert abs(float(model.expected_purchases(6)) - sim.frequency.mean()) < 4 * se
    cond = model.conditional_expected_purchases(5, sim.frequency, sim.recency, sim.n_periods)
    target = float(model.expected_purchases(11) - model.expected_purchases(6))
    assert abs(cond.mean() - target) < 4 * cond.std() / np.sqrt(len(cond)) + 1e-3


def test_bgbb_p_alive_matches_simulation() -> None:
    """P(alive in period n+1 | x, t_x, n) against simulated customers with that history."""
    alpha, beta, gamma, delta = 1.204, 0.750, 0.657, 2.783
    rng = np.random.default_rng(11)
    size, n = 600_000, 6
    p = rng.beta(alpha, beta, size)
    life = rng.geometric(rng.beta(gamma, delta, size)) - 1  # periods alive after the first
    buys = (rng.random((size, n)) < p[:, None]) & (np.arange(1, n + 1)[None, :] <= life[:, None])
    x = buys.sum(axis=1)
    tx = np.where(x > 0, n - np.argmax(buys[:, ::-1], axis=1), 0)
    model = BetaGeoBetaBinomModel().with_params(np.array([alpha, beta, gamma, delta]))
    for xi, ti in [(0, 0), (1, 1), (2, 4), (3, 6), (6, 6)]:
        group = (x == xi) & (tx == ti)
        share = float(np.mean(life[group] >= n + 1))
        se = np.sqrt(share * (1 - share) / group.sum())
        assert float(model.p_alive(xi, ti, n)[0]) == pytest.approx(share, abs=4 * se + 1e-3)
