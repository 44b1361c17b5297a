"""A synchronous httpx client for an ASGI app (httpx's ASGITransport is async-only).

Starlette's own TestClient warns that its httpx use is deprecated; this drives
``httpx.AsyncClient(transport=ASGITransport(app))`` from an anyio blocking portal instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class AppClient:
    """``request``/``get``/``post``/... on an ASGI app, synchronously."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; the response is fully read."""
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """PUT."""
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", url, **kwargs)


@contextlib.contextmanager
def app_client(app: Any) -> Iterator[AppClient]:
    """A client for ``app`` (its lifespan is not run: the caller closes what it opened)."""
    with start_blocking_portal() as portal:
        transport = httpx.ASGITransport(app=app)
        client = portal.call(lambda: _open(transport))
        try:
            yield AppClient(portal, client)
        finally:
            portal.call(client.aclose)


async def _open(transport: httpx.ASGITransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://patron.test")
