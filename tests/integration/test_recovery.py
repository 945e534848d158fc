"""Recovery: a run killed at each stage boundary, rerun, ends exactly like an uninterrupted run.

The slice's data is generated again under its own prefix and run with the test hook
``ETL_TEST_CRASH_AT=after_<stage>`` (the process ends with ``os._exit`` right after the
stage, as a kill would): killed after ingest, rerun and killed after silver, rerun and
killed after gold, then rerun to the end. Every silver and gold table must then hold
the same rows as the session's uninterrupted slice run (``local_slice_run``, same
files, same run date); lineage columns (file paths, run ids) naturally differ.
"""

from __future__ import annotations

import pytest

from etl.export.mysql import Connection, target_for
from tests.integration.conftest import (BIN, SLICE_OPTS, SLICE_RUN_DATE, etl_in_process, generate,
                                        isolated_env, landing_store)

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # several whole runs: not in make test-quick

CRASH_EXIT = 70          # etl.faults.point
LINEAGE = {"source_file", "record_number", "run_id", "ingested_at", "loaded_at", "file_checksum"}


def delta_tables(stack, cfg, layer: str) -> list[str]:
    from etl.storage import store_for

    lake = store_for(cfg, cfg.storage.lake, stack.secret)
    return sorted({f.key.split("/")[1] for f in lake.list(f"{layer}/") if "/_delta_log/" in f.key})


def table_content(spark, uri: str, ignore: frozenset[str] = frozenset()) -> list[tuple]:
    frame = spark.read.format("delta").load(uri)
    kept = [c for c in frame.columns if c not in LINEAGE and c not in ignore]
    return sorted((tuple(r) for r in frame.select(*kept).collect()), key=repr)


def assert_same_silver_and_gold(stack, spark, cfg, expected_cfg,
                                ignore: dict[str, frozenset[str]] | None = None) -> None:
    """Both lakes hold the same silver and gold tables with the same rows (lineage columns aside, and the
    columns ``ignore`` names for a ``layer/table``)."""
    for layer in ("silver", "gold"):
        tables = delta_tables(stack, cfg, layer)
        assert tables == delta_tables(stack, expected_cfg, layer) and tables, layer
        for table in tables:
            skip = (ignore or {}).get(f"{layer}/{table}", frozenset())
            assert table_content(spark, f"{cfg.storage.lake}/{layer}/{table}", skip) == \
                table_content(spark, f"{expected_cfg.storage.lake}/{layer}/{table}", skip), f"{layer}/{table}"


def test_killed_at_each_stage_boundary_then_rerun_equals_an_uninterrupted_run(local_slice_run, s3_spark,
                                                                              tmp_path):
    stack, slice_cfg, _, _ = local_slice_run
    env = isolated_env("recovery")
    generate(SLICE_OPTS, tmp_path, landing_store(stack, "recovery"))
    cfg = stack.config(**env)
    run = [str(BIN / "etl"), "run", "--date", SLICE_RUN_DATE.isoformat()]
    for stage in ("ingest", "silver", "gold"):
        killed = stack.run(run, {**env, "ETL_TEST_CRASH_AT": f"after_{stage}"})
        assert killed.returncode == CRASH_EXIT, killed.stderr[-3000:]
        assert f"stage {stage}: done" in killed.stderr
    final = etl_in_process(stack, s3_spark, env, run[1:])     # the lock's owner is gone: taken over
    assert final.returncode == 0, final.stderr[-3000:]

    assert_same_silver_and_gold(stack, s3_spark, cfg, slice_cfg)
    # MySQL holds the recovered run's gold (the same rows), with no duplicate.
    with Connection(s3_spark, target_for(cfg, stack.secret)) as conn:
        rows = conn.query("SELECT COUNT(*), COUNT(DISTINCT store_id, sales_person_id, sales_month) "
                          "FROM sales_team_data_mart")
    gold_rows = s3_spark.read.format("delta").load(f"{cfg.storage.lake}/gold/sales_team_data_mart").count()
    assert rows == [(str(gold_rows), str(gold_rows))]
