"""A served store for the API tests: published customers, the example bank, a key per role.

``world`` is built once per module and backend (SQLite file; PostgreSQL marked ``postgres``):
customers C1..C4 (C1 with a card), the example question bank, profiling consent for C1, and
keys for every role plus a revoked and an expired one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from patron.api import ApiSettings, create_app
from patron.interact import (
    example_question_bank,
    install_question_bank,
    load_question_bank,
    set_consent,
)
from patron.store import Store, live_publication, open_store, upgrade_store
from patron.store.keys import create_key, server_secret
from patron.store.schema import api_keys, identifiers
from tests.api.client import AppClient, app_client
from tests.store_fixtures import pg_store_url, publish_test_profiles

ROLES = ("admin", "manager", "agent", "integration")
CUSTOMERS = [
    {
        "customer_id": "C1",
        "clv": 300.0,
        "clv_low": 200.0,
        "clv_high": 420.0,
        "p_alive": 0.9,
        "tier": "MVC",
        "segment": "games / app",
        "email": "kim@example.org",
        "phone": "+447911123456",
        "time_zone": "Europe/London",
    },
    {"customer_id": "C2", "clv": 40.0, "tier": "other", "email": "lee@example.org"},
    {"customer_id": "C3", "clv": 5.0, "tier": "BZ", "phone": "+4915112345678"},
    {"customer_id": "C4", "clv": 80.0, "tier": "MGC"},
]


@dataclass
class World:
    """A store with data, an app over it, and keys."""

    url: str
    store: Store
    client: AppClient
    app: Any = None
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        """The Authorization header of a role's key (or of ``revoked``/``expired``)."""
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def count(self, table: str) -> int:
        """Rows in a store table."""
        with self.store.read() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    def counts(self) -> dict[str, int]:
        """Rows in every table a write may touch."""
        names = (
            "touchpoints",
            "facts",
            "consents",
            "questions",
            "api_keys",
            "audit",
            "profiles",
            "offers",
            "decisions",
            "quotes",
        )
        return {name: self.count(name) for name in names}

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> Any:
        """A request with the role's key."""
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


def build_world(url: str, folder: Path, **settings: Any) -> Iterator[World]:
    """Upgrade and fill the store at ``url``, serve it, yield the world."""
    upgrade_store(url)
    store = open_store(url)
    publish_test_profiles(store, folder, CUSTOMERS)
    with store.write() as conn:
        pub = live_publication(conn)
        conn.execute(
            sa.insert(identifiers).values(
                publication_id=pub, kind="card", value="CARD-0001", customer_id="C1"
            )
        )
    install_question_bank(store, load_question_bank(example_question_bank()))
    set_consent(store, "C1", "all", "profiling", "granted", source="test")
    app_settings = ApiSettings(store=url, api_rate_limit=0, **settings)
    app = create_app(app_settings, store=store)
    secret = server_secret(store, app_settings.api_secret)
    client_context = app_client(app)
    world = World(url, store, client_context.__enter__(), app)
    for role in ROLES:
        made = create_key(store, secret, name=f"{role} key", role=role)
        world.keys[role], world.key_ids[role] = made.key, made.record.id
    revoked = create_key(store, secret, name="old key", role="admin")
    expired = create_key(store, secret, name="temp key", role="admin", expires_in=timedelta(days=1))
    with store.write() as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == revoked.record.id)
            .values(revoked_at=revoked.record.created_at)
        )
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == expired.record.id)
            .values(expires_at=expired.record.created_at - timedelta(hours=1))
        )
    world.keys["revoked"], world.keys["expired"] = revoked.key, expired.key
    try:
        yield world
    finally:
        client_context.__exit__(None, None, None)
        store.close()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per module and backend (tests that write use their own customers)."""
    folder = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'store.sqlite'}"
    else:
        server: str = request.getfixturevalue("postgres_url")
        url = pg_store_url(server, f"api_{uuid.uuid4().hex[:12]}")
    yield from build_world(url, folder)
