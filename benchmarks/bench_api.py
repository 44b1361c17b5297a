"""API load benchmark: the agent screen and touch-point logging through `patron serve`, by wrk.

Usage::

    .venv/bin/python benchmarks/bench_api.py [--customers 1000000] [--duration 60]
        [--workers 2] [--connections 8] [--threads N] [--rate R] [--offers N] [--postgres]
        [--keep DIR]

Loopback only, bounded in count and time. Steps (on SQLite; on a throwaway local PostgreSQL
server too with ``--postgres``):

- N published profiles (synthetic rows inserted in batches straight into the store: one live
  publication, an e-mail and a card identifier per customer), the example question bank;
- ``patron serve --workers W`` as its own process (rate limit off: ``PATRON_API_RATE_LIMIT=0``;
  the access log on, to a file);
- ``wrk`` (Debian's; ``python3 dev.py bench-api`` installs it) on one thread, ``C`` connections:
  ``GET /api/v1/customers/{random id}/screen`` with an agent key for ``--duration`` seconds,
  after a 5 s warm-up: requests per second, latency percentiles, errors, and the server's CPU
  per request (from /proc). As fast as it goes, or paced to about ``--rate`` requests per
  second (each connection pauses before each request);
- ``POST /api/v1/touchpoints`` with an integration key, every request a new idempotency key,
  for ``--duration / 2`` seconds: touch points per second, and the rows counted in the store
  afterwards against the 201 responses wrk received (none lost).

The load generator runs on the same 2-core machine as the server and is counted in.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_interact import postgres_server  # noqa: E402  (the same throwaway server)

from patron.interact import (  # noqa: E402
    example_question_bank,
    install_question_bank,
    load_question_bank,
)
from patron.store import Store, open_store, upgrade_store  # noqa: E402
from patron.store.keys import create_key, server_secret  # noqa: E402
from patron.store.schema import (  # noqa: E402
    identifiers,
    profiles,
    publications,
    store_meta,
    touchpoints,
)

PATRON = ROOT / ".venv" / "bin" / "patron"

SCREEN_LUA = """
local n = tonumber(os.getenv("BENCH_CUSTOMERS"))
local auth = "Bearer " .. os.getenv("BENCH_KEY")
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) math.randomseed(os.time() + id * 7919) end
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then function delay() return pause end end
function request()
  local path = string.format("/api/v1/customers/C%07d/screen?channel=phone", math.random(1, n))
  return wrk.format("GET", path, {["Authorization"] = auth})
