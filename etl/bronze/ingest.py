"""Landing -> bronze: every file once, every record once, nothing lost.

The stage takes one snapshot of every feed's landing prefix when it starts (a
file that lands later waits for the next run), hashes every file (streamed,
several at a time), and then, per feed (``etl/bronze/feeds.py`` says how each
format is checked and read):

* content already in bronze under another name -> ``skipped_duplicate``;
* a key Spark could misread (glob characters, ``..``, control characters:
  ``etl/bronze/keys.py``) -> ``rejected`` by name, before any check, whatever its
  content; it moves to an escaped key under ``rejected/``;
* a file that fails the file-level checks (empty, not UTF-8 anywhere in it, wrong
  format, missing a mandatory column, an XLSX past a limit or unreadable in any row,
  ...) -> ``rejected``: manifest row, a sidecar with the reason, and the file moved to
  ``rejected/<key>``; nothing of it reaches bronze. Whatever goes wrong while one
  file is judged rejects that file only (an error of the object store or of this
  machine still stops the run: it is no file's fault);
* the rest -> read with an explicit schema and appended to the feed's bronze
  table in one commit; a non-empty file that gave no record there is then rejected
  too (``no records: ...``), as nothing of it is in bronze.

Then one manifest MERGE records every ingested and duplicate file of every
feed, and only then are the files moved to ``archive/<key>``.

What is "already ingested" is bronze's content, known without reading it:
the manifest lists every ingested file with the bronze version that holds it,
and the only bronze rows it can miss are those of a run that stopped after a
bronze commit but before its manifest MERGE. Such a commit is newer than the
newest version the manifest records for the feed and carries its run's id in
``userMetadata``; the stage reads the bronze log's latest commit (and, only
when it is newer than the manifest knows, the commits since), and reads bronze
rows only for the run ids of unrecorded appends (``unrecorded_commits``,
``unrecorded_checksums``). So a run that stopped after a bronze commit but
before its manifest rows or its archive moves is completed by the next run
(the file's checksum is found, so it is recorded, with that bronze version,
and archived, not read again), and every step is safe to repeat. On a run with
nothing to recover no bronze data is read at all, not even after its own
append: the rows of each file are counted as the append writes them
(``append_counted``).

Bounds of that check: only appends newer than the manifest's newest recorded
version are looked for. A stopped run's append is recorded by the next run
that finds its files in landing; if its files had also left landing by hand,
the next successful run records a newer version and that older append's
checksums are no longer known (a later copy of the same content would be
ingested again). An append written before ingest put run ids in its commits
is read in full (every bronze row of the table, as every run once did).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl import delta_io, faults
from etl.bronze import manifest
from etl.bronze.csv_feed import CsvLineScan
from etl.bronze.feeds import HEAD_LIMIT, Accepted, CsvFeed, CustomersFeed, Feed, all_feeds
from etl.bronze.keys import escaped_key, key_problem, shown
from etl.bronze.manifest import DUPLICATE, INGESTED, REJECTED, ManifestEntry
from etl.log import RunContextThreadPool
from etl.spark import job_description
from etl.storage import ObjectStore, StoredFile

log = logging.getLogger(__name__)

ARCHIVE = "archive"
REJECTED_AREA = "rejected"
STAGING = "_staging"
IO_THREADS = 16          # object-store round trips in flight at once (hashing, checks, moves)


@dataclass
class FeedIngestResult:
    feed: str
    ingested: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass
class _FeedPlan:
    """What the stage decided for one feed's files before writing anything."""

    feed: Feed
    table_uri: str
    result: FeedIngestResult
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[StoredFile, str, str]] = field(default_factory=list)    # file, checksum, reason
    empty: list[tuple[StoredFile, str, str]] = field(default_factory=list)       # read, but no record: rejected
    entries: list[ManifestEntry] = field(default_factory=list)
    to_archive: list[str] = field(default_factory=list)


def unrecorded_commits(spark: SparkSession, table_uri: str, seen: list[ManifestEntry]) -> list[tuple[int, str | None]]:
    """(version, run id) of each bronze append the manifest does not know: newer than the newest bronze
    version it records for the feed, and not recorded itself. Reads the Delta log only, never the data:
    the latest commit, and only when there are newer ones than the manifest's, those few
    (``delta_io.commits``: their JSON files, or Delta's history when there are many)."""
    latest = delta_io.current_version(spark, table_uri)       # a log listing, no Spark job
    recorded = {e.bronze_version for e in seen if e.bronze_version is not None}
    newest = max(recorded, default=-1)
    if latest <= newest:
        return []
    return [(version, run_id) for version, operation, run_id in delta_io.commits(spark, table_uri, newest, latest)
            if operation == "WRITE" and version not in recorded]


