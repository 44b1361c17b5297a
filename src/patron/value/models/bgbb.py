"""BG/BB: non-contractual purchasing in discrete time (one chance to buy per period).

Reference: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6), 1086-1108. While alive, a customer buys in
each period with probability p ~ Beta(α, β) and, at the start of each later period, drops out
with probability θ ~ Beta(γ, δ). Time is counted in periods (transaction opportunities).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln
from scipy.special import logsumexp as _lse

from patron.value.models._base import BaseModel, FloatArray
from patron.value.models._data import DiscreteData

__all__ = ["BetaGeoBetaBinomModel", "bgbb_log_terms", "bgbb_negll"]


def bgbb_log_terms(
    params: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``(log_alive, log_dead)``: the likelihood's two parts (FHS 2010, eq. 5).

    ``log_alive`` is alive through period n; ``log_dead`` sums over dropping out in periods
    t_x+1 .. n (log-sum-exp over a padded matrix, so it is vectorised).
    """
    alpha, beta, gamma, delta = params
    base = betaln(alpha, beta)
    base_d = betaln(gamma, delta)
    log_alive = betaln(alpha + x, beta + n - x) - base + betaln(gamma, delta + n) - base_d
    terms = (n - tx).astype(int)
    width = max(int(terms.max()) if terms.size else 0, 1)
    i = np.arange(width)[None, :]
    mask = i < terms[:, None]
    vals = (
        betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i) - base
        + betaln(gamma + 1, delta + tx[:, None] + i) - base_d
    )  # fmt: skip
    vals = np.where(mask, vals, -np.inf)
    log_dead = _lse(vals, axis=1)
    return np.asarray(log_alive), np.asarray(log_dead)


def bgbb_negll(log_params: FloatArray, data: DiscreteData) -> tuple[float, FloatArray]:
    """Negative BG/BB log-likelihood and its exact gradient in log-parameter space.

    Every term of the likelihood is a product of Beta functions, so each derivative is a
    difference of digammas; the gradient of ``log(alive + Σ_i dead_i)`` weights each term's
    derivative by its share of the likelihood.
    """
    alpha, beta, gamma, delta = np.exp(log_params)
    x, tx, n, w = data.frequency, data.recency, data.n_periods, data.weights
    alive, dead = bgbb_log_terms(np.exp(log_params), x, tx, n)
    ll = np.logaddexp(alive, dead)
    share_alive = np.exp(alive - ll)
    base_a = digamma(alpha) - digamma(alpha + beta)
    base_b = digamma(beta) - digamma(alpha + beta)
    base_g = digamma(gamma) - digamma(gamma + delta)
    base_d = digamma(delta) - digamma(gamma + delta)
    g_alive = np.stack(
        [
            digamma(alpha + x) - digamma(alpha + beta + n) - base_a,
            digamma(beta + n - x) - digamma(alpha + beta + n) - base_b,
            digamma(gamma) - digamma(gamma + delta + n) - base_g,
            digamma(delta + n) - digamma(gamma + delta + n) - base_d,
        ]
    )
    terms = (n - tx).astype(int)
    width = max(int(terms.max()) if terms.size else 0, 1)
    i = np.arange(width)[None, :]
    mask = i < terms[:, None]
    xi, txi = x[:, None], tx[:, None] + i
    log_terms = (
        betaln(alpha + xi, beta + txi - xi) - betaln(alpha, beta)
        + betaln(gamma + 1, delta + txi) - betaln(gamma, delta)
    )  # fmt: skip
    share = np.where(mask, np.exp(np.where(mask, log_terms, 0.0) - ll[:, None]), 0.0)
    g_dead = np.stack(
        [
            (share * (digamma(alpha + xi) - digamma(alpha + beta + txi) - base_a)).sum(axis=1),
            (share * (digamma(beta + txi - xi) - digamma(alpha + beta + txi) - base_b)).sum(axis=1),
            (share * (digamma(gamma + 1) - digamma(gamma + delta + 1 + txi) - base_g)).sum(axis=1),
            (share * (digamma(delta + txi) - digamma(gamma + delta + 1 + txi) - base_d)).sum(
                axis=1
            ),
        ]
    )
    grad = (g_alive * share_alive + g_dead) @ w * np.exp(log_params)
    return -float(np.dot(w, ll)), -grad


