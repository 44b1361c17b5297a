"""Customize: recommendations (issue 23, item 2).

A customer × product matrix from engine aggregates (:mod:`~patron.customize.interactions`),
five models with business rules (:mod:`~patron.customize.recommend`), the evaluation protocol
(:mod:`~patron.customize.evaluate`) and the batch run that writes the top N per customer to the
warehouse (:mod:`~patron.customize.recommend_batch`). Publishing to and reading from the operational
store: :mod:`patron.store.recommendations`.
"""

from patron.customize.recommend_batch import FitResult, fit_recommendations
from patron.customize.evaluate import Evaluation, ModelScore, Split, evaluate, split_at
from patron.customize.interactions import Interactions, interactions
from patron.customize.recommend import (
    DEFAULT_MODEL,
    MODELS,
    ALSModel,
    BM25Model,
    CooccurrenceModel,
    ItemKNNModel,
    PopularityModel,
    Recommender,
    Rules,
    TopN,
    make_model,
    recommend,
    similar_items,
)

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ALSModel",
    "BM25Model",
    "CooccurrenceModel",
    "Evaluation",
    "FitResult",
    "Interactions",
    "ItemKNNModel",
    "ModelScore",
    "PopularityModel",
    "Recommender",
    "Rules",
    "Split",
    "TopN",
    "evaluate",
    "fit_recommendations",
    "interactions",
    "make_model",
    "recommend",
    "similar_items",
    "split_at",
]
