"""Every gold table in MySQL (MariaDB here), loaded atomically: equality with Delta, reruns, readers
during a load, a load killed half-way, and MySQL down or refusing the password.

The three-day slice is run once by the session fixture ``local_slice_run`` (``etl run``, which
exports); the tests here redo only the export, as ``etl export mysql`` in its own process or with
the export functions in this process, and each leaves MySQL holding the slice's gold again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from etl.catalog import SERVED_OPS
from etl.config import PROJECT_ROOT
from etl.export.mysql import (AS_OF, Connection, collect_small, drop_staging, export_to_mysql, fill_staging,
                              fill_staging_rows, served_columns, served_frame, swap_in, target_for)
from etl.gold.marts import GOLD_TABLES
from etl.run.ids import new_run_id
from etl.secrets import SecretStore
from etl.storage import store_for
from tests.integration.conftest import (BIN, SLICE_RUN_DATE as RUN_DATE, etl_in_process, free_ports,
                                        served_text, sorted_rows)

pytestmark = pytest.mark.integration
EXPORT = [str(BIN / "etl"), "export", "mysql", "--date", RUN_DATE.isoformat()]


def _q(column: str) -> str:
    return f"`{column}`"


def _money(name: str) -> list[str]:
    return [f.split()[0] for f in GOLD_TABLES[name].schema.split(", ") if f.split()[1] == "decimal(18,2)"]


def _gold(spark, cfg, name):
    return spark.read.format("delta").load(f"{cfg.storage.lake}/gold/{name}")


@dataclass
class Gold:
    """One gold Delta table, and its rows collected once (gold is small; Spark jobs on a busy CI
    machine are not)."""

    name: str
    frame: object
    rows: list

    @property
    def count(self) -> int:
        return len(self.rows)

    def text_rows(self):
        return sorted_rows(tuple(served_text(v) for v in row) for row in self.rows)

    def figures(self, money: list[str] | None = None):
        """Row count and the sum of each money column, as MySQL prints them (NULL when no value)."""
        sums = []
        for column in _money(self.name) if money is None else money:
            values = [row[column] for row in self.rows if row[column] is not None]
            sums.append(sum(values) if values else None)
        return (str(self.count), *[served_text(v) for v in sums])


def gold_columns_in_mysql(name):
    """The MySQL columns holding gold's columns, in gold's order (served names; no as_of_date)."""
    return [c for c in served_columns(name, GOLD_TABLES[name].columns) if c != AS_OF]


def served(name, frame):
    """A gold frame as the loader hands it to a staging table (etl/export/mysql.py served_frame)."""
    return served_frame(name, frame, RUN_DATE)


def mysql_rows(conn, name):
    columns = ", ".join(_q(c) for c in gold_columns_in_mysql(name))
    return sorted_rows(conn.query(f"SELECT {columns} FROM {name}"))


def mysql_snapshot(conn):
    return {name: mysql_rows(conn, name) for name in GOLD_TABLES}


def frame_figures(frame, money):
    """As Gold.figures, for a frame."""
    sums = frame.agg(*[F.sum(c).alias(c) for c in money]).first() if money else []
    return (str(frame.count()), *[served_text(v) for v in sums])


def mysql_figures(conn, name, money):
    sums = "".join(f", SUM({_q(c)})" for c in money)
    return conn.query(f"SELECT COUNT(*){sums} FROM {name}")[0]


def leftovers(conn):
    return conn.query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
                      "AND (table_name LIKE '%\\_\\_staging' OR table_name LIKE '%\\_\\_retired') ORDER BY 1")


@pytest.fixture(scope="module")
def slice_export(local_slice_run, s3_spark):
    stack, cfg, env, first = local_slice_run
    target = target_for(cfg, stack.secret)
    gold = {}
    for name in GOLD_TABLES:
        frame = _gold(s3_spark, cfg, name)
        gold[name] = Gold(name, frame, frame.collect())
    return stack, cfg, env, first, target, gold


def frames(gold):
    return {name: table.frame for name, table in gold.items()}


def test_every_gold_table_in_mysql_equals_the_delta_table(slice_export, s3_spark):
    stack, cfg, _, first, target, gold = slice_export
    run_id = re.match(r"run (\S+) for", first.stdout).group(1)
    with Connection(s3_spark, target) as conn:
        for name in GOLD_TABLES:
            assert mysql_figures(conn, name, _money(name)) == gold[name].figures(), name
            assert mysql_rows(conn, name) == gold[name].text_rows(), name
        runs = dict((t, (d, n)) for t, d, n in conn.query(
            f"SELECT table_name, run_date, row_count FROM etl_runs WHERE run_id = '{run_id}'"))
        # The products table holds invisible key columns only the server sees; the loader never names them.
        products = str(gold["kpi_product_sales_30d"].count)
        assert conn.query("SELECT COUNT(*), COUNT(DISTINCT product_key) FROM kpi_product_sales_30d")[0] == \
            (products, products)
    assert {t: v for t, v in runs.items() if t in GOLD_TABLES} == \
        {name: (RUN_DATE.isoformat(), str(gold[name].count)) for name in GOLD_TABLES}
    assert set(runs) - set(GOLD_TABLES) == set(SERVED_OPS)       # V007's tables, loaded in the same swap
    # The slice is three days of the generator's default feeds (sales and reference data: no POS order
    # events), so it has no sales drop, too little history for a forecast (28 days) or its backtest (56),
    # and no POS orders for the order mix or basket pairs: those are empty; every other table has rows.
    may_be_empty = {"alerts", "kpi_revenue_forecast", "forecast_backtest", "kpi_basket_pairs_90d", "kpi_order_mix"}
    assert [name for name in GOLD_TABLES if name not in may_be_empty and gold[name].count == 0] == []
    assert "(multi-row INSERTs)" in first.stderr       # the slice's gold tables are all small
    for name in GOLD_TABLES:
        assert f"  mysql {name}: {gold[name].count} row(s) at mysql://127.0.0.1:" in first.stdout


def loaded_state(conn):
    """etl_gold_loaded of the gold tables (the tests here export gold frames only; the run's export also
    records V007's dq_results and rejected_files, which these loads leave as they are)."""
    return {t: (h, int(n), r, c) for t, h, n, r, c in conn.query(
        "SELECT table_name, content_hash, row_count, run_id, checked_run_id FROM etl_gold_loaded")
        if t in GOLD_TABLES}


def test_a_second_export_of_unchanged_gold_loads_nothing_and_leaves_mysql_identical(slice_export, s3_spark):
    stack, cfg, _, first, target, gold = slice_export
    with Connection(s3_spark, target) as conn:
        before, state = mysql_snapshot(conn), loaded_state(conn)
        assert set(state) == set(GOLD_TABLES)
        live = conn.query("SELECT table_name, create_time FROM information_schema.tables "
                          "WHERE table_schema = DATABASE() ORDER BY 1")
        run_id = new_run_id()
        counts = export_to_mysql(s3_spark, cfg, stack.secret, frames(gold), run_id, RUN_DATE)
        assert counts == {name: len(rows) for name, rows in before.items()}
        assert mysql_snapshot(conn) == before
        # nothing was loaded: no etl_runs row, no table recreated by a swap, only the check is recorded
        assert conn.query(f"SELECT COUNT(*) FROM etl_runs WHERE run_id = '{run_id}'") == [("0",)]
        assert conn.query("SELECT table_name, create_time FROM information_schema.tables "
                          "WHERE table_schema = DATABASE() ORDER BY 1") == live
        after = loaded_state(conn)
        assert {t: v[:3] for t, v in after.items()} == {t: v[:3] for t, v in state.items()}
        assert {v[3] for v in after.values()} == {run_id}
        assert leftovers(conn) == []


def test_a_changed_table_is_reloaded_alone_and_reload_all_loads_every_table(slice_export, s3_spark):
    stack, cfg, _, _, target, gold = slice_export
    trends = gold["kpi_monthly_order_trends"]
    changed = {**frames(gold), "kpi_monthly_order_trends": s3_spark.createDataFrame(
        [{**row.asDict(), "order_count": row["order_count"] + 1} for row in trends.rows], trends.frame.schema)}
    # Small tables (here: at most 5 rows) take the multi-row INSERT path, the others Spark's JDBC writer.
    mixed = cfg.model_copy(update={"mysql": cfg.mysql.model_copy(update={"small_table_rows": 5})})
    assert {n for n, t in gold.items() if t.count <= 5} and {n for n, t in gold.items() if t.count > 5}
    with Connection(s3_spark, target) as conn:
        before = mysql_snapshot(conn)
        run_id = new_run_id()
        export_to_mysql(s3_spark, mixed, stack.secret, changed, run_id, RUN_DATE)
        assert conn.query(f"SELECT table_name FROM etl_runs WHERE run_id = '{run_id}'") == \
            [("kpi_monthly_order_trends",)]
        after = mysql_snapshot(conn)
        assert {t for t in GOLD_TABLES if after[t] != before[t]} == {"kpi_monthly_order_trends"}

        # back to gold, every table reloaded: the old log of every table, identical rows
        run_id = new_run_id()
        counts = export_to_mysql(s3_spark, mixed, stack.secret, frames(gold), run_id, RUN_DATE, reload_all=True)
        assert mysql_snapshot(conn) == before
        assert counts == {name: len(rows) for name, rows in before.items()}
        logged = conn.query(f"SELECT table_name, run_date, row_count, loaded_at FROM etl_runs "
                            f"WHERE run_id = '{run_id}' ORDER BY table_name")
        assert [(t, d, int(n)) for t, d, n, _ in logged] == sorted(
            (name, RUN_DATE.isoformat(), counts[name]) for name in GOLD_TABLES)
        assert len({loaded_at for *_, loaded_at in logged}) == 1      # one swap for every table
        assert {v[2] for v in loaded_state(conn).values()} == {run_id}
        assert leftovers(conn) == []


NASTY = ["O'Brien", "back\\slash \\' \\0", "Zoë – 東京 🚀", "", "'); DROP TABLE alerts; --", "tab\tnew\nline"]


def test_the_batched_path_gives_the_rows_and_types_of_the_jdbc_path(slice_export, s3_spark):
    """Every gold table, and text that needs quoting, through both fills of a staging table: the same
    rows as MySQL shows them (decimals with their scale, dates, booleans, NULLs) and the same column types."""
    stack, cfg, _, _, target, gold = slice_export
    regions = gold["kpi_regional_revenue"]
    nasty = s3_spark.createDataFrame([{**regions.rows[0].asDict(), "region": text} for text in NASTY],
                                     regions.frame.schema)
    cases = {**{name: (name, table.frame) for name, table in gold.items()}, "nasty": ("kpi_regional_revenue", nasty)}

    def staged(conn, name):
        columns = ", ".join(_q(c) for c in gold_columns_in_mysql(name))
        return (sorted_rows(conn.query(f"SELECT {columns} FROM {name}__staging")),
                conn.query("SELECT column_name, column_type, is_nullable FROM information_schema.columns "
                           f"WHERE table_schema = DATABASE() AND table_name = '{name}__staging' ORDER BY 1"))

    with Connection(s3_spark, target) as conn:
        for case, (name, frame) in cases.items():
            frame = served(name, frame)
            jdbc_count = fill_staging(cfg, target, conn, name, frame)
            jdbc = staged(conn, name)
            rows = collect_small({name: frame}, 1000)[name]
            assert fill_staging_rows(conn, name, frame.schema, rows) == jdbc_count
            assert staged(conn, name) == jdbc, case
            if case != "nasty":
                assert jdbc[0] == gold[name].text_rows(), case
        assert sorted(r[0] for r in staged(conn, "kpi_regional_revenue")[0]) == sorted(NASTY)
        drop_staging(conn, GOLD_TABLES)
        # filling staging forgot what those tables held: the next load reloads them
        assert loaded_state(conn) == {}
    export_to_mysql(s3_spark, cfg, stack.secret, frames(gold), new_run_id(), RUN_DATE)
    with Connection(s3_spark, target) as conn:
        assert set(loaded_state(conn)) == set(GOLD_TABLES)
        for name in GOLD_TABLES:
            assert mysql_rows(conn, name) == gold[name].text_rows(), name


def _synthetic_daily_sales(spark, rows: int):
    """A kpi_daily_sales-shaped frame far bigger than the slice's, so a load takes a while."""
    return spark.range(rows).select(
        F.date_add(F.lit("1900-01-01").cast("date"), F.col("id").cast("int")).alias("date"),
        ((F.col("id") % 1000) + F.lit(Decimal("0.25"))).cast("decimal(18,2)").alias("revenue"),
        (F.col("id") % 7).cast("int").alias("order_count"), (F.col("id") % 11).cast("int").alias("units"),
        F.lit(None).cast("decimal(18,2)").alias("avg_order_value"),
        (F.col("id") % 5000).cast("decimal(18,2)").alias("revenue_7d"),
        F.lit(None).cast("decimal(9,2)").alias("revenue_7d_change_pct"), (F.col("id") % 97 == 0).alias("is_anomaly"))


PROBE = ("SELECT (SELECT COUNT(*) FROM kpi_daily_sales), (SELECT SUM(revenue) FROM kpi_daily_sales), "
         "(SELECT COUNT(*) FROM kpi_monthly_order_trends), (SELECT SUM(revenue) FROM kpi_monthly_order_trends)")


def test_a_reader_during_loads_sees_the_old_or_the_new_content_never_a_partial_one(slice_export, s3_spark):
    stack, cfg, _, _, target, gold = slice_export
    daily, trends = gold["kpi_daily_sales"], gold["kpi_monthly_order_trends"]
    old = {"kpi_daily_sales": daily.frame, "kpi_monthly_order_trends": trends.frame}
    other_trends = [{**row.asDict(), "revenue": row["revenue"] + 1000, "order_count": row["order_count"] + 1}
                    for row in trends.rows]
    new = {"kpi_daily_sales": _synthetic_daily_sales(s3_spark, 40_000).cache(),
           "kpi_monthly_order_trends": s3_spark.createDataFrame(other_trends, trends.frame.schema)}
    expected_new = (*frame_figures(new["kpi_daily_sales"], ["revenue"]),
                    *frame_figures(new["kpi_monthly_order_trends"], ["revenue"]))
    expected_old = (*daily.figures(["revenue"]), *trends.figures(["revenue"]))
    assert expected_new != expected_old

    seen: list[tuple] = []
    errors: list[str] = []
    loading, stop = threading.Event(), threading.Event()
    during_loads = [0]

    def reader():
        try:
            with Connection(s3_spark, target) as conn:
                while not stop.is_set():
                    seen.append(conn.query(PROBE)[0])
                    if loading.is_set():
                        during_loads[0] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(exc))

    thread = threading.Thread(target=reader, daemon=True)
    with Connection(s3_spark, target) as conn:
        assert conn.query(PROBE)[0] == expected_old
        thread.start()
        time.sleep(0.5)
        loading.set()
        for content in (new, old, new, old):
            for name, frame in content.items():
                fill_staging(cfg, target, conn, name, served(name, frame))
            swap_in(conn, content)
        loading.clear()
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=60)
        assert conn.query(PROBE)[0] == expected_old
        assert mysql_rows(conn, "kpi_daily_sales") == daily.text_rows()
        assert leftovers(conn) == []
    new["kpi_daily_sales"].unpersist()

    assert not errors, errors
    assert set(seen) <= {expected_old, expected_new}, set(seen) - {expected_old, expected_new}
    assert expected_new in seen and expected_old in seen
    assert during_loads[0] >= 20, f"only {during_loads[0]} reads during the loads"


