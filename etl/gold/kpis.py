"""Daily report KPIs (METRICS.md "Daily report KPIs") and the sales-drop alerts.

Each KPI is a small table the report and the dashboards read as is, so the
figures are computed here once, for the run date ``D``, rather than in every
consumer. Anonymous transactions count in revenue, trends and product figures,
never in per-customer figures.

Sales-drop detection works on the 7-day revenue over a complete calendar (a
day without sales is a 0, not a missing row) against a robust baseline: the
median and the median absolute deviation (MAD) of the 28 values of days
``d-34 .. d-7``. Both medians are taken exactly, on decimals, as the mean of
the 14th and 15th of the sorted values: Spark's ``percentile``/``median``
return doubles, which could move a day across the threshold.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.gold.common import (COUNT, MONEY, PERCENT, TRANSACTION_COLUMNS, UNKNOWN, check_run_date,
                             customers_as_of, last_30_days, month_of, month_start, require_columns,
                             revenue_up_to)
from etl.gold.decimal_math import divide_half_up
from etl.gold.facts import customer_month_facts, daily_facts

REPEAT_CUSTOMERS_COLUMNS = ["customer_id", "customer_name", "order_count", "total_amount"]
REPEAT_CUSTOMERS_SORT = ("order_count DESC", "customer_id")
REGIONAL_REVENUE_SORT = ("revenue DESC", "region")
MONTHLY_TRENDS_SORT = ("sales_month",)
TOP_CUSTOMERS_COLUMNS = ["rank", "customer_id", "customer_name", "total_spend", "order_count"]
TOP_CUSTOMERS_SORT = ("rank", "customer_id")
PRODUCT_SALES_SORT = ("revenue_rank", "product_name", "product_id NULLS LAST")
DAILY_SALES_COLUMNS = ["date", "revenue", "order_count", "units", "avg_order_value", "revenue_7d",
                       "revenue_7d_change_pct", "is_anomaly"]
DAILY_SALES_SORT = ("date",)
ALERTS_SORT = ("date",)

TOP_CUSTOMERS_LIMIT = 10
WINDOW_DAYS = 7
BASELINE_FIRST, BASELINE_LAST = 34, 7        # baseline of d: days d-34 .. d-7 (28 values)
BASELINE_SIZE = BASELINE_FIRST - BASELINE_LAST + 1
MAD_FACTOR = Decimal("3") * Decimal("1.4826")  # 3 x the consistency constant of the MAD: 4.4478
LINE_COLUMNS = ("transaction_date", "product_id", "product_name", "sku_id", "quantity", "amount", "is_revenue")


def _month_of_run_date(transactions: DataFrame, run_date: date) -> DataFrame:
    return revenue_up_to(transactions, run_date).filter(F.col("transaction_date") >= F.lit(month_start(run_date)))


def _known_customers(transactions: DataFrame) -> DataFrame:
    return transactions.filter(F.col("customer_id").isNotNull())


def _checked(transactions: DataFrame, run_date: date, *extra: str) -> None:
    require_columns(transactions, (*TRANSACTION_COLUMNS, *extra), "transactions")
    check_run_date(run_date)


def _named(frame: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """Adds ``customer_name``: the name on the customer's record as of the run date, else Unknown."""
    names = customers_as_of(dim_customer, run_date).select("customer_id", F.col("full_name").alias("customer_name"))
    return (frame.join(names, "customer_id", "left")
            .withColumn("customer_name", F.coalesce("customer_name", F.lit(UNKNOWN))))


