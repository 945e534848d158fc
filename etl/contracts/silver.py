"""The conformed silver tables gold reads: one schema each, in one place.

Every channel (in-store ``sales/``, online ``orders/``, POS ``order_events/``)
becomes rows of the same two tables, so gold never needs to know where a
transaction came from:

* ``transactions``: one row per transaction (a sale row, an XML order, or an
  event order's current state). Key: (``channel``, ``transaction_id``).
* ``sales_lines``: one row per product on a transaction. Key: (``channel``,
  ``transaction_id``, ``line_number``).

``customer_id`` on both is the *canonical* customer (after deduplication by
phone: the lowest id of the customers sharing a phone), or null for an
anonymous transaction. ``is_revenue`` is false for event orders whose current
status is not ``Success``; such rows stay in silver but count nowhere in gold.

``dim_customer`` is SCD type 2 over the customers feed (canonical ids only);
``customer_id_map`` maps every delivered id to its canonical id.
"""

from datetime import date

from pyspark.sql.types import (ArrayType, BooleanType, DateType, DecimalType, IntegerType, LongType,
                               StringType, StructField, StructType, TimestampType)

MONEY = DecimalType(18, 2)
SUCCESS = "Success"

# A customer's first version holds "from the beginning of time"; the current one "until further notice".
BEGINNING_OF_TIME = date(1900, 1, 1)
END_OF_TIME = date(9999, 12, 31)

LINEAGE = [
    StructField("source_file", StringType(), True),
    StructField("record_number", LongType(), True),
    StructField("run_id", StringType(), True),
]

POS_ORDER_FIELDS = [
    StructField("order_type", StringType(), True),            # e.g. dine-in, delivery, takeaway
    StructField("order_from", StringType(), True),            # source platform
    StructField("payment_type", StringType(), True),
]

TRANSACTIONS = StructType([
    StructField("channel", StringType(), False),              # store | online | pos
    StructField("transaction_id", StringType(), False),       # sale_id / derived id, order_id, orderID
    StructField("customer_id", IntegerType(), True),          # canonical id; null = anonymous
    StructField("store_id", IntegerType(), True),             # null for online, and pos without a store match
    StructField("sales_person_id", IntegerType(), True),      # in-store only
    StructField("transaction_date", DateType(), False),
    StructField("transaction_ts", TimestampType(), True),     # UTC; null for in-store (date only)
    StructField("amount", MONEY, False),                      # total_cost / total_amount / Order.total
    StructField("units", IntegerType(), True),                # sum of line quantities
    StructField("status", StringType(), False),               # Success for store and online
    StructField("is_revenue", BooleanType(), False),          # status == Success
    StructField("warnings", ArrayType(StringType()), False),  # names of failed warn rules
    *LINEAGE,
    # POS only (null for store and online), the order's current state, trimmed, blank as null. Last, so that
    # a table written before they existed gets them in the same place (ALTER TABLE ADD COLUMNS appends).
    *POS_ORDER_FIELDS,
])

SALES_LINES = StructType([
    StructField("channel", StringType(), False),
    StructField("transaction_id", StringType(), False),
    StructField("line_number", IntegerType(), False),         # 1 for sales and orders; item position for pos
    StructField("transaction_date", DateType(), False),
    StructField("customer_id", IntegerType(), True),
    StructField("store_id", IntegerType(), True),
    StructField("product_id", IntegerType(), True),           # null when unmatched
    StructField("product_name", StringType(), True),          # catalogue name; else raw item name; else SKU
    StructField("sku_id", StringType(), True),
    StructField("match_method", StringType(), False),         # name | sku | fuzzy | unmatched
    StructField("quantity", IntegerType(), False),
    StructField("unit_price", MONEY, True),
    StructField("amount", MONEY, False),                      # total_cost / total_amount / item total
    StructField("is_revenue", BooleanType(), False),
    *LINEAGE,
])

DIM_CUSTOMER = StructType([
    StructField("customer_id", IntegerType(), False),          # canonical id
    StructField("first_name", StringType(), True),
    StructField("last_name", StringType(), True),
    StructField("address", StringType(), True),
    StructField("pincode", StringType(), True),
    StructField("phone_number", StringType(), True),          # normalised 10 digits, or null
    StructField("region", StringType(), True),
    StructField("customer_joining_date", DateType(), True),
    StructField("valid_from", DateType(), False),             # BEGINNING_OF_TIME for the first version
    StructField("valid_to", DateType(), False),               # exclusive; END_OF_TIME while current
    StructField("is_current", BooleanType(), False),
])

CUSTOMER_ID_MAP = StructType([
    StructField("customer_id", IntegerType(), False),          # as delivered
    StructField("canonical_customer_id", IntegerType(), False),
])
