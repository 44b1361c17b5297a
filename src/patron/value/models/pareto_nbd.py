"""Pareto/NBD: Poisson purchasing with an exponential lifetime, both gamma-mixed.

References
----------
Schmittlein, Morrison & Colombo (1987), Management Science 33(1), 1-24.
Fader, Hardie & Lee (2005), "A Note on Deriving the Pareto/NBD Model and Related
Expressions" (likelihood, P(alive), conditional expectation) and "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", JMR 42(4), 415-430 (DERT).

Time is in the unit of the data (``recency``, ``T`` and every horizon ``t`` alike).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import digamma, expit, gammaln, hyp2f1

from patron.value.models._base import BaseModel, FloatArray
from patron.value.models._data import RFMData
from patron.value.models._quadrature import (
    integrate_log_concave,
    log_beta,
    log_beta_mixture,
    mode_of,
)

__all__ = ["ParetoNBDModel", "pareto_log_terms", "pareto_negll"]

#: Up to this argument z, 2F1(1, b; c; z) comes from its series (at most ~450 terms) or
#: scipy's ``hyp2f1``, both exact there. Above it (the purchase and dropout scales α + y
#: and β + y more than tenfold apart) the series needs up to millions of terms and scipy's
#: ``hyp2f1`` returns NaN for large b and c (s in the hundreds: nearly homogeneous
#: dropout), so the integral behind it is evaluated by :func:`_log_g_quad`.
_SERIES_MAX_Z = 0.9
_SERIES_MAX_TERMS = 2_000


def _z(y: FloatArray, alpha: float, beta: float) -> FloatArray:
    return np.asarray(abs(alpha - beta) / (max(alpha, beta) + y))


def _log_f(
    y: FloatArray, r: float, alpha: float, s: float, beta: float, x: FloatArray
) -> FloatArray:
    """``ln G(y)`` for the likelihood's A0 term with p = r + x, q = s + 1 (see :func:`_log_g_grad`).

    Euler's transformation turns the hypergeometric function into 2F1(1, b; k+1; z)
    (k = r+s+x), whose series has positive terms bounded by 1/(1−z), so heavy buyers
    (large x) stay finite; z above ``_SERIES_MAX_Z`` goes to :func:`_log_g_quad`.
    """
    y_, x_ = (np.ravel(v) for v in np.broadcast_arrays(np.asarray(y, float), np.asarray(x, float)))
    shape = np.broadcast_shapes(np.shape(y), np.shape(x))
    k = r + s + x_
    z = _z(y_, alpha, beta)
    near = z <= _SERIES_MAX_Z
    out = np.empty(len(y_))
    yn, xn, zn = y_[near], x_[near], z[near]
    if alpha >= beta:
        out[near] = (
            -(r + xn) * np.log(alpha + yn)
            - s * np.log(beta + yn)
            + np.log(hyp2f1(1.0, r + xn, k[near] + 1.0, zn))
        )
    else:
        out[near] = (
            -(r + xn - 1.0) * np.log(alpha + yn)
            - (s + 1.0) * np.log(beta + yn)
            + np.log(hyp2f1(1.0, s + 1.0, k[near] + 1.0, zn))
        )
    if not near.all():  # once per distinct (y, x): customers share recencies and T
        pairs, inverse = np.unique(np.stack([y_[~near], x_[~near]]), axis=1, return_inverse=True)
        log_g = _log_g_quad(pairs[0], r + pairs[1], s + 1.0, alpha, beta)[0]
        out[~near] = log_g[np.ravel(inverse)]
    return out.reshape(shape)


def _log_g_quad(
    y: FloatArray, p: FloatArray, q: float, alpha: float, beta: float, grad: bool = False
) -> tuple[FloatArray, list[FloatArray]]:
    """``ln G(y)`` (see :func:`_log_g_grad`) and, with ``grad``, its derivatives in (p, q, α, β).

    With A = α + y and B = β + y, writing ``(α+u)^−p (β+u)^−q`` as a Gamma mixture and
    splitting the Gamma variables into their sum and a Beta(p, q) share V gives
    ``G = A^−p B^−q E[1/(V/A + (1−V)/B)]``; in θ = logit V the integrand
    ``exp(pθ − (p+q−1) ln(1+e^θ) − ln(1+e^(θ+L)))/B(p, q)``, L = ln(B/A), is log-concave,
    which :func:`log_beta_mixture` integrates. Its derivatives are means of ``ln V``,
    ``ln(1−V)`` and ``σ(θ+L)`` under the same rule.
    """
    p = np.asarray(p, dtype=float)
    A, B = alpha + y, beta + y
    lA, lB = np.log(A), np.log(B)
    log_int, means = log_beta_mixture(p, np.full_like(p, q), lB - lA, moments=grad)
    log_g = log_int - p * lA - (q - 1.0) * lB - log_beta(p, q)
    if not grad:
        return np.asarray(log_g), []
    log_v, log_1mv, w = means[0], -means[1], means[2]
    psi_pq = digamma(p + q)
    grads = [
        -lA - digamma(p) + psi_pq + log_v,
        -lB - digamma(q) + psi_pq + log_1mv,
        (w - p) / A,
        (1.0 - q - w) / B,
    ]
    return np.asarray(log_g), grads


def pareto_log_terms(
    params: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The pieces of the Pareto/NBD likelihood, in logs.

    Returns ``(log_front, log_alive, log_dead)`` with ``L = exp(log_front) * (exp(log_alive)
    + exp(log_dead))``: ``log_alive = −(r+x) ln(α+T) − s ln(β+T)`` (still active at T) and
    ``log_dead = ln(s/(r+s+x)) + ln(A0)`` (dropped out between t_x and T).
    """
    r, alpha, s, beta = params
    front = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    l1 = _log_f(tx, r, alpha, s, beta, x)
    l2 = _log_f(T, r, alpha, s, beta, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = l1 + np.log(-np.expm1(np.minimum(l2 - l1, 0.0)))
    log_dead = np.log(s / (r + s + x)) + np.where(tx < T, diff, -np.inf)
    return np.asarray(front), np.asarray(log_alive), np.asarray(log_dead)


def _series(
    b: FloatArray, c: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The series of ``H = 2F1(1, b; c; z)`` and the sums its derivatives need.

    ``H = Σ t_n`` with ``t_n = (b)_n/(c)_n z^n``; also ``Σ t_n S_b(n)``, ``Σ t_n S_c(n)``
    (``S_b(n) = ψ(b+n) − ψ(b)``, the derivative of ``ln (b)_n``) and ``Σ n t_n``. The terms
    are positive and fall at least as fast as ``z^n`` (``c ≥ b``); rows leave the loop as
    their tail becomes negligible, within ~450 terms for z ≤ ``_SERIES_MAX_Z``.
    """
    out = [np.ones(len(z)), np.zeros(len(z)), np.zeros(len(z)), np.zeros(len(z))]
    act: np.ndarray = np.arange(len(z))
    t, sb, sc = np.ones(len(z)), np.zeros(len(z)), np.zeros(len(z))
    b, c, z = b.copy(), c.copy(), z.copy()
    for n in range(_SERIES_MAX_TERMS):
        sb = sb + 1.0 / (b + n)
        sc = sc + 1.0 / (c + n)
        t = t * (b + n) / (c + n) * z
        out[0][act] += t
        out[1][act] += t * sb
        out[2][act] += t * sc
        out[3][act] += (n + 1) * t
        done = t * (n + 2.0 + sb + sc) < 1e-17 * out[0][act] * (1.0 - z)
        if done.all():
            break
        if done.any():
            keep = ~done
            act, t, sb, sc, b, c, z = (v[keep] for v in (act, t, sb, sc, b, c, z))
    return out[0], out[1], out[2], out[3]


def _log_g_grad(
    y: FloatArray, p: FloatArray, q: float, alpha: float, beta: float
) -> tuple[FloatArray, list[FloatArray]]:
    """``ln G(y)`` and its derivatives in (p, q, α, β).

    ``∫_y^∞ (α+u)^−p (β+u)^−q du = G(y)/(p+q−1)``; Euler's form as in :func:`_log_f`:
    ``G = (α+y)^−p (β+y)^−(q−1) 2F1(1, p; p+q; (α−β)/(α+y))`` for α ≥ β, else
    ``(α+y)^−(p−1) (β+y)^−q 2F1(1, q; p+q; (β−α)/(β+y))``: from the series where
    z ≤ ``_SERIES_MAX_Z``, by :func:`_log_g_quad` elsewhere.
    """
    near = _z(y, alpha, beta) <= _SERIES_MAX_Z
    if near.all():
        return _log_g_series(y, p, q, alpha, beta)
    log_g, grads = np.empty(len(y)), [np.empty(len(y)) for _ in range(4)]
    parts = [(~near, _log_g_quad(y[~near], p[~near], q, alpha, beta, grad=True))]
    if near.any():
        parts.append((near, _log_g_series(y[near], p[near], q, alpha, beta)))
    for rows, (value, derivs) in parts:
        log_g[rows] = value
        for k in range(4):
            grads[k][rows] = derivs[k]
    return log_g, grads


def _log_g_series(
    y: FloatArray, p: FloatArray, q: float, alpha: float, beta: float
) -> tuple[FloatArray, list[FloatArray]]:
    """:func:`_log_g_grad` from the series of the hypergeometric function (z ≤ 0.9)."""
    la, lb = np.log(alpha + y), np.log(beta + y)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        b = p
        log_p = -p * la - (q - 1.0) * lb
        d_pre = [-la, -lb, -p / (alpha + y), -(q - 1.0) / (beta + y)]
        dz = [(beta + y) / (alpha + y) ** 2, -1.0 / (alpha + y)]
    else:
        z = (beta - alpha) / (beta + y)
        b = np.full_like(p, q)
        log_p = -(p - 1.0) * la - q * lb
        d_pre = [-la, -lb, -(p - 1.0) / (alpha + y), -q / (beta + y)]
        dz = [-1.0 / (beta + y), (alpha + y) / (beta + y) ** 2]
    c = p + q
    h, hb, hc, hn = _series(b, c, z)
    h_z = np.divide(hn, z, out=b / c, where=z > 0)  # dH/dz
    d_hp, d_hq = (hb - hc, -hc) if alpha >= beta else (-hc, hb - hc)
    grads = [
        d_pre[0] + d_hp / h,
        d_pre[1] + d_hq / h,
        d_pre[2] + h_z * dz[0] / h,
        d_pre[3] + h_z * dz[1] / h,
    ]
    return log_p + np.log(h), grads


def pareto_negll(log_params: FloatArray, data: RFMData) -> tuple[float, FloatArray]:
    """Negative Pareto/NBD log-likelihood (Fader, Hardie & Lee 2005 note, eq. 22) and gradient.

    ``L = Γ(r+x)α^r β^s/Γ(r) [(α+T)^−(r+x) (β+T)^−s + s I]`` with ``I = ∫_{t_x}^T
    (α+y)^−(r+x) (β+y)^−(s+1) dy = (G(t_x) − G(T))/(r+s+x)`` (:func:`_log_g_grad`). The
    gradient is exact: the derivatives of ``G`` in the 2F1 parameters come from the same
    series (digamma differences accumulated term by term), in α and β from ``dH/dz``, or
    where α + y and β + y are far apart from the integral :func:`_log_g_quad` evaluates.
    All of it runs on unique (frequency, recency) and (frequency, T) pairs.
    """
    r, alpha, s, beta = np.exp(log_params)
    pairs = data.pairs
    q = s + 1.0
    g1 = _log_g_grad(pairs.tx, r + pairs.x_tx, q, alpha, beta)
    g2 = _log_g_grad(pairs.T, r + pairs.x_T, q, alpha, beta)
    x, tx, T, w = data.frequency, data.recency, data.T, data.weights
    l1, l2 = g1[0][pairs.i_tx], g2[0][pairs.i_T]
    p = r + x
    dead_possible = tx < T
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.exp(np.minimum(l2 - l1, 0.0))  # G(T)/G(t_x)
        log_i = l1 + np.log(-np.expm1(np.minimum(l2 - l1, 0.0))) - np.log(p + s)
        # d ln I = (G1 d lnG1 − G2 d lnG2)/(G1 − G2), minus d ln(p+q−1) for p and q.
        d_i = [(g1[1][k][pairs.i_tx] - rho * g2[1][k][pairs.i_T]) / (1.0 - rho) for k in range(4)]
    log_dead = np.where(dead_possible, np.log(s) + log_i, -np.inf)
    log_alive = -p * np.log(alpha + T) - s * np.log(beta + T)
    lse = np.logaddexp(log_alive, log_dead)
    wd = np.where(dead_possible, np.exp(log_dead - lse), 0.0)  # weight of "dropped out"
    wa = 1.0 - wd
    front = gammaln(p) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    ll = float(np.dot(w, front + lse))
    wwd = np.where(dead_possible, w * wd, 0.0)
    wwa = w * wa

    def dead_part(k: int, extra: FloatArray | float = 0.0) -> float:
        return float(np.dot(wwd, np.where(dead_possible, d_i[k] + extra, 0.0)))

    inv_k = 1.0 / (p + s)
    d_r = (
        np.dot(w, digamma(p) - digamma(r) + np.log(alpha))
        - np.dot(wwa, np.log(alpha + T))
        + dead_part(0, -inv_k)
    )
    d_alpha = w.sum() * r / alpha - np.dot(wwa, p / (alpha + T)) + dead_part(2)
    d_s = w.sum() * np.log(beta) - np.dot(wwa, np.log(beta + T)) + dead_part(1, 1.0 / s - inv_k)
    d_beta = w.sum() * s / beta - np.dot(wwa, s / (beta + T)) + dead_part(3)
    grad = np.array([d_r, d_alpha, d_s, d_beta]) * np.exp(log_params)
    return -ll, -grad


class ParetoNBDModel(BaseModel):
    """Pareto/NBD: purchases ~ Poisson(λ), λ ~ Gamma(r, α); lifetime ~ Exp(μ), μ ~ Gamma(s, β)."""

    name: ClassVar[str] = "pnbd"
    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    dropout_params: ClassVar[tuple[int, ...]] = (2, 3)
    #: s → ∞ with s/β fixed (one dropout rate); r → ∞ with r/α fixed (one purchase rate)
    homogeneous: ClassVar[tuple[tuple[int, int], ...]] = ((2, 3), (0, 1))

    def homogeneous_mean(self, spread: str) -> tuple[str, str, str, float, str]:
        """The common dropout rate s/β or purchase rate r/α, per time unit."""
        p = self.params_
        if spread == "s":
            return "dropout", "how soon they leave", "s/beta", p["s"] / p["beta"], "per unit"
        if spread == "r":
            rate = p["r"] / p["alpha"]
            return "purchase rate", "how often they buy", "r/alpha", rate, "per unit while active"
        return super().homogeneous_mean(spread)

    def dropout_share(self, params: FloatArray, data: Any) -> float:
        """The share of customers gone by the longest history, 1 − (β/(β+T))^s."""
        s, beta = params[2], params[3]
        return float(-np.expm1(-s * np.log1p(float(np.max(data.T, initial=0.0)) / beta)))

    def _negll(self, log_params: FloatArray, data: Any) -> tuple[float, FloatArray | None]:
        return pareto_negll(log_params, data)

    def fit(self, data: RFMData) -> ParetoNBDModel:
        """Fit by weighted maximum likelihood on unique (frequency, recency, T) rows."""
        scale = max(float(np.average(data.T, weights=data.weights)), 1e-9)
        start = np.log(np.array([0.5, scale / 4.0, 0.5, scale / 4.0]))
        return self._fit(data, data.n_customers, start)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Probability that a customer with this history is still active at T."""
        self._check_fitted()
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        _, alive, dead = pareto_log_terms(self._params, x, tx, t)
        return np.asarray(expit(alive - dead))

    def expected_purchases(self, t: Any) -> FloatArray:
        """Expected purchases of a new customer in (0, t]."""
        self._check_fitted()
        r, alpha, s, beta = self._params
        t = np.asarray(t, dtype=float)
        return np.asarray(r * beta / alpha * _shrink(s, np.log(beta / (beta + t))))

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """Expected purchases in (T, T+t] given the history: P(alive) × expected_if_alive."""
        self._check_fitted()
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return np.asarray(self.expected_if_alive(t, x, T_) * self.p_alive(x, tx, T_))

    def expected_if_alive(self, t: Any, frequency: Any, T: Any) -> FloatArray:
        """Expected purchases in (T, T+t] for a customer alive at T."""
        self._check_fitted()
        r, alpha, s, beta = self._params
        x, T_ = np.asarray(frequency, dtype=float), np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        rate = (r + x) * (beta + T_) / (alpha + T_)
        return np.asarray(rate * _shrink(s, np.log((beta + T_) / (beta + T_ + t))))

    def survival_if_alive(self, t: Any, frequency: Any, T: Any) -> FloatArray:
        """P(alive at T+t | alive at T) = ((β+T)/(β+T+t))^s; posterior μ ~ Gamma(s, β+T)."""
        self._check_fitted()
        s, beta = self._params[2], self._params[3]
        T_, t = np.asarray(T, dtype=float), np.asarray(t, dtype=float)
        return np.asarray(
            np.exp(s * np.log((beta + T_) / (beta + T_ + t)))
            + 0.0 * np.asarray(frequency, dtype=float)
        )

    def probability_of_purchases(self, t: float, n: Any, nodes: int = 200) -> FloatArray:
        """P(X(t) = n) for a new customer.

        The lifetime τ has the Lomax survival ``(β/(β+y))^s``; given the active time
        ``u = min(τ, t)`` the count is NBD(r, α; u). So ``P = (β/(β+t))^s NBD(n; t) +
        ∫_0^t s β^s (β+y)^−(s+1) NBD(n; y) dy``, integrated by Gauss-Legendre quadrature.
        """
        self._check_fitted()
        r, alpha, s, beta = self._params
        k = np.atleast_1d(np.asarray(n, dtype=float))
        u, w = np.polynomial.legendre.leggauss(nodes)
        y = (u + 1.0) * t / 2.0
        w = w * t / 2.0

        def log_nbd(time: FloatArray) -> FloatArray:
            time = np.maximum(time, 1e-300)
            return np.asarray(
                gammaln(r + k[:, None]) - gammaln(r) - gammaln(k[:, None] + 1)
                + r * np.log(alpha / (alpha + time)) + k[:, None] * np.log(time / (alpha + time))
            )  # fmt: skip

        alive_all = np.exp(s * np.log(beta / (beta + t)) + log_nbd(np.array([t]))[:, 0])
        density = s * np.exp(s * np.log(beta) - (s + 1) * np.log(beta + y))
        integral = np.exp(log_nbd(y)) @ (w * density)
        return np.asarray(alive_all + integral)

    def dert(self, discount: float, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Discounted expected residual transactions (Fader, Hardie & Lee 2005, JMR, eq. 2).

        Parameters
        ----------
        discount
            Continuously compounded discount rate per unit of time (e.g. per week).
        """
        self._check_fitted()
        r, alpha, s, beta = self._params
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        front, alive, dead = pareto_log_terms(self._params, x, tx, T_)
        log_l = front + np.logaddexp(alive, dead)
        ends, inverse = np.unique(np.ravel(T_), return_inverse=True)
        log_u = _log_hyperu_ss(s, discount * (beta + ends))[inverse].reshape(np.shape(T_))
        log_num = (
            r * np.log(alpha) + s * np.log(beta) + (s - 1) * np.log(discount)
            + gammaln(r + x + 1) + log_u
            - gammaln(r) - (r + x + 1) * np.log(alpha + T_)
        )  # fmt: skip
        return np.asarray(np.exp(log_num - log_l))

    def sample(self, T: Any, seed: int | np.random.Generator | None = None) -> RFMData:
        """Draw one customer per entry of ``T`` from the fitted process."""
        self._check_fitted()
        r, alpha, s, beta = self._params
        T = np.asarray(T, dtype=float)
        rng = np.random.default_rng(seed)
        n = len(T)
        lam = rng.gamma(r, 1.0 / alpha, n)
        mu = rng.gamma(s, 1.0 / beta, n)
        life = np.minimum(rng.exponential(1.0 / np.maximum(mu, 1e-300)), T)
        counts = rng.poisson(lam * life)
        owner = np.repeat(np.arange(n), counts)
        times = rng.random(owner.size) * life[owner]
        recency = np.zeros(n)
        np.maximum.at(recency, owner, times)
        return RFMData.from_arrays(counts.astype(float), recency, T)


def _shrink(s: float, log_q: FloatArray) -> FloatArray:
    """(1 − q^(s−1)) / (s − 1) computed stably (→ −ln q as s → 1)."""
    if abs(s - 1.0) < 1e-10:
        return np.asarray(-log_q)
    return np.asarray(-np.expm1((s - 1.0) * log_q) / (s - 1.0))


def _log_hyperu_ss(s: float, w: FloatArray) -> FloatArray:
    """``ln U(s, s, w)``, Tricomi's confluent hypergeometric function, for w > 0.

    scipy's ``hyperu`` returns NaN from s ≈ 30. ``U(s, s, w) = ∫_0^∞ e^(−wt) t^(s−1)
    (1+t)^(−1) dt / Γ(s)``; in θ = ln t the integrand ``exp(sθ − w e^θ − ln(1+e^θ))`` is
    log-concave (:func:`integrate_log_concave`).
    """
    w = np.asarray(w, dtype=float)

    def slope(theta: FloatArray, w: FloatArray) -> FloatArray:
        return np.asarray(s - w * np.exp(theta) - expit(theta))  # falls from s to −∞

    mode = mode_of(slope, np.log(s / w), (w,))
    e, sm = w * np.exp(mode), expit(mode)

    def log_f(rows: np.ndarray, theta: FloatArray) -> FloatArray:
        return np.asarray(s * theta - w[rows, None] * np.exp(theta) - np.logaddexp(0.0, theta))

    log_int, _ = integrate_log_concave(log_f, mode, e + sm * (1.0 - sm), s)
    return np.asarray(log_int - gammaln(s))
