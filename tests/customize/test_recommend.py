"""Recommendations on a hand-made log: the matrix, the baselines' exact values, the rules."""

from __future__ import annotations

import sys
from datetime import datetime

import numpy as np
import pytest

from patron.customize import (
    MODELS,
    Interactions,
    Rules,
    interactions,
    make_model,
    recommend,
    similar_items,
)
from patron.customize.recommend import recent_buyers, weight
from patron.data.warehouse import Warehouse
from patron.errors import DataError, NotFittedError, UsageError
from tests.customize.log import load_log


@pytest.fixture
def data(wh: Warehouse) -> Interactions:
    load_log(wh)
    return interactions(wh)


def cell(data: Interactions, customer: str, product: str, matrix: str = "orders") -> float:
    m = getattr(data, matrix)
    return float(m[data.customer_index()[customer], data.product_index()[product]])


def recs(data: Interactions, top: object, customer: str) -> list[str]:
    row = list(top.rows).index(data.customer_index()[customer])  # type: ignore[attr-defined]
    items = top.items[row]  # type: ignore[attr-defined]
    return [str(data.products[i]) for i in items if i >= 0]


def test_matrix_from_engine_aggregates(data: Interactions) -> None:
    assert data.customers.tolist() == ["A", "B", "C", "D", "E"]
    assert data.products.tolist() == ["p1", "p2", "p3", "p4", "p5", "p6"]
    assert cell(data, "A", "p1") == 2  # two orders
    assert cell(data, "A", "p1", "units") == 3  # 2 + 1 units
    assert cell(data, "B", "p2", "units") == 3
    assert cell(data, "A", "p3") == 1  # bought once, then returned: still a purchase ...
    assert bool(data.returned[0, 2])  # ... and marked returned
    assert data.returned.nnz == 1
    assert cell(data, "D", "p1") == 0
    assert data.orders.nnz == 12
    assert data.categories.tolist() == ["home", "home", "toys", "garden", "coffee", None]
    assert str(data.last_sold[5])[:10] == "2024-01-10"
    assert str(data.last_sold[4])[:10] == "2024-06-20"


def test_popularity_counts_distinct_buyers(data: Interactions) -> None:
    model = make_model("popularity").fit(data)
    # p1: A, B, C; p2: A, B, D; p3: A, E; p4: B, C; p5: C; p6: E.
    assert model.popularity_.tolist() == [3, 3, 2, 2, 1, 1]  # type: ignore[attr-defined]
    top = recommend(model, data, n=3, rules=Rules(active_days=None))
    assert recs(data, top, "D") == ["p1", "p3", "p4"]  # p2 bought; ties: p3 before p4 by index
    assert recs(data, top, "A") == ["p4", "p5", "p6"]  # p1, p2 bought, p3 returned


def test_cooccurrence_exact_values(data: Interactions) -> None:
    model = make_model("cooccurrence", trend_weight=0.0).fit(data)
    co = model.similarity_.toarray()  # type: ignore[attr-defined]
    # Customers who bought both (A: p1 p2 p3; B: p1 p2 p4; C: p1 p4 p5; D: p2; E: p3 p6).
    expected = np.zeros((6, 6))
    for basket in ([0, 1, 2], [0, 1, 3], [0, 3, 4], [1], [2, 5]):
        for i in basket:
            for j in basket:
                if i != j:
                    expected[i, j] += 1
    np.testing.assert_array_equal(co, expected)
    # D bought p2: its scores are p2's row (p1: 2, p3: 1, p4: 1).
    d = data.customer_index()["D"]
    np.testing.assert_array_equal(model.scores(np.array([d]), data.orders)[0], [2, 0, 1, 1, 0, 0])
    top = recommend(model, data, n=10, rules=Rules(active_days=None))
    assert recs(data, top, "D")[:3] == ["p1", "p3", "p4"]
    # Similar to p4: p1 (2 customers), then p2 and p5 (1 each); p3 and p6 share nobody.
    sim = similar_items(model, data, n=5, rules=Rules(active_days=None))
    assert [data.products[i] for i in sim.items[3] if i >= 0] == ["p1", "p2", "p5"]
    assert sim.scores[3, :3].tolist() == [2, 1, 1]


