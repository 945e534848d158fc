"""Run records on a local Delta lake (no services): a run's row is written whatever its outcome, once per
run id, names the versions of the tables it committed to, and a rollback restores the gold the previous
succeeded run left. Gold is cut to two tiny tables here; tests/integration/test_operations_records.py
does the same with real runs, MinIO and MySQL."""

from __future__ import annotations

from datetime import date

import pytest

from etl.config import load_config
from etl.errors import DataQualityError
from etl.gold.build import GoldResult
from etl.lake import table_uri
from etl.run import records as runs
from etl.run import rollback as rollback_module
from etl.run.run import Run
from etl.run.stages import Gold, Silver

TABLES = {"kpi_daily_sales": None, "alerts": None}


class GoldOnly(Gold):
    """A gold stage that writes two one-row tables for its run date."""

    def run(self, run) -> None:
        result = GoldResult()
        frames = {"kpi_daily_sales": run.spark.createDataFrame([(run.run_date, 1)], "date date, units int"),
                  "alerts": run.spark.createDataFrame([], "date date, revenue int, expected int, reason string")}
        for name, frame in frames.items():
            frame.write.format("delta").mode("overwrite").save(table_uri(run.cfg, "gold", name))
            result.counts[name], result.locations[name] = frame.count(), table_uri(run.cfg, "gold", name)
        run.summary.gold = result


class StoppedByQuality(Silver):
    def run(self, run) -> None:
        run.spark     # noqa: B018 - the stage had started Spark
        raise DataQualityError("data-quality threshold exceeded: feed 'sales': 3 of 4 rows")


@pytest.fixture
def lake_cfg(tmp_path, monkeypatch, spark):
    monkeypatch.setattr("etl.gold.marts.GOLD_TABLES", TABLES)
    monkeypatch.setattr(rollback_module, "GOLD_TABLES", TABLES)
    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake"),
                                         "ETL__STORAGE__LANDING": str(tmp_path / "landing"),
                                         "ETL__STORAGE__EXPORTS": str(tmp_path / "exports"),
                                         "ETL__SPARK__SHUFFLE_PARTITIONS": "1"})


def gold_units(spark, cfg):
    return [tuple(r) for r in spark.read.format("delta").load(table_uri(cfg, "gold", "kpi_daily_sales")).collect()]


