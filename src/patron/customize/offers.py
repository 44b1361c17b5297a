"""The offer catalogue: what can be offered, to whom, on which channels, at what cost and value.

Offers live in the operational store (table ``offers``, one JSON definition per offer) so that
the next best action reads them on the request path. They are loaded from a YAML or CSV file
(:func:`load_offers`, ``patron offers load``) and edited one at a time
(:func:`create_offer`, :func:`update_offer`, :func:`delete_offer`), always checked first and
written in one transaction: a file with one bad offer changes nothing.

An offer's eligibility is a condition in the ``--map`` language
(:mod:`patron.customize.eligibility`) over the customer's published profile
(:data:`PROFILE_ATTRIBUTES`), the facts and preferences they told us (any attribute of the
question bank or already recorded), ``days_since_purchase`` and ``recent_categories``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.customize.eligibility import Eligibility, check_eligibility
from patron.errors import DataError, NotFoundError, UsageError
from patron.interact.vocabulary import CHANNELS, PURPOSES, utc_now
from patron.store import Store
from patron.store.schema import facts, offers, questions, store_meta
from patron.yamltext import parse_yaml

__all__ = [
    "OFFER_KINDS",
    "PROFILE_ATTRIBUTES",
    "Offer",
    "catalogue",
    "create_offer",
    "delete_offer",
    "eligibility_attributes",
    "get_offer",
    "list_offers",
    "load_offers",
    "offer_from_dict",
    "read_offer_file",
    "update_offer",
]

#: What an offer does for the relationship.
OFFER_KINDS = ("cross-sell", "up-sell", "reactivation", "retention", "service", "loyalty")
#: Profile attributes an eligibility condition may use (from the live publication).
PROFILE_ATTRIBUTES = (
    "customer_type",
    "clv",
    "clv_low",
    "clv_high",
    "p_alive",
    "expected_purchases",
    "tier",
    "loyalty",
    "segment",
    "time_zone",
    "days_since_purchase",
    "recent_categories",
)
#: store_meta key changed on every catalogue change (readers cache the parsed catalogue by it).
VERSION_KEY = "offers_version"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Offer:
    """One offer of the catalogue.

    Parameters
    ----------
    id, name
        A short stable id (letters, digits, ``_ . -``) and a name for people.
    kind
        One of :data:`OFFER_KINDS`.
    product, category
        What is offered (a product id, or a category); the price quote is per product (or
        category when no product is given).
    eligibility
        A condition in the ``--map`` language; ``None``: everyone.
    channels
        Where the offer can be made.
    contact_cost
        Cost of one contact per channel (currency per contact; channels not listed cost 0).
    margin, margin_rate
        Margin of one acceptance (currency), or its share of the price.
    price
        The price shown (currency); the quote keeps it the same across channels.
    valid_from, valid_to
        First and last day the offer may be made (inclusive).
    max_per_customer
        At most this many times per customer (offers made, i.e. decisions sent).
    consent_purpose
        The consent purpose it needs (``marketing`` unless a ``service`` offer).
    weight
        Business weight multiplying the expected value in the ranking (1: neutral).
    response_rate
        Probability that a customer takes the offer (a prior, before any experiment).
    uplift, uplift_by_segment
        The incremental response an experiment measured (overall, and per needs segment);
        used instead of ``response_rate`` where known.
    """

    id: str
    name: str
    kind: str
    product: str | None = None
    category: str | None = None
    eligibility: str | None = None
    channels: tuple[str, ...] = ("email",)
    contact_cost: Mapping[str, float] = field(default_factory=dict)
    margin: float | None = None
    margin_rate: float | None = None
    price: float | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    max_per_customer: int | None = None
    consent_purpose: str = "marketing"
    weight: float = 1.0
    response_rate: float | None = None
    uplift: float | None = None
    uplift_by_segment: Mapping[str, float] = field(default_factory=dict)

    @property
    def item(self) -> str | None:
        """What a price quote is for: the product, else the category."""
        return self.product or self.category

    def unit_margin(self, price: float | None = None) -> float:
        """Margin of one acceptance at ``price`` (default: the offer's price), currency."""
        shown = self.price if price is None else price
        if self.margin_rate is not None and shown is not None:
            return self.margin_rate * shown
        base = self.margin or 0.0
        if price is not None and self.price is not None:
            return base + (price - self.price)  # an aligned price moves the margin with it
        return base

    def cost(self, channel: str) -> float:
        """Cost of one contact on ``channel`` (currency)."""
        return float(self.contact_cost.get(channel, 0.0))

    def valid_on(self, day: date) -> bool:
        """Whether the offer may be made on ``day``."""
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
        )

    def response(self, segment: str | None) -> tuple[float, str]:
        """The response probability used, and where it came from (``uplift``/``prior``)."""
        if segment is not None and segment in self.uplift_by_segment:
            return float(self.uplift_by_segment[segment]), f"uplift measured for {segment}"
        if self.uplift is not None:
            return float(self.uplift), "uplift measured"
        return float(self.response_rate or 0.0), "response rate (prior)"

    def rule(self, known: Collection[str] | None = None) -> Eligibility | None:
        """The parsed eligibility condition (None: everyone)."""
        if not self.eligibility:
            return None
        if known is None:
            return _rule(self.eligibility, f"offer {self.id!r} eligibility")
        return check_eligibility(self.eligibility, known, what=f"offer {self.id!r} eligibility")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (dates in ISO 8601); what is stored and shown."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


