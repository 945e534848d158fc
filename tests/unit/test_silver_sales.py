"""Silver sales (DATA_CONTRACT.md, sales row of the quality rules): typed, checked, one row per sale.

The error rules come from conf/quality_rules.yaml (feed ``sales``), so these tests
pin the configured rules. Each rule test builds a few bronze rows (strings, as they land) from one valid
row with a field or two changed, and compares the exact ``failed_rules`` of every
row. Run date 2026-02-15 throughout.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl.contracts.sales import BRONZE_SCHEMA
from etl.contracts.silver import CUSTOMER_ID_MAP, SALES_LINES, TRANSACTIONS
from etl.quality.rules import FAILED_ERRORS, apply_rules, default_rules, passed, quarantine_rows
from etl.silver.sales import latest_per_transaction, sales_to_silver, typed_sales, with_sales_references

RUN_DATE = date(2026, 2, 15)
# The error rules alone: the warn rules need the reference lookups (tested below with them).
ERROR_RULES = default_rules()["sales"].model_copy(update={"rules": default_rules()["sales"].of_severity("error")})
RESULT_DDL = "record_number bigint, failed_rules array<string>"

VALID = {
    "sale_id": None, "customer_id": "1", "store_id": "2", "product_name": "Milk", "sales_date": "2026-02-14",
    "sales_person_id": "3", "price": "10.00", "quantity": "2", "total_cost": "20.00",
    "additional_columns": None, "raw_record": None, "source_file": "sales/a.csv", "record_number": 1,
    "file_checksum": "c0ffee", "ingested_at": datetime(2026, 2, 15, 6, 0), "run_id": "20260215T060000Z-aaaaaa",
}


def bronze_row(record_number: int, **changes) -> dict:
    return {**VALID, "record_number": record_number, **changes}


def bronze(spark, *rows: dict):
    return spark.createDataFrame([tuple(r[f.name] for f in BRONZE_SCHEMA.fields) for r in rows], BRONZE_SCHEMA)


def failed_rules_by_record(spark, *rows: dict):
    checked = apply_rules(typed_sales(bronze(spark, *rows)), ERROR_RULES, RUN_DATE)
    return checked.select("record_number", F.array_sort(FAILED_ERRORS).alias("failed_rules"))


def expected_rules(spark, *rows: tuple[int, list[str]]):
    return spark.createDataFrame([(n, sorted(rules)) for n, rules in rows], RESULT_DDL)


def assert_rules(spark, rows: list[dict], expected: list[tuple[int, list[str]]]) -> None:
    assert_df_equality(failed_rules_by_record(spark, *rows), expected_rules(spark, *expected),
                       ignore_row_order=True, ignore_nullable=True)


# -- error rules -----------------------------------------------------------------------------

def test_a_valid_row_fails_no_rule(spark):
    assert_rules(spark, [bronze_row(1)], [(1, [])])


def test_mandatory_field_missing(spark):
    rows = [bronze_row(1)]
    expected = [(1, [])]
    for n, field in enumerate(["customer_id", "store_id", "product_name", "sales_date",
                               "sales_person_id", "price", "quantity", "total_cost"], start=2):
        # null for most, a blank string for the ones a CSV gives as an empty cell
        rows.append(bronze_row(n, **{field: "  " if field in ("product_name", "price") else None}))
        expected.append((n, [f"missing_or_unparseable_{field}"]))
    assert_rules(spark, rows, expected)


def test_mandatory_field_unparseable(spark):
    rows = [
        bronze_row(1, customer_id=" 7 ", price=" 10.00 ", sales_date=" 2026-02-14 "),  # padded values still parse
        bronze_row(2, customer_id="abc"),
        bronze_row(3, store_id="1.5"),
        bronze_row(4, sales_person_id="3x"),
        bronze_row(5, sales_date="14/02/2026"),
        bronze_row(6, sales_date="2026-02-30"),
        bronze_row(7, price="ten"),
        bronze_row(8, quantity="2.5"),
        bronze_row(9, total_cost="20,00"),
        bronze_row(10, customer_id="99999999999"),  # does not fit an int
    ]
    expected = [
        (1, []),
        (2, ["missing_or_unparseable_customer_id"]),
        (3, ["missing_or_unparseable_store_id"]),
        (4, ["missing_or_unparseable_sales_person_id"]),
        (5, ["missing_or_unparseable_sales_date"]),
        (6, ["missing_or_unparseable_sales_date"]),
        (7, ["missing_or_unparseable_price"]),
        (8, ["missing_or_unparseable_quantity"]),
        (9, ["missing_or_unparseable_total_cost"]),
        (10, ["missing_or_unparseable_customer_id"]),
    ]
    assert_rules(spark, rows, expected)


def test_quantity_not_positive(spark):
    rows = [bronze_row(1, quantity="1", total_cost="10.00"),
            bronze_row(2, quantity="0", total_cost="0.00"),
            bronze_row(3, quantity="-1", price="0.00", total_cost="0.00")]
    assert_rules(spark, rows, [(1, []), (2, ["quantity_not_positive"]), (3, ["quantity_not_positive"])])


def test_price_negative(spark):
    # -0.01 x 1 vs 0.00 is within the 0.01 tolerance, so only the sign rule fails
    rows = [bronze_row(1, price="0.00", quantity="1", total_cost="0.00"),
            bronze_row(2, price="-0.01", quantity="1", total_cost="0.00")]
    assert_rules(spark, rows, [(1, []), (2, ["price_negative"])])


def test_total_cost_negative(spark):
    rows = [bronze_row(1, price="0.00", quantity="1", total_cost="0.00"),
            bronze_row(2, price="0.00", quantity="1", total_cost="-0.01")]
    assert_rules(spark, rows, [(1, []), (2, ["total_cost_negative"])])


def test_total_cost_mismatch_beyond_one_cent(spark):
    # price 10.00 x quantity 2 = 20.00
    rows = [bronze_row(1, total_cost="20.01"),   # off by exactly 0.01: passes
            bronze_row(2, total_cost="19.99"),   # off by exactly 0.01: passes
            bronze_row(3, total_cost="20.02"),
            bronze_row(4, total_cost="19.98"),
            bronze_row(5, price="3.33", quantity="3", total_cost="10.00")]  # 9.99 vs 10.00: passes
    assert_rules(spark, rows, [(1, []), (2, []), (3, ["total_cost_mismatch"]), (4, ["total_cost_mismatch"]),
                               (5, [])])


def test_sales_date_after_run_date(spark):
    rows = [bronze_row(1, sales_date="2026-02-15"), bronze_row(2, sales_date="2026-02-16")]
    assert_rules(spark, rows, [(1, []), (2, ["sales_date_out_of_range"])])


def test_sales_date_before_2000(spark):
    rows = [bronze_row(1, sales_date="2000-01-01"), bronze_row(2, sales_date="1999-12-31")]
    assert_rules(spark, rows, [(1, []), (2, ["sales_date_out_of_range"])])


def test_malformed_record(spark):
    rows = [bronze_row(1),
            bronze_row(2, raw_record='1,2,"Milk,2026-02-14,3,10.00,2,20.00'),
            # what Spark's PERMISSIVE mode typically gives: the record kept raw, fields missing
            bronze_row(3, raw_record="1,2", product_name=None, sales_date=None, sales_person_id=None,
                       price=None, quantity=None, total_cost=None)]
    assert_rules(spark, rows, [
        (1, []),
        (2, ["malformed_record"]),
        (3, ["malformed_record", "missing_or_unparseable_product_name", "missing_or_unparseable_sales_date",
             "missing_or_unparseable_sales_person_id", "missing_or_unparseable_price",
             "missing_or_unparseable_quantity", "missing_or_unparseable_total_cost"]),
    ])


def test_every_failed_rule_is_listed(spark):
    rows = [bronze_row(1, quantity="0", price="-1.00", total_cost="-5.00", sales_date="2026-03-01")]
    assert_rules(spark, rows, [(1, ["quantity_not_positive", "price_negative", "total_cost_negative",
                                    "total_cost_mismatch", "sales_date_out_of_range"])])


# -- transaction id ----------------------------------------------------------------------------

def test_derived_transaction_id_is_deterministic(spark):
    rows = [
        bronze_row(1, file_checksum="aaa", source_file="sales/x.csv", run_id="r1"),
        bronze_row(1, file_checksum="aaa", source_file="sales/copy-of-x.csv", run_id="r2"),  # same file again
        bronze_row(2, file_checksum="aaa"),                                                  # next record
        bronze_row(1, file_checksum="bbb"),                                                  # another file
        bronze_row(12, file_checksum="aaa"),
        bronze_row(2, file_checksum="aaa1"),                       # "aaa1" + 2 must not collide with "aaa" + 12
    ]
    ids = [r.transaction_id for r in typed_sales(bronze(spark, *rows)).collect()]
    assert ids[0] == ids[1]
    assert len(set(ids[1:])) == 5
    assert all(ids) and all(not i.startswith(" ") for i in ids)


def test_sale_id_wins_over_derived_id(spark):
    rows = [bronze_row(1, sale_id=" S-100 "), bronze_row(2, sale_id="S-100"), bronze_row(3, sale_id="   "),
            bronze_row(3, sale_id=None)]
    ids = [r.transaction_id for r in typed_sales(bronze(spark, *rows)).orderBy("record_number").collect()]
    assert ids[:2] == ["S-100", "S-100"]
    assert ids[2] == ids[3] and ids[2] != "S-100" and ids[2].strip() != ""


# -- one row per sale ------------------------------------------------------------------------

def test_later_delivery_of_a_sale_id_replaces_the_earlier_one(spark):
    rows = [
        bronze_row(1, sale_id="S-1", quantity="1", total_cost="10.00",
                   source_file="sales/2026-02-14/a.csv", run_id="20260214T060000Z-aaaaaa"),
        bronze_row(7, sale_id="S-1", quantity="3", total_cost="30.00",
                   source_file="sales/2026-02-15/a.csv", run_id="20260215T060000Z-bbbbbb"),
        bronze_row(2, sale_id="S-2", source_file="sales/2026-02-14/a.csv", run_id="20260214T060000Z-aaaaaa"),
    ]
    checked = apply_rules(typed_sales(bronze(spark, *rows)), ERROR_RULES, RUN_DATE)
    latest = latest_per_transaction(passed(checked))
    expected = spark.createDataFrame(
        [("S-1", 3, "sales/2026-02-15/a.csv", 7), ("S-2", 2, "sales/2026-02-14/a.csv", 2)],
        "transaction_id string, quantity int, source_file string, record_number bigint")
    assert_df_equality(latest.select("transaction_id", "quantity", "source_file", "record_number"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_failing_rows_go_to_quarantine_with_their_rules_and_raw_values(spark):
    rows = [bronze_row(1, sale_id="S-1"), bronze_row(2, sale_id="S-2", quantity="zero")]
    checked = apply_rules(typed_sales(bronze(spark, *rows)), ERROR_RULES, RUN_DATE)
    quarantine = quarantine_rows(checked, "sales", "transaction_id", "run-1", RUN_DATE).collect()
    assert [(q.record_key, q.failed_rules, q.source_file, q.record_number) for q in quarantine] == [
        ("S-2", ["missing_or_unparseable_quantity"], "sales/a.csv", 2)]
    assert '"quantity":"zero"' in quarantine[0].record.replace(" ", "")
    assert [r.transaction_id for r in passed(checked).collect()] == ["S-1"]


# -- conformed silver: reference lookups, warn rules, transactions and lines -----------------------

def references(spark):
    """Product 1 Milk; customers 1 and 5 (5 shares 1's phone, so maps to 1); store 2; salesperson 3."""
    products = spark.createDataFrame([(1, "Milk", "SKU-0001")], "id int, name string, sku_id string")
    id_map = spark.createDataFrame([(1, 1), (5, 1)], CUSTOMER_ID_MAP)
    stores = spark.createDataFrame([(2,)], "id int")
    team = spark.createDataFrame([(3,)], "id int")
    return products, id_map, stores, team


def checked_sales(spark, *rows: dict):
    looked_up = with_sales_references(typed_sales(bronze(spark, *rows)), *references(spark))
    return apply_rules(looked_up, default_rules()["sales"], RUN_DATE)


def assert_warnings(spark, rows: list[dict], expected: list[tuple[int, list[str]]]) -> None:
    actual = checked_sales(spark, *rows).select("record_number", F.array_sort("warnings").alias("warnings"))
    assert_df_equality(actual, spark.createDataFrame(expected, "record_number bigint, warnings array<string>"),
                       ignore_row_order=True, ignore_nullable=True)


def test_unknown_customer_is_a_warning(spark):
    assert_warnings(spark, [bronze_row(1, customer_id="5"), bronze_row(2, customer_id="99")],
                    [(1, []), (2, ["unknown_customer"])])


def test_unknown_store_is_a_warning(spark):
    assert_warnings(spark, [bronze_row(1), bronze_row(2, store_id="98")], [(1, []), (2, ["unknown_store"])])


def test_unknown_sales_person_is_a_warning(spark):
    assert_warnings(spark, [bronze_row(1), bronze_row(2, sales_person_id="97")],
                    [(1, []), (2, ["unknown_sales_person"])])


def test_unknown_product_is_a_warning(spark):
    assert_warnings(spark, [bronze_row(1, product_name="  MILK "), bronze_row(2, product_name="Cheese")],
                    [(1, []), (2, ["unknown_product"])])


def test_a_sale_is_one_store_transaction_with_one_line(spark):
    rows = [bronze_row(1, sale_id="S-1", customer_id="5", product_name=" milk "),  # canonical 1, catalogue name
            bronze_row(2, sale_id="S-2", customer_id="99", product_name="Cheese",  # late-arriving customer: kept
                       price="2.50", quantity="3", total_cost="7.50"),
            bronze_row(3, sale_id="S-3", quantity="0", total_cost="0.00")]         # quarantined: not in silver
    transactions, lines = sales_to_silver(latest_per_transaction(passed(checked_sales(spark, *rows))))
    assert transactions.schema == TRANSACTIONS and lines.schema == SALES_LINES
    run = VALID["run_id"]
    expected_transactions = spark.createDataFrame([
        ("store", "S-1", 1, 2, 3, date(2026, 2, 14), None, Decimal("20.00"), 2, "Success", True, [], "sales/a.csv",
         1, run, None, None, None),
        ("store", "S-2", 99, 2, 3, date(2026, 2, 14), None, Decimal("7.50"), 3, "Success", True,
         ["unknown_customer", "unknown_product"], "sales/a.csv", 2, run, None, None, None),
    ], TRANSACTIONS)
    expected_lines = spark.createDataFrame([
        ("store", "S-1", 1, date(2026, 2, 14), 1, 2, 1, "Milk", "SKU-0001", "name", 2, Decimal("10.00"),
         Decimal("20.00"), True, "sales/a.csv", 1, run),
        ("store", "S-2", 1, date(2026, 2, 14), 99, 2, None, "Cheese", None, "unmatched", 3, Decimal("2.50"),
         Decimal("7.50"), True, "sales/a.csv", 2, run),
    ], SALES_LINES)
    assert_df_equality(transactions, expected_transactions, ignore_row_order=True)
    assert_df_equality(lines, expected_lines, ignore_row_order=True)
