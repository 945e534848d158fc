"""What ingest knows is in bronze, from the manifest and the bronze log (etl/bronze/ingest.py)."""

from __future__ import annotations

import pytest

from etl import delta_io
from etl.bronze.ingest import unrecorded_checksums, unrecorded_commits
from etl.bronze.manifest import INGESTED, ManifestEntry
from etl.run.records import USER_METADATA_CONF


def _append(spark, uri, run_id, checksum):
    (spark.createDataFrame([(f"sales/{checksum}.csv", 1, checksum, run_id)],
                           "source_file string, record_number long, file_checksum string, run_id string")
     .write.format("delta").mode("append").option("userMetadata", run_id).save(uri))


def _entry(checksum, run_id, version):
    return ManifestEntry("sales", f"sales/{checksum}.csv", 10, checksum, run_id, INGESTED, rows_read=1,
                         bronze_version=version)


@pytest.mark.parametrize("history_from", [delta_io.HISTORY_FROM, 0], ids=["commit-files", "delta-history"])
def test_only_appends_newer_than_the_manifest_and_unrecorded_are_read(spark, tmp_path, monkeypatch, history_from):
    """Read from each commit's JSON file when they are few, from Delta's history when many: the same answer."""
    monkeypatch.setattr(delta_io, "HISTORY_FROM", history_from)
    uri = str(tmp_path / "bronze_sales")
    assert unrecorded_commits(spark, uri, []) == []                     # no table yet
    _append(spark, uri, "run-a", "sum-a")                                # v0, recorded
    _append(spark, uri, "run-b", "sum-b")                                # v1, recorded
    seen = [_entry("sum-a", "run-a", 0), _entry("sum-b", "run-b", 1)]
    assert unrecorded_commits(spark, uri, seen) == []                   # the usual run: nothing to read

    _append(spark, uri, "run-c", "sum-c")                                # v2: killed before its manifest
    spark.sql(f"OPTIMIZE delta.`{uri}`")                                 # v3: no data change, not an append
    commits = unrecorded_commits(spark, uri, seen)
    assert commits == [(2, "run-c")]
    assert unrecorded_checksums(spark, uri, commits) == {"sum-c": 2}

    # Recorded by the next run (with its version): known again from the manifest alone.
    assert unrecorded_commits(spark, uri, [*seen, _entry("sum-c", "run-c", 2)]) == []


def test_an_append_without_its_run_id_makes_every_bronze_row_count(spark, tmp_path):
    uri = str(tmp_path / "bronze_sales")
    _append(spark, uri, "run-a", "sum-a")
    previous = spark.conf.get(USER_METADATA_CONF, None)
    spark.conf.unset(USER_METADATA_CONF)
    try:
        (spark.createDataFrame([("sales/old.csv", 1, "sum-old", "run-old")],
                               "source_file string, record_number long, file_checksum string, run_id string")
         .write.format("delta").mode("append").save(uri))               # a commit from before run ids
    finally:
        if previous is not None:
            spark.conf.set(USER_METADATA_CONF, previous)
    commits = unrecorded_commits(spark, uri, [_entry("sum-a", "run-a", 0)])
    assert [version for version, _ in commits] == [1]
    assert set(unrecorded_checksums(spark, uri, commits)) == {"sum-a", "sum-old"}
