"""Customize through the service: offers, next best action and its response, quotes, campaigns."""

from __future__ import annotations

from typing import Any

from patron.interact import set_consent
from tests.api.conftest import World
from tests.api.test_service import assert_problem

OFFER: dict[str, Any] = {
    "id": "vip-books",
    "name": "Early access to the autumn books",
    "kind": "up-sell",
    "category": "books",
    "eligibility": "tier == 'MVC'",
    "channels": ["email", "phone"],
    "contact_cost": {"email": 0.1},
    "margin": 30.0,
    "price": 25.0,
    "response_rate": 0.2,
}


def _offer(world: World, role: str = "manager", **changes: Any) -> Any:
    return world.call(role, "POST", "/api/v1/offers", json={**OFFER, **changes})


def test_offers_are_created_read_updated_and_removed_by_managers(world: World) -> None:
    made = _offer(world, id="crud-1")
    assert made.status_code == 201, made.text
    assert made.json()["eligibility"] == "tier == 'MVC'"
    listed = world.call("agent", "GET", "/api/v1/offers", params={"limit": 500}).json()
    assert "crud-1" in [o["id"] for o in listed["items"]]
    fields = {k: v for k, v in OFFER.items() if k != "id"}
    changed = world.call("manager", "PUT", "/api/v1/offers/crud-1", json={**fields, "price": 19.5})
    assert changed.status_code == 200, changed.text
    assert changed.json()["price"] == 19.5
    assert world.call("manager", "DELETE", "/api/v1/offers/crud-1").status_code == 204
    assert_problem(world.call("manager", "GET", "/api/v1/offers/crud-1"), 404, "crud-1")


def test_bad_offers_change_nothing(world: World) -> None:
    before = world.count("offers")
    body = assert_problem(_offer(world, id="bad-1", eligibility="tier == "), 422)
    assert "bad-1" in str(body["detail"])
    body = assert_problem(_offer(world, id="bad-2", eligibility="shoe_size > 40"), 422)
    assert "shoe_size" in str(body["detail"])
    assert_problem(_offer(world, id="bad-3", colour="red"), 422, "colour")
    assert_problem(_offer(world, id="bad-4", contact_cost={"email": -1}), 422)
    assert_problem(_offer(world, id="bad-5", valid_from="2026-12-31", valid_to="2026-01-01"), 422)
    assert _offer(world, id="dup-1").status_code == 201
    assert_problem(_offer(world, id="dup-1"), 422, "exists already")
    assert world.count("offers") == before + 1


def test_next_best_action_then_the_customers_response(world: World) -> None:
    assert _offer(world, id="nba-1").status_code in (201, 422)  # 422: made by an earlier run
    set_consent(world.store, "C1", "email", "marketing", "granted", source="test")
    r = world.call("integration", "GET", "/api/v1/customers/C1/next-best-action?channel=email")
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["no_action"] is False
    assert decision["action"]["offer_id"] in ("nba-1", "vip-books", "dup-1")
    assert decision["offer_text"]
    statuses = {c["offer_id"]: c["status"] for c in decision["candidates"]}
    assert "chosen" in statuses.values()
    # a customer outside the eligibility gets no action, with the reason
    other = world.call("integration", "GET", "/api/v1/customers/C2/next-best-action?channel=email")
    assert other.json()["no_action"] is True
    assert other.json()["reason"]
    tps = world.count("touchpoints")
    path = f"/api/v1/decisions/{decision['id']}/response"
    first = world.call("agent", "POST", path, json={"outcome": "accepted"})
    assert first.status_code == 200, first.text
    assert first.json()["repeated"] is False
    again = world.call("agent", "POST", path, json={"outcome": "accepted"})
    assert again.json()["repeated"] is True
    assert world.count("touchpoints") == tps + 1
    assert_problem(world.call("agent", "POST", path, json={"outcome": "declined"}), 422, "already")
    assert_problem(world.call("agent", "POST", path, json={"outcome": "maybe"}), 422)
    assert_problem(
        world.call(
            "agent", "POST", "/api/v1/decisions/999999/response", json={"outcome": "accepted"}
        ),
        404,
    )
    screen = world.call("agent", "GET", "/api/v1/customers/C1/screen?channel=email").json()
    assert screen["next_best_action"]["id"] > decision["id"]
    assert any(t["kind"] == "offer_accepted" for t in screen["touchpoints"])


def test_one_price_per_customer_and_product_across_channels(world: World) -> None:
    ask = {"customer_id": "C2", "product": "P-quote", "channel": "web", "price": 10.0}
    first = world.call("integration", "POST", "/api/v1/quotes", json=ask).json()
    assert first["status"] == "new"
    phone = world.call(
        "agent", "POST", "/api/v1/quotes", json={**ask, "channel": "phone", "price": 12.0}
    ).json()
    assert phone["status"] == "aligned"
    assert phone["quote"]["price"] == 10.0
    refused = world.call(
        "agent",
        "POST",
        "/api/v1/quotes",
        json={**ask, "channel": "email", "price": 9.0, "on_conflict": "refuse"},
    ).json()
    assert refused["status"] == "refused"
    assert_problem(
        world.call("agent", "POST", "/api/v1/quotes", json={**ask, "customer_id": "nobody"}), 404
    )


def test_campaigns_are_listed_for_managers(world: World) -> None:
    r = world.call("manager", "GET", "/api/v1/campaigns")
    assert r.status_code == 200
    assert r.json()["items"] == []
    assert_problem(world.call("manager", "GET", "/api/v1/campaigns/none"), 404, "none")
