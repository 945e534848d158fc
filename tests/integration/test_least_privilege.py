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
from etl.export.mysql import (AUDIT_TABLES, AUDIT_VIEWS, Connection, MySQLTarget, account_objects, apply_migrations,
                              migrations, mysql_url, schema_objects, target_for)
from etl.gold.marts import GOLD_TABLES
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


def _refused(conn, statement: str, secret: str) -> None:
    with pytest.raises(ExportError) as caught:
        conn.execute(statement)
    assert "denied" in str(caught.value).lower(), str(caught.value)
    assert secret not in str(caught.value)


def test_mysql_user_has_rights_on_the_gold_tables_only(stack, spark):
    cfg = stack.cfg
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        apply_migrations(conn)
        # Its own tables: a gold table's staging and retired names (the atomic swap).
        conn.execute("CREATE TABLE alerts__staging (id INT PRIMARY KEY)")
        conn.execute("RENAME TABLE alerts__staging TO alerts__retired")
        conn.execute("DROP TABLE alerts__retired")
        assert {row[0] for row in conn.query("SHOW DATABASES")} == {"information_schema", cfg.mysql.database}
        grants = " ".join(row[0] for row in conn.query("SHOW GRANTS FOR CURRENT_USER()"))
        assert "ALL PRIVILEGES" not in grants and "GRANT OPTION" not in grants
        user = stack.secret(cfg.mysql.user_secret)
        for forbidden in ("CREATE DATABASE other_schema", "SELECT user FROM mysql.user",
                          f"GRANT SELECT ON {cfg.mysql.database}.* TO CURRENT_USER()",
                          f"CREATE TABLE probe_{uuid.uuid4().hex[:8]} (id INT)"):   # no table it does not own
            _refused(conn, forbidden, user)


@pytest.mark.parametrize("audit", AUDIT_TABLES)
def test_the_loader_cannot_drop_or_rewrite_the_audit_tables(stack, spark, audit):
    """The run history is append-only for the loader: no DROP, TRUNCATE, RENAME, ALTER or DELETE."""
    cfg = stack.cfg
    user = stack.secret(cfg.mysql.user_secret)
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        apply_migrations(conn)
        conn.query(f"SELECT COUNT(*) FROM {audit}")                    # it reads and appends
        for statement in (f"DROP TABLE {audit}", f"TRUNCATE TABLE {audit}", f"RENAME TABLE {audit} TO {audit}_x",
                          f"ALTER TABLE {audit} ADD COLUMN x INT", f"DELETE FROM {audit}",
                          f"CREATE OR REPLACE TABLE {audit} (id INT)"):
            _refused(conn, statement, user)
        assert conn.query(f"SHOW TABLES LIKE '{audit}'") == [(audit,)]


def test_the_consumer_account_reads_gold_and_the_run_records_and_nothing_else(stack, spark):
    """The account docs/serving.md gives SQL consumers: SELECT on every served gold table, its history and
    _legacy view (as the migrations leave them, V005 and V006 included) and on the run records the
    dashboard's Data health page reads; no write (the run records included), no schema_migrations or
    etl_gold_loaded, no other schema, no staging table."""
    cfg = stack.cfg
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        apply_migrations(conn)
    reader = MySQLTarget(mysql_url(cfg), stack.secret(cfg.mysql.reader_user_secret),
                         stack.secret(cfg.mysql.reader_password_secret))
    assert reader.user != stack.secret(cfg.mysql.user_secret)
    consumer = account_objects()["consumer"]
    assert set(GOLD_TABLES) < set(consumer) and {*AUDIT_VIEWS, "etl_run_records", "etl_table_loads"} < set(consumer)
    with Connection(spark, reader) as conn:
        for table in consumer:
            conn.query(f"SELECT COUNT(*) FROM {table}")
        assert {row[0] for row in conn.query("SHOW TABLES")} == set(consumer)
        first, history, view = "sales_team_data_mart", "kpi_peak_hours_history", "alerts_legacy"
        for forbidden in (*(f"SELECT * FROM {t}" for t in ("schema_migrations", "etl_gold_loaded")),
                          *(f"DELETE FROM {t}" for t in AUDIT_TABLES), "UPDATE etl_run_records SET error = NULL",
                          "INSERT INTO etl_table_loads SELECT * FROM etl_table_loads",
                          f"INSERT INTO {first} SELECT * FROM {first}", f"DELETE FROM {first}",
                          f"UPDATE {first} SET sales_month = sales_month", f"DROP TABLE {first}",
                          f"DELETE FROM {history}", f"DROP VIEW {view}",
                          f"CREATE OR REPLACE VIEW {view} AS SELECT 1 AS x",
                          f"CREATE TABLE {first}__staging (id INT)", "SELECT user FROM mysql.user"):
            _refused(conn, forbidden, reader.user)


