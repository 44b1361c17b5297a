"""The service through its app (httpx): health, keys, customers, the agent screen, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patron.api import ApiSettings, create_app
from patron.api.schemas import ScreenOut
from patron.errors import StoreError
from patron.store import upgrade_store
from tests.api.client import app_client
from tests.api.conftest import World

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int, detail: str | None = None) -> dict[str, object]:
    """The response is an RFC 9457 problem with ``status`` (and ``detail`` in its detail)."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["type"].startswith("urn:patron:problem:")
    assert body["title"]
    assert body["detail"]
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    return dict(body)


def test_health_ready_and_docs_need_no_key(world: World) -> None:
    assert world.client.get("/health").json() == {
        "status": "ok",
        "revision": None,
        "publication": None,
    }
    ready = world.client.get("/ready").json()
    assert ready["status"] == "ok"
    assert ready["revision"] == "0009"
    assert ready["publication"] >= 1
    assert world.client.get("/docs").status_code == 200
    schema = world.client.get("/openapi.json").json()
    assert "/api/v1/customers/{customer_id}/screen" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_no_key_unknown_revoked_and_expired_keys_are_refused(world: World) -> None:
    path = "/api/v1/customers/C1"
    response = world.client.get(path)
    body = assert_problem(response, 401, "needs an API key")
    assert body["type"] == "urn:patron:problem:unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    bad = {"Authorization": "Bearer not-a-key"}
    assert_problem(world.client.get(path, headers=bad), 401, "not known")
    assert_problem(world.client.get(path, headers=world.headers("revoked")), 401, "is revoked")
    assert_problem(world.client.get(path, headers=world.headers("expired")), 401, "is expired")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert_problem(world.client.get(path, headers=basic), 401)


def test_customer_by_id_email_phone_and_card(world: World) -> None:
    by_id = world.call("agent", "GET", "/api/v1/customers/C1")
    assert by_id.status_code == 200
    profile = by_id.json()
    assert profile["customer_id"] == "C1"
    assert profile["tier"] == "MVC"
    assert profile["clv"] == 300.0
    for query in (
        {"email": "KIM@example.org"},
        {"phone": "+44 7911 123456"},
        {"card": "CARD-0001"},
    ):
        found = world.call("integration", "GET", "/api/v1/customers", params=query)
        assert found.status_code == 200, (query, found.text)
        assert found.json()["customer_id"] == "C1"


def test_unknown_customer_is_404_problem(world: World) -> None:
    for path in (
        "/api/v1/customers/NOBODY",
        "/api/v1/customers/NOBODY/screen",
        "/api/v1/customers?email=nobody%40example.org",
    ):
        assert_problem(
            world.call("admin", "GET", path), 404, "NOBODY".lower() if "?" in path else "NOBODY"
        )


def test_find_needs_exactly_one_identifier(world: World) -> None:
    assert_problem(world.call("agent", "GET", "/api/v1/customers"), 422, "exactly one")
    both = {"email": "kim@example.org", "card": "CARD-0001"}
    assert_problem(world.call("agent", "GET", "/api/v1/customers", params=both), 422)


def test_agent_screen(world: World) -> None:
    response = world.call(
        "agent", "GET", "/api/v1/customers/C1/screen", params={"channel": "phone"}
    )
    assert response.status_code == 200, response.text
    screen = response.json()
    ScreenOut.model_validate(screen)  # sent without re-validation: it must match its schema
    assert screen["customer_id"] == "C1"
    assert {"kind": "card", "value": "CARD-0001"} in screen["identifiers"]
    assert screen["value"]["text"].startswith("Expected value over the horizon 300.00")
    assert screen["consent"]["profiling"] is True
    assert screen["next_question"]["id"] == "department"
    assert screen["offer"]["tier"] == "MVC"
    assert screen["offer"]["action"].startswith("Retain")
    assert any(line.startswith("Ask one question") for line in screen["script"])
    # A screen by e-mail in the path is the same customer.
    again = world.call("agent", "GET", "/api/v1/customers/kim@example.org/screen").json()
    assert again["customer_id"] == "C1"
    assert_problem(
        world.call("agent", "GET", "/api/v1/customers/C1/screen", params={"channel": "pigeon"}),
        422,
        "channel",
    )


def test_unknown_path_and_method_are_problems(world: World) -> None:
    assert_problem(world.call("admin", "GET", "/api/v1/nothing-here"), 404, "No such path")
    assert_problem(world.call("admin", "DELETE", "/api/v1/customers/C1"), 405)


def test_app_refuses_a_store_not_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade_store(url, "0004")
    with pytest.raises(StoreError, match="patron store upgrade"):
        create_app(ApiSettings(store=url))


def test_keys_cli_json_is_exactly_key_role_name(tmp_path: Path) -> None:
    from patron.cli import main

    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url)
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            ["keys", "create", "--role", "agent", "--name", "desk 4", "--json", "--store", url]
        )
    assert code == 0
    data = json.loads(buffer.getvalue())
    assert set(data) == {"key", "role", "name"}
    assert data["role"] == "agent"
    assert data["name"] == "desk 4"
    assert len(data["key"]) >= 43  # token_urlsafe(32)
    app = create_app(ApiSettings(store=url, api_rate_limit=0))
    with app_client(app) as client:
        headers = {"Authorization": f"Bearer {data['key']}"}
        # A valid agent key on an empty store: the customer is unknown, not unauthorised.
        assert_problem(client.get("/api/v1/customers/C1", headers=headers), 404, "patron publish")
        # The store keeps only the digest.
        db = Path(str(tmp_path / "s.sqlite")).read_bytes()
        assert data["key"].encode() not in db
        code = main(["keys", "revoke", "1", "--store", url])
        assert code == 0
        assert_problem(client.get("/api/v1/customers/C1", headers=headers), 401, "revoked")
    app.state.store.close()
    assert main(["keys", "create", "--role", "boss", "--name", "x", "--store", url]) == 2
