"""ASGI middleware: the request size limit (413) and an access log without personal data."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.api.problems import problem_response

__all__ = ["AccessLog", "BodyLimit", "NoNulInUrl"]

access_log = logging.getLogger("patron.api.access")


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with a 413 problem, before the app reads it.

    A declared ``Content-Length`` over the limit is refused at once; a body sent without one
    (chunked) is read up to the limit and refused when it goes over.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            f"The request body is larger than {self.limit} bytes; send less "
            "(a batch of touch points: at most 1000 items).",
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                break
        if length is not None:
            if length > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # No declared length: read the body here, within the limit, then replay it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class NoNulInUrl:
    """Refuse a NUL character in the path or query string (422): no store may hold one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            query = scope.get("query_string", b"")
            if b"\x00" in raw or b"%00" in raw.lower() or b"%00" in query or b"\x00" in query:
                response = problem_response(
                    422, "The path or query holds a NUL character (%00); remove it."
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AccessLog:
    """One log line per request: method, operation, status, milliseconds and key id.

    Never the query string or the raw path, which may hold an e-mail or phone number.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = (
                getattr(route, "operation_id", None) or getattr(route, "path", None) or "(no route)"
            )
            state = scope.get("state") or {}
            access_log.info(
                "%s %s %d %.1fms key=%s",
                scope.get("method"),
                template,
                status,
                (time.perf_counter() - start) * 1000,
                state.get("key_id", "-"),
            )
