"""The resolution: identity records → one resolved customer id each, stable across runs.

A run

1. prepares the records (:func:`prepare_records`): normalised e-mail, phone and card, the
   source ``customer_id``, and folded names and addresses, each record numbered (``rid``);
2. builds the edges of the identity graph: records sharing an identifier (``customer_id``,
   ``card``, ``email``, ``phone``; one identifier shared by more than ``max_shared`` records
   is refused and reported instead), Splink's pairs above the threshold (``probabilistic``),
   and manual merges; manual splits remove the edges that cross them;
3. finds the connected components in the engine (:mod:`patron.identity.graph`);
4. names each component (:func:`_stable_ids`): a component keeps the id that most of its
   records had before; when several old ids meet (a merge) the oldest survives; an old id
   whose records now lie in several components (a split) stays with the component holding
   most of them; every other component gets a new id, never one issued before;
5. writes ``identity_map``, ``identity_customer_map``, ``identity_records``, the changes, the
   links and the run record in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.people import IDENTITY_CUSTOMER_MAP
from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.identity.graph import connected_components
from patron.identity.normalise import (
    IDENTIFIERS,
    PLACEHOLDERS,
    STATUS_INVALID,
    STATUS_PLACEHOLDER,
    STATUS_VALID,
    complete_identifiers,
    engine_identifiers,
    fold_text,
)
from patron.identity.probabilistic import (
    COMPARED,
    DEFAULT_THRESHOLD,
    WEIGHT_FIELDS,
    match_records,
)

__all__ = [
    "CHANGES",
    "CUSTOMER_MAP",
    "DECISIONS",
    "DECISION_RECORDS",
    "LINKS",
    "MAP",
    "RECORDS",
    "RULES",
    "RUNS",
    "ResolveOptions",
    "RunReport",
    "lookup_identifiers",
    "phone_region",
    "primary_identifiers",
    "resolve_identities",
    "restore_before",
    "source_priority",
]

IDENTITIES = "identities"
MAP = "identity_map"
CUSTOMER_MAP = IDENTITY_CUSTOMER_MAP  # downstream reads it through patron.data.people
RECORDS = "identity_records"
RUNS = "identity_runs"
CHANGES = "identity_changes"
LINKS = "identity_links"
DECISIONS = "identity_decisions"
DECISION_RECORDS = "identity_decision_records"

#: Rules in order of strength: a record linked by several is labelled with the first.
RULES = ("manual", "customer_id", "card", "email", "phone", "probabilistic", "single")
RANK = {rule: i for i, rule in enumerate(RULES)}
#: Identifiers that link records deterministically, with the column they are read from.
DETERMINISTIC = ("customer_id", "card", "email", "phone")
ID_PREFIX = "P"
ID_DIGITS = 9
EXAMPLES = 5

MAP_SCHEMA = ibis.schema(
    {
        "source": "string",
        "record_id": "string",
        "customer_id": "string",
        "rule": "string",
        "run": "int64",
    }
)
CUSTOMER_MAP_SCHEMA = ibis.schema({"customer_id": "string", "resolved_id": "string"})
CHANGES_SCHEMA = ibis.schema(
    {
        "run": "int64",
        "source": "string",
        "record_id": "string",
        "old_customer_id": "string",
        "old_rule": "string",
        "old_run": "int64",
        "new_customer_id": "string",
        "new_rule": "string",
    }
)
RUNS_SCHEMA = ibis.schema(
    {
        "run": "int64",
        "kind": "string",
        "started_at": "timestamp",
        "records": "int64",
        "customers": "int64",
        "last_seq": "int64",
        "report": "string",
        "model": "string",
        "note": "string",
    }
)
LINKS_SCHEMA = ibis.schema(
    {
        "run": "int64",
        "source_l": "string",
        "record_id_l": "string",
        "source_r": "string",
        "record_id_r": "string",
        "match_probability": "float64",
        "match_weight": "float64",
        **{f"w_{f}": "float64" for f in WEIGHT_FIELDS},
    }
)
DECISIONS_SCHEMA = ibis.schema(
    {
        "decision": "int64",
        "kind": "string",
        "reason": "string",
        "made_at": "timestamp",
        "active": "boolean",
    }
)
DECISION_RECORDS_SCHEMA = ibis.schema(
    {"decision": "int64", "source": "string", "record_id": "string", "side": "int64"}
)
SCHEMAS = {
    MAP: MAP_SCHEMA,
    CUSTOMER_MAP: CUSTOMER_MAP_SCHEMA,
    CHANGES: CHANGES_SCHEMA,
    RUNS: RUNS_SCHEMA,
    LINKS: LINKS_SCHEMA,
    DECISIONS: DECISIONS_SCHEMA,
    DECISION_RECORDS: DECISION_RECORDS_SCHEMA,
}


@dataclass(frozen=True)
class ResolveOptions:
    """How a run links records.

    Parameters
    ----------
    deterministic_only
        Link by shared identifiers only (no Splink).
    threshold
        Match probability (0 to 1, exclusive) a Splink pair needs to link two records.
    region
        ISO 3166 country code for phone numbers written without an international prefix.
    max_shared
        An identifier shared by more records than this is refused (the collapse guard).
    seed
        Seed of Splink's random sampling.
    source_priority
        Sources most trusted first: where a person's records disagree on an e-mail, phone or
        card, the most trusted source's value is the one to use (:func:`primary_identifiers`).
    """

    deterministic_only: bool = False
    threshold: float = DEFAULT_THRESHOLD
    region: str = "GB"
    max_shared: int = 10
    seed: int = 0
    source_priority: tuple[str, ...] = ()

    def check(self) -> None:
        """Refuse values that make no sense, naming the option."""
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(
                f"--threshold {self.threshold} must be a match probability between 0 and 1 "
                "(exclusive), e.g. 0.9."
            )
        if self.max_shared < 2:
            raise UsageError(
                f"--max-shared {self.max_shared} must be at least 2 (records sharing an "
                "identifier)."
            )
        import phonenumbers

        if self.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise UsageError(
                f"--region {self.region!r} is not a region phonenumbers knows; use an ISO "
                "3166 code such as GB, US, DE or FR."
            )


@dataclass
class RunReport:
    """What a run did (JSON-ready through :meth:`to_dict`)."""

    run: int
    kind: str
    records: int
    customers: int
    records_by_rule: dict[str, int]
    links_by_rule: dict[str, int]
    new_customers: int
    merged_customers: int
    split_customers: int
    changed_records: int
    identifiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, dict[str, Any]] = field(default_factory=dict)
    customer_id_conflicts: int = 0
    rounds: int = 0
    probabilistic: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


# -- reading and writing the identity tables ---------------------------------------------------


def ensure_tables(wh: Warehouse) -> None:
    """Create the identity tables that do not exist yet (empty)."""
    for name, schema in SCHEMAS.items():
        if not wh.has_table(name):
            wh.con.create_table(name, schema=schema)


def runs_table(wh: Warehouse) -> ir.Table | None:
    """``identity_runs`` or ``None`` before the first run."""
    return wh.con.table(RUNS) if wh.has_table(RUNS) else None


def last_run(wh: Warehouse, kind: str | None = None) -> dict[str, Any] | None:
    """The latest run (of ``kind``), as a dict, or ``None``."""
    runs = runs_table(wh)
    if runs is None:
        return None
    if kind is not None:
        runs = runs.filter(runs.kind == kind)
    rows = runs.order_by(ibis.desc("run")).limit(1).to_pyarrow().to_pylist()
    return dict(rows[0]) if rows else None


def _next_run(wh: Warehouse) -> tuple[int, int]:
    """The next run number and the last sequence number ever issued for an id."""
    runs = runs_table(wh)
    if runs is None:
        return 1, 0
    row = runs.aggregate(run=runs.run.max(), seq=runs.last_seq.max()).to_pyarrow().to_pylist()[0]
    return int(row["run"] or 0) + 1, int(row["seq"] or 0)


def _text(value: ir.Value) -> ir.StringValue:
    """Trimmed text; empty and placeholder words become null."""
    text = value.cast("string").strip()
    return ibis.cases(
        (text.lower().isin(sorted(PLACEHOLDERS["text"])), ibis.null("string")), else_=text
    )


def _compact(value: ir.Value) -> ir.StringValue:
    """Folded text without spaces (dates of birth, postcodes, house numbers)."""
    return fold_text(value.cast("string")).re_replace(r" ", "").nullif("")


# -- step 1: prepared records ----------------------------------------------------------------


def prepare_records(
    wh: Warehouse, options: ResolveOptions, created: list[str]
) -> tuple[ir.Table, dict[str, dict[str, Any]]]:
    """Number and normalise every identity record (a staging table) and report the values.

    Returns
    -------
    tuple
        The prepared table (``rid``, ``source``, ``record_id``, ``customer_id``, ``email``,
        ``phone``, ``card`` normalised, and the folded :data:`COMPARED` columns) and, per
        identifier, counts of valid, invalid and placeholder values with the first invalid
        records.
    """
    ids = wh.table(IDENTITIES)
    # Records are numbered in (source, record_id) order, so that runs on the same records
    # (on any engine) number them alike; the keys alone are sorted (sorting the wide rows
    # costs several times more) and joined back.
    keys = ids.select("source", "record_id")
    keys = keys.mutate(
        rid=ibis.row_number().over(order_by=[keys.source, keys.record_id]).cast("int64")
    )
    kname, keys = wh.materialize("rids", keys)
    created.append(kname)
    ids = ids.join(keys, [ids.source == keys.source, ids.record_id == keys.record_id])
    base = ids.select(
        "rid",
        "source",
        "record_id",
        customer_id=_text(ids.customer_id),
        email_raw=ids.email,
        phone_raw=ids.phone,
        card_raw=ids.card,
        given_name=fold_text(ids.given_name),
        surname=fold_text(ids.surname),
        date_of_birth=_compact(ids.date_of_birth),
        street_number=_compact(ids.street_number),
        address=fold_text(ids.address),
        city=fold_text(ids.city),
        postcode=_compact(ids.postcode),
        state=fold_text(ids.state),
    )
    columns = {kind: f"{kind}_raw" for kind in IDENTIFIERS}
    region = options.region.upper()
    name, prepared = wh.materialize("records", engine_identifiers(base, columns, region))
    created.append(name)
    prepared = complete_identifiers(wh, prepared, columns, region, created)
    return prepared, _value_report(prepared)


def _value_report(prepared: ir.Table) -> dict[str, dict[str, Any]]:
    # One pass counts every identifier's statuses.
    counts = (
        prepared.aggregate(
            **{
                f"{kind}_{status}": ibis.cases(
                    (prepared[f"{kind}_status"] == status, 1), else_=0
                ).sum()
                for kind in IDENTIFIERS
                for status in (STATUS_VALID, STATUS_INVALID, STATUS_PLACEHOLDER)
            }
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    report: dict[str, dict[str, Any]] = {}
    for kind in IDENTIFIERS:
        examples: list[dict[str, Any]] = []
        if counts[f"{kind}_{STATUS_INVALID}"]:
            bad = prepared.filter(prepared[f"{kind}_status"] == STATUS_INVALID)
            examples = (
                bad.order_by(["source", "record_id"])
                .limit(EXAMPLES)
                .select("source", "record_id", value=bad[f"{kind}_raw"])
                .to_pyarrow()
                .to_pylist()
            )
        report[kind] = {
            "valid": int(counts[f"{kind}_{STATUS_VALID}"] or 0),
            "invalid": int(counts[f"{kind}_{STATUS_INVALID}"] or 0),
            "placeholder": int(counts[f"{kind}_{STATUS_PLACEHOLDER}"] or 0),
            "first_invalid": [dict(e) for e in examples],
        }
    return report


# -- step 2: edges ------------------------------------------------------------------------------


def _identifier_edges(
    prepared: ir.Table, options: ResolveOptions
) -> tuple[list[ir.Table], dict[str, dict[str, Any]]]:
    """Star edges to each identifier's first record, and the identifiers the guard refused."""
    edges: list[ir.Table] = []
    refused: dict[str, dict[str, Any]] = {}
    for kind in DETERMINISTIC:
        value = prepared[kind]
        groups = (
            prepared.filter(value.notnull())
            .group_by(v=value)
            .aggregate(n=ibis._.count(), root=ibis._.rid.min())
        )
        too_many = groups.filter(groups.n > options.max_shared)
        total = too_many.aggregate(values=too_many.count(), records=too_many.n.sum())
        row = total.to_pyarrow().to_pylist()[0]
        if int(row["values"] or 0):
            top = too_many.order_by([ibis.desc("n"), "v"]).limit(EXAMPLES).to_pyarrow().to_pylist()
            refused[kind] = {
                "values": int(row["values"]),
                "records": int(row["records"] or 0),
                "largest": [{"value": str(t["v"]), "records": int(t["n"])} for t in top],
            }
        usable = groups.filter((groups.n >= 2) & (groups.n <= options.max_shared))
        star = prepared.join(usable, value == usable.v).filter(lambda t: t.rid != t.root)
        edges.append(
            star.select(
                a=star.rid,
                b=star.root,
                rank=ibis.literal(RANK[kind], "int64"),
                seq=ibis.literal(0, "int64"),
            )
        )
    return edges, refused


