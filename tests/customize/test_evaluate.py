"""The evaluation protocol on a hand-made log: who and what counts, and the metrics."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from patron.customize.evaluate import evaluate, score_top_n, split_at
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from tests.customize.log import LINES, load_log

AFTER = [
    ("A", "06-13", "o20", "p1", 1),  # bought before: not a test item
    ("A", "06-13", "o20", "p4", 1),  # first time: a test item
    ("A", "06-14", "o21", "p3", 1),  # bought (and returned) before: not a test item
    ("A", "06-14", "o21", "p7", 2),  # a product new after the cutoff: a test item
    ("F", "06-16", "o22", "p2", 1),  # no purchase before: not evaluated
    ("D", "06-17", "r9", "p1", -1),  # a return is not a purchase
]
CUTOFF = date(2024, 6, 12)


@pytest.fixture
def warehouse(wh: Warehouse) -> Warehouse:
    load_log(wh, LINES + AFTER)
    return wh


def test_split_counts_first_purchases_of_known_customers(warehouse: Warehouse) -> None:
    split = split_at(warehouse, CUTOFF, min_customers=1)
    train = split.train
    # Training: every purchase before June 12 (C's coffee on June 20, E's p3 on June 15 later).
    assert train.customers.tolist() == ["A", "B", "C", "D", "E"]
    assert train.products.tolist() == ["p1", "p2", "p3", "p4", "p6"]
    evaluated = [str(train.customers[r]) for r in split.rows]
    assert evaluated == ["A", "C", "E"]  # D only returned; F never bought before
    assert split.test_counts.tolist() == [2, 1, 1]  # A: p4, p7; C: p5; E: p3
    tests = {
        who: [str(train.products[c]) for c in split.test[i].indices]
        for i, who in enumerate(evaluated)
    }
    assert tests == {"A": ["p4"], "C": [], "E": ["p3"]}  # p5, p7 are not in the catalogue


def test_metrics_by_hand(warehouse: Warehouse) -> None:
    split = split_at(warehouse, CUTOFF, min_customers=1)
    idx = split.train.product_index()
    items = np.array(
        [
            [idx["p4"], idx["p2"]],  # A: one hit of its 2 test items
            [idx["p1"], -1],  # C: no hit (its test item is new)
            [idx["p3"], idx["p1"]],  # E: its one test item
        ]
    )
    score = score_top_n("hand", {}, items, split, n=2)
    assert score.precision == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert score.recall == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert score.hit_rate == pytest.approx(2 / 3)
    assert score.coverage == pytest.approx(4 / 5)  # p4, p2, p1, p3 of 5 products


def test_evaluate_runs_every_model(warehouse: Warehouse) -> None:
    result = evaluate(warehouse, CUTOFF, n=2, min_customers=1)
    assert (result.customers, result.test_items, result.catalogue) == (3, 4, 5)
    assert [s.model for s in result.scores] == [
        "popularity",
        "cooccurrence",
        "item_knn",
        "bm25",
        "als",
        "hybrid",
        "ease",
        "rp3beta",
    ]
    for s in result.scores:
        assert 0 <= s.precision <= 1
        assert 0 <= s.recall <= 1
        assert 0 <= s.coverage <= 1
    # Popularity by hand (buyers before June 12: p1 3, p2 3, p4 2, p3 1; p6 inactive since
    # January): A has bought p1-p3 -> [p4] (a hit); C -> [p2, p3]; E -> [p1, p2]; no other hit.
    pop = result.scores[0]
    assert pop.precision == pytest.approx((1 / 2) / 3)
    assert pop.hit_rate == pytest.approx(1 / 3)


def test_split_errors(warehouse: Warehouse) -> None:
    with pytest.raises(UsageError, match=r"--cutoff 2030-01-01 is outside the transactions"):
        split_at(warehouse, date(2030, 1, 1))
    with pytest.raises(UsageError, match=r"--cutoff 2020-01-01 is outside the transactions"):
        split_at(warehouse, date(2020, 1, 1))
    with pytest.raises(DataError, match=r"Only 3 customers bought before 2024-06-12 .*at least 20"):
        split_at(warehouse, CUTOFF)
    with pytest.raises(UsageError, match=r"ends .* before the cutoff"):
        split_at(warehouse, CUTOFF, end=date(2024, 6, 1))
