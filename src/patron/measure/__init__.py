"""Measure: experiments and holdouts, lift with intervals, power, uplift."""

from patron.measure.analysis import SRM_ALARM, AnalysisResult, analyze_table, srm_check
from patron.measure.experiments import (
    Arm,
    AssignmentResult,
    Experiment,
    assign_new_customers,
    audience_table,
    create_experiment,
    hash_fraction,
    load_experiment,
    parse_arms,
)
from patron.measure.outcomes import OUTCOME_METRICS, experiment_outcomes
from patron.measure.power import PowerPlan, plan_experiment

__all__ = [
    "OUTCOME_METRICS",
    "SRM_ALARM",
    "AnalysisResult",
    "Arm",
    "AssignmentResult",
    "Experiment",
    "PowerPlan",
    "analyze_table",
    "assign_new_customers",
    "audience_table",
    "create_experiment",
    "experiment_outcomes",
    "hash_fraction",
    "load_experiment",
    "parse_arms",
    "plan_experiment",
    "srm_check",
]