def _record_edges(prepared: ir.Table, pairs: ir.Table, rank: int, seq: ir.Value) -> ir.Table:
    """Edges between records named by (source, record_id) on each side."""
    left, right = prepared.view(), prepared.view()
    joined = pairs.join(
        left, (pairs.source_l == left.source) & (pairs.record_id_l == left.record_id)
    ).join(right, (pairs.source_r == right.source) & (pairs.record_id_r == right.record_id))
    return joined.select(
        a=left.rid, b=right.rid, rank=ibis.literal(rank, "int64"), seq=seq.cast("int64")
    )


def _manual_edges(
    wh: Warehouse, prepared: ir.Table, ignore: int | None
) -> tuple[ir.Table | None, ir.Table | None]:
    """Edges of active merges, and (decision, rid, side) of active splits (but ``ignore``)."""
    if not wh.has_table(DECISIONS):
        return None, None
    decisions = wh.con.table(DECISIONS).filter(ibis._.active)
    if ignore is not None:
        decisions = decisions.filter(decisions.decision != ignore)
    records = wh.con.table(DECISION_RECORDS)
    placed = records.join(decisions, records.decision == decisions.decision).join(
        prepared,
        (records.source == prepared.source) & (records.record_id == prepared.record_id),
    )
    placed = placed.select(
        decision=records.decision, kind=decisions.kind, rid=prepared.rid, side=records.side
    )
    merges = placed.filter(placed.kind == "merge")
    left, right = merges.filter(merges.side == 0), merges.filter(merges.side == 1).view()
    merge_edges = left.join(right, left.decision == right.decision).select(
        a=left.rid,
        b=right.rid,
        rank=ibis.literal(RANK["manual"], "int64"),
        seq=left.decision,
    )
    splits = placed.filter(placed.kind == "split").select("decision", "rid", "side")
    return merge_edges, splits


