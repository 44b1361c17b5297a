"""BG/BB: non-contractual purchasing in discrete time (one chance to buy per period).

Reference: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6), 1086-1108. While alive, a customer buys in
each period with probability p ~ Beta(α, β) and, at the start of each later period, drops out
with probability θ ~ Beta(γ, δ). Time is counted in periods (transaction opportunities).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import betaln, digamma, gammaln

from patron.value.models._base import BaseModel, FloatArray
from patron.value.models._data import DiscreteData

__all__ = ["BetaGeoBetaBinomModel", "bgbb_log_terms", "bgbb_negll"]


#: Matrix cells (rows × dropout periods) per block of the likelihood's dead-term sums.
_BLOCK_CELLS = 1 << 20


class _Tables:
    """Log-gamma and digamma values on the integer grid j = 0 .. J (+1) for one parameter set.

    Every Beta function in the likelihood has arguments (parameter + whole number), so each
    term is a sum of entries gathered from these vectors: no special function is evaluated
    per matrix cell.
    """

    def __init__(self, params: FloatArray, top: int, *, digammas: bool = False) -> None:
        alpha, beta, gamma, delta = params
        j = np.arange(top + 2, dtype=float)
        self.lA = gammaln(alpha + j)  # α + x
        self.lB = gammaln(beta + j)  # β + (j − x)
        self.lAB = gammaln(alpha + beta + j)  # α + β + j
        self.lD = gammaln(delta + j)  # δ + j
        self.lGD = gammaln(gamma + delta + j)  # γ + δ + j
        self.base = float(betaln(alpha, beta))
        self.base_d = float(betaln(gamma, delta))
        self.lg, self.lg1 = float(gammaln(gamma)), float(gammaln(gamma + 1))
        # Per dropout period j: the j-only part of log B(α+x, β+j−x) + log B(γ+1, δ+j).
        self.w = -self.lAB[:-1] + self.lD[:-1] - self.lGD[1:]
        if digammas:
            self.pA, self.pB = digamma(alpha + j), digamma(beta + j)
            self.pAB, self.pD = digamma(alpha + beta + j), digamma(delta + j)
            self.pGD = digamma(gamma + delta + j)


def _rows(x: FloatArray, tx: FloatArray, n: FloatArray) -> tuple[np.ndarray, ...]:
    xi, ti, ni = (np.asarray(v, dtype=float).astype(np.int64) for v in (x, tx, n))
    return xi, ti, ni


class _DeadSums:
    """Prefix sums of the dead terms per unique (x, t_x) pair, read off at each row's n.

    Dropping out in period j+1 (j = t_x .. n−1) has the term
    ``B(α+x, β+j−x)/B(α,β) · B(γ+1, δ+j)/B(γ,δ)``; it depends on the row only through
    (x, t_x) and how far the sum runs, so rows sharing a pair share one cumulative sum. The
    terms fall strictly with j (each step multiplies by a ratio below 1), so scaling by the
    first term keeps every scaled term in (0, 1] and the sums free of cancellation.
    """

    def __init__(self, xi: np.ndarray, ti: np.ndarray, ni: np.ndarray) -> None:
        has = ni > ti
        self.rows = np.flatnonzero(has)
        key = xi[has] * (int(ni.max(initial=0)) + 1) + ti[has]
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        pair = inverse.ravel()
        self.pair = pair
        self.px, self.pt = xi[has][first], ti[has][first]
        self.last = (ni - ti)[has] - 1  # index of each row's last term in its pair's sums
        width = np.zeros(len(uniq), dtype=np.int64)
        np.maximum.at(width, pair, self.last + 1)
        # Pairs by width, in blocks whose padded matrices stay under _BLOCK_CELLS cells; per
        # block: its pairs, width, rows and each row's pair within the block.
        order = np.argsort(width, kind="stable")
        slot = np.empty(len(uniq), dtype=np.int64)
        block_of = np.empty(len(uniq), dtype=np.int64)
        bounds: list[tuple[int, int]] = []
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order) and (stop + 1 - start) * width[order[stop]] <= _BLOCK_CELLS:
                stop += 1
            slot[order[start:stop]] = np.arange(stop - start)
            block_of[order[start:stop]] = len(bounds)
            bounds.append((start, stop))
            start = stop
        row_block = block_of[pair]
        by_block = np.argsort(row_block, kind="stable")
        cuts = np.searchsorted(row_block[by_block], np.arange(len(bounds) + 1))
        self.blocks: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
        for b, (lo, hi) in enumerate(bounds):
            at = by_block[cuts[b] : cuts[b + 1]]
            self.blocks.append((order[lo:hi], int(width[order[hi - 1]]), at, slot[pair[at]]))

    def evaluate(
        self, tab: _Tables, head: FloatArray, *, grad: bool = False
    ) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
        """Per row with dead terms: log of its first term and of the scaled sum.

        With ``grad`` also the scaled sums weighted by ψ(α+β+j), ψ(β+j−x), ψ(δ+j) and
        ψ(γ+δ+1+j).
        """
        first = np.zeros(len(self.px))
        sums = [np.zeros(len(self.rows)) for _ in range(5 if grad else 1)]
        for block, width, at, slots in self.blocks:
            # Past a pair's own width the cells are never read: clip them onto the grid.
            jj = np.minimum(self.pt[block, None] + np.arange(width)[None, :], len(tab.w) - 1)
            kk = jj - self.px[block, None]
            vals = tab.lB[kk] + tab.w[jj]
            first[block] = vals[:, 0]
            scaled = np.exp(vals - vals[:, :1])
            ends = self.last[at]
            sums[0][at] = np.cumsum(scaled, axis=1)[slots, ends]
            if grad:
                weights = (tab.pAB[jj], tab.pB[kk], tab.pD[jj], tab.pGD[jj + 1])
                for k, f in enumerate(weights, start=1):
                    sums[k][at] = np.cumsum(scaled * f, axis=1)[slots, ends]
        log_first = first[self.pair] + head[self.rows] + tab.lg1
        return log_first, np.log(sums[0]), sums[1:]


def _log_parts(
    params: FloatArray, xi: np.ndarray, ti: np.ndarray, ni: np.ndarray, *, grad: bool = False
) -> tuple[_Tables, _DeadSums, FloatArray, FloatArray, FloatArray, FloatArray, list[FloatArray]]:
    """Both parts of the likelihood, with what the gradient needs.

    Returns the tables, the pair sums, ``log_alive``, ``log_dead`` and, per row with dead
    terms, the log of its first term, of its scaled sum, and (with ``grad``) the weighted sums
    of :meth:`_DeadSums.evaluate`.
    """
    tab = _Tables(params, int(ni.max()) if ni.size else 0, digammas=grad)
    dead = _DeadSums(xi, ti, ni)
    head = tab.lA[xi] - tab.base - tab.base_d
    log_alive = head + tab.lB[ni - xi] - tab.lAB[ni] + tab.lg + tab.lD[ni] - tab.lGD[ni]
    log_dead = np.full(len(xi), -np.inf)
    log_first, log_sum, sums = dead.evaluate(tab, head, grad=grad)
    log_dead[dead.rows] = log_first + log_sum
    return tab, dead, log_alive, log_dead, log_first, log_sum, sums


def bgbb_log_terms(
    params: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``(log_alive, log_dead)``: the likelihood's two parts (FHS 2010, eq. 5).

    ``log_alive`` is alive through period n; ``log_dead`` sums over dropping out in periods
    t_x+1 .. n (prefix sums per (x, t_x) pair, from gathered log-gammas).
    """
    _, _, log_alive, log_dead, _, _, _ = _log_parts(np.asarray(params), *_rows(x, tx, n))
    return log_alive, log_dead


