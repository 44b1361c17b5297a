"""Errors as RFC 9457 problem details (``application/problem+json``), mapped in one place.

Every error the service returns is a problem: Patron's error classes (:data:`PROBLEMS`), request
validation (422; malformed JSON 400), authentication (401), roles (403), rate limits (429),
oversized bodies (413), unknown paths (404) and methods (405). An unexpected exception is a
500 problem that names no internals (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from patron.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    NotFittedError,
    NotFoundError,
    PatronError,
    StoreError,
    UsageError,
    WarehouseError,
)

__all__ = [
    "PROBLEMS",
    "PROBLEM_TYPES",
    "ApiProblem",
    "Problem",
    "StrictJSONResponse",
    "install_problem_handlers",
    "problem_response",
]

log = logging.getLogger("patron.api")

#: The ``type`` URI and title of each kind of problem (documented in docs/api.md).
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "bad-request": ("urn:patron:problem:bad-request", "Malformed request"),
    "unauthenticated": ("urn:patron:problem:unauthenticated", "Missing or invalid API key"),
    "forbidden": ("urn:patron:problem:forbidden", "Not allowed for this key's role"),
    "not-found": ("urn:patron:problem:not-found", "Not found"),
    "method-not-allowed": ("urn:patron:problem:method-not-allowed", "Method not allowed"),
    "conflict": ("urn:patron:problem:conflict", "Conflict"),
    "too-large": ("urn:patron:problem:too-large", "Request body too large"),
    "unsupported-media-type": (
        "urn:patron:problem:unsupported-media-type",
        "Unsupported media type",
    ),
    "invalid": ("urn:patron:problem:invalid", "Invalid request"),
    "rate-limited": ("urn:patron:problem:rate-limited", "Too many requests"),
    "internal": ("urn:patron:problem:internal", "Internal error"),
    "unavailable": ("urn:patron:problem:unavailable", "Service unavailable"),
}

#: Patron's error classes → (HTTP status, problem kind); the first matching class wins.
PROBLEMS: tuple[tuple[type[PatronError], int, str], ...] = (
    (NotFoundError, 404, "not-found"),
    (UsageError, 422, "invalid"),
    (DataError, 422, "invalid"),
    (StoreError, 503, "unavailable"),
    (WarehouseError, 503, "unavailable"),
    (ConfigError, 500, "internal"),
    (ConvergenceError, 500, "internal"),
    (NotFittedError, 500, "internal"),
    (PatronError, 500, "internal"),
)

_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid",
    429: "rate-limited",
    503: "unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``)."""

    type: str = Field(description="A URI naming the kind of problem (urn:patron:problem:...).")
    title: str = Field(description="The kind of problem in words (the same for every instance).")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, and what to do.")
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="For invalid requests: each field in error (location, message).",
    )


class ApiProblem(Exception):
    """Raised by routes and dependencies for a problem with a given status."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class StrictJSONResponse(JSONResponse):
    """JSON that is strict: NaN and infinity become ``null`` (never invalid JSON)."""

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as strict UTF-8 JSON."""
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_finite(content), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


class ProblemResponse(StrictJSONResponse):
    """A problem's JSON, with its media type."""

    media_type = "application/problem+json"


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem+json response for ``status`` (its kind by status unless given)."""
    chosen = kind or _BY_STATUS.get(status, "internal" if status >= 500 else "bad-request")
    type_uri, title = PROBLEM_TYPES[chosen]
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _validation(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            400, "The request body is not valid JSON; send a JSON document.", kind="bad-request"
        )
    shown = [
        {"location": _location(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in errors[:20]
    ]
    first = shown[0] if shown else {"location": "request", "message": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem_response(
        422,
        f"Invalid {first['location']}: {first['message']}{more}.",
        kind="invalid",
        errors=shown,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to a problem+json response (the one place where that happens)."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(_request: Request, exc: ApiProblem) -> Response:
        return problem_response(exc.status, exc.detail, headers=exc.headers)

    @app.exception_handler(PatronError)
    async def _patron(_request: Request, exc: PatronError) -> Response:
        for cls, status, kind in PROBLEMS:
            if isinstance(exc, cls):
                if status >= 500:
                    log.error("%s: %s", type(exc).__name__, exc)
                    if kind == "internal":
                        return problem_response(
                            status, "The service failed; the log has the details.", kind=kind
                        )
                return problem_response(status, str(exc), kind=kind)
        return problem_response(500, "The service failed.")  # pragma: no cover

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        return _validation(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No such path {request.url.path}; the API's paths are listed at /docs."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}))

    @app.exception_handler(sa_exc.DataError)
    async def _store_value(_request: Request, exc: sa_exc.DataError) -> Response:
        # A value the store's types cannot hold (the transaction was rolled back).
        log.warning("store refused a value: %s", type(exc.orig).__name__)
        return problem_response(
            422, "The store cannot hold a value of this request; check its text and numbers."
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error: %s", type(exc).__name__)
        return problem_response(500, "The service failed; the log has the details.")
