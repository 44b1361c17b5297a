"""The CLI through its real entry point."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import ibis.expr.types
import pytest

from patron.cli import main
from patron.data import connect
from patron.data.warehouse import (
    DUCKDB_AGGREGATION_MEMORY_LIMIT,
    DUCKDB_MEMORY_LIMIT,
    Warehouse,
    _open_error,
)
from patron.errors import first_line
from tests.conftest import shared_file


def test_console_script_help_and_version() -> None:
    exe = Path(sys.executable).parent / "patron"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("load", "simulate", "status", "demo"):
        assert command in result.stdout
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.startswith("patron ")


def test_version_answers_before_the_commands_load() -> None:
    # Every command's module (and the engines behind them) takes over a second to import.
    code = (
        "import sys; sys.argv = ['patron', '--version']\n"
        "from patron.cli import run\n"
        "try:\n    run()\nexcept SystemExit as exc:\n"
        "    print(exc.code, 'ibis' in sys.modules, 'patron.cli._app' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("patron "), result.stderr
    assert lines[-1] == "0 False False"


def test_cli_start_up_does_not_import_scikit_learn() -> None:
    # ~0.5 s on every command; only segmenting and uplift need it.
    code = "import sys, patron.cli._app; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_simulate_load_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = tmp_path / "shop"
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["simulate", "--customers", "500", "--seed", "1", "--out", str(shop)]) == 0
    assert main(["load", "customers", str(shop / "customers.parquet"), "--warehouse", url]) == 0
    args = ["load", "transactions", str(shop / "transactions.parquet"), "-w", url, "--json"]
    capsys.readouterr()
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_rejected"] == 0
    assert report["rows_loaded"] > 500
    assert main(["status", "--json", "--warehouse", url]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["customers"] == 500
    assert status["tables"]["transactions"]["rows"] == report["rows_loaded"]
    assert status["tables"]["customers"]["rows"] == 500


def test_warehouse_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATRON_WAREHOUSE", f"duckdb://{tmp_path / 'env.duckdb'}")
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["warehouse"].endswith("env.duckdb")
    assert status["customers"] == 0


def test_data_error_is_one_line_with_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,amount\n2024-01-01,1\n")
    code = main(["load", "transactions", str(bad), "-w", f"duckdb://{tmp_path / 'w.duckdb'}"])
    captured = capsys.readouterr()
    assert code == 65
    assert captured.err.startswith("error: ")
    assert "Traceback" not in captured.err
    assert "no column for required field 'customer_id'" in captured.err


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,amount\n2024-01-01,1\n")
    code = main(
        ["--debug", "load", "transactions", str(bad), "-w", f"duckdb://{tmp_path / 'w.db'}"]
    )
    assert code == 65
    assert "Traceback" in capsys.readouterr().err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    f = tmp_path / "x.csv"
    f.write_text("customer_id,date,amount\nA,2024-01-01,1\n")
    assert main(["load", "orders", str(f), "-w", url]) == 2
    assert "Unknown table 'orders'; choose one of: transactions, customers, products" in (
        capsys.readouterr().err
    )
    assert main(["load", "transactions", str(f), "--map", "bogus=x", "-w", url]) == 2
    assert main(["status", "--no-such-option"]) == 2
    assert main(["status", "-w", "nonsense"]) == 78
    assert "is not a URL" in capsys.readouterr().err
    assert main(["status", "-w", f"duckdb://{tmp_path / 'missing' / 'w.duckdb'}"]) == 78


def test_files_to_write_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `value fit --save` into a missing folder or onto a folder fitted first, then failed with
    # an internal error; a folder given to --out was reported as a bug.
    nowhere = f"duckdb://{tmp_path / 'never.duckdb'}"
    missing = tmp_path / "missing" / "model.json"
    assert main(["value", "fit", "--save", str(missing), "-w", nowhere]) == 2
    assert f"--save {missing}: folder {missing.parent} does not exist." in capsys.readouterr().err
    assert main(["value", "fit", "--save", str(tmp_path / "model.txt"), "-w", nowhere]) == 2
    assert "use a .json file name" in capsys.readouterr().err
    folder = tmp_path / "scores.csv"
    folder.mkdir()
    assert main(["export", "transactions", "--out", str(folder), "-w", nowhere]) == 2
    assert f"--out {folder}: that is a folder; give a file name in it." in capsys.readouterr().err
    assert not (tmp_path / "never.duckdb").exists()  # refused before opening the warehouse


def test_a_file_the_engine_cannot_write_is_an_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    f = tmp_path / "t.csv"
    f.write_text("customer_id,date,amount\nA,2024-01-01,1\n")
    assert main(["load", "transactions", str(f), "-w", url]) == 0

    def full_disk(self: object, path: object, **kwargs: object) -> None:
        text = f'IO Error: Could not write file "{path}": No space left on device'
        raise duckdb.IOException(text)

    monkeypatch.setattr(ibis.expr.types.Table, "to_csv", full_disk)
    out = tmp_path / "out.csv"
    capsys.readouterr()
    assert main(["export", "transactions", "--out", str(out), "-w", url]) == 74
    err = " ".join(capsys.readouterr().err.split())
    assert "error: could not write the file (IO Error: Could not write file" in err
    assert f"No space left on device): {out}. Check the path, its permissions" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.csv*"))  # no partial file left behind

    def refused_query(self: object, path: object, **kwargs: object) -> None:
        raise duckdb.ConversionException("Conversion Error: could not convert 'x' to DOUBLE")

    # An engine error that is not about the file is a bug, not a full disk.
    monkeypatch.setattr(ibis.expr.types.Table, "to_csv", refused_query)
    assert main(["export", "transactions", "--out", str(out), "-w", url]) == 70
    assert "internal error: ConversionException" in capsys.readouterr().err
    # An OSError of Python's own (here: saving a fitted model) maps the same way.

    def no_space(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    summary = shared_file("cdnow", "cdnow_customers_summary.csv")
    monkeypatch.setattr(Path, "write_text", no_space)
    model = tmp_path / "model.json"
    assert main(["value", "fit", "--from-summary", str(summary), "--save", str(model)]) == 74
    assert f"error: No space left on device: {model}." in capsys.readouterr().err


def test_load_text_report_shows_rejections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_file("cdnow", "CDNOW_master.txt")
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert main(["load", "transactions", str(path), "--date-format", "%Y%m%d", "-w", url]) == 0
    text = capsys.readouterr().out
    assert "69,659" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date,amount\nA,2024-01-01,1\n,2024-01-02,1\nB,2024-01-02,zz\n")
    assert main(["load", "transactions", str(bad), "-w", url]) == 0
    text = capsys.readouterr().out
    assert "rejected 1 row(s): missing customer_id (lines 3)" in text
    assert "rejected 1 row(s): non-numeric amount (lines 4)" in text


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--dir", str(tmp_path / "demo"), "--customers", "1000"]
    assert main(args) == 0
    first = capsys.readouterr().out
    text = " ".join(first.split())
    # Identify: people, not records; the map checked against the simulated persons.
    found = re.search(r"Customers: ([\d,]+) people \(([\d,]+) customer ids", text)
    assert found is not None
    people, ids = (int(g.replace(",", "")) for g in found.groups())
    assert people <= 1_000 < ids
    precision = re.search(r"([\d.]+)% belong to the same person", text)
    recall = re.search(r"it found ([\d.]+)% of the", text)
    assert precision is not None
    assert recall is not None
    assert float(recall.group(1)) >= 99.0
    assert "Value tiers" in first
    assert "needs segments" in first
    report = tmp_path / "demo" / "customer-value-report.html"
    assert f"Report written to {report.resolve()}" in first.replace("\n", "")
    # plotly.js's cartesian bundle is embedded (the full bundle made reports 4.9 MB)
    assert 1_000_000 < report.stat().st_size < 2_000_000
    # The model is graded on its holdout, and the BZ share is set beside the simulated truth.
    assert "Model grade: " in first
    found = re.search(r"Patron puts ([\d.]+)% of customers in BZ; in truth ([\d.]+)% are", text)
    assert found is not None  # close at 20,000 customers (tests/value/test_shop_recovery.py)
    assert "In truth the below-zero share is large because purchase rates vary widely" in text
    assert re.search(r"customer equity is [\d,.]+ against the true [\d,.]+ \([+-]\d+%\)", text)
    # Interact: the agent's screen asks one question; after the answer, another one.
    asked = re.findall(r"Ask \((\w+)\):", text)
    assert len(asked) == 2
    assert asked[0] != asked[1]
    assert "The customer answers" in text
    # Measure: the campaign's lift against its holdout, beside the simulated truth.
    lift = re.search(
        r"on revenue(?: \(CUPED-adjusted means\))?: [\d.]+ vs [\d.]+, a lift of ([+-][\d.]+) "
        r"\(95% CI ([+-][\d.]+) to ([+-][\d.]+)",
        text,
    )
    true = re.search(r"The true effect per treated customer: revenue \+([\d.]+)", text)
    assert lift is not None
    assert true is not None
    assert float(lift.group(2)) < float(true.group(1)) < float(lift.group(3))
    # Customize: a campaign of next best actions, its contacts logged, its lift beside the truth
    assert re.search(r"[\d,]+ contacts written to .* logged as touch points", text)
    assert re.search(r"Measured margin lift per treated customer [+-][\d.]+ \(95% CI", text)
    assert main(args) == 0  # running it again is idempotent
    again = capsys.readouterr().out
    assert "skipped" in again
    assert f"Customers: {people:,} people" in again
    # The publish kept the manager's overview for the console: the report's equity and sections.
    from patron.store import open_store
    from patron.store.overview import read_overview

    url = f"sqlite:///{tmp_path / 'demo' / 'patron.store.sqlite'}"
    with open_store(url) as store, store.read() as conn:
        overview = read_overview(conn)
    assert overview is not None
    assert overview["customers"] == people
    assert overview["grade"]["grade"] in ("good", "rough", "do not use")
    titles = [s["title"] for s in overview["sections"]]
    assert "Value tiers" in titles
    assert "Needs segments" in titles


def test_duckdb_settings_in_the_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}?memory_limit=1GB&threads=1"
    assert main(["status", "-w", url]) == 0
    capsys.readouterr()
    assert main(["status", "-w", f"duckdb://{tmp_path / 'w.duckdb'}?no_such_setting=1"]) == 78
    assert "DuckDB refused a setting" in capsys.readouterr().err


def _memory_limit(wh: Warehouse) -> str:
    return str(wh.con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0])


def test_duckdb_file_warehouse_has_a_memory_limit_unless_the_url_sets_one(tmp_path: Path) -> None:
    def limit(url: str) -> str:
        with connect(url) as wh:
            return _memory_limit(wh)

    default = limit(f"duckdb://{tmp_path / 'a.duckdb'}")
    assert default == limit(f"duckdb://:memory:?memory_limit={DUCKDB_MEMORY_LIMIT}")
    assert limit(f"duckdb://{tmp_path / 'b.duckdb'}?memory_limit=3GB") == limit(
        "duckdb://:memory:?memory_limit=3GB"
    )
    assert limit(f"duckdb://{tmp_path / 'a.duckdb'}") != limit("duckdb://:memory:")


def test_a_large_aggregation_gets_more_memory_only_under_the_default_limit(
    tmp_path: Path,
) -> None:
    def limits(url: str) -> tuple[str, str, str]:
        with connect(url) as wh:
            before = _memory_limit(wh)
            with wh.aggregating():
                during = _memory_limit(wh)
            return before, during, _memory_limit(wh)

    def as_set(value: str) -> str:
        with connect(f"duckdb://:memory:?memory_limit={value}") as wh:
            return _memory_limit(wh)

    default, more = as_set(DUCKDB_MEMORY_LIMIT), as_set(DUCKDB_AGGREGATION_MEMORY_LIMIT)
    assert more != default
    assert limits(f"duckdb://{tmp_path / 'a.duckdb'}") == (default, more, default)
    chosen = as_set("1GB")
    assert limits(f"duckdb://{tmp_path / 'b.duckdb'}?memory_limit=1GB") == (chosen,) * 3
    before, during, after = limits("duckdb://:memory:")  # DuckDB's own limit, left alone
    assert before == during == after != default


def test_a_warehouse_another_process_holds_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        code = main(["status", "-w", f"duckdb://{path}"])
    finally:
        holder.communicate("")
    err = capsys.readouterr().err
    assert code != 0
    assert "is in use by another process" in err


def test_a_file_that_is_not_a_warehouse_is_not_called_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"not a database, " * 1000)
    code = main(["status", "-w", f"duckdb://{path}"])
    err = capsys.readouterr().err
    assert code != 0
    assert "Could not open warehouse" in err
    assert "not a valid DuckDB database file" in err
    assert "in use by another process" not in err
    assert path.read_bytes() == b"not a database, " * 1000  # left as it was


def test_an_engine_error_with_a_stack_trace_is_not_called_in_use() -> None:
    """DuckDB's internal errors (e.g. a WAL it cannot replay) end in a C++ stack trace."""
    internal = RuntimeError(
        'INTERNAL Error: Failure while replaying WAL file "w.duckdb.wal"\n'
        "Stack Trace:\n"
        "_duckdb.so(_ZN6duckdb15DBInstanceCache22CreateInstanceInternal...St11unique_lock...)"
    )
    error = _open_error("duckdb://w.duckdb", internal)
    assert "in use by another process" not in str(error)
    assert str(error) == (
        "Could not open warehouse 'duckdb://w.duckdb': INTERNAL Error: Failure while "
        'replaying WAL file "w.duckdb.wal"'
    )


def test_an_engine_error_is_quoted_by_its_first_line() -> None:
    # One helper for every message (eight places cut the text themselves, and an empty
    # message raised IndexError in those that did not check).
    assert first_line(RuntimeError("Binder Error: no such column\n\nLINE 1: SELECT ...")) == (
        "Binder Error: no such column"
    )
    assert first_line(RuntimeError("  ")) == "RuntimeError"
