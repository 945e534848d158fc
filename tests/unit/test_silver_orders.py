"""Silver online orders (etl/silver/orders.py; DATA_CONTRACT.md, orders row of the quality rules).

Each rule test builds bronze orders (strings, as they land) from one valid
order with a field or two changed, matches them against a tiny catalogue and
customer dimension, and compares every row's failed error rules and warnings.
Run date 2026-02-15 throughout.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl.contracts.orders import BRONZE_SCHEMA
from etl.contracts.silver import BEGINNING_OF_TIME as BOT, DIM_CUSTOMER, END_OF_TIME as EOT, SALES_LINES, TRANSACTIONS
from etl.quality.rules import apply_rules, default_rules, passed
from etl.silver.orders import latest_per_order, orders_to_silver, typed_orders, with_order_references

RUN_DATE = date(2026, 2, 15)
RULES_DDL = "record_number bigint, failed_errors array<string>, warnings array<string>"

VALID = {
    "order_id": "100045", "mobile_number": "+91 98110 00017", "order_date_time": "2026-02-14 18:04:11",
    "sku_id": "SKU-0007", "sku_count": "2", "total_amount": "718.00", "raw_record": None,
    "source_file": "orders/a.xml", "record_number": 1, "file_checksum": "c0ffee",
    "ingested_at": datetime(2026, 2, 15, 6), "run_id": "r1",
}


def bronze_row(record_number: int, **changes) -> dict:
    return {**VALID, "record_number": record_number, **changes}


def bronze(spark, *rows: dict):
    return spark.createDataFrame([tuple(r[f.name] for f in BRONZE_SCHEMA.fields) for r in rows], BRONZE_SCHEMA)


def products(spark):
    return spark.createDataFrame([(7, "Vanilla Ice Cream", "SKU-0007")], "id int, name string, sku_id string")


def dim_customer(spark):
    def row(cid, phone, valid_from, valid_to):
        return (cid, "A", "B", "addr", "122018", phone, "North", None, valid_from, valid_to, valid_to == EOT)
    return spark.createDataFrame([
        row(1, "9000000001", BOT, date(2026, 1, 1)),   # customer 1's old phone
        row(1, "9811000017", date(2026, 1, 1), EOT),
        row(2, "9811000018", BOT, EOT),
    ], DIM_CUSTOMER)


def checked(spark, *rows: dict):
    looked_up = with_order_references(typed_orders(bronze(spark, *rows)), products(spark), dim_customer(spark))
    return apply_rules(looked_up, default_rules()["orders"], RUN_DATE)


def assert_rules(spark, rows: list[dict], expected: list[tuple[int, list[str], list[str]]]) -> None:
    actual = checked(spark, *rows).select("record_number", F.array_sort("failed_errors").alias("failed_errors"),
                                          F.array_sort("warnings").alias("warnings"))
    expected_df = spark.createDataFrame([(n, sorted(e), sorted(w)) for n, e, w in expected], RULES_DDL)
    assert_df_equality(actual, expected_df, ignore_row_order=True, ignore_nullable=True)


# -- error rules --------------------------------------------------------------------------------

def test_a_valid_order_fails_no_rule(spark):
    assert_rules(spark, [bronze_row(1)], [(1, [], [])])


def test_mandatory_element_missing(spark):
    fields = ["order_id", "mobile_number", "order_date_time", "sku_id", "sku_count", "total_amount"]
    rows = [bronze_row(n, **{f: None if n % 2 else "  "}) for n, f in enumerate(fields, start=1)]
    # a missing phone or SKU is not also "invalid" or "unknown", and the customer cannot match without a phone
    expected = [(n, [f"missing_or_unparseable_{f}"], ["no_customer_match"] if f == "mobile_number" else [])
                for n, f in enumerate(fields, start=1)]
    assert_rules(spark, rows, expected)


def test_mandatory_element_unparseable(spark):
    rows = [bronze_row(1, order_date_time=" 2026-02-14 18:04:11 "),   # padded values still parse
            bronze_row(2, order_date_time="14/02/2026 18:04"),
            bronze_row(3, order_date_time="2026-02-30 10:00:00"),
            bronze_row(4, sku_count="2.5"),
            bronze_row(5, total_amount="718,00")]
    assert_rules(spark, rows, [(1, [], []), (2, ["missing_or_unparseable_order_date_time"], []),
                               (3, ["missing_or_unparseable_order_date_time"], []),
                               (4, ["missing_or_unparseable_sku_count"], []),
                               (5, ["missing_or_unparseable_total_amount"], [])])


def test_sku_count_not_positive(spark):
    rows = [bronze_row(1, sku_count="1"), bronze_row(2, sku_count="0"), bronze_row(3, sku_count="-2")]
    assert_rules(spark, rows, [(1, [], []), (2, ["sku_count_not_positive"], []), (3, ["sku_count_not_positive"], [])])


def test_total_amount_negative(spark):
    rows = [bronze_row(1, total_amount="0.00"), bronze_row(2, total_amount="-0.01")]
    assert_rules(spark, rows, [(1, [], []), (2, ["total_amount_negative"], [])])


def test_order_time_after_the_end_of_the_run_date(spark):
    rows = [bronze_row(1, order_date_time="2026-02-15 23:59:59"), bronze_row(2, order_date_time="2026-02-16 00:00:00")]
    assert_rules(spark, rows, [(1, [], []), (2, ["order_time_after_run_date"], [])])


def test_malformed_record(spark):
    rows = [bronze_row(1, raw_record="<order><order_id>1</order", order_id=None, mobile_number=None,
                       order_date_time=None, sku_id=None, sku_count=None, total_amount=None)]
    assert_rules(spark, rows, [(1, ["malformed_record", "missing_or_unparseable_order_id",
                                    "missing_or_unparseable_mobile_number", "missing_or_unparseable_order_date_time",
                                    "missing_or_unparseable_sku_id", "missing_or_unparseable_sku_count",
                                    "missing_or_unparseable_total_amount"], ["no_customer_match"])])


# -- warn rules ---------------------------------------------------------------------------------

def test_invalid_phone_is_a_warning(spark):
    rows = [bronze_row(1, mobile_number="98110"), bronze_row(2, mobile_number="919811000017")]
    assert_rules(spark, rows, [(1, [], ["invalid_phone", "no_customer_match"]), (2, [], [])])


def test_no_customer_match_is_a_warning(spark):
    # 9000000001 was customer 1's phone before 2026-01-01; only current phones match
    rows = [bronze_row(1, mobile_number="9811000099"), bronze_row(2, mobile_number="9000000001")]
    assert_rules(spark, rows, [(1, [], ["no_customer_match"]), (2, [], ["no_customer_match"])])


def test_unknown_sku_is_a_warning(spark):
    rows = [bronze_row(1, sku_id="sku-0007 "), bronze_row(2, sku_id="SKU-9999")]
    assert_rules(spark, rows, [(1, [], []), (2, [], ["unknown_sku"])])


# -- matching and one row per order -------------------------------------------------------------

def test_customer_is_found_by_normalised_phone_among_current_versions(spark):
    rows = [bronze_row(1, mobile_number="+91 98110 00017"), bronze_row(2, mobile_number="0981-100-0018"),
            bronze_row(3, mobile_number="9000000001")]
    actual = checked(spark, *rows).select("record_number", "customer_id")
    expected = spark.createDataFrame([(1, 1), (2, 2), (3, None)], "record_number bigint, customer_id int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_later_delivery_of_an_order_id_replaces_the_earlier_one(spark):
    rows = [bronze_row(1, order_id="A", sku_count="1", run_id="r1"),
            bronze_row(4, order_id="A", sku_count="3", run_id="r2", source_file="orders/b.xml"),
            bronze_row(5, order_id="A", sku_count="0", run_id="r3", source_file="orders/c.xml"),  # quarantined
            bronze_row(2, order_id="B", run_id="r1")]
    actual = latest_per_order(passed(checked(spark, *rows))).select("order_id", "sku_count", "source_file")
    expected = spark.createDataFrame([("A", 3, "orders/b.xml"), ("B", 2, "orders/a.xml")],
                                     "order_id string, sku_count int, source_file string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_order_is_one_online_transaction_with_one_line(spark):
    rows = [bronze_row(1, order_id="A"),
            bronze_row(2, order_id="B", mobile_number="9811000099", sku_id="SKU-9999", sku_count="1",
                       total_amount="10.50", order_date_time="2026-02-15 23:30:00")]
    transactions, lines = orders_to_silver(latest_per_order(passed(checked(spark, *rows))))
    assert transactions.schema == TRANSACTIONS and lines.schema == SALES_LINES
    expected_transactions = spark.createDataFrame([
        ("online", "A", 1, None, None, date(2026, 2, 14), datetime(2026, 2, 14, 18, 4, 11), Decimal("718.00"), 2,
         "Success", True, [], "orders/a.xml", 1, "r1", None, None, None),
        ("online", "B", None, None, None, date(2026, 2, 15), datetime(2026, 2, 15, 23, 30), Decimal("10.50"), 1,
         "Success", True, ["no_customer_match", "unknown_sku"], "orders/a.xml", 2, "r1", None, None, None),
    ], TRANSACTIONS)
    expected_lines = spark.createDataFrame([
        ("online", "A", 1, date(2026, 2, 14), 1, None, 7, "Vanilla Ice Cream", "SKU-0007", "sku", 2, None,
         Decimal("718.00"), True, "orders/a.xml", 1, "r1"),
        ("online", "B", 1, date(2026, 2, 15), None, None, None, "SKU-9999", "SKU-9999", "unmatched", 1, None,
         Decimal("10.50"), True, "orders/a.xml", 2, "r1"),
    ], SALES_LINES)
    assert_df_equality(transactions, expected_transactions, ignore_row_order=True)
    assert_df_equality(lines, expected_lines, ignore_row_order=True)
