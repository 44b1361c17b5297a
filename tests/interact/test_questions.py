from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from patron.errors import DataError, NotFoundError, UsageError
from patron.interact import (
    current_facts,
    decline_question,
    example_question_bank,
    fact_history,
    install_question_bank,
    load_question_bank,
    next_question,
    plan_questions,
    record_answer,
    set_consent,
)
from patron.store import Store
from patron.store.schema import facts, questions, touchpoints
from tests.store_fixtures import publish_test_profiles

T0 = datetime(2026, 4, 1, 10, 0)


def _ready(store: Store, tmp_path: Path, consent: bool = True) -> None:
    publish_test_profiles(
        store,
        tmp_path,
        [
            {"customer_id": "C1", "clv": 200.0, "segment": "books / web"},
            {"customer_id": "C2", "clv": 50.0, "segment": "music / phone"},
        ],
    )
    install_question_bank(store, load_question_bank(example_question_bank()), source="example")
    if consent:
        set_consent(store, "C1", "all", "profiling", "granted", source="web form", at=T0)


def _counts(store: Store) -> tuple[int, int, int]:
    with store.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (facts, touchpoints, questions)
        )


def test_example_bank_loads_and_round_trips(store: Store) -> None:
    bank = load_question_bank(example_question_bank())
    assert len(bank.questions) == 7
    assert install_question_bank(store, bank) == 7
    with store.read() as conn:
        from patron.interact import question_bank

        stored = question_bank(conn)
    assert stored == bank  # order, decisions, payoffs, priors all kept


def test_value_of_information_is_customer_specific() -> None:
    bank = load_question_bank(example_question_bank())
    dept = bank.get("department")
    # Unknown segment: six plausible departments, the answer changes the offer a lot.
    assert dept.value_share(None) == pytest.approx(0.10 * (1 - 0.30))
    # A clear book reader: the answer is nearly known already.
    assert dept.value_share("books / web") == pytest.approx(0.10 * (1 - 0.75))
    gifts = bank.get("gifts")
    # EVPI by hand: informed 0.35*0.08 + 0.65*0.02 = 0.041; blind max(0.0215, 0.02) = 0.0215.
    assert gifts.value_share(None) == pytest.approx(0.041 - 0.0215)
    assert bank.get("newspaper").value_share(None) == 0.0


def test_next_question_never_repeats_and_history_is_kept(store: Store, tmp_path: Path) -> None:
    _ready(store, tmp_path)
    asked: list[str] = []
    for i in range(8):
        at = T0 + timedelta(days=i)
        q = next_question(store, "C1", "phone", at=at)
        if q is None:
            break
        assert q.question.id not in asked
        asked.append(q.question.id)
        answer = q.question.answers[0] if q.question.answers else "The Times"
        record_answer(store, "C1", q.question.id, answer, channel="phone", at=at)
    # Every question asked on the phone, the most valuable first, then nothing left.
    # By value of information for a book reader: the department (its prior is already
    # concentrated, 0.025 of CLV), the channel (0.022), gifts (0.0195), ...
    assert asked[:3] == ["department", "channel", "gifts"]
    assert set(asked) == {
        "department",
        "gifts",
        "children",
        "contact_time",
        "channel",
        "language",
        "newspaper",
    }
    assert next_question(store, "C1", "phone", at=T0 + timedelta(days=30)) is None
    # A non-preference answer goes stale after fresh_days and may be asked again, the
    # preferences never.
    later = next_question(store, "C1", "phone", at=T0 + timedelta(days=400))
    assert later is not None
    assert later.question.id in {"department", "gifts"}
    # Latest wins, history kept.
    record_answer(store, "C1", "department", "home", channel="web", at=T0 + timedelta(days=40))
    with store.read() as conn:
        now = {f.attribute: f for f in current_facts(conn, "C1")}
        history = [f for f in fact_history(conn, "C1") if f.attribute == "favourite_department"]
    assert now["favourite_department"].value == "home"
    assert [f.value for f in history] == ["books", "home"]
    assert now["buys_gifts"].value is True
    assert now["preferred_channel"].is_preference


def test_no_question_without_profiling_consent(store: Store, tmp_path: Path) -> None:
    _ready(store, tmp_path, consent=False)
    assert next_question(store, "C2", "phone") is None
    with store.read() as conn:
        plan = plan_questions(conn, "C2", "phone")
    assert plan.why_none.startswith("no consent to profiling on phone")
    with pytest.raises(UsageError, match="C2 has not consented to profiling on phone"):
        record_answer(store, "C2", "department", "books", channel="phone")
    set_consent(store, "C2", "phone", "profiling", "granted", source="call")
    assert next_question(store, "C2", "phone") is not None
    assert next_question(store, "C2", "web") is None  # consent was for the phone only
    set_consent(store, "C2", "phone", "profiling", "withdrawn", source="call")
    assert next_question(store, "C2", "phone") is None


