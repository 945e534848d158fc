"""Every SQL statement the dashboard runs, in one place.

Each query reads one served table or view of ``retail_gold`` (docs/serving.md), takes its values as
driver parameters (PyMySQL's ``%(name)s``: the server gets them as literals the driver escapes; no
statement is ever built from what a reader picks) and returns a pandas frame with the served column
names. A snapshot table's ``as of`` variant reads ``<table>_history`` for an earlier run date; the
table name is one of the constants below, never input. Caching is the app's (``st.cache_data``), so
these functions stay plain and testable against a real MariaDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pymysql

from etl.dashboard.connect import DashboardUnavailable

# Server errors that mean "this account may not read it" or "it is not there (yet)": a section says so.
DENIED = frozenset({1142, 1143, 1044})        # SELECT command denied (table, column), access denied to the database
MISSING = frozenset({1146})                   # table or view does not exist
# Client errors: the server went away or never answered.
DOWN = frozenset({2002, 2003, 2006, 2013})


class QueryUnavailable(Exception):
    """One query cannot be answered (no grant, no such table): the page shows why, the others go on."""


@dataclass(frozen=True)
class Query:
    name: str
    table: str                      # the one served table or view it reads
    sql: str
    params: tuple[str, ...] = ()    # the parameter names it needs, all of them required


def _q(name: str, table: str, sql: str, *params: str) -> Query:
    return Query(name, table, " ".join(sql.split()), tuple(params))


def _snapshot(name: str, table: str, columns: str, order: str) -> list[Query]:
    """The live snapshot, and the same read from its history for an earlier run date (``as_of``)."""
    return [_q(name, table, f"SELECT as_of_date, {columns} FROM {table} ORDER BY {order}"),
            _q(f"{name}_as_of", f"{table}_history",
               f"SELECT as_of_date, {columns} FROM {table}_history WHERE as_of_date = %(as_of)s ORDER BY {order}",
               "as_of")]


_ALL = [
    # -- what dates there are -------------------------------------------------------------------
    _q("sales_dates", "kpi_daily_sales", "SELECT MIN(sales_date) AS first_date, MAX(sales_date) AS last_date "
       "FROM kpi_daily_sales"),
    _q("history_dates", "kpi_top_customers_30d_history",
       "SELECT DISTINCT as_of_date FROM kpi_top_customers_30d_history ORDER BY as_of_date DESC"),
    # -- Overview -------------------------------------------------------------------------------
    _q("daily_sales", "kpi_daily_sales",
       "SELECT sales_date, revenue, order_count, units, avg_order_value, revenue_7d, revenue_7d_change_pct, "
       "is_anomaly FROM kpi_daily_sales WHERE sales_date BETWEEN %(start)s AND %(end)s ORDER BY sales_date",
       "start", "end"),
    _q("monthly_trends", "kpi_monthly_order_trends",
       "SELECT sales_month, order_count, revenue, unique_customers FROM kpi_monthly_order_trends "
       "WHERE sales_month BETWEEN %(start_month)s AND %(end_month)s ORDER BY sales_month",
       "start_month", "end_month"),
    _q("alerts", "alerts", "SELECT alert_date, revenue, expected, reason FROM alerts "
       "WHERE alert_date BETWEEN %(start)s AND %(end)s ORDER BY alert_date, reason", "start", "end"),
    *_snapshot("regional_revenue", "kpi_regional_revenue", "region, revenue, order_count, share_pct",
               "revenue DESC, region"),
    *_snapshot("forecast", "kpi_revenue_forecast",
               "channel, forecast_date, forecast, lower_80, upper_80, model, trained_from, trained_to",
               "channel, forecast_date"),
    *_snapshot("backtest", "forecast_backtest",
               "channel, model, mape_model, mape_seasonal_naive, mae_model, mae_seasonal_naive", "channel"),
    # -- Customers ------------------------------------------------------------------------------
    _q("customer_segments", "customers_data_mart",
       "SELECT customer_segment, COUNT(*) AS customers, SUM(total_sales) AS total_sales FROM customers_data_mart "
       "WHERE sales_month = %(month)s GROUP BY customer_segment ORDER BY customers DESC, customer_segment", "month"),
    _q("customer_months", "customers_data_mart",
       "SELECT DISTINCT sales_month FROM customers_data_mart ORDER BY sales_month DESC"),
    *_snapshot("rfm", "customer_rfm", "customer_id, customer_name, last_purchase_date, recency_days, frequency, "
               "monetary, r_score, f_score, m_score, rfm_segment", "customer_id"),
    *_snapshot("top_customers", "kpi_top_customers_30d", "spend_rank, customer_id, customer_name, total_spend, "
               "order_count", "spend_rank, customer_id"),
    *_snapshot("repeat_customers", "kpi_repeat_customers", "customer_id, customer_name, order_count, total_amount",
               "order_count DESC, total_amount DESC, customer_id"),
    _q("cohort_retention", "kpi_cohort_retention",
       "SELECT cohort_month, month_offset, sales_month, cohort_size, active_customers, retention_pct "
       "FROM kpi_cohort_retention WHERE cohort_month BETWEEN %(start_month)s AND %(end_month)s "
       "ORDER BY cohort_month, month_offset", "start_month", "end_month"),
    # -- Sales team -----------------------------------------------------------------------------
    _q("stores", "sales_team_data_mart", "SELECT DISTINCT store_id FROM sales_team_data_mart ORDER BY store_id"),
    _q("sales_team", "sales_team_data_mart",
       "SELECT store_id, sales_person_id, full_name, sales_month, total_sales, total_transactions, "
       "avg_transaction_value, top_performance_rank, incentive, month_over_month_variance, sales_growth_rate, "
       "year_to_date_sales, sales_contribution_percentage FROM sales_team_data_mart "
       "WHERE sales_month BETWEEN %(start_month)s AND %(end_month)s "
       "AND (%(store)s IS NULL OR store_id = %(store)s) "
       "ORDER BY store_id, sales_month, top_performance_rank, sales_person_id", "start_month", "end_month", "store"),
    # -- Orders and menu ------------------------------------------------------------------------
    _q("channels", "kpi_channel_daily", "SELECT DISTINCT channel FROM kpi_channel_daily ORDER BY channel"),
    _q("channel_daily", "kpi_channel_daily",
       "SELECT sales_date, channel, order_count, revenue, avg_order_value, cancelled_orders, revenue_28d, "
       "order_count_28d, avg_order_value_28d FROM kpi_channel_daily WHERE sales_date BETWEEN %(start)s AND %(end)s "
       "AND (%(channel)s IS NULL OR channel = %(channel)s) ORDER BY sales_date, channel", "start", "end", "channel"),
    _q("order_mix", "kpi_order_mix",
       "SELECT sales_month, dimension, `value`, order_count, revenue, order_share_pct, revenue_share_pct "
       "FROM kpi_order_mix WHERE sales_month BETWEEN %(start_month)s AND %(end_month)s "
       "ORDER BY dimension, sales_month, order_count DESC, `value`", "start_month", "end_month"),
    *_snapshot("peak_hours", "kpi_peak_hours", "day_of_week, hour, order_count, revenue, avg_orders_per_day, "
               "busiest_rank", "day_of_week, hour"),
    *_snapshot("menu", "kpi_menu_performance_30d", "product_id, product_name, category, quantity_30d, revenue_30d, "
               "quantity_prev_30d, revenue_prev_30d, revenue_change_pct, revenue_rank, underperforming",
               "revenue_rank, product_id"),
    *_snapshot("basket_pairs", "kpi_basket_pairs_90d", "product_id_a, product_name_a, product_id_b, product_name_b, "
               "orders_with_both, support, confidence_a_to_b, confidence_b_to_a, lift, lift_rank",
               "lift_rank, product_id_a, product_id_b"),
    # -- Data health ----------------------------------------------------------------------------
    _q("runs", "etl_run_records",
       "SELECT run_id, run_date, run_trigger, started_at, ended_at, status, stages, stage_seconds, table_rows, "
       "alerts, error FROM etl_run_records ORDER BY ended_at DESC, run_id LIMIT %(limit)s", "limit"),
    _q("table_loads", "etl_table_loads",
       "SELECT l.table_name, l.run_date, l.row_count, l.loaded_at, l.run_id FROM etl_table_loads l "
       "JOIN (SELECT table_name, MAX(loaded_at) AS loaded_at FROM etl_table_loads GROUP BY table_name) latest "
       "USING (table_name, loaded_at) ORDER BY l.table_name"),
    _q("dq_results", "dq_results",
       "SELECT run_id, run_date, feed, rule, severity, failed_rows, total_rows FROM dq_results "
       "WHERE run_date BETWEEN %(start)s AND %(end)s ORDER BY run_date, feed, rule, run_id", "start", "end"),
    _q("rejected_files", "rejected_files",
       "SELECT rejected_at, feed, path, reason, size, run_id FROM rejected_files "
       "ORDER BY rejected_at DESC, feed, path LIMIT %(limit)s", "limit"),
]
QUERIES: dict[str, Query] = {q.name: q for q in _ALL}
assert len(QUERIES) == len(_ALL), "two queries share a name"

# Snapshot queries with an ``_as_of`` twin reading the history (the as-of picker switches to it).
SNAPSHOTS = frozenset(name for name in QUERIES if f"{name}_as_of" in QUERIES)
# The tables and views the dashboard reads: what its MySQL account needs SELECT on.
TABLES_READ = tuple(sorted({q.table for q in _ALL}))


def query_for(name: str, as_of=None) -> tuple[Query, dict]:
    """The query to run for ``name``: its history twin when an earlier run date is asked for."""
    if as_of is not None and name in SNAPSHOTS:
        return QUERIES[f"{name}_as_of"], {"as_of": as_of}
    return QUERIES[name], {}


def run(conn, name: str, as_of=None, **params) -> pd.DataFrame:
    """Rows of query ``name`` as a frame: DECIMAL as Decimal (exact money), DATE as ``datetime.date``."""
    query, extra = query_for(name, as_of)
    params = {**params, **extra}
    if set(params) != set(query.params):
        raise TypeError(f"query {name} takes {sorted(query.params)}, got {sorted(params)}")
    try:
        with conn.cursor() as cursor:
            cursor.execute(query.sql, params or None)
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description]
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in DOWN or isinstance(exc, pymysql.err.InterfaceError):
            raise DashboardUnavailable(f"MySQL stopped answering while reading {query.table}") from None
        if code in DENIED:
            raise QueryUnavailable(f"this account may not read {query.table} (no SELECT grant)") from None
        if code in MISSING:
            raise QueryUnavailable(f"{query.table} is not in MySQL yet (no export has created it)") from None
        raise
    return pd.DataFrame(list(rows), columns=columns)
