"""Needs segments: k-means on behavioural features, profiles in words, assignment in the engine.

- Training: customers with at least ``min_orders`` orders (their shares are informative; a
  single order is one category, one channel), a seeded sample of at most ``sample_size``
  of them, standardised features, scikit-learn ``KMeans``.
- Number of segments: ``k="auto"`` tries 2..8 and keeps the best mean silhouette (on a seeded
  subsample of 4,000 customers); the scores are kept with the model.
- Stable labels: segments are numbered by size (1 = largest) and named after what most
  distinguishes them; the same data and seed give the same segments.
- Assignment of every customer (new ones included) to the nearest centroid is an Ibis
  expression evaluated in the engine, from the stored model (JSON, in ``segment_models``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from patron.data import people
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.needs.features import (
    FEATURE_LABELS,
    STATED_FACTS_TABLE,
    NeedsFeatures,
    customer_features,
    stated_features,
)

__all__ = [
    "MODELS_TABLE",
    "SEGMENTS_TABLE",
    "SegmentModel",
    "SegmentResult",
    "assign_segments",
    "fit_segments",
    "load_segment_model",
    "segment_customers",
    "segment_strength",
]

SEGMENTS_TABLE = "customer_segments"
MODELS_TABLE = "segment_models"
K_RANGE = range(2, 9)
#: Heavy-tailed features: clustered on the log scale, profiled by their median.
LOG_FEATURES = ("basket_items", "basket_value")
#: Mean silhouette (Kaufman & Rousseeuw 1990): up to 0.25 no substantial structure; up to
#: 0.50 weak, possibly artificial; up to 0.70 reasonable; above, strong.
SILHOUETTE_WORDS = ((0.25, "no real structure"), (0.50, "weak"), (0.70, "reasonable"))
#: One segment holding more than this share of customers is said to dominate.
DOMINANT_SHARE = 0.6
#: Business names of a segment that stands out on a feature, (higher, lower) than average.
BUSINESS_NAMES = {
    "basket_items": ("large baskets", "small baskets"),
    "basket_value": ("big spenders per order", "small spenders per order"),
    "weekend_share": ("weekend shoppers", "weekday shoppers"),
    "discount_share": ("discount seekers", "full-price buyers"),
    "return_rate": ("frequent returners", "rare returners"),
}
#: What a log may lack, and the feature it would give.
OPTIONAL_FEATURES = {
    "category": "what they buy (a category column)",
    "channel": "how they buy (a channel column)",
    "discount": "discount use (a discount column)",
}


@dataclass
class SegmentModel:
    """A fitted segmentation: feature scaling, centroids, names and how k was chosen."""

    features: list[str]
    labels: dict[str, str]
    mean: list[float]
    scale: list[float]
    centroids: list[list[float]]
    names: list[str]
    descriptions: list[str] = field(default_factory=list)
    k_scores: dict[str, float] = field(default_factory=dict)
    criterion: str = ""
    seed: int = 0
    min_orders: int = 3
    trained_on: int = 0
    #: Features clustered on the log scale (log(1 + x)): unbounded, heavy-tailed ones, so
    #: that a few wholesalers' baskets do not set the scale for everyone.
    log_features: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        """Number of segments."""
        return len(self.centroids)

    def to_json(self) -> str:
        """The model as JSON (stored in the warehouse)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SegmentModel:
        """Read a model written by :meth:`to_json`."""
        return cls(**json.loads(text))


