"""The JSON Lines feed (``order_events/``) into bronze: one row per line, raw and parsed.

A file is first checked on its first bytes (``jsonl_file_problem``: empty, not
UTF-8 text, a JSON array or pretty-printed document instead of one object per
line) and rejected whole on a problem. Spark then reads the accepted files as
text (``wholetext`` false: one row per line, ``\\n``, ``\\r\\n`` or ``\\r``) and
parses each line with ``from_json`` and the contract's explicit schema
(``etl.contracts.order_events``): ``raw_line`` keeps the text, ``event`` the
parsed envelope, null when the line does not parse.

Record numbers are line numbers, and the text source *is* splittable: a file
larger than ``spark.sql.files.maxPartitionBytes`` (128 MiB by default) is read
as several splits, possibly by several tasks, so "id minus the file's first id"
(the CSV and XML trick) would be wrong. There is no per-read option to stop
splitting (the split size is a session setting, and changing it for one read
would change it for everything else running in the session), and
``wholetext`` would hold a whole file in one row. Instead, each line is
ordered by ``(_metadata.file_block_start, monotonically_increasing_id)``:
lines of different splits are ordered by where their split starts in the file,
and lines of one split are read by one task in file order, so their ids
increase. ``row_number`` over that order, per file, is the line number however
the file was split (the tests force 64-byte splits to pin this). Blank lines
keep their number but are no event: they are dropped.
"""

from __future__ import annotations

import json
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl.bronze.csv_feed import source_key
from etl.contracts import order_events as contract
from etl.bronze import require_columns

FILE_PATH = "_file_path"
BLOCK_START = "_block_start"
CORRUPT = "_corrupt_record"

_PARSE_SCHEMA = StructType([*contract.EVENT_SCHEMA.fields, StructField(CORRUPT, StringType(), True)])
_PARSE_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}


def parse_event(raw_line: Column) -> Column:
    """A line -> ``EVENT_SCHEMA`` struct; null when it is not a JSON object of the envelope's shape.

    Spark's PERMISSIVE ``from_json`` gives a struct of nulls (not null) for a line it
    cannot parse and names it in the corrupt-record field; that field decides here.
    Blank lines parse to null as well.
    """
    parsed = F.from_json(raw_line, _PARSE_SCHEMA, _PARSE_OPTIONS)
    return F.when(parsed[CORRUPT].isNull(), parsed.dropFields(CORRUPT))


def read_jsonl_files(spark: SparkSession, uris: list[str]) -> DataFrame:
    """The lines of some files: ``raw_line`` and where each line comes from (parsed later, see
    ``conform_jsonl_to_bronze``)."""
    return (
        spark.read.format("text")
        .option("wholetext", "false")
        .load(uris)
        .select(
            F.col("value").alias("raw_line"),
            F.col("_metadata.file_path").alias(FILE_PATH),
            F.col("_metadata.file_block_start").alias(BLOCK_START),
        )
    )


def conform_jsonl_to_bronze(raw: DataFrame, files: DataFrame, root: str, run_id: str,
                            ingested_at: datetime) -> DataFrame:
    """``read_jsonl_files`` output -> ``order_events.BRONZE_SCHEMA``: line numbers and lineage added.

    ``files`` holds one row per file (``source_file`` key relative to ``root``,
    ``file_checksum``), joined in broadcast on the key derived from Spark's file path.
    ``raw`` must come straight from the reader (no shuffle in between): within one
    split, rows are in file order.

    Each line is parsed after the line-number window, not before: the window's shuffle then moves
    the line's text and its position only, not the text and its parsed envelope as well (the
    nested struct is about as large again; 2.5 million events at the 10M benchmark).
    """
    require_columns(raw, ("raw_line", FILE_PATH, BLOCK_START), "the raw JSON Lines frame")
    require_columns(files, ("source_file", "file_checksum"), "the files frame")
    in_file_order = Window.partitionBy(FILE_PATH).orderBy(BLOCK_START, "_row_id")
    return (
        raw.withColumn("_row_id", F.monotonically_increasing_id())
        .withColumn("record_number", F.row_number().over(in_file_order))
        .filter(~F.col("raw_line").rlike(r"^\s*$"))
        .withColumn("source_file", source_key(F.col(FILE_PATH), root))
        .join(F.broadcast(files), "source_file")
        .select(
            "raw_line",
            parse_event(F.col("raw_line")).alias("event"),
            "source_file",
            F.col("record_number").cast("long").alias("record_number"),
            "file_checksum",
            F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
            F.lit(run_id).alias("run_id"),
        )
    )


# -- file-level check ---------------------------------------------------------------------------

def _decode_prefix(first_bytes: bytes) -> str | None:
    """UTF-8 text of a prefix (a character cut at the end is dropped), or None if it is not UTF-8."""
    try:
        return first_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.start >= len(first_bytes) - 3 and error.reason == "unexpected end of data":
            return first_bytes[:error.start].decode("utf-8-sig")
        return None


def jsonl_file_problem(first_bytes: bytes) -> str | None:
    """Why an ``order_events/`` file must be rejected whole, judged on its first bytes (say 4 KiB), or None.

    Reasons: ``empty file``; ``not UTF-8 text``; ``a JSON array, not JSON Lines (one
    object per line)``; ``pretty-printed JSON, not JSON Lines (one object per line)``;
    ``not JSON Lines: starts with ...``. One bad line is not a file problem: it
    becomes a bronze row with a null ``event`` and is quarantined by the quality rules.
    """
    if not first_bytes:
        return "empty file"
    text = _decode_prefix(first_bytes)
    if text is None or "\x00" in text:
        return "not UTF-8 text"
    stripped = text.lstrip()
    if not stripped:
        return "empty file"
    if stripped[0] == "[":
        return "a JSON array, not JSON Lines (one object per line)"
    if stripped[0] != "{":
        return f"not JSON Lines: starts with {stripped[:20]!r}"
    # Complete lines only: the last piece may be cut by the end of the prefix.
    lines = [line for line in stripped.split("\n")[:-1] if line.strip()]
    if lines and not _is_json(lines[0]):
        # A bad first line alone is a row problem; an object spread over lines is a file problem.
        spread = lines[0].strip() == "{" or (len(lines) > 1 and not lines[1].lstrip().startswith("{"))
        if spread:
            return "pretty-printed JSON, not JSON Lines (one object per line)"
    return None


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
