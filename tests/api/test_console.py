"""The console through the app: sign-in, roles, CSRF, the agent's actions, managers' pages.

The browser tests (real headless Chromium) are in ``test_console_browser.py``.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.api import create_app
from patron.interact import (
    contact_policy,
)
from patron.store import Store
from patron.store.keys import create_key, revoke_key, server_secret
from patron.store.overview import read_overview, write_overview
from patron.store.schema import audit, facts, questions, touchpoints
from tests.api.client import AppClient, app_client
from tests.api.console_fixtures import shop, store, store_url

__all__ = ["shop", "store", "store_url"]

ROLES = ("admin", "manager", "agent", "integration")


@pytest.fixture
def keys(shop: Store) -> dict[str, str]:
    secret = server_secret(shop)
    return {role: create_key(shop, secret, name=f"{role} one", role=role).key for role in ROLES}


@pytest.fixture
def client(shop: Store) -> Iterator[AppClient]:
    with app_client(create_app(store=shop)) as c:
        yield c


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _sign_in(client: AppClient, key: str) -> str:
    """Sign in; the CSRF token of the session."""
    token = _csrf(client.get("/console/login").text)
    r = client.post("/console/login", data={"key": key, "csrf": token})
    assert r.status_code == 303, r.text
    assert "problem=" not in r.headers["location"], r.headers["location"]
    return _csrf(client.get(r.headers["location"], follow_redirects=True).text)


def _count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_pages_need_a_signed_in_key(client: AppClient) -> None:
    for path in ("/console/", "/console/customers", "/console/customers/C1", "/console/policy"):
        r = client.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/login")


def test_sign_in_refuses_unknown_integration_and_forged_attempts(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    token = _csrf(client.get("/console/login").text)
    r = client.post("/console/login", data={"key": "not-a-key", "csrf": token})
    assert "problem=" in r.headers["location"]
    r = client.post("/console/login", data={"key": keys["integration"], "csrf": token})
    assert "Integration" in client.get(r.headers["location"]).text
    # a sign-in form posted from elsewhere (no token from this session)
    with app_client(create_app(store=shop)) as other:
        r = other.post("/console/login", data={"key": keys["agent"], "csrf": "forged"})
        assert "problem=" in r.headers["location"]
        assert other.get("/console/customers").status_code == 303  # still signed out


def test_the_agent_finds_a_customer_by_phone_and_records_an_answer_and_a_call(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    csrf = _sign_in(client, keys["agent"])
    r = client.get("/console/customers", params={"q": "+44 7911 123456"})
    assert r.status_code == 303
    assert r.headers["location"] == "/console/customers/C1"
    page = client.get("/console/customers/C1").text
    assert "What to ask" in page
    assert "What to offer" in page
    question = re.search(r'name="question_id" value="([^"]+)"', page)
    assert question is not None
    choice = re.search(r'name="answer" value="([^"]+)"', page)
    assert choice is not None
    before = _count(shop, facts)
    r = client.post(
        "/console/customers/C1/answer",
        data={
            "csrf": csrf,
            "channel": "phone",
            "question_id": question.group(1),
            "answer": choice.group(1),
        },
    )
    assert r.status_code == 303
    assert "flash=" in r.headers["location"]
    assert _count(shop, facts) == before + 1
    r = client.post(
        "/console/customers/C1/call",
        data={"csrf": csrf, "channel": "phone", "kind": "complaint", "note": "late parcel"},
    )
    assert "flash=" in r.headers["location"]
    page = client.get("/console/customers/C1").text
    assert "late parcel" in page
    assert "complaint" in page
    assert choice.group(1) in page  # what we know now
    with shop.read() as conn:
        actions = [a for (a,) in conn.execute(sa.select(audit.c.action))]
    assert "console.answer" in actions
    assert "console.call" in actions


def test_a_form_without_the_session_csrf_token_changes_nothing(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    _sign_in(client, keys["agent"])
    before = _count(shop, touchpoints)
    r = client.post(
        "/console/customers/C1/call", data={"csrf": "forged", "channel": "phone", "note": "x"}
    )
    assert r.status_code == 403
    r = client.post("/console/customers/C1/call", data={"channel": "phone"})
    assert r.status_code == 403
    assert _count(shop, touchpoints) == before


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("agent", "/console/", 403),
        ("agent", "/console/questions", 403),
        ("agent", "/console/policy", 403),
        ("agent", "/console/customers/C1", 200),
        ("manager", "/console/", 200),
        ("manager", "/console/customers/C1", 200),
        ("manager", "/console/questions", 200),
        ("manager", "/console/policy", 200),
        ("admin", "/console/", 200),
        ("admin", "/console/policy", 200),
        ("agent", "/console/offers", 403),
        ("agent", "/console/campaigns", 403),
        ("manager", "/console/offers", 200),
        ("manager", "/console/campaigns", 200),
    ],
)
def test_pages_by_role(
    client: AppClient, keys: dict[str, str], role: str, path: str, status: int
) -> None:
    _sign_in(client, keys[role])
    assert client.get(path).status_code == status


def test_a_manager_may_not_record_for_a_customer_nor_change_the_policy(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    csrf = _sign_in(client, keys["manager"])
    page = client.get("/console/customers/C1").text
    assert "Record the answer" not in page
    assert "Log this call" not in page
    before = _count(shop, touchpoints)
    r = client.post("/console/customers/C1/call", data={"csrf": csrf, "channel": "phone"})
    assert r.status_code == 403
    assert _count(shop, touchpoints) == before
    policy_before = contact_policy(shop).to_json()
    r = client.post("/console/policy", data={"csrf": csrf, "policy": "rules: []"})
    assert r.status_code == 403
    assert contact_policy(shop).to_json() == policy_before


def test_a_revoked_key_is_signed_out_at_once(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    _sign_in(client, keys["agent"])
    assert client.get("/console/customers/C1").status_code == 200
    with shop.read() as conn:
        from patron.store.schema import api_keys

        key_id = conn.execute(
            sa.select(api_keys.c.id).where(api_keys.c.role == "agent")
        ).scalar_one()
    revoke_key(shop, int(key_id))
    r = client.get("/console/customers/C1")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?why=revoked"


def test_the_admin_edits_the_policy_and_bad_yaml_changes_nothing(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    csrf = _sign_in(client, keys["admin"])
    before = contact_policy(shop).to_json()
    r = client.post("/console/policy", data={"csrf": csrf, "policy": "rules: [unclosed"})
    assert "problem=" in r.headers["location"]
    r = client.post(
        "/console/policy", data={"csrf": csrf, "policy": "rules:\n  - {name: x, colour: red}\n"}
    )
    assert "colour" in client.get(r.headers["location"]).text
    assert contact_policy(shop).to_json() == before
    text = (
        "rules:\n  - {name: weekly, max_contacts: 2, window_days: 7}\n"
        "default_time_zone: Europe/Paris\n"
    )
    r = client.post("/console/policy", data={"csrf": csrf, "policy": text})
    assert "flash=" in r.headers["location"]
    policy = contact_policy(shop)
    assert [r.name for r in policy.rules] == ["weekly"]
    assert policy.default_time_zone == "Europe/Paris"


def test_a_manager_saves_the_question_bank_only_when_it_is_valid(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    csrf = _sign_in(client, keys["manager"])
    page = client.get("/console/questions").text
    text = re.search(r'<textarea id="bank" name="bank"[^>]*>(.*?)</textarea>', page, re.S)
    assert text is not None
    before = _count(shop, questions)
    r = client.post("/console/questions", data={"csrf": csrf, "bank": "questions:\n  - {id: q1}\n"})
    assert "problem=" in r.headers["location"]
    assert _count(shop, questions) == before
    import html

    r = client.post("/console/questions", data={"csrf": csrf, "bank": html.unescape(text[1])})
    assert "flash=" in r.headers["location"], r.headers["location"]
    assert _count(shop, questions) == before


def test_the_overview_shows_what_the_last_publish_stored(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    _sign_in(client, keys["manager"])
    assert "Nothing published yet" in client.get("/console/").text
    write_overview(shop, {"missing": "customer_value has no tiers; run `patron tiers` first."})
    assert "had no customer values to show" in client.get("/console/").text
    write_overview(
        shop,
        {
            "as_of": "2026-11-30",
            "customers": 2,
            "equity": 432.0,
            "equity_text": "432",
            "equity_interval_text": "310 to 570",
            "interval_meaning": "95% interval for the parameter uncertainty only",
            "model": "bgnbd",
            "horizon_months": 12,
            "basis": "margin 30%",
            "grade": {"grade": "rough", "reason": "it predicted 12% more purchases"},
            "grade_meaning": "use the ranking",
            "notes": [],
            "bz_identified": True,
            "sections": [
                {
                    "title": "Value tiers",
                    "finding": "One customer holds most of the equity.",
                    "action": "Retain them.",
                    "chart": "",
                    "header": ["tier", "customers"],
                    "table": [["MVC", "1"], ["MGC", "1"]],
                }
            ],
        },
    )
    with shop.read() as conn:
        assert read_overview(conn) is not None
    page = client.get("/console/").text
    assert "432" in page
    assert "310 to 570" in page
    assert "rough" in page
    assert "One customer holds most of the equity." in page


def test_the_demo_serves_the_console_with_fresh_keys(tmp_path: Path) -> None:
    """``patron demo --serve``'s last step, on a published SQLite store: its keys work."""
    import subprocess
    import sys

    import httpx

    from patron.store import open_store, upgrade_store
    from tests.store_fixtures import publish_test_profiles

    url = f"sqlite:///{tmp_path / 'demo.store.sqlite'}"
    upgrade_store(url)
    with open_store(url) as shop:
        publish_test_profiles(shop, tmp_path, [{"customer_id": "C1", "tier": "MVC"}])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    code = f"from patron.cli._demo_run import serve_demo; serve_demo({url!r}, {port})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        keys: dict[str, str] = {}
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2 and parts[0] in ("manager", "agent"):
                keys[parts[0]] = parts[1]
            if "Ctrl+C" in line or time.monotonic() > deadline:
                break
        assert set(keys) == {"manager", "agent"}
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as web:
            for _ in range(100):
                try:
                    page = web.get("/console/login")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = web.post("/console/login", data={"key": keys["manager"], "csrf": token})
            assert r.status_code == 303
            assert r.headers["location"] == "/console/"
            assert web.get("/console/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_offers_from_the_console_and_the_agents_response(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    from patron.interact import set_consent
    from patron.store.schema import decisions, offers

    set_consent(shop, "C1", "all", "marketing", "granted", source="test")
    csrf = _sign_in(client, keys["manager"])
    r = client.post("/console/offers", data={"csrf": csrf, "offer": "id: x\nkind: [unclosed"})
    assert "problem=" in r.headers["location"]
    r = client.post(
        "/console/offers",
        data={"csrf": csrf, "offer": "id: x\nname: X\nkind: loyalty\neligibility: 'tier =='\n"},
    )
    assert "problem=" in r.headers["location"]
    assert _count(shop, offers) == 0
    text = (
        "id: club\nname: The club\nkind: loyalty\nchannels: [phone]\nmargin: 20\n"
        "response_rate: 0.3\neligibility: tier == 'MVC'\n"
    )
    r = client.post("/console/offers", data={"csrf": csrf, "offer": text})
    assert "created" in r.headers["location"]
    r = client.post("/console/offers", data={"csrf": csrf, "offer": text + "price: 15\n"})
    assert "updated" in r.headers["location"]
    assert _count(shop, offers) == 1
    # the agent sees it, offers it, and records the acceptance against the decision
    client.post("/console/logout", data={"csrf": csrf})
    csrf = _sign_in(client, keys["agent"])
    page = client.get("/console/customers/C1").text
    assert "The club" in page
    found = re.search(r'name="decision_id" value="(\d+)"', page)
    assert found is not None
    before = _count(shop, touchpoints)
    r = client.post(
        "/console/customers/C1/offer_accepted",
        data={"csrf": csrf, "channel": "phone", "decision_id": found.group(1)},
    )
    assert "flash=Offer+accepted" in r.headers["location"]
    assert _count(shop, touchpoints) == before + 1
    with shop.read() as conn:
        status = conn.execute(
            sa.select(decisions.c.status).where(decisions.c.id == int(found.group(1)))
        ).scalar_one()
    assert status == "sent"


def test_the_campaigns_page_shows_the_measured_lift(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    import json
    from datetime import datetime

    from patron.store.schema import campaigns

    definition = {
        "name": "spring",
        "offers": ["club"],
        "channel": "email",
        "audience": None,
        "holdout": 0.1,
        "start": "2026-03-01",
        "end": "2026-03-28",
        "at": "2026-02-28T09:00:00Z",
        "counts": {"treated": 900, "holdout": 100},
        "actions": {"treated": 640, "holdout": 70},
    }
    with shop.write() as conn:
        conn.execute(
            sa.insert(campaigns).values(
                name="spring", definition=json.dumps(definition), created_at=datetime(2026, 2, 28)
            )
        )
    _sign_in(client, keys["manager"])
    page = client.get("/console/campaigns").text
    assert "spring" in page
    assert "not analysed yet" in page
    definition["lift"] = {
        "analyzed_at": "2026-04-30T10:00:00Z",
        "window": {"start": "2026-03-01", "end": "2026-03-28"},
        "results": [{"metric": "margin", "summary": "treated vs holdout on margin: +1.2"}],
        "by_offer": {"club": ["club vs holdout on margin: +1.5"]},
        "sample_ratio": {"alarm": False},
        "notes": [],
    }
    with shop.write() as conn:
        conn.execute(
            sa.update(campaigns)
            .where(campaigns.c.name == "spring")
            .values(definition=json.dumps(definition))
        )
    page = client.get("/console/campaigns").text
    assert "treated vs holdout on margin: +1.2" in page
    assert "club vs holdout on margin: +1.5" in page


def test_the_screen_shows_the_relationship_level_and_its_actions(
    client: AppClient, keys: dict[str, str], shop: Store
) -> None:
    from patron.store.schema import profiles

    with shop.write() as conn:
        conn.execute(
            sa.update(profiles)
            .where(profiles.c.customer_id == "C1")
            .values(
                relationship="basic",
                relationship_recommended="accountable",
                relationship_actions="Invite contact after a sale.\nCall after each purchase.",
            )
        )
    _sign_in(client, keys["agent"])
    page = client.get("/console/customers/C1").text
    assert "the margin calls for accountable" in page
    assert "<li>Call after each purchase.</li>" in page
