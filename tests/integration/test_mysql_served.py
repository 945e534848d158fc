"""MySQL's served shapes (resources/sql/V005, issue 23) on a real MariaDB through jdbc:mysql://: the
snapshot tables carry their as_of_date, their history keeps one set of rows per run date and a rerun
of a date replaces that date's rows; reserved gold names are renamed, the old names live on in
``<table>_legacy`` views; ``etl_runs`` is a view over ``etl_table_loads``.

Small hand-built gold frames are exported with ``export_to_mysql`` (no pipeline run needed). The rows
loaded into the shared test database are forgotten in ``etl_gold_loaded`` at the end, so the next
export of any other test reloads those tables.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from etl.export.mysql import SNAPSHOT_TABLES, Connection, export_to_mysql, target_for
from etl.gold.marts import GOLD_TABLES
from etl.run.ids import new_run_id

pytestmark = pytest.mark.integration
D1, D2 = date(2026, 3, 14), date(2026, 3, 15)
# The snapshots of V005 (order analytics, V006: tests/integration/test_mysql_order_analytics.py).
SNAPSHOTS = [t for t in SNAPSHOT_TABLES if t in ("kpi_regional_revenue", "kpi_top_customers_30d",
                                                 "kpi_product_sales_30d", "kpi_repeat_customers")]
SERVED = [*SNAPSHOTS, "kpi_daily_sales", "alerts"]


def gold_frames(spark, day: date, regions: list[str]) -> dict:
    """Gold-shaped frames (the registry's schemas) whose figures depend on ``day``."""
    n = day.day
    rows = {
        "kpi_regional_revenue": [(r, D(f"{n}{i}.00"), n + i, D("10.00")) for i, r in enumerate(regions)],
        "kpi_top_customers_30d": [(1, 7, "Asha Rao", D(f"{n}0.00"), 2), (2, 9, "=Ben", D("5.00"), 1)],
        "kpi_product_sales_30d": [(3, "Tea", n, D(f"{n}.50"), 1), (None, "raw item", 1, D("1.00"), 2)],
        "kpi_repeat_customers": [(7, "Asha Rao", 2, D(f"{n}.00"))],
        "kpi_daily_sales": [(day, D("1.00"), 1, 1, D("1.00"), D("7.00"), None, False)],
        "alerts": [(day, D("7.00"), D("70.00"), f"drop on {day}")],
    }
    return {name: spark.createDataFrame(rows[name], GOLD_TABLES[name].schema) for name in SERVED}


def by_date(conn, table):
    """Rows per date of this test's dates in ``table``'s history (the shared test database also holds the
    history of other tests' exports, e.g. the slice run's)."""
    return dict(conn.query(f"SELECT as_of_date, COUNT(*) FROM {table}_history WHERE as_of_date IN "
                           f"('{D1.isoformat()}', '{D2.isoformat()}') GROUP BY as_of_date ORDER BY 1"))


def test_snapshots_are_dated_history_keeps_each_date_once_and_old_names_live_on_in_views(stack, spark):
    cfg = stack.cfg
    target = target_for(cfg, stack.secret)
    runs = [new_run_id() for _ in range(3)]
    export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D1, ["East", "North", "South"]), runs[0], D1)
    export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D2, ["East", "North"]), runs[1], D2)
    with Connection(spark, target) as conn:
        try:
            for table in SNAPSHOTS:              # the live snapshot says which date it is for
                assert conn.query(f"SELECT DISTINCT as_of_date FROM {table}") == [(D2.isoformat(),)], table
            assert by_date(conn, "kpi_regional_revenue") == {D1.isoformat(): "3", D2.isoformat(): "2"}
            assert by_date(conn, "kpi_product_sales_30d") == {D1.isoformat(): "2", D2.isoformat(): "2"}

            # a rerun of D2 with other content: D2's rows replaced, D1's kept, nothing doubled
            export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D2, ["West"]), runs[2], D2)
            assert by_date(conn, "kpi_regional_revenue") == {D1.isoformat(): "3", D2.isoformat(): "1"}
            assert conn.query("SELECT region, revenue FROM kpi_regional_revenue_history "
                              f"WHERE as_of_date = '{D2.isoformat()}'") == [("West", "150.00")]
            for table in SNAPSHOTS:
                assert by_date(conn, table)[D1.isoformat()] == by_date(conn, table).get(D2.isoformat()) or \
                    table == "kpi_regional_revenue", table
            # the same export again (nothing changed): the history is the same
            before = {t: by_date(conn, t) for t in SNAPSHOTS}
            export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D2, ["West"]), new_run_id(), D2)
            assert {t: by_date(conn, t) for t in SNAPSHOTS} == before

            # reserved words renamed; the old names in the legacy views, same rows
            columns = dict(conn.query(
                "SELECT table_name, GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name IN ('kpi_top_customers_30d', 'kpi_daily_sales', "
                "'alerts') GROUP BY table_name"))
            assert columns == {
                "kpi_top_customers_30d": "as_of_date,spend_rank,customer_id,customer_name,total_spend,order_count",
                "kpi_daily_sales": "sales_date,revenue,order_count,units,avg_order_value,revenue_7d,"
                                   "revenue_7d_change_pct,is_anomaly",
                "alerts": "alert_date,revenue,expected,reason"}
            assert conn.query("SELECT `rank`, customer_id, customer_name FROM kpi_top_customers_30d_legacy "
                              "ORDER BY `rank`") == [("1", "7", "Asha Rao"), ("2", "9", "=Ben")]
            assert conn.query("SELECT `date`, revenue FROM kpi_daily_sales_legacy") == [(D2.isoformat(), "1.00")]
            assert conn.query("SELECT `date`, reason FROM alerts_legacy") == [(D2.isoformat(), f"drop on {D2}")]

            # etl_runs: a view over etl_table_loads, the one load log; same rows
            kinds = dict(conn.query("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema "
                                    "= DATABASE() AND table_name IN ('etl_runs', 'etl_table_loads', "
                                    "'kpi_top_customers_30d_legacy')"))
            assert kinds == {"etl_runs": "VIEW", "etl_table_loads": "BASE TABLE",
                             "kpi_top_customers_30d_legacy": "VIEW"}
            logged = ("SELECT run_id, run_date, table_name, row_count, loaded_at FROM {} "
                      f"WHERE run_id IN ('{runs[0]}', '{runs[2]}') ORDER BY 1, 3")
            assert conn.query(logged.format("etl_runs")) == conn.query(logged.format("etl_table_loads"))
            assert {r[2] for r in conn.query(logged.format("etl_runs")) if r[0] == runs[0]} == set(SERVED)
        finally:
            conn.execute("DELETE FROM etl_gold_loaded WHERE table_name IN ("
                         + ", ".join(f"'{t}'" for t in SERVED) + ")")