def _phrase(label: str, column: str, seg: float, overall: float) -> str:
    """How a segment differs on one feature, in words, with its number and everyone's."""
    if column.startswith("cat_"):
        return f"buys mostly {label.split(' ', 1)[1]} ({seg:.0%} of items vs {overall:.0%} overall)"
    if column.startswith("chan_"):
        return f"buys through {label.split(' ', 1)[1]} ({seg:.0%} vs {overall:.0%})"
    if column.startswith("said_"):
        return f"told us {label.split(' ', 1)[1]} ({seg:.0%} vs {overall:.0%})"
    more = seg > overall
    if column == "basket_items":
        return (
            f"{'large' if more else 'small'} baskets (median {seg:,.1f} items per order vs "
            f"{overall:,.1f} for all customers)"
        )
    if column == "basket_value":
        return f"{'large' if more else 'small'} orders (median {seg:,.2f} vs {overall:,.2f})"
    if column == "weekend_share":
        when = "at weekends" if more else "on weekdays"
        return f"shops {when} ({seg:.0%} of orders at weekends vs {overall:.0%})"
    if column == "discount_share":
        how = "often buys on discount" if more else "rarely buys on discount"
        return f"{how} ({seg:.0%} vs {overall:.0%})"
    if column == "return_rate":
        return f"{'returns often' if more else 'rarely returns'} ({seg:.1%} vs {overall:.1%})"
    return f"{'more' if more else 'less'} {label} ({seg:.3g} vs {overall:.3g})"


#: A feature describes a segment when its centre is at least this many standard deviations
#: from the average (the first one always does) ...
DISTINCT_SD = 0.3
#: ... and when the segment's statistic differs from everyone's by at least this share.
MATERIAL = 0.1


def _distinguishing(c: np.ndarray, features: list[str]) -> list[int]:
    """The (up to) three features that most set a centroid apart (standardised units)."""
    order = np.argsort(-np.abs(c))
    picked = [
        j for j in order if not (features[j].startswith(("cat_", "chan_", "said_")) and c[j] <= 0)
    ]
    return [j for i, j in enumerate(picked[:3]) if i == 0 or abs(c[j]) >= DISTINCT_SD]


def _name(c: np.ndarray, features: list[str], labels: dict[str, str]) -> str:
    """A segment's name in business words: its top category and channel, else its trait."""
    tops = []
    for prefix in ("cat_", "chan_"):
        cands = [j for j in range(len(features)) if features[j].startswith(prefix)]
        if cands:
            best = max(cands, key=lambda j: c[j])
            if c[best] > 0:
                tops.append(labels[features[best]].split(" ", 1)[1])
    if tops:
        return " / ".join(tops)
    picked = _distinguishing(c, features)
    if not picked:
        return "average customers"
    j = picked[0]
    high, low = BUSINESS_NAMES.get(features[j], (f"high {labels[features[j]]}", ""))
    return high if c[j] > 0 else (low or f"low {labels[features[j]]}")


def _describe(
    centroids: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    features: list[str],
    labels: dict[str, str],
) -> tuple[list[str], list[str]]:
    """Names, and profiles from the training centroids (replaced by :func:`_profiles`)."""
    names: list[str] = []
    texts: list[str] = []
    for c in centroids:
        picked = _distinguishing(c, features)
        raw = c * scale + mean
        parts = [_phrase(labels[features[j]], features[j], raw[j], mean[j]) for j in picked]
        texts.append((parts[0][0].upper() + "; ".join(parts)[1:] + ".") if parts else "Average.")
        name = _name(c, features, labels)
        while name in names:
            name += "+"
        names.append(name)
    return names, texts


