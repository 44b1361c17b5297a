from __future__ import annotations

from pathlib import Path

import pytest

from patron.data import load
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.identity import ResolveOptions, resolve_identities
from patron.identity.manual import (
    customer_history,
    explain_records,
    merge_customers,
    split_customer,
    undo,
)
from tests.identity.conftest import identity_map, map_rows, write_csv, write_identities

DETERMINISTIC = ResolveOptions(deterministic_only=True)


@pytest.fixture
def resolved(wh: Warehouse, tmp_path: Path) -> Warehouse:
    path = write_csv(
        tmp_path / "ids.csv",
        """
        source,record_id,customer_id,email,phone,card
        pos,1,C1,ann@x.org,,
        web,1,C2,ann@x.org,07700 900123,
        web,2,C3,,07700 900123,
        pos,2,C4,bob@x.org,,
        web,3,C5,bob@x.org,,
        crm,7,C6,robert@y.org,,
        """,
    )
    load(wh, "identities", [str(path)])
    resolve_identities(wh, DETERMINISTIC)
    return wh


def test_merge_then_undo_restores_the_map_exactly(resolved: Warehouse) -> None:
    wh = resolved
    before = map_rows(wh)
    ids = identity_map(wh)
    bob, robert = ids[("pos", "2")], ids[("crm", "7")]
    assert bob != robert
    report = merge_customers(wh, bob, "crm:7", reason="same person, confirmed by phone")
    after = identity_map(wh)
    assert after[("crm", "7")] == after[("pos", "2")] == min(bob, robert)  # the older id
    assert report.kind == "merge"
    assert report.merged_customers == 1
    rows = {(r[0], r[1]): r for r in map_rows(wh)}
    assert rows[("crm", "7")][3] == "manual"
    # The merge survives the next automatic run.
    resolve_identities(wh, DETERMINISTIC)
    assert identity_map(wh)[("crm", "7")] == min(bob, robert)
    # Undo the merge (no longer the latest run): the ids it retired come back.
    undo(wh, report.run)
    assert map_rows(wh) == before
    with pytest.raises(UsageError, match="already undone"):
        undo(wh, report.run)


def test_undo_of_the_latest_run_is_exact(resolved: Warehouse) -> None:
    wh = resolved
    before = map_rows(wh)
    ids = identity_map(wh)
    report = merge_customers(wh, ids[("pos", "1")], ids[("pos", "2")], reason="household")
    assert map_rows(wh) != before
    undone = undo(wh, report.run)
    assert undone.kind == "undo"
    assert map_rows(wh) == before
    assert resolve_identities(wh, DETERMINISTIC).changed_records == 0  # stays undone


def test_split_survives_later_runs_and_can_be_undone(resolved: Warehouse) -> None:
    wh = resolved
    before = map_rows(wh)
    ann = identity_map(wh)[("pos", "1")]
    report = split_customer(wh, ann, ["web:2"], reason="the phone belongs to her son")
    ids = identity_map(wh)
    assert ids[("pos", "1")] == ids[("web", "1")] == ann  # the larger part keeps the id
    assert ids[("web", "2")] != ann
    assert report.split_customers == 1
    resolve_identities(wh, DETERMINISTIC)
    assert identity_map(wh) == ids  # the next automatic run keeps the split
    history = customer_history(wh, ann)
    assert [(e["kind"], e["gained"], e["lost"]) for e in history] == [
        ("auto", 3, 0),
        ("split", 0, 1),
    ]
    assert history[1]["note"] == "the phone belongs to her son"
    assert history[1]["records"] == ["web:2"]
    undo(wh, report.run)
    assert identity_map(wh)[("web", "2")] == ann
    assert map_rows(wh) == before


def test_decisions_refuse_what_makes_no_sense(resolved: Warehouse) -> None:
    wh = resolved
    ids = identity_map(wh)
    ann = ids[("pos", "1")]
    with pytest.raises(UsageError, match="already one customer"):
        merge_customers(wh, "pos:1", "web:2", reason="x")
    with pytest.raises(UsageError, match="--reason is required"):
        merge_customers(wh, "pos:1", "pos:2", reason=" ")
    with pytest.raises(UsageError, match="exists in several sources"):
        merge_customers(wh, "1", "pos:2", reason="x")
    with pytest.raises(UsageError, match="No identity record 'nope'"):
        split_customer(wh, ann, ["nope"], reason="x")
    with pytest.raises(UsageError, match="do not belong to customer"):
        split_customer(wh, ann, ["pos:2"], reason="x")
    with pytest.raises(UsageError, match="all of"):
        split_customer(wh, ann, ["pos:1", "web:1", "web:2"], reason="x")
    resolve_identities(wh, DETERMINISTIC)
    with pytest.raises(UsageError, match="Run 1 \\(auto\\) is not the latest run \\(2\\)"):
        undo(wh, 1)
    with pytest.raises(UsageError, match="No identity run 99"):
        undo(wh, 99)


def test_explain_gives_weights_per_field(wh: Warehouse, tmp_path: Path) -> None:
    path = write_identities("febrl1", tmp_path / "febrl1.parquet")
    load(wh, "identities", [str(path)])
    resolve_identities(wh)
    same = explain_records(wh, "rec-10-org", "rec-10-dup-0")
    assert same["same_customer"]
    prob = same["probabilistic"]
    assert prob["match_probability"] > 0.99
    assert set(prob["weights"]) >= {"given_name_surname", "date_of_birth", "postcode"}
    # The match weight is the prior's weight plus the fields' weights.
    fields = sum(w["match_weight"] for w in prob["weights"].values())
    assert fields + prob["prior_weight"] == pytest.approx(prob["match_weight"], abs=1e-6)
    assert prob["weights"]["date_of_birth"]["level"] == "Exact match on date_of_birth"
    assert prob["weights"]["date_of_birth"]["match_weight"] > 5
    other = explain_records(wh, "rec-10-org", "rec-11-org")
    assert not other["same_customer"]
    assert other["probabilistic"]["match_probability"] < 0.01
    assert other["shared_identifiers"] == []
    assert not other["linked_by_splink"]
