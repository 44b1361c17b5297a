"""Measure: experiments, lift, power, uplift, satisfaction, value analysis, relationships."""

from patron.measure.analysis import SRM_ALARM, AnalysisResult, analyze_table, srm_check
from patron.measure.b2b import (
    B2BResult,
    b2b_portfolio,
    b2b_potential,
    read_factor_ratings,
    read_weights,
)
from patron.measure.cva import CvaResult, customer_value_analysis
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
from patron.measure.relationship import (
    LEVELS,
    RelationshipResult,
    RelationshipRules,
    customer_relationship,
    relationship_actions,
    relationship_levels,
)
from patron.measure.satisfaction import (
    SatisfactionResult,
    csat_interval,
    nps_interval,
    satisfaction,
    satisfaction_behaviour,
)
from patron.measure.uplift import LEARNERS, UpliftResult, fit_uplift, qini_curve, uplift_at

__all__ = [
    "LEARNERS",
    "LEVELS",
    "OUTCOME_METRICS",
    "SRM_ALARM",
    "AnalysisResult",
    "Arm",
    "AssignmentResult",
    "B2BResult",
    "CvaResult",
    "Experiment",
    "PowerPlan",
    "RelationshipResult",
    "RelationshipRules",
    "SatisfactionResult",
    "UpliftResult",
    "analyze_experiment",
    "analyze_table",
    "assign_new_customers",
    "assignment_list",
    "audience_table",
    "b2b_portfolio",
    "b2b_potential",
    "create_experiment",
    "csat_interval",
    "customer_relationship",
    "customer_value_analysis",
    "experiment_outcomes",
    "experiment_table",
    "fit_uplift",
    "hash_fraction",
    "load_experiment",
    "nps_interval",
    "parse_arms",
    "plan_experiment",
    "qini_curve",
    "read_factor_ratings",
    "read_outcome_file",
    "read_weights",
    "relationship_actions",
    "relationship_levels",
    "satisfaction",
    "satisfaction_behaviour",
    "srm_check",
    "uplift_at",
]
