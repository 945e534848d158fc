"""The per-stage object-store policies (etl/access.py): what each identity may touch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.access import stage_policies, write_policy_files
from etl.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def _grants(policy: dict) -> list[tuple[str, str]]:
    """(action, resource) pairs the policy allows."""
    return [(action, resource) for stmt in policy["Statement"] if stmt["Effect"] == "Allow"
            for action in stmt["Action"] for resource in stmt["Resource"]]


def _may(policy: dict, action: str, arn: str) -> bool:
    """IAM matching for the patterns used here: exact, or a trailing/inner '*' wildcard."""
    import fnmatch

    return any(a == action and fnmatch.fnmatchcase(arn, r) for a, r in _grants(policy))


@pytest.fixture(scope="module")
def policies():
    return stage_policies(load_config("dev", environ={}))


@pytest.mark.parametrize("group, action, arn, allowed", [
    ("etl-ingest", "s3:GetObject", "arn:aws:s3:::landing/sales/2026-11-22/a.csv", True),
    ("etl-ingest", "s3:DeleteObject", "arn:aws:s3:::landing/sales/a.csv", True),     # move to archive/
    ("etl-ingest", "s3:PutObject", "arn:aws:s3:::lake/bronze/sales/part-0.parquet", True),
    ("etl-ingest", "s3:PutObject", "arn:aws:s3:::exports/reports/x.xlsx", False),
    ("etl-ingest", "s3:ListBucket", "arn:aws:s3:::exports", False),
    ("etl-transform", "s3:PutObject", "arn:aws:s3:::lake/gold/kpi/part-0.parquet", True),
    ("etl-transform", "s3:GetObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-transform", "s3:PutObject", "arn:aws:s3:::exports/x", False),
    ("etl-export", "s3:GetObject", "arn:aws:s3:::lake/gold/kpi/part-0.parquet", True),
    ("etl-export", "s3:PutObject", "arn:aws:s3:::lake/gold/kpi/part-0.parquet", False),
    ("etl-export", "s3:DeleteObject", "arn:aws:s3:::lake/silver/x", False),
    ("etl-export", "s3:PutObject", "arn:aws:s3:::lake/ops/runs/_delta_log/1.json", True),
    ("etl-export", "s3:PutObject", "arn:aws:s3:::lake/t-1234/ops/_lock.json", True),   # a prefixed lake root
    ("etl-export", "s3:PutObject", "arn:aws:s3:::exports/reports/x.xlsx", True),
    ("etl-export", "s3:DeleteObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-export", "s3:GetObject", "arn:aws:s3:::landing/sales/a.csv", False),
])
def test_each_stage_may_touch_only_its_areas(policies, group, action, arn, allowed):
    assert _may(policies[group], action, arn) is allowed


def test_a_prefixed_lake_root_narrows_the_grants():
    cfg = load_config("dev", environ={"ETL__STORAGE__LAKE": "s3a://shared/lake-a"})
    transform = stage_policies(cfg)["etl-transform"]
    assert _may(transform, "s3:PutObject", "arn:aws:s3:::shared/lake-a/silver/x")
    assert not _may(transform, "s3:PutObject", "arn:aws:s3:::shared/lake-b/silver/x")


def test_the_compose_stack_loads_the_same_policies(tmp_path):
    """docker/minio/policies/ is written from etl/access.py; regenerate with
    `python -m etl.access --profile docker --out docker/minio/policies` after a change."""
    written = {p.name: json.loads(p.read_text()) for p in write_policy_files(load_config("docker", environ={}), tmp_path)}
    committed = {p.name: json.loads(p.read_text()) for p in (ROOT / "docker" / "minio" / "policies").glob("*.json")}
    assert committed == written
