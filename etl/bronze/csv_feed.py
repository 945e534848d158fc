"""CSV feeds into bronze: headers checked per file, every record kept as it came.

Files are grouped by their header (read with one small ranged read each), so
files whose columns come in another order or with extra columns are read with
the right layout; a header missing a mandatory column rejects the file before
Spark reads it. Spark then reads each group with an explicit all-string schema
(no inference), in one of two ways, decided per file while the ingest stage
streams it for its checksum (``CsvLineScan``, in the same pass):

* **line by line** (``multiLine`` off, ``read_csv_group_by_lines``), for a file
  in which every record is one line (no quoted newline, nothing the two parsers
  read differently, see ``CsvLineScan``): Spark splits a large file
  (``spark.sql.files.maxPartitionBytes``), so several cores read it and only
  the columns used are parsed. A record's number is taken from its split: one
  small job counts the records of each split (``_metadata.file_block_start``)
  and notes the first ``monotonically_increasing_id`` of each; the read then
  numbers each row as (records of the file's earlier splits) + (its id minus
  its split's first id) + 1. Only that per-split table (a row per split) is
  aggregated and broadcast back; the records themselves are never shuffled.
* **whole files** (``multiLine`` on, ``read_csv_group``), for a file that has a
  quoted newline or could not be judged: a file is never split, so a record's
  number is ``monotonically_increasing_id`` minus the file's first id (a window
  per file: a shuffle, paid only by these files).

Both give the same numbers: the 1-based position of the record in its file,
header excluded (blank lines are not records in either mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl.contracts import normalise_column_name

CORRUPT = "_corrupt_record"
RECORD_NUMBER = "_record_number"     # set by the line-by-line reader; the whole-file path numbers in conform

@dataclass(frozen=True)
class CsvHeader:
    """A file's header: the names as they landed, and as the contract knows them."""

    raw: tuple[str, ...]
    canonical: tuple[str, ...]


def parse_header(line: str, aliases: dict[str, str]) -> CsvHeader:
    import csv

    raw = tuple(next(csv.reader([line]), []))
    canonical = tuple(aliases.get(normalise_column_name(c), normalise_column_name(c)) for c in raw)
    return CsvHeader(raw=raw, canonical=canonical)


def header_problem(header: CsvHeader, mandatory: tuple[str, ...]) -> str | None:
    """Why a file must be rejected whole on its header alone, or None."""
    if not any(header.raw):
        return "empty file or empty header line"
    missing = [c for c in mandatory if c not in header.canonical]
    if missing:
        return f"missing mandatory column(s): {', '.join(missing)}"
    duplicated = sorted({c for c in header.canonical if header.canonical.count(c) > 1})
    if duplicated:
        return f"duplicated column(s): {', '.join(duplicated)}"
    return None


# A line whose quotes all open and close within it: fields unquoted (no quote at all) or wholly quoted
# ("" an escaped quote inside). Spark's two CSV parsers read such a line alike. The pattern starts with
# the newline before a line (one is put before the first) so that ``re`` jumps from newline to newline.
_FIELD = rb'(?:"(?:[^"\n]|"")*"|[^,"\n]*)'
_QUOTED_LINE_NOT_SELF_CONTAINED = re.compile(
    rb'\n(?=[^\n]*")(?!' + _FIELD + rb'(?:,' + _FIELD + rb')*\r?(?:\n|\Z))')
# Blank-ish lines (non-empty, only characters Java's trim removes: the line parser drops such a line,
# multiLine keeps it) are found on a copy where those characters are spaces and all others "x".
_SPACES = bytes(b if b == 0x0A else (0x20 if b <= 0x20 else 0x78) for b in range(256))
_MAX_PENDING = 16 * 1024 * 1024      # a "line" longer than this is not worth splitting for


