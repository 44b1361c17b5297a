"""Uplift: who is persuadable — two-model and one-model learners, Qini and uplift curves.

Learners (scikit-learn ``HistGradientBoosting*``; classifiers for 0/1 outcomes, regressors
otherwise):

- **two-model** (T-learner): one model on treated, one on control customers;
  uplift(x) = f_T(x) − f_C(x);
- **one-model** (S-learner): one model with the treatment flag as a feature;
  uplift(x) = f(x, 1) − f(x, 0).

Evaluation on held-out customers ranked by predicted uplift, best first. With n_T(k), n_C(k)
treated and control customers among the top k and R_T(k), R_C(k) their summed outcomes:

- **Qini curve** Q(k) = R_T(k) − R_C(k) · n_T(k) / n_C(k): incremental outcomes among the top
  k, control scaled to the treated count (Radcliffe 2007);
- **uplift curve** U(k) = (R_T(k)/n_T(k) − R_C(k)/n_C(k)) · k;
- **random baseline**: the straight line from (0, 0) to (N, Q(N)) (resp. U(N)) — what
  targeting at random gives in expectation;
- **Qini coefficient** and **AUUC**: the area between the curve and its random line with the
  x axis as the share of customers targeted (0..1) and the y axis divided by N — i.e. in
  outcome units per customer; positive means the ranking beats random;
- **uplift at k%**: treated rate − control rate among the top k% of the ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from patron.errors import DataError, UsageError

__all__ = ["LEARNERS", "UpliftResult", "fit_uplift", "qini_curve", "uplift_at"]

LEARNERS = ("two-model", "one-model")
MAX_CATEGORIES = 20


def qini_curve(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> dict[str, Any]:
    """Qini and uplift curves of a ranking (see the module docstring for the definitions).

    Returns ``x`` (share targeted), ``qini``, ``uplift`` (both divided by N, per customer of
    the population), their random lines' end points, ``qini_coefficient`` and ``auuc``.
    """
    order = np.argsort(-uplift, kind="stable")
    t = treated[order].astype(float)
    y = outcome[order].astype(float)
    n = len(y)
    nt = np.cumsum(t)
    nc = np.cumsum(1 - t)
    rt = np.cumsum(y * t)
    rc = np.cumsum(y * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(nc > 0, rt - rc * nt / np.where(nc > 0, nc, 1), rt)
        u = np.where(
            (nt > 0) & (nc > 0),
            (rt / np.where(nt > 0, nt, 1) - rc / np.where(nc > 0, nc, 1)) * np.arange(1, n + 1),
            0.0,
        )
    x = np.concatenate([[0.0], np.arange(1, n + 1) / n])
    q = np.concatenate([[0.0], q]) / n
    u = np.concatenate([[0.0], u]) / n
    qini_coef = float(np.trapezoid(q - x * q[-1], x))
    auuc = float(np.trapezoid(u - x * u[-1], x))
    return {"x": x, "qini": q, "uplift": u, "qini_coefficient": qini_coef, "auuc": auuc}


def uplift_at(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray, share: float) -> float:
    """Treated rate − control rate among the top ``share`` of customers by predicted uplift."""
    k = max(round(share * len(uplift)), 1)
    top = np.argsort(-uplift, kind="stable")[:k]
    t = treated[top].astype(bool)
    y = outcome[top].astype(float)
    if not t.any() or t.all():
        return float("nan")
    return float(y[t].mean() - y[~t].mean())


@dataclass
class UpliftResult:
    """A fitted uplift learner, its held-out evaluation, and scores for every customer."""

    learner: str
    outcome: str
    treatment: str
    control: str
    features: list[str]
    n_train: int
    n_test: int
    qini_coefficient: float
    auuc: float
    random_qini: list[float]
    uplift_at: dict[str, float]
    curve: dict[str, list[float]]
    scores: np.ndarray = field(repr=False)
    ids: list[Any] = field(repr=False)

    @property
    def beats_random(self) -> bool:
        """Whether the Qini coefficient exceeds the 95th percentile of random rankings."""
        return bool(self.qini_coefficient > float(np.percentile(self.random_qini, 95)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (curves thinned to at most 101 points)."""
        return {
            "beats_random": self.beats_random,
            "learner": self.learner,
            "outcome": self.outcome,
            "treatment": self.treatment,
            "control": self.control,
            "features": self.features,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "qini_coefficient": self.qini_coefficient,
            "auuc": self.auuc,
            "qini_coefficient_random_rankings_p95": float(np.percentile(self.random_qini, 95)),
            "uplift_at": self.uplift_at,
            "curve": self.curve,
            "definitions": "see patron.measure.uplift (Qini: Radcliffe 2007; random baseline: "
            "straight line to the whole population's value)",
        }

    def target_list(self, id_name: str = "customer_id") -> ir.Table:
        """The ranked target list: ``rank, <id_name>, predicted_uplift``, best first."""
        order = np.argsort(-self.scores, kind="stable")
        return ibis.memtable(
            {
                "rank": np.arange(1, len(order) + 1),
                id_name: [self.ids[i] for i in order],
                "predicted_uplift": self.scores[order],
            }
        )

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` customers with the highest predicted uplift."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [{"id": self.ids[i], "uplift": float(self.scores[i])} for i in order]


def _design(arrow: Any, features: list[str]) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = []
    names: list[str] = []
    for f in features:
        col = arrow.column(f)
        values = col.to_numpy(zero_copy_only=False)
        if values.dtype.kind in "biuf":
            cols.append(values.astype(float))
            names.append(f)
        else:
            text = np.asarray([str(v) for v in values])
            uniq, counts = np.unique(text, return_counts=True)
            for level in uniq[np.argsort(-counts)][:MAX_CATEGORIES]:
                cols.append((text == level).astype(float))
                names.append(f"{f}={level}")
    return np.column_stack(cols), names


def fit_uplift(
    table: ir.Table,
    *,
    arm: str,
    treatment: str,
    control: str,
    outcome: str,
    features: list[str],
    learner: str = "two-model",
    id_column: str | None = None,
    test_share: float = 0.3,
    seed: int = 0,
    max_rows: int = 500_000,
) -> UpliftResult:
    """Fit an uplift learner on ``treatment`` vs ``control`` customers and evaluate it.

    ``table`` has one row per customer; at most ``max_rows`` (a seeded sample) are used.
    Every customer of the two arms is scored (``scores``/``ids``) by a model refitted on all
    of them, for the ranked target list.
    """
    if learner not in LEARNERS:
        raise UsageError(f"--learner {learner!r}: choose {' or '.join(LEARNERS)}.")
    for c in [arm, outcome, *features, *([id_column] if id_column else [])]:
        if c not in table.columns:
            raise UsageError(f"No column {c!r}; the data have: {', '.join(table.columns)}.")
    if not features:
        raise UsageError("Give the feature columns to learn from (--features a,b,c).")
    kind = table[outcome].type()
    if not (kind.is_numeric() or kind.is_boolean()):
        raise DataError(
            f"Outcome {outcome!r} holds {kind} values; it must be numbers (0/1 or an amount)."
        )
    two = table.filter(table[arm].cast("string").isin([treatment, control]))
    cols = [arm, outcome, *features, *([id_column] if id_column else [])]
    arrow = two.select(*cols).to_pyarrow()
    n = arrow.num_rows
    if n == 0:
        raise DataError(f"No customers in arms {treatment!r} and {control!r}.")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(n, max_rows, replace=False)) if n > max_rows else np.arange(n)
    arrow = arrow.take(keep)
    t = np.asarray([str(v) == treatment for v in arrow.column(arm).to_pylist()])
    y = np.asarray(arrow.column(outcome).to_numpy(zero_copy_only=False), dtype=float)
    y = np.nan_to_num(y)
    if t.sum() < 20 or (~t).sum() < 20:
        raise DataError(
            f"Too few customers to learn uplift: {int(t.sum())} in {treatment!r}, "
            f"{int((~t).sum())} in {control!r} (at least 20 each)."
        )
    x, names = _design(arrow, features)
    binary = bool(np.all((y == 0) | (y == 1)))
    ids = (
        arrow.column(id_column).to_pylist() if id_column else [int(i) for i in keep]
    )  # row numbers of the input when there is no id column
    test = np.zeros(len(y), dtype=bool)
    for group in (t, ~t):  # stratified by arm
        idx = np.flatnonzero(group)
        test[rng.choice(idx, round(test_share * len(idx)), replace=False)] = True

    # Imported here, not with the module: scikit-learn adds ~0.5 s to every CLI start-up.
    from sklearn.ensemble import (  # type: ignore[import-untyped]
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    def fit_predict(train: np.ndarray, score_x: np.ndarray) -> np.ndarray:
        def model() -> Any:
            kw = {
                "random_state": seed,
                "max_iter": 100,
                "learning_rate": 0.05,
                "max_depth": 3,
                "min_samples_leaf": 200,
            }
            return (
                HistGradientBoostingClassifier(**kw)
                if binary
                else HistGradientBoostingRegressor(**kw)
            )

        def predict(m: Any, data: np.ndarray) -> np.ndarray:
            return np.asarray(m.predict_proba(data)[:, 1] if binary else m.predict(data))

        if learner == "two-model":
            mt = model().fit(x[train & t], y[train & t])
            mc = model().fit(x[train & ~t], y[train & ~t])
            return np.asarray(predict(mt, score_x) - predict(mc, score_x))
        m = model().fit(np.column_stack([x[train], t[train].astype(float)]), y[train])
        ones = np.column_stack([score_x, np.ones(len(score_x))])
        zeros = np.column_stack([score_x, np.zeros(len(score_x))])
        return np.asarray(predict(m, ones) - predict(m, zeros))

    held = fit_predict(~test, x[test])
    curve = qini_curve(held, t[test], y[test])
    random_q = [
        qini_curve(rng.permutation(len(held)).astype(float), t[test], y[test])["qini_coefficient"]
        for _ in range(50)
    ]
    at = {f"{int(s * 100)}%": uplift_at(held, t[test], y[test], s) for s in (0.1, 0.2, 0.3, 0.5)}
    step = max(len(curve["x"]) // 100, 1)
    thin = {k: [float(v) for v in curve[k][::step]] for k in ("x", "qini", "uplift")}
    scores = fit_predict(np.ones(len(y), dtype=bool), x)
    return UpliftResult(
        learner,
        outcome,
        treatment,
        control,
        names,
        int((~test).sum()),
        int(test.sum()),
        curve["qini_coefficient"],
        curve["auuc"],
        random_q,
        at,
        thin,
        scores,
        ids,
    )