_FIELDS = tuple(f.name for f in fields(Offer))


@lru_cache(maxsize=4096)
def _rule(text: str, what: str) -> Eligibility:
    return check_eligibility(text, None, what=what)


_NUMBERS = ("margin", "margin_rate", "price", "weight", "response_rate", "uplift")


def _as_number(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, not {value!r}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UsageError(f"{what} must be a finite number, not {value!r}.")
    return number


def _as_date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} {value!r} is not a date (YYYY-MM-DD).") from None


def _as_mapping(value: Any, what: str) -> dict[str, Any]:
    """A mapping, or text ``a=1; b=2`` (CSV cells)."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, str):
        out: dict[str, Any] = {}
        for part in re.split(r"[;|]", value):
            if not part.strip():
                continue
            key, sep, number = part.partition("=")
            if not sep:
                key, sep, number = part.partition(":")
            if not sep:
                raise UsageError(f"{what} {value!r}: write each entry as NAME=NUMBER.")
            out[key.strip()] = number.strip()
        return out
    raise UsageError(f"{what} must be a mapping (NAME: NUMBER), not {value!r}.")


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[;|,]", value) if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    return [str(value)]


def offer_from_dict(
    row: Mapping[str, Any], *, known: Collection[str] | None = None, where: str = ""
) -> Offer:
    """Check one offer's fields and build it.

    Parameters
    ----------
    row
        Field name → value (YAML values, or CSV text).
    known
        The attribute names an eligibility condition may use (``None``: not checked).
    where
        Where the row came from, for messages (``offers.yaml, offer 3``).

    Raises
    ------
    UsageError
        Unknown fields, a missing id, name or kind, an unknown kind, channel or purpose,
        numbers that are not numbers or out of range (negative costs, a response rate
        outside 0..1), a validity that ends before it starts, no margin, or an eligibility
        condition that does not parse or names an unknown attribute. The message names the
        offer (and where it came from) and, for the condition, the column.
    """
    data = {str(k).strip(): v for k, v in row.items() if not (v is None and k is None)}
    oid = str(data.get("id") or "").strip()
    label = f"{where}: " if where else ""
    who = f"{label}offer {oid!r}" if oid else f"{label}an offer"
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise UsageError(
            f"{who}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(_FIELDS)}."
        )
    if not oid:
        raise UsageError(f"{who} has no id; give each offer an id (letters, digits, _ . -).")
    if not _ID.match(oid):
        raise UsageError(f"{who}: the id may use letters, digits, _ . - (at most 64 characters).")
    name = str(data.get("name") or "").strip()
    if not name:
        raise UsageError(f"{who} has no name.")
    kind = str(data.get("kind") or "").strip()
    if kind not in OFFER_KINDS:
        raise UsageError(f"{who}: kind {kind!r} is not one of {', '.join(OFFER_KINDS)}.")
    channels = tuple(_as_list(data.get("channels"))) or ("email",)
    for ch in channels:
        if ch not in CHANNELS:
            raise UsageError(f"{who}: channel {ch!r} is not one of {', '.join(CHANNELS)}.")
    costs: dict[str, float] = {}
    for ch, value in _as_mapping(data.get("contact_cost"), f"{who}: contact_cost").items():
        if ch not in channels:
            raise UsageError(
                f"{who}: contact_cost for {ch!r}, which is not one of its channels "
                f"({', '.join(channels)})."
            )
        cost = _as_number(value, f"{who}: contact_cost for {ch}")
        if cost is None or cost < 0:
            raise UsageError(f"{who}: contact_cost for {ch} must be 0 or more, not {value!r}.")
        costs[ch] = cost
    numbers = {key: _as_number(data.get(key), f"{who}: {key}") for key in _NUMBERS}
    if numbers["price"] is not None and numbers["price"] < 0:
        raise UsageError(f"{who}: price must be 0 or more, not {numbers['price']:g}.")
    weight = numbers["weight"] if numbers["weight"] is not None else 1.0
    if weight < 0:
        raise UsageError(f"{who}: weight must be 0 or more, not {weight:g}.")
    rate = numbers["response_rate"]
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise UsageError(f"{who}: response_rate must be between 0 and 1, not {rate:g}.")
    for key in ("uplift", "margin_rate"):
        value = numbers[key]
        if value is not None and not -1.0 <= value <= 1.0:
            raise UsageError(f"{who}: {key} must be between -1 and 1, not {value:g}.")
    if numbers["margin"] is None and (numbers["margin_rate"] is None or numbers["price"] is None):
        raise UsageError(
            f"{who}: give its margin (currency per acceptance), or margin_rate and price."
        )
    by_segment: dict[str, float] = {}
    for seg, value in _as_mapping(data.get("uplift_by_segment"), f"{who}: uplift").items():
        number = _as_number(value, f"{who}: uplift_by_segment for {seg}")
        if number is None or not -1.0 <= number <= 1.0:
            raise UsageError(
                f"{who}: uplift_by_segment for {seg} must be between -1 and 1, not {value!r}."
            )
        by_segment[seg] = number
    start = _as_date(data.get("valid_from"), f"{who}: valid_from")
    end = _as_date(data.get("valid_to"), f"{who}: valid_to")
    if start is not None and end is not None and end < start:
        raise UsageError(f"{who}: valid_to {end} is before valid_from {start}.")
    limit = data.get("max_per_customer")
    if limit is None or limit == "":
        max_n = None
    else:
        try:
            max_n = int(str(limit))
        except ValueError:
            raise UsageError(
                f"{who}: max_per_customer must be a whole number, not {limit!r}."
            ) from None
        if max_n < 1:
            raise UsageError(f"{who}: max_per_customer must be at least 1, not {max_n}.")
    purpose = str(data.get("consent_purpose") or ("service" if kind == "service" else "marketing"))
    if purpose not in PURPOSES:
        raise UsageError(f"{who}: consent_purpose {purpose!r} is not one of {', '.join(PURPOSES)}.")
    text = data.get("eligibility")
    eligibility = str(text).strip() if text not in (None, "") else None
    offer = Offer(
        id=oid,
        name=name,
        kind=kind,
        product=str(data["product"]).strip() if data.get("product") not in (None, "") else None,
        category=(
            str(data["category"]).strip() if data.get("category") not in (None, "") else None
        ),
        eligibility=eligibility,
        channels=channels,
        contact_cost=costs,
        margin=numbers["margin"],
        margin_rate=numbers["margin_rate"],
        price=numbers["price"],
        valid_from=start,
        valid_to=end,
        max_per_customer=max_n,
        consent_purpose=purpose,
        weight=weight,
        response_rate=rate,
        uplift=numbers["uplift"],
        uplift_by_segment=by_segment,
    )
    if eligibility is not None:
        check_eligibility(eligibility, known, what=f"{who} eligibility")
    return offer


def read_offer_file(path: Path) -> list[dict[str, Any]]:
    """The raw offer rows of a YAML (a list, or ``offers:`` a list) or CSV file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such offers file.") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the offers file as UTF-8.") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for row in reader:
            if None in row:
                raise DataError(f"{path}, line {reader.line_num}: more fields than the header has.")
            rows.append({k: (v if v != "" else None) for k, v in row.items()})
        return rows
    data = parse_yaml(text, str(path))
    if isinstance(data, Mapping) and set(data) <= {"offers", "version"}:
        data = data.get("offers")
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise DataError(f"{path}: an offers file is a list of offers (or `offers:` a list).")
    return [dict(r) for r in data]


