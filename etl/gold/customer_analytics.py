"""Order analytics about customers and baskets: RFM segments, items bought together, cohorts.

* ``customer_rfm``: each customer with a transaction in the last 365 days, scored 1..5 on recency,
  frequency and monetary value by rank (not by fixed thresholds), so the scores spread the same way
  whatever the size of the business, and put in the first segment whose rule matches.
* ``kpi_basket_pairs_90d``: catalogue products bought together in POS orders, with support,
  confidence and lift; an order counts once per product however many lines carry it.
* ``kpi_cohort_retention``: customers grouped by the month of their first purchase, and the share
  of each group buying again in every later month. Read from the ``customer_month`` facts (one row
  per customer and month bought in), so no silver history is rescanned.

Ranks are ``RANK()`` over exact values; ratios are computed on exact decimals and rounded half-up
once (etl/gold/decimal_math.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.gold.common import (COUNT, MONEY, PERCENT, TRANSACTION_COLUMNS, UNKNOWN, check_run_date,
                             customers_as_of, month_of, month_start, require_columns)
from etl.gold.decimal_math import divide_half_up

RFM_COLUMNS = ["customer_id", "customer_name", "last_purchase_date", "recency_days", "frequency", "monetary",
               "r_score", "f_score", "m_score", "rfm_segment"]

RFM_DAYS = 365                # D-364 .. D
BASKET_DAYS = 90              # D-89 .. D
MIN_ORDERS_WITH_BOTH = 3
TOP_SCORE = 5
RATIO = "decimal(9,4)"
POS = "pos"                   # silver's channel name for the order events
LINE_COLUMNS = ("channel", "transaction_id", "transaction_date", "product_id", "is_revenue")
CUSTOMER_MONTH_COLUMNS = ("customer_id", "sales_month", "first_date")

# The first rule that matches names the segment (METRICS.md order: "New" before "Promising").
SEGMENTS = (
    ("Champions", lambda r, f: (r >= 4) & (f >= 4)),
    ("Loyal", lambda r, f: (r >= 3) & (f >= 3)),
    ("New", lambda r, f: (r == 5) & (f == 1)),
    ("Promising", lambda r, f: (r >= 4) & (f <= 2)),
    ("Needs Attention", lambda r, f: (r == 3) & (f <= 2)),
    ("At Risk", lambda r, f: (r <= 2) & (f >= 3)),
)
LOST = "Lost"


def _score(rank: str, customers: str) -> Column:
    """``1 + floor(5 (r - 1) / (n - 1))`` in integer arithmetic (``div`` is integral division, which
    floors the non-negative operands here), capped at 5; 1 when there is a single customer. ``rank``
    and ``customers`` name integer columns."""
    return F.expr(f"CASE WHEN {customers} = 1 THEN 1 "
                  f"ELSE least({TOP_SCORE}, 1 + ({TOP_SCORE} * ({rank} - 1)) div ({customers} - 1)) END").cast(COUNT)


def rfm_segment(r_score: Column, f_score: Column) -> Column:
    """The first segment of ``SEGMENTS`` whose rule holds, else ``Lost``."""
    segment = None
    for name, rule in SEGMENTS:
        condition = rule(r_score, f_score)
        segment = F.when(condition, F.lit(name)) if segment is None else segment.when(condition, F.lit(name))
    return segment.otherwise(F.lit(LOST))


def customer_rfm(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    """One row per known customer with a revenue transaction in ``D-364 .. D``. ``transactions``:
    silver transactions holding at least that window (``transactions_365d``; the customer_id is the
    canonical one, so deduplicated customers are already one); ``dim_customer``: names as of ``D``.

    r, f and m are ``RANK()`` of the customer among all ``n`` customers of the table by recency_days
    descending (the most recent buyer has the highest rank), frequency and monetary ascending."""
    require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    check_run_date(run_date)
    first = run_date - timedelta(days=RFM_DAYS - 1)
    customers = (transactions
                 .filter(F.col("is_revenue") & F.col("customer_id").isNotNull()
                         & F.col("transaction_date").between(F.lit(first), F.lit(run_date)))
                 .groupBy("customer_id")
                 .agg(F.max("transaction_date").alias("last_purchase_date"),
                      F.count(F.lit(1)).cast(COUNT).alias("frequency"),
                      F.sum("amount").alias("_monetary"))       # exact: a sum of DECIMAL(18,2)
                 .withColumn("recency_days", F.datediff(F.lit(run_date), F.col("last_purchase_date")).cast(COUNT)))
    everyone = Window.partitionBy()
    scored = (customers
              .withColumn("_n", F.count(F.lit(1)).over(everyone))
              .withColumn("_r", F.rank().over(Window.orderBy(F.col("recency_days").desc())))
              .withColumn("_f", F.rank().over(Window.orderBy(F.col("frequency").asc())))
              .withColumn("_m", F.rank().over(Window.orderBy(F.col("_monetary").asc())))
              .withColumn("r_score", _score("_r", "_n"))
              .withColumn("f_score", _score("_f", "_n"))
              .withColumn("m_score", _score("_m", "_n"))
              .withColumn("rfm_segment", rfm_segment(F.col("r_score"), F.col("f_score")))
              .withColumn("monetary", F.col("_monetary").cast(MONEY)))
    names = customers_as_of(dim_customer, run_date).select("customer_id", F.col("full_name").alias("customer_name"))
    return (scored.join(names, "customer_id", "left")
            .withColumn("customer_name", F.coalesce("customer_name", F.lit(UNKNOWN)))
            .select(*RFM_COLUMNS))


def kpi_basket_pairs_90d(sales_lines: DataFrame, transactions: DataFrame, products: DataFrame,
                         run_date: date) -> DataFrame:
    """Pairs of catalogue products (``product_id_a < product_id_b``) in at least 3 POS orders dated
    ``D-89 .. D``.

    ``sales_lines``: silver lines of at least that window; only revenue POS lines whose product_id is
    in ``products`` take part, and an order counts once per product. ``transactions``: silver
    transactions of at least that window (``transactions_365d``): "all POS orders" (the denominator
    of support and of each product's share) counts every revenue POS order of the window, also one
    whose items are all unmatched. ``products``: the catalogue (id, name).

    lift = support / (share_a x share_b) = both x N / (orders_a x orders_b), ranked exactly: the
    ordering key is that quotient of two integers at 19 decimal places (Spark's widest for
    DECIMAL(18,0) operands), which separates any two different lifts while orders_a x orders_b
    stays below 3 x 10^9 (about 55,000 orders per product in 90 days); equal lifts always tie."""
    require_columns(sales_lines, LINE_COLUMNS, "sales_lines")
    require_columns(transactions, (*TRANSACTION_COLUMNS, "transaction_id"), "transactions")
    require_columns(products, ("id", "name"), "products")
    check_run_date(run_date)
    first = run_date - timedelta(days=BASKET_DAYS - 1)

    def in_window(frame: DataFrame) -> DataFrame:
        return frame.filter((F.col("channel") == POS) & F.col("is_revenue")
                            & F.col("transaction_date").between(F.lit(first), F.lit(run_date)))

    catalogue = (products.filter(F.col("id").isNotNull())       # one name per id, the same every run
                 .groupBy(F.col("id").alias("product_id"))
                 .agg(F.coalesce(F.min("name"), F.lit(UNKNOWN)).alias("_name")))
    bought = (in_window(sales_lines)
              .join(F.broadcast(catalogue.select("product_id")), "product_id", "left_semi")
              .select("transaction_id", "product_id")
              .distinct())                                    # an order once per product
    orders = in_window(transactions).agg(F.countDistinct("transaction_id").alias("_orders"))
    per_product = bought.groupBy("product_id").agg(F.count(F.lit(1)).alias("_with"))
    a, b = bought.alias("a"), bought.alias("b")
    pairs = (a.join(b, (F.col("a.transaction_id") == F.col("b.transaction_id"))
                    & (F.col("a.product_id") < F.col("b.product_id")))
             .groupBy(F.col("a.product_id").alias("product_id_a"), F.col("b.product_id").alias("product_id_b"))
             .agg(F.count(F.lit(1)).alias("_both"))
             .filter(F.col("_both") >= MIN_ORDERS_WITH_BOTH))
    counts_a = per_product.select(F.col("product_id").alias("product_id_a"), F.col("_with").alias("_with_a"))
    counts_b = per_product.select(F.col("product_id").alias("product_id_b"), F.col("_with").alias("_with_b"))
    names_a = catalogue.select(F.col("product_id").alias("product_id_a"), F.col("_name").alias("product_name_a"))
    names_b = catalogue.select(F.col("product_id").alias("product_id_b"), F.col("_name").alias("product_name_b"))
    both, with_a, with_b, n = (F.col("_both").cast("long"), F.col("_with_a").cast("long"),
                               F.col("_with_b").cast("long"), F.col("_orders").cast("long"))
    exact_lift = (both * n).cast("decimal(18,0)") / (with_a * with_b).cast("decimal(18,0)")
    by_lift = Window.orderBy(F.col("_lift").desc())
    return (pairs.join(counts_a, "product_id_a").join(counts_b, "product_id_b")
            # left joins: the catalogue rule is the semi join above, in one place
            .join(F.broadcast(names_a), "product_id_a", "left").join(F.broadcast(names_b), "product_id_b", "left")
            .crossJoin(orders)
            .withColumn("_lift", exact_lift)
            .select(F.col("product_id_a").cast(COUNT).alias("product_id_a"), "product_name_a",
                    F.col("product_id_b").cast(COUNT).alias("product_id_b"), "product_name_b",
                    F.col("_both").cast(COUNT).alias("orders_with_both"),
                    divide_half_up(both, n, 4, RATIO).alias("support"),
                    divide_half_up(both, with_a, 4, RATIO).alias("confidence_a_to_b"),
                    divide_half_up(both, with_b, 4, RATIO).alias("confidence_b_to_a"),
                    divide_half_up(both * n, with_a * with_b, 4, RATIO).alias("lift"),
                    F.rank().over(by_lift).cast(COUNT).alias("lift_rank")))


def kpi_cohort_retention(customer_month: DataFrame, run_date: date) -> DataFrame:
    """One row per (cohort_month, month_offset) from each cohort's first month through ``D``'s month.

    ``customer_month``: the facts of etl/gold/facts.py (one row per known customer and month with a
    revenue transaction; ``first_date`` is the first such date in the month). A row counts only when
    ``first_date <= D``: that is exactly "bought in that month on or before D", so facts that reach
    past ``D`` are cut here too. A customer's cohort is the earliest month they bought in (any channel)."""
    require_columns(customer_month, CUSTOMER_MONTH_COLUMNS, "customer_month facts")
    check_run_date(run_date)
    bought = (customer_month
              .filter(F.col("customer_id").isNotNull() & (F.col("first_date") <= F.lit(run_date)))
              .select("customer_id", "sales_month")
              .distinct())
    cohorts = bought.groupBy("customer_id").agg(F.min("sales_month").alias("cohort_month"))
    sizes = cohorts.groupBy("cohort_month").agg(F.count(F.lit(1)).alias("cohort_size"))
    grid = sizes.select("cohort_month", "cohort_size",
                        F.posexplode(F.sequence(F.to_date(F.concat("cohort_month", F.lit("-01"))),
                                                F.lit(month_start(run_date)), F.expr("INTERVAL 1 MONTH")))
                        .alias("month_offset", "_month"))
    active = (bought.join(cohorts, "customer_id")
              .groupBy("cohort_month", "sales_month")
              .agg(F.count(F.lit(1)).alias("active_customers")))
    return (grid.withColumn("sales_month", month_of("_month"))
            .join(active, ["cohort_month", "sales_month"], "left")
            .withColumn("active_customers", F.coalesce("active_customers", F.lit(0)))
            .select("cohort_month", F.col("month_offset").cast(COUNT).alias("month_offset"), "sales_month",
                    F.col("cohort_size").cast(COUNT).alias("cohort_size"),
                    F.col("active_customers").cast(COUNT).alias("active_customers"),
                    divide_half_up(F.col("active_customers") * 100, F.col("cohort_size"), 2, PERCENT)
                    .alias("retention_pct")))
