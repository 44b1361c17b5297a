"""Experiments as warehouse objects, and stable, stratified assignment by hashing.

An experiment has a name, arms with shares (k treatments and a control), an audience (a filter
over customer attributes: tiers, segments, any column of ``customers``), stratification keys and
a window. Its definition lives in ``experiments`` (JSON) and its assignments in
``experiment_assignments``.

Assignment: every customer gets the key ``md5(salt ":" customer_id)`` (hex) — portable (the same
on every engine and machine; a Python ``hashlib`` check reproduces it) and independent of row
order (it is recomputed from the stored salt, not stored). At creation, customers are ranked
by key (its first 13 hex digits, then the id) inside each stratum and the first
``⌊c₁·n + ½⌋`` get arm 1, up to ``⌊c₂·n + ½⌋`` arm 2, ... (cᵢ the cumulative shares), so each
stratum's counts are as close to the target shares as integers allow. Customers who join the
audience later (``assign``) get the arm whose cumulative-share interval holds their key read as
a number in [0, 1): consistent on every re-run, and never moving anyone already assigned.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data import people
from patron.data.engine import md5_hex
from patron.data.expressions import compile_expression, referenced_names
from patron.data.warehouse import Warehouse
from patron.errors import DataError, UsageError

__all__ = [
    "ASSIGNMENTS_TABLE",
    "EXPERIMENTS_TABLE",
    "Arm",
    "AssignmentResult",
    "Experiment",
    "assign_new_customers",
    "assignment_list",
    "audience_table",
    "create_experiment",
    "hash_fraction",
    "load_experiment",
    "parse_arms",
]

EXPERIMENTS_TABLE = "experiments"
ASSIGNMENTS_TABLE = "experiment_assignments"
#: Hex digits of the key read as a fraction (13 hex digits = 52 bits: exact in a double).
KEY_DIGITS = 13
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Arm:
    """An arm and its target share of the audience."""

    name: str
    share: float


def parse_arms(text: str) -> list[Arm]:
    """Parse ``treat:0.9,control:0.1`` (shares may also be percentages summing to 100)."""
    arms: list[Arm] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, sep, share = part.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--arms {text!r}: write each arm as NAME:SHARE, e.g. treat:0.9.")
        try:
            value = float(share)
        except ValueError:
            raise UsageError(f"--arms {text!r}: {share!r} is not a number.") from None
        if not value > 0:
            raise UsageError(f"--arms {text!r}: the share of {name.strip()!r} must be positive.")
        arms.append(Arm(name.strip(), value))
    total = sum(a.share for a in arms)
    if abs(total - 100.0) < 1e-6:
        arms = [Arm(a.name, a.share / 100.0) for a in arms]
        total = 1.0
    if len(arms) < 2:
        raise UsageError(f"--arms {text!r}: an experiment needs at least two arms.")
    if len({a.name for a in arms}) != len(arms):
        raise UsageError(f"--arms {text!r}: arm names must be different.")
    if abs(total - 1.0) > 1e-6:
        raise UsageError(f"--arms {text!r}: shares add up to {total:g}; they must add up to 1.")
    return arms


@dataclass
class Experiment:
    """An experiment's definition (stored as JSON in ``experiments``)."""

    name: str
    arms: list[Arm]
    control: str
    audience: str | None = None
    stratify: list[str] = field(default_factory=list)
    start: str | None = None
    end: str | None = None
    salt: str = ""
    created_at: str = ""

    def to_json(self) -> str:
        """The definition as JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        """Read a definition written by :meth:`to_json`."""
        raw = json.loads(text)
        raw["arms"] = [Arm(**a) for a in raw["arms"]]
        return cls(**raw)

    @property
    def treatments(self) -> list[str]:
        """The arms other than control."""
        return [a.name for a in self.arms if a.name != self.control]


def hash_fraction(salt: str, customer_id: str) -> float:
    """The customer's key as a number in [0, 1), computed in Python (checks the engine)."""
    import hashlib

    digest = hashlib.md5(f"{salt}:{customer_id}".encode()).hexdigest()
    return float(int(digest[:KEY_DIGITS], 16) / 16**KEY_DIGITS)


def _key(table: ir.Table, salt: str) -> ir.StringValue:
    return md5_hex(ibis.literal(f"{salt}:") + table.customer_id.cast("string"))


def _hex_threshold(fraction: float) -> str:
    """The key prefix below which a key reads as a number < ``fraction``."""
    value = min(round(fraction * 16**KEY_DIGITS), 16**KEY_DIGITS)
    return "g" * KEY_DIGITS if value >= 16**KEY_DIGITS else f"{value:0{KEY_DIGITS}x}"


