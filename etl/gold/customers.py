"""``customers_data_mart``: one row per (customer, month with a transaction); see docs/gold/customers_data_mart.md.

Monthly figures sit next to the customer's lifetime figures up to the run date
so that one table answers both "what did they spend in May" and "who are our
best customers". Anonymous transactions have no customer and are left out.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.gold.common import (COUNT, DAYS, MONEY, TRANSACTION_COLUMNS, UNKNOWN, check_run_date, customers_as_of,
                             month_of, require_columns, revenue_up_to)
from etl.gold.decimal_math import divide_half_up
from etl.gold.facts import customer_month_facts

COLUMNS = [
    "customer_id", "full_name", "address", "phone_number", "region", "sales_month", "total_sales",
    "monthly_transactions", "customer_lifetime_value", "first_purchase_month", "last_purchase_month",
    "purchase_frequency", "monetary_value", "avg_monthly_spending", "max_single_transaction",
    "avg_time_between_purchases", "inactive_status", "customer_segment",
]
SORT_KEYS = ("customer_id", "sales_month")

INACTIVE_AFTER_DAYS = 90
# PERCENT_RANK is (rank - 1) / (customers - 1), a correctly rounded double: it equals the literal 0.8
# exactly when the ratio is exactly 4/5, and differs from it by far more than one ulp otherwise.
PREMIUM_FROM = 0.8
REGULAR_FROM = 0.4


def customers_data_mart(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """``transactions``: silver TRANSACTIONS (customer_id, transaction_date, amount, is_revenue).
    ``dim_customer``: silver DIM_CUSTOMER (customer_id, first_name, last_name, address, phone_number,
    region, valid_from, valid_to); the version valid on ``run_date`` gives the customer's record."""
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    check_run_date(run_date)
    return customers_data_mart_from_facts(customer_month_facts(revenue_up_to(transactions, run_date)),
                                          dim_customer, run_date)


def customers_data_mart_from_facts(facts: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """The mart from ``customer_month`` facts (etl/gold/facts.py) of the revenue up to ``run_date``."""
    check_run_date(run_date)
    monthly = facts.select("customer_id", "sales_month", F.col("total_sales").cast(MONEY).alias("total_sales"),
                           "monthly_transactions")

    run_month_index = run_date.year * 12 + run_date.month
    months_active = F.lit(run_month_index) - (F.year("_first_date") * 12 + F.month("_first_date")) + 1
    all_customers_by_value = Window.orderBy("customer_lifetime_value")
    inactive = F.datediff(F.lit(run_date), F.col("_last_date")) > INACTIVE_AFTER_DAYS
    # Consecutive gaps between distinct purchase dates telescope: their mean is (last - first) / (dates - 1).
    mean_gap = F.when(F.col("_purchase_days") >= 2,
                      divide_half_up(F.datediff("_last_date", "_first_date"), F.col("_purchase_days") - 1, 2, DAYS))
    lifetime = (
        facts.groupBy("customer_id")
        .agg(F.sum("total_sales").alias("customer_lifetime_value"),
             F.sum("monthly_transactions").cast(COUNT).alias("purchase_frequency"),
             F.min("first_date").alias("_first_date"),
             F.max("last_date").alias("_last_date"),
             F.sum("purchase_days").alias("_purchase_days"),
             F.max("max_amount").cast(MONEY).alias("max_single_transaction"))
        .withColumn("_value_rank", F.percent_rank().over(all_customers_by_value))
        .select(
            "customer_id",
            F.col("customer_lifetime_value").cast(MONEY).alias("customer_lifetime_value"),
            month_of("_first_date").alias("first_purchase_month"),
            month_of("_last_date").alias("last_purchase_month"),
            "purchase_frequency",
            divide_half_up(F.col("customer_lifetime_value"), F.col("purchase_frequency"), 2, MONEY)
            .alias("monetary_value"),
            divide_half_up(F.col("customer_lifetime_value"), months_active, 2, MONEY).alias("avg_monthly_spending"),
            "max_single_transaction",
            mean_gap.alias("avg_time_between_purchases"),
            inactive.alias("inactive_status"),
            F.when(inactive, F.lit("At Risk"))
             .when(F.col("_value_rank") >= F.lit(PREMIUM_FROM), F.lit("Premium"))
             .when(F.col("_value_rank") >= F.lit(REGULAR_FROM), F.lit("Regular"))
             .otherwise(F.lit("Occasional")).alias("customer_segment"),
        )
    )
    record = customers_as_of(dim_customer, run_date)
    return (monthly.join(lifetime, "customer_id")
            .join(record, "customer_id", "left")
            .withColumn("full_name", F.coalesce("full_name", F.lit(UNKNOWN)))
            .select(*COLUMNS))
