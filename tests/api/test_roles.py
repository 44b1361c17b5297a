"""Every operation × every role: allowed (a real success, audited when it writes) or refused.

The expectation below is written out by hand from the issue's role descriptions — admin:
keys, contact policy, erase (and everything else); manager: questions (offers, campaigns when
they land), reads everything about customers but not keys, audit or subject exports; agent:
the customer screen, logging, answers, consent on the customer's behalf; integration: log
touch points, find customers and ask for decisions (next question, consent, may-we-contact).
It is deliberately not read from ``patron.api.roles``: the code's table must agree with it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from patron.api import ENDPOINT_ROLES
from patron.customize.nba import next_best_action
from patron.customize.offers import create_offer
from patron.interact import set_consent
from patron.interact.questions import save_question
from patron.store.keys import audit_entries, create_key
from patron.store.schema import campaigns
from tests.api.conftest import ROLES, World

#             admin manager agent integration
EXPECTED_TABLE = """
customers.find            yes yes yes yes
customers.get             yes yes yes yes
customers.screen          yes yes yes no
customers.next_question   yes yes yes yes
customers.facts           yes yes yes no
customers.preferences     yes yes yes no
customers.touchpoints     yes yes yes no
customers.consent         yes yes yes yes
customers.consent_history yes yes yes no
customers.contact         yes yes yes yes
customers.answer          yes no  yes no
customers.decline         yes no  yes no
customers.set_preference  yes no  yes no
customers.set_consent     yes no  yes no
customers.export          yes no  no  no
customers.erase           yes no  no  no
touchpoints.log           yes no  yes yes
touchpoints.log_batch     yes no  yes yes
questions.list            yes yes yes no
questions.get             yes yes yes no
questions.put             yes yes no  no
questions.delete          yes yes no  no
policy.get                yes yes no  no
policy.set                yes no  no  no
keys.list                 yes no  no  no
keys.create               yes no  no  no
keys.revoke               yes no  no  no
audit.list                yes no  no  no
offers.list               yes yes yes no
offers.get                yes yes yes no
offers.create             yes yes no  no
offers.update             yes yes no  no
offers.delete             yes yes no  no
customers.next_best_action yes yes yes yes
decisions.response        yes no  yes yes
quotes.quote              yes no  yes yes
campaigns.list            yes yes no  no
campaigns.get             yes yes no  no
"""
EXPECTED = {
    line.split()[0]: {role for role, ok in zip(ROLES, line.split()[1:], strict=True) if ok == "yes"}
    for line in EXPECTED_TABLE.strip().splitlines()
}

QUESTION = {
    "attribute": "pets",
    "text": "Do you have pets?",
    "answer_type": "boolean",
    "purpose": "So that we show you pet products only if useful.",
    "channels": ["phone", "web"],
    "informs": ["next_offer"],
    "value_if_right": 0.02,
}


OFFER: dict[str, Any] = {
    "id": "roles-offer",
    "name": "Ten percent off",
    "kind": "retention",
    "channels": ["web", "email"],
    "margin": 12.0,
    "response_rate": 0.2,
}


def request_for(op: str, role: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A valid request for ``op`` (unique per role where a write cannot repeat)."""
    c = "/api/v1/customers"
    tp = {"customer_id": "C2", "channel": "web", "kind": "visit"}
    table: dict[str, tuple[str, str, dict[str, Any]]] = {
        "customers.find": ("GET", c, {"params": {"email": "kim@example.org"}}),
        "customers.get": ("GET", f"{c}/C1", {}),
        "customers.screen": ("GET", f"{c}/C1/screen", {}),
        "customers.next_question": ("GET", f"{c}/C1/next-question", {}),
        "customers.facts": ("GET", f"{c}/C1/facts", {}),
        "customers.preferences": ("GET", f"{c}/C1/preferences", {}),
        "customers.touchpoints": ("GET", f"{c}/C1/touchpoints", {}),
        "customers.consent": ("GET", f"{c}/C1/consent", {"params": {"channel": "email"}}),
        "customers.consent_history": ("GET", f"{c}/C1/consent/history", {}),
        "customers.contact": ("GET", f"{c}/C1/contact", {"params": {"channel": "email"}}),
        "customers.answer": (
            "POST",
            f"{c}/C1/answers",
            {"json": {"question_id": "gifts", "answer": "yes", "channel": "phone"}},
        ),
        "customers.decline": (
            "POST",
            f"{c}/C1/declines",
            {"json": {"question_id": "children", "channel": "phone"}},
        ),
        "customers.set_preference": (
            "POST",
            f"{c}/C1/preferences",
            {"json": {"attribute": "preferred_channel", "value": "email", "channel": "phone"}},
        ),
        "customers.set_consent": (
            "POST",
            f"{c}/C2/consent",
            {
                "json": {
                    "channel": "email",
                    "purpose": "marketing",
                    "state": "granted",
                    "source": "call centre",
                    "evidence": "call 4711, read back the wording",
                }
            },
        ),
        "customers.export": ("GET", f"{c}/C1/export", {}),
        "customers.erase": ("POST", f"{c}/C4/erase", {}),
        "touchpoints.log": ("POST", "/api/v1/touchpoints", {"json": tp}),
        "touchpoints.log_batch": (
            "POST",
            "/api/v1/touchpoints/batch",
            {"json": {"items": [tp, {**tp, "channel": "app"}]}},
        ),
        "questions.list": ("GET", "/api/v1/questions", {}),
        "questions.get": ("GET", "/api/v1/questions/department", {}),
        "questions.put": (
            "PUT",
            f"/api/v1/questions/pets_{role}",
            {"json": {**QUESTION, "attribute": f"pets_{role}"}},
        ),
        "questions.delete": ("DELETE", f"/api/v1/questions/drop_{role}", {}),
        "policy.get": ("GET", "/api/v1/contact-policy", {}),
        "policy.set": (
            "PUT",
            "/api/v1/contact-policy",
            {"json": {"rules": [{"name": "weekly", "max_contacts": 3, "window_days": 7}]}},
        ),
        "keys.list": ("GET", "/api/v1/keys", {}),
        "keys.create": ("POST", "/api/v1/keys", {"json": {"name": "new desk", "role": "agent"}}),
        "keys.revoke": ("POST", f"/api/v1/keys/{world.key_ids['spare']}/revoke", {}),
        "audit.list": ("GET", "/api/v1/audit", {}),
        "offers.list": ("GET", "/api/v1/offers", {}),
        "offers.get": ("GET", "/api/v1/offers/roles-offer", {}),
        "offers.create": ("POST", "/api/v1/offers", {"json": {**OFFER, "id": f"new-{role}"}}),
        "offers.update": (
            "PUT",
            "/api/v1/offers/roles-offer",
            {"json": {k: v for k, v in OFFER.items() if k != "id"}},
        ),
        "offers.delete": ("DELETE", f"/api/v1/offers/drop-{role}", {}),
        "customers.next_best_action": (
            "GET",
            f"{c}/C1/next-best-action",
            {"params": {"channel": "web"}},
        ),
        "decisions.response": (
            "POST",
            f"/api/v1/decisions/{world.key_ids[f'decision-{role}']}/response",
            {"json": {"outcome": "accepted"}},
        ),
        "quotes.quote": (
            "POST",
            "/api/v1/quotes",
            {"json": {"customer_id": "C2", "product": f"P-{role}", "channel": "web", "price": 9}},
        ),
        "campaigns.list": ("GET", "/api/v1/campaigns", {}),
        "campaigns.get": ("GET", "/api/v1/campaigns/spring", {}),
    }
    return table[op]


