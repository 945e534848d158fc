"""Gold -> MySQL: versioned migrations, staging loads, and one atomic swap.

Spark's JDBC writer fills ``<table>__staging`` for every exported table, in
parallel with batched inserts (``mysql.batch_size`` rows per batch, at most
``mysql.max_connections`` connections); then a single ``RENAME TABLE`` swaps
every staging table with its live table at once, so a reader sees the previous
complete run or the new one, never a mix, a partial or an empty table. A load
that stops before the swap (an error, a killed process) leaves the live tables
as they were; the next load drops the leftovers and starts over.

Statements go through MySQL Connector/J in Spark's own JVM (no second driver to
install); credentials travel only as JDBC connection properties, never in the
URL, and no error message carries the password.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.config import PROJECT_ROOT, Config
from etl.errors import ExportError
from etl.retry import RetryPolicy, call_with_retries, mysql_policy

log = logging.getLogger(__name__)
MIGRATIONS_DIR = PROJECT_ROOT / "resources" / "sql"
DRIVER = "com.mysql.cj.jdbc.Driver"
STAGING_SUFFIX, RETIRED_SUFFIX = "__staging", "__retired"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$")


@dataclass(frozen=True)
class MySQLTarget:
    url: str
    user: str
    password: str
    retry: RetryPolicy = field(default=RetryPolicy(), repr=False, compare=False)

    def describe(self) -> str:
        return self.url.split("?", 1)[0]

    def properties(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password, "driver": DRIVER}

    def scrub(self, text: str) -> str:
        """``text`` with the password and the user name masked: messages come from the driver and the
        server ("Access denied for user 'x'@'h'"), and both are secrets (mysql.*_secret)."""
        for value in (self.password, self.user):
            if value:
                text = text.replace(value, "***")
        return text


def target_for(cfg: Config, get_secret: Callable[[str], str]) -> MySQLTarget:
    m = cfg.mysql
    url = (f"jdbc:mysql://{m.host}:{m.port}/{m.database}"
           "?rewriteBatchedStatements=true&useSSL=false&allowPublicKeyRetrieval=true"
           "&connectionTimeZone=UTC&forceConnectionTimeZoneToSession=true&connectTimeout=10000")
    return MySQLTarget(url, get_secret(m.user_secret), get_secret(m.password_secret), mysql_policy(cfg))


# MySQL/MariaDB error codes (server 1xxx, client 2xxx) worth another try: too many connections,
# lock wait timeout, deadlock, cannot connect, server gone away, lost connection during a query.
TRANSIENT_ERROR_CODES = frozenset({1040, 1205, 1213, 2002, 2003, 2006, 2013})
# Never retried, whatever the SQLState says: access denied (to the server, to a database),
# unknown database, syntax error, unknown table, unknown column.
PERMANENT_ERROR_CODES = frozenset({1044, 1045, 1049, 1064, 1146, 1054})


def is_transient_sql_error(sql_state: str | None, error_code: int | None) -> bool:
    """Will the same statement or connection attempt likely work a little later?

    SQLState class 08 is "connection exception" (Connector/J reports a refused or timed-out
    connection as 08S01 with error code 0); 40001 a serialization failure (deadlock); HYT00 a
    timeout. Everything else (28000 access denied, 42xxx syntax or schema, ...) will not go away.
    """
    if error_code in PERMANENT_ERROR_CODES:
        return False
    if error_code in TRANSIENT_ERROR_CODES:
        return True
    return (sql_state or "").upper().startswith("08") or (sql_state or "").upper() in ("40001", "HYT00")


def sql_error_of(exc: BaseException) -> tuple[str | None, int | None]:
    """(SQLState, vendor error code) of the first java.sql.SQLException in a py4j error's cause chain."""
    java = getattr(exc, "java_exception", None)
    for _ in range(12):
        if java is None:
            break
        try:
            return java.getSQLState(), int(java.getErrorCode())
        except Exception:  # noqa: BLE001 - not an SQLException (py4j: no such method): look at its cause
            java = java.getCause()
    return None, None


def is_transient_connect_error(exc: BaseException) -> bool:
    return is_transient_sql_error(*sql_error_of(exc))


