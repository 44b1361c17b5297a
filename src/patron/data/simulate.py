"""A realistic synthetic shop, drawn from the BG/NBD + Gamma-Gamma generative process.

Each customer is acquired at a random date in the first year, buys as a Poisson process with a
rate lambda ~ Gamma(r, alpha) (per week), after each repeat purchase drops out with probability
p ~ Beta(a, b), and spends per order z ~ Gamma(p_gg, nu) with nu ~ Gamma(q, gamma) (Fader, Hardie
& Lee 2005; Fader & Hardie 2013). Defaults are near the published CDNOW estimates.

On top of that, every customer belongs to one of a few *needs segments* that drive which
categories they buy, through which channel, basket size, weekday and discount use; products
carry margins; customers carry a yearly cost to serve; some orders are returned.

The ground truth (segment, rate, dropout probability, dropout time, spend parameter, and each
customer's true 12-month CLV) is written to a separate file so that later steps can be checked
against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from patron.errors import UsageError

__all__ = [
    "SEGMENTS",
    "CampaignResult",
    "ShopParams",
    "SimulationResult",
    "simulate_campaign",
    "simulate_identities",
    "simulate_shop",
]

CATEGORIES = ("books", "music", "video", "games", "electronics", "home")
CHANNELS = ("web", "store", "app", "phone")
#: Category margin rates (share of the price that is margin).
CATEGORY_MARGIN = np.array([0.30, 0.25, 0.28, 0.22, 0.12, 0.35])
#: Cost to serve per year by main channel (currency per year).
CHANNEL_COST = np.array([2.0, 9.0, 1.5, 12.0])


@dataclass(frozen=True)
class Segment:
    """A needs segment: what its customers buy and how."""

    name: str
    share: float
    category_mix: tuple[float, ...]
    channel_mix: tuple[float, ...]
    basket: float  # mean items per order
    weekend: float  # share of orders on weekends
    discount: float  # share of orders with a discount


# Columns: name, share, category mix (CATEGORIES order), channel mix (CHANNELS order),
# mean basket size, weekend share, discount share.
SEGMENTS: tuple[Segment, ...] = (
    Segment("readers", 0.30, (0.70, 0.10, 0.08, 0.02, 0.02, 0.08),
            (0.70, 0.15, 0.10, 0.05), 1.5, 0.25, 0.10),
    Segment("gamers", 0.20, (0.03, 0.07, 0.10, 0.65, 0.12, 0.03),
            (0.20, 0.10, 0.68, 0.02), 1.2, 0.55, 0.35),
    Segment("home_makers", 0.25, (0.08, 0.02, 0.05, 0.02, 0.13, 0.70),
            (0.15, 0.70, 0.05, 0.10), 3.5, 0.60, 0.20),
    Segment("media_fans", 0.25, (0.05, 0.45, 0.40, 0.03, 0.05, 0.02),
            (0.45, 0.05, 0.20, 0.30), 2.2, 0.30, 0.50),
)  # fmt: skip


@dataclass(frozen=True)
class ShopParams:
    """Parameters of the generative process (time unit: weeks)."""

    r: float = 0.243
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426
    p: float = 6.25
    q: float = 3.74
    gamma: float = 15.44
    acquisition_weeks: float = 52.0
    observation_weeks: float = 104.0
    return_rate: float = 0.03
    start: datetime = datetime(2024, 1, 1)
    n_products: int = 240


@dataclass
class SimulationResult:
    """Where the files went and how many rows they have."""

    out: Path
    customers: int
    transactions: int
    products: int
    files: dict[str, Path]


def _products(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    cat = np.arange(n) % len(CATEGORIES)
    price = np.round(rng.lognormal(mean=2.8, sigma=0.5, size=n), 2)
    margin = np.clip(CATEGORY_MARGIN[cat] + rng.normal(0, 0.04, n), 0.02, 0.8)
    return {
        "product_id": np.array([f"P{i:04d}" for i in range(n)]),
        "category_idx": cat,
        "price": price,
        "margin": margin,
    }


def _true_clv(
    prm: ShopParams,
    segment: np.ndarray,
    lam: np.ndarray,
    pdrop: np.ndarray,
    nu: np.ndarray,
    alive: np.ndarray,
    cost_to_serve: np.ndarray,
) -> np.ndarray:
    """Each customer's true expected CLV over the 12 months after the end, at 10% a year.

    From the true parameters: a customer still alive buys at rate λ until the J-th purchase
    (J geometric with p), so the remaining lifetime is exponential with rate λp; margin per
    order is the mean spend p_gg/ν times the segment's expected margin rate (its category
    mix, discounted orders costing 10% more, returns refunded). Discounted continuously:
    CLV = alive × (margin per order × λ − cost to serve per week) × (1 − e^−(δ+λp)t)/(δ+λp).
    A customer already gone has CLV 0. Its sign (below zero or not) is that of the bracket.
    """
    mix = np.array([s.category_mix for s in SEGMENTS])
    disc = np.array([s.discount for s in SEGMENTS])
    rate = (mix * (1.0 - (1.0 - CATEGORY_MARGIN)[None, :] * (1.0 + 0.1 * disc[:, None]))).sum(1)
    weeks = 365.25 / 7.0
    delta = np.log(1.1) / weeks
    per_order = rate[segment] * (prm.p / nu) * (1.0 - prm.return_rate)
    weekly = per_order * lam - cost_to_serve / weeks
    life = delta + lam * pdrop
    return np.where(alive, weekly * (1.0 - np.exp(-life * weeks)) / life, 0.0)


def _codes(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers, built in Arrow (fast for millions of rows)."""
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _labels(names: Sequence[str] | np.ndarray, codes: np.ndarray) -> pa.DictionaryArray:
    """Dictionary-encoded labels: no string copies per row."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names))


def _draw_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1), vectorised."""
    u = rng.random((probs.shape[0], 1))
    below: np.ndarray = (np.cumsum(probs, axis=1) < u).sum(axis=1)
    return np.asarray(np.minimum(below, probs.shape[1] - 1))


