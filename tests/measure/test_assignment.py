"""Assignment: stable across runs and machines, balanced strata, new customers, bad input."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import ibis
import numpy as np
import pytest

from patron.cli import main
from patron.data import Warehouse, connect
from patron.errors import DataError, UsageError
from patron.measure import (
    assign_new_customers,
    create_experiment,
    hash_fraction,
    parse_arms,
)


def _customers(wh: Warehouse, n: int, start: int = 0) -> None:
    rng = np.random.default_rng(start)
    rows = ibis.memtable(
        {
            "customer_id": [f"K{i:06d}" for i in range(start, start + n)],
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]).tolist(),
            "vip": (rng.random(n) < 0.1).tolist(),
        }
    )
    if wh.has_table("customers"):
        wh.insert("customers", rows)
    else:
        wh.create_table("customers", rows)


def _arms(wh: Warehouse, name: str) -> dict[str, str]:
    a = wh.table("experiment_assignments")
    rows = a.filter(a.experiment == name).select("customer_id", "arm").to_pyarrow().to_pylist()
    return {r["customer_id"]: r["arm"] for r in rows}


def test_assignment_is_stable_portable_and_stratified(tmp_path: Path) -> None:
    arms = parse_arms("a:0.45,b:0.45,control:0.1")
    results = []
    for run in range(2):
        wh = connect(f"duckdb://{tmp_path / f'w{run}.duckdb'}")
        _customers(wh, 5000)
        create_experiment(wh, "x", arms, stratify=["region", "vip"], salt="fixed")
        results.append(_arms(wh, "x"))
        strata = (
            wh.table("experiment_assignments")
            .group_by(["stratum", "arm"])
            .aggregate(n=ibis._.count())
            .to_pyarrow()
            .to_pylist()
        )
        wh.close()
    assert results[0] == results[1]  # same salt, same customers: same arms
    # Independent computation in Python: rank by md5 within each stratum, cut at
    # floor(cumulative share x n + 1/2).
    wh = connect(f"duckdb://{tmp_path / 'w0.duckdb'}")
    cust = wh.table("customers").to_pyarrow().to_pylist()
    wh.close()
    groups: dict[str, list[str]] = {}
    for c in cust:
        key = f"region={c['region']},vip={str(c['vip']).lower()}"
        groups.setdefault(key, []).append(c["customer_id"])
    expected: dict[str, str] = {}
    for ids in groups.values():
        ids.sort(key=lambda i: (hashlib.md5(f"fixed:{i}".encode()).hexdigest(), i))
        n = len(ids)
        cuts = [math.floor(0.45 * n + 0.5), math.floor(0.9 * n + 0.5)]
        for r, cid in enumerate(ids):
            expected[cid] = "a" if r < cuts[0] else "b" if r < cuts[1] else "control"
    assert results[0] == expected
    # Each stratum: counts exactly as close to the shares as integers allow.
    per: dict[str, dict[str, int]] = {}
    for row in strata:
        per.setdefault(row["stratum"], {})[row["arm"]] = row["n"]
    assert len(per) == 6
    for counts in per.values():
        n = sum(counts.values())
        for arm, share in (("a", 0.45), ("b", 0.45), ("control", 0.1)):
            assert abs(counts.get(arm, 0) - share * n) <= 1


def test_new_customers_join_without_moving_anyone(tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    _customers(wh, 2000)
    create_experiment(wh, "x", parse_arms("treat:0.8,control:0.2"), salt="s")
    before = _arms(wh, "x")
    _customers(wh, 3000, start=2000)
    result = assign_new_customers(wh, "x")
    after = _arms(wh, "x")
    wh.close()
    assert result.assigned == 3000
    assert all(after[c] == arm for c, arm in before.items())
    # Newcomers: the arm whose cumulative-share interval holds their hash fraction.
    for i in range(2000, 5000):
        cid = f"K{i:06d}"
        assert after[cid] == ("treat" if hash_fraction("s", cid) < 0.8 else "control")
    share = sum(after[f"K{i:06d}"] == "treat" for i in range(2000, 5000)) / 3000
    assert share == pytest.approx(0.8, abs=0.03)
    # Running it again assigns nobody new.
    wh = connect(f"duckdb://{tmp_path / 'w.duckdb'}")
    assert assign_new_customers(wh, "x").assigned == 0
    wh.close()


def test_audience_filter_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    wh = connect(url)
    _customers(wh, 1000)
    res = create_experiment(
        wh, "north", parse_arms("t:0.5,control:0.5"), audience="region in ('north')", salt="z"
    )
    north = int(wh.table("customers").filter(ibis._.region == "north").count().to_pyarrow().as_py())
    assert res.total == north
    with pytest.raises(DataError, match="The audience of 'none' is empty"):
        create_experiment(wh, "none", parse_arms("t:0.5,control:0.5"), audience="region == 'x'")
    assert "none" not in wh.table("experiments").name.to_pyarrow().to_pylist()
    with pytest.raises(UsageError, match="exists; use `patron experiment assign north`"):
        create_experiment(wh, "north", parse_arms("t:0.5,control:0.5"))
    wh.close()
    for args, text in (
        (["--arms", "t:0.5,c:0.6"], "shares add up to 1.1; they must add up to 1"),
        (["--arms", "t:0.5,control:0.5", "--stratify", "tier"], "--stratify: no column tier"),
        (["--arms", "t:1"], "an experiment needs at least two arms"),
        (["--arms", "t:0.5,c:0.5"], "--control 'control' is not one of the arms (t, c)"),
        (["--arms", "t:0.5,control:0.5", "--audience", "nope > 1"], "no column 'nope'"),
    ):
        assert main(["experiment", "create", "e2", *args, "-w", url]) == 2
        assert text in capsys.readouterr().err
    assert main(["experiment", "assign", "missing", "-w", url]) == 2
    assert "No experiment 'missing'; known experiments: north." in capsys.readouterr().err
    out = tmp_path / "treated.csv"
    assert main(["experiment", "export", "north", "--arm", "t", "--out", str(out), "-w", url]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "customer_id,arm,stratum"
    assert len(lines) - 1 == math.floor(north / 2 + 0.5)  # half up: 473 / 2 -> 237
