"""Contact policy (saturation): how often, how closely and when a customer may be contacted.

Rules apply per channel or to every channel together ("overall"), and count every outbound
marketing or profiling touch point of the customer across all campaigns. A rule can cap the
contacts in a rolling window (at most N in any W days), require a minimum gap between two
contacts, forbid quiet hours in the customer's own time zone, or block a channel. Rules may
be given for some tiers only: for a customer in such a tier they replace the general rules of
the same scope (channel or overall), so MVC may get more calls and BZ no costly channels.
Service contacts are exempt from the rules (they are still logged) but consent is checked for
every purpose.

The decision itself is a pure function, :func:`decide`, of the contacts already made;
:func:`can_contact` reads those from the store and the customer's tier and time zone from the
live publication. A contact is refused when it would break a rule in *any* window that
contains it (before or after), so contacts accepted in any order never break a rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import DataError, UsageError
from patron.interact.consent import DEFAULT_CONSENT, ConsentDecision, latest_consent
from patron.interact.profiles import Profile, live_profile
from patron.interact.vocabulary import CHANNELS, PURPOSES, check_choice, to_utc
from patron.store import Store
from patron.store.schema import store_meta, touchpoints
from patron.yamltext import parse_yaml

__all__ = [
    "DEFAULT_POLICY",
    "Contact",
    "ContactDecision",
    "ContactPolicy",
    "ContactRule",
    "can_contact",
    "contact_decision",
    "contact_policy",
    "decide",
    "in_quiet_hours",
    "policy_from_text",
    "read_contact_policy",
    "set_contact_policy",
]

#: Purposes whose contacts the rules count and limit (service is exempt).
LIMITED_PURPOSES = ("marketing", "profiling")
POLICY_KEY = "contact_policy"


def _zone(name: str, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(
            f"Unknown time zone {name!r} for {what}; use an IANA name such as Europe/Berlin."
        ) from None


@dataclass(frozen=True)
class ContactRule:
    """One rule of the contact policy.

    Parameters
    ----------
    name
        How decisions name the rule.
    channel
        The channel it limits; ``None``: every channel together (overall).
    tiers
        The tiers it applies to; empty: every tier. A tier-specific rule replaces the general
        rules of the same scope for customers of that tier.
    max_contacts, window_days
        At most ``max_contacts`` contacts in any window of ``window_days`` days.
    min_gap_hours
        At least this many hours between two contacts (in the rule's scope).
    quiet_start, quiet_end
        No contact from ``quiet_start`` to ``quiet_end`` local time (the customer's time zone;
        may wrap midnight, e.g. 21:00 to 09:00).
    blocked
        The scope may not be used at all (for the tiers given).
    """

    name: str
    channel: str | None = None
    tiers: tuple[str, ...] = ()
    max_contacts: int | None = None
    window_days: float = 7.0
    min_gap_hours: float | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    blocked: bool = False

    def __post_init__(self) -> None:
        if self.channel is not None:
            check_choice(self.channel, CHANNELS, f"channel in contact rule {self.name!r}")
        if self.max_contacts is not None and self.max_contacts < 0:
            raise UsageError(f"Contact rule {self.name!r}: max_contacts must be 0 or more.")
        if not self.window_days > 0:
            raise UsageError(f"Contact rule {self.name!r}: window_days must be positive.")
        if self.min_gap_hours is not None and self.min_gap_hours < 0:
            raise UsageError(f"Contact rule {self.name!r}: min_gap_hours must be 0 or more.")
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise UsageError(f"Contact rule {self.name!r}: give both quiet_start and quiet_end.")

    @property
    def scope(self) -> str:
        """The channel, or ``overall``."""
        return self.channel or "overall"

    @property
    def reach(self) -> timedelta:
        """How far before and after a contact the rule looks."""
        days = self.window_days if self.max_contacts is not None else 0.0
        return max(timedelta(days=days), timedelta(hours=self.min_gap_hours or 0.0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        row = asdict(self)
        row["tiers"] = list(self.tiers)
        for key in ("quiet_start", "quiet_end"):
            row[key] = row[key].strftime("%H:%M") if row[key] is not None else None
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> ContactRule:
        """Read a rule written by :meth:`to_dict` (or by hand, in a policy file)."""
        data = dict(row)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"Contact rule {data.get('name')!r}: unknown field(s) {', '.join(unknown)}; "
                f"fields are {', '.join(sorted(known))}."
            )
        if "name" not in data:
            raise UsageError("A contact rule needs a name.")
        numbers = {"max_contacts": int, "window_days": float, "min_gap_hours": float}
        for key, kind in numbers.items():
            value = data.get(key)
            ok = value is None or (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and (kind is float or isinstance(value, int))
            )
            if not ok or (key == "window_days" and value is None and key in data):
                what = "a whole number" if kind is int else "a number"
                raise UsageError(
                    f"Contact rule {data['name']!r}: {key} must be {what}, not {value!r}."
                )
        if not isinstance(data.get("blocked", False), bool):
            raise UsageError(f"Contact rule {data['name']!r}: blocked must be true or false.")
        data["tiers"] = tuple(data.get("tiers") or ())
        for key in ("quiet_start", "quiet_end"):
            value = data.get(key)
            if isinstance(value, str):
                try:
                    data[key] = time.fromisoformat(value)
                except ValueError:
                    raise UsageError(
                        f"Contact rule {data['name']!r}: {key} {value!r} is not a time (HH:MM)."
                    ) from None
        return cls(**data)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local time of day falls in quiet hours [start, end) (wrapping midnight)."""
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@dataclass(frozen=True)
class ContactPolicy:
    """The rules, the time zone for customers without one, and the consent defaults."""

    rules: tuple[ContactRule, ...] = ()
    default_time_zone: str = "UTC"
    consent_defaults: dict[str, dict[str, bool]] = field(
        default_factory=lambda: {p: dict(c) for p, c in DEFAULT_CONSENT.items()}
    )

    def __post_init__(self) -> None:
        _zone(self.default_time_zone, "the policy's default_time_zone")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise UsageError("Contact rules need distinct names.")

    def rules_for(self, tier: str | None, channel: str) -> list[ContactRule]:
        """The rules that apply to a contact on ``channel`` for a customer of ``tier``."""
        chosen: list[ContactRule] = []
        for scope in (channel, None):
            general = [r for r in self.rules if r.channel == scope and not r.tiers]
            special = [r for r in self.rules if r.channel == scope and tier in r.tiers]
            chosen.extend(special if special else general)
        return chosen

    def to_json(self) -> str:
        """The policy as JSON (stored in the store)."""
        return json.dumps(
            {
                "rules": [r.to_dict() for r in self.rules],
                "default_time_zone": self.default_time_zone,
                "consent_defaults": self.consent_defaults,
            },
            sort_keys=True,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactPolicy:
        """Read a policy from a dictionary (JSON in the store, or a YAML file)."""
        unknown = sorted(set(data) - {"rules", "default_time_zone", "consent_defaults"})
        if unknown:
            raise UsageError(
                f"Unknown contact policy field(s) {', '.join(unknown)}; fields are rules, "
                "default_time_zone, consent_defaults."
            )
        defaults = {p: dict(c) for p, c in DEFAULT_CONSENT.items()}
        for purpose, channels in (data.get("consent_defaults") or {}).items():
            check_choice(purpose, PURPOSES, "purpose in consent_defaults")
            for channel, allowed in channels.items():
                check_choice(channel, CHANNELS, f"channel in consent_defaults.{purpose}")
                defaults[purpose][channel] = bool(allowed)
        return cls(
            rules=tuple(ContactRule.from_dict(r) for r in data.get("rules") or ()),
            default_time_zone=str(data.get("default_time_zone", "UTC")),
            consent_defaults=defaults,
        )


#: The policy used until one is set: caps per channel and overall, quiet hours for calls and
#: texts, and per-tier overrides (MVC: one more call a fortnight; BZ: no calls, no mail).
DEFAULT_POLICY = ContactPolicy(
    rules=(
        ContactRule("overall weekly cap", max_contacts=3, window_days=7, min_gap_hours=20),
        ContactRule("email weekly cap", channel="email", max_contacts=2, window_days=7),
        ContactRule(
            "sms monthly cap",
            channel="sms",
            max_contacts=2,
            window_days=30,
            quiet_start=time(21, 0),
            quiet_end=time(9, 0),
        ),
        ContactRule(
            "phone fortnightly cap",
            channel="phone",
            max_contacts=1,
            window_days=14,
            quiet_start=time(20, 0),
            quiet_end=time(9, 0),
        ),
        ContactRule(
            "MVC phone cap",
            channel="phone",
            tiers=("MVC",),
            max_contacts=2,
            window_days=14,
            quiet_start=time(20, 0),
            quiet_end=time(9, 0),
        ),
        ContactRule("BZ no calls", channel="phone", tiers=("BZ",), blocked=True),
        ContactRule("mail monthly cap", channel="mail", max_contacts=2, window_days=30),
        ContactRule("BZ no mail", channel="mail", tiers=("BZ",), blocked=True),
    )
)


@dataclass(frozen=True)
class Contact:
    """A contact already made: its channel and time (naive UTC)."""

    channel: str
    at: datetime


@dataclass(frozen=True)
class ContactDecision:
    """Whether a contact may be made, the rule that decided, and why in words."""

    allowed: bool
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def _max_in_windows(times: Sequence[datetime], at: datetime, window: timedelta) -> int:
    """The most contacts, ``at`` included, in any window [s, s + window) that contains ``at``."""
    starts = [t for t in times if at - window < t <= at] + [at]
    everything = [*times, at]
    return max(sum(1 for t in everything if s <= t < s + window) for s in starts)


def decide(
    policy: ContactPolicy,
    contacts: Sequence[Contact],
    channel: str,
    at: datetime,
    *,
    tier: str | None = None,
    time_zone: str | None = None,
) -> ContactDecision:
    """Whether a marketing or profiling contact on ``channel`` at ``at`` keeps every rule.

    ``contacts`` are the customer's counted contacts (any channel, any time); ``at`` is naive
    UTC or aware. Rules are checked in the policy's order; the first broken one decides.
    """
    at = to_utc(at)
    zone = _zone(time_zone or policy.default_time_zone, "the customer")
    local = at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    for rule in policy.rules_for(tier, channel):
        scope = rule.scope
        tier_note = f" for tier {tier}" if rule.tiers else ""
        if rule.blocked:
            return ContactDecision(False, rule.name, f"{scope} contacts are blocked{tier_note}")
        quiet = rule.quiet_start is not None and rule.quiet_end is not None
        if quiet and in_quiet_hours(local.time(), rule.quiet_start, rule.quiet_end):  # type: ignore[arg-type]
            return ContactDecision(
                False,
                rule.name,
                f"{local:%H:%M} in {zone.key} is within quiet hours "
                f"{rule.quiet_start:%H:%M}-{rule.quiet_end:%H:%M}",
            )
        times = sorted(c.at for c in contacts if rule.channel in (None, c.channel))
        if rule.min_gap_hours:
            gap = timedelta(hours=rule.min_gap_hours)
            near = [t for t in times if abs(t - at) < gap]
            if near:
                return ContactDecision(
                    False,
                    rule.name,
                    f"another {scope} contact at {near[0]:%Y-%m-%d %H:%M} UTC is closer than "
                    f"{rule.min_gap_hours:g} hours",
                )
        if rule.max_contacts is not None:
            window = timedelta(days=rule.window_days)
            if _max_in_windows(times, at, window) > rule.max_contacts:
                return ContactDecision(
                    False,
                    rule.name,
                    f"it would make more than {rule.max_contacts} {scope} contacts in "
                    f"{rule.window_days:g} days{tier_note}",
                )
    return ContactDecision(True, "none", "no contact rule is broken")


def read_contact_policy(path: Path) -> ContactPolicy:
    """A contact policy from a YAML file; a :class:`DataError` names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such contact policy file.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}).") from None
    data = parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise DataError(f"{path}: a contact policy is a mapping with `rules`.")
    try:
        return ContactPolicy.from_dict(data)
    except (UsageError, TypeError) as exc:
        raise DataError(f"{path}: {exc}") from None


def set_contact_policy(store: Store, policy: ContactPolicy) -> None:
    """Store the contact policy (replacing the previous one)."""
    with store.write() as conn:
        conn.execute(sa.delete(store_meta).where(store_meta.c.key == POLICY_KEY))
        conn.execute(sa.insert(store_meta).values(key=POLICY_KEY, value=policy.to_json()))


def contact_policy(store: Store | Connection) -> ContactPolicy:
    """The stored contact policy, or :data:`DEFAULT_POLICY` when none was set."""
    query = sa.select(store_meta.c.value).where(store_meta.c.key == POLICY_KEY)
    if isinstance(store, Connection):
        value = store.execute(query).scalar_one_or_none()
    else:
        with store.read() as conn:
            value = conn.execute(query).scalar_one_or_none()
    return policy_from_text(value)


def policy_from_text(text: str | None) -> ContactPolicy:
    """The policy stored as JSON text, or :data:`DEFAULT_POLICY` for None."""
    return DEFAULT_POLICY if text is None else _parse_policy(str(text))


@lru_cache(maxsize=16)
def _parse_policy(text: str) -> ContactPolicy:
    return ContactPolicy.from_dict(json.loads(text))


def counted_contacts(
    conn: Connection, customer_id: str, start: datetime, end: datetime
) -> list[Contact]:
    """The customer's outbound marketing and profiling contacts with start < time < end."""
    query = sa.select(touchpoints.c.channel, touchpoints.c.occurred_at).where(
        touchpoints.c.customer_id == customer_id,
        touchpoints.c.direction == "outbound",
        touchpoints.c.purpose.in_(LIMITED_PURPOSES),
        touchpoints.c.occurred_at > start,
        touchpoints.c.occurred_at < end,
    )
    return [Contact(r.channel, r.occurred_at) for r in conn.execute(query)]


def can_contact(
    store: Store,
    customer_id: str,
    channel: str,
    at: datetime,
    purpose: str = "marketing",
    *,
    policy: ContactPolicy | None = None,
) -> ContactDecision:
    """Whether the customer may be contacted on ``channel`` at ``at`` for ``purpose``.

    Consent first (the latest record for the channel and purpose, else the default); then,
    except for service contacts, every contact rule (:func:`decide`) against the customer's
    outbound marketing and profiling touch points, with the tier and time zone of the live
    profile (none: the general rules and the policy's time zone).
    """
    check_choice(channel, CHANNELS, "channel")
    check_choice(purpose, PURPOSES, "purpose")
    with store.read() as conn:
        return contact_decision(conn, customer_id, channel, at, purpose, policy=policy)


def contact_decision(
    conn: Connection,
    customer_id: str,
    channel: str,
    at: datetime,
    purpose: str = "marketing",
    *,
    policy: ContactPolicy | None = None,
    profile: Profile | None = None,
    consent: ConsentDecision | None = None,
) -> ContactDecision:
    """:func:`can_contact` inside the caller's read; ``profile`` and ``consent`` when known."""
    at = to_utc(at)
    chosen = policy if policy is not None else contact_policy(conn)
    if consent is None:
        consent = latest_consent(
            conn, customer_id, channel, purpose, defaults=chosen.consent_defaults
        )
    if not consent.allowed:
        return ContactDecision(False, "consent", consent.reason)
    if purpose not in LIMITED_PURPOSES:
        return ContactDecision(
            True, "service exempt", "service contacts are exempt from the contact rules"
        )
    if profile is None:
        profile = live_profile(conn, customer_id)
    tier = profile.tier if profile else None
    reach = max((r.reach for r in chosen.rules_for(tier, channel)), default=timedelta(0))
    contacts = counted_contacts(conn, customer_id, at - reach, at + reach)
    return decide(
        chosen,
        contacts,
        channel,
        at,
        tier=tier,
        time_zone=profile.time_zone if profile else None,
    )
