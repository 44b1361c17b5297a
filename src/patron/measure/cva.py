"""Customer value analysis against competitors (Kotler's five steps), from survey responses.

1. **Attributes** customers value: the ``rating_<attribute>`` columns of the survey.
2. **Importance** of each attribute, one of two ways (the result says which):

   - *derived* (default): an ordinary least-squares regression of the overall rating on the
     attribute ratings, pooled over every brand's respondents of the wave (the market's view of
     what drives an overall judgement). The regression needs only sums of squares and
     cross-products, computed in the engine; numpy solves the normal equations. Importance is
     the *normalised* coefficient b_a / Σ b (shares that sum to 1), with a delta-method 95%
     interval from the coefficients' covariance (t quantile, n − k − 1 degrees of freedom);
   - *stated*: the mean ``importance_<attribute>`` answer (on the survey's scale) with a t
     interval, normalised the same way (each mean over the sum of the means; the interval is
     the mean's interval over the same sum).

3. **Performance**: each brand's mean rating per attribute with a t interval.
4. **Gaps**: ours minus each competitor's mean per attribute, Welch interval and p-value (the
   respondents of two brands are different people).
5. **Monitoring**: our rating and each gap against the previous wave (ordered by label),
   Welch / z test.

**Attributes to fix first**: those on which we are behind the best competitor on that
attribute with the gap's whole interval below zero, ordered by *weighted gap* = importance ×
gap (rating points of the weighted score lost; with derived importance times Σ b it is overall
rating points).

**Customer perceived value map**: perceived *benefit* is a respondent's importance-weighted
mean rating of the benefit attributes (all but the cost attributes); perceived *cost* is the
cost attribute's rating turned around (scale top + scale bottom − rating, so higher means
"costs more"), the cost attributes being those whose name contains ``price``, ``cost`` or
``fee`` (or those named by the caller). Both are means per brand with t intervals, and shown
*relative to competitors* (a brand's value minus the mean over all brands); customer perceived
value = relative benefit − relative cost. Without a cost attribute, the map is not drawn and the
result says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from patron.data.responses import RATINGS_TABLE, RESPONSES_TABLE
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.measure.analysis import _welch
from patron.measure.satisfaction import SMALL_GROUP, mean_interval

__all__ = [
    "IMPORTANCE_METHODS",
    "CvaResult",
    "customer_value_analysis",
    "importance_from_moments",
    "regression_moments",
]

IMPORTANCE_METHODS = ("derived", "stated")
COST_PATTERN = re.compile(r"price|cost|fee", re.IGNORECASE)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def regression_moments(ratings: np.ndarray, overall: np.ndarray) -> dict[str, Any]:
    """The sums a regression needs, from arrays (what the engine aggregate computes).

    Parameters
    ----------
    ratings
        n × k attribute ratings (complete rows).
    overall
        n overall ratings.

    Returns
    -------
    dict
        ``n``, ``xtx`` ((k+1) × (k+1), with the intercept), ``xty`` (k+1), ``yty``.
    """
    x = np.column_stack([np.ones(len(overall)), ratings])
    return {
        "n": len(overall),
        "xtx": x.T @ x,
        "xty": x.T @ overall,
        "yty": float(overall @ overall),
    }


def importance_from_moments(moments: dict[str, Any], alpha: float = 0.05) -> dict[str, Any]:
    """Normalised OLS weights with delta-method intervals, from :func:`regression_moments`.

    Returns
    -------
    dict
        ``coefficients``, ``coefficient_se``, ``importance`` (b / Σ b), ``importance_low``,
        ``importance_high``, ``importance_se``, ``r_squared``, ``n``, ``sum_coefficients``
        with its interval.

    Raises
    ------
    DataError
        Too few responses for the number of attributes, ratings that do not vary, or
        coefficients whose sum is not clearly positive (the ratings do not explain the
        overall rating, so no importance can be derived).
    """
    from scipy import stats

    n = int(moments["n"])
    xtx = np.asarray(moments["xtx"], dtype=float)
    xty = np.asarray(moments["xty"], dtype=float)
    p = xtx.shape[0]
    k = p - 1
    if n < p + 2:
        raise DataError(
            f"Only {n} responses rate every attribute and overall; deriving the importance of "
            f"{k} attributes needs at least {p + 2} (use stated importance: --importance stated)."
        )
    if np.linalg.cond(xtx) > 1e12:
        raise DataError(
            "The attribute ratings do not vary independently (one is constant or a copy of "
            "another); importance cannot be derived. Use stated importance: --importance stated."
        )
    inv = np.linalg.inv(xtx)
    b = inv @ xty
    sse = max(float(moments["yty"]) - float(b @ xty), 0.0)
    s2 = sse / (n - p)
    cov = s2 * inv
    ybar = xty[0] / n
    sst = float(moments["yty"]) - n * ybar * ybar
    r2 = 1 - sse / sst if sst > 0 else 0.0
    coef, c = b[1:], cov[1:, 1:]
    total = float(coef.sum())
    total_se = math.sqrt(max(float(np.ones(k) @ c @ np.ones(k)), 0.0))
    q = float(stats.t.ppf(1 - alpha / 2, n - p))
    if not total - q * total_se > 0:
        raise DataError(
            f"The attribute ratings do not explain the overall rating (sum of weights "
            f"{total:.2f}, 95% interval {total - q * total_se:.2f} to {total + q * total_se:.2f}); "
            "importance cannot be derived from this wave. Use stated importance "
            "(--importance stated) or check that overall and the ratings are on the same scale."
        )
    w = coef / total
    jac = (np.eye(k) - np.outer(w, np.ones(k))) / total
    se = np.sqrt(np.maximum(np.diag(jac @ c @ jac.T), 0.0))
    return {
        "n": n,
        "coefficients": coef.tolist(),
        "coefficient_se": np.sqrt(np.maximum(np.diag(c), 0.0)).tolist(),
        "importance": w.tolist(),
        "importance_se": se.tolist(),
        "importance_low": (w - q * se).tolist(),
        "importance_high": (w + q * se).tolist(),
        "r_squared": r2,
        "sum_coefficients": total,
        "sum_low": total - q * total_se,
        "sum_high": total + q * total_se,
    }


@dataclass
class CvaResult:
    """The customer value analysis of one wave (and segment)."""

    wave: str
    segment: str | None
    ours: str
    competitors: list[str]
    respondents: dict[str, int]
    importance_method: str
    attributes: list[dict[str, Any]]
    fix_first: list[dict[str, Any]]
    value_map: dict[str, Any]
    changes: dict[str, Any]
    regression: dict[str, Any] | None = None
    scale: tuple[float, float] = (1.0, 5.0)
    findings: list[str] = field(default_factory=list)
    #: Kotler's step 4: each survey segment against the major competitor, attribute by attribute.
    by_segment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (missing figures are ``None``, never NaN)."""
        definition = (
            "normalised regression weight: the share of the overall rating's response to "
            "the attribute ratings (OLS of overall on the ratings, pooled over brands; weights "
            "sum to 1; 95% delta-method interval)"
            if self.importance_method == "derived"
            else "normalised stated importance: the mean importance answer over the sum of "
            "the means (sums to 1; 95% t interval)"
        )
        return {
            "wave": self.wave,
            "segment": self.segment,
            "ours": self.ours,
            "competitors": self.competitors,
            "respondents": self.respondents,
            "scale": list(self.scale),
            "importance_method": self.importance_method,
            "importance_definition": definition,
            "regression": self.regression,
            "attributes": self.attributes,
            "fix_first": self.fix_first,
            "value_map": self.value_map,
            "changes": self.changes,
            "by_segment": self.by_segment,
            "findings": self.findings,
        }


