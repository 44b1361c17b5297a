"""Gamma-Gamma model of spend per transaction.

Reference: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note), building on
Colombo & Jiang (1999). Spend per transaction z ~ Gamma(p, ν) with ν ~ Gamma(q, γ); the mean
of a customer's x repeat transactions, z̄, is the sufficient statistic.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import digamma, gammaln

from patron.value.models._base import BaseModel, FloatArray
from patron.value.models._data import SpendData

__all__ = ["GammaGammaModel", "gamma_gamma_negll"]


def gamma_gamma_negll(log_params: FloatArray, data: SpendData) -> tuple[float, FloatArray]:
    """Negative log-likelihood of mean spend z̄ over x transactions, and gradient.

    Fader & Hardie (2013), eq. (4): ``f(z̄|p,q,γ;x) = Γ(px+q)/(Γ(px)Γ(q)) γ^q z̄^(px−1) x^px /
    (γ + x z̄)^(px+q)``. Terms in x alone are computed once per unique x; only
    ``ln(γ + x z̄)`` is evaluated per row.
    """
    p, q, g = np.exp(log_params)
    st = data.stats
    ux, wx = st.ux, st.wx
    w = data.weights
    pu = p * ux
    denom = g + st.xz
    log_denom = np.log(denom)
    wl = np.dot(w, log_denom)
    wxl = np.dot(st.w_x, log_denom)
    ll = (
        np.dot(wx, gammaln(pu + q) - gammaln(pu) - gammaln(q) + q * np.log(g) + pu * np.log(ux))
        + p * st.wx_logz - st.w_logz - p * wxl - q * wl
    )  # fmt: skip
    inv = 1.0 / denom
    d_p = np.dot(wx, ux * (digamma(pu + q) - digamma(pu) + np.log(ux))) + st.wx_logz - wxl
    d_q = np.dot(wx, digamma(pu + q) - digamma(q) + np.log(g)) - wl
    d_g = wx.sum() * q / g - p * np.dot(st.w_x, inv) - q * np.dot(w, inv)
    grad = np.array([d_p, d_q, d_g]) * np.exp(log_params)
    return -float(ll), -grad


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model: expected value of a customer's future transactions."""

    name: ClassVar[str] = "gg"
    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "gamma")
    #: q → ∞ with q/γ fixed: every customer's mean spend the same
    homogeneous: ClassVar[tuple[tuple[int, int], ...]] = ((1, 2),)

    def homogeneous_mean(self, spread: str) -> tuple[str, str, str, float, str]:
        """The common mean spend per purchase, p γ/(q − 1)."""
        if spread != "q":
            return super().homogeneous_mean(spread)
        p, q, g = self._params
        mean = p * g / (q - 1.0)
        return (
            "mean spend", "how much they spend per purchase", "p*gamma/(q-1)", mean,
            "per purchase",
        )  # fmt: skip

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        return gamma_gamma_negll(log_params, data)

    def fit(self, data: SpendData) -> GammaGammaModel:
        """Fit on repeat customers' (frequency, mean repeat spend) rows."""
        mean = float(np.average(data.monetary, weights=data.weights))
        start = np.log(np.array([1.0, 2.0, max(mean, 1e-6)]))
        return self._fit(data, float(data.weights.sum()), start)

    def expected_spend(self, frequency: Any, monetary: Any) -> FloatArray:
        """Expected value of a future transaction given x repeat transactions of mean z̄.

        ``E[Z | z̄, x] = p (γ + x z̄) / (p x + q − 1)`` (Fader & Hardie 2013, eq. 5); for x = 0 this
        is the population mean ``p γ / (q − 1)``. Needs q > 1.
        """
        self._check_fitted()
        p, q, g = self._params
        x = np.asarray(frequency, dtype=float)
        z = np.where(x > 0, np.asarray(monetary, dtype=float), 0.0)
        return np.asarray(p * (g + x * z) / (p * x + q - 1.0))

    def sample(self, frequency: Any, seed: int | np.random.Generator | None = None) -> SpendData:
        """Draw mean spend for customers with the given repeat counts (all > 0)."""
        self._check_fitted()
        p, q, g = self._params
        rng = np.random.default_rng(seed)
        x = np.asarray(frequency, dtype=float)
        nu = rng.gamma(q, 1.0 / g, len(x))
        total = rng.gamma(p * x, 1.0 / nu)  # sum of x Gamma(p, ν) draws
        return SpendData.from_arrays(x, total / x)
