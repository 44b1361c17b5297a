"""The console: server-rendered pages for managers and agents (Jinja2 + HTMX), over the store.

Signed in with an API key: the key is checked once at sign-in and the session cookie (signed
with a key derived from the server secret; ``SameSite=Strict``; ``HttpOnly``) keeps only the
key's id and a CSRF token. Every request reads the key again, so a revoked or expired key is
refused at once; every form carries the CSRF token and every write is audited like the API's.
Pages work without JavaScript (forms post and redirect); HTMX (``hx-boost``) only makes them
faster. The assets are vendored (no CDN), so the console works offline.

Like the API, no page reads the warehouse: the overview is what the last publish stored.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import yaml
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from patron.errors import DataError, NotFoundError, PatronError
from patron.store.keys import ApiKey, authenticate, key_by_id, record_audit
from patron.yamltext import parse_yaml

__all__ = ["CONSOLE_ROLES", "install_console"]

#: Console page or action → the roles allowed (the integration role has no console).
CONSOLE_ROLES: dict[str, frozenset[str]] = {
    "overview": frozenset({"admin", "manager"}),
    "customers": frozenset({"admin", "manager", "agent"}),
    "record": frozenset({"admin", "agent"}),
    "questions": frozenset({"admin", "manager"}),
    "questions.edit": frozenset({"admin", "manager"}),
    "policy": frozenset({"admin", "manager"}),
    "policy.edit": frozenset({"admin"}),
    "offers": frozenset({"admin", "manager"}),
    "offers.edit": frozenset({"admin", "manager"}),
    "campaigns": frozenset({"admin", "manager"}),
}

_HERE = Path(str(files("patron.api.console")))
_TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
_SESSION_COOKIE = "patron_console"


class _Redirect(Exception):
    """Leave the page for another (sign-in, or back to a form with a message)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class _Refused(Exception):
    """A signed-in key whose role may not see a page or do an action (403)."""

    def __init__(self, what: str, role: str) -> None:
        super().__init__(what)
        self.what = what
        self.role = role


@dataclass(frozen=True)
class _Session:
    key: ApiKey
    csrf: str


def _session_key(secret: bytes) -> str:
    """The cookie-signing key: derived from the server secret, never the secret itself."""
    return hmac.new(secret, b"patron console session", "sha256").hexdigest()


def install_console(app: FastAPI, secret: bytes, *, https_only: bool = False) -> None:
    """Mount the console under ``/console`` (pages, static assets, the session middleware)."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_key(secret),
        session_cookie=_SESSION_COOKIE,
        max_age=8 * 3600,
        same_site="strict",
        https_only=https_only,
    )
    app.mount(
        "/console/static", StaticFiles(directory=str(_HERE / "static")), name="console-static"
    )
    app.include_router(_router(), include_in_schema=False)

    @app.exception_handler(_Redirect)
    async def _redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused) -> Response:
        return _TEMPLATES.TemplateResponse(
            request,
            "refused.html",
            {"what": exc.what, "role": exc.role, "session": None},
            status_code=403,
        )


# --- session, CSRF, roles ----------------------------------------------------------------------


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _signed_in(request: Request, page: str) -> _Session:
    """The session's key (read again now) allowed to see ``page``; else sign-in or 403."""
    key_id = request.session.get("key_id")
    key = None
    if isinstance(key_id, int):
        with request.app.state.store.read() as conn:
            key = key_by_id(conn, key_id)
    if key is None or key.state() != "active":
        request.session.pop("key_id", None)
        reason = "" if key is None else f"?why={key.state()}"
        raise _Redirect(f"/console/login{reason}")
    if key.role not in CONSOLE_ROLES[page]:
        raise _Refused(page, key.role)
    return _Session(key, _csrf(request))