def migrations(folder: Path = MIGRATIONS_DIR) -> list[tuple[str, str]]:
    """(version, sql) in version order, from ``V<NNN>__name.sql`` files."""
    found = []
    for path in sorted(folder.glob("V*__*.sql")):
        found.append((path.name.split("__", 1)[0], path.read_text()))
    return found


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: each ends with ``;`` at the end of a line."""
    without_comments = re.sub(r"^\s*--.*$", "", sql, flags=re.MULTILINE)
    return [s.strip() for s in re.split(r";\s*$", without_comments, flags=re.MULTILINE) if s.strip()]


class Connection:
    """A java.sql.Connection through py4j, closed on exit."""

    def __init__(self, spark: SparkSession, target: MySQLTarget):
        jvm = spark.sparkContext._jvm
        self.target = target
        self._types = jvm.java.sql.Types
        props = jvm.java.util.Properties()
        for key, value in target.properties().items():
            props.setProperty(key, value)
        try:
            # The jar came through spark.jars, so it lives in Spark's class loader, not the system one
            # that DriverManager would search: load the driver there and connect through it directly.
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            driver = loader.loadClass(DRIVER).newInstance()
            # MySQL restarting, failing over or full (1040) is retried with backoff; a wrong password or
            # database fails at the first attempt (is_transient_sql_error).
            self._conn = call_with_retries(
                lambda: driver.connect(target.url, props), target.retry, is_transient_connect_error,
                f"connecting to MySQL at {target.describe()}", lambda e: target.scrub(_java_message(e)))
        except Exception as exc:  # py4j wraps the SQLException
            raise ExportError(f"cannot connect to MySQL at {target.describe()} as the user named by mysql.user_secret: "
                              f"{target.scrub(_java_message(exc))}") from None

    def execute(self, sql: str) -> None:
        statement = self._conn.createStatement()
        try:
            statement.execute(sql)
        except Exception as exc:
            raise ExportError(f"MySQL statement failed at {self.target.describe()} ({' '.join(sql.split()[:3])} ...): "
                              f"{self.target.scrub(_java_message(exc))}") from None
        finally:
            statement.close()

    def execute_with(self, sql: str, values: Sequence[str | None]) -> None:
        """A statement with ``?`` placeholders bound to ``values`` (text or NULL; MySQL converts the text
        to each column's type): for values that come from outside, such as an error message."""
        statement = self._conn.prepareStatement(sql)
        try:
            for index, value in enumerate(values, start=1):
                if value is None:
                    statement.setNull(index, self._types.VARCHAR)
                else:
                    statement.setString(index, value)
            statement.execute()
        except Exception as exc:
            raise ExportError(f"MySQL statement failed at {self.target.describe()} ({' '.join(sql.split()[:3])} ...): "
                              f"{self.target.scrub(_java_message(exc))}") from None
        finally:
            statement.close()

    def query(self, sql: str) -> list[tuple]:
        """Rows of a query, every value as the driver's text (None for NULL)."""
        statement = self._conn.createStatement()
        try:
            result = statement.executeQuery(sql)
            width = result.getMetaData().getColumnCount()
            rows = []
            while result.next():
                rows.append(tuple(result.getString(i + 1) for i in range(width)))
            return rows
        finally:
            statement.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _java_message(exc: Exception) -> str:
    """One line for a Java exception: its message, and the root cause's when that says more
    (``Communications link failure (Connection refused)``); a Spark job failure shows its root cause only."""
    java = getattr(exc, "java_exception", None)
    messages = []
    try:
        depth = 0
        while java is not None and depth < 12:
            text = java.getMessage() or java.getClass().getName()
            messages.append(str(text).strip().splitlines()[0] if str(text).strip() else java.getClass().getName())
            java, depth = java.getCause(), depth + 1
    except Exception:  # noqa: BLE001 - a py4j failure while reading the chain: fall back to the text
        messages = []
    if not messages:
        text = str(getattr(exc, "java_exception", exc)).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        return first.split(": ", 1)[-1][:300]
    top, root = messages[0], messages[-1]
    if top.startswith("Job aborted") or top == root:
        return root[:300]
    return f"{top} ({root})"[:300]


def apply_migrations(conn: Connection) -> list[str]:
    """Apply every migration not yet recorded in ``schema_migrations``; safe to run again."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(32) PRIMARY KEY, "
                 "applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    done = {row[0] for row in conn.query("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in migrations():
        if version in done:
            continue
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute(f"INSERT INTO schema_migrations VALUES ('{version}', UTC_TIMESTAMP(3))")
        applied.append(version)
    return applied


def _checked_name(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise ValueError(f"{table!r} is not a plain table name (letters, digits, _; at most 51 characters)")
    return table


def fill_staging(cfg: Config, target: MySQLTarget, conn: Connection, table: str, frame: DataFrame) -> int:
    """Replace ``<table>__staging`` with an empty copy of the live table and fill it from ``frame``
    with Spark's JDBC writer; returns its row count. The live table is not touched."""
    staging = _checked_name(table) + STAGING_SUFFIX
    conn.execute(f"DROP TABLE IF EXISTS {staging}")
    conn.execute(f"CREATE TABLE {staging} LIKE {table}")
    try:
        (frame.repartition(cfg.mysql.max_connections)
         .write.format("jdbc")
         .option("url", target.url)
         .option("dbtable", staging)
         .option("batchsize", cfg.mysql.batch_size)
         .option("numPartitions", cfg.mysql.max_connections)
         .option("isolationLevel", "READ_COMMITTED")
         .options(**target.properties())
         .mode("append")
         .save())
    except Exception as exc:
        raise ExportError(f"loading {table} into MySQL at {target.describe()} failed: "
                          f"{target.scrub(_java_message(exc))}") from None
    return int(conn.query(f"SELECT COUNT(*) FROM {staging}")[0][0])


def swap_in(conn: Connection, tables: Iterable[str]) -> float:
    """Make every ``<table>__staging`` live in one ``RENAME TABLE`` (atomic, for all the tables together),
    then drop the previous contents. Returns the seconds the RENAME took: the longest a reader of the
    live tables waits (on their metadata lock) for the switch."""
    tables = [_checked_name(t) for t in tables]
    if not tables:
        return 0.0
    for table in tables:
        conn.execute(f"DROP TABLE IF EXISTS {table}{RETIRED_SUFFIX}")   # left by a load stopped after its swap
    pairs = ", ".join(f"{t} TO {t}{RETIRED_SUFFIX}, {t}{STAGING_SUFFIX} TO {t}" for t in tables)
    began = time.monotonic()
    conn.execute(f"RENAME TABLE {pairs}")
    switch_seconds = time.monotonic() - began
    conn.execute("DROP TABLE " + ", ".join(f"{t}{RETIRED_SUFFIX}" for t in tables))
    return switch_seconds


def drop_staging(conn: Connection, tables: Iterable[str]) -> None:
    for table in tables:
        conn.execute(f"DROP TABLE IF EXISTS {_checked_name(table)}{STAGING_SUFFIX}")


def load_table(spark: SparkSession, cfg: Config, target: MySQLTarget, conn: Connection,
               table: str, frame: DataFrame) -> int:
    """One table on its own: fill staging, then swap it with the live table in one RENAME."""
    count = fill_staging(cfg, target, conn, table, frame)
    swap_in(conn, [table])
    return count


def record_runs(conn: Connection, run_id: str, run_date: date, counts: Mapping[str, int], loaded_at: datetime) -> None:
    """One ``etl_runs`` row per table, in one statement (all or none); a rerun of the same run id replaces them."""
    stamp = loaded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rows = ", ".join(f"('{run_id}', '{run_date.isoformat()}', '{_checked_name(t)}', {int(n)}, '{stamp}')"
                     for t, n in counts.items())
    if rows:
        conn.execute(f"REPLACE INTO etl_runs (run_id, run_date, table_name, row_count, loaded_at) VALUES {rows}")


# etl_run_records (resources/sql/V003__etl_run_records.sql): one row per run, etl/run/records.py mysql_run_row.
RUN_RECORD_COLUMNS = ("run_id", "run_date", "run_trigger", "profile", "started_at", "ended_at", "status", "stages",
                      "stage_seconds", "table_rows", "table_versions", "alerts", "error")


def record_run(conn: Connection, row: Sequence[str | None]) -> None:
    """The run's ``etl_run_records`` row (a rerun of the same run id replaces it)."""
    conn.execute_with(f"REPLACE INTO etl_run_records ({', '.join(RUN_RECORD_COLUMNS)}) "
                      f"VALUES ({', '.join('?' * len(RUN_RECORD_COLUMNS))})", row)


def gold_run_date(kpi_daily_sales: DataFrame) -> date | None:
    """The run date a gold build was for: ``kpi_daily_sales`` has one row per day through it
    (None when gold has no transaction at all)."""
    return kpi_daily_sales.agg(F.max("date")).first()[0]


def export_to_mysql(spark: SparkSession, cfg: Config, get_secret: Callable[[str], str],
                    tables: Mapping[str, DataFrame], run_id: str, run_date: date) -> dict[str, int]:
    """Load every table of ``tables`` (name -> gold frame) and make them all visible at once.
    Returns the row count per table; raises ExportError (naming the target, never the password)."""
    target = target_for(cfg, get_secret)
    if not re.fullmatch(r"[0-9A-Za-z_.:-]+", run_id):
        raise ValueError(f"run id {run_id!r} has characters a run id never has")
    counts: dict[str, int] = {}
    with Connection(spark, target) as conn:
        applied = apply_migrations(conn)
        if applied:
            log.info("mysql: applied migration(s) %s", ", ".join(applied))
        try:
            for table, frame in tables.items():
                began = time.monotonic()
                counts[table] = fill_staging(cfg, target, conn, table, frame)
                log.info("mysql: %s__staging holds %d row(s), loaded in %.2f s", table, counts[table],
                         time.monotonic() - began)
        except ExportError:
            try:
                drop_staging(conn, tables)
            except ExportError:
                pass                     # the next load drops them anyway
            raise
        switch_seconds = swap_in(conn, counts)
        loaded_at = datetime.now(timezone.utc)
        record_runs(conn, run_id, run_date, counts, loaded_at)
        log.info("mysql: %d table(s) swapped in at once at %s, the switch (RENAME TABLE) took %.3f s",
                 len(counts), target.describe(), switch_seconds)
    return counts
