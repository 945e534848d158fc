"""The ``order_events/`` feed: POS / aggregator order events, one JSON object per line.

Bronze stores each line twice: ``raw_line``, the text exactly as it landed, and
``event``, that text parsed with ``EVENT_SCHEMA`` so the nested structure
(items, their add-ons, taxes, discounts) is kept as structs and arrays. Fields
the schema does not name are ignored by the parser; they stay in ``raw_line``,
so a later schema can re-parse history without a new delivery.

Types: ``stream_id`` is a long (it orders an order's versions); every other
scalar is read as a string, because the source mixes types for one field
(``"round_off": "-0.20"`` next to ``"service_charge": 0``; ``"quantity": "1"``
in an add-on, ``1`` in an item). A string field takes any JSON scalar as its
text, so no scalar can fail to parse. Numbers reach that text through
Jackson's double (``1661.10`` becomes ``"1661.1"``: the same value, exact for
amounts of up to 15 significant digits); silver casts them to
``DecimalType``, never through a float column.

``event`` is null when the line is not JSON, not an object, or does not have
the envelope's shape (``stream_id`` not an integer, an object or ``""`` where
the contract has an array or an object): Spark's PERMISSIVE parser then gives
no trustworthy partial result. That is the quality rule "unparseable JSON
line"; ``raw_line`` still holds the line for the quarantine.
"""

from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType

from etl.contracts.sales import LINEAGE_FIELDS

FEED = "order_events"


def _strings(*names: str) -> list[StructField]:
    return [StructField(name, StringType(), True) for name in names]


ORDER = StructType(_strings(
    "orderID", "total", "core_total", "tax_total", "discount_total", "delivery_charges",
    "packaging_charge", "service_charge", "round_off", "created_on", "order_type", "order_from",
    "payment_type", "status", "customer_invoice_id",
))
CUSTOMER = StructType(_strings("name", "phone", "address", "gstin"))
ADDON = StructType(_strings("addonid", "name", "price", "quantity", "group_name"))
ORDER_ITEM = StructType(
    _strings("itemid", "name", "itemcode", "quantity", "price", "total", "tax", "discount")
    + [StructField("addon", ArrayType(ADDON, True), True)]
    + _strings("category_name")
)
TAX = StructType(_strings("rate", "type", "title", "amount"))
DISCOUNT = StructType(_strings("rate", "type", "title", "amount"))
RESTAURANT = StructType(_strings("restID", "res_name", "address", "contact_information"))

PROPERTIES = StructType([
    StructField("Order", ORDER, True),
    StructField("Customer", CUSTOMER, True),
    StructField("OrderItem", ArrayType(ORDER_ITEM, True), True),
    StructField("Tax", ArrayType(TAX, True), True),
    StructField("Discount", ArrayType(DISCOUNT, True), True),
    StructField("Restaurant", RESTAURANT, True),
])

RAW_EVENT = StructType([
    StructField("source", StringType(), True),
    StructField("raw_payload", StructType([
        StructField("event", StringType(), True),
        StructField("properties", PROPERTIES, True),
    ]), True),
])

# The envelope (DATA_CONTRACT.md, order_events): what from_json parses each line with.
EVENT_SCHEMA = StructType([
    StructField("stream_id", LongType(), True),
    *_strings("event_id", "aggregate_type", "aggregate_id", "event_type", "occurred_at"),
    StructField("raw_event", RAW_EVENT, True),
])

BRONZE_SCHEMA = StructType(
    [StructField("raw_line", StringType(), False),
     StructField("event", EVENT_SCHEMA, True)]
    + LINEAGE_FIELDS
)

# Where silver finds the fields the contract's rules name.
PROPERTIES_PATH = "event.raw_event.raw_payload.properties"
ORDER_PATH = f"{PROPERTIES_PATH}.Order"