def _without_split_crossings(edges: ir.Table, splits: ir.Table | None) -> ir.Table:
    """Drop edges older than a split that join records it put on different sides."""
    if splits is None:
        return edges
    sa, sb = splits.view(), splits.view()
    crossing = (
        edges.join(sa, edges.a == sa.rid)
        .join(sb, (edges.b == sb.rid) & (sa.decision == sb.decision))
        .filter((sa.side != sb.side) & (sa.decision > edges.seq))
        .select(edges.a, edges.b, edges.rank, edges.seq)
        .distinct()
    )
    return edges.anti_join(crossing, ["a", "b", "rank", "seq"])


# -- step 4: stable ids ---------------------------------------------------------------------------


def _format_id(seq: ir.IntegerValue) -> ir.StringValue:
    return ibis.literal(ID_PREFIX) + seq.cast("string").lpad(ID_DIGITS, "0")


def _stable_ids(
    assigned: ir.Table, base: ir.Table | None, last_seq: int
) -> tuple[ir.Table, ir.Table]:
    """Resolved id per component label; returns (label → customer_id, seq) and the claims.

    ``assigned`` has ``label`` and ``old_id``, the record's id in the map to stay stable
    against (null for a record new to it); ``base`` says whether there is such a map.
    """
    labels = assigned.select("label").distinct()
    if base is None:
        winners = labels.select("label", resolved=ibis.null("string")).limit(0)
    else:
        old = assigned.filter(assigned.old_id.notnull()).select("label", "old_id")
        pairs = old.group_by(["label", "old_id"]).aggregate(n=ibis._.count())
        claim = pairs.mutate(
            pick=ibis.row_number().over(
                group_by=pairs.old_id, order_by=[ibis.desc(pairs.n), pairs.label]
            )
        ).filter(lambda t: t.pick == 0)
        winners = claim.group_by("label").aggregate(resolved=claim.old_id.min())
    named = labels.left_join(winners, labels.label == winners.label).select(
        labels.label, winners.resolved
    )
    fresh = named.filter(named.resolved.isnull())
    numbered = fresh.mutate(
        seq=(ibis.row_number().over(order_by=fresh.label) + last_seq + 1).cast("int64")
    )
    new_ids = numbered.select("label", resolved=_format_id(numbered.seq), seq=numbered.seq)
    kept = named.filter(named.resolved.notnull()).mutate(seq=ibis.null("int64"))
    return kept.union(new_ids), winners


