"""Export: what the store learned (touch points, facts, consents) into warehouse tables.

For measurement and needs: ``interact_touchpoints``, ``interact_facts`` and
``interact_consents`` in the warehouse, each replaced whole by every export. Rows are streamed
from the store in batches into a staging table, which then replaces the old table in one
warehouse transaction (where the engine has them): readers see the old export or the new one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import ibis
import pyarrow as pa
import sqlalchemy as sa

from patron.data.warehouse import Warehouse
from patron.store.connection import Store
from patron.store.schema import consents, facts, touchpoints

__all__ = ["EXPORTS", "ExportResult", "erase_exported", "export_to_warehouse"]

#: Store table → warehouse table.
EXPORTS = {
    "touchpoints": "interact_touchpoints",
    "facts": "interact_facts",
    "consents": "interact_consents",
}
_TABLES = {"touchpoints": touchpoints, "facts": facts, "consents": consents}


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def export_to_warehouse(store: Store, wh: Warehouse, *, batch_size: int = 50_000) -> ExportResult:
    """Copy touch points, facts and consents from the store into the warehouse.

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
    return ExportResult(written)


def erase_exported(wh: Warehouse, customer_ids: list[str]) -> dict[str, int]:
    """Erase a person from the tables :func:`export_to_warehouse` wrote.

    Their facts (what they told us) are deleted; their touch points and consents stay for
    counts, with the free text (notes, evidence, agent) blanked. Returns rows changed per
    warehouse table.
    """
    changed: dict[str, int] = {}
    blank = {"interact_touchpoints": ("note", "agent"), "interact_consents": ("evidence",)}
    with wh.transaction():
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
