"""Shared fitting machinery: weighted maximum likelihood in log-parameter space.

Every model minimises the mean negative log-likelihood over *unique* data rows weighted by
their counts, in log-parameter space (so parameters stay positive) with L-BFGS-B, using an
analytic gradient where the model has one. Standard errors come from the inverse Hessian of
the total negative log-likelihood (finite differences of the gradient), mapped back to the
natural parameters by the delta method.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from patron.errors import ConvergenceError, NotFittedError, UsageError

__all__ = [
    "HOMOGENEOUS_CAP",
    "NO_DROPOUT_LL",
    "NO_DROPOUT_SHARE",
    "WEAK_SE_RATIO",
    "BaseModel",
    "FloatArray",
    "as_float_array",
    "load_model",
]

FloatArray = NDArray[np.float64]
LOG_BOUND = 18.0  # |log parameter| above this means the data do not identify it
#: A parameter whose standard error exceeds this many times its estimate is barely identified
#: (its 95% interval in log space spans a factor of e^(2 × 3) ≈ 400 each way).
WEAK_SE_RATIO = 3.0
#: A fit whose dropout (``BaseModel.dropout_share``: per purchase, per period, or over the
#: longest history) is below this is compared with the fit in which nobody leaves ...
NO_DROPOUT_SHARE = 1e-3
#: ... and when that fits as well, to within this many log-likelihood units, the data show no
#: dropout: the optimum is that boundary, the model reduces to its purchase process alone and
#: the dropout parameters are not identified one by one (they are held at the boundary).
NO_DROPOUT_LL = 0.01
#: The other edge of a gamma or beta mixture: every customer alike. When everyone leaves at
#: the same rate (or buys at the same rate, or spends the same on average), the mixture's
#: spread parameter — Pareto/NBD's s, BG/NBD's b, BG/BB's δ, sBG's β; the purchase process's
#: r (BG/BB's β); Gamma-Gamma's q — runs off to infinity with its partner (β, a, γ, α; α;
#: γ) while the mean stays put, and the likelihood is flat along that ridge. The search stops
#: the spread parameter at this cap, where the spread between customers is negligible (a
#: gamma shape of 1e5 is a coefficient of variation of 0.3%); a fit ending at the cap holds it
#: there (``fixed_params_``), and the mean is estimated as usual.
HOMOGENEOUS_CAP = 1e5
LOG_CAP = math.log(HOMOGENEOUS_CAP)
#: A fit whose spread parameter exceeds this (a spread of ~3%) is checked against the fit
#: held at the cap, instead of walking on along the ridge (and from two more starts).
HOMOGENEOUS_CHECK = 1e3


def as_float_array(value: Any, name: str) -> FloatArray:
    """A 1-D float array; an error naming the input when it has NaN or inf."""
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{name} has missing or infinite values; drop or fill them first.")
    return arr


class BaseModel:
    """Base of every value model: the scikit-learn contract plus JSON persistence.

    Subclasses set ``name`` and ``param_names`` and implement ``_negll(log_params, data)``
    returning the total negative log-likelihood and its gradient with respect to the log
    parameters (gradient may be ``None``: then it is computed numerically).

    Models with a dropout process name its parameters in ``dropout_params`` and implement
    ``dropout_share``; a fit that finds no dropout (the likelihood highest where nobody
    leaves) then stands, with those parameters held at the boundary and listed in
    ``fixed_params_``. Models name in ``homogeneous`` each mixture's spread parameter and
    its partner; data in which customers do not differ then fit with the spread parameter
    held at ``HOMOGENEOUS_CAP``, and ``homogeneous_mean`` describes the common value.
    """

    name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    analytic_gradient: ClassVar[bool] = True
    #: Indices (into ``param_names``) of the dropout process's parameters, if any.
    dropout_params: ClassVar[tuple[int, ...]] = ()
    #: (spread, partner) index pairs: a mixture's parameter that runs to infinity when every
    #: customer is alike, and the one that keeps the mean with it.
    homogeneous: ClassVar[tuple[tuple[int, int], ...]] = ()
    #: Parameters held at a boundary by the fit (their standard errors are None): both dropout
    #: parameters when there is no dropout, a spread parameter at the homogeneous cap.
    fixed_params_: tuple[str, ...] = ()

    #: Whether the dropout parameters are unit-free shapes (a Beta mixture's), so that one
    #: prior on them means the same on any time unit (``dropout_prior``).
    unitless_dropout: ClassVar[bool] = False

    def __init__(
        self, *, penalizer: float = 0.0, max_iter: int = 2000, dropout_prior: float | None = None
    ) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.dropout_prior = dropout_prior

    # -- the contract -----------------------------------------------------------------------
    def _check_hyperparameters(self) -> None:
        if not (isinstance(self.penalizer, int | float) and 0 <= self.penalizer < math.inf):
            raise UsageError(
                f"{type(self).__name__}: penalizer={self.penalizer!r} must be a number >= 0 "
                "and finite."
            )
        prior = self.dropout_prior
        if prior is not None:
            if not self.unitless_dropout:
                raise UsageError(
                    f"{type(self).__name__} has no unit-free dropout parameters, so a dropout "
                    "prior would depend on the time unit; use it with bgnbd, mbgnbd or bgbb."
                )
            if not (isinstance(prior, int | float) and 0 < prior < math.inf):
                raise UsageError(
                    f"dropout prior {prior!r} must be a standard deviation > 0 (of the log "
                    "dropout parameters), such as 2."
                )
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise UsageError(
                f"{type(self).__name__}: max_iter={self.max_iter!r} must be an integer > 0."
            )

    @property
    def params_(self) -> dict[str, float]:
        """Fitted parameters by name."""
        self._check_fitted()
        return dict(zip(self.param_names, self._params.tolist(), strict=True))

    @property
    def standard_errors_(self) -> dict[str, float | None]:
        """Standard errors of the parameters (delta method from the log-space Hessian).

        None for a parameter the fit held at a boundary (``fixed_params_``).
        """
        self._check_fitted()
        se = np.sqrt(np.clip(np.diag(self.covariance_), 0.0, None))
        return {
            p: None if p in self.fixed_params_ else v
            for p, v in zip(self.param_names, se.tolist(), strict=True)
        }

    @property
    def weak_params_(self) -> list[str]:
        """Parameters the data barely pin down: standard error over WEAK_SE_RATIO × estimate.

        Softer than the identifiability check of the fit (a flat likelihood raises): the fit
        stands, and what the data do identify (e.g. BG/NBD's a/(a+b) on a short history)
        drives the predictions, but such estimates should not be read one by one.
        """
        se = self.standard_errors_
        return [k for k, v in self.params_.items() if (se[k] or 0.0) > WEAK_SE_RATIO * v]

    def weak_note(self, label: str = "") -> str | None:
        """What a reader should know of ``weak_params_``, for people; None when there are none.

        ``label`` goes before the parameter names (e.g. "spend (Gamma-Gamma) "). The caller
        adds what its own output should be read with (CLV or DERL intervals, options).
        """
        weak = self.weak_params_
        if not weak:
            return None
        these, them = ("these parameters", "them") if len(weak) > 1 else ("it", "it")
        return (
            f"{label}{', '.join(weak)}: standard error over {WEAK_SE_RATIO:g} times the "
            f"estimate, so the data barely pin {these} down; do not read {them} one by one"
        )

    @property
    def no_dropout_(self) -> bool:
        """Whether the fit stands at the no-dropout boundary (nobody leaves)."""
        names = {self.param_names[i] for i in self.dropout_params}
        return bool(names) and names <= set(self.fixed_params_)

    @property
    def homogeneous_params_(self) -> tuple[str, ...]:
        """The spread parameters the fit holds at the homogeneous cap."""
        spreads = {self.param_names[i] for i, _ in self.homogeneous}
        if self.no_dropout_:  # a spread among the dropout parameters is held for that reason
            spreads -= {self.param_names[i] for i in self.dropout_params}
        return tuple(p for p in self.fixed_params_ if p in spreads)

    def held_reason(self, name: str) -> str:
        """Why a parameter has no standard error: "no dropout", "homogeneous" or ""."""
        if name in self.homogeneous_params_:
            return "homogeneous"
        return "no dropout" if name in self.fixed_params_ else ""

    def homogeneous_mean(self, spread: str) -> tuple[str, str, str, float, str]:
        """What is common to every customer when ``spread`` is held at the cap.

        (topic, how customers would differ, expression, value, per what), e.g. ("dropout",
        "how soon they leave", "a/(a+b)", 0.25, "per repeat purchase"); "unit" in the last
        stands for the time unit of the data.
        """
        raise NotImplementedError(f"{type(self).__name__} has no parameter {spread!r} to hold")

    def homogeneous_notes(self, unit: str) -> list[str]:
        """What each spread parameter held at the cap means, for people.

        For a model with P(alive) (one with ``dropout_params``), a common dropout still
        leaves each customer's P(alive) to their own history, and the note says so.
        """
        notes = []
        for spread in self.homogeneous_params_:
            topic, differ, expr, value, per = self.homogeneous_mean(spread)
            note = (
                f"homogeneous {topic}: the data show no difference between customers in "
                f"{differ}, so {self.name} holds {spread} at {HOMOGENEOUS_CAP:g}, where "
                f"{topic} hardly varies between customers (a bound, not an estimate), and "
                f"estimates the common {topic} {expr} = {value:.4g} "
                f"{per.replace('unit', unit)}."
            )
            if topic == "dropout" and self.dropout_params:
                note += " P(alive) still follows each customer's own history."
            notes.append(note)
        return notes

    def dropout_share(self, params: FloatArray, data: Any) -> float:
        """How much dropout ``params`` imply on ``data``, as a probability.

        Models with a dropout process override it. Below ``NO_DROPOUT_SHARE`` the fit checks
        whether a fit with nobody leaving does as well.
        """
        return math.inf

    def _check_fitted(self) -> None:
        if not hasattr(self, "_params"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit() or load() first."
            )

    def fit(self, data: Any) -> Self:
        """Fit the model to ``data`` (its own input type); returns ``self``."""
        raise NotImplementedError

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        raise NotImplementedError

    def _penalty(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """The penalizer's ``penalizer × Σ θ²`` plus the dropout prior's negative log density.

        The dropout prior (``dropout_prior`` = σ) is a normal prior on the log of each dropout
        parameter, centred on 1: for BG/NBD's a and b (BG/BB's γ and δ) a Beta(1, 1)-centred
        belief that a customer's chance of leaving could lie anywhere between 0 and 1, and a
        factor e^σ either way is one standard deviation. It keeps the fit off the no-dropout
        boundary when the likelihood there is nearly flat (a → 0), and fades as data pin the
        dropout down.
        """
        params = np.exp(log_params)
        value = self.penalizer * float(np.sum(params**2))
        grad = 2.0 * self.penalizer * params**2
        if self.dropout_prior is not None:
            idx = list(self.dropout_params)
            scale = self.dropout_prior**2
            value += 0.5 * float(np.sum(log_params[idx] ** 2)) / scale
            grad = grad.copy()
            grad[idx] += log_params[idx] / scale
        return value, grad

    def _objective(self, data: Any, n: float) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        def fun(theta: FloatArray) -> tuple[float, FloatArray]:
            value, grad = self._negll(theta, data)
            if grad is None:
                grad = _numeric_gradient(lambda t: self._negll(t, data)[0], theta)
            pen, pen_grad = self._penalty(theta)
            total = (value + pen) / n
            if not np.isfinite(total):
                return 1e300, np.zeros_like(theta)
            return total, (grad + pen_grad) / n

        return fun

    def _penalizer_hint(self) -> str:
        """What to try with the penalizer: a small one, or ten times the one that failed."""
        if self.penalizer <= 0:
            return "a small penalizer (`--penalizer 0.001`; penalizer=0.001 in Python)"
        larger = 10 * self.penalizer
        return (
            f"a larger penalizer than {self.penalizer:g} (`--penalizer {larger:g}`; it pulls "
            "the parameters toward 0, so check the CLV it gives)"
        )

    def _fit(self, data: Any, n: float, start: FloatArray) -> Self:
        self._check_hyperparameters()
        fun = self._objective(data, n)
        k = len(start)
        lo, hi = self._bounds(k)
        # Past HOMOGENEOUS_CHECK a spread parameter is on the ridge of customers alike: the
        # walk along it stops there and the fit held at the cap takes over.
        ridge = math.log(HOMOGENEOUS_CHECK)
        spreads = [i for i, _ in self.homogeneous]
        # The best start that finished, and a start cut short on the ridge (which cannot be
        # compared with it until the ridge is resolved below).
        finished, on_ridge = None, None
        for guess in (start, start + 0.5, start - 0.5):
            res = self._minimize(fun, guess, lo, hi, stop_past=(spreads, ridge))
            if res.get("on_ridge"):
                on_ridge = res
                break  # other starts would walk the same ridge
            if finished is None or res.fun < finished.fun:
                finished = res
            if res.success and np.all((res.x > lo + 1e-6) & (res.x < hi - 1e-6)):
                break
        best = on_ridge if on_ridge is not None else finished
        assert best is not None
        fixed: tuple[int, ...] = ()
        checked: set[int] = set()
        while pending := [
            (i, j)
            for i, j in self.homogeneous
            if i not in fixed and i not in checked and best.x[i] > ridge
        ]:
            # Customers nearly alike: the spread held at the cap (the partner moved with it,
            # so the mean stays), the rest re-optimised. That is the optimum when the
            # likelihood rises towards the cap, or falls by less than NO_DROPOUT_LL over the
            # ridge from HOMOGENEOUS_CHECK to the cap (its slope there, extrapolated: below
            # that, the slope is the optimizer's own imprecision), or fits as well as an
            # optimum found before the cap. Else the walk goes on from where it stopped, and
            # stands at the cap if it ends there.
            held, partner = pending[0]
            checked.add(held)
            theta = best.x.copy()
            theta[partner] += LOG_CAP - theta[held]
            # It starts next to its optimum; a relative tolerance of 1e-11 stops it there
            # rather than in line searches on the ~1e-11 noise of the Pareto/NBD's integrals.
            edge = self._boundary_fit(fun, theta, {held: LOG_CAP}, (*fixed, held), ftol=1e-11)
            fall = fun(edge.x)[1][held] * n * (LOG_CAP - ridge)
            as_well = not best.get("on_ridge") and (edge.fun - best.fun) * n <= NO_DROPOUT_LL
            if fall <= NO_DROPOUT_LL or as_well:
                best, fixed = edge, (*fixed, held)
            elif best.get("on_ridge"):
                best = self._boundary_fit(fun, best.x, {}, fixed)
                if best.x[held] >= hi[held] - 1e-3:
                    fixed = (*fixed, held)
        if on_ridge is not None and finished is not None and finished.fun < best.fun:
            # An earlier start (ended at a bound, e.g. where nobody leaves) fits better than
            # the ridge, wherever the ridge ended: it stands, and is checked as any fit.
            best, fixed = finished, ()
        if self.dropout_params and self.dropout_share(np.exp(best.x), data) < NO_DROPOUT_SHARE:
            # Hardly any dropout: if none at all fits as well, the optimum is that boundary,
            # where the dropout parameters are not identified one by one. The first dropout
            # parameter goes to its lower bound, the other stays, the rest are re-optimised.
            first = self.dropout_params[0]
            held_too = (*fixed, *self.dropout_params)
            edge = self._boundary_fit(fun, best.x, {first: lo[first]}, held_too)
            if (edge.fun - best.fun) * n <= NO_DROPOUT_LL:
                best, fixed = edge, tuple(dict.fromkeys((*self.dropout_params, *fixed)))
        theta = best.x
        free = [i for i in range(k) if i not in fixed]
        stuck = [
            self.param_names[i]
            for i in free
            if theta[i] <= lo[i] + 1e-3 or theta[i] >= hi[i] - 1e-3
        ]
        if stuck:
            raise ConvergenceError(
                f"{type(self).__name__} did not converge: parameter(s) {', '.join(stuck)} ran "
                "to the edge of the search space, so the data do not identify them. Try more "
                f"data, a longer calibration period, {self._penalizer_hint()}, or a simpler "
                "model."
            )
        if not best.success and np.linalg.norm(best.jac[free]) > 1e-3:
            raise ConvergenceError(
                f"{type(self).__name__} did not converge ({best.message}); try "
                f"{self._penalizer_hint()}, max_iter larger than {self.max_iter} (in Python), "
                "or check the summary for outliers."
            )
        self._params = np.exp(theta)
        self.fixed_params_ = tuple(self.param_names[i] for i in fixed)
        self.log_likelihood_ = -float(self._negll(theta, data)[0])
        self.n_obs_ = float(n)
        self.covariance_ = self._covariance(theta, data, free)
        return self

    def _bounds(self, k: int) -> tuple[FloatArray, FloatArray]:
        """The search space in log parameters: ±LOG_BOUND, a spread parameter up to the cap.

        The partner of a spread parameter may go as far beyond the cap as the others go
        beyond 1, so the mean (dropout, purchase rate, spend) keeps the usual range.
        """
        lo, hi = np.full(k, -LOG_BOUND), np.full(k, LOG_BOUND)
        for spread, partner in self.homogeneous:
            hi[spread] = LOG_CAP
            hi[partner] = LOG_CAP + LOG_BOUND
        return lo, hi

    def _minimize(
        self,
        fun: Callable[[FloatArray], tuple[float, FloatArray]],
        start: FloatArray,
        lo: FloatArray,
        hi: FloatArray,
        stop_past: tuple[list[int], float] | None = None,
        ftol: float = 1e-13,
    ) -> optimize.OptimizeResult:
        """L-BFGS-B with the analytic gradient, every log-parameter within its bounds.

        With ``stop_past=(indices, v)`` it stops once one of those log-parameters passes v;
        the result then has ``on_ridge`` set.
        """
        on_ridge = False

        def callback(intermediate_result: optimize.OptimizeResult) -> None:
            nonlocal on_ridge
            if stop_past and np.any(intermediate_result.x[stop_past[0]] > stop_past[1]):
                on_ridge = True
                raise StopIteration

        res = optimize.minimize(
            fun,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lo.tolist(), hi.tolist(), strict=True)),
            options={"maxiter": self.max_iter, "ftol": ftol, "gtol": 1e-8},
            callback=callback if stop_past and stop_past[0] else None,
        )
        res["on_ridge"] = on_ridge
        return res

    def _boundary_fit(
        self,
        fun: Callable[[FloatArray], tuple[float, FloatArray]],
        theta: FloatArray,
        at: dict[int, float],
        held: tuple[int, ...],
        ftol: float = 1e-13,
    ) -> optimize.OptimizeResult:
        """The fit with the parameters in ``held`` held, as an ``OptimizeResult`` over all.

        Those in ``at`` are set to the value given, the others stay where ``theta`` has them;
        the rest are re-optimised.
        """
        k = len(theta)
        start = theta.copy()
        for i, value in at.items():
            start[i] = value
        free = [i for i in range(k) if i not in held]
        lo, hi = self._bounds(k)

        def reduced(t: FloatArray) -> tuple[float, FloatArray]:
            full = start.copy()
            full[free] = t
            value, grad = fun(full)
            return value, grad[free]

        x0 = np.clip(start[free], lo[free], hi[free])
        res = self._minimize(reduced, x0, lo[free], hi[free], ftol=ftol)
        full = start.copy()
        full[free] = res.x
        jac = np.zeros(k)
        jac[free] = res.jac
        return optimize.OptimizeResult(
            x=full, fun=res.fun, jac=jac, success=res.success, message=res.message
        )

    def _covariance(self, theta: FloatArray, data: Any, free: list[int]) -> FloatArray:
        """Delta-method covariance of the parameters in ``free`` (zero rows for the rest)."""

        def grad(t: FloatArray) -> FloatArray:
            g = self._negll(t, data)[1]
            if g is None:
                g = _numeric_gradient(lambda u: self._negll(u, data)[0], t)
            return np.asarray((g + self._penalty(t)[1])[free])

        k = len(theta)
        m = len(free)
        hess = np.zeros((m, m))
        for col, i in enumerate(free):
            h = 1e-5 * max(1.0, abs(theta[i]))
            e = np.zeros(k)
            e[i] = h
            hess[:, col] = (grad(theta + e) - grad(theta - e)) / (2 * h)
        hess = (hess + hess.T) / 2
        eigval, eigvec = np.linalg.eigh(hess)
        if not np.all(np.isfinite(eigval)) or eigval[0] <= 1e-7 * max(1.0, float(eigval[-1])):
            weak = np.abs(eigvec[:, 0]) > 0.3 if np.all(np.isfinite(eigvec)) else np.ones(m, bool)
            names = ", ".join(self.param_names[i] for i, w in zip(free, weak, strict=True) if w)
            raise ConvergenceError(
                f"{type(self).__name__} did not converge to a unique estimate: the likelihood is "
                f"flat in {names}, so the data do not identify them. Try more data, a longer "
                f"calibration period, {self._penalizer_hint()}, or a simpler model."
            )
        cov_log = np.zeros((k, k))
        cov_log[np.ix_(free, free)] = np.linalg.inv(hess)
        jac = np.diag(np.exp(theta))
        return np.asarray(jac @ cov_log @ jac)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted model, JSON-ready."""
        self._check_fitted()
        from patron import __version__

        return {
            "model": self.name,
            "patron_version": __version__,
            "hyperparameters": {
                "penalizer": self.penalizer,
                "max_iter": self.max_iter,
                "dropout_prior": self.dropout_prior,
            },
            "params": self.params_,
            "standard_errors": self.standard_errors_,
            "covariance": self.covariance_.tolist(),
            "fixed": list(self.fixed_params_),
            "log_likelihood": self.log_likelihood_,
            "n_obs": self.n_obs_,
        }

    def save(self, path: str | Path) -> None:
        """Write the fitted model as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if payload.get("model") != cls.name:
            raise UsageError(f"This file holds a {payload.get('model')!r} model, not {cls.name!r}.")
        model = cls(**payload.get("hyperparameters", {}))
        model._params = np.array([payload["params"][p] for p in cls.param_names], dtype=float)
        model.covariance_ = np.array(payload["covariance"], dtype=float)
        model.fixed_params_ = tuple(payload.get("fixed", ()))
        model.log_likelihood_ = float(payload["log_likelihood"])
        model.n_obs_ = float(payload["n_obs"])
        return model

    def sample_params(self, n: int, seed: int | np.random.Generator | None = None) -> FloatArray:
        """Draw parameter vectors from the fitted (log-normal) sampling distribution.

        The draws are normal in log-parameter space with the delta-method covariance, so
        every draw is positive. Returns an ``(n, k)`` array.
        """
        self._check_fitted()
        rng = np.random.default_rng(seed)
        p = self._params
        cov_log = self.covariance_ / np.outer(p, p)
        draws = rng.multivariate_normal(np.log(p), cov_log, size=n, method="eigh")
        return np.asarray(np.exp(draws))

    def with_params(self, params: FloatArray) -> Self:
        """A copy of this model with other parameter values (for intervals)."""
        clone = type(self)(
            penalizer=self.penalizer, max_iter=self.max_iter, dropout_prior=self.dropout_prior
        )
        clone._params = np.asarray(params, dtype=float)
        clone.covariance_ = getattr(self, "covariance_", np.zeros((len(params), len(params))))
        clone.fixed_params_ = self.fixed_params_
        clone.log_likelihood_ = float("nan")
        clone.n_obs_ = getattr(self, "n_obs_", float("nan"))
        return clone

    def __repr__(self) -> str:
        if hasattr(self, "_params"):
            inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({inner})"
        return f"{type(self).__name__}(penalizer={self.penalizer})"


def _numeric_gradient(f: Callable[[FloatArray], float], x: FloatArray) -> FloatArray:
    grad = np.zeros_like(x)
    for i in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def load_model(path: str | Path) -> BaseModel:
    """Load any registered model from a JSON file written by :meth:`BaseModel.save`."""
    from patron.value.models import MODELS

    payload = json.loads(Path(path).read_text())
    name = payload.get("model")
    if name not in MODELS:
        raise UsageError(f"{path}: unknown model {name!r}; known: {', '.join(MODELS)}.")
    return MODELS[name].from_dict(payload)
