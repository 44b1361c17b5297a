from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.errors import NotFoundError
from patron.interact import (
    Touchpoint,
    erase_customer,
    example_question_bank,
    export_customer,
    install_question_bank,
    load_question_bank,
    log_touchpoint,
    record_answer,
    set_consent,
)
from patron.store import Store
from patron.store.schema import metadata, touchpoints
from tests.store_fixtures import publish_test_profiles

T0 = datetime(2026, 2, 1, 10, 0)
SECRETS = ("P42", "pat@example.net", "+33142685300", "Le Monde Diplomatique", "Pat called")


def _everything(store: Store) -> str:
    """Every value of every table, as one string."""
    parts = []
    with store.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_export_then_erase_leaves_nothing_identifying(store: Store, tmp_path: Path) -> None:
    rows = [
        {
            "customer_id": "P42",
            "clv": 10.0,
            "email": "pat@example.net",
            "phone": "+33 1 42 68 53 00",
        },
        {"customer_id": "Q1", "clv": 5.0},
    ]
    publish_test_profiles(store, tmp_path, rows)
    publish_test_profiles(store, tmp_path, rows)  # two publications hold the customer
    install_question_bank(store, load_question_bank(example_question_bank()))
    set_consent(store, "P42", "all", "profiling", "granted", source="call", evidence="Pat called")
    record_answer(store, "P42", "newspaper", "Le Monde Diplomatique", channel="store", at=T0)
    log_touchpoint(
        store,
        Touchpoint("P42", "phone", "complaint", note="Pat called", idempotency_key="P42-call-1"),
    )
    log_touchpoint(store, Touchpoint("Q1", "web", "visit"))
    exported = export_customer(store, "P42")
    json.dumps(exported, allow_nan=False)
    assert len(exported["profiles"]) == 2
    assert {i["value"] for i in exported["identifiers"]} >= {"pat@example.net", "+33142685300"}
    assert exported["facts"][0]["value"] == "Le Monde Diplomatique"
    assert exported["consents"][0]["evidence"] == "Pat called"
    assert len(exported["touchpoints"]) == 2  # the answer and the complaint
    with store.read() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(touchpoints)).scalar()
    assert all(s in _everything(store) for s in SECRETS)
    result = erase_customer(store, "P42")
    assert (result.profiles, result.facts, result.touchpoints_anonymised) == (2, 1, 2)
    remaining = _everything(store)
    for secret in SECRETS:
        assert secret not in remaining, secret
    with store.read() as conn:
        after = conn.execute(
            sa.select(touchpoints.c.customer_id, touchpoints.c.channel, touchpoints.c.kind)
        ).all()
    assert len(after) == before  # aggregates over touch points unchanged
    anon = {cid for cid, _, _ in after if cid != "Q1"}
    assert len(anon) == 1
    assert next(iter(anon)).startswith("erased-")
    assert export_customer(store, "Q1")["profiles"]  # others untouched
    with pytest.raises(NotFoundError, match="holds nothing about customer 'P42'"):
        export_customer(store, "P42")
    with pytest.raises(NotFoundError, match="holds nothing about customer 'P42'"):
        erase_customer(store, "P42")