# -- the run --------------------------------------------------------------------------------------


def _base_map(wh: Warehouse, restore_run: int | None) -> ir.Table | None:
    """The map to stay stable against: the current one, or the one before ``restore_run``."""
    if not wh.has_table(MAP):
        return None
    current = wh.con.table(MAP)
    if restore_run is None:
        return current
    changes = wh.con.table(CHANGES).filter(ibis._.run == restore_run)
    untouched = current.anti_join(changes, ["source", "record_id"])
    before = changes.filter(changes.old_customer_id.notnull()).select(
        "source",
        "record_id",
        customer_id=changes.old_customer_id,
        rule=changes.old_rule,
        run=changes.old_run,
    )
    return untouched.select(*MAP_SCHEMA.names).union(before.select(*MAP_SCHEMA.names))


def _stored_links(wh: Warehouse) -> ir.Table | None:
    """The probabilistic links of the latest automatic run that matched (reused by manual runs)."""
    if not wh.has_table(LINKS):
        return None
    links = wh.con.table(LINKS)
    latest = links.aggregate(run=links.run.max()).to_pyarrow().to_pylist()[0]["run"]
    if latest is None:
        return None
    return links.filter(links.run == int(latest))


def resolve_identities(
    wh: Warehouse,
    options: ResolveOptions | None = None,
    *,
    kind: str = "auto",
    note: str = "",
    restore_run: int | None = None,
    decision: tuple[str, str, Sequence[tuple[str, str, int]]] | None = None,
    undo_decision: int | None = None,
) -> RunReport:
    """Resolve every identity record to a customer and write the identity tables.

    Parameters
    ----------
    wh
        The warehouse; it must hold an ``identities`` table (``patron load identities``).
    options
        How to link (see :class:`ResolveOptions`).
    kind
        ``auto`` (a run that matches with Splink unless ``deterministic_only``), or
        ``merge``, ``split``, ``undo`` (manual runs: they reuse the latest automatic run's
        probabilistic links instead of matching again).
    note
        Free text kept with the run (the reason of a manual decision).
    restore_run
        Stay stable against the map as it was before this run (used by undo).
    decision
        ``(kind, reason, [(source, record_id, side), ...])`` of a manual decision to record
        with this run (it takes the run's number).
    undo_decision
        A manual decision this run leaves out and marks undone.

    Returns
    -------
    RunReport
    """
    options = options or ResolveOptions()
    options.check()
    run, last_seq = _next_run(wh)
    now = datetime.now(UTC).replace(tzinfo=None)
    with wh.scratch() as created:
        prepared, identifiers = prepare_records(wh, options, created)
        records = int(prepared.count().to_pyarrow().as_py())
        if records == 0:
            raise UsageError(
                "The identities table is empty; load records with `patron load identities FILE`."
            )
        if options.source_priority:
            known = set(prepared.source.cast("string").name("s").as_table().distinct()
                        .to_pyarrow().column(0).to_pylist())  # fmt: skip
            unknown = [src for src in options.source_priority if src not in known]
            if unknown:  # a typo would otherwise silently rank nothing
                raise UsageError(
                    f"--source-priority names no records' source: {', '.join(unknown)}; the "
                    f"sources are {', '.join(sorted(str(k) for k in known))}."
                )
        edge_parts, refused = _identifier_edges(prepared, options)
        probabilistic: dict[str, Any] = {}
        model_json = ""
        links: ir.Table | None = None
        if kind == "auto" and not options.deterministic_only:
            persons = prepared.select("rid", *COMPARED)
            matching = match_records(
                wh, persons, threshold=options.threshold, seed=options.seed, created=created
            )
            model_json = json.dumps(matching.model) if matching.model else ""
            probabilistic = {"records": matching.records, "pairs": matching.compared}
            if matching.note:
                probabilistic["note"] = matching.note
            if matching.pairs is not None:
                p = matching.pairs
                left, right = prepared.view(), prepared.view()
                links = (
                    p.join(left, p.rid_l == left.rid)
                    .join(right, p.rid_r == right.rid)
                    .select(
                        run=ibis.literal(run, "int64"),
                        source_l=left.source,
                        record_id_l=left.record_id,
                        source_r=right.source,
                        record_id_r=right.record_id,
                        match_probability=p.match_probability,
                        match_weight=p.match_weight,
                        **{f"w_{f}": p[f"w_{f}"] for f in WEIGHT_FIELDS},
                    )
                )
                name, links = wh.materialize("links", links)
                created.append(name)
        elif kind != "auto":
            links = _stored_links(wh)
        if links is not None:
            edge_parts.append(
                _record_edges(prepared, links, RANK["probabilistic"], ibis.literal(0, "int64"))
            )
        merge_edges, splits = _manual_edges(wh, prepared, undo_decision)
        if decision is not None:
            d_kind, _, d_records = decision
            mine = ibis.memtable(
                {
                    "decision": [run] * len(d_records),
                    "source": [r[0] for r in d_records],
                    "record_id": [r[1] for r in d_records],
                    "side": [int(r[2]) for r in d_records],
                },
                schema=DECISION_RECORDS_SCHEMA,
            )
            placed = mine.join(
                prepared,
                (mine.source == prepared.source) & (mine.record_id == prepared.record_id),
            ).select(decision=mine.decision, rid=prepared.rid, side=mine.side)
            if d_kind == "merge":
                lft = placed.filter(placed.side == 0)
                rgt = placed.filter(placed.side == 1).view()
                extra = lft.join(rgt, lft.decision == rgt.decision).select(
                    a=lft.rid,
                    b=rgt.rid,
                    rank=ibis.literal(RANK["manual"], "int64"),
                    seq=lft.decision,
                )
                merge_edges = extra if merge_edges is None else merge_edges.union(extra)
            else:
                splits = placed if splits is None else splits.union(placed)
        if merge_edges is not None:
            edge_parts.append(merge_edges)
        edges = edge_parts[0]
        for part in edge_parts[1:]:
            edges = edges.union(part, distinct=False)
        edges = _without_split_crossings(edges, splits)
        name, edges = wh.materialize("graph", edges)
        created.append(name)
        components, rounds = connected_components(wh, edges.select("a", "b"), created)
        ends = edges.select(node=edges.a, rank=edges.rank).union(
            edges.select(node=edges.b, rank=edges.rank), distinct=False
        )
        strongest = ends.group_by("node").aggregate(rank=ends.rank.min())
        links_by_rule = {
            RULES[int(r["rank"])]: int(r["n"])
            for r in edges.group_by("rank").aggregate(n=ibis._.count()).to_pyarrow().to_pylist()
        }
        base = _base_map(wh, restore_run)
        if base is not None and restore_run is not None:
            bname, base = wh.materialize("base", base)
            created.append(bname)
        # Each record with its place in the map to stay stable against (one join of the two
        # maps, serving the stable ids, the runs kept and, when that map is the current one,
        # the changes).
        joined = prepared.left_join(components, prepared.rid == components.node).left_join(
            strongest, prepared.rid == strongest.node
        )
        old: dict[str, ir.Value] = {
            "old_id": ibis.null("string"),
            "old_rule": ibis.null("string"),
            "old_run": ibis.null("int64"),
        }
        if base is not None:
            b = base.view()
            joined = joined.left_join(
                b, (prepared.source == b.source) & (prepared.record_id == b.record_id)
            )
            old = {"old_id": b.customer_id, "old_rule": b.rule, "old_run": b.run}
        assigned = joined.select(
            prepared.source,
            prepared.record_id,
            prepared.rid,
            source_customer_id=prepared.customer_id,
            label=ibis.coalesce(components.label, prepared.rid),
            rank=ibis.coalesce(strongest.rank, ibis.literal(RANK["single"], "int64")),
            **old,
        )
        name, assigned = wh.materialize("assigned", assigned)
        created.append(name)
        ids, _winners = _stable_ids(assigned, base, last_seq)
        iname, ids = wh.materialize("ids", ids)
        created.append(iname)
        issued = ids.aggregate(top=ids.seq.max()).to_pyarrow().to_pylist()[0]["top"]
        new_last_seq = max(last_seq, int(issued or 0))
        rule = ibis.cases(
            *[(assigned["rank"] == i, ibis.literal(r)) for i, r in enumerate(RULES)],
            else_=ibis.literal("single"),
        )
        resolved = assigned.join(ids, assigned.label == ids.label).select(
            assigned.source,
            assigned.record_id,
            assigned.source_customer_id,
            assigned.old_id,
            assigned.old_rule,
            assigned.old_run,
            customer_id=ids.resolved,
            rule=rule,
        )
        # A record whose id and rule did not change keeps the run that gave them.
        same = (resolved.old_id == resolved.customer_id) & (resolved.old_rule == resolved.rule)
        new_map = resolved.mutate(
            run=ibis.cases(
                (same.fill_null(False), resolved.old_run), else_=ibis.literal(run, "int64")
            )
        )
        mname, new_map = wh.materialize("map", new_map)
        created.append(mname)
        report = _write_run(
            wh,
            run=run,
            kind=kind,
            now=now,
            new_map=new_map,
            prepared=prepared,
            links=links if kind == "auto" else None,
            last_seq=new_last_seq,
            model_json=model_json,
            note=note,
            decision=decision,
            undo_decision=undo_decision,
            against_current=restore_run is None,
            summary={
                "identifiers": identifiers,
                "refused": refused,
                "links_by_rule": links_by_rule,
                "rounds": rounds,
                "probabilistic": probabilistic,
                "options": asdict(options),
            },
        )
    return report


