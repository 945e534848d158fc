"""Order analytics by channel and time: channel days, the POS order mix, peak hours, the menu.

Channels in gold are ``in_store`` (silver channel ``store``), ``online`` and ``pos``.
``kpi_channel_daily`` and ``kpi_order_mix`` cover all history, so they are computed
from facts the gold stage keeps incrementally (``channel_daily``, ``pos_mix_month``
in etl/gold/facts.py), never from a rescan of silver; the other two read their
own windows of silver (28 days of transactions, 60 days of lines).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.gold.common import COUNT, MONEY, PERCENT, check_run_date, require_columns
from etl.gold.decimal_math import divide_half_up
from etl.gold.facts import GOLD_CHANNELS

CHANNEL_DAILY_SORT = ("date", "channel")
ORDER_MIX_SORT = ("sales_month", "dimension", "value")
PEAK_HOURS_SORT = ("day_of_week", "hour")
MENU_SORT = ("revenue_rank", "product_id")

ROLLING_DAYS = 28
PEAK_DAYS = 28                 # D-27 .. D: four of each weekday
MENU_DAYS = 30


def _pct(part, whole):
    """part / whole × 100, rounded half-up to 2 places once; null when whole is 0."""
    return divide_half_up(part * 100, whole, 2, PERCENT)


def kpi_channel_daily(channel_daily: DataFrame, run_date: date) -> DataFrame:
    """One row per (date, channel) from the first transaction date through D, zeros where a channel had none.

    ``channel_daily``: the facts (date, channel, order_count, revenue, cancelled_orders), exact sums. The
    calendar is complete, so the 28-day sums are a window of 28 rows (absent days count as 0)."""
    check_run_date(run_date)
    require_columns(channel_daily, ("date", "channel", "order_count", "revenue", "cancelled_orders"),
                    "channel_daily facts")
    facts = channel_daily.filter(F.col("date") <= F.lit(run_date))
    first = facts.filter(F.col("order_count") > 0).agg(F.min("date").alias("first_date"))
    calendar = first.filter(F.col("first_date").isNotNull()).select(
        F.explode(F.sequence("first_date", F.lit(run_date), F.expr("INTERVAL 1 DAY"))).alias("date"))
    channels = channel_daily.sparkSession.createDataFrame([(c,) for c in GOLD_CHANNELS.values()], "channel string")
    grid = calendar.crossJoin(F.broadcast(channels))
    days = (grid.join(facts, ["date", "channel"], "left")
            .select("date", "channel",
                    F.coalesce("order_count", F.lit(0)).alias("orders"),
                    F.coalesce("revenue", F.lit(0)).alias("amount"),
                    F.coalesce("cancelled_orders", F.lit(0)).alias("cancelled")))
    window = Window.partitionBy("channel").orderBy("date").rowsBetween(-(ROLLING_DAYS - 1), 0)
    rolled = (days.withColumn("revenue_28d", F.sum("amount").over(window))
              .withColumn("order_count_28d", F.sum("orders").over(window)))
    return rolled.select(
        "date", "channel",
        F.col("orders").cast(COUNT).alias("order_count"),
        F.col("amount").cast(MONEY).alias("revenue"),
        divide_half_up(F.col("amount"), F.col("orders"), 2, MONEY).alias("avg_order_value"),
        F.col("cancelled").cast(COUNT).alias("cancelled_orders"),
        F.col("revenue_28d").cast(MONEY).alias("revenue_28d"),
        F.col("order_count_28d").cast(COUNT).alias("order_count_28d"),
        divide_half_up(F.col("revenue_28d"), F.col("order_count_28d"), 2, MONEY).alias("avg_order_value_28d"),
    )


def kpi_order_mix(pos_mix_month: DataFrame, run_date: date) -> DataFrame:
    """One row per (month, dimension, value) of the POS orders, every month up to D's with any.

    ``pos_mix_month``: the facts (sales_month, dimension, value, order_count, revenue). Every order has
    one value per dimension (``Unknown`` when empty), so a dimension's counts add up to the month's POS
    orders and its revenues to their revenue."""
    check_run_date(run_date)
    require_columns(pos_mix_month, ("sales_month", "dimension", "value", "order_count", "revenue"),
                    "pos_mix_month facts")
    mix = pos_mix_month.filter(F.col("sales_month") <= F.lit(run_date.strftime("%Y-%m")))
    month = Window.partitionBy("sales_month", "dimension")
    return mix.select(
        "sales_month", "dimension", "value",
        F.col("order_count").cast(COUNT).alias("order_count"),
        F.col("revenue").cast(MONEY).alias("revenue"),
        _pct(F.col("order_count"), F.sum("order_count").over(month)).alias("order_share_pct"),
        _pct(F.col("revenue"), F.sum("revenue").over(month)).alias("revenue_share_pct"),
    )


def kpi_peak_hours(transactions: DataFrame, run_date: date) -> DataFrame:
    """Exactly 168 rows: every (weekday 1 = Monday .. 7, hour 0 .. 23) over the online and POS revenue
    orders dated D-27 .. D, by their UTC time (in-store sales have no time); empty cells are zeros."""
    check_run_date(run_date)
    require_columns(transactions, ("channel", "transaction_date", "transaction_ts", "amount", "is_revenue"),
                    "transactions")
    orders = (transactions
              .filter(F.col("is_revenue") & F.col("channel").isin("online", "pos")
                      & F.col("transaction_date").between(F.lit(run_date - timedelta(days=PEAK_DAYS - 1)),
                                                          F.lit(run_date))
                      & F.col("transaction_ts").isNotNull())
              # the session time zone is UTC (etl/spark.py): weekday() is 0 for Monday
              .select((F.weekday("transaction_ts") + 1).alias("day_of_week"),
                      F.hour("transaction_ts").alias("hour"), "amount")
              .groupBy("day_of_week", "hour")
              .agg(F.count(F.lit(1)).alias("orders"), F.sum("amount").alias("amount")))
    spark = transactions.sparkSession
    grid = (spark.range(1, 8).select(F.col("id").cast("int").alias("day_of_week"))
            .crossJoin(spark.range(0, 24).select(F.col("id").cast("int").alias("hour"))))
    cells = (grid.join(F.broadcast(orders), ["day_of_week", "hour"], "left")
             .select("day_of_week", "hour", F.coalesce("orders", F.lit(0)).alias("orders"),
                     F.coalesce("amount", F.lit(0)).alias("amount")))
    everywhere = Window.orderBy(F.col("orders").desc())        # 168 rows: one partition is fine
    return cells.select(
        "day_of_week", "hour",
        F.col("orders").cast(COUNT).alias("order_count"),
        F.col("amount").cast(MONEY).alias("revenue"),
        # order_count / 4: a quarter has at most two decimals, so this is exact
        (F.col("orders").cast("decimal(12,0)") / F.lit(PEAK_DAYS // 7)).cast(PERCENT).alias("avg_orders_per_day"),
        F.rank().over(everywhere).cast(COUNT).alias("busiest_rank"),
    )


def kpi_menu_performance_30d(sales_lines: DataFrame, products: DataFrame, run_date: date) -> DataFrame:
    """One row per catalogue product: its lines' quantity and revenue over D-29 .. D and D-59 .. D-30.

    Lines not matched to a catalogue product are left out; a product without sales has zeros (and is
    underperforming). Ranks are over exact revenue."""
    check_run_date(run_date)
    require_columns(sales_lines, ("transaction_date", "product_id", "quantity", "amount", "is_revenue"),
                    "sales_lines")
    require_columns(products, ("id", "name"), "products")
    current_from = run_date - timedelta(days=MENU_DAYS - 1)
    previous_from = run_date - timedelta(days=2 * MENU_DAYS - 1)
    in_current = F.col("transaction_date") >= F.lit(current_from)
    lines = (sales_lines
             .filter(F.col("is_revenue") & F.col("product_id").isNotNull()
                     & F.col("transaction_date").between(F.lit(previous_from), F.lit(run_date)))
             .groupBy("product_id")
             .agg(F.sum(F.when(in_current, F.col("quantity"))).alias("q30"),
                  F.sum(F.when(in_current, F.col("amount"))).alias("r30"),
                  F.sum(F.when(~in_current, F.col("quantity"))).alias("qprev"),
                  F.sum(F.when(~in_current, F.col("amount"))).alias("rprev")))
    category = F.col("category") if "category" in products.columns else F.lit(None).cast("string")
    catalogue = products.select(F.col("id").cast("int").alias("product_id"), F.col("name").alias("product_name"),
                                category.alias("category"))
    menu = (catalogue.join(lines, "product_id", "left")
            .select("product_id", "product_name", "category",
                    F.coalesce("q30", F.lit(0)).alias("q30"), F.coalesce("r30", F.lit(0)).alias("r30"),
                    F.coalesce("qprev", F.lit(0)).alias("qprev"), F.coalesce("rprev", F.lit(0)).alias("rprev")))
    by_revenue_desc = Window.orderBy(F.col("r30").desc())
    by_revenue_asc = Window.orderBy(F.col("r30").asc())
    return menu.select(
        "product_id", "product_name", "category",
        F.col("q30").cast(COUNT).alias("quantity_30d"),
        F.col("r30").cast(MONEY).alias("revenue_30d"),
        F.col("qprev").cast(COUNT).alias("quantity_prev_30d"),
        F.col("rprev").cast(MONEY).alias("revenue_prev_30d"),
        _pct(F.col("r30") - F.col("rprev"), F.col("rprev")).alias("revenue_change_pct"),
        F.rank().over(by_revenue_desc).cast(COUNT).alias("revenue_rank"),
        ((F.col("r30") == 0) | (F.percent_rank().over(by_revenue_asc) < F.lit(0.2))).alias("underperforming"),
    )

