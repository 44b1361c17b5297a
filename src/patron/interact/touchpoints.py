"""The touch-point log: every contact with a customer, append-only and idempotent.

A touch point carries an optional idempotency key: the same event sent twice (a client that
retries, a file loaded again) is stored once, also when two processes send it at the same
moment (the key is unique in the store and the insert skips a conflict).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from patron.errors import DataError, UsageError
from patron.interact.vocabulary import (
    CHANNELS,
    DIRECTIONS,
    KINDS,
    PURPOSES,
    check_choice,
    to_utc,
    utc_now,
)
from patron.store import Store
from patron.store.schema import touchpoints

__all__ = [
    "DEFAULT_PURPOSE",
    "LoadResult",
    "Touchpoint",
    "load_touchpoints",
    "log_touchpoint",
    "log_touchpoints",
    "recent_touchpoints",
]

#: The purpose a touch point has when none is given, by kind (None: not a contact).
DEFAULT_PURPOSE: dict[str, str | None] = {
    "purchase": None,
    "visit": None,
    "inquiry": "service",
    "complaint": "service",
    "service": "service",
    "offer_shown": "marketing",
    "offer_accepted": "marketing",
    "offer_declined": "marketing",
    "answer": "profiling",
    "question_declined": "profiling",
}
_LIMITS = {"customer_id": 128, "campaign": 128, "agent": 128, "idempotency_key": 200}


@dataclass(frozen=True)
class Touchpoint:
    """One contact with a customer.

    ``occurred_at`` defaults to now (UTC); an aware time is converted to UTC, a naive one is
    taken as UTC. ``purpose`` defaults by kind (:data:`DEFAULT_PURPOSE`).
    """

    customer_id: str
    channel: str
    kind: str
    direction: str = "inbound"
    occurred_at: datetime | None = None
    purpose: str | None = None
    campaign: str | None = None
    agent: str | None = None
    note: str | None = None
    idempotency_key: str | None = None
    question_id: str | None = None
    id: int | None = None

    def validated(self) -> Touchpoint:
        """A copy with defaults filled in; a :class:`UsageError` names a bad field."""
        if not self.customer_id or not self.customer_id.strip():
            raise UsageError("A touch point needs a customer id.")
        check_choice(self.channel, CHANNELS, "channel")
        check_choice(self.direction, DIRECTIONS, "direction")
        check_choice(self.kind, KINDS, "kind")
        purpose = self.purpose if self.purpose is not None else DEFAULT_PURPOSE[self.kind]
        if purpose is not None:
            check_choice(purpose, PURPOSES, "purpose")
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise UsageError(f"The touch point's {name} is longer than {limit} characters.")
        if self.idempotency_key is not None and not self.idempotency_key.strip():
            raise UsageError("An idempotency key must not be empty; leave it out instead.")
        at = to_utc(self.occurred_at) if self.occurred_at is not None else utc_now()
        return replace(self, purpose=purpose, occurred_at=at)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (times in ISO 8601, UTC)."""
        row = asdict(self)
        if self.occurred_at is not None:
            row["occurred_at"] = self.occurred_at.isoformat() + "Z"
        return row


@cache
def _keyed_insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, key (built once)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(touchpoints)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(touchpoints.c.id, touchpoints.c.idempotency_key)
    )


_PLAIN_INSERT = sa.insert(touchpoints).returning(touchpoints.c.id, sort_by_parameter_order=True)


def _row(tp: Touchpoint, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": tp.customer_id,
        "channel": tp.channel,
        "direction": tp.direction,
        "kind": tp.kind,
        "purpose": tp.purpose,
        "campaign": tp.campaign,
        "agent": tp.agent,
        "note": tp.note,
        "occurred_at": tp.occurred_at,
        "recorded_at": now,
        "idempotency_key": tp.idempotency_key,
        "question_id": tp.question_id,
    }


def insert_touchpoints(conn: Connection, items: Sequence[Touchpoint]) -> tuple[list[int], int]:
    """Insert validated touch points inside the caller's transaction.

    Returns their ids, in order, and how many records were new. A touch point whose
    idempotency key is already stored (or repeated in ``items``) is not inserted again; its id
    is the stored one.
    """
    now = utc_now()
    ids: dict[str, int] = {}
    keyed: dict[str, Touchpoint] = {}
    unkeyed: list[tuple[int, Touchpoint]] = []
    for i, tp in enumerate(items):
        if tp.idempotency_key is None:
            unkeyed.append((i, tp))
        else:
            keyed.setdefault(tp.idempotency_key, tp)
    result: list[int | None] = [None] * len(items)
    created = 0
    if keyed:
        stmt = _keyed_insert(conn.dialect.name)
        for row in conn.execute(stmt, [_row(tp, now) for tp in keyed.values()]):
            ids[row.idempotency_key] = row.id
        created = len(ids)
        missing = [k for k in keyed if k not in ids]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            query = sa.select(touchpoints.c.id, touchpoints.c.idempotency_key).where(
                touchpoints.c.idempotency_key.in_(chunk)
            )
            ids.update({row.idempotency_key: row.id for row in conn.execute(query)})
    if unkeyed:
        new = conn.execute(_PLAIN_INSERT, [_row(tp, now) for _, tp in unkeyed]).scalars().all()
        for (i, _), new_id in zip(unkeyed, new, strict=True):
            result[i] = int(new_id)
        created += len(new)
    for i, tp in enumerate(items):
        if tp.idempotency_key is not None:
            result[i] = ids[tp.idempotency_key]
    return [int(r) for r in result if r is not None], created


