"""The life of a publication in the store: building, the flip to live, retirement.

Profiles (:mod:`patron.store.publish`) and recommendations
(:mod:`patron.store.recommendations`) are published the same way: a run row ``building``, the
rows written in batches under the run's id, then one transaction that flips the run to
``live`` and the ``store_meta`` pointer to it. Readers follow the pointer, so they see the
previous publication or the new one, never a mix. The previous publication is kept (a reader
that looked up the pointer just before the flip still finds its rows); older ones and failed
runs are dropped after the flip. :class:`PublicationKind` holds what differs: the runs table,
the data tables and the pointer's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.connection import Store
from patron.store.schema import store_meta

__all__ = ["PublicationKind", "utc_now_naive"]


def utc_now_naive() -> datetime:
    """Now in UTC, without a time zone (the store's timestamps are naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class PublicationKind:
    """One kind of publication: its runs table, its data tables, its ``store_meta`` key.

    The runs table has ``id``, ``started_at``, ``finished_at`` and ``status`` (``building``,
    ``live``, ``previous``, ``failed``, ``retired``); every data table has ``publication_id``.
    """

    runs: sa.Table
    data: tuple[sa.Table, ...]
    key: str

    def live(self, conn: Connection) -> int | None:
        """The id of the live publication, or None before the first publish."""
        value = conn.execute(
            sa.select(store_meta.c.value).where(store_meta.c.key == self.key)
        ).scalar_one_or_none()
        return int(value) if value is not None else None

    def begin(self, store: Store, **values: Any) -> int:
        """A new run, ``building`` (its own transaction); its id."""
        with store.write() as conn:
            return int(
                conn.execute(
                    sa.insert(self.runs)
                    .values(started_at=utc_now_naive(), status="building", **values)
                    .returning(self.runs.c.id)
                ).scalar_one()
            )

    def flip(
        self,
        conn: Connection,
        publication: int,
        *,
        meta: Mapping[str, str] | None = None,
        **values: Any,
    ) -> int | None:
        """Make ``publication`` live inside the caller's write; the previous live one's id.

        ``values`` update the run's row (its counts); ``meta`` are further ``store_meta``
        entries written in the same transaction.
        """
        previous = self.live(conn)
        conn.execute(
            sa.update(self.runs).where(self.runs.c.status == "live").values(status="previous")
        )
        conn.execute(
            sa.update(self.runs)
            .where(self.runs.c.id == publication)
            .values(status="live", finished_at=utc_now_naive(), **values)
        )
        keys = {self.key: str(publication), **(meta or {})}
        conn.execute(sa.delete(store_meta).where(store_meta.c.key.in_(list(keys))))
        conn.execute(sa.insert(store_meta), [{"key": k, "value": v} for k, v in keys.items()])
        return previous

    def drop(self, conn: Connection, publication: int, status: str) -> None:
        """Delete a publication's rows and mark its run ``status`` (inside the caller's write)."""
        for table in self.data:
            conn.execute(sa.delete(table).where(table.c.publication_id == publication))
        conn.execute(
            sa.update(self.runs).where(self.runs.c.id == publication).values(status=status)
        )

    def fail(self, store: Store, publication: int) -> None:
        """Drop a run that did not finish (its own transaction)."""
        with store.write() as conn:
            self.drop(conn, publication, "failed")

    def retire(self, store: Store, publication: int, previous: int | None) -> None:
        """Drop every publication but the live one and the one before it (failed runs too)."""
        with store.write() as conn:
            old = (
                conn.execute(
                    sa.select(self.runs.c.id).where(
                        self.runs.c.status.in_(("previous", "failed")),
                        self.runs.c.id != previous if previous is not None else sa.true(),
                        self.runs.c.id != publication,
                    )
                )
                .scalars()
                .all()
            )
            for pub in old:
                self.drop(conn, int(pub), "retired")

    def analyze(self, store: Store) -> None:
        """Fresh planner statistics for the data tables (both engines sample)."""
        with store.write() as conn:
            for table in self.data:
                conn.exec_driver_sql(f"ANALYZE {table.name}")
