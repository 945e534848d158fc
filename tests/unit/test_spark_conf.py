"""The session settings (etl/spark.py): Delta, S3A for an S3-compatible endpoint, no secret in SparkConf,
and redaction of every secret-bearing key (spark_conf is pure: no Spark is started here)."""

from __future__ import annotations

import re

import pytest

from etl.config import load_config
from etl.jars import declared_artifacts
from etl.spark import (
    HADOOP_SECRET_KEYS,
    OPTIONS_REDACTION_REGEX,
    REDACTION_REGEX,
    S3A_CREDENTIALS_PROVIDER,
    STRING_REDACTION_REGEX,
    job_description,
    spark_conf,
)


@pytest.fixture(scope="module")
def dev_conf() -> dict[str, str]:
    return spark_conf(load_config("dev", environ={}), under_spark_submit=True)


def test_delta_extension_and_catalog(dev_conf):
    assert dev_conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert dev_conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def test_s3a_settings_for_the_dev_endpoint(dev_conf):
    assert dev_conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9900"
    assert dev_conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert dev_conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert dev_conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-east-1"
    assert dev_conf["spark.hadoop.fs.s3a.aws.credentials.provider"] == S3A_CREDENTIALS_PROVIDER
    assert dev_conf["spark.hadoop.fs.s3a.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"


def test_local_profile_has_no_s3a_settings():
    conf = spark_conf(load_config("local", environ={}), under_spark_submit=True)
    assert not [k for k in conf if "s3a" in k]


def test_spark_submit_gets_no_master_nor_jars(dev_conf):
    assert "spark.master" not in dev_conf and "spark.jars" not in dev_conf


def test_session_builder_gets_master_and_every_declared_jar():
    conf = spark_conf(load_config("local", environ={}), under_spark_submit=False)
    assert conf["spark.master"] == "local[2]"
    jars = conf["spark.jars"].split(",")
    assert [j.rsplit("/", 1)[-1] for j in jars] == [f"{a}-{v}.jar" for _, a, v in declared_artifacts()]


def test_no_secret_in_spark_conf(monkeypatch):
    # spark_conf must not read a secret at all; if it did, the sentinel would show up (or the call be seen).
    calls = []

    def spy(self, name):
        calls.append(name)
        return "SENTINEL-SECRET-VALUE"

    monkeypatch.setattr("etl.secrets.SecretStore.get", spy)
    conf = spark_conf(load_config("dev", environ={}), under_spark_submit=True)
    assert calls == []
    assert not [k for k, v in conf.items() if "SENTINEL" in k or "SENTINEL" in v]
    assert not [k for k in conf if re.search(r"(?i)fs\.s3a\.(access|secret)\.key|session\.token|password", k)]
    # secret *names* from the config are not secrets, but their values must not be there either
    assert "minio_access_key" not in conf.values() and "minio_secret_key" not in conf.values()


@pytest.mark.parametrize("key", ["fs.s3a.secret.key", "fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key",
                                 "spark.jdbc.password", "password", "fs.s3a.bucket.lake.secret.key",
                                 "fs.s3a.session.token"])
def test_redaction_regex_matches_secret_keys(key):
    assert re.search(REDACTION_REGEX, key)


@pytest.mark.parametrize("key", ["spark.app.name", "spark.hadoop.fs.s3a.endpoint", "spark.sql.shuffle.partitions",
                                 "spark.hadoop.fs.s3a.path.style.access"])
def test_redaction_regex_leaves_ordinary_keys_readable(key):
    assert not re.search(REDACTION_REGEX, key)


def test_redaction_regex_is_the_one_spark_gets(dev_conf):
    assert dev_conf["spark.redaction.regex"] == REDACTION_REGEX


# -- redaction: every secret-bearing key the project uses is hidden by Spark ----------------------
# A key "suggests a secret" when its name says so; each such key must match the regex Spark redacts with.
SECRETISH = re.compile(r"(?i)secret|passw|pwd|token|credential|key|signature|private|(^|\.)user(name)?$")

# Secret-bearing keys the project sets at run time or may set (per-bucket and temporary credentials,
# server-side encryption, environment variables handed to executors).
KNOWN_SECRET_KEYS = [
    "fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token", "fs.s3a.encryption.key",
    "fs.s3a.server-side-encryption.key", "fs.s3a.bucket.landing.access.key", "fs.s3a.bucket.exports.secret.key",
    "spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key", "spark.hadoop.fs.s3a.session.token",
    "spark.executorEnv.AWS_ACCESS_KEY_ID", "spark.executorEnv.AWS_SECRET_ACCESS_KEY",
    "spark.executorEnv.AWS_SESSION_TOKEN", "spark.executorEnv.ETL_MASTER_KEY", "ETL_MASTER_KEY",
    "spark.authenticate.secret", "spark.ssl.keyPassword", "spark.ssl.keyStorePassword",
    "spark.ssl.trustStorePassword", "spark.jdbc.password", "password",
]


def spark_redact(regex: str, items: dict[str, str]) -> dict[str, str]:
    """What Spark's Utils.redact does: a pair whose key OR value matches is shown redacted."""
    return {k: "*********(redacted)" if re.search(regex, k) or re.search(regex, v) else v for k, v in items.items()}


@pytest.mark.parametrize("profile", ["dev", "docker", "local"])
def test_every_key_of_spark_conf_that_suggests_a_secret_is_redacted(profile):
    extra = {"ETL__SPARK__CONF__spark.hadoop.fs.s3a.session.token": "x",
             "ETL__SPARK__CONF__spark.executorEnv.AWS_SECRET_ACCESS_KEY": "x"}
    for submit in (True, False):
        conf = spark_conf(load_config(profile, environ=extra), under_spark_submit=submit)
        suggestive = [k for k in conf if SECRETISH.search(k)]
        assert "spark.hadoop.fs.s3a.session.token" in suggestive
        assert [k for k in suggestive if not re.search(REDACTION_REGEX, k)] == []


@pytest.mark.parametrize("key", KNOWN_SECRET_KEYS)
def test_known_secret_bearing_keys_are_redacted(key):
    assert SECRETISH.search(key) and re.search(REDACTION_REGEX, key)


def test_the_hadoop_credentials_set_at_run_time_are_redacted():
    assert HADOOP_SECRET_KEYS == ("fs.s3a.access.key", "fs.s3a.secret.key")
    shown = spark_redact(REDACTION_REGEX, {k: f"VALUE-{i}" for i, k in enumerate(HADOOP_SECRET_KEYS)})
    assert not [v for v in shown.values() if v.startswith("VALUE")]


def test_jdbc_options_carrying_a_secret_are_redacted_in_query_plans():
    # Spark redacts data source options with spark.redaction.regex and spark.sql.redaction.options.regex.
    from etl.export.mysql import target_for

    cfg = load_config("dev", environ={})
    values = {cfg.mysql.user_secret: "USER-VALUE", cfg.mysql.password_secret: "PASSWORD-VALUE"}
    target = target_for(cfg, values.__getitem__)
    options = {"url": target.url, "dbtable": "kpi_daily_sales__staging", "batchsize": "5000",
               **target.properties()}
    carrying = [k for k, v in options.items() if v in values.values()]
    assert sorted(carrying) == ["password", "user"]
    shown = spark_redact(OPTIONS_REDACTION_REGEX, spark_redact(REDACTION_REGEX, options))
    assert not [k for k in carrying if shown[k] in values.values()]
    assert shown["url"] != target.url                       # the JDBC URL is hidden as a whole
    assert shown["dbtable"] == "kpi_daily_sales__staging"   # ordinary options stay readable
    assert not any(v in target.url for v in values.values())


@pytest.mark.parametrize("option", ["dbtable", "batchsize", "numPartitions", "isolationLevel", "userMetadata",
                                    "replaceWhere", "mergeSchema", "header", "path"])
def test_ordinary_options_stay_readable(option):
    assert not re.search(OPTIONS_REDACTION_REGEX, option) and not re.search(REDACTION_REGEX, option)


@pytest.mark.parametrize("text", [
    "jdbc:mysql://db:3306/retail_gold?user=USER-VALUE&password=PASSWORD-VALUE&useSSL=false",
    "https://exports.s3.amazonaws.com/r.xlsx?X-Amz-Credential=USER-VALUE&X-Amz-Signature=PASSWORD-VALUE",
    "CREATE TABLE t OPTIONS (secret=PASSWORD-VALUE; token=USER-VALUE)",
    "s3a://lake?access.key=USER-VALUE&secret.key=PASSWORD-VALUE",
])
def test_credentials_written_into_plan_text_are_masked(text):
    masked = re.sub(STRING_REDACTION_REGEX, "*********(redacted)", text)
    assert "USER-VALUE" not in masked and "PASSWORD-VALUE" not in masked


def test_spark_gets_all_three_redaction_settings(dev_conf):
    assert dev_conf["spark.sql.redaction.options.regex"] == OPTIONS_REDACTION_REGEX
    assert dev_conf["spark.sql.redaction.string.regex"] == STRING_REDACTION_REGEX


def test_the_session_holds_header_loggers_at_warn_and_noise_at_error(spark, local_config):
    """build_session sets these levels in the driver whatever log4j2's configuration says: asked for
    DEBUG first (as tests/integration/log4j2-debug-s3a.properties does), they are reset."""
    from etl.spark import HEADER_LOGGERS, QUIET_LOGGERS, build_session

    jvm = spark.sparkContext._jvm
    for name in (*HEADER_LOGGERS, *QUIET_LOGGERS):
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.DEBUG)
    build_session(local_config)

    def level(name: str) -> str:
        return jvm.org.apache.logging.log4j.LogManager.getLogger(name).getLevel().toString()

    assert {name: level(name) for name in HEADER_LOGGERS} == dict.fromkeys(HEADER_LOGGERS, "WARN")
    assert {name: level(name) for name in QUIET_LOGGERS} == dict.fromkeys(QUIET_LOGGERS, "ERROR")


