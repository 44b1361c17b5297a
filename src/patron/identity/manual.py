"""Decisions people make about identities: merge, split, undo, and the history behind them.

A merge or a split is a *decision* stored in ``identity_decisions`` (with its records in
``identity_decision_records``) and applied by every later run: a merge is an edge between
one record of each customer; a split removes the edges that join the records it separated
(edges made later, such as a later merge, are kept). Each decision is made as a run of its own
that reuses the latest automatic run's probabilistic links, so it takes seconds.

Undo puts the map back exactly as it was before a run when that run is the latest; a decision
made earlier is undone by leaving it out of a new run that stays stable against the map from
before it, so the ids it retired come back. Transactions are never rewritten: everything
reads them through the map.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import ibis

from patron.data.warehouse import Warehouse
from patron.errors import UsageError
from patron.identity.probabilistic import COMPARED, explain_pair
from patron.identity.resolve import (
    CHANGES,
    DECISIONS,
    LINKS,
    MAP,
    RECORDS,
    RUNS,
    ResolveOptions,
    RunReport,
    last_run,
    resolve_identities,
    restore_before,
)

__all__ = [
    "customer_history",
    "explain_records",
    "find_record",
    "merge_customers",
    "split_customer",
    "undo",
]


def _require_map(wh: Warehouse) -> None:
    if not wh.has_table(MAP) or not wh.has_table(RUNS):
        raise UsageError("No identity map yet; run `patron identify run` first.")


def _last_options(wh: Warehouse) -> ResolveOptions:
    """The options of the latest automatic run (the default ones before any)."""
    run = last_run(wh, "auto")
    if run is None:
        return ResolveOptions()
    stored = json.loads(str(run["report"])).get("options") or {}
    return ResolveOptions(**stored)


def find_record(wh: Warehouse, ref: str) -> tuple[str, str]:
    """The (source, record_id) that ``ref`` names: ``SOURCE:RECORD_ID`` or a unique record id.

    Raises
    ------
    UsageError
        When no record, or several in different sources, match.
    """
    _require_map(wh)
    table = wh.con.table(MAP)
    source, sep, record = ref.partition(":")
    if sep:
        hit = table.filter((table.source == source) & (table.record_id == record))
        if int(hit.count().to_pyarrow().as_py()):
            return source, record
    hits = table.filter(table.record_id == ref).select("source").to_pyarrow().to_pylist()
    if len(hits) == 1:
        return str(hits[0]["source"]), ref
    if hits:
        sources = ", ".join(sorted(str(h["source"]) for h in hits))
        raise UsageError(
            f"Record {ref!r} exists in several sources ({sources}); name it as SOURCE:{ref}."
        )
    raise UsageError(
        f"No identity record {ref!r} in the identity map; name a record as SOURCE:RECORD_ID "
        "(see `patron export identity_map`)."
    )


def _customer_records(wh: Warehouse, customer: str) -> list[tuple[str, str]]:
    table = wh.con.table(MAP)
    rows = (
        table.filter(table.customer_id == customer)
        .order_by(["source", "record_id"])
        .select("source", "record_id")
        .to_pyarrow()
        .to_pylist()
    )
    return [(str(r["source"]), str(r["record_id"])) for r in rows]


def _customer_or_record(wh: Warehouse, ref: str) -> tuple[str, tuple[str, str]]:
    """A resolved customer id and one of its records, from a customer id or a record."""
    records = _customer_records(wh, ref)
    if records:
        return ref, records[0]
    key = find_record(wh, ref)
    table = wh.con.table(MAP)
    row = (
        table.filter((table.source == key[0]) & (table.record_id == key[1]))
        .select("customer_id")
        .to_pyarrow()
        .to_pylist()[0]
    )
    return str(row["customer_id"]), key


def merge_customers(wh: Warehouse, first: str, second: str, reason: str) -> RunReport:
    """Make two customers one, for a stated reason (kept by every later run).

    Parameters
    ----------
    wh
        The warehouse.
    first, second
        Resolved customer ids, or records (``SOURCE:RECORD_ID``) of the two customers.
    reason
        Why (kept with the decision; required).

    Returns
    -------
    RunReport
        The run that applied the merge; the surviving id is the older of the two.
    """
    _require_map(wh)
    if not reason.strip():
        raise UsageError("--reason is required: say why these customers are one person.")
    a, rec_a = _customer_or_record(wh, first)
    b, rec_b = _customer_or_record(wh, second)
    if a == b:
        raise UsageError(f"{first} and {second} are already one customer ({a}); nothing to merge.")
    records = [(rec_a[0], rec_a[1], 0), (rec_b[0], rec_b[1], 1)]
    return resolve_identities(
        wh,
        _last_options(wh),
        kind="merge",
        note=reason,
        decision=("merge", reason, records),
    )


def split_customer(wh: Warehouse, customer: str, records: Sequence[str], reason: str) -> RunReport:
    """Separate some records from a customer (kept by every later run).

    Parameters
    ----------
    wh
        The warehouse.
    customer
        The resolved customer id.
    records
        The records to take out (``SOURCE:RECORD_ID`` or a unique record id); they stay
        together as one customer, apart from the customer's other records.
    reason
        Why (kept with the decision; required).

    Returns
    -------
    RunReport
        The run that applied the split; the part with more records keeps the id.
    """
    _require_map(wh)
    if not reason.strip():
        raise UsageError("--reason is required: say why these records are another person.")
    members = _customer_records(wh, customer)
    if not members:
        raise UsageError(f"No customer {customer!r} in the identity map.")
    if not records:
        raise UsageError("Name the records to split off with --records SOURCE:RECORD_ID ...")
    chosen = {find_record(wh, r) for r in records}
    outside = sorted(chosen - set(members))
    if outside:
        names = ", ".join(f"{s}:{r}" for s, r in outside)
        raise UsageError(f"Record(s) {names} do not belong to customer {customer}.")
    if chosen == set(members):
        raise UsageError(
            f"Those are all of {customer}'s records; name only the ones that are another person."
        )
    sides = [(s, r, 1 if (s, r) in chosen else 0) for s, r in members]
    return resolve_identities(
        wh,
        _last_options(wh),
        kind="split",
        note=reason,
        decision=("split", reason, sides),
    )


def undo(wh: Warehouse, run: int) -> RunReport:
    """Undo a run or a manual decision (merge or split; named by its run number).

    The latest run is undone exactly: the map is put back as it was before it. An earlier
    merge or split is left out of a new run that stays stable against the map from before
    it. An earlier automatic run cannot be undone (undo the later runs first).

    Parameters
    ----------
    wh
        The warehouse.
    run
        The run number (``patron identify history`` and ``identity_runs`` show them).

    Returns
    -------
    RunReport
    """
    _require_map(wh)
    runs = wh.con.table(RUNS)
    found = runs.filter(runs.run == run).to_pyarrow().to_pylist()
    if not found:
        raise UsageError(f"No identity run {run}; `patron identify history CUSTOMER` lists them.")
    latest = last_run(wh)
    kind = str(found[0]["kind"])
    decision_active = False
    if kind in {"merge", "split"}:
        decisions = wh.con.table(DECISIONS)
        row = decisions.filter(decisions.decision == run).to_pyarrow().to_pylist()
        decision_active = bool(row and row[0]["active"])
        if not decision_active:
            raise UsageError(f"The {kind} of run {run} is already undone.")
    note = f"undo of run {run} ({kind})"
    if latest is not None and int(latest["run"]) == run:
        return restore_before(wh, run, note=note)
    if decision_active:
        return resolve_identities(
            wh, _last_options(wh), kind="undo", note=note, restore_run=run, undo_decision=run
        )
    raise UsageError(
        f"Run {run} ({kind}) is not the latest run ({latest['run'] if latest else '-'}); only "
        "the latest run, or a merge or split, can be undone. Undo the later runs first."
    )


def customer_history(wh: Warehouse, customer: str) -> list[dict[str, Any]]:
    """Every run that gave records to or took records from ``customer``, oldest first.

    Returns
    -------
    list of dict
        ``run``, ``kind``, ``at`` (ISO time), ``note``, ``gained`` and ``lost`` (records),
        and ``records`` (``SOURCE:RECORD_ID`` of the records concerned, up to 20).
    """
    _require_map(wh)
    changes = wh.con.table(CHANGES)
    runs = wh.con.table(RUNS)
    mine = changes.filter(
        (changes.old_customer_id == customer) | (changes.new_customer_id == customer)
    )
    mine = mine.filter(
        mine.old_customer_id.isnull() | (mine.old_customer_id != mine.new_customer_id)
    )
    rows = (
        mine.join(runs, mine.run == runs.run)
        .select(
            mine.run,
            runs.kind,
            runs.started_at,
            runs.note,
            mine.source,
            mine.record_id,
            gained=mine.new_customer_id == customer,
        )
        .order_by(["run", "source", "record_id"])
        .to_pyarrow()
        .to_pylist()
    )
    if not rows and not _customer_records(wh, customer):
        raise UsageError(f"No customer {customer!r} in the identity map or its history.")
    events: dict[int, dict[str, Any]] = {}
    for r in rows:
        event = events.setdefault(
            int(r["run"]),
            {
                "run": int(r["run"]),
                "kind": str(r["kind"]),
                "at": r["started_at"].isoformat(timespec="seconds"),
                "note": str(r["note"] or ""),
                "gained": 0,
                "lost": 0,
                "records": [],
            },
        )
        event["gained" if r["gained"] else "lost"] += 1
        if len(event["records"]) < 20:
            event["records"].append(f"{r['source']}:{r['record_id']}")
    return list(events.values())


def explain_records(wh: Warehouse, first: str, second: str) -> dict[str, Any]:
    """Why two records are (or are not) one customer.

    Parameters
    ----------
    wh
        The warehouse.
    first, second
        Records (``SOURCE:RECORD_ID`` or a unique record id).

    Returns
    -------
    dict
        ``records`` (the normalised values and resolved id of each), ``same_customer``,
        ``shared_identifiers`` (strong identifiers both hold), ``linked_by_splink`` (a
        stored pair of the latest matching run) and ``probabilistic``: the latest model's
        match probability, match weight and weight per field for the pair (``None`` when no
        run has matched probabilistically).
    """
    keys = [find_record(wh, first), find_record(wh, second)]
    records = wh.con.table(RECORDS)
    table = wh.con.table(MAP)
    out: list[dict[str, Any]] = []
    for source, record_id in keys:
        values = (
            records.filter((records.source == source) & (records.record_id == record_id))
            .to_pyarrow()
            .to_pylist()
        )
        mapped = (
            table.filter((table.source == source) & (table.record_id == record_id))
            .select("customer_id", "rule")
            .to_pyarrow()
            .to_pylist()
        )
        row = dict(values[0]) if values else {"source": source, "record_id": record_id}
        row["resolved_id"] = mapped[0]["customer_id"] if mapped else None
        row["rule"] = mapped[0]["rule"] if mapped else None
        out.append(row)
    left, right = out
    shared = [
        k
        for k in ("customer_id", "card", "email", "phone")
        if left.get(k) is not None and left.get(k) == right.get(k)
    ]
    linked = False
    if wh.has_table(LINKS):
        links = wh.con.table(LINKS)
        pair = ((links.source_l == keys[0][0]) & (links.record_id_l == keys[0][1])) & (
            (links.source_r == keys[1][0]) & (links.record_id_r == keys[1][1])
        )
        swapped = ((links.source_l == keys[1][0]) & (links.record_id_l == keys[1][1])) & (
            (links.source_r == keys[0][0]) & (links.record_id_r == keys[0][1])
        )
        latest = links.aggregate(r=links.run.max()).to_pyarrow().to_pylist()[0]["r"]
        if latest is not None:
            hits = links.filter((links.run == latest) & (pair | swapped))
            linked = bool(int(hits.count().to_pyarrow().as_py()))
    probabilistic = None
    model_run = _model_run(wh)
    if model_run is not None:
        model = json.loads(str(model_run["model"]))
        probabilistic = explain_pair(
            model,
            {**{c: left.get(c) for c in COMPARED}, **_frequencies(wh, left)},
            {**{c: right.get(c) for c in COMPARED}, **_frequencies(wh, right)},
        )
        probabilistic["run"] = int(model_run["run"])
    return {
        "records": out,
        "same_customer": left["resolved_id"] is not None
        and left["resolved_id"] == right["resolved_id"],
        "shared_identifiers": shared,
        "linked_by_splink": linked,
        "probabilistic": probabilistic,
    }


#: Columns whose exact matches Splink weighs by how common the value is.
TERM_FREQUENCY_COLUMNS = ("given_name", "surname")


def _frequencies(wh: Warehouse, record: dict[str, Any]) -> dict[str, float | None]:
    """Splink's term frequencies (share of non-null values) of a record's names."""
    records = wh.con.table(RECORDS)
    out: dict[str, float | None] = {}
    for column in TERM_FREQUENCY_COLUMNS:
        value = record.get(column)
        if value is None:
            out[f"tf_{column}"] = None
            continue
        col = records[column]
        row = (
            records.aggregate(hits=(col == value).sum(), total=col.notnull().sum())
            .to_pyarrow()
            .to_pylist()[0]
        )
        total = int(row["total"] or 0)
        out[f"tf_{column}"] = int(row["hits"] or 0) / total if total else None
    return out


def _model_run(wh: Warehouse) -> dict[str, Any] | None:
    runs = wh.con.table(RUNS)
    rows = (
        runs.filter(runs.model.notnull() & (runs.model != ibis.literal("")))
        .order_by(ibis.desc("run"))
        .limit(1)
        .to_pyarrow()
        .to_pylist()
    )
    return dict(rows[0]) if rows else None
