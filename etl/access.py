"""Least privilege per stage: the object-store policy each credential group gets.

The pipeline signs in to the object store with a different identity per stage
(``storage.s3.stage_credentials``): what a stolen key can do is bounded by its
identity's policy. Each identity may write exactly the prefixes it writes, and
those come from the table catalogue (etl/catalog.py: every table names the stage
that owns it; each stage names its identity in etl/run/stages.py), so a table added
to the catalogue is granted to its owner and to nobody else:

=========  ==============================================  ===================================
identity   writes                                          why
=========  ==============================================  ===================================
ingest     landing (moves files to archive/, rejected/);   it parses untrusted files: bronze
           the lake's ``bronze/``, ``ops/file_manifest/``  is all it may change in the lake
           and ``_staging/`` (XLSX converted to CSV)
transform  ``silver/``, ``gold/``, ``ops/dq_results/``,    silver and gold (and a rollback's
           ``ops/silver_progress/``                        restore) derive from bronze
export     the exports bucket only                         it publishes; reads the lake
run        ``ops/runs/`` and the run lock                  the run's bookkeeping, whatever its
           ``ops/_lock.json``                              stages: none of the data
=========  ==============================================  ===================================

Every identity reads the whole lake (a stage reads the layers before its own, the run
identity reads the versions a run left); only ingest reads landing, only export exports.

The policies are derived from the configured area roots, so ``etl services start`` (dev),
the compose stack's ``minio-init`` (``docker/minio/policies/*.json``, checked against this
module by ``tests/unit/test_access.py``) and a production IAM setup grant the same.

IAM's ``*`` also matches ``/``: ``lake/*/ops/*`` (what this module used to grant) matched
``lake/bronze/x/ops/y``. So grants are exact prefixes of the configured root. Only with
``storage.s3.prefixed_roots`` (the dev profile: the integration tests and benchmarks run
side by side under ``s3a://lake/<name>``) an area may also sit one folder below the root;
``<root>/*/<prefix>`` is then allowed and everything that would reach it through more than
one folder (``<root>/*/*/<prefix>``) or through a folder named like a layer is denied.
"""

from __future__ import annotations

import json
from pathlib import Path

from etl.config import Config

POLICY_PREFIX = "etl-"
OBJECT_READ = ["s3:GetObject"]
OBJECT_WRITE = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
WRITE_ONLY = [a for a in OBJECT_WRITE if a != "s3:GetObject"]
BUCKET_READ = ["s3:ListBucket", "s3:GetBucketLocation"]
BUCKET_WRITE = [*BUCKET_READ, "s3:ListBucketMultipartUploads"]
# The run's own bookkeeping: the run lock and ops/runs (catalogue stage "run").
RUN_IDENTITY = "run"


def _split(root: str) -> tuple[str, str]:
    """``s3a://bucket/some/prefix`` -> ("bucket", "some/prefix/")."""
    bucket, _, prefix = root.split("://", 1)[1].partition("/")
    return bucket, (prefix.strip("/") + "/") if prefix.strip("/") else ""


def stage_identities() -> dict[str, str]:
    """Catalogue owner (a stage name, or ``run``) -> the identity that writes its tables."""
    from etl.run.stages import PIPELINE

    return {**{s.name: s.identity for s in PIPELINE}, "run": RUN_IDENTITY}


def lake_prefixes() -> dict[str, tuple[str, ...]]:
    """Identity -> the prefixes (relative to the lake root) it may write, from the catalogue.

    A layer whose tables all belong to one identity is granted whole (``bronze/``); otherwise
    each table's folder (``ops/runs/``). The trailing ``/`` keeps ``ops/runs/`` from also
    granting ``ops/runs_old``.
    """
    from etl import catalog
    from etl.bronze.ingest import STAGING
    from etl.ops.lock import LOCK_KEY

    owner = stage_identities()
    grants: dict[str, list[str]] = {identity: [] for identity in (*dict.fromkeys(owner.values()), "export")}
    for layer in dict.fromkeys(t.layer for t in catalog.TABLES):
        tables = catalog.tables(layer)
        owners = {owner[t.stage] for t in tables}
        if len(owners) == 1:
            grants[owners.pop()].append(f"{layer}/")
        else:
            for t in tables:
                grants[owner[t.stage]].append(f"{layer}/{t.name}/")
    grants["ingest"].append(f"{STAGING}/")        # XLSX sheets converted to CSV, per run, deleted after
    grants[RUN_IDENTITY].append(LOCK_KEY)         # one object, not a folder
    return {identity: tuple(prefixes) for identity, prefixes in grants.items()}


def _arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _read(root: str) -> list[dict]:
    bucket, prefix = _split(root)
    return [{"Effect": "Allow", "Action": BUCKET_READ, "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": OBJECT_READ, "Resource": [_arn(bucket, f"{prefix}*")]}]


def _write(root: str, prefixes: tuple[str, ...], nested: bool) -> list[dict]:
    """Write access to ``prefixes`` of ``root``; with ``nested``, also one folder below it (see the
    module docstring), and the denials that keep the ``*`` of that folder to one folder."""
    from etl.lake import LAYERS

    bucket, base = _split(root)
    grant = lambda p: p if not p.endswith("/") else p + "*"  # noqa: E731 - a folder: what is in it
    allowed = [_arn(bucket, base + grant(p)) for p in prefixes]
    statements = [{"Effect": "Allow", "Action": BUCKET_WRITE, "Resource": [f"arn:aws:s3:::{bucket}"]}]
    if not nested:
        return [*statements, {"Effect": "Allow", "Action": OBJECT_WRITE, "Resource": allowed}]
    allowed += [_arn(bucket, f"{base}*/{grant(p)}") for p in prefixes]
    denied = [_arn(bucket, f"{base}*/*/{grant(p)}") for p in prefixes]
    denied += [_arn(bucket, f"{base}{layer}/{grant(p)}") for layer in LAYERS for p in prefixes]
    return [*statements, {"Effect": "Allow", "Action": OBJECT_WRITE, "Resource": allowed},
            {"Effect": "Deny", "Action": WRITE_ONLY, "Resource": denied}]


