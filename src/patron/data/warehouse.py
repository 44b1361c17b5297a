"""The warehouse: an Ibis connection chosen by URL, plus the few operations Patron needs.

DuckDB (a file in the working directory) is the default; ``pyspark:///DIR`` starts a local Spark
session whose tables persist under DIR; any other URL goes to :func:`ibis.connect`. Engine
differences are handled by *probing capabilities* (``supports_transactions``), never by
branching on the backend's name in domain code.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import itertools
import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import ibis
import ibis.expr.types as ir

from patron.errors import ConfigError, WarehouseError, first_line

__all__ = ["Warehouse", "connect"]

log = logging.getLogger(__name__)

SPARK_INSTALL_HINT = "pip install 'patron[spark]' (and a Java 17+ runtime on PATH)"


#: DuckDB's memory limit for warehouse files unless the URL sets one. DuckDB's own default
#: (80% of RAM) let scoring 10M customers peak at 3.9 GB; with 2 GB it spills the largest
#: aggregations to ``FILE.tmp`` and peaks under 3 GB (benchmarks/RESULTS.md).
DUCKDB_MEMORY_LIMIT = "2GB"
#: The limit while a large aggregation runs (:meth:`Warehouse.aggregating`), on a file
#: warehouse with the default limit: the customer summary spills less (at 10M about 2.5 s
#: faster) and the process still peaks under 3 GB. Later steps fill the buffer pool with
#: tables they read again and gain nothing from more, so they keep the default.
DUCKDB_AGGREGATION_MEMORY_LIMIT = "2.2GB"


def _sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _duckdb_path(url: str) -> tuple[str, dict[str, str]]:
    """File path and engine settings of ``duckdb://FILE?memory_limit=2GB&threads=2``."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest, _, query = rest.partition("?")
    config = dict(parse_qsl(query, keep_blank_values=False))
    if rest in {"", ":memory:", "memory"}:
        return ":memory:", config
    return rest, config


def _java_property(name: str, value: str) -> str:
    """``-Dname="value"``, quoted as Spark's launcher splits Java options (paths with spaces)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'-D{name}="{escaped}"'


def _splink_jar() -> str | None:
    """Splink's jar of Scala similarity functions for this Spark, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("splink")
    pyspark = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations or pyspark is None:
        return None
    from pyspark import __version__ as spark_version

    major = "4" if int(spark_version.split(".")[0]) >= 4 else "3"
    folder = Path(next(iter(spec.submodule_search_locations))) / "internals/files/spark_jars"
    jars = sorted(folder.glob(f"scala-udf-similarity-*_spark{major}.jar"))
    return str(jars[-1]) if jars else None


