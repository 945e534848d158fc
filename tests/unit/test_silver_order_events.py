"""Order events, bronze -> silver (etl/silver/order_events.py, etl/silver/product_match.py).

Bronze rows are made as the reader makes them: JSON text lines parsed by
``etl.bronze.json_feed.parse_event``. Each scenario below is a few lines in its
own file (``<scenario>.jsonl``) next to the test that reads it; all scenarios go
through the pipeline as ONE batch (the ``batch`` fixture, intermediate frames
cached), because one Spark run is what keeps this suite fast on two cores.
Each test reads only its scenario's rows, so a broken rule fails its test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from etl.bronze.json_feed import parse_event
from etl.contracts import silver
from etl.errors import ConfigError
from etl.quality.rules import QUARANTINE_SCHEMA, FeedRules, Rule
from etl.silver import order_events as oe
from etl.silver.product_match import best_catalogue_matches, check_threshold
from tests.unit.test_contracts_events import EVENT as CONTRACT_EXAMPLE

RUN_DATE = date(2026, 11, 22)
INGESTED_AT = datetime(2026, 11, 23, 6, 0)
CREATED_ON = "2026-11-22 20:55:58"
DROP = object()          # a field the event does not have

PRODUCTS = [(7, "Old Fashion Vanilla Ice Cream (300ml)", "SKU-0007"), (12, "Cold Coffee", "SKU-0012")]
STORES = [(121, "1c8w7fp500"), (122, None)]
# Customers 5 and 9 share a phone (9 maps to 5 upstream, but the lookup must not duplicate orders either).
PHONES = [("9811000017", 5), ("9811000017", 9), ("9811000018", 6)]


def item(name="Cold Coffee", itemcode="SKU-0012", quantity=1, price=540.0, total=None, **fields):
    """One OrderItem; ``total`` is price x quantity unless given (DROP removes a field)."""
    if total is None:
        total = float(Decimal(str(price)) * Decimal(str(quantity)))
    entry = {"itemid": 1282571500, "name": name, "itemcode": itemcode, "quantity": quantity, "price": price,
             "total": total, "tax": 0.0, "discount": 0.0, "addon": [], "category_name": "Beverages", **fields}
    return {k: v for k, v in entry.items() if v is not DROP}


def event(stream_id, order_id, *, items=None, status="Success", phone="+91 98110 00017", rest_id="1c8w7fp500",
          res_name="Store 121", occurred_at="2026-11-22T17:40:38.027940+00:00", event_id=None,
          total_off=Decimal(0), **order) -> dict:
    """An event whose totals reconcile (18% tax, 20 packaging), unless ``total_off`` is added to the total.

    ``order`` overrides Order fields; DROP removes a field.
    """
    items = [item()] if items is None else items
    core = sum((Decimal(str(i["price"])) * Decimal(str(i["quantity"])) for i in items), Decimal(0))
    tax = (core * Decimal("0.18")).quantize(Decimal("0.01"))
    fields = {"orderID": order_id, "total": float(core + tax + 20 + total_off), "core_total": float(core),
              "tax_total": float(tax), "discount_total": 0.0, "delivery_charges": 0.0, "packaging_charge": 20.0,
              "service_charge": 0, "round_off": "0.00", "created_on": CREATED_ON, "order_type": "Delivery",
              "order_from": "Zomato", "payment_type": "Online", "status": status,
              "customer_invoice_id": str(order_id), **order}
    envelope = {"stream_id": stream_id, "event_id": event_id or f"ev-{stream_id}", "aggregate_type": "order",
                "aggregate_id": str(order_id), "event_type": "orderdetails", "occurred_at": occurred_at,
                "raw_event": {"source": "zomato", "raw_payload": {"event": "orderdetails", "properties": {
                    "Order": {k: v for k, v in fields.items() if v is not DROP},
                    "Customer": {"name": "Mudita Roy", "phone": phone, "address": "Sector 66, Gurgaon", "gstin": ""},
                    "OrderItem": items,
                    "Tax": [], "Discount": [],
                    "Restaurant": {"restID": rest_id, "res_name": res_name, "address": "MG Road",
                                   "contact_information": "7428846234"}}}}}
    return {k: v for k, v in envelope.items() if v is not DROP}


def bronze_frame(spark, files: dict[str, list]) -> DataFrame:
    """``order_events.BRONZE_SCHEMA`` rows: one file per scenario, lines numbered from 1."""
    rows = [(source_file(name), number, line if isinstance(line, str) else json.dumps(line))
            for name, lines in files.items() for number, line in enumerate(lines, start=1)]
    lines = spark.createDataFrame(rows, "source_file string, record_number long, raw_line string")
    return lines.select("raw_line", parse_event(F.col("raw_line")).alias("event"), "source_file", "record_number",
                        F.sha2("source_file", 256).alias("file_checksum"),
                        F.lit(INGESTED_AT).alias("ingested_at"), F.lit("run-1").alias("run_id"))


def source_file(scenario: str) -> str:
    return f"order_events/2026-11-22/{scenario}.jsonl"


def products_frame(spark):
    return spark.createDataFrame(PRODUCTS, "id int, name string, sku_id string")


# -- scenarios (each next to its test, all run as one batch) ------------------------------------

SCENARIOS: dict[str, list] = {}


def scenario(name: str, *lines) -> str:
    SCENARIOS[name] = list(lines)
    return name


FUZZY_THRESHOLD = 90


@dataclass
class Batch:
    """The batch's output frames (cached) and their rows, collected once."""

    bronze_rows: int
    silver: oe.OrderEventsSilver
    transactions: DataFrame
    lines: DataFrame
    rows: dict[str, list[Row]]

    def of(self, output: str, scenario_name: str) -> list[Row]:
        """The rows of one output that come from a scenario's file."""
        return [r for r in self.rows[output] if r.source_file == source_file(scenario_name)]

    def where(self, output: str, **equals) -> list[Row]:
        return [r for r in self.rows[output] if all(r[k] == v for k, v in equals.items())]


