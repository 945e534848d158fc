"""The gold tables in one registry: name -> function, inputs, columns and types, sort order.

The orchestrator computes and writes every table the same way (read the
inputs, call the pure function, order by the sort keys, overwrite), so adding
a table means adding an entry here, not another code path in the stage.
Sort keys are a total order of each table, so the written content is the same
on every run for the same silver and run date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.gold import customer_analytics, customers, forecast, kpis, order_analytics, sales_team
from etl.gold.facts import FACTS, all_facts

# Inputs by name: the silver tables of etl/contracts/silver.py, two reference tables, and the facts of
# etl/gold/facts.py (aggregates of the revenue up to D, which the history-wide tables are computed from).
# ``transactions`` holds at least the month of D and the 30 days before it, ``transactions_365d`` the
# 365 days ``D-364 .. D``, ``sales_lines`` the 90 days ``D-89 .. D`` (each table cuts its own window).
INPUTS = ("transactions", "transactions_365d", "sales_lines", "dim_customer", "sales_team", "products")
FACT_INPUTS = tuple(FACTS)


@dataclass(frozen=True)
class GoldTable:
    name: str
    function: Callable[..., DataFrame]
    inputs: tuple[str, ...]      # frames passed positionally before run_date, in this order
    schema: str                  # column order and exact types (Spark DDL)
    sort_keys: tuple[str, ...]   # SQL ORDER BY terms: "column [DESC] [NULLS FIRST|LAST]"
    options: tuple[str, ...] = ()  # keyword options the function takes (incentive_rate)

    @property
    def gold_inputs(self) -> tuple[str, ...]:
        """The inputs that are gold tables computed earlier in the registry (the forecast reads
        ``kpi_channel_daily``)."""
        return tuple(name for name in self.inputs if name in GOLD_TABLES)

    @property
    def columns(self) -> list[str]:
        return [part.strip().split(" ", 1)[0] for part in _split_ddl(self.schema)]

    def build(self, frames: Mapping[str, DataFrame], run_date: date, **options) -> DataFrame:
        """Call the table's function with the named input frames; columns in the registry order."""
        missing = [name for name in self.inputs if name not in frames]
        if missing:
            raise ValueError(f"gold table {self.name} needs input frame(s) {', '.join(missing)}; "
                             f"got {', '.join(frames) or 'none'}")
        kwargs = {key: options[key] for key in self.options if key in options}
        frame = self.function(*(frames[name] for name in self.inputs), run_date, **kwargs)
        return frame.select(*self.columns)

    def ordered(self, frame: DataFrame) -> DataFrame:
        return frame.orderBy(*sort_columns(self.sort_keys))


def _split_ddl(ddl: str) -> list[str]:
    """Split "a int, b decimal(18,2)" at the commas outside parentheses."""
    return [part for part in re.split(r",(?![^()]*\))", ddl) if part.strip()]


_SORT_KEY = re.compile(r"^\s*(\w+)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(FIRST|LAST))?\s*$", re.IGNORECASE)


def sort_columns(keys: tuple[str, ...]) -> list[Column]:
    """``("revenue DESC", "product_id NULLS LAST")`` -> Spark sort columns (Spark's defaults otherwise:
    ascending puts nulls first, descending last)."""
    columns = []
    for key in keys:
        match = _SORT_KEY.match(key)
        if match is None:
            raise ValueError(f"sort key {key!r} is not 'column [ASC|DESC] [NULLS FIRST|LAST]'")
        name, direction, nulls = match.group(1), (match.group(2) or "ASC").upper(), (match.group(3) or "").upper()
        descending = direction == "DESC"
        nulls_last = nulls == "LAST" if nulls else descending
        column = F.col(name)
        if descending:
            columns.append(column.desc_nulls_last() if nulls_last else column.desc_nulls_first())
        else:
            columns.append(column.asc_nulls_last() if nulls_last else column.asc_nulls_first())
    return columns


