"""Landing -> bronze for the CSV feeds: list, hash, check headers, read, append once.

A file is identified by its content checksum; a checksum already in the bronze
table is not ingested again (the same file re-delivered, under any name), so a
rerun appends nothing. Rejected files are reported with their reason and
nothing of them reaches bronze.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.bronze.csv_feed import CsvHeader, conform_to_bronze, header_problem, parse_header, read_csv_group
from etl.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass
class FeedIngestResult:
    feed: str
    ingested: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    rows: int = 0
    table_version: int | None = None


def known_checksums(spark: SparkSession, table_uri: str) -> set[str]:
    """Checksums already in a bronze table: one row per file, small."""
    if not DeltaTable.isDeltaTable(spark, table_uri):
        return set()
    rows = spark.read.format("delta").load(table_uri).select("file_checksum").distinct().collect()
    return {r.file_checksum for r in rows}


def ingest_csv_feed(spark: SparkSession, landing: ObjectStore, feed: str, known_columns: tuple[str, ...],
                    mandatory: tuple[str, ...], aliases: dict[str, str], table_uri: str,
                    run_id: str, ingested_at: datetime) -> FeedIngestResult:
    result = FeedIngestResult(feed)
    seen = known_checksums(spark, table_uri)
    groups: dict[CsvHeader, list[tuple[str, str, str]]] = defaultdict(list)
    for stored in landing.list(f"{feed}/"):
        checksum = landing.sha256(stored.key)
        if checksum in seen:
            result.duplicates.append(stored.key)
            continue
        seen.add(checksum)
        header = parse_header(landing.first_line(stored.key), aliases) if stored.size else CsvHeader((), ())
        problem = header_problem(header, mandatory)
        if problem:
            result.rejected[stored.key] = problem
            log.warning("rejected %s: %s", stored.key, problem)
            continue
        groups[header].append((stored.uri, stored.key, checksum))

    frames = []
    for header, files in groups.items():
        raw = read_csv_group(spark, [uri for uri, _, _ in files], header)
        files_df = spark.createDataFrame([(key, checksum) for _, key, checksum in files],
                                         "source_file string, file_checksum string")
        frames.append(conform_to_bronze(raw, header, known_columns, files_df, landing.root, run_id, ingested_at))
        result.ingested.extend(key for _, key, _ in files)

    if frames:
        batch = frames[0]
        for frame in frames[1:]:
            batch = batch.unionByName(frame)
        batch.write.format("delta").mode("append").save(table_uri)
        metrics = DeltaTable.forPath(spark, table_uri).history(1).select("version", "operationMetrics").first()
        result.table_version = metrics.version
        result.rows = int(metrics.operationMetrics.get("numOutputRows", 0))
    log.info("bronze %s: %d file(s) ingested, %d rejected, %d duplicate, %d row(s)",
             feed, len(result.ingested), len(result.rejected), len(result.duplicates), result.rows)
    return result