end
"""

TOUCH_LUA = """
local n = tonumber(os.getenv("BENCH_CUSTOMERS"))
local auth = "Bearer " .. os.getenv("BENCH_KEY")
local run = os.getenv("BENCH_RUN")
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args) seq = 0; created = 0; math.randomseed(os.time() + id * 7919) end
function request()
  seq = seq + 1
  local body = string.format(
    '{"customer_id":"C%07d","channel":"web","kind":"visit","idempotency_key":"%s-%d-%d"}',
    math.random(1, n), run, id, seq)
  return wrk.format("POST", "/api/v1/touchpoints",
    {["Authorization"] = auth, ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body) if status == 201 then created = created + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.write(string.format("CREATED %d\\n", total))
end
"""


def fill_store(store: Store, n: int, batch: int = 50_000) -> float:
    """N synthetic published profiles (one live publication); seconds taken."""
    t0 = time.perf_counter()
    now = datetime(2026, 12, 1)
    tiers = ("MVC", "MGC", "other", "other", "BZ")
    segments = ("books / web", "games / app", "weekend shoppers", "frequent returners")
    with store.write() as conn:
        pub = conn.execute(
            sa.insert(publications).returning(publications.c.id),
            {"started_at": now, "finished_at": now, "status": "live", "source": "bench",
             "customers": n, "identifiers": 2 * n},
        ).scalar_one()  # fmt: skip
        conn.execute(sa.delete(store_meta).where(store_meta.c.key == "publication"))
        conn.execute(sa.insert(store_meta).values(key="publication", value=str(pub)))
    postgres = store.dialect == "postgresql"
    for start in range(0, n, batch):
        rows = []
        idents = []
        for i in range(start + 1, min(n, start + batch) + 1):
            cid = f"C{i:07d}"
            clv = float((i * 7919) % 2000) / 3.0
            rows.append(
                (pub, cid, "person", clv, clv * 0.6, clv * 1.5, 0.3 + (i % 70) / 100.0,
                 1.0 + (i % 9) / 3.0, tiers[i % 5], "bench tier", "regular",
                 segments[i % 4], "a synthetic segment", now, "Europe/London",
                 f"c{i}@example.com", f"+4479{i:08d}", "basic", "reactive",
                 "Invite the customer to call with any problem.", "books;games")
            )  # fmt: skip
            idents.append((pub, "email", f"c{i}@example.com", cid))
            idents.append((pub, "card", f"K{i:09d}", cid))
        with store.write() as conn:
            if postgres:
                raw: Any = conn.connection.driver_connection
                with raw.cursor() as cur:
                    cols = ", ".join(c.name for c in profiles.columns)
                    with cur.copy(f"COPY profiles ({cols}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    with cur.copy(
                        "COPY identifiers (publication_id, kind, value, customer_id) FROM STDIN"
                    ) as copy:
                        for row in idents:
                            copy.write_row(row)
            else:
                names = [c.name for c in profiles.columns]
                conn.execute(sa.insert(profiles), [dict(zip(names, r, strict=True)) for r in rows])
                conn.execute(
                    sa.insert(identifiers),
                    [dict(zip(("publication_id", "kind", "value", "customer_id"), r,
                              strict=True)) for r in idents],
                )  # fmt: skip
    with store.write() as conn:
        for table in ("profiles", "identifiers"):
            conn.exec_driver_sql(f"ANALYZE {table}")
    install_question_bank(store, load_question_bank(example_question_bank()))
    return time.perf_counter() - t0


def add_offers(store: Any, n: int) -> None:
    """``n`` synthetic offers (eligibility over tier and segment; the phone channel among
    theirs), so that each agent screen's "what to offer" is a logged next best action."""
    from patron.customize.offers import create_offer

    tiers = ("MVC", "MGC", "other")
    for i in range(n):
        create_offer(
            store,
            {
                "id": f"bench-{i:02d}",
                "name": f"Bench offer {i}",
                "kind": ("cross-sell", "up-sell", "retention", "loyalty")[i % 4],
                "category": f"category {i % 7}",
                "eligibility": f"tier == '{tiers[i % 3]}' or clv > {50 + 10 * i}",
                "channels": ["phone", "email"],
                "contact_cost": {"phone": 1.5, "email": 0.05},
                "margin": 10.0 + i,
                "price": 20.0 + i,
                "response_rate": 0.02 + 0.005 * (i % 10),
            },
            source="bench",
        )


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, timeout: float = 60.0) -> None:
    """Wait until /ready answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server at {base} did not become ready in {timeout:.0f} s")


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests per second, latency percentiles (ms), totals and errors from wrk's output."""

    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    out: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0}
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(total.group(1))  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{pct}%\s+([\d.]+\w+)", text, re.MULTILINE)
        out[f"p{pct}"] = ms(found.group(1)) if found else float("nan")
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non:
        out["non_2xx"] = int(non.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        out["socket_errors"] = sum(int(g) for g in sock.groups())
    created = re.search(r"CREATED (\d+)", text)
    if created:
        out["created"] = int(created.group(1))
    return out


def wrk(
    base: str, script: Path, seconds: int, connections: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run wrk (one thread) and parse its report."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
           base]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return {**parse_wrk(done.stdout), "output": done.stdout}


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == root or int(fields[1]) == root:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def count(store: Store) -> int:
    """Touch points in the store."""
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(touchpoints)).scalar_one())


