"""Numerical robustness: heavy buyers, long daily histories, tiny data sets, invariants.

Fader, Hardie & Lee's note "Overcoming the BG/NBD Model's #NUM! Error Problem" shows the
likelihood overflowing for heavy buyers ((α+T)^(r+x) with large x) and long histories when
computed directly; the extreme rows below are those cases, computed here in log space.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln, logsumexp

from patron.errors import ConvergenceError, DataError
from patron.value.models import (
    BetaGeoModel,
    DiscreteData,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    RFMData,
    ShiftedBetaGeoModel,
    bgbb,
)
from patron.value.models._quadrature import log_beta
from patron.value.models.beta_geo import beta_gauss_rule, bgnbd_negll, mbgnbd_negll
from patron.value.models.pareto_nbd import (
    _log_g_grad,
    _log_hyperu_ss,
    pareto_log_terms,
    pareto_negll,
)

CONTINUOUS = [
    BetaGeoModel().with_params(np.array([0.243, 4.414, 0.793, 2.426])),
    ModifiedBetaGeoModel().with_params(np.array([0.525, 6.183, 0.891, 1.614])),
    ParetoNBDModel().with_params(np.array([0.553, 10.578, 0.606, 11.669])),
]
IDS = ["bgnbd", "mbgnbd", "pnbd"]


@pytest.mark.parametrize("model", CONTINUOUS, ids=IDS)
def test_heavy_buyers_stay_finite(model: BetaGeoModel) -> None:
    x = np.array([0.0, 1.0, 100.0, 300.0, 800.0, 3000.0])
    tx = np.array([0.0, 5.0, 50.0, 51.9, 52.0, 3649.0])
    T = np.array([52.0, 52.0, 52.0, 52.0, 52.0, 3650.0])  # the last: ten years of daily data
    alive = model.p_alive(x, tx, T)
    assert np.all(np.isfinite(alive))
    assert np.all((alive >= 0) & (alive <= 1))
    expected = model.conditional_expected_purchases(52.0, x, tx, T)
    assert np.all(np.isfinite(expected))
    assert np.all(expected >= 0)
    # Independent check: the untransformed closed form in 60-digit arithmetic.
    for i in range(len(x)):
        ref = _reference_conditional(model, 52.0, x[i], tx[i], T[i])
        if ref is not None:
            assert float(expected[i]) == pytest.approx(ref, rel=1e-7)


def _reference_conditional(
    model: BetaGeoModel, t: float, x: float, tx: float, T: float
) -> float | None:
    """The papers' closed forms, evaluated with mpmath (no Euler transformation)."""
    with mpmath.workdps(60):
        p = [mpmath.mpf(v) for v in model.params_.values()]
        t_, x_, tx_, T_ = (mpmath.mpf(v) for v in (t, x, tx, T))
        if isinstance(model, ParetoNBDModel):
            return None  # checked against DERT integration and BTYD elsewhere
        r, alpha, a, b = p
        z = t_ / (alpha + T_ + t_)
        q = ((alpha + T_) / (alpha + T_ + t_)) ** (r + x_)
        if isinstance(model, ModifiedBetaGeoModel):
            num = (
                (a + b + x_) / (a - 1) * (1 - q * mpmath.hyp2f1(r + x_, b + x_ + 1, a + b + x_, z))
            )
            den = 1 + a / (b + x_) * ((alpha + T_) / (alpha + tx_)) ** (r + x_)
        else:
            num = (
                (a + b + x_ - 1)
                / (a - 1)
                * (1 - q * mpmath.hyp2f1(r + x_, b + x_, a + b + x_ - 1, z))
            )
            den = 1 + (
                a / (b + x_ - 1) * ((alpha + T_) / (alpha + tx_)) ** (r + x_) if x_ > 0 else 0
            )
        return float(num / den)


