"""Inputs of the models: compressed per-customer summaries as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from patron.errors import DataError
from patron.value.models._base import FloatArray, as_float_array

__all__ = [
    "BadRowError",
    "DiscreteData",
    "RFMData",
    "RFMIndex",
    "RFMPairs",
    "SpendData",
    "SpendStats",
]


class BadRowError(DataError):
    """A summary row fails a check: ``row`` is its position in the arrays, ``reason`` what."""

    def __init__(self, message: str, row: int, reason: str) -> None:
        super().__init__(message)
        self.row = row
        self.reason = reason


def _weights(weights: Any, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = as_float_array(weights, "weights")
    if w.shape != (n,) or np.any(w < 0):
        raise DataError("weights must be one non-negative count per row.")
    return w


def _raise_first_bad(checks: list[tuple[np.ndarray, str]], columns: dict[str, FloatArray]) -> None:
    """Raise a DataError naming the first row that fails a check, with its values."""
    for mask, text in checks:
        if np.any(mask):
            i = int(np.flatnonzero(mask)[0])
            values = ", ".join(f"{name}={col[i]:g}" for name, col in columns.items())
            raise BadRowError(f"Summary row {i}: {text} ({values}).", i, text)


@dataclass(frozen=True)
class RFMData:
    """Frequency (repeat purchases), recency and age T per row, with row counts as weights.

    ``recency`` and ``T`` are in the model's time unit (e.g. weeks): recency is the time from
    the first to the last purchase, T from the first purchase to the end of calibration.
    """

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    weights: FloatArray

    @classmethod
    def from_arrays(cls, frequency: Any, recency: Any, T: Any, weights: Any = None) -> RFMData:
        """Validate and build; a :class:`DataError` names the first bad row."""
        x = as_float_array(frequency, "frequency")
        tx = as_float_array(recency, "recency")
        t = as_float_array(T, "T")
        if not (x.shape == tx.shape == t.shape):
            raise DataError("frequency, recency and T must have the same length.")
        checks = [
            (x < 0, "frequency is negative"),
            (x != np.round(x), "frequency is not a whole number"),
            (tx < 0, "recency is negative"),
            (tx > t * (1 + 1e-9) + 1e-9, "recency is larger than T"),
            ((x == 0) & (tx != 0), "recency is not 0 although frequency is 0"),
            # T = 0: first purchase on the last day observed (no repeat possible yet).
            (t < 0, "T is negative"),
            ((t == 0) & (x > 0), "T is 0 although there are repeat purchases"),
        ]
        _raise_first_bad(checks, {"frequency": x, "recency": tx, "T": t})
        return cls(x, tx, t, _weights(weights, len(x)))

    @property
    def n_customers(self) -> float:
        """Number of customers (sum of weights)."""
        return float(self.weights.sum())

    @cached_property
    def index(self) -> RFMIndex:
        """Unique values of frequency, T and recency with each row's position (cached).

        Likelihood terms that depend on one of them only are computed once per unique value.
        """
        ux, ix = np.unique(self.frequency, return_inverse=True)
        uT, iT = np.unique(self.T, return_inverse=True)
        utx, itx = np.unique(self.recency, return_inverse=True)
        wx = np.asarray(np.bincount(ix, weights=self.weights, minlength=len(ux)), dtype=float)
        return RFMIndex(ux, ix, wx, uT, iT, utx, itx)

    @cached_property
    def pairs(self) -> RFMPairs:
        """Unique (frequency, recency) and (frequency, T) pairs with each row's position (cached).

        Far fewer than rows (18k and 13k pairs for 364k rows of a million customers), so terms
        of a frequency and one time are computed once per pair.
        """
        ix = self.index.ix
        k_tx, i_tx = np.unique(np.stack([ix, self.index.itx], axis=1), axis=0, return_inverse=True)
        k_T, i_T = np.unique(np.stack([ix, self.index.iT], axis=1), axis=0, return_inverse=True)
        ux, utx, uT = self.index.ux, self.index.utx, self.index.uT
        return RFMPairs(
            ux[k_tx[:, 0]], utx[k_tx[:, 1]], i_tx.ravel(), ux[k_T[:, 0]], uT[k_T[:, 1]], i_T.ravel()
        )


@dataclass(frozen=True)
class RFMIndex:
    """Unique values and inverse indices of an :class:`RFMData` (see ``RFMData.index``)."""

    ux: FloatArray
    ix: np.ndarray
    wx: FloatArray
    uT: FloatArray
    iT: np.ndarray
    utx: FloatArray
    itx: np.ndarray


@dataclass(frozen=True)
class RFMPairs:
    """Unique (frequency, recency) and (frequency, T) pairs (see ``RFMData.pairs``)."""

    x_tx: FloatArray
    tx: FloatArray
    i_tx: np.ndarray
    x_T: FloatArray
    T: FloatArray
    i_T: np.ndarray


@dataclass(frozen=True)
class SpendData:
    """Number of repeat transactions and their mean value, for repeat customers only."""

    frequency: FloatArray
    monetary: FloatArray
    weights: FloatArray

    @classmethod
    def from_arrays(cls, frequency: Any, monetary: Any, weights: Any = None) -> SpendData:
        """Keep rows with at least one repeat purchase and positive mean spend."""
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary, "monetary_value")
        w = _weights(weights, len(x))
        keep = (x > 0) & (m > 0)
        if not np.any(keep):
            raise DataError(
                "Gamma-Gamma needs customers with at least one repeat purchase and positive "
                "mean spend; this summary has none."
            )
        return cls(x[keep], m[keep], w[keep])

    @cached_property
    def stats(self) -> SpendStats:
        """Sufficient statistics that do not depend on the parameters (cached)."""
        ux, ix = np.unique(self.frequency, return_inverse=True)
        wx = np.asarray(np.bincount(ix, weights=self.weights, minlength=len(ux)), dtype=float)
        logz = np.log(self.monetary)
        w_x = self.weights * self.frequency
        return SpendStats(
            ux,
            wx,
            float(np.dot(w_x, logz)),
            float(np.dot(self.weights, logz)),
            self.frequency * self.monetary,
            w_x,
        )


@dataclass(frozen=True)
class SpendStats:
    """Unique frequencies with their weights, Σ w·x·ln z̄ and Σ w·ln z̄; per row x·z̄, w·x."""

    ux: FloatArray
    wx: FloatArray
    wx_logz: float
    w_logz: float
    xz: FloatArray
    w_x: FloatArray


@dataclass(frozen=True)
class DiscreteData:
    """Discrete-time data for BG/BB: transactions x, recency t_x, opportunities n."""

    frequency: FloatArray
    recency: FloatArray
    n_periods: FloatArray
    weights: FloatArray

    @classmethod
    def from_arrays(
        cls, frequency: Any, recency: Any, n_periods: Any, weights: Any = None
    ) -> DiscreteData:
        """Validate and build; a :class:`DataError` names the first bad row."""
        x = as_float_array(frequency, "frequency")
        tx = as_float_array(recency, "recency")
        n = as_float_array(n_periods, "periods")
        checks = [
            (x < 0, "frequency is negative"),
            (x > tx, "frequency is larger than recency"),
            (tx > n, "recency is larger than the number of periods"),
            ((x > 0) & (tx == 0), "recency is 0 although frequency is positive"),
            (
                (x != np.round(x)) | (tx != np.round(tx)) | (n != np.round(n)),
                "a value is not whole",
            ),
        ]
        _raise_first_bad(checks, {"frequency": x, "recency": tx, "periods": n})
        return cls(x, tx, n, _weights(weights, len(x)))
