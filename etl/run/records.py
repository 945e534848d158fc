"""Run records: one row per run in the Delta table ``ops/runs``, and the commands that read them.

Every ``etl run`` (and ``etl rollback``) ends by appending one row, idempotent on its ``run_id``,
to ``ops/runs``, whatever the outcome: when it started and ended, its trigger,
status and stages, per stage the seconds, per table the rows in / out /
quarantined, the Delta version each table it wrote was left at, the alerts and
the error line. ``run_record`` turns a ``RunSummary`` into that row without any
I/O (tests/unit/test_runs.py); the rest reads and writes it. The tables a run wrote are
those of the catalogue its stages name (etl/run/stages.py, ``Stage.writes``).

A run with an export stage also upserts the same record into MySQL's ``etl_run_records``
for SQL consumers; MySQL's ``etl_table_loads`` (``etl_runs``, a view) stays the per-table load log
(docs/operations-records.md).
Which table a run wrote is read from Delta itself: during a run every commit
carries the run id as its ``userMetadata`` (``USER_METADATA_CONF``), so
its latest commit's ``userMetadata`` tells whether the table's latest version is this run's
(read from the commit file itself, ``etl/delta_io.py``: no Spark job).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Iterable, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DateType, DoubleType, LongType, MapType, StringType, StructField,
                               StructType, TimestampType)

from etl import delta_io
from etl.config import Config
from etl.errors import ConfigError, DataQualityError, EtlError, MissingTableError, StaleError
from etl.lake import table_uri
from etl.log import RunContextThreadPool

if TYPE_CHECKING:
    from etl.catalog import Table
    from etl.run.summary import RunSummary

log = logging.getLogger(__name__)

SUCCEEDED, FAILED, DQ_FAILED = "succeeded", "failed", "dq_failed"
# Session setting Delta copies into every commit's userMetadata (a writer's own option wins: the gold
# facts tables keep their silver-version JSON there).
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
ERROR_LIMIT = 1000

TABLE_ROWS = StructType([
    StructField("layer", StringType(), False),          # bronze, silver, gold, mysql
    StructField("name", StringType(), False),           # feed (bronze, silver) or table (gold, mysql)
    StructField("rows_in", LongType(), True),
    StructField("rows_out", LongType(), True),
    StructField("rows_quarantined", LongType(), True),
])
RUNS_SCHEMA = StructType([
    StructField("run_id", StringType(), False),
    StructField("run_date", DateType(), False),
    StructField("trigger", StringType(), False),
    StructField("profile", StringType(), False),
    StructField("started_at", TimestampType(), False),
    StructField("ended_at", TimestampType(), False),
    StructField("status", StringType(), False),
    StructField("stages", ArrayType(StringType(), False), False),
    StructField("stage_seconds", MapType(StringType(), DoubleType(), False), False),
    StructField("table_rows", ArrayType(TABLE_ROWS, False), False),
    StructField("table_versions", MapType(StringType(), LongType(), False), False),
    StructField("alerts", ArrayType(StringType(), False), False),
    StructField("error", StringType(), True),
])

# -- the record, pure --------------------------------------------------------------------------------

def status_of(error: BaseException | None) -> str:
    if error is None:
        return SUCCEEDED
    return DQ_FAILED if isinstance(error, DataQualityError) else FAILED


def error_line(error: BaseException | None) -> str | None:
    """One line: a project error's own message, else the exception type and its first line (never a
    traceback; a Java error's message carries its stack trace after the first line)."""
    if error is None:
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    text = first if isinstance(error, EtlError) and first else f"{type(error).__name__}: {first}".rstrip(": ")
    return text[:ERROR_LIMIT]


def table_rows(summary: RunSummary) -> list[tuple]:
    """(layer, name, rows_in, rows_out, rows_quarantined) from what each stage reported."""
    rows = [("bronze", f.feed, f.rows, f.rows, None) for f in summary.ingest]
    if summary.silver:
        rows += [("silver", q.feed, q.rows_in, q.rows_to_silver, q.rows_quarantined) for q in summary.silver.feeds]
    if summary.gold:
        rows += [("gold", t, None, n, None) for t, n in summary.gold.counts.items()]
    rows += [("mysql", t, None, n, None) for t, n in (summary.mysql or {}).items()]
    return rows


