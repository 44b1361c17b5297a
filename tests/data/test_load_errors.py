"""Bad input: a clear message naming file/line/column, and the warehouse left untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.data import loader as loader_module
from patron.data.loader import LoadOptions, load
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from tests.conftest import snapshot

GOOD = "customer_id,date,amount\nA,2024-01-02,10.5\nB,2024-01-03,7\nA,2024-02-01,-3\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def loaded(wh: Warehouse, tmp_path: Path) -> Warehouse:
    load(wh, "transactions", [str(write(tmp_path, "first.csv", GOOD))])
    return wh


def test_discount_as_amount_or_yes_no_flag_in_text(wh: Warehouse, tmp_path: Path) -> None:
    text = (
        "customer_id,date,amount,discount\n"
        "A,2024-01-02,10,true\nA,2024-01-03,10,False\nB,2024-01-03,10,yes\n"
        "B,2024-01-04,10,n\nC,2024-01-04,10,2.50\nC,2024-01-05,10,\n"
    )
    report = load(wh, "transactions", [str(write(tmp_path, "d.csv", text))])
    assert report.rows_loaded == 6
    rows = wh.table("transactions").order_by(["customer_id", "timestamp"]).execute()
    assert rows.discount.fillna(-1).tolist() == [1.0, 0.0, 1.0, 0.0, 2.5, -1.0]
    bad = "customer_id,date,amount,discount\nA,2024-01-02,10,maybe\n"
    with pytest.raises(DataError, match="non-numeric discount"):
        load(wh, "transactions", [str(write(tmp_path, "bad.csv", bad))], LoadOptions(strict=True))


def test_good_file_loads_and_marks_returns(loaded: Warehouse) -> None:
    t = loaded.table("transactions")
    rows = t.order_by("timestamp").execute()
    assert rows.customer_id.tolist() == ["A", "B", "A"]
    assert rows.is_return.tolist() == [False, False, True]
    assert rows.amount.tolist() == [10.5, 7.0, -3.0]


def test_missing_required_column(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, "nocust.csv", "date,amount\n2024-01-02,3\n")
    with pytest.raises(DataError) as info:
        load(loaded, "transactions", [str(path)])
    msg = str(info.value)
    assert str(path) in msg
    assert "no column for required field 'customer_id'" in msg
    assert "the file has: date, amount" in msg
    assert "--map customer_id=COLUMN" in msg
    assert snapshot(loaded) == before


def test_bad_dates_are_rejected_with_line_numbers(wh: Warehouse, tmp_path: Path) -> None:
    text = "customer_id,date,amount\nA,20240102,1\nB,2024-13-45,2\nC,20240230,3\nD,20240105,x\n"
    path = write(tmp_path, "dates.csv", text)
    report = load(wh, "transactions", [str(path)], LoadOptions(date_format="%Y%m%d"))
    (f,) = report.files
    assert f.rows_read == 4
    assert f.rows_loaded == 1
    reasons = {r.reason: (r.count, r.first_lines) for r in f.rejections}
    assert reasons == {"unparseable timestamp": (2, [3, 4]), "non-numeric amount": (1, [5])}


def test_strict_loads_nothing(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(
        tmp_path, "some_bad.csv", "customer_id,date,amount\nA,2024-01-02,1\n,2024-01-02,2\n"
    )
    with pytest.raises(DataError) as info:
        load(loaded, "transactions", [str(path)], LoadOptions(strict=True))
    assert "1 row(s) rejected under --strict (1 missing customer_id, first at line 3)" in str(
        info.value
    )
    assert "nothing was loaded" in str(info.value)
    assert snapshot(loaded) == before


def test_empty_file(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, "empty.csv", "")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty; nothing to load\."):
        load(loaded, "transactions", [str(path)])
    header_only = write(tmp_path, "header.csv", "customer_id,date,amount\n")
    with pytest.raises(DataError, match=r"header\.csv: file has a header line but no data rows"):
        load(loaded, "transactions", [str(header_only)])
    assert snapshot(loaded) == before


def test_wrong_delimiter(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, "semi.csv", GOOD.replace(",", ";"))
    with pytest.raises(DataError) as info:
        load(loaded, "transactions", [str(path)], LoadOptions(delimiter=","))
    msg = str(info.value)
    assert "semi.csv" in msg
    assert "is the delimiter right (--delimiter)?" in msg
    assert snapshot(loaded) == before
    # Sniffed, the same file loads.
    assert load(loaded, "transactions", [str(path)]).rows_loaded == 3


def test_non_utf8_bytes(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(
        tmp_path, "latin.csv", "customer_id,date,amount\nJos\xe9,2024-01-02,1\n".encode("latin-1")
    )
    with pytest.raises(DataError) as info:
        load(loaded, "transactions", [str(path)])
    msg = str(info.value)
    assert "latin.csv: line 2 is not valid utf-8 (byte 0xe9" in msg
    assert "--encoding latin-1" in msg
    assert snapshot(loaded) == before
    report = load(loaded, "transactions", [str(path)], LoadOptions(encoding="latin-1"))
    assert report.rows_loaded == 1
    names = loaded.table("transactions").customer_id.execute().tolist()
    assert "José" in names


def test_same_file_twice_is_skipped(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    again = load(loaded, "transactions", [str(tmp_path / "first.csv")])
    assert [f.status for f in again.files] == ["skipped"]
    assert "same content already loaded as first.csv" in again.files[0].message
    # The same bytes under another name are skipped too.
    copy = write(tmp_path, "copy.csv", GOOD)
    assert load(loaded, "transactions", [str(copy)]).files[0].status == "skipped"
    assert snapshot(loaded) == before


def test_same_name_other_content_needs_replace(loaded: Warehouse, tmp_path: Path) -> None:
    before = snapshot(loaded)
    changed = GOOD + "C,2024-03-01,99\n"
    path = write(tmp_path, "first.csv", changed)
    with pytest.raises(DataError, match="was loaded into transactions before with other content"):
        load(loaded, "transactions", [str(path)])
    assert snapshot(loaded) == before
    report = load(loaded, "transactions", [str(path)], LoadOptions(replace=True))
    assert report.files[0].status == "replaced"
    t = loaded.table("transactions")
    assert int(t.count().execute()) == 4  # the earlier 3 rows were replaced, not doubled
    assert int(loaded.table("_patron_loads").count().execute()) == 1


def test_failure_half_way_leaves_warehouse_untouched(
    loaded: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(loaded)
    second = write(tmp_path, "second.csv", "customer_id,date,amount\nZ,2024-05-01,5\n")
    third = write(tmp_path, "third.csv", "customer_id,date,amount\nY,2024-05-02,6\n")
    calls = {"n": 0}
    real_record = loader_module._record

    def failing_record(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        real_record(*args, **kwargs)  # type: ignore[arg-type]
        if calls["n"] == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(loader_module, "_record", failing_record)
    with pytest.raises(RuntimeError, match="disk full"):
        load(loaded, "transactions", [str(second), str(third)])
    assert calls["n"] == 2  # both files' rows were written before the failure
    assert snapshot(loaded) == before


def test_customers_upsert_by_key(wh: Warehouse, tmp_path: Path) -> None:
    one = write(tmp_path, "c1.csv", "customer_id,cost_to_serve,region\nA,5,north\nB,3,south\n")
    two = write(tmp_path, "c2.csv", "customer_id,cost_to_serve\nB,4\nC,1\nC,2\n")
    load(wh, "customers", [str(one)])
    load(wh, "customers", [str(two)])
    rows = wh.table("customers").order_by("customer_id").execute()
    assert rows.customer_id.tolist() == ["A", "B", "C"]
    assert rows.cost_to_serve.tolist() == [5.0, 4.0, 2.0]  # the last line of a file wins


def test_mapping_expression_and_return_rule(wh: Warehouse, tmp_path: Path) -> None:
    text = "Client,When,Qty,Price,Invoice\nA,01/02/2024,2,3.5,100\nB,15/02/2024,1,4,C101\n"
    path = write(tmp_path, "mapped.csv", text)
    options = LoadOptions(
        mapping={"customer_id": "Client", "timestamp": "When", "amount": "Qty*Price"},
        return_if="order_id.startswith('C')",
    )
    report = load(wh, "transactions", [str(path)], options)
    assert report.rows_loaded == 2
    rows = wh.table("transactions").order_by("customer_id").execute()
    assert rows.amount.tolist() == [7.0, 4.0]
    assert rows.is_return.tolist() == [False, True]
    assert str(rows.timestamp[1])[:10] == "2024-02-15"  # day-first, told apart by 15/02


def test_ambiguous_dates_are_refused(wh: Warehouse, tmp_path: Path) -> None:
    path = write(tmp_path, "amb.csv", "customer_id,date,amount\nA,01/02/2024,1\n")
    with pytest.raises(UsageError, match="ambiguous"):
        load(wh, "transactions", [str(path)])


def test_unknown_map_target(tmp_path: Path) -> None:
    from patron.data.loader import parse_mappings

    with pytest.raises(UsageError, match="'price' is not a column of transactions"):
        parse_mappings(["price=x"], "transactions")
    with pytest.raises(UsageError, match="must look like target=source"):
        parse_mappings(["amount"], "transactions")


def test_glob_and_folder(wh: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder, "a.csv", "customer_id,date,amount\nA,2024-01-02,1\n")
    write(folder, "b.csv", "customer_id,date,amount\nB,2024-01-03,2\n")
    assert load(wh, "transactions", [str(folder / "*.csv")]).rows_loaded == 2
    with pytest.raises(DataError, match="no file matches this pattern"):
        load(wh, "transactions", [str(folder / "*.parquet")])
