"""Every write the pipeline makes to a Delta table, in one place.

A run used to spend most of a small day in Delta commits and MERGEs of a few rows
(about 4 s each: a MERGE runs a job to find the touched files and another to rewrite
them, and materialises its source). Each operation here is the cheapest one that
keeps its guarantee, and every caller goes through them:

* ``append``: a plain append; with ``txn`` (an application id and version, Delta's
  ``txnAppId`` / ``txnVersion`` writer options) it is *idempotent*: Delta skips a
  commit whose (app id, version) the table already recorded, so a retried write of
  the same run adds nothing. Rows keyed by the writing run (``ops/dq_results``,
  ``ops/runs``, ``ops/silver_progress``) need nothing more than that, and no MERGE.
* ``append_new``: append only the rows whose key is not stored yet. The stored keys
  are read with a target-side predicate (``scope``: for example the bronze runs the
  rows came from), so the check reads a few files, not the table.
* ``upsert``: MERGE on keys with a change-only update condition, run only when some
  source row is new or changed (a day that changes nothing makes no commit).
* ``replace_where``: delete the rows matching a predicate and add the new ones in one
  commit (Delta's ``replaceWhere``), for "the latest verdict on these files" and
  "these months of the facts".
* ``delete_keys``: a MERGE that deletes the target rows of some keys (order-event
  children of re-derived orders); skipped when there are no keys.
* ``replace_if_changed``: overwrite a small table only when its content differs.
* ``overwrite``: replace a table whole (gold).
* ``upsert_new_versions``: the conformed facts, whose rows are versions of business keys.
* ``add_missing_columns``: an older table gains the (nullable) columns a newer schema added.

A table is created by its first write (with the catalogue's schema, checked as below). Readers take
a table through ``read`` (a table that must be there: a missing one is a ``MissingTableError`` naming
the stage that writes it) or ``read_or_empty`` (a table its stage may not have written yet, such as
the bronze table of a feed never delivered: an empty frame with the catalogue's schema). Where a first
load can skip work (no stored keys to compare with), an operation asks whether the table holds any
file, which the table's checksum file answers without a Spark job.

Creating every table empty when its stage starts (``CREATE TABLE IF NOT EXISTS`` from the
catalogue) was tried and measured: it made the first run of a lake a third slower (126 s -> 167 s on
the tiny day: 53 -> 97 commits, and a first write to an existing empty table costs more than a write
that creates it), and every whole-pipeline test pays that; so tables are not created up front
(docs/benchmarks.md, tuning rows tiny-12a/12b).

Every write to a table of the catalogue (etl/catalog.py, found by the URI's ``<layer>/<name>``) first
checks the frame's columns against the catalogue's schema: the same names and types, order and
nullability aside (Delta stores every column nullable; it matches columns by name). A missing column
would otherwise be written as nulls, and a gold overwrite would silently change the table's schema;
instead the run stops before the write with ``SchemaMismatchError`` naming the table and the columns.
The check reads only the plan's schema: no Spark job.

Each returns a ``Commit``: the table version written (or None when nothing was
committed) and the rows it wrote, from the commit's ``operationMetrics`` read
straight from its ``_delta_log`` JSON file (no Spark job, no extra count). Every
call names its Spark jobs (``job_description``) after the table, so the Spark UI and
the event log say which table a job wrote.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Iterable

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructField, StructType, _parse_datatype_string

from etl.errors import MissingTableError, SchemaMismatchError
from etl.spark import CACHE_LEVEL, job_description

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Commit:
    """What one write did: the version it committed (None: no commit) and its row metrics."""

    uri: str
    version: int | None
    operation: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """"unchanged" (no commit), "created" (the table's first version), "appended" or "merged"."""
        if self.version is None:
            return "unchanged"
        if self.version == 0:
            return "created"
        return "merged" if self.operation == "MERGE" else "appended"

    @property
    def rows_written(self) -> int:
        m = self.metrics
        return m.get("numOutputRows", 0) or (m.get("numTargetRowsInserted", 0) + m.get("numTargetRowsUpdated", 0))


# Inside a logged write: the writes it makes through another (upsert's append, replace_if_changed's
# overwrite) are part of it and log nothing of their own, so each table write is one log line.
_in_write: contextvars.ContextVar[bool] = contextvars.ContextVar("delta_io_in_write", default=False)


def logged(write):
    """One INFO line per table write, after it: the table's name, what was done, the rows and the
    seconds (a long stage is no longer silent, and a slow table stands out in the log)."""
    @functools.wraps(write)
    def wrapper(*args, **kwargs):
        if _in_write.get():
            return write(*args, **kwargs)
        token = _in_write.set(True)
        started = time.monotonic()
        try:
            commit = write(*args, **kwargs)
        finally:
            _in_write.reset(token)
        seconds = time.monotonic() - started
        table = "/".join(commit.uri.rstrip("/").split("/")[-2:])      # <layer>/<table>
        if commit.version is None:
            log.info("table %s (%s): unchanged, no commit, 0 rows in %.1f s", table, write.__name__, seconds)
        else:
            log.info("table %s (%s): %s %d rows in %.1f s (%s, version %d)", table, write.__name__,
                     commit.outcome, commit.rows_written, seconds, commit.operation or "-", commit.version)
        return commit
    return wrapper


def sql_strings(values) -> str:
    """SQL string literals for an IN list (backslash and quote escaped, as Spark's parser reads them)."""
    return ", ".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def _loose(data_type: DataType) -> DataType:
    """``data_type`` with every nested nullability flag set, so that only names and types compare."""
    if isinstance(data_type, StructType):
        return StructType([StructField(f.name, _loose(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, ArrayType):
        return ArrayType(_loose(data_type.elementType), True)
    if isinstance(data_type, MapType):
        return MapType(_loose(data_type.keyType), _loose(data_type.valueType), True)
    return data_type


def schema_differences(actual: StructType, expected: StructType) -> list[str]:
    """What ``actual`` lacks, adds or types differently from ``expected`` (names and types only)."""
    have = {f.name: _loose(f.dataType) for f in actual.fields}
    want = {f.name: _loose(f.dataType) for f in expected.fields}
    out = [f"missing {name} {want[name].simpleString()}" for name in want if name not in have]
    out += [f"unexpected {name} {have[name].simpleString()}" for name in have if name not in want]
    out += [f"{name} is {have[name].simpleString()}, the catalogue says {want[name].simpleString()}"
            for name in want if name in have and have[name] != want[name]]
    return out


@functools.lru_cache(maxsize=None)
def _catalogued(layer: str, name: str):
    """The catalogue's entry of ``layer/name`` (an ``etl.catalog.Table``); None: not catalogued."""
    from etl import catalog        # here, not at the top: the catalogue imports modules that import this one

    try:
        return catalog.table(layer, name)
    except KeyError:
        return None


def _entry(uri: str):
    return _catalogued(*uri.rstrip("/").split("/")[-2:])


@functools.lru_cache(maxsize=None)
def _catalogued_schema(layer: str, name: str) -> StructType | None:
    """The catalogue's schema of ``layer/name`` as a StructType (DDL parsed once); None: not catalogued."""
    entry = _catalogued(layer, name)
    if entry is None:
        return None
    return entry.schema if isinstance(entry.schema, StructType) else _parse_datatype_string(entry.schema)


def creation_options(layer: str, name: str) -> dict[str, str]:
    """The catalogue's table properties of ``layer/name``, given as options to the write that creates the
    table (Delta keeps ``delta.*`` options of a creating write as table properties): set with its first
    version, not by an ``ALTER TABLE`` commit after it."""
    entry = _catalogued(layer, name)
    return dict(entry.properties) if entry is not None else {}


def _partitioned(writer, uri: str):
    """``writer`` with the catalogue's partition columns of the table, if it has any."""
    entry = _entry(uri)
    return writer.partitionBy(*entry.partition_by) if entry is not None and entry.partition_by else writer


def _creating(writer, uri: str, before: int):
    """``writer`` with the table's creation options and partition columns when the write creates the
    table (``before`` < 0). A write to an existing table takes its partitioning from the table."""
    if before >= 0:
        return writer
    layer, name = uri.rstrip("/").split("/")[-2:]
    for key, value in creation_options(layer, name).items():
        writer = writer.option(key, value)
    return _partitioned(writer, uri)


def laid_out(frame: DataFrame, uri: str, spread: bool = False) -> DataFrame:
    """``frame`` in the table's layout (the catalogue's ``layout`` columns; other tables: unchanged).

    The rows of each file written are sorted by the layout columns; with ``spread`` they are first
    range-partitioned by them (Spark's shuffle partitions, which adaptive execution may coalesce), so
    that each file holds one contiguous range of dates and Delta's per-file minimum and maximum let a
    read of some dates skip every other file. ``spread`` is for a write of many dates (a first load, a
    backfill): a day's rows are one narrow range already, and the range partitioning costs a sampling
    job and a shuffle."""
    entry = _entry(uri)
    if entry is None or not entry.layout:
        return frame
    if spread:
        frame = frame.repartitionByRange(*entry.layout)
    return frame.sortWithinPartitions(*entry.layout)


def check_schema(frame: DataFrame, uri: str) -> None:
    """SchemaMismatchError when ``uri`` is a catalogued table and ``frame`` does not have its columns."""
    layer, name = uri.rstrip("/").split("/")[-2:]
    expected = _catalogued_schema(layer, name)
    if expected is None:
        return
    differences = schema_differences(frame.schema, expected)
    if differences:
        raise SchemaMismatchError(f"nothing was written to {layer}/{name}: the rows to write do not match its "
                                  f"catalogue schema (etl/catalog.py): {'; '.join(differences)}")


def _delta_log(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, uri)


def _snapshot(spark: SparkSession, uri: str):
    return _delta_log(spark, uri).update(False, jvm_none(spark), jvm_none(spark))


def current_version(spark: SparkSession, uri: str) -> int:
    """The table's latest version, -1 when there is no table (a listing of its log; no Spark job)."""
    return int(_snapshot(spark, uri).version())


def stored_files(spark: SparkSession, uri: str) -> int:
    """How many data files the table's current version has (0: no row stored, or no table), from the
    version's checksum file when Delta wrote one, so without a Spark job."""
    snapshot = _snapshot(spark, uri)
    if snapshot.version() < 0:      # no table: Delta would run a job over its empty log to say 0
        return 0
    known = snapshot.numOfFilesIfKnown()
    return int(known.get()) if known.isDefined() else int(snapshot.numOfFiles())


# The error classes Spark and Delta raise when a path holds no Delta table.
_NO_TABLE = ("DELTA_PATH_DOES_NOT_EXIST", "DELTA_MISSING_DELTA_TABLE", "PATH_NOT_FOUND", "DELTA_TABLE_NOT_FOUND")


def read(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    """The Delta table at ``uri`` (as of ``version``); a table never written is a ``MissingTableError``
    naming the stage that writes it, not a stack trace."""
    if version is not None and version < 0:       # current_version's answer for no table
        raise _missing(uri)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    try:
        return reader.load(uri)
    except AnalysisException as exc:
        if (exc.getErrorClass() or "") not in _NO_TABLE:
            raise
        raise _missing(uri) from None


def read_or_empty(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    """The catalogued table at ``uri``, or, when its stage has not written it yet (a feed never
    delivered, no rejected file so far), no rows with the catalogue's schema. The load itself tells:
    there is no separate probe of the table."""
    try:
        return read(spark, uri, version)
    except MissingTableError:
        layer, name = uri.rstrip("/").split("/")[-2:]
        schema = _catalogued_schema(layer, name)
        if schema is None:
            raise
        return spark.createDataFrame([], schema)


def _missing(uri: str) -> MissingTableError:
    from etl import catalog      # here, not at the top: the catalogue imports modules that import this one

    layer, name = uri.rstrip("/").split("/")[-2:]
    try:
        owner = catalog.table(layer, name).stage
    except KeyError:
        return MissingTableError(f"no Delta table at {uri}: not a table of the catalogue (etl/catalog.py)")
    return MissingTableError(f"no Delta table at {uri}: {layer}/{name} is written by the {owner} stage, which "
                             "has not written it on this lake yet")


def jvm_none(spark: SparkSession):
    return spark.sparkContext._jvm.scala.Option.empty()


def table_property(spark: SparkSession, uri: str, key: str) -> str | None:
    """One property of the table's current metadata (no Spark job)."""
    found = _snapshot(spark, uri).metadata().configuration().get(key)      # a Scala Option
    return found.get() if found.isDefined() else None


def commit_info(spark: SparkSession, uri: str, version: int, missing_ok: bool = False) -> dict | None:
    """The ``commitInfo`` action of one commit, read from its JSON file (no Spark job); with
    ``missing_ok``, None when the log no longer holds that file."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{uri.rstrip('/')}/_delta_log/{version:020d}.json")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        stream = fs.open(path)
    except Py4JJavaError as exc:
        if missing_ok and "FileNotFoundException" in exc.java_exception.getClass().getName():
            return None
        raise
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
        while line is not None:
            if line.startswith('{"commitInfo"'):
                return json.loads(line)["commitInfo"]
            line = reader.readLine()
    finally:
        stream.close()
    return {}


# Commits after which ``commits`` reads Delta's history (one Spark job) instead of each commit's JSON file.
HISTORY_FROM = 20


def commits(spark: SparkSession, uri: str, after: int, upto: int) -> list[tuple[int, str | None, str | None]]:
    """(version, operation, userMetadata) of the commits ``after+1 .. upto`` the log still holds, oldest
    first (Delta removes the JSON files of old commits once a checkpoint covers them, so a caller that
    needs every one compares the count): each commit's JSON file when they are few (no Spark job),
    Delta's history when there are more than ``HISTORY_FROM``."""
    if upto <= after:
        return []
    if upto - after > HISTORY_FROM:
        rows = (DeltaTable.forPath(spark, uri).history(upto - after).filter(F.col("version") > after)
                .select("version", "operation", "userMetadata").collect())       # bounded: upto - after rows
        return sorted((r.version, r.operation, r.userMetadata) for r in rows)
    infos = [(v, commit_info(spark, uri, v, missing_ok=True)) for v in range(after + 1, upto + 1)]
    return [(v, info.get("operation"), info.get("userMetadata")) for v, info in infos if info is not None]


def last_commit(spark: SparkSession, uri: str, before: int | None = None) -> Commit:
    """The table's newest commit; ``Commit(version=None)`` when it is still ``before`` (nothing committed)."""
    version = current_version(spark, uri)
    if before is not None and version == before:
        return Commit(uri, None)
    info = commit_info(spark, uri, version)
    metrics = {k: int(v) for k, v in (info.get("operationMetrics") or {}).items() if str(v).lstrip("-").isdigit()}
    return Commit(uri, version, info.get("operation"), metrics)


def _committed(spark: SparkSession, uri: str, before: int | None) -> Commit:
    return last_commit(spark, uri, before)


@logged
def append(spark: SparkSession, frame: DataFrame, uri: str, *, name: str,
           txn: tuple[str, int] | None = None, coalesce: int | None = None, metadata: str | None = None,
           spread: bool = False) -> Commit:
    """Append ``frame``; with ``txn`` = (app id, version), a second call with the same pair is a no-op.
    ``spread``: the rows span many dates (``laid_out``)."""
    check_schema(frame, uri)
    before = current_version(spark, uri)
    frame = laid_out(frame.coalesce(coalesce) if coalesce else frame, uri, spread)
    writer = _creating(frame.write.format("delta").mode("append"), uri, before)
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    with job_description(spark, f"write {name}"):
        writer.save(uri)
    return _committed(spark, uri, before)


@logged
def append_new(spark: SparkSession, frame: DataFrame, uri: str, keys: list[str], *, name: str,
               scope: str | None = None) -> Commit:
    """Append the rows of ``frame`` whose ``keys`` are not stored yet; ``scope`` (SQL on the target's
    columns) narrows the stored rows that are read to those that can hold such a key."""
    check_schema(frame, uri)
    if stored_files(spark, uri) == 0:       # nothing stored: every key is new
        return append(spark, frame, uri, name=name)
    stored = spark.read.format("delta").load(uri)
    if scope:
        stored = stored.filter(scope)
    todo = frame.join(F.broadcast(stored.select(*keys)) if scope else stored.select(*keys), keys, "left_anti")
    return append(spark, todo, uri, name=name)


@logged
def upsert(spark: SparkSession, frame: DataFrame, uri: str, keys: list[str], *, name: str,
           changed_when: str | None) -> Commit:
    """MERGE ``frame`` on ``keys`` (null-safe): new keys inserted; a matched row updated when ``changed_when``
    holds (None: matched rows are left alone). One small query first finds what there is to do: nothing
    new or changed, no commit; only new keys, an append of them; else the MERGE. ``frame`` holds one row
    per key."""
    check_schema(frame, uri)
    if stored_files(spark, uri) == 0:       # nothing stored: every key is new
        return append(spark, frame, uri, name=name)
    stored = spark.read.format("delta").load(uri).withColumn("_stored", F.lit(True))
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in keys)
    joined = frame.alias("s").join(stored.alias("t"), F.expr(on), "left")
    new_key = F.col("t._stored").isNull()
    todo = new_key if changed_when is None else new_key | F.coalesce(F.expr(changed_when), F.lit(False))
    with job_description(spark, f"check {name}"):
        counts = joined.filter(todo).agg(F.count(F.lit(1)).alias("rows"), F.count_if(~new_key).alias("updates")) \
            .first()
    if counts.rows == 0:
        return Commit(uri, None)
    if counts.updates == 0:
        return append(spark, joined.filter(new_key).select("s.*"), uri, name=name)
    before = current_version(spark, uri)
    merge = DeltaTable.forPath(spark, uri).alias("t").merge(frame.alias("s"), on)
    if changed_when is not None:
        merge = merge.whenMatchedUpdateAll(condition=changed_when)
    with job_description(spark, f"merge {name}"):
        merge.whenNotMatchedInsertAll().execute()
    return _committed(spark, uri, before)


@logged
def update_matching(spark: SparkSession, source: DataFrame, uri: str, on: str, assignments: dict[str, str], *,
                    name: str, broadcast: bool = True) -> Commit:
    """Set ``assignments`` on the target rows that match a row of the ``source`` (small and broadcast, unless
    ``broadcast`` is false)."""
    if stored_files(spark, uri) == 0:       # no row to update
        return Commit(uri, None)
    before = current_version(spark, uri)
    with job_description(spark, f"merge {name}"):
        (DeltaTable.forPath(spark, uri).alias("t").merge((F.broadcast(source) if broadcast else source).alias("s"), on)
         .whenMatchedUpdate(set=assignments).execute())
    return _committed(spark, uri, before)


@logged
def replace_where(spark: SparkSession, frame: DataFrame, uri: str, predicate: str, *, name: str,
                  metadata: str | None = None) -> Commit:
    """One commit that removes the rows matching ``predicate`` and adds ``frame`` (whose rows match it).
    On a table partitioned by the predicate's columns (the facts by month) that is those partitions'
    files only."""
    check_schema(frame, uri)
    before = current_version(spark, uri)
    writer = laid_out(frame, uri).write.format("delta")
    writer = writer.mode("overwrite").option("replaceWhere", predicate) if before >= 0 else _creating(writer, uri,
                                                                                                      before)
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    with job_description(spark, f"write {name}"):
        writer.save(uri)
    return _committed(spark, uri, before)


@logged
def delete_keys(spark: SparkSession, keys: DataFrame, uri: str, on: Iterable[str], *, name: str) -> Commit:
    """Delete the target rows whose ``on`` columns match a row of ``keys``."""
    if stored_files(spark, uri) == 0:       # no row to delete
        return Commit(uri, None)
    on = list(on)
    with job_description(spark, f"check {name}"):
        nothing = spark.read.format("delta").load(uri).join(keys.select(*on), on, "left_semi").isEmpty()
    if nothing:            # the usual case: a MERGE would scan and commit for no row
        return Commit(uri, None)
    before = current_version(spark, uri)
    condition = " AND ".join(f"t.{k} = s.{k}" for k in on)
    with job_description(spark, f"delete {name}"):
        DeltaTable.forPath(spark, uri).alias("t").merge(keys.alias("s"), condition).whenMatchedDelete().execute()
    return _committed(spark, uri, before)


@logged
def overwrite(spark: SparkSession, frame: DataFrame, uri: str, *, name: str, coalesce: int | None = None,
              metadata: str | None = None) -> Commit:
    """Replace the table's content (and schema, and partitioning: a table an older release wrote without
    the catalogue's partition columns gains them) whole."""
    check_schema(frame, uri)
    before = current_version(spark, uri)
    frame = laid_out(frame.coalesce(coalesce) if coalesce else frame, uri)
    # static: the whole table is replaced, whatever the session's partition overwrite mode (the pipeline's
    # is dynamic, with which Delta refuses overwriteSchema on a partitioned table)
    writer = (frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
              .option("partitionOverwriteMode", "static"))
    writer = _creating(writer, uri, before) if before < 0 else _partitioned(writer, uri)
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    with job_description(spark, f"write {name}"):
        writer.save(uri)
    return _committed(spark, uri, before)


@logged
def replace_if_changed(spark: SparkSession, frame: DataFrame, uri: str, *, name: str) -> Commit:
    """Overwrite a small table only when its content differs, so a rerun adds no version."""
    check_schema(frame, uri)
    if current_version(spark, uri) < 0:       # the first build creates the table, even empty
        return overwrite(spark, frame, uri, name=name)
    with job_description(spark, f"compare {name}"):
        if stored_files(spark, uri) == 0:      # nothing stored: the same when there is nothing to write
            same = frame.isEmpty()
        else:
            current = spark.read.format("delta").load(uri)
            same = current.exceptAll(frame).unionAll(frame.exceptAll(current)).isEmpty()
    if same:
        return Commit(uri, None)
    return overwrite(spark, frame, uri, name=name)


@logged
def upsert_new_versions(spark: SparkSession, frame: DataFrame, uri: str, keys: list[str],
                        version_columns: list[str], *, name: str, parent_keys: list[str] | None = None,
                        broadcast_keys: bool = False, spread: bool = False) -> Commit:
    """Upsert the rows of ``frame`` that are new or a new version (``version_columns`` differ) of a stored key.

    One scan of the target's key and version columns finds the stored rows of the source's keys. Source
    rows already stored as they are drop out first, because a Delta MERGE rewrites every file holding a
    matched key even when the update's condition is false. Then: nothing left, no commit; no stored key,
    an append; else a MERGE of just those rows, which rewrites only the files holding their keys.
    With ``parent_keys`` (the lines of a transaction), ``frame`` holds every row of each parent it
    names, and stored rows of those parents that it no longer has are deleted (an order whose new
    version has fewer items). ``broadcast_keys`` (the caller knows ``frame`` is a day's rows, not a
    backfill's): the source's keys are broadcast into the scan of the stored keys, so the stored side is
    read but never shuffled (at 100M stored rows the shuffle was 10 GB, spilled to disk). ``spread``: the
    rows span many dates (a first load, a backfill), so appended rows are range-partitioned by the table's
    layout (``laid_out``); rows a MERGE writes are not.
    """
    check_schema(frame, uri)
    if stored_files(spark, uri) == 0:       # nothing stored: every row is a new key
        return append(spark, frame, uri, name=name, spread=spread)
    scope = parent_keys or keys
    source_keys = frame.select(*scope).distinct()
    stored = (spark.read.format("delta").load(uri).select(*keys, *version_columns)
              .join(F.broadcast(source_keys) if broadcast_keys else source_keys, scope, "left_semi")
              .persist(CACHE_LEVEL))
    same_version = F.lit(True)
    for column in keys + version_columns:
        same_version = same_version & frame[column].eqNullSafe(stored[column])
    todo = frame.join(stored, same_version, "left_anti").persist(CACHE_LEVEL)
    gone = stored.select(*keys).join(frame.select(*keys), keys, "left_anti") if parent_keys else None
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    before = current_version(spark, uri)
    try:
        with job_description(spark, f"check {name}"):
            changed = not todo.isEmpty()
            if changed:
                new_keys_only = stored.join(todo.select(*keys), keys, "left_semi").isEmpty()
            removed = gone is not None and not gone.isEmpty()
        if changed:
            if new_keys_only:
                with job_description(spark, f"write {name}"):
                    laid_out(todo, uri, spread).write.format("delta").mode("append").save(uri)
            else:
                with job_description(spark, f"merge {name}"):
                    (DeltaTable.forPath(spark, uri).alias("t").merge(todo.alias("s"), on)
                     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
        if removed:
            with job_description(spark, f"merge {name}"):
                DeltaTable.forPath(spark, uri).alias("t").merge(gone.alias("s"), on).whenMatchedDelete().execute()
        return _committed(spark, uri, before)
    finally:
        todo.unpersist()
        stored.unpersist()


def add_missing_columns(spark: SparkSession, uri: str, schema: StructType) -> list[str]:
    """Add to a stored table the nullable columns of ``schema`` it lacks (a table written by an older
    release), in one ``ALTER TABLE ADD COLUMNS`` (a metadata-only commit: the stored rows read them as
    null). Schema auto-merge stays off, so a write never changes a schema by accident; this is the one
    deliberate, additive change. Returns the names added (none: no commit, or no table yet)."""
    if current_version(spark, uri) < 0:       # the first write will create it with every column
        return []
    stored = set(spark.read.format("delta").load(uri).columns)
    missing = [f for f in schema.fields if f.name not in stored]
    required = [f.name for f in missing if not f.nullable]
    if required:
        raise ValueError(f"{uri} lacks NOT NULL column(s) {', '.join(required)}, which cannot be added to "
                         "stored rows; rebuild the table")
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        with job_description(spark, "alter table"):
            spark.sql(f"ALTER TABLE delta.`{uri}` ADD COLUMNS ({columns})")
        log.info("added column(s) %s to %s", ", ".join(f.name for f in missing), uri)
    return [f.name for f in missing]


@logged
def restore(spark: SparkSession, uri: str, version: int, *, name: str) -> Commit:
    """The table back to ``version`` (a new version with that content); no commit when it is already there."""
    before = current_version(spark, uri)
    if before == version:
        return Commit(uri, None)
    with job_description(spark, f"restore {name}"):
        spark.sql(f"RESTORE TABLE delta.`{uri}` TO VERSION AS OF {version}")
    return _committed(spark, uri, before)
