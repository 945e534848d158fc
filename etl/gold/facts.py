"""Additive facts that the history-wide gold tables are computed from.

Every figure of ``customers_data_mart``, ``sales_team_data_mart``,
``kpi_monthly_order_trends``, ``kpi_daily_sales`` and ``alerts`` can be
derived from three small aggregates of the revenue transactions, so those
tables never need to rescan silver history:

* ``customer_month``: per (customer, month) the sum, count and largest
  amount, the first and last purchase date and the number of distinct
  purchase dates. The mean gap between consecutive distinct purchase dates
  telescopes to ``(last - first) / (distinct dates - 1)``, so it needs no
  per-date detail.
* ``store_person_month``: per (store, salesperson, month) in-store sum,
  count and largest amount.
* ``daily``: per date revenue, order count and units.

Sums stay exact decimals (``DECIMAL(28,2)`` from summing ``DECIMAL(18,2)``);
the marts round once, at the end. Every facts table carries ``sales_month``
so that the stage can replace exactly the months that changed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.gold.common import month_of, require_columns


def _checked(revenue: DataFrame, *columns: str) -> None:
    require_columns(revenue, ("transaction_date", "amount", *columns), "revenue transactions")


def customer_month_facts(revenue: DataFrame) -> DataFrame:
    """``revenue``: revenue transactions (already cut at the run date when a mart is built from them)."""
    _checked(revenue, "customer_id")
    return (revenue.filter(F.col("customer_id").isNotNull())
            .groupBy("customer_id", month_of("transaction_date").alias("sales_month"))
            .agg(F.sum("amount").alias("total_sales"),
                 F.count(F.lit(1)).cast("int").alias("monthly_transactions"),
                 F.max("amount").alias("max_amount"),
                 F.min("transaction_date").alias("first_date"),
                 F.max("transaction_date").alias("last_date"),
                 F.countDistinct("transaction_date").cast("int").alias("purchase_days")))


def store_person_month_facts(revenue: DataFrame) -> DataFrame:
    """In-store revenue per (store, salesperson, month)."""
    _checked(revenue, "channel", "store_id", "sales_person_id")
    return (revenue.filter(F.col("channel") == "store")
            .groupBy("store_id", "sales_person_id", month_of("transaction_date").alias("sales_month"))
            .agg(F.sum("amount").alias("total_sales"),
                 F.count(F.lit(1)).cast("int").alias("total_transactions"),
                 F.max("amount").alias("max_single_transaction")))


def daily_facts(revenue: DataFrame) -> DataFrame:
    """Revenue, transactions and units per date (every channel, anonymous included)."""
    _checked(revenue, "units")
    return (revenue.groupBy(F.col("transaction_date").alias("date"))
            .agg(F.sum("amount").alias("revenue"),
                 F.count(F.lit(1)).alias("order_count"),
                 F.sum(F.coalesce("units", F.lit(0))).alias("units"))
            .withColumn("sales_month", month_of("date")))


FACTS = {
    "customer_month": customer_month_facts,
    "store_person_month": store_person_month_facts,
    "daily": daily_facts,
}


def all_facts(revenue: DataFrame) -> dict[str, DataFrame]:
    return {name: build(revenue) for name, build in FACTS.items()}
