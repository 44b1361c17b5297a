from __future__ import annotations

import json
from pathlib import Path

import ibis
import pytest

from patron.cli import main
from patron.data.warehouse import connect


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str]:
    """A warehouse with hand-made customer values, and the URL of a store not yet created."""
    wh_url = f"duckdb://{tmp_path / 'wh.duckdb'}"
    wh = connect(wh_url)
    wh.create_table(
        "customer_value",
        ibis.memtable(
            {
                "customer_id": ["C1", "C2"],
                "clv": [250.0, 12.0],
                "clv_low": [180.0, 2.0],
                "clv_high": [330.0, 25.0],
                "p_alive": [0.92, 0.4],
                "tier": ["MVC", "other"],
                "loyalty": ["regular", "lapsed"],
                "segment": ["home / store", "books / web"],
            }
        ),
    )
    wh.create_table(
        "customers",
        ibis.memtable(
            {
                "customer_id": ["C1", "C2"],
                "email": ["Ann@Example.com", None],
                "phone": [None, "+1 415 555 2671"],
            }
        ),
    )
    wh.close()
    return wh_url, f"sqlite:///{tmp_path / 'store.sqlite'}"


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> object:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_publish_agent_answer_next_screen(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    wh_url, store = setup
    assert main(["publish", "--warehouse", wh_url, "--store", store]) == 69  # not created yet
    assert "patron store upgrade" in capsys.readouterr().err
    assert main(["store", "upgrade", "--store", store]) == 0
    published = _json(capsys, ["publish", "--warehouse", wh_url, "--store", store, "--json"])
    assert published["customers"] == 2  # type: ignore[index]
    assert main(["interact", "questions", "--store", store]) == 0
    assert "7 questions loaded" in capsys.readouterr().out
    # No profiling consent yet: no question, and the screen says why.
    screen = _json(capsys, ["agent", "ann@example.com", "--store", store, "--json"])
    assert isinstance(screen, dict)
    assert screen["customer_id"] == "C1"
    assert screen["next_question"] is None
    assert screen["no_question_reason"].startswith("no consent to profiling on phone")
    assert screen["value"]["clv"] == 250.0
    assert screen["offer"]["action"].startswith("Retain")
    argv = ["interact", "consent", "C1", "granted", "--channel", "all", "--purpose", "profiling"]
    assert main([*argv, "--source", "call", "--store", store]) == 0
    screen = _json(capsys, ["agent", "C1", "--channel", "phone", "--store", store, "--json"])
    assert isinstance(screen, dict)
    question = screen["next_question"]
    assert set(question) >= {"id", "attribute", "text", "purpose", "reason"}
    assert question["id"] == "department"
    answer = _json(
        capsys,
        ["interact", "answer", "C1", "department", "home", "--store", store, "--json"],
    )
    assert answer["attribute"] == "favourite_department"  # type: ignore[index]
    after = _json(capsys, ["agent", "C1", "--store", store, "--json"])
    assert isinstance(after, dict)
    assert [f["attribute"] for f in after["facts"]] == ["favourite_department"]
    assert after["next_question"]["id"] != "department"
    assert after["touchpoints"][0]["kind"] == "answer"
    # The text screen.
    assert main(["agent", "C1", "--store", store]) == 0
    text = capsys.readouterr().out
    assert "Value: Expected value over the horizon 250.00 (95% interval 180.00 to 330.00)" in text
    assert "Ask (" in text
    assert "favourite_department: 'home'" in text
    status = _json(capsys, ["store", "status", "--store", store, "--json"])
    assert status["counts"]["facts"] == 1  # type: ignore[index]


def test_cli_errors_map_to_exit_codes(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    wh_url, store = setup
    assert main(["store", "upgrade", "--store", store]) == 0
    assert main(["agent", "C1", "--store", store]) == 66
    assert "run `patron publish` first" in capsys.readouterr().err
    assert main(["publish", "--warehouse", wh_url, "--store", store]) == 0
    assert main(["interact", "questions", "--store", store]) == 0
    assert main(["agent", "nobody@example.com", "--store", store]) == 66
    assert "No published customer has the id or identifier" in capsys.readouterr().err
    argv = ["interact", "consent", "C1", "granted", "--channel", "all", "--purpose", "profiling"]
    assert main([*argv, "--source", "call", "--store", store]) == 0
    assert main(["interact", "answer", "C1", "department", "garden", "--store", store]) == 65
    assert "is not one of its choices" in capsys.readouterr().err
    assert main(["interact", "answer", "C1", "colour", "red", "--store", store]) == 66
    bad = ["interact", "consent", "C1", "granted", "--channel", "fax", "--purpose", "marketing"]
    assert main([*bad, "--source", "x", "--store", store]) == 2
    assert "Unknown channel 'fax'" in capsys.readouterr().err
    assert (
        main(["interact", "log", "C1", "--channel", "web", "--kind", "visit", "--store", store])
        == 0
    )
    assert main(["interact", "can-contact", "C1", "--channel", "email", "--store", store]) == 0
    assert capsys.readouterr().out.startswith("Touch point")
    assert main(["agent", "+14155552671", "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["customer_id"] == "C2"


def test_subject_export_and_erase(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wh_url, store = setup
    assert main(["store", "upgrade", "--store", store]) == 0
    assert main(["publish", "--warehouse", wh_url, "--store", store]) == 0
    target = tmp_path / "c1.json"
    assert main(["interact", "subject-export", "C1", "--out", str(target), "--store", store]) == 0
    exported = json.loads(target.read_text())
    assert "ann@example.com" in {i["value"] for i in exported["identifiers"]}
    assert main(["interact", "erase", "C1", "--store", store]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["interact", "erase", "C1", "--yes", "--store", store]) == 0
    assert main(["interact", "subject-export", "C1", "--store", store]) == 66


def test_contact_policy_file(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, store = setup
    assert main(["store", "upgrade", "--store", store]) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "default_time_zone: Europe/Berlin\n"
        "consent_defaults:\n  marketing: {email: true}\n"
        "rules:\n"
        "  - {name: one email a week, channel: email, max_contacts: 1, window_days: 7}\n"
    )
    assert main(["interact", "policy", str(policy), "--store", store]) == 0
    shown = _json(capsys, ["interact", "policy", "--store", store])
    assert shown["default_time_zone"] == "Europe/Berlin"  # type: ignore[index]
    assert [r["name"] for r in shown["rules"]] == ["one email a week"]  # type: ignore[index]
    log = ["interact", "log", "C1", "--channel", "email", "--kind", "offer_shown"]
    assert main([*log, "--direction", "outbound", "--store", store]) == 0
    decision = _json(
        capsys, ["interact", "can-contact", "C1", "--channel", "email", "--store", store, "--json"]
    )
    assert decision["rule"] == "one email a week"  # type: ignore[index]
    policy.write_text("rules:\n  - {name: bad, max_contacts: three}\n")
    assert main(["interact", "policy", str(policy), "--store", store]) == 65
    assert "max_contacts must be a whole number, not 'three'" in capsys.readouterr().err
    shown = _json(capsys, ["interact", "policy", "--store", store])
    assert [r["name"] for r in shown["rules"]] == ["one email a week"]  # type: ignore[index]


def test_patron_load_touchpoints_goes_into_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    assert main(["store", "upgrade", "--store", store]) == 0
    path = tmp_path / "tp.csv"
    lines = ["customer_id,channel,kind,direction,occurred_at,campaign,idempotency_key"]
    lines += [f"C{i},email,offer_shown,outbound,2026-02-01T10:00:00,spring," for i in range(5)]
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["load", "touchpoints", str(path), "--store", store]) == 0
    assert "5 touch points read, 5 new" in capsys.readouterr().out
    assert main(["load", "touchpoints", str(path), "--store", store, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["rows"], again["stored"]) == (5, 0)
