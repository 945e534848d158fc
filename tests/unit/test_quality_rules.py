"""The rules engine (etl/quality/rules.py): loading conf/quality_rules.yaml, evaluating, counting, thresholds.

The feed-specific rules are tested with their feeds (test_silver_sales.py,
test_silver_orders.py, test_silver_customers.py); here the framework, on a toy
feed, and the order_events rules against the bronze event shape.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import Observation
from pyspark.sql import functions as F

from etl.bronze.json_feed import parse_event
from etl.quality.rules import (DEFAULT_RULES_FILE, DQ_RESULTS_SCHEMA, QUARANTINE_SCHEMA, ROWS_WITH_ERRORS,
                               TOTAL_ROWS, FeedRules, QualityRulesError, apply_rules, bronze_row, dq_results,
                               load_rules, parse_rules, quarantine_rows, threshold_breaches)

RUN_DATE = date(2026, 2, 15)

TOY = parse_rules({"sales": {"max_error_rate": 0.25, "rules": [
    {"name": "quantity_not_positive", "severity": "error", "condition": "quantity <= 0"},
    {"name": "in_the_future", "severity": "error", "condition": "sold_on > ${run_date}"},
    {"name": "unknown_store", "severity": "warn", "condition": "NOT store_known"},
]}})["sales"]
TOY_DDL = "n int, quantity int, sold_on date, store_known boolean"


def toy(spark, *rows):
    return spark.createDataFrame(list(rows), TOY_DDL)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


# -- loading ------------------------------------------------------------------------------------

def test_project_rules_file_loads_with_every_feed():
    rules = load_rules(DEFAULT_RULES_FILE)
    assert sorted(rules) == ["customers", "order_events", "orders", "sales"]
    assert {feed: r.max_error_rate for feed, r in rules.items()} == {
        "sales": Decimal("0.05"), "orders": Decimal("0.05"), "order_events": Decimal("0.05"),
        "customers": Decimal("0.25")}
    assert {r.severity for feed in rules.values() for r in feed.rules} == {"error", "warn"}


def test_max_error_rate_defaults_to_five_percent(tmp_path):
    rules = load_rules(write(tmp_path, "orders:\n  rules:\n    - {name: a, severity: warn, condition: 'x'}\n"))
    assert rules["orders"].max_error_rate == Decimal("0.05")


def test_unknown_severity_is_reported_naming_feed_and_rule(tmp_path):
    path = write(tmp_path, "sales:\n  rules:\n    - {name: ok, severity: warn, condition: 'x'}\n"
                           "    - {name: too_big, severity: fatal, condition: 'x > 1'}\n")
    with pytest.raises(QualityRulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "feed 'sales' rule #2 'too_big'" in message and "unknown severity 'fatal'" in message
    assert "\n" not in message


def test_missing_condition_is_reported_naming_the_rule(tmp_path):
    with pytest.raises(QualityRulesError, match=r"feed 'orders' rule #1 'no_sku', key 'condition': missing"):
        load_rules(write(tmp_path, "orders:\n  rules:\n    - {name: no_sku, severity: error}\n"))


def test_duplicate_rule_name_is_reported(tmp_path):
    text = ("customers:\n  rules:\n    - {name: twice, severity: error, condition: 'a'}\n"
            "    - {name: twice, severity: warn, condition: 'b'}\n")
    with pytest.raises(QualityRulesError, match=r"feed 'customers'.*duplicate rule name 'twice'"):
        load_rules(write(tmp_path, text))


def test_unknown_feed_key_and_placeholder_are_reported(tmp_path):
    with pytest.raises(QualityRulesError, match=r"unknown feed 'sale'"):
        parse_rules({"sale": {"rules": []}})
    with pytest.raises(QualityRulesError, match=r"rule #1 'a', key 'sevrity': unknown key"):
        parse_rules({"sales": {"rules": [{"name": "a", "sevrity": "warn", "condition": "x"}]}})
    with pytest.raises(QualityRulesError, match=r"unknown placeholder\(s\) \$\{today\}"):
        parse_rules({"sales": {"rules": [{"name": "a", "severity": "warn", "condition": "d > ${today}"}]}})
    with pytest.raises(QualityRulesError, match=r"cannot be read"):
        load_rules(tmp_path / "absent.yaml")


# -- evaluating ---------------------------------------------------------------------------------

def test_error_and_warn_rules_fill_separate_arrays_and_run_date_is_substituted(spark):
    frame = toy(spark,
                (1, 1, date(2026, 2, 15), True),    # on the run date: passes
                (2, 0, date(2026, 2, 16), True),    # two errors
                (3, 1, date(2026, 2, 1), False))    # a warning only
    actual = apply_rules(frame, TOY, RUN_DATE).select("n", "failed_errors", "warnings")
    expected = spark.createDataFrame(
        [(1, [], []), (2, ["quantity_not_positive", "in_the_future"], []), (3, [], ["unknown_store"])],
        "n int, failed_errors array<string>, warnings array<string>")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_null_condition_counts_as_passed(spark):
    actual = apply_rules(toy(spark, (1, None, None, None)), TOY, RUN_DATE).select("n", "failed_errors", "warnings")
    expected = spark.createDataFrame([(1, [], [])], "n int, failed_errors array<string>, warnings array<string>")
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_a_condition_that_cannot_be_evaluated_names_the_rule(spark):
    broken = parse_rules({"sales": {"rules": [
        {"name": "fine", "severity": "error", "condition": "quantity <= 0"},
        {"name": "typo", "severity": "warn", "condition": "quantty > 1"}]}})["sales"]
    with pytest.raises(QualityRulesError, match=r"quality rule 'typo' of feed 'sales' cannot be evaluated"):
        apply_rules(toy(spark, (1, 1, None, True)), broken, RUN_DATE)


def test_rule_counts_are_observed_while_the_rows_are_processed(spark):
    frame = toy(spark,
                (1, 1, date(2026, 2, 1), True),
                (2, 0, date(2026, 2, 16), True),    # both error rules: one row with errors
                (3, 0, date(2026, 2, 1), False),    # one error, one warning
                (4, 1, date(2026, 2, 1), False))    # a warning only
    observation = Observation()
    checked = apply_rules(frame, TOY, RUN_DATE, observation=observation)
    assert checked.filter(F.size("failed_errors") == 0).count() == 2   # the one action over the data
    actual = dq_results(spark, observation.get, TOY, "run-1", RUN_DATE)
    expected = spark.createDataFrame([
        ("run-1", RUN_DATE, "sales", "quantity_not_positive", "error", 2, 4),
        ("run-1", RUN_DATE, "sales", "in_the_future", "error", 1, 4),
        ("run-1", RUN_DATE, "sales", "unknown_store", "warn", 2, 4),
        ("run-1", RUN_DATE, "sales", ROWS_WITH_ERRORS, "error", 2, 4),
    ], DQ_RESULTS_SCHEMA)
    assert actual.schema == DQ_RESULTS_SCHEMA
    assert_df_equality(actual, expected, ignore_row_order=True)


# -- thresholds ---------------------------------------------------------------------------------

def results_rows(error_rows: int, total: int, **by_rule: int) -> list[dict]:
    rows = [{"feed": "sales", "rule": name, "severity": "error", "failed_rows": n, "total_rows": total}
            for name, n in by_rule.items()]
    rows.append({"feed": "sales", "rule": "unknown_store", "severity": "warn", "failed_rows": total,
                 "total_rows": total})
    rows.append({"feed": "sales", "rule": ROWS_WITH_ERRORS, "severity": "error", "failed_rows": error_rows,
                 "total_rows": total})
    return rows


def test_error_rate_above_max_is_a_breach_naming_feed_rule_and_count():
    # 26 of 100 rows > 25%; warnings never count
    messages = threshold_breaches(results_rows(26, 100, quantity_not_positive=20, in_the_future=10),
                                  {"sales": TOY})
    assert messages == ["feed 'sales': 26 of 100 rows (26.00%) failed an error rule, above max_error_rate 25.00%; "
                        "failed rows by rule: quantity_not_positive 20, in_the_future 10"]


def test_error_rate_at_exactly_max_or_with_no_rows_is_no_breach():
    assert threshold_breaches(results_rows(25, 100, quantity_not_positive=25), {"sales": TOY}) == []
    assert threshold_breaches(results_rows(0, 0), {"sales": TOY}) == []


def test_default_max_error_rate_applies_to_a_feed_without_rules_config():
    assert len(threshold_breaches(results_rows(6, 100, quantity_not_positive=6), {})) == 1
    assert threshold_breaches(results_rows(5, 100, quantity_not_positive=5), {}) == []


# -- quarantine ---------------------------------------------------------------------------------

def test_quarantine_rows_carry_failed_rules_and_the_bronze_row_as_json(spark):
    bronze = spark.createDataFrame([("S-1", "0", "sales/a.csv", 1), ("S-2", "3", "sales/a.csv", 2)],
                                   "sale_id string, quantity string, source_file string, record_number bigint")
    typed = bronze.select("sale_id", F.col("quantity").cast("int").alias("quantity"),
                          F.lit(None).cast("date").alias("sold_on"), F.lit(True).alias("store_known"),
                          "source_file", "record_number", bronze_row(bronze))
    actual = quarantine_rows(apply_rules(typed, TOY, RUN_DATE), "sales", "sale_id", "run-9", RUN_DATE)
    record = json.dumps({"sale_id": "S-1", "quantity": "0", "source_file": "sales/a.csv", "record_number": 1},
                        separators=(",", ":"))
    expected = spark.createDataFrame(
        [("sales", "S-1", ["quantity_not_positive"], record, "sales/a.csv", 1, "run-9", RUN_DATE)],
        QUARANTINE_SCHEMA)
    assert actual.schema == QUARANTINE_SCHEMA
    assert_df_equality(actual, expected)


# -- order_events rules (the feed's module is elsewhere; the rules must fit the bronze shape) ----

def event(order: dict | None = None, items: list | None = None, phone: str = "9811000017") -> str:
    base = {"orderID": 110, "total": 1661.0, "core_total": 1440.0, "tax_total": 241.2, "discount_total": 100.0,
            "delivery_charges": 0.0, "packaging_charge": 80.0, "service_charge": 0, "round_off": "-0.20"}
    return json.dumps({"stream_id": 1, "event_id": "e", "raw_event": {"raw_payload": {"properties": {
        "Order": {**base, **(order or {})}, "Customer": {"phone": phone},
        "OrderItem": items if items is not None else [{"quantity": 1, "price": 360.0}]}}}})


def test_order_events_rules_fit_the_bronze_event_shape(spark):
    lines = [
        (1, event(), 0),
        (2, "{not json", 0),
        (3, event({"orderID": ""}), 0),
        (4, event({"total": 1661.06}), 0),                                   # off by 0.06
        (5, event({"total": 1661.05}), 0),                                   # off by exactly 0.05: passes
        (6, event(items=[{"quantity": 1, "price": 1}, {"quantity": 0, "price": 1}]), 0),
        (7, event(items=[{"quantity": 1, "price": -1}]), 0),
        (8, event(phone=" "), 1),
    ]
    bronze = (spark.createDataFrame(lines, "n int, raw_line string, unmatched_items int")
              .withColumn("event", parse_event(F.col("raw_line"))))
    rules = load_rules(DEFAULT_RULES_FILE)["order_events"]
    actual = apply_rules(bronze, rules, RUN_DATE).select("n", "failed_errors", "warnings")
    expected = spark.createDataFrame([
        (1, [], []), (2, ["unparseable_json"], []), (3, ["no_order_id"], []), (4, ["reconciliation_off"], []),
        (5, [], []), (6, ["item_quantity_not_positive"], []), (7, ["item_price_negative"], []),
        (8, [], ["empty_phone", "unmatched_item"]),
    ], "n int, failed_errors array<string>, warnings array<string>")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_feed_rules_model_rejects_a_rate_above_one():
    with pytest.raises(QualityRulesError, match=r"key 'max_error_rate'"):
        parse_rules({"sales": {"max_error_rate": 1.5, "rules": []}})
    assert FeedRules(feed="sales").rules == ()
    assert TOTAL_ROWS.startswith("_")
