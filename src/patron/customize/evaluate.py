"""The evaluation protocol: a time split, first purchases after it, precision and recall at N.

Protocol (issue 23; computed in the engine up to the aggregated pairs):

- train on every transaction before ``cutoff``;
- a customer's *test items* are the products they bought on or after ``cutoff`` (and before
  ``end``, when given) and never bought before ``cutoff``;
- evaluated customers have at least one purchase before ``cutoff`` and at least one test item;
- each model recommends ``n`` products per evaluated customer under the business rules
  (:class:`~patron.customize.recommend.Rules`, reference date ``cutoff``);
- precision@n = hits / n, recall@n = hits / test items, hit@n = at least one hit, each
  averaged over the evaluated customers; catalogue coverage = distinct products recommended /
  products in the training catalogue.

Test items outside the training catalogue (new products) count in recall's denominator: no
model trained before the cutoff could recommend them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from patron.customize.interactions import (
    Interactions,
    from_pairs,
    pair_aggregates,
    product_categories,
    transactions_with_products,
)
from patron.customize.recommend import MODELS, Rules, make_model, recommend
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError

__all__ = [
    "MIN_EVAL_CUSTOMERS",
    "Evaluation",
    "ModelScore",
    "Split",
    "evaluate",
    "evaluate_split",
    "split_at",
]

#: Fewer evaluated customers than this and the figures mean nothing: refused.
MIN_EVAL_CUSTOMERS = 20


@dataclass(frozen=True)
class Split:
    """A training matrix and, per evaluated customer, the products first bought after the cutoff.

    Attributes
    ----------
    train
        Purchases before the cutoff.
    cutoff, end
        The test window ``[cutoff, end)`` (``end`` None: to the end of the data).
    rows
        Row numbers (in ``train``) of the evaluated customers, sorted.
    test
        CSR (evaluated customers × training products), 1 where a test item is in the catalogue.
    test_counts
        Test items per evaluated customer, including products new after the cutoff.
    """

    train: Interactions
    cutoff: datetime
    end: datetime | None
    rows: npt.NDArray[np.int64]
    test: sparse.csr_matrix
    test_counts: npt.NDArray[np.int64]


def _at_midnight(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, dtime())


def split_at(
    wh: Warehouse,
    cutoff: date | datetime,
    *,
    end: date | datetime | None = None,
    min_customers: int = MIN_EVAL_CUSTOMERS,
) -> Split:
    """Split the warehouse's transactions at ``cutoff`` by the protocol.

    ``min_customers``: fewer evaluated customers than this is refused (the figures would
    mean nothing).

    Raises
    ------
    UsageError
        ``cutoff`` (or ``end``) outside the transactions' dates, or ``end`` not after ``cutoff``.
    DataError
        No product ids, or no customer with a purchase before and a first purchase after.
    """
    tx = transactions_with_products(wh)
    lo_hi = tx.aggregate(first=tx.timestamp.min(), last=tx.timestamp.max()).to_pyarrow()
    first, last = lo_hi.column("first")[0].as_py(), lo_hi.column("last")[0].as_py()
    if first is None:
        raise DataError("The transactions table is empty; load transactions first.")
    cut = _at_midnight(cutoff)
    stop = _at_midnight(end) if end is not None else None
    first, last = first.replace(tzinfo=None), last.replace(tzinfo=None)
    if not (first < cut <= last):
        raise UsageError(
            f"--cutoff {cut.date()} is outside the transactions ({first.date()} to "
            f"{last.date()}); choose a date after the first and on or before the last."
        )
    if stop is not None and stop <= cut:
        raise UsageError(f"The test window ends ({stop.date()}) before the cutoff ({cut.date()}).")
    before = pair_aggregates(tx, end=cut)
    after = pair_aggregates(tx, start=cut, end=stop)
    bought_before = before.filter(before.orders > 0)
    firsts = after.filter(after.orders > 0).select("customer_id", "product_id")
    firsts = firsts.anti_join(bought_before, ["customer_id", "product_id"])
    known = bought_before.select("customer_id").distinct()
    firsts = firsts.semi_join(known, "customer_id")
    train = from_pairs(before.to_pyarrow(), product_categories(wh, tx))
    test_pairs = firsts.to_pyarrow()
    cidx, pidx = train.customer_index(), train.product_index()
    cust = np.array([cidx[c] for c in test_pairs.column("customer_id").to_pylist()], dtype=np.int64)
    prod = np.array(
        [pidx.get(p, -1) for p in test_pairs.column("product_id").to_pylist()], dtype=np.int64
    )
    rows, inverse = np.unique(cust, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(rows)).astype(np.int64)
    inside = prod >= 0
    test = sparse.csr_matrix(
        (np.ones(int(inside.sum()), dtype=np.float32), (inverse[inside], prod[inside])),
        shape=(len(rows), train.shape[1]),
    )
    if len(rows) < min_customers:
        raise DataError(
            f"Only {len(rows)} customers bought before {cut.date()} and a new product after it "
            f"(at least {min_customers} are needed to evaluate); choose another --cutoff."
        )
    return Split(train, cut, stop, rows.astype(np.int64), test, counts)


@dataclass(frozen=True)
class ModelScore:
    """One model's figures on the protocol (averages over the evaluated customers)."""

    model: str
    params: dict[str, Any]
    precision: float
    recall: float
    hit_rate: float
    coverage: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """The protocol's result: its setting and one :class:`ModelScore` per model."""

    cutoff: str
    end: str | None
    n: int
    customers: int
    test_items: int
    catalogue: int
    rules: dict[str, Any]
    scores: list[ModelScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        out = asdict(self)
        out["scores"] = [s.to_dict() for s in self.scores]
        return out


def evaluate_split(
    split: Split,
    models: Sequence[str] = MODELS,
    *,
    n: int = 10,
    rules: Rules | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ModelScore]:
    """Fit each model on ``split.train`` and score its top ``n`` against the test items."""
    rules = rules or Rules()
    out = []
    for name in models:
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        model = make_model(name, **(params or {}).get(name, {})).fit(
            split.train, as_of=split.cutoff
        )
        top = recommend(model, split.train, n=n, rules=rules, as_of=split.cutoff, rows=split.rows)
        out.append(
            score_top_n(name, model.get_params(), top.items, split, n, time.perf_counter() - start)
        )
    return out


def score_top_n(
    name: str,
    params: dict[str, Any],
    items: npt.NDArray[np.int64],
    split: Split,
    n: int,
    seconds: float = 0.0,
) -> ModelScore:
    """Precision, recall, hit rate at ``n`` and coverage of ``items`` (rows of ``split.rows``)."""
    k = items.shape[0]
    valid = items >= 0
    safe = np.where(valid, items, 0)
    flat_rows = np.repeat(np.arange(k), items.shape[1])
    hit_matrix = np.asarray(split.test[flat_rows, safe.ravel()]).reshape(items.shape) > 0
    hits = (hit_matrix & valid).sum(axis=1)
    catalogue = split.train.shape[1]
    recommended = np.unique(items[valid])
    return ModelScore(
        model=name,
        params=params,
        precision=float(np.mean(hits / n)),
        recall=float(np.mean(hits / split.test_counts)),
        hit_rate=float(np.mean(hits > 0)),
        coverage=float(len(recommended) / catalogue) if catalogue else 0.0,
        seconds=seconds,
    )


def evaluate(
    wh: Warehouse,
    cutoff: date | datetime,
    *,
    end: date | datetime | None = None,
    models: Sequence[str] = MODELS,
    n: int = 10,
    rules: Rules | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    min_customers: int = MIN_EVAL_CUSTOMERS,
) -> Evaluation:
    """Run the protocol on the warehouse's transactions for each model.

    Parameters
    ----------
    wh
        The warehouse with ``transactions`` (product ids needed).
    cutoff
        Train before this date; test on first purchases from it on.
    end
        End of the test window (exclusive); the end of the data when None.
    models
        Model names (:data:`~patron.customize.recommend.MODELS`).
    n
        Recommendations per customer (the "10" of precision@10).
    rules
        Business rules (reference date: the cutoff).
    params
        Hyperparameters per model name, over the shipped defaults.
    min_customers
        Fewer evaluated customers than this is refused.
    """
    for name in models:
        if name not in MODELS:
            raise UsageError(f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    if n < 1:
        raise UsageError(f"--top {n}: evaluate at least 1 recommendation per customer.")
    rules = rules or Rules()
    split = split_at(wh, cutoff, end=end, min_customers=min_customers)
    scores = evaluate_split(split, models, n=n, rules=rules, params=params, progress=progress)
    return Evaluation(
        cutoff=split.cutoff.date().isoformat(),
        end=split.end.date().isoformat() if split.end else None,
        n=n,
        customers=len(split.rows),
        test_items=int(split.test_counts.sum()),
        catalogue=split.train.shape[1],
        rules={
            "replenishable": sorted(rules.replenishable),
            "active_days": rules.active_days,
            "exclude_returned": rules.exclude_returned,
        },
        scores=scores,
    )
