"""sBG: retention in a contractual setting (subscriptions, renewals).

Reference: Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive
Marketing 21(1), 76-90; DERL from Fader & Hardie (2010), "Customer-Base Valuation in a
Contractual Setting: The Perils of Ignoring Heterogeneity", Marketing Science 29(1), 85-93.
Each customer churns at the end of each period with probability θ ~ Beta(α, β).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from patron.errors import DataError
from patron.value.models._base import BaseModel, FloatArray, as_float_array

__all__ = ["CohortData", "ShiftedBetaGeoModel", "sbg_negll"]


@dataclass(frozen=True)
class CohortData:
    """Customers still active at the start (t = 0) and after each period 1..T of a cohort."""

    alive: FloatArray

    @classmethod
    def from_counts(cls, alive: Any) -> CohortData:
        """Validate: positive start, never increasing."""
        counts = as_float_array(alive, "alive")
        if counts.size < 2 or counts[0] <= 0:
            raise DataError("A cohort needs its starting size and at least one later count.")
        if np.any(np.diff(counts) > 0) or np.any(counts < 0):
            raise DataError("Cohort counts must never increase (customers who left stay gone).")
        return cls(counts)

    @classmethod
    def from_lifetimes(cls, churn_period: Any, observed: Any) -> CohortData:
        """Build counts from per-customer data: period of churn, or ``observed`` if still active."""
        last = as_float_array(churn_period, "recency").astype(int)
        horizon = int(np.max(as_float_array(observed, "T")))
        alive = [
            float(np.sum(last > t)) + float(np.sum(last >= horizon)) * 0 for t in range(horizon)
        ]
        return cls.from_counts(alive)


def sbg_negll(log_params: FloatArray, data: CohortData) -> tuple[float, FloatArray]:
    """Negative sBG log-likelihood (Fader & Hardie 2007, eq. 5) and gradient.

    ``P(T=t) = B(α+1, β+t−1)/B(α, β)``, ``S(t) = B(α, β+t)/B(α, β)``.
    """
    alpha, beta = np.exp(log_params)
    n = data.alive
    t = np.arange(1, len(n), dtype=float)
    lost = n[:-1] - n[1:]
    base = betaln(alpha, beta)
    log_p = betaln(alpha + 1, beta + t - 1) - base
    log_s = betaln(alpha, beta + t[-1]) - base
    ll = float(np.dot(lost, log_p) + n[-1] * log_s)
    dbase_a = digamma(alpha) - digamma(alpha + beta)
    dbase_b = digamma(beta) - digamma(alpha + beta)
    dp_a = digamma(alpha + 1) - digamma(alpha + beta + t) - dbase_a
    dp_b = digamma(beta + t - 1) - digamma(alpha + beta + t) - dbase_b
    ds_a = digamma(alpha) - digamma(alpha + beta + t[-1]) - dbase_a
    ds_b = digamma(beta + t[-1]) - digamma(alpha + beta + t[-1]) - dbase_b
    grad = np.array([np.dot(lost, dp_a) + n[-1] * ds_a, np.dot(lost, dp_b) + n[-1] * ds_b])
    return -ll, -grad * np.exp(log_params)


class ShiftedBetaGeoModel(BaseModel):
    """sBG: heterogeneous churn probabilities, so retention rises with tenure."""

    name: ClassVar[str] = "sbg"
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        return sbg_negll(log_params, data)

    def fit(self, data: CohortData) -> ShiftedBetaGeoModel:
        """Fit on one cohort's survivor counts."""
        return self._fit(data, float(data.alive[0]), np.zeros(2))

    def survival(self, t: Any) -> FloatArray:
        """Share of a new cohort still active after t periods."""
        self._check_fitted()
        alpha, beta = self._params
        t = np.asarray(t, dtype=float)
        return np.asarray(np.exp(betaln(alpha, beta + t) - betaln(alpha, beta)))

    def retention_rate(self, t: Any) -> FloatArray:
        """Share of those active at period t−1 who renew at t: (β+t−1)/(α+β+t−1)."""
        self._check_fitted()
        alpha, beta = self._params
        t = np.asarray(t, dtype=float)
        return np.asarray((beta + t - 1) / (alpha + beta + t - 1))

    def derl(self, discount: float, renewals: Any = 0) -> FloatArray:
        """Discounted expected residual lifetime, in periods (Fader & Hardie 2010, eq. 6).

        For a customer who has made ``renewals`` renewals (n − 1 in the paper), evaluated just
        after the current payment: the expected number of *future* payments, each discounted
        by ``1/(1+discount)`` per period. Multiply by the margin per period for residual value.
        """
        self._check_fitted()
        alpha, beta = self._params
        n = np.asarray(renewals, dtype=float) + 1.0
        d = 1.0 / (1.0 + discount)
        value = (beta + n - 1) / (alpha + beta + n - 1) * hyp2f1(1.0, beta + n, alpha + beta + n, d)
        return np.asarray(value * d)

    def sample(self, n_customers: int, periods: int, seed: Any = None) -> CohortData:
        """Simulate one cohort of ``n_customers`` over ``periods`` periods."""
        self._check_fitted()
        alpha, beta = self._params
        rng = np.random.default_rng(seed)
        theta = rng.beta(alpha, beta, n_customers)
        life = rng.geometric(np.clip(theta, 1e-12, 1.0))  # period of churn
        alive = [float(np.sum(life > t)) for t in range(periods + 1)]
        return CohortData.from_counts(alive)
