"""Least privilege per stage, against the real MinIO and MariaDB the fixtures start.

``etl services start`` (run by the ``stack`` fixture exactly as a user runs it)
creates one MinIO user per stage with only its stage's policy (etl/access.py)
and a MySQL user with a fixed list of rights on the gold schema only. These
tests sign in as each identity and try what it must not do. Every pipeline run
in the integration suite (``local_slice_run`` and the others) already runs its
stages under these identities, which shows they are enough to do the job.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from etl.access import RUN_IDENTITY
from etl.errors import ExportError
from etl.export.mysql import Connection, target_for
from etl.run.stages import EXPORT, INGEST, SILVER, every_stage
from etl.storage import s3_client

pytestmark = pytest.mark.integration


def _denied(call) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "AccessDenied", caught.value.response["Error"]


@pytest.fixture(scope="module")
def key():
    return f"least-privilege/{uuid.uuid4().hex[:8]}/probe.txt"


@pytest.fixture(scope="module")
def clients(stack):
    identity = {s.name: s.identity for s in every_stage()}
    made = {stage: s3_client(stack.cfg, stack.secret, identity.get(stage))
            for stage in ("ingest", "silver", "export", None)}
    made[RUN_IDENTITY] = s3_client(stack.cfg, stack.secret, RUN_IDENTITY)
    return made


def test_every_stage_signs_in_with_its_own_identity(stack):
    s3 = stack.cfg.storage.s3
    access_keys = {stack.secret(s3.identity(group).access_key_secret)
                   for group in (INGEST.identity, SILVER.identity, EXPORT.identity, RUN_IDENTITY)}
    assert len(access_keys) == 4
    assert stack.secret(s3.access_key_secret) not in access_keys      # never MinIO's root user


# Every prefix of the lake and the one identity (client key in ``clients``) that may write it; nested folders
# belong to the layer they are in. Checked at the lake root and one folder below it (the tests' own roots).
LAKE_AREAS = {
    "bronze/sales/part-0.parquet": "ingest",
    "ops/file_manifest/_delta_log/00000000000000000001.json": "ingest",
    "_staging/run-1/customers/c.csv": "ingest",
    "silver/transactions/part-0.parquet": "silver",
    "gold/kpi_daily_sales/part-0.parquet": "silver",
    "ops/dq_results/part-0.parquet": "silver",
    "ops/silver_progress/_delta_log/00000000000000000001.json": "silver",
    "ops/runs/_delta_log/00000000000000000001.json": RUN_IDENTITY,
    "ops/_lock.json": RUN_IDENTITY,
    "bronze/x/ops/y": "ingest",
    "bronze/sales/ops/runs/part-0.parquet": "ingest",
    "gold/kpi/ops/_lock.json": "silver",
    "ops/runs_old/x": None,
    "ops/x": None,
}


@pytest.mark.parametrize("root", ["", "t-5e1f0a2b/"])
def test_each_identity_is_refused_every_lake_prefix_it_does_not_own(clients, root):
    for area, owner in LAKE_AREAS.items():
        key = f"{root}{area}"
        clients[None].put_object(Bucket="lake", Key=key, Body=b"keep me")
        for identity in ("ingest", "silver", "export", RUN_IDENTITY):
            client = clients[identity]
            if identity == owner:
                client.put_object(Bucket="lake", Key=key, Body=b"mine")
                client.delete_object(Bucket="lake", Key=key)
                clients[None].put_object(Bucket="lake", Key=key, Body=b"keep me")
            else:
                _denied(lambda: client.put_object(Bucket="lake", Key=key, Body=b"x"))
                _denied(lambda: client.delete_object(Bucket="lake", Key=key))
        assert clients[None].get_object(Bucket="lake", Key=key)["Body"].read() == b"keep me", key
    # Two folders below the root is nobody's.
    for identity in ("ingest", "silver", RUN_IDENTITY):
        _denied(lambda: clients[identity].put_object(Bucket="lake", Key=f"a/b/{next(k for k, o in LAKE_AREAS.items() if o == identity)}", Body=b"x"))


def test_ingest_credentials_cannot_write_exports(clients, key):
    ingest = clients["ingest"]
    _denied(lambda: ingest.put_object(Bucket="exports", Key=key, Body=b"x"))
    _denied(lambda: ingest.list_objects_v2(Bucket="exports"))
    # ... while its own job works: write and move files in landing, write bronze.
    ingest.put_object(Bucket="landing", Key=key, Body=b"x")
    ingest.copy_object(Bucket="landing", Key=f"archive/{key}", CopySource={"Bucket": "landing", "Key": key})
    ingest.delete_object(Bucket="landing", Key=key)
    ingest.put_object(Bucket="lake", Key=f"bronze/{key}", Body=b"x")
    _denied(lambda: ingest.put_object(Bucket="lake", Key=f"silver/{key}", Body=b"x"))
    _denied(lambda: ingest.put_object(Bucket="lake", Key=f"gold/{key}", Body=b"x"))


def test_export_credentials_cannot_delete_from_landing(clients, key):
    root, export = clients[None], clients["export"]
    root.put_object(Bucket="landing", Key=key, Body=b"keep me")
    _denied(lambda: export.delete_object(Bucket="landing", Key=key))
    _denied(lambda: export.put_object(Bucket="landing", Key=key, Body=b"x"))
    _denied(lambda: export.get_object(Bucket="landing", Key=key))
    assert root.get_object(Bucket="landing", Key=key)["Body"].read() == b"keep me"
    # It reads the lake but writes nothing there, not even the run bookkeeping; it writes exports.
    root.put_object(Bucket="lake", Key=f"gold/{key}", Body=b"gold")
    assert export.get_object(Bucket="lake", Key=f"gold/{key}")["Body"].read() == b"gold"
    _denied(lambda: export.put_object(Bucket="lake", Key=f"gold/{key}", Body=b"x"))
    _denied(lambda: export.delete_object(Bucket="lake", Key=f"gold/{key}"))
    _denied(lambda: export.put_object(Bucket="lake", Key=f"ops/runs/{key}", Body=b"x"))
    _denied(lambda: export.put_object(Bucket="lake", Key="ops/_lock.json", Body=b"x"))
    export.put_object(Bucket="exports", Key=key, Body=b"x")


def test_transform_credentials_stay_in_the_lake(clients, key):
    transform = clients["silver"]
    transform.put_object(Bucket="lake", Key=f"silver/{key}", Body=b"x")
    _denied(lambda: transform.put_object(Bucket="lake", Key=f"bronze/{key}", Body=b"x"))
    _denied(lambda: transform.list_objects_v2(Bucket="landing"))
    _denied(lambda: transform.put_object(Bucket="exports", Key=key, Body=b"x"))


def test_mysql_user_has_rights_on_the_gold_schema_only(stack, spark):
    cfg = stack.cfg
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        table = f"probe_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
        conn.execute(f"RENAME TABLE {table} TO {table}_b")
        conn.execute(f"DROP TABLE {table}_b")
        assert {row[0] for row in conn.query("SHOW DATABASES")} == {"information_schema", cfg.mysql.database}
        grants = " ".join(row[0] for row in conn.query("SHOW GRANTS FOR CURRENT_USER()"))
        assert "ALL PRIVILEGES" not in grants and "GRANT OPTION" not in grants
        for forbidden in ("CREATE DATABASE other_schema", "SELECT user FROM mysql.user",
                          f"GRANT SELECT ON {cfg.mysql.database}.* TO CURRENT_USER()"):
            with pytest.raises(ExportError) as caught:
                conn.execute(forbidden)
            assert "denied" in str(caught.value).lower(), str(caught.value)
            assert stack.secret(cfg.mysql.user_secret) not in str(caught.value)
