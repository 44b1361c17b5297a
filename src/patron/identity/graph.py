"""Connected components in the engine: iterative label propagation over an edge table.

Every node starts with the smallest of its own id and its neighbours' as label; each round
gives a node the smallest label among itself and its neighbours, then the label of its label
(pointer jumping, which halves long chains), until no label changes. Only the nodes whose
label changed in the last round send it along their edges (semi-naive evaluation: a label
that did not change was sent when it was set), so later rounds touch few edges. Each round
is one Ibis query materialised into a staging table, so the graph never comes into Python;
it compiles alike for DuckDB, Spark and PostgreSQL (joins, ``min`` group-bys and a count).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse
from patron.errors import WarehouseError

__all__ = ["MAX_ROUNDS", "connected_components"]

#: A safety net: with pointer jumping, components settle in O(log n) rounds.
MAX_ROUNDS = 100


def connected_components(
    wh: Warehouse, edges: ir.Table, created: list[str]
) -> tuple[ir.Table, int]:
    """The component of every node that appears in ``edges``.

    Parameters
    ----------
    wh
        The warehouse (staging tables are made in it).
    edges
        Integer columns ``a`` and ``b``: an undirected edge each.
    created
        Staging tables of the operation, dropped by the caller.

    Returns
    -------
    tuple
        A table ``(node, label)`` where ``label`` is the smallest node of the component, and
        the number of rounds it took.
    """
    _, both = wh.materialize(
        "edges",
        edges.select(a=edges.a, b=edges.b)
        .union(edges.select(a=edges.b, b=edges.a))
        .filter(ibis._.a != ibis._.b)
        .distinct(),
    )
    created.append(_)
    # The first labels: each node's smallest neighbour (or itself); every node is "changed".
    start = both.group_by(node=both.a).aggregate(
        label=ibis.least(both.a.min(), both.b.min()), changed=ibis.literal(True)
    )
    name, labels = wh.materialize("labels", start)
    created.append(name)
    for rounds in range(1, MAX_ROUNDS + 1):
        moving = labels.filter(labels.changed)
        sent = moving.join(both, moving.node == both.a)
        spread = sent.group_by(node=sent.b).aggregate(label=sent.label.min())
        merged = (
            labels.left_join(spread, labels.node == spread.node)
            .select(
                node=labels.node,
                old=labels.label,
                label=ibis.least(labels.label, spread.label.fill_null(labels.label)),
            )
            .view()
        )
        # Pointer jumping: take the label of the label when it is smaller.
        hop = labels.view()
        jumped = merged.left_join(hop, merged.label == hop.node).select(
            node=merged.node,
            old=merged.old,
            label=ibis.least(merged.label, hop.label.fill_null(merged.label)),
        )
        new_name, new = wh.materialize(
            "labels",
            jumped.select("node", "label", changed=jumped.label != jumped.old),
        )
        created.append(new_name)
        count = int(new.filter(new.changed).count().to_pyarrow().as_py())
        wh.drop(name)
        created.remove(name)
        name, labels = new_name, new
        if count == 0:
            return labels.select("node", "label"), rounds
    raise WarehouseError(  # pragma: no cover - would need a graph with 2**100 nodes
        f"Connected components did not settle in {MAX_ROUNDS} rounds."
    )
