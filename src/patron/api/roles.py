"""Who may call what: every operation of the API and the roles allowed, in one table.

The operation names are the OpenAPI ``operationId`` of the routes; ``docs/api.md`` shows the
same table. ``/health`` and ``/ready`` need no key.
"""

from __future__ import annotations

from patron.store.keys import ROLES

__all__ = ["ENDPOINT_ROLES", "ROLES"]

_ALL = frozenset(ROLES)
_STAFF = frozenset({"admin", "manager", "agent"})
_AGENT = frozenset({"admin", "agent"})
_MANAGE = frozenset({"admin", "manager"})
_ADMIN = frozenset({"admin"})

#: Operation (OpenAPI operationId) → the roles allowed to call it.
ENDPOINT_ROLES: dict[str, frozenset[str]] = {
    # customers: find and read
    "customers.find": _ALL,
    "customers.get": _ALL,
    "customers.screen": _STAFF,
    "customers.next_question": _ALL,
    "customers.facts": _STAFF,
    "customers.preferences": _STAFF,
    "customers.touchpoints": _STAFF,
    "customers.consent": _ALL,
    "customers.consent_history": _STAFF,
    "customers.contact": _ALL,
    # customers: what the agent records
    "customers.answer": _AGENT,
    "customers.decline": _AGENT,
    "customers.set_preference": _AGENT,
    "customers.set_consent": _AGENT,
    # data subject requests
    "customers.export": _ADMIN,
    "customers.erase": _ADMIN,
    # the touch-point log
    "touchpoints.log": frozenset({"admin", "agent", "integration"}),
    "touchpoints.log_batch": frozenset({"admin", "agent", "integration"}),
    # the question bank
    "questions.list": _STAFF,
    "questions.get": _STAFF,
    "questions.put": _MANAGE,
    "questions.delete": _MANAGE,
    # the contact policy
    "policy.get": _MANAGE,
    "policy.set": _ADMIN,
    # keys and the audit log
    "keys.list": _ADMIN,
    "keys.create": _ADMIN,
    "keys.revoke": _ADMIN,
    "audit.list": _ADMIN,
    # Customize: the offer catalogue, decisions and their responses, prices, campaigns
    "offers.list": _STAFF,
    "offers.get": _STAFF,
    "offers.create": _MANAGE,
    "offers.update": _MANAGE,
    "offers.delete": _MANAGE,
    "customers.next_best_action": _ALL,
    "decisions.response": frozenset({"admin", "agent", "integration"}),
    "quotes.quote": frozenset({"admin", "agent", "integration"}),
    "campaigns.list": _MANAGE,
    "campaigns.get": _MANAGE,
}
