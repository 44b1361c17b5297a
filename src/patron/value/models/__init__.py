"""Probabilistic customer-base models (pure numpy/scipy; no engine, no I/O)."""

from patron.value.models._base import BaseModel, load_model
from patron.value.models._data import BadRowError, DiscreteData, RFMData, SpendData
from patron.value.models.beta_geo import BetaGeoModel, ModifiedBetaGeoModel
from patron.value.models.bgbb import BetaGeoBetaBinomModel
from patron.value.models.gamma_gamma import GammaGammaModel
from patron.value.models.pareto_nbd import ParetoNBDModel
from patron.value.models.sbg import CohortData, ShiftedBetaGeoModel

MODELS: dict[str, type[BaseModel]] = {
    m.name: m
    for m in (
        BetaGeoModel,
        ModifiedBetaGeoModel,
        ParetoNBDModel,
        GammaGammaModel,
        BetaGeoBetaBinomModel,
        ShiftedBetaGeoModel,
    )
}

__all__ = [
    "MODELS",
    "BadRowError",
    "BaseModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "CohortData",
    "DiscreteData",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "RFMData",
    "ShiftedBetaGeoModel",
    "SpendData",
    "load_model",
]