def bgbb_negll(log_params: FloatArray, data: DiscreteData) -> tuple[float, FloatArray]:
    """Negative BG/BB log-likelihood and its exact gradient in log-parameter space.

    Every term of the likelihood is a product of Beta functions, so each derivative is a
    difference of digammas; the gradient of ``log(alive + Σ_i dead_i)`` weights each term's
    derivative by its share of the likelihood.
    """
    params = np.exp(log_params)
    alpha, beta, gamma, delta = params
    xi, ti, ni = _rows(data.frequency, data.recency, data.n_periods)
    w = data.weights
    tab, dead, alive, dead_ll, log_first, log_sum, sums = _log_parts(params, xi, ti, ni, grad=True)
    s_ab, s_b, s_d, s_gd = sums
    ll = np.logaddexp(alive, dead_ll)
    share_alive = np.exp(alive - ll)
    base_a = digamma(alpha) - digamma(alpha + beta)
    base_b = digamma(beta) - digamma(alpha + beta)
    base_g = digamma(gamma) - digamma(gamma + delta)
    base_d = digamma(delta) - digamma(gamma + delta)
    p_ab_n = tab.pAB[ni]
    g_alive = np.stack(
        [
            tab.pA[xi] - p_ab_n - base_a,
            tab.pB[ni - xi] - p_ab_n - base_b,
            digamma(gamma) - tab.pGD[ni] - base_g,
            tab.pD[ni] - tab.pGD[ni] - base_d,
        ]
    )
    # The dead terms' digammas weighted by their shares of each row's likelihood.
    r = dead.rows
    scale = np.exp(log_first - ll[r])  # first term / likelihood
    s0 = np.exp(log_sum) * scale
    s_ab, s_b, s_d, s_gd = s_ab * scale, s_b * scale, s_d * scale, s_gd * scale
    g_dead = np.zeros((4, len(xi)))
    g_dead[:, r] = np.stack(
        [
            (tab.pA[xi[r]] - base_a) * s0 - s_ab,
            s_b - s_ab - base_b * s0,
            (digamma(gamma + 1) - base_g) * s0 - s_gd,
            s_d - s_gd - base_d * s0,
        ]
    )
    grad = (g_alive * share_alive + g_dead) @ w * params
    return -float(np.dot(w, ll)), -grad


