from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patron.data.warehouse import Warehouse, connect

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PATRON_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (set PATRON_SHARED_DATA to its folder)")
    return path


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = connect(f"duckdb://{tmp_path / 'test.duckdb'}")
    yield warehouse
    warehouse.close()


def require_spark() -> None:
    """Skip the test, with the reason, where a local Spark session cannot start."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH; Spark needs Java 17+")


@pytest.fixture(scope="session")
def spark_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """One local Spark warehouse for the whole test session (Spark starts slowly)."""
    require_spark()
    directory = tmp_path_factory.mktemp("spark")
    warehouse = connect(f"pyspark://{directory}")
    yield warehouse
    warehouse.con._session.stop()


def snapshot(warehouse: Warehouse) -> dict[str, object]:
    """Everything a failed load must leave unchanged: tables, row counts, ledger rows."""
    state: dict[str, object] = {}
    for name in warehouse.list_tables():
        if name.startswith("ibis_"):
            continue
        table = warehouse.con.table(name)
        state[name] = int(table.count().execute())
        if name == "_patron_loads":
            state["ledger"] = sorted(table.content_hash.execute().tolist())
    return state


def _postgres_program(name: str) -> str | None:
    """A PostgreSQL server program on PATH or in Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the test session, on a Unix socket only.

    Started with the system's ``initdb``/``pg_ctl``; as root (PostgreSQL refuses to run as
    root) under the ``postgres`` user. Skips, saying why, where that is not possible.
    """
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server programs (initdb, pg_ctl); apt-get install postgresql")
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL will not run as root, and there is no postgres user")
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    root = Path(tempfile.mkdtemp(prefix="patron-pg-"))  # not under pytest's 0700 folder
    if as_user:
        os.chown(root, as_user["user"], as_user["group"])
    data, log = root / "data", root / "server.log"
    options = f"-c listen_addresses='' -k {root} -p 5432"

    def run(*args: str, check: bool = True) -> None:
        subprocess.run(args, check=check, capture_output=True, cwd=root, **as_user)

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "patron")
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        why = exc.stderr.decode(errors="replace")[-300:] if hasattr(exc, "stderr") else exc
        pytest.skip(f"PostgreSQL did not start: {why}")
    try:
        yield f"postgres://patron@/postgres?host={root}&port=5432"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
