"""Customer lifetime value: discounted expected margin minus discounted cost to serve.

For each customer, over a horizon of H months with a yearly discount rate d (converted to a
monthly rate ``(1+d)^(1/12) − 1``; cash flows at month ends):

- ``DE`` = Σ_m (E[X(T, T+t_m)] − E[X(T, T+t_{m−1})]) / (1+d_m)^m: discounted expected purchases;
- ``DS`` = Σ_m P(alive at T + mid-month m) / (1+d_m)^m: discounted expected active months;
- ``CLV = (expected spend × margin rate − cost per order) × DE − cost to serve per month × DS``.

Both DE and DS factor as ``P(alive now) × f(frequency, T)``: the expensive part (hypergeometric
functions) is evaluated on unique (frequency, T) pairs only, P(alive) on unique (frequency,
recency, T) rows, and the per-customer arithmetic happens in the engine.

BG/BB (discrete time) uses whole periods instead of months: :func:`period_value_factors`.

Uncertainty: the parameters' sampling distribution (log-normal, from the Hessian) is carried
to DE and DS by the delta method with finite-difference gradients. Because every customer
shares the same parameters, customer equity's variance uses the *summed* gradient (the
errors are perfectly correlated), not the sum of per-customer variances.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betaln

from patron.errors import UsageError
from patron.value.models import DiscreteData
from patron.value.models._base import BaseModel, FloatArray
from patron.value.models.bgbb import bgbb_log_terms

__all__ = ["ValueFactors", "ValueSettings", "monthly_rate", "period_value_factors", "value_factors"]

YEAR_DAYS = 365.25
MONTH_DAYS = YEAR_DAYS / 12.0
Z95 = 1.959963984540054


def monthly_rate(yearly: float) -> float:
    """The monthly discount rate equivalent to a yearly one: (1 + yearly)^(1/12) − 1."""
    return float((1.0 + yearly) ** (1.0 / 12.0) - 1.0)


@dataclass(frozen=True)
class ValueSettings:
    """Horizon (months), yearly discount rate, margin and costs used to value customers."""

    horizon_months: int = 12
    discount_rate: float = 0.10
    margin_rate: float | None = None
    order_cost: float = 0.0
    #: Yearly cost to serve per customer (currency), for every customer, replacing the
    #: customers table's; None: the customers table's (0 where it has none).
    cost_to_serve: float | None = None

    @property
    def costs_given(self) -> bool:
        """Whether a cost per order or a cost to serve was given here."""
        return self.order_cost > 0 or self.cost_to_serve is not None

    def __post_init__(self) -> None:
        if not (isinstance(self.horizon_months, int) and 1 <= self.horizon_months <= 1200):
            raise UsageError(
                f"--horizon {self.horizon_months!r} must be a whole number of months, 1..1200."
            )
        if not (0.0 <= self.discount_rate <= 1.0):  # 5 is 500% a year: surely 5% meant
            raise UsageError(
                f"--discount-rate {self.discount_rate!r} must be a yearly rate between 0 and 1 "
                f"written as a fraction: 0.1 is 10% a year (for 5% write 0.05, not 5)."
            )
        if self.margin_rate is not None and not (0.0 < self.margin_rate <= 1.0):
            raise UsageError(f"--margin-rate {self.margin_rate!r} must be a share in (0, 1].")
        if not (math.isfinite(self.order_cost) and self.order_cost >= 0):
            raise UsageError(
                f"--order-cost {self.order_cost!r} must be a cost per order >= 0 (currency)."
            )
        cts = self.cost_to_serve
        if cts is not None and not (math.isfinite(cts) and cts >= 0):
            raise UsageError(
                f"--cost-to-serve {cts!r} must be a yearly cost per customer >= 0 (currency)."
            )


@dataclass
class ValueFactors:
    """Per unique (frequency, recency_days, T_days) row: the model's part of CLV."""

    p_alive: FloatArray
    expected_purchases: FloatArray  # over the horizon
    de: FloatArray  # discounted expected purchases
    ds: FloatArray  # discounted expected active months
    var_de: FloatArray
    var_ds: FloatArray
    cov_de_ds: FloatArray
    grad_de: FloatArray  # (rows, k): d DE / d log-parameters
    grad_ds: FloatArray
    cov_log: FloatArray  # (k, k) covariance of the log-parameters


