"""Histories in which nobody drops out: every model reduces to its purchase process.

Over a short calibration period the data may show no dropout at all (Online Retail up to
2011-09-09 is such a case). The likelihood is then highest on the boundary where nobody
leaves — BG/NBD's a → 0, Pareto/NBD's s → 0, BG/BB's γ → 0 — where the dropout parameters
are not identified one by one. The fit stands there, holds them at the boundary, and is the
purchase process alone: the NBD (Gamma-Poisson) for the continuous models, the
Beta-Binomial for BG/BB. The checks compare with those models fitted independently here.

A finite sample without dropout may still show a little by chance (then the dropout is
estimated as usual); the seeds here give samples that show none.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy.special import betaln, gammaln

from patron.errors import UsageError
from patron.value.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    DiscreteData,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    RFMData,
    load_model,
)

R, ALPHA = 0.7, 9.0  # purchase rate λ ~ Gamma(r, α) per week
P_A, P_B = 2.0, 8.0  # per-period purchase probability ~ Beta(α, β) for BG/BB


def _nbd_sample(n: int, seed: int) -> RFMData:
    """Poisson purchases at a Gamma rate, nobody leaving; times rounded to days."""
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(20, 52, n) * 7) / 7
    x = rng.poisson(rng.gamma(R, 1 / ALPHA, n) * T).astype(float)
    # the last of x uniform purchase times in (0, T)
    tx = np.where(x > 0, T * rng.uniform(size=n) ** (1 / np.maximum(x, 1)), 0.0)
    return RFMData.from_arrays(x, np.minimum(np.ceil(tx * 7) / 7, T), T)


def _nbd_fit(data: RFMData) -> tuple[np.ndarray, float]:
    """The NBD fitted directly: L = Γ(r+x)/Γ(r) α^r / (α+T)^(r+x) per customer."""

    def negll(theta: np.ndarray) -> float:
        r, alpha = np.exp(theta)
        x, T, w = data.frequency, data.T, data.weights
        ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
        return -float(np.dot(w, ll))

    res = optimize.minimize(negll, np.zeros(2), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000})  # fmt: skip
    return np.exp(res.x), -float(res.fun)


@pytest.fixture(scope="module")
def nbd_data() -> RFMData:
    return _nbd_sample(3000, seed=4)


@pytest.mark.parametrize(
    ("model_cls", "dropout"),
    [
        (BetaGeoModel, ("a", "b")),
        (ModifiedBetaGeoModel, ("a", "b")),
        (ParetoNBDModel, ("s", "beta")),
    ],
)
def test_continuous_models_reduce_to_the_nbd(
    model_cls: type[BetaGeoModel] | type[ParetoNBDModel],
    dropout: tuple[str, str],
    nbd_data: RFMData,
    tmp_path: Path,
) -> None:
    model = model_cls().fit(nbd_data)
    assert model.fixed_params_ == dropout
    nbd, nbd_ll = _nbd_fit(nbd_data)
    # The purchase parameters and the likelihood are the NBD's.
    got = np.array([model.params_["r"], model.params_["alpha"]])
    np.testing.assert_allclose(got, nbd, rtol=2e-3)
    assert model.log_likelihood_ == pytest.approx(nbd_ll, abs=0.01)
    # ... with finite standard errors that cover the truth; none for the boundary.
    se = model.standard_errors_
    assert [se[p] for p in dropout] == [None, None]
    for name, truth in (("r", R), ("alpha", ALPHA)):
        error = se[name]
        assert error is not None
        assert 0 < error < 0.2 * model.params_[name]
        assert abs(model.params_[name] - truth) < 3 * error
    assert model.weak_params_ == []
    # Everyone is alive, and the conditional expectation is the NBD's (r + x) / (α + T) t.
    x, tx, T = nbd_data.frequency, nbd_data.recency, nbd_data.T
    np.testing.assert_allclose(model.p_alive(x, tx, T), 1.0, atol=1e-6)
    r, alpha = got
    np.testing.assert_allclose(
        model.conditional_expected_purchases(26.0, x, tx, T), (r + x) / (alpha + T) * 26.0,
        rtol=1e-5,
    )  # fmt: skip
    # Parameter draws for intervals leave the boundary alone.
    draws = model.sample_params(200, seed=1)
    assert np.all(np.isfinite(draws))
    np.testing.assert_allclose(draws[:, 2:], np.tile(model._params[2:], (200, 1)), rtol=1e-12)
    assert np.std(np.log(draws[:, 0])) > 0
    # Saved and loaded, it still knows which parameters are held at the boundary.
    path = tmp_path / "model.json"
    model.save(path)
    assert json.loads(path.read_text())["standard_errors"][dropout[0]] is None
    assert load_model(path).fixed_params_ == dropout


def test_bgbb_reduces_to_the_beta_binomial() -> None:
    rng = np.random.default_rng(1)
    n_cust, top = 4000, 30
    n = rng.integers(10, top + 1, n_cust)  # whole periods observed
    p = rng.beta(P_A, P_B, n_cust)
    buys = (rng.uniform(size=(n_cust, top)) < p[:, None]) & (np.arange(top) < n[:, None])
    x = buys.sum(axis=1)
    tx = np.where(x > 0, top - np.argmax(buys[:, ::-1], axis=1), 0)
    model = BetaGeoBetaBinomModel().fit(DiscreteData.from_arrays(x, tx, n))
    assert model.fixed_params_ == ("gamma", "delta")

    def negll(theta: np.ndarray) -> float:  # Beta-Binomial purchase periods, nobody leaving
        a, b = np.exp(theta)
        return -float(np.sum(betaln(a + x, b + n - x) - betaln(a, b)))

    res = optimize.minimize(negll, np.zeros(2), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10})  # fmt: skip
    got = np.array([model.params_["alpha"], model.params_["beta"]])
    np.testing.assert_allclose(got, np.exp(res.x), rtol=2e-3)
    assert model.log_likelihood_ == pytest.approx(-res.fun, abs=0.01)
    np.testing.assert_allclose(model.p_alive(x, tx, n), 1.0, atol=1e-6)


def test_visible_dropout_is_estimated_as_before(nbd_data: RFMData) -> None:
    """Customers who do leave (BG/NBD truth a = 0.8, b = 2.4) keep an estimated dropout."""
    truth = BetaGeoModel().with_params(np.array([R, ALPHA, 0.8, 2.4]))
    data = truth.sample(nbd_data.T, seed=2)
    model = BetaGeoModel().fit(data)
    assert model.fixed_params_ == ()
    assert all(v is not None for v in model.standard_errors_.values())
    assert 0.15 < model.params_["a"] / (model.params_["a"] + model.params_["b"]) < 0.35


def test_a_dropout_prior_keeps_the_fit_off_the_boundary(nbd_data: RFMData) -> None:
    """`dropout_prior=σ`: Normal(0, σ²) on log a and log b, its gradient exact."""
    model = BetaGeoModel(dropout_prior=2.0).fit(nbd_data)
    assert model.fixed_params_ == ()
    assert model.params_["a"] > 1e-4
    theta = np.log(model._params) + 0.1
    value, grad = model._penalty(theta)
    assert value == pytest.approx(0.5 * float(np.sum(theta[2:] ** 2)) / 4.0)
    step = 1e-6
    numeric = [
        (model._penalty(theta + step * e)[0] - model._penalty(theta - step * e)[0]) / (2 * step)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    # Saved and loaded, it keeps the prior; Pareto/NBD's dropout has a time unit: refused.
    assert BetaGeoModel.from_dict(model.to_dict()).dropout_prior == 2.0
    with pytest.raises(UsageError, match="use it with bgnbd, mbgnbd or bgbb"):
        ParetoNBDModel(dropout_prior=2.0).fit(nbd_data)
