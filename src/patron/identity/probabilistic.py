"""Probabilistic matching with Splink (Fellegi-Sunter, trained without labels).

Splink compares person records on names, date of birth, address, city, postcode, state and
card number. It is trained without labels: the share of matching pairs from records that agree
on name and date of birth, *u* (how often two random records agree by chance) by random
sampling, *m* (how often true matches agree) by expectation maximisation on three blocking
rules that each leave other fields free to be learned. Predictions come from blocking rules
that pair records agreeing on some combination of fields (never all pairs).

Splink's own clusters are neither stable nor incremental, so only its *pairwise* predictions
are used: each pair above the threshold becomes an edge of the identity graph, with its match
weight per field kept as the explanation.

Splink runs on the warehouse's own engine where it has a backend for it: on DuckDB through
the warehouse's connection (a capability check: the Ibis backend's ``con`` attribute is a
DuckDB connection), on Spark through the warehouse's Spark session (Splink's ``SparkAPI``,
with its Scala similarity functions, whose jar the session loads). On other engines
(PostgreSQL) the person columns are streamed in Arrow batches into a private in-memory
DuckDB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.warehouse import Warehouse
from patron.errors import DataError

__all__ = [
    "COMPARED",
    "DEFAULT_THRESHOLD",
    "Matching",
    "explain_pair",
    "match_records",
]

#: Match probability above which a predicted pair links two records.
DEFAULT_THRESHOLD = 0.9
#: The person columns Splink compares (folded text), in the order of the comparisons.
COMPARED = (
    "given_name",
    "surname",
    "date_of_birth",
    "street_number",
    "address",
    "city",
    "postcode",
    "state",
    "card",
)
#: The explanation columns: one match weight per comparison (Splink's output names).
WEIGHT_FIELDS = (
    "given_name_surname",
    "date_of_birth",
    "street_number",
    "address",
    "city",
    "postcode",
    "state",
    "card",
)
MAX_U_PAIRS = 1_000_000
BATCH_ROWS = 100_000


@dataclass
class Matching:
    """What a Splink run gave: pairs (a staging table), its model and counts."""

    pairs: ir.Table | None
    model: dict[str, Any]
    records: int
    compared: int
    note: str = ""


#: Fields on which two records must agree to be compared at all (one rule per tuple). Each
#: rule keeps its blocks small on a million records: a name alone, or a street name alone,
#: is shared by thousands (``high street``); a name with a town, a postcode, a date of birth
#: or a house number is not.
PREDICTION_RULES: tuple[tuple[str, ...], ...] = (
    ("given_name", "surname", "city"),
    ("given_name", "surname", "postcode"),
    ("surname", "date_of_birth"),
    ("given_name", "date_of_birth"),
    ("card",),
    ("postcode", "street_number"),
    ("date_of_birth", "postcode"),
    ("date_of_birth", "street_number"),
    ("street_number", "address"),
    ("surname", "postcode"),
    ("given_name", "postcode"),
)
#: The expectation-maximisation sessions: each blocks on some fields and learns the others'
#: *m*; together they learn every field.
TRAINING_RULES: tuple[tuple[str, ...], ...] = (
    ("given_name", "surname", "city"),
    ("date_of_birth", "city"),
    ("postcode",),
)


def _settings(*, retain_weights: bool = False) -> Any:
    """Splink's settings.

    ``retain_weights`` keeps each field's Bayes factor in the predictions (Splink's DuckDB
    output has them anyway; its Spark output only when asked).
    """
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="rid",
        comparisons=[
            cl.ForenameSurnameComparison("given_name", "surname"),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("city", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
            cl.LevenshteinAtThresholds("card", [1, 2]),
        ],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in PREDICTION_RULES],
        retain_intermediate_calculation_columns=retain_weights,
        retain_matching_columns=False,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Splink logs progress at INFO and warns about its own choices: keep them out of output.

    Only Splink's logger is quietened, and only its own known warnings are ignored (the
    EM warnings that a level was not observed, and the parameter-estimation notes).
    """
    logger = logging.getLogger("splink")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"splink(\.|$)")
            yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


