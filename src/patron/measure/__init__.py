"""Measure: experiments and holdouts, lift with intervals, power, uplift."""

from patron.measure.analysis import SRM_ALARM, AnalysisResult, analyze_table, srm_check
from patron.measure.experiments import (
    Arm,
    AssignmentResult,
    Experiment,
    assign_new_customers,
    assignment_list,
    audience_table,
    create_experiment,
    hash_fraction,
    load_experiment,
    parse_arms,
)
from patron.measure.outcomes import (
    OUTCOME_METRICS,
    analyze_experiment,
    experiment_outcomes,
    experiment_table,
    read_outcome_file,
)
from patron.measure.power import PowerPlan, plan_experiment
from patron.measure.uplift import LEARNERS, UpliftResult, fit_uplift, qini_curve, uplift_at

__all__ = [
    "LEARNERS",
    "OUTCOME_METRICS",
    "SRM_ALARM",
    "AnalysisResult",
    "Arm",
    "AssignmentResult",
    "Experiment",
    "PowerPlan",
    "UpliftResult",
    "analyze_experiment",
    "analyze_table",
    "assign_new_customers",
    "assignment_list",
    "audience_table",
    "create_experiment",
    "experiment_outcomes",
    "experiment_table",
    "fit_uplift",
    "hash_fraction",
    "load_experiment",
    "parse_arms",
    "plan_experiment",
    "qini_curve",
    "read_outcome_file",
    "srm_check",
    "uplift_at",
]