def unrecorded_checksums(spark: SparkSession, table_uri: str,
                         commits: list[tuple[int, str | None]]) -> dict[str, int | None]:
    """File checksum -> bronze version of the rows those commits appended (their run ids select them).

    A commit without its run id in ``userMetadata`` (written before ingest recorded it) cannot be
    told from the others: then every bronze row is looked at, as every run once did."""
    if not commits:
        return {}
    version_of = {run: version for version, run in commits if run}
    bronze = spark.read.format("delta").load(table_uri)
    if len(version_of) == len(commits):
        bronze = bronze.filter(F.col("run_id").isin(sorted(version_of)))
    rows = bronze.select("file_checksum", "run_id").distinct().collect()
    return {r.file_checksum: version_of.get(r.run_id) for r in rows}


class Utf8Scan:
    """Whether a file is UTF-8 throughout, judged on its chunks as they stream past once (the hashing
    pass): an incremental strict decoder, fed a MiB at a time so no large string is built; ``error``
    is the offset of the first byte that is not UTF-8 (a character cut by the file's end included)."""

    _SLICE = 1024 * 1024

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0
        self.error: int | None = None

    def update(self, chunk: bytes, final: bool = False) -> None:
        if self.error is not None:
            return
        for start in range(0, max(len(chunk), 1), self._SLICE):
            piece = chunk[start:start + self._SLICE]
            pending = len(self._decoder.getstate()[0])     # bytes of a character cut by the previous piece
            if not pending and piece.isascii():            # most files: ASCII is UTF-8, no decoding needed
                self._offset += len(piece)
                continue
            try:
                self._decoder.decode(piece, final and start + self._SLICE >= len(chunk))
            except UnicodeDecodeError as exc:
                self.error = self._offset - pending + exc.start
                return
            self._offset += len(piece)

    def finish(self) -> int | None:
        self.update(b"", final=True)
        return self.error


class FileScan(NamedTuple):
    """What the one streamed read of a file found."""

    checksum: str
    head: bytes
    splittable: bool = False          # CSV: every record on one line (``CsvLineScan``)
    utf8_error: int | None = None     # text feeds: offset of the first byte that is not UTF-8


def fingerprint(landing: ObjectStore, key: str, head_limit: int, scan_lines: bool,
                scan_utf8: bool = False) -> FileScan:
    """One streamed read of a file: its sha256, its first ``head_limit`` bytes, with ``scan_lines``
    (CSV) whether every record is one line (``CsvLineScan``: Spark may then split the file) and with
    ``scan_utf8`` (text feeds) where the first byte that is not UTF-8 is."""
    digest = hashlib.sha256()
    head = b""
    lines = CsvLineScan() if scan_lines else None
    utf8 = Utf8Scan() if scan_utf8 else None
    for chunk in landing.open_chunks(key):
        digest.update(chunk)
        if len(head) < head_limit:
            head += chunk[:head_limit - len(head)]
        if lines is not None:
            lines.update(chunk)
        if utf8 is not None:
            utf8.update(chunk)
    return FileScan(digest.hexdigest(), head, lines is not None and lines.splittable(),
                    utf8.finish() if utf8 is not None else None)


def _is_workbook(feed: Feed, key: str) -> bool:
    return isinstance(feed, CustomersFeed) and key.lower().endswith(".xlsx")


