"""In-store sales, bronze -> silver: typed, checked against the contract's rules, one row per sale.

Pure functions over DataFrames; ``etl/silver/build.py`` does the reading and the MERGE.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts import sales as contract

EARLIEST_SALES_DATE = date(2000, 1, 1)


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
    )


def error_rules(run_date: date) -> dict[str, Column]:
    """DATA_CONTRACT.md, sales error rules: name -> condition that is true when the row breaks it."""
    rules = {"malformed_record": F.col("raw_record").isNotNull()}
    for name in contract.MANDATORY:
        rules[f"missing_or_unparseable_{name}"] = _blank(f"_raw_{name}") | F.col(name).isNull()
    rules.update({
        "quantity_not_positive": F.col("quantity") <= 0,
        "price_negative": F.col("price") < 0,
        "total_cost_negative": F.col("total_cost") < 0,
        "total_cost_mismatch": F.abs(F.col("price") * F.col("quantity") - F.col("total_cost")) > F.lit(0.01).cast("decimal(4,2)"),
        "sales_date_out_of_range": (F.col("sales_date") > F.lit(run_date)) | (F.col("sales_date") < F.lit(EARLIEST_SALES_DATE)),
    })
    return rules


def failed_rules(rules: dict[str, Column]) -> Column:
    """Array of the names of every rule a row breaks (a null condition counts as passed)."""
    flagged = F.array(*[F.when(F.coalesce(cond, F.lit(False)), F.lit(name)) for name, cond in rules.items()])
    return F.filter(flagged, lambda name: name.isNotNull())


def validate_sales(typed: DataFrame, run_date: date) -> DataFrame:
    """Adds ``failed_rules``; a row with any failed error rule goes to quarantine."""
    return typed.withColumn("failed_rules", failed_rules(error_rules(run_date)))


def latest_per_transaction(valid: DataFrame) -> DataFrame:
    """The same ``sale_id`` seen again replaces the earlier version: keep the last delivered one."""
    newest_first = Window.partitionBy("transaction_id").orderBy(
        F.col("run_id").desc(), F.col("source_file").desc(), F.col("record_number").desc())
    return valid.withColumn("_n", F.row_number().over(newest_first)).filter("_n = 1").drop("_n")


SILVER_COLUMNS = ["transaction_id", *contract.TYPED_COLUMNS, "additional_columns",
                  "source_file", "record_number", "file_checksum", "run_id"]
QUARANTINE_COLUMNS = ["transaction_id", *[f"_raw_{c}" for c in contract.MANDATORY], "raw_record",
                      "failed_rules", "source_file", "record_number", "file_checksum", "run_id"]


def split_sales(bronze: DataFrame, run_date: date) -> tuple[DataFrame, DataFrame]:
    """(silver rows, quarantine rows) for a batch of bronze sales."""
    checked = validate_sales(typed_sales(bronze), run_date)
    good = checked.filter(F.size("failed_rules") == 0)
    bad = checked.filter(F.size("failed_rules") > 0)
    silver = latest_per_transaction(good).select(*SILVER_COLUMNS)
    quarantine = bad.select(*QUARANTINE_COLUMNS)
    for name in contract.MANDATORY:
        quarantine = quarantine.withColumnRenamed(f"_raw_{name}", name)
    return silver, quarantine
