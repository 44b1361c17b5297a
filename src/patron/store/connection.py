"""Opening the operational store, its migrations, and its status.

SQLite (default, a file; WAL journal so readers never wait for the writer, a busy timeout so
concurrent writers queue instead of failing, write transactions begun ``IMMEDIATE`` so two
writers never deadlock upgrading a read lock) or PostgreSQL (``postgresql+psycopg://``; a
``postgres://`` or ``postgresql://`` URL is read as psycopg 3). Migrations are Alembic
revisions shipped in this package and run programmatically: no ``alembic.ini``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from patron.errors import ConfigError, StoreError, first_line
from patron.store import schema

try:  # POSIX: writers of several processes queue on a lock file (see Store._process_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "Store",
    "StoreStatus",
    "head_revision",
    "open_store",
    "store_status",
    "upgrade_store",
]

#: How long a SQLite writer waits for another to finish before giving up (seconds).
SQLITE_BUSY_TIMEOUT_S = 60.0
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@cache
def head_revision() -> str:
    """The revision this version of Patron expects the store to be at."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise StoreError("Patron's store migrations are missing from the installation.")
    return head


def _normalise_url(url: str) -> sa.URL:
    text = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix) :]
    try:
        parsed = sa.make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"Store URL {url!r} is not a URL; use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigError(
            f"Store URL {parsed.render_as_string(hide_password=True)!r}: the operational store "
            "runs on SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://...)."
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            "Store URL: an in-memory SQLite store would vanish with each connection; give a "
            "file, e.g. sqlite:///patron.store.sqlite."
        )
    return parsed


