from __future__ import annotations

from datetime import date
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.data.loader import load
from patron.data.simulate import simulate_shop
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.value.clv import (
    MONTH_DAYS,
    ValueSettings,
    monthly_rate,
    period_value_factors,
    value_factors,
)
from patron.value.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    DiscreteData,
    ParetoNBDModel,
    ShiftedBetaGeoModel,
)
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, score_customers, summary_from_warehouse
from tests.value.conftest import load_cdnow_sample

BG = BetaGeoModel().with_params(np.array([0.243, 4.414, 0.793, 2.426]))


def test_monthly_rate() -> None:
    assert (1 + monthly_rate(0.1)) ** 12 == pytest.approx(1.1)
    assert monthly_rate(0.0) == 0.0


def test_discounted_purchases_equal_a_direct_sum() -> None:
    """The factorised computation equals summing the model's conditional expectations."""
    x, tx, T = np.array([0.0, 2, 7]), np.array([0.0, 30.43, 38]), np.array([38.86, 38.86, 30])
    s = ValueSettings(horizon_months=24, discount_rate=0.15)
    for model in (BG, ParetoNBDModel().with_params(np.array([0.553, 10.578, 0.606, 11.669]))):
        model.covariance_ = np.eye(4) * 1e-4
        fac = value_factors(model, x, tx * 7, T * 7, unit_days=7.0, settings=s)
        months = np.arange(0, 25)
        cum = np.stack(
            [model.conditional_expected_purchases(m * MONTH_DAYS / 7, x, tx, T) for m in months]
        )
        disc = (1.15) ** (-months[1:] / 12)
        direct = (np.diff(cum, axis=0) * disc[:, None]).sum(axis=0)
        np.testing.assert_allclose(fac.de, direct, rtol=1e-10)
        np.testing.assert_allclose(fac.expected_purchases, cum[-1], rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.integers(1, 60))
def test_value_decreases_with_discount_and_grows_with_horizon(d1: float, d2: float, h: int) -> None:
    BG.covariance_ = np.eye(4) * 1e-4
    x, tx, T = np.array([3.0]), np.array([140.0]), np.array([200.0])
    lo, hi = sorted((d1, d2))
    de_lo = value_factors(BG, x, tx, T, unit_days=7.0, settings=ValueSettings(h, lo)).de[0]
    de_hi = value_factors(BG, x, tx, T, unit_days=7.0, settings=ValueSettings(h, hi)).de[0]
    assert de_hi <= de_lo + 1e-12
    longer = value_factors(BG, x, tx, T, unit_days=7.0, settings=ValueSettings(h + 1, lo)).de[0]
    assert longer >= de_lo - 1e-12


def test_settings_are_checked() -> None:
    with pytest.raises(UsageError, match="--discount-rate 10 must be a yearly rate"):
        ValueSettings(12, 10)
    with pytest.raises(UsageError, match="--horizon 0 must be a whole number of months"):
        ValueSettings(0)
    with pytest.raises(UsageError, match=r"--margin-rate 1\.5 must be a share"):
        ValueSettings(12, 0.1, 1.5)


def test_scores_and_equity_interval_against_parameter_sampling(wh: Warehouse) -> None:
    load_cdnow_sample(wh)
    source = summary_from_warehouse(wh, SummarySpec("week", date(1997, 9, 30)))
    fit = fit_purchase_model(source, "bgnbd")
    settings_ = ValueSettings(12, 0.1, margin_rate=0.3)
    result, scored = score_customers(source, fit, settings_)
    df = scored.execute()
    assert len(df) == 2357
    assert {"p_alive", "expected_purchases", "expected_spend", "clv", "clv_low", "clv_high"} <= set(
        df
    )
    assert (df.clv_low <= df.clv + 1e-9).all()
    assert (df.clv <= df.clv_high + 1e-9).all()
    assert df.clv.sum() == pytest.approx(result.equity, rel=1e-9)
    assert (df.time_unit == "week").all()
    assert (df.horizon_months == 12).all()
    # Independent check of the equity interval: refit-free parameter sampling.
    rng = np.random.default_rng(0)
    draws = fit.model.sample_params(200, rng)
    spend = fit.spend_model
    assert spend is not None
    spend_draws = spend.sample_params(200, rng)
    c = source.compressed
    x = df.frequency.to_numpy(float)
    z = df.monetary_value.to_numpy(float)
    key = {k: i for i, k in enumerate(zip(c.frequency, c.recency_days, c.T_days, strict=True))}
    rows = source.table.execute()
    idx = np.array(
        [
            key[k]
            for k in zip(
                rows.frequency.astype(float),
                rows.recency_days.astype(float),
                rows.T_days.astype(float),
                strict=True,
            )
        ]
    )
    equities = []
    for theta, phi in zip(draws, spend_draws, strict=True):
        m = fit.model.with_params(theta)
        m.covariance_ = np.eye(4) * 1e-8
        fac = value_factors(
            m, c.frequency, c.recency_days, c.T_days, unit_days=7.0, settings=settings_
        )
        p, q, g = phi
        rx = rows.frequency.to_numpy(float)
        rz = np.where(rx > 0, rows.monetary_value.to_numpy(float), 0.0)
        v = p * (g + rx * rz) / (p * rx + q - 1)
        equities.append(float(np.sum(0.3 * v * fac.de[idx])))
    sd_sampling = np.std(equities)
    sd_delta = (result.equity_high - result.equity_low) / (2 * 1.96)
    assert sd_delta == pytest.approx(sd_sampling, rel=0.25)
    assert len(x) == len(z)


