"""The question bank: what Patron may ask a customer, why, and what each answer is worth.

A bank is a YAML file (see ``examples/shop_questions.yaml``)::

    decisions:                       # what the answers help decide (named in `informs`)
      next_offer: the department of the next offer
    questions:
      - id: department               # stable id (answers refer to it)
        attribute: favourite_department   # the fact it learns
        text: Which of our departments do you shop in most?
        answer_type: choice          # choice, boolean, number or text
        choices: [books, music, video, games, electronics, home]
        purpose: So that the offers you get are from the department you like.
        informs: [next_offer]
        channels: [phone, web, app, store, email]
        cooldown_days: 60            # do not ask again this long after a decline
        fresh_days: 365              # an answer older than this may be asked again (none: never)
        preference: false            # a preference is remembered and never asked again
        prior: {books: 0.3, ...}     # expected share of each answer (default: uniform)
        prior_by_segment:            # per needs segment (matched on a part of its name)
          books: {books: 0.7, ...}
        value_if_right: 0.12         # payoff of deciding right, as a share of the customer's CLV
        # or a full payoff table, option -> answer -> share of CLV:
        # payoff: {kids_offer: {yes: 0.10, no: -0.02}, general_offer: {yes: 0.03, no: 0.03}}

The value of a question's answer for a customer is its *expected value of perfect
information*: E over answers of the best option's payoff given the answer, minus the best
option's expected payoff without it — how much the answer is expected to improve the decision
it informs — times the customer's CLV (never negative).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import DataError, NotFoundError
from patron.interact.vocabulary import CHANNELS, utc_now
from patron.store import Store
from patron.store.schema import questions, store_meta
from patron.yamltext import parse_yaml

__all__ = [
    "ANSWER_TYPES",
    "Question",
    "QuestionBank",
    "delete_question",
    "example_question_bank",
    "install_question_bank",
    "load_question_bank",
    "question_bank",
    "save_question",
]

ANSWER_TYPES = ("choice", "boolean", "number", "text")
BOOLEAN_CHOICES = ("yes", "no")
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}
TEXT_LIMIT = 500
#: The row of the ``questions`` table that keeps the bank's decisions and question order.
BANK_ROW = "__bank__"
#: The ``store_meta`` key holding the bank's version (a hash of its definitions).
BANK_VERSION_KEY = "question_bank"
_FIELDS = {
    "id",
    "attribute",
    "text",
    "answer_type",
    "choices",
    "purpose",
    "informs",
    "channels",
    "cooldown_days",
    "fresh_days",
    "preference",
    "prior",
    "prior_by_segment",
    "value_if_right",
    "payoff",
    "minimum",
    "maximum",
}


@dataclass(frozen=True)
class Question:
    """One question of the bank (see the module docstring for the fields)."""

    id: str
    attribute: str
    text: str
    answer_type: str
    purpose: str
    channels: tuple[str, ...]
    choices: tuple[str, ...] = ()
    informs: tuple[str, ...] = ()
    cooldown_days: float = 30.0
    fresh_days: float | None = None
    preference: bool = False
    prior: dict[str, float] = field(default_factory=dict)
    prior_by_segment: dict[str, dict[str, float]] = field(default_factory=dict)
    payoff: dict[str, dict[str, float]] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def answers(self) -> tuple[str, ...]:
        """The possible answers of a choice or boolean question (empty for number, text)."""
        return BOOLEAN_CHOICES if self.answer_type == "boolean" else self.choices

    def parse_answer(self, raw: Any) -> Any:
        """The answer as stored (a choice, a bool, a float or text), or a :class:`DataError`."""
        text = str(raw).strip()
        where = f"Answer {text!r} to question {self.id!r}"
        if self.answer_type == "choice":
            if text not in self.choices:
                folded = {c.casefold(): c for c in self.choices}
                if text.casefold() in folded:
                    return folded[text.casefold()]
                raise DataError(f"{where} is not one of its choices: {', '.join(self.choices)}.")
            return text
        if self.answer_type == "boolean":
            if isinstance(raw, bool):
                return raw
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise DataError(f"{where} is not yes or no.")
        if self.answer_type == "number":
            try:
                number = float(text)
            except ValueError:
                raise DataError(f"{where} is not a number.") from None
            if not math.isfinite(number):
                raise DataError(f"{where} is not a finite number.")
            if self.minimum is not None and number < self.minimum:
                raise DataError(f"{where} is below the minimum {self.minimum:g}.")
            if self.maximum is not None and number > self.maximum:
                raise DataError(f"{where} is above the maximum {self.maximum:g}.")
            return number
        if not text:
            raise DataError(f"The answer to question {self.id!r} is empty.")
        if len(text) > TEXT_LIMIT:
            raise DataError(f"The answer to question {self.id!r} is longer than {TEXT_LIMIT}.")
        return text

    def prior_for(self, segment: str | None) -> dict[str, float]:
        """The expected share of each answer for a customer of ``segment`` (sums to 1)."""
        answers = self.answers
        if not answers:
            return {}
        chosen = self.prior
        if segment:
            parts = {p.strip() for p in segment.replace("+", "").split("/")}
            for key, prior in self.prior_by_segment.items():
                if key in parts or key == segment:
                    chosen = prior
                    break
        raw = {a: float(chosen.get(a, 0.0)) for a in answers} if chosen else {}
        total = sum(raw.values())
        if total <= 0:
            return {a: 1.0 / len(answers) for a in answers}
        return {a: v / total for a, v in raw.items()}

    def value_share(self, segment: str | None) -> float:
        """Expected value of perfect information, as a share of the customer's CLV (≥ 0).

        E_a[max_o U(o, a)] − max_o E_a[U(o, a)] over the payoff table U (option × answer).
        """
        if not self.payoff or not self.answers:
            return 0.0
        prior = self.prior_for(segment)
        informed = sum(
            p * max(table.get(a, 0.0) for table in self.payoff.values()) for a, p in prior.items()
        )
        blind = max(
            sum(p * table.get(a, 0.0) for a, p in prior.items()) for table in self.payoff.values()
        )
        return max(0.0, informed - blind)

    def best_option(self, answer: Any, segment: str | None) -> str | None:
        """The decision's best option given an answer (or, with ``answer`` None, without one)."""
        if not self.payoff:
            return None
        if answer is None:
            prior = self.prior_for(segment)
            scores = {
                o: sum(p * t.get(a, 0.0) for a, p in prior.items()) for o, t in self.payoff.items()
            }
        else:
            key = ("yes" if answer else "no") if isinstance(answer, bool) else str(answer)
            scores = {o: t.get(key, 0.0) for o, t in self.payoff.items()}
        return max(scores, key=lambda o: scores[o])

    def to_dict(self) -> dict[str, Any]:
        """The definition as stored (JSON-ready; empty fields left out)."""
        full = {
            "id": self.id,
            "attribute": self.attribute,
            "text": self.text,
            "answer_type": self.answer_type,
            "purpose": self.purpose,
            "channels": list(self.channels),
            "choices": list(self.choices),
            "informs": list(self.informs),
            "cooldown_days": self.cooldown_days,
            "fresh_days": self.fresh_days,
            "preference": self.preference,
            "prior": self.prior,
            "prior_by_segment": self.prior_by_segment,
            "payoff": self.payoff,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }
        return {k: v for k, v in full.items() if v is not None and v != [] and v != {}}


