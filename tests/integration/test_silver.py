"""Bronze -> silver -> gold on MinIO with generated, defective data: record accounting, quarantine,
dq_results, and a threshold breach that stops the run before gold. The runs are ``etl run`` started in
this process (``etl_in_process``: no cold JVM per run).
"""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from delta.tables import DeltaTable

from devtools.generate import ALL_FEEDS, GenerateOptions, generate
from tests.integration.conftest import etl_in_process, isolated_env, landing_store

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-22"
OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=30, seed=21, customers=40,
                       orders_per_day=25, events_orders_per_day=20, feeds=ALL_FEEDS, defects=True)
CHECKED = ("customers", "sales", "orders", "order_events")


def _run(stack, spark, prefix, stages="ingest,silver,gold"):
    return etl_in_process(stack, spark, isolated_env(prefix), ["run", "--date", RUN_DATE, "--stages", stages])


def _table(spark, prefix, layer, name):
    return spark.read.format("delta").load(f"s3a://lake/{prefix}/{layer}/{name}")


@pytest.fixture(scope="module")
def defective_run(stack, s3_spark, tmp_path_factory):
    prefix = "silver-defects"
    report = generate(OPTS, tmp_path_factory.mktemp("gen"), landing_store(stack, prefix), progress=False)
    result = _run(stack, s3_spark, prefix)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return stack, prefix, report, result


SUMMARY_LINE = re.compile(r"^  silver (\S+)\s+rows in (\d+), to silver (\d+), quarantined (\d+), deduplicated (\d+)$")


def _summary(stdout: str) -> dict[str, tuple[int, int, int, int]]:
    """feed -> (rows in, to silver, quarantined, deduplicated), from the run summary."""
    matches = (SUMMARY_LINE.match(line) for line in stdout.splitlines())
    return {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in matches if m}


def test_every_bronze_row_is_in_silver_quarantine_or_a_counted_duplicate(defective_run, s3_spark):
    _, prefix, _, result = defective_run
    summary = _summary(result.stdout)
    assert set(summary) == set(CHECKED), result.stdout
    for feed, (rows_in, to_silver, quarantined, deduplicated) in summary.items():
        assert rows_in == _table(s3_spark, prefix, "bronze", feed).count(), feed
        assert rows_in == to_silver + quarantined + deduplicated, feed
        assert _table(s3_spark, prefix, "silver", f"quarantine_{feed}").count() == quarantined, feed
        assert quarantined > 0, f"the generator's defects of {feed} were not quarantined"
    transactions = _table(s3_spark, prefix, "silver", "transactions")
    by_channel = {r.channel: r["count"] for r in transactions.groupBy("channel").count().collect()}
    assert by_channel["store"] == summary["sales"][1]
    assert by_channel["online"] == summary["orders"][1]
    # Events: one transaction per order (its current version), fewer than the valid events.
    assert by_channel["pos"] == _table(s3_spark, prefix, "silver", "orders").count() <= summary["order_events"][1]


def test_quarantine_rows_carry_every_failed_rule_file_line_and_run(defective_run, s3_spark):
    _, prefix, report, result = defective_run
    malformed = report.defects["malformed_rows"]
    for feed in CHECKED:
        rows = _table(s3_spark, prefix, "silver", f"quarantine_{feed}").collect()
        for row in rows:
            assert row.failed_rules and row.source_file and row.record_number >= 1, (feed, row)
            assert row.run_id in result.stdout
            assert json.loads(row.record)["record_number"] == row.record_number
        # every row the generator made malformed in this feed is in its quarantine
        expected = {(key, n) for key, numbers in malformed.items() if key.startswith(f"{feed}/") for n in numbers}
        assert expected <= {(r.source_file, r.record_number) for r in rows}, feed


def test_dq_results_hold_the_observed_count_of_every_rule(defective_run, s3_spark):
    _, prefix, _, result = defective_run
    results = _table(s3_spark, prefix, "ops", "dq_results").collect()
    summary = _summary(result.stdout)
    for feed in CHECKED:
        of_feed = {r.rule: r for r in results if r.feed == feed}
        assert of_feed["_rows_with_errors"].failed_rows == summary[feed][2], feed
        quarantine = _table(s3_spark, prefix, "silver", f"quarantine_{feed}")
        for rule in ("malformed_record", "reconciliation_off", "total_cost_mismatch"):
            if rule in of_feed:
                in_quarantine = quarantine.filter(f"array_contains(failed_rules, '{rule}')").count()
                assert of_feed[rule].failed_rows == in_quarantine, (feed, rule)


def test_a_rerun_for_the_same_date_changes_no_silver_or_gold_row(defective_run, s3_spark):
    stack, prefix, _, _ = defective_run
    tables = [("silver", t) for t in ("transactions", "sales_lines", "dim_customer", "orders", "order_items",
                                      "quarantine_sales", "quarantine_order_events")] + \
             [("gold", t) for t in ("customers_data_mart", "kpi_daily_sales", "sales_team_data_mart")]
    before = {t: sorted(repr(tuple(r)) for r in _table(s3_spark, prefix, *t).collect()) for t in tables}
    again = _run(stack, s3_spark, prefix)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "  silver " not in again.stdout       # nothing new reached bronze, so silver had nothing to do
    assert {t: sorted(repr(tuple(r)) for r in _table(s3_spark, prefix, *t).collect()) for t in tables} == before


def test_a_feed_over_its_error_threshold_stops_the_run_and_gold_stays_at_its_version(defective_run, s3_spark,
                                                                                      tmp_path):
    """Runs last in this module: it leaves a bad sales file in bronze, unprocessed by silver."""
    stack, prefix, _, _ = defective_run
    gold_uri = f"s3a://lake/{prefix}/gold/sales_team_data_mart"
    gold_version = DeltaTable.forPath(s3_spark, gold_uri).history(1).first().version
    silver_before = _table(s3_spark, prefix, "silver", "transactions").count()
    bad = tmp_path / "bad_sales.csv"
    bad.write_text("customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost\n"
                   + "".join(f"{i},1,Strawberry Cone,2026-11-21,1,90.00,0,0.00\n" for i in range(1, 21)))
    landing_store(stack, prefix).upload(bad, "sales/late/bad_sales.csv")

    result = _run(stack, s3_spark, prefix)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "etl: error: data-quality threshold exceeded, silver and gold left unchanged: feed 'sales': 20 of 20 rows "
        "(100.00%) failed an error rule, above max_error_rate 5.00%; failed rows by rule: quantity_not_positive 20")
    assert "  silver sales        rows in 20, to silver 0, quarantined 20" in result.stdout
    assert DeltaTable.forPath(s3_spark, gold_uri).history(1).first().version == gold_version
    assert _table(s3_spark, prefix, "silver", "transactions").count() == silver_before
    # The bad rows are quarantined with their reason, and counted in dq_results for that run.
    run_id = result.stdout.split()[1]
    quarantined = _table(s3_spark, prefix, "silver", "quarantine_sales").filter(f"run_id = '{run_id}'")
    assert quarantined.count() == 20
    assert {tuple(r.failed_rules) for r in quarantined.collect()} == {("quantity_not_positive",)}
