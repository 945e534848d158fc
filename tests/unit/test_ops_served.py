"""The quality results and rejected files as MySQL serves them (etl/export/ops_served.py): pure frames."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from etl import catalog
from etl.bronze.manifest import SCHEMA as MANIFEST
from etl.export.mysql import sql_literal
from etl.export.ops_served import REJECTED_FILES_COLUMNS, dq_results, rejected_files
from etl.quality.rules import DQ_RESULTS_SCHEMA

AT = datetime(2026, 11, 22, 2, 3, 4, 567000)


def test_rejected_files_are_the_rejected_manifest_rows_with_their_reason(spark):
    manifest = spark.createDataFrame([
        ("sales", "landing/sales/a.csv", 10, "c1", "r1", "ingested", None, 5, 3, AT),
        ("sales", "landing/sales/b.csv", 7, "c2", "r1", "rejected", "header: no column amount", None, None, AT),
        ("sales", "landing/sales/c.csv", 10, "c1", "r2", "skipped_duplicate", "same content", None, None, AT),
        ("customers", "landing/customers/d.json", 0, "c3", "r2", "rejected", "empty file", None, None, AT),
    ], MANIFEST)
    got = rejected_files(manifest)
    assert tuple(got.columns) == REJECTED_FILES_COLUMNS
    expected = spark.createDataFrame([
        ("sales", "landing/sales/b.csv", "c2", 7, "r1", "header: no column amount", AT),
        ("customers", "landing/customers/d.json", "c3", 0, "r2", "empty file", AT),
    ], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True)
    assert dict(got.dtypes)["rejected_at"] == "timestamp"


def test_dq_results_are_served_as_the_lake_holds_them(spark):
    rows = [("r1", date(2026, 11, 22), "sales", "amount_positive", "error", 2, 40),
            ("r1", date(2026, 11, 22), "sales", "_rows_with_errors", "error", 2, 40)]
    frame = spark.createDataFrame(rows, DQ_RESULTS_SCHEMA)
    assert_df_equality(dq_results(frame), frame)


def test_an_ops_table_not_written_yet_is_served_empty(spark, tmp_path):
    """A lake with no silver run (no dq_results) and no rejected file: empty tables, not an export error."""
    from etl.export.ops_served import DQ_RESULTS_COLUMNS, ops_frames

    frames = ops_frames(spark, lambda name: str(tmp_path / "lake" / "ops" / name))
    assert set(frames) == set(catalog.SERVED_OPS)
    assert tuple(frames["dq_results"].columns) == DQ_RESULTS_COLUMNS
    assert tuple(frames["rejected_files"].columns) == REJECTED_FILES_COLUMNS
    assert all(frame.count() == 0 for frame in frames.values())


def test_a_timestamp_is_a_utc_datetime_literal():
    """Small tables go as multi-row INSERTs from Spark's JSON: the rejected files' time included."""
    from pyspark.sql.types import TimestampType

    assert sql_literal("2026-11-22T02:03:04.567Z", TimestampType()) == "'2026-11-22 02:03:04.567'"
    assert sql_literal("2026-11-22T03:03:04.567+01:00", TimestampType()) == "'2026-11-22 02:03:04.567'"
    assert sql_literal(None, TimestampType()) == "NULL"