@contextlib.contextmanager
def _one_thread(duck: Any) -> Iterator[None]:
    """Run DuckDB on one thread for the block: its seeded sample is repeatable only then."""
    threads = duck.execute("SELECT current_setting('threads')").fetchone()[0]
    duck.execute("SET threads = 1")
    try:
        yield
    finally:
        duck.execute(f"SET threads = {int(threads)}")


def _duckdb_connection(wh: Warehouse) -> Any | None:
    """The warehouse's DuckDB connection, when the Ibis backend has one (capability check)."""
    import duckdb

    inner = getattr(wh.con, "con", None)
    return inner if isinstance(inner, duckdb.DuckDBPyConnection) else None


def _splink_tables(duck: Any) -> list[str]:
    rows = duck.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '__splink__%'"
    ).fetchall()
    return [str(r[0]) for r in rows]


def match_records(
    wh: Warehouse,
    persons: ir.Table,
    *,
    threshold: float,
    seed: int,
    created: list[str],
) -> Matching:
    """Train Splink on ``persons`` and return the pairs above ``threshold``.

    Parameters
    ----------
    wh
        The warehouse.
    persons
        Integer ``rid`` and the folded :data:`COMPARED` columns, one row per record.
    threshold
        Match probability (0 to 1) a pair needs to link.
    seed
        Seed of the random sampling that estimates *u*.
    created
        Staging tables of the operation (dropped by the caller).

    Returns
    -------
    Matching
        ``pairs`` has ``rid_l``, ``rid_r``, ``match_probability``, ``match_weight`` and one
        ``w_<field>`` match weight per comparison (``None`` when fewer than two records).
    """
    from splink import DuckDBAPI, Linker

    records = int(persons.count().to_pyarrow().as_py())
    if records < 2:
        return Matching(None, {}, records, 0)
    spark = _spark_session(wh)
    if spark is not None:
        return _match_on_spark(
            wh, spark, persons, records=records, threshold=threshold, seed=seed, created=created
        )
    found = _duckdb_connection(wh)
    own = found is None
    if found is None:
        import duckdb

        duck: Any = duckdb.connect()
        duck.register("persons_stream", persons.to_pyarrow_batches(chunk_size=BATCH_ROWS))
        duck.execute("CREATE TABLE persons AS SELECT * FROM persons_stream")
        duck.unregister("persons_stream")
        source = "persons"
    else:
        duck = found
        source, _ = wh.materialize("persons", persons)
        created.append(source)
    before = set(_splink_tables(duck))
    try:
        with _quiet():
            linker = Linker(
                source, _settings(), DuckDBAPI(connection=duck), set_up_basic_logging=False
            )
            if not _train(linker, seed, _one_thread(duck)):
                return Matching(None, {}, records, 0, note=NO_MODEL)
            predicted = linker.inference.predict(threshold_match_probability=threshold)
            model = linker.misc.save_model_to_json()
            columns = {
                str(r[0]) for r in duck.execute(f'DESCRIBE "{predicted.physical_name}"').fetchall()
            }
        sql = _pairs_sql(f'"{predicted.physical_name}"', columns)
        if own:
            name = wh.scratch_name("pairs")
            reader = duck.execute(sql).fetch_record_batch(BATCH_ROWS)
            wh.con.create_table(name, schema=ibis.schema(_pair_schema()))
            created.append(name)
            for batch in reader:
                wh.insert(name, ibis.memtable(_arrow(batch)))
            kept = wh.con.table(name)
        else:
            name, kept = wh.materialize("pairs", wh.con.sql(sql))
            created.append(name)
        compared = int(kept.count().to_pyarrow().as_py())
    except Exception as exc:
        raise _failed(exc) from exc
    finally:
        for table_name in set(_splink_tables(duck)) - before:
            duck.execute(f'DROP TABLE IF EXISTS "{table_name}"')
        if own:
            duck.close()
    return Matching(kept, json.loads(json.dumps(model, default=str)), records, compared)


