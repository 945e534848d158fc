"""The seven landing feeds: how each file is checked, and how accepted files are read into bronze.

Each feed is one object with two methods the ingest stage calls:

* ``check(landing, stored, checksum, head, staging, splittable=..., utf8_error=...)``
  judges one file on its first bytes ``head``, read while the file was hashed (and,
  for CSV, its header line), and on what that same pass found about the whole file
  (``utf8_error``: the offset of its first byte that is not UTF-8, or None), and
  returns ``(problem, accepted)``: a reason to reject the file whole, or what the
  reader needs (the header; for an XLSX delivery, the CSV it was converted to; for a
  CSV file, whether the same pass found every record on one line, ``splittable``, so
  that Spark may split it);
* ``read(spark, accepted, run_id, ingested_at)`` reads a batch of accepted files
  with the feed's explicit schema into its bronze table's shape, lazily.

Formats: ``sales/``, ``stores/``, ``products/``, ``sales_team/`` are CSV;
``customers/`` is CSV or XLSX (by the file name's extension; the workbook's first
sheet is converted to CSV in a staging area and then read as any CSV, so both
give the same bronze rows); ``orders/`` is XML; ``order_events/`` is JSON Lines.
A file of the wrong format for its prefix fails its feed's check with a reason
naming what it looks like. A text file must be UTF-8 throughout (Spark reads every
text feed as UTF-8 and would silently read anything else as replacement characters,
or, for UTF-16 XML, as no record at all).
"""

from __future__ import annotations

import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from pyspark.sql import DataFrame, SparkSession

from etl.bronze.csv_feed import (CsvHeader, conform_to_bronze, header_problem, parse_header, read_csv_group,
                                 read_csv_group_by_lines)
from etl.bronze.json_feed import conform_jsonl_to_bronze, jsonl_file_problem, read_jsonl_files
from etl.bronze.xlsx import XlsxLimits, xlsx_problem, xlsx_to_csv
from etl.bronze.xml_feed import conform_xml_to_bronze, read_xml_files, xml_file_problem
from etl.contracts import customers as customers_contract
from etl.contracts import order_events as events_contract
from etl.contracts import orders as orders_contract
from etl.contracts import reference as reference_contract
from etl.contracts import sales as sales_contract
from etl.errors import InputError
from etl.storage import ObjectStore, StoredFile

HEAD_BYTES = 4096          # what the format sniffers look at
HEAD_LIMIT = 64 * 1024     # what the stage keeps of each file while hashing it (a CSV header line fits)
# Workbooks converted at once: openpyxl holds a workbook's shared strings whole, so this (not the 16 I/O
# threads) bounds the memory XLSX checks take, about XLSX_AT_ONCE x ingest.xlsx_max_uncompressed_mb at worst.
XLSX_AT_ONCE = 2
_XLSX_SLOTS = threading.BoundedSemaphore(XLSX_AT_ONCE)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Accepted:
    """A file that passed its checks: where Spark reads it from, and its header for CSV."""

    stored: StoredFile
    checksum: str
    read_uri: str            # the landing file, or its staged CSV conversion
    read_root: str           # the area root ``read_uri`` is under (lineage keys are relative to it)
    header: CsvHeader | None = None
    splittable: bool = False  # CSV: every record on one line (``CsvLineScan``), so Spark may split the file


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


def utf8_problem(head: bytes, utf8_error: int | None) -> str | None:
    """The whole file's UTF-8 verdict (from the hashing pass) as a reject reason, or None."""
    if utf8_error is None:
        return None
    if head.startswith(_UTF16_BOMS):
        return "UTF-16 text (byte order mark), expected UTF-8"
    return f"not UTF-8 text (invalid byte at offset {utf8_error})"


def csv_format_problem(head: bytes) -> str | None:
    """A text file that is plainly XML or JSON is the wrong format for a CSV prefix."""
    start = head.decode("utf-8-sig", errors="replace").lstrip()[:1]
    if start == "<":
        return "wrong format: XML, expected CSV with a header row"
    if start in ("{", "["):
        return "wrong format: JSON, expected CSV with a header row"
    return None


