"""Transactions and customers read through the identity map: people, not records."""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from patron.data import load, people, simulate_shop
from patron.data.warehouse import Warehouse, connect
from patron.value import SummarySpec, ValueSettings, fit_purchase_model, score_customers
from patron.value.sources import summary_from_warehouse


def _scores(wh: Warehouse) -> dict[str, float]:
    with summary_from_warehouse(wh, SummarySpec("week")) as source:
        fit = fit_purchase_model(source, "bgnbd")
        _, scored = score_customers(source, fit, ValueSettings(horizon_months=12))
        frame = scored.select("customer_id", "clv", "frequency").to_pyarrow()
    return dict(zip(frame["customer_id"].to_pylist(), frame["clv"].to_pylist(), strict=True))


def test_a_person_split_over_three_ids_is_valued_as_one(tmp_path: Path) -> None:
    shop = simulate_shop(600, tmp_path / "shop", seed=3)
    whole = connect(f"duckdb://{tmp_path / 'whole.duckdb'}")
    for table in ("customers", "transactions"):
        load(whole, table, [str(shop.files[table])])
    truth = _scores(whole)

    # The same shop where every third customer bought under three ids (card, web, phone)
    # in turn, each id's customers row carrying a third of the cost to serve.
    tx = pq.read_table(shop.files["transactions"])
    cust = pq.read_table(shop.files["customers"])
    ids = cust["customer_id"].to_pylist()
    split = set(ids[::3])
    suffix = np.array(["-card", "-web", "-phone"])[np.arange(tx.num_rows) % 3]
    tx_ids = np.array(tx["customer_id"].to_pylist(), dtype=object)
    is_split = np.array([i in split for i in tx_ids])
    tx_ids[is_split] = tx_ids[is_split] + suffix[is_split]
    tx = tx.set_column(tx.schema.get_field_index("customer_id"), "customer_id", pa.array(tx_ids))
    pq.write_table(tx, tmp_path / "tx.parquet")
    rows = []
    for row in cust.to_pylist():
        if row["customer_id"] in split:
            for s in ("-card", "-web", "-phone"):
                share = None if row.get("cost_to_serve") is None else row["cost_to_serve"] / 3
                rows.append({**row, "customer_id": row["customer_id"] + s, "cost_to_serve": share})
        else:
            rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=cust.schema), tmp_path / "cust.parquet")
    parts = connect(f"duckdb://{tmp_path / 'parts.duckdb'}")
    load(parts, "customers", [str(tmp_path / "cust.parquet")])
    load(parts, "transactions", [str(tmp_path / "tx.parquet")])

    # Without the map each id is a customer of its own ...
    assert people.transactions(parts).customer_id.nunique().execute() > len(ids)
    # ... with it, one person again.
    cmap = [
        {"customer_id": i + s, "resolved_id": i} for i in split for s in ("-card", "-web", "-phone")
    ]
    parts.con.create_table(people.IDENTITY_CUSTOMER_MAP, ibis.memtable(cmap).to_pyarrow())
    assert people.resolves_identities(parts)
    buyers = pc.unique(pq.read_table(shop.files["transactions"])["customer_id"])
    assert people.transactions(parts).customer_id.nunique().execute() == len(buyers)
    resolved_customers = people.customers(parts)
    assert resolved_customers is not None
    frame = resolved_customers.to_pyarrow()  # one execution: row order is the engine's
    costs = dict(
        zip(frame["customer_id"].to_pylist(), frame["cost_to_serve"].to_pylist(), strict=True)
    )
    assert len(costs) == len(ids)
    for cid in sorted(split):
        original = cust.filter(pc.equal(cust["customer_id"], cid))["cost_to_serve"][0].as_py()
        if original is not None:
            assert costs[cid] == pytest.approx(original)

    resolved = _scores(parts)
    assert set(resolved) == set(truth)
    for cid in split & set(truth):
        assert resolved[cid] == pytest.approx(truth[cid], rel=1e-9, abs=1e-9)
    whole.close()
    parts.close()


def test_without_a_map_tables_are_read_as_they_are(wh: Warehouse, tmp_path: Path) -> None:
    shop = simulate_shop(50, tmp_path / "shop", seed=1)
    load(wh, "transactions", [str(shop.files["transactions"])])
    assert not people.resolves_identities(wh)
    assert people.customers(wh) is None
    assert people.transactions(wh).count().execute() == wh.table("transactions").count().execute()
