"""`patron snapshots list|prune`: the dated value snapshots, listed and pruned."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import simulate_shop
from patron.data.warehouse import Warehouse, connect
from patron.value.clv import ValueSettings
from patron.value.history import HISTORY_TABLE, SNAPSHOTS_TABLE, snapshot_dates
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, score_customers, summary_from_warehouse

DATES = ("2025-03-31", "2025-06-30", "2025-09-30")


@pytest.fixture
def scored(tmp_path: Path) -> str:
    """A shop scored at three observation ends: three snapshots."""
    simulate_shop(1500, tmp_path / "shop", seed=3)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(tmp_path / "shop" / f"{table}.parquet"), "-w", url]) == 0
    for day in DATES:
        assert main(["value", "score", "--observation-end", day, "-w", url]) == 0
    return url


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_list_and_prune_snapshots(scored: str, capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(["snapshots", "list", "-w", scored], capsys)["snapshots"]
    assert [s["as_of"] for s in listed] == list(DATES)
    assert all(s["customers"] > 0 and s["mvc"] > 0 for s in listed)
    wh = connect(scored)
    t = wh.table(SNAPSHOTS_TABLE)
    latest = t.filter(t.as_of == t.as_of.max())
    assert listed[-1]["equity"] == pytest.approx(float(latest.clv.sum().to_pyarrow().as_py()))
    wh.close()

    # A dry run removes nothing; then --keep-last 2 removes the oldest only.
    dry = _json(["snapshots", "prune", "--keep-last", "2", "--dry-run", "-w", scored], capsys)
    assert dry == {"removed": [DATES[0]], "kept": list(DATES[1:]), "dry_run": True}
    assert len(_json(["snapshots", "list", "-w", scored], capsys)["snapshots"]) == 3
    capsys.readouterr()
    assert main(["snapshots", "prune", "--keep-last", "2", "-w", scored]) == 0
    assert f"Removed 1 snapshot(s): {DATES[0]}. Kept 2." in capsys.readouterr().out
    wh = connect(scored)
    assert [d.isoformat() for d in snapshot_dates(wh)] == list(DATES[1:])
    wh.close()
    # Migration between the two left still works.
    assert main(["migration", "-w", scored]) == 0
    # --before a day after every snapshot keeps the latest, which always stays.
    out = _json(["snapshots", "prune", "--before", "2030-01-01", "-w", scored], capsys)
    assert out["removed"] == [DATES[1]]
    assert out["kept"] == [DATES[2]]


def test_prune_refuses_what_it_cannot_do(
    scored: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["snapshots", "prune", "-w", scored]) == 2
    assert "--keep-last N and/or --before DATE" in capsys.readouterr().err
    assert main(["snapshots", "prune", "--keep-last", "0", "-w", scored]) == 2
    assert "--keep-last 0 must be 1 or more" in capsys.readouterr().err
    assert main(["snapshots", "prune", "--before", "31/12/2025", "-w", scored]) == 2
    assert "is not a date; use YYYY-MM-DD" in capsys.readouterr().err
    # Nothing was removed by the refused commands.
    assert len(_json(["snapshots", "list", "-w", scored], capsys)["snapshots"]) == 3
    # An empty warehouse has none to list or prune.
    empty = f"duckdb://{tmp_path / 'empty.duckdb'}"
    capsys.readouterr()
    assert main(["snapshots", "list", "-w", empty]) == 0
    assert "No value snapshots yet" in capsys.readouterr().out
    assert _json(["snapshots", "prune", "--keep-last", "1", "-w", empty], capsys)["removed"] == []


def _per_date(wh: Warehouse, name: str) -> dict[str, tuple[int, float]]:
    """Customers and equity per date of ``name`` (equity to 6 significant digits: a date
    scored again may fit a hair apart, the engine adding in parallel)."""
    t = wh.table(name)
    rows = t.group_by("as_of").aggregate(n=t.count(), e=t.clv.sum()).to_pyarrow().to_pylist()
    return {str(r["as_of"])[:10]: (int(r["n"]), float(f"{float(r['e']):.6g}")) for r in rows}


def test_the_latest_run_is_read_in_place_and_replaced_runs_are_kept(tmp_path: Path) -> None:
    """One table written per run: customer_value; its snapshot is archived when replaced."""
    simulate_shop(800, tmp_path / "shop", seed=5)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(tmp_path / "shop" / f"{table}.parquet"), "-w", url]) == 0
    held: dict[str, tuple[int, float]] = {}
    for day in DATES:
        assert main(["value", "score", "--no-check", "--observation-end", day, "-w", url]) == 0
        with connect(url) as wh:
            held.update(_per_date(wh, "customer_value"))
            assert _per_date(wh, SNAPSHOTS_TABLE) == held  # every run so far, each once
    with connect(url) as wh:
        assert sorted(_per_date(wh, HISTORY_TABLE)) == list(DATES[:2])  # the latest in place
    # Scoring an archived date again: it replaces the archived snapshot, never doubles it.
    assert main(["value", "score", "--no-check", "--observation-end", DATES[1], "-w", url]) == 0
    with connect(url) as wh:
        assert sorted(_per_date(wh, HISTORY_TABLE)) == [DATES[0], DATES[2]]
        assert _per_date(wh, SNAPSHOTS_TABLE) == held
    # Re-tiering keeps the dates and the rows.
    assert main(["tiers", "-w", url]) == 0
    with connect(url) as wh:
        assert {d: n for d, (n, _) in _per_date(wh, SNAPSHOTS_TABLE).items()} == {
            d: n for d, (n, _) in held.items()
        }


def test_a_warehouse_with_the_snapshots_as_a_table_is_converted(tmp_path: Path) -> None:
    """value_snapshots written as a table (before the view) becomes the history on a write."""
    simulate_shop(600, tmp_path / "shop", seed=6)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(tmp_path / "shop" / f"{table}.parquet"), "-w", url]) == 0
    for day in DATES[:2]:
        assert main(["value", "score", "--no-check", "--observation-end", day, "-w", url]) == 0
    with connect(url) as wh:  # the layout of earlier versions: one table of every snapshot
        before = _per_date(wh, SNAPSHOTS_TABLE)
        wh.con.raw_sql(
            f"CREATE TABLE old_snaps AS SELECT * FROM {SNAPSHOTS_TABLE}; "
            f"DROP VIEW {SNAPSHOTS_TABLE}; DROP TABLE {HISTORY_TABLE}; "
            f"ALTER TABLE old_snaps RENAME TO {SNAPSHOTS_TABLE}"
        )
        assert not wh.has_table(HISTORY_TABLE)
        assert snapshot_dates(wh) == [date.fromisoformat(d) for d in DATES[:2]]
    assert main(["tiers", "-w", url]) == 0
    with connect(url) as wh:
        assert sorted(_per_date(wh, HISTORY_TABLE)) == [DATES[0]]
        after = _per_date(wh, SNAPSHOTS_TABLE)
        assert {d: n for d, (n, _) in after.items()} == {d: n for d, (n, _) in before.items()}
        assert after[DATES[0]] == before[DATES[0]]
    # Pruning a converted warehouse deletes from the history.
    assert main(["snapshots", "prune", "--keep-last", "1", "-w", url]) == 0
    with connect(url) as wh:
        assert snapshot_dates(wh) == [date.fromisoformat(DATES[1])]


def test_an_untiered_write_keeps_the_tiered_run_as_a_snapshot(tmp_path: Path) -> None:
    """score_customers into customer_value (no tiers) after a tiered run loses no snapshot."""
    simulate_shop(600, tmp_path / "shop", seed=7)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(tmp_path / "shop" / f"{table}.parquet"), "-w", url]) == 0
    assert main(["value", "score", "--no-check", "--observation-end", DATES[1], "-w", url]) == 0
    with connect(url) as wh:
        tiered = _per_date(wh, SNAPSHOTS_TABLE)
        spec = SummarySpec("week", None, date.fromisoformat(DATES[1]))
        with summary_from_warehouse(wh, spec) as source:
            score_customers(source, fit_purchase_model(source, "bgnbd"), ValueSettings(12, 0.1))
        assert "tier" not in wh.table("customer_value").columns
        assert _per_date(wh, SNAPSHOTS_TABLE) == tiered  # the view reads the history alone
    # A tiered run of the same date replaces that snapshot; the view reads customer_value again.
    assert main(["value", "score", "--no-check", "--observation-end", DATES[1], "-w", url]) == 0
    with connect(url) as wh:
        assert _per_date(wh, SNAPSHOTS_TABLE) == tiered
        assert snapshot_dates(wh, HISTORY_TABLE) == []


def test_a_write_cut_short_without_transactions_leaves_the_snapshots_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the engine has no transactions (Spark), a swap that fails half-way puts the new
    rows in place and remakes the view; no date is shown twice."""
    from patron.value import snapshots

    simulate_shop(500, tmp_path / "shop", seed=8)
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    for table in ("products", "customers", "transactions"):
        assert main(["load", table, str(tmp_path / "shop" / f"{table}.parquet"), "-w", url]) == 0
    assert main(["value", "score", "--no-check", "--observation-end", DATES[0], "-w", url]) == 0
    monkeypatch.setattr(Warehouse, "supports_transactions", property(lambda self: False))
    real_rename = Warehouse.rename
    failed: list[str] = []

    def rename(self: Warehouse, old: str, new: str) -> None:
        if new == snapshots.VALUE_TABLE and not failed:  # the swap fails, once
            failed.append(old)
            raise OSError("disk full")
        real_rename(self, old, new)

    monkeypatch.setattr(Warehouse, "rename", rename)
    assert main(["value", "score", "--no-check", "--observation-end", DATES[1], "-w", url]) != 0
    monkeypatch.setattr(Warehouse, "rename", real_rename)
    with connect(url) as wh:
        assert snapshots.tiered_run_date(wh) == date.fromisoformat(DATES[1])  # the new rows
        per_date = _per_date(wh, SNAPSHOTS_TABLE)
        assert sorted(per_date) == list(DATES[:2])
        assert len({n for n, _ in per_date.values()}) == 1  # each date once, all customers
        # Even with customer_value's date also in the history, the view shows it once.
        wh.con.raw_sql(
            f"INSERT INTO {HISTORY_TABLE} SELECT as_of, customer_id, "
            f"{', '.join(snapshots.SNAPSHOT_COLUMNS)} FROM customer_value"
        )
        assert _per_date(wh, SNAPSHOTS_TABLE) == per_date