def log_touchpoints(store: Store, items: Iterable[Touchpoint]) -> list[int]:
    """Log touch points in one transaction; their ids, in order.

    Every touch point is checked before anything is written: one bad field and none is
    stored. A touch point whose idempotency key is stored already keeps its first record
    (the returned id is that record's).
    """
    checked = [tp.validated() for tp in items]
    if not checked:
        return []
    with store.write() as conn:
        return insert_touchpoints(conn, checked)[0]


def log_touchpoint(store: Store, tp: Touchpoint) -> int:
    """Log one touch point (see :func:`log_touchpoints`); its id."""
    return log_touchpoints(store, [tp])[0]


def recent_touchpoints(
    store: Store | Connection, customer_id: str, limit: int = 10
) -> list[Touchpoint]:
    """A customer's latest touch points, newest first."""
    query = (
        sa.select(touchpoints)
        .where(touchpoints.c.customer_id == customer_id)
        .order_by(touchpoints.c.occurred_at.desc(), touchpoints.c.id.desc())
        .limit(limit)
    )
    if isinstance(store, Connection):
        rows = store.execute(query).all()
    else:
        with store.read() as conn:
            rows = conn.execute(query).all()
    return [
        Touchpoint(
            customer_id=r.customer_id,
            channel=r.channel,
            kind=r.kind,
            direction=r.direction,
            occurred_at=r.occurred_at,
            purpose=r.purpose,
            campaign=r.campaign,
            agent=r.agent,
            note=r.note,
            idempotency_key=r.idempotency_key,
            question_id=r.question_id,
            id=r.id,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_touchpoints` did."""

    file: str
    rows: int
    stored: int  # new records; rows - stored were already in the store (same key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


_FILE_COLUMNS = (
    "customer_id",
    "channel",
    "kind",
    "direction",
    "occurred_at",
    "purpose",
    "campaign",
    "agent",
    "note",
    "idempotency_key",
)


def _read_rows(path: Path, digest: str) -> Iterator[Touchpoint]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in _FILE_COLUMNS]
        missing = [c for c in ("customer_id", "channel", "kind") if c not in header]
        if missing or unknown:
            problem = (
                f"lacks the column(s) {', '.join(missing)}"
                if missing
                else f"has unknown column(s) {', '.join(unknown)}"
            )
            raise DataError(
                f"{path}: the touch-point file {problem}; columns are {', '.join(_FILE_COLUMNS)}."
            )
        for row in reader:
            line = reader.line_num
            values = {k: (v.strip() or None) if v is not None else None for k, v in row.items()}
            try:
                at = values.get("occurred_at")
                tp = Touchpoint(
                    customer_id=values.get("customer_id") or "",
                    channel=values.get("channel") or "",
                    kind=values.get("kind") or "",
                    direction=values.get("direction") or "inbound",
                    occurred_at=datetime.fromisoformat(at) if at else None,
                    purpose=values.get("purpose"),
                    campaign=values.get("campaign"),
                    agent=values.get("agent"),
                    note=values.get("note"),
                    # A row without a key gets one from the file's content and its line, so
                    # that loading the same file again stores nothing twice.
                    idempotency_key=values.get("idempotency_key") or f"file:{digest}:{line}",
                ).validated()
            except (UsageError, ValueError) as exc:
                raise DataError(f"{path}, line {line}: {exc}") from None
            yield tp


def load_touchpoints(store: Store, path: Path, *, batch_size: int = 5_000) -> LoadResult:
    """Load a CSV file of touch points into the store, in batches.

    The whole file is checked first (a bad row: an error naming the line, nothing written);
    then written in transactions of ``batch_size`` rows. Rows without an idempotency key get
    one from the file's content hash and line number, so loading a file again adds nothing.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    hasher = hashlib.blake2b(digest_size=12)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    digest = hasher.hexdigest()
    try:
        rows = sum(1 for _ in _read_rows(path, digest))  # the checking pass
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    stored = 0
    batch: list[Touchpoint] = []

    def flush() -> int:
        with store.write() as conn:
            return insert_touchpoints(conn, batch)[1]

    for tp in _read_rows(path, digest):
        batch.append(tp)
        if len(batch) >= batch_size:
            stored += flush()
            batch = []
    if batch:
        stored += flush()
    return LoadResult(str(path), rows, stored)