@pytest.fixture(scope="module")
def roles_world(world: World) -> World:
    """The world plus a question to delete per role and a spare key to revoke."""
    secret = world.client.get("/health")  # the app is up
    assert secret.status_code == 200
    for role in ROLES:
        save_question(
            world.store, f"drop_{role}", {**QUESTION, "attribute": f"drop_{role}"}, source="t"
        )
    create_offer(world.store, OFFER, source="test")
    set_consent(world.store, "C1", "all", "marketing", "granted", source="test")
    for role in ROLES:
        create_offer(world.store, {**OFFER, "id": f"drop-{role}"}, source="test")
        decision = next_best_action(world.store, "C1", "web")
        assert decision.id is not None
        assert decision.action is not None
        world.key_ids[f"decision-{role}"] = decision.id
    with world.store.write() as conn:
        conn.execute(
            sa.insert(campaigns).values(
                name="spring",
                definition=json.dumps(
                    {
                        "name": "spring",
                        "offers": ["roles-offer"],
                        "channel": "email",
                        "audience": None,
                        "holdout": 0.1,
                        "start": "2026-03-01",
                        "end": "2026-03-28",
                        "at": "2026-02-28T09:00:00Z",
                    }
                ),
                created_at=datetime(2026, 2, 28, 9),
            )
        )
    app_secret = world_secret(world)
    world.key_ids["spare"] = create_key(
        world.store, app_secret, name="spare", role="agent"
    ).record.id
    return world


