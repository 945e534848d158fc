"""Order analytics by channel and time: channel days, the POS order mix, peak hours, the menu.

Channels in gold are ``in_store`` (silver channel ``store``), ``online`` and ``pos``.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame

from etl.gold.common import empty_frame

# Skeleton: the tables are defined in etl/gold/marts.py; their functions are filled in next.


def kpi_channel_daily(transactions: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(transactions, "date date, channel string, order_count int, revenue decimal(18,2), "
                       "avg_order_value decimal(18,2), cancelled_orders int, revenue_28d decimal(18,2), "
                       "order_count_28d int, avg_order_value_28d decimal(18,2)")


def kpi_order_mix(transactions: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(transactions, "sales_month string, dimension string, value string, order_count int, "
                       "revenue decimal(18,2), order_share_pct decimal(9,2), revenue_share_pct decimal(9,2)")


def kpi_peak_hours(transactions: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(transactions, "day_of_week int, hour int, order_count int, revenue decimal(18,2), "
                       "avg_orders_per_day decimal(9,2), busiest_rank int")


def kpi_menu_performance_30d(sales_lines: DataFrame, products: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(sales_lines, "product_id int, product_name string, category string, quantity_30d int, "
                       "revenue_30d decimal(18,2), quantity_prev_30d int, revenue_prev_30d decimal(18,2), "
                       "revenue_change_pct decimal(9,2), revenue_rank int, underperforming boolean")
