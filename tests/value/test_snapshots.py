"""`patron snapshots list|prune`: the dated value snapshots, listed and pruned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import simulate_shop
from patron.data.warehouse import connect
from patron.value.history import SNAPSHOTS_TABLE, snapshot_dates

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
