"""Online orders (XML), bronze -> silver: typed, matched to customer and product, one row per order.

One ``<order>`` is one transaction of one SKU (DATA_CONTRACT.md, orders). The
customer is found by normalised phone among the customers' *current* records;
no match leaves the order anonymous (it still counts in revenue). The product
is found by SKU; an unknown SKU keeps the line, flagged, with the SKU as name.

Flow::

    typed = typed_orders(bronze)
    looked_up = with_order_references(typed, products, dim_customer)
    checked = apply_rules(looked_up, rules["orders"], run_date, observation=obs)
    quarantine = quarantine_rows(checked, "orders", "order_id", run_id, run_date)
    transactions, lines = orders_to_silver(latest_per_order(passed(checked)))
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts import orders as contract
from etl.contracts.silver import POS_ORDER_FIELDS, SALES_LINES, SUCCESS, TRANSACTIONS
from etl.quality.rules import WARNINGS, bronze_row
from etl.silver.conform import (CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD, PRODUCT_ID, match_product_by_sku,
                                normalise_phone, require_columns, strip, to_schema)


def typed_orders(bronze: DataFrame) -> DataFrame:
    """Bronze orders (strings as they landed) -> typed columns next to the raw strings.

    Texts are trimmed, blank as null (``order_id``, ``mobile_number``, ``sku_id``);
    ``phone`` is the normalised mobile number (10 digits or null);
    ``order_date_time`` a UTC timestamp, ``sku_count`` int, ``total_amount``
    DECIMAL(18,2), each null when missing or unparseable; ``_raw_<element>``
    the text as it landed, ``raw_record``, lineage and ``_bronze``.
    """
    require_columns(bronze, contract.BRONZE_SCHEMA.fieldNames(), "bronze orders")
    return bronze.select(
        strip("order_id").alias("order_id"),
        strip("mobile_number").alias("mobile_number"),
        normalise_phone("mobile_number").alias("phone"),
        F.try_to_timestamp(strip("order_date_time"), F.lit(contract.TIMESTAMP_FORMAT)).alias("order_date_time"),
        strip("sku_id").alias("sku_id"),
        strip("sku_count").try_cast("int").alias("sku_count"),
        strip("total_amount").try_cast(contract.TYPED_COLUMNS["total_amount"]).alias("total_amount"),
        *[F.col(c).alias(f"_raw_{c}") for c in contract.MANDATORY],
        "raw_record", "source_file", "record_number", "file_checksum", "run_id",
        bronze_row(bronze),
    )


def current_phones(dim_customer: DataFrame) -> DataFrame:
    """(phone, customer_id) of the customers' current versions; the lowest id where two share a phone."""
    require_columns(dim_customer, ("customer_id", "phone_number", "is_current"), "dim_customer")
    return (dim_customer.filter(F.col("is_current") & F.col("phone_number").isNotNull())
            .groupBy(F.col("phone_number").alias("_phone"))
            .agg(F.min("customer_id").alias("customer_id")))


def with_order_references(typed: DataFrame, products: DataFrame, dim_customer: DataFrame) -> DataFrame:
    """``typed_orders`` output plus ``customer_id`` (canonical, null = anonymous: no valid phone or no
    current customer with it) and the product by SKU (``product_id``, ``catalogue_name``,
    ``catalogue_sku_id``, ``match_method``)."""
    require_columns(typed, ("phone", "sku_id"), "typed orders")
    if "customer_id" in typed.columns:
        raise ValueError("typed orders already have a customer_id column")
    phones = current_phones(dim_customer)
    with_customer = (typed.join(F.broadcast(phones), typed["phone"] == phones["_phone"], "left")
                     .drop("_phone"))
    return match_product_by_sku(with_customer, products, "sku_id")


def latest_per_order(valid: DataFrame) -> DataFrame:
    """The same ``order_id`` seen again replaces the earlier version: keep the last delivered one."""
    newest_first = Window.partitionBy("order_id").orderBy(
        F.col("run_id").desc(), F.col("source_file").desc(), F.col("record_number").desc())
    return valid.withColumn("_n", F.row_number().over(newest_first)).filter("_n = 1").drop("_n")


def orders_to_silver(valid_orders: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Checked, error-free, one-row-per-order orders -> (TRANSACTIONS, SALES_LINES), exactly those schemas.

    Channel ``online``; transaction date and time from ``order_date_time`` (UTC);
    amount ``total_amount``; units ``sku_count``; status Success; no store and no
    salesperson. One line per order: the product by SKU, its catalogue name (the
    SKU when unmatched), no unit price (the feed has none; a derived one would be
    inexact).
    """
    require_columns(valid_orders, ("order_id", "order_date_time", "sku_id", "sku_count", "total_amount",
                                   "customer_id", PRODUCT_ID, CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD,
                                   WARNINGS, "source_file", "record_number", "run_id"), "valid orders")
    common = valid_orders.select(
        F.lit("online").alias("channel"),
        F.col("order_id").alias("transaction_id"),
        "customer_id",
        F.lit(None).cast("int").alias("store_id"),
        F.lit(None).cast("int").alias("sales_person_id"),
        F.to_date("order_date_time").alias("transaction_date"),
        F.col("order_date_time").alias("transaction_ts"),
        F.col("total_amount").alias("amount"),
        F.col("sku_count").alias("units"),
        F.lit(SUCCESS).alias("status"),
        F.lit(True).alias("is_revenue"),
        WARNINGS,
        F.lit(1).alias("line_number"),
        PRODUCT_ID,
        F.coalesce(CATALOGUE_NAME, "sku_id").alias("product_name"),
        F.coalesce(CATALOGUE_SKU, "sku_id").alias("sku_id"),
        MATCH_METHOD,
        F.col("sku_count").alias("quantity"),
        F.lit(None).cast(contract.TYPED_COLUMNS["total_amount"]).alias("unit_price"),
        "source_file", "record_number", "run_id",
        *[F.lit(None).cast("string").alias(f.name) for f in POS_ORDER_FIELDS],   # POS only
    )
    return (to_schema(common, TRANSACTIONS, "online transactions"),
            to_schema(common, SALES_LINES, "online sales lines"))