_TABLES = [
    GoldTable(
        "customers_data_mart", customers.customers_data_mart_from_facts, ("customer_month", "dim_customer"),
        "customer_id int, full_name string, address string, phone_number string, region string, "
        "sales_month string, total_sales decimal(18,2), monthly_transactions int, "
        "customer_lifetime_value decimal(18,2), first_purchase_month string, last_purchase_month string, "
        "purchase_frequency int, monetary_value decimal(18,2), avg_monthly_spending decimal(18,2), "
        "max_single_transaction decimal(18,2), avg_time_between_purchases decimal(9,2), "
        "inactive_status boolean, customer_segment string",
        customers.SORT_KEYS),
    GoldTable(
        "sales_team_data_mart", sales_team.sales_team_data_mart_from_facts, ("store_person_month", "sales_team"),
        "store_id int, sales_person_id int, full_name string, sales_month string, total_sales decimal(18,2), "
        "total_transactions int, avg_transaction_value decimal(18,2), max_single_transaction decimal(18,2), "
        "avg_sales_per_month decimal(18,2), top_performance_rank int, incentive decimal(18,2), "
        "month_over_month_variance decimal(18,2), sales_growth_rate decimal(9,2), "
        "year_to_date_sales decimal(18,2), first_sale_month string, last_sale_month string, "
        "sales_contribution_percentage decimal(9,2)",
        sales_team.SORT_KEYS, options=("incentive_rate",)),
    GoldTable(
        "kpi_repeat_customers", kpis.kpi_repeat_customers, ("transactions", "dim_customer"),
        "customer_id int, customer_name string, order_count int, total_amount decimal(18,2)",
        kpis.REPEAT_CUSTOMERS_SORT),
    GoldTable(
        "kpi_regional_revenue", kpis.kpi_regional_revenue, ("transactions", "dim_customer"),
        "region string, revenue decimal(18,2), order_count int, share_pct decimal(9,2)",
        kpis.REGIONAL_REVENUE_SORT),
    GoldTable(
        "kpi_monthly_order_trends", kpis.monthly_order_trends_from_facts, ("daily", "customer_month"),
        "sales_month string, order_count int, revenue decimal(18,2), unique_customers int",
        kpis.MONTHLY_TRENDS_SORT),
    GoldTable(
        "kpi_top_customers_30d", kpis.kpi_top_customers_30d, ("transactions", "dim_customer"),
        "rank int, customer_id int, customer_name string, total_spend decimal(18,2), order_count int",
        kpis.TOP_CUSTOMERS_SORT),
    GoldTable(
        "kpi_product_sales_30d", kpis.kpi_product_sales_30d, ("sales_lines", "products"),
        "product_id int, product_name string, quantity int, revenue decimal(18,2), revenue_rank int",
        kpis.PRODUCT_SALES_SORT),
    GoldTable(
        "kpi_daily_sales", kpis.daily_sales_from_facts, ("daily",),
        "date date, revenue decimal(18,2), order_count int, units int, avg_order_value decimal(18,2), "
        "revenue_7d decimal(18,2), revenue_7d_change_pct decimal(9,2), is_anomaly boolean",
        kpis.DAILY_SALES_SORT),
    GoldTable(
        "alerts", kpis.alerts_from_facts, ("daily",),
        "date date, revenue decimal(18,2), expected decimal(18,2), reason string",
        kpis.ALERTS_SORT),
    # -- Order analytics: channels, order mix, peak hours, menu (etl/gold/order_analytics.py) --
    GoldTable(
        "kpi_channel_daily", order_analytics.kpi_channel_daily, ("channel_daily",),
        "date date, channel string, order_count int, revenue decimal(18,2), avg_order_value decimal(18,2), "
        "cancelled_orders int, revenue_28d decimal(18,2), order_count_28d int, avg_order_value_28d decimal(18,2)",
        order_analytics.CHANNEL_DAILY_SORT),
    GoldTable(
        "kpi_order_mix", order_analytics.kpi_order_mix, ("pos_mix_month",),
        "sales_month string, dimension string, value string, order_count int, revenue decimal(18,2), "
        "order_share_pct decimal(9,2), revenue_share_pct decimal(9,2)",
        order_analytics.ORDER_MIX_SORT),
    GoldTable(
        "kpi_peak_hours", order_analytics.kpi_peak_hours, ("transactions",),
        "day_of_week int, hour int, order_count int, revenue decimal(18,2), avg_orders_per_day decimal(9,2), "
        "busiest_rank int",
        order_analytics.PEAK_HOURS_SORT),
    GoldTable(
        "kpi_menu_performance_30d", order_analytics.kpi_menu_performance_30d, ("sales_lines", "products"),
        "product_id int, product_name string, category string, quantity_30d int, revenue_30d decimal(18,2), "
        "quantity_prev_30d int, revenue_prev_30d decimal(18,2), revenue_change_pct decimal(9,2), "
        "revenue_rank int, underperforming boolean",
        order_analytics.MENU_SORT),
    # -- Order analytics: customers and baskets (etl/gold/customer_analytics.py) --
    GoldTable(
        "customer_rfm", customer_analytics.customer_rfm, ("transactions_365d", "dim_customer"),
        "customer_id int, customer_name string, last_purchase_date date, recency_days int, frequency int, "
        "monetary decimal(18,2), r_score int, f_score int, m_score int, rfm_segment string",
        ("customer_id",)),
    GoldTable(
        "kpi_basket_pairs_90d", customer_analytics.kpi_basket_pairs_90d,
        ("sales_lines", "transactions_365d", "products"),
        "product_id_a int, product_name_a string, product_id_b int, product_name_b string, orders_with_both int, "
        "support decimal(9,4), confidence_a_to_b decimal(9,4), confidence_b_to_a decimal(9,4), lift decimal(9,4), "
        "lift_rank int",
        ("lift_rank", "product_id_a", "product_id_b")),
    GoldTable(
        "kpi_cohort_retention", customer_analytics.kpi_cohort_retention, ("customer_month",),
        "cohort_month string, month_offset int, sales_month string, cohort_size int, active_customers int, "
        "retention_pct decimal(9,2)",
        ("cohort_month", "month_offset")),
    # -- Order analytics: the revenue forecast (etl/gold/forecast.py), from kpi_channel_daily --
    GoldTable(
        "kpi_revenue_forecast", forecast.kpi_revenue_forecast, ("kpi_channel_daily",),
        "channel string, date date, forecast decimal(18,2), lower_80 decimal(18,2), upper_80 decimal(18,2), "
        "model string, trained_from date, trained_to date",
        ("channel", "date")),
    GoldTable(
        "forecast_backtest", forecast.forecast_backtest, ("kpi_channel_daily",),
        "channel string, model string, mape_model decimal(9,2), mape_seasonal_naive decimal(9,2), "
        "mae_model decimal(18,2), mae_seasonal_naive decimal(18,2)",
        ("channel",)),
]
GOLD_TABLES: dict[str, GoldTable] = {table.name: table for table in _TABLES}


