"""The service: :func:`create_app` builds the FastAPI app over the operational store.

Request paths read and write the store only, never the warehouse. Routers are listed in
:data:`ROUTERS` (one line per area under ``/api/v1``); each route names its operation, and
the operation's roles are in :data:`patron.api.roles.ENDPOINT_ROLES`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from patron import __version__
from patron.api.auth import RateLimiter
from patron.api.console import install_console
from patron.api.middleware import AccessLog, BodyLimit, NoNulInUrl
from patron.api.problems import Problem, StrictJSONResponse, install_problem_handlers
from patron.api.routers import (
    admin,
    consent,
    customers,
    customize,
    health,
    policy,
    questions,
    subject,
    touchpoints,
)
from patron.api.settings import ApiSettings
from patron.store import Store, open_store
from patron.store.keys import server_secret

__all__ = ["API_PREFIX", "ROUTERS", "create_app"]

#: Every versioned path starts with this.
API_PREFIX = "/api/v1"

#: The routers under /api/v1, one per area. Customize (offers, next best action, quotes,
#: campaigns) adds its routers here.
ROUTERS: tuple[APIRouter, ...] = (
    customers.router,
    consent.router,
    subject.router,
    touchpoints.router,
    questions.router,
    policy.router,
    customize.router,
    admin.router,
)

_ERRORS = {
    status: {"model": Problem, "description": text, "content": {"application/problem+json": {}}}
    for status, text in (
        (400, "Malformed request (e.g. invalid JSON)"),
        (401, "Missing, unknown, expired or revoked API key"),
        (403, "The key's role may not call this operation"),
        (404, "Not found"),
        (413, "Request body too large"),
        (422, "Invalid request"),
        (429, "Rate limit reached"),
    )
}


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: Store | None = None,
    offers: Mapping[str, str] | None = None,
) -> FastAPI:
    """The FastAPI app over the store named by ``settings.store``.

    Parameters
    ----------
    settings
        The service's settings (default: from the ``PATRON_*`` environment).
    store
        An open store to use instead of opening ``settings.store`` (the caller closes it).
    offers
        What the agent screen offers per tier (default: the tiers' actions) until Customize's
        next best action replaces it.

    Raises
    ------
    StoreError
        The store is missing or not at this Patron's revision (the message says what to run).
    """
    chosen = settings if settings is not None else ApiSettings.load()
    own_store = store is None
    handle = store if store is not None else open_store(chosen.store)
    if offers is None:
        from patron.value.tiers import TIER_ACTIONS  # a constant; no warehouse is opened

        offers = TIER_ACTIONS

    threads = chosen.api_threads or (1 if handle.dialect == "sqlite" else 8)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The pool that runs the (blocking) path operations, per worker and event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if own_store:
            handle.close()

    app = FastAPI(
        title="Patron",
        version=__version__,
        summary="One-to-one marketing: customers, the agent screen, touch points, consent.",
        description=(
            "Every path under /api/v1 needs `Authorization: Bearer KEY` (`patron keys create`). "
            "Errors are RFC 9457 problem+json. See docs/api.md for roles and limits."
        ),
        docs_url="/docs",
        redoc_url=None,
        default_response_class=StrictJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = chosen
    app.state.store = handle
    app.state.secret = server_secret(handle, chosen.api_secret)
    app.state.limiter = RateLimiter(chosen.api_rate_limit, chosen.api_rate_burst)
    app.state.offers = dict(offers)
    install_problem_handlers(app)
    app.include_router(health.router)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=_ERRORS)  # type: ignore[arg-type]
    if chosen.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=chosen.api_cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    install_console(app, app.state.secret, https_only=chosen.console_https_only)
    app.add_middleware(BodyLimit, limit=chosen.api_max_body)
    app.add_middleware(NoNulInUrl)
    app.add_middleware(AccessLog)
    return app


def app_from_environment() -> FastAPI:
    """The app from ``PATRON_*`` settings: uvicorn's factory for ``patron serve --workers``."""
    return create_app(ApiSettings.load())
