"""A data subject's erasure reaches the warehouse too: nothing identifying remains there."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.cli import main
from patron.data import connect
from patron.data.simulate import simulate_shop


def _strings_everywhere(url: str) -> set[str]:
    """Every string value of every table of the warehouse, lower-cased."""
    wh = connect(url)
    try:
        seen: set[str] = set()
        for name in wh.list_tables():
            t = wh.con.table(name)
            for column, dtype in t.schema().items():
                if dtype.is_string():
                    values = t.select(column).distinct().to_pyarrow().column(0).to_pylist()
                    seen.update(str(v).lower() for v in values if v is not None)
        return seen
    finally:
        wh.close()


def test_erase_leaves_nothing_identifying_in_store_or_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = simulate_shop(1_500, tmp_path / "shop", seed=12, identities=True, split_orders=True)
    records = pq.read_table(shop.files["identities"]).to_pylist()
    truth = pq.read_table(shop.files["identity_truth"]).to_pylist()
    # A CRM export with personal attributes beside the shop's customers file.
    first = {
        t["person"]: r
        for r, t in zip(records, truth, strict=True)
        if r["customer_id"] == t["person"]
    }
    cust = pq.read_table(shop.files["customers"]).to_pylist()
    for row in cust:
        rec = first[row["customer_id"]]
        row["email"] = rec["email"]
        row["full_name"] = f"{rec['given_name']} {rec['surname']} #{row['customer_id']}"
    crm = tmp_path / "crm.parquet"
    pq.write_table(pa.Table.from_pylist(cust), crm)

    wh = f"duckdb://{tmp_path / 'w.duckdb'}"
    url = ["--warehouse", wh]
    store = ["--store", f"sqlite:///{tmp_path / 'store.sqlite'}"]
    assert main(["load", "customers", str(crm), *url]) == 0
    for table in ("transactions", "identities"):
        assert main(["load", table, str(shop.files[table]), *url]) == 0
    assert main(["identify", "run", "--deterministic-only", *url]) == 0
    assert main(["value", "score", "--no-check", *url]) == 0
    assert main(["store", "upgrade", *store]) == 0
    assert main(["publish", *url, *store]) == 0
    assert main(["interact", "questions", *store]) == 0

    # A person with three records, each with an identifier of its own.
    by_person: dict[str, list[dict[str, str | None]]] = {}
    for r, t in zip(records, truth, strict=True):
        by_person.setdefault(t["person"], []).append(r)
    person, theirs = next(
        (p, rs)
        for p, rs in sorted(by_person.items())
        if len(rs) == 3 and all(r["email"] for r in rs)
    )
    capsys.readouterr()
    assert main(["agent", str(theirs[0]["email"]), "--json", *store]) == 0
    cid = json.loads(capsys.readouterr().out)["customer_id"]
    args = ["--channel", "phone", "--purpose", "profiling", "--source", "call"]
    assert main(["interact", "consent", cid, "granted", *args, "--evidence", "rec 77", *store]) == 0
    assert main(["interact", "answer", cid, "children", "yes", "--channel", "phone", *store]) == 0
    assert main(["interact", "export", *url, *store]) == 0

    identifying = {str(r[k]).lower() for r in theirs for k in ("email", "card") if r[k]}
    identifying.add(f"#{person}".lower())
    before = _strings_everywhere(wh)
    assert identifying & before  # present before (raw e-mail and card at least)
    counted = pq.read_table(shop.files["transactions"]).num_rows

    capsys.readouterr()
    assert main(["interact", "erase", cid, *url, *store]) == 2  # needs --yes
    assert main(["interact", "erase", cid, "--yes", "--json", *url, *store]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["warehouse"]["identity"]["records"] == 3
    assert done["warehouse"]["customers_blanked"] >= 1

    after = _strings_everywhere(wh)
    leftovers = {v for v in after for i in identifying if i.replace(" ", "") in v.replace(" ", "")}
    assert not leftovers
    # Normalised copies too: no card digits and no e-mail of theirs in any table.
    digits = {"".join(ch for ch in str(r["card"]) if ch.isdigit()) for r in theirs if r["card"]}
    assert not {v for v in after for d in digits if d in v}
    # Aggregates stay: every transaction is still there and still resolves to the person.
    with connect(wh) as w:
        assert int(w.table("transactions").count().to_pyarrow().as_py()) == counted
        cmap = w.table("identity_customer_map")
        assert int(cmap.filter(cmap.resolved_id == cid).count().to_pyarrow().as_py()) == 3
        facts = w.table("interact_facts")
        assert int(facts.filter(facts.customer_id == cid).count().to_pyarrow().as_py()) == 0
    # And the store has nothing left to show for them.
    assert main(["agent", cid, *store]) == 66