def _judge(landing: ObjectStore, staging: ObjectStore, feed: Feed, stored: StoredFile,
           scan: FileScan) -> tuple[str | None, Accepted | None]:
    """The feed's verdict; whatever goes wrong in judging one file's content rejects that file only.
    What is not the file's fault still stops the run: the object store (boto3) and this machine (an
    OS error with an errno, such as a full disk)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return feed.check(landing, stored, scan.checksum, scan.head, staging, splittable=scan.splittable,
                          utf8_error=scan.utf8_error)
    except (BotoCoreError, ClientError):
        raise
    except Exception as error:  # noqa: BLE001 - one unreadable file never stops the others
        if isinstance(error, OSError) and error.errno is not None:
            raise
        log.debug("ingest: checking %s failed", shown(stored.key), exc_info=True)
        return f"unreadable file: {type(error).__name__}: {shown(' '.join(str(error).split()))[:200]}", None


def fingerprint_and_check(landing: ObjectStore, staging: ObjectStore, feed: Feed, stored: StoredFile,
                          known: set[str]) -> tuple[str, tuple[str | None, Accepted | None] | None]:
    """One read of the file: its sha256 and, when the content is new, the feed's verdict on it (its first
    bytes, and whether it is UTF-8 throughout); a key Spark could misread is rejected unread by the checks."""
    text = not _is_workbook(feed, stored.key)
    scan = fingerprint(landing, stored.key, HEAD_LIMIT, scan_lines=text and isinstance(feed, CsvFeed),
                       scan_utf8=text)
    problem = key_problem(stored.key)
    if problem:
        return scan.checksum, (problem, None)
    if scan.checksum in known:
        return scan.checksum, None
    return scan.checksum, _judge(landing, staging, feed, stored, scan)


def rejected_key(key: str) -> str:
    """Where a rejected file goes: ``rejected/<key>``; a key unsafe to use (``key_problem``) escaped first."""
    return f"{REJECTED_AREA}/{escaped_key(key) if key_problem(key) else key}"


def _reject(landing: ObjectStore, stored: StoredFile, feed: str, checksum: str, reason: str, run_id: str) -> None:
    sidecar = {"file": stored.key, "feed": feed, "reason": reason, "checksum": checksum, "size": stored.size,
               "run_id": run_id}
    target = rejected_key(stored.key)
    landing.put_text(f"{target}.reason.json", json.dumps(sidecar, indent=2) + "\n")
    landing.move(stored.key, target)      # a plain object-store copy (or a file move): no path pattern


def _rows_per_checksum(spark: SparkSession, table_uri: str, condition) -> dict[str, int]:
    rows = (spark.read.format("delta").load(table_uri).filter(condition)
            .groupBy("file_checksum").count().collect())
    return {r.file_checksum: r["count"] for r in rows}


def _plan_feed(spark: SparkSession, landing: ObjectStore, staging: ObjectStore, feed: Feed, table_uri: str,
               files: list[StoredFile], seen: list[ManifestEntry], run_id: str) -> _FeedPlan:
    plan = _FeedPlan(feed, table_uri, FeedIngestResult(feed.name))
    seen_keys = {(e.path, e.checksum) for e in seen}
    first_path = {e.checksum: e.path for e in seen if e.status == INGESTED}
    # In bronze: what the manifest records as ingested, and what appends it has not recorded yet hold
    # (a run stopped between its bronze commit and its manifest MERGE): found from the Delta log.
    commits = unrecorded_commits(spark, table_uri, seen) if files else []
    unrecorded = unrecorded_checksums(spark, table_uri, commits)
    in_bronze = set(first_path) | set(unrecorded)
    in_batch: set[str] = set()
    recovered: set[str] = set()

    def entry(stored: StoredFile, checksum: str, status: str, **extra) -> ManifestEntry:
        return ManifestEntry(feed.name, stored.key, stored.size, checksum, run_id, status, **extra)

    # Object-store latency, not CPU, is the limit: read (hash + first bytes + checks) files side by side.
    known = in_bronze | set(first_path)
    with RunContextThreadPool(max_workers=IO_THREADS) as pool:
        read = list(pool.map(lambda f: fingerprint_and_check(landing, staging, feed, f, known), files))
    verdicts = {stored.key: verdict for stored, (_, verdict) in zip(files, read)}
    hashes = {stored.key: checksum for stored, (checksum, _) in zip(files, read)}

    recovered_files: list[tuple[StoredFile, str]] = []
    for stored in files:
        checksum = hashes[stored.key]
        if key_problem(stored.key):
            # By name alone, before the duplicate test: such a key is never archived, recovered or read.
            problem, _ = verdicts[stored.key]
            plan.rejected.append((stored, checksum, problem))
            plan.entries.append(entry(stored, checksum, REJECTED, reason=problem))
        elif (checksum in in_bronze and checksum not in recovered
                and first_path.get(checksum, stored.key) == stored.key
                and not landing.exists(f"{ARCHIVE}/{stored.key}")):
            # Committed to bronze by a run that stopped before archiving it: finish the bookkeeping.
            recovered.add(checksum)
            recovered_files.append((stored, checksum))
            plan.to_archive.append(stored.key)
        elif checksum in in_bronze or checksum in first_path or checksum in in_batch:
            plan.entries.append(entry(stored, checksum, DUPLICATE, reason="same content as an ingested file"))
            plan.result.duplicates.append(stored.key)
            plan.to_archive.append(stored.key)
        else:
            problem, accepted = verdicts[stored.key]
            if problem:
                plan.rejected.append((stored, checksum, problem))
                plan.entries.append(entry(stored, checksum, REJECTED, reason=problem))
            else:
                in_batch.add(checksum)
                plan.accepted.append(accepted)
            # A second copy of rejected content in the same batch is judged (and rejected) the same way.

    unrecorded_files = [(s, c) for s, c in recovered_files if (s.key, c) not in seen_keys]
    if unrecorded_files:
        condition = F.col("file_checksum").isin(sorted({c for _, c in unrecorded_files}))
        versions = {unrecorded.get(c) for _, c in unrecorded_files}
        if None not in versions:     # rows of the unrecorded commits only (their run ids)
            runs = [run for version, run in commits if version in versions]
            condition = condition & F.col("run_id").isin(sorted(runs))
        counts = _rows_per_checksum(spark, table_uri, condition)
        for stored, checksum in unrecorded_files:
            plan.entries.append(entry(stored, checksum, INGESTED, rows_read=counts.get(checksum, 0),
                                      bronze_version=unrecorded.get(checksum)))
    plan.result.recovered.extend(stored.key for stored, _ in recovered_files)
    return plan


# Up to this many files in one append, their rows are counted as they are written (one count per file and
# row); a larger batch, such as a history load's year of files, is counted from bronze after the commit.
OBSERVED_FILES = 64


def append_counted(spark: SparkSession, frame: DataFrame, table_uri: str, checksums: list[str], *, name: str,
                   run_id: str) -> tuple[int | None, dict[str, int]]:
    """Append a feed's ``frame`` to its bronze table: (the commit's version, rows per file checksum).

    The counts come from the append itself, through an ``Observation`` on the written frame: reading this
    run's rows back from bronze after the commit cost four Spark SQL executions per feed, a quarter of a
    small day's ingest. Above ``OBSERVED_FILES`` files the rows are counted from bronze instead. The run
    id in the commit lets the next run find this append in the log if the manifest never hears of it."""
    observed = None
    if len(checksums) <= OBSERVED_FILES:
        observed = Observation(f"bronze_rows_{name}")
        frame = frame.observe(observed, *[F.count_if(F.col("file_checksum") == checksum).alias(f"file_{n}")
                                          for n, checksum in enumerate(checksums)])
    version = delta_io.append(spark, frame, table_uri, name=f"bronze {name}", metadata=run_id).version
    faults.point("after_bronze_commit")
    if observed is None:
        stored = _rows_per_checksum(spark, table_uri, F.col("run_id") == run_id)
        return version, {checksum: stored.get(checksum, 0) for checksum in checksums}
    metrics = observed.get
    return version, {checksum: int(metrics[f"file_{n}"]) for n, checksum in enumerate(checksums)}


def _write_bronze(spark: SparkSession, plan: _FeedPlan, run_id: str, ingested_at: datetime) -> None:
    version, counts = append_counted(spark, plan.feed.read(spark, plan.accepted, run_id, ingested_at),
                                     plan.table_uri, sorted({item.checksum for item in plan.accepted}),
                                     name=plan.feed.name, run_id=run_id)
    for item in plan.accepted:
        rows = counts[item.checksum]
        if rows == 0:
            # Not empty (that is rejected before), yet not one record: UTF-16 read as UTF-8, a root with no
            # <order>, a header alone. Nothing of it is in bronze, so it is rejected like any other file.
            reason = plan.feed.no_records
            plan.empty.append((item.stored, item.checksum, reason))
            plan.entries.append(ManifestEntry(plan.feed.name, item.stored.key, item.stored.size, item.checksum,
                                              run_id, REJECTED, reason=reason))
            continue
        plan.entries.append(ManifestEntry(plan.feed.name, item.stored.key, item.stored.size, item.checksum, run_id,
                                          INGESTED, rows_read=rows, bronze_version=version))
        plan.result.ingested.append(item.stored.key)
        plan.result.rows += rows
        plan.to_archive.append(item.stored.key)


def folder_date(key: str) -> date | None:
    """The date of the last ``YYYY-MM-DD`` folder in a landing key (``sales/2026-11-22/x.csv``), if any."""
    for part in reversed(key.split("/")[:-1]):
        if len(part) == 10 and part[4] == "-" and part[7] == "-":
            try:
                return date.fromisoformat(part)
            except ValueError:
                continue
    return None


def due_files(files: list[StoredFile], not_after: date | None) -> tuple[list[StoredFile], list[StoredFile]]:
    """(due, waiting): a file in a folder named for a date after ``not_after`` waits for that date's run.

    So a backfill over days whose files all sit in landing ingests each day's folder in its own
    run, instead of the first run taking every day (and quarantining later sales as "after the
    run date"). Files outside dated folders are always due.
    """
    if not_after is None:
        return files, []
    due, waiting = [], []
    for stored in files:
        day = folder_date(stored.key)
        (waiting if day is not None and day > not_after else due).append(stored)
    return due, waiting


def ingest_feeds(spark: SparkSession, landing: ObjectStore, staging: ObjectStore, table_uris: dict[str, str],
                 manifest_uri: str, run_id: str, ingested_at: datetime,
                 feeds: list[Feed] | None = None, not_after: date | None = None) -> list[FeedIngestResult]:
    """The ingest stage over ``feeds`` (default: all seven); ``table_uris`` maps feed -> bronze table;
    with ``not_after`` (the run date), files in folders dated later are left for a later run."""
    feeds = feeds if feeds is not None else all_feeds()
    snapshot = {}
    for feed in feeds:
        snapshot[feed.name], waiting = due_files(landing.list(f"{feed.name}/"), not_after)
        if waiting:
            log.info("ingest: %d %s file(s) in folders dated after %s wait for their date's run (first: %s)",
                     len(waiting), feed.name, not_after, shown(waiting[0].key))
    total = sum(len(files) for files in snapshot.values())
    log.info("ingest: %d file(s) in landing: %s", total,
             ", ".join(f"{name} {len(files)}" for name, files in snapshot.items()))
    with job_description(spark, "ingest manifest"):
        seen = manifest.read_entries(spark, manifest_uri) if total else []
    staging_prefix = f"{STAGING}/{run_id}"
    staged = staging.prefixed(staging_prefix)

    plans = []
    for feed in feeds:
        with job_description(spark, f"ingest {feed.name}: checks"):
            plans.append(_plan_feed(spark, landing, staged, feed, table_uris[feed.name], snapshot[feed.name],
                                    [e for e in seen if e.feed == feed.name], run_id))
    # Rejections first: recorded, then the sidecar, then the move (a crash in between repeats them harmlessly).
    manifest.record(spark, manifest_uri, [e for p in plans for e in p.entries if e.status == REJECTED], ingested_at)
    rejects = [(plan, stored, checksum, reason) for plan in plans for stored, checksum, reason in plan.rejected]
    with RunContextThreadPool(max_workers=IO_THREADS) as pool:
        list(pool.map(lambda r: _reject(landing, r[1], r[0].feed.name, r[2], r[3], run_id), rejects))
    for plan, stored, _, reason in rejects:
        plan.result.rejected[stored.key] = reason
        log.warning("rejected %s: %s", shown(stored.key), reason)
    try:
        for plan in plans:
            if plan.accepted:
                with job_description(spark, f"ingest {plan.feed.name}: bronze"):
                    _write_bronze(spark, plan, run_id, ingested_at)
    finally:
        staging.delete_prefix(staging_prefix)

    late = [(plan, stored, checksum, reason) for plan in plans for stored, checksum, reason in plan.empty]
    with job_description(spark, "ingest manifest"):
        manifest.record(spark, manifest_uri, [e for p in plans for e in p.entries
                                              if e.status != REJECTED or e.path in {s.key for s, _, _ in p.empty}],
                        ingested_at)
    faults.point("after_manifest")
    with RunContextThreadPool(max_workers=IO_THREADS) as pool:
        list(pool.map(lambda key: landing.move(key, f"{ARCHIVE}/{key}"), [k for p in plans for k in p.to_archive]))
        list(pool.map(lambda r: _reject(landing, r[1], r[0].feed.name, r[2], r[3], run_id), late))
    for plan, stored, _, reason in late:
        plan.result.rejected[stored.key] = reason
        log.warning("rejected %s: %s", shown(stored.key), reason)
    for plan in plans:
        r = plan.result
        log.info("bronze %s: %d file(s) ingested (%d row(s)), %d rejected, %d duplicate, %d recovered",
                 r.feed, len(r.ingested), r.rows, len(r.rejected), len(r.duplicates), len(r.recovered))
    return [plan.result for plan in plans]
