"""Stated needs (what customers told us through Interact) feed the needs segments."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import adjusted_rand_score

from patron.data import connect, load, simulate_shop
from patron.data.simulate import CATEGORIES, SEGMENTS
from patron.needs import segment_customers
from patron.needs.features import STATED_FACTS_TABLE
from patron.store.export import EXPORTS

#: What a customer of each true segment names as their favourite department.
FAVOURITE = {s.name: CATEGORIES[int(np.argmax(s.category_mix))] for s in SEGMENTS}


def test_the_stated_facts_table_is_the_one_interact_exports() -> None:
    assert EXPORTS["facts"] == STATED_FACTS_TABLE


def _ari(wh: object, truth: dict[str, str]) -> float:
    table = wh.table("customer_segments")  # type: ignore[attr-defined]
    seg = table.select("customer_id", "segment").to_pyarrow()
    ids = seg.column("customer_id").to_pylist()
    pred = seg.column("segment").to_pylist()
    return float(adjusted_rand_score([truth[i] for i in ids], pred))


def test_stated_departments_sharpen_the_segments(tmp_path: Path) -> None:
    shop = simulate_shop(4_000, tmp_path / "shop", seed=6)
    truth_rows = pq.read_table(shop.files["truth"]).to_pylist()
    truth = {r["customer_id"]: r["segment"] for r in truth_rows}
    rng = np.random.default_rng(1)
    asked = [r for r in truth_rows if rng.random() < 0.6]  # 60% answered the question
    facts = ibis.memtable(
        {
            "id": list(range(len(asked))),
            "customer_id": [r["customer_id"] for r in asked],
            "attribute": ["favourite_department"] * len(asked),
            "value": [json.dumps(FAVOURITE[r["segment"]]) for r in asked],
            "is_preference": [False] * len(asked),
            "recorded_at": [np.datetime64("2026-01-05T10:00")] * len(asked),
        }
    )
    with connect(f"duckdb://{tmp_path / 'plain.duckdb'}") as wh:
        load(wh, "transactions", [str(shop.files["transactions"])])
        plain = segment_customers(wh, seed=0)
        before = _ari(wh, truth)
    with connect(f"duckdb://{tmp_path / 'told.duckdb'}") as wh:
        load(wh, "transactions", [str(shop.files["transactions"])])
        wh.create_table(STATED_FACTS_TABLE, facts.to_pyarrow())
        told = segment_customers(wh, seed=0)
        after = _ari(wh, truth)
        again = segment_customers(wh, seed=0)  # the stored model finds its columns again
    said = [f for f in told.model.features if f.startswith("said_")]
    assert len(said) == len(set(FAVOURITE.values()))
    assert not any(f.startswith("said_") for f in plain.model.features)
    labels = {told.model.labels[f] for f in said}
    assert "said favourite_department = books" in labels
    assert again.model.features == told.model.features
    # Half of the customers have a single order: what they said tells their needs.
    assert after > before + 0.08, (before, after)  # measured: 0.69 -> 0.81
