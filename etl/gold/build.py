"""Gold stage: read silver, compute the marts (pure functions), overwrite gold.

Each gold table is a function of silver and the run date only, so it is
rewritten whole for the run date and a rerun produces the same content.
"""

from __future__ import annotations

import logging
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.config import Config
from etl.lake import table_uri
from etl.gold.sales_team import sales_team_mart

log = logging.getLogger(__name__)
GOLD_TABLES = ("sales_team_data_mart",)


def _silver_or_empty(spark: SparkSession, cfg: Config, table: str, schema: str):
    uri = table_uri(cfg, "silver", table)
    if DeltaTable.isDeltaTable(spark, uri):
        return spark.read.format("delta").load(uri)
    return spark.createDataFrame([], schema)


def build_gold(spark: SparkSession, cfg: Config, run_date: date) -> dict[str, int]:
    sales = _silver_or_empty(spark, cfg, "sales",
                             "store_id int, sales_person_id int, sales_date date, total_cost decimal(18,2)")
    team = _silver_or_empty(spark, cfg, "sales_team", "id int, first_name string, last_name string")
    store_sales = sales.select("store_id", "sales_person_id", "sales_date", F.col("total_cost").alias("amount"))
    mart = sales_team_mart(store_sales, team, run_date, cfg.gold.incentive_rate)
    uri = table_uri(cfg, "gold", "sales_team_data_mart")
    (mart.orderBy("store_id", "sales_person_id", "sales_month").coalesce(1)
     .write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri))
    count = spark.read.format("delta").load(uri).count()
    log.info("gold sales_team_data_mart: %d row(s) for run date %s", count, run_date)
    return {"sales_team_data_mart": count}