class BetaGeoBetaBinomModel(BaseModel):
    """BG/BB for discrete transaction opportunities (annual donations, weekly visits, ...)."""

    name: ClassVar[str] = "bgbb"
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")
    dropout_params: ClassVar[tuple[int, ...]] = (2, 3)
    unitless_dropout: ClassVar[bool] = True
    #: δ → ∞ with γ/(γ+δ) fixed (one dropout probability); β → ∞ with α/(α+β) fixed (one
    #: purchase probability)
    homogeneous: ClassVar[tuple[tuple[int, int], ...]] = ((3, 2), (1, 0))

    def homogeneous_mean(self, spread: str) -> tuple[str, str, str, float, str]:
        """The common dropout probability γ/(γ+δ) or purchase probability α/(α+β)."""
        p = self.params_
        if spread == "delta":
            drop = p["gamma"] / (p["gamma"] + p["delta"])
            return "dropout", "how soon they leave", "gamma/(gamma+delta)", drop, "per period"
        if spread == "beta":
            buy = p["alpha"] / (p["alpha"] + p["beta"])
            return (
                "purchase probability", "how often they buy", "alpha/(alpha+beta)", buy,
                "per period while active",
            )  # fmt: skip
        return super().homogeneous_mean(spread)

    def dropout_share(self, params: FloatArray, data: Any) -> float:
        """The mean dropout probability per period, γ/(γ+δ)."""
        return float(params[2] / (params[2] + params[3]))

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
        # A probability, not odds: the alive part's share of the likelihood, times surviving.
        return np.asarray(np.exp(alive + log_next - np.logaddexp(alive, dead)))

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
