"""POS / aggregator order events (``order_events/``), bronze -> silver. Pure DataFrame functions.

An order arrives as several events (versions); silver keeps the *current*
state of each order, normalised into one table per repeating group of the
event, and conforms it to the shared ``transactions`` / ``sales_lines`` tables
(``etl/contracts/silver.py``) so gold never needs to know the channel.

Flow (``split_order_events`` wires steps 1-5; ``events_to_silver`` is step 6)::

    typed = typed_events(bronze)                              # 1. one row per line, typed
    unique, duplicates = deduplicate_events(typed)            # 3. same event_id -> one event
    items = match_products(event_items(unique), products, t)  # 5. sku, then fuzzy name
    checked = check_events(unique, items, run_date)           # 2. failed_errors / warnings
    quarantine = quarantine_rows(checked, ...)                #    any failed error rule
    events = valid_events(checked)                            #    every valid version
    current = current_events(events)                          # 3. highest valid stream_id
    orders_table(current), order_items_table(current, items), ...   # 4.

Record accounting: each bronze row is exactly one valid event, one quarantined
event or one dropped duplicate, so ``bronze = events + quarantine + duplicates``
(superseded valid versions stay in ``events``; ``orders`` holds one per order).

The rules are the ``order_events`` rules of ``conf/quality_rules.yaml`` (run by
``etl.quality.rules.apply_rules`` on the bronze row plus ``unmatched_items``),
plus ``SILVER_REQUIREMENTS``: what silver cannot do without, which the
contract's table does not name (see ``order_event_rules``).

Choices where DATA_CONTRACT.md is silent:

* Amounts are cast from the landed text to DECIMAL(18,2), never through a float
  column; a third decimal rounds half-up to the cent. Counts must be whole
  (``"2.0"`` is 2; ``"2.5"`` does not parse).
* Reconciliation (yaml ``reconciliation_off``): a missing or unparseable
  *component* counts as 0 (sources omit zero charges); a missing ``total`` is
  ``missing_or_unparseable_total`` instead.
* The same ``event_id`` twice: the most recently ingested copy is kept (the
  contract's "seen again replaces the earlier version"). Rows without an
  ``event_id`` (unparseable lines) are never duplicates of each other.
* The current version: highest ``stream_id``; ties go to the later
  ``occurred_at``, then to the latest ingested copy.
* Identifiers (``orderID``, ``itemid``, ``addonid``, ``restID``) stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DataType, DecimalType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from etl.contracts import order_events as contract
from etl.contracts import silver
from etl.contracts.sales import LINEAGE_FIELDS
from etl.quality.rules import (BRONZE_ROW, WARNINGS, FeedRules, Rule, apply_rules, default_rules,
                               passed, quarantine_rows)
from etl.silver.conform import MATCH_METHOD, UNMATCHED, normalise_phone, require_columns, to_schema
from etl.silver.product_match import DEFAULT_THRESHOLD, MATCH_FIELDS, match_products

FEED = contract.FEED
MONEY = silver.MONEY
RATE = DecimalType(9, 4)
CHANNEL = "pos"
CREATED_ON_FORMAT = "yyyy-MM-dd HH:mm:ss"
UNMATCHED_ITEMS = "unmatched_items"       # the column the yaml's unmatched_item rule reads

TOTALS = ("total", "core_total", "tax_total", "discount_total", "delivery_charges", "packaging_charge",
          "service_charge", "round_off")

_ROW_KEY = ["file_checksum", "record_number"]          # one bronze row
_LINEAGE = [f.name for f in LINEAGE_FIELDS]


def _field(name: str, dtype: DataType, nullable: bool = True) -> StructField:
    return StructField(name, dtype, nullable)


def _strings(*names: str) -> list[StructField]:
    return [_field(name, StringType()) for name in names]


# -- typed shapes -------------------------------------------------------------------------------

ADDON = StructType([*_strings("addonid", "name"), _field("price", MONEY), _field("quantity", IntegerType()),
                    *_strings("group_name")])
ITEM = StructType([
    *_strings("itemid", "name", "itemcode"),
    _field("quantity", IntegerType()), _field("price", MONEY), _field("total", MONEY), _field("tax", MONEY),
    _field("discount", MONEY), *_strings("category_name"), _field("addons", ArrayType(ADDON)),
])
CHARGE = StructType([_field("rate", RATE), *_strings("type", "title"), _field("amount", MONEY)])  # Tax, Discount

_ORDER_TEXT = ("order_type", "order_from", "payment_type", "status", "customer_invoice_id")

# The typed fields of an event, null where absent or unparseable.
TYPED_FIELDS = [
    _field("stream_id", LongType()),
    *_strings("event_id", "aggregate_id", "event_type"),
    _field("occurred_at", TimestampType()),
    *_strings("source", "order_id"),
    *[_field(name, MONEY) for name in TOTALS],
    _field("created_on", TimestampType()),                       # UTC
    *_strings(*_ORDER_TEXT),
    *_strings("customer_name", "customer_phone_raw"),            # raw: the text as landed
    _field("customer_phone", StringType()),                      # normalised: 10 digits or null
    *_strings("customer_address"),
    *_strings("rest_id", "res_name", "rest_address", "rest_contact_information"),
    _field("items", ArrayType(ITEM), False),                     # absent -> empty
    _field("taxes", ArrayType(CHARGE), False),
    _field("discounts", ArrayType(CHARGE), False),
]

# typed_events: the bronze line as it landed (what the yaml rules read), the typed fields, lineage.
TYPED_EVENTS = StructType([
    _field("raw_line", StringType(), False),
    _field("event", contract.EVENT_SCHEMA),                      # null: the line did not parse
    *TYPED_FIELDS,
    *LINEAGE_FIELDS,
])

# Silver event history: every valid version (after deduplication), with its warnings.
EVENTS = StructType([*TYPED_FIELDS, _field(WARNINGS, ArrayType(StringType()), False), *LINEAGE_FIELDS])

# A dropped copy of an event_id delivered more than once, and where the copy that was kept is.
DUPLICATES = StructType([
    _field("event_id", StringType(), False),
    _field("stream_id", LongType()), *_strings("order_id"),
    *LINEAGE_FIELDS,
    _field("kept_source_file", StringType(), False),
    _field("kept_record_number", LongType(), False),
])

# One row per OrderItem entry of each event (all versions), before product matching.
EVENT_ITEMS = StructType([
    _field("file_checksum", StringType(), False), _field("record_number", LongType(), False),
    *_strings("order_id"), _field("stream_id", LongType()),
    _field("line_number", IntegerType(), False),                 # 1-based position in OrderItem
    *ITEM.fields,
])

# -- current-state tables: key order_id; child rows also carry the version's stream_id ----------

_SILVER_LINEAGE = [f for f in LINEAGE_FIELDS if f.name != "ingested_at"]

ORDERS = StructType([
    _field("order_id", StringType(), False),
    _field("created_on", TimestampType(), False),
    _field("status", StringType(), False),
    _field("total", MONEY, False),
    *[_field(name, MONEY) for name in TOTALS[1:]],
    *_strings("order_type", "order_from", "payment_type", "customer_invoice_id", "source"),
    *_strings("customer_name", "customer_phone", "customer_address"),   # phone: normalised 10 digits or null
    *_strings("rest_id"),
    _field("stream_id", LongType(), False),
    *_strings("event_id"),
    _field("occurred_at", TimestampType()),
    _field(WARNINGS, ArrayType(StringType()), False),
    *_SILVER_LINEAGE,
])

ORDER_ITEMS = StructType([
    _field("order_id", StringType(), False),
    _field("stream_id", LongType(), False),
    _field("line_number", IntegerType(), False),
    *_strings("itemid", "name", "itemcode"),
    _field("quantity", IntegerType(), False),
    _field("price", MONEY),
    _field("total", MONEY, False),
    _field("tax", MONEY), _field("discount", MONEY),
    *_strings("category_name"),
    *MATCH_FIELDS,                            # product_id, catalogue_name, catalogue_sku_id, match_method
])

ORDER_ITEM_ADDONS = StructType([
    _field("order_id", StringType(), False),
    _field("stream_id", LongType(), False),
    _field("line_number", IntegerType(), False),
    _field("addon_number", IntegerType(), False),                # 1-based position in the item's addon
    *ADDON.fields,
])


def _charges(number: str) -> StructType:
    return StructType([
        _field("order_id", StringType(), False),
        _field("stream_id", LongType(), False),
        _field(number, IntegerType(), False),                    # 1-based position in Tax / Discount
        *CHARGE.fields,
    ])


ORDER_TAXES = _charges("tax_number")
ORDER_DISCOUNTS = _charges("discount_number")

RESTAURANTS = StructType([
    _field("rest_id", StringType(), False),
    *_strings("res_name", "address", "contact_information"),
    _field("last_seen_at", TimestampType()),                     # occurred_at of the event they come from
])


# -- rules silver needs beyond the contract's table ---------------------------------------------

SILVER_REQUIREMENTS = (
    Rule(name="missing_stream_id", severity="error", condition="event IS NOT NULL AND stream_id IS NULL",
         description="versions are ordered by stream_id"),
    Rule(name="missing_or_unparseable_total", severity="error", condition="event IS NOT NULL AND total IS NULL",
         description="a transaction's amount is Order.total"),
    Rule(name="missing_or_unparseable_created_on", severity="error",
         condition="event IS NOT NULL AND created_on IS NULL",
         description="a transaction's date is Order.created_on (yyyy-MM-dd HH:mm:ss, UTC)"),
    Rule(name="missing_status", severity="error", condition="event IS NOT NULL AND status IS NULL",
         description="revenue depends on the status"),
    Rule(name="item_missing_or_unparseable_quantity", severity="error",
         condition="exists(items, i -> i.quantity IS NULL)", description="a line needs a whole quantity"),
    Rule(name="item_missing_or_unparseable_total", severity="error",
         condition="exists(items, i -> i.total IS NULL)", description="a line's amount is the item total"),
    Rule(name="invalid_phone", severity="warn",
         condition="trim(customer_phone_raw) <> '' AND customer_phone IS NULL",
         description="conformance rule: a phone that does not normalise to 10 digits becomes null, with a warning"),
)


def order_event_rules(configured: FeedRules | None = None) -> FeedRules:
    """The configured ``order_events`` rules (default: ``conf/quality_rules.yaml``) plus ``SILVER_REQUIREMENTS``.

    A requirement the configuration already names is not added twice (the
    configuration's condition wins). Use the same object for ``dq_results`` so
    the requirements' counts are reported too.
    """
    configured = configured if configured is not None else default_rules()[FEED]
    named = {rule.name for rule in configured.rules}
    extra = tuple(rule for rule in SILVER_REQUIREMENTS if rule.name not in named)
    return FeedRules(feed=configured.feed, max_error_rate=configured.max_error_rate, rules=configured.rules + extra)


# -- helpers ------------------------------------------------------------------------------------

def _text(column: Column) -> Column:
    """Trimmed text, blank as null (``trim`` as the yaml's ``no_order_id`` trims)."""
    trimmed = F.trim(column)
    return F.when(trimmed != "", trimmed)


def _money(column: Column) -> Column:
    return F.trim(column).try_cast(MONEY)


def _count(column: Column) -> Column:
    """A whole number: ``"2"``, ``"2.0"`` and ``"2e0"`` are 2; ``"2.5"`` and text are null."""
    number = F.trim(column).try_cast(DecimalType(38, 6))
    return F.when(number == F.floor(number), number.try_cast(IntegerType()))


def _empty(dtype: DataType) -> Column:
    return F.array().cast(dtype)


def _latest_ingested_first() -> list[Column]:
    return [F.col(name).desc() for name in ("ingested_at", "run_id", "source_file", "file_checksum", "record_number")]


# -- 1. typed events ----------------------------------------------------------------------------

def _typed_addon(addon: Column) -> Column:
    return F.when(addon.isNotNull(), F.struct(
        _text(addon["addonid"]).alias("addonid"), _text(addon["name"]).alias("name"),
        _money(addon["price"]).alias("price"), _count(addon["quantity"]).alias("quantity"),
        _text(addon["group_name"]).alias("group_name")))


def _typed_item(item: Column) -> Column:
    addons = F.transform(F.coalesce(item["addon"], _empty(ArrayType(contract.ADDON))), _typed_addon)
    return F.when(item.isNotNull(), F.struct(
        _text(item["itemid"]).alias("itemid"), _text(item["name"]).alias("name"),
        _text(item["itemcode"]).alias("itemcode"), _count(item["quantity"]).alias("quantity"),
        _money(item["price"]).alias("price"), _money(item["total"]).alias("total"),
        _money(item["tax"]).alias("tax"), _money(item["discount"]).alias("discount"),
        _text(item["category_name"]).alias("category_name"), addons.alias("addons")))


def _typed_charge(charge: Column) -> Column:
    return F.when(charge.isNotNull(), F.struct(
        F.trim(charge["rate"]).try_cast(RATE).alias("rate"), _text(charge["type"]).alias("type"),
        _text(charge["title"]).alias("title"), _money(charge["amount"]).alias("amount")))


def typed_events(bronze: DataFrame) -> DataFrame:
    """Bronze (``order_events.BRONZE_SCHEMA``) -> ``TYPED_EVENTS``: one row per line, none dropped.

    ``created_on`` (``yyyy-MM-dd HH:mm:ss``) is read as UTC whatever the session
    time zone; ``occurred_at`` carries its own offset. ``customer_phone`` is the
    normalised phone (``etl.silver.conform.normalise_phone``).
    """
    require_columns(bronze, contract.BRONZE_SCHEMA.fieldNames(), "the bronze order_events frame")
    props, order = contract.PROPERTIES_PATH, contract.ORDER_PATH
    customer, restaurant = f"{props}.Customer", f"{props}.Restaurant"
    typed = bronze.select(
        "raw_line", "event",
        F.col("event.stream_id").alias("stream_id"),
        *[_text(F.col(f"event.{name}")).alias(name) for name in ("event_id", "aggregate_id", "event_type")],
        F.trim(F.col("event.occurred_at")).try_cast(TimestampType()).alias("occurred_at"),
        _text(F.col("event.raw_event.source")).alias("source"),
        _text(F.col(f"{order}.orderID")).alias("order_id"),
        *[_money(F.col(f"{order}.{name}")).alias(name) for name in TOTALS],
        F.try_to_timestamp(F.concat(F.trim(F.col(f"{order}.created_on")), F.lit(" +0000")),
                           F.lit(f"{CREATED_ON_FORMAT} Z")).alias("created_on"),
        *[_text(F.col(f"{order}.{name}")).alias(name) for name in _ORDER_TEXT],
        _text(F.col(f"{customer}.name")).alias("customer_name"),
        F.col(f"{customer}.phone").alias("customer_phone_raw"),
        normalise_phone(F.col(f"{customer}.phone")).alias("customer_phone"),
        _text(F.col(f"{customer}.address")).alias("customer_address"),
        _text(F.col(f"{restaurant}.restID")).alias("rest_id"),
        _text(F.col(f"{restaurant}.res_name")).alias("res_name"),
        _text(F.col(f"{restaurant}.address")).alias("rest_address"),
        _text(F.col(f"{restaurant}.contact_information")).alias("rest_contact_information"),
        F.coalesce(F.transform(F.col(f"{props}.OrderItem"), _typed_item),
                   _empty(ArrayType(ITEM))).alias("items"),
        F.coalesce(F.transform(F.col(f"{props}.Tax"), _typed_charge), _empty(ArrayType(CHARGE))).alias("taxes"),
        F.coalesce(F.transform(F.col(f"{props}.Discount"), _typed_charge),
                   _empty(ArrayType(CHARGE))).alias("discounts"),
        *_LINEAGE,
    )
    return to_schema(typed, TYPED_EVENTS, "typed order events")


# -- 3a. deduplication --------------------------------------------------------------------------

def deduplicate_events(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(one row per event, ``DUPLICATES``): the same ``event_id`` delivered twice is one event.

    The copy kept is the most recently ingested one (then the later file and
    line), whatever the partitioning. Rows without an ``event_id`` (unparseable
    lines) are each their own event; they never enter the window, so nothing
    computed for the duplicates ever sees a null ``event_id``.
    """
    require_columns(typed, ("event_id", "stream_id", "order_id", *_LINEAGE), "the typed events frame")
    same_event = Window.partitionBy("event_id").orderBy(*_latest_ingested_first())
    ranked = (typed.filter(F.col("event_id").isNotNull())
              .withColumn("_copy", F.row_number().over(same_event))
              .withColumn("kept_source_file", F.first("source_file").over(same_event))
              .withColumn("kept_record_number", F.first("record_number").over(same_event)))
    unique = (ranked.filter(F.col("_copy") == 1).select(*typed.columns)
              .unionByName(typed.filter(F.col("event_id").isNull())))
    duplicates = to_schema(ranked.filter(F.col("_copy") > 1), DUPLICATES, "duplicate order events")
    return unique, duplicates


# -- 2. rules -----------------------------------------------------------------------------------

def event_items(events: DataFrame) -> DataFrame:
    """``EVENT_ITEMS``: one row per ``OrderItem`` entry of each event; ``line_number`` is its 1-based position."""
    exploded = events.select(*_ROW_KEY, "order_id", "stream_id", F.posexplode("items").alias("_pos", "_item"))
    return to_schema(
        exploded.select(*_ROW_KEY, "order_id", "stream_id", (F.col("_pos") + 1).alias("line_number"), "_item.*"),
        EVENT_ITEMS, "order event items")


def check_events(events: DataFrame, matched_items: DataFrame, run_date: date, rules: FeedRules | None = None,
                 observation: Observation | None = None) -> DataFrame:
    """``events`` (``TYPED_EVENTS``) + ``unmatched_items``, ``_bronze``, ``failed_errors``, ``warnings``.

    ``matched_items``: ``event_items(events)`` after ``match_products``;
    ``unmatched_items`` counts each event's items no product matched.
    ``rules``: ``order_event_rules()`` by default; a null condition counts as
    passed. ``observation`` counts rows per rule (``etl.quality.rules.apply_rules``).
    """
    require_columns(matched_items, (*_ROW_KEY, MATCH_METHOD), "the matched items frame")
    unmatched = matched_items.groupBy(*_ROW_KEY).agg(
        F.count_if(F.col(MATCH_METHOD) == UNMATCHED).alias(UNMATCHED_ITEMS))
    framed = (events.join(unmatched, _ROW_KEY, "left")
              .withColumn(UNMATCHED_ITEMS, F.coalesce(F.col(UNMATCHED_ITEMS), F.lit(0)).cast(IntegerType()))
              .withColumn(BRONZE_ROW, F.struct(*contract.BRONZE_SCHEMA.fieldNames())))
    return apply_rules(framed, rules if rules is not None else order_event_rules(), run_date, observation)


def quarantine_events(checked: DataFrame, run_id: str, run_date: date) -> DataFrame:
    """``etl.quality.rules.QUARANTINE_SCHEMA`` rows of the events that failed an error rule (key: orderID)."""
    return quarantine_rows(checked, FEED, "order_id", run_id, run_date)


def valid_events(checked: DataFrame) -> DataFrame:
    """``EVENTS``: the events that failed no error rule, every version."""
    return to_schema(passed(checked), EVENTS, "order events")


# -- 3b. current state --------------------------------------------------------------------------

def current_events(valid: DataFrame) -> DataFrame:
    """One valid event per ``order_id``: the highest ``stream_id`` (a lower one arriving later never wins)."""
    latest_version_first = Window.partitionBy("order_id").orderBy(
        F.col("stream_id").desc(), F.col("occurred_at").desc_nulls_last(), *_latest_ingested_first())
    return (valid.withColumn("_version", F.row_number().over(latest_version_first))
            .filter(F.col("_version") == 1).drop("_version"))


# -- 4. normalised tables -----------------------------------------------------------------------

def orders_table(current: DataFrame) -> DataFrame:
    """``ORDERS``: one row per order, its current state."""
    return to_schema(current, ORDERS, "orders")


def _current_items(current: DataFrame) -> DataFrame:
    """One row per item of each current event: ``order_id``, ``stream_id``, ``line_number``, the item's fields."""
    items = current.select(*_ROW_KEY, "order_id", "stream_id", F.posexplode("items").alias("_pos", "_item"))
    return items.select(*_ROW_KEY, "order_id", "stream_id", (F.col("_pos") + 1).alias("line_number"), "_item")


def order_items_table(current: DataFrame, matched_items: DataFrame) -> DataFrame:
    """``ORDER_ITEMS``: each current order's items with their product match.

    The items come from ``current`` (valid events only) and only the match columns
    from ``matched_items``, so no row of a quarantined event sits under this
    table's not-null checks (a filter pushed down to them cannot trip over one).
    """
    require_columns(matched_items, (*_ROW_KEY, "line_number", *(f.name for f in MATCH_FIELDS)),
                    "the matched items frame")
    matches = matched_items.select(*_ROW_KEY, "line_number", *(f.name for f in MATCH_FIELDS))
    items = (_current_items(current).join(matches, [*_ROW_KEY, "line_number"], "left")
             .select("order_id", "stream_id", "line_number", "_item.*", *(f.name for f in MATCH_FIELDS)))
    return to_schema(items, ORDER_ITEMS, "order items")


def order_item_addons_table(current: DataFrame) -> DataFrame:
    """``ORDER_ITEM_ADDONS``: one row per add-on of each current item."""
    addons = _current_items(current).select("order_id", "stream_id", "line_number",
                                            F.posexplode("_item.addons").alias("_apos", "_addon"))
    return to_schema(
        addons.filter(F.col("_addon").isNotNull())
        .select("order_id", "stream_id", "line_number", (F.col("_apos") + 1).alias("addon_number"), "_addon.*"),
        ORDER_ITEM_ADDONS, "order item addons")


def _charges_table(current: DataFrame, array: str, number: str, schema: StructType) -> DataFrame:
    rows = current.select("order_id", "stream_id", F.posexplode(array).alias("_pos", "_charge"))
    return to_schema(
        rows.filter(F.col("_charge").isNotNull())
        .select("order_id", "stream_id", (F.col("_pos") + 1).alias(number), "_charge.*"),
        schema, f"order {array}")


def order_taxes_table(current: DataFrame) -> DataFrame:
    """``ORDER_TAXES``: one row per ``Tax`` entry of each current order."""
    return _charges_table(current, "taxes", "tax_number", ORDER_TAXES)


def order_discounts_table(current: DataFrame) -> DataFrame:
    """``ORDER_DISCOUNTS``: one row per ``Discount`` entry of each current order."""
    return _charges_table(current, "discounts", "discount_number", ORDER_DISCOUNTS)


def restaurants_table(valid: DataFrame) -> DataFrame:
    """``RESTAURANTS``: each ``restID`` as the latest valid event (by ``occurred_at``) describes it."""
    latest_seen_first = Window.partitionBy("rest_id").orderBy(
        F.col("occurred_at").desc_nulls_last(), F.col("stream_id").desc(), *_latest_ingested_first())
    latest = (valid.filter(F.col("rest_id").isNotNull())
              .withColumn("_n", F.row_number().over(latest_seen_first)).filter(F.col("_n") == 1))
    return to_schema(latest.select(
        "rest_id", "res_name", F.col("rest_address").alias("address"),
        F.col("rest_contact_information").alias("contact_information"),
        F.col("occurred_at").alias("last_seen_at")), RESTAURANTS, "restaurants")


@dataclass(frozen=True)
class OrderEventsSilver:
    """Everything one batch of bronze order events becomes; each frame has its schema constant."""

    events: DataFrame             # EVENTS: every valid version
    quarantine: DataFrame         # etl.quality.rules.QUARANTINE_SCHEMA
    duplicates: DataFrame         # DUPLICATES: dropped copies (bronze = events + quarantine + duplicates)
    orders: DataFrame             # ORDERS
    order_items: DataFrame        # ORDER_ITEMS
    order_item_addons: DataFrame  # ORDER_ITEM_ADDONS
    order_taxes: DataFrame        # ORDER_TAXES
    order_discounts: DataFrame    # ORDER_DISCOUNTS
    restaurants: DataFrame        # RESTAURANTS
    rules: FeedRules              # the rules applied (for dq_results)


def split_order_events(bronze: DataFrame, products: DataFrame, run_id: str, run_date: date,
                       threshold: float = DEFAULT_THRESHOLD, rules: FeedRules | None = None,
                       observation: Observation | None = None,
                       persist: Callable[[DataFrame], DataFrame] | None = None) -> OrderEventsSilver:
    """Bronze order events + silver products -> every silver frame of the feed (steps 1-5).

    ``threshold``: the fuzzy product-name similarity (0-100) an item needs when its
    ``itemcode`` matches no SKU. ``rules``: default ``order_event_rules()``.
    Lazy: nothing runs until a frame is used. ``persist`` (say ``DataFrame.cache``;
    the caller owns the storage and its release) is applied to the three frames
    several outputs share: the deduplicated events, the matched items and the
    checked events; without it each output recomputes them, product match included.
    """
    keep = persist if persist is not None else (lambda frame: frame)
    rules = rules if rules is not None else order_event_rules()
    unique, duplicates = deduplicate_events(typed_events(bronze))
    unique = keep(unique)
    items = keep(match_products(event_items(unique), products, threshold))
    checked = keep(check_events(unique, items, run_date, rules, observation))
    valid = valid_events(checked)
    current = current_events(valid)
    return OrderEventsSilver(
        events=valid,
        quarantine=quarantine_events(checked, run_id, run_date),
        duplicates=duplicates,
        orders=orders_table(current),
        order_items=order_items_table(current, items),
        order_item_addons=order_item_addons_table(current),
        order_taxes=order_taxes_table(current),
        order_discounts=order_discounts_table(current),
        restaurants=restaurants_table(valid),
        rules=rules,
    )


# -- 6. conformed transactions and lines --------------------------------------------------------

def events_to_silver(orders: DataFrame, order_items: DataFrame, stores: DataFrame,
                     customer_phones: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(``silver.TRANSACTIONS``, ``silver.SALES_LINES``) of channel ``pos`` from the current orders.

    * ``orders``: ``ORDERS``; ``order_items``: ``ORDER_ITEMS`` (only the lines of
      each order's current ``stream_id`` are used).
    * ``stores``: silver stores (``id``, optional ``external_ref``): ``restID`` =
      trimmed ``external_ref`` gives the store (several: the lowest id), else null.
    * ``customer_phones``: (``phone_number``, ``customer_id``) of canonical
      customers, e.g. current ``dim_customer`` rows: the normalised order phone
      finds the customer (several: the lowest id); no match or no phone leaves
      the transaction anonymous (null).
    No salesperson. ``is_revenue``: status is ``Success``. ``order_type``, ``order_from`` and
    ``payment_type`` are the current state's, trimmed (blank: null). Lines: amount = item
    total, ``product_name`` = catalogue name, else the item's name, else its code.
    """
    require_columns(orders, ORDERS.fieldNames(), "the orders frame")
    require_columns(order_items, ORDER_ITEMS.fieldNames(), "the order items frame")
    require_columns(stores, ("id",), "the stores frame")
    require_columns(customer_phones, ("phone_number", "customer_id"), "the customer phones frame")

    if "external_ref" in stores.columns:                         # optional in stores/
        store_by_ref = (stores.select(_text(F.col("external_ref")).alias("rest_id"),
                                      F.col("id").cast(IntegerType()).alias("store_id"))
                        .filter(F.col("rest_id").isNotNull() & F.col("store_id").isNotNull())
                        .groupBy("rest_id").agg(F.min("store_id").alias("store_id")))
    else:
        store_by_ref = stores.sparkSession.createDataFrame([], "rest_id string, store_id int")
    customer_by_phone = (customer_phones
                         .select(normalise_phone(F.col("phone_number")).alias("customer_phone"),
                                 F.col("customer_id").cast(IntegerType()).alias("customer_id"))
                         .filter(F.col("customer_phone").isNotNull() & F.col("customer_id").isNotNull())
                         .groupBy("customer_phone").agg(F.min("customer_id").alias("customer_id")))
    current_lines = order_items.join(orders.select("order_id", "stream_id"), ["order_id", "stream_id"], "left_semi")
    units = current_lines.groupBy("order_id", "stream_id").agg(F.sum("quantity").alias("units"))

    header = (orders
              .join(F.broadcast(store_by_ref), "rest_id", "left")
              .join(customer_by_phone, "customer_phone", "left")
              .join(units, ["order_id", "stream_id"], "left")
              .select(
                  "order_id", "stream_id",
                  F.lit(CHANNEL).alias("channel"),
                  F.col("order_id").alias("transaction_id"),
                  "customer_id", "store_id",
                  F.lit(None).cast(IntegerType()).alias("sales_person_id"),
                  F.to_date("created_on").alias("transaction_date"),     # the session time zone is UTC (etl/spark.py)
                  F.col("created_on").alias("transaction_ts"),
                  F.col("total").alias("amount"),
                  F.coalesce(F.col("units"), F.lit(0)).alias("units"),  # an order without items has 0 units
                  "status",
                  (F.col("status") == F.lit(silver.SUCCESS)).alias("is_revenue"),
                  WARNINGS, "source_file", "record_number", "run_id",
                  "order_type", "order_from", "payment_type",          # trimmed, blank as null (typed_events)
              ))
    transactions = to_schema(header, silver.TRANSACTIONS, "pos transactions")

    lines = current_lines.join(
        header.select("order_id", "stream_id", "channel", "transaction_id", "transaction_date", "customer_id",
                      "store_id", "is_revenue", "source_file", "record_number", "run_id"),
        ["order_id", "stream_id"]).select(
        "channel", "transaction_id", "line_number", "transaction_date", "customer_id", "store_id", "product_id",
        F.coalesce("catalogue_name", "name", "itemcode").alias("product_name"),
        F.coalesce("catalogue_sku_id", "itemcode").alias("sku_id"),
        MATCH_METHOD, "quantity",
        F.col("price").alias("unit_price"),
        F.col("total").alias("amount"),
        "is_revenue", "source_file", "record_number", "run_id",
    )
    return transactions, to_schema(lines, silver.SALES_LINES, "pos sales lines")
