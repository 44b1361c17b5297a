from __future__ import annotations

import itertools
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.errors import DataError, UsageError
from patron.interact import (
    DEFAULT_POLICY,
    Contact,
    ContactPolicy,
    ContactRule,
    Touchpoint,
    can_contact,
    contact_policy,
    decide,
    in_quiet_hours,
    log_touchpoint,
    set_consent,
    set_contact_policy,
)
from patron.store import Store
from tests.store_fixtures import publish_test_profiles

MON = datetime(2026, 3, 2, 12, 0)  # a Monday, noon UTC


def _policy(*rules: ContactRule, tz: str = "UTC") -> ContactPolicy:
    return ContactPolicy(rules=rules, default_time_zone=tz)


# --- hand-made calendars, one rule at a time (pure decisions) ---


def test_cap_per_rolling_window() -> None:
    policy = _policy(ContactRule("email cap", channel="email", max_contacts=2, window_days=7))
    made = [Contact("email", MON), Contact("email", MON + timedelta(days=2))]
    third = decide(policy, made, "email", MON + timedelta(days=4))
    assert not third.allowed
    assert third.rule == "email cap"
    assert third.reason == "it would make more than 2 email contacts in 7 days"
    # Exactly 7 days after the first one, the window has rolled on.
    assert decide(policy, made, "email", MON + timedelta(days=7)).allowed
    # Other channels do not count for a channel rule.
    assert decide(policy, made, "sms", MON + timedelta(days=4)).allowed
    # A contact *before* the others is refused if a window containing it would overflow.
    assert not decide(policy, made, "email", MON - timedelta(days=1)).allowed
    assert decide(policy, made, "email", MON - timedelta(days=5, hours=1)).allowed


def test_overall_cap_counts_every_channel() -> None:
    policy = _policy(ContactRule("overall", max_contacts=2, window_days=7))
    made = [Contact("email", MON), Contact("sms", MON + timedelta(days=1))]
    decision = decide(policy, made, "mail", MON + timedelta(days=2))
    assert (decision.allowed, decision.rule) == (False, "overall")
    assert "more than 2 overall contacts in 7 days" in decision.reason


def test_minimum_gap_both_sides() -> None:
    policy = _policy(ContactRule("gap", min_gap_hours=48))
    made = [Contact("email", MON)]
    assert not decide(policy, made, "sms", MON + timedelta(hours=47)).allowed
    assert not decide(policy, made, "sms", MON - timedelta(hours=47)).allowed
    assert decide(policy, made, "sms", MON + timedelta(hours=48)).allowed
    refused = decide(policy, made, "sms", MON + timedelta(hours=1))
    assert "closer than 48 hours" in refused.reason


def test_quiet_hours_in_the_customers_time_zone() -> None:
    rule = ContactRule("calls", channel="phone", quiet_start=time(20, 0), quiet_end=time(9, 0))
    policy = _policy(rule)
    # 19:30 UTC is 20:30 in Berlin (winter, UTC+1): quiet there, not in London.
    at = datetime(2026, 1, 15, 19, 30)
    berlin = decide(policy, [], "phone", at, time_zone="Europe/Berlin")
    assert not berlin.allowed
    assert berlin.reason == "20:30 in Europe/Berlin is within quiet hours 20:00-09:00"
    assert decide(policy, [], "phone", at, time_zone="Europe/London").allowed
    # An aware time is converted; 08:59 New York is quiet, 09:00 is not.
    ny = ZoneInfo("America/New_York")
    before, after = datetime(2026, 1, 15, 8, 59, tzinfo=ny), datetime(2026, 1, 15, 9, tzinfo=ny)
    assert not decide(policy, [], "phone", before, time_zone="America/New_York").allowed
    assert decide(policy, [], "phone", after, time_zone="America/New_York").allowed
    # The policy's default zone applies without one.
    tokyo = _policy(rule, tz="Asia/Tokyo")
    assert not decide(tokyo, [], "phone", datetime(2026, 1, 15, 12, 0)).allowed  # 21:00 Tokyo
    with pytest.raises(DataError, match="Unknown time zone 'Mars/Base'"):
        decide(policy, [], "phone", at, time_zone="Mars/Base")


def test_quiet_hours_wrap_midnight() -> None:
    assert in_quiet_hours(time(23, 0), time(21, 0), time(9, 0))
    assert in_quiet_hours(time(3, 0), time(21, 0), time(9, 0))
    assert not in_quiet_hours(time(9, 0), time(21, 0), time(9, 0))
    assert in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))
    assert not in_quiet_hours(time(14, 0), time(12, 0), time(14, 0))


