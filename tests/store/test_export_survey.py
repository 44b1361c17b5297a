"""Survey answers asked through Interact land in the survey tables on export."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from patron.data.responses import load_responses
from patron.data.warehouse import connect
from patron.interact import install_question_bank, load_question_bank, record_answer, set_consent
from patron.measure.satisfaction import satisfaction
from patron.store import Store
from patron.store.export import erase_exported, export_to_warehouse
from tests.store_fixtures import publish_test_profiles

BANK = """
questions:
  - id: overall
    attribute: survey_overall
    text: All in all, how satisfied are you with us (1-5)?
    answer_type: number
    minimum: 1
    maximum: 5
    purpose: To learn how we are doing.
    channels: [phone, web]
  - id: nps
    attribute: survey_nps
    text: How likely are you to recommend us (0-10)?
    answer_type: number
    minimum: 0
    maximum: 10
    purpose: To learn how we are doing.
    channels: [phone, web]
  - id: delivery
    attribute: survey_rating_delivery
    text: How do you rate our delivery (1-5)?
    answer_type: number
    minimum: 1
    maximum: 5
    purpose: To learn what to improve.
    channels: [phone, web]
"""
T0 = datetime(2026, 4, 2, 10, 0)


def test_answers_become_responses(store: Store, tmp_path: Path) -> None:
    publish_test_profiles(
        store, tmp_path, [{"customer_id": f"C{i}", "clv": 10.0 * i} for i in range(1, 5)]
    )
    bank = tmp_path / "bank.yaml"
    bank.write_text(BANK)
    install_question_bank(store, load_question_bank(bank), source="test")
    for i in range(1, 5):
        set_consent(store, f"C{i}", "all", "profiling", "granted", source="test", at=T0)
    answers = [
        ("C1", "overall", 2, 0),
        ("C1", "overall", 5, 1),  # the latest of the quarter wins
        ("C1", "delivery", 4, 1),
        ("C1", "nps", 9, 1),
        ("C2", "overall", 3, 2),
        ("C2", "nps", 4, 2),
        ("C3", "delivery", 1, 2),  # no overall rating: left out, counted
        ("C4", "overall", 4, 100),  # the next quarter
    ]
    for cid, question, value, day in answers:
        at = T0 + timedelta(days=day)
        record_answer(store, cid, question, value, channel="phone", at=at)
    survey = tmp_path / "survey.csv"
    survey.write_text("customer_id,wave,brand,overall\nC1,w0,Acme,4\n,w0,Acme,3\nC9,w0,Rival,2\n")
    wh = connect(f"duckdb://{tmp_path / 'wh.duckdb'}")
    try:
        load_responses(wh, [str(survey)], ours="acme")
        result = export_to_warehouse(store, wh)
        assert result.rows["responses (from interact)"] == 3
        assert result.rows["response_ratings (from interact)"] == 1
        assert "1 survey attribute answer(s) left out" in result.notes[0]
        r = wh.table("responses")
        rows = r.filter(r._load_id == "interact").order_by("response_id").to_pyarrow().to_pylist()
        assert [(x["customer_id"], x["wave"], x["overall"], x["nps"]) for x in rows] == [
            ("C1", "2026-Q2", 5.0, 9.0),
            ("C2", "2026-Q2", 3.0, 4.0),
            ("C4", "2026-Q3", 4.0, None),
        ]
        assert {x["brand"] for x in rows} == {"Acme"}  # our brand as the files name it
        assert all(x["is_ours"] and x["scale_high"] == 5 for x in rows)
        ratings = wh.table("response_ratings").to_pyarrow().to_pylist()
        mine = [x for x in ratings if x["response_id"].startswith("interact:")]
        assert [(x["response_id"], x["attribute"], x["rating"]) for x in mine] == [
            ("interact:C1:2026-Q2", "delivery", 4.0)
        ]
        again = export_to_warehouse(store, wh)  # replaced, not appended; files' rows stay
        assert again.rows == result.rows
        assert int(r.count().to_pyarrow().as_py()) == 3 + 3
        waves = {g["wave"]: g for g in satisfaction(wh).groups}
        assert waves["2026-Q2"]["csat"] == pytest.approx(0.5)
        assert waves["w0"]["responses"] == 2
        erased = erase_exported(wh, ["C1"])
        assert erased["responses"] == 2  # the Interact answer deleted, the file's unlinked
        left = wh.table("responses").filter(lambda t: t.customer_id == "C1")
        assert int(left.count().to_pyarrow().as_py()) == 0
        file_rows = wh.table("responses").filter(lambda t: t._load_id != "interact")
        assert int(file_rows.count().to_pyarrow().as_py()) == 3  # kept for the aggregates
        assert {x["customer_id"] for x in file_rows.to_pyarrow().to_pylist()} == {None, "C9"}
        assert not [
            x
            for x in wh.table("response_ratings").to_pyarrow().to_pylist()
            if x["response_id"].startswith("interact:C1:")
        ]
    finally:
        wh.close()