def _write_run(
    wh: Warehouse,
    *,
    run: int,
    kind: str,
    now: datetime,
    new_map: ir.Table,
    prepared: ir.Table | None,
    links: ir.Table | None,
    last_seq: int,
    model_json: str,
    note: str,
    decision: tuple[str, str, Sequence[tuple[str, str, int]]] | None,
    undo_decision: int | None = None,
    against_current: bool = False,
    summary: dict[str, Any],
) -> RunReport:
    """Write the map, the changes, links, records and the run record in one transaction.

    With ``against_current``, ``new_map`` carries each record's place in the current map
    (``old_id``, ``old_rule``, ``old_run``), so the changes need no second join of the maps.
    """
    ensure_tables(wh)
    current = wh.con.table(MAP)
    placed = new_map
    if not against_current:
        c = current.view()
        placed = new_map.left_join(
            c, (new_map.source == c.source) & (new_map.record_id == c.record_id)
        ).select(
            new_map.source,
            new_map.record_id,
            new_map.customer_id,
            new_map.rule,
            old_id=c.customer_id,
            old_rule=c.rule,
            old_run=c.run,
        )
    diff = placed.select(
        run=ibis.literal(run, "int64"),
        source=placed.source,
        record_id=placed.record_id,
        old_customer_id=placed.old_id,
        old_rule=placed.old_rule,
        old_run=placed.old_run,
        new_customer_id=placed.customer_id,
        new_rule=placed.rule,
    )
    diff = diff.filter(
        diff.old_customer_id.isnull()
        | (diff.old_customer_id != diff.new_customer_id)
        | (diff.old_rule != diff.new_rule)
    )
    stats = _run_stats(new_map, current, diff)
    customer_map = (
        new_map.filter(new_map.source_customer_id.notnull())
        .group_by(customer_id=new_map.source_customer_id)
        .aggregate(resolved_id=ibis._.customer_id.min(), ids=ibis._.customer_id.nunique())
    )
    conflicts = int(customer_map.filter(customer_map.ids > 1).count().to_pyarrow().as_py())
    records = int(stats["records"])
    customers = int(stats["customers"])
    report = RunReport(
        run=run,
        kind=kind,
        records=records,
        customers=customers,
        records_by_rule=stats["by_rule"],
        links_by_rule=summary["links_by_rule"],
        new_customers=stats["new_customers"],
        merged_customers=stats["merged"],
        split_customers=stats["split"],
        changed_records=stats["changed"],
        identifiers=summary["identifiers"],
        refused=summary["refused"],
        customer_id_conflicts=conflicts,
        rounds=summary["rounds"],
        probabilistic=summary["probabilistic"],
        note=note,
    )
    run_row = ibis.memtable(
        {
            "run": [run],
            "kind": [kind],
            "started_at": [now],
            "records": [records],
            "customers": [customers],
            "last_seq": [last_seq],
            "report": [json.dumps({**report.to_dict(), "options": summary["options"]})],
            "model": [model_json],
            "note": [note],
        },
        schema=RUNS_SCHEMA,
    )
    kept_records = None
    if prepared is not None:
        kept_records = prepared.select(
            "source",
            "record_id",
            "customer_id",
            *IDENTIFIERS,
            *[c for c in COMPARED if c not in IDENTIFIERS],
        )
    with wh.transaction():
        wh.insert(CHANGES, diff)
        wh.replace_table(MAP, new_map.select(*MAP_SCHEMA.names).cast(MAP_SCHEMA))
        wh.replace_table(
            CUSTOMER_MAP,
            customer_map.select("customer_id", "resolved_id").cast(CUSTOMER_MAP_SCHEMA),
        )
        if kept_records is not None:
            wh.replace_table(RECORDS, kept_records)
        if undo_decision is not None:
            decisions = wh.con.table(DECISIONS)
            wh.replace_table(
                DECISIONS,
                decisions.mutate(active=decisions.active & (decisions.decision != undo_decision)),
            )
        if links is not None:
            wh.insert(LINKS, links.select(*LINKS_SCHEMA.names).cast(LINKS_SCHEMA))
        if decision is not None:
            d_kind, reason, d_records = decision
            wh.insert(
                DECISIONS,
                ibis.memtable(
                    {
                        "decision": [run],
                        "kind": [d_kind],
                        "reason": [reason],
                        "made_at": [now],
                        "active": [True],
                    },
                    schema=DECISIONS_SCHEMA,
                ),
            )
            wh.insert(
                DECISION_RECORDS,
                ibis.memtable(
                    {
                        "decision": [run] * len(d_records),
                        "source": [r[0] for r in d_records],
                        "record_id": [r[1] for r in d_records],
                        "side": [int(r[2]) for r in d_records],
                    },
                    schema=DECISION_RECORDS_SCHEMA,
                ),
            )
        wh.insert(RUNS, run_row)
    return report