NO_MODEL = (
    "no two records agree on name, date of birth or postcode, so no probabilistic model "
    "could be trained; linked by identifiers only"
)


def _train(linker: Any, seed: int, pinned: contextlib.AbstractContextManager[Any]) -> bool:
    """Train ``linker`` without labels; ``False`` when no EM session found a pair.

    ``pinned`` holds the engine steady while *u* is sampled (DuckDB's seeded sample is
    repeatable only on one thread).
    """
    from splink import block_on
    from splink.internals.exceptions import EMTrainingException

    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"), block_on("card")],
        recall=0.8,
    )
    with pinned:
        linker.training.estimate_u_using_random_sampling(max_pairs=MAX_U_PAIRS, seed=seed)
    trained = 0
    for rule in TRAINING_RULES:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True
            )
            trained += 1
        except EMTrainingException:  # no pair agrees on this rule's fields
            continue
    return trained > 0


def _pairs_sql(table: str, columns: set[str]) -> str:
    """The predicted pairs above the threshold, typed, with a match weight per field."""
    weights = ", ".join(f"{_weight_sql(f, columns)} AS w_{f}" for f in WEIGHT_FIELDS)
    return (
        "SELECT CAST(rid_l AS BIGINT) AS rid_l, CAST(rid_r AS BIGINT) AS rid_r, "
        "CAST(match_probability AS DOUBLE) AS match_probability, "
        f"CAST(match_weight AS DOUBLE) AS match_weight, {weights} "
        f"FROM {table}"
    )


def _failed(exc: Exception) -> DataError:
    if isinstance(exc, DataError):
        return exc
    return DataError(
        f"Probabilistic matching failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
        "run with --deterministic-only to link by shared identifiers alone."
    )


def _spark_session(wh: Warehouse) -> Any | None:
    """The warehouse's Spark session, when the Ibis backend has one (capability check)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - without the Spark extra
        return None
    inner = getattr(wh.con, "_session", None)
    return inner if isinstance(inner, SparkSession) else None


def _spark_views(spark: Any) -> set[str]:
    return {t.name for t in spark.catalog.listTables() if t.name.startswith("__splink__")}


def _match_on_spark(
    wh: Warehouse,
    spark: Any,
    persons: ir.Table,
    *,
    records: int,
    threshold: float,
    seed: int,
    created: list[str],
) -> Matching:
    """:func:`match_records` with Splink's Spark backend, on the warehouse's session.

    Splink's intermediate tables are cached in the session (``persist``) and dropped, with
    their cache, when the run ends.
    """
    from splink import Linker, SparkAPI

    name, _ = wh.materialize("persons", persons)
    created.append(name)
    before = _spark_views(spark)
    make_api: Any = SparkAPI  # untyped
    try:
        with _quiet():
            api = make_api(
                spark_session=spark,
                break_lineage_method="persist",
                num_partitions_on_repartition=int(
                    spark.conf.get("spark.sql.shuffle.partitions", "4")
                ),
            )
            linker = Linker(
                spark.table(name),
                _settings(retain_weights=True),
                api,
                set_up_basic_logging=False,
            )
            if not _train(linker, seed, contextlib.nullcontext()):
                return Matching(None, {}, records, 0, note=NO_MODEL)
            predicted = linker.inference.predict(threshold_match_probability=threshold)
            model = linker.misc.save_model_to_json()
            columns = set(spark.table(predicted.physical_name).columns)
        pname, kept = wh.materialize(
            "pairs", wh.con.sql(_pairs_sql(f"`{predicted.physical_name}`", columns))
        )
        created.append(pname)
        kept = kept.cast(_pair_schema())
        compared = int(kept.count().to_pyarrow().as_py())
    except Exception as exc:
        raise _failed(exc) from exc
    finally:
        for view in _spark_views(spark) - before:
            with contextlib.suppress(Exception):
                spark.table(view).unpersist()
            with contextlib.suppress(Exception):
                spark.catalog.dropTempView(view)
    return Matching(kept, json.loads(json.dumps(model, default=str)), records, compared)


def _weight_sql(field: str, columns: set[str]) -> str:
    """SQL for a field's match weight: log2 of its Bayes factor (term-frequency adjusted)."""
    if f"bf_{field}" not in columns:
        return "CAST(NULL AS DOUBLE)"
    factor = f"bf_{field}"
    if f"bf_tf_adj_{field}" in columns:
        factor += f" * COALESCE(bf_tf_adj_{field}, 1.0)"
    return f"log2({factor})"


