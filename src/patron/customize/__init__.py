"""Customize: offers, recommendations, next best action with its reasons, one price per customer.

The offer catalogue lives in the operational store (:mod:`patron.customize.offers`); the next
best action (:mod:`patron.customize.nba`, in batch :mod:`patron.customize.batch`) chooses among
the offers one customer is eligible for, by expected value, under their preferences, consent
and the contact policy (from :mod:`patron.interact`), and logs every decision with its reasons;
price quotes (:mod:`patron.customize.quotes`) keep one live price per customer and product;
campaigns (:mod:`patron.customize.campaigns`) send next best actions against a holdout.
Recommendations: a customer × product matrix from engine aggregates
(:mod:`~patron.customize.interactions`), eight models with business rules
(:mod:`~patron.customize.recommend`), the evaluation protocol (:mod:`~patron.customize.evaluate`)
and the batch run that writes the top N per customer to the warehouse
(:mod:`~patron.customize.recommend_batch`); publishing to and reading from the operational store:
:mod:`patron.store.recommendations`. Customize may import Interact; Interact never imports
Customize.
"""

from patron.customize.eligibility import Eligibility, check_eligibility
from patron.customize.evaluate import Evaluation, ModelScore, Split, evaluate, split_at
from patron.customize.interactions import Interactions, interactions
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
from patron.customize.recommend import (
    DEFAULT_MODEL,
    MODELS,
    ALSModel,
    BM25Model,
    CooccurrenceModel,
    EASEModel,
    HybridModel,
    ItemKNNModel,
    PopularityModel,
    Recommender,
    RP3betaModel,
    Rules,
    TopN,
    make_model,
    recommend,
    similar_items,
)
from patron.customize.recommend_batch import FitResult, fit_recommendations

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "OFFER_KINDS",
    "PROFILE_ATTRIBUTES",
    "ALSModel",
    "BM25Model",
    "Candidate",
    "CooccurrenceModel",
    "Decision",
    "EASEModel",
    "Eligibility",
    "Evaluation",
    "FitResult",
    "HybridModel",
    "Interactions",
    "ItemKNNModel",
    "ModelScore",
    "NbaInputs",
    "NbaSettings",
    "Offer",
    "PopularityModel",
    "Quote",
    "QuoteOutcome",
    "RP3betaModel",
    "Recommender",
    "Rules",
    "Split",
    "TopN",
    "arbitrate",
    "check_eligibility",
    "create_offer",
    "decision_log",
    "delete_offer",
    "evaluate",
    "fit_recommendations",
    "get_offer",
    "interactions",
    "list_offers",
    "live_quotes",
    "load_offers",
    "make_model",
    "next_best_action",
    "quote",
    "recommend",
    "similar_items",
    "split_at",
    "update_offer",
]