def test_the_session_takes_tungsten_memory_in_small_pages(spark):
    """Each sort or hash operator of a running task holds at least one page whatever its rows; Spark's own
    page for the 2 GiB local driver is 32 MiB, and a backfill of tiny days ran out of heap on them."""
    from etl.spark import TUNGSTEN_PAGE_BYTES

    assert spark.sparkContext._jsc.sc().env().memoryManager().pageSizeBytes() == TUNGSTEN_PAGE_BYTES


@pytest.mark.parametrize("region_mib", [1, 2, 4, 8, 16, 32])
def test_a_tungsten_page_wastes_no_g1_region(region_mib):
    """A page is one long[] (16-byte header): from half a region up (G1's humongous objects) it takes
    whole regions, so a power-of-two page would take one region more than its size."""
    from etl.spark import TUNGSTEN_PAGE_BYTES

    region, page = region_mib << 20, TUNGSTEN_PAGE_BYTES + 16
    if page >= region // 2:
        assert -page % region < 64
    assert TUNGSTEN_PAGE_BYTES % 8 == 0 and TUNGSTEN_PAGE_BYTES >= 1 << 20


def test_delta_rebuilds_table_state_in_few_tasks_unless_a_profile_says_otherwise():
    # Delta's own 50 tasks per state rebuild and per file filtering were half of a small day's run
    # (docs/benchmarks.md, "Tuning"); a profile or ETL__SPARK__CONF can still set another number.
    assert spark_conf(load_config("local", environ={}))["spark.databricks.delta.snapshotPartitions"] == "4"
    wider = load_config("local", environ={"ETL__SPARK__CONF": '{"spark.databricks.delta.snapshotPartitions": "64"}'})
    assert spark_conf(wider)["spark.databricks.delta.snapshotPartitions"] == "64"