@dataclass(frozen=True)
class QuestionBank:
    """The questions, and the decisions they inform (name → description)."""

    questions: tuple[Question, ...]
    decisions: dict[str, str] = field(default_factory=dict)

    def get(self, question_id: str) -> Question:
        """A question by id, or a :class:`NotFoundError` listing the known ids."""
        for q in self.questions:
            if q.id == question_id:
                return q
        known = ", ".join(q.id for q in self.questions) or "none: load a question bank"
        raise NotFoundError(f"Unknown question {question_id!r}; known questions: {known}.")

    def for_attribute(self, attribute: str) -> Question:
        """The question that learns ``attribute``, or a :class:`NotFoundError`."""
        for q in self.questions:
            if q.attribute == attribute:
                return q
        known = ", ".join(sorted({q.attribute for q in self.questions})) or "none"
        raise NotFoundError(f"Unknown attribute {attribute!r}; known attributes: {known}.")


class _Problem(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise _Problem(name, "must be a list of words")
    items = tuple(str(v) for v in value)
    if len(set(items)) != len(items):
        raise _Problem(name, "has a repeated value")
    return items


def _number(value: Any, name: str, *, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Problem(name, f"must be a number, not {value!r}")
    if minimum is not None and value < minimum:
        raise _Problem(name, f"must be at least {minimum:g}, not {value!r}")
    return float(value)


def _distribution(value: Any, name: str, answers: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _Problem(name, "must map each answer to its expected share")
    out: dict[str, float] = {}
    for key, share in value.items():
        key = str(key).lower() if isinstance(key, bool) else str(key)
        if key in {"true", "false"} and answers == BOOLEAN_CHOICES:
            key = "yes" if key == "true" else "no"
        if key not in answers:
            raise _Problem(name, f"names {key!r}, which is not one of {', '.join(answers)}")
        out[key] = _number(share, f"{name}.{key}")
    if sum(out.values()) <= 0:
        raise _Problem(name, "has no positive share")
    return out


def _question(raw: Any, index: int, decisions: Mapping[str, str]) -> Question:
    if not isinstance(raw, dict):
        raise _Problem(f"questions[{index}]", "must be a mapping of fields")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _Problem(
            unknown[0], f"is not a question field (fields: {', '.join(sorted(_FIELDS))})"
        )
    for name in ("id", "attribute", "text", "answer_type", "purpose", "channels"):
        if raw.get(name) in (None, ""):
            raise _Problem(name, "is required")
    answer_type = str(raw["answer_type"])
    if answer_type not in ANSWER_TYPES:
        raise _Problem("answer_type", f"must be one of {', '.join(ANSWER_TYPES)}")
    channels = _strings(raw["channels"], "channels")
    for ch in channels:
        if ch not in CHANNELS:
            raise _Problem("channels", f"names {ch!r}; channels are {', '.join(CHANNELS)}")
    choices = _strings(raw.get("choices") or [], "choices")
    if answer_type == "choice" and not choices:
        raise _Problem("choices", "is required for a choice question")
    if answer_type != "choice" and choices:
        raise _Problem("choices", f"makes no sense for a {answer_type} question")
    answers = BOOLEAN_CHOICES if answer_type == "boolean" else choices
    informs = _strings(raw.get("informs") or [], "informs")
    for name in informs:
        if decisions and name not in decisions:
            raise _Problem("informs", f"names {name!r}, which is not in the bank's decisions")
    prior = _distribution(raw["prior"], "prior", answers) if raw.get("prior") else {}
    by_segment_raw = raw.get("prior_by_segment") or {}
    if not isinstance(by_segment_raw, dict):
        raise _Problem("prior_by_segment", "must map segment names to priors")
    by_segment = {
        str(k): _distribution(v, f"prior_by_segment.{k}", answers)
        for k, v in by_segment_raw.items()
    }
    if (prior or by_segment) and not answers:
        raise _Problem("prior", f"makes no sense for a {answer_type} question")
    payoff: dict[str, dict[str, float]] = {}
    if raw.get("value_if_right") is not None and raw.get("payoff") is not None:
        raise _Problem("payoff", "give either value_if_right or payoff, not both")
    if raw.get("value_if_right") is not None:
        gain = _number(raw["value_if_right"], "value_if_right")
        if not answers:
            raise _Problem("value_if_right", f"makes no sense for a {answer_type} question")
        payoff = {a: {b: (gain if a == b else 0.0) for b in answers} for a in answers}
    elif raw.get("payoff") is not None:
        table = raw["payoff"]
        if not isinstance(table, dict) or not table:
            raise _Problem("payoff", "must map each option to the value of each answer")
        for option, row in table.items():
            if not isinstance(row, dict):
                raise _Problem(f"payoff.{option}", "must map answers to values")
            payoff[str(option)] = {}
            for answer, value in row.items():
                key = ("yes" if answer else "no") if isinstance(answer, bool) else str(answer)
                if key not in answers:
                    raise _Problem(f"payoff.{option}", f"names {key!r}, not an answer")
                payoff[str(option)][key] = _number(value, f"payoff.{option}.{key}", minimum=None)
    fresh = raw.get("fresh_days")
    preference = raw.get("preference", False)
    if not isinstance(preference, bool):
        raise _Problem("preference", "must be true or false")
    minimum = raw.get("minimum")
    maximum = raw.get("maximum")
    return Question(
        id=str(raw["id"]),
        attribute=str(raw["attribute"]),
        text=str(raw["text"]),
        answer_type=answer_type,
        purpose=str(raw["purpose"]),
        channels=channels,
        choices=choices,
        informs=informs,
        cooldown_days=_number(raw.get("cooldown_days", 30), "cooldown_days"),
        fresh_days=None if fresh is None else _number(fresh, "fresh_days"),
        preference=preference,
        prior=prior,
        prior_by_segment=by_segment,
        payoff=payoff,
        minimum=None if minimum is None else _number(minimum, "minimum", minimum=None),
        maximum=None if maximum is None else _number(maximum, "maximum", minimum=None),
    )


def parse_question_bank(data: Any, where: str) -> QuestionBank:
    """A bank from parsed YAML/JSON; a :class:`DataError` names ``where``, the question, field."""
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise DataError(f"{where}: a question bank needs a list under `questions`.")
    unknown = sorted(set(data) - {"questions", "decisions", "version"})
    if unknown:
        raise DataError(
            f"{where}: unknown top-level field(s) {', '.join(unknown)}; use questions, decisions."
        )
    decisions_raw = data.get("decisions") or {}
    if not isinstance(decisions_raw, dict):
        raise DataError(f"{where}: `decisions` must map each decision to its description.")
    decisions = {str(k): str(v) for k, v in decisions_raw.items()}
    out: list[Question] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["questions"]):
        label = raw.get("id") if isinstance(raw, dict) and raw.get("id") else f"#{i + 1}"
        try:
            q = _question(raw, i, decisions)
        except _Problem as exc:
            raise DataError(
                f"{where}: question {label!r}, field {exc.field_name!r}: {exc}."
            ) from None
        if q.id in seen:
            raise DataError(f"{where}: question id {q.id!r} appears twice.")
        seen.add(q.id)
        out.append(q)
    if not out:
        raise DataError(f"{where}: the question bank has no questions.")
    return QuestionBank(tuple(out), decisions)


def load_question_bank(path: Path) -> QuestionBank:
    """Read and check a question bank from a YAML file (nothing is stored).

    Raises
    ------
    DataError
        The file is not valid YAML or a question is malformed: the message names the file, the
        question and the field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such question bank file.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}).") from None
    return parse_question_bank(parse_yaml(text, str(path)), str(path))


def example_question_bank() -> Path:
    """The path of the example bank for the simulated shop (shipped with Patron)."""
    return Path(str(resources.files("patron.interact") / "examples" / "shop_questions.yaml"))


def install_question_bank(store: Store, bank: QuestionBank, *, source: str = "") -> int:
    """Replace the store's question bank with ``bank`` in one transaction; the count stored.

    Facts and touch points of questions no longer in the bank are kept.
    """
    with store.write() as conn:
        _write_bank(conn, bank, source)
    return len(bank.questions)


def _write_bank(conn: Connection, bank: QuestionBank, source: str) -> None:
    """Replace the stored bank inside the caller's transaction (and its version)."""
    now = utc_now()
    rows = [
        {
            "id": q.id,
            "attribute": q.attribute,
            "definition": json.dumps(q.to_dict(), sort_keys=True),
            "loaded_at": now,
            "source": source,
        }
        for q in bank.questions
    ]
    meta = {
        "id": BANK_ROW,
        "attribute": "",
        "definition": json.dumps(
            {"decisions": bank.decisions, "order": [q.id for q in bank.questions]}
        ),
    }
    version = hashlib.blake2b(
        json.dumps([r["definition"] for r in rows] + [meta["definition"]]).encode(),
        digest_size=12,
    ).hexdigest()
    conn.execute(sa.delete(questions))
    conn.execute(sa.insert(questions), [*rows, {**meta, "loaded_at": now, "source": source}])
    # The bank's version: readers that know it skip reading the bank again.
    conn.execute(sa.delete(store_meta).where(store_meta.c.key == BANK_VERSION_KEY))
    conn.execute(sa.insert(store_meta).values(key=BANK_VERSION_KEY, value=version))


def save_question(
    store: Store, question_id: str, definition: Mapping[str, Any], *, source: str = ""
) -> tuple[Question, bool]:
    """Add a question to the stored bank, or replace the one with this id (one transaction).

    ``definition`` holds the question's fields without ``id``; the question keeps its place
    in the bank when replaced, a new one goes last. Returns the question and whether it is
    new.

    Raises
    ------
    DataError
        The definition is malformed, names an unknown decision in ``informs``, or another
        question already learns its attribute: nothing is written.
    """
    with store.write() as conn:
        bank = question_bank(conn)
        question = parse_question_bank(
            {"questions": [{**definition, "id": question_id}], "decisions": bank.decisions},
            "the request",
        ).questions[0]
        clash = [q.id for q in bank.questions if q.attribute == question.attribute]
        if clash and clash != [question_id]:
            raise DataError(
                f"Question {clash[0]!r} already learns {question.attribute!r}; change that "
                "question instead, or give this one another attribute."
            )
        ids = [q.id for q in bank.questions]
        new = question_id not in ids
        kept = [question if q.id == question_id else q for q in bank.questions]
        _write_bank(
            conn, QuestionBank(tuple(kept + ([question] if new else [])), bank.decisions), source
        )
    return question, new


def delete_question(store: Store, question_id: str) -> None:
    """Remove a question from the stored bank (its facts and touch points are kept).

    Raises
    ------
    NotFoundError
        No question has that id.
    """
    with store.write() as conn:
        bank = question_bank(conn)
        bank.get(question_id)  # NotFoundError naming the known ids
        kept = tuple(q for q in bank.questions if q.id != question_id)
        _write_bank(conn, QuestionBank(kept, bank.decisions), "")


def question_bank(conn: Connection, version: str | None = None) -> QuestionBank:
    """The question bank stored in the store (empty if none was loaded).

    ``version`` (``store_meta['question_bank']``, when the caller has read it) lets a bank
    read before be reused without reading it again.
    """
    if version is not None and version in _BY_VERSION:
        return _BY_VERSION[version]
    rows = conn.execute(sa.select(questions.c.id, questions.c.definition)).all()
    bank = _parse_stored(tuple(sorted((str(i), str(d)) for i, d in rows)))
    if version is not None:
        if len(_BY_VERSION) > 16:
            _BY_VERSION.clear()
        _BY_VERSION[version] = bank
    return bank


#: Banks by version (the store's ``question_bank`` setting), for :func:`question_bank`.
_BY_VERSION: dict[str, QuestionBank] = {}


@lru_cache(maxsize=16)
def _parse_stored(rows: tuple[tuple[str, str], ...]) -> QuestionBank:
    """The bank from its stored rows (cached: the agent screen reads it on every call)."""
    meta: dict[str, Any] = {"decisions": {}, "order": []}
    out: list[Question] = []
    for qid, text in rows:
        definition = json.loads(text)
        if qid == BANK_ROW:
            meta = definition
            continue
        out.append(parse_question_bank({"questions": [definition]}, "the store").questions[0])
    order = {qid: i for i, qid in enumerate(meta["order"])}
    ranked = sorted(out, key=lambda q: (order.get(q.id, len(order)), q.id))
    return QuestionBank(tuple(ranked), dict(meta["decisions"]))
