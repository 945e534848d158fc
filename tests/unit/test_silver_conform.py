"""Conformance rules shared by the silver feeds (etl/silver/conform.py; DATA_CONTRACT.md conformance rules)."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, IntegerType, StringType, StructField, StructType

from etl.silver.conform import match_product_by_name, match_product_by_sku, normalise_phone, to_schema

PRODUCTS_DDL = "id int, name string, sku_id string"


def phones(spark, *raw: str | None):
    frame = spark.createDataFrame([(i, r) for i, r in enumerate(raw)], "i int, raw string")
    return [r.phone for r in frame.select(normalise_phone("raw").alias("phone")).orderBy("i").collect()]


def products(spark):
    return spark.createDataFrame([(1, "Milk 1L", "SKU-0001"), (2, "Bread", "SKU-0002"),
                                  (3, " milk 1l ", "SKU-0003")], PRODUCTS_DDL)


# -- phones -------------------------------------------------------------------------------------

def test_phone_keeps_digits_only(spark):
    assert phones(spark, "98110-00017", "(981) 100 0017", "9811000017") == ["9811000017"] * 3


def test_phone_of_12_digits_starting_91_loses_the_prefix(spark):
    # 12 digits not starting 91 keep them all, so they are invalid
    assert phones(spark, "+91 98110 00017", "919811000017", "929811000017") == ["9811000017", "9811000017", None]


def test_phone_of_11_digits_starting_0_loses_the_prefix(spark):
    # a 10-digit number starting 91 or 0 is valid as it is; 11 digits starting 9 is not
    assert phones(spark, "09811000017", "9198110000", "0981100001", "98110000171") == [
        "9811000017", "9198110000", "0981100001", None]


def test_phone_is_null_unless_10_digits_remain(spark):
    assert phones(spark, "12345", "", None, "0919811000017", "phone: n/a") == [None] * 5


# -- products -----------------------------------------------------------------------------------

def test_product_matches_by_name_trimmed_and_case_insensitive(spark):
    sales = spark.createDataFrame([(1, "  BREAD\t"), (2, "bread"), (3, "Cake"), (4, None)],
                                  "n int, product_name string")
    expected = spark.createDataFrame(
        [(1, "  BREAD\t", 2, "Bread", "SKU-0002", "name"), (2, "bread", 2, "Bread", "SKU-0002", "name"),
         (3, "Cake", None, None, None, "unmatched"), (4, None, None, None, None, "unmatched")],
        "n int, product_name string, product_id int, catalogue_name string, catalogue_sku_id string, "
        "match_method string")
    assert_df_equality(match_product_by_name(sales, products(spark)), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_product_name_shared_by_two_products_matches_the_lowest_id(spark):
    sales = spark.createDataFrame([(1, "MILK 1L")], "n int, product_name string")
    matched = match_product_by_name(sales, products(spark)).select("n", "product_id")
    assert_df_equality(matched, spark.createDataFrame([(1, 1)], "n int, product_id int"), ignore_nullable=True)


def test_product_matches_by_sku(spark):
    orders = spark.createDataFrame([(1, "SKU-0003"), (2, " sku-0002 "), (3, "SKU-9999")], "n int, sku_id string")
    expected = spark.createDataFrame(
        [(1, "SKU-0003", 3, " milk 1l ", "SKU-0003", "sku"), (2, " sku-0002 ", 2, "Bread", "SKU-0002", "sku"),
         (3, "SKU-9999", None, None, None, "unmatched")],
        "n int, sku_id string, product_id int, catalogue_name string, catalogue_sku_id string, match_method string")
    assert_df_equality(match_product_by_sku(orders, products(spark)), expected, ignore_row_order=True,
                       ignore_nullable=True)


# -- schemas ------------------------------------------------------------------------------------

TARGET = StructType([StructField("id", IntegerType(), False), StructField("day", DateType(), False),
                     StructField("note", StringType(), True)])


def test_to_schema_orders_casts_and_declares_nullability(spark):
    frame = spark.createDataFrame([("x", 7, date(2026, 2, 1))], "note string, id bigint, day date") \
        .withColumn("note", F.lit("fixed"))
    shaped = to_schema(frame, TARGET, "test frame")
    assert shaped.schema == TARGET
    assert shaped.collect()[0].asDict() == {"id": 7, "day": date(2026, 2, 1), "note": "fixed"}


def test_to_schema_fails_the_job_on_a_null_in_a_not_null_column(spark):
    frame = spark.createDataFrame([(None, date(2026, 2, 1), "x")], "id int, day date, note string")
    with pytest.raises(Exception, match="test frame: id is null"):
        to_schema(frame, TARGET, "test frame").collect()


# -- property test: normalise_phone against a plain-Python reading of the contract --------------

def _contract_phone(text: str | None) -> str | None:
    """DATA_CONTRACT.md, conformance: digits only; 12 digits starting 91 or 11 starting 0 lose it; 10 or null."""
    if text is None:
        return None
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


PHONE_TEXT = st.one_of(
    st.none(),
    st.text(alphabet="0123456789 +-()", max_size=16),
    st.builds(lambda prefix, body, sep: prefix + sep.join([body[:5], body[5:]]),
              st.sampled_from(["", "+91", "+91 ", "91", "0", "00"]),
              st.text(alphabet="0123456789", min_size=10, max_size=10), st.sampled_from(["", " ", "-"])),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PHONE_TEXT, min_size=1, max_size=200))
def test_normalise_phone_agrees_with_the_contract_on_any_text(spark, texts):
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, phone string")
    got = {r.i: r.p for r in frame.select("i", normalise_phone(F.col("phone")).alias("p")).collect()}
    assert got == {i: _contract_phone(t) for i, t in enumerate(texts)}
