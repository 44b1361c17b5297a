"""``patron load`` into PostgreSQL keeps every guarantee of a DuckDB load (issue 21, item 9).

Checked and staged in a local DuckDB, copied in by COPY in one transaction with the ledger:
a bad value rejects its row (reported by line as on DuckDB), a re-load duplicates nothing, a
failure mid-copy leaves the warehouse untouched, and the loaded rows equal DuckDB's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from patron.cli import main
from patron.data import staging
from patron.data.loader import LOAD_ID, LoadOptions, LoadReport, load
from patron.data.warehouse import Warehouse, connect
from patron.errors import DataError, WarehouseError
from tests.conftest import shared_file, snapshot
from tests.value.conftest import CDNOW_SAMPLE_OPTIONS

pytestmark = pytest.mark.postgres

BAD = (
    "customer_id,date,amount,Country\n"
    "A,2024-01-02,10.5,France\n"
    ",2024-01-03,7,France\n"  # line 3: no customer id
    "B,2024-13-45,3,Spain\n"  # line 4: no such date
    "B,2024-01-04,lots,Spain\n"  # line 5: not a number
    "C,2024-01-05,1e12,\n"  # line 6: beyond the plausible bound
    'C,2024-01-06,-4,"Bosnia, ""and"" Herzegovina"\n'  # a return; quotes and a comma
    "D,2024-01-07,0.1,\n"
)


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """A fresh database on the session's server, so every test starts empty."""
    name = f"load_{uuid.uuid4().hex[:10]}"
    server = connect(postgres_url)
    try:
        conn = server.copy_connection
        assert conn is not None
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        server.close()
    return postgres_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Warehouse]:
    warehouse = connect(pg_url)
    yield warehouse
    warehouse.close()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(wh: Warehouse, table: str) -> list[dict[str, Any]]:
    """The table's rows without the load ids, in a fixed order."""
    data = wh.con.table(table).to_pyarrow()
    data = data.drop_columns([LOAD_ID]) if LOAD_ID in data.column_names else data
    rows = data.to_pylist()
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def _report(report: LoadReport) -> dict[str, Any]:
    return report.to_dict()


def test_postgres_load_equals_the_duckdb_load(pg: Warehouse, tmp_path: Path) -> None:
    path = shared_file("cdnow", "CDNOW_sample.txt")
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        expected = load(duck, "transactions", [str(path)], CDNOW_SAMPLE_OPTIONS)
        expected_rows = _rows(duck, "transactions")
    assert pg.copy_connection is not None  # the COPY route, not Ibis's row inserts
    got = load(pg, "transactions", [str(path)], CDNOW_SAMPLE_OPTIONS)
    assert _report(got) == _report(expected)
    assert got.rows_loaded == 6919
    assert _rows(pg, "transactions") == expected_rows
    ledger = pg.con.table("_patron_loads").to_pyarrow().to_pylist()
    assert [(r["file_name"], r["rows_loaded"]) for r in ledger] == [("CDNOW_sample.txt", 6919)]
    assert not [t for t in pg.list_tables() if t.startswith("_patron_") and t != "_patron_loads"]


def test_bad_rows_are_rejected_by_line_and_the_good_ones_load(
    pg: Warehouse, tmp_path: Path
) -> None:
    path = _write(tmp_path, "bad.csv", BAD)
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        expected = load(duck, "transactions", [str(path)])
        expected_rows = _rows(duck, "transactions")
    got = load(pg, "transactions", [str(path)])
    assert _report(got) == _report(expected)
    lines = {r.reason: r.first_lines for r in got.files[0].rejections}
    assert sorted(lines.values()) == [[3], [4], [5], [6]]
    assert got.rows_loaded == 3
    assert got.files[0].returns == 1
    rows = _rows(pg, "transactions")
    assert rows == expected_rows
    assert sorted((r["customer_id"], r["amount"], r["country"]) for r in rows) == [
        ("A", 10.5, "France"),
        ("C", -4.0, 'Bosnia, "and" Herzegovina'),
        ("D", 0.1, None),
    ]


