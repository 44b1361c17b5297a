from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from patron.errors import UsageError
from patron.interact import consent_history, latest_consent, set_consent
from patron.store import Store
from patron.store.schema import consents

T0 = datetime(2026, 5, 1, 9, 0)


def test_defaults_opt_in_email_opt_out_mail(store: Store) -> None:
    assert not latest_consent(store, "C1", "email", "marketing").allowed
    assert not latest_consent(store, "C1", "sms", "marketing").allowed
    mail = latest_consent(store, "C1", "mail", "marketing")
    assert mail.allowed
    assert mail.record is None
    assert "default is opt-out, so it is allowed" in mail.reason
    assert not latest_consent(store, "C1", "web", "profiling").allowed
    assert latest_consent(store, "C1", "phone", "service").allowed
    custom = {"marketing": {"email": True}}
    assert latest_consent(store, "C1", "email", "marketing", defaults=custom).allowed
    assert not latest_consent(store, "C1", "mail", "marketing", defaults=custom).allowed


def test_latest_state_wins_and_history_is_kept(store: Store) -> None:
    set_consent(store, "C1", "email", "marketing", "granted", source="web form", at=T0)
    assert latest_consent(store, "C1", "email", "marketing").allowed
    set_consent(
        store,
        "C1",
        "email",
        "marketing",
        "withdrawn",
        source="unsubscribe link",
        evidence="mail 42",
        at=T0 + timedelta(days=3),
    )
    decision = latest_consent(store, "C1", "email", "marketing")
    assert not decision.allowed
    assert decision.record is not None
    assert decision.record.evidence == "mail 42"
    assert "withdrawn on 2026-05-04 09:00 UTC (unsubscribe link)" in decision.reason
    set_consent(store, "C1", "email", "marketing", "granted", source="call", at=T0 + timedelta(5))
    history = consent_history(store, "C1")
    assert [r.state for r in history] == ["granted", "withdrawn", "granted"]
    assert latest_consent(store, "C1", "email", "marketing").allowed
    # Other customers, channels and purposes are untouched.
    assert not latest_consent(store, "C2", "email", "marketing").allowed
    assert not latest_consent(store, "C1", "sms", "marketing").allowed
    assert not latest_consent(store, "C1", "email", "profiling").allowed


def test_all_channels_record_and_a_later_channel_record(store: Store) -> None:
    set_consent(store, "C1", "all", "profiling", "granted", source="app onboarding", at=T0)
    assert latest_consent(store, "C1", "phone", "profiling").allowed
    assert latest_consent(store, "C1", "web", "profiling").allowed
    set_consent(store, "C1", "phone", "profiling", "denied", source="call", at=T0 + timedelta(1))
    assert not latest_consent(store, "C1", "phone", "profiling").allowed
    assert latest_consent(store, "C1", "web", "profiling").allowed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("C1", "fax", "marketing", "granted"), "Unknown channel 'fax'"),
        (("C1", "email", "gossip", "granted"), "Unknown purpose 'gossip'"),
        (("C1", "email", "marketing", "maybe"), "Unknown consent state 'maybe'"),
        (("", "email", "marketing", "granted"), "needs a customer id"),
    ],
)
def test_bad_consent_writes_nothing(store: Store, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        set_consent(store, *args, source="web form")
    with pytest.raises(UsageError, match="needs its source"):
        set_consent(store, "C1", "email", "marketing", "granted", source=" ")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(consents)).scalar() == 0


def test_all_purposes_in_one_query_agree_with_latest_consent(store: Store) -> None:
    from patron.interact.consent import consent_decisions

    set_consent(store, "C1", "all", "marketing", "granted", source="signup", at=T0)
    set_consent(store, "C1", "sms", "marketing", "denied", source="text", at=T0 + timedelta(1))
    set_consent(store, "C1", "sms", "profiling", "granted", source="text", at=T0 + timedelta(2))
    with store.read() as conn:
        for channel in ("sms", "email", "mail"):
            together = consent_decisions(conn, "C1", channel)
            for purpose, decision in together.items():
                alone = latest_consent(conn, "C1", channel, purpose)
                assert (decision.allowed, decision.record) == (alone.allowed, alone.record)
