"""The bad-input battery: every bad value or file gives its documented exit code, one line,
and leaves the warehouse exactly as it was (tables, rows and ledger compared in full).

Exit codes (README, ``patron.cli.EXIT_CODES``): 2 usage, 65 data, 74 a file or the disk,
78 configuration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.cli import main
from patron.data import connect
from patron.data.warehouse import Warehouse

GOOD = "customer_id,date,amount\nA,2024-01-02,10.5\nB,2024-01-03,7\nA,2024-02-01,-3\n"
HEADER = "customer_id,date,amount\n"


def contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted: what a refused command must leave unchanged."""
    with connect(url) as wh:
        out: dict[str, list[tuple[object, ...]]] = {}
        for name in wh.list_tables():
            table = wh.con.table(name).to_pyarrow()
            rows = zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
            out[name] = sorted((tuple(map(str, r)) for r in rows), key=str)
        return out


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A warehouse holding a good load of transactions, customers and scores."""
    target = f"duckdb://{tmp_path / 'w.duckdb'}"
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,cost_to_serve,Country\nA,12,UK\nB,3,FR\n")
    assert main(["load", "transactions", str(good), "-w", target]) == 0
    assert main(["load", "customers", str(customers), "-w", target]) == 0
    with connect(target) as wh:  # a stand-in for `value score`: what audiences read
        wh.con.create_table(
            "customer_value",
            pa.table({"customer_id": ["A", "B"], "clv": [10.0, 2.0], "tier": ["MVC", "other"]}),
        )
    return target


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err.strip()


def assert_one_line(err: str, *needles: str) -> None:
    assert err.startswith("error: "), err
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert "internal error" not in err
    for needle in needles:
        assert needle in err, err


BAD_ROWS = {
    "inf amount": ("A,2024-01-02,inf\n", "non-finite amount"),
    "NaN amount": ("A,2024-01-02,NaN\n", "non-finite amount"),
    "1e308 amount": ("A,2024-01-02,1e308\n", "amount beyond ±1,000,000,000"),
    "-1e308 amount": ("A,2024-01-02,-1e308\n", "amount beyond ±1,000,000,000"),
    "10,000 digits": ("A,2024-01-02," + "9" * 10_000 + "\n", "amount"),
    "year 0001": ("A,0001-01-02,5\n", "timestamp outside 1970-01-01 .. "),
    "year 2097": ("A,2097-01-02,5\n", "timestamp outside 1970-01-01 .. "),
    "year 9999": ("A,9999-12-31,5\n", "timestamp outside 1970-01-01 .. "),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_impossible_values_are_refused_under_strict(
    case: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row, reason = BAD_ROWS[case]
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "C,2024-03-01,4\n" + row)
    before = contents(url)
    code, err = run(["load", "transactions", str(path), "--strict", "-w", url], capsys)
    assert code == 65
    assert_one_line(err, "bad.csv", "rejected under --strict", reason, "line 3")
    assert contents(url) == before


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_impossible_values_are_rejected_per_row(case: str, wh: Warehouse, tmp_path: Path) -> None:
    from patron.data.loader import load

    row, reason = BAD_ROWS[case]
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "C,2024-03-01,4\n" + row)
    (f,) = load(wh, "transactions", [str(path)]).files
    assert (f.rows_read, f.rows_loaded) == (2, 1)
    (rejection,) = f.rejections
    assert reason in rejection.reason
    assert rejection.first_lines == [3]


def test_limits_are_configurable(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(HEADER + "C,1961-03-01,2000000000\n")
    code, err = run(["load", "transactions", str(path), "-w", url], capsys)
    assert code == 65  # every row rejected: nothing loaded
    assert "outside 1970-01-01" in err
    args = ["--dates-from", "1950-01-01", "--max-amount", "1e10", "-w", url]
    assert main(["load", "transactions", str(path), *args]) == 0


@pytest.mark.parametrize(
    ("table", "text", "reason"),
    [
        ("customers", "customer_id,cost_to_serve\nA,NaN\n", "non-finite cost_to_serve"),
        ("customers", "customer_id,cost_to_serve\nA,-inf\n", "non-finite cost_to_serve"),
        ("products", "product_id,price\nP1,1e308\n", "price beyond"),
        ("transactions", "customer_id,date,amount,cost\nA,2024-01-02,1,inf\n", "cost"),
        ("transactions", "customer_id,date,amount,quantity\nA,2024-01-02,1,1e12\n", "quantity"),
    ],
)
def test_every_number_that_enters_is_checked(
    table: str, text: str, reason: str, url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = tmp_path / f"{table}_bad.csv"
    path.write_text(text)
    before = contents(url)
    code, err = run(["load", table, str(path), "-w", url], capsys)
    assert code == 65
    assert_one_line(err, "all 1 row(s) were rejected", reason)
    assert contents(url) == before


def test_a_load_that_rejects_every_row_fails_and_records_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Exited 0 with "loaded 0" and wrote a ledger entry, so the fixed file was then skipped.
    path = tmp_path / "allbad.csv"
    path.write_text(HEADER + "C,2024-03-01,x\nD,2024-03-02,y\n")
    before = contents(url)
    code, err = run(["load", "transactions", str(path), "-w", url], capsys)
    assert code == 65
    assert_one_line(err, "allbad.csv: all 2 row(s) were rejected", "non-numeric amount")
    assert contents(url) == before


@pytest.mark.parametrize(
    ("text", "line", "got", "want"),
    [
        (GOOD + "C,2024-03-01,4,9\n", 5, 4, 3),  # a long row
        (GOOD + "C,2024-03-01\n", 5, 2, 3),  # a short row
        ("customer_id\tdate\tamount\nA\t2024-01-02\t1\nB\t2024-01-03\t2\t5\n", 3, 4, 3),
    ],
)
def test_a_ragged_file_names_the_line(
    text: str, line: int, got: int, want: int, url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # Was exit 70, "a bug in Patron", with DuckDB's multi-line dump.
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    before = contents(url)
    code, err = run(["load", "transactions", str(path), "-w", url], capsys)
    assert code == 65
    assert_one_line(err, f"ragged.csv, line {line}: {got} field(s) where the header has {want}")
    assert contents(url) == before


@pytest.mark.parametrize("name", ["w.csv", "shop.parquet"])
def test_a_warehouse_url_at_a_data_file_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # duckdb://data.csv opened the CSV as a read-only view: "loaded 2", nothing kept.
    data = tmp_path / name
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    if name.endswith(".csv"):
        data.write_text(GOOD)
    before = data.read_bytes() if data.exists() else None
    for target in (f"duckdb://{data}", f"file://{data}"):
        code, err = run(["load", "transactions", str(good), "-w", target], capsys)
        assert code == 78
        assert_one_line(err, "not a DuckDB database file" if "duckdb" in target else "data file")
    assert (data.read_bytes() if data.exists() else None) == before


def test_a_full_disk_is_an_io_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What DuckDB raises when the disk fills: an IOException with a C++ stack after it.
    def full(self: Warehouse, name: str, obj: object) -> None:
        raise duckdb.IOException(
            'IO Error: Could not write all bytes to file "w.duckdb.wal": No space left on '
            "device\n\nStack Trace:\n0 duckdb::Exception::Exception(...)\n1 ..."
        )

    monkeypatch.setattr(Warehouse, "insert", full)
    path = tmp_path / "more.csv"
    path.write_text(HEADER + "C,2024-03-01,4\n")
    before = contents(url)
    code, err = run(["load", "transactions", str(path), "-w", url], capsys)
    assert code == 74
    assert_one_line(err, "No space left on device", "free space")
    assert "Stack Trace" not in err
    monkeypatch.undo()
    assert contents(url) == before


@pytest.mark.parametrize(
    ("audience", "needles"),
    [
        ("tier * 2", ["is not a condition", "tier == 'MVC'"]),
        ("tier = 'MVC'", ["Use == to compare"]),
        ("tierx == 'MVC'", ["no column 'tierx'", "customer_id", "clv", "tier"]),
    ],
)
def test_audience_mistakes_are_usage_errors(
    audience: str, needles: list[str], url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = contents(url)
    args = ["experiment", "create", "e1", "--arms", "control:0.5,offer:0.5"]
    code, err = run([*args, "--audience", audience, "-w", url], capsys)
    assert code == 2
    assert_one_line(err, *needles)
    assert contents(url) == before


def test_a_return_rule_must_be_a_condition(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "more.csv"
    path.write_text(HEADER + "C,2024-03-01,4\n")
    before = contents(url)
    code, err = run(["load", "transactions", str(path), "--return-if", "amount * 2", "-w", url],
                    capsys)  # fmt: skip
    assert code == 2
    assert_one_line(err, "--return-if 'amount * 2' is not a condition")
    assert contents(url) == before


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("frequency,recency,T,weights\n1,5,10,0\n0,0,10,0\n", "weights are 0 on every row"),
        ("frequency,recency,T,monetary_value\n1,5,10,1e308\n0,0,10,1\n", "line 2: monetary"),
        ("frequency,recency,T,cost_to_serve\n1,5,10,inf\n0,0,10,1\n", "line 2: cost_to_serve"),
    ],
)
def test_bad_summary_files(
    text: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "summary.csv"
    path.write_text(text)
    out = tmp_path / "scores.csv"
    code, err = run(["value", "score", "--from-summary", str(path), "--out", str(out)], capsys)
    assert code == 65
    assert_one_line(err, needle)
    assert not out.exists()


def test_a_discount_rate_above_one_is_refused_with_the_fraction(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["value", "score", "--discount-rate", "5", "-w", url], capsys)
    assert code == 2
    assert_one_line(err, "--discount-rate 5.0", "for 5% write 0.05")


def test_json_output_is_strict_json(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A warehouse written by another tool may hold a NaN: --json printed `NaN`, not JSON.
    with connect(url) as wh:
        wh.con.raw_sql("INSERT INTO transactions (customer_id, timestamp, amount) "
                       "VALUES ('Z', TIMESTAMP '2024-05-01', 'NaN'::DOUBLE)")  # fmt: skip
    capsys.readouterr()
    assert main(["status", "--json", "-w", url]) == 0
    text = capsys.readouterr().out

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    status = json.loads(text, parse_constant=refuse)
    assert status["tables"]["transactions"]["revenue"] is None
    assert any("revenue" in note for note in status["non_finite"])
    assert main(["status", "-w", url]) == 0
    text = capsys.readouterr().out
    assert "finite" in text  # the cell wraps: "revenue not a finite number ..."
    assert "nan" not in text.lower()


def test_two_columns_are_not_called_one(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.csv"
    path.write_text("customer_id,date\nA,2024-01-02\n")
    code, err = run(["load", "transactions", str(path), "-w", url], capsys)
    assert code == 65
    assert_one_line(err, "the file has: customer_id, date.")
    assert "Only one column" not in err


def test_iso_timestamps_with_offsets_keep_their_wall_clock_time(
    wh: Warehouse, tmp_path: Path
) -> None:
    from patron.data.loader import load

    path = tmp_path / "tz.csv"
    path.write_text(
        HEADER + "A,2024-01-02T10:00:00Z,1\nB,2024-01-03T01:30:00+05:00,2\n"
        "C,2024-01-04 23:15-0800,3\nD,2024-01-05,4\n"
    )
    report = load(wh, "transactions", [str(path)])
    assert report.rows_loaded == 4
    rows = wh.table("transactions").order_by("customer_id").to_pyarrow().to_pylist()
    assert [r["timestamp"] for r in rows] == [
        datetime(2024, 1, 2, 10, 0),
        datetime(2024, 1, 3, 1, 30),
        datetime(2024, 1, 4, 23, 15),
        datetime(2024, 1, 5),
    ]


def test_zone_aware_parquet_keeps_the_local_day(wh: Warehouse, tmp_path: Path) -> None:
    from patron.data.loader import load

    # 02:00 on 2 January in Karachi is 21:00 on 1 January in UTC.
    instants = [datetime(2024, 1, 1, 21, 0, tzinfo=UTC), datetime(2024, 1, 2, 12, 0, tzinfo=UTC)]
    table = pa.table(
        {
            "customer_id": ["A", "B"],
            "date": pa.array(instants, type=pa.timestamp("us", tz="Asia/Karachi")),
            "amount": [1.0, 2.0],
        }
    )
    path = tmp_path / "tz.parquet"
    pq.write_table(table, path)
    load(wh, "transactions", [str(path)])
    rows = wh.table("transactions").order_by("customer_id").to_pyarrow().to_pylist()
    assert [r["timestamp"] for r in rows] == [datetime(2024, 1, 2, 2), datetime(2024, 1, 2, 17)]
