"""Satisfaction: CSAT and NPS per wave, tier and segment, their trend, and the link to behaviour.

Read from the ``responses`` table (``patron load responses``), for one brand (ours by
default); every count is an engine aggregate, only the sums reach Python.

- **CSAT** is the share of *top-2-box* overall ratings (the two highest points of the survey's
  scale: 4 and 5 on 1–5), with **Wilson's score interval** (statsmodels
  ``proportion_confint(method="wilson")``; it keeps its coverage near the nominal 95% for
  shares near 0 or 1 and small waves, where the Wald interval does not), and the mean overall
  rating with a t interval.
- **NPS** is the share of promoters (9–10) minus the share of detractors (0–6), in points
  (−100 to 100). Promoters, passives and detractors are one multinomial draw, so the two
  shares are negatively correlated: Var(p̂ − d̂) = (p + d − (p − d)²) / n, not the sum of two
  binomial variances. The interval is the *adjusted Wald* interval for that difference
  (Rocks 2016, "Interval estimation for the net promoter score", The American Statistician
  70(4)): ¾ of a respondent added to the promoters and to the detractors and 1½ to the
  passives before the Wald formula, which keeps coverage near 95% for small waves.
- **Trend**: each wave against the previous one — CSAT by Newcombe's interval for a
  difference of independent proportions with a score test, the mean by Welch, NPS by the
  adjusted-Wald variances of the two waves added (independent samples) with a z test.
- **Behaviour**: for respondents who are customers, repeat purchase (a repeat purchase in the
  history), P(alive) and CLV from ``customer_value``, by satisfaction band (dissatisfied: the
  two lowest points, satisfied: top-2-box, neutral: between), with intervals. An association
  in survey data, not a cause: said so in the result's words.

A group under :data:`SMALL_GROUP` responses is marked; a group of one has no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.people import resolve_ids, resolves_identities
from patron.data.responses import RESPONSES_TABLE
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.measure.analysis import _proportions, _welch

__all__ = [
    "BANDS",
    "SMALL_GROUP",
    "SatisfactionResult",
    "csat_interval",
    "mean_interval",
    "nps_change",
    "nps_interval",
    "responses_for",
    "satisfaction",
    "satisfaction_behaviour",
]

#: Fewer responses than this in a group: its figures are shown but marked as too few to act on.
SMALL_GROUP = 30
#: Satisfaction bands, low to high.
BANDS = ("dissatisfied", "neutral", "satisfied")
Z95 = 1.959963984540054
CAUSATION = (
    "This is an association in survey data, not a cause: satisfaction and staying may share "
    "causes (price, distance, needs), so it does not show that raising satisfaction would "
    "keep these customers."
)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def csat_interval(top: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """The share of top-2-box answers and its Wilson score interval.

    Parameters
    ----------
    top
        Responses in the top two boxes.
    n
        Responses with an overall rating.
    alpha
        1 − the confidence level.

    Returns
    -------
    tuple
        (share, low, high), shares in [0, 1].
    """
    from statsmodels.stats.proportion import proportion_confint  # type: ignore[import-untyped]

    if n <= 0:
        raise UsageError("csat_interval needs at least one response.")
    low, high = proportion_confint(top, n, alpha=alpha, method="wilson")
    return top / n, float(low), float(high)


def mean_interval(n: int, total: float, squares: float, alpha: float = 0.05) -> dict[str, Any]:
    """Mean with a t interval from the count, sum and sum of squares (``None`` bounds if n < 2)."""
    from scipy import stats

    mean = total / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "se": None}
    var = max((squares - total * total / n) / (n - 1), 0.0)
    se = math.sqrt(var / n)
    q = float(stats.t.ppf(1 - alpha / 2, n - 1))
    return {"mean": mean, "low": mean - q * se, "high": mean + q * se, "se": se, "var": var}


def nps_interval(
    promoters: float, passives: float, detractors: float, alpha: float = 0.05
) -> tuple[float, float, float, float]:
    """NPS (points) and its adjusted-Wald interval (Rocks 2016).

    Parameters
    ----------
    promoters, passives, detractors
        Counts of answers 9–10, 7–8 and 0–6.
    alpha
        1 − the confidence level.

    Returns
    -------
    tuple
        (nps, low, high, se) in points (−100 to 100); the bounds are clipped to that range.
    """
    from scipy import stats

    n = promoters + passives + detractors
    if n <= 0:
        raise UsageError("nps_interval needs at least one answer.")
    nps = (promoters - detractors) / n
    nt = n + 3.0
    p, d = (promoters + 0.75) / nt, (detractors + 0.75) / nt
    centre = p - d
    se = math.sqrt(max(p + d - centre**2, 0.0) / nt)
    z = float(stats.norm.ppf(1 - alpha / 2))
    low, high = max(centre - z * se, -1.0), min(centre + z * se, 1.0)
    return 100 * nps, 100 * low, 100 * high, 100 * se


def nps_change(
    before: tuple[float, float, float], after: tuple[float, float, float], alpha: float = 0.05
) -> dict[str, float]:
    """The change of NPS between two independent waves (points), interval and z-test p."""
    from scipy import stats

    a = nps_interval(*before, alpha=alpha)
    b = nps_interval(*after, alpha=alpha)
    diff = b[0] - a[0]
    se = math.sqrt(a[3] ** 2 + b[3] ** 2)
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else 1.0
    return {"change": diff, "low": diff - z * se, "high": diff + z * se, "p_value": p}


def responses_for(wh: Warehouse, brand: str | None = None) -> ir.Table:
    """The responses for ``brand`` (ours when ``None``), or a :class:`DataError` saying why none."""
    if not wh.has_table(RESPONSES_TABLE):
        raise DataError(
            "No survey responses in the warehouse: load them with `patron load responses FILE`."
        )
    t = wh.table(RESPONSES_TABLE)
    chosen = t.filter(t.is_ours) if brand is None else t.filter(t.brand.lower() == brand.lower())
    if int(chosen.count().to_pyarrow().as_py()) == 0:
        what = "our brand" if brand is None else f"brand {brand!r}"
        raise DataError(f"No survey responses rate {what}; check --brand or --ours at load.")
    return chosen


def _with_tier(wh: Warehouse, t: ir.Table) -> ir.Table:
    """Responses with the customer's value tier (``None`` for anonymous or unscored)."""
    if not wh.has_table("customer_value") or "tier" not in wh.table("customer_value").columns:
        raise DataError(
            "No tiers to group by: score customers first (`patron score` writes "
            "customer_value with tiers)."
        )
    cv = wh.table("customer_value")
    people = resolve_ids(wh, t) if resolves_identities(wh) else t
    tiers = cv.select(_cid=cv.customer_id, tier=cv.tier.cast("string"))
    return people.left_join(tiers, people.customer_id == tiers._cid).drop("_cid")