def _whole(root: str) -> list[dict]:
    """Read and write a whole area root (landing for ingest, exports for export)."""
    bucket, base = _split(root)
    resources = [_arn(bucket, f"{base}*")]
    return [{"Effect": "Allow", "Action": BUCKET_WRITE, "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": OBJECT_WRITE, "Resource": resources}]


def stage_policies(cfg: Config) -> dict[str, dict]:
    """Policy name -> IAM policy document (the S3 dialect MinIO and AWS share), per credential group."""
    landing, lake, exports = cfg.storage.landing, cfg.storage.lake, cfg.storage.exports
    nested = bool(cfg.storage.s3 and cfg.storage.s3.prefixed_roots)
    own = lake_prefixes()
    statements = {
        "ingest": _whole(landing) + _read(lake) + _write(lake, own["ingest"], nested),
        "transform": _read(lake) + _write(lake, own["transform"], nested),
        "export": _read(lake) + _whole(exports),
        RUN_IDENTITY: _read(lake) + _write(lake, own[RUN_IDENTITY], nested),
    }
    return {f"{POLICY_PREFIX}{group}": {"Version": "2012-10-17", "Statement": stmts}
            for group, stmts in statements.items()}


def write_policy_files(cfg: Config, folder: Path) -> list[Path]:
    """One ``<policy>.json`` per group (what the compose stack's ``minio-init`` loads with mc)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in stage_policies(cfg).items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        written.append(path)
    return written


def provision_minio(cfg: Config, environ: dict[str, str], seed: Path | None = None, say=print) -> None:
    """The compose stack's ``minio-init``: buckets, one user per identity with its policy, the housekeeping
    user (``readwrite``), and a seed of landing. Every credential comes from the environment
    (``MINIO_ROOT_USER``, ``ETL_<GROUP>_ACCESS_KEY``, ...; docker/.env), never from a command line, and
    no value is printed. Safe to run again."""
    import boto3
    from botocore.config import Config as BotoConfig
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    def need(name: str) -> str:
        if not environ.get(name):
            raise SystemExit(f"minio-init: {name} is not set (docker/.env)")
        return environ[name]

    endpoint = cfg.storage.s3.endpoint
    root = (need("MINIO_ROOT_USER"), need("MINIO_ROOT_PASSWORD"))
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=root[0], aws_secret_access_key=root[1],
                      region_name=cfg.storage.s3.region, config=BotoConfig(s3={"addressing_style": "path"}))
    buckets = [_split(r)[0] for r in (cfg.storage.landing, cfg.storage.lake, cfg.storage.exports)]
    present = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in present:
            s3.create_bucket(Bucket=bucket)
    admin = MinioAdmin(endpoint=endpoint.split("://", 1)[1], secure=endpoint.startswith("https"),
                       credentials=StaticProvider(*root))

    def user(policy: str, access: str, secret: str) -> None:
        admin.user_add(access, secret)
        try:
            admin.attach_policy([policy], user=access)
        except Exception as exc:  # noqa: BLE001 - minio.error.MinioAdminException: "already applied" on a rerun
            if "already" not in str(exc).lower():
                raise SystemExit(f"minio-init: attaching {policy} failed: {str(exc).replace(access, '***')[:200]}")

    user("readwrite", need("ETL_S3_ACCESS_KEY"), need("ETL_S3_SECRET_KEY"))     # etl generate/upload: none
    for name, document in stage_policies(cfg).items():
        group = name.removeprefix(POLICY_PREFIX).upper()
        admin.policy_add(name, policy=document)
        user(name, need(f"ETL_{group}_ACCESS_KEY"), need(f"ETL_{group}_SECRET_KEY"))
    seeded = 0
    if seed is not None and seed.is_dir():
        bucket, prefix = _split(cfg.storage.landing)
        for path in sorted(p for p in seed.rglob("*") if p.is_file()):
            s3.upload_file(str(path), bucket, prefix + path.relative_to(seed).as_posix())
            seeded += 1
    say(f"minio-init: buckets {', '.join(buckets)} ready; users for {', '.join(stage_policies(cfg))} and "
        f"housekeeping ready; {seeded} landing file(s) seeded")


if __name__ == "__main__":
    # python -m etl.access --profile docker --out docker/minio/policies   (the policy files)
    # python -m etl.access --profile docker --provision [--seed DIR]        (minio-init, credentials from env)
    import argparse
    import os

    from etl.config import load_config

    parser = argparse.ArgumentParser(description="write the per-stage MinIO/S3 policy files for a profile, "
                                                 "or create the buckets, users and policies (minio-init)",
                                     allow_abbrev=False)
    parser.add_argument("--profile", required=True, help="config profile in conf/")
    parser.add_argument("--out", type=Path, help="folder the policy files are written to")
    parser.add_argument("--provision", action="store_true",
                        help="create the buckets, users and policies on the MinIO named by the profile "
                             "(credentials from the environment)")
    parser.add_argument("--seed", type=Path, help="folder uploaded to landing once the users exist")
    args = parser.parse_args()
    if args.provision:
        provision_minio(load_config(args.profile), dict(os.environ), args.seed)
    else:
        for written in write_policy_files(load_config(args.profile), args.out or parser.error("--out")):
            print(written)