class CsvLineScan:
    """Whether a CSV file can be read line by line, judged on its bytes as they stream past once.

    ``update`` takes the file's chunks in order (the ingest stage feeds it the
    chunks it hashes), ``splittable()`` gives the verdict at the end. A file is
    splittable when Spark's line parser and its ``multiLine`` parser must give the
    same records: every line with a quote is self-contained (each field unquoted
    or wholly quoted), so no quoted field spans a newline; line ends are all
    ``\\n`` or all ``\\r\\n``; and no line holds only spaces or control characters
    (the line parser drops one, ``multiLine`` reads it as a record). Anything else,
    including a field like ``ab"c`` that the parsers would read alike, keeps the
    file on the ``multiLine`` path: the check may be too careful, never too bold.
    Each chunk is looked at in place, a few C-speed passes (find, count, translate),
    the line cut between two chunks on its own.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._ok = True
        self._crlf_seen = self._lf_seen = False

    def update(self, chunk: bytes) -> None:
        if not self._ok or not chunk:
            return
        first = chunk.find(b"\n")
        if first < 0:
            self._pending += chunk
            self._ok = len(self._pending) <= _MAX_PENDING
            return
        head = self._pending + chunk[:first + 1]          # the line cut by the previous chunk
        self._check(head, 0, len(head))
        last = chunk.rfind(b"\n")
        if last > first:
            self._check(chunk, first + 1, last + 1)
        self._pending = chunk[last + 1:]

    def splittable(self) -> bool:
        if self._ok and self._pending:
            self._check(self._pending, 0, len(self._pending))
            self._pending = b""
        return self._ok and not (self._crlf_seen and self._lf_seen)

    def _check(self, data: bytes, start: int, end: int) -> None:
        """Whole lines ``data[start:end]`` (the last one may lack its newline only at the end of the file)."""
        if not self._ok:
            return
        if data.find(b"\r", start, end) >= 0:
            cr, crlf = data.count(b"\r", start, end), data.count(b"\r\n", start, end)
            if cr != crlf or crlf != data.count(b"\n", start, end):
                self._ok = False                           # a CR alone, or LF and CRLF mixed in the range
                return
            self._crlf_seen = True
        elif data.find(b"\n", start, end) >= 0:
            self._lf_seen = True
        if _has_blankish_line(data[start:end].translate(_SPACES)) or (
                data.find(b'"', start, end) >= 0
                and _QUOTED_LINE_NOT_SELF_CONTAINED.search(b"\n" + data[start:end])):
            self._ok = False


def _has_blankish_line(spaces: bytes) -> bool:
    """``spaces``: whole lines with the characters Java's trim removes as spaces, the others as "x"."""
    at = 0 if spaces[:1] == b" " else spaces.find(b"\n ")
    while at >= 0:                       # a line starting with a trimmed character: has it any other?
        end = spaces.find(b"\n", at + 1)
        if spaces.find(b"x", at, len(spaces) if end < 0 else end) < 0:
            return True
        at = spaces.find(b"\n ", at + 1)
    return False


def _csv_reader(spark: SparkSession, header: CsvHeader, multiline: bool):
    # Fields carry the file's own header names so Spark's header check agrees, then become positional.
    schema = StructType(
        [StructField(name, StringType(), True) for name in header.raw]
        + [StructField(CORRUPT, StringType(), True)]
    )
    return (
        spark.read.format("csv")
        .schema(schema)
        .options(header="true", multiLine=str(multiline).lower(), mode="PERMISSIVE", encoding="UTF-8",
                 columnNameOfCorruptRecord=CORRUPT, enforceSchema="true", escape='"')
    )


def read_csv_group(spark: SparkSession, uris: list[str], header: CsvHeader) -> DataFrame:
    """Files sharing one header, whole (``multiLine``): positional string columns ``c0..cN`` plus the
    corrupt record and file path; ``conform_to_bronze`` numbers the records."""
    positional = [f"c{i}" for i in range(len(header.raw))]
    return (
        _csv_reader(spark, header, multiline=True)
        .load(uris)
        .select("*", F.col("_metadata.file_path").alias("_file_path"))
        .toDF(*positional, CORRUPT, "_file_path")
    )


