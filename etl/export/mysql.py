"""Gold -> MySQL: versioned migrations, staging loads, and an atomic swap.

Spark's JDBC writer fills ``<table>__staging`` in parallel with batched
inserts; then a single ``RENAME TABLE`` swaps staging and live, so a reader
sees the old complete table or the new one, never a mix. Statements go
through MySQL Connector/J in Spark's own JVM (no second driver to install);
credentials travel only as JDBC connection properties, never in the URL.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from pyspark.sql import DataFrame, SparkSession

from etl.config import PROJECT_ROOT, Config
from etl.errors import ExportError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = PROJECT_ROOT / "resources" / "sql"
DRIVER = "com.mysql.cj.jdbc.Driver"


@dataclass(frozen=True)
class MySQLTarget:
    url: str
    user: str
    password: str

    def describe(self) -> str:
        return self.url.split("?", 1)[0]

    def properties(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password, "driver": DRIVER}


def target_for(cfg: Config, get_secret: Callable[[str], str]) -> MySQLTarget:
    m = cfg.mysql
    url = (f"jdbc:mysql://{m.host}:{m.port}/{m.database}"
           "?rewriteBatchedStatements=true&useSSL=false&allowPublicKeyRetrieval=true"
           "&connectionTimeZone=UTC&forceConnectionTimeZoneToSession=true&connectTimeout=10000")
    return MySQLTarget(url, get_secret(m.user_secret), get_secret(m.password_secret))


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
        props = jvm.java.util.Properties()
        for key, value in target.properties().items():
            props.setProperty(key, value)
        try:
            # The jar came through spark.jars, so it lives in Spark's class loader, not the system one
            # that DriverManager would search: load the driver there and connect through it directly.
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            driver = loader.loadClass(DRIVER).newInstance()
            self._conn = driver.connect(target.url, props)
        except Exception as exc:  # py4j wraps the SQLException; its text never holds the password
            reason = _java_message(exc)
            raise ExportError(f"cannot connect to MySQL at {target.describe()} as '{target.user}': {reason}") from None

    def execute(self, sql: str) -> None:
        statement = self._conn.createStatement()
        try:
            statement.execute(sql)
        except Exception as exc:
            raise ExportError(f"MySQL statement failed ({sql.split()[0]} ...): {_java_message(exc)}") from None
        finally:
            statement.close()

    def query(self, sql: str) -> list[tuple]:
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._conn.close()


def _java_message(exc: Exception) -> str:
    text = str(getattr(exc, "java_exception", exc))
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.split(": ", 1)[-1][:300]


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


def load_table(spark: SparkSession, cfg: Config, target: MySQLTarget, conn: Connection,
               table: str, frame: DataFrame) -> int:
    """Fill staging in parallel, then swap it with the live table in one RENAME."""
    staging, retired = f"{table}__staging", f"{table}__retired"
    conn.execute(f"DROP TABLE IF EXISTS {staging}")
    conn.execute(f"DROP TABLE IF EXISTS {retired}")
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
        raise ExportError(f"loading {table} into MySQL at {target.describe()} failed: {_java_message(exc)}") from None
    count = int(conn.query(f"SELECT COUNT(*) FROM {staging}")[0][0])
    conn.execute(f"RENAME TABLE {table} TO {retired}, {staging} TO {table}")
    conn.execute(f"DROP TABLE {retired}")
    return count


def export_to_mysql(spark: SparkSession, cfg: Config, get_secret: Callable[[str], str],
                    tables: dict[str, DataFrame], run_id: str, run_date: date) -> dict[str, int]:
    target = target_for(cfg, get_secret)
    counts = {}
    with Connection(spark, target) as conn:
        applied = apply_migrations(conn)
        if applied:
            log.info("mysql: applied migration(s) %s", ", ".join(applied))
        for table, frame in tables.items():
            counts[table] = load_table(spark, cfg, target, conn, table, frame)
            loaded_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            conn.execute(f"REPLACE INTO etl_runs VALUES ('{run_id}', '{run_date.isoformat()}', '{table}', "
                         f"{counts[table]}, '{loaded_at}')")
            log.info("mysql: %s now holds %d row(s) (%s)", table, counts[table], target.describe())
    return counts