def test_job_description_names_the_jobs_inside_and_restores_the_outer_one(spark):
    context = spark.sparkContext
    assert context.getLocalProperty("spark.job.description") is None
    with job_description(spark, "silver sales"):
        assert context.getLocalProperty("spark.job.description") == "silver sales"
        with job_description(spark, "silver write transactions"):
            spark.range(3).count()
            assert context.getLocalProperty("spark.job.description") == "silver write transactions"
        assert context.getLocalProperty("spark.job.description") == "silver sales"
    assert context.getLocalProperty("spark.job.description") is None
    with pytest.raises(ZeroDivisionError):
        with job_description(spark, "failing"):
            1 / 0
    assert context.getLocalProperty("spark.job.description") is None


def test_scans_split_into_small_tasks():
    """A 2 GB local driver sorts whole scan splits (silver's latest version per sale): Spark's 128 MB split
    of bronze was ~4M rows and ran the heap out at 10M sales (docs/benchmarks.md)."""
    conf = spark_conf(load_config("local", environ={}))
    assert conf["spark.sql.files.maxPartitionBytes"] == "16m"


def test_silver_caches_its_frames_on_disk_not_in_the_heap(spark, local_config):
    """Building an in-heap cached batch ran a 2 GB driver out of heap on 10M sales (docs/benchmarks.md)."""
    from datetime import date

    from pyspark import StorageLevel

    from etl.silver.build import SilverStage

    kept = SilverStage(spark, local_config, date(2026, 1, 1), "run-1").keep(spark.range(3))
    try:
        assert kept.storageLevel == StorageLevel.DISK_ONLY
        assert kept.count() == 3
    finally:
        kept.unpersist()


# -- progress on a terminal ---------------------------------------------------------------------------

def test_the_console_progress_bar_is_off_unless_asked():
    cfg = load_config("local", environ={})
    assert spark_conf(cfg)["spark.ui.showConsoleProgress"] == "false"
    assert spark_conf(cfg, console_progress=True)["spark.ui.showConsoleProgress"] == "true"


@pytest.mark.parametrize("fmt, wanted", [("text", True), ("json", False)])
def test_progress_is_wanted_on_a_terminal_with_a_text_log_only(monkeypatch, fmt, wanted):
    """A real pseudo-terminal as standard error (not a stub): the bar redraws a line in place, which
    only a person at a terminal can use; a JSON log or a file gets the per-write log lines instead."""
    import logging
    import os

    from etl.log import console_progress_wanted, setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w") as terminal:
            monkeypatch.setattr("sys.stderr", terminal)
            setup_logging(fmt)
            assert console_progress_wanted() is wanted
        with open(os.devnull, "w") as not_a_terminal:
            monkeypatch.setattr("sys.stderr", not_a_terminal)
            setup_logging("text")
            assert console_progress_wanted() is False
    finally:
        os.close(leader)
        root.handlers[:] = handlers
        root.setLevel(level)