def eligibility_attributes(conn: Connection) -> set[str]:
    """Every name an eligibility condition may use: the profile, facts, preferences."""
    names = {a.lower() for a in PROFILE_ATTRIBUTES}
    names |= {
        str(a).lower() for a in conn.execute(sa.select(questions.c.attribute).distinct()).scalars()
    }
    names |= {
        str(a).lower() for a in conn.execute(sa.select(facts.c.attribute).distinct()).scalars()
    }
    return names


def _bump(conn: Connection) -> None:
    conn.execute(sa.delete(store_meta).where(store_meta.c.key == VERSION_KEY))
    conn.execute(sa.insert(store_meta).values(key=VERSION_KEY, value=uuid.uuid4().hex))


def _write(conn: Connection, items: Iterable[Offer], source: str) -> None:
    now = utc_now()
    for offer in items:
        conn.execute(sa.delete(offers).where(offers.c.id == offer.id))
        conn.execute(
            sa.insert(offers).values(
                id=offer.id,
                kind=offer.kind,
                definition=json.dumps(offer.to_dict(), sort_keys=True),
                updated_at=now,
                source=source,
            )
        )


def _check_all(rows: Sequence[Mapping[str, Any]], known: set[str], where: str) -> list[Offer]:
    built: list[Offer] = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=1):
        offer = offer_from_dict(row, known=known, where=f"{where}, offer {i}")
        if offer.id in seen:
            raise UsageError(f"{where}, offer {i}: the id {offer.id!r} is given twice.")
        seen.add(offer.id)
        built.append(offer)
    return built