def run_record(summary: RunSummary) -> dict:
    """The ``ops/runs`` row of a finished run (``summary.status`` and ``ended_at`` set), in RUNS_SCHEMA's order."""
    return {
        "run_id": summary.run_id,
        "run_date": summary.run_date,
        "trigger": summary.trigger,
        "profile": summary.profile,
        "started_at": summary.started_at,
        "ended_at": summary.ended_at,
        "status": summary.status,
        "stages": list(summary.stages),
        "stage_seconds": {k: float(v) for k, v in summary.stage_seconds.items()},
        "table_rows": table_rows(summary),
        "table_versions": {k: int(v) for k, v in sorted(summary.table_versions.items())},
        "alerts": list(summary.gold.alerts) if summary.gold else [],
        "error": summary.error,
    }


def mysql_run_row(record: Mapping) -> tuple[str | None, ...]:
    """A run record as its MySQL ``etl_run_records`` row (etl.export.mysql.RUN_RECORD_COLUMNS' order):
    text for MySQL to convert, JSON for the nested fields, times in UTC."""
    def utc(value: datetime) -> str:
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    return (record["run_id"], record["run_date"].isoformat(), record["trigger"], record["profile"],
            utc(record["started_at"]), utc(record["ended_at"]), record["status"], ",".join(record["stages"]),
            json.dumps(record["stage_seconds"], sort_keys=True), json.dumps([list(r) for r in record["table_rows"]]),
            json.dumps(record["table_versions"], sort_keys=True), json.dumps(record["alerts"]), record["error"])


def records_to_mysql(summary: "RunSummary", error: BaseException | None, mysql_enabled: bool) -> bool:
    """Whether a run's record also goes to MySQL: when MySQL is enabled and the run had an export stage
    (a run without one never signs in to MySQL, nor decrypts its secrets), unless MySQL itself could
    not be reached (the record would wait for its connection retries to fail again)."""
    exporting = {"export", "export_mysql"} & set(summary.stages)
    unreachable = isinstance(error, EtlError) and str(error).startswith("cannot connect to MySQL")
    return mysql_enabled and bool(exporting) and not unreachable


def write_mysql_run_record(spark: SparkSession, cfg: Config, get_secret, record: Mapping) -> None:
    """Upsert the run's row in MySQL's ``etl_run_records`` (applying pending migrations first)."""
    from etl.export.mysql import Connection, apply_migrations, record_run, target_for

    with Connection(spark, target_for(cfg, get_secret)) as conn:
        apply_migrations(conn)
        record_run(conn, mysql_run_row(record))


# -- lake I/O ----------------------------------------------------------------------------------------

def runs_uri(cfg: Config) -> str:
    return table_uri(cfg, "ops", "runs")


def written_versions(spark: SparkSession, cfg: Config, run_id: str, tables: Iterable["Table"]) -> dict[str, int]:
    """``layer/table`` -> the version a table was left at, of the catalogue ``tables`` the run's stages
    write: every gold table once the gold stage ran (it brings them all up to date; Delta may skip an
    empty commit, and the facts keep their own metadata), else each table whose latest commit is this
    run's (userMetadata = run id)."""
    def latest(table: "Table") -> tuple[str, int] | None:
        uri = table.uri(cfg)
        version = delta_io.current_version(spark, uri)
        if version < 0:           # not created: its stage stopped before it began
            return None
        if table.layer == "gold":
            return table.key, version
        ours = delta_io.commit_info(spark, uri, version).get("userMetadata") == run_id
        return (table.key, version) if ours else None

    with RunContextThreadPool(4) as pool:     # a log listing and one small file each; no Spark job
        found = [hit for hit in pool.map(latest, {t.key: t for t in tables}.values()) if hit]
    return dict(found)


def write_run_record(spark: SparkSession, uri: str, record: Mapping) -> None:
    """An idempotent append (Delta transaction id: the run id): a record written twice for one run (a
    retried write) stays one row, and no MERGE is needed."""
    frame = spark.createDataFrame([tuple(record[f.name] for f in RUNS_SCHEMA.fields)], RUNS_SCHEMA)
    delta_io.append(spark, frame, uri, name="runs", txn=(f"{record['run_id']}/runs", 0), coalesce=1)


