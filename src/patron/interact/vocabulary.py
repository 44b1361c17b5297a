"""The closed vocabularies of Interact (channels, directions, kinds, purposes) and time rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from patron.errors import UsageError

__all__ = [
    "CHANNELS",
    "CONSENT_STATES",
    "DIRECTIONS",
    "KINDS",
    "PURPOSES",
    "check_choice",
    "to_utc",
    "utc_now",
]

#: Where a touch point happens.
CHANNELS = ("web", "email", "phone", "store", "app", "mail", "sms")
#: Who started it.
DIRECTIONS = ("inbound", "outbound")
#: What happened. ``question_declined``: the customer declined to answer a question.
KINDS = (
    "purchase",
    "inquiry",
    "complaint",
    "service",
    "visit",
    "offer_shown",
    "offer_accepted",
    "offer_declined",
    "answer",
    "question_declined",
)
#: Why we contact or what we use data for (consent is given per purpose).
PURPOSES = ("marketing", "profiling", "service")
#: Consent states; only ``granted`` allows.
CONSENT_STATES = ("granted", "denied", "withdrawn")


def check_choice(value: str, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a :class:`UsageError` naming both."""
    options = tuple(allowed)
    if value not in options:
        raise UsageError(f"Unknown {what} {value!r}; use one of: {', '.join(options)}.")
    return value


def to_utc(moment: datetime) -> datetime:
    """A time as naive UTC (how the store keeps times); a naive input is taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def utc_now() -> datetime:
    """Now, as naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