def _run_stats(new_map: ir.Table, current: ir.Table, diff: ir.Table) -> dict[str, Any]:
    """Records, customers, records per rule, and what changed against the current map."""
    by_rule = {
        str(r["rule"]): int(r["n"])
        for r in new_map.group_by("rule").aggregate(n=ibis._.count()).to_pyarrow().to_pylist()
    }
    totals = (
        new_map.aggregate(records=new_map.count(), customers=new_map.customer_id.nunique())
        .to_pyarrow()
        .to_pylist()[0]
    )
    records, customers = int(totals["records"]), int(totals["customers"])
    if int(current.count().to_pyarrow().as_py()) == 0:
        # A first run: every record and every customer is new, nothing merged or split.
        row = {"gone": 0, "fresh": customers, "split": 0, "changed": records}
    else:
        row = _changes_against(new_map, current, diff)
    return {
        "records": records,
        "customers": customers,
        "by_rule": by_rule,
        "merged": row["gone"],
        "new_customers": row["fresh"],
        "split": row["split"],
        "changed": row["changed"],
    }


def _changes_against(new_map: ir.Table, current: ir.Table, diff: ir.Table) -> dict[str, int]:
    """Customers gone (merged), fresh, split, and records changed against the current map."""
    old_ids = current.select(old=current.customer_id).distinct()
    new_ids = new_map.select(new=new_map.customer_id).distinct()
    gone = old_ids.anti_join(new_ids, old_ids.old == new_ids.new)
    fresh = new_ids.anti_join(old_ids, new_ids.new == old_ids.old)
    # A split: records that had an id now under a fresh id while the old id lives on.
    moved = diff.filter(diff.old_customer_id.notnull())
    living = new_ids.view()
    split_ids = (
        moved.join(fresh, moved.new_customer_id == fresh.new)
        .join(living, moved.old_customer_id == living.new)
        .select(moved.old_customer_id)
        .distinct()
    )

    def count(table: ir.Table) -> int:
        return int(table.count().to_pyarrow().as_py())

    return {
        "gone": count(gone),
        "fresh": count(fresh),
        "split": count(split_ids),
        "changed": count(diff),
    }


