from __future__ import annotations

from pathlib import Path

import pytest

from patron.cli import main
from patron.data import load
from patron.data.warehouse import Warehouse
from patron.errors import DataError
from tests.conftest import snapshot
from tests.identity.conftest import write_csv


def test_identities_load_with_synonyms_and_update_by_key(wh: Warehouse, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "crm.csv",
        """
        System,RecID,CustomerID,E-mail,Telephone,First Name,Last Name,DOB,Zip
        crm,1,C1,Ann@X.org,07700 900123,Ann,Smith,1980-01-02,N1 1AA
        crm,2,C2,,,Bob,Jones,,
        """,
    )
    report = load(wh, "identities", [str(first)])
    assert report.rows_loaded == 2
    rows = wh.con.table("identities").order_by("record_id").to_pyarrow().to_pylist()
    assert rows[0]["source"] == "crm"
    assert rows[0]["email"] == "Ann@X.org"  # stored as given; normalised by the run
    assert rows[0]["given_name"] == "Ann"
    assert rows[0]["postcode"] == "N1 1AA"
    # A later file with the same (source, record_id) updates that record.
    second = write_csv(
        tmp_path / "crm2.csv",
        """
        source,record_id,email
        crm,2,bob@y.org
        web,2,other@y.org
        """,
    )
    load(wh, "identities", [str(second)])
    rows = wh.con.table("identities").order_by(["source", "record_id"]).to_pyarrow().to_pylist()
    assert [(r["source"], r["record_id"], r["email"]) for r in rows] == [
        ("crm", "1", "Ann@X.org"),
        ("crm", "2", "bob@y.org"),
        ("web", "2", "other@y.org"),
    ]


def test_repeated_record_in_one_file_is_refused_with_its_lines(
    wh: Warehouse, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "ids.csv",
        """
        source,record_id,email
        web,1,a@x.org
        web,2,b@x.org
        pos,1,c@x.org
        web,1,d@x.org
        """,
    )
    before = snapshot(wh)
    with pytest.raises(DataError) as info:
        load(wh, "identities", [str(path)])
    assert str(info.value) == (
        f"{path}: 2 row(s) share their (source, record_id) with another row of the file "
        "(lines 2, 5); each record must appear once. Nothing was loaded: remove or merge the "
        "repeated rows and load again."
    )
    assert snapshot(wh) == before


def test_file_without_source_says_what_to_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "ids.csv", "rec,email\n1,a@x.org\n")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["load", "identities", str(path), "-w", url]) == 65
    message = capsys.readouterr().err
    assert "no column for required field 'source' of identities" in message
    assert "--map source=COLUMN" in message
