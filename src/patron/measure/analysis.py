"""Lift of each treated arm over control, with intervals, from sufficient statistics.

The engine aggregates per (stratum, arm): n, Σy, Σy² (and Σx, Σx², Σxy with a pre-period
covariate x); everything below works on those few numbers, so 10 million customers cost one
grouped scan.

- 0/1 metrics: rates, difference with Newcombe's hybrid score interval (Newcombe 1998, method
  10; statsmodels ``confint_proportions_2indep(method="newcomb")``), score test p-value.
- Other metrics: means, Welch's t interval and test (unequal variances).
- Relative lift = lift / control mean, its interval by the delta method.
- Post-stratified overall lift = Σ_s w_s·lift_s with w_s the stratum's share of all customers
  (Welch/normal per stratum), when strata are given.
- CUPED (Deng et al. 2013) with a pre-period covariate: y − θ(x − x̄), θ = cov(x, y)/var(x)
  pooled over all arms; then Welch on the adjusted values.
- Sample-ratio mismatch: chi-square test of the arm counts against the design shares; alarm at
  p < 0.001.
- Several treated arms: Holm-adjusted p-values and Bonferroni intervals beside the plain ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.errors import DataError, UsageError

__all__ = [
    "SRM_ALARM",
    "AnalysisResult",
    "Moments",
    "analyze_table",
    "compare_proportions",
    "srm_check",
]

SRM_ALARM = 0.001
#: A stratum with fewer customers than this in the arm or in control is too small to tell:
#: its lift is shown but marked, and its interval is wide.
SMALL_STRATUM = 30


@dataclass
class Moments:
    """Sufficient statistics of one metric in one group."""

    n: float = 0.0
    sy: float = 0.0
    syy: float = 0.0
    sx: float = 0.0
    sxx: float = 0.0
    sxy: float = 0.0

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.n + other.n,
            self.sy + other.sy,
            self.syy + other.syy,
            self.sx + other.sx,
            self.sxx + other.sxx,
            self.sxy + other.sxy,
        )

    @property
    def mean(self) -> float:
        """Mean of y."""
        return self.sy / self.n if self.n else math.nan

    def var(self) -> float:
        """Sample variance of y."""
        if self.n < 2:
            return math.nan
        return max((self.syy - self.sy**2 / self.n) / (self.n - 1), 0.0)

    def cuped(self, theta: float, x_mean: float) -> tuple[float, float]:
        """Mean and variance of y − θ(x − x̄)."""
        if self.n < 2:
            return math.nan, math.nan
        vy = self.var()
        vx = max((self.sxx - self.sx**2 / self.n) / (self.n - 1), 0.0)
        cxy = (self.sxy - self.sx * self.sy / self.n) / (self.n - 1)
        mean = self.mean - theta * (self.sx / self.n - x_mean)
        return mean, max(vy - 2 * theta * cxy + theta**2 * vx, 0.0)


def _welch(
    m1: float, v1: float, n1: float, m0: float, v0: float, n0: float, alpha: float
) -> dict[str, float]:
    se = math.sqrt(v1 / n1 + v0 / n0) if n1 > 0 and n0 > 0 else math.nan
    diff = m1 - m0
    if not se > 0:
        return {
            "lift": diff,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
            "se": se,
        }
    num = (v1 / n1 + v0 / n0) ** 2
    den = (v1 / n1) ** 2 / max(n1 - 1, 1) + (v0 / n0) ** 2 / max(n0 - 1, 1)
    df = num / den if den > 0 else n1 + n0 - 2
    # scipy.stats and statsmodels are imported where used: at the top they cost ~1 s of every
    # CLI command's start-up
    from scipy import stats

    q = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(diff / se), df))
    return {"lift": diff, "ci_low": diff - q * se, "ci_high": diff + q * se, "p_value": p, "se": se}


def _proportions(c1: float, n1: float, c0: float, n0: float, alpha: float) -> dict[str, float]:
    import numpy as np
    from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    # statsmodels also computes the ratio p1/p0, which divides by zero when no control
    # customer converted (a small stratum); the difference's interval is unaffected.
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = confint_proportions_2indep(
            c1, n1, c0, n0, method="newcomb", compare="diff", alpha=alpha
        )
        if 0 < c1 + c0 < n1 + n0:
            test = test_proportions_2indep(c1, n1, c0, n0, method="score", compare="diff")
            p = float(test.pvalue)
        else:
            p = 1.0
    p1, p0 = c1 / n1, c0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return {"lift": p1 - p0, "ci_low": float(low), "ci_high": float(high), "p_value": p, "se": se}


def compare_proportions(
    converted: float, n: float, converted_control: float, n_control: float, alpha: float = 0.05
) -> dict[str, float]:
    """Difference of two rates with Newcombe's hybrid score interval and a score test.

    Returns ``lift`` (rate minus control rate), ``ci_low``, ``ci_high`` (at ``1 - alpha``,
    inside [-1, 1] however few the customers), ``p_value`` and ``se`` (Wald, for reference).
    """
    return _proportions(converted, n, converted_control, n_control, alpha)


def _relative(
    lift: float, m1: float, m0: float, se1: float, se0: float, z: float
) -> tuple[float, float, float]:
    """Relative lift m1/m0 − 1 and its delta-method interval."""
    if not m0:
        return math.nan, math.nan, math.nan
    rel = lift / m0
    se = math.sqrt(se1**2 / m0**2 + (m1**2) * se0**2 / m0**4)
    return rel, rel - z * se, rel + z * se


def srm_check(counts: dict[str, float], shares: dict[str, float]) -> dict[str, Any]:
    """Chi-square test of the arm counts against the design shares."""
    names = list(shares)
    observed = [counts.get(a, 0.0) for a in names]
    total = sum(observed)
    expected = [shares[a] * total for a in names]
    from scipy import stats

    chi2, p = stats.chisquare(observed, expected) if total else (math.nan, math.nan)
    alarm = bool(p < SRM_ALARM)
    return {
        "counts": dict(zip(names, observed, strict=True)),
        "expected_shares": shares,
        "chi_square": float(chi2),
        "p_value": float(p),
        "alarm": alarm,
        "message": (
            f"SAMPLE RATIO MISMATCH (p = {p:.2g} < {SRM_ALARM}): the arms are not the sizes the "
            "design asked for, so assignment or tracking is broken; do not trust the lifts "
            "until it is explained."
            if alarm
            else f"Arm sizes match the design shares (chi-square p = {p:.3g})."
        ),
    }


@dataclass
class AnalysisResult:
    """Per treated arm and metric: means, lift with intervals, p-values, words."""

    control: str
    arms: list[str]
    metrics: list[str]
    results: list[dict[str, Any]]
    srm: dict[str, Any]
    by_stratum: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the contract of ``patron experiment analyze --json``)."""
        return {
            "control": self.control,
            "results": self.results,
            "sample_ratio": self.srm,
            "by_stratum": self.by_stratum,
            "notes": self.notes,
        }


