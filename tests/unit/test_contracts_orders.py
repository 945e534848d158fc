"""The orders/ XML feed: contract, file check, Spark's XML read and the bronze conform (etl/bronze/xml_feed.py)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

import pytest
from chispa import assert_df_equality

from etl.bronze.xml_feed import conform_xml_to_bronze, read_xml_files, xml_file_problem
from etl.contracts import orders as contract
from etl.contracts.sales import LINEAGE_FIELDS

INGESTED_AT = datetime(2026, 11, 23, 6, 0)


def order_xml(order_id, mobile="+91 98110 00017", when="2026-11-22 18:04:11", sku="SKU-0007", count="2",
              amount="718.00"):
    parts = [("order_id", order_id), ("mobile_number", mobile), ("order_date_time", when), ("sku_id", sku),
             ("sku_count", count), ("total_amount", amount)]
    return "  <order>\n" + "".join(f"    <{k}>{v}</{k}>\n" for k, v in parts if v is not None) + "  </order>\n"


def document(*orders: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n' + "".join(orders) + "</orders>\n"


@contextmanager
def split_size(spark, size: int):
    """Make Spark cut files into ``size``-byte splits for the duration of a read."""
    keys = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    before = {k: spark.conf.get(k, None) for k in keys}
    spark.conf.set(keys[0], str(size))
    spark.conf.set(keys[1], "0")
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


# -- contract --------------------------------------------------------------------------------

def test_bronze_schema_is_the_six_elements_as_strings_then_raw_record_and_lineage():
    assert [f.name for f in contract.BRONZE_SCHEMA.fields] == [
        *contract.MANDATORY, "raw_record", *(f.name for f in LINEAGE_FIELDS)]
    assert {f.dataType.simpleString() for f in contract.BRONZE_SCHEMA.fields[:7]} == {"string"}
    assert contract.MANDATORY == ("order_id", "mobile_number", "order_date_time", "sku_id", "sku_count",
                                  "total_amount")


def test_the_reader_is_given_an_explicit_string_schema_and_no_inference():
    assert all(f.dataType.simpleString() == "string" for f in contract.READ_SCHEMA.fields)
    assert contract.READ_OPTIONS["rowTag"] == "order"
    assert contract.READ_OPTIONS["mode"] == "PERMISSIVE"
    assert contract.READ_OPTIONS["columnNameOfCorruptRecord"] == contract.CORRUPT
    assert contract.READ_OPTIONS["inferSchema"] == "false"


# -- file-level check ------------------------------------------------------------------------

@pytest.mark.parametrize("head", [
    b'<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n  <order>',
    b"<orders><order>",
    b"\xef\xbb\xbf<orders>",                                                # UTF-8 BOM
    b"<!-- export 2026-11-22 -->\n<?pi x?>\n<!DOCTYPE orders [<!ELEMENT orders ANY>]>\n<orders>",
    b'<shop:orders xmlns:shop="urn:x">',                                    # namespace prefix
    "<orders>".encode("utf-16"),
    b"<orders/>",                                                           # a valid empty delivery
    b'<?xml version="1.0"?>\n<!-- a comment longer than the bytes we',      # cut inside the prolog
    b"<ord",                                                                # cut inside the root's name
])
def test_xml_files_that_are_not_rejected(head):
    assert xml_file_problem(head) is None


@pytest.mark.parametrize("head, reason", [
    (b"", "empty file"),
    (b" \n\t\r\n", "empty file"),
    (b"\xef\xbb\xbf", "empty file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "not XML: binary content"),
    (b"order_id,mobile_number\n1,2\n", "not XML: starts with 'order_id,mobile_numb'"),
    (b'{"orders": []}', "not XML: starts with '{\"orders\": []}'"),
    (b"<1orders>", "not XML: starts with '<1orders>'"),
    (b"<orders\x01>", "not XML: starts with '<orders\\x01>'"),
    (b'<?xml version="1.0"?>\n<order><order_id>1</order_id></order>',
     "wrong root element <order>, expected <orders>"),
    (b"<ordersx>", "wrong root element <ordersx>, expected <orders>"),
    (b"<!-- c -->\n<Orders>", "wrong root element <Orders>, expected <orders>"),
])
def test_xml_file_problems_name_the_reason(head, reason):
    assert xml_file_problem(head) == reason


# -- read + conform --------------------------------------------------------------------------

BRONZE_DDL = ("order_id string, mobile_number string, order_date_time string, sku_id string, sku_count string, "
              "total_amount string, raw_record string, source_file string, record_number bigint, "
              "file_checksum string, ingested_at timestamp, run_id string")

MALFORMED = "  <order>\n    <order_id>3</order_id>\n    <sku_count>1</sku_count></sku>\n  </order>"


def test_orders_are_read_as_strings_numbered_per_file_and_a_malformed_order_is_one_corrupt_row(spark, tmp_path):
    root = tmp_path / "landing"
    (root / "orders" / "2026-11-22").mkdir(parents=True)
    a = root / "orders" / "2026-11-22" / "web_1.xml"
    a.write_text(document(
        order_xml("1", sku=" SKU-0007 ", count="007"),             # kept as landed: spaces, leading zeros
        order_xml("2", mobile=None, amount=None),                   # two elements missing
        MALFORMED + "\n",                                           # not well-formed XML
        order_xml("4").replace("<order>", '<order channel="app">').replace(
            "</total_amount>", "</total_amount>\n    <coupon>X</coupon>"),  # unknown attribute and element
    ))
    b = root / "orders" / "b.xml"
    b.write_text(document(order_xml("5", mobile="", sku="SKU-0001", count="1", amount="10.50")))
    files = spark.createDataFrame([("orders/2026-11-22/web_1.xml", "sum-a"), ("orders/b.xml", "sum-b")],
                                  "source_file string, file_checksum string")

    raw = read_xml_files(spark, [str(a), str(b)])
    actual = conform_xml_to_bronze(raw, files, f"file://{root}", "run-1", INGESTED_AT)

    lineage = ("sum-a", INGESTED_AT, "run-1")
    expected = spark.createDataFrame([
        ("1", "+91 98110 00017", "2026-11-22 18:04:11", " SKU-0007 ", "007", "718.00", None,
         "orders/2026-11-22/web_1.xml", 1, *lineage),
        ("2", None, "2026-11-22 18:04:11", "SKU-0007", "2", None, None, "orders/2026-11-22/web_1.xml", 2, *lineage),
        (None, None, None, None, None, None, MALFORMED.strip(), "orders/2026-11-22/web_1.xml", 3, *lineage),
        ("4", "+91 98110 00017", "2026-11-22 18:04:11", "SKU-0007", "2", "718.00", None,
         "orders/2026-11-22/web_1.xml", 4, *lineage),
        ("5", "", "2026-11-22 18:04:11", "SKU-0001", "1", "10.50", None, "orders/b.xml", 1,
         "sum-b", INGESTED_AT, "run-1"),
    ], BRONZE_DDL)
    assert actual.schema.fieldNames() == contract.BRONZE_SCHEMA.fieldNames()
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_an_xml_file_is_never_split_so_orders_keep_their_file_order(spark, tmp_path):
    # 64-byte splits would cut this ~2.5 KB file into ~40 pieces if the XML source were splittable.
    path = tmp_path / "orders" / "many.xml"
    path.parent.mkdir()
    path.write_text(document(*(order_xml(str(n)) for n in range(1, 13))))
    files = spark.createDataFrame([("orders/many.xml", "sum")], "source_file string, file_checksum string")

    with split_size(spark, 64):
        raw = read_xml_files(spark, [str(path)])
        assert raw.rdd.getNumPartitions() == 1
        rows = conform_xml_to_bronze(raw, files, str(tmp_path), "run-1", INGESTED_AT) \
            .select("order_id", "record_number").collect()

    assert sorted((int(r.order_id), r.record_number) for r in rows) == [(n, n) for n in range(1, 13)]