def kpi_repeat_customers(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """Customers with 2 or more transactions in the month of ``D`` (first of the month through ``D``).
    Needs transactions (customer_id, transaction_date, amount, is_revenue) and dim_customer (names)."""
    _checked(transactions, run_date)
    repeat = (_known_customers(_month_of_run_date(transactions, run_date))
              .groupBy("customer_id")
              .agg(F.count(F.lit(1)).cast(COUNT).alias("order_count"),
                   F.sum("amount").cast(MONEY).alias("total_amount"))
              .filter(F.col("order_count") >= 2))
    return _named(repeat, dim_customer, run_date).select(*REPEAT_CUSTOMERS_COLUMNS)


def kpi_regional_revenue(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """Revenue in the month of ``D`` by the customer's region on the transaction date (SCD2:
    ``valid_from <= transaction_date < valid_to``); ``Unknown`` for anonymous transactions, customers
    without a version on that date, and blank regions."""
    _checked(transactions, run_date)
    require_columns(dim_customer, ("customer_id", "region", "valid_from", "valid_to"), "dim_customer")
    month = _month_of_run_date(transactions, run_date).alias("t")
    versions = dim_customer.select("customer_id", "region", "valid_from", "valid_to").alias("v")
    on_transaction_date = ((F.col("t.customer_id") == F.col("v.customer_id"))
                           & (F.col("v.valid_from") <= F.col("t.transaction_date"))
                           & (F.col("t.transaction_date") < F.col("v.valid_to")))
    region = F.col("v.region")
    whole_month = Window.partitionBy()
    return (month.join(versions, on_transaction_date, "left")
            .select(F.when(region.isNull() | (F.trim(region) == ""), F.lit(UNKNOWN)).otherwise(region).alias("region"),
                    F.col("t.amount").alias("amount"))
            .groupBy("region")
            .agg(F.sum("amount").alias("_revenue"), F.count(F.lit(1)).cast(COUNT).alias("order_count"))
            .select("region", F.col("_revenue").cast(MONEY).alias("revenue"), "order_count",
                    divide_half_up(F.col("_revenue") * 100, F.sum("_revenue").over(whole_month), 2, PERCENT)
                    .alias("share_pct")))


def kpi_monthly_order_trends(transactions: DataFrame, run_date: date) -> DataFrame:
    """Every calendar month from the first transaction's month through ``D``'s month (a month
    without sales is a row of zeros). ``unique_customers`` counts known customers only."""
    _checked(transactions, run_date, "units")
    counted = revenue_up_to(transactions, run_date)
    return monthly_order_trends_from_facts(daily_facts(counted), customer_month_facts(counted), run_date)


def monthly_order_trends_from_facts(daily: DataFrame, customer_month: DataFrame, run_date: date) -> DataFrame:
    """From ``daily`` and ``customer_month`` facts of the revenue up to ``D`` (etl/gold/facts.py): a
    customer-month fact exists once per known customer buying in the month."""
    check_run_date(run_date)
    months = (daily.agg(F.min("date").alias("_first"))
              .select(F.explode(F.sequence(F.trunc("_first", "month"), F.lit(month_start(run_date)),
                                           F.expr("INTERVAL 1 MONTH"))).alias("_month"))
              .select(month_of("_month").alias("sales_month")))
    monthly = (daily.groupBy("sales_month")
               .agg(F.sum("order_count").alias("order_count"), F.sum("revenue").alias("revenue")))
    customers = customer_month.groupBy("sales_month").agg(F.count(F.lit(1)).alias("unique_customers"))
    return (months.join(monthly, "sales_month", "left").join(customers, "sales_month", "left")
            .select("sales_month",
                    F.coalesce("order_count", F.lit(0)).cast(COUNT).alias("order_count"),
                    F.coalesce("revenue", F.lit(0)).cast(MONEY).alias("revenue"),
                    F.coalesce("unique_customers", F.lit(0)).cast(COUNT).alias("unique_customers")))


def kpi_top_customers_30d(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """Known customers by spend over ``D-29 .. D``; ``RANK()`` by spend desc, rank <= 10 with ties kept."""
    _checked(transactions, run_date)
    first, last = last_30_days(run_date)
    by_spend = Window.orderBy(F.col("total_spend").desc())
    top = (_known_customers(revenue_up_to(transactions, run_date))
           .filter(F.col("transaction_date").between(F.lit(first), F.lit(last)))
           .groupBy("customer_id")
           .agg(F.sum("amount").cast(MONEY).alias("total_spend"), F.count(F.lit(1)).cast(COUNT).alias("order_count"))
           .withColumn("rank", F.rank().over(by_spend).cast(COUNT))
           .filter(F.col("rank") <= TOP_CUSTOMERS_LIMIT))
    return _named(top, dim_customer, run_date).select(*TOP_CUSTOMERS_COLUMNS)


def kpi_product_sales_30d(sales_lines: DataFrame, products: DataFrame, run_date: date) -> DataFrame:
    """Products by line amount over ``D-29 .. D``. ``sales_lines``: silver SALES_LINES (transaction_date,
    product_id, product_name, sku_id, quantity, amount, is_revenue); ``products``: reference (id, name).
    Matched lines group by product_id and show the catalogue name; unmatched lines (product_id null)
    group by their name on the line (the raw item name, else the SKU)."""
    require_columns(sales_lines, LINE_COLUMNS, "sales_lines")
    require_columns(products, ("id", "name"), "products")
    check_run_date(run_date)
    first, last = last_30_days(run_date)
    line_name = F.coalesce(F.col("product_name"), F.col("sku_id"))
    lines = (sales_lines
             .filter(F.col("is_revenue") & F.col("transaction_date").between(F.lit(first), F.lit(last)))
             .withColumn("_unmatched_name",
                         F.when(F.col("product_id").isNull(), F.coalesce(line_name, F.lit(UNKNOWN)))))
    catalogue = products.select(F.col("id").alias("product_id"), F.col("name").alias("_catalogue_name"))
    by_revenue = Window.orderBy(F.col("revenue").desc())
    return (lines.groupBy("product_id", "_unmatched_name")
            .agg(F.sum("quantity").cast(COUNT).alias("quantity"), F.sum("amount").cast(MONEY).alias("revenue"),
                 F.min(line_name).alias("_line_name"))
            .join(F.broadcast(catalogue), "product_id", "left")
            .select("product_id",
                    F.coalesce("_unmatched_name", "_catalogue_name", "_line_name", F.lit(UNKNOWN)).alias("product_name"),
                    "quantity", "revenue",
                    F.rank().over(by_revenue).cast(COUNT).alias("revenue_rank")))


def _exact_median_of_sorted(values: Column, size: int) -> Column:
    """Median of a sorted array of ``size`` decimals (``size`` even): the mean of the two middle
    values, exact (``(a + b) * 0.5`` keeps every digit; no double, no intermediate rounding)."""
    middle = size // 2
    return (F.element_at(values, middle) + F.element_at(values, middle + 1)) * F.lit(Decimal("0.5"))


def daily_sales_with_baseline(daily: DataFrame, run_date: date) -> DataFrame:
    """kpi_daily_sales' columns plus the baseline figures behind ``is_anomaly`` (``_median``, ``_mad``,
    ``_threshold``), which the alerts table reports. One row per calendar day from the first
    transaction date through ``D``. ``daily``: the ``daily`` facts (etl/gold/facts.py) up to ``D``."""
    check_run_date(run_date)
    calendar = (daily.agg(F.min("date").alias("_first"))
                .select(F.explode(F.sequence("_first", F.lit(run_date))).alias("date"), "_first")
                .select("date", F.datediff("date", "_first").alias("_day")))

    by_day = Window.orderBy("_day")
    last_7_days = by_day.rangeBetween(-(WINDOW_DAYS - 1), 0)
    previous_7_days = by_day.rangeBetween(-(2 * WINDOW_DAYS - 1), -WINDOW_DAYS)
    baseline_days = by_day.rangeBetween(-BASELINE_FIRST, -BASELINE_LAST)

    filled = (calendar.join(daily, "date", "left")
              .select("date", "_day",
                      F.coalesce("revenue", F.lit(0)).cast(MONEY).alias("revenue"),
                      F.coalesce("order_count", F.lit(0)).cast(COUNT).alias("order_count"),
                      F.coalesce("units", F.lit(0)).cast(COUNT).alias("units")))
    rolling = (filled
               .withColumn("revenue_7d", F.sum("revenue").over(last_7_days).cast(MONEY))
               .withColumn("_previous_7d", F.sum("revenue").over(previous_7_days))  # null: nothing before
               .withColumn("_baseline", F.array_sort(F.collect_list("revenue_7d").over(baseline_days))))
    median = _exact_median_of_sorted(F.col("_baseline"), BASELINE_SIZE)
    deviations = F.array_sort(F.transform("_baseline", lambda value: F.abs(value - F.col("_median"))))
    mad = _exact_median_of_sorted(deviations, BASELINE_SIZE)
    has_baseline = F.col("_day") >= BASELINE_FIRST
    robust = (rolling
              .withColumn("_median", F.when(has_baseline, median))
              .withColumn("_mad", F.when(has_baseline, mad))
              .withColumn("_threshold", F.col("_median") - F.lit(MAD_FACTOR) * F.col("_mad")))
    is_anomaly = (has_baseline
                  & (F.col("revenue_7d") < F.col("_threshold"))
                  & (F.col("revenue_7d") < F.col("_median") * F.lit(Decimal("0.5"))))
    return robust.select(
        "date", "revenue", "order_count", "units",
        divide_half_up(F.col("revenue"), F.col("order_count"), 2, MONEY).alias("avg_order_value"),
        "revenue_7d",
        divide_half_up((F.col("revenue_7d") - F.col("_previous_7d")) * 100, F.col("_previous_7d"), 2, PERCENT)
        .alias("revenue_7d_change_pct"),
        F.coalesce(is_anomaly, F.lit(False)).alias("is_anomaly"),
        "_median", "_mad", "_threshold",
    )


def kpi_daily_sales(transactions: DataFrame, run_date: date) -> DataFrame:
    """Every date from the first transaction date through ``D`` (days without sales as 0), with the
    7-day revenue, its change against the 7 days before, and the sales-drop flag ``is_anomaly``.
    Needs transactions (transaction_date, amount, units, is_revenue)."""
    return daily_sales_from_facts(_daily_up_to(transactions, run_date), run_date)


def daily_sales_from_facts(daily: DataFrame, run_date: date) -> DataFrame:
    return daily_sales_with_baseline(daily, run_date).select(*DAILY_SALES_COLUMNS)


def _daily_up_to(transactions: DataFrame, run_date: date) -> DataFrame:
    _checked(transactions, run_date, "units")
    return daily_facts(revenue_up_to(transactions, run_date))


def _money_text(value: Column) -> Column:
    return F.round(value, 2).cast(MONEY).cast("string")


def alerts(transactions: DataFrame, run_date: date) -> DataFrame:
    """One row per anomalous day up to ``D``: ``revenue`` is the day's 7-day revenue (the signal that
    was tested), ``expected`` the baseline median of that signal, ``reason`` the figures of the test."""
    return alerts_from_facts(_daily_up_to(transactions, run_date), run_date)


def alerts_from_facts(daily: DataFrame, run_date: date) -> DataFrame:
    daily = daily_sales_with_baseline(daily, run_date).filter("is_anomaly")
    reason = F.concat(
        F.lit("7-day revenue "), F.col("revenue_7d").cast("string"),
        F.lit(" is below the baseline median "), _money_text(F.col("_median")),
        F.lit(" - 3 x 1.4826 x MAD "), _money_text(F.col("_mad")),
        F.lit(" = "), _money_text(F.col("_threshold")),
        F.lit(" and below half the median "), _money_text(F.col("_median") * F.lit(Decimal("0.5"))),
        F.lit(" (baseline days "), F.date_sub("date", BASELINE_FIRST).cast("string"),
        F.lit(" .. "), F.date_sub("date", BASELINE_LAST).cast("string"), F.lit(")"))
    return daily.select("date", F.col("revenue_7d").alias("revenue"),
                        F.round("_median", 2).cast(MONEY).alias("expected"), reason.alias("reason"))
