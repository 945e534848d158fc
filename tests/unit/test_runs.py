"""Run records (issue 8): the summary -> ops/runs row, what `etl status` and `etl check-freshness` print,
which versions a rollback restores, and run ids in JSON log lines. No I/O but one tiny frame."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import pytest

from etl.run import records as runs
from etl.bronze.ingest import FeedIngestResult
from etl.errors import EXIT_STALE, ConfigError, DataQualityError, ExportError, StaleError
from etl.export.mysql import RUN_RECORD_COLUMNS
from etl.gold.build import GoldResult
from etl.log import JsonFormatter, RunIdFilter, current_run_id
from etl.run.rollback import versions_to_restore
from etl.run.summary import RunSummary
from etl.silver.build import FeedQuality, SilverResult

STARTED = datetime(2026, 11, 23, 2, 0, 0, tzinfo=timezone.utc)


def finished_summary(error=None) -> RunSummary:
    silver = SilverResult(feeds=[FeedQuality("sales", rows_in=120, rows_quarantined=3, rows_to_silver=115)])
    gold = GoldResult(counts={"customers_data_mart": 57, "alerts": 1},
                      locations={"customers_data_mart": "s3a://lake/gold/customers_data_mart",
                                 "alerts": "s3a://lake/gold/alerts"},
                      alerts=["2026-11-22: revenue_7d 10.00 against 90.00 expected (drop)"])
    summary = RunSummary("20261123T020000Z-abc123", date(2026, 11, 22), "dev",
                         ingest=[FeedIngestResult("sales", ingested=["sales/a.csv"], rows=120)],
                         silver=silver, gold=gold, mysql={"customers_data_mart": 57, "alerts": 1},
                         trigger="spark-submit", started_at=STARTED)
    summary.stages = ["ingest", "silver", "gold", "export"]
    summary.stage_seconds = {"ingest": 12.5, "silver": 30.25, "gold": 20, "export": 9.0}
    summary.table_versions = {"gold/customers_data_mart": 4, "bronze/sales": 2}
    summary.ended_at = STARTED + timedelta(minutes=1, seconds=12)
    summary.status, summary.error = runs.status_of(error), runs.error_line(error)
    return summary


def test_a_summary_becomes_one_row_with_every_figure():
    record = runs.run_record(finished_summary())
    assert record == {
        "run_id": "20261123T020000Z-abc123", "run_date": date(2026, 11, 22), "trigger": "spark-submit",
        "profile": "dev", "started_at": STARTED, "ended_at": STARTED + timedelta(seconds=72),
        "status": "succeeded", "stages": ["ingest", "silver", "gold", "export"],
        "stage_seconds": {"ingest": 12.5, "silver": 30.25, "gold": 20.0, "export": 9.0},
        "table_rows": [("bronze", "sales", 120, 120, None), ("silver", "sales", 120, 115, 3),
                       ("gold", "customers_data_mart", None, 57, None), ("gold", "alerts", None, 1, None),
                       ("mysql", "customers_data_mart", None, 57, None), ("mysql", "alerts", None, 1, None)],
        "table_versions": {"bronze/sales": 2, "gold/customers_data_mart": 4},
        "alerts": ["2026-11-22: revenue_7d 10.00 against 90.00 expected (drop)"],
        "error": None,
    }
    assert list(record) == runs.RUNS_SCHEMA.fieldNames()


def test_the_row_fits_the_table_schema(spark):
    record = runs.run_record(finished_summary(ExportError("cannot connect to MySQL at jdbc:mysql://h:1/db")))
    row = spark.createDataFrame([tuple(record.values())], runs.RUNS_SCHEMA).first()
    assert (row.status, row.error) == ("failed", "cannot connect to MySQL at jdbc:mysql://h:1/db")
    assert row.table_rows[1].rows_quarantined == 3 and row.table_versions["bronze/sales"] == 2


def test_the_mysql_row_holds_the_same_record_as_text_and_json():
    error = DataQualityError("data-quality threshold exceeded: feed 'sales': 3 of 4 rows")
    record = runs.run_record(finished_summary(error))
    row = runs.mysql_run_row(record)
    assert len(row) == len(RUN_RECORD_COLUMNS)
    by_column = dict(zip(RUN_RECORD_COLUMNS, row))
    assert {k: by_column[k] for k in ("run_id", "run_date", "run_trigger", "profile", "started_at", "ended_at",
                                      "status", "stages", "error")} == {
        "run_id": "20261123T020000Z-abc123", "run_date": "2026-11-22", "run_trigger": "spark-submit",
        "profile": "dev", "started_at": "2026-11-23 02:00:00.000", "ended_at": "2026-11-23 02:01:12.000",
        "status": "dq_failed", "stages": "ingest,silver,gold,export",
        "error": "data-quality threshold exceeded: feed 'sales': 3 of 4 rows"}
    assert json.loads(by_column["stage_seconds"]) == {"export": 9.0, "gold": 20.0, "ingest": 12.5, "silver": 30.25}
    assert json.loads(by_column["table_rows"]) == [list(r) for r in record["table_rows"]]
    assert ["silver", "sales", 120, 115, 3] in json.loads(by_column["table_rows"])
    assert json.loads(by_column["table_versions"]) == {"bronze/sales": 2, "gold/customers_data_mart": 4}
    assert json.loads(by_column["alerts"]) == ["2026-11-22: revenue_7d 10.00 against 90.00 expected (drop)"]
    assert runs.mysql_run_row(runs.run_record(finished_summary()))[-1] is None        # no error: NULL


def test_only_runs_with_an_export_stage_go_to_mysql_and_not_when_mysql_was_unreachable():
    summary = finished_summary()
    assert runs.records_to_mysql(summary, None, mysql_enabled=True)
    assert not runs.records_to_mysql(summary, None, mysql_enabled=False)
    summary.stages = ["ingest", "silver"]
    assert not runs.records_to_mysql(summary, None, mysql_enabled=True)
    summary.stages = ["restore", "export_mysql"]                      # a rollback
    assert runs.records_to_mysql(summary, ExportError("the Excel upload failed"), mysql_enabled=True)
    assert not runs.records_to_mysql(summary, ExportError("cannot connect to MySQL at mysql://h:3306/db as ..."),
                                     mysql_enabled=True)


def test_status_and_error_line_of_each_outcome():
    assert runs.status_of(DataQualityError("threshold")) == "dq_failed"
    assert runs.status_of(KeyboardInterrupt()) == "failed"
    assert runs.error_line(None) is None
    assert runs.error_line(ExportError("MySQL down")) == "MySQL down"
    # A Java error's text carries its stack trace after the first line: only the first line is kept.
    java = RuntimeError("An error occurred while calling o1.save.\n: java.io.IOException: x\n\tat a.b(C.java:1)")
    assert runs.error_line(java) == "RuntimeError: An error occurred while calling o1.save."
    assert runs.error_line(ValueError()) == "ValueError"
    assert len(runs.error_line(RuntimeError("x" * 5000))) == runs.ERROR_LIMIT


def as_read(summary: RunSummary) -> dict:
    """A record as read back from the table (nested rows become dicts)."""
    record = runs.run_record(summary)
    names = runs.TABLE_ROWS.fieldNames()
    record["table_rows"] = [dict(zip(names, r)) for r in record["table_rows"]]
    return record


def test_status_prints_an_aligned_table():
    ok = as_read(finished_summary())
    failed = {**as_read(finished_summary(DataQualityError("sales over threshold"))),
              "run_id": "20261124T020000Z-def456", "table_rows": [], "alerts": [], "trigger": "cli"}
    lines = runs.status_lines([failed, ok])
    assert lines == [
        "run id                   run date    trigger       status     duration  rows to gold  alerts",
        "20261124T020000Z-def456  2026-11-22  cli           dq_failed     1m12s             -       0",
        "20261123T020000Z-abc123  2026-11-22  spark-submit  succeeded     1m12s            58       1",
    ]


def test_status_detail_shows_stages_tables_versions_and_the_error():
    lines = runs.detail_lines(as_read(finished_summary(ExportError("MySQL down"))))
    assert lines[0] == "run 20261123T020000Z-abc123 for 2026-11-22 (profile dev, trigger spark-submit): failed"
    assert "  started 2026-11-23 02:00:00 UTC, ended 2026-11-23 02:01:12 UTC (1m12s)" in lines
    assert "    silver            30.2 s" in lines
    assert "  silver sales                           120       115           3" in lines
    assert "  gold customers_data_mart                 -        57           -" in lines
    assert "  delta versions left: bronze/sales v2, gold/customers_data_mart v4" in lines
    assert lines[-1] == "  error: MySQL down"


@pytest.mark.parametrize("text, age", [("26h", timedelta(hours=26)), ("90m", timedelta(minutes=90)),
                                       ("2d", timedelta(days=2)), ("30s", timedelta(seconds=30)),
                                       ("1.5h", timedelta(minutes=90))])
def test_max_age_takes_a_unit(text, age):
    assert runs.parse_max_age(text) == age


@pytest.mark.parametrize("text", ["26", "h", "0h", "-1h", "26 hours", ""])
def test_a_max_age_without_a_unit_is_refused(text):
    with pytest.raises(ConfigError, match="positive age with a unit"):
        runs.parse_max_age(text)


def test_freshness_passes_under_the_age_and_fails_over_it_with_exit_6():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    last = now - timedelta(hours=10, minutes=5)
    assert runs.check_freshness(last, now, timedelta(hours=26), "s3a://lake/ops/runs") == \
        "fresh: last succeeded run ended 2026-11-23 01:55:00 UTC, 10h5m ago (allowed 1d2h)"
    with pytest.raises(StaleError, match=r"^stale: last succeeded run ended 2026-11-23 01:55:00 UTC, 10h5m ago, "
                                         r"more than the allowed 1h$") as stale:
        runs.check_freshness(last, now, timedelta(hours=1), "s3a://lake/ops/runs")
    assert stale.value.exit_code == EXIT_STALE == 6
    with pytest.raises(StaleError, match="no succeeded run recorded in s3a://lake/ops/runs"):
        runs.check_freshness(None, now, timedelta(hours=1), "s3a://lake/ops/runs")


def test_rollback_restores_the_versions_the_previous_succeeded_run_left():
    target = {"run_id": "r2", "status": "succeeded", "stages": ["gold"], "table_versions": {"gold/a": 5, "gold/b": 7}}
    previous = {"run_id": "r1", "table_versions": {"gold/a": 3, "gold/b": 4, "silver/x": 9}}
    assert versions_to_restore(target, previous, ("a", "b")) == {"a": 3, "b": 4}
    with pytest.raises(ConfigError, match="no succeeded run with gold recorded before run r2"):
        versions_to_restore(target, None, ("a", "b"))
    no_gold = {**target, "status": "dq_failed", "stages": ["ingest", "silver"], "table_versions": {"silver/x": 9}}
    with pytest.raises(ConfigError, match=r"run r2 \(dq_failed, stages ingest,silver\) wrote no gold table"):
        versions_to_restore(no_gold, previous, ("a", "b"))


@contextmanager
def logging_in_run(run_id: str, handler: logging.Handler):
    """A logger of its own that writes to ``handler`` (with the run-id filter) while ``run_id`` is current."""
    handler.addFilter(RunIdFilter())
    logger = logging.getLogger(f"test_runs.{id(handler)}")
    logger.addHandler(handler)
    logger.propagate = False
    token = current_run_id.set(run_id)
    try:
        yield logger
    finally:
        current_run_id.reset(token)
        logger.removeHandler(handler)


def test_json_log_lines_carry_the_run_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    with logging_in_run("20261123T020000Z-abc123", handler) as logger:
        logger.warning("stage %s: done", "gold")
    entry = json.loads(stream.getvalue())
    assert (entry["run_id"], entry["level"], entry["message"]) == ("20261123T020000Z-abc123", "warning",
                                                                   "stage gold: done")


def test_log_lines_from_a_run_s_worker_threads_carry_its_run_id():
    from etl.log import RunContextThreadPool

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    with logging_in_run("20261130T230000Z-def456", handler) as logger, RunContextThreadPool(4) as pool:
        list(pool.map(lambda n: logger.warning("file %d", n), range(8)))
    assert sorted(r.getMessage() for r in records) == [f"file {n}" for n in range(8)]
    assert {r.run_id for r in records} == {"20261130T230000Z-def456"}


def test_the_package_s_thread_pools_and_threads_pass_the_run_id_on():
    """A plain ThreadPoolExecutor or Thread in etl/ would log its lines with run id "-"."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "etl"
    plain = [f"{path.relative_to(package.parent)}:{n}" for path in sorted(package.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"\bThreadPoolExecutor\(", line) and path.name != "log.py"
             or re.search(r"threading\.Thread\((?!target=contextvars\.copy_context\(\)\.run)", line)]
    assert plain == []
