"""Offers for the simulated shop, with a known true uplift per needs segment and offer.

Six cross-sell offers, one per category of :mod:`patron.data.simulate`. A customer who gets
offer *c* and is still alive responds — buys one item of category *c* at the offer's price —
with probability ``uplift(segment, c) = BASE_UPLIFT + CATEGORY_UPLIFT × mix(segment, c)``,
the segment's share of purchases in that category: readers answer book offers, gamers game
offers. Everybody alive also keeps buying as before (the shop's BG/NBD process, categories by
segment), so a campaign's effect must be measured against a holdout, and the measure can be
checked against the truth (:func:`true_offer_value`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from patron.data.simulate import CATEGORIES, CATEGORY_MARGIN, SEGMENTS, ShopParams
from patron.errors import UsageError

__all__ = [
    "SHOP_OFFERS",
    "OfferResponses",
    "SimOffer",
    "shop_offers_yaml",
    "simulate_offer_responses",
    "true_offer_value",
    "true_uplift",
]

#: Uplift every living customer has for any offer, and the part that grows with interest.
BASE_UPLIFT = 0.01
CATEGORY_UPLIFT = 0.12
#: Cost of one contact (currency), on every channel.
CONTACT_COST = 0.05


@dataclass(frozen=True)
class SimOffer:
    """A simulated shop's offer: the category it sells, its price and margin rate."""

    id: str
    category: str
    price: float

    @property
    def margin_rate(self) -> float:
        """The category's margin rate."""
        return float(CATEGORY_MARGIN[CATEGORIES.index(self.category)])

    @property
    def margin(self) -> float:
        """Margin of one response (currency)."""
        return self.price * self.margin_rate


SHOP_OFFERS: tuple[SimOffer, ...] = (
    SimOffer("books-bundle", "books", 20.0),
    SimOffer("music-pass", "music", 18.0),
    SimOffer("video-box", "video", 22.0),
    SimOffer("games-pack", "games", 35.0),
    SimOffer("electronics-deal", "electronics", 80.0),
    SimOffer("home-set", "home", 25.0),
)
_SEGMENT_NAMES = tuple(s.name for s in SEGMENTS)


def true_uplift(segment: str, offer_id: str) -> float:
    """The true probability that a living customer of ``segment`` responds to the offer."""
    offer = next(o for o in SHOP_OFFERS if o.id == offer_id)
    seg = SEGMENTS[_SEGMENT_NAMES.index(segment)]
    return BASE_UPLIFT + CATEGORY_UPLIFT * seg.category_mix[CATEGORIES.index(offer.category)]


def true_offer_value(segment: str, alive: bool, offer_id: str) -> float:
    """True expected incremental margin of sending the offer, less the contact (currency)."""
    offer = next(o for o in SHOP_OFFERS if o.id == offer_id)
    return (true_uplift(segment, offer_id) if alive else 0.0) * offer.margin - CONTACT_COST