def _session_ids(conn, statement_start: str) -> list[str]:
    return [row[0] for row in conn.query(
        f"SELECT id FROM information_schema.processlist WHERE info LIKE '{statement_start}%' "
        "AND id <> CONNECTION_ID()")]


def test_a_load_killed_before_its_swap_leaves_the_previous_content_and_the_next_export_completes_it(
        slice_export, s3_spark, tmp_path):
    """``etl export mysql`` is killed (SIGKILL, whole process group) once every staging table is full:
    a reader holding the live tables (an open transaction) keeps its swap waiting until then."""
    stack, cfg, env, _, target, gold = slice_export
    previous = {name: s3_spark.createDataFrame(table.rows[:table.count // 2], table.frame.schema)
                for name, table in gold.items()}
    with Connection(s3_spark, target) as conn, Connection(s3_spark, target) as holder:
        for name, frame in previous.items():
            fill_staging(cfg, target, conn, name, served(name, frame))
        swap_in(conn, previous)
        before = mysql_snapshot(conn)
        assert before["customers_data_mart"] != gold["customers_data_mart"].text_rows()

        holder.execute("START TRANSACTION")
        holder.query("SELECT COUNT(*) FROM alerts")        # holds alerts' metadata lock until COMMIT
        log = open(tmp_path / "export.log", "w")
        proc = subprocess.Popen(EXPORT, env={**os.environ, **stack.env, **env}, cwd=PROJECT_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not _session_ids(conn, "RENAME TABLE"):
                assert proc.poll() is None, (tmp_path / "export.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the export never reached its swap"
                time.sleep(0.5)
            # Every staging table is full: the load got as far as it can before the swap.
            for name, table in gold.items():
                assert conn.query(f"SELECT COUNT(*) FROM {name}__staging")[0][0] == str(table.count), name
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            log.close()
        # The server may not notice a dead client while its statement waits for a lock: end that session
        # as it will end once it does (its RENAME must not run after the process is gone). KILL only marks
        # the session: until it has left its lock wait, a COMMIT here could still grant it the lock.
        killed = _session_ids(conn, "RENAME TABLE")
        for session in killed:
            conn.execute(f"KILL {session}")
        deadline = time.monotonic() + 60
        while killed and conn.query("SELECT id FROM information_schema.processlist "
                                    f"WHERE id IN ({', '.join(killed)})"):
            assert time.monotonic() < deadline, f"the killed sessions {killed} never ended"
            time.sleep(0.1)
        holder.execute("COMMIT")

        assert mysql_snapshot(conn) == before               # the previous content, complete
        assert ("customers_data_mart__staging",) in leftovers(conn)

    completed = etl_in_process(stack, s3_spark, env, EXPORT[1:])       # the next export, in this process
    assert completed.returncode == 0, completed.stderr[-3000:]
    with Connection(s3_spark, target) as conn:
        for name in GOLD_TABLES:
            assert mysql_rows(conn, name) == gold[name].text_rows(), name
        assert leftovers(conn) == []
    run_id = re.match(r"run (\S+) for", completed.stdout).group(1)
    for name, table in gold.items():
        assert f"  mysql {name}: {table.count} row(s) at mysql://127.0.0.1:" in completed.stdout
    assert f"[run {run_id}]" in completed.stderr


def _lake_objects(stack, cfg):
    """Every object of the slice's lake (keys and sizes): a Delta commit would add a log file."""
    return [(f.key, f.size) for f in store_for(cfg, cfg.storage.lake, stack.secret).list("")]


@pytest.mark.parametrize("failure", ["mysql down", "wrong password"])
def test_mysql_down_or_a_wrong_password_is_one_error_line_naming_the_target(slice_export, s3_spark, tmp_path,
                                                                            failure):
    stack, cfg, env, _, target, _ = slice_export
    host_port = f"127.0.0.1:{cfg.mysql.port}"
    if failure == "mysql down":
        port = free_ports(1)[0]
        # Short backoff: 0.2 + 0.4 + 0.8 + 1.6 s of retries (etl/retry.py) before the error.
        extra = {"ETL__MYSQL__PORT": str(port), "ETL__RETRIES__MYSQL_BACKOFF_SECONDS": "0.2"}
        host_port, wrong = f"127.0.0.1:{port}", None
    else:
        secrets = tmp_path / "secrets.json"
        shutil.copy(stack.cfg.secrets_file, secrets)
        wrong = "Wr0ng-pa55word-for-the-test"
        SecretStore(secrets).set(stack.cfg.mysql.password_secret, wrong)
        extra = {"ETL__SECRETS__FILE": str(secrets)}
    lake_before = _lake_objects(stack, cfg)
    with Connection(s3_spark, target) as conn:
        mysql_before = mysql_snapshot(conn)

    result = stack.run(EXPORT, {**env, **extra})

    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("etl: error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert (f"cannot connect to MySQL at jdbc:mysql://{host_port}/retail_gold as the user named by "
            f"mysql.user_secret") in errors[0]
    assert ("Connection refused" if failure == "mysql down" else "Access denied for user '***'") in errors[0]
    retries = [line for line in result.stderr.splitlines() if "failed (attempt" in line]
    # Refused connections are retried (4 waits of the 5 default attempts); a wrong password never is.
    assert len(retries) == (4 if failure == "mysql down" else 0), result.stderr[-3000:]
    for value in filter(None, (wrong, stack.secret(stack.cfg.mysql.password_secret),
                               stack.secret(stack.cfg.mysql.user_secret))):
        assert value not in result.stdout and value not in result.stderr
    assert "Traceback" not in result.stderr
    lake_after = _lake_objects(stack, cfg)
    assert lake_after == lake_before, sorted(set(lake_after) ^ set(lake_before))   # the lake is unchanged
    with Connection(s3_spark, target) as conn:
        assert mysql_snapshot(conn) == mysql_before