def runs_table(spark: SparkSession, cfg: Config) -> DataFrame | None:
    """``ops/runs``; None on a lake where no run has been recorded yet."""
    try:
        return delta_io.read(spark, runs_uri(cfg))
    except MissingTableError:
        return None


def as_utc(value: datetime | None) -> datetime | None:
    """PySpark gives timestamps as naive local time: the same instant, in UTC."""
    if value is None:
        return None
    return value.astimezone(timezone.utc)


def as_record(row) -> dict:
    record = row.asDict(recursive=True)
    record["started_at"], record["ended_at"] = as_utc(record["started_at"]), as_utc(record["ended_at"])
    return record


def find_run(spark: SparkSession, cfg: Config, run_id: str) -> dict:
    runs = runs_table(spark, cfg)
    found = [] if runs is None else runs.filter(F.col("run_id") == run_id).limit(1).collect()
    if not found:
        raise ConfigError(f"no run '{run_id}' in {runs_uri(cfg)}: `etl status` lists the recorded runs")
    return as_record(found[0])


# -- the records without Spark (etl status, etl check-freshness) --------------------------------------

# Who reads ops/runs for etl status and etl check-freshness: the export identity may read the lake and
# writes nothing there; the run identity, which owns ops/runs, could also rewrite it and the lock.
RECORDS_READER = "export"


def storage_options(cfg: Config, get_secret, identity: str = RECORDS_READER) -> dict[str, str]:
    """delta-rs (object_store) options for the profile's S3-compatible endpoint, signed in as ``identity``
    (by default the reader of the run records, ``RECORDS_READER``); empty for a local lake. The keys stay
    in this dict, handed to delta-rs in memory: never the environment, a command line or a log line."""
    s3 = cfg.storage.s3
    if s3 is None:
        return {}
    endpoint = s3.endpoint if "://" in s3.endpoint else f"{'https' if s3.ssl_enabled else 'http'}://{s3.endpoint}"
    pair = s3.identity(identity)
    options = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": s3.region,
               "AWS_ACCESS_KEY_ID": get_secret(pair.access_key_secret),
               "AWS_SECRET_ACCESS_KEY": get_secret(pair.secret_key_secret),
               "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not s3.path_style_access).lower()}
    if endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"        # loopback MinIO without TLS
    return options


