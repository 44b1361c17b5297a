"""A small published shop for the console tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from patron.interact import (
    DEFAULT_POLICY,
    ContactPolicy,
    example_question_bank,
    install_question_bank,
    load_question_bank,
    set_consent,
    set_contact_policy,
)
from patron.store import Store
from tests.store_fixtures import publish_test_profiles, store, store_url

__all__ = ["shop", "store", "store_url"]


@pytest.fixture
def shop(store: Store, tmp_path: Path) -> Store:
    """Two published customers, the example question bank, profiling consent for C1.

    The default contact policy without its quiet hours: the tests must not depend on the hour
    they run at (C1 lives in London; calls are quiet there from 20:00 to 09:00).
    """
    publish_test_profiles(
        store,
        tmp_path,
        [
            {
                "customer_id": "C1",
                "clv": 420.0,
                "clv_low": 300.0,
                "clv_high": 560.0,
                "p_alive": 0.9,
                "tier": "MVC",
                "segment": "books / web",
                "phone": "+44 7911 123456",
                "email": "ann@example.org",
                "time_zone": "Europe/London",
            },
            {"customer_id": "C2", "clv": 12.0, "p_alive": 0.4, "tier": "MGC"},
        ],
    )
    install_question_bank(store, load_question_bank(example_question_bank()))
    set_consent(store, "C1", "all", "profiling", "granted", source="test")
    rules = tuple(replace(r, quiet_start=None, quiet_end=None) for r in DEFAULT_POLICY.rules)
    set_contact_policy(store, ContactPolicy(rules=rules))
    return store