def audience_table(wh: Warehouse, needed: set[str] | None = None) -> ir.Table:
    """Every known customer with their attributes, for audiences and strata.

    The ``customers`` columns, and value tier, CLV, P(alive), loyalty and needs segment where
    those tables exist. With ``needed`` (lower-cased column names), only the tables that
    provide one of them are joined.
    """

    def wanted(column: str) -> bool:
        return needed is None or column.lower() in needed

    customers = people.customers(wh)
    if customers is not None:
        base = customers
    elif wh.has_table("transactions"):
        tx = people.transactions(wh)
        base = tx.select("customer_id").distinct()
    else:
        raise DataError("No customers or transactions in the warehouse; load them first.")
    base = base.select(*[c for c in base.columns if not c.startswith("_")])
    if wh.has_table("customer_value"):
        cv = wh.table("customer_value")
        keep = [
            c
            for c in ("clv", "p_alive", "tier", "loyalty", "profit_loyalty", "rfm", "frequency")
            if c in cv.columns and c not in base.columns and wanted(c)
        ]
        if keep:
            v = cv.select(_vid=cv.customer_id, **{c: cv[c] for c in keep})
            base = base.left_join(v, base.customer_id == v._vid).drop("_vid")
    if wh.has_table("customer_segments") and "segment" not in base.columns and wanted("segment"):
        s = wh.table("customer_segments")
        seg = s.select(_sid=s.customer_id, segment=s.segment)
        base = base.left_join(seg, base.customer_id == seg._sid).drop("_sid")
    return base


def _audience(wh: Warehouse, exp: Experiment) -> ir.Table:
    needed = {c.lower() for c in exp.stratify}
    if exp.audience:
        needed |= referenced_names(exp.audience)
    # Join the value and segment tables only when the audience or strata use them.
    table = audience_table(wh, needed)
    if exp.audience:
        rule = compile_expression(
            exp.audience,
            table,
            what="--audience",
            source="the customer attributes",
            condition=True,
            available=audience_table(wh, None).columns,  # every attribute, not only those joined
        )
        table = table.filter(rule.fill_null(False))
    missing = [c for c in exp.stratify if c not in table.columns]
    if missing:
        cols = ", ".join(c for c in table.columns if not c.startswith("_"))
        raise UsageError(
            f"--stratify: no column {', '.join(missing)} among the customer attributes; "
            f"choose from: {cols}."
        )
    return table


def _stratum(table: ir.Table, keys: list[str]) -> ir.StringValue:
    if not keys:
        return ibis.literal("all")
    parts: list[ir.StringValue] = []
    for k in keys:
        parts.append(ibis.literal(f"{k}=") + table[k].cast("string").fill_null("(none)"))
    out = parts[0]
    for p in parts[1:]:
        out = out + ibis.literal(",") + p
    return out


@dataclass
class AssignmentResult:
    """What an assignment wrote."""

    experiment: Experiment
    assigned: int
    by_arm: dict[str, int]
    by_stratum: list[dict[str, Any]]
    total: int
    #: Warnings about the design (e.g. a window that starts before the audience's data ends).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "notes": self.notes,
            "experiment": self.experiment.name,
            "arms": [asdict(a) for a in self.experiment.arms],
            "control": self.experiment.control,
            "audience": self.experiment.audience,
            "stratify": self.experiment.stratify,
            "newly_assigned": self.assigned,
            "customers": self.total,
            "by_arm": self.by_arm,
            "by_stratum": self.by_stratum,
        }


def load_experiment(wh: Warehouse, name: str) -> Experiment:
    """The stored definition of experiment ``name``."""
    if wh.has_table(EXPERIMENTS_TABLE):
        t = wh.table(EXPERIMENTS_TABLE)
        rows = t.filter(t.name == name).to_pyarrow().to_pylist()
        if rows:
            return Experiment.from_json(rows[0]["definition"])
        known = ", ".join(sorted(t.name.to_pyarrow().to_pylist())) or "none"
    else:
        known = "none"
    raise UsageError(
        f"No experiment {name!r}; known experiments: {known}. Create it with "
        "`patron experiment create`."
    )


def assignment_list(wh: Warehouse, name: str, arm: str | None = None) -> ir.Table:
    """``customer_id, arm, stratum`` of experiment ``name`` (one arm, or all), by id."""
    exp = load_experiment(wh, name)
    if arm is not None and arm not in {a.name for a in exp.arms}:
        raise UsageError(
            f"--arm {arm!r} is not an arm of {name}: {', '.join(a.name for a in exp.arms)}."
        )
    a = wh.table(ASSIGNMENTS_TABLE)
    rows = a.filter(a.experiment == name)
    if arm is not None:
        rows = rows.filter(rows.arm == arm)
    return rows.select("customer_id", "arm", "stratum").order_by("customer_id")


