"""``sales_team_data_mart``: one row per (store, salesperson, month); see docs/gold/sales_team_data_mart.md.

Computed from in-store (``channel = 'store'``) revenue transactions dated on or
before the run date only, so the table is a function of silver and
``run_date``. Sums stay exact decimals; every derived figure is rounded
half-up once, at the end.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.gold.common import MONEY, PERCENT, check_run_date, full_name, require_columns, revenue_up_to
from etl.gold.decimal_math import divide_half_up
from etl.gold.facts import store_person_month_facts

DEFAULT_INCENTIVE_RATE = Decimal("0.01")

COLUMNS = [
    "store_id", "sales_person_id", "full_name", "sales_month", "total_sales", "total_transactions",
    "avg_transaction_value", "max_single_transaction", "avg_sales_per_month", "top_performance_rank",
    "incentive", "month_over_month_variance", "sales_growth_rate", "year_to_date_sales",
    "first_sale_month", "last_sale_month", "sales_contribution_percentage",
]
SORT_KEYS = ("store_id", "sales_person_id", "sales_month")
TRANSACTION_COLUMNS = ("channel", "store_id", "sales_person_id", "transaction_date", "amount", "is_revenue")
TEAM_COLUMNS = ("id", "first_name", "last_name")


def sales_team_data_mart(transactions: DataFrame, sales_team: DataFrame, run_date: date,
                         incentive_rate: Decimal = DEFAULT_INCENTIVE_RATE) -> DataFrame:
    """``transactions``: silver TRANSACTIONS (channel, store_id, sales_person_id, transaction_date,
    amount, is_revenue); only in-store revenue rows up to ``run_date`` count.
    ``sales_team``: reference (id, first_name, last_name)."""
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    check_run_date(run_date)
    return sales_team_data_mart_from_facts(store_person_month_facts(revenue_up_to(transactions, run_date)),
                                           sales_team, run_date, incentive_rate)


def sales_team_data_mart_from_facts(facts: DataFrame, team: DataFrame, run_date: date,
                                    incentive_rate: Decimal = DEFAULT_INCENTIVE_RATE) -> DataFrame:
    """The mart from ``store_person_month`` facts (etl/gold/facts.py) of the revenue up to ``run_date``
    (store_id, sales_person_id, sales_month, total_sales, total_transactions, max_single_transaction)."""
    check_run_date(run_date)
    require_columns(team, TEAM_COLUMNS, "sales_team")
    if isinstance(incentive_rate, float) or not isinstance(incentive_rate, (Decimal, int)):
        raise TypeError(f"incentive_rate must be a Decimal (exact), got {type(incentive_rate).__name__} "
                        f"{incentive_rate!r}; pass Decimal('0.01')")
    monthly = facts.withColumn("_month_start", F.to_date(F.concat("sales_month", F.lit("-01"))))

    per_salesperson_by_month = Window.partitionBy("store_id", "sales_person_id").orderBy("_month_start")
    per_salesperson_to_date = per_salesperson_by_month.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    per_salesperson_all = Window.partitionBy("store_id", "sales_person_id")
    per_salesperson_year_to_date = (
        Window.partitionBy("store_id", "sales_person_id", F.year("_month_start"))
        .orderBy("_month_start").rowsBetween(Window.unboundedPreceding, Window.currentRow))
    per_store_month = Window.partitionBy("store_id", "sales_month")
    per_store_month_by_sales = per_store_month.orderBy(F.col("total_sales").desc())

    previous_month_start = F.lag("_month_start").over(per_salesperson_by_month)
    previous_total = F.when(
        previous_month_start == F.add_months("_month_start", -1),
        F.lag("total_sales").over(per_salesperson_by_month))

    rate = F.lit(Decimal(incentive_rate))  # exact: a literal Decimal keeps every digit of the configured rate
    marts = (
        monthly
        .withColumn("_previous_total", previous_total)
        .withColumn("top_performance_rank", F.rank().over(per_store_month_by_sales).cast("int"))
        .select(
            "store_id", "sales_person_id", "sales_month",
            F.col("total_sales").cast(MONEY).alias("total_sales"),
            "total_transactions",
            divide_half_up(F.col("total_sales"), F.col("total_transactions"), 2, MONEY).alias("avg_transaction_value"),
            F.col("max_single_transaction").cast(MONEY).alias("max_single_transaction"),
            divide_half_up(F.sum("total_sales").over(per_salesperson_to_date),
                           F.count(F.lit(1)).over(per_salesperson_to_date), 2, MONEY).alias("avg_sales_per_month"),
            "top_performance_rank",
            F.when(F.col("top_performance_rank") == 1, F.round(F.col("total_sales") * rate, 2))
             .otherwise(F.lit(0)).cast(MONEY).alias("incentive"),
            (F.col("total_sales") - F.col("_previous_total")).cast(MONEY).alias("month_over_month_variance"),
            divide_half_up((F.col("total_sales") - F.col("_previous_total")) * 100, F.col("_previous_total"),
                           2, PERCENT).alias("sales_growth_rate"),
            F.sum("total_sales").over(per_salesperson_year_to_date).cast(MONEY).alias("year_to_date_sales"),
            F.min("sales_month").over(per_salesperson_all).alias("first_sale_month"),
            F.max("sales_month").over(per_salesperson_all).alias("last_sale_month"),
            divide_half_up(F.col("total_sales") * 100, F.sum("total_sales").over(per_store_month),
                           2, PERCENT).alias("sales_contribution_percentage"),
        )
    )
    names = team.select(F.col("id").alias("sales_person_id"), full_name("first_name", "last_name").alias("full_name"))
    return (marts.join(F.broadcast(names), "sales_person_id", "left")
            .withColumn("full_name", F.coalesce("full_name", F.lit("Unknown")))
            .select(*COLUMNS))
