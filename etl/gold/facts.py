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
* ``channel_daily``: per (date, gold channel) revenue, order count and
  cancelled POS orders (``kpi_channel_daily``).
* ``pos_mix_month``: per (month, dimension, value) of the POS order type,
  source platform and payment type, order count and revenue (``kpi_order_mix``).

Every builder takes *all* transactions and keeps the revenue itself
(``is_revenue``): a cancelled POS order counts nowhere but in
``cancelled_orders``.

Sums stay exact decimals (``DECIMAL(28,2)`` from summing ``DECIMAL(18,2)``);
the marts round once, at the end. Every facts table carries ``sales_month``
so that the stage can replace exactly the months that changed.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.contracts.silver import SUCCESS
from etl.gold.common import UNKNOWN, month_of, require_columns

FACTS_MONEY = "decimal(28,2)"       # a sum of DECIMAL(18,2), exact
# silver channel -> gold channel
GOLD_CHANNELS = {"store": "in_store", "online": "online", "pos": "pos"}
MIX_DIMENSIONS = ("order_type", "order_from", "payment_type")


def _revenue(transactions: DataFrame, *columns: str) -> DataFrame:
    """The revenue rows of ``transactions`` (all of silver's, or a cut of it)."""
    require_columns(transactions, ("transaction_date", "amount", "is_revenue", *columns), "transactions")
    return transactions.filter(F.col("is_revenue"))


def gold_channel(column: str) -> Column:
    """Silver's channel as gold names it (``store`` -> ``in_store``)."""
    return F.coalesce(*[F.when(F.col(column) == silver_name, F.lit(gold_name))
                        for silver_name, gold_name in GOLD_CHANNELS.items()])


def customer_month_facts(transactions: DataFrame) -> DataFrame:
    """``transactions``: silver transactions (already cut at the run date when a mart is built from them)."""
    revenue = _revenue(transactions, "customer_id")
    return (revenue.filter(F.col("customer_id").isNotNull())
            .groupBy("customer_id", month_of("transaction_date").alias("sales_month"))
            .agg(F.sum("amount").alias("total_sales"),
                 F.count(F.lit(1)).cast("int").alias("monthly_transactions"),
                 F.max("amount").alias("max_amount"),
                 F.min("transaction_date").alias("first_date"),
                 F.max("transaction_date").alias("last_date"),
                 F.countDistinct("transaction_date").cast("int").alias("purchase_days")))


def store_person_month_facts(transactions: DataFrame) -> DataFrame:
    """In-store revenue per (store, salesperson, month)."""
    revenue = _revenue(transactions, "channel", "store_id", "sales_person_id")
    return (revenue.filter(F.col("channel") == "store")
            .groupBy("store_id", "sales_person_id", month_of("transaction_date").alias("sales_month"))
            .agg(F.sum("amount").alias("total_sales"),
                 F.count(F.lit(1)).cast("int").alias("total_transactions"),
                 F.max("amount").alias("max_single_transaction")))


def daily_facts(transactions: DataFrame) -> DataFrame:
    """Revenue, transactions and units per date (every channel, anonymous included)."""
    revenue = _revenue(transactions, "units")
    return (revenue.groupBy(F.col("transaction_date").alias("date"))
            .agg(F.sum("amount").alias("revenue"),
                 F.count(F.lit(1)).alias("order_count"),
                 F.sum(F.coalesce("units", F.lit(0))).alias("units"))
            .withColumn("sales_month", month_of("date")))


def channel_daily_facts(transactions: DataFrame) -> DataFrame:
    """Per (date, gold channel) with any transaction: revenue orders and their sum, and the POS orders whose
    current status is not Success (``cancelled_orders``; never revenue)."""
    require_columns(transactions, ("channel", "transaction_date", "amount", "is_revenue", "status"), "transactions")
    cancelled = (F.col("channel") == "pos") & (F.col("status") != SUCCESS)
    return (transactions.filter(F.col("is_revenue") | cancelled)
            .groupBy(F.col("transaction_date").alias("date"), gold_channel("channel").alias("channel"))
            .agg(F.count_if(F.col("is_revenue")).alias("order_count"),
                 F.coalesce(F.sum(F.when(F.col("is_revenue"), F.col("amount"))),
                            F.lit(0)).cast(FACTS_MONEY).alias("revenue"),
                 F.count_if(cancelled).alias("cancelled_orders"))
            .withColumn("sales_month", month_of("date")))


def mix_value(column: str) -> Column:
    """A POS order's value of a mix dimension: trimmed, ``Unknown`` when null or blank."""
    trimmed = F.trim(F.col(column))
    return F.when(trimmed.isNull() | (trimmed == ""), F.lit(UNKNOWN)).otherwise(trimmed)


def pos_mix_month_facts(transactions: DataFrame) -> DataFrame:
    """Per (month, dimension, value): POS revenue orders and their sum, one row per dimension an order has
    (each order counts once in each of ``order_type``, ``order_from`` and ``payment_type``)."""
    revenue = _revenue(transactions, "channel", *MIX_DIMENSIONS).filter(F.col("channel") == "pos")
    pairs = F.array(*[F.struct(F.lit(name).alias("dimension"), mix_value(name).alias("value"))
                      for name in MIX_DIMENSIONS])
    return (revenue.select(month_of("transaction_date").alias("sales_month"), "amount",
                           F.inline(pairs))
            .groupBy("sales_month", "dimension", "value")
            .agg(F.count(F.lit(1)).alias("order_count"), F.sum("amount").cast(FACTS_MONEY).alias("revenue")))


FACTS = {
    "customer_month": customer_month_facts,
    "store_person_month": store_person_month_facts,
    "daily": daily_facts,
    "channel_daily": channel_daily_facts,
    "pos_mix_month": pos_mix_month_facts,
}
# Facts keyed by date (cut at D by date); the others by month (D's month recomputed from silver).
DATED_FACTS = ("daily", "channel_daily")


def all_facts(transactions: DataFrame) -> dict[str, DataFrame]:
    """Every facts table of ``transactions`` (all of them: each builder keeps what it counts)."""
    return {name: build(transactions) for name, build in FACTS.items()}
