"""S3A on the AWS SDK modules the jar manifest declares (s3, sts, s3-transfer-manager and their runtime
dependencies) instead of the 655 MB SDK bundle: every S3 operation the pipeline makes, against the
loopback MinIO over s3a, in the session the project's own builder starts with exactly those jars.

A class missing from the modules shows up here as a NoClassDefFoundError on first use.
"""

from __future__ import annotations

import pytest

from etl.jars import declared_artifacts

pytestmark = pytest.mark.integration


def test_the_manifest_declares_sdk_modules_not_the_bundle():
    artifacts = {artifact for _, artifact, _ in declared_artifacts()}
    assert "bundle" not in artifacts
    assert {"s3", "sts", "s3-transfer-manager", "apache-client", "netty-nio-client"} <= artifacts


def test_s3a_put_get_list_rename_multipart_and_delta(s3_spark, lake_prefix):
    spark = s3_spark
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    root = f"s3a://lake/{lake_prefix}"
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(root + "/"), hadoop)
    Path = jvm.org.apache.hadoop.fs.Path

    # A plain write and read (PUT, GET, LIST, HEAD) with the magic committer the profile enables.
    rows = [(i, f"name-{i}") for i in range(1000)]
    spark.createDataFrame(rows, "id INT, name STRING").write.mode("overwrite").parquet(f"{root}/plain")
    assert spark.read.parquet(f"{root}/plain").count() == 1000

    # A multipart upload: 12 MiB through a 5 MiB part size (S3's smallest).
    big = Path(f"{root}/multipart/blob.bin")
    local_fs_conf = jvm.org.apache.hadoop.conf.Configuration(hadoop)
    local_fs_conf.set("fs.s3a.multipart.size", "5M")
    local_fs_conf.set("fs.s3a.impl.disable.cache", "true")
    mfs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(root + "/"), local_fs_conf)
    out = mfs.create(big, True)
    chunk = bytearray(b"x" * (1024 * 1024))
    for _ in range(12):
        out.write(chunk)
    out.close()
    mfs.close()
    assert fs.getFileStatus(big).getLen() == 12 * 1024 * 1024

    # A rename: S3A copies the object (the transfer manager) and deletes the source.
    moved = Path(f"{root}/multipart/moved.bin")
    assert fs.rename(big, moved)
    assert not fs.exists(big) and fs.getFileStatus(moved).getLen() == 12 * 1024 * 1024

    # A Delta table: create, append, MERGE, read back, and its log.
    table = f"{root}/delta/t"
    spark.createDataFrame(rows[:10], "id INT, name STRING").write.format("delta").save(table)
    spark.createDataFrame(rows[10:20], "id INT, name STRING").write.format("delta").mode("append").save(table)
    from delta.tables import DeltaTable

    (DeltaTable.forPath(spark, table).alias("t")
     .merge(spark.createDataFrame([(1, "renamed")], "id INT, name STRING").alias("s"), "t.id = s.id")
     .whenMatchedUpdateAll().execute())
    back = {r.id: r.name for r in spark.read.format("delta").load(table).collect()}
    assert len(back) == 20 and back[1] == "renamed"
    assert DeltaTable.forPath(spark, table).history().count() == 3

    assert fs.delete(Path(root), True)
    assert not fs.exists(Path(root))