def with_facts(frames: Mapping[str, DataFrame], run_date: date) -> Mapping[str, DataFrame]:
    """``frames`` plus what can be derived from ``transactions`` where not given: the facts of the
    transactions up to ``run_date``, and ``transactions_365d`` (each table cuts its own window)."""
    derived: dict[str, DataFrame] = {}
    if "transactions_365d" not in frames and "transactions" in frames:
        derived["transactions_365d"] = frames["transactions"]
    if not all(name in frames for name in FACT_INPUTS):
        derived.update(all_facts(frames["transactions"].filter(F.col("transaction_date") <= F.lit(run_date))))
    return {**derived, **frames}


def build_all(frames: Mapping[str, DataFrame], run_date: date,
              incentive_rate: Decimal = sales_team.DEFAULT_INCENTIVE_RATE,
              prepare: Callable[[str, DataFrame], DataFrame] | None = None) -> dict[str, DataFrame]:
    """Every gold table for ``run_date``, ordered by its sort keys, in registry order.

    ``frames``: the inputs of ``INPUTS`` by name (silver transactions, sales_lines, dim_customer;
    reference sales_team and products). The facts (``FACT_INPUTS``) are computed from ``transactions``
    unless given: the gold stage passes facts it keeps up to date incrementally, and then only the
    windows of ``transactions`` and ``sales_lines`` that ``INPUTS`` names are read. A table may read a
    table built before it in the registry (``GoldTable.gold_inputs``); ``prepare`` (the stage
    materializes each table) is applied to every table before a later one reads it."""
    available = dict(with_facts(frames, run_date))
    built: dict[str, DataFrame] = {}
    for name, table in GOLD_TABLES.items():
        frame = table.ordered(table.build(available, run_date, incentive_rate=incentive_rate))
        if prepare is not None:
            frame = prepare(name, frame)
        built[name] = available[name] = frame
    return built
