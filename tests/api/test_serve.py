"""`patron serve` through the real entry point: a missing store refused, a served store answers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from patron.cli import main
from patron.store import upgrade_store

PATRON = Path(sys.executable).with_name("patron")


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.sqlite'}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["serve", "--store", url])
    assert code == 69
    assert "patron store upgrade" in err.getvalue()


def test_serve_names_a_bad_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url)
    monkeypatch.setenv("PATRON_API_THREADS", "0")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["serve", "--store", url])
    assert code == 78  # a configuration error, not "a bug in Patron"
    assert "PATRON_API_THREADS: Input should be greater than or equal to 1" in err.getvalue()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback_with_two_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url)
    port = _port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(PATRON), "serve", "--store", url, "--port", str(port), "--workers", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PATRON_STORE": "sqlite:///elsewhere.sqlite"},
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None, (tmp_path / "serve.log").read_text()
        assert body["status"] == "ok"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/keys")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        assert refused.value.headers["content-type"].startswith("application/problem+json")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert "GET ready 200" in text  # the access log: the operation, never the path itself
    assert "GET keys.list 401" in text, text


def test_the_request_threads_follow_the_store(tmp_path: Path) -> None:
    """One thread per worker on SQLite (more only contend for the GIL), unless set."""
    import anyio
    import anyio.to_thread

    from patron.api import ApiSettings, create_app

    async def tokens_while_serving(settings: ApiSettings) -> float:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            return anyio.to_thread.current_default_thread_limiter().total_tokens

    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade_store(url)
    assert anyio.run(tokens_while_serving, ApiSettings(store=url)) == 1
    assert anyio.run(tokens_while_serving, ApiSettings(store=url, api_threads=3)) == 3
