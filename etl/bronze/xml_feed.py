"""The XML feed (``orders/``) into bronze: one row per ``<order>``, every value kept as it came.

A file is first checked on its first bytes (``xml_file_problem``: empty, not
XML, another root element than ``<orders>``) and rejected whole on a problem.
Spark's built-in XML source then reads the accepted files with the contract's
explicit all-string schema and options (``etl.contracts.orders.READ_OPTIONS``).

Splitting and record numbers: with ``multiLine`` (Spark's default for XML, set
explicitly anyway) the source is ``MultiLineXmlDataSource``, whose
``isSplitable`` is false: each file is parsed as one stream by one task, in
document order, whatever ``spark.sql.files.maxPartitionBytes`` says (the tests
read a file with a 64-byte split size to pin this). So, as for the CSV feeds,
an order's number within its file is ``monotonically_increasing_id`` minus the
file's first id, plus one, with no sort. A malformed order (not well-formed
XML) is one row with its raw text in ``raw_record`` and the other fields null,
and keeps its place in the numbering.
"""

from __future__ import annotations

import re
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from etl.bronze.csv_feed import source_key
from etl.contracts import orders as contract
from etl.bronze import require_columns

FILE_PATH = "_file_path"


def read_xml_files(spark: SparkSession, uris: list[str]) -> DataFrame:
    """The ``<order>`` records of some files: the six elements as strings, the corrupt record, the file path."""
    return (
        spark.read.format("xml")
        .schema(contract.READ_SCHEMA)
        .options(**contract.READ_OPTIONS)
        .load(uris)
        .select(*contract.READ_SCHEMA.fieldNames(), F.col("_metadata.file_path").alias(FILE_PATH))
    )


def conform_xml_to_bronze(raw: DataFrame, files: DataFrame, root: str, run_id: str,
                          ingested_at: datetime) -> DataFrame:
    """``read_xml_files`` output -> ``orders.BRONZE_SCHEMA``: record numbers per file and lineage added.

    ``files`` holds one row per file (``source_file`` key relative to ``root``,
    ``file_checksum``), joined in broadcast on the key derived from Spark's file path.
    ``raw`` must come straight from the reader (no shuffle in between), each file in
    one partition, in document order.
    """
    require_columns(raw, (*contract.MANDATORY, contract.CORRUPT, FILE_PATH), "the raw XML frame")
    require_columns(files, ("source_file", "file_checksum"), "the files frame")
    per_file = Window.partitionBy(FILE_PATH)
    return (
        raw.withColumn("_row_id", F.monotonically_increasing_id())
        .withColumn("record_number", F.col("_row_id") - F.min("_row_id").over(per_file) + 1)
        .withColumn("source_file", source_key(F.col(FILE_PATH), root))
        .join(F.broadcast(files), "source_file")
        .select(
            *contract.MANDATORY,
            F.col(contract.CORRUPT).alias("raw_record"),
            "source_file",
            F.col("record_number").cast("long").alias("record_number"),
            "file_checksum",
            F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
            F.lit(run_id).alias("run_id"),
        )
    )


# -- file-level check ---------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?")
_PROLOG_ENDS = (("<?", "?>"), ("<!--", "-->"))


def _decode(first_bytes: bytes) -> str:
    if first_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):
        return first_bytes.decode("utf-16", errors="replace")
    return first_bytes.decode("utf-8-sig", errors="replace")


def _skip_doctype(text: str) -> int | None:
    """Index just after a ``<!DOCTYPE ...>`` at the start of ``text`` (internal subset included), or None."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ">" and depth <= 0:
            return i + 1
    return None


def xml_file_problem(first_bytes: bytes, root_tag: str = contract.ROOT_TAG) -> str | None:
    """Why an ``orders/`` file must be rejected whole, judged on its first bytes (say 4 KiB), or None.

    Reasons: ``empty file``; ``not XML: ...`` (binary content, or text that does not
    start with an element); ``wrong root element <x>, expected <orders>``. The
    declaration, comments, processing instructions and a DOCTYPE before the root are
    skipped; a namespace prefix on the root is allowed. When the prefix ends before the
    root element's name does, nothing can be said and None is returned: Spark's parser
    judges the rest.
    """
    if not first_bytes:
        return "empty file"
    text = _decode(first_bytes)
    if "\x00" in text:
        return "not XML: binary content"
    if not text.strip():
        return "empty file"
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        rest = text[pos:]
        if not rest:
            return None  # only a prolog in the bytes we were given: the root may follow
        prolog_end = None
        for start, end in _PROLOG_ENDS:
            if rest.startswith(start):
                close = rest.find(end, len(start))
                prolog_end = -1 if close < 0 else close + len(end)
                break
        else:
            if rest.startswith("<!DOCTYPE"):
                prolog_end = _skip_doctype(rest) or -1
        if prolog_end is None:
            break
        if prolog_end < 0:
            return None  # the prolog goes on past the bytes we were given
        pos += prolog_end
    if not rest.startswith("<"):
        return f"not XML: starts with {rest[:20]!r}"
    name = _NAME.match(rest, 1)
    if name is None:
        return f"not XML: starts with {rest[:20]!r}"
    if name.end() >= len(rest):
        return None  # the name may go on past the bytes we were given
    if rest[name.end()] not in " \t\r\n/>":
        return f"not XML: starts with {rest[:20]!r}"
    local = name.group().rsplit(":", 1)[-1]
    if local != root_tag:
        return f"wrong root element <{name.group()}>, expected <{root_tag}>"
    return None