def _matrix(table: ir.Table, columns: list[str]) -> np.ndarray:
    arrow = table.select(*columns).to_pyarrow()
    x = np.column_stack(
        [np.asarray(arrow.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in columns]
    )
    return x


def fit_segments(
    features: NeedsFeatures,
    *,
    k: int | None = None,
    min_orders: int = 3,
    sample_size: int = 50_000,
    seed: int = 0,
) -> SegmentModel:
    """Fit k-means needs segments on a sample of customers with enough history.

    Parameters
    ----------
    features
        From :func:`customer_features`.
    k
        Number of segments; ``None`` chooses 2..8 by the mean silhouette.
    min_orders
        Customers with fewer orders are assigned, not trained on (falls back to all
        customers when fewer than 200 qualify).
    sample_size, seed
        At most this many training customers, drawn with this seed.
    """
    if k is not None and not 2 <= k <= 20:
        raise UsageError(f"--k must be between 2 and 20 (or auto), got {k}.")
    cols = features.cluster_columns
    if len(cols) < 2:
        raise DataError(
            "Too few behavioural features to segment on: load transactions with category "
            "and/or channel columns."
        )
    t = features.table
    train = t.filter(t.orders >= min_orders)
    n_train = int(train.count().to_pyarrow().as_py())
    if n_train < 200:
        train, n_train = t, int(t.count().to_pyarrow().as_py())
    if n_train < 20:
        raise DataError(f"Only {n_train} customers have purchases; too few to segment.")
    # Imported here, not with the module: scikit-learn adds ~0.5 s to every CLI start-up.
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]
    from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

    x = _matrix(train.order_by("customer_id"), cols)
    logs = [c for c in cols if c in LOG_FEATURES]
    for j, c in enumerate(cols):
        if c in logs:
            x[:, j] = np.log1p(np.clip(x[:, j], 0.0, None))
    rng = np.random.default_rng(seed)
    if len(x) > sample_size:
        x = x[np.sort(rng.choice(len(x), sample_size, replace=False))]
    mean = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), mean, x)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    scores: dict[str, float] = {}
    if k is None:
        probe = z[rng.choice(len(z), min(len(z), 4_000), replace=False)]
        for kk in K_RANGE:
            if kk >= len(probe):
                break
            labels = KMeans(kk, n_init=4, random_state=seed).fit_predict(probe)
            scores[str(kk)] = float(silhouette_score(probe, labels, random_state=seed))
        k = int(max(scores, key=lambda s: scores[s]))
        criterion = f"k={k}: the highest mean silhouette over k=2..{max(int(s) for s in scores)}"
    else:
        criterion = f"k={k}: given"
    km = KMeans(k, n_init=10, random_state=seed).fit(z)
    sizes = np.bincount(km.labels_, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    centroids = km.cluster_centers_[order]
    labels_map = {c: features.label(c) for c in cols}
    names, texts = _describe(centroids, mean, scale, cols, labels_map)
    return SegmentModel(
        cols,
        labels_map,
        mean.tolist(),
        scale.tolist(),
        centroids.tolist(),
        names,
        texts,
        scores,
        criterion,
        seed,
        min_orders,
        len(z),
        logs,
    )


def assign_segments(features: ir.Table, model: SegmentModel) -> ir.Table:
    """Nearest-centroid assignment, as an engine expression.

    Columns: ``customer_id, segment, segment_no, orders, distance`` (squared distance in
    standardised units).
    """
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise DataError(
            f"The segment model uses {', '.join(missing)}, which the transactions no longer "
            "have; segment again with --refit."
        )
    dists: list[ir.FloatingValue] = []
    for centre in model.centroids:
        total: ir.FloatingValue = ibis.literal(0.0)
        for col, m, s, c in zip(model.features, model.mean, model.scale, centre, strict=True):
            value = features[col].cast("float64")
            if col in model.log_features:
                value = (value.clip(lower=0.0) + 1.0).ln()
            zc = (value.fill_null(m) - m) / s - c
            total = total + zc * zc
        dists.append(total)
    best: ir.IntegerValue = ibis.literal(0, "int64")
    best_d = dists[0]
    for i in range(1, len(dists)):
        closer = dists[i] < best_d
        best = ibis.ifelse(closer, i, best)
        best_d = ibis.ifelse(closer, dists[i], best_d)
    name: ir.StringValue = ibis.literal(model.names[0])
    for i in range(1, len(model.names)):
        name = ibis.ifelse(best == i, model.names[i], name)
    return features.select(
        "customer_id",
        segment=name,
        segment_no=best + 1,
        orders=features.orders,
        distance=best_d,
    )


@dataclass
class SegmentResult:
    """What segmenting wrote, with each segment's profile."""

    model: SegmentModel
    refitted: bool
    customers: int
    profiles: list[dict[str, Any]]
    #: Features used and missing, the segments' strength and notes (see ``_quality``).
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        """What the reader should know about these segments."""
        return list(self.quality.get("notes", []))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **self.quality,
            "k": self.model.k,
            "criterion": self.model.criterion,
            "k_scores": self.model.k_scores,
            "refitted": self.refitted,
            "trained_on": self.model.trained_on,
            "min_orders": self.model.min_orders,
            "customers": self.customers,
            "segments": self.profiles,
        }


