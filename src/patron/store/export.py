"""Export: what the store learned (touch points, facts, consents) into warehouse tables.

For measurement and needs: ``interact_touchpoints``, ``interact_facts`` and
``interact_consents`` in the warehouse, each replaced whole by every export. Rows are streamed
from the store in batches into a staging table, which then replaces the old table in one
warehouse transaction (where the engine has them): readers see the old export or the new one.

Survey answers given through Interact also land in the survey tables (``responses``,
``response_ratings``; see :mod:`patron.data.responses`): facts whose attribute is
``survey_overall``, ``survey_nps``, ``survey_rating_<attribute>`` or
``survey_importance_<attribute>`` (number questions of the bank) become one response per
customer and calendar quarter (wave ``YYYY-Qn``; the latest answer of the quarter per
question), rating our brand, on the scale of the ``survey_overall`` question (its minimum and
maximum; 1-5 when the bank does not say). These rows carry the load id ``interact`` and are
replaced whole by every export, in one warehouse transaction; rows loaded from files stay.
Attribute ratings of a quarter without an overall rating are left out, and counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlalchemy as sa

from patron.data.responses import (
    RATINGS_SCHEMA,
    RATINGS_TABLE,
    RESPONSES_SCHEMA,
    RESPONSES_TABLE,
)
from patron.data.warehouse import Warehouse
from patron.store.connection import Store
from patron.store.schema import consents, decisions, facts, questions, touchpoints

__all__ = ["EXPORTS", "ExportResult", "erase_exported", "export_to_warehouse"]

#: Store table → warehouse table.
EXPORTS = {
    "touchpoints": "interact_touchpoints",
    "facts": "interact_facts",
    "consents": "interact_consents",
    "decisions": "customize_decisions",
}
_TABLES = {
    "touchpoints": touchpoints,
    "facts": facts,
    "consents": consents,
    "decisions": decisions,
}


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us")
    return pa.string()


@dataclass(frozen=True)
class ExportResult:
    """Rows written per warehouse table."""

    rows: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def export_to_warehouse(store: Store, wh: Warehouse, *, batch_size: int = 50_000) -> ExportResult:
    """Copy touch points, facts, consents and next-best-action decisions into the warehouse.

    Each warehouse table (:data:`EXPORTS`) is replaced whole; rows stream in batches of
    ``batch_size`` (never a whole table in Python).
    """
    written: dict[str, int] = {}
    for name, target in EXPORTS.items():
        table = _TABLES[name]
        schema = pa.schema([(c.name, _arrow_type(c)) for c in table.c])
        stage = wh.scratch_name(f"export_{name}")
        n = 0
        created = False
        try:
            with store.read() as conn:
                result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                    sa.select(table).order_by(table.c.id)
                )
                for part in result.partitions():
                    columns = list(zip(*part, strict=True)) if part else []
                    batch = pa.table(
                        {
                            field.name: pa.array(list(columns[i]), field.type)
                            for i, field in enumerate(schema)
                        },
                        schema=schema,
                    )
                    if created:
                        wh.insert(stage, batch)
                    else:
                        wh.create_table(stage, batch)
                        created = True
                    n += len(part)
            if not created:
                wh.create_table(stage, schema.empty_table())
            with wh.transaction():
                if wh.has_table(target):
                    wh.drop(target)
                wh.rename(stage, target)
        except BaseException:
            if wh.has_table(stage):
                wh.drop(stage)
            raise
        written[target] = n
    notes: list[str] = []
    written.update(_export_survey(store, wh, notes))
    return ExportResult(written, notes)


#: The load id of survey rows that come from Interact (replaced by every export).
SURVEY_LOAD_ID = "interact"
SURVEY_PREFIX = "survey_"


def _survey_scale(store: Store) -> tuple[float, float]:
    """The scale of the bank's ``survey_overall`` question (1-5 when it gives none)."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(questions.c.definition).where(
                questions.c.attribute == f"{SURVEY_PREFIX}overall"
            )
        ).first()
    if row is None:
        return 1.0, 5.0
    definition = json.loads(row[0])
    low, high = definition.get("minimum"), definition.get("maximum")
    return (float(low) if low is not None else 1.0, float(high) if high is not None else 5.0)


