"""Drip irrigation on the simulated shop: ten interactions per customer, VOI against random."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from patron.data.loader import load
from patron.data.simulate import simulate_shop
from patron.data.warehouse import Warehouse, connect
from patron.interact import (
    Question,
    QuestionBank,
    decline_question,
    example_question_bank,
    install_question_bank,
    load_question_bank,
    next_question,
    record_answer,
    set_consent,
)
from patron.needs import segment_customers
from patron.store import Store
from patron.store.publish import publish_profiles
from patron.store.schema import profiles, touchpoints
from patron.value.clv import ValueSettings
from patron.value.history import apply_tiers, score_into_warehouse
from patron.value.summary import SummarySpec
from patron.value.workflow import fit_purchase_model, summary_from_warehouse

CHANNELS = ("phone", "web", "app", "store", "email")
T0 = datetime(2026, 1, 5, 11, 0)
INTERACTIONS = 10
CUSTOMERS = 150
RANDOM_RUNS = 40


@pytest.fixture(scope="module")
def shop_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A scored, segmented, tiered simulated shop (1,500 customers)."""
    folder = tmp_path_factory.mktemp("shop")
    shop = simulate_shop(1_500, folder / "files", seed=7)
    wh = connect(f"duckdb://{folder / 'shop.duckdb'}")
    for table in ("products", "customers", "transactions"):
        load(wh, table, [str(shop.files[table])])
    with summary_from_warehouse(wh, SummarySpec("week")) as source:
        fit = fit_purchase_model(source, "bgnbd")
        score_into_warehouse(source, fit, ValueSettings(12, 0.1))
    segment_customers(wh, seed=7)
    apply_tiers(wh)
    yield wh
    wh.close()


@dataclass
class Customer:
    id: str
    segment: str | None
    clv: float
    consent: bool
    truth: dict[str, Any]
    channels: list[str]
    answers: list[bool]  # per interaction: answers (True) or declines (False)


def _favourite_departments(wh: Warehouse) -> dict[str, str]:
    """Each customer's most-bought category, from their transactions (computed in the engine)."""
    tx = wh.table("transactions")
    per = tx.group_by(["customer_id", "category"]).aggregate(n=tx.count())
    rows = per.to_pyarrow().to_pylist()
    best: dict[str, tuple[int, str]] = {}
    for r in rows:
        key = (int(r["n"]), str(r["category"]))
        if r["customer_id"] not in best or key > best[r["customer_id"]]:
            best[r["customer_id"]] = key
    return {c: cat for c, (_, cat) in best.items()}


def _customers(store: Store, wh: Warehouse, bank: QuestionBank) -> list[Customer]:
    rng = np.random.default_rng(11)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(profiles.c.customer_id, profiles.c.segment, profiles.c.clv).order_by(
                profiles.c.customer_id
            )
        ).all()
    chosen = [rows[i] for i in sorted(rng.choice(len(rows), CUSTOMERS, replace=False))]
    favourite = _favourite_departments(wh)
    out = []
    for cid, segment, clv in chosen:
        truth: dict[str, Any] = {}
        for q in bank.questions:
            if q.id == "department":
                truth[q.id] = favourite[cid]
            elif q.answers:
                prior = q.prior_for(segment)
                truth[q.id] = str(rng.choice(list(prior), p=list(prior.values())))
            else:
                truth[q.id] = "Daily Chronicle"
        out.append(
            Customer(
                id=cid,
                segment=segment,
                clv=max(float(clv or 0.0), 0.0),
                consent=bool(rng.random() < 0.75),
                truth=truth,
                channels=[str(c) for c in rng.choice(CHANNELS, INTERACTIONS)],
                answers=[bool(a) for a in rng.random(INTERACTIONS) < 0.85],
            )
        )
    return out


def _changes_decision(q: Question, c: Customer) -> bool:
    return bool(q.payoff) and q.best_option(c.truth[q.id], c.segment) != q.best_option(
        None, c.segment
    )


def _gain(q: Question, c: Customer) -> float:
    """What knowing the true answer gains, in currency (CLV units): best vs blind option."""
    if not q.payoff:
        return 0.0
    key = c.truth[q.id]
    blind = q.best_option(None, c.segment)
    informed = q.best_option(key, c.segment)
    assert blind is not None
    assert informed is not None
    return (q.payoff[informed].get(key, 0.0) - q.payoff[blind].get(key, 0.0)) * c.clv


@dataclass
class Curve:
    changing: list[float]  # mean decision-changing facts known after interaction k
    gain: list[float]  # mean realised gain (currency) after interaction k


def _curve(
    learned_by_step: list[list[set[str]]], bank: QuestionBank, people: list[Customer]
) -> Curve:
    changing = [0.0] * INTERACTIONS
    gain = [0.0] * INTERACTIONS
    for c, steps in zip(people, learned_by_step, strict=True):
        for k, known in enumerate(steps):
            changing[k] += sum(_changes_decision(bank.get(q), c) for q in known) / len(people)
            gain[k] += sum(_gain(bank.get(q), c) for q in known) / len(people)
    return Curve(changing, gain)