def _csat_row(g: dict[str, Any], alpha: float) -> dict[str, Any]:
    n = int(g["n_overall"] or 0)
    row: dict[str, Any] = {"responses": int(g["n"]), "rated_overall": n}
    if n:
        share, low, high = csat_interval(int(g["top"]), n, alpha)
        m = mean_interval(n, float(g["total"]), float(g["squares"]), alpha)
        row.update(
            csat=share,
            csat_low=low if n > 1 else None,
            csat_high=high if n > 1 else None,
            mean_overall=m["mean"],
            mean_low=_finite(m["low"]),
            mean_high=_finite(m["high"]),
        )
    k = int(g["n_nps"] or 0)
    row["nps_answers"] = k
    if k:
        pro, det = int(g["promoters"]), int(g["detractors"])
        nps, low, high, _ = nps_interval(pro, k - pro - det, det, alpha)
        row.update(
            nps=nps,
            nps_low=low if k > 1 else None,
            nps_high=high if k > 1 else None,
            promoters=pro,
            passives=k - pro - det,
            detractors=det,
        )
    size = max(n, k)
    if size < 2:
        row["note"] = "a single response: no interval, nothing to read into it"
    elif size < SMALL_GROUP:
        row["note"] = f"only {size} responses: too few to act on; the interval is wide"
    return row


