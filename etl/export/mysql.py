"""Gold -> MySQL: versioned migrations, staging loads of what changed, and one atomic swap.

Only gold tables whose content differs from what MySQL holds are loaded: one
Spark query fingerprints every gold table (row count and order-independent row
hashes), and ``etl_gold_loaded`` records the fingerprint each MySQL table holds.
A changed table is filled into ``<table>__staging``: a small one (at most
``mysql.small_table_rows`` rows) from rows collected to the driver, all small
tables in one Spark job, written with multi-row INSERTs on the control
connection; a larger one with Spark's JDBC writer, in parallel with batched
inserts (``mysql.batch_size`` rows per batch, at most ``mysql.max_connections``
connections). Then a single ``RENAME TABLE`` swaps every staging table with its
live table at once, so a reader sees the previous complete run or the new one,
never a mix, a partial or an empty table. A load that stops before the swap (an
error, a killed process) leaves the live tables as they were; the next load
drops the leftovers and starts over.

MySQL serves gold under a few names of its own (resources/sql/V005, :func:`served_frame`): the
snapshot tables (``SNAPSHOT_TABLES``) carry their ``as_of_date`` and keep every run date's rows in
``<table>_history``; ``rank`` and ``date``, reserved words, are ``spend_rank``, ``sales_date`` and
``alert_date`` (``SERVED_RENAMES``). Gold itself keeps the names of the metric definitions.

Statements go through MySQL Connector/J in Spark's own JVM (no second driver to
install); credentials travel only as JDBC connection properties, never in the
URL, and no error message carries the password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (BooleanType, ByteType, DataType, DateType, DecimalType, IntegerType, LongType,
                               ShortType, StringType, StructType, TimestampType)

from etl.config import LOOPBACK_HOSTS, PROJECT_ROOT, Config
from etl.errors import ConfigError, ExportError
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


def mysql_url(cfg: Config) -> str:
    """The JDBC URL, with TLS as ``mysql.ssl_mode`` says; ConfigError for plain text to another machine.

    Plain text (DISABLED) only to a loopback server (the dev profile's MariaDB): the password and the
    data would otherwise cross the network readable. Only then may the driver fetch the server's RSA
    key to send the password (``allowPublicKeyRetrieval``); under TLS it is never needed.
    """
    m = cfg.mysql
    if m.ssl_mode == "DISABLED" and m.host not in LOOPBACK_HOSTS:
        raise ConfigError(f"mysql.ssl_mode is DISABLED but mysql.host {m.host} is not this machine: the "
                          f"password and the gold data would cross the network in plain text; set "
                          f"mysql.ssl_mode to REQUIRED, VERIFY_CA or VERIFY_IDENTITY (docs/security.md, TLS)")
    tls = f"sslMode={m.ssl_mode}" + ("&allowPublicKeyRetrieval=true" if m.ssl_mode == "DISABLED" else "")
    return (f"jdbc:mysql://{m.host}:{m.port}/{m.database}?rewriteBatchedStatements=true&{tls}"
            "&connectionTimeZone=UTC&forceConnectionTimeZoneToSession=true&connectTimeout=10000")


def target_for(cfg: Config, get_secret: Callable[[str], str]) -> MySQLTarget:
    m = cfg.mysql
    return MySQLTarget(mysql_url(cfg), get_secret(m.user_secret), get_secret(m.password_secret), mysql_policy(cfg))


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


# The run history SQL consumers audit (resources/sql): the loader appends to them and may never drop,
# rename, truncate or delete from them (docs/security.md, "MySQL accounts"). etl_runs was the first of
# them; V005 renamed it etl_table_loads and left etl_runs as a view over it.
AUDIT_TABLES = ("etl_table_loads", "etl_run_records", "schema_migrations")
# Views over the audit tables: the loader and the consumers may read them (etl_runs: etl_table_loads).
AUDIT_VIEWS = ("etl_runs",)
# The audit tables that record what the runs did (which tables, how many rows, each stage's time, the
# outcome): the consumers read them too (the dashboard's Data health page). They hold no secret: an
# error is scrubbed before it is recorded, and tests/integration/test_no_leaks.py searches
# etl_run_records. schema_migrations is the schema's own bookkeeping: the loader's and the admin's only.
RUN_RECORD_TABLES = ("etl_table_loads", "etl_run_records")
LOADER_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX"
AUDIT_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, CREATE"
LEGACY_SUFFIX = "_legacy"      # V005: a served table's old column names, for one release


_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?", re.I)
_CREATE_VIEW = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?VIEW\s+`?(\w+)`?", re.I)
_DROP = re.compile(r"^DROP\s+(TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?(.+)$", re.I | re.S)
_RENAME = re.compile(r"^RENAME\s+TABLE\s+(.+)$", re.I | re.S)


def schema_objects(folder: Path = MIGRATIONS_DIR) -> dict[str, str]:
    """Name -> ``table`` or ``view``: what the migrations leave in the schema, found by replaying their
    CREATE, DROP and RENAME statements (a table built beside the live one and renamed over it counts
    under its final name only), plus ``schema_migrations`` (apply_migrations creates it). The accounts'
    grants are derived from this, so a table a future migration adds is granted without a hand list."""
    objects: dict[str, str] = {"schema_migrations": "table"}
    for _, sql in migrations(folder):
        for statement in split_statements(sql):
            if m := _CREATE_TABLE.match(statement):
                objects[m.group(1)] = "table"
            elif m := _CREATE_VIEW.match(statement):
                objects[m.group(1)] = "view"
            elif m := _DROP.match(statement):
                for name in m.group(2).split(","):
                    objects.pop(name.strip().strip("`"), None)
            elif m := _RENAME.match(statement):
                for pair in m.group(1).split(","):
                    old, new = (n.strip().strip("`") for n in re.split(r"\s+TO\s+", pair.strip(), flags=re.I))
                    objects[new] = objects.pop(old)
    return objects


def account_objects(folder: Path = MIGRATIONS_DIR) -> dict[str, tuple[str, ...]]:
    """The schema's objects by what each account may do with them: ``loaded`` (the served gold tables
    and ``catalog.SERVED_OPS``, the quality results and rejected files: the loader owns them with their
    ``__staging`` and ``__retired`` names), ``owned`` (the snapshot histories and ``etl_gold_loaded``: the
    loader writes them in place), ``audit`` (append-only), ``audit_views`` and ``served_views`` (the
    ``_legacy`` views). ``served``: the gold tables, their histories and their views; ``records``: the run
    records (``RUN_RECORD_TABLES``) and the audit views over them. ``consumer`` is what the read-only
    consumers may read: ``served`` and ``records``. A migration's object that fits none of these is an
    error (tests/unit/test_mysql_sql.py), never a table left without a grant."""
    from etl.catalog import SERVED_OPS
    from etl.gold.marts import GOLD_TABLES

    objects = schema_objects(folder)
    histories = {f"{t}{HISTORY_SUFFIX}" for t in SNAPSHOT_TABLES}
    groups: dict[str, list[str]] = {k: [] for k in ("loaded", "owned", "audit", "audit_views", "served_views")}
    unknown = []
    for name, kind in objects.items():
        if kind == "view":
            group = ("audit_views" if name in AUDIT_VIEWS else
                     "served_views" if name.removesuffix(LEGACY_SUFFIX) in GOLD_TABLES else None)
        else:
            group = ("loaded" if name in GOLD_TABLES or name in SERVED_OPS
                     else "owned" if name in histories or name == LOADED_TABLE
                     else "audit" if name in AUDIT_TABLES else None)
        if group is None:
            unknown.append(f"{kind} {name}")
        else:
            groups[group].append(name)
    if unknown:
        raise ValueError(f"the MySQL migrations create {', '.join(unknown)}, which no account grant covers: "
                         f"name it in etl/export/mysql.py (a gold table, a snapshot's history, an audit table "
                         f"or view, a _legacy view)")
    out = {k: tuple(v) for k, v in groups.items()}
    served = (*out["loaded"], *(t for t in out["owned"] if t != LOADED_TABLE), *out["served_views"])
    records = (*(t for t in out["audit"] if t in RUN_RECORD_TABLES), *out["audit_views"])
    return {**out, "served": served, "records": records, "consumer": (*served, *records)}


def account_grants(database: str, account: str, reader: str | None = None) -> list[str]:
    """The GRANT statements of the loader ``account`` (and the read-only consumer ``reader``), object by
    object from ``account_objects`` (the migrations): a schema-wide DROP would also reach the audit
    tables. The loader owns each gold table with its ``__staging`` and ``__retired`` names (the atomic
    swap), the histories and ``etl_gold_loaded``; on the audit tables it may read, append and update a
    rerun's row, never DROP, ALTER or DELETE; it reads the views. The consumer reads the gold tables,
    their histories and views, and the run records, nothing else (``account_objects``'s ``consumer``).
    Grants are by name, so they hold across the RENAME swap."""
    objects = account_objects()
    loaded = [f"{t}{suffix}" for t in objects["loaded"] for suffix in ("", STAGING_SUFFIX, RETIRED_SUFFIX)]
    out = [f"GRANT {LOADER_TABLE_PRIVILEGES} ON `{database}`.`{t}` TO {account};" for t in (*loaded, *objects["owned"])]
    out += [f"GRANT {AUDIT_TABLE_PRIVILEGES} ON `{database}`.`{t}` TO {account};" for t in objects["audit"]]
    out += [f"GRANT SELECT ON `{database}`.`{t}` TO {account};"
            for t in (*objects["audit_views"], *objects["served_views"])]
    if reader:
        out += [f"GRANT SELECT ON `{database}`.`{t}` TO {reader};" for t in objects["consumer"]]
    return out


GRANTS_TEMPLATE = PROJECT_ROOT / "docker" / "mysql" / "account-grants.sql"


def grants_template() -> str:
    """``account_grants`` with placeholders for the compose stack's mysql init (docker/mysql/init), which
    cannot run Python: it puts the database and the two accounts in place of ``@DATABASE@``,
    ``@LOADER@`` and ``@READER@``."""
    head = ["-- Written by `python -m etl.export.mysql --grants-template docker/mysql/account-grants.sql` from",
            "-- resources/sql (etl/export/mysql.py account_grants); tests/test_docker_stack.py checks it. Do not edit."]
    return "\n".join([*head, *account_grants("@DATABASE@", "@LOADER@", "@READER@")]) + "\n"


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


SCHEMA_MIGRATIONS_DDL = ("CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(32) PRIMARY KEY, "
                         "applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def pending_migration_statements(done: Iterable[str]) -> list[str]:
    """The statements of every migration not in ``done``, each followed by its ``schema_migrations`` row.

    The account that creates the MySQL accounts runs these (``etl services start``, the compose stack's
    mysql init): a migration may rename or replace what the loader may not (V005 turned the audit table
    etl_runs into etl_table_loads and a view), and the loader's grants name the tables it creates."""
    out, done = [], set(done)
    for version, sql in migrations():
        if version not in done:
            out += [*split_statements(sql), f"INSERT INTO schema_migrations VALUES ('{version}', UTC_TIMESTAMP(3))"]
    return out


def apply_migrations(conn: Connection) -> list[str]:
    """Apply every migration not yet recorded in ``schema_migrations``; safe to run again. Where the
    accounts were set up by ``etl services start`` or the compose stack, they are all recorded already
    (applied as the MySQL admin, ``pending_migration_statements``) and this only checks."""
    conn.execute(SCHEMA_MIGRATIONS_DDL)
    done = {row[0] for row in conn.query("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in migrations():
        if version in done:
            continue
        try:
            for statement in split_statements(sql):
                conn.execute(statement)
        except ExportError as exc:
            if "denied" not in str(exc).lower():
                raise
            raise ExportError(f"MySQL migration {version} is not applied and the loader may not apply it "
                              f"({str(exc)[:200]}): apply it as the MySQL admin (etl services start in dev, "
                              f"docs/security.md, MySQL accounts)") from None
        conn.execute(f"INSERT INTO schema_migrations VALUES ('{version}', UTC_TIMESTAMP(3))")
        applied.append(version)
    return applied


def _checked_name(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise ValueError(f"{table!r} is not a plain table name (letters, digits, _; at most 51 characters)")
    return table


def _new_staging(conn: Connection, table: str) -> str:
    """An empty ``<table>__staging`` like the live table. The table's ``etl_gold_loaded`` row goes first:
    whatever is swapped in next, that row no longer describes it (a later load reloads the table
    unless this load records the new content after its swap)."""
    staging = _checked_name(table) + STAGING_SUFFIX
    conn.execute(f"DELETE FROM {LOADED_TABLE} WHERE table_name = '{table}'")
    conn.execute(f"DROP TABLE IF EXISTS {staging}")
    conn.execute(f"CREATE TABLE {staging} LIKE {table}")
    return staging


def fill_staging(cfg: Config, target: MySQLTarget, conn: Connection, table: str, frame: DataFrame) -> int:
    """Replace ``<table>__staging`` with an empty copy of the live table and fill it from ``frame``
    with Spark's JDBC writer; returns its row count. The live table is not touched."""
    staging = _new_staging(conn, table)
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


# -- only what changed ---------------------------------------------------------------------------------

LOADED_TABLE = "etl_gold_loaded"      # resources/sql/V004__etl_gold_loaded.sql


@dataclass(frozen=True)
class Content:
    """What a gold frame holds, as far as the loader cares: its rows and a digest of its content."""
    rows: int
    digest: str


def content_of(tables: Mapping[str, DataFrame]) -> dict[str, Content]:
    """Row count and content digest of every frame, in one Spark query (one aggregate per table, unioned).

    The digest is the SHA-256 of the schema (names and types), the row count and two sums of row hashes
    (64-bit xxhash64 and 32-bit Murmur3 over every column plus a null flag per column, so a null never
    reads as a shifted value). Sums do not depend on row order or partitioning, so the same content gives
    the same digest whatever file layout or Delta version it comes from."""
    if not tables:
        return {}
    parts = []
    for name, frame in tables.items():
        columns = [F.col(f"`{c}`") for c in frame.columns]
        flags = [F.isnull(c) for c in columns]
        parts.append(frame.agg(F.lit(name).alias("t"), F.count(F.lit(1)).alias("n"),
                               F.sum(F.xxhash64(*columns, *flags).cast("decimal(38,0)")).alias("h64"),
                               F.sum(F.hash(*columns, *flags).cast("bigint")).alias("h32")))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    found = {row["t"]: row for row in union.collect()}
    out = {}
    for name, frame in tables.items():
        row = found[name]
        text = f"{frame.schema.simpleString()}|{row['n']}|{row['h64'] or 0}|{row['h32'] or 0}"
        out[name] = Content(int(row["n"]), hashlib.sha256(text.encode()).hexdigest())
    return out


def loaded_contents(conn: Connection) -> dict[str, Content]:
    """What ``etl_gold_loaded`` says each MySQL table holds."""
    return {t: Content(int(n), d) for t, d, n in
            conn.query(f"SELECT table_name, content_hash, row_count FROM {LOADED_TABLE}")}


def live_counts(conn: Connection, tables: Iterable[str]) -> dict[str, int]:
    """Rows of each live table, in one query (a table emptied or refilled by hand is then reloaded)."""
    tables = [_checked_name(t) for t in tables]
    if not tables:
        return {}
    rows = conn.query(" UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in tables))
    return {t: int(n) for t, n in rows}


def unchanged_tables(conn: Connection, contents: Mapping[str, Content]) -> list[str]:
    """Tables whose gold content is the one MySQL holds: the same digest recorded in ``etl_gold_loaded``
    and the live table still holding the rows recorded."""
    loaded = loaded_contents(conn)
    same = [t for t, content in contents.items() if loaded.get(t) == content]
    counts = live_counts(conn, same)
    return [t for t in same if counts[t] == contents[t].rows]


def record_loaded(conn: Connection, run_id: str, run_date: date, contents: Mapping[str, Content],
                  loaded: Iterable[str], checked: Iterable[str], at: datetime) -> None:
    """After the swap: the content now live in each ``loaded`` table (a new row), and for ``checked``
    tables (found unchanged) the run that checked them."""
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rows = ", ".join(f"('{_checked_name(t)}', '{contents[t].digest}', {contents[t].rows}, '{run_id}', "
                     f"'{run_date.isoformat()}', '{stamp}', '{run_id}', '{stamp}')" for t in loaded)
    if rows:
        conn.execute(f"REPLACE INTO {LOADED_TABLE} (table_name, content_hash, row_count, run_id, run_date, "
                     f"loaded_at, checked_run_id, checked_at) VALUES {rows}")
    kept = ", ".join(f"'{_checked_name(t)}'" for t in checked)
    if kept:
        conn.execute(f"UPDATE {LOADED_TABLE} SET checked_run_id = '{run_id}', checked_at = '{stamp}' "
                     f"WHERE table_name IN ({kept})")


# -- small tables: collected, then multi-row INSERTs on the control connection ----------------------------

ROWS_PER_INSERT = 500


def collect_small(tables: Mapping[str, DataFrame], limit: int) -> dict[str, list[dict]]:
    """The rows of every frame of ``tables`` (each known to hold at most ``limit`` rows), in one Spark
    job: each frame cut at ``limit + 1`` rows and turned into one JSON text per row, unioned. At most
    ``len(tables) * (limit + 1)`` rows reach the driver; a frame that returns more than ``limit`` (it grew
    since it was counted) is left out of the answer, and the caller loads it with the JDBC writer."""
    if not tables:
        return {}
    parts = [frame.limit(limit + 1).select(F.lit(name).alias("t"),
                                           F.to_json(F.struct(*[F.col(f"`{c}`") for c in frame.columns]))
                                           .alias("j"))
             for name, frame in tables.items()]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    out: dict[str, list[dict]] = {name: [] for name in tables}
    for row in union.collect():
        out[row["t"]].append(json.loads(row["j"], parse_float=Decimal))
    return {name: rows for name, rows in out.items() if len(rows) <= limit}


_INTEGERS = (ByteType, ShortType, IntegerType, LongType)


def sql_literal(value, dtype: DataType) -> str:
    """``value`` (as Spark's JSON gives it) as a MySQL literal of the column's Spark type. Text goes as a
    hex literal (``_utf8mb4 X'..'``): no quoting or escaping to get wrong, whatever the SQL mode; every
    other value is parsed into its type first, so nothing but a number or a date reaches the statement."""
    if value is None:
        return "NULL"
    if isinstance(dtype, StringType):
        return f"_utf8mb4 X'{str(value).encode('utf-8').hex()}'" if value != "" else "''"
    if isinstance(dtype, _INTEGERS):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        return str(int(value))
    if isinstance(dtype, DecimalType):
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite decimal")
        return format(number, "f")
    if isinstance(dtype, BooleanType):
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not a boolean")
        return "1" if value else "0"
    if isinstance(dtype, DateType):
        return f"'{date.fromisoformat(str(value)).isoformat()}'"
    if isinstance(dtype, TimestampType):          # rejected_files.rejected_at (V007): DATETIME(3) in UTC
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return f"'{moment.isoformat(sep=' ', timespec='milliseconds')}'"
    raise ValueError(f"no SQL literal for Spark type {dtype.simpleString()} (gold has none)")


def insert_statements(table: str, schema: StructType, rows: Sequence[Mapping], per_statement: int = ROWS_PER_INSERT
                      ) -> list[str]:
    """Multi-row ``INSERT INTO <table> (columns) VALUES (...), ...`` of ``per_statement`` rows each, the
    columns named (a table's invisible and generated columns are left to the server) and every value
    rendered from the column's Spark type."""
    _checked_name(table)
    fields = schema.fields
    head = f"INSERT INTO {table} ({', '.join(f'`{f.name}`' for f in fields)}) VALUES "
    statements = []
    for start in range(0, len(rows), per_statement):
        values = ", ".join("(" + ", ".join(sql_literal(row.get(f.name), f.dataType) for f in fields) + ")"
                           for row in rows[start:start + per_statement])
        statements.append(head + values)
    return statements


def fill_staging_rows(conn: Connection, table: str, schema: StructType, rows: Sequence[Mapping]) -> int:
    """Replace ``<table>__staging`` with an empty copy of the live table and fill it with ``rows`` (dicts
    by column name) in multi-row INSERTs on ``conn``, as one transaction; returns its row count."""
    staging = _new_staging(conn, table)
    statements = insert_statements(staging, schema, rows)
    if statements:
        conn.execute("START TRANSACTION")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute("COMMIT")
        except ExportError as exc:
            try:
                conn.execute("ROLLBACK")
            except ExportError:
                pass
            raise ExportError(f"loading {table} into MySQL at {conn.target.describe()} failed: {exc}") from None
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


# -- served names, snapshots and their history (resources/sql/V005__served_names_and_history.sql) ---------

# Gold columns MySQL serves under another name: reserved words there (gold keeps the metric names).
SERVED_RENAMES: dict[str, dict[str, str]] = {
    "kpi_top_customers_30d": {"rank": "spend_rank"},
    "kpi_daily_sales": {"date": "sales_date"},
    "alerts": {"date": "alert_date"},
    "kpi_channel_daily": {"date": "sales_date"},            # V006 (order analytics)
    "kpi_revenue_forecast": {"date": "forecast_date"},
}
# Tables holding one run date's figures: served with ``as_of_date`` first, every date kept in <table>_history.
# V006 adds the order-analytics tables cut from a window ending on D (the tables over every date or month
# up to D, kpi_channel_daily, kpi_order_mix and kpi_cohort_retention, are not snapshots).
SNAPSHOT_TABLES = ("kpi_regional_revenue", "kpi_top_customers_30d", "kpi_product_sales_30d", "kpi_repeat_customers",
                   "kpi_peak_hours", "kpi_menu_performance_30d", "customer_rfm", "kpi_basket_pairs_90d",
                   "kpi_revenue_forecast", "forecast_backtest")
HISTORY_SUFFIX = "_history"
AS_OF = "as_of_date"


def served_columns(table: str, columns: Sequence[str]) -> list[str]:
    """The MySQL columns of gold ``table`` whose gold columns are ``columns``, in order."""
    renames = SERVED_RENAMES.get(table, {})
    return [*([AS_OF] if table in SNAPSHOT_TABLES else []), *(renames.get(c, c) for c in columns)]


def served_frame(table: str, frame: DataFrame, run_date: date) -> DataFrame:
    """Gold ``frame`` as MySQL serves ``table``: renamed columns, and a snapshot's ``as_of_date``."""
    renames = SERVED_RENAMES.get(table, {})
    columns = [F.col(f"`{c}`").alias(renames.get(c, c)) for c in frame.columns]
    if table in SNAPSHOT_TABLES:
        columns.insert(0, F.lit(run_date).cast("date").alias(AS_OF))
    return frame.select(*columns)


def record_history(conn: Connection, run_date: date, tables: Iterable[str],
                   columns: Mapping[str, Sequence[str]]) -> None:
    """Copy the live rows of each snapshot table of ``tables`` (those dated ``run_date``) into its
    ``<table>_history``, replacing what that date held there, all tables in one transaction: a rerun of
    a date leaves one set of rows for it. ``columns``: the served columns of each table."""
    snapshots = [t for t in tables if t in SNAPSHOT_TABLES]
    if not snapshots:
        return
    day = run_date.isoformat()
    conn.execute("START TRANSACTION")
    try:
        for table in snapshots:
            history = _checked_name(table + HISTORY_SUFFIX)
            names = ", ".join(f"`{c}`" for c in columns[table])
            conn.execute(f"DELETE FROM {history} WHERE {AS_OF} = '{day}'")
            conn.execute(f"INSERT INTO {history} ({names}) SELECT {names} FROM {table} WHERE {AS_OF} = '{day}'")
        conn.execute("COMMIT")
    except ExportError:
        try:
            conn.execute("ROLLBACK")
        except ExportError:
            pass
        raise


LOADS_TABLE = "etl_table_loads"       # V005: etl_runs renamed; etl_runs is a view over it for a release


def record_runs(conn: Connection, run_id: str, run_date: date, counts: Mapping[str, int], loaded_at: datetime) -> None:
    """One ``etl_table_loads`` row per table loaded, in one statement (all or none); a rerun of the same
    run id replaces them."""
    stamp = loaded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rows = ", ".join(f"('{run_id}', '{run_date.isoformat()}', '{_checked_name(t)}', {int(n)}, '{stamp}')"
                     for t, n in counts.items())
    if rows:
        # An upsert, not REPLACE (a DELETE and an INSERT): the loader has no DELETE on the audit tables.
        conn.execute(f"INSERT INTO {LOADS_TABLE} (run_id, run_date, table_name, row_count, loaded_at) VALUES {rows} "
                     "ON DUPLICATE KEY UPDATE run_date = VALUES(run_date), row_count = VALUES(row_count), "
                     "loaded_at = VALUES(loaded_at)")


# etl_run_records (resources/sql/V003__etl_run_records.sql): one row per run, etl/run/records.py mysql_run_row.
RUN_RECORD_COLUMNS = ("run_id", "run_date", "run_trigger", "profile", "started_at", "ended_at", "status", "stages",
                      "stage_seconds", "table_rows", "table_versions", "alerts", "error")


def record_run(conn: Connection, row: Sequence[str | None]) -> None:
    """The run's ``etl_run_records`` row (a rerun of the same run id replaces it)."""
    conn.execute_with(f"INSERT INTO etl_run_records ({', '.join(RUN_RECORD_COLUMNS)}) "
                      f"VALUES ({', '.join('?' * len(RUN_RECORD_COLUMNS))}) ON DUPLICATE KEY UPDATE "
                      + ", ".join(f"{c} = VALUES({c})" for c in RUN_RECORD_COLUMNS[1:]), row)


def gold_run_date(kpi_daily_sales: DataFrame) -> date | None:
    """The run date a gold build was for: ``kpi_daily_sales`` has one row per day through it
    (None when gold has no transaction at all)."""
    return kpi_daily_sales.agg(F.max("date")).first()[0]


# Two log lines of the export that benchmarks/run.py reads its serving figures from
# (tests/unit/test_bench_eventlog.py builds its input with these, so a new wording fails there).
LOADED_LINE = "mysql: %s__staging holds %d row(s), loaded in %.2f s (%s)"
SWAPPED_LINE = ("mysql: %d table(s) swapped in at once at %s, the switch (RENAME TABLE) took %.3f s; "
                "%d unchanged table(s) kept%s")


def export_to_mysql(spark: SparkSession, cfg: Config, get_secret: Callable[[str], str],
                    tables: Mapping[str, DataFrame], run_id: str, run_date: date,
                    reload_all: bool = False) -> dict[str, int]:
    """Load every table of ``tables`` (name -> gold frame) whose content MySQL does not hold yet, and
    make them all visible at once; ``reload_all`` loads every table whatever ``etl_gold_loaded`` says.
    Returns the rows each table holds afterwards (loaded or kept); raises ExportError (naming the
    target, never the password)."""
    target = target_for(cfg, get_secret)
    if not re.fullmatch(r"[0-9A-Za-z_.:-]+", run_id):
        raise ValueError(f"run id {run_id!r} has characters a run id never has")
    tables = {name: served_frame(name, frame, run_date) for name, frame in tables.items()}
    counts: dict[str, int] = {}
    with Connection(spark, target) as conn:
        applied = apply_migrations(conn)
        if applied:
            log.info("mysql: applied migration(s) %s", ", ".join(applied))
        began = time.monotonic()
        contents = content_of(tables)
        # A migration may have changed a table: reload everything after one.
        kept = [] if applied or reload_all else unchanged_tables(conn, contents)
        changed = [t for t in tables if t not in kept]
        limit = cfg.mysql.small_table_rows
        small = collect_small({t: tables[t] for t in changed if contents[t].rows <= limit}, limit) if limit else {}
        log.info("mysql: %d of %d table(s) changed (%d small), %d unchanged, found in %.2f s", len(changed),
                 len(tables), len(small), len(kept), time.monotonic() - began)
        try:
            for table in changed:
                began = time.monotonic()
                if table in small:
                    counts[table] = fill_staging_rows(conn, table, tables[table].schema, small[table])
                    how = "multi-row INSERTs"
                else:
                    counts[table] = fill_staging(cfg, target, conn, table, tables[table])
                    how = "Spark JDBC"
                log.info(LOADED_LINE, table, counts[table], time.monotonic() - began, how)
        except ExportError:
            try:
                drop_staging(conn, changed)
            except ExportError:
                pass                     # the next load drops them anyway
            raise
        switch_seconds = swap_in(conn, counts)
        loaded_at = datetime.now(timezone.utc)
        record_runs(conn, run_id, run_date, counts, loaded_at)
        record_loaded(conn, run_id, run_date, contents, counts, kept, loaded_at)
        # Every snapshot table, loaded or kept: a history interrupted after a swap is completed by the rerun.
        record_history(conn, run_date, tables, {t: frame.columns for t, frame in tables.items()})
        log.info(SWAPPED_LINE, len(counts), target.describe(), switch_seconds, len(kept),
                 f" ({', '.join(kept)})" if kept else "")
    return {t: counts[t] if t in counts else contents[t].rows for t in tables}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="write the compose stack's MySQL grants from the migrations",
                                     allow_abbrev=False)
    parser.add_argument("--grants-template", type=Path, required=True, help="file the GRANT statements are written to")
    args = parser.parse_args()
    args.grants_template.write_text(grants_template())
    print(args.grants_template)