def _sqlite_engine(url: sa.URL) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred
        # and skips DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection
        cursor.execute("PRAGMA analysis_limit=1000")  # ANALYZE samples, as PostgreSQL's does
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("patron_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@dataclass
class Store:
    """A handle on the operational store: an SQLAlchemy engine and how to use it.

    Use :meth:`write` for a unit of work that writes (one transaction) and :meth:`read` for
    reads (one consistent snapshot on SQLite; one transaction on PostgreSQL).
    """

    engine: Engine
    url: str  # for messages: the password hidden
    _closed: bool = field(default=False, repr=False)
    # SQLite: one writer at a time per process, queued on a lock instead of SQLite's busy
    # handler (which polls with sleeps of 1 to 100 ms when threads of one process collide).
    _write_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # ... and writers of several processes (``patron serve --workers``) on an advisory lock of
    # a file beside the database, polled every millisecond (SQLite's handler backs off to
    # 100 ms sleeps: a second of tail latency under load, measured in benchmarks/RESULTS.md).
    _lock_fd: int | None = field(default=None, repr=False)
    _lock_pid: int = field(default=0, repr=False)  # a forked child opens its own

    @property
    def dialect(self) -> str:
        """The SQL dialect's name (``sqlite`` or ``postgresql``)."""
        return str(self.engine.dialect.name)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed at the end, rolled back on any error."""
        if self.dialect != "sqlite":
            with self._errors(), self.engine.connect() as conn:
                conn = conn.execution_options(patron_write=True)
                with conn.begin():
                    yield conn
            return
        if not self._write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise StoreError(
                f"The store at {self.url} stayed busy with another write for "
                f"{SQLITE_BUSY_TIMEOUT_S:.0f} s; try again."
            )
        try:
            with self._process_lock(), self._errors(), self.engine.connect() as conn:
                conn = conn.execution_options(patron_write=True)
                with conn.begin():
                    yield conn
        finally:
            self._write_lock.release()

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Hold the SQLite store's writer lock file (POSIX; elsewhere a no-op)."""
        fd = self._lock_file()
        if fd is None:
            yield
            return
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"The store at {self.url} stayed busy with another process's write "
                        f"for {SQLITE_BUSY_TIMEOUT_S:.0f} s; try again."
                    ) from None
                time.sleep(0.001)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int | None:
        if self._lock_pid != os.getpid():  # a forked child: its own descriptor, its own lock
            if self._lock_fd is not None and self._lock_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._lock_fd)  # the parent's descriptor stays open in the parent
            self._lock_fd, self._lock_pid = None, os.getpid()
        if self._lock_fd is None and fcntl is not None:
            database = self.engine.url.database
            try:
                self._lock_fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:  # a read-only folder: SQLite's busy handler alone
                self._lock_fd = -1
        return None if self._lock_fd is None or self._lock_fd < 0 else self._lock_fd

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (rolled back at the end: nothing it does is kept)."""
        with self._errors(), self.engine.connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StoreError(
                f"The store at {self.url} refused the operation ({first_line(exc.orig or exc)}); "
                "check that it is reachable and not locked by a stuck process."
            ) from exc

    def close(self) -> None:
        """Close every pooled connection."""
        if not self._closed:
            self.engine.dispose()
            if self._lock_fd is not None and self._lock_fd >= 0:
                os.close(self._lock_fd)
            self._lock_fd = None
            self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_engine(url: str) -> tuple[Engine, str]:
    parsed = _normalise_url(url)
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed), shown
        return sa.create_engine(parsed, pool_pre_ping=True), shown
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"Store URL {shown!r} needs the PostgreSQL driver ({exc.name}); install it with "
            "pip install 'patron[postgres]'."
        ) from None


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _require_sqlite_file(url: str) -> None:
    parsed = _normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        if not path.exists():
            raise StoreError(
                f"There is no store at {path}; create it with `patron store upgrade --store "
                f"{url}` (or set PATRON_STORE to the store you meant)."
            )


def open_store(url: str, *, check: bool = True) -> Store:
    """Open the operational store at ``url``.

    Parameters
    ----------
    url
        ``sqlite:///FILE`` or ``postgresql+psycopg://USER@HOST/DB`` (``postgres://`` works too).
    check
        Refuse a store that is not at this Patron's revision (the default). Only
        :func:`upgrade_store` opens one without the check.

    Raises
    ------
    StoreError
        The store is missing, empty, at an older or unknown revision (the message says to run
        ``patron store upgrade``), or unreachable.
    ConfigError
        The URL is not a SQLite or PostgreSQL URL, or its driver is not installed.
    """
    if check:
        _require_sqlite_file(url)
    engine, shown = _make_engine(url)
    store = Store(engine, shown)
    if not check:
        return store
    try:
        with store.read() as conn:
            current = _current_revision(conn)
    except BaseException:
        store.close()
        raise
    head = head_revision()
    if current != head:
        store.close()
        if current is None:
            raise StoreError(
                f"The store at {shown} has no Patron tables yet; create them with "
                f"`patron store upgrade --store {url}`."
            )
        scripts = ScriptDirectory.from_config(_alembic_config())
        known = {rev.revision for rev in scripts.walk_revisions()}
        if current in known:
            raise StoreError(
                f"The store at {shown} is at revision {current}; this Patron needs {head}. "
                f"Run `patron store upgrade --store {url}` (it keeps every row)."
            )
        raise StoreError(
            f"The store at {shown} is at revision {current}, which this Patron does not know "
            "(made by a newer version?); upgrade Patron."
        )
    return store


def upgrade_store(url: str, revision: str = "head") -> tuple[str | None, str]:
    """Bring the store at ``url`` to ``revision`` (default: the latest), creating it if new.

    Returns the revision before and after. Each revision runs in one transaction with the
    others (PostgreSQL and SQLite both have transactional DDL): a failure leaves the store as
    it was.
    """
    parsed = _normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        folder = Path(str(parsed.database)).resolve().parent
        if not folder.is_dir():
            raise StoreError(f"The store's folder {folder} does not exist; create it first.")
    store = Store(*_make_engine(url))
    cfg = _alembic_config()
    try:
        with store.write() as conn:
            before = _current_revision(conn)
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, revision)
            except CommandError as exc:  # alembic's own errors (an unknown revision)
                raise StoreError(f"Cannot upgrade the store to {revision!r}: {exc}") from exc
            after = _current_revision(conn)
    finally:
        store.close()
    return before, after or ""


@dataclass(frozen=True)
class StoreStatus:
    """What ``patron store status`` shows."""

    url: str
    revision: str | None
    head: str
    publication: int | None
    counts: dict[str, int]

    @property
    def current(self) -> bool:
        """Whether the store is at this Patron's revision."""
        return self.revision == self.head

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "url": self.url,
            "revision": self.revision,
            "head": self.head,
            "current": self.current,
            "publication": self.publication,
            "counts": self.counts,
        }


def store_status(url: str) -> StoreStatus:
    """The store's revision, the live publication and the row count of every table.

    Tables with a ``publication_id`` are counted for the live publication only.
    """
    _require_sqlite_file(url)
    store = open_store(url, check=False)
    try:
        with store.read() as conn:
            revision = _current_revision(conn)
            present = set(sa.inspect(conn).get_table_names())
            counts: dict[str, int] = {}
            for table in schema.metadata.sorted_tables:
                if table.name in present:
                    query = sa.select(sa.func.count()).select_from(table)
                    if "publication_id" in table.c:
                        live = sa.select(schema.store_meta.c.value).where(
                            schema.store_meta.c.key == "publication"
                        )
                        query = query.where(
                            sa.cast(table.c.publication_id, sa.String) == live.scalar_subquery()
                        )
                    counts[table.name] = int(conn.execute(query).scalar_one())
            publication = None
            if "store_meta" in present:
                value = conn.execute(
                    sa.select(schema.store_meta.c.value).where(
                        schema.store_meta.c.key == "publication"
                    )
                ).scalar_one_or_none()
                publication = int(value) if value is not None else None
    finally:
        store.close()
    return StoreStatus(store.url, revision, head_revision(), publication, counts)