def test_the_admin_applied_every_migration_and_the_loader_reaches_every_object(stack, spark):
    """etl services start applied V001..V006 as root and recorded them, so the loader (which may not
    rename etl_runs, V005) finds nothing pending; it reads every table and view they leave and writes
    each table it owns, the V006 tables and the histories included, but may neither create nor replace
    a view."""
    cfg = stack.cfg
    user = stack.secret(cfg.mysql.user_secret)
    objects = account_objects()
    with Connection(spark, target_for(cfg, stack.secret)) as conn:
        assert apply_migrations(conn) == []
        assert {row[0] for row in conn.query("SELECT version FROM schema_migrations")} >= {v for v, _ in migrations()}
        for name in schema_objects():
            conn.query(f"SELECT COUNT(*) FROM {name}")
        conn.execute("START TRANSACTION")
        for table in (*objects["loaded"], *objects["owned"]):
            conn.execute(f"DELETE FROM {table} WHERE 1 = 0")          # DELETE granted, nothing removed
        conn.execute("ROLLBACK")
        for statement in ("DROP VIEW etl_runs", "CREATE OR REPLACE VIEW etl_runs AS SELECT 1 AS x",
                          "CREATE VIEW probe_view AS SELECT 1 AS x", "DROP VIEW alerts_legacy"):
            _refused(conn, statement, user)


def test_status_reads_the_run_records_as_the_export_identity(stack):
    """etl status / check-freshness sign delta-rs in as the export identity: it reads ops/runs and may
    write nothing in the lake (the run identity could rewrite ops/runs and the lock)."""
    from etl.run.records import RECORDS_READER, storage_options

    assert RECORDS_READER == EXPORT.identity
    s3 = stack.cfg.storage.s3
    options = storage_options(stack.cfg, stack.secret)
    assert options["AWS_ACCESS_KEY_ID"] == stack.secret(s3.identity(EXPORT.identity).access_key_secret)
    assert options["AWS_ACCESS_KEY_ID"] != stack.secret(s3.identity(RUN_IDENTITY).access_key_secret)
    assert LAKE_AREAS["ops/runs/_delta_log/00000000000000000001.json"] == RUN_IDENTITY   # export: refused


