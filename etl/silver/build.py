"""Silver stage: read bronze, apply the pure transformations, MERGE into silver.

Writes are MERGEs on business keys with change-only update conditions, so a
rerun over the same bronze content leaves every silver row as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from etl.config import Config
from etl.lake import table_uri
from etl.silver.reference import typed_reference
from etl.silver.sales import split_sales

log = logging.getLogger(__name__)
REFERENCE_FEEDS = ("stores", "products", "sales_team")


@dataclass
class SilverResult:
    rows_in: int
    rows_out: int
    rows_quarantined: int


def merge_into(spark: SparkSession, frame: DataFrame, uri: str, keys: list[str], changed_when: str | None) -> None:
    """Upsert ``frame`` on ``keys``; rows whose update condition is false are left untouched."""
    if not DeltaTable.isDeltaTable(spark, uri):
        frame.write.format("delta").save(uri)
        return
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    merge = DeltaTable.forPath(spark, uri).alias("t").merge(frame.alias("s"), on)
    if changed_when is not None:
        merge = merge.whenMatchedUpdateAll(condition=changed_when)
    merge.whenNotMatchedInsertAll().execute()


def build_silver(spark: SparkSession, cfg: Config, run_date: date) -> SilverResult:
    bronze_sales_uri = table_uri(cfg, "bronze", "sales")
    if not DeltaTable.isDeltaTable(spark, bronze_sales_uri):
        log.warning("silver: no bronze sales yet; nothing to do")
        return SilverResult(0, 0, 0)
    bronze = spark.read.format("delta").load(bronze_sales_uri)
    sales, quarantine = split_sales(bronze, run_date)
    merge_into(spark, sales, table_uri(cfg, "silver", "sales"), ["transaction_id"],
               changed_when="s.file_checksum <> t.file_checksum OR s.record_number <> t.record_number")
    merge_into(spark, quarantine, table_uri(cfg, "silver", "quarantine_sales"),
               ["file_checksum", "record_number"], changed_when=None)

    for feed in REFERENCE_FEEDS:
        uri = table_uri(cfg, "bronze", feed)
        if DeltaTable.isDeltaTable(spark, uri):
            typed_reference(spark.read.format("delta").load(uri), feed).write.format("delta") \
                .mode("overwrite").save(table_uri(cfg, "silver", feed))

    silver_sales = spark.read.format("delta").load(table_uri(cfg, "silver", "sales"))
    counts = SilverResult(
        rows_in=bronze.count(),
        rows_out=silver_sales.count(),
        rows_quarantined=spark.read.format("delta").load(table_uri(cfg, "silver", "quarantine_sales")).count(),
    )
    log.info("silver sales: %d bronze row(s) -> %d silver, %d quarantined",
             counts.rows_in, counts.rows_out, counts.rows_quarantined)
    return counts
