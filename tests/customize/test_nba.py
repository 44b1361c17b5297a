"""Next best action from the store: the steps, the reasons, the log, determinism."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.customize import load_offers, next_best_action
from patron.customize.nba import NbaSettings, decision_log
from patron.customize.quotes import quote
from patron.errors import NotFoundError
from patron.interact import set_consent
from patron.store import Store
from patron.store.schema import decisions
from tests.store_fixtures import publish_test_profiles

AT = datetime(2026, 3, 2, 12, 0)
OFFERS = """
- {id: books, name: Books bundle, kind: cross-sell, category: books, channels: [email, web],
   contact_cost: {email: 0.1}, margin: 10, price: 30, response_rate: 0.05,
   eligibility: "segment == 'readers'"}
- {id: games, name: Games pass, kind: cross-sell, category: games, channels: [email, web],
   contact_cost: {email: 0.1}, margin: 8, price: 25, response_rate: 0.05}
- {id: keep, name: Loyalty voucher, kind: retention, channels: [email], margin: -5,
   response_rate: 0.2, eligibility: "p_alive < 0.5"}
- {id: pricey, name: Costly call, kind: up-sell, channels: [phone], margin: 3,
   contact_cost: {phone: 5}, response_rate: 0.1}
"""


@pytest.fixture
def shop(store: Store, tmp_path: Path) -> Store:
    publish_test_profiles(
        store,
        tmp_path,
        [
            {
                "customer_id": "R1",
                "segment": "readers",
                "tier": "MGC",
                "clv": 100.0,
                "p_alive": 0.9,
            },
            {
                "customer_id": "G1",
                "segment": "gamers",
                "tier": "other",
                "clv": 50.0,
                "p_alive": 0.9,
            },
            {"customer_id": "D1", "segment": "gamers", "tier": "MVC", "clv": 400.0, "p_alive": 0.3},
        ],
    )  # fmt: skip
    path = tmp_path / "offers.yaml"
    path.write_text(OFFERS, encoding="utf-8")
    load_offers(store, path)
    for cid in ("R1", "G1", "D1"):
        set_consent(
            store, cid, "email", "marketing", "granted", source="test", at=AT.replace(day=1)
        )
    return store


def test_best_offer_with_reasons_and_log(shop: Store) -> None:
    d = next_best_action(shop, "R1", "email", at=AT)
    assert d.action is not None
    assert d.action.offer_id == "books"
    # 0.05 × 10 − 0.1
    assert d.action.expected_value == pytest.approx(0.4)
    by_id = {c.offer_id: c for c in d.candidates}
    assert by_id["games"].status == "lost"
    assert "below books" in by_id["games"].reason
    assert by_id["keep"].step == "eligibility"
    assert by_id["pricey"].step == "channel"
    with shop.read() as conn:
        row = conn.execute(sa.select(decisions).where(decisions.c.id == d.id)).one()
    assert row.offer_id == "books"
    assert row.status == "proposed"
    detail = json.loads(row.detail)
    assert {c["offer_id"] for c in detail["candidates"]} == {"books", "games", "keep", "pricey"}
    assert decision_log(shop, "R1")[0]["offer_id"] == "books"


def test_same_inputs_same_decision(shop: Store) -> None:
    a = next_best_action(shop, "G1", "email", at=AT)
    b = next_best_action(shop, "G1", "email", at=AT)
    assert a.inputs_hash == b.inputs_hash
    assert a.to_dict()["candidates"] == b.to_dict()["candidates"]
    assert a.action is not None
    assert a.action.offer_id == "games"


def test_retention_counts_value_at_stake(shop: Store) -> None:
    d = next_best_action(shop, "D1", "email", at=AT)
    assert d.action is not None
    assert d.action.offer_id == "keep"
    # 0.2 × (−5 + 400 × 0.7) − 0
    assert d.action.expected_value == pytest.approx(0.2 * (-5 + 400 * 0.7))


def test_no_consent_no_offer_and_no_action(shop: Store) -> None:
    set_consent(shop, "R1", "email", "marketing", "withdrawn", source="test", at=AT.replace(day=2))
    d = next_best_action(shop, "R1", "email", at=AT)
    assert d.action is None
    assert d.reason.startswith("no action")
    assert {c.step for c in d.candidates if c.offer_id in {"books", "games"}} == {"consent"}
    with shop.read() as conn:
        row = conn.execute(sa.select(decisions).where(decisions.c.id == d.id)).one()
    assert row.offer_id is None


def test_preferences_filter_then_rerank(shop: Store) -> None:
    from patron.interact import (
        example_question_bank,
        install_question_bank,
        load_question_bank,
        record_answer,
    )

    install_question_bank(shop, load_question_bank(example_question_bank()), source="t")
    set_consent(shop, "G1", "web", "profiling", "granted", source="t", at=AT.replace(day=1))
    # games (8 × 0.05 − 0.1 = 0.3) beats books for G1 only when books is not eligible; make
    # books eligible for everybody, favourite department books: the boost re-ranks.
    record_answer(shop, "G1", "department", "home", channel="web", at=AT.replace(day=1))
    d = next_best_action(shop, "G1", "web", at=AT)
    assert d.action is not None
    assert d.action.offer_id == "games"
    record_answer(shop, "G1", "channel", "sms", channel="web", at=AT.replace(day=1, hour=13))
    d = next_best_action(shop, "G1", "email", at=AT)
    assert d.action is None
    assert {c.step for c in d.candidates if c.offer_id == "games"} == {"preference"}


def test_live_quote_aligns_or_refuses(shop: Store) -> None:
    quote(shop, "R1", "books", "phone", price=24.0, at=AT.replace(day=1))
    d = next_best_action(shop, "R1", "email", at=AT)
    books = next(c for c in d.candidates if c.offer_id == "books")
    assert books.price == 24.0
    assert books.margin == pytest.approx(4.0)  # 10 − (30 − 24): the margin moves with it
    # aligned, books (0.05 × 4 − 0.1) falls behind games (0.05 × 8 − 0.1)
    assert d.action is not None
    assert d.action.offer_id == "games"
    d = next_best_action(shop, "R1", "email", at=AT, settings=NbaSettings(price_conflict="refuse"))
    books = next(c for c in d.candidates if c.offer_id == "books")
    assert books.step == "price"
    assert "quoted at 24.00" in books.reason


def test_unknown_customer(shop: Store) -> None:
    with pytest.raises(NotFoundError, match=r"Unknown customer|No published customer"):
        next_best_action(shop, "nobody", "email", at=AT)


def test_subject_export_and_erasure_cover_decisions_and_quotes(shop: Store) -> None:
    from patron.interact import erase_customer, export_customer

    next_best_action(shop, "R1", "email", at=AT)
    quote(shop, "R1", "books", "web", price=30.0, at=AT)
    data = export_customer(shop, "R1")
    assert data["decisions"][0]["offer_id"] == "books"
    assert data["quotes"][0]["price"] == 30.0
    result = erase_customer(shop, "R1")
    assert result.decisions_anonymised == 1
    assert result.quotes_anonymised == 1
    with shop.read() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(decisions.c.customer_id == "R1")
        ).scalar_one()
    assert left == 0