def _export_survey(store: Store, wh: Warehouse, notes: list[str]) -> dict[str, int]:
    """Survey answers among the exported facts into ``responses`` (see the module docstring)."""
    f = wh.table(EXPORTS["facts"])
    f = f.filter(f.attribute.startswith(SURVEY_PREFIX))
    if int(f.count().to_pyarrow().as_py()) == 0 and not wh.has_table(RESPONSES_TABLE):
        return {}
    low, high = _survey_scale(store)
    at = f.recorded_at
    wave = at.year().cast("string") + "-Q" + at.quarter().cast("string")
    f = f.mutate(_wave=wave, _num=f.value.try_cast("float64"))
    latest = ibis.row_number().over(
        group_by=[f.customer_id, f._wave, f.attribute],
        order_by=[ibis.desc(f.recorded_at), ibis.desc(f.id)],
    )
    f = f.mutate(_rank=latest).filter(lambda t: t._rank == 0)

    def answer(name: str) -> ir.FloatingValue:
        return ibis.ifelse(f.attribute == f"{SURVEY_PREFIX}{name}", f._num, ibis.null("float64"))

    per = f.group_by(["customer_id", "_wave"]).aggregate(
        overall=answer("overall").max(), nps=answer("nps").max()
    )
    per = per.filter(per.overall.notnull() | per.nps.notnull())
    rid = ibis.literal(f"{SURVEY_LOAD_ID}:") + per.customer_id + ":" + per._wave
    brand = "ours"
    if wh.has_table(RESPONSES_TABLE):
        r = wh.table(RESPONSES_TABLE)
        mine = r.filter(r.is_ours & (r._load_id != SURVEY_LOAD_ID)).brand.max()
        brand = str(mine.to_pyarrow().as_py() or "ours")
    responses = per.select(
        response_id=rid,
        customer_id=per.customer_id,
        wave=per._wave,
        brand=ibis.literal(brand),
        is_ours=ibis.literal(True),
        overall=per.overall,
        nps=per.nps,
        segment=ibis.null("string"),
        scale_low=ibis.literal(low, "float64"),
        scale_high=ibis.literal(high, "float64"),
        _load_id=ibis.literal(SURVEY_LOAD_ID),
    )
    rating = f.attribute.startswith(f"{SURVEY_PREFIX}rating_")
    importance = f.attribute.startswith(f"{SURVEY_PREFIX}importance_")
    name = f.attribute.re_replace(rf"^{SURVEY_PREFIX}(rating|importance)_", "")
    items = f.filter(rating | importance).mutate(
        _name=name, _rating=ibis.ifelse(rating, f._num, ibis.null("float64"))
    )
    items = items.mutate(_imp=ibis.ifelse(importance, items._num, ibis.null("float64")))
    long = items.group_by(["customer_id", "_wave", "_name"]).aggregate(
        rating=items._rating.max(), importance=items._imp.max()
    )
    rated = per.filter(per.overall.notnull()).select(_c=per.customer_id, _w=per._wave)
    kept = long.join(rated, [long.customer_id == rated._c, long._wave == rated._w])
    ratings = kept.select(
        response_id=ibis.literal(f"{SURVEY_LOAD_ID}:") + kept.customer_id + ":" + kept._wave,
        attribute=kept._name,
        rating=kept.rating,
        importance=kept.importance,
        _load_id=ibis.literal(SURVEY_LOAD_ID),
    )
    dropped = int(long.count().to_pyarrow().as_py()) - int(kept.count().to_pyarrow().as_py())
    if dropped:
        notes.append(
            f"{dropped:,} survey attribute answer(s) left out: their customer gave no overall "
            "rating in that quarter."
        )
    written: dict[str, int] = {}
    with wh.scratch() as created:
        stages = []
        for table, rows in ((RESPONSES_TABLE, responses), (RATINGS_TABLE, ratings)):
            stage, staged = wh.materialize(f"export_{table}", rows)
            created.append(stage)
            stages.append((table, staged))
        with wh.transaction():
            for table, schema in (
                (RESPONSES_TABLE, RESPONSES_SCHEMA),
                (RATINGS_TABLE, RATINGS_SCHEMA),
            ):
                if not wh.has_table(table):
                    wh.con.create_table(table, schema=schema)
            for table, staged in stages:
                current = wh.table(table)
                kept_rows = current.filter(current._load_id != SURVEY_LOAD_ID)
                cols = list(current.columns)
                wh.replace_table(table, kept_rows.union(staged.select(*cols)))
                written[f"{table} (from interact)"] = int(staged.count().to_pyarrow().as_py())
    return written


def erase_exported(wh: Warehouse, customer_ids: list[str]) -> dict[str, int]:
    """Erase a person from the tables :func:`export_to_warehouse` wrote.

    Their facts (what they told us) and their survey answers given through Interact are
    deleted; answers from survey files stay for the aggregates with their customer id blanked;
    their touch points, consents and decisions stay for counts, with the free text (notes,
    evidence, agent) and the decisions' detail blanked. Returns rows changed per
    warehouse table.
    """
    changed: dict[str, int] = {}
    blank = {
        "interact_touchpoints": ("note", "agent"),
        "interact_consents": ("evidence",),
        "customize_decisions": ("detail",),  # the candidates' scores, read from the profile
    }
    with wh.transaction():
        if wh.has_table(RESPONSES_TABLE):  # their survey answers given through Interact
            r = wh.table(RESPONSES_TABLE)
            theirs_r = (r._load_id == SURVEY_LOAD_ID) & r.customer_id.isin(customer_ids)
            gone = [str(x) for x in r.filter(theirs_r).response_id.to_pyarrow().to_pylist()]
            changed[RESPONSES_TABLE] = len(gone)
            if gone:
                ratings = wh.table(RATINGS_TABLE)
                wh.replace_table(RATINGS_TABLE, ratings.filter(~ratings.response_id.isin(gone)))
                wh.replace_table(RESPONSES_TABLE, r.filter(~theirs_r))
            # Survey files' answers stay for the aggregates, no longer linked to the person.
            r = wh.table(RESPONSES_TABLE)
            linked = r.customer_id.isin(customer_ids)
            n_linked = int(r.filter(linked).count().to_pyarrow().as_py())
            if n_linked:
                wh.replace_table(
                    RESPONSES_TABLE,
                    r.mutate(
                        customer_id=ibis.ifelse(
                            linked, ibis.null(r.customer_id.type()), r.customer_id
                        )
                    ),
                )
                changed[RESPONSES_TABLE] += n_linked
        for target in EXPORTS.values():
            if not wh.has_table(target):
                continue
            t = wh.table(target)
            theirs = t.customer_id.isin(customer_ids)
            n = int(t.filter(theirs).count().to_pyarrow().as_py())
            changed[target] = n
            if not n:
                continue
            if target == EXPORTS["facts"]:
                wh.replace_table(target, t.filter(~theirs))
                continue
            cols = blank.get(target, ())
            wh.replace_table(
                target,
                t.select(
                    *[
                        ibis.ifelse(theirs, ibis.null(t[c].type()), t[c]).name(c)
                        if c in cols
                        else t[c]
                        for c in t.columns
                    ]
                ),
            )
    return changed
