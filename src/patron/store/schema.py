"""The operational store's tables, in one place (SQLAlchemy Core).

Every change here is also an Alembic revision in ``patron/store/migrations/versions``; the
store is never built with ``create_all`` (tests check that the migrations produce exactly
these tables). All times are stored in UTC without a zone (``DateTime``); the domain
converts aware times to UTC before writing.

Revision 1 (``0001``): ``store_meta``, ``publications``, ``profiles``, ``identifiers``,
``touchpoints``, ``consents``. Revision 2 (``0002``): ``questions``, ``facts``, and the
touch points' ``question_id`` (the question a touch point answered or declined). Revision 3
(``0003``): a lookup index on ``identifiers`` by customer. Revision ``0007`` (the
service): ``api_keys`` and ``audit``. Later issues add offers, decisions and quotes as further
revisions.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "api_keys",
    "audit",
    "campaigns",
    "consents",
    "decisions",
    "facts",
    "identifiers",
    "metadata",
    "offers",
    "profiles",
    "publications",
    "questions",
    "quotes",
    "recommendation_runs",
    "recommendations",
    "similar_items",
    "store_meta",
    "touchpoints",
]

# Explicit constraint names, so that migrations and the table definitions agree everywhere.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Small key/value settings of the store: the live publication, the contact policy (JSON).
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: One row per publish run; ``store_meta['publication']`` names the live one.
publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("status", String(16), nullable=False),  # building, live, previous, retired
    Column("source", Text, nullable=False),  # the warehouse it came from (no credentials)
    Column("customers", Integer, nullable=False, default=0),
    Column("identifiers", Integer, nullable=False, default=0),
)

#: A customer's profile as published from the warehouse (one row per publication and customer).
profiles = Table(
    "profiles",
    metadata,
    Column("publication_id", Integer, primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("customer_type", String(32), nullable=True),
    Column("clv", Float, nullable=True),
    Column("clv_low", Float, nullable=True),
    Column("clv_high", Float, nullable=True),
    Column("p_alive", Float, nullable=True),
    Column("expected_purchases", Float, nullable=True),
    Column("tier", String(16), nullable=True),
    Column("tier_reason", Text, nullable=True),
    Column("loyalty", String(16), nullable=True),
    Column("segment", String(128), nullable=True),
    Column("segment_description", Text, nullable=True),
    Column("last_purchase", DateTime, nullable=True),
    Column("time_zone", String(64), nullable=True),
    # revision 0004: the e-mail and phone to use (the identity step's survivorship)
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    # revision 0008: the relationship level (current, recommended) and the actions to close it
    Column("relationship", String(16), nullable=True),
    Column("relationship_recommended", String(16), nullable=True),
    Column("relationship_actions", Text, nullable=True),  # one action per line
    # revision 0009: the categories bought in the log's last 90 days ("books;garden", sorted;
    # '' for none; null when the log has no categories)
    Column("recent_categories", Text, nullable=True),
)

#: Identifiers for lookup (e-mail, phone, card, source ids), per publication; the primary key
#: finds a customer by (kind, value).
identifiers = Table(
    "identifiers",
    metadata,
    Column("publication_id", Integer, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Index(None, "publication_id", "customer_id", "kind", "value"),  # revision 3
)

#: The append-only touch-point log.
touchpoints = Table(
    "touchpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("purpose", String(16), nullable=True),
    Column("campaign", String(128), nullable=True),
    Column("agent", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("occurred_at", DateTime, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("question_id", String(64), nullable=True),  # revision 2
    Index(None, "customer_id", "occurred_at"),
)

#: Consent per customer, channel and purpose: append-only; the latest row decides.
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # granted, denied, withdrawn
    Column("recorded_at", DateTime, nullable=False),
    Column("source", String(128), nullable=False),
    Column("evidence", Text, nullable=True),
    Index(None, "customer_id", "purpose", "channel"),
)

#: The question bank (revision 2): one row per question, its full definition as JSON.
questions = Table(
    "questions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("attribute", String(64), nullable=False),
    Column("definition", Text, nullable=False),
    Column("loaded_at", DateTime, nullable=False),
    Column("source", Text, nullable=False),
)

#: What customers told us (revision 2): append-only history; the latest per attribute wins.
facts = Table(
    "facts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False),
    Column("attribute", String(64), nullable=False),
    Column("value", Text, nullable=False),  # JSON
    Column("is_preference", Boolean, nullable=False, default=False),
    Column("source", String(128), nullable=False),
    Column("question_id", String(64), nullable=True),
    Column("touchpoint_id", Integer, nullable=True),
    Column("recorded_at", DateTime, nullable=False),
    Index(None, "customer_id", "attribute"),
)

# --- Issue 23, recommendations (revision 0005) ---------------------------------------------
# Published by ``patron recommend fit --publish`` (patron.store.recommendations), with their own
# publication pointer (``store_meta['recommendations']``), independent of the profiles'.

#: One row per recommendations publish; ``store_meta['recommendations']`` names the live one.
recommendation_runs = Table(
    "recommendation_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("status", String(16), nullable=False),  # building, live, previous, retired, failed
    Column("model", String(32), nullable=False),
    Column("source", Text, nullable=False),
    Column("customers", Integer, nullable=False, default=0),
    Column("rows", Integer, nullable=False, default=0),
    Column("products", Integer, nullable=False, default=0),
)

#: The top-N products per customer (rank 1 = best), per publication.
recommendations = Table(
    "recommendations",
    metadata,
    Column("publication_id", Integer, primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("product_id", String(128), nullable=False),
    Column("score", Float, nullable=True),
    Column("model", String(32), nullable=False),
)

#: The most similar products per product (rank 1 = most similar), per publication.
similar_items = Table(
    "similar_items",
    metadata,
    Column("publication_id", Integer, primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("similar_product_id", String(128), nullable=False),
    Column("score", Float, nullable=True),
    Column("model", String(32), nullable=False),
)


# ---------------------------------------------------------------------------------------------
# Revision 0007 (issue 25, the service): API keys and the audit log.
# ---------------------------------------------------------------------------------------------

#: API keys: only an HMAC-SHA-256 of each key is kept (``key_hash``, hex), never the key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # admin, manager, agent, integration
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(8), nullable=False),  # the key's first characters, to recognise it
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
)

#: Every write through the service (and every key created or revoked): who, when, what.
#: Ids only (customer, question, key, touch point); never personal data.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("key_id", Integer, nullable=True),  # null: the command line
    Column("role", String(16), nullable=True),
    Column("action", String(64), nullable=False),  # the operation, e.g. touchpoints.log
    Column("target", String(200), nullable=True),  # a customer, question or key id
    Column("detail", Text, nullable=True),  # JSON: counts and ids
    Index(None, "at"),
)


# -- Customize (issue 23, revision 0006): offers, next-best-action decisions, price quotes,
# campaigns ------------------------------------------------------------------------------------

#: The offer catalogue: one row per offer, its full definition as JSON (``patron offers``).
offers = Table(
    "offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("definition", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("source", Text, nullable=False),
)

#: Every next-best-action decision: the chosen offer (null: no action), each candidate's
#: score components and why the others lost (JSON), and whether the offer was made (``sent``).
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("decided_at", DateTime, nullable=False),
    Column("offer_id", String(64), nullable=True),
    Column("expected_value", Float, nullable=True),
    Column("status", String(16), nullable=False),  # proposed, sent
    Column("campaign", String(128), nullable=True),
    Column("inputs_hash", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Index(None, "customer_id", "offer_id", "status"),
)

#: Prices quoted to a customer for a product: at most one live price per customer and product.
quotes = Table(
    "quotes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(128), nullable=False),
    Column("product", String(128), nullable=False),
    Column("price", Float, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("offer_id", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index(None, "customer_id", "product", "expires_at"),
)

#: Campaigns: an experiment with a holdout whose treated customers get their next best action.
campaigns = Table(
    "campaigns",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("exported_at", DateTime, nullable=True),
)
