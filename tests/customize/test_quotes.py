"""One price per customer and product: quotes reused across channels, aligned or refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.customize.quotes import quote, quote_many
from patron.errors import UsageError
from patron.store import Store
from patron.store.schema import quotes

T0 = datetime(2026, 3, 1, 9, 0)


def test_reuse_align_refuse_expire(store: Store) -> None:
    first = quote(store, "C1", "P1", "email", price=20.0, at=T0, days=7)
    assert first.status == "new"
    assert first.quote is not None
    again = quote(store, "C1", "P1", "phone", at=T0 + timedelta(days=1))
    assert again.status == "reused"
    assert again.quote == first.quote
    aligned = quote(store, "C1", "P1", "web", price=18.0, at=T0 + timedelta(days=2))
    assert aligned.status == "aligned"
    assert aligned.quote is not None
    assert aligned.quote.price == 20.0
    refused = quote(
        store, "C1", "P1", "web", price=18.0, at=T0 + timedelta(days=2), on_conflict="refuse"
    )
    assert refused.status == "refused"
    assert refused.quote is None
    assert "quoted at 20.00" in refused.reason
    later = quote(store, "C1", "P1", "web", price=18.0, at=T0 + timedelta(days=8))
    assert later.status == "new"
    assert later.quote is not None
    assert later.quote.price == 18.0
    with pytest.raises(UsageError, match="give a price"):
        quote(store, "C1", "P2", "web", at=T0)
    with pytest.raises(UsageError, match="0 or more"):
        quote(store, "C1", "P2", "web", price=-1.0, at=T0)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["P1", "P2"]),
        st.sampled_from(["email", "web", "phone", "sms"]),
        st.one_of(st.none(), st.sampled_from([9.0, 10.0, 12.5])),
        st.integers(min_value=0, max_value=40),  # days after T0 (any order)
        st.sampled_from(["align", "refuse"]),
        st.sampled_from([3.0, 7.0, 14.0]),
        st.booleans(),  # through quote_many (a campaign's batch), not quote
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_never_two_live_prices(store: Store, actions: list[tuple]) -> None:  # type: ignore[type-arg]
    customer = uuid.uuid4().hex[:10]
    for product, channel, price, day, rule, days, many in actions:
        if many and price is not None:
            with store.write() as conn:
                quote_many(
                    conn, [(customer, product, channel, price, None)],
                    at=T0 + timedelta(days=day), days=days, on_conflict=rule,
                )  # fmt: skip
            continue
        try:
            quote(
                store, customer, product, channel, price=price,
                at=T0 + timedelta(days=day), days=days, on_conflict=rule,
            )  # fmt: skip
        except UsageError:
            assert price is None  # only "no price and nothing live" is refused
    with store.read() as conn:
        rows = conn.execute(sa.select(quotes).where(quotes.c.customer_id == customer)).all()
    for a in rows:
        for b in rows:
            overlap = a.created_at < b.expires_at and b.created_at < a.expires_at
            if a.id != b.id and a.product == b.product and overlap:
                assert a.price == b.price, (a, b)