def read_records(cfg: Config, get_secret) -> list[dict]:
    """Every row of ``ops/runs`` as a record (``as_record``'s form), read with delta-rs: no JVM, about
    a second instead of Spark's 25-60 s start. Empty when no run was recorded yet.

    The rows come through delta-rs's own query engine (``QueryBuilder``, all in Rust), not
    ``DeltaTable.to_pyarrow_table``: that one scans through a pyarrow dataset whose C++ I/O threads
    call back into Python for every read, and one of them still waiting for the GIL as the
    interpreter exits aborts the process ("terminate called without an active exception", exit
    -6) after the command printed its answer: half of 60 short processes on MinIO did."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder
    from deltalake.exceptions import DeltaError, TableNotFoundError

    uri = runs_uri(cfg)
    location = "s3://" + uri[len("s3a://"):] if uri.startswith("s3a://") else uri
    try:
        options = storage_options(cfg, get_secret, RECORDS_READER)
        rows = QueryBuilder().register("runs", DeltaTable(location, storage_options=options)).execute(
            "SELECT * FROM runs")
        table = pa.RecordBatchReader.from_stream(rows).read_all()
    except TableNotFoundError:
        return []
    except (DeltaError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EtlError(f"cannot read the run records in {uri}: {first}") from None
    records = []
    for row in table.to_pylist():
        for key in ("stage_seconds", "table_versions"):       # Arrow maps come as (key, value) pairs
            row[key] = dict(row[key] or [])
        row["started_at"], row["ended_at"] = as_utc(row["started_at"]), as_utc(row["ended_at"])
        records.append({f.name: row[f.name] for f in RUNS_SCHEMA.fields})
    return records


def newest(records: Iterable[Mapping], count: int) -> list[Mapping]:
    """The newest ``count`` records, newest first."""
    return sorted(records, key=lambda r: r["started_at"], reverse=True)[:count]


def find_record(records: Iterable[Mapping], cfg: Config, run_id: str) -> Mapping:
    found = [r for r in records if r["run_id"] == run_id]
    if not found:
        raise ConfigError(f"no run '{run_id}' in {runs_uri(cfg)}: `etl status` lists the recorded runs")
    return found[0]


def success_end(records: Iterable[Mapping]) -> datetime | None:
    """When the newest succeeded pipeline run ended (a rollback is not a fresh load)."""
    ends = [r["ended_at"] for r in records if r["status"] == SUCCEEDED and r["trigger"] != "rollback"]
    return max(ends, default=None)


# -- what the commands print, pure -------------------------------------------------------------------

def duration(record: Mapping) -> str:
    seconds = int((record["ended_at"] - record["started_at"]).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def gold_rows(record: Mapping) -> int | None:
    counts = [r["rows_out"] for r in record["table_rows"] if _field(r, "layer") == "gold"]
    return sum(c or 0 for c in counts) if counts else None


def _field(row, name: str):
    return row[name] if isinstance(row, Mapping) else row[TABLE_ROWS.fieldNames().index(name)]


def status_lines(records: Iterable[Mapping]) -> list[str]:
    """An aligned table, one line per run as given (newest first)."""
    header = ("run id", "run date", "trigger", "status", "duration", "rows to gold", "alerts")
    body = [(r["run_id"], r["run_date"].isoformat(), r["trigger"], r["status"], duration(r),
             "-" if gold_rows(r) is None else str(gold_rows(r)), str(len(r["alerts"]))) for r in records]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    right = {4, 5, 6}
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                      enumerate(zip(row, widths))).rstrip() for row in [header, *body]]


def detail_lines(record: Mapping) -> list[str]:
    """Everything one record holds, for ``etl status --run RUN_ID``."""
    out = [f"run {record['run_id']} for {record['run_date']} (profile {record['profile']}, trigger "
           f"{record['trigger']}): {record['status']}",
           f"  started {record['started_at']:%Y-%m-%d %H:%M:%S} UTC, ended {record['ended_at']:%Y-%m-%d %H:%M:%S} "
           f"UTC ({duration(record)})",
           f"  stages: {', '.join(record['stages']) or '-'}"]
    out += [f"    {stage:<13} {seconds:8.1f} s" for stage, seconds in record["stage_seconds"].items()]
    if record["table_rows"]:
        out.append(f"  {'table':<32} {'rows in':>9} {'rows out':>9} {'quarantined':>11}")
        for r in record["table_rows"]:
            cells = [_field(r, n) for n in TABLE_ROWS.fieldNames()]
            numbers = ["-" if v is None else str(v) for v in cells[2:]]
            out.append(f"  {cells[0] + ' ' + cells[1]:<32} {numbers[0]:>9} {numbers[1]:>9} {numbers[2]:>11}")
    versions = record["table_versions"]
    out.append("  delta versions left: " + (", ".join(f"{t} v{v}" for t, v in sorted(versions.items()))
                                            if versions else "none (no table written)"))
    out += [f"  ALERT {alert}" for alert in record["alerts"]]
    if record["error"]:
        out.append(f"  error: {record['error']}")
    return out


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_max_age(text: str) -> timedelta:
    """``26h``, ``90m``, ``2d``, ``30s`` -> a positive timedelta, else ConfigError."""
    match = _AGE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--max-age '{text}' is not a positive age with a unit s, m, h or d (e.g. 26h)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def check_freshness(last_success: datetime | None, now: datetime, max_age: timedelta, where: str) -> str:
    """The line to print when the newest success is younger than ``max_age``; StaleError otherwise."""
    if last_success is None:
        raise StaleError(f"stale: no succeeded run recorded in {where}")
    age = now - last_success
    said = f"last succeeded run ended {last_success:%Y-%m-%d %H:%M:%S} UTC, {_age(age)} ago"
    if age >= max_age:
        raise StaleError(f"stale: {said}, more than the allowed {_age(max_age)}")
    return f"fresh: {said} (allowed {_age(max_age)})"


def _age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts) + (f"{seconds}s" if seconds or not parts else "")