def run_backend(label: str, url: str, args: argparse.Namespace, folder: Path) -> None:
    """Fill the store at ``url``, serve it, load it; print the figures."""
    upgrade_store(url)
    store = open_store(url)
    try:
        seconds = fill_store(store, args.customers)
        print(f"[{label}] {args.customers:,} profiles written in {seconds:.1f} s", flush=True)
        if args.offers:
            add_offers(store, args.offers)
            print(
                f"[{label}] {args.offers} offers: every screen runs the next best action and "
                "logs its decision",
                flush=True,
            )
        secret = server_secret(store)
        agent = create_key(store, secret, name="bench agent", role="agent").key
        integration = create_key(store, secret, name="bench shop", role="integration").key
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (folder / f"serve-{label}.log").open("w")
        env = {**os.environ, "PATRON_API_RATE_LIMIT": "0"}
        threads = ["--threads", str(args.threads)] if args.threads else []
        server = subprocess.Popen(
            [str(PATRON), "serve", "--store", url, "--port", str(port), "--workers",
             str(args.workers), *threads], stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            wait_ready(base)
            screen = folder / "screen.lua"
            screen.write_text(SCREEN_LUA)
            touch = folder / "touch.lua"
            touch.write_text(TOUCH_LUA)
            common = {"BENCH_CUSTOMERS": str(args.customers)}
            wrk(base, screen, 5, args.connections, {**common, "BENCH_KEY": agent})  # warm-up
            load = os.getloadavg()[0]
            cpu0 = cpu_seconds(server.pid)
            paced = {}
            if args.rate:
                # Each connection waits this long before each request: about --rate in all.
                pause = max(1, round(args.connections * 1000 / args.rate - args.expected_ms))
                paced = {"BENCH_DELAY_MS": str(pause)}
            got = wrk(
                base, screen, args.duration, args.connections,
                {**common, "BENCH_KEY": agent, **paced},
            )  # fmt: skip
            cpu_ms = (cpu_seconds(server.pid) - cpu0) * 1000 / max(got["requests"], 1)
            print(
                f"[{label}] agent screen{' paced' if args.rate else ''}: {got['rps']:.0f} req/s "
                f"for {args.duration} s "
                f"({got['requests']:,} requests), p50 {got['p50']:.1f} ms, "
                f"p90 {got['p90']:.1f} ms, p99 {got['p99']:.1f} ms; "
                f"non-2xx {got['non_2xx']}, socket errors "
                f"{got['socket_errors']}; server CPU {cpu_ms:.2f} ms per request; load average "
                f"{load:.1f} before, {os.getloadavg()[0]:.1f} after",
                flush=True,
            )
            before = count(store)
            touch_seconds = max(5, args.duration // 2)
            run_id = f"{label}{int(time.time())}"
            cpu0 = cpu_seconds(server.pid)
            logged = wrk(
                base, touch, touch_seconds, args.connections,
                {**common, "BENCH_KEY": integration, "BENCH_RUN": run_id},
            )  # fmt: skip
            time.sleep(1.0)
            tp_ms = (cpu_seconds(server.pid) - cpu0) * 1000 / max(logged["requests"], 1)
            stored = count(store) - before
            lost = logged.get("created", 0) - stored
            print(
                f"[{label}] touch points: {logged['rps']:.0f}/s for {touch_seconds} s; wrk got "
                f"{logged.get('created', 0):,} 201s (non-2xx {logged['non_2xx']}, socket errors "
                f"{logged['socket_errors']}); stored {stored:,}; lost {max(lost, 0)} (stored "
                f"beyond wrk's count: requests in flight when wrk stopped); server CPU {tp_ms:.2f} "
                "ms per request",
                flush=True,
            )
            if args.verbose:
                print(got["output"], logged["output"])
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    finally:
        store.close()


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=60, help="seconds of screen load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, help="request threads per worker (default: patron serve's)"
    )
    parser.add_argument(
        "--rate", type=float, help="pace the screen load to about this many requests per second"
    )
    parser.add_argument(
        "--expected-ms", type=float, default=4.0, help="latency assumed when pacing (ms)"
    )
    parser.add_argument(
        "--offers", type=int, default=0, help="synthetic offers in the catalogue (0: none)"
    )
    parser.add_argument("--postgres", action="store_true", help="also on a local PostgreSQL")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--keep", type=Path, help="keep the stores and logs in this folder")
    parser.add_argument("--verbose", action="store_true", help="print wrk's reports")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: python3 dev.py bench-api installs it (apt-get).")
    if not 1 <= args.duration <= 600 or not 1 <= args.customers <= 20_000_000:
        raise SystemExit("--duration is 1 to 600 s and --customers 1 to 20,000,000.")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="patron-bench-api-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if args.sqlite:
            run_backend("sqlite", f"sqlite:///{folder / 'store.sqlite'}", args, folder)
        if args.postgres:
            with postgres_server() as url:
                run_backend("postgres", url, args, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