def world_secret(world: World) -> bytes:
    """The app's server secret (the store's generated one: no PATRON_API_SECRET in tests)."""
    from patron.store.keys import server_secret

    return server_secret(world.store)


def test_the_expectation_covers_every_operation_of_the_app(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    operations = {
        op["operationId"]
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1")
        for op in methods.values()
    }
    assert operations == set(EXPECTED)
    assert set(ENDPOINT_ROLES) == set(EXPECTED)


CASES = [(op, role) for op in EXPECTED for role in ROLES]


@pytest.mark.parametrize(("op", "role"), CASES, ids=[f"{o}-{r}" for o, r in CASES])
def test_operation_for_role(roles_world: World, op: str, role: str) -> None:
    world = roles_world
    method, path, kwargs = request_for(op, role, world)
    before = world.counts()
    response = world.call(role, method, path, **kwargs)
    if role in EXPECTED[op]:
        assert 200 <= response.status_code < 300, (op, role, response.text)
        if method != "GET":
            latest = audit_entries(world.store, limit=1)[0]
            assert latest.action == op
            assert latest.key_id == world.key_ids[role]
            assert latest.role == role
            # No personal data in the audit: ids only.
            text = f"{latest.target} {latest.detail}"
            assert "@" not in text
            assert "call 4711" not in text
    else:
        assert response.status_code == 403, (op, role, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["type"] == "urn:patron:problem:forbidden"
        assert op in body["detail"]
        assert world.counts() == before  # nothing written, not even an audit entry


def test_revoked_key_is_refused_at_once(world: World) -> None:
    made = world.call("admin", "POST", "/api/v1/keys", json={"name": "temp", "role": "manager"})
    assert made.status_code == 201
    key = made.json()
    assert set(key) >= {"key", "role", "name", "id"}
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert world.client.get("/api/v1/customers/C1", headers=headers).status_code == 200
    revoked = world.call("admin", "POST", f"/api/v1/keys/{key['id']}/revoke")
    assert revoked.json()["state"] == "revoked"
    refused = world.client.get("/api/v1/customers/C1", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    listed = world.call("admin", "GET", "/api/v1/keys", params={"limit": 500}).json()["items"]
    assert all("key" not in k for k in listed)
    assert any(k["id"] == key["id"] and k["state"] == "revoked" for k in listed)
    actions = [e["action"] for e in world.call("admin", "GET", "/api/v1/audit").json()["items"]]
    assert actions[:2] == ["keys.revoke", "keys.create"]


def test_docs_show_the_same_role_table() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    shown = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ENDPOINT_ROLES:
            shown[cells[0]] = {role for role, mark in zip(ROLES, cells[2:], strict=True) if mark}
    assert shown == {op: set(roles) for op, roles in ENDPOINT_ROLES.items()}