def test_cooccurrence_keeps_k_neighbours(data: Interactions) -> None:
    model = make_model("cooccurrence", K=1).fit(data)
    co = model.similarity_.toarray()  # type: ignore[attr-defined]
    assert (np.count_nonzero(co, axis=1) <= 1).all()
    assert co[3, 0] == 2  # p4's strongest neighbour is p1


@pytest.mark.parametrize("name", MODELS)
def test_rules_for_every_model(data: Interactions, name: str) -> None:
    model = make_model(name).fit(data)
    everything = Rules(active_days=None)
    top = recommend(model, data, n=6, rules=everything)
    bought = {c: set() for c in data.customers.tolist()}  # type: ignore[var-annotated]
    rows, cols = data.orders.nonzero()
    for r, c in zip(rows, cols, strict=True):
        bought[str(data.customers[r])].add(str(data.products[c]))
    for customer, theirs in bought.items():
        got = recs(data, top, customer)
        assert not set(got) & theirs, (customer, got)  # bought items excluded
        assert len(got) == len(set(got)) == 6 - len(theirs)
    assert "p3" not in recs(data, top, "A")  # returned
    # Inactive: p6 was last sold in January, 90 days before June 20 it is out.
    active = recommend(model, data, n=6, rules=Rules(active_days=90))
    assert all("p6" not in recs(data, active, c) for c in bought)
    assert any("p6" in recs(data, top, c) for c in bought)
    # Replenishable: C may get coffee (p5) again; without the rule never.
    again = recommend(
        model, data, n=6, rules=Rules(active_days=None, replenishable=frozenset({"coffee"}))
    )
    assert "p5" in recs(data, again, "C")
    assert "p5" not in recs(data, top, "C")
    # Returns excluded even in a replenishable category.
    toys = recommend(
        model, data, n=6, rules=Rules(active_days=None, replenishable=frozenset({"toys"}))
    )
    assert "p3" not in recs(data, toys, "A")
    assert "p3" in recs(data, toys, "E")  # E bought toys (p3) and may buy them again


def test_active_days_is_measured_from_the_reference_date(data: Interactions) -> None:
    rules = Rules(active_days=10)
    # Last sold: p1, p2 June 5; p3 June 15; p4 June 10; p5 June 20; p6 January 10 (10:00).
    assert rules.active(data, datetime(2024, 6, 21)).tolist() == [0, 0, 1, 0, 1, 0]
    assert rules.active(data, None).tolist() == [0, 0, 1, 1, 1, 0]  # from the last sale
    assert rules.active(data, datetime(2024, 6, 12)).tolist() == [1, 1, 1, 1, 1, 0]
    with pytest.raises(UsageError, match="active_days=-1 must be 0 or more"):
        Rules(active_days=-1).active(data, None)


@pytest.mark.parametrize("name", MODELS)
def test_model_contract(data: Interactions, name: str) -> None:
    model = make_model(name)
    with pytest.raises(NotFittedError, match=f"The {name} model is not fitted"):
        model.scores(np.array([0]), data.orders)
    assert model.fit(data) is model
    first = model.scores(np.arange(5), data.orders)
    again = make_model(name).fit(data).scores(np.arange(5), data.orders)
    np.testing.assert_array_equal(first, again)  # deterministic (ALS: seeded)
    assert first.shape == (5, 6)
    assert np.isfinite(first).all()
    assert make_model(name).get_params() == model.get_params()


def test_bad_models_and_parameters(data: Interactions) -> None:
    with pytest.raises(UsageError, match=r"Unknown model 'svd'; choose one of: popularity, "):
        make_model("svd")
    with pytest.raises(UsageError, match=r"The bm25 model has no hyperparameter factors; its "):
        make_model("bm25", factors=3)
    with pytest.raises(UsageError, match=r"bm25: B=2 is out of range; use a number from 0 to 1"):
        make_model("bm25", B=2).fit(data)
    with pytest.raises(UsageError, match=r"als: weighting='tfidf' is not allowed; choose one"):
        make_model("als", weighting="tfidf").fit(data)
    with pytest.raises(UsageError, match="The popularity model has no item similarity"):
        make_model("popularity").fit(data).item_similarity(np.array([0]))
    with pytest.raises(UsageError, match="--top 0"):
        recommend(make_model("popularity").fit(data), data, n=0)


