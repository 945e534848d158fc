"""Smoke test of the benchmark (issue 9): benchmarks/run.py end to end at a tiny size.

2,000 in-store sales over 3 days plus one incremental day, on the ``local`` profile (a
lake in the test's folder, no services): the full and incremental ``etl run`` succeed,
both peers agree with gold for both runs, the export run writes the Excel report (MySQL is
off in that profile), Spark's event log of each run is read, and the JSON, the report
section (in a copy of docs/benchmarks.md) and the PNG chart are written. No timing is
asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import JOB_JVM_OPTIONS

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # several whole runs: not in make test-quick

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_end_to_end_at_a_tiny_size(tmp_path):
    report = tmp_path / "benchmarks.md"
    shutil.copy(ROOT / "docs" / "benchmarks.md", report)
    hand_written = report.read_text(encoding="utf-8").split("<!-- bench:begin")[0]
    chart = tmp_path / "images" / "chart.png"
    env = {**os.environ,
           # a few thousand rows: one shuffle partition, no whole-stage codegen, expressions interpreted,
           # Delta's log state rebuilt in one task, the quick JIT only (as the integration stack does: how
           # Spark computes, never what)
           "ETL__SPARK__SHUFFLE_PARTITIONS": "1",
           "ETL__SPARK__CONF": json.dumps({"spark.sql.codegen.wholeStage": "false",
                                           "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                                           "spark.databricks.delta.snapshotPartitions": "1",
                                           "spark.driver.extraJavaOptions": JOB_JVM_OPTIONS})}
    env.pop("ETL_PROFILE", None)
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sales", "2000", "--days", "3",
               "--profile", "local", "--stores", "3", "--results", str(tmp_path / "results"),
               "--report", str(report), "--chart", str(chart), "--work", str(tmp_path / "work")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]

    result = json.loads((tmp_path / "results" / "2k.json").read_text(encoding="utf-8"))
    assert result["ok"] and result["sales"] == 1998 and result["sales_per_day"] == 666
    for run in ("full", "incremental"):
        pipeline = result["pipeline"][run]
        assert pipeline["exit_code"] == 0
        assert set(pipeline["stages_s"]) == {"ingest", "silver", "gold"}
        assert pipeline["peak_rss_total_mib"] > 0
        assert any(line.startswith("gold customers_data_mart") for line in pipeline["summary"])
        for peer in ("duckdb", "pandas"):
            assert result["peers"][peer][run]["agrees_with_gold"], result["peers"][peer][run]["differences"]
        spark = pipeline["spark"]                                      # from the run's own event log
        assert spark["tasks"] > 0 and spark["stages"] > 0 and spark["sql_executions"] > 0
        assert 0 < spark["peak_heap_mib"] <= 2048                      # the heap cap of --driver-memory 2g
        # the pipeline names its Spark jobs, so the profile says which table the time went to
        jobs = {job["job"] for job in spark["stage_seconds_by_job"]}
        assert any(job.startswith(("silver ", "gold ")) for job in jobs), jobs
    serve = result["pipeline"]["serve"]                                # the export of the incremental day
    assert serve["exit_code"] == 0 and serve["stages_s"] == {"export": serve["stages_s"]["export"]}
    assert serve["serving"]["excel"]["rows"] > 0 and serve["serving"]["excel"]["sheets"] >= 5
    assert serve["serving"]["mysql_skipped"].startswith("mysql export skipped")   # local profile: no MySQL
    for layer in ("bronze", "silver", "gold"):
        assert result["pipeline"]["layers_full"][layer]["files"] > 0
        assert (result["pipeline"]["layers_incremental"][layer]["bytes"]
                >= result["pipeline"]["layers_full"][layer]["bytes"])
    assert not list((tmp_path / "work").glob("bench-*"))              # removed without --keep

    text = report.read_text(encoding="utf-8")
    assert text.startswith(hand_written)                              # only the marked section is rewritten
    assert text.count("<!-- bench:begin") == 1 and text.count("<!-- bench:end -->") == 1
    section = text.split("<!-- bench:begin")[1]
    assert "### 2k: 1,998 in-store sales over 3 days" in section
    assert "DuckDB peer" in section and "pandas peer" in section and "full yes, incremental yes" in section
    assert "| from Spark's event log | full run | incremental day |" in section
    assert "Where the full run's Spark time went" in section
    assert "| full run within 5× of the DuckDB peer (set at 10M) | 2k |" in section   # the targets, measured
    assert "| Excel report, " in section and "not measured: mysql.enabled is false" in section
    assert "(images/chart.png)" in section
    assert chart.read_bytes().startswith(b"\x89PNG")

    # Regenerating from the JSON alone gives the same section (the figures are never typed by hand).
    again = subprocess.run([*command, "--report-only"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert report.read_text(encoding="utf-8") == text