@pytest.fixture(scope="module")
def batch(spark):
    cached: list[DataFrame] = []

    def keep(frame: DataFrame) -> DataFrame:
        cached.append(frame.cache())
        return cached[-1]

    bronze = bronze_frame(spark, SCENARIOS)
    result = oe.split_order_events(bronze, products_frame(spark), "run-2", RUN_DATE, threshold=FUZZY_THRESHOLD,
                                   persist=keep)
    stores = spark.createDataFrame(STORES, "id int, external_ref string")
    phones = spark.createDataFrame(PHONES, "phone_number string, customer_id int")
    transactions, lines = oe.events_to_silver(result.orders, result.order_items, stores, phones)
    outputs = {name: getattr(result, name) for name in (
        "events", "quarantine", "duplicates", "orders", "order_items", "order_item_addons", "order_taxes",
        "order_discounts", "restaurants")}
    outputs.update(transactions=transactions, lines=lines)
    yield Batch(bronze.count(), result, transactions, lines, {k: v.collect() for k, v in outputs.items()})
    for frame in cached:
        frame.unpersist()


def failed(batch: Batch, name: str) -> list[tuple[int, list[str]]]:
    """(record_number, failed rules) of a scenario's quarantined lines."""
    return sorted((r.record_number, r.failed_rules) for r in batch.of("quarantine", name))


def warnings(batch: Batch, name: str) -> list[tuple[int, list[str]]]:
    """(record_number, warnings) of a scenario's valid events."""
    return sorted((r.record_number, r.warnings) for r in batch.of("events", name))


def values(rows: list[Row], *columns: str) -> list[tuple]:
    return sorted(tuple(r[c] for c in columns) for r in rows)


# -- typing -------------------------------------------------------------------------------------

EXAMPLE = scenario("contract_example", CONTRACT_EXAMPLE)


def test_typed_events_read_amounts_as_exact_decimals_and_times_as_utc(batch):
    columns = ("stream_id", "event_id", "order_id", "occurred_at", "created_on", *oe.TOTALS, "status", "rest_id")
    assert values(batch.of("events", EXAMPLE), *columns) == [(
        111, "0b7c-uuid", "110", datetime(2026, 11, 22, 17, 40, 38, 27940), datetime(2026, 11, 22, 20, 55, 58),
        Decimal("1661.00"), Decimal("1440.00"), Decimal("241.20"), Decimal("100.00"), Decimal("0.00"),
        Decimal("80.00"), Decimal("0.00"), Decimal("-0.20"), "Success", "1c8w7fp500")]


def test_created_on_is_read_as_utc_whatever_the_session_time_zone(spark):
    line = json.dumps(event(1, 1))
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")
    try:
        typed = oe.typed_events(bronze_frame(spark, {"tz": [line]}))
        epoch = typed.select(F.unix_timestamp("created_on").alias("s")).first().s
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
    assert epoch == int(datetime(2026, 11, 22, 20, 55, 58, tzinfo=timezone.utc).timestamp())