def test_runs_are_recorded_once_with_their_versions_and_a_rollback_restores_gold(lake_cfg, spark, caplog):
    first = Run(lake_cfg, date(2026, 11, 22), trigger="cron")
    first.execute((GoldOnly(),))
    second = Run(lake_cfg, date(2026, 11, 23))
    second.execute((GoldOnly(),))
    failed = Run(lake_cfg, date(2026, 11, 23))
    with pytest.raises(DataQualityError):
        failed.execute((StoppedByQuality(),))
    assert spark.conf.get(runs.USER_METADATA_CONF, None) is None      # reset after each run

    # Written again (a retried write): still one row per run.
    runs.write_run_record(spark, runs.runs_uri(lake_cfg), runs.run_record(first.summary))
    held = runs.newest(runs.read_records(lake_cfg, None), 10)
    assert [(r["run_id"], r["status"], r["trigger"]) for r in held] == [
        (failed.run_id, "dq_failed", "cli"), (second.run_id, "succeeded", "cli"), (first.run_id, "succeeded", "cron")]
    # Every gold table is recorded, also one whose (empty) overwrite Delta may not commit.
    assert held[2]["table_versions"] == {"gold/alerts": 0, "gold/kpi_daily_sales": 0}
    assert held[1]["table_versions"]["gold/kpi_daily_sales"] == 1 and "gold/alerts" in held[1]["table_versions"]
    alerts_left = held[1]["table_versions"]["gold/alerts"]
    assert held[0]["table_versions"] == {} and held[0]["stages"] == ["silver"]
    assert held[0]["error"] == "data-quality threshold exceeded: feed 'sales': 3 of 4 rows"
    assert held[1]["started_at"] == second.started_at
    assert runs.success_end(runs.read_records(lake_cfg, None)) == second.summary.ended_at
    assert runs.find_run(spark, lake_cfg, first.run_id)["run_date"] == date(2026, 11, 22)
    # The records as etl status and etl check-freshness read them: without Spark, from the local lake (delta-rs).
    no_spark = runs.read_records(lake_cfg, None)
    assert runs.find_record(no_spark, lake_cfg, first.run_id) == runs.find_run(spark, lake_cfg, first.run_id)

    undo = rollback_module.RollbackRun(lake_cfg, second.run_id)
    with caplog.at_level("INFO", logger="etl.run.run"):
        undo.execute(rollback_module.STEPS)
    # Its first line names what it undoes, not a run date it does not know yet (today's date, before).
    assert f"run {undo.run_id} rolling back run {second.run_id}, stages restore,export_mysql" in caplog.text
    assert gold_units(spark, lake_cfg) == [(date(2026, 11, 22), 1)]
    assert undo.restored == {"kpi_daily_sales": (1, 0), "alerts": (alerts_left, 0)}
    record = runs.find_run(spark, lake_cfg, undo.run_id)
    assert (record["trigger"], record["status"], record["run_date"]) == ("rollback", "succeeded", date(2026, 11, 22))
    assert record["table_versions"]["gold/kpi_daily_sales"] == 2
    assert runs.success_end(runs.read_records(lake_cfg, None)) == second.summary.ended_at   # a rollback is no fresh load
    assert f"  rolled back run {second.run_id}: gold as left by run {first.run_id} for 2026-11-22" in undo.lines()

    # The first run has nothing before it to go back to; the failed one wrote no gold.
    with pytest.raises(Exception, match="no succeeded run with gold recorded before run"):
        rollback_module.RollbackRun(lake_cfg, first.run_id).execute(rollback_module.STEPS)
    with pytest.raises(Exception, match="wrote no gold table: nothing to roll back"):
        rollback_module.RollbackRun(lake_cfg, failed.run_id).execute(rollback_module.STEPS)


def test_reading_the_records_without_spark_ends_its_process_cleanly(lake_cfg, tmp_path):
    """``etl status`` and ``etl check-freshness`` are short processes that read ops/runs with delta-rs.
    Read through a pyarrow dataset, about half of such processes aborted at interpreter exit (exit -6,
    "terminate called without an active exception") after printing their answer; ten in a row all
    ending with 0 is what a clean read gives (the old one passed this about one time in 400)."""
    import subprocess
    import sys

    Run(lake_cfg, date(2026, 11, 22)).execute((GoldOnly(),))
    probe = ("import sys; from etl.config import load_config; from etl.run.records import read_records; "
             "print(len(read_records(load_config('local', environ={'ETL__STORAGE__LAKE': sys.argv[1]}), None)))")
    lake = str(tmp_path / "lake")
    ended = [(done.returncode, done.stdout.strip(), done.stderr[-300:]) for done in
             (subprocess.run([sys.executable, "-c", probe, lake], capture_output=True, text=True, timeout=120)
              for _ in range(10))]
    assert ended == [(0, "1", "")] * 10


def test_an_export_of_a_lake_where_gold_never_ran_is_one_line_naming_the_table_and_what_to_run(
        tmp_path, monkeypatch, capsys, spark):
    """`etl export excel` reads gold through delta_io.read: a gold table never written stops it with exit 1
    and one line (the table, the stage that writes it, the command that does), never a stack trace."""
    import re

    from etl.cli import main

    monkeypatch.setenv("ETL__STORAGE__LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL__EXCEL__OUTPUT_DIR", str(tmp_path / "exports"))
    assert main(["export", "excel", "--profile", "local", "--date", "2026-11-22"]) == 1
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("etl: error:")]
    assert re.fullmatch(r"etl: error: no Delta table at \S+/gold/\w+: gold/\w+ is written by the gold stage, which "
                        r"has not written it on this lake yet; gold never ran here: run 'etl run --date "
                        r"2026-11-22' first", line), line
    assert not list(tmp_path.glob("exports/*.xlsx"))