def test_declined_question_waits_for_its_cool_down(store: Store, tmp_path: Path) -> None:
    _ready(store, tmp_path)
    first = next_question(store, "C1", "phone", at=T0)
    assert first is not None
    decline_question(store, "C1", first.question.id, channel="phone", at=T0)
    second = next_question(store, "C1", "phone", at=T0 + timedelta(days=1))
    assert second is not None
    assert second.question.id != first.question.id
    with store.read() as conn:
        plan = plan_questions(conn, "C1", "phone", at=T0 + timedelta(days=1))
    assert plan.skipped[first.question.id].startswith("declined on 2026-04-01")
    cool = first.question.cooldown_days
    again = next_question(store, "C1", "phone", at=T0 + timedelta(days=cool + 1))
    assert again is not None
    assert again.question.id == first.question.id


def test_reason_in_words(store: Store, tmp_path: Path) -> None:
    _ready(store, tmp_path)
    q = next_question(store, "C1", "web", at=T0)
    assert q is not None
    assert q.question.id == "department"
    assert q.value == pytest.approx(200.0 * 0.10 * (1 - 0.75))
    assert q.reason == (
        "The answer decides the department of the next offer: 5 of 6 possible answers would "
        "change it from 'books'; knowing it is worth about 5.00 for this customer (2.5% of "
        "their CLV of 200)."
    )
    record_answer(store, "C1", "department", "books", channel="web", at=T0)
    record_answer(store, "C1", "channel", "email", channel="web", at=T0)
    gifts = next_question(store, "C1", "web", at=T0)
    assert gifts is not None
    assert gifts.question.id == "gifts"
    assert gifts.reason.startswith(
        "The answer decides whether to include them in the gift campaigns: 1 of 2 possible "
        "answers would change it from 'gift_offers'; knowing it is worth about 3.90"
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (("C1", "department", "garden"), DataError, "'garden' to question 'department' is not one"),
        (("C1", "gifts", "perhaps"), DataError, "is not yes or no"),
        (
            ("C1", "nope", "x"),
            NotFoundError,
            "Unknown question 'nope'; known questions: dep",
        ),
        (("C9", "department", "books"), NotFoundError, "Unknown customer 'C9'"),
    ],
)
def test_bad_answers_write_nothing(
    store: Store, tmp_path: Path, call: tuple[str, str, str], error: type, message: str
) -> None:
    _ready(store, tmp_path)
    before = _counts(store)
    with pytest.raises(error, match=message):
        record_answer(store, *call, channel="phone")
    with pytest.raises(UsageError, match="Unknown channel 'fax'"):
        record_answer(store, "C1", "department", "books", channel="fax")
    assert _counts(store) == before


def test_answer_with_a_key_is_recorded_once(store: Store, tmp_path: Path) -> None:
    _ready(store, tmp_path)
    a = record_answer(store, "C1", "department", "Books", channel="web", idempotency_key="k")
    b = record_answer(store, "C1", "department", "books", channel="web", idempotency_key="k")
    assert a.value == "books"  # matched case-insensitively to the choice
    assert a.id == b.id
    assert _counts(store)[:2] == (1, 1)


def _bank_file(tmp_path: Path, change: dict[str, object], index: int = 0) -> Path:
    data = yaml.safe_load(example_question_bank().read_text())
    data["questions"][index].update(change)
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer_type": "colour"}, "question 'department', field 'answer_type': must be one of"),
        ({"channels": ["phone", "fax"]}, "field 'channels': names 'fax'"),
        ({"choices": []}, "field 'choices': is required for a choice question"),
        ({"prior": {"books": 1, "garden": 2}}, "field 'prior': names 'garden'"),
        ({"informs": ["world_peace"]}, "field 'informs': names 'world_peace'"),
        ({"cooldown_days": -1}, "field 'cooldown_days': must be at least 0"),
        ({"colour": "red"}, "field 'colour': is not a question field"),
        ({"text": None}, "field 'text': is required"),
        ({"value_if_right": 0.1, "payoff": {"a": {"books": 1}}}, "either value_if_right or"),
    ],
)
def test_malformed_bank_names_file_question_and_field(
    store: Store, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = _bank_file(tmp_path, change)
    with pytest.raises(DataError, match=r"bank\.yaml: ") as info:
        load_question_bank(path)
    assert message in str(info.value)
    assert _counts(store)[2] == 0


def test_malformed_yaml_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("questions:\n  - id: a\n    text: [unclosed\n")
    with pytest.raises(DataError, match=r"bad.yaml: not valid YAML at line \d"):
        load_question_bank(path)
    data = yaml.safe_load(example_question_bank().read_text())
    data["questions"].append(dict(data["questions"][0]))
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match="question id 'department' appears twice"):
        load_question_bank(path)
    with pytest.raises(DataError, match="no such question bank file"):
        load_question_bank(tmp_path / "missing.yaml")