def test_the_current_order_is_normalised_into_items_addons_taxes_and_discounts(batch, spark):
    items = batch.silver.order_items.filter("order_id = '110'").select(
        "stream_id", "line_number", "itemid", "name", "itemcode", "quantity", "price", "total", "tax", "discount",
        "category_name", "product_id", "match_method")
    assert_df_equality(items, spark.createDataFrame([
        (111, 1, "1282571499", "Old Fashion Vanilla Ice Cream (300ml)", "SKU-0007", 1, Decimal("360.00"),
         Decimal("360.00"), Decimal("60.30"), Decimal("25.00"), "Comfort Classics", 7, "sku"),
        (111, 2, "1282571500", "Cold Coffee", "SKU-0012", 2, Decimal("540.00"), Decimal("1080.00"),
         Decimal("180.90"), Decimal("75.00"), "Beverages", 12, "sku")], items.schema),
        ignore_row_order=True, ignore_nullable=True)
    addon_columns = ("line_number", "addon_number", "addonid", "name", "price", "quantity", "group_name")
    assert values(batch.where("order_item_addons", order_id="110"), *addon_columns) == [
        (1, 1, "53392899", "Cup", Decimal("0.00"), 1, "Cuporcone"),
        (1, 2, "53392900", "Sprinkles", Decimal("15.50"), 2, "Toppings")]
    charge_columns = ("rate", "type", "title", "amount")
    assert values(batch.where("order_taxes", order_id="110"), "tax_number", *charge_columns) == [
        (1, Decimal("9.0000"), "P", "SGST@9", Decimal("120.60")),
        (2, Decimal("9.0000"), "P", "CGST@9", Decimal("120.60"))]
    assert values(batch.where("order_discounts", order_id="110"), "discount_number", *charge_columns) == [
        (1, Decimal("0.0000"), "F", "Special Discount", Decimal("100.00"))]


def test_a_filter_on_an_output_never_trips_a_not_null_check_on_a_quarantined_or_unparseable_line(batch):
    # Spark pushes filters below joins and windows; the rows under them must all satisfy the checks.
    s = batch.silver
    assert s.order_items.filter("order_id = '204' AND quantity > 0").count() == 1
    assert s.orders.filter("order_id = '204' AND status = 'Success'").count() == 1
    assert s.duplicates.filter("event_id = 'ev-2021'").count() == 1


def test_every_output_has_its_schema_constant(batch):
    s = batch.silver
    assert s.events.schema == oe.EVENTS
    assert s.quarantine.schema == QUARANTINE_SCHEMA
    assert s.duplicates.schema == oe.DUPLICATES
    assert s.orders.schema == oe.ORDERS
    assert s.order_items.schema == oe.ORDER_ITEMS
    assert s.order_item_addons.schema == oe.ORDER_ITEM_ADDONS
    assert s.order_taxes.schema == oe.ORDER_TAXES
    assert s.order_discounts.schema == oe.ORDER_DISCOUNTS
    assert s.restaurants.schema == oe.RESTAURANTS
    assert batch.transactions.schema == silver.TRANSACTIONS
    assert batch.lines.schema == silver.SALES_LINES


# -- deduplication and the current version ------------------------------------------------------

OUT_OF_ORDER = scenario("out_of_order",
                        event(2012, 201, items=[item(quantity=2)]),     # the newer version arrives first
                        event(2011, 201))                               # the older one after it


def test_a_lower_stream_id_arriving_later_does_not_win(batch):
    assert values(batch.where("orders", order_id="201"), "stream_id", "record_number") == [(2012, 1)]
    assert values(batch.where("order_items", order_id="201"), "stream_id", "quantity") == [(2012, 2)]
    assert values(batch.of("events", OUT_OF_ORDER), "stream_id") == [(2011,), (2012,)]   # both kept as history


DUPLICATE = scenario("duplicate", event(2021, 202), event(2022, 202), event(2021, 202))


def test_the_same_event_id_delivered_twice_is_one_event_and_counted_as_a_duplicate(batch):
    assert values(batch.of("events", DUPLICATE), "event_id", "record_number") == [("ev-2021", 3), ("ev-2022", 2)]
    assert values(batch.of("duplicates", DUPLICATE), "event_id", "record_number", "kept_record_number") == [
        ("ev-2021", 1, 3)]                                              # the later copy is the one kept


