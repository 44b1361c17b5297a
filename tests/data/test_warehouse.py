"""Warehouse writes: closed sets of strings stored as the engine's enumerated type if it has one."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from patron.data.warehouse import Warehouse, connect

ROWS = {"customer_id": ["a", "b", "c"], "tier": ["MVC", "other", None], "note": ["x", "y", "z"]}
TIERS = {"tier": ("MVC", "MGC", "BZ", "other")}


def _types(wh: Warehouse, table: str) -> dict[str, str]:
    rows = wh.con.con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?", [table]
    ).fetchall()
    return {name: kind for name, kind in rows}


def test_duckdb_stores_categories_as_enum_and_readers_see_strings(tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    try:
        assert wh.supports_enums
        rows = ibis.memtable(ROWS)
        wh.create_table("t", rows.select("customer_id", "tier", "note"), categories=TIERS)
        types = _types(wh, "t")
        assert types["tier"].startswith("ENUM(")
        assert types["note"] == "VARCHAR"
        assert types["customer_id"] == "VARCHAR"
        t = wh.table("t")
        assert t.schema()["tier"].is_string()
        assert t.order_by("customer_id").tier.to_pyarrow().to_pylist() == ["MVC", "other", None]
        assert t.filter(t.tier == "MVC").count().to_pyarrow().as_py() == 1
        # Replacing keeps the type; the staging table is gone.
        wh.replace_table("t", t.filter(t.tier != "MVC"), categories=TIERS)
        assert _types(wh, "t")["tier"].startswith("ENUM(")
        assert wh.table("t").count().to_pyarrow().as_py() == 1
        assert [n for n in wh.list_tables() if n.startswith("_patron_")] == []
    finally:
        wh.close()


def test_a_value_outside_the_categories_fails_and_leaves_no_table(tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    try:
        rows = ibis.memtable({"tier": ["MVC", "gold"]})
        with pytest.raises(Exception, match="gold"):
            wh.create_table("t", rows, categories=TIERS)
        assert not wh.has_table("t")
    finally:
        wh.close()


def test_a_transaction_probes_before_it_begins(tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    try:
        with wh.transaction():
            wh.create_table("t", ibis.memtable(ROWS), categories=TIERS)
        assert _types(wh, "t")["tier"].startswith("ENUM(")
    finally:
        wh.close()


def test_engines_without_enums_store_plain_strings() -> None:
    wh = Warehouse(ibis.sqlite.connect())
    assert not wh.supports_enums
    t = wh.create_table("t", ibis.memtable(ROWS), categories=TIERS)
    assert t.schema()["tier"].is_string()
    assert t.order_by("customer_id").tier.to_pyarrow().to_pylist() == ["MVC", "other", None]


@pytest.mark.parametrize("transactions", [True, False])
def test_a_failed_swap_leaves_one_table_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transactions: bool
) -> None:
    """A rename that fails after the old table was dropped: with transactions the rollback
    keeps the old rows; without (Spark), the new rows take the table's place."""
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    try:
        wh.create_table("t", ibis.memtable({"x": [1, 2, 3]}))
        monkeypatch.setattr(Warehouse, "supports_transactions", property(lambda s: transactions))
        real, failed = Warehouse.rename, []

        def rename(self: Warehouse, old: str, new: str) -> None:
            if not failed:
                failed.append(old)
                raise OSError("disk full")
            real(self, old, new)

        monkeypatch.setattr(Warehouse, "rename", rename)
        t = wh.table("t")
        with pytest.raises(OSError, match="disk full"):
            wh.replace_table("t", t.filter(t.x > 1))
        assert wh.table("t").count().to_pyarrow().as_py() == (3 if transactions else 2)
        assert [n for n in wh.list_tables() if n.startswith("_patron_")] == []
    finally:
        wh.close()
