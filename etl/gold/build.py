"""Gold stage: read silver, compute every table of the registry (``etl/gold/marts.py``), write gold.

Each gold table is a function of silver and the run date only, so it is
rewritten whole for the run date (ordered by its total sort order, one file)
and a rerun produces the same content. The anomalous days of
``kpi_daily_sales`` are returned for the run summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from etl.config import Config
from etl.contracts import silver as contract
from etl.gold.marts import GOLD_TABLES, build_all
from etl.lake import table_uri

log = logging.getLogger(__name__)

# When a silver table does not exist yet (a feed never delivered), gold sees it empty.
EMPTY_INPUTS = {
    "transactions": contract.TRANSACTIONS,
    "sales_lines": contract.SALES_LINES,
    "dim_customer": contract.DIM_CUSTOMER,
    "sales_team": "id int, first_name string, last_name string",
    "products": "id int, name string, sku_id string",
}


@dataclass
class GoldResult:
    counts: dict[str, int] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)


def silver_inputs(spark: SparkSession, cfg: Config) -> dict[str, DataFrame]:
    frames = {}
    for name, schema in EMPTY_INPUTS.items():
        uri = table_uri(cfg, "silver", name)
        frames[name] = (spark.read.format("delta").load(uri) if DeltaTable.isDeltaTable(spark, uri)
                        else spark.createDataFrame([], schema))
    return frames


def build_gold(spark: SparkSession, cfg: Config, run_date: date) -> GoldResult:
    result = GoldResult()
    for name, frame in build_all(silver_inputs(spark, cfg), run_date, cfg.gold.incentive_rate).items():
        uri = table_uri(cfg, "gold", name)
        (frame.coalesce(1).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri))
        result.locations[name] = uri
        result.counts[name] = int(DeltaTable.forPath(spark, uri).history(1).first()
                                  .operationMetrics.get("numOutputRows", 0))
        log.info("gold %s: %d row(s) for run date %s", name, result.counts[name], run_date)
    alerts = spark.read.format("delta").load(table_uri(cfg, "gold", "alerts"))
    result.alerts = [f"{r.date}: revenue_7d {r.revenue} against {r.expected} expected ({r.reason})"
                     for r in alerts.filter(alerts.date == run_date).collect()]   # at most one row
    return result


__all__ = ["GOLD_TABLES", "GoldResult", "build_gold"]
