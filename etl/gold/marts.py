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

from etl.gold import customers, kpis, sales_team
from etl.gold.common import revenue_up_to
from etl.gold.facts import FACTS, all_facts

# Inputs by name: the silver tables of etl/contracts/silver.py, two reference tables, and the facts of
# etl/gold/facts.py (aggregates of the revenue up to D, which the history-wide tables are computed from).
INPUTS = ("transactions", "sales_lines", "dim_customer", "sales_team", "products")
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
]
GOLD_TABLES: dict[str, GoldTable] = {table.name: table for table in _TABLES}


def with_facts(frames: Mapping[str, DataFrame], run_date: date) -> Mapping[str, DataFrame]:
    """``frames`` plus the facts of the revenue transactions up to ``run_date``, where not given."""
    if all(name in frames for name in FACT_INPUTS):
        return frames
    return {**all_facts(revenue_up_to(frames["transactions"], run_date)), **frames}


def build_all(frames: Mapping[str, DataFrame], run_date: date,
              incentive_rate: Decimal = sales_team.DEFAULT_INCENTIVE_RATE) -> dict[str, DataFrame]:
    """Every gold table for ``run_date``, ordered by its sort keys, in registry order.

    ``frames``: the inputs of ``INPUTS`` by name (silver transactions, sales_lines, dim_customer;
    reference sales_team and products). The facts (``FACT_INPUTS``) are computed from ``transactions``
    unless given: the gold stage passes facts it keeps up to date incrementally, and then only the
    last 30 days and the month of ``D`` of ``transactions`` and ``sales_lines`` are read."""
    frames = with_facts(frames, run_date)
    return {name: table.ordered(table.build(frames, run_date, incentive_rate=incentive_rate))
            for name, table in GOLD_TABLES.items()}
