"""Portable engine expressions: the engine's fast form where it has one, else Ibis's own."""

from __future__ import annotations

from datetime import date

import ibis

from patron.data import engine


def test_arg_min_uses_the_engines_hash_aggregate_and_agrees_with_ibis() -> None:
    con = ibis.duckdb.connect()
    t = con.create_table(
        "t",
        ibis.memtable(
            {
                "g": [1, 1, 1, 2, 2],
                "v": [5.0, 2.5, 9.0, 4.0, -1.0],
                "k": [3, 1, 7, 9, 8],
                "d": [
                    date(2024, 1, 3),
                    date(2023, 12, 31),
                    date(2024, 2, 1),
                    date(2024, 5, 1),
                    date(2024, 4, 30),
                ],
            }
        ),
    )
    ours = t.group_by("g").aggregate(
        by_int=engine.arg_min(t.v, t.k), by_date=engine.arg_min(t.v, t.d)
    )
    sql = ibis.to_sql(ours)
    assert "ARG_MIN" in sql.upper()
    assert "ORDER BY" not in sql.upper()
    theirs = t.group_by("g").aggregate(by_int=t.v.argmin(t.k), by_date=t.v.argmin(t.d))
    got = ours.order_by("g").execute()
    want = theirs.order_by("g").execute()
    assert got.by_int.tolist() == want.by_int.tolist() == [2.5, -1.0]
    assert got.by_date.tolist() == want.by_date.tolist() == [2.5, -1.0]


def test_arg_min_falls_back_where_the_engine_lacks_min_by() -> None:
    class NoMinBy:
        def execute(self, expr: object) -> object:
            raise RuntimeError("no such function: min_by")

    assert engine._has_min_by(NoMinBy()) is False
    assert engine._has_min_by(ibis.duckdb.connect()) is True