def test_the_compose_stack_s_mysql_init_applies_the_migrations_and_grants_from_them(stack, tmp_path):
    """docker/mysql/init/10-least-privilege.sh run by bash against the real MariaDB, as the mysql image
    runs it on its first start (its ``docker_process_sql`` is the client as the admin over the socket;
    the image first made MYSQL_USER with ALL on the database): every migration applied and recorded,
    the loader narrowed to docker/mysql/account-grants.sql, the consumer reading what it serves."""
    import os
    import secrets as random_tokens
    import shlex
    import subprocess

    from devtools import services
    from etl.config import PROJECT_ROOT
    from etl.export.mysql import GRANTS_TEMPLATE, MIGRATIONS_DIR

    cfg, tag = stack.cfg, uuid.uuid4().hex[:8]
    database, loader, reader = f"init_{tag}", f"etl_init_{tag}", f"etl_read_init_{tag}"
    password, reader_password = random_tokens.token_urlsafe(16), random_tokens.token_urlsafe(16)
    sock = services._mariadb_paths(cfg)["socket"]
    client = services._mariadb_tools()["client"]
    admin = services.mariadb_account(sock.parent).admin
    as_admin = [client, "--no-defaults", f"--socket={sock}", f"--user={admin}", "--batch", "--skip-column-names"]

    def admin_sql(sql: str) -> str:
        return subprocess.run(as_admin, input=sql, capture_output=True, text=True, check=True, timeout=60).stdout

    def as_user(user: str, secret: str, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run([client, "--no-defaults", "-h", "127.0.0.1", "-P", str(cfg.mysql.port), f"--user={user}",
                               f"--database={database}", "--batch", "--skip-column-names"], input=sql, text=True,
                              capture_output=True, timeout=60, env={**os.environ, "MYSQL_PWD": secret})

    admin_sql(f"CREATE DATABASE `{database}`; CREATE USER '{loader}'@'%' IDENTIFIED BY '{password}'; "
              f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{loader}'@'%';")
    try:
        wrapper = tmp_path / "entrypoint.sh"
        script = PROJECT_ROOT / "docker" / "mysql" / "init" / "10-least-privilege.sh"
        wrapper.write_text(f'docker_process_sql() {{ {shlex.join(as_admin)} "$@" > /dev/null; }}\n'
                           f"set -eo pipefail\nsource {shlex.quote(str(script))}\n")
        done = subprocess.run(["bash", str(wrapper)], capture_output=True, text=True, timeout=300, env={
            **os.environ, "MYSQL_DATABASE": database, "MYSQL_USER": loader, "MYSQL_READER_USER": reader,
            "MYSQL_READER_PASSWORD": reader_password, "ETL_SQL_DIR": str(MIGRATIONS_DIR),
            "ETL_GRANTS_FILE": str(GRANTS_TEMPLATE)})
        assert done.returncode == 0, done.stderr[-2000:]
        assert reader_password not in done.stdout + done.stderr
        assert admin_sql(f"SELECT version FROM `{database}`.schema_migrations ORDER BY 1").split() == \
            [v for v, _ in migrations()]
        grants = admin_sql(f"SHOW GRANTS FOR '{loader}'@'%';")
        assert f"`{database}`.*" not in grants and "etl_table_loads" in grants and "kpi_peak_hours_history" in grants
        consumer = account_objects()["consumer"]
        shown = as_user(reader, reader_password, "SHOW TABLES;")
        assert shown.returncode == 0 and set(shown.stdout.split()) == set(consumer), shown.stderr
        for statement in ("DROP TABLE etl_table_loads;", "DELETE FROM etl_run_records;", "DROP VIEW etl_runs;"):
            refused = as_user(loader, password, statement)
            assert refused.returncode != 0 and "denied" in refused.stderr.lower(), statement
        loaded = as_user(loader, password, "CREATE TABLE kpi_order_mix__staging LIKE kpi_order_mix; "
                                           "DROP TABLE kpi_order_mix__staging; SELECT COUNT(*) FROM etl_runs;")
        assert loaded.returncode == 0, loaded.stderr
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS `{database}`; DROP USER IF EXISTS '{loader}'@'%'; "
                  f"DROP USER IF EXISTS '{reader}'@'%';")


def test_minio_init_of_the_compose_stack_provisions_the_same_identities(stack, tmp_path):
    """docker's minio-init (``python -m etl.access --provision``) against the real MinIO: every credential
    from the environment, the docker profile's exact policies, the seed uploaded; then the dev
    policies are put back for the other tests of the session."""
    import secrets as random_tokens

    from devtools import services
    from etl.access import provision_minio
    from etl.config import load_config

    docker = load_config("docker", environ={"ETL__STORAGE__S3__ENDPOINT": stack.cfg.storage.s3.endpoint})
    env = {"MINIO_ROOT_USER": stack.secret(stack.cfg.storage.s3.access_key_secret),
           "MINIO_ROOT_PASSWORD": stack.secret(stack.cfg.storage.s3.secret_key_secret)}
    keys = {}
    for group in ("S3", "INGEST", "TRANSFORM", "EXPORT", "RUN"):
        keys[group] = (f"compose{group.lower()}{random_tokens.token_hex(4)}", random_tokens.token_urlsafe(18))
        env[f"ETL_{group}_ACCESS_KEY"], env[f"ETL_{group}_SECRET_KEY"] = keys[group]
    seed = tmp_path / "seed"
    (seed / "sales").mkdir(parents=True)
    (seed / "sales" / "seeded.csv").write_text("a,b\n")
    said = []
    try:
        provision_minio(docker, env, seed, say=said.append)
        assert not any(v for pair in keys.values() for v in pair if any(v in line for line in said))
        import boto3

        def client(group):
            access, secret = keys[group]
            return boto3.client("s3", endpoint_url=docker.storage.s3.endpoint, aws_access_key_id=access,
                                aws_secret_access_key=secret, region_name="us-east-1")

        assert client("INGEST").get_object(Bucket="landing", Key="sales/seeded.csv")["Body"].read() == b"a,b\n"
        client("RUN").put_object(Bucket="lake", Key="ops/runs/compose-probe", Body=b"x")
        _denied(lambda: client("EXPORT").put_object(Bucket="lake", Key="ops/runs/compose-probe", Body=b"x"))
        _denied(lambda: client("INGEST").put_object(Bucket="lake", Key="silver/compose-probe", Body=b"x"))
        _denied(lambda: client("TRANSFORM").put_object(Bucket="lake", Key="t-1/silver/compose-probe", Body=b"x"))
        provision_minio(docker, env, None, say=said.append)          # safe to run again
    finally:
        root = s3_client(stack.cfg, stack.secret)
        root.delete_object(Bucket="landing", Key="sales/seeded.csv")
        root.delete_object(Bucket="lake", Key="ops/runs/compose-probe")
        services.start(stack.cfg, say=lambda line: None)            # the dev policies (prefixed roots) back
