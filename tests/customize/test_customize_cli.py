"""The Customize commands through the real entry point: offers, nba, nba batch, agent."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pyarrow.csv as pacsv
import pytest

from patron.cli import main
from patron.data.warehouse import connect

OFFERS = """
- {id: home-x, name: Home bundle, kind: cross-sell, category: home, channels: [email, phone],
   contact_cost: {email: 0.1, phone: 3}, margin: 12, price: 40, response_rate: 0.05,
   eligibility: "tier in ('MVC', 'MGC')"}
- {id: books-x, name: Books, kind: cross-sell, category: books, channels: [email],
   margin: 5, price: 15, response_rate: 0.02}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, Path]:
    wh_url = f"duckdb://{tmp_path / 'wh.duckdb'}"
    wh = connect(wh_url)
    wh.create_table(
        "customer_value",
        ibis.memtable(
            {
                "customer_id": ["C1", "C2", "C3"],
                "clv": [250.0, 12.0, 80.0],
                "p_alive": [0.92, 0.4, 0.8],
                "tier": ["MVC", "other", "MGC"],
                "segment": ["home", "books", "home"],
            }
        ),
    )
    wh.create_table("customers", ibis.memtable({"customer_id": ["C1", "C2", "C3"]}))
    wh.close()
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    offers = tmp_path / "offers.yaml"
    offers.write_text(OFFERS, encoding="utf-8")
    assert main(["store", "upgrade", "--store", store]) == 0
    assert main(["publish", "--warehouse", wh_url, "--store", store]) == 0
    return wh_url, store, offers


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_offers_nba_agent_batch(
    setup: tuple[str, str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wh_url, store, offers = setup
    # the agent screen before any offer: the tier's action
    screen = _json(capsys, ["agent", "C1", "--store", store, "--json"])
    assert screen["offer"]["action"].startswith("Retain")
    assert main(["offers", "load", str(offers), "--store", store]) == 0
    assert "2 offer(s) loaded" in capsys.readouterr().out
    listed = _json(capsys, ["offers", "list", "--store", store, "--json"])
    assert [o["id"] for o in listed["offers"]] == ["books-x", "home-x"]
    # no consent to e-mail marketing yet: no action, and why
    d = _json(capsys, ["nba", "C1", "--channel", "email", "--store", store, "--json"])
    assert d["no_action"] is True
    assert {c["step"] for c in d["candidates"]} == {"consent"}
    argv = ["interact", "consent", "C1", "granted", "--channel", "all", "--purpose", "marketing"]
    assert main([*argv, "--source", "web form", "--store", store]) == 0
    d = _json(capsys, ["nba", "C1", "--channel", "email", "--store", store, "--json"])
    assert d["action"]["offer_id"] == "home-x"
    assert d["id"] is not None
    capsys.readouterr()
    assert main(["nba", "C1", "--store", store]) == 0
    assert "Offer home-x: Home bundle at 40.00" in capsys.readouterr().out
    screen = _json(capsys, ["agent", "C1", "--channel", "phone", "--store", store, "--json"])
    assert screen["next_best_action"]["customer_id"] == "C1"
    assert screen["offer"]["action"] is None or "Home bundle" in screen["offer"]["action"]
    # batch: consents as last exported (none yet: nobody), then after the export
    out = tmp_path / "actions.csv"
    base = ["nba", "batch", "--store", store, "--warehouse", wh_url, "--json"]
    r = _json(capsys, base)
    assert r["customers_with_action"] == 0
    assert main(["interact", "export", "--store", store, "--warehouse", wh_url]) == 0
    r = _json(capsys, [*base, "--out", str(out)])
    assert r["customers_with_action"] == 1
    rows = pacsv.read_csv(out).to_pylist()
    assert rows[0]["customer_id"] == "C1"
    assert rows[0]["offer_id"] == "home-x"
    r = _json(capsys, [*base, "--audience", "tier == 'other'"])
    assert r["customers_with_action"] == 0


def test_bad_offers_file_exit_code(
    setup: tuple[str, str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, store, _ = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: x, name: X, kind: cross-sell, margin: 1, eligibility: 'clv >> 2'}\n")
    capsys.readouterr()
    assert main(["offers", "load", str(bad), "--store", store]) == 65
    err = capsys.readouterr().err
    assert "offer 'x' eligibility" in err
    assert "column" in err
    assert main(["offers", "show", "nope", "--store", store]) == 66


def test_campaign_commands(
    setup: tuple[str, str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wh_url, store, offers = setup
    assert main(["offers", "load", str(offers), "--store", store]) == 0
    argv = ["interact", "consent", "C1", "granted", "--channel", "email", "--purpose", "marketing"]
    assert main([*argv, "--source", "web form", "--store", store]) == 0
    assert main(["interact", "export", "--store", store, "--warehouse", wh_url]) == 0
    both = ["--store", store, "--warehouse", wh_url]
    made = _json(
        capsys,
        ["campaign", "create", "spring", "--offers", "home-x", "--holdout", "0.5",
         "--at", "2026-03-02T09:00", *both, "--json"],
    )  # fmt: skip
    assert made["offers"] == ["home-x"]
    assert sum(made["counts"].values()) == 3  # everyone is in the experiment
    assert sum(made["actions"].values()) == 1  # C1 only: C3 (MGC) gave no e-mail consent
    out = tmp_path / "contacts.csv"
    capsys.readouterr()
    assert main(["campaign", "export", "spring", "--out", str(out), *both]) == 0
    text = capsys.readouterr().out
    assert "logged as touch points" in text
    rows = pacsv.read_csv(out).to_pylist() if out.stat().st_size > 60 else []
    assert all(r["customer_id"] == "C1" for r in rows)  # C3 gave no consent
    assert main(["campaign", "export", "spring", "--out", str(out), *both]) == 2
    assert "was exported" in capsys.readouterr().err
    assert main(["campaign", "analyze", "nope", "--warehouse", wh_url]) != 0
    assert main(["campaign", "create", "bad name!", *both]) == 2
