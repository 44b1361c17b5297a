"""A process logging touch points with idempotency keys (concurrency test and benchmark)."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from patron.interact import Touchpoint, log_touchpoint, log_touchpoints
from patron.store import open_store


def keys_for(worker: int, per_worker: int, workers: int) -> list[str]:
    """The keys one worker sends: its own half, then its neighbour's half (resent on purpose)."""
    half = per_worker // 2
    own = [f"ev-{worker}-{i}" for i in range(half)]
    neighbour = (worker + 1) % workers
    theirs = [f"ev-{neighbour}-{i}" for i in range(per_worker - half)]
    return own + theirs


def log_events(url: str, worker: int, per_worker: int, workers: int, batch: int) -> int:
    """Log ``per_worker`` touch points; every fifth batch one by one. Returns how many sent."""
    start = datetime(2026, 1, 1)
    keys = keys_for(worker, per_worker, workers)
    with open_store(url) as store:
        for b, first in enumerate(range(0, len(keys), batch)):
            items = [
                Touchpoint(
                    customer_id=f"C{zlib.crc32(k.encode()) % 997}",
                    channel="web",
                    kind="visit",
                    occurred_at=start + timedelta(seconds=i),
                    idempotency_key=k,
                )
                for i, k in enumerate(keys[first : first + batch], start=first)
            ]
            if b % 5 == 4:
                for tp in items:
                    log_touchpoint(store, tp)
            else:
                log_touchpoints(store, items)
    return len(keys)
