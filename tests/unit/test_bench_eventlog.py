"""What the benchmark reads from a run: Spark's event log (benchmarks/eventlog.py) and the export's log lines
(benchmarks/run.py ``serving_figures``). Hand-written events and lines, no Spark; the smoke test
(tests/integration/test_bench_smoke.py) reads real ones."""

from __future__ import annotations

import json

from benchmarks.eventlog import summarize
from benchmarks.run import serving_figures, serving_lines
from etl.export.mysql import LOADED_LINE, SWAPPED_LINE

MIB = 2 ** 20


def task_end(stage: int, heap_mib: int, spilled_mib: int = 0, disk_mib: int = 0, written_mib: int = 0) -> dict:
    return {"Event": "SparkListenerTaskEnd", "Stage ID": stage,
            "Task Executor Metrics": {"JVMHeapMemory": heap_mib * MIB},
            "Task Metrics": {"Peak Execution Memory": 2 * MIB, "Executor CPU Time": 1_400_000_000,
                             "Executor Deserialize CPU Time": 100_000_000, "Memory Bytes Spilled": spilled_mib * MIB,
                             "Disk Bytes Spilled": disk_mib * MIB,
                             "Shuffle Write Metrics": {"Shuffle Bytes Written": written_mib * MIB},
                             "Shuffle Read Metrics": {"Remote Bytes Read": 0, "Local Bytes Read": written_mib * MIB}}}


def test_summary_sums_spill_and_shuffle_and_takes_the_peak_heap(tmp_path):
    folder = tmp_path / "eventlog_v2_local-1"
    folder.mkdir()
    events = [
        {"Event": "SparkListenerJobStart", "Stage IDs": [0], "Properties": {"spark.job.description": "silver sales"}},
        {"Event": "SparkListenerJobStart", "Stage IDs": [1], "Properties": {}},
        task_end(0, heap_mib=300, spilled_mib=64, disk_mib=16, written_mib=5),
        task_end(0, heap_mib=900, spilled_mib=32, disk_mib=8),
        task_end(1, heap_mib=500, written_mib=7),
        {"Event": "SparkListenerStageExecutorMetrics", "Executor Metrics": {"JVMHeapMemory": 1200 * MIB,
                                                                          "TotalGCTime": 4500}},
        {"Event": "SparkListenerStageCompleted",
         "Stage Info": {"Stage ID": 0, "Submission Time": 1_000, "Completion Time": 13_000}},
        {"Event": "SparkListenerStageCompleted",
         "Stage Info": {"Stage ID": 1, "Submission Time": 20_000, "Completion Time": 21_500}},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 4,
         "time": 1_000, "description": "silver sales"},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd", "executionId": 4,
         "time": 13_500},
    ]
    lines = [json.dumps(e) for e in events]
    (folder / "events_1_local-1").write_text("\n".join(lines) + '\n{"Event": "SparkListenerTa', encoding="utf-8")

    summary = summarize(tmp_path)     # the cut last line (a log still being written) is skipped
    assert summary["peak_heap_mib"] == 1200
    assert (summary["memory_spilled_mib"], summary["disk_spilled_mib"]) == (96, 24)
    assert (summary["shuffle_written_mib"], summary["shuffle_read_mib"]) == (12, 12)
    assert summary["peak_task_execution_memory_mib"] == 2
    assert (summary["tasks"], summary["stages"], summary["gc_s"]) == (3, 2, 4.5)
    assert summary["stage_seconds_by_job"] == [{"job": "silver sales", "seconds": 12.0},
                                               {"job": "(no description)", "seconds": 1.5}]
    assert summary["slowest_sql"] == [{"id": 4, "seconds": 12.5, "description": "silver sales"}]
    assert summary["task_cpu_s_by_job"] == {"silver sales": 3.0, "(no description)": 1.5}


