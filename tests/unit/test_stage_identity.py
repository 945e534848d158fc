"""Which object-store identity a stage signs in with, and how a refusal is reported (no services)."""

from __future__ import annotations

from datetime import date

import pytest
from botocore.exceptions import ClientError

from etl.config import load_config
from etl.errors import EXIT_CONFIG, ExportError
from etl.run.run import Run
from etl.run.stages import EXPORT, GOLD, INGEST, SILVER, every_stage


@pytest.fixture
def run():
    return Run(load_config("dev", environ={}), date(2026, 11, 22))


@pytest.mark.parametrize("stage, group", [("ingest", "ingest"), ("silver", "transform"), ("gold", "transform"),
                                          ("export", "export"), ("export_excel", "export"),
                                          ("export_mysql", "export")])
def test_each_stage_has_its_identity(run, stage, group):
    identity = run.cfg.storage.s3.identity({s.name: s.identity for s in every_stage()}[stage])
    assert identity.access_key_secret == f"minio_{group}_access_key"
    assert identity.secret_key_secret == f"minio_{group}_secret_key"


def test_without_stage_credentials_every_stage_uses_the_default_pair():
    cfg = load_config("local", environ={"ETL__STORAGE__S3": '{"endpoint": "http://h:1", '
                                        '"access_key_secret": "a", "secret_key_secret": "b"}'})
    assert {cfg.storage.s3.identity(s).access_key_secret for s in ("ingest", "silver", "export", None)} == {"a"}


def test_a_boto3_refusal_becomes_one_config_error_line(run):
    refused = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied."}}, "PutObject")
    error = run._refused(refused, INGEST)
    assert error is not None and error.exit_code == EXIT_CONFIG
    assert str(error).startswith("stage ingest: the object store refused the ingest identity (secrets "
                                 "'minio_ingest_access_key', 'minio_ingest_secret_key'): AccessDenied;")


def test_a_spark_refusal_quotes_its_line_with_secret_values_masked(run):
    run._secrets["minio_transform_access_key"] = "etltransformabc123"
    java_text = ("An error occurred while calling o57.load.\n"
                 ": java.nio.file.AccessDeniedException: s3a://lake/silver/x: getFileStatus on s3a://lake/silver/x: "
                 "software.amazon.awssdk.services.s3.model.S3Exception: Access Denied (key etltransformabc123) "
                 "(Service: S3, Status Code: 403)\n\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException")
    error = run._refused(RuntimeError(java_text), SILVER)
    assert "transform identity" in str(error) and "s3a://lake/silver/x" in str(error)
    assert "etltransformabc123" not in str(error) and "***" in str(error)
    assert "\n" not in str(error) and "S3AUtils" not in str(error)


def test_other_failures_are_not_reported_as_refusals(run):
    assert run._refused(ExportError("Access Denied for MySQL"), EXPORT) is None
    assert run._refused(ValueError("division by zero"), GOLD) is None
    assert run._refused(ClientError({"Error": {"Code": "NoSuchBucket"}}, "GetObject"), INGEST) is None