def _union(frames: list[DataFrame]) -> DataFrame:
    batch = frames[0]
    for frame in frames[1:]:
        batch = batch.unionByName(frame)
    return batch


def _files_frame(spark: SparkSession, accepted: list[Accepted]) -> DataFrame:
    return spark.createDataFrame([(a.stored.key, a.checksum) for a in accepted],
                                 "source_file string, file_checksum string")


def _smallest_split(spark: SparkSession) -> int:
    """The size below which Spark never cuts a file: ``maxSplitBytes`` is at least the smaller of
    ``spark.sql.files.maxPartitionBytes`` and ``spark.sql.files.openCostInBytes``."""
    conf = spark._jsparkSession.sessionState().conf()
    return min(int(conf.filesMaxPartitionBytes()), int(conf.filesOpenCostInBytes()))


@dataclass(frozen=True)
class CsvFeed:
    """A CSV feed: header checked per file, files grouped by header, read with an all-string schema."""

    name: str
    known_columns: tuple[str, ...]
    mandatory: tuple[str, ...] | Callable[[tuple[str, ...]], tuple[str, ...]]
    aliases: dict[str, str] = field(default_factory=dict)

    def mandatory_for(self, header: CsvHeader) -> tuple[str, ...]:
        return self.mandatory(header.canonical) if callable(self.mandatory) else self.mandatory

    no_records = "no records: a header row and no data row"

    def check(self, landing: ObjectStore, stored: StoredFile, checksum: str, head: bytes,
              staging: ObjectStore, splittable: bool = False,
              utf8_error: int | None = None) -> tuple[str | None, Accepted | None]:
        problem = (text_file_problem(head[:HEAD_BYTES], stored.size) or utf8_problem(head, utf8_error)
                   or csv_format_problem(head[:HEAD_BYTES]))
        if problem:
            return problem, None
        line = (head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
                if b"\n" in head or len(head) == stored.size else landing.first_line(stored.key))
        header = parse_header(line, self.aliases)
        problem = header_problem(header, self.mandatory_for(header))
        if problem:
            return problem, None
        return None, Accepted(stored, checksum, stored.uri, landing.root, header, splittable)

    def read(self, spark: SparkSession, accepted: list[Accepted], run_id: str, ingested_at: datetime) -> DataFrame:
        # Line by line only where Spark may cut a file: a file no larger than both the split size and the
        # open cost is one split whatever the batch, and reading it whole costs a small window instead of
        # the line read's extra counting job (measured: the whole read is the quicker for a few KB).
        may_split = _smallest_split(spark)
        groups: dict[tuple[str, CsvHeader, bool], list[Accepted]] = defaultdict(list)
        for item in accepted:
            groups[(item.read_root, item.header, item.splittable and item.stored.size > may_split)].append(item)
        frames = []
        for (root, header, by_lines), members in groups.items():
            reader = read_csv_group_by_lines if by_lines else read_csv_group
            raw = reader(spark, [m.read_uri for m in members], header)
            frames.append(conform_to_bronze(raw, header, self.known_columns, _files_frame(spark, members), root,
                                            run_id, ingested_at))
        return _union(frames)