def test_no_products_is_a_clear_error(wh: Warehouse) -> None:
    load_log(wh, [])
    with pytest.raises(DataError, match="No purchases with a customer_id and a product_id"):
        interactions(wh)


def test_recent_buyers_and_the_trend_blend(data: Interactions) -> None:
    june21 = datetime(2024, 6, 21)
    # Latest purchase per pair within 10 days before June 21: C-p5 (June 20), E-p3 (June 15).
    assert recent_buyers(data.last_bought, june21, 10).tolist() == [0, 0, 1, 0, 1, 0]
    assert recent_buyers(data.last_bought, june21, 20).tolist() == [3, 3, 2, 2, 1, 0]
    trending = make_model("popularity", days=10).fit(data, as_of=june21)
    assert trending.popularity_.tolist() == [0, 0, 1, 0, 1, 0]  # type: ignore[attr-defined]
    # Co-occurrence for D (bought p2) is [2, 0, 1, 1, 0, 0]; scaled by its best (2) and mixed
    # half and half with the trend scaled by its best (1).
    model = make_model("cooccurrence", trend_weight=0.5, trend_days=10).fit(data, as_of=june21)
    d = data.customer_index()["D"]
    np.testing.assert_allclose(
        model.scores(np.array([d]), data.orders)[0], [0.5, 0, 0.75, 0.25, 0.5, 0]
    )
    with pytest.raises(UsageError, match="trend needs purchase dates: fit it on Interactions"):
        make_model("bm25", trend_weight=0.2).fit(data.orders)
    with pytest.raises(UsageError, match=r"popularity: days=0 must be a positive number"):
        make_model("popularity", days=0).fit(data)


def test_hybrid_mixes_normalised_bm25_and_als(data: Interactions) -> None:
    everything = Rules(active_days=None)
    rows = np.arange(5)
    parts = {"K": 20, "K1": 1.2, "B": 0.75, "factors": 4, "regularization": 0.1}
    bm25 = make_model("bm25", K=20, K1=1.2, B=0.75, trend_weight=0.0).fit(data)
    als = make_model("als", factors=4, regularization=0.1, weighting="none", trend_weight=0.0)
    als.fit(data)
    b, a = bm25.scores(rows, data.orders), als.scores(rows, data.orders)

    def minmax(s: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        low, high = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
        return (s - low) / np.where(high > low, high - low, 1.0)

    hybrid = make_model("hybrid", als_weight=0.3, weighting="none", trend_weight=0.0, **parts)
    mixed = hybrid.fit(data).scores(rows, data.orders)
    np.testing.assert_allclose(mixed, 0.7 * minmax(b) + 0.3 * minmax(a), rtol=1e-5, atol=1e-6)
    assert mixed.min() >= 0.0
    assert mixed.max() <= 1.0 + 1e-6
    # The ends of the blend rank as the components do.
    for w, alone in ((0.0, bm25), (1.0, als)):
        end = make_model("hybrid", als_weight=w, weighting="none", trend_weight=0.0, **parts)
        got = recommend(end.fit(data), data, n=4, rules=everything)
        want = recommend(alone, data, n=4, rules=everything)
        np.testing.assert_array_equal(got.items, want.items)
    # Similar items: the same blend of the components' similarities, never a product itself.
    sim = similar_items(hybrid, data, n=5, rules=everything)
    assert all(i not in sim.items[i] for i in range(data.shape[1]))
    # ... and a product similar in neither component (both <= 0) is never listed as similar
    items = np.arange(data.shape[1])
    b_sim, a_sim = bm25.item_similarity(items), als.item_similarity(items)
    for i in items:
        listed = [j for j in sim.items[i] if j >= 0]
        assert all(b_sim[i, j] > 0 or a_sim[i, j] > 0 for j in listed), i
    with pytest.raises(UsageError, match=r"hybrid: als_weight=1.5 is out of range; use a number "):
        make_model("hybrid", als_weight=1.5).fit(data)


def _ease_by_direct_solve(x: np.ndarray, l2: float) -> np.ndarray:  # type: ignore[type-arg]
    """EASE's weights from the constrained least squares itself, column by column.

    Column j minimises ||x_j - X b||² + l2 ||b||² with b_j = 0: ridge regression of product j
    on every other product, solved with the normal equations (no closed-form trick).
    """
    n = x.shape[1]
    out = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        out[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n - 1), a.T @ x[:, j])
    return out


