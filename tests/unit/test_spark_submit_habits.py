"""Spark's conventions (issue 23): the profile's Spark settings are defaults that spark-submit, spark-defaults.conf
and PYSPARK_SUBMIT_ARGS override; --driver-memory named under spark-submit; the log format from the option
(before or after the subcommand), ETL_LOG_FORMAT or the profile's log_format. No Spark is started here
(tests/integration/test_spark_submit_conf.py runs the same with real spark-submit and pyspark launches)."""

from __future__ import annotations

import json
import logging

import pytest

from etl import cli
from etl.config import load_config
from etl.spark import REQUIRED_KEYS, launch_conf, session_conf, spark_conf


@pytest.fixture
def profile() -> dict[str, str]:
    return spark_conf(load_config("local", environ={}), under_spark_submit=False)


def test_a_setting_given_elsewhere_is_not_set_by_the_profile(profile):
    assert profile["spark.sql.shuffle.partitions"] == "4"       # conf/base.yaml
    conf, warnings = session_conf(profile, {"spark.sql.shuffle.partitions": "7", "spark.sql.ansi.enabled": "false",
                                            "spark.sql.files.maxPartitionBytes": "64m", "spark.driver.memory": "8g"})
    # Not given to the builder: Spark's own value (7, from --conf) stands.
    assert not {"spark.sql.shuffle.partitions", "spark.sql.ansi.enabled", "spark.sql.files.maxPartitionBytes",
                "spark.driver.memory"} & set(conf)
    assert conf["spark.databricks.delta.snapshotPartitions"] == "4"     # not given elsewhere: the profile's
    assert warnings == []


def test_nothing_given_elsewhere_leaves_the_profile_whole(profile):
    assert session_conf(profile, {}) == (profile, [])


def test_required_settings_stay_with_a_warning(profile):
    conf, warnings = session_conf(profile, {"spark.sql.session.timeZone": "America/New_York",
                                            "spark.redaction.regex": "nothing"})
    assert conf["spark.sql.session.timeZone"] == "UTC" and conf["spark.redaction.regex"] == profile["spark.redaction.regex"]
    assert len(warnings) == 2 and "spark.sql.session.timeZone=UTC" in warnings[0]
    assert "spark.sql.catalog.spark_catalog" in REQUIRED_KEYS


def test_jar_and_extension_lists_are_joined(profile):
    conf, _ = session_conf(profile, {"spark.sql.extensions": "com.example.Ext", "spark.jars": "/site/x.jar"})
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension,com.example.Ext"
    assert conf["spark.jars"] == profile["spark.jars"] + ",/site/x.jar"


def test_the_driver_memory_is_not_set_under_spark_submit():
    cfg = load_config("local", environ={"ETL__SPARK__DRIVER_MEMORY": "3g"})
    assert spark_conf(cfg, under_spark_submit=False)["spark.driver.memory"] == "3g"
    assert "spark.driver.memory" not in spark_conf(cfg, under_spark_submit=True)


