"""Which ingest runs silver takes (etl/silver/build.py ``new_bronze``): those of the bronze commits after
the bronze version it recorded with its progress, read from the bronze log; the run ids stored in bronze
only where the log cannot tell. On a local Delta lake with hand-made bronze commits."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from etl import delta_io
from etl.catalog import SILVER_PROGRESS
from etl.config import load_config
from etl.run.records import USER_METADATA_CONF
from etl.silver.build import SilverStage

DAY = date(2026, 11, 22)


@pytest.fixture
def cfg(tmp_path):
    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})


def _ingest(spark, uri: str, run_id: str, rows: int = 2, commit_names_run: bool = True) -> None:
    """A bronze append as ingest makes it: the rows carry the run id, and so does the commit (unless an
    older release wrote it)."""
    frame = spark.createDataFrame([(f"sales/{run_id}.csv", n, run_id) for n in range(rows)],
                                  "source_file string, record_number long, run_id string")
    writer = frame.write.format("delta").mode("append")
    if commit_names_run:
        writer.option("userMetadata", run_id).save(uri)
        return
    previous = spark.conf.get(USER_METADATA_CONF, None)     # a run in this session may have left its id there
    spark.conf.unset(USER_METADATA_CONF)
    try:
        writer.save(uri)
    finally:
        if previous is not None:
            spark.conf.set(USER_METADATA_CONF, previous)


def _progress(spark, cfg, rows, columns="feed string, run_id string, bronze_version long") -> None:
    uri = SilverStage(spark, cfg, DAY, "x").uri("ops", "silver_progress")
    spark.createDataFrame(rows, columns).write.format("delta").mode("append").save(uri)


def _new(spark, cfg, feed="sales"):
    stage = SilverStage(spark, cfg, DAY, "run-silver")
    new, runs = stage.new_bronze(feed)
    stored = [] if new is None else sorted({r.run_id for r in new.select("run_id").collect()})
    return runs, stored, stage.read_versions.get(feed)


def test_a_feed_never_delivered_has_no_new_run(spark, cfg):
    assert _new(spark, cfg) == ([], [], None)


def test_the_new_runs_are_those_of_the_bronze_commits_after_the_version_silver_read(spark, cfg):
    uri = SilverStage(spark, cfg, DAY, "x").uri("bronze", "sales")
    _ingest(spark, uri, "r1")                                   # v0
    _ingest(spark, uri, "r2")                                   # v1
    assert _new(spark, cfg) == (["r1", "r2"], ["r1", "r2"], 1)  # nothing processed yet: every stored run

    # Silver processed r1 having read v1 (and, say, r2 was left out by hand): the log after v1 decides,
    # so r2 is not taken again; the stored run ids would have said r2.
    _progress(spark, cfg, [("sales", "r1", 1)])
    assert _new(spark, cfg) == ([], [], 1)
    _ingest(spark, uri, "r3")                                   # v2
    spark.sql(f"OPTIMIZE delta.`{uri}`")                        # v3: no new rows, not an ingest run
    assert _new(spark, cfg) == (["r3"], ["r3"], 3)
    _progress(spark, cfg, [("sales", "r3", 3)])
    assert _new(spark, cfg) == ([], [], 3)


def test_where_the_log_cannot_tell_the_stored_run_ids_decide(spark, cfg):
    uri = SilverStage(spark, cfg, DAY, "x").uri("bronze", "sales")
    _ingest(spark, uri, "r1")                                   # v0
    _ingest(spark, uri, "r2")                                   # v1
    # Progress written by an older release: no bronze version.
    _progress(spark, cfg, [("sales", "r1")], columns="feed string, run_id string")
    assert _new(spark, cfg) == (["r2"], ["r2"], 1)

    # The stage adds the column to an older release's table before it records progress.
    progress = SilverStage(spark, cfg, DAY, "x").uri("ops", "silver_progress")
    assert delta_io.add_missing_columns(spark, progress, SILVER_PROGRESS) == ["bronze_version"]
    _progress(spark, cfg, [("sales", "r2", 1)])
    assert _new(spark, cfg) == ([], [], 1)

    # A commit without its run id after the recorded version: the stored run ids again.
    _ingest(spark, uri, "r3", commit_names_run=False)           # v2
    _ingest(spark, uri, "r4")                                   # v3
    assert _new(spark, cfg) == (["r3", "r4"], ["r3", "r4"], 3)


def test_commits_whose_log_files_were_cleaned_up_leave_the_stored_run_ids_to_decide(spark, cfg):
    """Delta removes old commit files once a checkpoint covers them: the log then cannot name every run."""
    uri = SilverStage(spark, cfg, DAY, "x").uri("bronze", "sales")
    _ingest(spark, uri, "r1")                                   # v0
    _progress(spark, cfg, [("sales", "r1", 0)])
    _ingest(spark, uri, "r2")                                   # v1
    _ingest(spark, uri, "r3")                                   # v2
    delta_io._delta_log(spark, uri).checkpoint()                 # covers v2
    (Path(uri.removeprefix("file://")) / "_delta_log" / f"{1:020d}.json").unlink()   # as the cleanup would
    assert delta_io.commits(spark, uri, 0, 2) == [(2, "WRITE", "r3")]
    assert _new(spark, cfg) == (["r2", "r3"], ["r2", "r3"], 2)
