"""Progressive profiling ("drip irrigation"): facts, answers, and the next question to ask.

Each interaction asks at most one question, never one whose answer is known and fresh (or a
preference once given), never one the customer declined within its cool-down, and none at all
without the customer's consent to profiling on the channel. Among the rest it picks the one
whose answer is worth most for this customer: the expected value of perfect information for
the decision the question informs (how much knowing the answer is expected to improve that
decision, :meth:`Question.value_share`) times the customer's CLV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.errors import UsageError
from patron.interact.consent import ConsentDecision, latest_consent
from patron.interact.policy import contact_policy
from patron.interact.profiles import Profile, require_profile
from patron.interact.questions import Question, QuestionBank, question_bank
from patron.interact.touchpoints import Touchpoint, insert_touchpoints
from patron.interact.vocabulary import CHANNELS, check_choice, to_utc, utc_now
from patron.store import Store
from patron.store.schema import facts, touchpoints

__all__ = [
    "Fact",
    "NextQuestion",
    "QuestionPlan",
    "current_facts",
    "decline_question",
    "fact_history",
    "next_question",
    "plan_questions",
    "record_answer",
]


@dataclass(frozen=True)
class Fact:
    """Something a customer told us: an attribute's value, where and when."""

    id: int
    customer_id: str
    attribute: str
    value: Any
    is_preference: bool
    source: str
    recorded_at: datetime
    question_id: str | None
    touchpoint_id: int | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (time in ISO 8601, UTC)."""
        return {
            "attribute": self.attribute,
            "value": self.value,
            "is_preference": self.is_preference,
            "source": self.source,
            "recorded_at": self.recorded_at.isoformat() + "Z",
            "question_id": self.question_id,
            "touchpoint_id": self.touchpoint_id,
        }


def _fact(row: Any) -> Fact:
    return Fact(
        id=row.id,
        customer_id=row.customer_id,
        attribute=row.attribute,
        value=json.loads(row.value),
        is_preference=bool(row.is_preference),
        source=row.source,
        recorded_at=row.recorded_at,
        question_id=row.question_id,
        touchpoint_id=row.touchpoint_id,
    )


def fact_history(conn: Connection, customer_id: str) -> list[Fact]:
    """Every fact recorded for a customer, oldest first."""
    query = (
        sa.select(facts)
        .where(facts.c.customer_id == customer_id)
        .order_by(facts.c.recorded_at, facts.c.id)
    )
    return [_fact(r) for r in conn.execute(query)]


def current_facts(conn: Connection, customer_id: str) -> list[Fact]:
    """The latest fact per attribute (the latest wins), in the order first learned."""
    latest: dict[str, Fact] = {}
    for f in fact_history(conn, customer_id):
        latest[f.attribute] = f
    return list(latest.values())


def _profiling_consent(conn: Connection, customer_id: str, channel: str) -> tuple[bool, str]:
    defaults = contact_policy(conn).consent_defaults
    decision = latest_consent(conn, customer_id, channel, "profiling", defaults=defaults)
    return decision.allowed, decision.reason


def record_answer(
    store: Store,
    customer_id: str,
    question_id: str,
    answer: Any,
    *,
    channel: str,
    agent: str | None = None,
    at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Fact:
    """Record a customer's answer: an ``answer`` touch point and a fact, in one transaction.

    Raises
    ------
    NotFoundError
        Unknown customer (not in the live publication) or unknown question.
    DataError
        The answer does not fit the question (not one of its choices, not a number, ...).
    UsageError
        An unknown channel, or no consent to profiling on it.

    Nothing is written when any check fails. With an idempotency key already used, the fact
    recorded then is returned and nothing new is written.
    """
    check_choice(channel, CHANNELS, "channel")
    when = to_utc(at) if at is not None else utc_now()
    with store.write() as conn:
        require_profile(conn, customer_id)
        question = question_bank(conn).get(question_id)
        value = question.parse_answer(answer)
        allowed, reason = _profiling_consent(conn, customer_id, channel)
        if not allowed:
            raise UsageError(
                f"Customer {customer_id} has not consented to profiling on {channel} ({reason}); "
                "record their consent first (patron interact consent ... --purpose profiling)."
            )
        tp = Touchpoint(
            customer_id=customer_id,
            channel=channel,
            kind="answer",
            direction="inbound",
            purpose="profiling",
            agent=agent,
            occurred_at=when,
            idempotency_key=idempotency_key,
            question_id=question.id,
        ).validated()
        ids, created = insert_touchpoints(conn, [tp])
        if not created:
            stored = conn.execute(sa.select(facts).where(facts.c.touchpoint_id == ids[0])).first()
            if stored is not None:
                return _fact(stored)
        row: dict[str, Any] = {
            "customer_id": customer_id,
            "attribute": question.attribute,
            "value": json.dumps(value),
            "is_preference": question.preference,
            "source": f"answer to {question.id} on {channel}" + (f" ({agent})" if agent else ""),
            "question_id": question.id,
            "touchpoint_id": ids[0],
            "recorded_at": when,
        }
        new_id = conn.execute(sa.insert(facts).returning(facts.c.id), row).scalar_one()
    return Fact(
        id=int(new_id),
        customer_id=customer_id,
        attribute=question.attribute,
        value=value,
        is_preference=question.preference,
        source=row["source"],
        recorded_at=when,
        question_id=question.id,
        touchpoint_id=ids[0],
    )


def decline_question(
    store: Store,
    customer_id: str,
    question_id: str,
    *,
    channel: str,
    agent: str | None = None,
    at: datetime | None = None,
) -> int:
    """Record that the customer declined to answer (starts the question's cool-down).

    Returns the touch point's id.
    """
    check_choice(channel, CHANNELS, "channel")
    with store.write() as conn:
        require_profile(conn, customer_id)
        question = question_bank(conn).get(question_id)
        tp = Touchpoint(
            customer_id=customer_id,
            channel=channel,
            kind="question_declined",
            direction="inbound",
            purpose="profiling",
            agent=agent,
            occurred_at=at,
            question_id=question.id,
        ).validated()
        return insert_touchpoints(conn, [tp])[0][0]


@dataclass(frozen=True)
class NextQuestion:
    """The question to ask, what its answer is worth for this customer, and why."""

    question: Question
    value: float  # expected improvement of the decision, in CLV currency units
    value_share: float  # the same as a share of the customer's CLV
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the agent screen's ``next_question``)."""
        q = self.question
        return {
            "id": q.id,
            "attribute": q.attribute,
            "text": q.text,
            "purpose": q.purpose,
            "reason": self.reason,
            "answer_type": q.answer_type,
            "choices": list(q.answers),
            "preference": q.preference,
            "value": round(self.value, 4),
            "value_share": round(self.value_share, 6),
        }


@dataclass(frozen=True)
class QuestionPlan:
    """Every question considered for a customer on a channel: ranked, or skipped and why."""

    ranked: list[NextQuestion] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    blocked: str | None = None  # why no question at all (no consent, no bank)

    @property
    def best(self) -> NextQuestion | None:
        """The one question to ask, or None."""
        return self.ranked[0] if self.ranked else None

    @property
    def why_none(self) -> str:
        """Why there is no question (empty when there is one)."""
        if self.ranked:
            return ""
        if self.blocked:
            return self.blocked
        return "every question is answered, declined recently, or not asked on this channel"


def _reason(q: Question, bank: QuestionBank, profile: Profile, share: float, value: float) -> str:
    decision = "; ".join(bank.decisions.get(d, d) for d in q.informs) or "no decision"
    if share <= 0:
        tail = " It is a preference, remembered for every later contact." if q.preference else ""
        return f"No decision depends on the answer yet; it completes the profile.{tail}"
    segment = profile.segment
    blind = q.best_option(None, segment)
    changing = [a for a in q.answers if q.best_option(a, segment) != blind]
    clv = profile.clv
    worth = (
        f"worth about {value:,.2f} for this customer ({share:.1%} of their CLV of {clv:,.0f})"
        if clv is not None and clv > 0
        else f"worth {share:.1%} of a customer's value, though this customer's CLV is "
        + ("unknown" if clv is None else f"{clv:,.0f}")
    )
    return (
        f"The answer decides {decision}: {len(changing)} of {len(q.answers)} possible answers "
        f"would change it from {blind!r}; knowing it is {worth}."
    )


def plan_questions(
    conn: Connection,
    customer_id: str,
    channel: str,
    *,
    at: datetime | None = None,
    profile: Profile | None = None,
    consent: ConsentDecision | None = None,
    facts_now: list[Fact] | None = None,
    bank_version: str | None = None,
) -> QuestionPlan:
    """Rank the questions that may be asked of a customer on a channel now (see the module).

    ``profile``, ``consent`` (to profiling on the channel) and ``facts_now`` (the current
    facts) and ``bank_version`` may be passed when the caller has read them already.
    """
    check_choice(channel, CHANNELS, "channel")
    now = to_utc(at) if at is not None else utc_now()
    if profile is None:
        profile = require_profile(conn, customer_id)
    bank = question_bank(conn, bank_version)
    if not bank.questions:
        return QuestionPlan(blocked="no question bank is loaded (patron interact questions FILE)")
    if consent is None:
        allowed, reason = _profiling_consent(conn, customer_id, channel)
    else:
        allowed, reason = consent.allowed, consent.reason
    if not allowed:
        return QuestionPlan(blocked=f"no consent to profiling on {channel}: {reason}")
    if facts_now is None:
        facts_now = current_facts(conn, customer_id)
    known = {f.attribute: f for f in facts_now}
    declined: dict[str, datetime] = {}
    rows = conn.execute(
        sa.select(touchpoints.c.question_id, sa.func.max(touchpoints.c.occurred_at))
        .where(
            touchpoints.c.customer_id == customer_id,
            touchpoints.c.kind == "question_declined",
        )
        .group_by(touchpoints.c.question_id)
    )
    for qid, last in rows:
        declined[str(qid)] = last
    weight = max(profile.clv or 0.0, 0.0)
    ranked: list[tuple[tuple[float, float, int], NextQuestion]] = []
    skipped: dict[str, str] = {}
    for order, q in enumerate(bank.questions):
        fact = known.get(q.attribute)
        if channel not in q.channels:
            skipped[q.id] = f"not asked on {channel}"
            continue
        if fact is not None and (q.preference or fact.is_preference):
            skipped[q.id] = f"preference given on {fact.recorded_at:%Y-%m-%d}; never asked again"
            continue
        if fact is not None and (
            q.fresh_days is None or now - fact.recorded_at < timedelta(days=q.fresh_days)
        ):
            skipped[q.id] = f"answered on {fact.recorded_at:%Y-%m-%d}, still fresh"
            continue
        last = declined.get(q.id)
        if last is not None and now - last < timedelta(days=q.cooldown_days):
            until = last + timedelta(days=q.cooldown_days)
            skipped[q.id] = f"declined on {last:%Y-%m-%d}; not asked again before {until:%Y-%m-%d}"
            continue
        share = q.value_share(profile.segment)
        value = share * weight
        pick = NextQuestion(q, value, share, _reason(q, bank, profile, share, value))
        ranked.append(((-value, -share, order), pick))
    ranked.sort(key=lambda item: item[0])
    return QuestionPlan([p for _, p in ranked], skipped)


def next_question(
    store: Store, customer_id: str, channel: str, *, at: datetime | None = None
) -> NextQuestion | None:
    """The one question to ask the customer on ``channel`` now, or None (see the module)."""
    with store.read() as conn:
        return plan_questions(conn, customer_id, channel, at=at).best