def restore_before(wh: Warehouse, run: int, *, note: str = "") -> RunReport:
    """Put the map back exactly as it was before ``run`` (which must be the latest run).

    Records that ``run`` added leave the map (the next run adds them again); a manual
    decision made by ``run`` is marked undone. Written as a run of kind ``undo``.

    Parameters
    ----------
    wh
        The warehouse.
    run
        The run to undo.
    note
        Kept with the undo run.

    Returns
    -------
    RunReport
    """
    number, last_seq = _next_run(wh)
    base = _base_map(wh, run)
    if base is None:  # pragma: no cover - callers check that runs exist
        raise UsageError("No identity run to undo; run `patron identify run` first.")
    records = wh.con.table(RECORDS)
    new_map = base.left_join(
        records, (base.source == records.source) & (base.record_id == records.record_id)
    ).select(
        base.source,
        base.record_id,
        base.customer_id,
        base.rule,
        base.run,
        source_customer_id=records.customer_id,
    )
    decided = False
    if wh.has_table(DECISIONS):
        decisions = wh.con.table(DECISIONS)
        decided = bool(
            int(decisions.filter(decisions.decision == run).count().to_pyarrow().as_py())
        )
    with wh.scratch() as created:
        name, new_map = wh.materialize("map", new_map)
        created.append(name)
        return _write_run(
            wh,
            run=number,
            kind="undo",
            now=datetime.now(UTC).replace(tzinfo=None),
            new_map=new_map,
            prepared=None,
            links=None,
            last_seq=last_seq,
            model_json="",
            note=note,
            decision=None,
            undo_decision=run if decided else None,
            summary={
                "identifiers": {},
                "refused": {},
                "links_by_rule": {},
                "rounds": 0,
                "probabilistic": {},
                "options": {},
            },
        )