class BetaGeoBetaBinomModel(BaseModel):
    """BG/BB for discrete transaction opportunities (annual donations, weekly visits, ...)."""

    name: ClassVar[str] = "bgbb"
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        return bgbb_negll(log_params, data)

    def fit(self, data: DiscreteData) -> BetaGeoBetaBinomModel:
        """Fit on unique (frequency, recency, periods) rows with counts as weights."""
        return self._fit(data, float(data.weights.sum()), np.zeros(4))

    def p_alive(self, frequency: Any, recency: Any, n_periods: Any) -> FloatArray:
        """P(alive in period n+1 | x, t_x, n) (FHS 2010, eq. 11)."""
        self._check_fitted()
        x, tx, n = (
            np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, n_periods)
        )
        gamma, delta = self._params[2:]
        alive, dead = bgbb_log_terms(self._params, x, tx, n)
        log_next = np.log(delta + n) - np.log(gamma + delta + n)  # survive one more period
        log_num = alive + log_next
        return np.asarray(expit(log_num - np.logaddexp(alive, dead)))

    def expected_purchases(self, periods: Any) -> FloatArray:
        """Expected transactions of a new customer in its first n periods (FHS 2010, eq. 7)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self._params
        n = np.asarray(periods, dtype=float)
        ratio = np.exp(
            gammaln(gamma + delta)
            - gammaln(gamma + delta + n)
            + gammaln(1 + delta + n)
            - gammaln(1 + delta)
        )
        return np.asarray(alpha / (alpha + beta) * delta / (gamma - 1) * (1 - ratio))

    def probability_of_purchases(self, periods: int, n: Any) -> FloatArray:
        """P(X(periods) = n) for a new customer (FHS 2010, eq. 8)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self._params
        k = np.atleast_1d(np.asarray(n, dtype=float))
        m = float(periods)
        log_comb = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)
        alive = np.exp(
            log_comb + betaln(alpha + k, beta + m - k) - betaln(alpha, beta)
            + betaln(gamma, delta + m) - betaln(gamma, delta)
        )  # fmt: skip
        i = np.arange(int(m))[None, :]
        kk = k[:, None]
        valid = i >= kk
        ii = np.where(valid, i, kk)
        terms = (
            gammaln(ii + 1) - gammaln(kk + 1) - gammaln(ii - kk + 1)
            + betaln(alpha + kk, beta + ii - kk) - betaln(alpha, beta)
            + betaln(gamma + 1, delta + ii) - betaln(gamma, delta)
        )  # fmt: skip
        dead = np.where(valid, np.exp(terms), 0.0).sum(axis=1)
        return np.asarray(np.where(k <= m, alive + dead, 0.0))

    def conditional_expected_purchases(
        self, periods: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> FloatArray:
        """Expected transactions in periods n+1 .. n+n* given (x, t_x, n) (FHS 2010, eq. 13)."""
        self._check_fitted()
        alpha, beta, gamma, delta = self._params
        x, tx, n = (
            np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, n_periods)
        )
        k = np.asarray(periods, dtype=float)
        alive, dead = bgbb_log_terms(self._params, x, tx, n)
        log_l = np.logaddexp(alive, dead)
        log_p = betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta)
        g = gammaln(gamma + delta) - gammaln(1 + delta)
        a1 = gammaln(1 + delta + n) - gammaln(gamma + delta + n)
        a2 = gammaln(1 + delta + n + k) - gammaln(gamma + delta + n + k)
        bracket = np.exp(g + a1) - np.exp(g + a2)
        return np.asarray(np.exp(log_p - log_l) * delta / (gamma - 1) * bracket)

    def sample(self, n_periods: Any, seed: int | np.random.Generator | None = None) -> DiscreteData:
        """Draw one customer per entry of ``n_periods``."""
        self._check_fitted()
        alpha, beta, gamma, delta = self._params
        rng = np.random.default_rng(seed)
        n = np.asarray(n_periods, dtype=int)
        m = len(n)
        p = rng.beta(alpha, beta, m)
        theta = rng.beta(gamma, delta, m)
        # Periods alive after the first: geometric number of survivals.
        life = rng.geometric(np.clip(theta, 1e-12, 1.0)) - 1
        width = int(n.max())
        i = np.arange(1, width + 1)[None, :]
        active = i <= np.minimum(life, n)[:, None]
        buys = (rng.random((m, width)) < p[:, None]) & active
        x = buys.sum(axis=1)
        last = np.where(x > 0, width - np.argmax(buys[:, ::-1], axis=1), 0)
        return DiscreteData.from_arrays(x, last, n)