def _counts(wh: Warehouse, exp: Experiment) -> tuple[dict[str, int], list[dict[str, Any]], int]:
    a = wh.table(ASSIGNMENTS_TABLE)
    a = a.filter(a.experiment == exp.name)
    rows = a.group_by(["stratum", "arm"]).aggregate(n=a.count()).to_pyarrow().to_pylist()
    by_arm = {arm.name: 0 for arm in exp.arms}
    strata: dict[str, dict[str, int]] = {}
    for r in rows:
        by_arm[r["arm"]] = by_arm.get(r["arm"], 0) + int(r["n"])
        strata.setdefault(r["stratum"], {})[r["arm"]] = int(r["n"])
    by_stratum = [
        {"stratum": s, "customers": sum(c.values()), "by_arm": c} for s, c in sorted(strata.items())
    ]
    return by_arm, by_stratum, sum(by_arm.values())


BUCKET_DIGITS = 3


def _boundaries(keyed: ir.Table, arms: list[Arm]) -> ir.Table | None:
    """Per stratum, the order key of the first customer of each arm after the first.

    Arm i ends at rank floor(c_i n + 1/2) (c_i the cumulative share, n the stratum's size;
    half up on every engine). Finding that rank needs no sort of all customers: count
    customers per (stratum, first 3 key digits) in the engine, find the bucket holding the
    rank, and sort only that bucket's keys (about n / 4096 of them). A null boundary means
    the whole stratum is below it. ``None`` when the audience is empty.
    """
    bucket = keyed.order.substr(0, BUCKET_DIGITS)
    counts = (
        keyed.group_by(s=keyed.stratum, b=bucket).aggregate(n=keyed.count()).to_pyarrow()
    ).to_pylist()
    per: dict[str, dict[str, int]] = {}
    for r in counts:
        per.setdefault(str(r["s"]), {})[str(r["b"])] = int(r["n"])
    if not per:
        return None  # nobody in the audience
    cum_shares: list[float] = []
    total = 0.0
    for a in arms[:-1]:
        total += a.share
        cum_shares.append(total)
    wanted: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for stratum, buckets in per.items():
        n = sum(buckets.values())
        for i, c in enumerate(cum_shares):
            rank = math.floor(c * n + 0.5)
            if rank >= n:
                continue  # everyone is below: null boundary
            seen = 0
            for b in sorted(buckets):
                if seen + buckets[b] > rank:
                    wanted.setdefault((stratum, b), []).append((i, rank - seen))
                    break
                seen += buckets[b]
    bounds: dict[str, list[str | None]] = {s: [None] * len(cum_shares) for s in per}
    if wanted:
        pairs = ibis.memtable({"_ws": [k[0] for k in wanted], "_wb": [k[1] for k in wanted]})
        near = keyed.mutate(_bk=bucket).inner_join(
            pairs, [keyed.stratum == pairs._ws, bucket == pairs._wb]
        )
        fetched = near.select(s=near.stratum, b=near._bk, o=near.order).to_pyarrow().to_pylist()
        members: dict[tuple[str, str], list[str]] = {}
        for r in fetched:
            members.setdefault((str(r["s"]), str(r["b"])), []).append(str(r["o"]))
        for key, targets in wanted.items():
            ordered = sorted(members[key])
            for i, offset in targets:
                bounds[key[0]][i] = ordered[offset]
    data: dict[str, list[Any]] = {"_bs": list(bounds)}
    for i in range(len(cum_shares)):
        data[f"_b{i}"] = [bounds[s][i] for s in bounds]
    return ibis.memtable(data, schema={k: "string" for k in data})