def test_serving_figures_from_the_export_log_lines():
    """The MySQL lines as the export writes them (its own format strings), so a new wording fails here."""
    messages = [{"message": m} for m in (
        LOADED_LINE % ("customers_data_mart", 12000, 3.0, "Spark JDBC"),
        LOADED_LINE % ("kpi_daily_sales", 366, 1.0, "multi-row INSERTs"),
        SWAPPED_LINE % (2, "mysql://127.0.0.1:3406/retail", 0.012, 1, " (alerts)"),
        "excel: Daily_Report_20261101.xlsx holds 5000 row(s) on 7 sheet(s), written in 2.50 s",
    )]
    figures = serving_figures(messages)
    assert figures["mysql"] == {"rows": 12366, "seconds": 4.0, "rows_per_s": 3092}
    assert figures["mysql_tables"]["kpi_daily_sales"] == {"rows": 366, "seconds": 1.0, "how": "multi-row INSERTs"}
    assert figures["switch_s"] == 0.012
    assert "mysql_skipped" not in figures
    assert figures["excel"] == {"rows": 5000, "sheets": 7, "seconds": 2.5, "rows_per_s": 2000}


def test_serving_figures_say_when_mysql_was_off():
    figures = serving_figures([{"message": "mysql export skipped: mysql.enabled is false in profile 'local'"}])
    assert "mysql" not in figures and figures["mysql_skipped"].startswith("mysql export skipped")


def test_stage_seconds_from_the_json_log_lines():
    from benchmarks.run import log_messages, stage_times

    stderr = "\n".join([
        "Setting default log level to \"WARN\".",
        '{"ts": "2026-11-30T21:00:00.000+00:00", "message": "stage ingest: start"}',
        '{"ts": "2026-11-30T21:00:30.500+00:00", "message": "stage ingest: done"}',
        '{"ts": "2026-11-30T21:00:30.500+00:00", "message": "stage silver: start"}',
        '{"ts": "2026-11-30T21:00:3',                                   # a cut line
    ])
    assert stage_times(log_messages(stderr)) == {"ingest": 30.5}       # silver never finished


def test_counts_sql_executions_started_jobs_and_the_application_start(tmp_path):
    folder = tmp_path / "eventlog_v2_local-2"
    folder.mkdir()
    sql_start = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
    sql_end = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"
    events = [
        {"Event": "SparkListenerApplicationStart", "App Name": "etl", "Timestamp": 1_700_000_000_000},
        {"Event": sql_start, "executionId": 0, "time": 1_700_000_001_000, "description": "ingest sales: bronze"},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [0], "Properties": {}},
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Stage IDs": [1], "Properties": {}},
        {"Event": sql_end, "executionId": 0, "time": 1_700_000_002_000},
        {"Event": sql_start, "executionId": 1, "time": 1_700_000_003_000, "description": "MERGE"},
        {"Event": "SparkListenerJobStart", "Job ID": 2, "Stage IDs": [2], "Properties": {}},
        {"Event": sql_start, "executionId": 2, "time": 1_700_000_004_000, "description": "nested, never ended"},
    ]
    (folder / "events_1_local-2").write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")

    summary = summarize(tmp_path)
    assert summary["sql_executions_started"] == 3          # every SparkListenerSQLExecutionStart, ended or not
    assert summary["sql_executions"] == 1                  # the ended ones, with a duration
    assert summary["jobs"] == 3
    assert summary["app_start_ms"] == 1_700_000_000_000


def test_time_before_and_after_the_spark_session_was_up():
    from benchmarks.run import session_split

    # the process ran from t=1000 s to t=1170 s; the application (SparkContext) started at t=1006.5 s
    assert session_split(170.0, 1000.0, 1170.0, 1_006_500) == {"session_up_s": 6.5, "after_session_s": 163.5}
    assert session_split(3.0, 1000.0, 1003.0, None) == {}  # the run never started Spark