def load_segment_model(wh: Warehouse) -> SegmentModel | None:
    """The latest stored segment model, if any."""
    if not wh.has_table(MODELS_TABLE):
        return None
    t = wh.table(MODELS_TABLE)
    rows = t.order_by(ibis.desc("created_at")).limit(1).to_pyarrow().to_pylist()
    return SegmentModel.from_json(rows[0]["model"]) if rows else None


def _profiles(
    assigned: ir.Table, feats: NeedsFeatures, model: SegmentModel
) -> list[dict[str, Any]]:
    """Each segment's profile and description from one set of numbers, on every customer.

    Shares are means (bounded, so no customer can dominate them); items and value per order
    are medians (a few wholesalers' baskets would otherwise set the "average"). The words
    compare each segment with the same statistic over all customers, so the text and the
    ``--json`` profile carry the same numbers.
    """
    t = feats.table
    cols = [*model.features, *[c for c in ("basket_value",) if c not in model.features]]
    f = t.select(*cols, _c=t.customer_id)
    j = assigned.select("customer_id", "segment_no").inner_join(f, assigned.customer_id == f._c)

    def stat(table: ir.Table, c: str) -> ir.Value:
        return table[c].median() if c in LOG_FEATURES else table[c].mean()

    per = (
        j.group_by("segment_no")
        .aggregate(n=j.count(), **{c: stat(j, c) for c in cols})
        .order_by("segment_no")
        .to_pyarrow()
        .to_pylist()
    )
    overall = j.aggregate(**{c: stat(j, c) for c in cols}).to_pyarrow().to_pylist()[0]
    total = sum(int(r["n"]) for r in per)
    out = []
    for r in per:
        i = int(r["segment_no"]) - 1
        centre = np.asarray(model.centroids[i])
        parts = []
        for n, k in enumerate(_distinguishing(centre, model.features)):
            col = model.features[k]
            seg, every = r[col], overall[col]
            if seg is None or every is None:
                continue
            if n and abs(seg - every) < MATERIAL * abs(every):
                continue  # set apart in training, but hardly among all customers
            parts.append(_phrase(model.labels[col], col, seg, every))
        text = (parts[0][0].upper() + "; ".join(parts)[1:] + ".") if parts else "Average."
        out.append(
            {
                "segment": model.names[i],
                "segment_no": i + 1,
                "customers": int(r["n"]),
                "share": int(r["n"]) / total if total else 0.0,
                "description": text,
                "profile": {
                    _stat_label(model.labels.get(c, FEATURE_LABELS.get(c, c)), c): _finite(r[c])
                    for c in cols
                },
                "all_customers": {
                    _stat_label(model.labels.get(c, FEATURE_LABELS.get(c, c)), c): _finite(
                        overall[c]
                    )
                    for c in cols
                },
            }
        )
    return out


def _stat_label(label: str, column: str) -> str:
    return f"median {label}" if column in LOG_FEATURES else f"mean {label}"


def _finite(value: Any) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def segment_strength(model: SegmentModel) -> tuple[str, float | None]:
    """How clearly the segments separate, in words, and the mean silhouette behind it."""
    best = model.k_scores.get(str(model.k)) if model.k_scores else None
    if best is None:
        return "not measured (k given)", None
    return next((w for limit, w in SILHOUETTE_WORDS if best <= limit), "strong"), best


