"""Authentication (``Authorization: Bearer KEY``), roles and rate limits, as one dependency.

``allow(operation)`` is the dependency every route under ``/api/v1`` takes: it reads the key
(one query, no cache, so a revoked key is refused from the next request), refuses an unknown,
expired or revoked key (401), applies the key's rate limit (429; an in-process token bucket,
so the limit holds per worker process) and the role table (403,
:data:`patron.api.roles.ENDPOINT_ROLES`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from patron.api.problems import ApiProblem
from patron.api.roles import ENDPOINT_ROLES
from patron.store import Store
from patron.store.keys import ApiKey, authenticate

__all__ = ["Caller", "RateLimiter", "allow", "store_of"]

_bearer = HTTPBearer(auto_error=False, description="An API key: `patron keys create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="patron"'}


@dataclass(frozen=True)
class Caller:
    """The key a request came with (its id, name and role)."""

    key: ApiKey
    operation: str

    @property
    def key_id(self) -> int:
        """The key's id (what the audit log records)."""
        return self.key.id

    @property
    def role(self) -> str:
        """The key's role."""
        return self.key.role


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, bursts of ``burst``.

    In-process: with several workers each has its own buckets, so the limit is per worker.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """Spend one token; 0 when allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


def store_of(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


def allow(operation: str) -> Any:
    """The dependency that authenticates the request and authorises ``operation``."""
    roles = ENDPOINT_ROLES[operation]

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiProblem(
                401,
                "This request needs an API key: send `Authorization: Bearer KEY` "
                "(create one with `patron keys create`).",
                headers=_CHALLENGE,
            )
        state = request.app.state
        token = credentials.credentials.strip()
        key = None
        if 0 < len(token) <= 256:
            with state.store.read() as conn:
                key = authenticate(conn, state.secret, token)
        if key is None:
            raise ApiProblem(401, "The API key is not known.", headers=_CHALLENGE)
        status = key.state()
        if status != "active":
            raise ApiProblem(
                401,
                f"The API key {key.prefix}… is {status}; ask an admin for a new one.",
                headers=_CHALLENGE,
            )
        request.state.key_id = key.id
        wait = state.limiter.take(key.id)
        if wait > 0:
            raise ApiProblem(
                429,
                f"Too many requests for this key (limit {state.limiter.rate:g} per second per "
                f"worker); retry in {wait:.2f} s.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if key.role not in roles:
            allowed = ", ".join(sorted(roles))
            raise ApiProblem(
                403, f"A {key.role} key may not call {operation}; it needs one of: {allowed}."
            )
        return Caller(key, operation)

    return Depends(dependency)