def load_offers(store: Store, path: Path, *, replace_all: bool = False) -> list[Offer]:
    """Load offers from a YAML or CSV file into the catalogue, in one transaction.

    Offers with a known id replace the stored ones; with ``replace_all`` the catalogue
    becomes exactly the file. Every offer is checked first; one bad offer changes nothing.

    Raises
    ------
    DataError
        The file is missing or unreadable, or an offer is invalid (the message names the
        file, the offer and the field or the column of the eligibility condition).
    """
    rows = read_offer_file(path)
    with store.write() as conn:
        try:
            built = _check_all(rows, eligibility_attributes(conn), str(path))
        except UsageError as exc:
            raise DataError(str(exc)) from None
        if replace_all:
            conn.execute(sa.delete(offers))
        _write(conn, built, source=str(path))
        _bump(conn)
    return built


def _from_json(text: str) -> Offer:
    return offer_from_dict(json.loads(text))


def list_offers(store: Store | Connection) -> list[Offer]:
    """Every offer, by id."""
    query = sa.select(offers.c.definition).order_by(offers.c.id)
    if isinstance(store, Connection):
        return [_from_json(t) for t in store.execute(query).scalars()]
    with store.read() as conn:
        return [_from_json(t) for t in conn.execute(query).scalars()]


def get_offer(store: Store | Connection, offer_id: str) -> Offer:
    """One offer; :class:`NotFoundError` when there is none with that id."""
    query = sa.select(offers.c.definition).where(offers.c.id == offer_id)
    if isinstance(store, Connection):
        text = store.execute(query).scalar_one_or_none()
    else:
        with store.read() as conn:
            text = conn.execute(query).scalar_one_or_none()
    if text is None:
        raise NotFoundError(f"No offer {offer_id!r} in the catalogue (see `patron offers list`).")
    return _from_json(text)


def create_offer(store: Store, row: Mapping[str, Any], *, source: str = "api") -> Offer:
    """Add one offer; :class:`UsageError` if it is invalid or its id is taken."""
    with store.write() as conn:
        offer = offer_from_dict(row, known=eligibility_attributes(conn))
        exists = conn.execute(sa.select(offers.c.id).where(offers.c.id == offer.id)).first()
        if exists is not None:
            raise UsageError(f"Offer {offer.id!r} exists already; update it instead.")
        _write(conn, [offer], source)
        _bump(conn)
    return offer


def update_offer(
    store: Store, offer_id: str, changes: Mapping[str, Any], *, source: str = "api"
) -> Offer:
    """Change some fields of an offer (checked as a whole; the id cannot change)."""
    if "id" in changes and changes["id"] != offer_id:
        raise UsageError(f"Offer {offer_id!r}: the id cannot change; create a new offer.")
    with store.write() as conn:
        current = get_offer(conn, offer_id).to_dict()
        current.update(changes)
        offer = offer_from_dict(current, known=eligibility_attributes(conn))
        _write(conn, [offer], source)
        _bump(conn)
    return offer


def delete_offer(store: Store, offer_id: str) -> None:
    """Remove an offer (decisions and quotes that name it stay, as history)."""
    with store.write() as conn:
        gone = conn.execute(sa.delete(offers).where(offers.c.id == offer_id)).rowcount
        if not gone:
            raise NotFoundError(
                f"No offer {offer_id!r} in the catalogue (see `patron offers list`)."
            )
        _bump(conn)


_CACHE: dict[str, tuple[Offer, ...]] = {}


def catalogue(conn: Connection, *, meta: Mapping[str, str] | None = None) -> tuple[Offer, ...]:
    """The catalogue, cached by the store's catalogue version (one small read per call).

    ``meta`` is ``store_meta`` already read in this transaction (then no read when cached).
    """
    version = (
        meta.get(VERSION_KEY)
        if meta is not None
        else conn.execute(
            sa.select(store_meta.c.value).where(store_meta.c.key == VERSION_KEY)
        ).scalar_one_or_none()
    )
    key = f"{id(conn.engine)}:{version}"
    found = _CACHE.get(key)
    if found is None:
        found = tuple(list_offers(conn))
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def with_changes(offer: Offer, **changes: Any) -> Offer:
    """A copy of an offer with some fields changed (and checked)."""
    return offer_from_dict({**offer.to_dict(), **changes}) if changes else replace(offer)
