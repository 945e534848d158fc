"""The lake's quality results and rejected landing files as MySQL serves them (resources/sql/V007).

Gold answers "what sold"; these answer "what did the pipeline refuse, and why": the dashboard's Data
health page and any SQL consumer read them beside the run records. Pure DataFrame -> DataFrame
functions (tested with chispa); ``ops_frames`` reads the ops Delta tables named in
``catalog.SERVED_OPS`` and the export loads the result with the gold tables (one swap, one fingerprint
check each, etl/export/mysql.py).
"""

from __future__ import annotations

from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import catalog, delta_io
from etl.bronze.manifest import REJECTED

DQ_RESULTS_COLUMNS = ("run_id", "run_date", "feed", "rule", "severity", "failed_rows", "total_rows")
REJECTED_FILES_COLUMNS = ("feed", "path", "checksum", "size", "run_id", "reason", "rejected_at")


def dq_results(frame: DataFrame) -> DataFrame:
    """ops/dq_results as it is: one row per (run, feed, rule), the served column order."""
    return frame.select(*DQ_RESULTS_COLUMNS)


def rejected_files(manifest: DataFrame) -> DataFrame:
    """The rejected files of ops/file_manifest with their reason; ``recorded_at`` is when ingest rejected it."""
    return (manifest.filter(F.col("status") == REJECTED)
            .select("feed", "path", "checksum", "size", "run_id", "reason", F.col("recorded_at").alias("rejected_at")))


SHAPERS: dict[str, Callable[[DataFrame], DataFrame]] = {"dq_results": dq_results, "rejected_files": rejected_files}
assert set(SHAPERS) == set(catalog.SERVED_OPS), "a served ops table without its shaping function"


def ops_frames(spark: SparkSession, uri_of: Callable[[str], str]) -> dict[str, DataFrame]:
    """MySQL table -> its frame, from the ops Delta tables (``uri_of(name)``); an ops table not written
    yet (no silver run, no rejected file) is served empty, with its catalogue schema."""
    return {served: SHAPERS[served](delta_io.read_or_empty(spark, uri_of(source)))
            for served, source in catalog.SERVED_OPS.items()}
