"""The jar manifest (resources/jars/pom.xml) agrees with the installed Python packages."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pyspark

from etl.jars import declared_artifacts

PYSPARK_JARS = Path(pyspark.__file__).parent / "jars"


def bundled_version(prefix: str) -> str:
    """Version of a jar pyspark ships, e.g. hadoop-client-api-3.5.0.jar -> 3.5.0."""
    [jar] = [p.name for p in PYSPARK_JARS.glob(f"{prefix}-*.jar") if re.fullmatch(rf"{prefix}-[\d.]+\.jar", p.name)]
    return jar[len(prefix) + 1:-len(".jar")]


def artifacts() -> dict[str, tuple[str, str]]:
    return {artifact: (group, ver) for group, artifact, ver in declared_artifacts()}


def test_artifacts_are_declared_once():
    names = [a for _, a, _ in declared_artifacts()]
    assert len(names) == len(set(names))
    assert all(v and "${" not in v for _, _, v in declared_artifacts())


def test_delta_jars_match_the_installed_delta_spark_package():
    delta = version("delta-spark")
    assert artifacts()["delta-spark_4.2_2.13"] == ("io.delta", delta)
    assert artifacts()["delta-storage"] == ("io.delta", delta)


def test_delta_jar_is_built_for_the_installed_spark_and_scala():
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    scala_binary = ".".join(bundled_version("scala-library").split(".")[:2])
    [delta_artifact] = [a for a in artifacts() if a.startswith("delta-spark_")]
    assert delta_artifact == f"delta-spark_{spark_minor}_{scala_binary}"


def test_hadoop_aws_matches_pyspark_hadoop_client():
    assert bundled_version("hadoop-client-api") == "3.5.0"
    assert artifacts()["hadoop-aws"] == ("org.apache.hadoop", bundled_version("hadoop-client-api"))


def test_aws_sdk_modules_at_one_version_and_mysql_connector():
    # S3A's SDK modules, not the 655 MB bundle (tests/integration/test_s3a_sdk_modules.py runs S3A on them).
    assert "bundle" not in artifacts()
    sdk = {a: v for g, a, v in declared_artifacts() if g == "software.amazon.awssdk"}
    assert {"s3", "sts", "s3-transfer-manager"} <= set(sdk) and set(sdk.values()) == {"2.35.4"}
    group, ver = artifacts()["mysql-connector-j"]
    assert group == "com.mysql" and re.fullmatch(r"\d+\.\d+\.\d+", ver)
