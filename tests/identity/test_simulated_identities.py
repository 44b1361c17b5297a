from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from patron.cli import main
from patron.data import connect, load
from patron.data.simulate import simulate_shop
from patron.identity import ResolveOptions, resolve_identities


def pairs(groups: dict[tuple[str, str], str]) -> set[tuple[tuple[str, str], ...]]:
    by: dict[str, list[tuple[str, str]]] = {}
    for record, group in groups.items():
        by.setdefault(group, []).append(record)
    return {p for members in by.values() for p in itertools.combinations(sorted(members), 2)}


def test_identity_records_leave_the_shop_unchanged(tmp_path: Path) -> None:
    plain = simulate_shop(1_000, tmp_path / "plain", seed=9)
    full = simulate_shop(1_000, tmp_path / "full", seed=9, identities=True)
    for name in ("transactions", "customers", "products", "truth"):
        a, b = plain.files[name].read_bytes(), full.files[name].read_bytes()
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), name
    records = pq.read_table(full.files["identities"])
    truth = pq.read_table(full.files["identity_truth"])
    assert records.num_rows == truth.num_rows > 1_000  # some people have several records
    assert set(truth.column("person").to_pylist()) == set(
        pq.read_table(full.files["customers"]).column("customer_id").to_pylist()
    )
    again = simulate_shop(1_000, tmp_path / "again", seed=9, identities=True)
    assert again.files["identities"].read_bytes() == full.files["identities"].read_bytes()


def test_resolution_finds_the_true_persons(tmp_path: Path) -> None:
    # 10,000 customers: the shop's phone number is on ~100 loyalty-card records, over the
    # guard's default limit of 50 (with fewer it would link them: see docs/identify.md).
    result = simulate_shop(10_000, tmp_path / "shop", seed=4, identities=True)
    truth_table = pq.read_table(result.files["identity_truth"]).to_pylist()
    truth = {(r["source"], r["record_id"]): r["person"] for r in truth_table}
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        load(wh, "identities", [str(result.files["identities"])])
        deterministic = resolve_identities(wh, ResolveOptions(deterministic_only=True))
        report = resolve_identities(wh)
        rows = wh.con.table("identity_map").to_pyarrow().to_pylist()
    found = pairs({(r["source"], r["record_id"]): r["customer_id"] for r in rows})
    true = pairs(truth)
    hits = len(found & true)
    precision, recall = hits / len(found), hits / len(true)
    assert precision >= 0.995, precision
    assert recall >= 0.99, recall
    # The shop's own phone number (typed in at the till) is refused, not used to link.
    assert report.refused["phone"]["largest"][0]["value"] == "+442079460000"
    # Identifiers alone find fewer people than identifiers and Splink together.
    assert deterministic.customers > report.customers >= len(set(truth.values()))


def test_simulate_identities_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "-n", "200", "--out", str(tmp_path), "--identities"]) == 0
    assert "identity_truth.parquet" in capsys.readouterr().out
    assert (tmp_path / "identities.parquet").exists()