def lookup_identifiers(wh: Warehouse) -> ir.Table | None:
    """Every resolved customer's identifiers, for finding them in the operational store.

    One row per (``customer_id`` resolved, ``kind``, ``value``): the normalised e-mail
    addresses, E.164 phone numbers and cards of all their identity records, and each record's
    source ``customer_id`` as ``source_id`` — what an agent may type to find the person.
    Invalid and placeholder values are not there (normalisation left them null), nor are
    identifiers the collapse guard refused as shared by too many people. None before the
    first run.
    """
    if not (wh.has_table(RECORDS) and wh.has_table(MAP)):
        return None
    records = wh.con.table(RECORDS)
    links = wh.con.table(MAP)
    link = links.select(_src=links.source, _rec=links.record_id, _resolved=links.customer_id)
    joined = records.join(link, [records.source == link._src, records.record_id == link._rec])
    parts = [
        joined.select(
            customer_id=joined._resolved,
            kind=ibis.literal(kind),
            value=joined[column].cast("string"),
        )
        for kind, column in (
            ("email", "email"),
            ("phone", "phone"),
            ("card", "card"),
            ("source_id", "customer_id"),
        )
    ]
    union = ibis.union(*parts, distinct=True)
    union = union.filter(union.value.notnull() & (union.value != ""))
    # An identifier several resolved customers share (one the guard refused) finds none.
    owners = union.group_by(["kind", "value"]).aggregate(_owners=union.customer_id.nunique())
    single = owners.filter(owners._owners == 1).select(_k=owners.kind, _v=owners.value)
    kept = union.join(single, [union.kind == single._k, union.value == single._v])
    return kept.select("customer_id", "kind", "value")


def phone_region(wh: Warehouse) -> str | None:
    """The country (ISO code) the latest identity run read national phone numbers in."""
    run = last_run(wh, "auto")
    if run is None:
        return None
    options = json.loads(str(run.get("report") or "{}")).get("options", {})
    region = options.get("region")
    return str(region).upper() if region else None


def source_priority(wh: Warehouse) -> tuple[str, ...]:
    """The source priority the latest identity run was given (most trusted first)."""
    run = last_run(wh, "auto")
    if run is None:
        return ()
    options = json.loads(str(run.get("report") or "{}")).get("options", {})
    return tuple(str(s) for s in options.get("source_priority") or ())


def primary_identifiers(wh: Warehouse, priority: Sequence[str] | None = None) -> ir.Table | None:
    """Each resolved customer's e-mail, phone and card to use (survivorship by source).

    Where a person's records disagree (a second e-mail on the web account, another phone
    on a call-centre record), the value of the most trusted source wins: ``priority`` lists
    sources most trusted first (default: the latest run's ``--source-priority``); sources not
    listed come after, and within a source the latest record (highest ``record_id``) wins.
    Only valid, non-placeholder values take part. None before the first run.

    Returns
    -------
    ibis.Table or None
        ``customer_id``, ``email``, ``phone``, ``card`` (normalised; null where no record
        has one), computed in the engine.
    """
    if not (wh.has_table(RECORDS) and wh.has_table(MAP)):
        return None
    order = list(priority if priority is not None else source_priority(wh))
    records = wh.con.table(RECORDS)
    links = wh.con.table(MAP)
    link = links.select(_src=links.source, _rec=links.record_id, _resolved=links.customer_id)
    joined = records.join(link, [records.source == link._src, records.record_id == link._rec])
    rank: ir.IntegerValue = ibis.literal(len(order))
    for i, src in reversed(list(enumerate(order))):
        rank = ibis.ifelse(joined.source == src, i, rank)
    ranked = joined.select(
        customer_id=joined._resolved,
        _rank=rank,
        _record=joined.record_id,
        email=joined.email.cast("string"),
        phone=joined.phone.cast("string"),
        card=joined.card.cast("string"),
    )
    base = ranked.select("customer_id").distinct()
    for kind in ("email", "phone", "card"):
        have = ranked.filter(ranked[kind].notnull() & (ranked[kind] != ""))
        pick = ibis.row_number().over(
            group_by=have.customer_id, order_by=[have._rank, ibis.desc(have._record)]
        )
        best = have.mutate(_n=pick).filter(ibis._._n == 0)
        side = best.select(_cid=best.customer_id, **{kind: best[kind]})
        base = base.left_join(side, base.customer_id == side._cid).drop("_cid")
    return base.select("customer_id", "email", "phone", "card")
