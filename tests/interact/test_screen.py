from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from patron.errors import NotFoundError
from patron.interact import (
    Touchpoint,
    agent_screen,
    example_question_bank,
    install_question_bank,
    load_question_bank,
    log_touchpoint,
    record_answer,
    set_consent,
)
from patron.store import Store
from tests.store_fixtures import publish_test_profiles

T0 = datetime(2026, 6, 1, 14, 0)
OFFERS = {"MVC": "Retain them.", "BZ": "Cut the cost to serve."}


def test_agent_screen_before_and_after_an_answer(store: Store, tmp_path: Path) -> None:
    publish_test_profiles(
        store,
        tmp_path,
        [
            {
                "customer_id": "C7",
                "clv": 300.0,
                "clv_low": 200.0,
                "clv_high": 420.0,
                "p_alive": 0.9,
                "tier": "MVC",
                "segment": "games / app",
                "loyalty": "regular",
                "email": "kim@example.org",
                "time_zone": "Europe/Paris",
            }
        ],
    )
    install_question_bank(store, load_question_bank(example_question_bank()))
    set_consent(store, "C7", "all", "profiling", "granted", source="app", at=T0)
    log_touchpoint(
        store,
        Touchpoint(
            "C7",
            "email",
            "offer_shown",
            direction="outbound",
            campaign="summer",
            occurred_at=T0 - timedelta(days=2),
        ),
    )
    screen = agent_screen(store, "KIM@example.org", "phone", at=T0, offers=OFFERS)
    data = screen.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON
    assert data["customer_id"] == "C7"
    assert {"kind": "email", "value": "kim@example.org"} in data["identifiers"]
    assert data["value"]["tier"] == "MVC"
    assert data["value"]["text"].startswith(
        "Expected value over the horizon 300.00 (95% interval 200.00 to 420.00). 90% likely"
    )
    assert data["needs"]["segment"] == "games / app"
    assert data["touchpoints"][0]["campaign"] == "summer"
    assert data["consent"] == {"marketing": False, "profiling": True, "service": True}
    assert data["contact"]["rule"] == "consent"  # no marketing consent on the phone
    first = data["next_question"]
    assert first["id"] == "department"
    assert data["offer"] == {"tier": "MVC", "action": "Retain them."}
    assert any(
        line.startswith('Ask one question: "Which of our departments') for line in data["script"]
    )
    assert any("Do not make a marketing offer now" in line for line in data["script"])
    record_answer(store, "C7", "department", "games", channel="phone", at=T0)
    record_answer(store, "C7", "channel", "app", channel="phone", at=T0)
    after = agent_screen(store, "C7", "phone", at=T0 + timedelta(minutes=5)).to_dict()
    assert [f["attribute"] for f in after["facts"]] == ["favourite_department"]
    assert [f["attribute"] for f in after["preferences"]] == ["preferred_channel"]
    assert after["next_question"]["id"] not in {"department", "channel"}
    assert any("preferred channel: app" in line for line in after["script"])
    assert after["offer"]["action"] is None  # no offers given


def test_agent_screen_unknown_customer(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="run `patron publish` first"):
        agent_screen(store, "C1")
    publish_test_profiles(store, tmp_path, [{"customer_id": "C1"}])
    with pytest.raises(NotFoundError, match="'C2'"):
        agent_screen(store, "C2")
    screen = agent_screen(store, "C1").to_dict()
    assert screen["next_question"] is None
    assert screen["no_question_reason"].startswith("no question bank is loaded")


def test_a_new_question_bank_is_seen_at_once(store: Store, tmp_path: Path) -> None:
    publish_test_profiles(store, tmp_path, [{"customer_id": "C1", "clv": 10.0}])
    set_consent(store, "C1", "all", "profiling", "granted", source="app", at=T0)
    bank = load_question_bank(example_question_bank())
    install_question_bank(store, bank)
    first = agent_screen(store, "C1", "store", at=T0).to_dict()["next_question"]
    assert first["id"] == "department"
    smaller = type(bank)(tuple(q for q in bank.questions if q.id == "newspaper"), bank.decisions)
    install_question_bank(store, smaller)
    second = agent_screen(store, "C1", "store", at=T0).to_dict()["next_question"]
    assert second["id"] == "newspaper"
    install_question_bank(store, bank)
    assert agent_screen(store, "C1", "store", at=T0).to_dict()["next_question"]["id"] == (
        "department"
    )