def tiny_result(wall_s: float = 170.0, after_session_s: float = 163.0) -> dict:
    """A hand-made tiny-day result (benchmarks/run.py ``bench_tiny``), as stored in results/tiny.json."""
    return {"label": "tiny", "scenario": "tiny day", "start": "2026-11-20", "days": 3, "run_date": "2026-11-22",
            "stages": ["ingest", "silver", "gold", "export"], "profile": "dev", "driver_memory": "2g",
            "measured_at": "2026-12-04T12:50:00+00:00", "note": "before", "load_average_start": [2.5, 2, 1],
            "load_average_end": [3.1, 2, 1], "ok": True,
            "data": {"feeds": {"sales": {"files": 3, "records": 120}}, "files": 3, "records": 120, "bytes": 9000},
            "pipeline": {"day": {
                "exit_code": 0, "wall_s": wall_s, "session_up_s": 7.0, "after_session_s": after_session_s,
                "stages_s": {"ingest": 49.0, "silver": 74.0, "gold": 26.0, "export": 19.0}, "other_s": 2.0,
                "peak_rss_total_mib": 2000, "peak_rss_mib": {"java": 1800},
                "spark": {"sql_executions_started": 512, "jobs": 700, "tasks": 900, "stages": 800,
                          "stage_seconds_by_job": []},
                "delta": {"commits": 41, "merges": 17, "tables": 30, "operations": {"MERGE": 17, "WRITE": 24},
                          "by_table": {"silver/customers": {"commits": 2, "merges": 2}}}}}}


def test_the_tiny_day_in_the_report_its_targets_and_its_tuning_row():
    from benchmarks.run import tiny_lines, issue_21_targets_lines, tuning_lines

    section = "\n".join(tiny_lines(tiny_result()))
    assert "| Spark SQL executions | 512 |" in section and "| Spark jobs | 700 |" in section
    assert "| Delta commits (all tables) | 41 to 30 tables |" in section and "| of which MERGE | 17 |" in section
    assert "| stage silver | 74.0 s |" in section and "| after the Spark session was up | 163 s |" in section
    assert "MERGEs by table: silver/customers 2." in section

    targets = "\n".join(issue_21_targets_lines([tiny_result()]))
    assert "| tiny day: at most 30 s after the Spark session is up | tiny day | 163 s | 5.4× over |" in targets
    assert "| tiny day: at most 40 s for the whole process | tiny day | 170 s | 4.2× over |" in targets
    met = "\n".join(issue_21_targets_lines([tiny_result(wall_s=39.0, after_session_s=29.5)]))
    assert met.count("| met |") == 2
    assert "not run yet" in "\n".join(issue_21_targets_lines([]))

    tuning = "\n".join(tuning_lines({"tiny-0-before": [tiny_result()]}))
    assert "#### Tiny day" in tuning
    assert ("| tiny-0-before (profile `dev`): before | 170 s | 163 s | 49.0 s / 74.0 s / 26.0 s / 19.0 s | 512 | "
            "700 | 41 | 17 | 2.5 / 3.1 |") in tuning


def test_the_warm_driver_run_is_set_against_the_after_session_target(tmp_path):
    from benchmarks.run import warm_target_lines

    def verdict(value, limit):
        return "met" if value <= limit else f"{value / limit:,.1f}× over"

    path = tmp_path / "tiny.json"
    assert warm_target_lines(verdict, path) == []            # not measured: no row
    runs = [{"run": 1, "wall_s": 100.0}, {"run": 2, "wall_s": 66.0}, {"run": 3, "wall_s": 60.0}]
    path.write_text(json.dumps({"profile": "local", "measured_at": "2026-12-05T03:54:30+00:00", "runs": runs}))
    (row,) = warm_target_lines(verdict, path)
    assert "run 3 in one JVM" in row and "| 60.0 s | 2.0× over |" in row   # the last run, not the cold first
    path.write_text(json.dumps({"profile": "local", "measured_at": "2026-12-05", "runs": runs[:1]}))
    assert warm_target_lines(verdict, path) == []            # a cold run alone says nothing of a warm driver


def scale_result(label: str, full_s: float, incr_s: float, duck_full_s: float, duck_incr_s: float,
                 heap_mib: int = 1800, duck_agrees: bool = True) -> dict:
    """A sized benchmark result with what the scale targets read: both runs, the DuckDB peer, the heap."""
    return {"label": label, "driver_memory": "2g", "measured_at": "2026-12-05T20:00:00+00:00",
            "load_average_start": [1.0, 1, 1], "load_average_end": [1.5, 1, 1],
            "pipeline": {"full": {"exit_code": 0, "wall_s": full_s, "spark": {"peak_heap_mib": heap_mib}},
                         "incremental": {"exit_code": 0, "wall_s": incr_s}},
            "peers": {"duckdb": {"full": {"exit_code": 0, "wall_s": duck_full_s, "agrees_with_gold": duck_agrees},
                                 "incremental": {"exit_code": 0, "wall_s": duck_incr_s,
                                                 "agrees_with_gold": duck_agrees}}}}


