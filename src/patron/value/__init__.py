"""Differentiate by value: summaries, probabilistic models, CLV, validation."""

from patron.value.clv import ValueFactors, ValueSettings, monthly_rate, value_factors
from patron.value.models import (
    MODELS,
    BaseModel,
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    CohortData,
    DiscreteData,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    RFMData,
    ShiftedBetaGeoModel,
    SpendData,
    load_model,
)
from patron.value.summary import TIME_UNITS, SummarySpec, compress, customer_summary
from patron.value.validation import HoldoutReport, holdout_report
from patron.value.workflow import (
    FitResult,
    ScoreResult,
    SummarySource,
    fit_purchase_model,
    score_customers,
    summary_from_file,
    summary_from_warehouse,
)

__all__ = [
    "MODELS",
    "TIME_UNITS",
    "BaseModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "CohortData",
    "DiscreteData",
    "FitResult",
    "GammaGammaModel",
    "HoldoutReport",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "RFMData",
    "ScoreResult",
    "ShiftedBetaGeoModel",
    "SpendData",
    "SummarySource",
    "SummarySpec",
    "ValueFactors",
    "ValueSettings",
    "compress",
    "customer_summary",
    "fit_purchase_model",
    "holdout_report",
    "load_model",
    "monthly_rate",
    "score_customers",
    "summary_from_file",
    "summary_from_warehouse",
    "value_factors",
]