def read_csv_group_by_lines(spark: SparkSession, uris: list[str], header: CsvHeader) -> DataFrame:
    """Files sharing one header in which every record is one line (``CsvLineScan``), read splittably.

    The same columns as ``read_csv_group`` plus ``_record_number``, taken from the
    split: a first job counts each split's records and its first row id (a row per
    split comes back to the driver), and the read itself adds to each row's id the
    offset of its split, broadcast, with no shuffle of the records. Both scans are
    the same scan of the same files, so Spark plans the same partitions and gives
    the same ids; a row whose id falls outside its split's counted range stops the
    job (``raise_error``) rather than get a wrong number.
    """
    positional = [f"c{i}" for i in range(len(header.raw))]
    path, start = F.col("_metadata.file_path"), F.col("_metadata.file_block_start")
    row_id = F.monotonically_increasing_id()

    def scan() -> DataFrame:
        return _csv_reader(spark, header, multiline=False).load(uris)

    splits = (scan().select(path.alias("_file_path"), start.alias("_block_start"), row_id.alias("_row_id"))
              .groupBy("_file_path", "_block_start")
              .agg(F.min("_row_id").alias("_first_id"), F.count(F.lit(1)).alias("_rows"))
              .collect())
    offsets, before, previous_file = [], 0, None
    for split in sorted(splits, key=lambda r: (r._file_path, r._block_start)):
        before = 0 if split._file_path != previous_file else before
        previous_file = split._file_path
        offsets.append((split._file_path, split._block_start, split._first_id, split._rows, before))
        before += split._rows
    split_table = spark.createDataFrame(
        offsets, "_file_path string, _block_start long, _first_id long, _rows long, _before long")

    local = F.col("_row_id") - F.col("_first_id")
    return (
        scan()
        .select("*", path.alias("_file_path"), start.alias("_block_start"), row_id.alias("_row_id"))
        .toDF(*positional, CORRUPT, "_file_path", "_block_start", "_row_id")
        .join(F.broadcast(split_table), ["_file_path", "_block_start"], "left")
        .withColumn(RECORD_NUMBER, F.when(
            (local >= 0) & (local < F.col("_rows")), F.col("_before") + local + 1,
        ).otherwise(F.raise_error(F.concat(
            F.lit("CSV record numbering: a row outside its split's counted range in "), F.col("_file_path")))))
        .select(*positional, CORRUPT, "_file_path", RECORD_NUMBER)
    )


def path_without_scheme(uri: str) -> str:
    """``s3a://landing/x`` -> ``/landing/x``; ``file:///a/b`` -> ``/a/b`` (as ``source_key`` renders Spark's paths)."""
    return re.sub(r"^[A-Za-z0-9]+:/+", "/", uri)


def source_key(file_path: Column, root: str) -> Column:
    """A file's key relative to its area root, from Spark's URL-encoded ``_metadata.file_path``."""
    prefix = path_without_scheme(root).rstrip("/") + "/"
    # Spark renders paths percent-encoded but leaves '+' as is; URL decoding would read it as a space.
    decoded = F.try_url_decode(F.regexp_replace(file_path, r"\+", "%2B"))
    decoded = F.regexp_replace(decoded, r"^[A-Za-z0-9]+:/+", "/")
    return F.substring(decoded, len(prefix) + 1, 1 << 30)


def conform_to_bronze(raw: DataFrame, header: CsvHeader, known_columns: tuple[str, ...],
                      files: DataFrame, root: str, run_id: str, ingested_at: datetime) -> DataFrame:
    """Positional columns -> the contract's names, extras in a map, lineage added.

    ``files`` holds one row per file (``source_file`` key, ``file_checksum``) and is
    joined on the key derived from Spark's own file path (broadcast, so no shuffle).
    """
    positions = {name: i for i, name in enumerate(header.canonical)}
    named = [
        (F.col(f"c{positions[name]}") if name in positions else F.lit(None).cast("string")).alias(name)
        for name in known_columns
    ]
    extras = [(header.raw[i], f"c{i}") for i, name in enumerate(header.canonical) if name not in known_columns]
    additional = (
        F.map_from_arrays(F.array(*[F.lit(raw) for raw, _ in extras]), F.array(*[F.col(c) for _, c in extras]))
        if extras else F.lit(None).cast("map<string,string>")
    )
    if RECORD_NUMBER in raw.columns:       # read line by line: numbered from the split already
        numbered = raw.withColumnRenamed(RECORD_NUMBER, "record_number")
    else:                                  # read whole files, each by one task in order: id - first id + 1
        per_file = Window.partitionBy("_file_path")
        numbered = (raw.withColumn("_row_id", F.monotonically_increasing_id())
                    .withColumn("record_number", F.col("_row_id") - F.min("_row_id").over(per_file) + 1))
    return (
        numbered
        .withColumn("source_file", source_key(F.col("_file_path"), root))
        .join(F.broadcast(files), "source_file")
        .select(
            *named,
            additional.alias("additional_columns"),
            F.col(CORRUPT).alias("raw_record"),
            "source_file",
            F.col("record_number").cast("long").alias("record_number"),
            "file_checksum",
            F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
            F.lit(run_id).alias("run_id"),
        )
    )