def _pair_index(
    frequency: FloatArray, T_days: FloatArray
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    # One integer key per pair (frequency and T are whole numbers of days here) sorts much
    # faster than row-wise unique on a 2-column array.
    span = float(np.max(T_days)) + 1.0 if len(T_days) else 1.0
    key = frequency * span + T_days
    uniq, inverse = np.unique(key, return_inverse=True)
    return np.floor(uniq / span), uniq - np.floor(uniq / span) * span, inverse.ravel()


def _evaluate(
    model: Any,
    x: FloatArray,
    tx_units: FloatArray,
    T_units: FloatArray,
    px: FloatArray,
    pT: FloatArray,
    inverse: np.ndarray,
    months: FloatArray,
    unit_days: float,
    disc: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    alive = model.p_alive(x, tx_units, T_units)
    t_end = months * MONTH_DAYS / unit_days
    t_mid = (months - 0.5) * MONTH_DAYS / unit_days
    cum = model.expected_if_alive(t_end[None, :], px[:, None], pT[:, None])
    inc = np.diff(np.concatenate([np.zeros((len(px), 1)), cum], axis=1), axis=1)
    de_pair = inc @ disc
    surv = model.survival_if_alive(t_mid[None, :], px[:, None], pT[:, None])
    ds_pair = surv @ disc
    return alive, alive * cum[:, -1][inverse], alive * de_pair[inverse], alive * ds_pair[inverse]


def value_factors(
    model: BaseModel,
    frequency: FloatArray,
    recency_days: FloatArray,
    T_days: FloatArray,
    *,
    unit_days: float,
    settings: ValueSettings,
) -> ValueFactors:
    """Evaluate the purchase model's part of CLV (and its uncertainty) on unique rows."""
    if not hasattr(model, "expected_if_alive"):
        raise UsageError(f"Model {model.name!r} cannot score customer value from transactions.")
    months = np.arange(1, settings.horizon_months + 1, dtype=float)
    disc = (1.0 + monthly_rate(settings.discount_rate)) ** -months
    x = np.asarray(frequency, dtype=float)
    tx_u = np.asarray(recency_days, dtype=float) / unit_days
    T_u = np.asarray(T_days, dtype=float) / unit_days
    px, pT_days, inverse = _pair_index(x, np.asarray(T_days, dtype=float))
    pT = pT_days / unit_days
    args = (x, tx_u, T_u, px, pT, inverse, months, unit_days, disc)
    return _with_uncertainty(model, lambda m: _evaluate(m, *args))


def period_value_factors(
    model: BaseModel,
    periods: DiscreteData,
    *,
    period_days: float,
    settings: ValueSettings,
) -> ValueFactors:
    """The BG/BB's part of CLV on unique (x, t_x, n) rows, in whole periods of ``period_days``.

    The horizon is the whole periods within ``settings.horizon_months``; each period's
    purchase is discounted from the period's end. With ``L`` the likelihood of a row (FHS
    2010, eq. 5), a purchase in period n+k has probability
    ``B(α+x+1, β+n−x)/B(α,β) · B(γ, δ+n+k)/B(γ,δ) / L`` and being alive in it
    ``B(α+x, β+n−x)/B(α,β) · B(γ, δ+n+k)/B(γ,δ) / L``. Summed over k the first is the
    paper's conditional expectation (eq. 13), discounted to infinity its DERT. Cost to
    serve is charged per month alive: ``period_days`` / (365.25/12) months per period.
    """
    if model.name != "bgbb":
        raise UsageError(f"Model {model.name!r} does not value whole periods; use bgbb.")
    horizon = int(np.floor(settings.horizon_months * MONTH_DAYS / period_days + 1e-9))
    if horizon < 1:
        raise UsageError(
            f"--horizon {settings.horizon_months} months is shorter than one period "
            f"({period_days:g} days); give a longer horizon or a shorter --unit."
        )
    k = np.arange(1, horizon + 1, dtype=float)
    disc = (1.0 + settings.discount_rate) ** (-k * period_days / YEAR_DAYS)
    x, tx, n = periods.frequency, periods.recency, periods.n_periods
    un, inverse = np.unique(n, return_inverse=True)
    inverse = inverse.ravel()
    months_per_period = period_days / MONTH_DAYS

    def evaluate(m: Any) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        alpha, beta, gamma, delta = m.params_.values()
        log_alive, log_dead = bgbb_log_terms(np.array([alpha, beta, gamma, delta]), x, tx, n)
        log_l = np.logaddexp(log_alive, log_dead)
        # Unconditional share still alive in period n+k, per distinct n.
        stay = np.exp(betaln(gamma, delta + un[:, None] + k[None, :]) - betaln(gamma, delta))
        buy = np.exp(betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - log_l)
        live = np.exp(betaln(alpha + x, beta + n - x) - betaln(alpha, beta) - log_l)
        total, discounted = stay.sum(axis=1)[inverse], (stay @ disc)[inverse]
        alive = live * stay[:, 0][inverse]  # P(alive in period n+1), FHS 2010 eq. 11
        return alive, buy * total, buy * discounted, live * discounted * months_per_period

    return _with_uncertainty(model, evaluate)


def _with_uncertainty(
    model: BaseModel,
    evaluate: Callable[[Any], tuple[FloatArray, FloatArray, FloatArray, FloatArray]],
) -> ValueFactors:
    """Evaluate at the estimate and with each log-parameter shifted: values and delta method.

    ``evaluate(model)`` gives (P(alive), expected purchases, DE, DS) per row.
    """
    params = np.asarray(list(model.params_.values()))
    theta = np.log(params)
    k = len(theta)
    h = 1e-5
    models = [model] + [model.with_params(np.exp(theta + h * np.eye(k)[j])) for j in range(k)]
    # The model at the estimate and shifted in each log-parameter, evaluated side by side
    # (numpy and scipy's special functions release the GIL on arrays this size).
    with ThreadPoolExecutor(max_workers=min(len(models), os.cpu_count() or 1)) as pool:
        results = list(pool.map(evaluate, models))
    alive, horizon, de, ds = results[0]
    grad_de = np.stack([(r[2] - de) / h for r in results[1:]], axis=1)
    grad_ds = np.stack([(r[3] - ds) / h for r in results[1:]], axis=1)
    cov_log = model.covariance_ / np.outer(params, params)
    de_c = grad_de @ cov_log
    var_de = np.sum(de_c * grad_de, axis=1)
    var_ds = np.sum((grad_ds @ cov_log) * grad_ds, axis=1)
    cov = np.sum(de_c * grad_ds, axis=1)
    return ValueFactors(alive, horizon, de, ds, var_de, var_ds, cov, grad_de, grad_ds, cov_log)
