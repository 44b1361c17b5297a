"""Customize: offers, next best action with its reasons, one price per customer, campaigns.

The offer catalogue lives in the operational store (:mod:`patron.customize.offers`); the next
best action (:mod:`patron.customize.nba`) chooses among the offers one customer is eligible
for, by expected value, under their preferences, consent and the contact policy (from
:mod:`patron.interact`), and logs every decision with its reasons; price quotes
(:mod:`patron.customize.quotes`) keep one live price per customer and product. Customize may
import Interact; Interact never imports Customize.
"""

from patron.customize.eligibility import Eligibility, check_eligibility
from patron.customize.nba import (
    Candidate,
    Decision,
    NbaInputs,
    NbaSettings,
    arbitrate,
    decision_log,
    next_best_action,
)
from patron.customize.offers import (
    OFFER_KINDS,
    PROFILE_ATTRIBUTES,
    Offer,
    create_offer,
    delete_offer,
    get_offer,
    list_offers,
    load_offers,
    update_offer,
)
from patron.customize.quotes import Quote, QuoteOutcome, live_quotes, quote

__all__ = [
    "OFFER_KINDS",
    "PROFILE_ATTRIBUTES",
    "Candidate",
    "Decision",
    "Eligibility",
    "NbaInputs",
    "NbaSettings",
    "Offer",
    "Quote",
    "QuoteOutcome",
    "arbitrate",
    "check_eligibility",
    "create_offer",
    "decision_log",
    "delete_offer",
    "get_offer",
    "list_offers",
    "live_quotes",
    "load_offers",
    "next_best_action",
    "quote",
    "update_offer",
]