@pytest.mark.parametrize("model", CONTINUOUS[:2], ids=IDS[:2])
def test_survival_given_alive_matches_direct_integration(model: BetaGeoModel) -> None:
    """E_p[(1 + p t/(α+T))^−(r+x)] over the Beta posterior of p, integrated in 30 digits.

    Includes heavy buyers over long horizons, where the probability lives near p = 0 (a
    12-node Gauss-Jacobi rule, used before the closed form, was off by up to 14% there).
    """
    r, alpha, a, b = model.params_.values()
    shift = 1.0 if isinstance(model, ModifiedBetaGeoModel) else 0.0
    cases = [(0, 1.0, 4.0), (2, 38.86, 52.0), (50, 60.0, 520.0), (300, 38.86, 5200.0)]
    cases += [(3000, 3650.0, 52.0), (3000, 1.0, 52.0), (1, 0.0, 5200.0)]
    for x, T, t in cases:
        got = float(model.survival_if_alive(t, x, T))
        with mpmath.workdps(30):
            s = mpmath.mpf(t) / (alpha + T)
            beta = b + x + shift

            def density(
                p: mpmath.mpf, s: mpmath.mpf = s, beta: float = beta, c: float = r + x
            ) -> mpmath.mpf:
                return p ** (a - 1) * (1 - p) ** (beta - 1) * (1 + s * p) ** (-c)

            pieces = [0, mpmath.mpf("1e-8"), mpmath.mpf("1e-5"), mpmath.mpf("1e-3"), 0.05, 1]
            want = float(mpmath.quad(density, pieces) / mpmath.beta(a, beta))
        assert got == pytest.approx(want, rel=1e-9), (x, T, t)


def _posterior_mean(integrand: str, a: float, beta: float, k: float, s: float) -> float:
    """E over p ~ Beta(a, beta) of (1 − (1+ps)^−k)/p ("purchases") or (1+ps)^−k, in 30 digits.

    The integral is split around the Beta's mean (± up to 300 standard deviations) and
    where (1+ps)^−k falls, so that a concentrated posterior is not missed.
    """
    with mpmath.workdps(30):
        a_, beta_, k_, s_ = (mpmath.mpf(v) for v in (a, beta, k, s))
        log_norm = mpmath.log(mpmath.beta(a_, beta_))

        def f(p: mpmath.mpf) -> mpmath.mpf:
            if p <= 0 or p >= 1:
                return mpmath.mpf(0)
            dens = mpmath.exp((a_ - 1) * mpmath.log(p) + (beta_ - 1) * mpmath.log1p(-p) - log_norm)
            drop = (1 + p * s_) ** (-k_)
            return dens * ((1 - drop) / p if integrand == "purchases" else drop)

        mean = a_ / (a_ + beta_)
        sd = mpmath.sqrt(mean * (1 - mean) / (a_ + beta_ + 1))
        cuts = {mean + j * sd for j in (-300, -30, -10, -3, 0, 3, 10, 30, 300)}
        cuts |= {mpmath.mpf(j) / (k_ * s_) for j in (0.1, 1, 10, 100)}
        pieces = sorted({mpmath.mpf(0), mpmath.mpf(1)} | {c for c in cuts if 0 < c < 1})
        return float(mpmath.quad(f, pieces))


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel], ids=IDS[:2])
@pytest.mark.parametrize(
    ("a", "b"), [(1.0, 2.4), (12.0, 30.0), (30.0, 60.0), (338.0, 662.0), (3.4e5, 6.6e5)]
)
def test_predictions_when_the_dropout_prior_is_concentrated(
    model_cls: type[BetaGeoModel], a: float, b: float
) -> None:
    """a and b in the tens to the hundreds of thousands, as fits on a short or churn-free
    history give (CDNOW calibrated to 1997-01-10: a ≈ 337,000, b ≈ 659,000).

    scipy's hyp2f1 in the closed forms went silently to 0 or NaN there (expected purchases
    from a ≈ 10, survival from a ≈ 300), and at a = 1 the expected purchases divided by zero.
    """
    r, alpha = 0.243, 4.414
    model = model_cls().with_params(np.array([r, alpha, a, b]))
    shift = 1.0 if model_cls is ModifiedBetaGeoModel else 0.0
    for x, T, t in [(0, 1.3, 78.0), (2, 30.0, 52.0), (30, 52.0, 4.0), (300, 300.0, 520.0)]:
        k, s, beta = r + x, t / (alpha + T), b + x + shift
        want = _posterior_mean("purchases", a, beta, k, s)
        assert float(model.expected_if_alive(t, x, T)) == pytest.approx(want, rel=1e-9)
        want = _posterior_mean("survival", a, beta, k, s)
        got = float(model.survival_if_alive(t, x, T))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), (x, T, t)
    # Rows by horizons, as scoring evaluates them: finite, and growing with the horizon.
    horizons = np.array([[4.0, 52.0, 520.0]])
    grid = model.expected_if_alive(horizons, np.array([[0.0], [30.0]]), np.array([[1.3], [52.0]]))
    assert grid.shape == (2, 3)
    assert np.all(np.isfinite(grid))
    assert np.all(np.diff(grid, axis=1) > 0)
    assert np.all(
        np.isfinite(model.conditional_expected_purchases(52.0, [0, 3], [0, 20], [52, 52]))
    )