def _fmt(value: float, binary: bool) -> str:
    return f"{value:.2%}" if binary else f"{value:,.4g}"


def _words(r: dict[str, Any]) -> str:
    """One sentence per result; with several treated arms it quotes the adjusted p and CI."""
    binary = r["kind"] == "proportion"
    unit = " points" if binary else ""
    scale = 100.0 if binary else 1.0
    several = r.get("arms_compared", 1) > 1
    low, high = (
        (r["ci_low_adjusted"], r["ci_high_adjusted"]) if several else (r["ci_low"], r["ci_high"])
    )
    p = r["p_value_adjusted"] if several else r["p_value"]
    lift = f"{r['lift'] * scale:+.3g}{unit}"
    ci = f"{low * scale:+.3g} to {high * scale:+.3g}{unit}"
    level = (
        f"95% CI adjusted for {r['arms_compared']} arms (Bonferroni) {ci}; Holm-adjusted "
        f"p = {p:.2g}"
        if several
        else f"95% CI {ci}; p = {p:.2g}"
    )
    means = " (CUPED-adjusted means)" if r.get("means") == "CUPED-adjusted" else ""
    head = (
        f"{r['arm']} vs {r['control']} on {r['metric']}{means}: {_fmt(r['arm_mean'], binary)} "
        f"vs {_fmt(r['control_mean'], binary)}, a lift of {lift}"
    )
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(p)):
        # No interval: nobody in an arm, or an outcome without any variation in either arm.
        why = "too few customers, or the outcome is the same for everyone"
        return f"{head}: no interval can be computed ({why}); nothing to tell."
    base = head + f" ({level})"
    if low > 0:
        sure = "a clear increase" if p < 0.05 else "an increase"
        return base + f": {sure} of {r['relative_lift']:+.0%} over control."
    if high < 0:
        return base + f": a clear decrease of {r['relative_lift']:+.0%} against control."
    return base + ": no effect detectable; the interval includes zero."


