"""BG/NBD and modified BG/NBD: non-contractual purchasing in continuous time.

References
----------
Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2), 275-284 (BG/NBD).
Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
customer base analysis", IJRM 24(3), 201-209 (MBG/NBD).

Time is in the unit of the data (``recency``, ``T`` and every horizon ``t`` alike).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.special import digamma, expit, gammaln, hyp2f1

from patron.value.models._base import BaseModel, FloatArray
from patron.value.models._data import RFMData

__all__ = ["BetaGeoModel", "ModifiedBetaGeoModel", "bgnbd_negll", "mbgnbd_negll"]


#: Rows per block of the likelihood's row-wise part: blocks small enough to stay in the CPU
#: cache make the evaluation about twice as fast on hundreds of thousands of unique rows.
_BLOCK = 8192

#: The closed forms of :meth:`BetaGeoModel.expected_if_alive` and ``survival_if_alive`` go
#: through scipy's ``hyp2f1``: within ~1e-10 of 30-digit integration for the dropout shape
#: ``a`` up to this bound (tests/value/test_numerics.py), NaN from a ≈ 300, once the Beta
#: prior of the dropout probability p is concentrated (a fit on a short or churn-free
#: history can give a and b in the hundreds of thousands). Above the bound, and for the
#: expected purchases within 1e-3 of a = 1, where the closed form divides by a − 1, the
#: expectation over p is taken by Gauss quadrature of the Beta posterior (within ~1e-13
#: there; the concentrated posterior needs few nodes, the flat one near a = 1 more).
_HYP2F1_MAX_A = 100.0
_NODES_CONCENTRATED = 32
_NODES_NEAR_ONE = 80


def _beta_geo_negll(
    log_params: FloatArray, data: RFMData, modified: bool
) -> tuple[float, FloatArray]:
    """Shared BG/NBD and MBG/NBD likelihood on unique values (see the two wrappers)."""
    r, alpha, a, b = np.exp(log_params)
    idx = data.index
    ux, ix, w = idx.ux, idx.ix, data.weights
    x = data.frequency
    # Terms of x only: once per unique frequency, weighted by the customers having it.
    shift = 1.0 if modified else 0.0
    a1 = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
    c = gammaln(b + ux) + gammaln(a + b) - gammaln(b) - gammaln(a + b + ux + shift)
    if modified:
        lead_u = np.log(b + ux)  # weight of "alive at T"
        lead_v = np.full_like(ux, np.log(a))
    else:
        has_x = ux > 0
        lead_u = np.zeros_like(ux)
        lead_v = np.where(has_x, np.log(a) - np.log(np.where(has_x, b + ux - 1, 1.0)), -np.inf)
    # Terms of T and of t_x only: once per unique value.
    log_aT, inv_aT = np.log(alpha + idx.uT), 1.0 / (alpha + idx.uT)
    log_atx, inv_atx = np.log(alpha + idx.utx), 1.0 / (alpha + idx.utx)
    # Row-wise terms, block by block: ln L_row = log(exp(u) + exp(v)), and the weights of the
    # "alive at T" (wu) and "dropped out after t_x" (wv) branches for the gradient.
    sum_lse = d_r_rows = d_alpha_rows = 0.0
    sum_wv_x = np.zeros(len(ux))
    sum_wu_x = np.zeros(len(ux))
    for lo in range(0, len(x), _BLOCK):
        rows = slice(lo, lo + _BLOCK)
        ixb, iTb, itxb, wb = ix[rows], idx.iT[rows], idx.itx[rows], w[rows]
        rx = r + x[rows]
        lT, ltx = log_aT[iTb], log_atx[itxb]
        u = lead_u[ixb] - rx * lT
        v = lead_v[ixb] - rx * ltx
        lse = np.logaddexp(u, v)
        wwv = wb * np.exp(v - lse)
        wwu = wb - wwv
        sum_lse += float(wb @ lse)
        sum_wv_x += np.bincount(ixb, weights=wwv, minlength=len(ux))
        if modified:
            sum_wu_x += np.bincount(ixb, weights=wwu, minlength=len(ux))
        d_r_rows += float(wwu @ lT + wwv @ ltx)
        d_alpha_rows += float((wwu * rx) @ inv_aT[iTb] + (wwv * rx) @ inv_atx[itxb])
    ll = float(np.dot(idx.wx, a1 + c)) + sum_lse
    # Gradient: per-unique-x parts weighted by wx, per-row parts summed above.
    d_r = np.dot(idx.wx, digamma(r + ux) - digamma(r) + np.log(alpha)) - d_r_rows
    d_alpha = idx.wx.sum() * r / alpha - d_alpha_rows
    dg_ab = digamma(a + b) - digamma(a + b + ux + shift)
    d_a = np.dot(idx.wx, dg_ab) + float(np.sum(sum_wv_x)) / a
    d_b = np.dot(idx.wx, digamma(b + ux) - digamma(b) + dg_ab)
    if modified:
        d_b += np.dot(sum_wu_x, 1.0 / (b + ux))
    else:
        d_b -= np.dot(sum_wv_x, np.where(ux > 0, 1.0 / np.where(ux > 0, b + ux - 1, 1.0), 0.0))
    grad = np.array([d_r, d_alpha, d_a, d_b]) * np.exp(log_params)
    return -ll, -grad


def bgnbd_negll(log_params: FloatArray, data: RFMData) -> tuple[float, FloatArray]:
    """Negative BG/NBD log-likelihood and its gradient in log-parameter space.

    Fader, Hardie & Lee (2005), eq. (6), written as
    ``ln L = A1 + C + log(exp(u) + [x>0] exp(v))`` with
    ``A1 = lnΓ(r+x) − lnΓ(r) + r ln α``,
    ``C = lnΓ(b+x) + lnΓ(a+b) − lnΓ(b) − lnΓ(a+b+x)``,
    ``u = −(r+x) ln(α+T)`` and ``v = ln a − ln(b+x−1) − (r+x) ln(α+t_x)``.
    """
    return _beta_geo_negll(log_params, data, modified=False)


def mbgnbd_negll(log_params: FloatArray, data: RFMData) -> tuple[float, FloatArray]:
    """Negative MBG/NBD log-likelihood and gradient (Batislam et al. 2007, eq. 3).

    ``ln L = A1 + C' + log(exp(u) + exp(v))`` with ``C' = lnΓ(b+x) + lnΓ(a+b) − lnΓ(b) −
    lnΓ(a+b+x+1)``, ``u = ln(b+x) − (r+x) ln(α+T)``, ``v = ln a − (r+x) ln(α+t_x)``: unlike
    BG/NBD, a customer may drop out right after the first purchase, so both terms are there
    for every x.
    """
    return _beta_geo_negll(log_params, data, modified=True)


class BetaGeoModel(BaseModel):
    """BG/NBD: Poisson purchases at rate λ ~ Gamma(r, α); dropout with p ~ Beta(a, b).

    After each repeat purchase the customer drops out with probability p.

    Examples
    --------
    >>> model = BetaGeoModel().fit(RFMData.from_arrays(frequency, recency, T))  # doctest: +SKIP
    >>> model.params_  # doctest: +SKIP
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    """

    name: ClassVar[str] = "bgnbd"
    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    dropout_params: ClassVar[tuple[int, ...]] = (2, 3)
    unitless_dropout: ClassVar[bool] = True
    #: b → ∞ with a/(a+b) fixed (one dropout probability); r → ∞ with r/α fixed (one rate)
    homogeneous: ClassVar[tuple[tuple[int, int], ...]] = ((3, 2), (0, 1))
    modified: ClassVar[bool] = False

    def homogeneous_mean(self, spread: str) -> tuple[str, str, str, float, str]:
        """The common dropout probability a/(a+b) or purchase rate r/α."""
        p = self.params_
        if spread == "b":
            drop = p["a"] / (p["a"] + p["b"])
            return "dropout", "how soon they leave", "a/(a+b)", drop, "per repeat purchase"
        if spread == "r":
            rate = p["r"] / p["alpha"]
            return "purchase rate", "how often they buy", "r/alpha", rate, "per unit while active"
        return super().homogeneous_mean(spread)

    def dropout_share(self, params: FloatArray, data: Any) -> float:
        """The mean dropout probability per purchase, a/(a+b)."""
        return float(params[2] / (params[2] + params[3]))

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        return (mbgnbd_negll if self.modified else bgnbd_negll)(log_params, data)

    def fit(self, data: RFMData) -> BetaGeoModel:
        """Fit by weighted maximum likelihood on unique (frequency, recency, T) rows."""
        scale = max(float(np.average(data.T, weights=data.weights)), 1e-9)
        start = np.log(np.array([0.5, scale / 10.0, 1.0, 1.0]))
        return self._fit(data, data.n_customers, start)

    # -- predictions -------------------------------------------------------------------------
    def _log_odds_dead(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._params
        rx = r + x
        if self.modified:
            return np.asarray(
                np.log(a) - np.log(b + x) + rx * (np.log(alpha + T) - np.log(alpha + tx))
            )
        has = x > 0
        odds = (
            np.log(a)
            - np.log(np.where(has, b + x - 1, 1.0))
            + rx * (np.log(alpha + T) - np.log(alpha + tx))
        )
        return np.where(has, odds, -np.inf)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Probability that a customer with this history is still active at T."""
        self._check_fitted()
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return np.asarray(expit(-self._log_odds_dead(x, tx, t)))

    def expected_purchases(self, t: Any) -> FloatArray:
        """Expected purchases of a new customer in (0, t] (t in the data's time unit).

        The conditional expectation at an empty history (x = t_x = T = 0). For BG/NBD this is
        FHL 2005 eq. (9). For MBG/NBD it is ``b/(a−1) [1 − (α/(α+t))^r 2F1(r, b+1; a+b;
        t/(α+t))]``: the customer survives the coin flip after the first purchase with
        probability b/(a+b) and then behaves as BG/NBD with p ~ Beta(a, b+1). (The form
        ``(a+b−1)/(a−1) [1 − ... 2F1(r, b+1; a+b−1; ·)]`` found in some implementations
        disagrees with simulation of the model; see the tests.)
        """
        self._check_fitted()
        t = np.asarray(t, dtype=float)
        zero = np.zeros_like(t)
        return self.conditional_expected_purchases(t, zero, zero, zero)

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """Expected purchases in (T, T+t] given the history (t in the data's time unit).

        ``P(alive at T) × expected_if_alive``; see :meth:`expected_if_alive` for the stable
        (Euler-transformed) hypergeometric form that keeps heavy buyers finite.
        """
        self._check_fitted()
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return np.asarray(self.expected_if_alive(t, x, T_) * self.p_alive(x, tx, T_))

    def expected_if_alive(self, t: Any, frequency: Any, T: Any) -> FloatArray:
        """Expected purchases in (T, T+t] for a customer alive at T (recency drops out).

        Uses Euler's transformation of the Gauss hypergeometric function, so that heavy
        buyers (hundreds of purchases) stay finite: ``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x;
        a+b+x−1; z) = (1−z)^(a−1) 2F1(a+b−1−r, a−1; a+b+x−1; z)``, ``z = t/(α+T+t)``.
        Scoring evaluates this on unique (frequency, T) pairs only. For a > 1 the product
        ``(1−z)^(a−1) 2F1`` is formed in logs (the 2F1 alone grows like ``(1−z)^−(a−1)``);
        for a or r above ``_HYP2F1_MAX_A`` or at a ≈ 1, Gauss quadrature over p instead.
        """
        self._check_fitted()
        r, alpha, a, b = self._params
        x, T_ = np.asarray(frequency, dtype=float), np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        if a > _HYP2F1_MAX_A or abs(a - 1.0) < 1e-3 or r > _HYP2F1_MAX_A:
            # E[(1 − (1 + p s)^−(r+x)) / p] over the posterior of p: given p and λ the
            # purchases before dropout number (1 − e^−λpt)/p on average. (With r large —
            # one purchase rate for everyone — scipy's hyp2f1 gives NaN.)
            nodes = _NODES_CONCENTRATED if a > _HYP2F1_MAX_A else _NODES_NEAR_ONE
            return self._posterior_mean(_purchases_before_dropout, t, x, T_, nodes)
        z = t / (alpha + T_ + t)
        log1mz = np.log1p(-z)
        if self.modified:
            coef = (a + b + x) / (a - 1)
            f = hyp2f1(a + b - r, a - 1, a + b + x, z)
        else:
            coef = (a + b + x - 1) / (a - 1)
            f = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        if a < 1.0:
            # f may be negative here (a + b − 1 < 0); the terms stay of moderate size.
            return np.asarray(coef * (-(f - 1.0) - f * np.expm1((a - 1) * log1mz)))
        # f (1 − z)^(a−1) is the survival under Beta(a − 1, b + x); f alone grows like
        # (1 − z)^−(a−1), so it is combined in logs (subtracting f's cancels every digit).
        return np.asarray(coef * -np.expm1(np.log(f) + (a - 1) * log1mz))

    def survival_if_alive(self, t: Any, frequency: Any, T: Any) -> FloatArray:
        """P(still alive at T+t | alive at T, history).

        Given alive at T, the posterior is λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x) (b+x+1
        for MBG/NBD), independent; dropouts then arrive at rate λp, so the probability is
        ``E_p[(1 + p s)^−(r+x)]`` with ``s = t/(α+T)``. By Euler's integral this is
        ``2F1(r+x, a; a+b+x; −s)``, evaluated after Pfaff's transformation as
        ``(1+s)^−a 2F1(a, a+b−r; a+b+x; s/(1+s))`` (argument in [0, 1); the series converges
        faster the heavier the buyer). Exact, unlike quadrature, which misses the mass near
        p = 0 that keeps heavy buyers alive over long horizons.
        """
        self._check_fitted()
        r, alpha, a, b = self._params
        x, T_, t = (np.asarray(v, dtype=float) for v in (frequency, T, t))
        if a > _HYP2F1_MAX_A or r > _HYP2F1_MAX_A:
            nodes = _NODES_CONCENTRATED if a > _HYP2F1_MAX_A else _NODES_NEAR_ONE
            return self._posterior_mean(_still_alive, t, x, T_, nodes)
        c = a + b + x + (1.0 if self.modified else 0.0)
        s = t / (alpha + T_)
        return np.asarray(np.exp(-a * np.log1p(s)) * hyp2f1(a, c - x - r, c, s / (1.0 + s)))

    def _posterior_mean(
        self,
        integrand: Callable[[FloatArray, float, FloatArray], FloatArray],
        t: FloatArray,
        x: FloatArray,
        T: FloatArray,
        nodes: int,
    ) -> FloatArray:
        """E over p ~ Beta(a, b+x) (b+x+1 for MBG/NBD) of ``integrand(p, r+x, t/(α+T))``.

        Gauss quadrature with ``nodes`` points for the Beta posterior of each distinct
        frequency (its rule by :func:`beta_gauss_rule`), evaluated in blocks of rows.
        """
        r, alpha, a, b = self._params
        t_, x_, T_ = np.broadcast_arrays(t, x, T)
        shape = x_.shape
        t_, x_, T_ = t_.ravel(), x_.ravel(), T_.ravel()
        out = np.empty(x_.shape)
        shift = 1.0 if self.modified else 0.0
        freqs, which = np.unique(x_, return_inverse=True)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(freqs) + 1))
        for i, freq in enumerate(freqs):
            p, weights = beta_gauss_rule(nodes, a, b + freq + shift)
            rows = order[bounds[i] : bounds[i + 1]]
            for lo in range(0, len(rows), _BLOCK):
                part = rows[lo : lo + _BLOCK]
                s = (t_[part] / (alpha + T_[part]))[:, None]
                out[part] = integrand(p[None, :], r + freq, s) @ weights
        return out.reshape(shape)

    def probability_of_purchases(self, t: float, n: Any) -> FloatArray:
        """P(X(t) = n) for a new customer (Fader, Hardie & Lee 2005, eq. 8)."""
        self._check_fitted()
        r, alpha, a, b = self._params
        n = np.asarray(n, dtype=float)
        if self.modified:
            # Dropout right after the first purchase with probability p; otherwise BG/NBD
            # with p ~ Beta(a, b+1) (the survivors' posterior).
            inner = BetaGeoModel().with_params(np.array([r, alpha, a, b + 1.0]))
            pmf = b / (a + b) * inner.probability_of_purchases(t, n)
            return np.asarray(pmf + np.where(n == 0, a / (a + b), 0.0))
        log_ratio = np.log(alpha / (alpha + t))
        log_odds = np.log(t / (alpha + t))

        def log_nbd(k: FloatArray) -> FloatArray:
            return np.asarray(
                gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * log_ratio + k * log_odds
            )

        def log_beta(p: float, q: FloatArray | float) -> FloatArray:
            return np.asarray(gammaln(p) + gammaln(q) - gammaln(p + q))

        first = np.exp(log_beta(a, b + n) - log_beta(a, b) + log_nbd(n))
        m = int(np.max(n)) if n.size else 0
        cdf = np.concatenate(([0.0], np.cumsum(np.exp(log_nbd(np.arange(m, dtype=float))))))
        below = cdf[n.astype(int)]  # P(NBD count < n)
        weight = np.exp(log_beta(a + 1, b + np.maximum(n, 1) - 1) - log_beta(a, b))
        second = np.where(n > 0, weight * (1.0 - below), 0.0)
        return np.asarray(first + second)

    # -- simulation (for recovery tests and demos) ------------------------------------------
    def sample(self, T: Any, seed: int | np.random.Generator | None = None) -> RFMData:
        """Draw one customer per entry of ``T`` from the fitted process."""
        self._check_fitted()
        return sample_beta_geo(
            *self._params, T=np.asarray(T, dtype=float), seed=seed, modified=self.modified
        )


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: like BG/NBD, but a customer may also drop out right after the first purchase."""

    name: ClassVar[str] = "mbgnbd"
    modified: ClassVar[bool] = True


def beta_gauss_rule(n: int, a: float, b: float) -> tuple[FloatArray, FloatArray]:
    """Gauss nodes in (0, 1) and weights (summing to 1) for the Beta(a, b) distribution.

    Golub-Welsch on the Jacobi matrix of the Jacobi polynomials (the recurrence scipy's
    ``roots_jacobi`` uses), with the weights taken from the eigenvectors, so that they
    stay finite where ``roots_jacobi``'s unnormalised weights overflow (a + b above ~1000).
    The rule integrates polynomials in p of degree up to 2n − 1 exactly.
    """
    al, be = b - 1.0, a - 1.0  # weight (1 − u)^al (1 + u)^be on [−1, 1], p = (1 + u)/2
    k = np.arange(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 2.0 * k + al + be
        diag = np.where(k == 0, (be - al) / (al + be + 2.0), (be * be - al * al) / (s * (s + 2.0)))
        k1 = k[1:]
        s1 = 2.0 * k1 + al + be
        off = (
            2.0
            / s1
            * np.sqrt((k1 + al) * (k1 + be) / (s1 + 1.0))
            * np.where(k1 == 1, 1.0, np.sqrt(k1 * (k1 + al + be) / (s1 - 1.0)))
        )
    u, vectors = eigh_tridiagonal(diag, off)
    weights = vectors[0] ** 2
    return np.asarray((1.0 + u) / 2.0), np.asarray(weights / weights.sum())


def _purchases_before_dropout(p: FloatArray, k: float, s: FloatArray) -> FloatArray:
    return np.asarray(-np.expm1(-k * np.log1p(p * s)) / p)


def _still_alive(p: FloatArray, k: float, s: FloatArray) -> FloatArray:
    return np.asarray(np.exp(-k * np.log1p(p * s)))


def sample_beta_geo(
    r: float,
    alpha: float,
    a: float,
    b: float,
    *,
    T: FloatArray,
    seed: Any = None,
    modified: bool = False,
) -> RFMData:
    """Simulate (frequency, recency) over (0, T] for each customer (vectorised)."""
    rng = np.random.default_rng(seed)
    n = len(T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    j = rng.geometric(np.clip(p, 1e-12, 1.0)) - (1 if modified else 0)  # purchases until dropout
    counts = rng.poisson(lam * T)
    x = np.minimum(counts, j)
    owner = np.repeat(np.arange(n), counts)
    times = rng.random(owner.size) * T[owner]
    order = np.lexsort((times, owner))
    times = times[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    recency = np.zeros(n)
    has = x > 0
    recency[has] = times[starts[has] + x[has] - 1]
    return RFMData.from_arrays(x.astype(float), recency, T)