def test_reload_is_idempotent_and_replace_replaces(pg: Warehouse, tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.csv", BAD)
    load(pg, "transactions", [str(path)])
    before = _rows(pg, "transactions")
    again = load(pg, "transactions", [str(path)])
    assert [f.status for f in again.files] == ["skipped"]
    renamed = _write(tmp_path, "same.csv", BAD)  # same content, another name: skipped too
    assert [f.status for f in load(pg, "transactions", [str(renamed)]).files] == ["skipped"]
    assert _rows(pg, "transactions") == before
    assert int(pg.con.table("_patron_loads").count().execute()) == 1
    changed = _write(tmp_path, "bad.csv", BAD + "E,2024-02-01,9,\n")
    with pytest.raises(DataError, match="--replace"):
        load(pg, "transactions", [str(changed)])
    replaced = load(pg, "transactions", [str(changed)], LoadOptions(replace=True))
    assert [f.status for f in replaced.files] == ["replaced"]
    assert len(_rows(pg, "transactions")) == 4
    assert int(pg.con.table("_patron_loads").count().execute()) == 1


def test_a_failure_mid_copy_leaves_the_warehouse_untouched(
    pg: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(pg, "transactions", [str(_write(tmp_path, "first.csv", BAD))])
    before, rows = snapshot(pg), _rows(pg, "transactions")
    sent: list[int] = []
    real_send = staging._send

    def failing_send(copy: Any, batch: pa.RecordBatch) -> None:
        sent.append(batch.num_rows)
        # The load's second file, after the first went in whole (with its ledger row) and
        # after the second's first batch.
        if len(sent) == 4:
            raise OSError("the connection dropped")
        real_send(copy, batch)

    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    monkeypatch.setattr(staging, "_send", failing_send)
    second = _write(tmp_path, "second.csv", "customer_id,date,amount\n" + "X,2024-03-01,1\n" * 3)
    third = _write(
        tmp_path, "third.csv", "customer_id,date,amount,note\n" + "Y,2024-03-02,2,n\n" * 5
    )
    with pytest.raises(OSError, match="connection dropped"):
        load(pg, "transactions", [str(second), str(third)])
    assert sent == [2, 1, 2, 2]
    assert snapshot(pg) == before
    assert _rows(pg, "transactions") == rows
    assert "note" not in pg.con.table("transactions").columns  # the added column rolled back


def test_keyed_tables_update_by_key_as_on_duckdb(pg: Warehouse, tmp_path: Path) -> None:
    first = _write(
        tmp_path,
        "c1.csv",
        "customer_id,signup_date,region\nA,2024-01-01,north\nB,2024-01-02,south\n",
    )
    second = _write(
        tmp_path,
        "c2.csv",
        "customer_id,signup_date,region\nB,2024-02-02,east\nC,2024-02-03,\nC,2024-02-04,west\n",
    )
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as duck:
        expected = [load(duck, "customers", [str(p)]) for p in (first, second)]
        expected_rows = _rows(duck, "customers")
    got = [load(pg, "customers", [str(p)]) for p in (first, second)]
    assert [_report(r) for r in got] == [_report(r) for r in expected]
    assert got[1].files[0].merged == 1  # C twice: the last line wins
    assert _rows(pg, "customers") == expected_rows
    assert [(r["customer_id"], r["region"]) for r in _rows(pg, "customers")] == [
        ("A", "north"),
        ("B", "east"),
        ("C", "west"),
    ]


def test_refused_loads_write_nothing(pg: Warehouse, tmp_path: Path) -> None:
    load(pg, "transactions", [str(_write(tmp_path, "first.csv", BAD))])
    before = snapshot(pg)
    strict = _write(tmp_path, "s.csv", BAD + "F,x,1,\n")
    with pytest.raises(DataError, match="under --strict"):
        load(pg, "transactions", [str(strict)], LoadOptions(strict=True))
    rejected = _write(
        tmp_path, "all.csv", "customer_id,date,amount\n,2024-01-01,1\n,2024-01-02,2\n"
    )
    with pytest.raises(DataError, match="all 2 row"):
        load(pg, "transactions", [str(rejected)])
    assert snapshot(pg) == before


def test_cli_loads_into_postgres(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "bad.csv", BAD)
    assert main(["load", "transactions", str(path), "--warehouse", pg_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_loaded"] == 3
    assert report["rows_rejected"] == 4
    empty = _write(tmp_path, "none.csv", "customer_id,date,amount\n,2024-01-01,1\n")
    assert main(["load", "transactions", str(empty), "--warehouse", pg_url]) == 65
    assert "all 1 row(s) were rejected" in capsys.readouterr().err


def test_a_refusal_by_postgres_is_one_line_and_writes_nothing(
    pg: Warehouse, tmp_path: Path
) -> None:
    # A transactions table made by another tool, with whole-number amounts: PostgreSQL
    # refuses 10.5 in the COPY; the load names the table and leaves the warehouse as it was.
    pg.con.raw_sql(
        'CREATE TABLE transactions (customer_id TEXT, "timestamp" TIMESTAMP, amount INTEGER, '
        "is_return BOOLEAN, _load_id TEXT)"
    ).close()
    before = snapshot(pg)
    with pytest.raises(WarehouseError, match=r"refused the load into transactions .*nothing"):
        load(pg, "transactions", [str(_write(tmp_path, "bad.csv", BAD))])
    assert snapshot(pg) == before
    assert not pg.has_table("_patron_loads")
