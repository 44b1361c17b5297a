from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pytest

from patron.data import load
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.identity import ResolveOptions, resolve_identities
from patron.identity.graph import connected_components
from tests.identity.conftest import identity_map, random_people, write_csv, write_records

DETERMINISTIC = ResolveOptions(deterministic_only=True)


def test_records_sharing_identifiers_are_one_customer(wh: Warehouse, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ids.csv",
        """
        source,record_id,customer_id,email,phone,card
        pos,1,C1,,,6331-2904
        web,a,C2,ANN@x.org ,07700 900123,
        web,b,C2,,,
        phone,p1,C3,,+44 7700 900123,63312904
        web,c,C4,test@test.com,0000000000,n/a
        web,d,C5,test@test.com,0000000000,n/a
        web,e,C6,not-an-email,12,
        crm,9,C7,ann@x.org,,
        """,
    )
    load(wh, "identities", [str(path)])
    report = resolve_identities(wh, DETERMINISTIC)
    ids = identity_map(wh)
    ann = {ids[("pos", "1")], ids[("web", "a")], ids[("web", "b")], ids[("phone", "p1")]}
    assert ann == {ids[("crm", "9")]}  # card, customer_id, phone and e-mail chain them
    # Placeholders and invalid values link nothing.
    assert len({ids[("web", "c")], ids[("web", "d")], ids[("web", "e")]} - ann) == 3
    assert report.records == 8
    assert report.customers == 4
    assert report.identifiers["email"] == {
        "valid": 2,
        "invalid": 1,
        "placeholder": 2,
        "first_invalid": [{"source": "web", "record_id": "e", "value": "not-an-email"}],
    }
    assert report.identifiers["phone"]["invalid"] == 1
    assert report.identifiers["phone"]["placeholder"] == 2
    # Each record is labelled with the strongest rule among its links.
    assert report.records_by_rule == {"customer_id": 2, "card": 2, "email": 1, "single": 3}
    assert report.links_by_rule == {"customer_id": 1, "card": 1, "phone": 1, "email": 1}
    # The source ids map to the resolved ones: one join for the transactions.
    cmap = {
        r["customer_id"]: r["resolved_id"]
        for r in wh.con.table("identity_customer_map").to_pyarrow().to_pylist()
    }
    assert cmap["C1"] == cmap["C2"] == cmap["C3"] == cmap["C7"] == ids[("pos", "1")]
    assert len(cmap) == 7


def test_collapse_guard_refuses_an_identifier_on_too_many_records(
    wh: Warehouse, tmp_path: Path
) -> None:
    shop = "+44 20 7946 0000"
    lines = ["source,record_id,phone,email"]
    lines += [f"pos,{i},{shop},p{i}@mail.org" for i in range(60)]
    lines += ["web,x,07700 900001,p1@mail.org", "web,y,07700 900001,"]
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n")
    load(wh, "identities", [str(tmp_path / "ids.csv")])
    report = resolve_identities(wh, ResolveOptions(deterministic_only=True, max_shared=50))
    assert report.refused == {
        "phone": {
            "values": 1,
            "records": 60,
            "largest": [{"value": "+442079460000", "records": 60}],
        }
    }
    ids = identity_map(wh)
    assert len({ids[("pos", str(i))] for i in range(60)}) == 60  # not collapsed into one
    assert ids[("web", "x")] == ids[("web", "y")] == ids[("pos", "1")]
    # Under a higher limit the shop's number links them all.
    report = resolve_identities(wh, ResolveOptions(deterministic_only=True, max_shared=100))
    assert report.refused == {}
    assert len(set(identity_map(wh).values())) == 1


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_components_match_union_find(wh: Warehouse, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    a = rng.integers(0, 500, 300)  # random edges among the first 500 nodes
    b = rng.integers(0, 500, 300)
    chain = np.arange(100, 160)  # a long path: many rounds without pointer jumping
    # and one whose smallest node is at the far end of a shuffled path (1,000 nodes:
    # without root hooking, about 200 rounds)
    shuffled = np.concatenate([rng.permutation(np.arange(1001, 2000)), [1000]])
    a = np.concatenate([a, chain[:-1], shuffled[:-1]])
    b = np.concatenate([b, chain[1:], shuffled[1:]])
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        parent[find(x)] = find(y)
    created: list[str] = []
    edges = ibis.memtable({"a": a.astype("int64"), "b": b.astype("int64")})
    labels, rounds = connected_components(wh, edges, created)
    got = {int(r["node"]): int(r["label"]) for r in labels.to_pyarrow().to_pylist()}
    nodes = set(a.tolist()) | set(b.tolist())
    assert set(got) == nodes
    expected: dict[int, int] = {}
    for x in sorted(nodes):
        expected.setdefault(find(x), x)  # smallest node of each component
    assert got == {x: expected[find(x)] for x in nodes}
    assert rounds <= 20, rounds
    for name in created:
        wh.drop(name)


def test_ids_are_stable_when_records_are_added(wh: Warehouse, tmp_path: Path) -> None:
    rows = random_people(1, 3_000)
    rng = np.random.default_rng(2)
    later = rng.random(len(rows)) < 0.1
    first = [r for r, x in zip(rows, later, strict=True) if not x]
    extra = [r for r, x in zip(rows, later, strict=True) if x]
    load(wh, "identities", [str(write_records(first, tmp_path / "first.parquet"))])
    resolve_identities(wh, DETERMINISTIC)
    before = identity_map(wh)
    again = resolve_identities(wh, DETERMINISTIC)  # nothing new: nothing changes
    assert again.changed_records == 0
    assert identity_map(wh) == before
    load(wh, "identities", [str(write_records(extra, tmp_path / "extra.parquet"))])
    report = resolve_identities(wh, DETERMINISTIC)
    after = identity_map(wh)
    assert len(after) == len(rows)
    living = set(after.values())
    merged = 0
    for key, old in before.items():
        if after[key] == old:
            continue
        # Only a merge may change an id: the old one is gone and the survivor is older.
        assert old not in living, (key, old, after[key])
        assert after[key] < old
        merged += 1
    assert merged > 0  # the added records did join existing customers together
    assert report.merged_customers == len(set(before.values()) - living)
    assert report.new_customers > 0


def test_bad_options_are_refused(wh: Warehouse) -> None:
    with pytest.raises(UsageError, match=r"--threshold 1\.5 must be a match probability"):
        resolve_identities(wh, ResolveOptions(threshold=1.5))
    with pytest.raises(UsageError, match="--region 'XX' is not a region"):
        resolve_identities(wh, ResolveOptions(region="XX"))