def simulate_shop(
    n_customers: int,
    out: Path,
    *,
    seed: int = 0,
    params: ShopParams | None = None,
    identities: bool = False,
    split_orders: bool = False,
) -> SimulationResult:
    """Simulate a shop and write it as Parquet files.

    Parameters
    ----------
    n_customers
        Number of customers.
    out
        Folder to write ``transactions.parquet``, ``customers.parquet``, ``products.parquet``
        and ``truth.parquet`` into (created if needed).
    seed
        Seed of the random generator; the same seed gives the same files.
    params
        Generative parameters; rates are per week.
    identities
        Also write ``identities.parquet`` (customers under several source records, with
        noise; see :func:`simulate_identities`) and ``identity_truth.parquet`` (the true
        person of each record). The other files are the same either way, unless
        ``split_orders``.
    split_orders
        With ``identities``: each order of a person with several records carries the
        customer id of the record of the channel it came through (store: the loyalty card;
        web and app: the web account; phone: the phone orders), as the source systems would
        have it, so that one person appears as several customers until identities are
        resolved. ``truth.parquet`` stays one row per person (the ``C...`` id).

    Returns
    -------
    SimulationResult
    """
    if n_customers < 1:
        raise UsageError(f"--customers must be at least 1, got {n_customers}.")
    if split_orders and not identities:
        raise UsageError("split_orders needs identities=True (the records to split orders over).")
    prm = params or ShopParams()
    rng = np.random.default_rng(seed)
    n = n_customers
    out.mkdir(parents=True, exist_ok=True)

    # Customers: segment, acquisition, BG/NBD and Gamma-Gamma latent parameters.
    shares = np.array([s.share for s in SEGMENTS])
    segment = rng.choice(len(SEGMENTS), size=n, p=shares / shares.sum())
    acquired = rng.uniform(0.0, prm.acquisition_weeks, n)
    horizon = prm.observation_weeks - acquired  # weeks each customer is observed after acquisition
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, n)
    pdrop = rng.beta(prm.a, prm.b, n)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, n)

    # Repeat purchases: a Poisson process until the J-th purchase, after which the customer
    # has dropped out; J ~ Geometric(p) on 1, 2, ...
    j = rng.geometric(np.clip(pdrop, 1e-12, 1.0))
    n_poisson = rng.poisson(lam * horizon)
    n_repeat = np.minimum(n_poisson, j)
    # Dropout time: the J-th purchase time. When J <= n_poisson it is inside the window
    # (computed below from the event times); otherwise it is past the end: T + Gamma(J - n, lam).
    died_inside = j <= n_poisson
    late = ~died_inside
    dropout = np.full(n, np.inf)
    extra = np.maximum(j - n_poisson, 1)
    dropout[late] = (
        acquired[late] + horizon[late] + rng.gamma(extra[late], 1.0 / np.maximum(lam[late], 1e-300))
    )

    # Event times: n_poisson uniforms on the window, sorted per customer; keep the first n_repeat.
    owner = np.repeat(np.arange(n), n_poisson)
    u = rng.random(owner.size) * horizon[owner]
    order = np.lexsort((u, owner))
    u = u[order]
    starts = np.concatenate(([0], np.cumsum(n_poisson)[:-1]))
    rank = np.arange(owner.size) - starts[owner]
    keep = rank < n_repeat[owner]
    last_idx = starts + j - 1  # index of the J-th event for those who die inside
    inside = np.flatnonzero(died_inside)
    dropout[inside] = acquired[inside] + u[last_idx[inside]]
    rep_owner = owner[keep]
    rep_time = acquired[rep_owner] + u[keep]

    cust = np.concatenate([np.arange(n), rep_owner])
    t_week = np.concatenate([acquired, rep_time])
    m = cust.size
    spend = rng.gamma(prm.p, 1.0 / nu[cust])

    # Needs: category, channel, basket, weekday and discount from the customer's segment.
    seg = segment[cust]
    cat_probs = np.array([s.category_mix for s in SEGMENTS])
    chan_probs = np.array([s.channel_mix for s in SEGMENTS])
    category = _draw_categorical(rng, cat_probs[seg])
    channel = _draw_categorical(rng, chan_probs[seg])
    basket = np.array([s.basket for s in SEGMENTS])[seg]
    quantity = 1 + rng.poisson(basket - 1.0)
    weekend_share = np.array([s.weekend for s in SEGMENTS])[seg]
    discount = rng.random(m) < np.array([s.discount for s in SEGMENTS])[seg]
    # Shift each order to a weekend or weekday day of its week, keeping the week.
    day = np.floor(t_week * 7.0)
    base_week_day = (day + prm.start.weekday()) % 7  # 0 = Monday
    want_weekend = rng.random(m) < weekend_share
    target_day = np.where(want_weekend, 5 + rng.integers(0, 2, m), rng.integers(0, 5, m))
    day = day - base_week_day + target_day
    seconds = np.floor((day + rng.uniform(8 / 24, 22 / 24, m)) * 86400.0)
    seconds = np.clip(seconds, 0, prm.observation_weeks * 7 * 86400 - 1)

    prods = _products(rng, prm.n_products)
    per_cat = len(CATEGORIES)
    slot = rng.integers(0, prm.n_products // per_cat, m)
    product_idx = slot * per_cat + category
    margin = prods["margin"][product_idx]
    amount = np.round(spend, 2)
    cost = np.round(amount * (1.0 - margin) * np.where(discount, 1.1, 1.0), 2)

    order_id = np.arange(m)
    # Returns: a share of orders is returned a few days later (negative amount and quantity).
    returned = rng.random(m) < prm.return_rate
    ridx = np.flatnonzero(returned)
    r_seconds = np.minimum(
        seconds[ridx] + rng.integers(2, 20, ridx.size) * 86400,
        prm.observation_weeks * 7 * 86400 - 1,
    )

    start_us = np.datetime64(prm.start, "us")

    def ts(sec: np.ndarray) -> np.ndarray:
        return start_us + (sec * 1_000_000).astype("timedelta64[us]")

    all_idx = np.concatenate([np.arange(m), ridx])
    sign = np.concatenate([np.ones(m), -np.ones(ridx.size)])
    ids = _codes("C", np.arange(n), 7)
    tx_ids = ids.take(pa.array(cust[all_idx]))
    if identities:
        records, record_truth = simulate_identities(n, seed)
        if split_orders:
            tx_ids = _split_orders(records, record_truth, n, cust[all_idx], channel[all_idx])
    tx = pa.table(
        {
            "customer_id": tx_ids,
            "timestamp": pa.array(ts(np.concatenate([seconds, r_seconds]))),
            "amount": amount[all_idx] * sign,
            "order_id": _codes("O", order_id[all_idx], 9),
            "product_id": _labels(prods["product_id"], product_idx[all_idx]),
            "category": _labels(CATEGORIES, category[all_idx]),
            "quantity": (quantity[all_idx] * sign).astype(np.float64),
            "cost": cost[all_idx] * sign,
            "channel": _labels(CHANNELS, channel[all_idx]),
            "discount": discount[all_idx],
        }
    )
    tx = tx.sort_by([("timestamp", "ascending"), ("order_id", "ascending")])

    main_channel = np.argmax(chan_probs[segment], axis=1)
    cost_to_serve = np.round(CHANNEL_COST[main_channel] * rng.uniform(0.7, 1.3, n), 2)
    customers = pa.table(
        {
            "customer_id": ids,
            "signup_date": pa.array(ts(seconds[:n])),  # the first purchase
            "cost_to_serve": cost_to_serve,
            "customer_type": np.where(rng.random(n) < 0.03, "reseller", "end_user"),
        }
    )
    products = pa.table(
        {
            "product_id": prods["product_id"],
            "category": np.array(CATEGORIES)[prods["category_idx"]],
            "price": prods["price"],
            "cost": np.round(prods["price"] * (1 - prods["margin"]), 2),
        }
    )
    alive_at_end = dropout > prm.observation_weeks
    clv_12m = _true_clv(prm, segment, lam, pdrop, nu, alive_at_end, cost_to_serve)
    end = prm.start + timedelta(weeks=prm.observation_weeks)
    dropout_ts = np.where(np.isfinite(dropout), dropout, np.nan)
    truth = pa.table(
        {
            "customer_id": ids,
            "segment": np.array([s.name for s in SEGMENTS])[segment],
            "purchase_rate_per_week": lam,
            "dropout_probability": pdrop,
            "spend_nu": nu,
            "acquired_week": acquired,
            "dropout_week": dropout_ts,
            "alive_at_end": alive_at_end,
            "repeat_purchases": n_repeat,
            "clv_12m": clv_12m,
        }
    )
    files = {
        "transactions": out / "transactions.parquet",
        "customers": out / "customers.parquet",
        "products": out / "products.parquet",
        "truth": out / "truth.parquet",
    }
    for key, table in (
        ("transactions", tx),
        ("customers", customers),
        ("products", products),
        ("truth", truth),
    ):
        pq.write_table(table, files[key], compression="zstd")
    if identities:
        files["identities"] = out / "identities.parquet"
        files["identity_truth"] = out / "identity_truth.parquet"
        pq.write_table(records, files["identities"], compression="zstd")
        pq.write_table(record_truth, files["identity_truth"], compression="zstd")
    (out / "README.txt").write_text(
        f"Simulated shop: {n} customers, seed {seed}, weeks from {prm.start:%Y-%m-%d} to "
        f"{end:%Y-%m-%d}.\n truth.parquet: each customer's true needs segment, purchase rate "
        "(per week), dropout probability, dropout week (weeks since start; drawn past the "
        "window for customers still alive at its end, see alive_at_end), spend parameter nu and "
        "clv_12m, the true expected CLV over the next 12 months at 10% a year (0 once gone).\n"
    )
    return SimulationResult(out, n, tx.num_rows, products.num_rows, files)


# -- identity records ------------------------------------------------------------------------
# A share of the shop's customers appear under several source records (a loyalty card in the
# store, a web account, phone orders), with the noise real customer files carry. Drawn from
# their own random stream, so the shop's other files are the same with or without them.

GIVEN_NAMES = (
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william",
    "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
    "charles", "karen", "christopher", "nancy", "daniel", "lisa", "matthew", "betty", "anthony",
    "margaret", "mark", "sandra", "donald", "ashley", "steven", "kimberly", "paul", "emily",
    "andrew", "donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda", "brian",
    "dorothy", "george", "melissa", "timothy", "deborah", "ronald", "stephanie", "edward",
    "rebecca", "jason", "sharon", "jeffrey", "laura", "ryan", "cynthia", "jacob", "kathleen",
    "gary", "amy", "nicholas", "angela", "eric", "shirley", "jonathan", "anna", "stephen",
    "brenda", "larry", "pamela", "justin", "emma", "scott", "nicole", "brandon", "helen",
    "benjamin", "samantha", "samuel", "katherine", "gregory", "christine", "alexander", "debra",
    "frank", "rachel", "patrick", "carolyn", "raymond", "janet", "jack", "catherine", "dennis",
    "maria", "jerry", "heather", "tyler", "diane", "aaron", "ruth", "jose", "julie", "adam",
    "olivia", "nathan", "joyce", "henry", "virginia", "douglas", "victoria", "zachary", "kelly",
    "peter", "lauren", "kyle", "christina", "ethan", "joan", "walter", "evelyn", "noah", "judith",
    "zoe", "chloe", "amelia", "isla", "oliver", "harry", "george", "leo", "freya", "ivy",
)  # fmt: skip
SURNAMES = (
    "smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "robinson",
    "wright", "thompson", "evans", "walker", "white", "roberts", "green", "hall", "wood",
    "jackson", "clarke", "patel", "khan", "lewis", "james", "phillips", "mason", "mitchell",
    "rose", "davis", "rodriguez", "cox", "alexander", "garden", "campbell", "johnston", "moore",
    "smyth", "oneill", "doherty", "stewart", "quinn", "murphy", "graham", "mclaughlin", "hamilton",
    "murray", "hughes", "robertson", "thomson", "scott", "macdonald", "reid", "clark", "ross",
    "young", "watson", "paterson", "morrison", "harris", "martin", "king", "lee", "baker",
    "turner", "hill", "cooper", "ward", "morris", "edwards", "collins", "bell", "parker", "bennett",
    "price", "griffiths", "kelly", "simpson", "marshall", "ellis", "shaw", "lloyd", "cook",
    "richardson", "chapman", "adams", "webb", "rogers", "gray", "palmer", "fox", "holmes",
    "mills", "barnes", "knight", "matthews", "butler", "harrison", "fisher", "russell", "stevens",
    "pearson", "dixon", "hunt", "graves", "nowak", "kowalski", "muller", "schmidt", "rossi",
    "ferrari", "silva", "santos", "novak", "horvat", "nguyen", "tran", "kim", "park", "chen",
    "wang", "li", "zhang", "singh", "kaur", "ahmed", "ali", "hussain", "begum", "rahman",
    "okafor", "adeyemi", "mensah", "osei", "fernandez", "lopez", "gonzalez", "perez", "sanchez",
)  # fmt: skip
STREETS = (
    "high", "station", "main", "park", "church", "london", "victoria", "green", "manor",
    "kings", "queens", "new", "grange", "mill", "school", "north", "south", "west", "east",
    "springfield", "highfield", "windsor", "albert", "york", "alexandra", "chester", "broad",
    "the green", "orchard", "meadow", "willow", "oak", "elm", "ash", "beech", "cedar", "maple",
    "castle", "bridge", "market", "chapel", "farm", "hill", "lake", "river", "forest", "heath",
    "cherry", "rose", "clarendon", "stanley", "cromwell", "nelson", "wellington", "marlborough",
)  # fmt: skip
STREET_KINDS = ("street", "road", "lane", "avenue", "close", "drive", "way", "crescent")
CITIES = (
    ("london", "N"), ("manchester", "M"), ("birmingham", "B"), ("leeds", "LS"),
    ("glasgow", "G"), ("liverpool", "L"), ("bristol", "BS"), ("sheffield", "S"),
    ("edinburgh", "EH"), ("cardiff", "CF"), ("leicester", "LE"), ("nottingham", "NG"),
    ("newcastle", "NE"), ("brighton", "BN"), ("oxford", "OX"), ("cambridge", "CB"),
    ("york", "YO"), ("norwich", "NR"), ("exeter", "EX"), ("belfast", "BT"),
)  # fmt: skip
MAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "icloud.com",
    "btinternet.com",
)
#: Sources of identity records and the share of people whose first record is in each.
IDENTITY_SOURCES = ("pos", "web", "phone")
IDENTITY_SOURCE_SHARE = (0.40, 0.45, 0.15)
#: The shop's own phone number, typed into loyalty-card forms at the till.
SHOP_PHONE = "+44 20 7946 0000"


