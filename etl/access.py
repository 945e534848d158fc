"""Least privilege per stage: the object-store policy each credential group gets.

The pipeline signs in to the object store with a different identity per stage
(``storage.s3.stage_credentials``): what a stolen ingest key can do is bounded
by the ingest policy, and so on. The policies are derived from the configured
area roots so that ``etl services start`` (dev), the compose stack's
``minio-init`` (``docker/minio/policies/*.json``, checked against this module by
``tests/unit/test_access.py``) and a production IAM setup all grant the same:

=========  =============================================  ==========================
group      may                                            may not
=========  =============================================  ==========================
ingest     read, move (copy + delete) and write landing   touch exports
           (archive/, rejected/ live there); read and
           write the lake (bronze, ops/file_manifest)
transform  read and write the lake (silver, gold, ops)    touch landing or exports
export     read the lake, write its ``ops/`` area (run    write or delete anything
           records, the run lock); read and write         in landing, write bronze,
           exports (the Excel report)                     silver or gold
=========  =============================================  ==========================

Every group may write the lake's ``ops/`` area because run bookkeeping (the run
lock, run records) happens in whatever stage a run is in.
"""

from __future__ import annotations

import json
from pathlib import Path

from etl.config import Config

POLICY_PREFIX = "etl-"
OBJECT_READ = ["s3:GetObject"]
OBJECT_WRITE = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
BUCKET_READ = ["s3:ListBucket", "s3:GetBucketLocation"]
BUCKET_WRITE = [*BUCKET_READ, "s3:ListBucketMultipartUploads"]


def _split(root: str) -> tuple[str, str]:
    """``s3a://bucket/some/prefix`` -> ("bucket", "some/prefix/")."""
    bucket, _, prefix = root.split("://", 1)[1].partition("/")
    return bucket, (prefix.strip("/") + "/") if prefix.strip("/") else ""


def _grant(root: str, write: bool) -> list[dict]:
    bucket, prefix = _split(root)
    return [
        {"Effect": "Allow", "Action": BUCKET_WRITE if write else BUCKET_READ, "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": OBJECT_WRITE if write else OBJECT_READ,
         "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
    ]


def _ops_area(lake: str) -> dict:
    """Write access to ``<lake root>/ops/`` only; ``*/ops/`` also admits lake roots that are
    prefixes of one shared bucket (``s3a://lake/<prefix>``, as the integration tests use)."""
    bucket, prefix = _split(lake)
    return {"Effect": "Allow", "Action": OBJECT_WRITE,
            "Resource": [f"arn:aws:s3:::{bucket}/{prefix}ops/*", f"arn:aws:s3:::{bucket}/{prefix}*/ops/*"]}


def stage_policies(cfg: Config) -> dict[str, dict]:
    """Policy name -> IAM policy document (the S3 dialect MinIO and AWS share), per credential group."""
    landing, lake, exports = cfg.storage.landing, cfg.storage.lake, cfg.storage.exports
    statements = {
        "ingest": _grant(landing, True) + _grant(lake, True),
        "transform": _grant(lake, True),
        "export": _grant(lake, False) + [_ops_area(lake)] + _grant(exports, True),
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


if __name__ == "__main__":
    # python -m etl.access --profile docker --out docker/minio/policies
    import argparse

    from etl.config import load_config

    parser = argparse.ArgumentParser(description="write the per-stage MinIO/S3 policy files for a profile",
                                     allow_abbrev=False)
    parser.add_argument("--profile", required=True, help="config profile in conf/")
    parser.add_argument("--out", type=Path, required=True, help="folder the policy files are written to")
    args = parser.parse_args()
    for written in write_policy_files(load_config(args.profile), args.out):
        print(written)
