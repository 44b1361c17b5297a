"""Tier rules on hand-made customers, snapshots and tier migration over two scoring runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pytest

from patron.cli import main
from patron.data import Warehouse, connect, load, simulate_shop
from patron.errors import UsageError
from patron.value.tiers import TierRules, summarise_tiers, tier_customers
from tests.conftest import snapshot


def _scored(**overrides: list[object]) -> ibis.Table:
    """Six customers; CLV 100, 50, 30, 10, 5, -3 (the last does not cover its cost to serve)."""
    cols: dict[str, list[object]] = {
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "frequency": [10, 6, 3, 0, 1, 2],
        "recency": [50.0, 40.0, 30.0, 0.0, 5.0, 20.0],
        "T": [52.0, 52.0, 52.0, 10.0, 52.0, 52.0],
        "monetary_value": [40.0, 30.0, 20.0, 0.0, 10.0, 15.0],
        "p_alive": [0.95, 0.9, 0.8, 1.0, 0.2, 0.7],
        "expected_spend": [40.0, 30.0, 20.0, 25.0, 10.0, 15.0],
        "margin_rate": [0.5] * 6,
        "discounted_purchases": [5.0, 3.3, 3.0, 0.8, 1.0, 0.4],
        "clv": [100.0, 50.0, 30.0, 10.0, 5.0, -3.0],
        "cost_to_serve_yearly": [0.0, 0.0, 0.0, 0.0, 0.0, 6.0],
    }
    cols.update(overrides)
    return ibis.memtable(cols)


def _tiers(table: ibis.Table) -> dict[str, str]:
    rows = table.select("customer_id", "tier").to_pyarrow().to_pylist()
    return {r["customer_id"]: r["tier"] for r in rows}


def test_tier_rules_on_hand_made_customers() -> None:
    result = tier_customers(_scored(), TierRules(mvc_equity_share=0.5, mgc_share=0.5))
    tiers = _tiers(result.table)
    # f: expected margin below its cost to serve -> BZ. a alone carries 100/195 >= 50%.
    assert tiers["f"] == "BZ"
    assert tiers["a"] == "MVC"
    assert result.thresholds.mvc_min_clv == pytest.approx(100.0)
    # Reference spend = 80th percentile of repeat buyers' expected spend (40, 30, 20, 10, 15)
    # = 32; gaps x margin 0.5 x discounted purchases: b 2*.5*3.3=3.3, c 12*.5*3=18,
    # d 7*.5*.8=2.8, e 22*.5*1=11. Top half of the eligible (b, c, d, e) by gap: c and e.
    assert result.thresholds.reference_spend == {"all": pytest.approx(32.0)}
    assert {k for k, v in tiers.items() if v == "MGC"} == {"c", "e"}
    assert tiers["b"] == tiers["d"] == "other"
    rows = result.table.select("customer_id", "growth_potential").to_pyarrow().to_pylist()
    gaps = {r["customer_id"]: r["growth_potential"] for r in rows}
    assert gaps["c"] == pytest.approx(18.0)
    assert gaps["a"] == 0.0  # already above the reference spend


def test_mvc_share_changes_the_cut_and_equity_adds_up() -> None:
    result = tier_customers(_scored(), TierRules(mvc_equity_share=0.7))
    tiers = _tiers(result.table)
    # 100 + 50 = 150 >= 0.7 * 195 = 136.5: a and b.
    assert {k for k, v in tiers.items() if v == "MVC"} == {"a", "b"}
    summarise_tiers(result)
    assert sum(t["equity"] for t in result.tiers) == pytest.approx(result.equity)
    assert result.equity == pytest.approx(192.0)
    assert sum(t["customers"] for t in result.tiers) == 6
    mvc = next(t for t in result.tiers if t["tier"] == "MVC")
    assert mvc["equity_share"] == pytest.approx(150.0 / 192.0)


def test_share_of_wallet_and_growing_value() -> None:
    customers = ibis.memtable({"customer_id": ["d"], "share_of_wallet": [0.25]})
    previous = ibis.memtable({"customer_id": ["b", "e"], "clv": [30.0, 4.9]})
    result = tier_customers(
        _scored(), TierRules(mgc_share=0.01), customers=customers, previous=previous
    )
    rows = {
        r["customer_id"]: r
        for r in result.table.select("customer_id", "strategic_value", "tier", "tier_reason")
        .to_pyarrow()
        .to_pylist()
    }
    # d spends a quarter of its wallet with us: margin part 25*.5*.8 = 10 -> strategic 10 + 30.
    assert rows["d"]["strategic_value"] == pytest.approx(40.0)
    # b grew from 30 to 50 (+67% >= 25%): MGC for growth; e only +2%: not for growth.
    assert rows["b"]["tier"] == "MGC"
    assert rows["b"]["tier_reason"] == "value growing since the previous snapshot"
    assert rows["e"]["tier_reason"] != "value growing since the previous snapshot"


def test_loyalty_grid_and_rfm() -> None:
    result = tier_customers(_scored(), TierRules(regular_rate=0.1))
    rows = {
        r["customer_id"]: r
        for r in result.table.select("customer_id", "loyalty", "profit_loyalty", "r_score", "rfm")
        .to_pyarrow()
        .to_pylist()
    }
    assert rows["e"]["loyalty"] == "lapsed"  # P(alive) 0.2
    assert rows["d"]["loyalty"] == "first-time"
    assert rows["a"]["loyalty"] == "regular"  # 10 / 52 >= 0.1
    assert rows["c"]["loyalty"] == "occasional"  # 3 / 52 < 0.1
    assert rows["a"]["profit_loyalty"] == "true friends"
    assert rows["f"]["profit_loyalty"] == "barnacles"  # low CLV, active repeat buyer
    assert rows["e"]["profit_loyalty"] == "strangers"
    # Time since the last purchase: a 2, d 10, b 12, c 22, f 32, e 47 weeks.
    assert rows["a"]["rfm"] == "555"  # most recent, most frequent, highest spend
    assert rows["e"]["r_score"] == 1
    assert rows["d"]["r_score"] == 4


def test_rules_are_checked() -> None:
    with pytest.raises(UsageError, match="mvc-equity-share must be between 0 and 1"):
        TierRules(mvc_equity_share=1.5)
    with pytest.raises(UsageError, match="growth-rate must not be negative"):
        TierRules(growth_rate=-1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    simulate_shop(3000, out, seed=11)
    return out


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout, then stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_snapshots_and_migration_over_two_runs(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop / f"{table}.parquet"), "-w", url]) == 0
    capsys.readouterr()
    code, text = _run(capsys, "migration", "-w", url)
    assert code == 2  # no snapshot yet
    code, text = _run(capsys, "value", "score", "--observation-end", "2024-09-30", "-w", url)
    assert code == 0
    assert "Value tiers" in text
    code, text = _run(capsys, "migration", "-w", url)
    assert code == 2
    assert "Tier migration needs two snapshots; found 1" in text
    code, text = _run(capsys, "value", "score", "--json", "-w", url)
    assert code == 0
    payload = json.loads(text)
    shares = [t["equity"] for t in payload["tiers"]["tiers"]]
    assert sum(shares) == pytest.approx(payload["tiers"]["customer_equity"], rel=1e-9)
    assert payload["tiers"]["customer_equity"] == pytest.approx(payload["customer_equity"])
    assert payload["tiers"]["compared_with_previous_snapshot"] is True
    code, text = _run(capsys, "migration", "--json", "-w", url)
    assert code == 0
    mig = json.loads(text)
    assert mig["from"] == "2024-09-30"
    counts = mig["counts"]
    wh: Warehouse = connect(url)
    try:
        snaps = wh.table("value_snapshots")
        dated = snaps.group_by("as_of").aggregate(n=snaps.count()).to_pyarrow().to_pylist()
        per_date = {str(r["as_of"])[:10]: int(r["n"]) for r in dated}
        later = per_date[mig["to"]]
        earlier = per_date["2024-09-30"]
        # Every customer of the later snapshot is counted once (new ones in the "new" row).
        gone = sum(row.get("gone", 0) for row in counts.values())
        assert sum(n for row in counts.values() for n in row.values()) == later + gone
        assert sum(n for f, row in counts.items() if f != "new" for n in row.values()) == earlier
        assert counts.get("new", {}), (
            "customers acquired after 2024-09-30 (the shop acquires all through 2024) appear as new"
        )
        # Scoring the same date again replaces its snapshot instead of adding one.
        assert main(["value", "score", "-w", url]) == 0
        assert snaps.count().to_pyarrow().as_py() == earlier + later
        early = snaps.filter(snaps.as_of == ibis.literal(date(2024, 9, 30)))
        some = str(early.customer_id.max().to_pyarrow().as_py())
        capsys.readouterr()
        assert main(["value", "trend", some, "--json", "-w", url]) == 0
        trend = json.loads(capsys.readouterr().out)["snapshots"]
        assert [t["as_of"] for t in trend] == ["2024-09-30", mig["to"]]
        runs = wh.table("value_runs").to_pyarrow().to_pylist()
        assert len(runs) == 2
        details = json.loads(runs[-1]["details"])
        assert details["thresholds"]["mvc_min_clv"] > 0
    finally:
        wh.close()


def test_tiers_command_needs_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["tiers", "-w", url]) == 65
    assert "No customer_value table; run `patron value score` first." in capsys.readouterr().err
    assert main(["tiers", "--mvc-share", "2", "-w", url]) == 2
    assert "mvc-equity-share must be between 0 and 1" in capsys.readouterr().err


def test_export(shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    load(wh, "customers", [str(shop / "customers.parquet")])
    wh.close()
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    out = tmp_path / "c.csv"
    assert main(["export", "customers", "--out", str(out), "-w", url]) == 0
    assert len(out.read_text().splitlines()) == 3001
    assert main(["export", "nope", "--out", str(out), "-w", url]) == 2
    assert "No table 'nope' in the warehouse; tables: customers." in capsys.readouterr().err
    assert main(["export", "customers", "--out", str(tmp_path / "c.xlsx"), "-w", url]) == 2


def test_a_failing_snapshot_leaves_the_value_table_as_it_was(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patron.value.history as history

    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("customers", "transactions"):
        assert main(["load", table, str(shop / f"{table}.parquet"), "-w", url]) == 0
    assert main(["value", "score", "-w", url]) == 0
    wh = connect(url)
    try:

        def state() -> tuple[object, ...]:
            cv = wh.table("customer_value")
            snaps = wh.table("value_snapshots")
            return (
                snapshot(wh),
                sorted(cv.group_by("tier").aggregate(n=cv.count()).to_pyarrow().to_pylist(),
                       key=str),
                sorted(snaps.group_by("tier").aggregate(n=snaps.count()).to_pyarrow().to_pylist(),
                       key=str),
                wh.table("value_runs").details.to_pyarrow().to_pylist(),
            )  # fmt: skip

        before = state()
        real = history.replace_dated

        def fail_on_runs(w: Warehouse, name: str, rows: ibis.Table, *args: Any) -> None:
            if name == history.RUNS_TABLE:
                raise RuntimeError("disk full")
            real(w, name, rows, *args)

        monkeypatch.setattr(history, "replace_dated", fail_on_runs)
        with pytest.raises(RuntimeError, match="disk full"):
            history.apply_tiers(wh, TierRules(mvc_equity_share=0.9))
        assert state() == before  # tiers, snapshot and runs unchanged together
    finally:
        wh.close()


def test_judged_b2b_potential_sets_the_growth_of_rated_business_customers() -> None:
    # b is a reseller judged to have great potential: 0.9 of the room to its whole wallet
    # (CLV at the whole wallet 250, CLV 50 -> room 200 -> growth 180); c is rated low (0.05;
    # no wallet above its CLV, so the room is its CLV, 30 -> growth 1.5).
    potential = ibis.memtable(
        {
            "customer_id": ["b", "c"],
            "potential_score": [0.9, 0.05],
            "monetary_value": [250.0, 30.0],
        }
    )
    plain = tier_customers(_scored(), TierRules(mgc_share=0.2))
    judged = tier_customers(_scored(), TierRules(mgc_share=0.2), potential=potential)
    rows = {
        r["customer_id"]: r
        for r in judged.table.select("customer_id", "growth_potential", "strategic_value", "tier")
        .to_pyarrow()
        .to_pylist()
    }
    assert rows["b"]["growth_potential"] == pytest.approx(180.0)
    assert rows["b"]["strategic_value"] == pytest.approx(230.0)
    assert rows["c"]["growth_potential"] == pytest.approx(1.5)
    before = {
        r["customer_id"]: r
        for r in plain.table.select("customer_id", "growth_potential", "tier")
        .to_pyarrow()
        .to_pylist()
    }
    # the judgement moves MGC from c (the formula's largest gap) to b
    assert (before["b"]["tier"], before["c"]["tier"]) == ("other", "MGC")
    assert (rows["b"]["tier"], rows["c"]["tier"]) == ("MGC", "other")
    # customers without a rating keep the formula's growth
    assert rows["e"]["growth_potential"] == pytest.approx(before["e"]["growth_potential"])
