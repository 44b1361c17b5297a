"""API keys and the audit log, in the operational store.

A key is a long random token (``secrets.token_urlsafe(32)``: 256 bits), shown once when it
is created. The store keeps only its HMAC-SHA-256 under a server secret: a keyed hash is
enough for a random token (nothing to brute-force) and costs microseconds per request, where
a slow password hash would cost every request tens of milliseconds.

The server secret is the ``PATRON_API_SECRET`` setting when it is set (keep it outside the
database, e.g. in the service's environment, so that a copy of the database alone cannot
check a key). When it is not set, a secret is generated on first use and kept in the store's
``store_meta`` (key ``api_secret``): the digests then still keep a database copy from
yielding usable keys. Changing the secret makes every existing key invalid.

Authentication reads the key's row on every request (no cache): a revoked key is refused at
once. Every write through the service, and every key created or revoked, is recorded in
``audit`` with ids only (customer, question, key, touch point), never personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from patron.errors import NotFoundError, UsageError
from patron.store.connection import Store
from patron.store.schema import api_keys, audit, store_meta

__all__ = [
    "ROLES",
    "SECRET_KEY",
    "ApiKey",
    "AuditEntry",
    "CreatedKey",
    "audit_entries",
    "authenticate",
    "create_key",
    "key_digest",
    "list_keys",
    "record_audit",
    "revoke_key",
    "server_secret",
]

#: The roles a key can have (what each may do: ``patron.api.roles.ENDPOINT_ROLES``).
ROLES = ("admin", "manager", "agent", "integration")
#: The ``store_meta`` key of the generated server secret (when ``PATRON_API_SECRET`` is unset).
SECRET_KEY = "api_secret"
_MIN_SECRET = 16


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the key itself)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, at: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired`` (at ``at``, naive UTC; default now)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (at or _now()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (times in ISO 8601, UTC)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat() + "Z"

        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "state": self.state(),
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key: the token (shown once) and its stored record."""

    key: str
    record: ApiKey


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=int(row.id),
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def server_secret(store: Store, configured: str | None = None) -> bytes:
    """The server secret keys are hashed with (see the module docstring).

    Parameters
    ----------
    configured
        ``PATRON_API_SECRET`` when set (at least 16 characters); else the store's generated
        secret, created on first use.
    """
    if configured:
        if len(configured) < _MIN_SECRET:
            raise UsageError(
                f"PATRON_API_SECRET is {len(configured)} characters; give at least {_MIN_SECRET} "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        return configured.encode()
    query = sa.select(store_meta.c.value).where(store_meta.c.key == SECRET_KEY)
    with store.read() as conn:
        found = conn.execute(query).scalar_one_or_none()
    if found is None:
        try:
            with store.write() as conn:
                found = conn.execute(query).scalar_one_or_none()  # another process may have won
                if found is None:
                    found = secrets.token_urlsafe(32)
                    conn.execute(sa.insert(store_meta).values(key=SECRET_KEY, value=found))
        except IntegrityError:  # another process wrote it first (PostgreSQL): use theirs
            with store.read() as conn:
                found = conn.execute(query).scalar_one()
    return str(found).encode()


def key_digest(secret: bytes, key: str) -> str:
    """The HMAC-SHA-256 of a key under the server secret (hex, 64 characters)."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def record_audit(
    conn: Connection,
    action: str,
    *,
    key_id: int | None,
    role: str | None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry inside the caller's transaction (ids only in ``detail``)."""
    conn.execute(
        sa.insert(audit).values(
            at=_now(),
            key_id=key_id,
            role=role,
            action=action,
            target=None if target is None else target[:200],
            detail=None if detail is None else json.dumps(detail, sort_keys=True),
        )
    )


def create_key(
    store: Store,
    secret: bytes,
    *,
    name: str,
    role: str,
    expires_in: timedelta | None = None,
    by: ApiKey | None = None,
) -> CreatedKey:
    """Create a key with ``role``; the token is returned once and never stored.

    Parameters
    ----------
    expires_in
        How long the key is valid (default: until revoked).
    by
        The key that created it (``None``: the command line); audited.

    Raises
    ------
    UsageError
        An unknown role, an empty or over-long name, or a non-positive lifetime.
    """
    if role not in ROLES:
        raise UsageError(f"Unknown role {role!r}; use one of: {', '.join(ROLES)}.")
    name = name.strip()
    if not name or len(name) > 128:
        raise UsageError("A key needs a name of 1 to 128 characters (who or what uses it).")
    if expires_in is not None and expires_in <= timedelta(0):
        raise UsageError("A key's lifetime must be positive.")
    token = secrets.token_urlsafe(32)
    now = _now()
    row: dict[str, Any] = {
        "name": name,
        "role": role,
        "key_hash": key_digest(secret, token),
        "prefix": token[:6],
        "created_at": now,
        "expires_at": None if expires_in is None else now + expires_in,
        "revoked_at": None,
    }
    with store.write() as conn:
        new_id = int(conn.execute(sa.insert(api_keys).returning(api_keys.c.id), row).scalar_one())
        record_audit(
            conn,
            "keys.create",
            key_id=by.id if by else None,
            role=by.role if by else None,
            target=str(new_id),
            detail={"role": role},
        )
    record = ApiKey(
        id=new_id,
        name=name,
        role=role,
        prefix=token[:6],
        created_at=now,
        expires_at=row["expires_at"],
        revoked_at=None,
    )
    return CreatedKey(token, record)


def list_keys(store: Store | Connection, *, limit: int = 1000, offset: int = 0) -> list[ApiKey]:
    """The stored keys, oldest first (never the tokens)."""
    query = sa.select(api_keys).order_by(api_keys.c.id).limit(limit).offset(offset)
    if isinstance(store, Connection):
        return [_key(r) for r in store.execute(query)]
    with store.read() as conn:
        return [_key(r) for r in conn.execute(query)]


def revoke_key(store: Store, key_id: int, *, by: ApiKey | None = None) -> ApiKey:
    """Revoke a key now (it is refused from the next request on); the record.

    Raises
    ------
    NotFoundError
        No key has that id.
    """
    with store.write() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"No API key has id {key_id}; `patron keys list` shows them.")
        if row.revoked_at is None:
            conn.execute(
                sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=_now())
            )
            record_audit(
                conn,
                "keys.revoke",
                key_id=by.id if by else None,
                role=by.role if by else None,
                target=str(key_id),
            )
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one()
    return _key(row)


