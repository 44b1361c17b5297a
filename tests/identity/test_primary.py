"""Survivorship: where a person's records disagree, the most trusted source's value is used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.cli import main
from patron.data import connect, load
from patron.identity import ResolveOptions, primary_identifiers, resolve_identities

RECORDS = """source,record_id,customer_id,email,phone,given_name,surname
crm,1,C1,ann@crm.example.com,+44 7911 123456,Ann,Lee
web,7,W7,ann.lee@web.example.com,07911 123456,Ann,Lee
web,8,W8,bob@web.example.com,,Bob,Ray
"""


def _primary(path: Path, priority: tuple[str, ...] | None) -> dict[str, str | None]:
    with connect(f"duckdb://{path}") as wh:
        table = primary_identifiers(wh, priority)
        assert table is not None
        rows = table.to_pyarrow().to_pylist()
    return {str(r["customer_id"]): r["email"] for r in rows}


def test_the_most_trusted_source_wins(tmp_path: Path) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text(RECORDS)
    db = tmp_path / "w.duckdb"
    with connect(f"duckdb://{db}") as wh:
        load(wh, "identities", [str(csv)])
        resolve_identities(wh, ResolveOptions(deterministic_only=True, source_priority=("crm",)))
    emails = _primary(db, None)  # the run's own priority: crm first
    assert sorted(emails.values()) == ["ann@crm.example.com", "bob@web.example.com"]
    emails = _primary(db, ("web", "crm"))
    assert sorted(emails.values()) == ["ann.lee@web.example.com", "bob@web.example.com"]
    emails = _primary(db, ())  # no priority: the latest record (highest record id)
    assert "ann.lee@web.example.com" in emails.values()


def test_publish_shows_the_primary_email(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text(RECORDS)
    tx = tmp_path / "tx.csv"
    tx.write_text(
        "customer_id,timestamp,amount\n"
        + "".join(f"{c},2025-0{m}-10,{10 * m}\n" for c in ("C1", "W7", "W8") for m in (1, 3, 5))
    )
    url = ["--warehouse", f"duckdb://{tmp_path / 'w.duckdb'}"]
    store = ["--store", f"sqlite:///{tmp_path / 's.sqlite'}"]
    assert main(["load", "identities", str(csv), *url]) == 0
    assert main(["load", "transactions", str(tx), *url]) == 0
    args = ["--deterministic-only", "--source-priority", "crm,web"]
    assert main(["identify", "run", *args, *url]) == 0
    assert main(["value", "score", "--no-check", "--penalizer", "0.01", *url]) == 0
    assert main(["store", "upgrade", *store]) == 0
    assert main(["publish", *url, *store]) == 0
    capsys.readouterr()
    assert main(["agent", "ann.lee@web.example.com", "--json", *store]) == 0
    screen = json.loads(capsys.readouterr().out)
    assert screen["email"] == "ann@crm.example.com"  # the CRM's address, not the web one
    assert screen["phone"] == "+447911123456"


def test_an_unknown_source_in_the_priority_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text(RECORDS)
    url = ["--warehouse", f"duckdb://{tmp_path / 'w.duckdb'}"]
    assert main(["load", "identities", str(csv), *url]) == 0
    capsys.readouterr()
    args = ["--deterministic-only", "--source-priority", "CRM,web"]
    assert main(["identify", "run", *args, *url]) == 2
    err = capsys.readouterr().err
    assert "--source-priority names no records' source: CRM; the sources are crm, web." in err
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        assert not wh.has_table("identity_map")  # nothing written
