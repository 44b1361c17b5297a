"""Relationship levels: the rules on hand-made customers and touch points."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from patron.data.warehouse import Warehouse
from patron.errors import NotFoundError, UsageError
from patron.measure.relationship import (
    LEVEL_ACTIONS,
    RelationshipRules,
    customer_relationship,
    recommended_level,
    relationship_actions,
    relationship_levels,
)

AS_OF = datetime(2025, 6, 30)


def _customers(wh: Warehouse) -> None:
    ids = [f"C{i:02d}" for i in range(100)]
    tiers = ["MVC" if i >= 96 else "MGC" if i >= 80 else "other" for i in range(100)]
    wh.create_table(
        "customer_value",
        pa.table({"customer_id": ids, "clv": [float(i) for i in range(100)], "tier": tiers}),
    )
    buys = [("C60", AS_OF - timedelta(days=120)), ("C85", AS_OF - timedelta(days=40))]
    wh.create_table(
        "transactions",
        pa.table(
            {
                "customer_id": [c for c, _ in buys],
                "timestamp": pa.array([t for _, t in buys], pa.timestamp("us")),
                "amount": [10.0, 20.0],
                "is_return": [False, False],
            }
        ),
    )


def _touchpoints(wh: Warehouse) -> None:
    rows: list[tuple[str, str, str, str | None, str | None, datetime]] = [
        ("C10", "inbound", "complaint", "service", None, AS_OF - timedelta(days=5)),
        ("C99", "outbound", "service", "service", "key_account_2025", AS_OF - timedelta(days=9)),
        ("C85", "outbound", "service", "service", None, AS_OF - timedelta(days=30)),
        ("C60", "outbound", "service", "service", None, AS_OF - timedelta(days=60)),
        ("C70", "outbound", "offer_shown", "marketing", None, AS_OF - timedelta(days=3)),
    ]
    for month in range(6):  # two-way contact in each of the last six months
        when = AS_OF - timedelta(days=30 * month + 2)
        rows.append(("C71", "inbound", "inquiry", "service", None, when))
        rows.append(("C71", "outbound", "service", "service", None, when))
    wh.create_table(
        "interact_touchpoints",
        pa.table(
            {
                "customer_id": [r[0] for r in rows],
                "direction": [r[1] for r in rows],
                "kind": [r[2] for r in rows],
                "purpose": [r[3] for r in rows],
                "campaign": pa.array([r[4] for r in rows], pa.string()),
                "occurred_at": pa.array([r[5] for r in rows], pa.timestamp("us")),
            }
        ),
    )


def test_levels_on_hand_made_customers(wh: Warehouse) -> None:
    _customers(wh)
    _touchpoints(wh)
    result = relationship_levels(wh, as_of=AS_OF)
    got = {
        c: customer_relationship(wh, c) for c in ("C10", "C99", "C85", "C92", "C60", "C70", "C71")
    }
    assert got["C10"]["current"] == "reactive"
    assert got["C10"]["recommended"] == "basic"  # many customers, low margin
    assert got["C10"]["actions"][0].startswith("Scale back from reactive to basic")
    assert got["C99"]["current"] == got["C99"]["recommended"] == "partnership"
    assert got["C99"]["actions"] == []
    assert got["C85"]["current"] == "accountable"  # follow-up 10 days after the purchase
    assert got["C85"]["recommended"] == "accountable"  # medium group, medium margin
    assert got["C60"]["current"] == "basic"  # a service call 60 days after: no follow-up
    assert got["C70"]["current"] == "proactive"
    assert got["C71"]["current"] == "partnership"
    assert got["C92"]["current"] == "basic"
    assert got["C92"]["recommended"] == "proactive"  # medium group, high margin
    assert got["C92"]["actions"] == [
        LEVEL_ACTIONS["reactive"],
        LEVEL_ACTIONS["accountable"],
        LEVEL_ACTIONS["proactive"],
    ]
    assert result.customers == 100
    assert sum(r["customers"] for r in result.matrix) == 100
    assert result.levels["partnership"]["current"] == 2
    assert "get less relationship" in result.findings[0]


def test_without_touch_points_everyone_is_basic_and_it_says_so(wh: Warehouse) -> None:
    _customers(wh)
    result = relationship_levels(wh, as_of=AS_OF)
    assert result.levels["basic"]["current"] == 100
    assert "patron interact export" in result.notes[0]


def test_rules_and_grid() -> None:
    assert recommended_level("few", "high") == "partnership"
    assert recommended_level("many", "low") == "basic"
    assert relationship_actions("basic", "basic") == []
    with pytest.raises(UsageError, match="Unknown relationship level"):
        relationship_actions("friendly", "basic")
    with pytest.raises(UsageError, match="0 < few < many < 1"):
        RelationshipRules(few_share=0.5, many_share=0.2)
    with pytest.raises(UsageError, match="--group-by"):
        RelationshipRules(group_by="region")


def test_unknown_customer(wh: Warehouse) -> None:
    with pytest.raises(NotFoundError, match="run `patron relationship`"):
        customer_relationship(wh, "C1")
    _customers(wh)
    relationship_levels(wh, as_of=AS_OF)
    with pytest.raises(NotFoundError, match="'nobody'"):
        customer_relationship(wh, "nobody")
