"""The order-analytics gold tables in MySQL (resources/sql/V006, issue 24) on a real MariaDB through
jdbc:mysql://: every table equals its gold frame, value for value, under its served names; the snapshots
carry their as_of_date and keep each run date once in their history.

Hand-built, non-empty gold frames with the registry's schemas (the gold functions are tested elsewhere):
nulls where a column allows them, keys that differ only by case (``Card`` and ``card``: two gold rows,
two MySQL keys), text that looks like a formula, non-ASCII names. The rows are forgotten in
``etl_gold_loaded`` at the end, so the next export of any other test reloads those tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from etl.export.mysql import AS_OF, SNAPSHOT_TABLES, Connection, export_to_mysql, served_columns, target_for
from etl.gold.marts import GOLD_TABLES
from etl.run.ids import new_run_id
from tests.integration.conftest import served_text, sorted_rows

pytestmark = pytest.mark.integration
D1, D2 = date(2026, 4, 14), date(2026, 4, 15)
TABLES = ["kpi_channel_daily", "kpi_order_mix", "kpi_peak_hours", "kpi_menu_performance_30d", "customer_rfm",
          "kpi_basket_pairs_90d", "kpi_cohort_retention", "kpi_revenue_forecast", "forecast_backtest"]
MODEL = "ExponentialSmoothing(trend=None, seasonal='add', seasonal_periods=7)"


def gold_rows(day: date) -> dict[str, list[tuple]]:
    """Rows in the registry's column order; figures depend on ``day`` so two dates differ."""
    n = day.day
    return {
        "kpi_channel_daily": [
            (day, "in_store", n, D(f"{n}0.25"), D("10.03"), 0, D("700.00"), 70, D("10.00")),
            (day, "online", 0, D("0.00"), None, 0, D("0.00"), 0, None),
            (day, "pos", 2, D("30.00"), D("15.00"), 1, D("90.00"), 6, D("15.00")),
            (day - timedelta(days=1), "pos", 1, D("12.34"), D("12.34"), 0, D("60.00"), 4, D("15.00")),
        ],
        "kpi_order_mix": [
            (f"{day:%Y-%m}", "payment_type", "Card", n, D("100.00"), D("50.00"), D("66.67")),
            (f"{day:%Y-%m}", "payment_type", "card", n, D("50.00"), D("50.00"), D("33.33")),
            (f"{day:%Y-%m}", "order_from", "=HYPERLINK(\"x\")", 2, D("0.00"), D("100.00"), None),
            ("2026-03", "order_type", "Unknown", 1, D("9.99"), D("100.00"), D("100.00")),
        ],
        "kpi_peak_hours": [(dow, hour, (dow * hour + n) % 5, D(f"{(dow * hour + n) % 5}.50"),
                            (D((dow * hour + n) % 5) / 4).quantize(D("0.01")), 1 + (dow + hour) % 7)
                           for dow in range(1, 8) for hour in range(24)],
        "kpi_menu_performance_30d": [
            (1, "Masala Chai", "Drinks", n, D(f"{n}.00"), 3, D("30.00"), D("-50.00"), 1, False),
            (2, "Crème brûlée", None, 0, D("0.00"), 0, D("0.00"), None, 2, True),
        ],
        "customer_rfm": [
            (7, "Asha Rao", day, 0, 12, D("512.40"), 5, 5, 5, "Champions"),
            (9, "Unknown", day - timedelta(days=200), 200, 1, D("3.10"), 1, 1, 1, "Lost"),
        ],
        "kpi_basket_pairs_90d": [
            (1, "Masala Chai", 2, "Crème brûlée", n, D("0.1234"), D("0.5000"), D("0.3333"), D("2.4567"), 1),
            (1, "Masala Chai", 3, None, 3, D("0.0300"), D("0.1000"), D("1.0000"), D("1.0000"), 2),
        ],
        "kpi_cohort_retention": [
            ("2026-03", 0, "2026-03", 4, 4, D("100.00")),
            ("2026-03", 1, "2026-04", 4, n % 4, (D(n % 4) * 25).quantize(D("0.01"))),
            ("2026-04", 0, "2026-04", 2, 2, D("100.00")),
        ],
        "kpi_revenue_forecast": [(channel, day + timedelta(days=k), D(f"{k}0.{n}"), D("0.00"), D(f"{2 * k}0.00"),
                                  MODEL, date(2025, 4, 16), day)
                                 for channel in ("all", "in_store") for k in range(1, 15)],
        "forecast_backtest": [
            ("all", MODEL, D("12.34"), D("15.00"), D(f"{n}.50"), D("20.00")),
            ("online", MODEL, None, None, D("0.00"), D("0.00")),
        ],
    }


def gold_frames(spark, day):
    return {name: spark.createDataFrame(rows, GOLD_TABLES[name].schema) for name, rows in gold_rows(day).items()}


def mysql_rows(conn, name, table=None):
    """Gold's columns (served names, in gold's order) of ``table`` (default: the live ``name``)."""
    columns = ", ".join(f"`{c}`" for c in served_columns(name, GOLD_TABLES[name].columns) if c != AS_OF)
    return sorted_rows(conn.query(f"SELECT {columns} FROM {table or name}"))


def expected(rows):
    return sorted_rows(tuple(served_text(v) for v in row) for row in rows)


def test_every_order_analytics_table_in_mysql_equals_gold_and_snapshots_keep_their_history(stack, spark):
    assert set(TABLES) == {t for t in GOLD_TABLES if t in gold_rows(D1)}
    cfg = stack.cfg
    export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D1), new_run_id(), D1)
    counts = export_to_mysql(spark, cfg, stack.secret, gold_frames(spark, D2), new_run_id(), D2)
    snapshots = [t for t in TABLES if t in SNAPSHOT_TABLES]
    assert snapshots == ["kpi_peak_hours", "kpi_menu_performance_30d", "customer_rfm", "kpi_basket_pairs_90d",
                         "kpi_revenue_forecast", "forecast_backtest"]
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        try:
            for name in TABLES:
                assert mysql_rows(conn, name) == expected(gold_rows(D2)[name]), name
                assert counts[name] == len(gold_rows(D2)[name]), name
            # served names: no `date` column; the snapshot's date first
            columns = dict(conn.query(
                "SELECT table_name, GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name IN ('kpi_channel_daily', 'kpi_revenue_forecast') "
                "GROUP BY table_name"))
            assert columns["kpi_channel_daily"].startswith("sales_date,channel,")
            assert columns["kpi_revenue_forecast"].startswith("as_of_date,channel,forecast_date,")
            assert conn.query("SELECT COUNT(*) FROM kpi_order_mix WHERE `value` = 'card'") == [("1",)]   # binary key
            for name in snapshots:
                assert conn.query(f"SELECT DISTINCT as_of_date FROM {name}") == [(D2.isoformat(),)], name
                for day in (D1, D2):
                    history = mysql_rows(conn, name, f"(SELECT * FROM {name}_history "
                                                     f"WHERE as_of_date = '{day.isoformat()}') h")
                    assert history == expected(gold_rows(day)[name]), (name, day)
            for name in ("kpi_channel_daily", "kpi_order_mix", "kpi_cohort_retention"):     # no history
                assert not conn.query("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                      f"DATABASE() AND table_name = '{name}_history'"), name
        finally:
            conn.execute("DELETE FROM etl_gold_loaded WHERE table_name IN ("
                         + ", ".join(f"'{t}'" for t in TABLES) + ")")