def _spark_session(directory: Path) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            f"The pyspark warehouse needs the Spark extra: {SPARK_INSTALL_HINT}."
        ) from exc
    directory.mkdir(parents=True, exist_ok=True)
    metastore = directory / "metastore_db"
    properties = {"derby.system.home": str(directory)}
    if not os.environ.get("SPARK_CONF_DIR"):  # else the user's own log4j2.properties applies
        logging_conf = importlib.resources.files("patron.data") / "spark-log4j2.properties"
        properties["log4j2.configurationFile"] = Path(str(logging_conf)).as_uri()
    java_options = " ".join(_java_property(k, v) for k, v in properties.items())
    builder = (
        SparkSession.builder.master(os.environ.get("PATRON_SPARK_MASTER", "local[2]"))
        .appName("patron")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(directory / "spark-warehouse"))
        .config("spark.driver.extraJavaOptions", java_options)
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true",
        )
        .enableHiveSupport()
    )
    jar = _splink_jar()
    if jar is not None:  # Splink's similarity functions (Jaro-Winkler) for identity matching
        from pyspark import SparkConf

        own = SparkConf().get("spark.jars", "") or ""  # jars the user's own settings give
        builder = builder.config("spark.jars", ",".join(j for j in (own, jar) if j))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class Warehouse:
    """An Ibis connection with the operations the loaders and models need.

    Parameters
    ----------
    con
        An Ibis backend connection (injected; see :func:`connect` to build one from a URL).
    url
        The URL it came from, for messages.
    """

    def __init__(self, con: Any, url: str = "", *, default_memory_limit: bool = False) -> None:
        self.con = con
        self.url = url
        #: Whether the engine runs under :data:`DUCKDB_MEMORY_LIMIT` (not one the URL set).
        self.default_memory_limit = default_memory_limit
        self._supports_transactions: bool | None = None
        self._names = itertools.count()
        self._depth = 0
        self._supports_temp: bool | None = None
        self._supports_enums: bool | None = None

    # -- inspection ---------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The Ibis backend's name, for messages only."""
        return str(self.con.name)

    def list_tables(self) -> list[str]:
        """Names of the tables (and views) in the warehouse."""
        return sorted(str(t) for t in self.con.list_tables())

    def has_table(self, name: str) -> bool:
        """Whether a table of that name exists."""
        return name in set(self.con.list_tables())

    def table(self, name: str) -> ir.Table:
        """The table ``name`` as an Ibis expression; a clear error when it does not exist."""
        if not self.has_table(name):
            raise WarehouseError(
                f"The warehouse {self.url or self.backend} has no table {name!r}; "
                "load data first with `patron load` (or run `patron demo`)."
            )
        return self.con.table(name)

    # -- capabilities -------------------------------------------------------------------------
    @property
    def supports_transactions(self) -> bool:
        """Whether BEGIN/COMMIT/ROLLBACK work on this engine (probed once)."""
        if self._supports_transactions is None:
            try:
                self.con.raw_sql("BEGIN TRANSACTION")
                self.con.raw_sql("ROLLBACK")
                self._supports_transactions = True
            except Exception:
                self._supports_transactions = False
        return self._supports_transactions

    @property
    def supports_enums(self) -> bool:
        """Whether string columns can be stored as an enumerated type (probed once).

        DuckDB's ENUM: a column of a few known strings is stored as small integers, about ten
        times cheaper to write than VARCHAR (which DuckDB dictionary-compresses on every
        write: ~1 s per 10M rows and column). :meth:`transaction` probes before it begins:
        a failed probe would abort an open transaction on some engines (Postgres).
        """
        if self._supports_enums is None:
            try:
                self.con.raw_sql("SELECT CAST('a' AS ENUM('a', 'b'))")
                self._supports_enums = True
            except Exception:
                self._supports_enums = False
        return self._supports_enums

    @property
    def copy_connection(self) -> Any | None:
        """The driver's connection when the engine takes ``COPY ... FROM STDIN``, else ``None``.

        PostgreSQL through psycopg: :func:`patron.data.loader.load` then checks files in a
        local DuckDB and streams the good rows in by ``COPY`` (the engine reads no files).
        """
        raw = getattr(self.con, "con", None)
        cursor = getattr(raw, "cursor_factory", None)
        return raw if cursor is not None and callable(getattr(cursor, "copy", None)) else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction where the engine has them.

        On engines without transactions (Spark) the block runs as it is; callers then order
        their writes so that a failure leaves earlier state readable (stage first, swap last).
        """
        if not self.supports_transactions or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        _ = self.supports_enums  # probed before the transaction: a failed probe would end it
        self.con.raw_sql("BEGIN TRANSACTION")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self.con.raw_sql("ROLLBACK")
            raise
        self._depth -= 1
        self.con.raw_sql("COMMIT")

    # -- writing ------------------------------------------------------------------------------
    def scratch_name(self, stem: str) -> str:
        """A fresh table name for staging, unique in this warehouse."""
        return f"_patron_{stem}_{uuid.uuid4().hex[:8]}{next(self._names)}"

    @contextlib.contextmanager
    def scratch(self) -> Iterator[list[str]]:
        """Collect staging tables/views created in the block and drop them at its end."""
        created: list[str] = []
        try:
            yield created
        finally:
            for name in created:
                self.drop(name)

    def drop(self, name: str) -> None:
        """Drop a table or view if it exists."""
        for drop in (self.con.drop_table, self.con.drop_view):
            with contextlib.suppress(Exception):
                drop(name, force=True)

    def create_table(
        self,
        name: str,
        obj: Any,
        *,
        overwrite: bool = False,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> ir.Table:
        """Materialise an expression (or in-memory table) as a warehouse table.

        ``categories`` names string columns with a closed set of values (every value the
        column may hold); where the engine has an enumerated type
        (:attr:`supports_enums`) they are stored as one, elsewhere as plain strings. Readers
        see strings either way.
        """
        kinds = {
            c: values
            for c, values in (categories or {}).items()
            if isinstance(obj, ir.Table) and c in obj.columns and obj[c].type().is_string()
        }
        if not kinds or not self.supports_enums:
            return self.con.create_table(name, obj, overwrite=overwrite)
        self.con.create_table(name, schema=obj.schema(), overwrite=overwrite)
        try:
            for column, values in kinds.items():
                listed = ", ".join(_sql_string(v) for v in dict.fromkeys(values))
                self.con.raw_sql(
                    f"ALTER TABLE {_sql_name(name)} ALTER COLUMN {_sql_name(column)} "
                    f"TYPE ENUM({listed})"
                )
            self.con.insert(name, obj)
        except BaseException:
            self.drop(name)
            raise
        return self.con.table(name)

    @contextlib.contextmanager
    def aggregating(self) -> Iterator[None]:
        """Run a large aggregation with :data:`DUCKDB_AGGREGATION_MEMORY_LIMIT`.

        Only where the default limit applies (a DuckDB file whose URL sets no limit); a limit
        the user chose, and other engines, are left alone.
        """
        if not self.default_memory_limit:
            yield
            return
        self.con.raw_sql(f"SET memory_limit = {_sql_string(DUCKDB_AGGREGATION_MEMORY_LIMIT)}")
        try:
            yield
        finally:
            self.con.raw_sql(f"SET memory_limit = {_sql_string(DUCKDB_MEMORY_LIMIT)}")

    def materialize(self, stem: str, obj: Any) -> tuple[str, ir.Table]:
        """Compute ``obj`` once into a staging table (temporary where the engine allows).

        Returns its name (drop it with :meth:`drop` when done) and the table.
        """
        name = self.scratch_name(stem)
        if self._supports_temp is not False:
            try:
                table = self.con.create_table(name, obj, temp=True)
                self._supports_temp = True
                return name, table
            except Exception:
                self._supports_temp = False
                self.drop(name)
        return name, self.con.create_table(name, obj)

    def create_view(self, name: str, sql: str) -> None:
        """Create (or replace) the persistent view ``name`` as ``sql``.

        Plain SQL, since Ibis makes only temporary views on Spark; ``sql`` must be Patron's
        own (table and column names it chose), never user text.
        """
        self.drop(name)
        self.con.raw_sql(f"CREATE VIEW {name} AS {sql}")

    def insert(self, name: str, obj: Any) -> None:
        """Append the rows of an expression to an existing table."""
        self.con.insert(name, obj)

    def replace_table(
        self,
        name: str,
        obj: ir.Table,
        *,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Replace ``name`` by the rows of ``obj`` (which may read ``name`` itself).

        The new rows are materialised into a staging table first; only then is the old table
        dropped and the staging table renamed, inside a transaction where the engine has them.
        ``categories`` as in :meth:`create_table`.
        """
        stage = self.scratch_name("stage")
        self.create_table(stage, obj, categories=categories)
        try:
            with self.transaction():
                self.drop(name)
                self.rename(stage, name)
        except BaseException:
            self.settle_stage(stage, name)
            raise

    def settle_stage(self, stage: str, name: str) -> None:
        """After a swap of ``stage`` into ``name`` failed: leave one of them readable.

        Where the engine has transactions, the rollback restores ``name`` and the staging
        table goes. Without (Spark), ``name`` may already be dropped: the staging table then
        takes its place (the new rows rather than none); else it goes.
        """
        with contextlib.suppress(Exception):
            if self.supports_transactions or self.has_table(name):
                self.drop(stage)
            elif self.has_table(stage):
                self.rename(stage, name)

    def rename(self, old: str, new: str) -> None:
        """Rename a table (names are plain identifiers made by Patron)."""
        try:
            self.con.rename_table(old, new)
        except NotImplementedError:
            self.con.raw_sql(f"ALTER TABLE {old} RENAME TO {new}")

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection (DuckDB's file lock, Spark's session)."""
        with contextlib.suppress(Exception):
            self.con.disconnect()


def connect(url: str) -> Warehouse:
    """Open the warehouse at ``url``.

    Parameters
    ----------
    url
        ``duckdb://FILE`` (relative paths are taken from the working directory; DuckDB
        settings may follow, e.g. ``duckdb://w.duckdb?memory_limit=8GB&threads=2``; a file
        warehouse gets ``memory_limit`` :data:`DUCKDB_MEMORY_LIMIT` unless the URL sets it),
        ``duckdb://:memory:``, ``pyspark:///DIR`` (a local Spark session with a persistent
        metastore under DIR) or any URL :func:`ibis.connect` understands (``postgres://...``).

    Returns
    -------
    Warehouse
    """
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    try:
        if scheme == "duckdb" or (not scheme and url.endswith((".duckdb", ".db"))):
            path, config = _duckdb_path(url)
            default_limit = path != ":memory:" and "memory_limit" not in config
            if path != ":memory:":
                _check_duckdb_file(url, Path(path).expanduser())
                parent = Path(path).expanduser().resolve().parent
                if not parent.is_dir():
                    raise ConfigError(
                        f"Warehouse {url!r}: folder {parent} does not exist; create it or "
                        "choose another --warehouse."
                    )
                # A file warehouse can spill next to itself; in memory there is nowhere to go.
                config.setdefault("memory_limit", DUCKDB_MEMORY_LIMIT)
            try:
                con = ibis.duckdb.connect(path, **config)
            except Exception as exc:
                if any(key in str(exc) for key in config):  # DuckDB names the bad setting
                    raise ConfigError(
                        f"Warehouse {url!r}: DuckDB refused a setting ({first_line(exc)})."
                    ) from exc
                raise
            # DuckDB draws a progress bar on stdout for long queries; it would corrupt --json.
            con.raw_sql("SET enable_progress_bar = false")
            return Warehouse(con, url, default_memory_limit=default_limit)
        if scheme in {"pyspark", "spark"}:
            directory = Path(url.split("://", 1)[1] or ".").expanduser().resolve()
            session = _spark_session(directory)
            return Warehouse(ibis.pyspark.connect(session), url)
        if scheme == "file" or scheme in _DATA_SCHEMES:
            raise ConfigError(
                f"Warehouse {url!r} points at a data file, not a warehouse: the engine would "
                "read it into memory and keep nothing. Load the file with `patron load` into "
                "a warehouse such as duckdb://patron.duckdb."
            )
        if not scheme:
            raise ConfigError(
                f"Warehouse {url!r} is not a URL; use duckdb://FILE, pyspark:///DIR or an "
                "Ibis backend URL such as postgres://user@host/db."
            )
        return Warehouse(ibis.connect(url), url)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(
            f"Warehouse {url!r} needs an engine that is not installed ({exc}). For Spark: "
            f"{SPARK_INSTALL_HINT}; for another engine: pip install 'ibis-framework[{scheme}]'."
        ) from exc
    except Exception as exc:
        raise _open_error(url, exc) from exc


#: URL schemes Ibis reads as data files (into a throwaway in-memory engine), not warehouses.
_DATA_SCHEMES = frozenset({"csv", "parquet", "json", "delta"})
#: File endings of data files; a DuckDB warehouse is never one of them.
_DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".parquet", ".pq", ".json", ".xlsx")
#: Endings of DuckDB files: another file there is DuckDB's to refuse ("not a valid file").
_DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
#: DuckDB's database files carry these bytes at offset 8.
_DUCKDB_MAGIC = b"DUCK"


def _check_duckdb_file(url: str, path: Path) -> None:
    """Refuse a DuckDB warehouse path that is a data file (DuckDB would read it as a view)."""
    looks_like_data = path.suffix.lower() in _DATA_SUFFIXES
    if path.is_file() and path.stat().st_size > 0 and path.suffix.lower() not in _DUCKDB_SUFFIXES:
        with path.open("rb") as fh:
            looks_like_data = fh.read(12)[8:12] != _DUCKDB_MAGIC
    if looks_like_data:
        raise ConfigError(
            f"Warehouse {url!r}: {path} is not a DuckDB database file (it looks like a data "
            "file, which DuckDB would only read, keeping nothing). Load it with `patron load` "
            "and give the warehouse another name, e.g. duckdb://patron.duckdb."
        )


def _open_error(url: str, exc: Exception) -> WarehouseError:
    """The error to show when the engine refused to open ``url``.

    DuckDB says "Could not set lock on file ...: Conflicting lock is held in ..." for a file
    another process holds. Its internal errors carry a C++ stack trace in which "lock" is
    common (``std::unique_lock``), so only the first line is read and shown.
    """
    message = first_line(exc)
    if any(words in message.lower() for words in ("could not set lock", "conflicting lock")):
        return WarehouseError(
            f"Warehouse {url!r} is in use by another process (DuckDB allows one writer); "
            "close it or use another file."
        )
    return WarehouseError(f"Could not open warehouse {url!r}: {message}")