def test_tier_overrides_replace_the_general_rule() -> None:
    policy = DEFAULT_POLICY
    made = [Contact("phone", MON)]
    later = MON + timedelta(days=3)
    general = decide(policy, made, "phone", later, tier="other")
    assert (general.allowed, general.rule) == (False, "phone fortnightly cap")
    assert decide(policy, made, "phone", later, tier="MVC").allowed  # two calls a fortnight
    bz = decide(policy, [], "phone", later, tier="BZ")
    assert (bz.allowed, bz.rule) == (False, "BZ no calls")
    assert bz.reason == "phone contacts are blocked for tier BZ"
    assert decide(policy, [], "email", later, tier="BZ").allowed  # cheap channels stay open


def test_policy_round_trip_and_bad_rules() -> None:
    again = ContactPolicy.from_dict(json.loads(DEFAULT_POLICY.to_json()))
    assert again == DEFAULT_POLICY
    with pytest.raises(UsageError, match="channel in contact rule 'x'"):
        ContactRule("x", channel="fax")
    with pytest.raises(UsageError, match="unknown field\\(s\\) max"):
        ContactRule.from_dict({"name": "y", "max": 3})
    with pytest.raises(UsageError, match="quiet_start '25:00' is not a time"):
        ContactRule.from_dict({"name": "z", "quiet_start": "25:00", "quiet_end": "08:00"})
    with pytest.raises(UsageError, match="give both quiet_start and quiet_end"):
        ContactRule("q", quiet_start=time(1, 0))
    with pytest.raises(UsageError, match="distinct names"):
        ContactPolicy(rules=(ContactRule("a"), ContactRule("a")))


# --- the property: no sequence of accepted contacts breaks a rule ---


def _violations(policy: ContactPolicy, accepted: list[Contact], tier: str, tz: str) -> list[str]:
    """An independent check of every rule over a set of contacts (all windows, all pairs)."""
    zone = ZoneInfo(tz)
    found: list[str] = []
    for channel in {c.channel for c in accepted}:
        for rule in policy.rules_for(tier, channel):
            own = [c for c in accepted if c.channel == channel]
            scope = sorted(c.at for c in accepted if rule.channel in (None, c.channel))
            if rule.blocked and own:
                found.append(f"{rule.name}: blocked channel used")
            if rule.quiet_start is not None and rule.quiet_end is not None:
                for c in own:
                    local = c.at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).time()
                    if in_quiet_hours(local, rule.quiet_start, rule.quiet_end):
                        found.append(f"{rule.name}: quiet hours at {c.at}")
            if rule.min_gap_hours:
                for a, b in itertools.pairwise(scope):
                    if b - a < timedelta(hours=rule.min_gap_hours):
                        found.append(f"{rule.name}: gap {a} {b}")
            if rule.max_contacts is not None:
                w = timedelta(days=rule.window_days)
                for s in scope:
                    if sum(1 for t in scope if s <= t < s + w) > rule.max_contacts:
                        found.append(f"{rule.name}: cap from {s}")
    return found


@st.composite
def _rule(draw: st.DrawFn) -> ContactRule:
    quiet = draw(st.sampled_from([None, (time(21, 0), time(9, 0)), (time(8, 0), time(12, 30))]))
    return ContactRule(
        name=str(draw(st.uuids())),
        channel=draw(st.sampled_from([None, "email", "sms", "phone"])),
        tiers=draw(st.sampled_from([(), ("MVC",), ("BZ",)])),
        max_contacts=draw(st.one_of(st.none(), st.integers(0, 4))),
        window_days=draw(st.sampled_from([1.0, 3.5, 7.0, 30.0])),
        min_gap_hours=draw(st.one_of(st.none(), st.sampled_from([2.0, 12.0, 30.0]))),
        quiet_start=quiet[0] if quiet else None,
        quiet_end=quiet[1] if quiet else None,
        blocked=draw(st.sampled_from([False, False, False, True])),
    )