def _tables(wh: Warehouse) -> tuple[ir.Table, ir.Table]:
    if not wh.has_table(RESPONSES_TABLE) or not wh.has_table(RATINGS_TABLE):
        raise DataError(
            "No survey responses in the warehouse: load them with `patron load responses FILE`."
        )
    return wh.table(RESPONSES_TABLE), wh.table(RATINGS_TABLE)


def _waves(resp: ir.Table) -> list[str]:
    rows = resp.select("wave").distinct().order_by("wave").to_pyarrow().column("wave")
    return [str(w) for w in rows.to_pylist()]


def _brand_stats(resp: ir.Table, ratings: ir.Table) -> dict[tuple[str, str], dict[str, Any]]:
    r = resp.select("response_id", "brand", "is_ours").join(ratings, "response_id")
    agg = (
        r.group_by(["brand", "attribute"])
        .aggregate(
            n=r.rating.notnull().sum(),
            s=r.rating.sum(),
            ss=(r.rating * r.rating).sum(),
            ni=r.importance.notnull().sum(),
            si=r.importance.sum(),
            ssi=(r.importance * r.importance).sum(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    return {(str(a["brand"]), str(a["attribute"])): a for a in agg}


def _wide(resp: ir.Table, ratings: ir.Table, attributes: Sequence[str]) -> ir.Table:
    """One row per response: overall and every attribute's rating (complete rows only)."""
    r = ratings.filter(ratings.response_id.isin(resp.response_id))
    cols = {
        f"x{i}": ibis.ifelse(r.attribute == a, r.rating, ibis.null("float64")).max()
        for i, a in enumerate(attributes)
    }
    wide = r.group_by("response_id").aggregate(**cols)
    j = resp.select("response_id", "brand", "overall").join(wide, "response_id")
    complete = j.overall.notnull()
    for i in range(len(attributes)):
        complete = complete & j[f"x{i}"].notnull()
    return j.filter(complete)


def _moments(wide: ir.Table, k: int) -> dict[str, Any]:
    """X'X, X'y and y'y of the regression, aggregated in the engine."""
    cols: dict[str, ir.Value] = {"n": wide.count(), "yy": (wide.overall * wide.overall).sum()}
    cols["ysum"] = wide.overall.sum()
    for i in range(k):
        xi = wide[f"x{i}"]
        cols[f"s_{i}"] = xi.sum()
        cols[f"y_{i}"] = (xi * wide.overall).sum()
        for j in range(i, k):
            cols[f"p_{i}_{j}"] = (xi * wide[f"x{j}"]).sum()
    got = wide.aggregate(**cols).to_pyarrow().to_pylist()[0]
    n = int(got["n"])
    xtx = np.zeros((k + 1, k + 1))
    xty = np.zeros(k + 1)
    xtx[0, 0] = n
    xty[0] = float(got["ysum"] or 0.0)
    for i in range(k):
        xtx[0, i + 1] = xtx[i + 1, 0] = float(got[f"s_{i}"] or 0.0)
        xty[i + 1] = float(got[f"y_{i}"] or 0.0)
        for j in range(i, k):
            xtx[i + 1, j + 1] = xtx[j + 1, i + 1] = float(got[f"p_{i}_{j}"] or 0.0)
    return {"n": n, "xtx": xtx, "xty": xty, "yty": float(got["yy"] or 0.0)}


def _stated(
    stats: dict[tuple[str, str], dict[str, Any]], attributes: Sequence[str], alpha: float
) -> dict[str, Any]:
    sums = {a: [0, 0.0, 0.0] for a in attributes}
    for (_, attribute), row in stats.items():
        if attribute in sums and row["ni"]:
            sums[attribute][0] += int(row["ni"])
            sums[attribute][1] += float(row["si"])
            sums[attribute][2] += float(row["ssi"])
    missing = [a for a, s in sums.items() if s[0] < 2]
    if missing:
        raise DataError(
            f"No stated importance for attribute(s) {', '.join(missing)} in this wave "
            "(importance_<attribute> columns); use derived importance: --importance derived."
        )
    means = {a: mean_interval(int(s[0]), s[1], s[2], alpha) for a, s in sums.items()}
    total = sum(m["mean"] for m in means.values())
    return {
        "importance": [means[a]["mean"] / total for a in attributes],
        "importance_low": [means[a]["low"] / total for a in attributes],
        "importance_high": [means[a]["high"] / total for a in attributes],
        "stated_mean": [means[a]["mean"] for a in attributes],
        "n": min(int(s[0]) for s in sums.values()),
    }


def _mean(row: dict[str, Any] | None, alpha: float) -> dict[str, Any] | None:
    if row is None or not row["n"]:
        return None
    m = mean_interval(int(row["n"]), float(row["s"]), float(row["ss"]), alpha)
    m["n"] = int(row["n"])
    return m


def _gap(ours: dict[str, Any], theirs: dict[str, Any], alpha: float) -> dict[str, Any]:
    if ours["n"] < 2 or theirs["n"] < 2:
        return {"gap": ours["mean"] - theirs["mean"], "low": None, "high": None, "p": None}
    w = _welch(
        ours["mean"], ours["var"], ours["n"], theirs["mean"], theirs["var"], theirs["n"], alpha
    )
    return {
        "gap": w["lift"],
        "low": _finite(w["ci_low"]),
        "high": _finite(w["ci_high"]),
        "p": _finite(w["p_value"]),
        "se": _finite(w["se"]),
    }


def customer_value_analysis(
    wh: Warehouse,
    *,
    wave: str | None = None,
    segment: str | None = None,
    importance: str = "derived",
    cost_attributes: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> CvaResult:
    """Run the customer value analysis for one wave (default: the latest) and segment.

    Parameters
    ----------
    wh
        The warehouse with ``responses`` and ``response_ratings``.
    wave
        The wave label; default the latest (by label).
    segment
        Only respondents of this survey segment; default all.
    importance
        ``derived`` (regression of overall on the ratings) or ``stated`` (mean importance
        answers).
    cost_attributes
        Attributes that measure price or cost (for the value map); default those whose name
        contains price, cost or fee.
    alpha
        1 − the confidence level of every interval.

    Returns
    -------
    CvaResult
    """
    if importance not in IMPORTANCE_METHODS:
        raise UsageError(
            f"--importance {importance!r}: use one of {', '.join(IMPORTANCE_METHODS)}."
        )
    resp_all, ratings = _tables(wh)
    if segment is not None:
        resp_all = resp_all.filter(resp_all.segment == segment)
    waves = _waves(resp_all)
    if not waves:
        what = f" in segment {segment!r}" if segment else ""
        raise DataError(f"No survey responses{what}; check --segment.")
    if wave is None:
        wave = waves[-1]
    elif wave not in waves:
        raise UsageError(f"--wave {wave!r}: no such wave; the waves are: {', '.join(waves)}.")
    resp = resp_all.filter(resp_all.wave == wave)
    counts = resp.group_by(["brand", "is_ours"]).aggregate(
        n=resp.count(), low=resp.scale_low.min(), high=resp.scale_high.max()
    )
    brands = counts.order_by("brand").to_pyarrow().to_pylist()
    ours_rows = [b for b in brands if b["is_ours"]]
    if not ours_rows:
        raise DataError(f"No response of wave {wave!r} rates our brand; nothing to compare.")
    ours = str(ours_rows[0]["brand"])
    competitors = [str(b["brand"]) for b in brands if not b["is_ours"]]
    scale = (float(min(b["low"] for b in brands)), float(max(b["high"] for b in brands)))
    respondents = {str(b["brand"]): int(b["n"]) for b in brands}
    stats = _brand_stats(resp, ratings)
    attributes = sorted({a for (_, a) in stats})
    if not attributes:
        raise DataError(f"Wave {wave!r} has no attribute ratings (rating_<attribute> columns).")
    findings: list[str] = []
    regression: dict[str, Any] | None = None
    if importance == "derived":
        fit = importance_from_moments(_moments(_wide(resp, ratings, attributes), len(attributes)))
        regression = {
            "responses": fit["n"],
            "r_squared": fit["r_squared"],
            "coefficients": dict(zip(attributes, fit["coefficients"], strict=True)),
            "coefficient_se": dict(zip(attributes, fit["coefficient_se"], strict=True)),
            "sum_coefficients": fit["sum_coefficients"],
        }
        imp = fit
        findings.append(
            f"Importance derived from {fit['n']:,} responses by regressing the overall rating on "
            f"the {len(attributes)} attribute ratings (R² {fit['r_squared']:.2f})."
        )
    else:
        imp = _stated(stats, attributes, alpha)
        findings.append("Importance as customers stated it (mean importance answers).")
    try:
        stated = _stated(stats, attributes, alpha) if importance == "derived" else None
    except DataError:
        stated = None
    rows: list[dict[str, Any]] = []
    for i, a in enumerate(attributes):
        mine = _mean(stats.get((ours, a)), alpha)
        row: dict[str, Any] = {
            "attribute": a,
            "importance": imp["importance"][i],
            "importance_low": _finite(imp["importance_low"][i]),
            "importance_high": _finite(imp["importance_high"][i]),
            "ours": mine["mean"] if mine else None,
            "ours_low": _finite(mine["low"]) if mine else None,
            "ours_high": _finite(mine["high"]) if mine else None,
            "ours_n": mine["n"] if mine else 0,
            "competitors": {},
        }
        if stated is not None:
            row["stated_importance"] = stated["importance"][i]
        worst: tuple[float, str] | None = None
        for c in competitors:
            theirs = _mean(stats.get((c, a)), alpha)
            if theirs is None:
                row["competitors"][c] = {"rating": None, "gap": None, "note": "not rated"}
                continue
            entry: dict[str, Any] = {
                "rating": theirs["mean"],
                "rating_low": _finite(theirs["low"]),
                "rating_high": _finite(theirs["high"]),
                "n": theirs["n"],
            }
            if mine is not None:
                g = _gap(mine, theirs, alpha)
                entry.update(gap=g["gap"], gap_low=g["low"], gap_high=g["high"], p_value=g["p"])
                if worst is None or g["gap"] < worst[0]:
                    worst = (g["gap"], c)
            row["competitors"][c] = entry
        if worst is not None:
            best = row["competitors"][worst[1]]
            row["best_competitor"] = worst[1]
            row["gap_to_best"] = worst[0]
            row["weighted_gap"] = row["importance"] * worst[0]
            row["behind"] = best.get("gap_high") is not None and best["gap_high"] < 0
        if mine is not None and mine["n"] < SMALL_GROUP:
            row["note"] = f"only {mine['n']} of our respondents rated it: too few to act on"
        rows.append(row)
    fix = sorted((r for r in rows if r.get("behind")), key=lambda r: r["weighted_gap"])
    fix_first = [
        {
            "attribute": r["attribute"],
            "behind": r["best_competitor"],
            "gap": r["gap_to_best"],
            "importance": r["importance"],
            "weighted_gap": r["weighted_gap"],
            "sentence": (f"Fix {r['attribute']} first" if n == 0 else f"Then {r['attribute']}")
            + f": we rate {abs(r['gap_to_best']):.2f} points below {r['best_competitor']} "
            f"(95% interval {r['competitors'][r['best_competitor']]['gap_low']:+.2f} to "
            f"{r['competitors'][r['best_competitor']]['gap_high']:+.2f}) on an attribute "
            f"weighing {r['importance']:.0%}.",
        }
        for n, r in enumerate(fix)
    ]
    if fix_first:
        findings.extend(f["sentence"] for f in fix_first)
    else:
        findings.append(
            "No attribute where we are clearly behind a competitor (every gap's interval "
            "reaches zero or above)."
        )
    small = [b for b, n in respondents.items() if n < SMALL_GROUP]
    if small:
        findings.append(
            f"Few respondents for {', '.join(small)} (under {SMALL_GROUP}): their figures have "
            "wide intervals; do not act on them alone."
        )
    value_map = _value_map(
        resp, ratings, attributes, imp["importance"], cost_attributes, scale, ours, alpha
    )
    if value_map.get("available"):
        findings.append(value_map["finding"])
    changes = _changes(resp_all, ratings, waves, wave, ours, competitors, attributes, alpha)
    findings.extend(changes.get("findings", []))
    by_segment = (
        _by_segment(resp, ratings, ours, competitors, attributes, alpha)
        if segment is None and competitors
        else {}
    )
    findings.extend(by_segment.get("findings", []))
    return CvaResult(
        wave=wave,
        segment=segment,
        ours=ours,
        competitors=competitors,
        respondents=respondents,
        importance_method=importance,
        attributes=rows,
        fix_first=fix_first,
        value_map=value_map,
        changes=changes,
        regression=regression,
        scale=scale,
        findings=findings,
        by_segment=by_segment,
    )


def _by_segment(
    resp: ir.Table,
    ratings: ir.Table,
    ours: str,
    competitors: list[str],
    attributes: list[str],
    alpha: float,
) -> dict[str, Any]:
    """Each survey segment's gaps to the major competitor (the best mean overall rating)."""
    theirs_t = resp.filter(~resp.is_ours)
    overall = (
        theirs_t.group_by("brand")
        .aggregate(m=theirs_t.overall.mean(), n=theirs_t.count())
        .order_by([ibis.desc("m"), ibis.desc("n")])
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    major = str(overall[0]["brand"]) if overall and overall[0]["m"] is not None else competitors[0]
    seg = resp.filter(resp.segment.notnull())
    r = seg.select("response_id", "brand", "segment").join(ratings, "response_id")
    r = r.filter(r.brand.isin([ours, major]))
    agg = (
        r.group_by(["segment", "brand", "attribute"])
        .aggregate(n=r.rating.notnull().sum(), s=r.rating.sum(), ss=(r.rating * r.rating).sum())
        .to_pyarrow()
        .to_pylist()
    )
    if not agg:
        return {}
    stats = {(str(a["segment"]), str(a["brand"]), str(a["attribute"])): a for a in agg}
    segments: dict[str, list[dict[str, Any]]] = {}
    words: list[str] = []
    for name in sorted({k[0] for k in stats}):
        rows: list[dict[str, Any]] = []
        for a in attributes:
            mine, theirs = (
                _mean(stats.get((name, ours, a)), alpha),
                _mean(stats.get((name, major, a)), alpha),
            )
            if mine is None or theirs is None:
                rows.append({"attribute": a, "note": "not rated by both in this segment"})
                continue
            g = _gap(mine, theirs, alpha)
            row: dict[str, Any] = {
                "attribute": a,
                "ours": mine["mean"],
                "competitor": theirs["mean"],
                "gap": g["gap"],
                "gap_low": g["low"],
                "gap_high": g["high"],
                "ours_n": mine["n"],
                "competitor_n": theirs["n"],
            }
            if min(mine["n"], theirs["n"]) < SMALL_GROUP:
                row["note"] = "fewer than 30 respondents on a side: too few to act on"
            rows.append(row)
        segments[name] = rows
        behind = [
            x["attribute"] for x in rows if x.get("gap_high") is not None and x["gap_high"] < 0
        ]
        if behind:
            words.append(f"Segment {name} rates us behind {major} on {', '.join(behind)}.")
    return {"major_competitor": major, "segments": segments, "findings": words}


def _value_map(
    resp: ir.Table,
    ratings: ir.Table,
    attributes: Sequence[str],
    weights: Sequence[float],
    cost_attributes: Sequence[str] | None,
    scale: tuple[float, float],
    ours: str,
    alpha: float,
) -> dict[str, Any]:
    cost = (
        [a for a in attributes if a in set(cost_attributes)]
        if cost_attributes is not None
        else [a for a in attributes if COST_PATTERN.search(a)]
    )
    if cost_attributes is not None and set(cost_attributes) - set(attributes):
        unknown = sorted(set(cost_attributes) - set(attributes))
        raise UsageError(
            f"--cost {', '.join(unknown)}: no such attribute; the attributes are: "
            f"{', '.join(attributes)}."
        )
    benefit = [a for a in attributes if a not in cost]
    if not cost or not benefit:
        return {
            "available": False,
            "reason": "no price or cost attribute among the ratings (name one with --cost)"
            if not cost
            else "every attribute is a cost attribute: no benefit to compare",
        }
    w = dict(zip(attributes, weights, strict=True))
    wb = sum(max(w[a], 0.0) for a in benefit) or 1.0
    wide = _wide(resp, ratings, attributes)
    idx = {a: i for i, a in enumerate(attributes)}
    ben = sum((wide[f"x{idx[a]}"] * (max(w[a], 0.0) / wb) for a in benefit), ibis.literal(0.0))
    cst = sum(((scale[0] + scale[1]) - wide[f"x{idx[a]}"] for a in cost), ibis.literal(0.0)) / len(
        cost
    )
    t = wide.mutate(_b=ben, _c=cst)
    agg = (
        t.group_by("brand")
        .aggregate(
            n=t.count(),
            sb=t._b.sum(),
            ssb=(t._b * t._b).sum(),
            sc=t._c.sum(),
            ssc=(t._c * t._c).sum(),
        )
        .order_by("brand")
        .to_pyarrow()
        .to_pylist()
    )
    points = []
    for r in agg:
        n = int(r["n"])
        b = mean_interval(n, float(r["sb"]), float(r["ssb"]), alpha)
        c = mean_interval(n, float(r["sc"]), float(r["ssc"]), alpha)
        points.append(
            {
                "brand": str(r["brand"]),
                "respondents": n,
                "benefit": b["mean"],
                "benefit_low": _finite(b["low"]),
                "benefit_high": _finite(b["high"]),
                "cost": c["mean"],
                "cost_low": _finite(c["low"]),
                "cost_high": _finite(c["high"]),
            }
        )
    if len(points) < 2:
        return {"available": False, "reason": "only one brand rated: nothing to be relative to"}
    mb = sum(p["benefit"] for p in points) / len(points)
    mc = sum(p["cost"] for p in points) / len(points)
    for p in points:
        p["relative_benefit"] = p["benefit"] - mb
        p["relative_cost"] = p["cost"] - mc
        p["perceived_value"] = p["relative_benefit"] - p["relative_cost"]
    best = max(points, key=lambda p: p["perceived_value"])
    mine = next((p for p in points if p["brand"] == ours), None)
    finding = (
        "Perceived value (benefit minus cost, relative to the market average): "
        + ", ".join(f"{p['brand']} {p['perceived_value']:+.2f}" for p in points)
        + f"; {best['brand']} offers the most."
    )
    del mine
    return {
        "available": True,
        "benefit_attributes": benefit,
        "cost_attributes": cost,
        "definition": "benefit: importance-weighted mean rating of the benefit attributes; "
        "cost: the cost attribute's rating turned around (scale top + bottom - rating: higher "
        "= costs more); both per respondent, averaged per brand (t interval), and relative to "
        "the mean over the brands; perceived value = relative benefit - relative cost",
        "points": points,
        "finding": finding,
    }


def _changes(
    resp_all: ir.Table,
    ratings: ir.Table,
    waves: list[str],
    wave: str,
    ours: str,
    competitors: list[str],
    attributes: list[str],
    alpha: float,
) -> dict[str, Any]:
    from scipy import stats as sps

    i = waves.index(wave)
    if i == 0:
        return {"previous_wave": None, "note": "the first wave: nothing to compare with"}
    prev_wave = waves[i - 1]
    prev = _brand_stats(resp_all.filter(resp_all.wave == prev_wave), ratings)
    now = _brand_stats(resp_all.filter(resp_all.wave == wave), ratings)
    rows = []
    words = []
    for a in attributes:
        m1, m0 = _mean(now.get((ours, a)), alpha), _mean(prev.get((ours, a)), alpha)
        if m1 is None or m0 is None or m1["n"] < 2 or m0["n"] < 2:
            rows.append({"attribute": a, "note": "not rated by us in both waves"})
            continue
        w = _welch(m1["mean"], m1["var"], m1["n"], m0["mean"], m0["var"], m0["n"], alpha)
        row: dict[str, Any] = {
            "attribute": a,
            "ours_change": w["lift"],
            "ours_change_low": _finite(w["ci_low"]),
            "ours_change_high": _finite(w["ci_high"]),
            "ours_p_value": _finite(w["p_value"]),
            "significant": bool(w["p_value"] < alpha) if math.isfinite(w["p_value"]) else False,
            "gaps": {},
        }
        for c in competitors:
            t1, t0 = _mean(now.get((c, a)), alpha), _mean(prev.get((c, a)), alpha)
            if t1 is None or t0 is None or min(t1["n"], t0["n"]) < 2:
                continue
            g1, g0 = _gap(m1, t1, alpha), _gap(m0, t0, alpha)
            if g1.get("se") is None or g0.get("se") is None:
                continue
            d = g1["gap"] - g0["gap"]
            se = math.sqrt(g1["se"] ** 2 + g0["se"] ** 2)
            z = float(sps.norm.ppf(1 - alpha / 2))
            p = float(2 * sps.norm.sf(abs(d) / se)) if se > 0 else 1.0
            row["gaps"][c] = {
                "change": d,
                "low": d - z * se,
                "high": d + z * se,
                "p_value": p,
                "significant": p < alpha,
            }
        if row["significant"]:
            words.append(
                f"Our {a} rating moved {w['lift']:+.2f} since {prev_wave} (95% interval "
                f"{w['ci_low']:+.2f} to {w['ci_high']:+.2f}): a real change, not chance."
            )
        rows.append(row)
    if not words:
        words.append(f"No attribute rating of ours changed significantly since {prev_wave}.")
    return {"previous_wave": prev_wave, "attributes": rows, "findings": words}
