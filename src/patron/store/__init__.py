"""The operational store: profiles, identifiers, touch points, consents, questions, facts.

SQLAlchemy 2 tables (:mod:`patron.store.schema`), Alembic migrations shipped in the package,
SQLite (default) or PostgreSQL. :func:`open_store` refuses a store that is not at this
Patron's revision; :func:`upgrade_store` brings it there. :func:`publish_profiles` moves what
the warehouse computed into the store atomically; :func:`export_to_warehouse` moves what the
store learned back.
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
from patron.store.export import EXPORTS, ExportResult, export_to_warehouse
from patron.store.publish import (
    IDENTIFIER_KINDS,
    PublishResult,
    live_publication,
    normalise_identifier,
    publish_profiles,
)

__all__ = [
    "EXPORTS",
    "IDENTIFIER_KINDS",
    "SQLITE_BUSY_TIMEOUT_S",
    "ExportResult",
    "PublishResult",
    "Store",
    "StoreStatus",
    "export_to_warehouse",
    "head_revision",
    "live_publication",
    "normalise_identifier",
    "open_store",
    "publish_profiles",
    "store_status",
    "upgrade_store",
]