async def _form(request: Request, session: _Session) -> dict[str, str]:
    """The posted form, after its CSRF token was checked (403 when it does not match)."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf):
        raise _Refused("csrf", session.key.role)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _page(request: Request, name: str, session: _Session | None, **context: Any) -> HTMLResponse:
    context.update(
        session=session,
        csrf=session.csrf if session else _csrf(request),
        flash=request.query_params.get("flash", ""),
        problem=request.query_params.get("problem", ""),
        roles=CONSOLE_ROLES,
    )
    return _TEMPLATES.TemplateResponse(request, name, context)


def _back(url: str, *, flash: str = "", problem: str = "") -> RedirectResponse:
    query = urlencode({k: v for k, v in (("flash", flash), ("problem", problem)) if v})
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{query}" if query else url, status_code=303)


# --- pages -------------------------------------------------------------------------------------


def _router() -> APIRouter:
    router = APIRouter(prefix="/console")

    @router.get("/plotly.js")
    def plotly(request: Request) -> Response:
        _signed_in(request, "overview")
        from patron.report._render import plotly_js

        return Response(
            plotly_js(),
            media_type="text/javascript",
            headers={"Cache-Control": "private, max-age=86400"},
        )

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, why: str = "") -> HTMLResponse:
        return _page(request, "login.html", None, why=why)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        sent = form.get("csrf")
        token = form.get("key")
        expected = request.session.get("csrf")
        if not (isinstance(sent, str) and isinstance(expected, str)) or not hmac.compare_digest(
            sent, expected
        ):
            return _back("/console/login", problem="The sign-in form expired; try again.")
        key = None
        if isinstance(token, str) and 0 < len(token.strip()) <= 256:
            state = request.app.state
            with state.store.read() as conn:
                key = authenticate(conn, state.secret, token.strip())
        if key is None or key.state() != "active" or key.role == "integration":
            what = (
                "That key is not known."
                if key is None
                else f"That key is {key.state()}."
                if key.state() != "active"
                else "Integration keys cannot sign in to the console."
            )
            return _back("/console/login", problem=what)
        request.session.clear()
        request.session["key_id"] = key.id
        request.session["csrf"] = secrets.token_urlsafe(24)
        with request.app.state.store.write() as conn:
            record_audit(conn, "console.sign_in", key_id=key.id, role=key.role)
        home = "/console/" if key.role in CONSOLE_ROLES["overview"] else "/console/customers"
        return RedirectResponse(home, status_code=303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = _signed_in(request, "customers" if "key_id" in request.session else "overview")
        await _form(request, session)
        request.session.clear()
        return _back("/console/login", flash="Signed out.")

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        session = _signed_in(request, "overview")
        from patron.store.overview import read_overview

        with request.app.state.store.read() as conn:
            data = read_overview(conn)
        return _page(request, "overview.html", session, overview=data)

    @router.get("/customers", response_class=HTMLResponse)
    def search(request: Request, q: str = "") -> Response:
        session = _signed_in(request, "customers")
        q = q.strip()
        if not q:
            return _page(request, "search.html", session, q="")
        from patron.interact.profiles import resolve_customer

        try:
            with request.app.state.store.read() as conn:
                customer_id = resolve_customer(conn, q)
        except PatronError as exc:
            return _page(request, "search.html", session, q=q, not_found=str(exc))
        return RedirectResponse(f"/console/customers/{quote(customer_id, safe='')}", 303)

    @router.get("/customers/{customer_id}", response_class=HTMLResponse)
    def screen(request: Request, customer_id: str, channel: str = "phone") -> Response:
        session = _signed_in(request, "customers")
        from patron.customize.agent import screen_with_offer
        from patron.interact import CHANNELS, CONSENT_STATES, PURPOSES

        try:
            _, decision, data = screen_with_offer(
                request.app.state.store,
                customer_id,
                channel if channel in CHANNELS else "phone",
                fallback=request.app.state.offers,
            )
        except PatronError as exc:
            return _page(request, "search.html", session, q=customer_id, not_found=str(exc))
        return _page(
            request,
            "customer.html",
            session,
            screen=data,
            decision=data["next_best_action"] if decision.action is not None else None,
            channels=CHANNELS,
            purposes=PURPOSES,
            consent_states=CONSENT_STATES,
            can_record=session.key.role in CONSOLE_ROLES["record"],
        )

    @router.post("/customers/{customer_id}/{action}")
    async def record(request: Request, customer_id: str, action: str) -> Response:
        session = _signed_in(request, "record")
        form = await _form(request, session)
        here = f"/console/customers/{quote(customer_id, safe='')}"
        channel = form.get("channel", "phone")
        if channel:
            here += f"?channel={quote(channel)}"
        try:
            flash = _do(request, session, customer_id, action, form)
        except PatronError as exc:
            return _back(here, problem=str(exc))
        return _back(here, flash=flash)

    @router.get("/questions", response_class=HTMLResponse)
    def questions_page(request: Request) -> HTMLResponse:
        session = _signed_in(request, "questions")
        from patron.interact import question_bank

        with request.app.state.store.read() as conn:
            bank = question_bank(conn)
        text = yaml.safe_dump(
            {
                "decisions": dict(bank.decisions),
                "questions": [q.to_dict() for q in bank.questions],
            },
            sort_keys=False,
            allow_unicode=True,
        )
        return _page(
            request,
            "questions.html",
            session,
            questions=bank.questions,
            text=text,
            can_edit=session.key.role in CONSOLE_ROLES["questions.edit"],
        )

    @router.post("/questions")
    async def questions_save(request: Request) -> Response:
        session = _signed_in(request, "questions.edit")
        form = await _form(request, session)
        from patron.interact import install_question_bank
        from patron.interact.questions import parse_question_bank

        try:
            data = _yaml(form.get("bank", ""), "the question bank")
            bank = parse_question_bank(data, "the question bank")
            count = install_question_bank(request.app.state.store, bank, source="console")
        except PatronError as exc:
            return _back("/console/questions", problem=str(exc))
        _audit(request, session, "console.questions", None, {"questions": count})
        return _back("/console/questions", flash=f"Question bank saved: {count} questions.")

    @router.get("/offers", response_class=HTMLResponse)
    def offers_page(request: Request) -> HTMLResponse:
        session = _signed_in(request, "offers")
        from patron.customize.offers import OFFER_KINDS, list_offers

        every = list_offers(request.app.state.store)
        return _page(
            request,
            "offers.html",
            session,
            offers=[o.to_dict() for o in every],
            kinds=OFFER_KINDS,
            example=_OFFER_EXAMPLE,
            can_edit=session.key.role in CONSOLE_ROLES["offers.edit"],
        )

    @router.post("/offers")
    async def offers_save(request: Request) -> Response:
        session = _signed_in(request, "offers.edit")
        form = await _form(request, session)
        from patron.customize.offers import create_offer, update_offer

        try:
            data = _yaml(form.get("offer", ""), "the offer")
            if not isinstance(data, dict):
                raise DataError("An offer is a mapping of its fields (id, name, kind, ...).")
            store = request.app.state.store
            offer_id = str(data.get("id", ""))
            if _has_offer(store, offer_id):
                offer = update_offer(
                    store, offer_id, {k: v for k, v in data.items() if k != "id"}, source="console"
                )
                verb = "updated"
            else:
                offer = create_offer(store, data, source="console")
                verb = "created"
        except PatronError as exc:
            return _back("/console/offers", problem=str(exc))
        _audit(request, session, f"console.offer_{verb}", offer.id, None)
        return _back("/console/offers", flash=f"Offer {offer.id} {verb}.")

    @router.post("/offers/{offer_id}/remove")
    async def offers_remove(request: Request, offer_id: str) -> Response:
        session = _signed_in(request, "offers.edit")
        await _form(request, session)
        from patron.customize.offers import delete_offer

        try:
            delete_offer(request.app.state.store, offer_id)
        except PatronError as exc:
            return _back("/console/offers", problem=str(exc))
        _audit(request, session, "console.offer_removed", offer_id, None)
        return _back("/console/offers", flash=f"Offer {offer_id} removed.")

    @router.get("/campaigns", response_class=HTMLResponse)
    def campaigns_page(request: Request) -> HTMLResponse:
        session = _signed_in(request, "campaigns")
        from patron.customize.campaigns import list_campaigns

        items = [c.to_dict() for c in list_campaigns(request.app.state.store, limit=200)]
        return _page(request, "campaigns.html", session, campaigns=items)

    @router.get("/policy", response_class=HTMLResponse)
    def policy_page(request: Request) -> HTMLResponse:
        session = _signed_in(request, "policy")
        from patron.interact import contact_policy

        data = json.loads(contact_policy(request.app.state.store).to_json())
        return _page(
            request,
            "policy.html",
            session,
            policy=data,
            text=yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
            can_edit=session.key.role in CONSOLE_ROLES["policy.edit"],
        )

    @router.post("/policy")
    async def policy_save(request: Request) -> Response:
        session = _signed_in(request, "policy.edit")
        form = await _form(request, session)
        from patron.interact import ContactPolicy, set_contact_policy

        try:
            data = _yaml(form.get("policy", ""), "the contact policy")
            if not isinstance(data, dict):
                raise DataError("The contact policy is a mapping with `rules`.")
            try:
                policy = ContactPolicy.from_dict(data)
            except (TypeError, ValueError) as exc:
                raise DataError(f"The contact policy: {exc}") from None
            set_contact_policy(request.app.state.store, policy)
        except PatronError as exc:
            return _back("/console/policy", problem=str(exc))
        _audit(request, session, "console.policy", None, {"rules": len(policy.rules)})
        return _back("/console/policy", flash="Contact policy saved.")

    return router


def _do(
    request: Request, session: _Session, customer_id: str, action: str, form: dict[str, str]
) -> str:
    """Carry out one of the customer screen's actions; the message to show."""
    from patron.interact import (
        Touchpoint,
        decline_question,
        log_touchpoint,
        record_answer,
        set_consent,
    )

    store = request.app.state.store
    channel = form.get("channel", "phone")
    agent = f"key:{session.key.prefix}"
    if action == "answer":
        fact = record_answer(
            store,
            customer_id,
            form.get("question_id", ""),
            form.get("answer", ""),
            channel=channel,
            agent=agent,
        )
        done = f"Answer recorded ({fact.question_id})."
    elif action == "decline":
        decline_question(
            store, customer_id, form.get("question_id", ""), channel=channel, agent=agent
        )
        done = "Recorded that the customer declined to answer."
    elif action == "call":
        log_touchpoint(
            store,
            Touchpoint(
                customer_id=customer_id,
                channel=channel,
                kind=form.get("kind", "service"),
                direction=form.get("direction", "inbound"),
                agent=agent,
                note=form.get("note") or None,
            ),
        )
        done = "Call logged."
    elif action in ("offer_accepted", "offer_declined") and form.get("decision_id", "").isdigit():
        from patron.customize.responses import record_response

        outcome = action.removeprefix("offer_")
        record_response(store, int(form["decision_id"]), outcome, agent=agent)
        done = f"Offer {outcome}."
    elif action in ("offer_accepted", "offer_declined"):
        log_touchpoint(
            store,
            Touchpoint(
                customer_id=customer_id,
                channel=channel,
                kind=action,
                direction="inbound",
                agent=agent,
                note=form.get("offer") or None,
            ),
        )
        done = "Offer accepted." if action == "offer_accepted" else "Offer declined."
    elif action == "consent":
        set_consent(
            store,
            customer_id,
            form.get("consent_channel", "all"),
            form.get("purpose", ""),
            form.get("state", ""),
            source="call centre",
            evidence=form.get("evidence") or None,
        )
        done = "Consent recorded."
    else:
        raise _Refused(f"action {action}", session.key.role)
    _audit(request, session, f"console.{action}", customer_id, None)
    return done


#: What the offers page shows as a starting point for a new offer.
_OFFER_EXAMPLE = """id: winback-10
name: 10% off your next order
kind: reactivation
category: books
eligibility: p_alive < 0.5 and clv > 20
channels: [email, phone]
contact_cost: {email: 0.05, phone: 2.0}
margin_rate: 0.25
price: 20
response_rate: 0.08
max_per_customer: 2
"""


def _has_offer(store: Any, offer_id: str) -> bool:
    """Whether the catalogue holds ``offer_id`` (one keyed read)."""
    from patron.customize.offers import get_offer

    try:
        get_offer(store, offer_id)
    except NotFoundError:
        return False
    return True


def _audit(
    request: Request,
    session: _Session,
    action: str,
    target: str | None,
    detail: dict[str, Any] | None,
) -> None:
    with request.app.state.store.write() as conn:
        record_audit(
            conn,
            action,
            key_id=session.key.id,
            role=session.key.role,
            target=target,
            detail=detail,
        )


def _yaml(text: str, what: str) -> Any:
    """``text`` parsed as YAML; a :class:`DataError` names the line of a syntax error."""
    return parse_yaml(text, what)