def _random_order(bank: QuestionBank, people: list[Customer], seed: int) -> list[list[set[str]]]:
    """The same customers, channels and willingness to answer; questions picked at random
    among those the same rules allow."""
    rng = np.random.default_rng(seed)
    out = []
    for c in people:
        known: set[str] = set()
        declined: dict[str, datetime] = {}
        steps = []
        for k in range(INTERACTIONS):
            at = T0 + timedelta(days=10 * k)
            allowed = [
                q
                for q in bank.questions
                if c.consent
                and c.channels[k] in q.channels
                and q.id not in known
                and not (q.id in declined and at - declined[q.id] < timedelta(days=q.cooldown_days))
            ]
            if allowed:
                q = allowed[int(rng.integers(len(allowed)))]
                if c.answers[k]:
                    known.add(q.id)
                else:
                    declined[q.id] = at
            steps.append(set(known))
        out.append(steps)
    return out


def test_ten_interactions_per_customer(store: Store, shop_wh: Warehouse) -> None:
    publish_profiles(shop_wh, store, source="simulated shop")
    bank = load_question_bank(example_question_bank())
    install_question_bank(store, bank)
    people = _customers(store, shop_wh, bank)
    for c in people:
        if c.consent:
            set_consent(store, c.id, "all", "profiling", "granted", source="signup", at=T0)
    voi_steps: list[list[set[str]]] = []
    asked_total = 0
    for c in people:
        known: set[str] = set()
        declined: dict[str, datetime] = {}
        steps = []
        for k in range(INTERACTIONS):
            at = T0 + timedelta(days=10 * k)
            channel = c.channels[k]
            pick = next_question(store, c.id, channel, at=at)  # at most one per interaction
            if pick is not None:
                q = pick.question
                asked_total += 1
                assert c.consent, f"{c.id} was asked {q.id} without profiling consent"
                assert q.id not in known, f"{c.id} was asked {q.id} again"
                assert channel in q.channels
                if q.id in declined:
                    assert at - declined[q.id] >= timedelta(days=q.cooldown_days)
                if c.answers[k]:
                    record_answer(store, c.id, q.id, c.truth[q.id], channel=channel, at=at)
                    known.add(q.id)
                else:
                    decline_question(store, c.id, q.id, channel=channel, at=at)
                    declined[q.id] = at
            elif c.consent:
                # Nothing asked although allowed: only when no question is left for the channel.
                left = [
                    q
                    for q in bank.questions
                    if channel in q.channels
                    and q.id not in known
                    and not (
                        q.id in declined and at - declined[q.id] < timedelta(days=q.cooldown_days)
                    )
                ]
                assert left == [], f"{c.id}: {len(left)} questions left but none asked"
            steps.append(set(known))
        voi_steps.append(steps)
    # The store agrees: per customer at most one answer or decline per interaction time.
    with store.read() as conn:
        rows = conn.execute(
            sa.select(touchpoints.c.customer_id, touchpoints.c.occurred_at, sa.func.count())
            .where(touchpoints.c.kind.in_(("answer", "question_declined")))
            .group_by(touchpoints.c.customer_id, touchpoints.c.occurred_at)
        ).all()
    assert rows
    assert max(n for _, _, n in rows) == 1
    assert sum(n for _, _, n in rows) == asked_total
    assert {cid for cid, _, _ in rows} <= {c.id for c in people if c.consent}

    voi = _curve(voi_steps, bank, people)
    runs = [_curve(_random_order(bank, people, seed), bank, people) for seed in range(RANDOM_RUNS)]
    rnd = Curve(
        [float(np.mean([r.changing[k] for r in runs])) for k in range(INTERACTIONS)],
        [float(np.mean([r.gain[k] for r in runs])) for k in range(INTERACTIONS)],
    )
    print(  # the measured comparison (docs/interact.md quotes it; run with -s to see it)
        "\nVOI order vs random order, mean per customer after interactions 1..10:\n"
        f"  decision-changing facts VOI    {[round(x, 2) for x in voi.changing]}\n"
        f"  decision-changing facts random {[round(x, 2) for x in rnd.changing]}\n"
        f"  realised gain VOI    {[round(x, 2) for x in voi.gain]}\n"
        f"  realised gain random {[round(x, 2) for x in rnd.gain]}\n"
        f"  sums: VOI {sum(voi.changing):.2f} facts, {sum(voi.gain):.2f} gain; random "
        f"{sum(rnd.changing):.2f} facts, {sum(rnd.gain):.2f} gain"
    )
    # Sooner: more decision-changing facts known, summed over the ten interactions, and the
    # facts learned worth more, at every step of the first half (the random order is
    # averaged over RANDOM_RUNS orders). Measured: 13.3 vs 12.1 facts, 1.70 vs 1.51 gain.
    assert sum(voi.changing) > sum(rnd.changing)
    assert sum(voi.gain) > 1.05 * sum(rnd.gain)
    assert all(v > r for v, r in zip(voi.gain[:5], rnd.gain[:5], strict=True))