def test_ease_closed_form_solves_the_constrained_least_squares(data: Interactions) -> None:
    for weighting, l2 in (("binary", 0.5), ("log", 3.0), ("none", 100.0)):
        model = make_model("ease", l2=l2, weighting=weighting, trend_weight=0.0).fit(data)
        b = model.weights_  # type: ignore[attr-defined]
        assert b.dtype == np.float32
        assert b.shape == (6, 6)
        assert np.all(np.diag(b) == 0.0)  # no product predicts itself
        dense = weight(data.orders, weighting).toarray().astype(np.float64)
        np.testing.assert_allclose(b, _ease_by_direct_solve(dense, l2), rtol=1e-4, atol=1e-6)
        # Scores are the customers' weighted rows times B.
        np.testing.assert_allclose(
            model.scores(np.arange(5), data.orders), dense @ b, rtol=1e-5, atol=1e-6
        )


def test_ease_tiny_case_by_hand() -> None:
    # Two customers, two products, both bought by both: X = [[1, 1], [1, 1]], XᵀX = [[2, 2],
    # [2, 2]]. With l2 = 1: P = inverse of [[3, 2], [2, 3]] = [[3, -2], [-2, 3]] / 5, so
    # B[0, 1] = -P[0, 1] / P[1, 1] = 2 / 3 (the ridge fit of one column on the other:
    # 2 / (2 + 1)).
    from scipy import sparse

    x = sparse.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    model = make_model("ease", l2=1.0, trend_weight=0.0).fit(x)
    np.testing.assert_allclose(model.weights_, [[0, 2 / 3], [2 / 3, 0]], rtol=1e-6)  # type: ignore[attr-defined]
    # A customer who bought product 0 only scores product 1 at 2/3, product 0 at 0.
    np.testing.assert_allclose(
        model.scores(np.array([0]), sparse.csr_matrix([[1.0, 0.0]])), [[0.0, 2 / 3]], rtol=1e-6
    )


