"""The potential of business customers: monetary value and qualitative factors, weighted.

A business customer (``customer_type`` in ``business_types`` in the ``customers`` table) is
judged on

- **monetary** value: their CLV (``customer_value``), or, when the ``customers`` table knows
  their ``share_of_wallet`` (0 < s ≤ 1), the CLV at the whole wallet (CLV / s) — what they
  could be worth; scored 0–1 as its percent rank among the business customers;
- **qualitative factors** the user rates per customer in a CSV file (``customer_id`` and one
  column per factor, on a scale, default 1–5): ``company_size``, ``growth``,
  ``competitive_situation``, ``supplier_management``, ``economic_dependence``. Rate every
  factor so that *higher favours potential*: a large, growing company in a strong competitive
  position, that manages its suppliers as partners and depends little on the economic cycle
  gets 5s. Each rating is scored 0–1 ((rating − low) / (high − low)).

The **potential score** (0–1) is the weighted sum of the scores, with weights from a YAML file
(``factor: weight``, summing to 1; factors the file leaves out weigh 0). The **portfolio**
places each customer by actual value (CLV) against potential (score), split at the business
customers' medians: *develop* (high value, high potential), *grow* (low value, high potential:
invest), *maintain* (high value, low potential: keep efficiently), *serve efficiently* (low,
low).

How potential feeds the MGC tier: MGC (most growable) is the largest gap between strategic
and actual value (``value.tiers``). For a business customer the potential score is a judged
version of that gap; written to ``b2b_potential``, which ``patron tiers``
(:func:`patron.value.history.apply_tiers`) reads from the warehouse (as it reads
``customer_segments``): the growth potential becomes the score times the room to the whole
wallet (CLV / share of wallet − CLV), or times the CLV without a share of wallet.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from patron.data.people import customers as people_customers
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError
from patron.yamltext import parse_yaml

__all__ = [
    "B2B_TABLE",
    "BUSINESS_TYPES",
    "FACTORS",
    "B2BResult",
    "b2b_portfolio",
    "b2b_potential",
    "read_factor_ratings",
    "read_weights",
]

B2B_TABLE = "b2b_potential"
#: The qualitative factors (rated by the user; higher favours potential).
FACTORS = (
    "company_size",
    "growth",
    "competitive_situation",
    "supplier_management",
    "economic_dependence",
)
#: Every weight a weights file may name.
WEIGHT_NAMES = ("monetary", *FACTORS)
#: ``customer_type`` values that mark a business customer (compared in lower case).
BUSINESS_TYPES = ("business", "b2b", "reseller", "company", "corporate", "wholesale")
QUADRANTS = ("develop", "grow", "maintain", "serve efficiently")


def read_weights(path: Path) -> dict[str, float]:
    """The weights file: ``factor: weight`` summing to 1; errors name the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--weights {path}: no such file.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}).") from None
    data = parse_yaml(text, str(path))
    if not isinstance(data, dict) or not data:
        raise DataError(
            f"{path}: expected 'factor: weight' lines, e.g. monetary: 0.4; the factors are: "
            f"{', '.join(WEIGHT_NAMES)}."
        )
    weights: dict[str, float] = {}
    for name, value in data.items():
        if str(name) not in WEIGHT_NAMES:
            raise DataError(
                f"{path}: unknown factor {name!r} (field {name}); the factors are: "
                f"{', '.join(WEIGHT_NAMES)}."
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataError(f"{path}: field {name}: weight {value!r} is not a number.")
        if value < 0:
            raise DataError(f"{path}: field {name}: weight {value} is negative.")
        weights[str(name)] = float(value)
    total = sum(weights.values())
    if abs(total - 1.0) > 1e-6:
        listed = ", ".join(f"{k} {v:g}" for k, v in weights.items())
        raise DataError(
            f"{path}: the weights sum to {total:g}, not 1 ({listed}); adjust them so they sum to 1."
        )
    return weights


def read_factor_ratings(
    path: Path, scale: tuple[float, float] = (1.0, 5.0)
) -> dict[str, dict[str, float]]:
    """The ratings file: ``customer_id`` and factor columns; errors name the line and field.

    A blank rating is allowed (that factor then scores the scale's midpoint, said in the
    result); a value off the scale, an unknown column or a customer twice is an error.
    """
    low, high = scale
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise UsageError(f"--ratings {path}: no such file.") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        if "customer_id" not in columns:
            raise DataError(f"{path}: no customer_id column; the file has: {', '.join(columns)}.")
        unknown = [c for c in columns if c != "customer_id" and c not in FACTORS]
        if unknown:
            raise DataError(
                f"{path}: unknown factor column {unknown[0]!r} (field {unknown[0]}); the factors "
                f"are: {', '.join(FACTORS)}."
            )
        out: dict[str, dict[str, float]] = {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            cid = row.get("customer_id", "")
            if not cid:
                raise DataError(f"{path}, line {line}: missing customer_id.")
            if cid in out:
                raise DataError(f"{path}, line {line}: customer {cid!r} is rated twice.")
            ratings: dict[str, float] = {}
            for factor in FACTORS:
                text = row.get(factor, "")
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise DataError(
                        f"{path}, line {line}, field {factor}: {text!r} is not a number."
                    ) from None
                if not low <= value <= high:
                    raise DataError(
                        f"{path}, line {line}, field {factor}: {text} is outside the scale "
                        f"{low:g}-{high:g}."
                    )
                ratings[factor] = value
            out[cid] = ratings
    if not out:
        raise DataError(f"{path}: no ratings (the file has a header only).")
    return out


@dataclass
class B2BResult:
    """Business customers' potential: counts per quadrant, the top customers, words."""

    business_customers: int
    rated: int
    weights: dict[str, float]
    monetary_basis: str
    medians: dict[str, float]
    quadrants: dict[str, int]
    top: list[dict[str, Any]]
    points: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def b2b_potential(
    wh: Warehouse,
    ratings: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    *,
    scale: tuple[float, float] = (1.0, 5.0),
    business_types: Sequence[str] = BUSINESS_TYPES,
    write: bool = True,
    max_points: int = 2000,
) -> B2BResult:
    """Score business customers' potential and place them in the portfolio.

    Parameters
    ----------
    wh
        The warehouse with ``customers`` (``customer_type``) and ``customer_value`` (``clv``).
    ratings
        Per customer id, factor → rating (:func:`read_factor_ratings`).
    weights
        Factor → weight, summing to 1 (:func:`read_weights`).
    scale
        The rating scale (low, high).
    business_types
        ``customer_type`` values of business customers.
    write
        Write ``b2b_potential`` (one row per business customer).
    max_points
        At most this many customers in ``points`` (the portfolio chart), the highest
        potential first.

    Returns
    -------
    B2BResult
    """
    if abs(sum(weights.values()) - 1.0) > 1e-6:
        raise UsageError("weights must sum to 1 (read them with read_weights).")
    cust = people_customers(wh)
    if cust is None or "customer_type" not in cust.columns:
        raise DataError(
            "No customer_type in the customers table: load customers with a customer_type "
            "column (business customers: one of " + ", ".join(business_types) + ")."
        )
    if not wh.has_table("customer_value"):
        raise DataError("No customer values: score customers first (`patron score`).")
    types = [t.lower() for t in business_types]
    biz = cust.filter(cust.customer_type.lower().isin(types))
    sow = "share_of_wallet" in biz.columns
    cols = {"_sow": biz.share_of_wallet.cast("string").try_cast("float64")} if sow else {}
    biz = biz.select(_bid=biz.customer_id, **cols).distinct()
    cv = wh.table("customer_value")
    t = cv.select("customer_id", "clv").join(biz, cv.customer_id == biz._bid).drop("_bid")
    clv = t.clv.fill_null(0.0)
    if sow:
        known = t._sow.notnull() & (t._sow > 0) & (t._sow <= 1)
        base = ibis.ifelse(known, clv / t._sow, clv)
        basis = "CLV at the whole wallet (CLV / share of wallet) where the share is known, else CLV"
    else:
        base = clv
        basis = "CLV (no share of wallet known)"
    t = t.mutate(clv=clv, monetary_value=base)
    n_biz = int(t.count().to_pyarrow().as_py())
    if n_biz == 0:
        raise DataError(
            "No scored business customers: no customer_type is one of "
            + ", ".join(business_types)
            + " among the scored customers."
        )
    low, high = scale
    rated_ids = list(ratings)
    columns: dict[str, list[Any]] = {"_rid": rated_ids}
    for f in FACTORS:
        columns[f"r_{f}"] = [ratings[c].get(f) for c in rated_ids]
    rt = ibis.memtable(
        pa.table(
            {"_rid": pa.array(rated_ids, pa.string())}
            | {k: pa.array(v, pa.float64()) for k, v in columns.items() if k != "_rid"}
        )
    )
    j = t.join(rt, t.customer_id == rt._rid)
    j = j.mutate(monetary_score=ibis.percent_rank().over(order_by=j.monetary_value))
    mid = (low + high) / 2
    score = j.monetary_score * weights.get("monetary", 0.0)
    factor_scores = {}
    for f in FACTORS:
        s = (j[f"r_{f}"].fill_null(mid) - low) / (high - low)
        factor_scores[f"{f}_score"] = s
        score = score + s * weights.get(f, 0.0)
    j = j.mutate(**factor_scores, potential_score=score)
    meds = (
        j.aggregate(clv=j.clv.median(), potential=j.potential_score.median(), n=j.count())
        .to_pyarrow()
        .to_pylist()[0]
    )
    rated = int(meds["n"] or 0)
    if rated == 0:
        raise DataError(
            "None of the rated customers is a scored business customer: check the ratings "
            "file's customer_id values and the customer_type of those customers."
        )
    mc, mp = float(meds["clv"]), float(meds["potential"])
    quadrant = ibis.cases(
        ((j.clv >= mc) & (j.potential_score >= mp), "develop"),
        ((j.clv < mc) & (j.potential_score >= mp), "grow"),
        ((j.clv >= mc) & (j.potential_score < mp), "maintain"),
        else_="serve efficiently",
    )
    out = j.select(
        "customer_id",
        "clv",
        "monetary_value",
        "monetary_score",
        *factor_scores,
        "potential_score",
        quadrant=quadrant,
    )
    if write:
        wh.replace_table(B2B_TABLE, out)
        out = wh.table(B2B_TABLE)
    portfolio = _portfolio(out, max_points)
    quadrants, top, points = portfolio["quadrants"], portfolio["top"], portfolio["points"]
    notes = []
    blanks = sum(1 for r in ratings.values() for f in FACTORS if f not in r and weights.get(f))
    if blanks:
        notes.append(
            f"{blanks} weighted rating(s) were blank and scored at the scale's midpoint "
            f"({mid:g}): rate them for a sharper score."
        )
    unrated = n_biz - rated
    if unrated:
        notes.append(
            f"{unrated:,} business customer(s) have no ratings and no potential score; rate "
            "them in the ratings file."
        )
    stray = len(ratings) - rated
    if stray:
        notes.append(
            f"{stray:,} rated customer(s) are not scored business customers and were left out."
        )
    grow = quadrants["grow"]
    findings = [
        f"{rated:,} business customers scored: {quadrants['develop']:,} to develop (high value, "
        f"high potential), {grow:,} to grow (low value, high potential: invest), "
        f"{quadrants['maintain']:,} to maintain and {quadrants['serve efficiently']:,} to serve "
        "efficiently (split at the medians).",
    ]
    if top:
        best = top[0]
        findings.append(
            f"Highest potential: {best['customer_id']} (score {best['potential_score']:.2f}, "
            f"CLV {best['clv']:,.0f})."
        )
    return B2BResult(
        business_customers=n_biz,
        rated=rated,
        weights=dict(weights),
        monetary_basis=basis,
        medians={"clv": mc, "potential_score": mp},
        quadrants=quadrants,
        top=top,
        points=points,
        notes=notes,
        findings=findings,
    )


def _portfolio(out: ir.Table, max_points: int) -> dict[str, Any]:
    counts = out.group_by("quadrant").aggregate(n=out.count()).to_pyarrow().to_pylist()
    quadrants = {q: 0 for q in QUADRANTS}
    quadrants.update({str(r["quadrant"]): int(r["n"]) for r in counts})
    ranked = out.order_by([ibis.desc("potential_score"), "customer_id"])
    top = ranked.limit(10).to_pyarrow().to_pylist()
    points = (
        ranked.select("customer_id", "clv", "potential_score", "quadrant")
        .limit(max_points)
        .to_pyarrow()
        .to_pylist()
    )
    return {"quadrants": quadrants, "top": top, "points": points}


def b2b_portfolio(wh: Warehouse, *, max_points: int = 2000) -> dict[str, Any] | None:
    """The stored portfolio (``b2b_potential``) for a report; ``None`` when none was scored."""
    if not wh.has_table(B2B_TABLE):
        return None
    out = wh.table(B2B_TABLE)
    meds = (
        out.aggregate(clv=out.clv.median(), potential=out.potential_score.median(), n=out.count())
        .to_pyarrow()
        .to_pylist()[0]
    )
    if not meds["n"]:
        return None
    return {
        "rated": int(meds["n"]),
        "medians": {"clv": float(meds["clv"]), "potential_score": float(meds["potential"])},
        **_portfolio(out, max_points),
    }
