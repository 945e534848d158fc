"""In-store sales, bronze -> silver: typed, checked against the contract's rules, one row per sale.

Pure functions over DataFrames; ``etl/silver/build.py`` does the reading and the MERGE.
The rules themselves live in ``conf/quality_rules.yaml`` (feed ``sales``).

Conformed path (DATA_CONTRACT.md conformance rules -> ``transactions`` / ``sales_lines``)::

    typed = typed_sales(bronze)
    looked_up = with_sales_references(typed, products, id_map, stores, sales_team)
    checked = apply_rules(looked_up, rules["sales"], run_date, observation=obs)
    quarantine = quarantine_rows(checked, "sales", "transaction_id", run_id, run_date)
    transactions, lines = sales_to_silver(latest_per_transaction(passed(checked)))

The reference lookups come before the rules because the warn rules (unknown
customer, store, salesperson, product) are conditions on their results.
"""

from __future__ import annotations


from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts import sales as contract
from etl.contracts.silver import POS_ORDER_FIELDS, SALES_LINES, SUCCESS, TRANSACTIONS
from etl.quality.rules import WARNINGS, bronze_row
from etl.silver.conform import (CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD, PRODUCT_ID, match_product_by_name,
                                require_columns, to_schema)



def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def typed_sales(bronze: DataFrame) -> DataFrame:
    """Bronze strings -> typed columns (null where a value does not parse) and the transaction id.

    Without ``sale_id`` the id is derived from the file's content checksum and the
    record number, so the same file always yields the same ids.
    """
    parsed = {
        name: (F.try_to_date(F.trim(F.col(name)), "yyyy-MM-dd") if name == "sales_date"
               else F.trim(F.col(name)) if name == "product_name"
               else F.expr(f"try_cast(trim({name}) AS {dtype.simpleString()})"))
        for name, dtype in contract.TYPED_COLUMNS.items()
    }
    transaction_id = F.coalesce(
        F.when(~_blank("sale_id"), F.trim(F.col("sale_id"))),
        F.concat(F.lit("S-"), F.sha2(F.concat_ws(":", "file_checksum", "record_number"), 256).substr(1, 32)),
    )
    return bronze.select(
        transaction_id.alias("transaction_id"),
        *[parsed[name].alias(name) for name in contract.TYPED_COLUMNS],
        *[F.col(name).alias(f"_raw_{name}") for name in contract.MANDATORY],
        "raw_record", "additional_columns", "source_file", "record_number", "file_checksum", "run_id",
        bronze_row(bronze),
    )


def latest_per_transaction(valid: DataFrame) -> DataFrame:
    """The same ``sale_id`` seen again replaces the earlier version: keep the last delivered one."""
    newest_first = Window.partitionBy("transaction_id").orderBy(
        F.col("run_id").desc(), F.col("source_file").desc(), F.col("record_number").desc())
    return valid.withColumn("_n", F.row_number().over(newest_first)).filter("_n = 1").drop("_n")


# -- conformed silver: transactions and sales_lines ------------------------------------------------

def _known_ids(reference: DataFrame, id_col: str, flag: str) -> DataFrame:
    return reference.select(F.col(id_col).alias("_id")).filter(F.col("_id").isNotNull()).distinct() \
        .withColumn(flag, F.lit(True))


def with_sales_references(typed: DataFrame, products: DataFrame, id_map: DataFrame, stores: DataFrame,
                          sales_team: DataFrame) -> DataFrame:
    """``typed_sales`` output plus what the warn rules and silver need from the reference data.

    Adds ``product_id``, ``catalogue_name``, ``catalogue_sku_id``, ``match_method``
    (product by name, trimmed, case-insensitive), ``canonical_customer_id`` (from
    ``id_map``: CUSTOMER_ID_MAP), and ``customer_known`` / ``store_known`` /
    ``sales_person_known`` booleans (the id is in the customers / stores /
    sales_team reference). ``stores`` and ``sales_team`` need an ``id`` column.
    """
    require_columns(typed, ("customer_id", "store_id", "sales_person_id", "product_name"), "typed sales")
    require_columns(id_map, ("customer_id", "canonical_customer_id"), "customer_id_map")
    require_columns(stores, ("id",), "stores")
    require_columns(sales_team, ("id",), "sales_team")
    mapping = id_map.select(F.col("customer_id").alias("_id"), "canonical_customer_id").dropDuplicates(["_id"])
    joined = typed
    for reference, key, flag in ((stores, "store_id", "store_known"), (sales_team, "sales_person_id",
                                                                         "sales_person_known")):
        known = _known_ids(reference, "id", flag)
        joined = (joined.join(F.broadcast(known), joined[key] == known["_id"], "left").drop("_id")
                  .withColumn(flag, F.coalesce(F.col(flag), F.lit(False))))
    joined = (joined.join(F.broadcast(mapping), joined["customer_id"] == mapping["_id"], "left").drop("_id")
              .withColumn("customer_known", F.col("canonical_customer_id").isNotNull()))
    return match_product_by_name(joined, products, "product_name")


def sales_to_silver(valid_sales: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Checked, error-free, one-row-per-sale sales -> (TRANSACTIONS, SALES_LINES) frames, exactly those schemas.

    ``valid_sales``: ``with_sales_references`` + ``apply_rules`` output, rows that passed
    every error rule, latest version per ``transaction_id``. One sale is one
    transaction with one line: channel ``store``, amount ``total_cost``, units
    ``quantity``, status Success, customer mapped to its canonical id (the id as
    delivered while the customer is not yet in the reference: late-arriving
    dimension), product matched by name (the raw name when unmatched).
    """
    require_columns(valid_sales, ("transaction_id", *contract.TYPED_COLUMNS, "canonical_customer_id", PRODUCT_ID,
                                  CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD, WARNINGS, "source_file",
                                  "record_number", "run_id"), "valid sales")
    common = valid_sales.select(
        F.lit("store").alias("channel"),
        "transaction_id",
        F.coalesce("canonical_customer_id", "customer_id").alias("customer_id"),
        "store_id",
        "sales_person_id",
        F.col("sales_date").alias("transaction_date"),
        F.lit(None).cast("timestamp").alias("transaction_ts"),
        F.col("total_cost").alias("amount"),
        F.col("quantity").alias("units"),
        F.lit(SUCCESS).alias("status"),
        F.lit(True).alias("is_revenue"),
        WARNINGS,
        F.lit(1).alias("line_number"),
        PRODUCT_ID,
        F.coalesce(CATALOGUE_NAME, "product_name").alias("product_name"),
        F.col(CATALOGUE_SKU).alias("sku_id"),
        MATCH_METHOD,
        "quantity",
        F.col("price").alias("unit_price"),
        "source_file", "record_number", "run_id",
        *[F.lit(None).cast("string").alias(f.name) for f in POS_ORDER_FIELDS],   # POS only
    )
    return (to_schema(common, TRANSACTIONS, "store transactions"),
            to_schema(common, SALES_LINES, "store sales lines"))