def test_cost_to_serve_makes_customers_below_zero(wh: Warehouse, tmp_path: Path) -> None:
    simulate_shop(3000, tmp_path / "shop", seed=5)
    for table in ("products", "customers", "transactions"):
        load(wh, table, [str(tmp_path / "shop" / f"{table}.parquet")])
    source = summary_from_warehouse(wh, SummarySpec("week"))
    fit = fit_purchase_model(source, "bgnbd")
    result, scored = score_customers(source, fit, ValueSettings(12, 0.1))
    df = scored.execute()
    assert "own margin rate from costs" in result.margin_basis
    # Equity from the per-row sums (own margin rates, their fallback, cost to serve) is the
    # sum of the customers' CLV computed in the engine.
    assert df.clv.sum() == pytest.approx(result.equity, rel=1e-9)
    assert result.equity_low < result.equity < result.equity_high
    assert (df.margin_rate != df.margin_rate.iloc[0]).any()  # own rates, not one rate
    assert (df.margin_rate <= 1.0).all()  # discounted sales can have a negative margin
    # One-time buyers who are surely gone still cost their yearly cost to serve while alive.
    assert (df.clv < 0).any()
    costly = df[df.cost_to_serve_yearly > 10]
    assert costly.clv.mean() < df[df.cost_to_serve_yearly < 3].clv.mean() + 50


def test_survival_given_alive_matches_monte_carlo() -> None:
    """P(alive at T+t | alive at T): posterior λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x), rate λp."""
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    rng = np.random.default_rng(0)
    lam = rng.gamma(r + 2, 1 / (alpha + 38.86), 400_000)
    p = rng.beta(a, b + 2, 400_000)
    for t in (10.0, 52.0, 520.0):
        mc = float(np.mean(np.exp(-lam * p * t)))
        assert float(BG.survival_if_alive(t, 2, 38.86)) == pytest.approx(mc, abs=3e-3)
    pareto = ParetoNBDModel().with_params(np.array([0.553, 10.578, 0.606, 11.669]))
    mu = rng.gamma(0.606, 1 / (11.669 + 38.86), 400_000)
    mc = float(np.mean(np.exp(-mu * 52.0)))
    assert float(pareto.survival_if_alive(52.0, 2, 38.86)) == pytest.approx(mc, abs=3e-3)


BGBB = BetaGeoBetaBinomModel().with_params(np.array([1.204, 0.750, 0.657, 2.783]))
BGBB.covariance_ = np.eye(4) * 1e-4
ROWS = DiscreteData.from_arrays([0, 1, 3, 6, 2, 0], [0, 1, 5, 6, 6, 0], [6, 6, 6, 6, 6, 0])


def _mp_dert(x: float, tx: float, n: float, d: float) -> float:
    """DERT of FHS (2010) with mpmath: a closed form with 2F1, summed to infinity."""
    a, b, g, de = (mpmath.mpf(v) for v in (1.204, 0.750, 0.657, 2.783))
    beta = mpmath.beta
    like = beta(a + x, b + n - x) / beta(a, b) * beta(g, de + n) / beta(g, de)
    for i in range(int(n - tx)):
        like += beta(a + x, b + tx - x + i) / beta(a, b) * beta(g + 1, de + tx + i) / beta(g, de)
    part = beta(a + x + 1, b + n - x) / beta(a, b) * beta(g, de + n + 1) / (beta(g, de) * (1 + d))
    return float(part * mpmath.hyp2f1(1, de + n + 1, g + de + n + 1, 1 / (1 + d)) / like)


def test_bgbb_period_factors_match_the_papers_formulas() -> None:
    x, tx, n = ROWS.frequency, ROWS.recency, ROWS.n_periods
    # Five yearly periods undiscounted: the conditional expectation (FHS 2010, eq. 13).
    fac = period_value_factors(BGBB, ROWS, period_days=365.25, settings=ValueSettings(60, 0.0))
    eq13 = BGBB.conditional_expected_purchases(5, x, tx, n)
    np.testing.assert_allclose(fac.expected_purchases, eq13, rtol=1e-10)
    np.testing.assert_allclose(fac.de, eq13, rtol=1e-12)
    np.testing.assert_allclose(fac.p_alive, BGBB.p_alive(x, tx, n), rtol=1e-12)
    # A century at 50% a year is the infinite sum to 1e-17: the paper's DERT.
    fac = period_value_factors(BGBB, ROWS, period_days=365.25, settings=ValueSettings(1200, 0.5))
    dert = [_mp_dert(*row, 0.5) for row in zip(x, tx, n, strict=True)]
    np.testing.assert_allclose(fac.de, dert, rtol=1e-9)
    # A newcomer (n = 0) is alive in year k with the sBG survival B(γ, δ+k)/B(γ, δ): twelve
    # months a year, discounted from each year's end.
    sbg = ShiftedBetaGeoModel().with_params(np.array([0.657, 2.783]))
    k = np.arange(1, 101)
    months = 12 * np.sum(sbg.survival(k) * 1.5**-k)
    assert fac.ds[-1] == pytest.approx(months, rel=1e-10)
    assert np.all(np.isfinite(fac.var_de))
    assert np.all(fac.var_de > 0)


def test_bgbb_horizon_needs_a_whole_period() -> None:
    with pytest.raises(UsageError, match="--horizon 6 months is shorter than one period"):
        period_value_factors(BGBB, ROWS, period_days=365.25, settings=ValueSettings(6, 0.1))
    weekly = period_value_factors(BGBB, ROWS, period_days=7.0, settings=ValueSettings(12, 0.0))
    np.testing.assert_allclose(
        weekly.expected_purchases,
        BGBB.conditional_expected_purchases(52, ROWS.frequency, ROWS.recency, ROWS.n_periods),
        rtol=1e-10,
    )