def _empty_stratum(s: str, a: str, metric: str, c1: Moments, c0: Moments) -> dict[str, Any]:
    """A stratum with (almost) nobody in the arm or in control: no lift, said so."""
    return {
        "stratum": s,
        "arm": a,
        "metric": metric,
        "n_arm": c1.n,
        "n_control": c0.n,
        "control_mean": c0.mean if c0.n else None,
        "arm_mean": c1.mean if c1.n else None,
        "lift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "too_small": True,
        "note": "too small to tell: (almost) nobody in the arm or in control",
    }


def analyze_table(
    table: ir.Table,
    *,
    arm: str,
    control: str,
    metrics: list[str],
    pre: str | dict[str, str] | None = None,
    stratum: str | None = None,
    shares: dict[str, float] | None = None,
    alpha: float = 0.05,
) -> AnalysisResult:
    """Analyse per-customer outcomes in ``table`` (one row per customer).

    Parameters
    ----------
    table
        Has the ``arm`` column, the ``metrics`` columns (numbers; 0/1 columns are treated
        as conversions), optionally ``pre`` (a pre-period covariate for CUPED) and
        ``stratum``.
    control
        The control arm's value in ``arm``.
    shares
        Design shares per arm for the sample-ratio check (default: equal shares).
    """
    pre_of = (
        (
            {m: pre for m in metrics}
            if isinstance(pre, str)
            else {m: pre[m] for m in metrics if m in pre}
        )
        if pre
        else {}
    )
    for c in [arm, *metrics, *pre_of.values(), *([stratum] if stratum else [])]:
        if c not in table.columns:
            raise UsageError(f"No column {c!r}; the outcomes have: {', '.join(table.columns)}.")
    for c in [*metrics, *pre_of.values()]:
        kind = table[c].type()
        if not (kind.is_numeric() or kind.is_boolean()):
            raise DataError(
                f"Column {c!r} holds {kind} values; a metric or covariate must be numbers "
                "(0/1 for conversions)."
            )
    t = table.filter(table[arm].notnull())
    s_expr = t[stratum].cast("string").fill_null("(none)") if stratum else ibis.literal("all")
    t = t.mutate(_arm=t[arm].cast("string"), _s=s_expr)
    aggs: dict[str, ir.Value] = {"_n": t.count()}
    for i, m in enumerate(metrics):
        y = t[m].cast("float64").fill_null(0.0)
        aggs[f"y{i}"] = y.sum()
        aggs[f"yy{i}"] = (y * y).sum()
        aggs[f"nb{i}"] = ((y != 0) & (y != 1)).sum()
        if m in pre_of:
            x = t[pre_of[m]].cast("float64").fill_null(0.0)
            aggs[f"x{i}"] = x.sum()
            aggs[f"xx{i}"] = (x * x).sum()
            aggs[f"xy{i}"] = (x * y).sum()
    rows = t.group_by(["_s", "_arm"]).aggregate(**aggs).to_pyarrow().to_pylist()
    arms = sorted({str(r["_arm"]) for r in rows})
    if control not in arms:
        raise DataError(
            f"No customer in the control arm {control!r}; arms found: {', '.join(arms) or 'none'}."
        )
    treated = [a for a in arms if a != control]
    if not treated:
        raise DataError(f"Only the control arm {control!r} has customers; nothing to compare.")
    strata = sorted({str(r["_s"]) for r in rows})
    counts: dict[str, float] = {}
    cells: dict[tuple[str, str, int], Moments] = {}
    binary = {i: True for i in range(len(metrics))}
    for r in rows:
        counts[r["_arm"]] = counts.get(r["_arm"], 0.0) + float(r["_n"])
        for i in range(len(metrics)):
            binary[i] = binary[i] and int(r[f"nb{i}"] or 0) == 0
            cells[(r["_s"], r["_arm"], i)] = Moments(
                float(r["_n"]),
                float(r[f"y{i}"] or 0.0),
                float(r[f"yy{i}"] or 0.0),
                float(r.get(f"x{i}") or 0.0),
                float(r.get(f"xx{i}") or 0.0),
                float(r.get(f"xy{i}") or 0.0),
            )
    design = shares or {a: 1.0 / len(arms) for a in arms}
    srm = srm_check(counts, design)
    from scipy import stats
    from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

    z = float(stats.norm.ppf(1 - alpha / 2))
    bonferroni = alpha / len(treated)
    results: list[dict[str, Any]] = []
    by_stratum: list[dict[str, Any]] = []
    notes: list[str] = []
    total_n = sum(counts.values())
    for i, metric in enumerate(metrics):

        def pooled(a: str, i: int = i) -> Moments:
            out = Moments()
            for s in strata:
                out = out + cells.get((s, a, i), Moments())
            return out

        everyone = Moments()
        for a in arms:
            everyone = everyone + pooled(a)
        theta, x_mean = 0.0, 0.0
        cuped = metric in pre_of
        if cuped and everyone.n > 1:
            vx = (everyone.sxx - everyone.sx**2 / everyone.n) / (everyone.n - 1)
            cxy = (everyone.sxy - everyone.sx * everyone.sy / everyone.n) / (everyone.n - 1)
            theta = cxy / vx if vx > 0 else 0.0
            x_mean = everyone.sx / everyone.n
        kind = "proportion" if binary[i] and not cuped else "mean"
        metric_rows: list[dict[str, Any]] = []
        for a in treated:
            g1, g0 = pooled(a), pooled(control)
            if cuped:
                m1, v1 = g1.cuped(theta, x_mean)
                m0, v0 = g0.cuped(theta, x_mean)
                est = _welch(m1, v1, g1.n, m0, v0, g0.n, alpha)
                adj = _welch(m1, v1, g1.n, m0, v0, g0.n, bonferroni)
                method = "Welch on CUPED-adjusted values"
            elif kind == "proportion":
                m1, m0 = g1.mean, g0.mean
                est = _proportions(g1.sy, g1.n, g0.sy, g0.n, alpha)
                adj = _proportions(g1.sy, g1.n, g0.sy, g0.n, bonferroni)
                method = "Newcombe hybrid score interval; score test"
            else:
                m1, v1, m0, v0 = g1.mean, g1.var(), g0.mean, g0.var()
                est = _welch(m1, v1, g1.n, m0, v0, g0.n, alpha)
                adj = _welch(m1, v1, g1.n, m0, v0, g0.n, bonferroni)
                method = "Welch t"
            se1 = math.sqrt((g1.cuped(theta, x_mean)[1] if cuped else g1.var()) / g1.n)
            se0 = math.sqrt((g0.cuped(theta, x_mean)[1] if cuped else g0.var()) / g0.n)
            rel, rel_lo, rel_hi = _relative(est["lift"], m1, m0, se1, se0, z)
            row: dict[str, Any] = {
                "arm": a,
                "metric": metric,
                "control": control,
                "kind": kind,
                "method": method,
                "n_arm": g1.n,
                "n_control": g0.n,
                "control_mean": m0,
                "arm_mean": m1,
                "lift": est["lift"],
                "ci_low": est["ci_low"],
                "ci_high": est["ci_high"],
                "relative_lift": rel,
                "relative_ci_low": rel_lo,
                "relative_ci_high": rel_hi,
                "p_value": est["p_value"],
                "ci_low_adjusted": adj["ci_low"],
                "ci_high_adjusted": adj["ci_high"],
                "arms_compared": len(treated),
                "means": "CUPED-adjusted" if cuped else "observed",
            }
            if cuped:
                row["pre_covariate"] = pre_of[metric]
                row["control_mean_observed"] = g0.mean
                row["arm_mean_observed"] = g1.mean
                raw = _welch(g1.mean, g1.var(), g1.n, g0.mean, g0.var(), g0.n, alpha)
                row["variance_reduction"] = (
                    1 - (est["se"] / raw["se"]) ** 2 if raw["se"] and raw["se"] > 0 else 0.0
                )
            if stratum and len(strata) > 1:
                lift_ps, var_ps, used = 0.0, 0.0, 0.0
                for s in strata:
                    c1, c0 = cells.get((s, a, i), Moments()), cells.get((s, control, i), Moments())
                    w = (sum(cells.get((s, b, i), Moments()).n for b in arms)) / total_n
                    small = min(c1.n, c0.n) < SMALL_STRATUM
                    if c1.n < 1 or c0.n < 1:
                        by_stratum.append(_empty_stratum(s, a, metric, c1, c0))
                        continue
                    if kind == "proportion":
                        # bounded to [-1, 1] however few the customers (Newcombe)
                        d = _proportions(c1.sy, c1.n, c0.sy, c0.n, alpha)
                    elif c1.n < 2 or c0.n < 2:
                        by_stratum.append(_empty_stratum(s, a, metric, c1, c0))
                        continue
                    else:
                        d = _welch(c1.mean, c1.var(), c1.n, c0.mean, c0.var(), c0.n, alpha)
                    if math.isfinite(d["se"]):
                        lift_ps += w * d["lift"]
                        var_ps += w**2 * d["se"] ** 2
                        used += w
                    by_stratum.append(
                        {
                            "stratum": s,
                            "arm": a,
                            "metric": metric,
                            "n_arm": c1.n,
                            "n_control": c0.n,
                            "control_mean": c0.mean,
                            "arm_mean": c1.mean,
                            "lift": d["lift"],
                            "ci_low": d["ci_low"],
                            "ci_high": d["ci_high"],
                            "p_value": d["p_value"],
                            "too_small": small,
                            "note": (
                                f"too small to tell: fewer than {SMALL_STRATUM} customers in "
                                "the arm or in control"
                                if small
                                else ""
                            ),
                        }
                    )
                if used > 0:  # strata that could not be compared are left out, weights rescaled
                    lift_ps, var_ps = lift_ps / used, var_ps / used**2
                row["post_stratified_lift"] = lift_ps
                row["post_stratified_ci_low"] = lift_ps - z * math.sqrt(var_ps)
                row["post_stratified_ci_high"] = lift_ps + z * math.sqrt(var_ps)
            metric_rows.append(row)
        pvals = [r["p_value"] if math.isfinite(r["p_value"]) else 1.0 for r in metric_rows]
        adjusted = multipletests(pvals, method="holm")[1] if len(pvals) > 1 else pvals
        for r, p_adj in zip(metric_rows, adjusted, strict=True):
            r["p_value_adjusted"] = float(p_adj)
            r["summary"] = _words(r)
        results.extend(metric_rows)
    if len(treated) > 1:
        notes.append(
            f"{len(treated)} treated arms are compared with control: the sentences quote the "
            "Holm-adjusted p-value and the Bonferroni-adjusted 95% interval; the unadjusted "
            "p-values are shown beside them."
        )
    for m, c in pre_of.items():
        notes.append(
            f"{m}: CUPED with the pre-period covariate {c!r}; the means shown are adjusted "
            "(y − θ(x − x̄)), not the observed ones."
        )
    tiny = {(r["stratum"], r["arm"]) for r in by_stratum if r["too_small"]}
    if tiny:
        notes.append(
            f"{len(tiny)} stratum/arm pair(s) have fewer than {SMALL_STRATUM} customers in the "
            "arm or in control: their lifts are marked too small to tell."
        )
    return AnalysisResult(control, arms, metrics, results, srm, by_stratum, notes)
