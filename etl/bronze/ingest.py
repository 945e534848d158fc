"""Landing -> bronze: every file once, every record once, nothing lost.

For each feed the stage takes a snapshot of the landing prefix (a file that
lands later waits for the next run), hashes every file (streamed), and then:

* content already in bronze under another name -> ``skipped_duplicate``;
* a file that fails the file-level checks (empty, not text, wrong format,
  missing a mandatory column) -> ``rejected``: manifest row, a sidecar with the
  reason, and the file moved to ``rejected/<key>``; nothing of it reaches bronze;
* the rest -> read with an explicit schema and appended to bronze in one
  commit, then ``ingested`` manifest rows, then moved to ``archive/<key>``.

Bronze is the source of truth for "already ingested": a run that stopped after
the bronze commit but before its manifest rows or its archive moves is
completed by the next run (the file's checksum is in bronze, so it is
recorded and archived, not read again). That makes every step safe to repeat.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.bronze import manifest
from etl.bronze.csv_feed import CsvHeader, conform_to_bronze, header_problem, parse_header, read_csv_group
from etl.bronze.manifest import DUPLICATE, INGESTED, REJECTED, ManifestEntry
from etl.storage import ObjectStore, StoredFile

log = logging.getLogger(__name__)

ARCHIVE = "archive"
REJECTED_AREA = "rejected"
# Test hook: simulate the process being killed at a named point (see tests/integration/test_ingest.py).
CRASH_ENV = "ETL_TEST_CRASH_AT"


@dataclass(frozen=True)
class CsvFeed:
    """What ingestion needs to know about one CSV feed (from etl/contracts)."""

    name: str
    known_columns: tuple[str, ...]
    mandatory: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class FeedIngestResult:
    feed: str
    ingested: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    rows: int = 0
    table_version: int | None = None


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        log.error("test hook %s=%s: stopping the process here", CRASH_ENV, name)
        os._exit(70)


def known_checksums(spark: SparkSession, table_uri: str) -> set[str]:
    """Checksums already in a bronze table: one row per file, small."""
    if not DeltaTable.isDeltaTable(spark, table_uri):
        return set()
    rows = spark.read.format("delta").load(table_uri).select("file_checksum").distinct().collect()
    return {r.file_checksum for r in rows}


def text_file_problem(head: bytes, size: int) -> str | None:
    """File-level checks common to the text feeds, on the first bytes only."""
    if size == 0:
        return "empty file"
    if b"\x00" in head:
        return "not a text file (binary content)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            return f"not UTF-8 text (invalid byte at offset {exc.start})"
    return None


def csv_file_problem(landing: ObjectStore, stored: StoredFile, feed: CsvFeed) -> tuple[str | None, CsvHeader]:
    head = landing.head_bytes(stored.key) if stored.size else b""
    problem = text_file_problem(head, stored.size)
    if problem:
        return problem, CsvHeader((), ())
    header = parse_header(landing.first_line(stored.key), feed.aliases)
    return header_problem(header, feed.mandatory), header


def _reject(landing: ObjectStore, stored: StoredFile, feed: str, checksum: str, reason: str, run_id: str) -> None:
    sidecar = {"file": stored.key, "feed": feed, "reason": reason, "checksum": checksum, "size": stored.size,
               "run_id": run_id}
    landing.put_text(f"{REJECTED_AREA}/{stored.key}.reason.json", json.dumps(sidecar, indent=2) + "\n")
    landing.move(stored.key, f"{REJECTED_AREA}/{stored.key}")


def _read_csv_batch(spark: SparkSession, landing: ObjectStore, feed: CsvFeed,
                    files: list[tuple[StoredFile, str, CsvHeader]], run_id: str,
                    ingested_at: datetime) -> DataFrame:
    groups: dict[CsvHeader, list[tuple[StoredFile, str]]] = defaultdict(list)
    for stored, checksum, header in files:
        groups[header].append((stored, checksum))
    frames = []
    for header, members in groups.items():
        raw = read_csv_group(spark, [stored.uri for stored, _ in members], header)
        files_df = spark.createDataFrame([(stored.key, checksum) for stored, checksum in members],
                                         "source_file string, file_checksum string")
        frames.append(conform_to_bronze(raw, header, feed.known_columns, files_df, landing.root,
                                        run_id, ingested_at))
    batch = frames[0]
    for frame in frames[1:]:
        batch = batch.unionByName(frame)
    return batch


def _rows_per_checksum(spark: SparkSession, table_uri: str, condition) -> dict[str, int]:
    rows = (spark.read.format("delta").load(table_uri).filter(condition)
            .groupBy("file_checksum").count().collect())
    return {r.file_checksum: r["count"] for r in rows}


def ingest_csv_feed(spark: SparkSession, landing: ObjectStore, feed: CsvFeed, table_uri: str,
                    manifest_uri: str, run_id: str, ingested_at: datetime) -> FeedIngestResult:
    result = FeedIngestResult(feed.name)
    seen = {(e.path, e.checksum): e for e in manifest.read_entries(spark, manifest_uri, feed.name)}
    first_path = {e.checksum: e.path for e in seen.values() if e.status == INGESTED}
    in_bronze = known_checksums(spark, table_uri)

    entries: list[ManifestEntry] = []
    to_read: list[tuple[StoredFile, str, CsvHeader]] = []
    to_archive: list[str] = []
    recovered: list[tuple[StoredFile, str]] = []
    batch: set[str] = set()

    def entry(stored: StoredFile, checksum: str, status: str, **extra) -> ManifestEntry:
        return ManifestEntry(feed.name, stored.key, stored.size, checksum, run_id, status, **extra)

    for stored in landing.list(f"{feed.name}/"):
        checksum = landing.sha256(stored.key)
        recovered_checksums = {c for _, c in recovered}
        if (checksum in in_bronze and checksum not in recovered_checksums
                and first_path.get(checksum, stored.key) == stored.key
                and not landing.exists(f"{ARCHIVE}/{stored.key}")):
            # Committed to bronze by a run that stopped before archiving it: finish the bookkeeping.
            recovered.append((stored, checksum))
            to_archive.append(stored.key)
        elif checksum in in_bronze or checksum in batch:
            entries.append(entry(stored, checksum, DUPLICATE, reason="same content as an ingested file"))
            result.duplicates.append(stored.key)
            to_archive.append(stored.key)
        else:
            problem, header = csv_file_problem(landing, stored, feed)
            if problem:
                manifest.record(spark, manifest_uri, [entry(stored, checksum, REJECTED, reason=problem)],
                                ingested_at)
                _reject(landing, stored, feed.name, checksum, problem, run_id)
                result.rejected[stored.key] = problem
                log.warning("rejected %s: %s", stored.key, problem)
            else:
                batch.add(checksum)
                to_read.append((stored, checksum, header))

    if recovered:
        counts = _rows_per_checksum(spark, table_uri, F.col("file_checksum").isin([c for _, c in recovered]))
        for stored, checksum in recovered:
            if (stored.key, checksum) not in seen:
                entries.append(entry(stored, checksum, INGESTED, rows_read=counts.get(checksum, 0)))
            result.recovered.append(stored.key)

    if to_read:
        _read_csv_batch(spark, landing, feed, to_read, run_id, ingested_at) \
            .write.format("delta").mode("append").save(table_uri)
        version = DeltaTable.forPath(spark, table_uri).history(1).first().version
        _crash_point("after_bronze_commit")
        counts = _rows_per_checksum(spark, table_uri, F.col("run_id") == run_id)
        for stored, checksum, _ in to_read:
            entries.append(entry(stored, checksum, INGESTED, rows_read=counts.get(checksum, 0),
                                 bronze_version=version))
            result.ingested.append(stored.key)
            result.rows += counts.get(checksum, 0)
            to_archive.append(stored.key)
        result.table_version = version

    manifest.record(spark, manifest_uri, entries, ingested_at)
    _crash_point("after_manifest")
    for key in to_archive:
        landing.move(key, f"{ARCHIVE}/{key}")
    log.info("bronze %s: %d file(s) ingested (%d row(s)), %d rejected, %d duplicate, %d recovered",
             feed.name, len(result.ingested), result.rows, len(result.rejected), len(result.duplicates),
             len(result.recovered))
    return result