def test_launch_conf_reads_spark_defaults_then_pyspark_submit_args(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(
        "# site settings\nspark.sql.shuffle.partitions   5\nspark.sql.ansi.enabled=false\n"
        "spark.sql.files.maxPartitionBytes: 32m\n! comment\nnot.spark.key 1\n")
    environ = {"SPARK_CONF_DIR": str(conf_dir),
               "PYSPARK_SUBMIT_ARGS": "--conf spark.sql.shuffle.partitions=7 --driver-memory 3g "
                                      "--conf=spark.x.y=a=b pyspark-shell"}
    assert launch_conf(environ) == {"spark.sql.shuffle.partitions": "7", "spark.sql.ansi.enabled": "false",
                                    "spark.sql.files.maxPartitionBytes": "32m", "spark.driver.memory": "3g",
                                    "spark.x.y": "a=b"}
    assert launch_conf({"SPARK_CONF_DIR": str(conf_dir)})["spark.sql.shuffle.partitions"] == "5"


def test_a_properties_file_replaces_spark_defaults(tmp_path):
    (tmp_path / "spark-defaults.conf").write_text("spark.sql.shuffle.partitions 5\n")
    (tmp_path / "mine.conf").write_text("spark.sql.ansi.enabled false\n")
    environ = {"SPARK_CONF_DIR": str(tmp_path), "PYSPARK_SUBMIT_ARGS": f"--properties-file {tmp_path / 'mine.conf'} pyspark-shell"}
    assert launch_conf(environ) == {"spark.sql.ansi.enabled": "false"}
    assert launch_conf({"SPARK_HOME": str(tmp_path / "nowhere")}) == {}


# -- the out-of-heap line --------------------------------------------------------------------------

def test_out_of_heap_names_driver_memory_under_spark_submit(monkeypatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.delenv("ETL_UNDER_SPARK_SUBMIT", raising=False)
    assert "ETL__SPARK__DRIVER_MEMORY=4g" in cli.jvm_stopped_message()
    monkeypatch.setenv("ETL_UNDER_SPARK_SUBMIT", "1")
    line = cli.jvm_stopped_message()
    assert "--driver-memory 4g" in line and "spark.driver_memory" not in line


# -- the log format ----------------------------------------------------------------------------------

@pytest.fixture
def logs(monkeypatch, tmp_path, capsys):
    """``etl ARGS`` (a dry run: no Spark) in this process, then one log line; returns that line as written."""
    for name in ("ETL_LOG_FORMAT", "ETL_LOG_LEVEL", "ETL__LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ETL_PROFILE", "local")
    for area in ("landing", "lake", "exports"):
        monkeypatch.setenv(f"ETL__STORAGE__{area.upper()}", str(tmp_path / area))
    (tmp_path / "landing").mkdir()
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def run(*argv: str) -> str:
        assert cli.main(list(argv)) == 0
        capsys.readouterr()
        logging.getLogger("etl.test").info("a line")
        logging.getLogger("etl.test").debug("a debug line")
        return capsys.readouterr().err

    yield run
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


DRY = ("--dry-run", "--date", "2026-11-20", "--stages", "ingest")


def _is_json(err: str) -> bool:
    lines = err.strip().splitlines()
    try:
        return bool(lines) and all(json.loads(line)["message"] for line in lines)
    except json.JSONDecodeError:
        return False


def test_log_format_after_the_subcommand_as_jobs_daily_etl_passes_it(logs):
    assert _is_json(logs("run", *DRY, "--log-format", "json"))          # jobs/daily_etl.py: main(["run", *argv])
    assert _is_json(logs("--log-format", "json", "run", *DRY))
    assert not _is_json(logs("run", *DRY))


def test_log_level_after_the_subcommand(logs):
    assert "a debug line" in logs("run", *DRY, "--log-level", "DEBUG")
    assert "a debug line" not in logs("run", *DRY)


def test_log_format_from_the_environment(logs, monkeypatch):
    monkeypatch.setenv("ETL_LOG_FORMAT", "json")
    assert _is_json(logs("run", *DRY))
    assert not _is_json(logs("run", *DRY, "--log-format", "text"))      # the option wins
    monkeypatch.setenv("ETL_LOG_LEVEL", "DEBUG")
    assert "a debug line" in logs("run", *DRY)


def test_log_format_from_the_profiles_config_key(logs, monkeypatch):
    # ETL__LOG_FORMAT is the profile's log_format key as every config key's override (conf/base.yaml).
    monkeypatch.setenv("ETL__LOG_FORMAT", "json")
    assert load_config("local").log_format == "json"
    assert _is_json(logs("run", *DRY))
    monkeypatch.setenv("ETL_LOG_FORMAT", "text")                        # the variable over the profile
    assert not _is_json(logs("run", *DRY))


def test_a_bad_log_format_variable_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("ETL_LOG_FORMAT", "xml")
    assert cli.main(["jars"]) == 3
    assert capsys.readouterr().err.strip() == "etl: error: ETL_LOG_FORMAT='xml': use text or json"
