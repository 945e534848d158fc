"""The per-stage object-store policies (etl/access.py): what each identity may touch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.access import stage_policies, write_policy_files
from etl.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def _matches(policy: dict, effect: str, action: str, arn: str) -> bool:
    """IAM matching for the patterns used here: exact, or '*' wildcards (which, as in IAM, match '/')."""
    import fnmatch

    return any(stmt["Effect"] == effect and action in stmt["Action"] and fnmatch.fnmatchcase(arn, resource)
               for stmt in policy["Statement"] for resource in stmt["Resource"])


def _may(policy: dict, action: str, arn: str) -> bool:
    """Allowed by a statement and denied by none (IAM: an explicit Deny wins)."""
    return _matches(policy, "Allow", action, arn) and not _matches(policy, "Deny", action, arn)


@pytest.fixture(scope="module", params=["dev", "docker"])
def profile(request):
    """dev admits roots one folder below (prefixed_roots), docker not: both must be exact."""
    return request.param


@pytest.fixture(scope="module")
def policies(profile):
    return stage_policies(load_config(profile, environ={}))


IDENTITIES = ("etl-ingest", "etl-transform", "etl-export", "etl-run")
# Every prefix of the lake, with the one identity that may write there (etl/catalog.py owners).
LAKE_AREAS = {
    "bronze/sales/part-0.parquet": "etl-ingest",
    "bronze/customers/_delta_log/00000000000000000001.json": "etl-ingest",
    "ops/file_manifest/_delta_log/00000000000000000001.json": "etl-ingest",
    "_staging/20261122T010203Z-abc/customers/c.csv": "etl-ingest",
    "silver/transactions/part-0.parquet": "etl-transform",
    "gold/kpi_daily_sales/part-0.parquet": "etl-transform",
    "ops/dq_results/part-0.parquet": "etl-transform",
    "ops/silver_progress/_delta_log/00000000000000000003.json": "etl-transform",
    "ops/runs/_delta_log/00000000000000000001.json": "etl-run",
    "ops/_lock.json": "etl-run",
    # Nested folders that look like another identity's prefix belong to the layer they are in: the old
    # `*/ops/*` grant let export (and every identity) write there.
    "bronze/x/ops/y": "etl-ingest",
    "bronze/sales/ops/runs/part-0.parquet": "etl-ingest",
    "gold/kpi/ops/_lock.json": "etl-transform",
    "silver/orders/ops/silver_progress/x": "etl-transform",
    "ops/runs_old/x": None,
    "ops/x": None,
    "other/y": None,
}
CASES = [(identity, area, owner == identity) for area, owner in LAKE_AREAS.items() for identity in IDENTITIES]


def _nests_own_prefix(identity: str, area: str) -> bool:
    """``area`` holds another of ``identity``'s own prefixes below its first folder (silver/x/ops/silver_progress/):
    with prefixed roots such a path is refused too (it is never written), as the denials cannot tell it apart."""
    from etl.access import lake_prefixes

    own = lake_prefixes()[identity.removeprefix("etl-")]
    return any(f"/{p}" in area for p in own)


@pytest.mark.parametrize("identity, area, allowed", CASES)
@pytest.mark.parametrize("action", ["s3:PutObject", "s3:DeleteObject"])
def test_each_identity_writes_exactly_the_lake_prefixes_it_owns(profile, policies, identity, area, allowed, action):
    expected = allowed and not (profile == "dev" and _nests_own_prefix(identity, area))
    assert _may(policies[identity], action, f"arn:aws:s3:::lake/{area}") is expected


@pytest.mark.parametrize("identity, area, allowed", [(i, f"t-1234abcd/{a}", o == i) for a, o in LAKE_AREAS.items()
                                                     for i in IDENTITIES])
def test_one_folder_below_the_root_only_where_the_profile_says(identity, area, allowed):
    """dev (integration tests, benchmarks: s3a://lake/<name>) admits one folder below the root, with the
    same owners; nothing deeper, and docker (production-like) never."""
    dev = stage_policies(load_config("dev", environ={}))
    docker = stage_policies(load_config("docker", environ={}))
    assert _may(dev[identity], "s3:PutObject", f"arn:aws:s3:::lake/{area}") is (
        allowed and not _nests_own_prefix(identity, area.split("/", 1)[1]))
    assert not _may(dev[identity], "s3:PutObject", f"arn:aws:s3:::lake/a/{area}")            # two folders down
    assert not _may(docker[identity], "s3:PutObject", f"arn:aws:s3:::lake/{area}")


@pytest.mark.parametrize("layer", ["bronze", "silver", "gold", "ops"])
@pytest.mark.parametrize("identity", IDENTITIES)
def test_a_folder_named_like_a_layer_is_no_way_into_it(identity, layer):
    """With prefixed roots, lake/<layer>/ops/runs/x would be 'root <layer>, table ops/runs': denied."""
    dev = stage_policies(load_config("dev", environ={}))
    owns_layer = layer != "ops" and LAKE_AREAS[next(a for a in LAKE_AREAS if a.startswith(f"{layer}/"))] == identity
    for area, owner in LAKE_AREAS.items():
        if owner is not None and not area.startswith(f"{layer}/"):
            expected = owns_layer and not _nests_own_prefix(identity, f"{layer}/{area}")
            assert _may(dev[identity], "s3:PutObject", f"arn:aws:s3:::lake/{layer}/{area}") is expected, area


def test_every_catalogue_table_is_written_by_its_owner_only(policies):
    """Derived from etl/catalog.py: a table added there is granted to its owner's identity and nobody else."""
    from etl import catalog
    from etl.access import stage_identities

    owners = stage_identities()
    for table in catalog.TABLES:
        arn = f"arn:aws:s3:::lake/{table.layer}/{table.name}/_delta_log/00000000000000000000.json"
        writers = {i for i in IDENTITIES if _may(policies[i], "s3:PutObject", arn)}
        assert writers == {f"etl-{owners[table.stage]}"}, table.key


@pytest.mark.parametrize("group, action, arn, allowed", [
    ("etl-ingest", "s3:GetObject", "arn:aws:s3:::landing/sales/2026-11-22/a.csv", True),
    ("etl-ingest", "s3:DeleteObject", "arn:aws:s3:::landing/sales/a.csv", True),     # move to archive/
    ("etl-ingest", "s3:PutObject", "arn:aws:s3:::exports/reports/x.xlsx", False),
    ("etl-ingest", "s3:ListBucket", "arn:aws:s3:::exports", False),
    ("etl-transform", "s3:GetObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-transform", "s3:PutObject", "arn:aws:s3:::exports/x", False),
    ("etl-export", "s3:GetObject", "arn:aws:s3:::lake/gold/kpi/part-0.parquet", True),
    ("etl-export", "s3:PutObject", "arn:aws:s3:::exports/reports/x.xlsx", True),
    ("etl-export", "s3:DeleteObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-export", "s3:GetObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-run", "s3:GetObject", "arn:aws:s3:::lake/gold/kpi/_delta_log/0.json", True),    # versions a run left
    ("etl-run", "s3:GetObject", "arn:aws:s3:::landing/sales/a.csv", False),
    ("etl-run", "s3:PutObject", "arn:aws:s3:::exports/x", False),
])
def test_each_stage_may_touch_only_its_areas(policies, group, action, arn, allowed):
    assert _may(policies[group], action, arn) is allowed


def test_a_prefixed_lake_root_narrows_the_grants():
    cfg = load_config("dev", environ={"ETL__STORAGE__LAKE": "s3a://shared/lake-a"})
    transform = stage_policies(cfg)["etl-transform"]
    assert _may(transform, "s3:PutObject", "arn:aws:s3:::shared/lake-a/silver/x")
    assert not _may(transform, "s3:PutObject", "arn:aws:s3:::shared/lake-b/silver/x")
    assert not _may(transform, "s3:PutObject", "arn:aws:s3:::shared/lake-b/lake-a/silver/x")


def test_the_compose_stack_loads_the_same_policies(tmp_path):
    """docker/minio/policies/ is written from etl/access.py; regenerate with
    `python -m etl.access --profile docker --out docker/minio/policies` after a change."""
    written = {p.name: json.loads(p.read_text()) for p in write_policy_files(load_config("docker", environ={}), tmp_path)}
    committed = {p.name: json.loads(p.read_text()) for p in (ROOT / "docker" / "minio" / "policies").glob("*.json")}
    assert committed == written


@pytest.mark.parametrize("table, identity", [
    ("bronze/sales", "ingest"), ("ops/file_manifest", "ingest"), ("silver/transactions", "transform"),
    ("gold/kpi_daily_sales", "transform"), ("ops/silver_progress", "transform"), ("ops/runs", "run"),
    ("silver/not_in_the_catalogue", "transform"),
])
def test_etl_maintain_rewrites_each_table_as_its_owner(table, identity):
    """OPTIMIZE and VACUUM rewrite and delete a table's files: only its owner may (transform cannot touch bronze)."""
    from etl.ops.maintain import owner_identity

    assert owner_identity(table) == identity