def _quality(
    model: SegmentModel, feats: NeedsFeatures, profiles: list[dict[str, Any]]
) -> dict[str, Any]:
    """Which features the segments rest on, what the log lacks, and how strong they are."""
    used = [model.labels.get(c, c) for c in model.features]
    dims = {dim for dim, _ in feats.shares.values()}
    missing = [
        why
        for key, why in OPTIONAL_FEATURES.items()
        if (key in ("category", "channel") and key not in dims)
        or (key == "discount" and "discount_share" not in model.features)
    ]
    notes: list[str] = []
    strength, best = segment_strength(model)
    if best is not None and best <= SILHOUETTE_WORDS[1][0]:
        notes.append(
            f"weak segments: mean silhouette {best:.2f} ({strength}; Kaufman & Rousseeuw: "
            "up to 0.25 no substantial structure, up to 0.50 weak and possibly artificial)."
        )
    largest = max(profiles, key=lambda p: p["share"], default=None)
    if largest is not None and largest["share"] > DOMINANT_SHARE:
        notes.append(
            f"one segment ('{largest['segment']}') holds {largest['share']:.0%} of the "
            "customers: the others mostly set apart a few unusual customers, so these segments "
            "say little about most customers' needs."
        )
    if missing:
        notes.append(
            f"segments from {len(used)} features only ({', '.join(used)}); the log has nothing "
            f"on {', '.join(missing)}, so the segments describe how customers order, not what "
            "they need."
        )
    return {
        "features_used": used,
        "features_missing": missing,
        "silhouette": best,
        "strength": strength,
        "notes": notes,
    }


def segment_customers(
    wh: Warehouse,
    *,
    k: int | None = None,
    refit: bool = False,
    min_orders: int = 3,
    seed: int = 0,
) -> SegmentResult:
    """Segment every customer by needs and write ``customer_segments``.

    A stored model is reused (customers, new ones included, are assigned to the existing
    segments) unless ``refit`` is true, ``k`` is given, or there is none yet.
    """
    feats = customer_features(people.transactions(wh))
    if wh.has_table(STATED_FACTS_TABLE):  # what customers told us (`patron interact export`)
        feats = stated_features(feats, wh.table(STATED_FACTS_TABLE))
    # Computed once (one pass over the transactions): training, assignment and profiles read it.
    staging, feats.table = wh.materialize("features", feats.table)
    try:
        model = None if (refit or k is not None) else load_segment_model(wh)
        if model is not None and set(model.features) - set(feats.table.columns):
            model = None  # a feature it was fitted on is gone (a stated answer now too rare)
        refitted = model is None
        if model is None:
            model = fit_segments(feats, k=k, min_orders=min_orders, seed=seed)
        assigned = assign_segments(feats.table, model)
        profiles = _profiles(assigned, feats, model)
        if refitted:  # the stored descriptions are the words shown now, on every customer
            model.descriptions = [p["description"] for p in profiles]
        # The assignments and the model they come from are stored together (one
        # transaction where the engine has them).
        with wh.transaction():
            wh.replace_table(SEGMENTS_TABLE, assigned)
            if refitted:
                row = ibis.memtable(
                    {
                        "created_at": [datetime.now(UTC).replace(tzinfo=None)],
                        "model": [model.to_json()],
                    }
                )
                if wh.has_table(MODELS_TABLE):
                    wh.insert(MODELS_TABLE, row)
                else:
                    wh.create_table(MODELS_TABLE, row)
        quality = _quality(model, feats, profiles)
    finally:
        wh.drop(staging)
    n = int(wh.table(SEGMENTS_TABLE).count().to_pyarrow().as_py())
    return SegmentResult(model, refitted, n, profiles, quality)
