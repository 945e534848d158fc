"""Reference data (stores, products, sales_team), bronze -> silver.

Each delivery is a full snapshot; for each id the row from the most recently
ingested file wins, so a later run fills in what an earlier one did not know
(late-arriving reference data) and a re-delivered file changes nothing.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts.reference import COLUMNS


def typed_reference(bronze: DataFrame, feed: str) -> DataFrame:
    """Latest version of every id, typed; rows whose id does not parse are left out of silver."""
    typed = bronze.select(
        *[(F.try_to_date(F.trim(F.col(name)), "yyyy-MM-dd") if dtype.typeName() == "date"
           else F.trim(F.col(name)) if dtype.typeName() == "string"
           else F.expr(f"try_cast(trim({name}) AS {dtype.simpleString()})")).alias(name)
          for name, dtype in COLUMNS[feed].items()],
        "ingested_at", "source_file", "record_number",
    )
    newest_first = Window.partitionBy("id").orderBy(
        F.col("ingested_at").desc(), F.col("source_file").desc(), F.col("record_number").desc())
    return (typed.filter(F.col("id").isNotNull())
            .withColumn("_n", F.row_number().over(newest_first))
            .filter("_n = 1")
            .select(*COLUMNS[feed]))
