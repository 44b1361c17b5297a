from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from patron.data.warehouse import connect
from patron.interact import Touchpoint, log_touchpoints, set_consent
from patron.store import Store
from patron.store.export import erase_exported, export_to_warehouse
from patron.store.schema import decisions


def test_export_touchpoints_and_consents(store: Store, tmp_path: Path) -> None:
    wh = connect(f"duckdb://{tmp_path / 'wh.duckdb'}")
    try:
        first = export_to_warehouse(store, wh)
        assert first.rows == {
            "interact_touchpoints": 0,
            "interact_facts": 0,
            "interact_consents": 0,
            "customize_decisions": 0,
        }
        log_touchpoints(
            store,
            [
                Touchpoint(
                    f"C{i % 7}",
                    "email",
                    "offer_shown",
                    direction="outbound",
                    campaign="spring",
                    occurred_at=datetime(2026, 3, 1, 9, i % 60),
                )
                for i in range(130)
            ],
        )
        set_consent(store, "C1", "email", "marketing", "granted", source="form")
        result = export_to_warehouse(store, wh, batch_size=50)
        assert result.rows["interact_touchpoints"] == 130
        tp = wh.table("interact_touchpoints")
        per = tp.group_by("customer_id").aggregate(n=tp.count()).to_pyarrow().to_pylist()
        assert sum(r["n"] for r in per) == 130
        assert {r["customer_id"] for r in per} == {f"C{i}" for i in range(7)}
        assert tp.occurred_at.max().to_pyarrow().as_py() == datetime(2026, 3, 1, 9, 59)
        consents = wh.table("interact_consents").to_pyarrow().to_pylist()
        assert [(c["customer_id"], c["state"]) for c in consents] == [("C1", "granted")]
        assert result.rows["customize_decisions"] == 0
        with store.write() as conn:  # two next-best-action decisions, one of them sent
            conn.execute(
                sa.insert(decisions),
                [{"customer_id": c, "channel": "email", "decided_at": datetime(2026, 3, 1),
                  "offer_id": "o1", "expected_value": 2.5, "status": s, "campaign": "spring",
                  "inputs_hash": "h", "detail": '{"reason": "best"}'}
                 for c, s in (("C1", "sent"), ("C2", "proposed"))],
            )  # fmt: skip
        result = export_to_warehouse(store, wh, batch_size=50)
        assert result.rows["customize_decisions"] == 2
        got = wh.table("customize_decisions").order_by("customer_id").to_pyarrow().to_pylist()
        assert [(d["customer_id"], d["status"], d["detail"]) for d in got] == [
            ("C1", "sent", '{"reason": "best"}'),
            ("C2", "proposed", '{"reason": "best"}'),
        ]
        erased = erase_exported(wh, ["C1"])  # kept for counts, the detail blanked
        assert erased["customize_decisions"] == 1
        got = wh.table("customize_decisions").order_by("customer_id").to_pyarrow().to_pylist()
        assert [d["detail"] for d in got] == [None, '{"reason": "best"}']
        again = export_to_warehouse(store, wh)  # replaced, not appended
        assert again.rows == result.rows
        assert int(wh.table("interact_touchpoints").count().to_pyarrow().as_py()) == 130
        assert not [t for t in wh.list_tables() if "export_" in t]  # no staging left
    finally:
        wh.close()
