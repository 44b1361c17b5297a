"""One battery of checks for every registered model, fed by the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from patron.errors import NotFittedError, UsageError
from patron.value.models import MODELS, BaseModel, load_model


@dataclass
class Recipe:
    truth: list[float]
    simulate: Callable[[BaseModel, int, int], Any]


def _rfm(model: BaseModel, n: int, seed: int) -> Any:
    T = np.random.default_rng(seed).uniform(20, 78, n)
    return model.sample(T, seed=seed)  # type: ignore[attr-defined]


RECIPES: dict[str, Recipe] = {
    "bgnbd": Recipe([0.25, 4.0, 0.8, 2.5], _rfm),
    "mbgnbd": Recipe([0.5, 6.0, 0.9, 1.6], _rfm),
    "pnbd": Recipe([0.55, 10.0, 0.6, 11.0], _rfm),
    "gg": Recipe(
        [6.25, 3.74, 15.44],
        lambda m, n, s: m.sample(np.random.default_rng(s).integers(1, 10, n), seed=s),  # type: ignore[attr-defined]
    ),
    "bgbb": Recipe([1.2, 0.75, 0.66, 2.78], lambda m, n, s: m.sample(np.full(n, 6), seed=s)),  # type: ignore[attr-defined]
    "sbg": Recipe([0.7, 1.2], lambda m, n, s: m.sample(n, 8, seed=s)),  # type: ignore[attr-defined]
}


def test_every_registered_model_has_a_recipe() -> None:
    assert set(RECIPES) == set(MODELS)


def simulated(name: str, n: int = 3000, seed: int = 1) -> Any:
    cls = MODELS[name]
    truth = cls().with_params(np.array(RECIPES[name].truth))
    return RECIPES[name].simulate(truth, n, seed)


@pytest.fixture(params=sorted(MODELS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_fit_returns_self_and_sets_learned_attributes(name: str) -> None:
    model = MODELS[name]()
    assert model.fit(simulated(name)) is model
    assert set(model.params_) == set(model.param_names)
    assert set(model.standard_errors_) == set(model.param_names)
    assert np.isfinite(model.log_likelihood_)
    assert all(se > 0 for se in model.standard_errors_.values())


def test_not_fitted_error(name: str) -> None:
    model = MODELS[name]()
    with pytest.raises(NotFittedError, match=f"This {type(model).__name__} is not fitted yet"):
        _ = model.params_


def test_save_load_round_trip(name: str, tmp_path: Path) -> None:
    model = MODELS[name]().fit(simulated(name))
    path = tmp_path / "model.json"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.params_ == model.params_
    assert loaded.standard_errors_ == pytest.approx(model.standard_errors_)
    assert '"patron_version"' in path.read_text()


def test_deterministic(name: str) -> None:
    data = simulated(name)
    assert MODELS[name]().fit(data).params_ == MODELS[name]().fit(data).params_
    again = simulated(name)
    assert MODELS[name]().fit(again).params_ == MODELS[name]().fit(data).params_


@pytest.mark.parametrize("name", sorted(n for n, m in MODELS.items() if m.analytic_gradient))
def test_gradient_matches_finite_differences(name: str) -> None:
    model = MODELS[name]()
    data = simulated(name, n=500)
    theta = np.log(np.array(RECIPES[name].truth)) + 0.1
    _, grad = model._negll(theta, data)
    assert grad is not None
    numeric = approx_fprime(theta, lambda t: model._negll(t, data)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-3)


def test_bad_hyperparameter_is_named(name: str) -> None:
    with pytest.raises(UsageError, match=r"penalizer=-1 must be a number >= 0"):
        MODELS[name](penalizer=-1).fit(simulated(name, n=200))
    with pytest.raises(UsageError, match=r"penalizer=inf must be a number >= 0 and finite"):
        MODELS[name](penalizer=float("inf")).fit(simulated(name, n=200))


@pytest.mark.slow
def test_recovers_known_parameters(name: str) -> None:
    model = MODELS[name]().fit(simulated(name, n=20_000, seed=7))
    for param, true in zip(model.param_names, RECIPES[name].truth, strict=True):
        est, se = model.params_[param], model.standard_errors_[param]
        assert abs(est - true) < 4 * se + 1e-9, f"{name}.{param}: {est:.4g} vs {true} (se {se:.3g})"