def test_every_bronze_row_is_a_valid_event_a_quarantined_event_or_a_duplicate(batch):
    counts = {name: len(batch.rows[name]) for name in ("events", "quarantine", "duplicates")}
    assert counts["duplicates"] == 1
    assert batch.bronze_rows == sum(counts.values())


RESTAURANT = scenario(
    "restaurant_renamed",
    event(2251, 225, rest_id="r-renamed", res_name="New Name", occurred_at="2026-11-22T10:00:00+00:00"),
    event(2261, 226, rest_id="r-renamed", res_name="Old Name", occurred_at="2026-11-22T09:00:00+00:00"))


def test_a_restaurant_is_described_by_its_latest_seen_event(batch):
    assert values(batch.where("restaurants", rest_id="r-renamed"), "res_name", "last_seen_at") == [
        ("New Name", datetime(2026, 11, 22, 10, 0))]


# -- revenue ------------------------------------------------------------------------------------

CANCELLED = scenario("cancelled", event(2031, 203), event(2032, 203, status="Cancelled"))


def test_a_cancelled_order_is_kept_but_out_of_revenue(batch):
    assert values(batch.where("transactions", transaction_id="203"), "status", "is_revenue") == [("Cancelled", False)]
    assert values(batch.where("lines", transaction_id="203"), "is_revenue") == [(False,)]
    assert values(batch.where("transactions", transaction_id="201"), "status", "is_revenue") == [("Success", True)]


# -- error rules --------------------------------------------------------------------------------

FALLBACK = scenario("reconciliation_fallback",
                    event(2041, 204),
                    event(2042, 204, items=[item(quantity=2)]),
                    event(2043, 204, items=[item(quantity=3)], total_off=Decimal(25)))


def test_a_reconciliation_failure_is_quarantined_and_the_order_falls_back_to_its_highest_valid_version(batch):
    assert failed(batch, FALLBACK) == [(3, ["reconciliation_off"])]
    assert values(batch.where("orders", order_id="204"), "stream_id") == [(2042,)]
    assert values(batch.where("order_items", order_id="204"), "quantity") == [(2,)]


UNPARSEABLE = scenario("unparseable", '{"stream_id": 9001, "event_id": "ev-cut", "raw_event": {"sou')


def test_an_unparseable_json_line_is_quarantined_with_the_line(batch):
    assert failed(batch, UNPARSEABLE) == [(1, ["unparseable_json"])]
    [row] = batch.of("quarantine", UNPARSEABLE)
    assert json.loads(row.record)["raw_line"] == SCENARIOS[UNPARSEABLE][0]


NO_ORDER_ID = scenario("no_order_id", event(2051, DROP), event(2052, "  "))


def test_an_event_without_order_id_is_quarantined(batch):
    assert failed(batch, NO_ORDER_ID) == [(1, ["no_order_id"]), (2, ["no_order_id"])]


RECONCILIATION = scenario("reconciliation_tolerance",
                          event(2071, 207, total_off=Decimal("0.05")),
                          event(2081, 208, total_off=Decimal("-0.06")))


def test_reconciliation_off_by_more_than_0_05_is_an_error(batch):
    assert failed(batch, RECONCILIATION) == [(2, ["reconciliation_off"])]
    assert values(batch.of("events", RECONCILIATION), "order_id") == [("207",)]


MISSING_COMPONENTS = scenario("missing_components",
                              event(2091, 209, service_charge=DROP, round_off=DROP, delivery_charges=DROP),
                              event(2101, 210, packaging_charge=DROP))   # the 20 in the total is unexplained


def test_reconciliation_counts_a_missing_component_as_zero(batch):
    assert failed(batch, MISSING_COMPONENTS) == [(2, ["reconciliation_off"])]


QUANTITY = scenario("item_quantity", event(2111, 211, items=[item(), item(quantity=0)]))


def test_an_item_with_quantity_not_positive_is_an_error(batch):
    assert failed(batch, QUANTITY) == [(1, ["item_quantity_not_positive"])]


PRICE = scenario("item_price", event(2121, 212, items=[item(price=-1.0)]))


def test_an_item_with_a_negative_price_is_an_error(batch):
    assert failed(batch, PRICE) == [(1, ["item_price_negative"])]