def _level_labels(model: dict[str, Any]) -> dict[tuple[str, int], str]:
    """(comparison, comparison vector value) -> the level's label in a saved Splink model."""
    labels: dict[tuple[str, int], str] = {}
    for comparison in model.get("comparisons", []):
        name = str(comparison.get("output_column_name", ""))
        levels = comparison.get("comparison_levels", [])
        others = [lv for lv in levels if not lv.get("is_null_level")]
        for lv in levels:
            if lv.get("is_null_level"):
                labels[(name, -1)] = str(lv.get("label_for_charts", "null"))
        for i, lv in enumerate(others):
            labels[(name, len(others) - 1 - i)] = str(lv.get("label_for_charts", ""))
    return labels


def _pair_schema() -> dict[str, str]:
    return {
        "rid_l": "int64",
        "rid_r": "int64",
        "match_probability": "float64",
        "match_weight": "float64",
        **{f"w_{f}": "float64" for f in WEIGHT_FIELDS},
    }


def _arrow(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _typed_record(rid: int, values: dict[str, Any]) -> Any:
    """One record as an Arrow table with explicit types (a null would otherwise be INTEGER)."""
    import pyarrow as pa

    columns: dict[str, Any] = {"rid": pa.array([rid], pa.int64())}
    for name, value in values.items():
        kind = pa.float64() if name.startswith("tf_") else pa.string()
        columns[name] = pa.array([value], kind)
    return pa.table(columns)


def explain_pair(
    model: dict[str, Any], left: dict[str, Any], right: dict[str, Any]
) -> dict[str, Any]:
    """Score two records with a stored model: probability, weight and weight per field.

    Parameters
    ----------
    model
        The Splink model saved by a run (``identity_runs.model``).
    left, right
        Folded :data:`COMPARED` values of the two records, and the term frequencies
        (``tf_given_name``, ``tf_surname``: shares of records with that value).

    Returns
    -------
    dict
        ``match_probability`` (0 to 1), ``match_weight`` (log2 Bayes factor) and
        ``weights``: per field, its match weight and the comparison level it fell in.
    """
    import duckdb
    from splink import DuckDBAPI
    from splink.internals.realtime import compare_records

    con = duckdb.connect()
    try:
        with _quiet():
            result = compare_records(
                _typed_record(0, left),
                _typed_record(1, right),
                model,
                DuckDBAPI(connection=con),
            )
            row = result.as_record_dict()[0]
    finally:
        con.close()
    import math

    labels = _level_labels(model)
    weights = {}
    for field in WEIGHT_FIELDS:
        bf = row.get(f"bf_{field}")
        if bf is None:
            continue
        factor = float(bf) * float(row.get(f"bf_tf_adj_{field}") or 1.0)
        level = int(row.get(f"gamma_{field}", 0))
        weights[field] = {
            "match_weight": math.log2(factor) if factor > 0 else None,
            "level": labels.get((field, level), str(level)),
        }
    prior = float(model.get("probability_two_random_records_match", 0.0) or 0.0)
    return {
        "match_probability": float(row["match_probability"]),
        "match_weight": float(row["match_weight"]),
        "prior_weight": math.log2(prior / (1.0 - prior)) if 0.0 < prior < 1.0 else None,
        "weights": weights,
    }
