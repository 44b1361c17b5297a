"""Interact: touch points, consent, contact policy, questions and facts, the agent screen."""

from patron.interact.consent import (
    ALL_CHANNELS,
    DEFAULT_CONSENT,
    ConsentDecision,
    ConsentRecord,
    consent_history,
    latest_consent,
    set_consent,
)
from patron.interact.touchpoints import (
    DEFAULT_PURPOSE,
    LoadResult,
    Touchpoint,
    load_touchpoints,
    log_touchpoint,
    log_touchpoints,
    recent_touchpoints,
)
from patron.interact.vocabulary import CHANNELS, CONSENT_STATES, DIRECTIONS, KINDS, PURPOSES

__all__ = [
    "ALL_CHANNELS",
    "CHANNELS",
    "CONSENT_STATES",
    "DEFAULT_CONSENT",
    "DEFAULT_PURPOSE",
    "DIRECTIONS",
    "KINDS",
    "PURPOSES",
    "ConsentDecision",
    "ConsentRecord",
    "LoadResult",
    "Touchpoint",
    "consent_history",
    "latest_consent",
    "load_touchpoints",
    "log_touchpoint",
    "log_touchpoints",
    "recent_touchpoints",
    "set_consent",
]
