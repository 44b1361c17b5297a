"""Connected components in the engine: iterative label propagation over an edge table.

Every node starts with the smallest of its own id and its neighbours' as label; each round
offers each node's label to its neighbours and to its neighbours' labels (hooking the roots
of the label trees, as in Shiloach and Vishkin's algorithm), takes the smallest offer, then
the label of the label (pointer jumping), until no label changes. Without the root hooking a
path whose node ids are shuffled needs about as many rounds as it has nodes (a 10,000-node
path: some 6,000); with it, a few more each time the path doubles. Only the nodes whose
label changed in the last round send it (semi-naive evaluation: a label that did not change
was sent when it was set), so later rounds touch few edges. Each round
is one Ibis query materialised into a staging table, so the graph never comes into Python;
it compiles alike for DuckDB, Spark and PostgreSQL (joins, ``min`` group-bys and a count).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse
from patron.errors import WarehouseError

__all__ = ["MAX_ROUNDS", "connected_components"]

#: A safety net only: every round but the last lowers some label, so the rounds end; with
#: root hooking and pointer jumping they number a few dozen even for long chains.
MAX_ROUNDS = 10_000


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
        # A label is offered to the neighbour and to the neighbour's label (its root, as far
        # as known): hooking roots as well as nodes merges whole trees at once, so a path
        # settles in a number of rounds that grows with the log of its length, not with it.
        target = labels.view()
        sent = moving.join(both, moving.node == both.a).join(target, both.b == target.node)
        offers = sent.select(node=both.b, label=moving.label).union(
            sent.select(node=target.label, label=moving.label), distinct=False
        )
        spread = offers.group_by("node").aggregate(label=offers.label.min())
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
    raise WarehouseError(  # pragma: no cover - a safety net
        f"Connected components did not settle in {MAX_ROUNDS} rounds."
    )
