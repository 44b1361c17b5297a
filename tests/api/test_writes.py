"""Writes through the API: what they store, idempotency, bad input refused (nothing written)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.api import ApiSettings, create_app
from patron.api.problems import StrictJSONResponse
from patron.store.keys import audit_entries, create_key, server_secret
from tests.api.client import app_client
from tests.api.conftest import World, build_world
from tests.api.test_service import assert_problem

TP = {"customer_id": "C2", "channel": "web", "kind": "visit"}


def test_touchpoint_idempotency_key_stores_once(world: World) -> None:
    body = {**TP, "idempotency_key": "shop-order-881"}
    before = world.count("touchpoints")
    first = world.call("integration", "POST", "/api/v1/touchpoints", json=body)
    again = world.call("integration", "POST", "/api/v1/touchpoints", json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert world.count("touchpoints") == before + 1
    batch = {"items": [{**TP, "idempotency_key": "b-1"}, {**TP, "idempotency_key": "b-1"}, TP]}
    logged = world.call("integration", "POST", "/api/v1/touchpoints/batch", json=batch).json()
    assert logged["count"] == 3
    assert logged["ids"][0] == logged["ids"][1]
    assert world.count("touchpoints") == before + 3
    listed = world.call("agent", "GET", "/api/v1/customers/C2/touchpoints", params={"limit": 2})
    page = listed.json()
    assert len(page["items"]) == 2
    assert page["next_offset"] == 2
    assert page["items"][0]["customer_id"] == "C2"


def test_answer_consent_and_preference_are_stored_and_seen_on_the_screen(world: World) -> None:
    answer = world.call(
        "agent",
        "POST",
        "/api/v1/customers/C1/answers",
        json={"question_id": "department", "answer": "Games", "channel": "phone", "agent": "a7"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["value"] == "games"
    pref = world.call(
        "agent",
        "POST",
        "/api/v1/customers/C1/preferences",
        json={"attribute": "preferred_channel", "value": "sms", "channel": "phone"},
    )
    assert pref.status_code == 201, pref.text
    not_pref = world.call(
        "agent",
        "POST",
        "/api/v1/customers/C1/preferences",
        json={"attribute": "buys_gifts", "value": True, "channel": "phone"},
    )
    assert_problem(not_pref, 422, "not a preference")
    consent = world.call(
        "agent",
        "POST",
        "/api/v1/customers/C1/consent",
        json={
            "channel": "email",
            "purpose": "marketing",
            "state": "granted",
            "source": "call centre",
            "evidence": "call 99",
        },
    )
    assert consent.status_code == 201
    screen = world.call("agent", "GET", "/api/v1/customers/C1/screen").json()
    assert [f["attribute"] for f in screen["facts"]] == ["favourite_department"]
    assert [p["value"] for p in screen["preferences"]] == ["sms"]
    assert screen["next_question"]["id"] != "department"
    prefs = world.call("manager", "GET", "/api/v1/customers/C1/preferences").json()
    assert [p["attribute"] for p in prefs] == ["preferred_channel"]
    now = world.call("agent", "GET", "/api/v1/customers/C1/consent", params={"channel": "email"})
    assert now.json()["purposes"]["marketing"]["allowed"] is True
    history = world.call("agent", "GET", "/api/v1/customers/C1/consent/history").json()
    assert [r["purpose"] for r in history["items"]] == ["profiling", "marketing"]
    assert history["items"][1]["evidence"] == "call 99"
    decline = world.call(
        "agent",
        "POST",
        "/api/v1/customers/C1/declines",
        json={"question_id": "gifts", "channel": "phone"},
    )
    assert decline.status_code == 201
    assert world.call("agent", "GET", "/api/v1/customers/C1/screen").json()["next_question"][
        "id"
    ] not in {"department", "gifts"}


def test_consent_needs_evidence(world: World) -> None:
    before = world.counts()
    body = {"channel": "email", "purpose": "marketing", "state": "granted", "source": "web"}
    response = world.call("agent", "POST", "/api/v1/customers/C2/consent", json=body)
    problem = assert_problem(response, 422, "evidence")
    assert problem["errors"][0]["location"] == "body.evidence"
    assert world.counts() == before


BAD_WRITES = [
    pytest.param(
        "/api/v1/touchpoints",
        b'{"customer_id": "C2", "channel": ',
        400,
        "not valid JSON",
        id="malformed",
    ),
    pytest.param("/api/v1/touchpoints", b"[1, 2]", 422, None, id="not-an-object"),
    pytest.param(
        "/api/v1/touchpoints",
        json.dumps({**TP, "channel": 7}).encode(),
        422,
        "body.channel",
        id="wrong-type",
    ),
    pytest.param(
        "/api/v1/touchpoints",
        json.dumps({**TP, "kind": "telepathy"}).encode(),
        422,
        "body.kind",
        id="unknown-kind",
    ),
    pytest.param(
        "/api/v1/touchpoints",
        json.dumps({**TP, "colour": "red"}).encode(),
        422,
        "body.colour",
        id="unknown-field",
    ),
    pytest.param(
        "/api/v1/touchpoints",
        json.dumps({**TP, "customer_id": "NOBODY"}).encode(),
        404,
        "'NOBODY'",
        id="unknown-customer",
    ),
    pytest.param(
        "/api/v1/touchpoints",
        json.dumps({**TP, "occurred_at": "yesterday"}).encode(),
        422,
        "occurred_at",
        id="bad-time",
    ),
    pytest.param(
        "/api/v1/touchpoints/batch",
        json.dumps({"items": [TP, {**TP, "customer_id": "NOBODY"}]}).encode(),
        404,
        "nothing was logged",
        id="batch-one-unknown",
    ),
    pytest.param(
        "/api/v1/touchpoints/batch",
        json.dumps({"items": [TP] * 1001}).encode(),
        422,
        "items",
        id="batch-too-long",
    ),
    pytest.param(
        "/api/v1/customers/NOBODY/answers",
        json.dumps({"question_id": "gifts", "answer": "yes", "channel": "phone"}).encode(),
        404,
        "NOBODY",
        id="answer-unknown-customer",
    ),
    pytest.param(
        "/api/v1/customers/C1/answers",
        json.dumps({"question_id": "department", "answer": "cars", "channel": "phone"}).encode(),
        422,
        "not one of its choices",
        id="answer-not-a-choice",
    ),
    pytest.param(
        "/api/v1/customers/C2/answers",
        json.dumps({"question_id": "gifts", "answer": "yes", "channel": "phone"}).encode(),
        422,
        "has not consented to profiling",
        id="answer-without-consent",
    ),
    pytest.param(
        "/api/v1/customers/C1/answers",
        json.dumps({"question_id": "nope", "answer": "yes", "channel": "phone"}).encode(),
        404,
        "Unknown question",
        id="answer-unknown-question",
    ),
    pytest.param(
        "/api/v1/customers/NOBODY/consent",
        json.dumps(
            {
                "channel": "email",
                "purpose": "marketing",
                "state": "granted",
                "source": "web",
                "evidence": "form 1",
            }
        ).encode(),
        404,
        "NOBODY",
        id="consent-unknown-customer",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "detail"), BAD_WRITES)
def test_bad_input_is_a_problem_and_writes_nothing(
    world: World, path: str, body: bytes, status: int, detail: str | None
) -> None:
    before = world.counts()
    response = world.call(
        "admin", "POST", path, content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, status, detail)
    assert world.counts() == before


def test_writes_with_revoked_or_expired_keys_write_nothing(world: World) -> None:
    before = world.counts()
    for who in ("revoked", "expired"):
        response = world.call(who, "POST", "/api/v1/touchpoints", json=TP)
        assert_problem(response, 401, who)
    assert world.counts() == before


def test_oversized_body_is_413_and_writes_nothing(world: World) -> None:
    before = world.counts()
    huge = {"items": [{**TP, "note": "x" * 1900}] * 1000}  # ~1.9 MB, over the 1 MiB default
    response = world.call("admin", "POST", "/api/v1/touchpoints/batch", json=huge)
    assert_problem(response, 413, "larger than 1048576 bytes")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused past the limit
        yield b'{"items": ['
        for _ in range(800):
            yield json.dumps({**TP, "note": "y" * 1900}).encode() + b","
        yield json.dumps(TP).encode() + b"]}"

    streamed = world.call(
        "admin",
        "POST",
        "/api/v1/touchpoints/batch",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    assert world.counts() == before


def test_questions_crud(world: World) -> None:
    question = {
        "attribute": "pets",
        "text": "Do you have pets?",
        "answer_type": "boolean",
        "purpose": "So that we show you pet products only if useful.",
        "channels": ["phone", "web"],
        "informs": ["next_offer"],
        "value_if_right": 0.02,
    }
    created = world.call("manager", "PUT", "/api/v1/questions/pets", json=question)
    assert created.status_code == 201, created.text
    assert created.json()["cooldown_days"] == 30.0
    replaced = world.call(
        "manager", "PUT", "/api/v1/questions/pets", json={**question, "text": "Pets?"}
    )
    assert replaced.status_code == 200
    assert world.call("agent", "GET", "/api/v1/questions/pets").json()["text"] == "Pets?"
    ids = [
        q["id"]
        for q in world.call("agent", "GET", "/api/v1/questions", params={"limit": 500}).json()[
            "items"
        ]
    ]
    assert ids[-1] == "pets"
    assert ids[0] == "department"
    before = world.counts()
    unknown_decision = world.call(
        "manager",
        "PUT",
        "/api/v1/questions/pets2",
        json={**question, "attribute": "p2", "informs": ["nothing"]},
    )
    assert_problem(unknown_decision, 422, "informs")
    same_attribute = world.call("manager", "PUT", "/api/v1/questions/pets3", json=question)
    assert_problem(same_attribute, 422, "already learns 'pets'")
    no_choices = world.call(
        "manager",
        "PUT",
        "/api/v1/questions/colour",
        json={**question, "attribute": "c", "answer_type": "choice"},
    )
    assert_problem(no_choices, 422, "choices")
    assert world.counts() == before
    assert world.call("manager", "DELETE", "/api/v1/questions/pets").status_code == 204
    assert_problem(world.call("agent", "GET", "/api/v1/questions/pets"), 404, "Unknown question")
    assert_problem(world.call("manager", "DELETE", "/api/v1/questions/pets"), 404)


def test_contact_policy_round_trip_and_refusals(world: World) -> None:
    default = world.call("manager", "GET", "/api/v1/contact-policy").json()
    assert any(r["name"] == "BZ no calls" for r in default["rules"])
    policy = {
        "rules": [
            {"name": "weekly", "max_contacts": 2, "window_days": 7},
            {"name": "calls", "channel": "phone", "quiet_start": "20:00", "quiet_end": "09:00"},
        ],
        "default_time_zone": "Europe/Berlin",
        "consent_defaults": {"marketing": {"email": True}},
    }
    stored = world.call("admin", "PUT", "/api/v1/contact-policy", json=policy)
    assert stored.status_code == 200, stored.text
    got = world.call("manager", "GET", "/api/v1/contact-policy").json()
    assert [r["name"] for r in got["rules"]] == ["weekly", "calls"]
    assert got["default_time_zone"] == "Europe/Berlin"
    assert got["consent_defaults"]["marketing"]["email"] is True
    before = world.counts()
    bad_zone = world.call(
        "admin", "PUT", "/api/v1/contact-policy", json={**policy, "default_time_zone": "Mars/Base"}
    )
    assert_problem(bad_zone, 422, "Unknown time zone 'Mars/Base'")
    half_quiet = {"rules": [{"name": "q", "quiet_start": "20:00"}]}
    assert_problem(
        world.call("admin", "PUT", "/api/v1/contact-policy", json=half_quiet), 422, "quiet_end"
    )
    twice = {"rules": [{"name": "a"}, {"name": "a"}]}
    assert_problem(
        world.call("admin", "PUT", "/api/v1/contact-policy", json=twice), 422, "distinct"
    )
    assert world.counts() == before
    assert world.call("manager", "GET", "/api/v1/contact-policy").json() == got
    decision = world.call(
        "integration", "GET", "/api/v1/customers/C2/contact", params={"channel": "email"}
    )
    assert decision.json()["allowed"] is True  # the policy's consent default now allows e-mail


def test_subject_export_and_erase(world: World) -> None:
    world.call(
        "agent",
        "POST",
        "/api/v1/touchpoints",
        json={**TP, "customer_id": "C3", "note": "asked about Z"},
    )
    exported = world.call("admin", "GET", "/api/v1/customers/C3/export")
    assert exported.status_code == 200
    data = exported.json()
    assert data["profiles"][0]["customer_id"] == "C3"
    assert data["touchpoints"][0]["note"] == "asked about Z"
    erased = world.call("admin", "POST", "/api/v1/customers/C3/erase").json()
    assert erased["profiles"] == 1
    assert erased["touchpoints_anonymised"] == 1
    assert "patron interact erase" in erased["warehouse"]
    assert_problem(world.call("admin", "GET", "/api/v1/customers/C3"), 404)
    assert_problem(world.call("admin", "GET", "/api/v1/customers/C3/export"), 404)
    entry = audit_entries(world.store, limit=1, action="customers.erase")[0]
    assert entry.target == "C3"
    assert "asked" not in json.dumps(entry.detail)


def test_strict_json_never_emits_nan() -> None:
    body = StrictJSONResponse({"clv": math.nan, "rows": [math.inf, 1.5]}).body
    assert json.loads(body) == {"clv": None, "rows": [None, 1.5]}


def test_rate_limit_per_key_is_429_with_retry_after(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    gen = build_world(url, tmp_path)
    world = next(gen)
    try:
        settings = ApiSettings(store=url, api_rate_limit=0.5, api_rate_burst=2)
        app = create_app(settings, store=world.store)
        with app_client(app) as client:
            headers = world.headers("agent")
            codes = [
                client.get("/api/v1/customers/C1", headers=headers).status_code for _ in range(3)
            ]
            assert codes == [200, 200, 429]
            limited = client.get("/api/v1/customers/C1", headers=headers)
            assert_problem(limited, 429, "Too many requests")
            assert int(limited.headers["retry-after"]) >= 1
            # Another key has its own bucket.
            assert (
                client.get("/api/v1/customers/C1", headers=world.headers("manager")).status_code
                == 200
            )
    finally:
        gen.close()


def test_cors_is_off_by_default_and_on_for_listed_origins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    gen = build_world(url, tmp_path)
    world = next(gen)
    try:
        origin = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
        off = world.client.request("OPTIONS", "/api/v1/customers/C1", headers=origin)
        assert "access-control-allow-origin" not in off.headers
        app = create_app(
            ApiSettings(store=url, api_cors_origins=["https://shop.example"]), store=world.store
        )
        with app_client(app) as client:
            on = client.request("OPTIONS", "/api/v1/customers/C1", headers=origin)
            assert on.headers["access-control-allow-origin"] == "https://shop.example"
    finally:
        gen.close()


def test_configured_secret_is_used_and_checked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    gen = build_world(url, tmp_path)
    world = next(gen)
    try:
        secret = "a-long-server-secret-from-the-environment"
        app = create_app(ApiSettings(store=url, api_secret=secret), store=world.store)
        made = create_key(world.store, server_secret(world.store, secret), name="x", role="agent")
        with app_client(app) as client:
            ok = client.get("/api/v1/customers/C1", headers={"Authorization": f"Bearer {made.key}"})
            assert ok.status_code == 200
            # A key hashed under the store's generated secret is not valid under this one.
            assert (
                client.get("/api/v1/customers/C1", headers=world.headers("agent")).status_code
                == 401
            )
        from patron.errors import UsageError

        with pytest.raises(UsageError, match="at least 16"):
            create_app(ApiSettings(store=url, api_secret="short"), store=world.store)
    finally:
        gen.close()


def test_nul_characters_are_refused_on_every_backend(world: World) -> None:
    before = world.counts()
    assert_problem(world.call("admin", "GET", "/api/v1/customers/C%001"), 422, "NUL")
    assert_problem(
        world.call("admin", "GET", "/api/v1/customers", params={"email": "a\x00@b.c"}), 422, "NUL"
    )
    body = {**TP, "customer_id": "C\x002"}
    problem = assert_problem(world.call("admin", "POST", "/api/v1/touchpoints", json=body), 422)
    assert problem["errors"][0]["location"] == "body.customer_id"
    assert world.counts() == before


def test_ready_is_503_when_the_store_is_not_at_the_head_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    gen = build_world(url, tmp_path)
    world = next(gen)
    try:
        assert world.client.get("/ready").status_code == 200
        with world.store.write() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
        assert_problem(world.client.get("/ready"), 503, "patron store upgrade")
        assert world.client.get("/health").status_code == 200  # alive, not ready
    finally:
        gen.close()