def test_issue_21_scale_targets_read_the_10m_full_run_and_the_100m_incremental_day():
    from benchmarks.run import issue_21_targets_lines

    table = "\n".join(issue_21_targets_lines([tiny_result()], [scale_result("10M", 600.0, 180.0, 15.0, 16.0),
                                                           scale_result("100M", 3000.0, 240.0, 60.0, 62.5)]))
    assert "| full run at most 5× the DuckDB peer's | 10M (2026-12-05) | 40.0× | 8.0× over |" in table
    assert ("| full run with a driver heap of 2 GB or less | 10M (2026-12-05) | completed with a 2g heap, "
            "at most 1,800 MiB") in table
    # the incremental day against DuckDB's recompute from all files (its own incremental figure), not its full run
    assert ("| incremental day at most 0.4× the DuckDB peer's full recompute | incremental day on 100M of history "
            "(2026-12-05) | "
            "3.84× (240 s) | 9.6× over |") in table
    assert ("| incremental day at most 5% of the pipeline's own full run | incremental day on 100M of history "
            "(2026-12-05) | "
            "0.08× (240 s) | 1.6× over |") in table
    met = "\n".join(issue_21_targets_lines([], [scale_result("10M", 70.0, 20.0, 15.0, 16.0),
                                             scale_result("100M", 3000.0, 20.0, 60.0, 62.5)]))
    assert met.count("| met |") == 4
    # a peer that disagrees with gold does not count; a size not run says so
    disagrees = "\n".join(issue_21_targets_lines([], [scale_result("10M", 70.0, 20.0, 15.0, 16.0, duck_agrees=False)]))
    assert "| full run at most 5× the DuckDB peer's | 10M (2026-12-05) | – | not measured |" in disagrees
    assert "not run yet (`make bench-100m`)" in disagrees
    assert "not run yet (`make bench`)" in "\n".join(issue_21_targets_lines([], []))


def test_tuning_steps_come_in_the_order_of_their_numbers(tmp_path):
    from benchmarks.run import load_tuning

    for step in ("tiny-10-b", "tiny-9a-x", "tiny-2-y", "1-z", "tiny-11b-w", "tiny-11a-v"):
        (tmp_path / step).mkdir()
    assert list(load_tuning(tmp_path)) == ["1-z", "tiny-2-y", "tiny-9a-x", "tiny-10-b", "tiny-11a-v", "tiny-11b-w"]


def test_issue_9_targets_say_whether_the_run_kept_to_a_2_gb_heap():
    from benchmarks.run import targets_lines

    kept = "\n".join(targets_lines([scale_result("10M", 600.0, 180.0, 15.0, 16.0)]))
    assert ("| completes with a driver heap of 2 GB or less | 10M | completed with a 2g heap, at most 1,800 MiB of "
            "it in use | met |") in kept
    larger = scale_result("10M", 600.0, 180.0, 15.0, 16.0)
    larger["driver_memory"] = "3072m"
    assert "completed with a 3072m heap, at most 1,800 MiB of it in use | not met |" in \
        "\n".join(targets_lines([larger]))


def test_the_serving_section_names_how_the_tables_were_loaded_and_never_blames_a_profile_it_did_not_see():
    loaded = serving_figures([{"message": LOADED_LINE % (name, rows, 1.0, how)} for name, rows, how in (
        ("customers_data_mart", 1000, "Spark JDBC"), ("alerts", 3, "multi-row INSERTs"),
        ("kpi_daily_sales", 30, "multi-row INSERTs"))])
    section = "\n".join(serving_lines({"exit_code": 0, "wall_s": 9.0, "serving": loaded}))
    assert "| MySQL load, 3 tables into staging (1 by Spark JDBC, 2 by multi-row INSERTs) | 1,033 |" in section
    assert "customers_data_mart" in section

    unparsed = "\n".join(serving_lines({"exit_code": 0, "wall_s": 9.0, "serving": serving_figures([])}))
    assert "no table load found in the export's log" in unparsed and "mysql.enabled" not in unparsed
