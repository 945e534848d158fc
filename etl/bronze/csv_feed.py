"""CSV feeds into bronze: headers checked per file, every record kept as it came.

Files are grouped by their header (read with one small ranged read each), so
files whose columns come in another order or with extra columns are read with
the right layout; a header missing a mandatory column rejects the file before
Spark reads it. Spark then reads each group with an explicit all-string schema
(no inference) in ``multiLine`` mode: a file is never split, so a record's
number within its file is ``monotonically_increasing_id`` minus the file's
first id, without sorting anything.
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


def read_csv_group(spark: SparkSession, uris: list[str], header: CsvHeader) -> DataFrame:
    """Files sharing one header, as positional string columns ``c0..cN`` plus the corrupt record and file path."""
    # Fields carry the file's own header names so Spark's header check agrees, then become positional.
    schema = StructType(
        [StructField(name, StringType(), True) for name in header.raw]
        + [StructField(CORRUPT, StringType(), True)]
    )
    positional = [f"c{i}" for i in range(len(header.raw))]
    return (
        spark.read.format("csv")
        .schema(schema)
        .options(header="true", multiLine="true", mode="PERMISSIVE", encoding="UTF-8",
                 columnNameOfCorruptRecord=CORRUPT, enforceSchema="true", escape='"')
        .load(uris)
        .select("*", F.col("_metadata.file_path").alias("_file_path"))
        .toDF(*positional, CORRUPT, "_file_path")
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
    row_id = F.monotonically_increasing_id()
    per_file = Window.partitionBy("_file_path")
    return (
        raw.withColumn("_row_id", row_id)
        .withColumn("record_number", F.col("_row_id") - F.min("_row_id").over(per_file) + 1)
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