def _typo(rng: np.random.Generator, word: str) -> str:
    """One keyboard slip: a letter dropped, doubled, swapped with the next or replaced."""
    if len(word) < 3:
        return word
    i = int(rng.integers(0, len(word) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(0, 26))] + word[i + 1 :]


def _overlap(a: dict[str, str | None], b: dict[str, str | None]) -> bool:
    """Whether two records of a person share an identifier or a postcode (both present)."""
    for key in ("email", "phone", "card", "postcode"):
        x, y = a.get(key), b.get(key)
        if x and y and x.lower() == y.lower() and y not in (SHOP_PHONE, "test@test.com"):
            return True
    return False


def _phone_text(rng: np.random.Generator, digits: str) -> str:
    """A UK mobile number (``07`` + 9 digits) written in one of the ways people write it."""
    style = int(rng.integers(0, 4))
    if style == 0:
        return f"0{digits[1:5]} {digits[5:]}"
    if style == 1:
        return f"+44 {digits[1:5]} {digits[5:]}"
    if style == 2:
        return f"({digits[:5]}) {digits[5:8]}-{digits[8:]}"
    return digits


#: The identity source whose record an order of each channel (``CHANNELS``) carries.
CHANNEL_SOURCE = ("web", "pos", "web", "phone")


def _split_orders(
    records: pa.Table,
    record_truth: pa.Table,
    n_customers: int,
    person: np.ndarray,
    channel: np.ndarray,
) -> pa.Array:
    """The customer id each transaction row carries when orders are split over records.

    A row goes to the person's record in the source of its channel (``CHANNEL_SOURCE``) when
    the person has one, else to the person's first record (the ``C...`` id).
    """
    cids = np.array([f"C{i:07d}" for i in range(n_customers)], dtype=object)
    by_source = {s: cids.copy() for s in IDENTITY_SOURCES}
    number = {f"C{i:07d}": i for i in range(n_customers)}
    for src, cid, who in zip(
        records.column("source").to_pylist(),
        records.column("customer_id").to_pylist(),
        record_truth.column("person").to_pylist(),
        strict=True,
    ):
        by_source[src][number[who]] = cid
    out = cids[person]
    for ch, src in enumerate(CHANNEL_SOURCE):
        rows = channel == ch
        out[rows] = by_source[src][person[rows]]
    return pa.array(out, pa.string())