# What silver cannot do without (SILVER_REQUIREMENTS): one scenario per rule.
REQUIREMENTS = {
    "missing_stream_id": scenario("missing_stream_id", event(DROP, 213, event_id="ev-213")),
    "missing_or_unparseable_total": scenario("bad_total", event(2141, 214, total="n/a")),
    "missing_or_unparseable_created_on": scenario("bad_created_on", event(2151, 215, created_on="22/11/2026 20:55")),
    "missing_status": scenario("missing_status", event(2161, 216, status=DROP)),
    "item_missing_or_unparseable_quantity": scenario("bad_item_quantity",
                                                     event(2171, 217, items=[item(quantity="2.5")])),
    "item_missing_or_unparseable_total": scenario("missing_item_total", event(2181, 218, items=[item(total=DROP)])),
}


@pytest.mark.parametrize("rule", sorted(REQUIREMENTS))
def test_silver_requirement_is_an_error(batch, rule):
    assert failed(batch, REQUIREMENTS[rule]) == [(1, [rule])]


def test_silver_requirements_are_added_to_the_configured_rules_unless_already_named():
    configured = FeedRules(feed="order_events", rules=(
        Rule(name="no_order_id", severity="error", condition="event.x IS NULL"),
        Rule(name="missing_status", severity="error", condition="status = ''")))
    rules = oe.order_event_rules(configured).rules
    assert [r.name for r in rules] == ["no_order_id", "missing_status",
                                       *[r.name for r in oe.SILVER_REQUIREMENTS if r.name != "missing_status"]]
    assert rules[1].condition == "status = ''"


# -- warn rules ---------------------------------------------------------------------------------

EMPTY_PHONE = scenario("empty_phone", event(2191, 219, phone=""))


def test_an_empty_phone_is_a_warning_and_the_order_stays_anonymous(batch):
    assert warnings(batch, EMPTY_PHONE) == [(1, ["empty_phone"])]
    assert values(batch.where("transactions", transaction_id="219"), "customer_id", "warnings", "is_revenue") == [
        (None, ["empty_phone"], True)]


INVALID_PHONE = scenario("invalid_phone", event(2201, 220, phone="12345"))


def test_a_phone_that_is_not_ten_digits_is_an_invalid_phone_warning(batch):
    assert warnings(batch, INVALID_PHONE) == [(1, ["invalid_phone"])]
    assert values(batch.where("orders", order_id="220"), "customer_phone") == [(None,)]


UNMATCHED = scenario("unmatched_item", event(2211, 221, items=[
    item(), item(name="Durian Surprise Bucket", itemcode="SKU-9001", price=260.0)]))


def test_an_unmatched_item_is_flagged_and_kept(batch):
    assert warnings(batch, UNMATCHED) == [(1, ["unmatched_item"])]
    columns = ("line_number", "product_id", "product_name", "sku_id", "match_method", "amount")
    assert values(batch.where("lines", transaction_id="221"), *columns) == [
        (1, 12, "Cold Coffee", "SKU-0012", "sku", Decimal("540.00")),
        (2, None, "Durian Surprise Bucket", "SKU-9001", "unmatched", Decimal("260.00"))]


def test_an_order_without_warnings_has_an_empty_warnings_array(batch):
    assert warnings(batch, OUT_OF_ORDER) == [(1, []), (2, [])]


# -- products -----------------------------------------------------------------------------------

SKU_FIRST = scenario("sku_first", event(2281, 228, items=[item(name="Old Fashion Vanilla Ice Cream (300ml)",
                                                                itemcode=" sku-0012 ")]))


def test_itemcode_matches_a_sku_before_any_name(batch):
    assert values(batch.where("order_items", order_id="228"), "product_id", "match_method") == [(12, "sku")]


# token_sort_ratio after default_process: 90.625 for the first name, 81.48 for the second (threshold 90)
FUZZY = scenario("fuzzy_name", event(2221, 222, items=[
    item(name="Vanilla Ice Cream, Old Fashion", itemcode="", price=360.0),
    item(name="Cold Brew Coffee", itemcode="SKU-9002", price=310.0)]))


def test_a_fuzzy_name_match_needs_a_score_at_or_above_the_threshold(batch):
    columns = ("line_number", "product_id", "product_name", "sku_id", "match_method")
    assert values(batch.where("lines", transaction_id="222"), *columns) == [
        (1, 7, "Old Fashion Vanilla Ice Cream (300ml)", "SKU-0007", "fuzzy"),
        (2, None, "Cold Brew Coffee", "SKU-9002", "unmatched")]