def test_beta_gauss_rule_integrates_beta_moments() -> None:
    """The rule's weights sum to 1 and reproduce the Beta's moments, also where scipy's
    roots_jacobi weights overflow (a + b in the millions)."""
    for a, b in [(0.3, 0.7), (0.793, 2.426), (12.0, 30.0), (3.4e5, 6.6e5)]:
        p, w = beta_gauss_rule(16, a, b)
        assert np.all((p > 0) & (p < 1))
        assert np.all(w > 0)
        assert w.sum() == pytest.approx(1.0, rel=1e-14)
        for m in range(1, 6):  # E[p^m] = prod_{i<m} (a+i)/(a+b+i)
            want = np.prod([(a + i) / (a + b + i) for i in range(m)])
            assert float(w @ p**m) == pytest.approx(want, rel=1e-11)


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578, 0.606, 11.669),
        (0.5, 30.0, 0.8, 5.0),
        (2.0, 1.0, 0.1, 100.0),
        (0.55, 10.6, 1000.0, 10000.0),
        (0.55, 10.6, 30.0, 300.0),
        (0.5, 1e7, 0.5, 1e-4),
        (3.0, 0.2, 2.0, 500.0),
    ],
    ids=[
        "cdnow",
        "alpha>beta",
        "beta>>alpha",
        "homogeneous-dropout",
        "s=30",
        "z=1-1e-11",
        "heavy-buyers-far-apart",
    ],
)
def test_pareto_gradient_is_exact(params: tuple[float, ...]) -> None:
    """The likelihood's gradient against central differences of the likelihood terms (scipy's
    hyp2f1 where the series serves the gradient), on heavy buyers, one-time buyers and
    customers seen on their last day; also where the purchase and dropout scales are far
    apart (z near 1) and the dropout rates nearly homogeneous, where both come from the
    integral and scipy's hyp2f1 returns NaN."""
    x = np.array([0, 0, 1, 3, 40, 300, 2, 5])
    tx = np.array([0.0, 0.0, 2.0, 30.0, 51.0, 51.9, 10.0, 20.0])
    T = np.array([52.0, 0.5, 52.0, 52.0, 52.0, 52.0, 10.0, 78.0])
    data = RFMData.from_arrays(x, tx, T, [3, 1, 2, 1, 1, 1, 1, 2])

    def direct(theta: np.ndarray) -> float:
        front, alive, dead = pareto_log_terms(np.exp(theta), data.frequency, data.recency, data.T)
        return -float(np.dot(data.weights, front + np.logaddexp(alive, dead)))

    theta = np.log(np.array(params))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = pareto_negll(theta, data)
    assert np.isfinite(value)
    assert value == pytest.approx(direct(theta), rel=1e-12)
    h = 1e-4  # the integral is exact to ~1e-11, so a smaller step would difference its noise
    numeric = [(direct(theta + e) - direct(theta - e)) / (2 * h) for e in np.eye(4) * h]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def _pareto_reference(
    params: tuple[float, ...], x: float, tx: float, T: float
) -> tuple[float, float]:
    """Pareto/NBD log-likelihood and P(alive) of one customer in 30 digits.

    ``L = Γ(r+x) α^r β^s/Γ(r) [(α+T)^−(r+x) (β+T)^−s + s ∫_tx^T (α+u)^−(r+x) (β+u)^−(s+1) du]``
    (Fader & Hardie's 2005 note), the integral over a finite range by mpmath, in pieces
    halving towards t_x, where a heavy buyer's integrand falls fast.
    """
    with mpmath.workdps(30):
        r, alpha, s, beta = (mpmath.mpf(v) for v in params)
        x_, tx_, T_ = mpmath.mpf(x), mpmath.mpf(tx), mpmath.mpf(T)
        alive = (alpha + T_) ** -(r + x_) * (beta + T_) ** -s
        cuts = [tx_ + (T_ - tx_) * mpmath.mpf(2) ** -j for j in range(40, -1, -1)]
        dead = s * mpmath.quad(
            lambda u: (alpha + u) ** -(r + x_) * (beta + u) ** -(s + 1), [tx_, *cuts]
        )
        front = mpmath.loggamma(r + x_) - mpmath.loggamma(r) + r * mpmath.log(alpha)
        log_l = front + s * mpmath.log(beta) + mpmath.log(alive + dead)
        return float(log_l), float(alive / (alive + dead))


