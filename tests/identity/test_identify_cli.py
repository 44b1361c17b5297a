from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from patron.cli import main
from tests.identity.conftest import write_csv, write_identities


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_identify_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    path = write_csv(
        tmp_path / "ids.csv",
        """
        source,record_id,customer_id,email,phone
        pos,1,C1,ann@x.org,
        web,1,C2,ann@x.org,07700 900123
        web,2,C3,,07700 900123
        pos,2,C4,bob@x.org,
        crm,7,C6,robert@y.org,n/a
        crm,8,C7,not-an-email,
        """,
    )
    assert run(capsys, "load", "identities", str(path), "-w", url)[0] == 0
    code, text, _ = run(capsys, "identify", "run", "--deterministic-only", "-w", url)
    assert code == 0
    assert "Resolved (run 1): 6 identity records are 4 customers." in text
    assert "1 invalid email value(s) not used to link: crm:8 ('not-an-email')" in text
    assert "1 placeholder phone value(s) ignored." in text
    code, text, _ = run(capsys, "identify", "run", "--deterministic-only", "--json", "-w", url)
    report = json.loads(text)
    assert (report["run"], report["customers"], report["changed_records"]) == (2, 4, 0)
    assert report["records_by_rule"] == {"email": 2, "phone": 1, "single": 3}

    code, text, _ = run(capsys, "identify", "explain", "pos:1", "web:2", "-w", url)
    assert code == 0
    assert "are the same customer" in text
    assert "No probabilistic model yet" in text

    out_file = tmp_path / "map.csv"
    assert run(capsys, "export", "identity_map", "--out", str(out_file), "-w", url)[0] == 0
    exported = pacsv.read_csv(out_file).to_pylist()
    ids = {(r["source"], str(r["record_id"])): r["customer_id"] for r in exported}
    assert len(ids) == 6

    code, text, _ = run(
        capsys,
        "identify",
        "merge",
        ids[("pos", "2")],
        "crm:7",
        "--reason",
        "same person",
        "--json",
        "-w",
        url,
    )
    assert code == 0
    merge = json.loads(text)
    assert (merge["kind"], merge["customers"], merge["note"]) == ("merge", 3, "same person")
    code, text, _ = run(capsys, "identify", "history", ids[("pos", "2")], "--json", "-w", url)
    events = json.loads(text)["events"]
    assert [(e["kind"], e["gained"], e["lost"]) for e in events] == [
        ("auto", 1, 0),
        ("merge", 0, 1),
    ]
    code, text, _ = run(capsys, "status", "--json", "-w", url)
    assert json.loads(text)["identity"] == {
        "records": 6,
        "customers": 3,
        "records_by_rule": {"email": 2, "manual": 2, "phone": 1, "single": 1},
    }
    code, text, _ = run(capsys, "identify", "undo", str(merge["run"]), "-w", url)
    assert code == 0
    assert "Undid (run 4): 6 identity records are 4 customers." in text
    code, text, _ = run(capsys, "status", "-w", url)
    assert "Identity: 6 records resolved to 4 customers" in text


def test_identify_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    code, _, message = run(capsys, "identify", "run", "-w", url)
    assert code == 69
    assert "has no table 'identities'" in message
    code, _, message = run(capsys, "identify", "run", "--threshold", "2", "-w", url)
    assert code == 2
    assert "--threshold 2.0 must be a match probability between 0 and 1" in message
    code, _, message = run(capsys, "identify", "undo", "3", "-w", url)
    assert code == 2
    assert "No identity map yet; run `patron identify run` first." in message
    code, _, message = run(capsys, "identify", "merge", "a", "b", "-w", url)
    assert code == 2  # --reason is required (Typer's usage error)


def test_run_without_names_links_by_identifiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    path = write_csv(
        tmp_path / "ids.csv",
        """
        source,record_id,email,phone
        pos,1,ann@x.org,
        web,1,ann@x.org,07700 900123
        web,2,,07700 900123
        pos,2,bob@x.org,
        """,
    )
    assert run(capsys, "load", "identities", str(path), "-w", url)[0] == 0
    code, text, err = run(capsys, "identify", "run", "-w", url)
    assert code == 0, err
    assert "4 identity records are 2 customers" in text
    assert "no probabilistic model could be trained; linked by identifiers only." in text


def test_explain_prints_weights_per_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb://{tmp_path / 'w.duckdb'}"
    path = write_identities("febrl1", tmp_path / "febrl1.parquet")
    assert run(capsys, "load", "identities", str(path), "-w", url)[0] == 0
    assert run(capsys, "identify", "run", "-w", url)[0] == 0
    code, text, _ = run(capsys, "identify", "explain", "rec-10-org", "rec-10-dup-0", "-w", url)
    assert code == 0
    assert "febrl:rec-10-org" in text
    assert "are the same customer" in text
    assert "linked by it in the latest matching run" in text
    assert "Exact match on" in text  # the table wraps long cells
    assert "(prior)" in text
    code, text, _ = run(
        capsys, "identify", "explain", "rec-10-org", "rec-11-org", "--json", "-w", url
    )
    result = json.loads(text)
    assert result["same_customer"] is False
    assert result["probabilistic"]["match_probability"] < 0.01
    levels = {f: w["level"] for f, w in result["probabilistic"]["weights"].items()}
    assert levels["state"] in {"Exact match on state", "All other comparisons", "state is NULL"}