def test_best_catalogue_match_is_cut_at_the_threshold_and_ties_go_to_the_lowest_id():
    catalogue = pd.DataFrame({"id": [9, 3, 4], "name": ["Cold Coffee", "cold coffee!", "Old Fashion Vanilla"],
                              "sku_id": ["SKU-9", "SKU-3", "SKU-4"]})
    names = pd.DataFrame({"item_name": ["COLD COFFEE", "Iced Coffee"]})      # 100 and 81.8 against "cold coffee"
    at_81 = best_catalogue_matches(names, catalogue, 81.0)
    assert at_81[["item_name", "product_id"]].values.tolist() == [["COLD COFFEE", 3], ["Iced Coffee", 3]]
    at_82 = best_catalogue_matches(names, catalogue, 82.0)
    assert at_82[["item_name", "product_id", "score"]].values.tolist() == [["COLD COFFEE", 3, 100.0]]
    at_100 = best_catalogue_matches(names, catalogue, 100.0)                # at the threshold is enough
    assert at_100[["item_name", "product_id"]].values.tolist() == [["COLD COFFEE", 3]]
    assert best_catalogue_matches(names.iloc[:0], catalogue, 0.0).empty


@pytest.mark.parametrize("threshold", [-1, 100.5, float("nan"), "85", True, None])
def test_a_threshold_outside_0_to_100_is_a_config_error(threshold):
    with pytest.raises(ConfigError, match="threshold must be a number from 0 to 100"):
        check_threshold(threshold)


# -- transactions and lines ---------------------------------------------------------------------

def test_an_event_order_becomes_one_pos_transaction_with_its_items_as_lines(batch):
    [tx] = batch.where("transactions", transaction_id="201")
    assert tx.asDict() == {
        "channel": "pos", "transaction_id": "201", "customer_id": 5, "store_id": 121, "sales_person_id": None,
        "transaction_date": date(2026, 11, 22), "transaction_ts": datetime(2026, 11, 22, 20, 55, 58),
        "amount": Decimal("1294.40"), "units": 2, "status": "Success", "is_revenue": True, "warnings": [],
        "source_file": source_file(OUT_OF_ORDER), "record_number": 1, "run_id": "run-1",
        "order_type": "Delivery", "order_from": "Zomato", "payment_type": "Online"}
    [line] = batch.where("lines", transaction_id="201")
    assert line.asDict() == {
        "channel": "pos", "transaction_id": "201", "line_number": 1, "transaction_date": date(2026, 11, 22),
        "customer_id": 5, "store_id": 121, "product_id": 12, "product_name": "Cold Coffee", "sku_id": "SKU-0012",
        "match_method": "sku", "quantity": 2, "unit_price": Decimal("540.00"), "amount": Decimal("1080.00"),
        "is_revenue": True, "source_file": source_file(OUT_OF_ORDER), "record_number": 1, "run_id": "run-1"}


ORDER_FIELDS = scenario("order_fields", event(2291, 229, order_type="Dine In", payment_type="Cash"),
                        event(2292, 229, order_type="  Takeaway ", order_from=" ", payment_type=DROP))


def test_a_pos_transaction_carries_the_current_states_order_type_platform_and_payment_trimmed(batch):
    """The latest version's values, trimmed; blank or absent is null (gold shows it as Unknown)."""
    assert values(batch.where("transactions", transaction_id="229"), "order_type", "order_from",
                  "payment_type") == [("Takeaway", None, None)]


NO_STORE = scenario("no_store", event(2231, 223, rest_id="ck00000001", res_name="Cloud Kitchen 1"))


def test_the_store_comes_from_external_ref_else_there_is_none(batch):
    assert values(batch.where("transactions", transaction_id="201"), "store_id") == [(121,)]
    assert values(batch.where("transactions", transaction_id="223"), "store_id") == [(None,)]
    assert values(batch.where("lines", transaction_id="223"), "store_id") == [(None,)]


UNKNOWN_PHONE = scenario("unknown_phone", event(2241, 224, phone="+91 70000 00001"),
                         event(2242, 227, phone="098110-00018"))


def test_a_customer_is_found_by_normalised_phone_else_the_transaction_is_anonymous(batch):
    found = {r.transaction_id: r.customer_id for r in batch.rows["transactions"]}
    assert [found[t] for t in ("201", "219", "224", "227")] == [5, None, None, 6]
    assert len(batch.where("transactions", transaction_id="201")) == 1     # two customers share its phone