@dataclass
class SatisfactionResult:
    """CSAT and NPS per group and wave, the changes between waves, and words."""

    brand: str
    by: list[str]
    scale: tuple[float, float]
    groups: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (no NaN or infinity: missing figures are ``None``)."""
        return {
            "brand": self.brand,
            "by": self.by,
            "scale": list(self.scale),
            "csat_definition": f"share of overall ratings of {self.scale[1] - 1:g} or "
            f"{self.scale[1]:g} (top two boxes), Wilson 95% interval",
            "nps_definition": "promoters (9-10) minus detractors (0-6), points; adjusted-Wald "
            "95% interval (Rocks 2016)",
            "groups": self.groups,
            "changes": self.changes,
            "findings": self.findings,
        }


def satisfaction(
    wh: Warehouse,
    *,
    by: str | None = None,
    brand: str | None = None,
    alpha: float = 0.05,
) -> SatisfactionResult:
    """CSAT and NPS per wave (and per ``segment`` or ``tier``), with the trend over waves.

    Parameters
    ----------
    wh
        The warehouse (``responses`` loaded; ``customer_value`` with tiers for ``by="tier"``).
    by
        ``None`` (per wave), ``"segment"`` (the survey's segment) or ``"tier"`` (the
        customer's value tier; anonymous responses are left out).
    brand
        The brand to read (default: ours).
    alpha
        1 − the confidence level of every interval.

    Returns
    -------
    SatisfactionResult
    """
    if by not in (None, "segment", "tier"):
        raise UsageError(f"--by {by!r}: use segment or tier (or leave it out: per wave).")
    t = responses_for(wh, brand)
    if by == "tier":
        t = _with_tier(wh, t)
        t = t.filter(t.tier.notnull())
    keys = ["wave"] + ([by] if by else [])
    top_box = t.scale_high - 1
    grouped = (
        t.group_by(keys)
        .aggregate(
            n=t.count(),
            n_overall=t.overall.notnull().sum(),
            top=(t.overall >= top_box).sum(),
            total=t.overall.sum(),
            squares=(t.overall * t.overall).sum(),
            n_nps=t.nps.notnull().sum(),
            promoters=(t.nps >= 9).sum(),
            detractors=(t.nps <= 6).sum(),
            low=t.scale_low.min(),
            high=t.scale_high.max(),
        )
        .order_by(keys)
        .to_pyarrow()
        .to_pylist()
    )
    if not grouped:
        raise DataError("No responses to group (no customer with a tier answered).")
    scale = (float(grouped[0]["low"]), float(grouped[0]["high"]))
    groups = []
    for g in grouped:
        row = {k: g[k] if g[k] is not None else "(none)" for k in keys}
        row.update(_csat_row(g, alpha))
        groups.append(row)
    changes = _changes(grouped, keys, alpha)
    name = brand or "ours"
    result = SatisfactionResult(name, keys, scale, groups, changes)
    result.findings = _findings(result)
    return result


def _changes(grouped: list[dict[str, Any]], keys: list[str], alpha: float) -> list[dict[str, Any]]:
    """Each group's change from the previous wave (same segment or tier)."""
    out: list[dict[str, Any]] = []
    last: dict[Any, dict[str, Any]] = {}
    for g in grouped:
        group = g[keys[1]] if len(keys) > 1 else None
        prev = last.get(group)
        last[group] = g
        if prev is None:
            continue
        row: dict[str, Any] = {"from_wave": prev["wave"], "to_wave": g["wave"]}
        if len(keys) > 1:
            row[keys[1]] = group if group is not None else "(none)"
        n0, n1 = int(prev["n_overall"] or 0), int(g["n_overall"] or 0)
        if n0 >= 2 and n1 >= 2:
            c = _proportions(float(g["top"]), n1, float(prev["top"]), n0, alpha)
            row.update(
                csat_change=c["lift"],
                csat_change_low=_finite(c["ci_low"]),
                csat_change_high=_finite(c["ci_high"]),
                csat_p_value=_finite(c["p_value"]),
            )
            m0 = mean_interval(n0, float(prev["total"]), float(prev["squares"]))
            m1 = mean_interval(n1, float(g["total"]), float(g["squares"]))
            w = _welch(m1["mean"], m1["var"], n1, m0["mean"], m0["var"], n0, alpha)
            row.update(
                mean_change=w["lift"],
                mean_change_low=_finite(w["ci_low"]),
                mean_change_high=_finite(w["ci_high"]),
                mean_p_value=_finite(w["p_value"]),
            )
        k0, k1 = int(prev["n_nps"] or 0), int(g["n_nps"] or 0)
        if k0 >= 2 and k1 >= 2:

            def counts(x: dict[str, Any], k: int) -> tuple[float, float, float]:
                pro, det = float(x["promoters"]), float(x["detractors"])
                return pro, k - pro - det, det

            d = nps_change(counts(prev, k0), counts(g, k1), alpha)
            row.update(
                nps_change=d["change"],
                nps_change_low=d["low"],
                nps_change_high=d["high"],
                nps_p_value=d["p_value"],
            )
        row["significant"] = bool(
            (row.get("csat_p_value") is not None and row["csat_p_value"] < alpha)
            or (row.get("nps_p_value") is not None and row["nps_p_value"] < alpha)
        )
        out.append(row)
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _findings(result: SatisfactionResult) -> list[str]:
    words: list[str] = []
    for g in result.groups:
        label = " / ".join(str(g[k]) for k in result.by)
        parts = []
        if "csat" in g:
            parts.append(
                f"CSAT {_pct(g['csat'])} ({_pct(g.get('csat_low'))} to {_pct(g.get('csat_high'))})"
            )
        if "nps" in g:
            low, high = g.get("nps_low"), g.get("nps_high")
            span = f" ({low:+.0f} to {high:+.0f})" if low is not None and high is not None else ""
            parts.append(f"NPS {g['nps']:+.0f}{span}")
        note = f"; {g['note']}" if "note" in g else ""
        words.append(
            f"{label}: {', '.join(parts) or 'no ratings'} from {g['responses']} responses{note}."
        )
    for c in result.changes:
        label = f"{c['from_wave']} → {c['to_wave']}" + (
            f" ({c[result.by[1]]})" if len(result.by) > 1 else ""
        )
        bits = []
        if "csat_change" in c:
            sig = "significant" if (c["csat_p_value"] or 1) < 0.05 else "within chance"
            bits.append(
                f"CSAT {c['csat_change'] * 100:+.0f} points ({sig}, p={c['csat_p_value']:.2g})"
            )
        if "nps_change" in c:
            sig = "significant" if c["nps_p_value"] < 0.05 else "within chance"
            bits.append(f"NPS {c['nps_change']:+.0f} ({sig}, p={c['nps_p_value']:.2g})")
        if bits:
            words.append(f"{label}: {'; '.join(bits)}.")
    return words


def satisfaction_behaviour(
    wh: Warehouse, *, wave: str | None = None, alpha: float = 0.05
) -> dict[str, Any]:
    """Repeat purchase, P(alive) and CLV by satisfaction band, for respondents who are customers.

    Parameters
    ----------
    wh
        The warehouse with ``responses`` and ``customer_value`` (``p_alive``, ``clv``,
        ``frequency``).
    wave
        The wave (default: the latest one with customer respondents).
    alpha
        1 − the confidence level.

    Returns
    -------
    dict
        ``bands``: per band, customers, the share with a repeat purchase (Wilson interval),
        mean P(alive) and mean CLV (currency, over the scoring horizon) with t intervals;
        ``difference``: satisfied minus dissatisfied P(alive) (Welch); ``findings`` in words,
        including that this is correlation, not causation.
    """
    if not wh.has_table("customer_value"):
        raise DataError(
            "No customer values to link satisfaction to: score customers first (`patron score`)."
        )
    t = responses_for(wh)
    t = t.filter(t.customer_id.notnull() & t.overall.notnull())
    if resolves_identities(wh):
        t = resolve_ids(wh, t)
    if wave is None:
        latest = t.wave.max().to_pyarrow().as_py()
        if latest is None:
            raise DataError(
                "No response of ours carries a customer_id: satisfaction cannot be linked to "
                "behaviour (an anonymous market survey)."
            )
        wave = str(latest)
    t = t.filter(t.wave == wave)
    per = t.group_by("customer_id").aggregate(
        overall=t.overall.mean(), high=t.scale_high.max(), low=t.scale_low.min()
    )
    cv = wh.table("customer_value")
    j = per.join(cv.select("customer_id", "p_alive", "clv", "frequency"), "customer_id")
    band = ibis.cases(
        (j.overall >= j.high - 1, "satisfied"),
        (j.overall <= j.low + 1, "dissatisfied"),
        else_="neutral",
    )
    j = j.mutate(band=band)
    rows = (
        j.group_by("band")
        .aggregate(
            n=j.count(),
            repeat=(j.frequency > 0).sum(),
            pa=j.p_alive.sum(),
            pa2=(j.p_alive * j.p_alive).sum(),
            clv=j.clv.sum(),
            clv2=(j.clv * j.clv).sum(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    if not rows:
        raise DataError(
            f"No respondent of wave {wave!r} is a scored customer: check that the survey's "
            "customer_id values are the shop's."
        )
    by = {r["band"]: r for r in rows}
    bands = []
    for name in BANDS:
        r = by.get(name)
        if r is None:
            bands.append({"band": name, "customers": 0, "note": "no respondent in this band"})
            continue
        n = int(r["n"])
        share, low, high = csat_interval(int(r["repeat"]), n, alpha)
        pa = mean_interval(n, float(r["pa"]), float(r["pa2"]), alpha)
        clv = mean_interval(n, float(r["clv"]), float(r["clv2"]), alpha)
        row: dict[str, Any] = {
            "band": name,
            "customers": n,
            "repeat_share": share,
            "repeat_low": low,
            "repeat_high": high,
            "p_alive": pa["mean"],
            "p_alive_low": _finite(pa["low"]),
            "p_alive_high": _finite(pa["high"]),
            "clv": clv["mean"],
            "clv_low": _finite(clv["low"]),
            "clv_high": _finite(clv["high"]),
        }
        if n < SMALL_GROUP:
            row["note"] = f"only {n} customers: too few to act on"
        bands.append(row)
    out: dict[str, Any] = {"wave": wave, "bands": bands, "causation": CAUSATION}
    sat, dis = by.get("satisfied"), by.get("dissatisfied")
    findings = []
    if sat and dis and int(sat["n"]) >= 2 and int(dis["n"]) >= 2:
        m1 = mean_interval(int(sat["n"]), float(sat["pa"]), float(sat["pa2"]))
        m0 = mean_interval(int(dis["n"]), float(dis["pa"]), float(dis["pa2"]))
        w = _welch(
            m1["mean"], m1["var"], int(sat["n"]), m0["mean"], m0["var"], int(dis["n"]), alpha
        )
        out["difference"] = {
            "p_alive": w["lift"],
            "low": _finite(w["ci_low"]),
            "high": _finite(w["ci_high"]),
            "p_value": _finite(w["p_value"]),
        }
        findings.append(
            f"In wave {wave}, satisfied customers' P(alive) averages {m1['mean']:.2f} against "
            f"{m0['mean']:.2f} for dissatisfied ones (difference {w['lift']:+.2f}, 95% "
            f"interval {w['ci_low']:+.2f} to {w['ci_high']:+.2f})."
        )
    else:
        findings.append(
            "Too few satisfied or dissatisfied respondents who are customers to compare the bands."
        )
    findings.append(CAUSATION)
    out["findings"] = findings
    return out