@dataclass(frozen=True)
class CustomersFeed(CsvFeed):
    """CSV as any CSV feed; ``.xlsx`` files converted (first sheet) to CSV in the staging area first.

    The staged CSV keeps the landing key under the staging root, so the lineage
    (``source_file``) of its rows is the landing key of the workbook.
    """

    xlsx_limits: XlsxLimits = XlsxLimits()

    def check(self, landing: ObjectStore, stored: StoredFile, checksum: str, head: bytes,
              staging: ObjectStore, splittable: bool = False,
              utf8_error: int | None = None) -> tuple[str | None, Accepted | None]:
        if not stored.key.lower().endswith(".xlsx"):
            return super().check(landing, stored, checksum, head, staging, splittable, utf8_error)
        # A workbook's staged CSV is read whole (multiLine): a cell may hold a newline.
        with tempfile.TemporaryDirectory(prefix="etl-xlsx-") as tmp:
            workbook = Path(tmp) / "delivery.xlsx"
            with open(workbook, "wb") as out:
                for chunk in landing.open_chunks(stored.key):
                    out.write(chunk)
            converted = Path(tmp) / "delivery.csv"
            with _XLSX_SLOTS:
                problem = xlsx_problem(workbook, self.xlsx_limits)
                if problem:
                    return problem, None
                try:
                    xlsx_to_csv(workbook, converted, self.xlsx_limits)
                except InputError as error:      # a later row unreadable, or past a limit: this file only
                    return str(error), None
            with open(converted, encoding="utf-8") as handle:
                first_line = handle.readline().rstrip("\r\n")
            header = parse_header(first_line, self.aliases)
            problem = header_problem(header, self.mandatory_for(header))
            if problem:
                return problem, None
            staging.upload(converted, stored.key)
        return None, Accepted(stored, checksum, staging.uri_for(stored.key), staging.root, header)


@dataclass(frozen=True)
class XmlFeed:
    name: str
    no_records = "no records: no <order> element under <orders>"

    def check(self, landing: ObjectStore, stored: StoredFile, checksum: str, head: bytes,
              staging: ObjectStore, splittable: bool = False,
              utf8_error: int | None = None) -> tuple[str | None, Accepted | None]:
        problem = utf8_problem(head, utf8_error) or xml_file_problem(head[:HEAD_BYTES])
        return (problem, None) if problem else (None, Accepted(stored, checksum, stored.uri, landing.root))

    def read(self, spark: SparkSession, accepted: list[Accepted], run_id: str, ingested_at: datetime) -> DataFrame:
        raw = read_xml_files(spark, [a.read_uri for a in accepted])
        return conform_xml_to_bronze(raw, _files_frame(spark, accepted), accepted[0].read_root, run_id, ingested_at)


@dataclass(frozen=True)
class JsonLinesFeed:
    name: str
    no_records = "no records: only blank lines"

    def check(self, landing: ObjectStore, stored: StoredFile, checksum: str, head: bytes,
              staging: ObjectStore, splittable: bool = False,
              utf8_error: int | None = None) -> tuple[str | None, Accepted | None]:
        problem = jsonl_file_problem(head[:HEAD_BYTES]) or utf8_problem(head, utf8_error)
        return (problem, None) if problem else (None, Accepted(stored, checksum, stored.uri, landing.root))

    def read(self, spark: SparkSession, accepted: list[Accepted], run_id: str, ingested_at: datetime) -> DataFrame:
        raw = read_jsonl_files(spark, [a.read_uri for a in accepted])
        return conform_jsonl_to_bronze(raw, _files_frame(spark, accepted), accepted[0].read_root, run_id,
                                       ingested_at)


Feed = CsvFeed | XmlFeed | JsonLinesFeed


def all_feeds(xlsx_limits: XlsxLimits = XlsxLimits()) -> list[Feed]:
    """Every landing feed, in the order the ingest stage takes them (reference data first); XLSX
    deliveries held to ``xlsx_limits`` (config ``ingest``)."""
    return [
        *[CsvFeed(name, tuple(reference_contract.COLUMNS[name]), reference_contract.mandatory(name))
          for name in ("stores", "products", "sales_team")],
        CustomersFeed(customers_contract.FEED, customers_contract.KNOWN_COLUMNS,
                      customers_contract.mandatory_columns, customers_contract.ALIASES, xlsx_limits),
        CsvFeed(sales_contract.FEED, sales_contract.OPTIONAL + sales_contract.MANDATORY, sales_contract.MANDATORY,
                sales_contract.ALIASES),
        XmlFeed(orders_contract.FEED),
        JsonLinesFeed(events_contract.FEED),
    ]


FEED_NAMES = tuple(feed.name for feed in all_feeds())