_BY_DIGEST = sa.select(api_keys).where(api_keys.c.key_hash == sa.bindparam("digest"))


def key_by_id(conn: Connection, key_id: int) -> ApiKey | None:
    """A stored key's record by its id (whatever its state), else ``None``."""
    row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
    return None if row is None else _key(row)


def authenticate(conn: Connection, secret: bytes, token: str) -> ApiKey | None:
    """The key's record when ``token`` is a stored key (whatever its state), else ``None``.

    Read on every request (no cache): a revoked key is refused from the next request on.
    """
    row = conn.execute(_BY_DIGEST, {"digest": key_digest(secret, token)}).first()
    return None if row is None else _key(row)


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: datetime
    key_id: int | None
    role: str | None
    action: str
    target: str | None
    detail: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (time in ISO 8601, UTC)."""
        return {
            "id": self.id,
            "at": self.at.isoformat() + "Z",
            "key_id": self.key_id,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


def audit_entries(
    store: Store | Connection,
    *,
    limit: int = 100,
    offset: int = 0,
    action: str | None = None,
) -> list[AuditEntry]:
    """The audit log, newest first (optionally one action)."""
    query = sa.select(audit)
    if action is not None:
        query = query.where(audit.c.action == action)
    query = query.order_by(audit.c.id.desc()).limit(limit).offset(offset)

    def read(conn: Connection) -> list[AuditEntry]:
        return [
            AuditEntry(
                id=int(r.id),
                at=r.at,
                key_id=r.key_id,
                role=r.role,
                action=r.action,
                target=r.target,
                detail=json.loads(r.detail) if r.detail else None,
            )
            for r in conn.execute(query)
        ]

    if isinstance(store, Connection):
        return read(store)
    with store.read() as conn:
        return read(conn)
