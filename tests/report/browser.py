"""Open a report in Debian's headless Chromium and check that it really works."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def check_in_browser(path: Path) -> int:
    """Load ``path``; assert every chart drew, no console errors, no network requests.

    Returns the number of charts.
    """
    from playwright.sync_api import sync_playwright

    page_html = path.read_text(encoding="utf-8")
    charts = page_html.count('class="plotly-graph-div"')
    errors: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:"))
                else external.append(r.url),
            )  # fmt: skip
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                timeout=30_000,
            )
            drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
            heights = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".map(e => e.getBoundingClientRect().height)"
            )
        finally:
            browser.close()
    assert drawn == charts
    assert all(h > 100 for h in heights)  # every chart has drawn, not an empty box
    assert errors == []
    assert external == []
    return charts