rules_st = st.lists(_rule(), max_size=5)
attempts_st = st.lists(
    st.tuples(st.sampled_from(["email", "sms", "phone", "mail"]), st.integers(0, 60 * 24 * 40)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    rules=rules_st,
    attempts=attempts_st,
    tier=st.sampled_from(["MVC", "BZ", "other"]),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_accepted_contacts_never_break_a_rule(
    rules: list[ContactRule], attempts: list[tuple[str, int]], tier: str, tz: str
) -> None:
    policy = ContactPolicy(rules=tuple(rules), default_time_zone=tz)
    accepted: list[Contact] = []
    for channel, minutes in attempts:  # in any order, not only forward in time
        at = MON + timedelta(minutes=minutes)
        if decide(policy, accepted, channel, at, tier=tier).allowed:
            accepted.append(Contact(channel, at))
    assert _violations(policy, accepted, tier, tz) == []


@settings(max_examples=200, deadline=None)
@given(attempts=attempts_st, tier=st.sampled_from(["MVC", "BZ", "other"]))
def test_default_policy_property(attempts: list[tuple[str, int]], tier: str) -> None:
    accepted: list[Contact] = []
    for channel, minutes in attempts:
        at = MON + timedelta(minutes=minutes)
        if decide(DEFAULT_POLICY, accepted, channel, at, tier=tier).allowed:
            accepted.append(Contact(channel, at))
    assert _violations(DEFAULT_POLICY, accepted, tier, "UTC") == []


# --- through the store: consent, service exemption, tiers from the publication ---


def test_can_contact_checks_consent_first(store: Store) -> None:
    decision = can_contact(store, "C1", "email", MON)
    assert (decision.allowed, decision.rule) == (False, "consent")
    assert "default is opt-in" in decision.reason
    set_consent(store, "C1", "email", "marketing", "granted", source="web form", at=MON)
    assert can_contact(store, "C1", "email", MON + timedelta(hours=1)).allowed
    set_consent(store, "C1", "email", "marketing", "withdrawn", source="unsubscribe link")
    blocked = can_contact(store, "C1", "email", MON + timedelta(hours=2))
    assert (blocked.allowed, blocked.rule) == (False, "consent")  # the withdrawal applies at once


def test_logged_contacts_count_across_campaigns_and_service_is_exempt(store: Store) -> None:
    set_consent(store, "C1", "all", "marketing", "granted", source="signup", at=MON)
    for day, campaign in ((0, "spring"), (2, "easter")):
        log_touchpoint(
            store,
            Touchpoint(
                "C1",
                "email",
                "offer_shown",
                direction="outbound",
                campaign=campaign,
                occurred_at=MON + timedelta(days=day),
            ),
        )
    third = can_contact(store, "C1", "email", MON + timedelta(days=4))
    assert (third.allowed, third.rule) == (False, "email weekly cap")
    # Inbound touch points and service contacts are not counted; service is always possible.
    log_touchpoint(store, Touchpoint("C1", "phone", "complaint", occurred_at=MON))
    service = can_contact(store, "C1", "email", MON + timedelta(days=4), "service")
    assert (service.allowed, service.rule) == (True, "service exempt")
    with pytest.raises(UsageError, match="Unknown purpose 'spam'"):
        can_contact(store, "C1", "email", MON, "spam")


def test_tier_and_time_zone_come_from_the_profile(store: Store, tmp_path: Path) -> None:
    publish_test_profiles(
        store,
        tmp_path,
        [
            {"customer_id": "B1", "tier": "BZ", "time_zone": "Asia/Tokyo"},
            {"customer_id": "M1", "tier": "MVC", "time_zone": "Europe/Berlin"},
        ],
    )
    for cid in ("B1", "M1"):
        set_consent(store, cid, "phone", "marketing", "granted", source="call", at=MON)
    bz = can_contact(store, "B1", "phone", MON)
    assert (bz.allowed, bz.rule) == (False, "BZ no calls")
    late = datetime(2026, 3, 2, 19, 30)  # 20:30 in Berlin
    mvc = can_contact(store, "M1", "phone", late)
    assert (mvc.allowed, mvc.rule) == (False, "MVC phone cap")
    assert "Europe/Berlin" in mvc.reason


def test_stored_policy_replaces_the_default(store: Store) -> None:
    assert contact_policy(store) == DEFAULT_POLICY
    strict = ContactPolicy(
        rules=(ContactRule("no sms", channel="sms", blocked=True),),
        consent_defaults={"marketing": {"sms": True}},
    )
    set_contact_policy(store, strict)
    stored = contact_policy(store)
    assert stored.rules == strict.rules
    assert stored.consent_defaults["marketing"]["sms"] is True
    decision = can_contact(store, "C9", "sms", MON)
    assert (decision.allowed, decision.rule) == (False, "no sms")
