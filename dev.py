#!/usr/bin/env python3
"""Set up the project environment from the lock file and run a task.

Usage::

    python3 dev.py demo      # create .venv if needed, then run `patron demo`
    python3 dev.py test      # create .venv if needed (and Debian's chromium for the browser
                             # test and postgresql for the PostgreSQL tests, when apt-get is
                             # there), then ruff, mypy and all tests
    python3 dev.py env       # only create/refresh .venv
    python3 dev.py bench-api # create .venv if needed (and Debian's wrk and postgresql), then
                             # the API load benchmark, benchmarks/bench_api.py (its options
                             # follow: --customers, --duration, --postgres, ...)

Only the Python standard library is used here, so this works on a fresh machine with
Python 3.11+. The environment is rebuilt when `requirements/dev.lock` or `pyproject.toml`
changes (a stamp file inside .venv records their hash).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements" / "dev.lock"
STAMP = VENV / ".patron-lock-hash"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _lock_hash() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an old Python
        sys.exit(f"Patron needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = _lock_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"Creating the environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("Installing locked dependencies (requirements/dev.lock) ...", flush=True)
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-r", LOCK)
    STAMP.write_text(wanted)


def _apt_install(package: str, tests: str) -> None:
    """Install a Debian package with apt-get (as root), or say which tests will skip."""
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"note: {package} is not installed; {tests} will be skipped")
        return
    print(f"Installing Debian's {package} for {tests} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", package]):
        done = subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            print(f"note: {' '.join(cmd)} failed; {tests} will be skipped")
            return


def ensure_browser() -> None:
    """Debian's chromium for the reports' browser tests, when missing and possible."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        _apt_install("chromium", "the browser tests of the reports")


def ensure_postgres() -> None:
    """Debian's postgresql (initdb, pg_ctl) for the PostgreSQL tests, when missing and possible."""
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        _apt_install("postgresql", "the PostgreSQL tests")


def ensure_wrk() -> None:
    """Debian's wrk (the HTTP load generator of the API benchmark), when missing and possible."""
    if not shutil.which("wrk"):
        _apt_install("wrk", "the API load benchmark (benchmarks/bench_api.py)")


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task in {"help", "-h", "--help"}:
        print(__doc__)
        return
    if task not in {"demo", "test", "env", "bench-api"}:
        sys.exit(f"Unknown task {task!r}: use demo, test, env or bench-api.")
    ensure_env()
    if task == "demo":
        _run(BIN / "patron", "demo", *rest)
    elif task == "bench-api":
        ensure_wrk()
        ensure_postgres()
        _run(BIN / "python", ROOT / "benchmarks" / "bench_api.py", *rest)
    elif task == "test":
        ensure_browser()
        ensure_postgres()
        _run(BIN / "ruff", "check", "src", "tests", "benchmarks", "dev.py")
        _run(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py")
        _run(BIN / "mypy")
        _run(BIN / "python", "-m", "pytest", *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