def simulate_identities(n_customers: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Identity records of the shop's customers and, for each record, the true person.

    Every customer has a first record (its ``customer_id`` is the transactions' id); 25% have
    one more record in another source and 10% two more, each with its own source id. Noise:
    a second e-mail address on 30% of later web records, typos in a name on 8% of later
    records, a moved address on 8%, missing fields, phone numbers in four formats, e-mail in
    mixed case, placeholders (``test@test.com``, ``0000000000``) on 1% of records and the
    shop's own phone number on 2% of loyalty-card records.

    Parameters
    ----------
    n_customers
        Customers of the shop (``C0000000`` ...).
    seed
        The shop's seed; the records come from a random stream of their own.

    Returns
    -------
    tuple of pyarrow.Table
        The records (the ``identities`` contract's columns) and the truth (``source``,
        ``record_id``, ``person``: the customer's transaction id).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    n = n_customers
    given = rng.integers(0, len(GIVEN_NAMES), n)
    surname = rng.integers(0, len(SURNAMES), n)
    birth = np.datetime64("1940-01-01") + rng.integers(0, 365 * 62, n).astype("timedelta64[D]")
    city = rng.integers(0, len(CITIES), n)
    street = rng.integers(0, len(STREETS), n)
    kind = rng.integers(0, len(STREET_KINDS), n)
    house = rng.integers(1, 200, n)
    district = rng.integers(1, 30, n)
    sector = rng.integers(0, 10, n)
    unit = rng.integers(0, 26 * 26, n)
    mail_domain = rng.integers(0, len(MAIL_DOMAINS), n)
    alt_domain = rng.integers(0, len(MAIL_DOMAINS), n)
    # Unique identifiers per person: a bijection of the customer number.
    phone_digits = (np.arange(n, dtype=np.int64) * 7919 + int(rng.integers(0, 10**8))) % 10**9
    card_digits = (np.arange(n, dtype=np.int64) * 104729 + int(rng.integers(0, 10**7))) % 10**8
    first = rng.choice(3, size=n, p=np.array(IDENTITY_SOURCE_SHARE))
    extra = rng.choice(3, size=n, p=[0.65, 0.25, 0.10])

    cols: dict[str, list[str | None]] = {
        c: []
        for c in (
            "source", "record_id", "customer_id", "email", "phone", "card", "given_name",
            "surname", "date_of_birth", "street_number", "address", "city", "postcode",
        )
    }  # fmt: skip
    truth_person: list[str] = []
    counters = {s: 0 for s in IDENTITY_SOURCES}
    letters = "ABCDEFGHJKLMNPQRSTUVWXY"

    def address_of(i: int, moved: bool) -> tuple[str, str, str, str]:
        s, k, h, c = street[i], kind[i], house[i], city[i]
        d, sec, u = district[i], sector[i], unit[i]
        if moved:
            s, k, h = (
                rng.integers(0, len(STREETS)),
                rng.integers(0, len(STREET_KINDS)),
                rng.integers(1, 200),
            )
            d, sec, u = rng.integers(1, 30), rng.integers(0, 10), rng.integers(0, 26 * 26)
        name, area = CITIES[int(c)]
        code = f"{area}{int(d)} {int(sec)}{letters[int(u) % 23]}{letters[int(u) // 26 % 23]}"
        return str(int(h)), f"{STREETS[int(s)]} {STREET_KINDS[int(k)]}", name.title(), code

    for i in range(n):
        order = [int(first[i])] + [int(x) for x in rng.permutation(3) if x != first[i]]
        rows: list[dict[str, str | None]] = []
        for position, src_index in enumerate(order[: 1 + int(extra[i])]):
            source = IDENTITY_SOURCES[src_index]
            later = position > 0
            counters[source] += 1
            record_id = f"{source[0].upper()}{counters[source]:08d}"
            g, sn = GIVEN_NAMES[int(given[i])], SURNAMES[int(surname[i])]
            if later and rng.random() < 0.08:
                if rng.random() < 0.5:
                    g = _typo(rng, g)
                else:
                    sn = _typo(rng, sn)
            number, street_name, city_name, postcode = address_of(i, later and rng.random() < 0.08)
            g0, s0 = GIVEN_NAMES[int(given[i])], SURNAMES[int(surname[i])]
            email1 = f"{g0}.{s0}{i}@{MAIL_DOMAINS[int(mail_domain[i])]}"
            email2 = f"{g0[0]}{s0}.{i}@{MAIL_DOMAINS[int(alt_domain[i])]}"
            phone = _phone_text(rng, f"07{int(phone_digits[i]):09d}")
            c_hi, c_lo = divmod(int(card_digits[i]), 10**4)
            card = f"6331 {c_hi:04d} {c_lo:04d}"
            row: dict[str, str | None] = dict.fromkeys(cols)
            row.update(source=source, record_id=record_id, given_name=g.title(), surname=sn.title())
            row["customer_id"] = f"C{i:07d}" if not later else f"{source.upper()}-{record_id}"
            u = rng.random(8)
            if source == "pos":
                row["card"] = card
                if u[0] < 0.9:  # the till asks for house number and postcode
                    row.update(street_number=number, postcode=postcode)
                row["phone"] = SHOP_PHONE if u[1] < 0.02 else (phone if u[1] < 0.5 else None)
                row["email"] = email1 if u[2] < 0.3 else None
            elif source == "web":
                mail = email2 if later and u[0] < 0.3 else email1
                row["email"] = mail.upper() if u[1] < 0.1 else mail
                if u[2] < 0.01:
                    row["email"] = "test@test.com"
                if u[3] < 0.9:
                    row.update(
                        street_number=number, address=street_name, city=city_name, postcode=postcode
                    )
                row["date_of_birth"] = str(birth[i]) if u[4] < 0.6 else None
                row["phone"] = phone if u[5] < 0.5 else None
            else:
                row["phone"] = "0000000000" if u[0] < 0.01 else phone
                if u[1] < 0.95:
                    row.update(
                        street_number=number, address=street_name, city=city_name, postcode=postcode
                    )
                row["email"] = email1 if u[2] < 0.3 else None
                row["date_of_birth"] = str(birth[i]) if u[3] < 0.3 else None
            if later and u[6] < 0.05:
                row["given_name"] = None
            if later and not _overlap(rows[0], row):
                # People give their phone number on every channel: the records that would
                # share nothing at all carry it (on the first record too).
                rows[0]["phone"] = rows[0]["phone"] or phone
                row["phone"] = phone
            rows.append(row)
        for row in rows:
            for key, value in row.items():
                cols[key].append(value)
            truth_person.append(f"C{i:07d}")
    records = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    truth = pa.table(
        {
            "source": records.column("source"),
            "record_id": records.column("record_id"),
            "person": pa.array(truth_person, pa.string()),
        }
    )
    return records, truth


# -- a campaign after the shop's window ------------------------------------------------------


@dataclass(frozen=True)
class CampaignResult:
    """A simulated campaign's purchases and its true effect."""

    transactions: pa.Table
    #: True expected extra revenue per treated customer (the effect an analysis estimates).
    true_revenue_lift: float
    #: True expected extra share of treated customers who buy in the window.
    true_conversion_lift: float
    start: datetime
    weeks: int


def simulate_campaign(
    truth: Path,
    treated: Sequence[str],
    *,
    weeks: int = 8,
    response: float = 0.12,
    seed: int = 0,
    params: ShopParams | None = None,
) -> CampaignResult:
    """Purchases in the ``weeks`` after the shop's window, with a campaign's known effect.

    Every customer still alive at the end of the window buys as before: a Poisson process
    at their true rate λ that stops at each purchase with their dropout probability p (the
    BG/NBD story the shop was drawn from), each purchase ~ Gamma(p_gg, ν). A treated customer
    still alive also responds with probability ``response`` by one extra purchase (the
    offer), drawn the same way; customers already gone never respond. So the true effect is
    known: ``response`` × (share of treated customers alive) × their mean spend.

    Parameters
    ----------
    truth
        The shop's ``truth.parquet``.
    treated
        Customer ids (the shop's ``C...`` ids, one per person) who received the campaign.
    weeks
        Length of the campaign window in weeks, starting the day after the shop's window.
    response
        Probability that a treated, living customer buys once more because of the offer.
    seed
        Seed of the campaign's own random stream.
    params
        The shop's generative parameters (for the spend shape and the window's end).

    Returns
    -------
    CampaignResult
    """
    if not 0.0 <= response <= 1.0:
        raise UsageError(f"response {response} must be a probability between 0 and 1.")
    if weeks < 1:
        raise UsageError(f"weeks {weeks} must be at least 1.")
    prm = params or ShopParams()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    columns = ["customer_id", "purchase_rate_per_week", "dropout_probability", "spend_nu"]
    t = pq.read_table(truth, columns=[*columns, "alive_at_end"])
    ids = np.array(t.column("customer_id").to_pylist(), dtype=object)
    lam = t.column("purchase_rate_per_week").to_numpy()
    pdrop = t.column("dropout_probability").to_numpy()
    nu = t.column("spend_nu").to_numpy()
    alive = t.column("alive_at_end").to_numpy(zero_copy_only=False).astype(bool)
    is_treated = np.isin(ids, np.array(list(treated), dtype=object))
    # Baseline purchases: Poisson(λ·weeks) events, of which those before the J-th (dropout).
    n_events = np.where(alive, rng.poisson(lam * weeks), 0)
    j = rng.geometric(np.clip(pdrop, 1e-12, 1.0))
    n_base = np.minimum(n_events, j)
    n_extra = (alive & is_treated & (rng.random(ids.size) < response)).astype(np.int64)
    counts = n_base + n_extra
    owner = np.repeat(np.arange(ids.size), counts)
    spend = np.round(rng.gamma(prm.p, 1.0 / nu[owner]), 2)
    end = prm.start + timedelta(weeks=prm.observation_weeks)
    start = datetime(end.year, end.month, end.day)
    seconds = rng.uniform(0, weeks * 7 * 86400 - 1, owner.size)
    stamps = np.datetime64(start, "us") + (seconds * 1e6).astype("timedelta64[us]")
    table = pa.table(
        {
            "customer_id": pa.array(ids[owner].tolist(), pa.string()),
            "timestamp": pa.array(stamps),
            "amount": spend,
            "order_id": pa.array([f"K{i:09d}" for i in range(owner.size)], pa.string()),
        }
    ).sort_by([("timestamp", "ascending")])
    mean_spend = prm.p / nu
    n_treated = max(int(is_treated.sum()), 1)
    treated_alive = alive & is_treated
    # Conversion lift: the offer converts a living customer who would not have bought, i.e.
    # who had no event in the window (J >= 1, so no purchase iff no event): exp(−λ·weeks).
    conv = float((response * np.exp(-lam * weeks))[treated_alive].sum() / n_treated)
    return CampaignResult(
        transactions=table,
        true_revenue_lift=float(response * mean_spend[treated_alive].sum() / n_treated),
        true_conversion_lift=conv,
        start=start,
        weeks=weeks,
    )