def shop_offers_yaml(channels: tuple[str, ...] = ("email", "web", "app")) -> str:
    """The catalogue as an offers file (no truth in it: one prior response rate for all)."""
    lines = ["# The simulated shop's offers (patron demo). Response rates are priors."]
    for o in SHOP_OFFERS:
        costs = ", ".join(f"{c}: {CONTACT_COST}" for c in channels)
        lines.append(
            f"- {{id: {o.id}, name: {o.category.title()} offer, kind: cross-sell, "
            f"category: {o.category}, channels: [{', '.join(channels)}], "
            f"contact_cost: {{{costs}}}, price: {o.price}, margin_rate: {o.margin_rate}, "
            f"response_rate: 0.03}}"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class OfferResponses:
    """The purchases of the weeks after a send, and the send's true effect."""

    transactions: pa.Table
    #: True expected incremental margin per customer sent an offer (contact cost excluded).
    true_margin_lift: float
    #: True expected incremental revenue per customer sent an offer.
    true_revenue_lift: float
    start: datetime
    weeks: int
    #: Customers of the truth file who were sent an offer (others in ``sends`` are ignored).
    customers_sent: int = 0


def simulate_offer_responses(
    truth: Path,
    sends: Mapping[str, str],
    *,
    weeks: int = 4,
    seed: int = 0,
    params: ShopParams | None = None,
    start: datetime | None = None,
) -> OfferResponses:
    """Purchases in the ``weeks`` after the shop's window, with responses to the offers sent.

    Parameters
    ----------
    truth
        The shop's ``truth.parquet``.
    sends
        Customer id (the shop's ``C...`` ids) → the offer id they were sent.
    weeks
        Length of the window after the send, in weeks.
    seed
        Seed of the responses' own random stream.
    params
        The shop's generative parameters.
    start
        The send day (default: the day after the shop's window).

    Returns
    -------
    OfferResponses
        Transactions (``customer_id, timestamp, amount, order_id, category, cost``): every
        living customer's own purchases (categories by segment) plus one purchase per response.
    """
    if weeks < 1:
        raise UsageError(f"weeks {weeks} must be at least 1.")
    known = {o.id for o in SHOP_OFFERS}
    unknown = sorted(set(sends.values()) - known)
    if unknown:
        raise UsageError(f"Unknown simulated offer(s) {', '.join(unknown)}.")
    prm = params or ShopParams()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    cols = ["customer_id", "segment", "purchase_rate_per_week", "dropout_probability", "spend_nu"]
    t = pq.read_table(truth, columns=[*cols, "alive_at_end"])
    ids = np.array(t.column("customer_id").to_pylist(), dtype=object)
    seg_names = np.array(t.column("segment").to_pylist(), dtype=object)
    seg = np.array([_SEGMENT_NAMES.index(s) for s in seg_names])
    lam = t.column("purchase_rate_per_week").to_numpy()
    pdrop = t.column("dropout_probability").to_numpy()
    nu = t.column("spend_nu").to_numpy()
    alive = t.column("alive_at_end").to_numpy(zero_copy_only=False).astype(bool)
    # Baseline: the customer's own purchases, as the shop's process goes on.
    n_events = np.where(alive, rng.poisson(lam * weeks), 0)
    j = rng.geometric(np.clip(pdrop, 1e-12, 1.0))
    n_base = np.minimum(n_events, j)
    owner = np.repeat(np.arange(ids.size), n_base)
    spend = np.round(rng.gamma(prm.p, 1.0 / nu[owner]), 2)
    mix = np.array([s.category_mix for s in SEGMENTS])
    cum = np.cumsum(mix[seg[owner]], axis=1)
    category = np.minimum((rng.random(owner.size)[:, None] > cum).sum(axis=1), len(CATEGORIES) - 1)
    cost = np.round(spend * (1.0 - CATEGORY_MARGIN[category]), 2)
    # Responses to the offers sent.
    index = {cid: i for i, cid in enumerate(ids.tolist())}
    # in the truth file's order, whatever the order of ``sends``: the same sends, the same draws
    sent_idx = np.array(sorted(index[c] for c in sends if c in index), dtype=np.int64)
    sent_offer = [sends[str(ids[i])] for i in sent_idx]
    by_id = {o.id: o for o in SHOP_OFFERS}
    uplift = np.array(
        [true_uplift(str(seg_names[i]), o) for i, o in zip(sent_idx, sent_offer, strict=True)]
    )
    responds = alive[sent_idx] & (rng.random(sent_idx.size) < uplift)
    r_idx = sent_idx[responds]
    r_offers = [by_id[o] for o, r in zip(sent_offer, responds, strict=True) if r]
    r_price = np.array([o.price for o in r_offers])
    r_cat = np.array([CATEGORIES.index(o.category) for o in r_offers], dtype=np.int64)
    r_cost = np.round(r_price * (1.0 - CATEGORY_MARGIN[r_cat]), 2) if r_offers else np.array([])
    all_owner = np.concatenate([owner, r_idx])
    amount = np.concatenate([spend, r_price])
    all_cat = np.concatenate([category, r_cat]).astype(np.int64)
    all_cost = np.concatenate([cost, r_cost])
    if start is None:
        end = prm.start + timedelta(weeks=prm.observation_weeks)
        start = datetime(end.year, end.month, end.day)
    seconds = rng.uniform(0, weeks * 7 * 86400 - 1, all_owner.size)
    stamps = np.datetime64(start, "us") + (seconds * 1e6).astype("timedelta64[us]")
    table = pa.table(
        {
            "customer_id": pa.array(ids[all_owner].tolist(), pa.string()),
            "timestamp": pa.array(stamps),
            "amount": amount,
            "order_id": pa.array([f"R{seed:03d}{i:09d}" for i in range(all_owner.size)]),
            "category": pa.array(np.array(CATEGORIES)[all_cat].tolist(), pa.string()),
            "cost": all_cost,
        }
    ).sort_by([("timestamp", "ascending")])
    n_sent = max(sent_idx.size, 1)
    alive_sent = alive[sent_idx]
    margins = np.array([by_id[o].margin for o in sent_offer])
    prices = np.array([by_id[o].price for o in sent_offer])
    return OfferResponses(
        transactions=table,
        true_margin_lift=float((alive_sent * uplift * margins).sum() / n_sent),
        true_revenue_lift=float((alive_sent * uplift * prices).sum() / n_sent),
        start=start,
        weeks=weeks,
        customers_sent=int(sent_idx.size),
    )
