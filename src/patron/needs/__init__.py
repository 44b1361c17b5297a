"""Differentiate by needs: behavioural features in the engine, segments, segment profiles."""

from patron.needs.features import FEATURE_LABELS, NeedsFeatures, customer_features
from patron.needs.segments import (
    SegmentModel,
    SegmentResult,
    assign_segments,
    fit_segments,
    load_segment_model,
    segment_customers,
    segment_strength,
)

__all__ = [
    "FEATURE_LABELS",
    "NeedsFeatures",
    "SegmentModel",
    "SegmentResult",
    "assign_segments",
    "customer_features",
    "fit_segments",
    "load_segment_model",
    "segment_customers",
    "segment_strength",
]