def create_experiment(
    wh: Warehouse,
    name: str,
    arms: list[Arm],
    *,
    control: str = "control",
    audience: str | None = None,
    stratify: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    salt: str | None = None,
) -> AssignmentResult:
    """Define an experiment and assign its audience (stratified, by hash) in the engine."""
    if not _NAME.match(name):
        raise UsageError(
            f"Experiment name {name!r}: use letters, digits, '_', '-' or '.' (at most 64)."
        )
    if control not in {a.name for a in arms}:
        raise UsageError(
            f"--control {control!r} is not one of the arms ({', '.join(a.name for a in arms)})."
        )
    if start and end and end < start:
        raise UsageError(f"--end {end} is before --start {start}.")
    if wh.has_table(EXPERIMENTS_TABLE):
        t = wh.table(EXPERIMENTS_TABLE)
        if t.filter(t.name == name).count().to_pyarrow().as_py():
            raise UsageError(
                f"Experiment {name!r} exists; use `patron experiment assign {name}` to add new "
                "customers, or choose another name."
            )
    exp = Experiment(
        name,
        arms,
        control,
        audience,
        list(stratify or []),
        start.isoformat() if start else None,
        end.isoformat() if end else None,
        salt or uuid.uuid4().hex,
        datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
    )
    table = _audience(wh, exp)
    keyed = table.select(
        customer_id=table.customer_id.cast("string"),
        stratum=_stratum(table, exp.stratify),
        # The rank order: key prefix, then the id (fixed-width prefix, so plain string order).
        order=_key(table, exp.salt).substr(0, KEY_DIGITS) + table.customer_id.cast("string"),
    )
    boundaries = _boundaries(keyed, arms)
    if boundaries is None:  # checked before anything is written
        raise DataError(
            f"The audience of {name!r} is empty"
            + (f" (--audience {audience!r})" if audience else "")
            + "; nothing was assigned."
        )
    arm: ir.StringValue = ibis.literal(arms[-1].name)
    joined = keyed.left_join(boundaries, keyed.stratum == boundaries._bs)
    for i in reversed(range(len(arms) - 1)):
        # Below the i-th boundary key: the first floor(c_i n + 1/2) customers of the stratum.
        below = joined[f"_b{i}"].isnull() | (joined.order < joined[f"_b{i}"])
        arm = ibis.ifelse(below, arms[i].name, arm)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = joined.select(
        experiment=ibis.literal(name),
        customer_id=joined.customer_id,
        arm=arm,
        stratum=joined.stratum,
        assigned_at=ibis.literal(now),
    )
    definition = ibis.memtable({"name": [name], "created_at": [now], "definition": [exp.to_json()]})
    with wh.transaction():
        if wh.has_table(ASSIGNMENTS_TABLE):
            wh.insert(ASSIGNMENTS_TABLE, rows)
        else:
            wh.create_table(ASSIGNMENTS_TABLE, rows)
        if wh.has_table(EXPERIMENTS_TABLE):
            wh.insert(EXPERIMENTS_TABLE, definition)
        else:
            wh.create_table(EXPERIMENTS_TABLE, definition)
    by_arm, by_stratum, total = _counts(wh, exp)
    return AssignmentResult(exp, total, by_arm, by_stratum, total, _window_notes(wh, exp))


#: customer_value's columns an audience or strata may use (scored from the transactions).
_VALUE_COLUMNS = {"clv", "p_alive", "tier", "loyalty", "profit_loyalty", "rfm", "frequency"}


def _window_notes(wh: Warehouse, exp: Experiment) -> list[str]:
    """A warning when the window starts before the data the audience was chosen on ends.

    The audience and strata may use customer value (scored on the transactions up to its
    ``as_of``) and needs segments: customers chosen on purchases inside the window make
    the lift biased (selection on the outcome).
    """
    if not exp.start or not wh.has_table("customer_value"):
        return []
    used = {c.lower() for c in exp.stratify}
    if exp.audience:
        used |= referenced_names(exp.audience)
    if not used & (_VALUE_COLUMNS | {"segment"}):
        return []
    cv = wh.table("customer_value")
    if "as_of" not in cv.columns:
        return []
    as_of = cv.as_of.max().to_pyarrow().as_py()
    start = date.fromisoformat(exp.start)
    if as_of is None or start > as_of:
        return []
    return [
        f"The window starts on {start}, on or before {as_of}, the last day of the data the "
        "audience (or strata) was chosen on (customer value): customers were picked knowing "
        "some of their purchases in the window, which biases the lift. Start the window "
        f"after {as_of}, or score with --observation-end before {start}."
    ]


def assign_new_customers(wh: Warehouse, name: str) -> AssignmentResult:
    """Assign audience members not yet in the experiment (by their key; nobody moves)."""
    exp = load_experiment(wh, name)
    table = _audience(wh, exp)
    done = wh.table(ASSIGNMENTS_TABLE)
    done = done.filter(done.experiment == name).select(_done=done.customer_id)
    fresh = table.anti_join(done, table.customer_id.cast("string") == done._done)
    keyed = fresh.select(
        customer_id=fresh.customer_id.cast("string"),
        stratum=_stratum(fresh, exp.stratify),
        key=_key(fresh, exp.salt),
    )
    prefix = keyed.key.substr(0, KEY_DIGITS)
    arm: ir.StringValue = ibis.literal(exp.arms[-1].name)
    cum = 0.0
    cuts: list[tuple[float, str]] = []
    for a in exp.arms[:-1]:
        cum += a.share
        cuts.append((cum, a.name))
    for c, arm_name in reversed(cuts):
        arm = ibis.ifelse(prefix < _hex_threshold(c), arm_name, arm)
    rows = keyed.select(
        experiment=ibis.literal(name),
        customer_id=keyed.customer_id,
        arm=arm,
        stratum=keyed.stratum,
        assigned_at=ibis.literal(datetime.now(UTC).replace(tzinfo=None)),
    )
    before = int(done.count().to_pyarrow().as_py())
    wh.insert(ASSIGNMENTS_TABLE, rows)
    by_arm, by_stratum, total = _counts(wh, exp)
    return AssignmentResult(exp, total - before, by_arm, by_stratum, total)
