"""The order_events/ JSON Lines feed: contract, file check, read, parse and the bronze conform
(etl/bronze/json_feed.py)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime

import pytest

from etl.bronze.json_feed import conform_jsonl_to_bronze, jsonl_file_problem, read_jsonl_files
from etl.contracts import order_events as contract
from etl.contracts.sales import LINEAGE_FIELDS

INGESTED_AT = datetime(2026, 11, 23, 6, 0)

# The contract's example event, plus fields the contract does not name (they must be ignored).
EVENT = {
    "stream_id": 111, "event_id": "0b7c-uuid", "aggregate_type": "order", "aggregate_id": "110",
    "event_type": "orderdetails", "occurred_at": "2026-11-22T17:40:38.027940+00:00",
    "delivery_attempt": 3,
    "raw_event": {"source": "pos", "signature": "abc", "raw_payload": {"event": "orderdetails", "properties": {
        "Order": {"orderID": 110, "total": 1661.0, "core_total": 1440.0, "tax_total": 241.2,
                  "discount_total": 100.0, "delivery_charges": 0.0, "packaging_charge": 80.0,
                  "service_charge": 0, "round_off": "-0.20", "created_on": "2026-11-22 20:55:58",
                  "order_type": "Delivery", "order_from": "Zomato", "payment_type": "Online",
                  "status": "Success", "customer_invoice_id": "110", "table_no": "T4"},
        "Customer": {"name": "Mudita Roy", "phone": "", "address": "Sector 66, Gurgaon", "gstin": ""},
        "OrderItem": [
            {"itemid": 1282571499, "name": "Old Fashion Vanilla Ice Cream (300ml)", "itemcode": "SKU-0007",
             "quantity": 1, "price": 360.0, "total": 360.0, "tax": 60.3, "discount": 25.0,
             "addon": [{"addonid": "53392899", "name": "Cup", "price": 0, "quantity": "1",
                        "group_name": "Cuporcone"},
                       {"addonid": "53392900", "name": "Sprinkles", "price": 15.5, "quantity": 2,
                        "group_name": "Toppings"}],
             "category_name": "Comfort Classics", "variation_name": ""},
            {"itemid": 1282571500, "name": "Cold Coffee", "itemcode": "SKU-0012", "quantity": 2,
             "price": 540.0, "total": 1080.0, "tax": 180.9, "discount": 75.0, "addon": [],
             "category_name": "Beverages"}],
        "Tax": [{"rate": 9.0, "type": "P", "title": "SGST@9", "amount": 120.6},
                {"rate": 9.0, "type": "P", "title": "CGST@9", "amount": 120.6}],
        "Discount": [{"rate": 0.0, "type": "F", "title": "Special Discount", "amount": 100.0}],
        "Restaurant": {"restID": "1c8w7fp500", "res_name": "Store 121", "address": "...",
                       "contact_information": "7428846234"}}}},
}


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

def test_bronze_keeps_the_raw_line_and_the_parsed_event_then_lineage():
    assert contract.BRONZE_SCHEMA.fieldNames() == ["raw_line", "event", *(f.name for f in LINEAGE_FIELDS)]
    assert contract.BRONZE_SCHEMA["event"].dataType == contract.EVENT_SCHEMA


def test_the_envelope_schema_is_nested_with_stream_id_a_long_and_every_other_scalar_a_string():
    assert contract.EVENT_SCHEMA.simpleString().startswith(
        "struct<stream_id:bigint,event_id:string,aggregate_type:string,aggregate_id:string,event_type:string,"
        "occurred_at:string,raw_event:struct<source:string,raw_payload:struct<event:string,properties:struct<")
    item = contract.PROPERTIES["OrderItem"].dataType.elementType
    assert item["addon"].dataType.simpleString() == (
        "array<struct<addonid:string,name:string,price:string,quantity:string,group_name:string>>")
    leaves = [contract.ORDER, contract.CUSTOMER, contract.ADDON, contract.TAX, contract.DISCOUNT,
              contract.RESTAURANT]
    assert {f.dataType.simpleString() for s in leaves for f in s.fields} == {"string"}


# -- file-level check ------------------------------------------------------------------------

@pytest.mark.parametrize("head", [
    b'{"stream_id": 1}\n{"stream_id": 2}\n',
    b'\xef\xbb\xbf{"stream_id": 1}\r\n',
    b'\n\n  {"stream_id": 1}',
    b'{"stream_id": 1, "raw_event": {"raw_payload": {"properties": {"Customer": {"name": "Mudi\xc3',  # cut in a char
    b'{not json}\n{"stream_id": 2}\n',          # one bad line is a row problem, not a file problem
])
def test_jsonl_files_that_are_not_rejected(head):
    assert jsonl_file_problem(head) is None


@pytest.mark.parametrize("head, reason", [
    (b"", "empty file"),
    (b"\n \r\n", "empty file"),
    (b"\xef\xbb\xbf", "empty file"),
    (b"\xff\xfe{\x00\"\x00", "not UTF-8 text"),
    (b"PK\x03\x04\x14\x00\x06\x00", "not UTF-8 text"),
    (b'[{"stream_id": 1}, {"stream_id": 2}]', "a JSON array, not JSON Lines (one object per line)"),
    (b'{\n  "stream_id": 1,\n  "event_id": "e"\n}\n', "pretty-printed JSON, not JSON Lines (one object per line)"),
    (b'{"stream_id": 1,\n  "event_id": "e"}\n', "pretty-printed JSON, not JSON Lines (one object per line)"),
    (b"<orders><order/></orders>", "not JSON Lines: starts with '<orders><order/></or'"),
    (b"stream_id,event_id\n1,e\n", "not JSON Lines: starts with 'stream_id,event_id\\n1'"),
])
def test_jsonl_file_problems_name_the_reason(head, reason):
    assert jsonl_file_problem(head) == reason


# -- read + parse + conform ------------------------------------------------------------------

def test_lines_are_kept_raw_and_parsed_numbered_by_line_and_unparseable_lines_have_no_event(spark, tmp_path):
    root = tmp_path / "landing"
    (root / "order_events" / "2026-11-22").mkdir(parents=True)
    valid = json.dumps(EVENT)
    lines = [
        valid,                                               # 1
        '{"stream_id": 112, "event_id": "e2", "raw_event"',  # 2: cut-off JSON
        "",                                                  # 3: blank, no event, no row
        '{"stream_id": "one-hundred", "event_id": "e4"}',    # 4: valid JSON, stream_id not an integer
        '{"stream_id": 115, "event_id": "e5"}',              # 5: only the envelope's head
    ]
    path = root / "order_events" / "2026-11-22" / "pos.jsonl"
    path.write_text("\r\n".join(lines) + "\r\n")
    files = spark.createDataFrame([("order_events/2026-11-22/pos.jsonl", "sum-e")],
                                  "source_file string, file_checksum string")

    raw = read_jsonl_files(spark, [str(path)])
    actual = conform_jsonl_to_bronze(raw, files, str(root), "run-1", INGESTED_AT)
    assert actual.schema.fieldNames() == contract.BRONZE_SCHEMA.fieldNames()
    assert actual.schema["event"].dataType == contract.EVENT_SCHEMA
    rows = {r.record_number: r for r in actual.collect()}

    assert sorted(rows) == [1, 2, 4, 5]
    assert {(r.source_file, r.file_checksum, r.run_id, r.ingested_at) for r in rows.values()} == {
        ("order_events/2026-11-22/pos.jsonl", "sum-e", "run-1", INGESTED_AT)}
    assert [rows[n].raw_line for n in (1, 2, 4, 5)] == [lines[0], lines[1], lines[3], lines[4]]
    assert rows[2].event is None
    assert rows[4].event is None
    assert rows[5].event.event_id == "e5" and rows[5].event.raw_event is None

    event = rows[1].event
    assert (event.stream_id, event.event_id, event.aggregate_id, event.occurred_at) == (
        111, "0b7c-uuid", "110", "2026-11-22T17:40:38.027940+00:00")
    assert "delivery_attempt" not in event.asDict() and "signature" not in event.raw_event.asDict()
    properties = event.raw_event.raw_payload.properties
    order = properties.Order
    # every scalar as its JSON text: numbers, and strings that hold numbers, alike
    assert (order.orderID, order.total, order.round_off, order.service_charge, order.status) == (
        "110", "1661.0", "-0.20", "0", "Success")
    assert "table_no" not in order.asDict()
    assert properties.Customer.asDict() == {"name": "Mudita Roy", "phone": "", "address": "Sector 66, Gurgaon",
                                            "gstin": ""}
    first, second = properties.OrderItem
    assert (first.itemid, first.itemcode, first.quantity, first.price) == ("1282571499", "SKU-0007", "1", "360.0")
    assert [a.asDict() for a in first.addon] == [
        {"addonid": "53392899", "name": "Cup", "price": "0", "quantity": "1", "group_name": "Cuporcone"},
        {"addonid": "53392900", "name": "Sprinkles", "price": "15.5", "quantity": "2", "group_name": "Toppings"}]
    assert (second.itemcode, second.addon) == ("SKU-0012", [])
    assert [(t.title, t.amount) for t in properties.Tax] == [("SGST@9", "120.6"), ("CGST@9", "120.6")]
    assert properties.Discount[0].title == "Special Discount"
    assert properties.Restaurant.restID == "1c8w7fp500"


def test_line_numbers_stay_right_when_spark_splits_a_file(spark, tmp_path):
    # The text source is splittable: with 64-byte splits this file is read as many pieces, several per task.
    path = tmp_path / "order_events" / "big.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"stream_id": n, "event_id": f"e{n}"}) + "\n" for n in range(1, 41)))
    files = spark.createDataFrame([("order_events/big.jsonl", "sum")], "source_file string, file_checksum string")

    with split_size(spark, 64):
        raw = read_jsonl_files(spark, [str(path)])
        assert raw.rdd.getNumPartitions() > 10
        rows = conform_jsonl_to_bronze(raw, files, str(tmp_path), "run-1", INGESTED_AT) \
            .select("event.stream_id", "record_number").collect()

    assert sorted((r.stream_id, r.record_number) for r in rows) == [(n, n) for n in range(1, 41)]
