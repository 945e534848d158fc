"""Spark's order of precedence with a real JVM: ``spark-submit --conf`` and spark-defaults.conf over the profile
(conf/base.yaml sets 4 shuffle partitions and 16m splits), and JSON logs under spark-submit.

Each test is one ingest-only run of the local profile on an empty landing (the JVM starts, nothing to read);
what Spark really used is read from the run's own event log (its SparkConf at start).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from etl.config import PROJECT_ROOT
from etl.jars import jars_csv
from tests.integration.conftest import BIN

pytestmark = [pytest.mark.integration]

RUN = ["--date", "2026-11-20", "--stages", "ingest"]


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ETL__", "ETL_LOG", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR"))}
    conf = tmp_path / "spark-conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("spark.sql.files.maxPartitionBytes   32m\n"
                                              "spark.sql.session.timeZone   America/New_York\n")
    (tmp_path / "landing").mkdir()
    (tmp_path / "events").mkdir()
    return {**env, "ETL_PROFILE": "local", "SPARK_CONF_DIR": str(conf), "SPARK_LOCAL_IP": "127.0.0.1",
            **{f"ETL__STORAGE__{area.upper()}": str(tmp_path / area) for area in ("landing", "lake", "exports")}}


def _spark_properties(events) -> dict[str, str]:
    for line in (line for log in sorted(events.rglob("events_*")) for line in log.read_text().splitlines()):
        event = json.loads(line)
        if event["Event"] == "SparkListenerEnvironmentUpdate":
            return event["Spark Properties"] if isinstance(event["Spark Properties"], dict) else dict(
                event["Spark Properties"])
    raise AssertionError("no environment in the event log")


def _check(done, events, driver_memory):
    assert done.returncode == 0, done.stderr[-4000:]
    props = _spark_properties(events)
    assert props["spark.sql.shuffle.partitions"] == "7"                 # --conf, over the profile's 4
    assert props["spark.sql.files.maxPartitionBytes"] == "32m"          # spark-defaults.conf, over 16m
    assert props["spark.databricks.delta.snapshotPartitions"] == "4"    # given nowhere else: the profile's
    assert props["spark.sql.session.timeZone"] == "UTC"                 # required: kept, with a warning
    assert props["spark.driver.memory"] == driver_memory
    assert props["spark.app.name"] == "retail-lakehouse-etl"
    # Every log line of the job is JSON (the Python logs; Spark's own log4j lines go their own way). Under
    # spark-submit the Python process's standard error goes to spark-submit's standard output.
    output = (done.stdout + done.stderr).splitlines()
    logged = [json.loads(line) for line in output if line.startswith("{")]
    assert not [line for line in output if re.search(r"\[run [^\]]+\] etl", line)]
    messages = [entry["message"] for entry in logged]
    assert any("over the profile's: " in m and "spark.sql.shuffle.partitions" in m
               and "spark.sql.files.maxPartitionBytes" in m for m in messages), messages
    assert any("spark.sql.session.timeZone given to spark-submit" in m for m in messages), messages


def test_spark_submit_conf_and_spark_defaults_over_the_profile_with_json_logs(tmp_path):
    env = _env(tmp_path)
    events = tmp_path / "events"
    done = subprocess.run([
        str(BIN / "spark-submit"), "--master", "local[1]", "--jars", jars_csv(), "--driver-memory", "1g",
        "--conf", "spark.sql.shuffle.partitions=7", "--conf", "spark.eventLog.enabled=true",
        "--conf", f"spark.eventLog.dir={events.as_uri()}", "--conf", "spark.eventLog.compress=false",
        str(PROJECT_ROOT / "jobs" / "daily_etl.py"), *RUN, "--log-format", "json",
    ], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    _check(done, events, "1g")


def test_a_session_from_python_honours_spark_defaults_and_pyspark_submit_args(tmp_path):
    events = tmp_path / "events"
    env = {**_env(tmp_path), "ETL_LOG_FORMAT": "json", "PYSPARK_SUBMIT_ARGS": (
        f"--conf spark.sql.shuffle.partitions=7 --conf spark.eventLog.enabled=true "
        f"--conf spark.eventLog.dir={events.as_uri()} --conf spark.eventLog.compress=false pyspark-shell")}
    done = subprocess.run([str(BIN / "etl"), "run", *RUN], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=900)
    _check(done, events, "2g")                                           # the profile's: given nowhere else
