from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from patron.data.simulate import SEGMENTS, ShopParams, simulate_shop
from patron.errors import UsageError


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))
    }


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    simulate_shop(2_000, tmp_path / "a", seed=7)
    simulate_shop(2_000, tmp_path / "b", seed=7)
    simulate_shop(2_000, tmp_path / "c", seed=8)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert (
        digest(tmp_path / "a")["transactions.parquet"]
        != digest(tmp_path / "c")["transactions.parquet"]
    )


def test_shop_is_consistent_with_its_truth(tmp_path: Path) -> None:
    n = 20_000
    prm = ShopParams()
    result = simulate_shop(n, tmp_path, seed=3, params=prm)
    tx = pq.read_table(result.files["transactions"])
    truth = pq.read_table(result.files["truth"]).to_pandas()
    customers = pq.read_table(result.files["customers"])
    assert customers.num_rows == n == len(truth)
    purchases = tx.filter(pc.invert(pc.less(tx["amount"], 0)))
    per_customer = purchases.group_by("customer_id").aggregate([("amount", "count")]).to_pandas()
    counts = per_customer.set_index("customer_id")["amount_count"].reindex(truth.customer_id)
    # Everyone buys once at acquisition; repeats follow the truth file exactly.
    assert (counts.to_numpy() == truth.repeat_purchases.to_numpy() + 1).all()
    # Latent parameters come from the stated distributions (means within sampling error).
    assert truth.purchase_rate_per_week.mean() == pytest.approx(prm.r / prm.alpha, rel=0.05)
    assert truth.dropout_probability.mean() == pytest.approx(prm.a / (prm.a + prm.b), rel=0.03)
    # Returns exist, are negative, and are a small share.
    returns = tx.filter(pc.less(tx["amount"], 0)).num_rows
    assert 0.01 < returns / purchases.num_rows < 0.06
    # Segments drive the category mix: each segment's top category is its designed one.
    df = purchases.to_pandas().merge(truth[["customer_id", "segment"]], on="customer_id")
    for seg in SEGMENTS:
        top = df[df.segment == seg.name].category.value_counts().idxmax()
        from patron.data.simulate import CATEGORIES

        assert top == CATEGORIES[int(np.argmax(seg.category_mix))]
    # Dropout happens after acquisition; those alive at the end have no dropout time.
    dead = truth[~truth.alive_at_end]
    assert (dead.dropout_week >= dead.acquired_week).all()


def test_rejects_nonsense(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--customers must be at least 1, got 0"):
        simulate_shop(0, tmp_path)


def test_true_clv_matches_a_forward_simulation() -> None:
    """truth.parquet's clv_12m, checked against simulating each customer's next 12 months.

    Forward: purchases at rate λ, each followed by dropout with probability p; margin per
    order and cost to serve per week discounted continuously at 10% a year.
    """
    from patron.data.simulate import CATEGORY_MARGIN, SEGMENTS, ShopParams, _true_clv

    prm = ShopParams()
    rng = np.random.default_rng(3)
    segment = np.array([0, 1, 2, 3, 2])
    lam = np.array([0.5, 0.05, 1.0, 0.2, 0.01])
    pdrop = np.array([0.1, 0.5, 0.02, 0.3, 0.2])
    nu = np.array([0.2, 0.15, 0.3, 0.25, 0.2])
    cts = np.array([2.0, 9.0, 1.5, 12.0, 9.0])
    alive = np.array([True, True, True, True, False])
    got = _true_clv(prm, segment, lam, pdrop, nu, alive, cts)
    weeks, delta = 365.25 / 7, np.log(1.1) / (365.25 / 7)
    for i in range(5):
        seg = SEGMENTS[segment[i]]
        mix, disc = np.array(seg.category_mix), seg.discount
        margin_rate = float(mix @ (1 - (1 - CATEGORY_MARGIN) * (1 + 0.1 * disc)))
        per_order = margin_rate * prm.p / nu[i] * (1 - prm.return_rate)
        total = 0.0
        runs = 4000
        for _ in range(runs if alive[i] else 0):
            t, value = 0.0, 0.0
            while True:
                gap = rng.exponential(1 / lam[i])
                end = min(t + gap, weeks)
                value -= cts[i] / weeks * (np.exp(-delta * t) - np.exp(-delta * end)) / delta
                t += gap
                if t > weeks:
                    break
                value += per_order * np.exp(-delta * t)
                if rng.random() < pdrop[i]:
                    break
            total += value
        expected = total / runs
        assert got[i] == pytest.approx(expected, rel=0.05, abs=0.05), i
    assert got[4] == 0.0  # gone: no value, no cost
