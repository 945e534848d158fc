"""Rows per landing file, counted as ingest appends them to bronze (etl/bronze/ingest.py ``append_counted``)."""

from __future__ import annotations

import pytest

from etl import delta_io
from etl.bronze import ingest
from etl.bronze.ingest import append_counted

SCHEMA = "source_file string, record_number long, file_checksum string, run_id string"


def _rows(run_id, **files):
    return [(f"sales/{checksum}.csv", n + 1, checksum, run_id) for checksum, rows in files.items() for n in range(rows)]


@pytest.mark.parametrize("observed_files", [ingest.OBSERVED_FILES, 0], ids=["counted-on-write", "read-back"])
def test_each_file_gets_its_own_row_count_and_a_file_without_rows_gets_0(spark, tmp_path, monkeypatch,
                                                                         observed_files):
    """Counted while the append writes (a few files) or read back from this run's rows (many): the same."""
    monkeypatch.setattr(ingest, "OBSERVED_FILES", observed_files)
    uri = str(tmp_path / "bronze_sales")
    earlier = spark.createDataFrame(_rows("run-a", sum_a=2), SCHEMA)
    assert append_counted(spark, earlier, uri, ["sum_a"], name="sales", run_id="run-a") == (0, {"sum_a": 2})

    # A second run: three rows of one file, one of another, none of a third (a header alone, say), and a
    # row of a file of the earlier run's content again must not be counted for this run.
    frame = spark.createDataFrame(_rows("run-b", sum_b=3, sum_c=1), SCHEMA)
    version, counts = append_counted(spark, frame, uri, ["sum_b", "sum_c", "sum_empty"], name="sales", run_id="run-b")
    assert version == 1 == delta_io.current_version(spark, uri)
    assert counts == {"sum_b": 3, "sum_c": 1, "sum_empty": 0}
    assert spark.read.format("delta").load(uri).count() == 6
