"""The console in real headless Chromium: the agent's call, a manager's pages, accessibility.

A real uvicorn server on a loopback port serves the app; the browser is Debian's chromium
driven by Playwright (no browser download). Every page is checked for console errors and for
requests leaving the server (the console must work offline), and with axe-core (vendored in
``tests/api/assets``) for serious or critical accessibility violations.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from patron.api import create_app
from patron.store import Store
from patron.store.keys import create_key, server_secret
from tests.api.console_fixtures import shop, store, store_url
from tests.report.browser import CHROMIUM

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (python3 dev.py test installs it)"
)

__all__ = ["shop", "store", "store_url"]

AXE = Path(__file__).parent / "assets" / "axe.min.js"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(shop: Store) -> Iterator[str]:
    """The app served on a loopback port; its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(store=shop), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


class Browser:
    """One Chromium page that records console errors and requests to other hosts."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.external: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request",
            lambda r: None if r.url.startswith((base, "data:", "blob:", "about:"))
            else self.external.append(r.url),
        )  # fmt: skip

    def sign_in(self, key: str) -> None:
        self.page.goto(f"{self.base}/console/login")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(lambda url: "/console/login" not in url, timeout=10_000)

    def axe(self) -> list[str]:
        """Serious and critical axe-core violations of the current page."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("async () => await axe.run(document)")
        return [
            f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def overflows(self) -> bool:
        """Whether the page is wider than the window (horizontal scrolling)."""
        return bool(
            self.page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        )


@pytest.fixture
def browser(server: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            yield Browser(page, server)
        finally:
            chromium.close()


def test_an_agent_takes_a_call_in_the_browser(browser: Browser, shop: Store) -> None:
    key = create_key(shop, server_secret(shop), name="Ann at the desk", role="agent").key
    page = browser.page
    browser.sign_in(key)
    page.get_by_label("Customer id, e-mail, phone or card").fill("+44 7911 123456")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**/console/customers/C1")
    assert page.get_by_role("heading", name="What to ask").is_visible()
    assert page.get_by_role("heading", name="What to offer").is_visible()
    assert browser.axe() == []
    assert not browser.overflows()
    # record the answer: the first choice of the question shown
    question = page.locator(".question").inner_text()
    first = page.locator('input[name="answer"]').first
    answer = first.get_attribute("value")
    first.check()
    page.get_by_role("button", name="Record the answer").click()
    page.locator(".flash", has_text="Answer recorded").wait_for(timeout=10_000)
    # log the call
    page.get_by_label("What it was about").select_option("inquiry")
    page.get_by_label("Note (no sensitive details)").fill("asked about delivery times")
    page.get_by_role("button", name="Log this call").click()
    page.locator(".flash", has_text="Call logged").wait_for(timeout=10_000)
    # both are there after a reload
    page.reload()
    known = page.get_by_role("region", name="Needs").inner_text()
    assert answer is not None
    assert answer in known
    touch = page.get_by_role("region", name="Recent touch points").inner_text()
    assert "asked about delivery times" in touch
    assert "inquiry" in touch
    # the question answered is not asked again
    assert page.locator(".question").count() == 0 or page.locator(".question").inner_text() != (
        question
    )
    # tablet width: no horizontal scrolling
    page.set_viewport_size({"width": 800, "height": 1000})
    assert not browser.overflows()
    assert browser.errors == []
    assert browser.external == []


def test_manager_pages_in_the_browser(browser: Browser, shop: Store) -> None:
    key = create_key(shop, server_secret(shop), name="Max the manager", role="manager").key
    page = browser.page
    browser.sign_in(key)
    assert page.get_by_role("heading", name="Overview").is_visible()
    for link, heading in (("Questions", "Questions"), ("Contact policy", "Contact policy")):
        page.get_by_role("link", name=link).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=10_000)
        assert browser.axe() == []
        assert not browser.overflows()
    # the keyboard reaches the navigation first (skip link, then the links)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert browser.errors == []
    assert browser.external == []


def test_a_manager_creates_an_offer_and_sees_it_chosen(browser: Browser, shop: Store) -> None:
    from patron.interact import set_consent

    set_consent(shop, "C1", "all", "marketing", "granted", source="test")
    key = create_key(shop, server_secret(shop), name="Max the manager", role="manager").key
    page = browser.page
    browser.sign_in(key)
    page.get_by_role("link", name="Offers").click()
    page.get_by_role("heading", name="Offers", exact=True).wait_for(timeout=10_000)
    assert browser.axe() == []
    page.get_by_label("The offer (YAML)", exact=False).fill(
        "id: book-club\nname: Join the book club\nkind: loyalty\ncategory: books\n"
        "eligibility: tier == 'MVC'\nchannels: [phone, email]\nmargin: 20\n"
        "response_rate: 0.3\n"
    )
    page.get_by_role("button", name="Save the offer").click()
    page.locator(".flash", has_text="Offer book-club created").wait_for(timeout=10_000)
    assert "Join the book club" in page.get_by_role("table").inner_text()
    page.get_by_role("link", name="Customers").click()
    page.get_by_label("Customer id, e-mail, phone or card").fill("C1")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url("**/console/customers/C1")
    offer = page.get_by_role("region", name="What to offer").inner_text()
    assert "Join the book club" in offer
    assert "Why:" in offer
    # the other customer is not eligible: no offer, with the reason
    page.goto(f"{browser.base}/console/customers/C2")
    assert "Join the book club" not in page.get_by_role("region", name="What to offer").inner_text()
    assert browser.errors == []
    assert browser.external == []