@pytest.mark.parametrize(
    "params",
    [
        (0.55, 10.6, 1000.0, 10000.0),
        (0.55, 10.6, 1e5, 1e6),
        (0.243, 4.4, 30.0, 300.0),
        (4.0, 0.5, 300.0, 30.0),
        (0.01, 1000.0, 0.05, 1e-3),
    ],
    ids=["s=1000", "s=1e5", "s=30", "s=300-alpha<beta", "tiny-r-and-s"],
)
def test_pareto_where_the_dropout_is_nearly_homogeneous(params: tuple[float, ...]) -> None:
    """Likelihood and P(alive) against 30-digit integration where the purchase and dropout
    scales are far apart (the series would need millions of terms); with the dropout rates
    nearly homogeneous (s large) scipy's hyp2f1 and hyperu gave NaN likelihoods, P(alive)
    or DERT for the first four. Expectations and DERT stay finite."""
    model = ParetoNBDModel().with_params(np.array(params))
    rows = [(0, 0.0, 52.0), (1, 20.0, 52.0), (2, 51.0, 52.0), (30, 40.0, 78.0), (300, 51.9, 52.0)]
    x, tx, T = (np.array(v, dtype=float) for v in zip(*rows, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        front, alive, dead = pareto_log_terms(np.array(params), x, tx, T)
        got_ll = front + np.logaddexp(alive, dead)
        got_alive = model.p_alive(x, tx, T)
        expected = model.conditional_expected_purchases(52.0, x, tx, T)
        dert = model.dert(0.002, x, tx, T)
    for i, row in enumerate(rows):
        want_ll, want_alive = _pareto_reference(params, *row)
        assert got_ll[i] == pytest.approx(want_ll, rel=1e-11, abs=1e-9), row
        assert got_alive[i] == pytest.approx(want_alive, rel=1e-9, abs=1e-300), row
    assert np.all(np.isfinite(expected))
    assert np.all(expected >= 0)
    assert np.all(np.isfinite(dert))
    assert np.all(dert > 0)


def test_pareto_dert_against_the_confluent_hypergeometric_function() -> None:
    """DERT's U(s, s; δ(β+T)) in logs against mpmath, also where scipy's hyperu is NaN (s ≥ 30)."""
    for s in (0.05, 0.606, 3.0, 30.0, 1000.0, 1e5):
        w = np.array([1e-5, 1e-3, 0.05, 0.6, 10.0, 300.0, 1e4])
        got = _log_hyperu_ss(s, w)
        for wi, g in zip(w, got, strict=True):
            with mpmath.workdps(30):
                want = float(mpmath.log(mpmath.hyperu(s, s, wi)))
            assert g == pytest.approx(want, rel=1e-14, abs=1e-10), (s, wi)


def _derl_reference(alpha: float, beta: float, renewals: int, discount: float) -> float:
    """Σ_{t>n} S(t)/S(n) (1+discount)^−(t−n) with S(t) = B(α, β+t)/B(α, β), in 30 digits."""
    with mpmath.workdps(30):
        a, b, d = mpmath.mpf(alpha), mpmath.mpf(beta), 1 / (1 + mpmath.mpf(discount))
        log_s_n = mpmath.log(mpmath.beta(a, b + renewals))
        total, t = mpmath.mpf(0), renewals + 1
        while True:
            term = mpmath.exp(mpmath.log(mpmath.beta(a, b + t)) - log_s_n) * d ** (t - renewals)
            total += term
            if term < total * mpmath.mpf(10) ** -25:
                return float(total)
            t += 1


@pytest.mark.parametrize(
    ("alpha", "beta", "discount"),
    [(3.0, 0.3, 0.01), (30.0, 30.0, 0.01), (30.0, 90.0, 0.1), (1e4, 3e4, 0.1), (0.3, 50.0, 0.5)],
)
def test_sbg_derl_against_the_discounted_sum(alpha: float, beta: float, discount: float) -> None:
    """DERL against the sum of discounted survival, also where scipy's 2F1 gave NaN or inf
    (α and β in the tens and up: churn nearly homogeneous; 5 of these 15 values on the
    old code)."""
    model = ShiftedBetaGeoModel().with_params(np.array([alpha, beta]))
    renewals = np.array([0, 3, 100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = model.derl(discount, renewals)
    for n, g in zip(renewals, got, strict=True):
        assert g == pytest.approx(_derl_reference(alpha, beta, int(n), discount), rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 3])
def test_pareto_fit_on_nearly_homogeneous_dropout(seed: int) -> None:
    """Simulated Pareto/NBD with s = 1000, β = 10,000 (dropout rate 0.1 for nearly everyone),
    recency in whole days: the likelihood is nearly flat along s/β fixed. The fit stops on
    that ridge, holds s at the cap when the likelihood still rises towards it, and recovers
    the dropout rate and the purchase parameters either way. No NaN and no numpy warning
    reaches the user (on the old code both seeds stopped on numpy's "invalid value
    encountered in logaddexp": scipy's hyp2f1 returned NaN; later seed 3 refused with "flat
    in s, beta")."""
    truth = ParetoNBDModel().with_params(np.array([0.55, 10.6, 1000.0, 10000.0]))
    weeks = np.random.default_rng(seed).integers(30, 79, 5000).astype(float)
    sim = truth.sample(weeks, seed=seed)
    data = RFMData.from_arrays(
        sim.frequency, np.minimum(np.ceil(sim.recency * 7) / 7, weeks), weeks
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ParetoNBDModel().fit(data)
    fitted = model.params_
    assert model.fixed_params_ in ((), ("s",))
    assert fitted["s"] / fitted["beta"] == pytest.approx(0.1, rel=0.1)
    assert fitted["r"] == pytest.approx(0.55, rel=0.15)
    assert fitted["alpha"] == pytest.approx(10.6, rel=0.15)


def test_integral_paths_take_no_rows() -> None:
    """Scoring a cohort with no active subscriber, or no customer, returns empty arrays."""
    sbg = ShiftedBetaGeoModel().with_params(np.array([30.0, 90.0]))
    assert sbg.derl(0.1, np.array([])).shape == (0,)
    pnbd = ParetoNBDModel().with_params(np.array([0.55, 10.6, 1000.0, 1e4]))
    assert pnbd.dert(0.01, [], [], []).shape == (0,)
    assert pnbd.p_alive([], [], []).shape == (0,)
    value, grads = _log_g_grad(np.array([]), np.array([]), 1001.0, 10.6, 1e4)
    assert value.shape == (0,)
    assert [g.shape for g in grads] == [(0,)] * 4


def test_log_beta_keeps_its_digits_for_large_arguments() -> None:
    """scipy's betaln loses ~1e-10 at q = 10^5 (it subtracts large log-gammas)."""
    cases = [(0.3, 0.7), (9.99, 12.0), (35.0, 100001.0), (0.01, 1e5), (500.0, 1e5), (3.4e5, 6.6e5)]
    for p, q in cases:
        want = float(mpmath.log(mpmath.beta(p, q)))
        assert float(log_beta(p, q)) == pytest.approx(want, rel=1e-15, abs=1e-13), (p, q)


@pytest.mark.parametrize("negll", [bgnbd_negll, mbgnbd_negll, pareto_negll])
def test_likelihood_finite_for_extreme_rows(negll: object) -> None:
    data = RFMData.from_arrays([0, 500, 2000], [0, 51.0, 3600.0], [52, 52, 3650])
    for theta in (np.log([0.243, 4.414, 0.793, 2.426]), np.log([50.0, 0.01, 10.0, 0.01])):
        value, grad = negll(theta, data)  # type: ignore[operator]
        assert np.isfinite(value)
        assert np.all(np.isfinite(grad))


def test_ten_years_of_daily_data_fit() -> None:
    truth = BetaGeoModel().with_params(np.array([0.8, 20.0, 0.5, 8.0]))  # per day
    data = truth.sample(np.random.default_rng(3).uniform(300, 3650, 4000), seed=3)
    model = BetaGeoModel().fit(data)
    assert np.all(np.isfinite(list(model.params_.values())))
    assert model.params_["r"] == pytest.approx(0.8, rel=0.25)


def test_ten_customers_fit_without_nan() -> None:
    data = RFMData.from_arrays(
        [0, 1, 0, 3, 2, 0, 5, 1, 0, 2], [0, 10, 0, 30, 20, 0, 35, 2, 0, 12], [40] * 10
    )
    model = BetaGeoModel(penalizer=0.01).fit(data)
    assert all(np.isfinite(v) for v in model.params_.values())
    assert np.all(np.isfinite(model.conditional_expected_purchases(10, [0, 5], [0, 35], [40, 40])))


def test_nobody_repeats_does_not_converge_with_a_clear_message() -> None:
    data = RFMData.from_arrays(np.zeros(50), np.zeros(50), np.full(50, 30.0))
    with pytest.raises(ConvergenceError, match=r"do not identify them.*penalizer"):
        BetaGeoModel().fit(data)


def test_a_failed_penalized_fit_suggests_a_larger_penalizer() -> None:
    # Ten customers, one of them with 400 repeat purchases in ten years of days. The advice
    # was `--penalizer 0.001` whatever the penalizer that had just failed.
    x = [0, 1, 2, 0, 5, 0, 3, 1, 0, 400]
    t_x = [0, 10, 30, 0, 50, 0, 15, 2, 0, 3600]
    T = [52, 52, 52, 40, 52, 20, 30, 10, 5, 3650]
    data = RFMData.from_arrays(x, t_x, T)
    with pytest.raises(ConvergenceError, match=r"a small penalizer \(`--penalizer 0\.001`"):
        BetaGeoModel().fit(data)
    with pytest.raises(
        ConvergenceError, match=r"a larger penalizer than 0\.01 \(`--penalizer 0\.1`"
    ):
        BetaGeoModel(penalizer=0.01).fit(data)
    model = BetaGeoModel(penalizer=1.0).fit(data)  # larger still: finite, if pulled toward 0
    assert all(np.isfinite(v) for v in model.params_.values())


def test_bad_summary_rows_are_named() -> None:
    with pytest.raises(DataError, match=r"Summary row 1: recency is larger than T"):
        RFMData.from_arrays([0, 2], [0, 50], [40, 40])
    with pytest.raises(DataError, match=r"Summary row 0: recency is not 0 although frequency is 0"):
        RFMData.from_arrays([0], [3], [40])


history = st.tuples(st.integers(0, 400), st.floats(0.0, 1.0), st.floats(0.1, 520.0)).map(
    lambda v: (float(v[0]), (v[1] * v[2]) if v[0] > 0 else 0.0, v[2])
)


@settings(max_examples=60, deadline=None)
@given(history, st.floats(0.1, 200.0), st.floats(0.1, 200.0))
def test_invariants(h: tuple[float, float, float], t1: float, t2: float) -> None:
    x, tx, T = h
    for model in CONTINUOUS:
        alive = float(model.p_alive(x, tx, T))
        assert 0.0 <= alive <= 1.0
        lo, hi = sorted((t1, t2))
        e_lo = float(model.conditional_expected_purchases(lo, x, tx, T))
        e_hi = float(model.conditional_expected_purchases(hi, x, tx, T))
        assert np.isfinite(e_lo)
        assert np.isfinite(e_hi)
        assert -1e-9 <= e_lo <= e_hi + 1e-9 * max(1.0, e_hi)


@pytest.mark.parametrize("cells", [1 << 20, 64])
def test_bgbb_likelihood_equals_its_terms_summed_one_by_one(
    cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pair-wise prefix sums (in blocks, here also many tiny ones) against eq. 5 written
    out term by term with scipy's betaln; and the gradient against central differences."""
    monkeypatch.setattr(bgbb, "_BLOCK_CELLS", cells)
    rng = np.random.default_rng(7)
    n = rng.integers(0, 400, 300).astype(float)
    tx = np.floor(rng.random(300) * (n + 1))
    x = np.where(tx > 0, np.maximum(1.0, np.floor(rng.random(300) * (tx + 1))), 0.0)
    x[:3], tx[:3], n[:3] = [0, 350, 5], [0, 399, 5], [0, 399, 400]  # newcomer, heavy, T = t_x
    params = np.array([0.8, 3.0, 0.4, 6.0])
    a, b, g, d = params
    alive, dead = bgbb.bgbb_log_terms(params, x, tx, n)
    for i in range(len(x)):
        xi, ti, ni = x[i], tx[i], n[i]
        direct_alive = betaln(a + xi, b + ni - xi) - betaln(a, b) + betaln(g, d + ni) - betaln(g, d)
        terms = [
            betaln(a + xi, b + j - xi) - betaln(a, b) + betaln(g + 1, d + j) - betaln(g, d)
            for j in ti + np.arange(ni - ti)
        ]
        assert alive[i] == pytest.approx(direct_alive, rel=1e-12, abs=1e-12)
        if terms:
            assert dead[i] == pytest.approx(float(logsumexp(terms)), rel=1e-12, abs=1e-12)
        else:
            assert dead[i] == -np.inf
    data = DiscreteData.from_arrays(x, tx, n)
    _, grad = bgbb.bgbb_negll(np.log(params), data)
    h, theta = 1e-6, np.log(params)
    for k in range(4):
        e = np.eye(4)[k] * h
        up, down = bgbb.bgbb_negll(theta + e, data)[0], bgbb.bgbb_negll(theta - e, data)[0]
        assert grad[k] == pytest.approx((up - down) / (2 * h), rel=1e-6)
