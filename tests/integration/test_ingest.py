"""Landing -> bronze on MinIO: rejects with reasons, duplicates, idempotency, crash recovery.

Each test gets its own landing/lake prefix and runs the ingest stage as
``etl run --stages ingest`` in a separate process, as the scheduler would.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from etl.generate import GenerateOptions, generate
from tests.integration.conftest import BIN, isolated_env, landing_store

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-22"
OPTS = GenerateOptions(start=date(2026, 11, 20), days=2, sales_per_day=25, seed=5)


def _ingest(stack, prefix, extra=None):
    return stack.run([str(BIN / "etl"), "run", "--date", RUN_DATE, "--stages", "ingest"],
                     {**isolated_env(prefix), **(extra or {})})


def _keys(store, prefix=""):
    return sorted(f.key for f in store.list(prefix))


def _bronze_count(spark, prefix, feed="sales"):
    return spark.read.format("delta").load(f"s3a://lake/{prefix}/bronze/{feed}").count()


def _manifest(spark, prefix):
    rows = spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/file_manifest").collect()
    return {(r.feed, r.path): r for r in rows}


def test_each_reject_reason_moves_the_file_with_a_sidecar_and_a_manifest_row(stack, s3_spark, lake_prefix, tmp_path):
    landing = landing_store(stack, lake_prefix)
    generate(OPTS, tmp_path / "gen", landing)
    bad = {
        "sales/bad/empty.csv": (b"", "empty file"),
        "sales/bad/binary.csv": (b"PK\x03\x04\x00\x00binary", "not a text file (binary content)"),
        "sales/bad/latin1.csv": ("customer_id,store_id,product_name\n1,2,Cr\xe8me\n".encode("latin-1") + b"x" * 10,
                                 "not UTF-8 text (invalid byte at offset 40)"),
        "sales/bad/no_price.csv": (b"customer_id,store_id,product_name,sales_date,sales_person_id,quantity,total_cost\n"
                                   b"1,1,Strawberry Cone,2026-11-21,1,1,90.00\n",
                                   "missing mandatory column(s): price"),
        "sales/bad/orders.xml": (b"<orders><order><order_id>1</order_id></order></orders>\n",
                                 "missing mandatory column(s): customer_id, store_id, product_name, sales_date, "
                                 "sales_person_id, price, quantity, total_cost"),
    }
    for key, (content, _) in bad.items():
        path = tmp_path / key.replace("/", "_")
        path.write_bytes(content)
        landing.upload(path, key)

    result = _ingest(stack, lake_prefix)
    assert result.returncode == 0, result.stderr[-3000:]

    manifest = _manifest(s3_spark, lake_prefix)
    for key, (_, reason) in bad.items():
        assert not landing.exists(key), f"{key} is still in landing"
        assert landing.exists(f"rejected/{key}"), f"{key} was not moved to rejected/"
        sidecar = json.loads("".join(c.decode() for c in landing.open_chunks(f"rejected/{key}.reason.json")))
        assert sidecar["reason"] == reason and sidecar["file"] == key
        row = manifest[("sales", key)]
        assert (row.status, row.reason, row.rows_read) == ("rejected", reason, None)
        assert f"rejected {key}: {reason}" in result.stdout
    # Nothing of a rejected file reached bronze: only the generated rows are there.
    assert _bronze_count(s3_spark, lake_prefix) == OPTS.days * OPTS.sales_per_day
    assert _keys(landing, "sales/") == []


def test_same_content_twice_and_under_a_new_name_is_ingested_once(stack, s3_spark, lake_prefix, tmp_path):
    landing = landing_store(stack, lake_prefix)
    paths = generate(OPTS, tmp_path / "gen", landing)
    first = _ingest(stack, lake_prefix)
    assert first.returncode == 0, first.stderr[-3000:]
    count = _bronze_count(s3_spark, lake_prefix)
    assert count == OPTS.days * OPTS.sales_per_day

    # The same delivery again under its own names, and one file under a new name.
    generate(OPTS, tmp_path / "gen", landing)
    sales_file = next(p for p in paths if "sales_2026-11-20" in p.name)
    landing.upload(sales_file, "sales/resent/renamed.csv")
    second = _ingest(stack, lake_prefix)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "bronze sales       files ingested 0, rejected 0, duplicate 3, rows 0" in second.stdout
    assert _bronze_count(s3_spark, lake_prefix) == count
    rows = s3_spark.read.format("delta").load(f"s3a://lake/{lake_prefix}/ops/file_manifest") \
        .filter("feed = 'sales'").collect()
    statuses = {}
    for row in rows:
        statuses.setdefault(row.path, []).append(row.status)
    assert statuses["sales/resent/renamed.csv"] == ["skipped_duplicate"]
    # First delivery ingested, the same file under the same name again recorded as a duplicate.
    assert sorted(statuses["sales/2026-11-20/sales_2026-11-20.csv"]) == ["ingested", "skipped_duplicate"]
    assert _keys(landing, "sales/") == []


@pytest.mark.parametrize("crash_at", ["after_bronze_commit", "after_manifest"])
def test_a_run_killed_between_commit_and_archive_is_completed_by_the_next(stack, s3_spark, lake_prefix,
                                                                          tmp_path, crash_at):
    landing = landing_store(stack, lake_prefix)
    generate(OPTS, tmp_path / "gen", landing)
    crashed = _ingest(stack, lake_prefix, {"ETL_TEST_CRASH_AT": crash_at})
    assert crashed.returncode == 70, crashed.stderr[-3000:]
    # Killed after the sales commit: rows are in bronze but the files are still in landing.
    assert _bronze_count(s3_spark, lake_prefix) == OPTS.days * OPTS.sales_per_day
    assert len(_keys(landing, "sales/")) == OPTS.days

    rerun = _ingest(stack, lake_prefix)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"recovered {OPTS.days}" in rerun.stdout
    assert _bronze_count(s3_spark, lake_prefix) == OPTS.days * OPTS.sales_per_day
    assert _keys(landing, "sales/") == []
    assert len(_keys(landing, "archive/sales/")) == OPTS.days
    manifest = _manifest(s3_spark, lake_prefix)
    sales_rows = [r for (feed, _), r in manifest.items() if feed == "sales"]
    assert sorted(r.status for r in sales_rows) == ["ingested"] * OPTS.days
    assert sum(r.rows_read for r in sales_rows) == OPTS.days * OPTS.sales_per_day
