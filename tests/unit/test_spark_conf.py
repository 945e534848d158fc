"""The session settings (etl/spark.py): Delta, S3A for an S3-compatible endpoint, no secret in SparkConf."""

from __future__ import annotations

import re

import pytest

from etl.config import load_config
from etl.jars import declared_artifacts
from etl.spark import REDACTION_REGEX, S3A_CREDENTIALS_PROVIDER, spark_conf


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
