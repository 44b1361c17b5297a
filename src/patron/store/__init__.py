"""The operational store: profiles, identifiers, touch points, consents, questions, facts.

SQLAlchemy 2 tables (:mod:`patron.store.schema`), Alembic migrations shipped in the package,
SQLite (default) or PostgreSQL. :func:`open_store` refuses a store that is not at this
Patron's revision; :func:`upgrade_store` brings it there.
"""

from patron.store.connection import (
    SQLITE_BUSY_TIMEOUT_S,
    Store,
    StoreStatus,
    head_revision,
    open_store,
    store_status,
    upgrade_store,
)

__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "Store",
    "StoreStatus",
    "head_revision",
    "open_store",
    "store_status",
    "upgrade_store",
]
