"""The file manifest (``<lake>/ops/file_manifest``): one row per (feed, landing path, checksum).

Every file the ingest stage sees gets a row: ``ingested`` (with rows read and
the bronze version that holds them), ``rejected`` (with the reason) or
``skipped_duplicate`` (its content is already in bronze under another name).
Rows are MERGEd on (feed, path, checksum, status), so recording the same fact
twice, as a run recovering from a crash does, changes nothing, while the same
file re-delivered after it was archived adds one ``skipped_duplicate`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from etl import delta_io
from etl.errors import MissingTableError

INGESTED = "ingested"
REJECTED = "rejected"
DUPLICATE = "skipped_duplicate"

SCHEMA = StructType([
    StructField("feed", StringType(), False),
    StructField("path", StringType(), False),
    StructField("size", LongType(), False),
    StructField("checksum", StringType(), False),
    StructField("run_id", StringType(), False),
    StructField("status", StringType(), False),
    StructField("reason", StringType(), True),
    StructField("rows_read", LongType(), True),
    StructField("bronze_version", LongType(), True),
    StructField("recorded_at", TimestampType(), False),
])


@dataclass(frozen=True)
class ManifestEntry:
    feed: str
    path: str
    size: int
    checksum: str
    run_id: str
    status: str
    reason: str | None = None
    rows_read: int | None = None
    bronze_version: int | None = None


def read_entries(spark: SparkSession, uri: str, feed: str | None = None) -> list[ManifestEntry]:
    """The manifest rows of one feed, or of all (one row per file ever seen: small next to the data)."""
    try:
        table = delta_io.read(spark, uri)
    except MissingTableError:       # no file recorded yet
        return []
    if feed is not None:
        table = table.filter(F.col("feed") == feed)
    rows = table.drop("recorded_at").collect()
    return [ManifestEntry(**row.asDict()) for row in rows]


def record(spark: SparkSession, uri: str, entries: list[ManifestEntry], recorded_at: datetime) -> None:
    """Insert new facts; a row already there keeps its first run id and is left as it is."""
    if not entries:
        return
    frame = spark.createDataFrame(
        [(e.feed, e.path, e.size, e.checksum, e.run_id, e.status, e.reason, e.rows_read, e.bronze_version,
          recorded_at) for e in entries], SCHEMA)
    # Insert-only: the rows whose key is not recorded yet are appended (no MERGE; nothing new, no commit).
    delta_io.upsert(spark, frame.coalesce(1), uri, ["feed", "path", "checksum", "status"], name="file_manifest",
                    changed_when=None)