def test_ease_item_similarity_and_limits(
    data: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("ease", l2=1.0, trend_weight=0.0).fit(data)
    items = np.arange(data.shape[1])
    sim = model.item_similarity(items)
    np.testing.assert_array_equal(sim, model.weights_)  # type: ignore[attr-defined]
    top = similar_items(model, data, n=5, rules=Rules(active_days=None))
    for i in items:
        listed = [j for j in top.items[i] if j >= 0]
        assert i not in listed
        assert all(sim[i, j] > 0 for j in listed)  # negative weights are not "similar"
    with pytest.raises(UsageError, match=r"ease: l2=0 is out of range"):
        make_model("ease", l2=0).fit(data)
    with pytest.raises(UsageError, match=r"ease: weighting='bm25' is not allowed; choose one"):
        make_model("ease", weighting="bm25").fit(data)
    # (the package's ``recommend`` is the function; the module is in sys.modules)
    monkeypatch.setattr(sys.modules["patron.customize.recommend"], "EASE_MAX_PRODUCTS", 5)
    with pytest.raises(UsageError, match=r"limited to 5 products .* these purchases have 6\. Use"):
        make_model("ease").fit(data)


def test_rp3beta_tiny_case_by_hand() -> None:
    # X = [[1, 1, 0], [0, 1, 1]]: P_ui = [[.5, .5, 0], [0, .5, .5]], P_iu = [[1, 0], [.5, .5],
    # [0, 1]], so P_iu P_ui = [[.5, .5, 0], [.25, .5, .25], [0, .5, .5]]; popularity [1, 2, 1].
    from scipy import sparse

    x = sparse.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    walk = make_model("rp3beta", alpha=1.0, beta=0.0, K=10, trend_weight=0.0).fit(x)
    np.testing.assert_allclose(
        walk.similarity_.toarray(),  # type: ignore[attr-defined]
        [[0, 0.5, 0], [0.25, 0, 0.25], [0, 0.5, 0]],
    )
    # beta = 1 divides each column by its popularity; counts score as bought (binary).
    pen = make_model("rp3beta", alpha=1.0, beta=1.0, K=10, trend_weight=0.0).fit(x * 3)
    np.testing.assert_allclose(
        pen.similarity_.toarray(),  # type: ignore[attr-defined]
        [[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]],
    )
    np.testing.assert_allclose(
        pen.scores(np.array([0]), sparse.csr_matrix([[2.0, 0.0, 0.0]])), [[0, 0.25, 0]]
    )
    # alpha = 2 squares every transition probability: P_iu P_ui = [[.25, .25, 0],
    # [.0625, .125, .0625], [0, .25, .25]]; K = 1 keeps each product's strongest neighbour.
    sq = make_model("rp3beta", alpha=2.0, beta=0.0, K=1, trend_weight=0.0).fit(x)
    np.testing.assert_allclose(
        sq.similarity_.toarray(),  # type: ignore[attr-defined]
        [[0, 0.25, 0], [0.0625, 0, 0], [0, 0.25, 0]],
    )
    with pytest.raises(UsageError, match=r"rp3beta: beta=3 is out of range; use a number from 0"):
        make_model("rp3beta", beta=3).fit(x)


def test_rp3beta_matches_a_dense_computation(data: Interactions) -> None:
    x = (data.orders.toarray() > 0).astype(np.float64)
    alpha, beta = 0.7, 0.4
    p_ui = (x / x.sum(axis=1, keepdims=True)) ** alpha
    p_iu = (x.T / x.sum(axis=0)[:, None]) ** alpha
    w = (p_iu @ p_ui) / x.sum(axis=0)[None, :] ** beta
    np.fill_diagonal(w, 0.0)
    model = make_model("rp3beta", alpha=alpha, beta=beta, K=100, trend_weight=0.0).fit(data)
    np.testing.assert_allclose(model.similarity_.toarray(), w, rtol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.scores(np.arange(5), data.orders), x @ w, rtol=1e-5)


def test_hybrid_with_an_ease_component(data: Interactions) -> None:
    rows = np.arange(5)
    parts = {"K": 20, "K1": 1.2, "B": 0.75, "factors": 4, "regularization": 0.1}
    bm25 = make_model("bm25", K=20, K1=1.2, B=0.75, trend_weight=0.0).fit(data)
    als = make_model("als", factors=4, regularization=0.1, weighting="none", trend_weight=0.0)
    ease = make_model("ease", l2=2.0, weighting="log", trend_weight=0.0).fit(data)
    b, a = bm25.scores(rows, data.orders), als.fit(data).scores(rows, data.orders)
    e = ease.scores(rows, data.orders)

    def minmax(s: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        low, high = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
        return (s - low) / np.where(high > low, high - low, 1.0)

    three = make_model(
        "hybrid",
        als_weight=0.3,
        ease_weight=0.5,
        l2=2.0,
        ease_weighting="log",
        weighting="none",
        trend_weight=0.0,
        **parts,
    ).fit(data)
    np.testing.assert_allclose(
        three.scores(rows, data.orders),
        0.2 * minmax(b) + 0.3 * minmax(a) + 0.5 * minmax(e),
        rtol=1e-5,
        atol=1e-6,
    )
    # All the weight on EASE ranks as EASE alone.
    only = make_model(
        "hybrid",
        als_weight=0.0,
        ease_weight=1.0,
        l2=2.0,
        ease_weighting="log",
        trend_weight=0.0,
        **parts,
    )
    everything = Rules(active_days=None)
    got = recommend(only.fit(data), data, n=4, rules=everything)
    np.testing.assert_array_equal(got.items, recommend(ease, data, n=4, rules=everything).items)
    # Without EASE weight no EASE is fitted (no dense inverse, no catalogue limit) ...
    two = make_model("hybrid", als_weight=0.3, trend_weight=0.0, **parts).fit(data)
    assert two.ease_ is None  # type: ignore[attr-defined]
    two.ease_weight = 0.2  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="fitted without the EASE component; fit it again"):
        two.scores(rows, data.orders)
    with pytest.raises(UsageError, match=r"hybrid: als_weight \+ ease_weight = 1.2 is over 1"):
        make_model("hybrid", als_weight=0.7, ease_weight=0.5).fit(data)
    with pytest.raises(UsageError, match=r"hybrid: ease_weighting='bm25' is not allowed"):
        make_model("hybrid", ease_weight=0.5, ease_weighting="bm25").fit(data)
