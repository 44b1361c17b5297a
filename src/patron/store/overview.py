"""The manager's overview as published with the profiles (what the HTML report shows).

The console's overview page reads it from the store, so no request waits on the warehouse:
the publish recipe computes it from the warehouse (an analyst's action) and keeps it here as
strict JSON, replaced at every publish.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.connection import Store
from patron.store.schema import store_meta

#: The ``store_meta`` key of the published overview.
OVERVIEW_KEY = "overview"


def write_overview(store: Store, overview: dict[str, Any]) -> None:
    """Replace the published overview (one transaction; strict JSON: no NaN or infinity).

    Raises ``ValueError`` when ``overview`` holds a non-finite number (a bug upstream: every
    figure a manager sees must be one the data support).
    """
    text = json.dumps(overview, allow_nan=False, default=str)
    with store.write() as conn:
        conn.execute(sa.delete(store_meta).where(store_meta.c.key == OVERVIEW_KEY))
        conn.execute(sa.insert(store_meta).values(key=OVERVIEW_KEY, value=text))


def read_overview(conn: Connection) -> dict[str, Any] | None:
    """The published overview, or None before the first publish that had one."""
    text = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == OVERVIEW_KEY)
    ).scalar_one_or_none()
    if text is None:
        return None
    data: dict[str, Any] = json.loads(text)
    return data
