"""The ``orders/`` feed: online orders, one ``<order>`` element of an ``<orders>`` document each.

Spark reads it with its built-in XML source, an explicit all-string schema (so
nothing is inferred: ``007`` stays ``007``, a phone stays text) and the options
below. Bronze keeps every value as the text that landed (surrounding spaces
included); silver trims and types them (``TYPED_COLUMNS``).
"""

from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from etl.contracts.sales import LINEAGE_FIELDS, MONEY

FEED = "orders"
ROOT_TAG = "orders"
ROW_TAG = "order"
MANDATORY = ("order_id", "mobile_number", "order_date_time", "sku_id", "sku_count", "total_amount")
OPTIONAL: tuple[str, ...] = ()
# XML element names are matched exactly as the contract spells them: no aliases.
ALIASES: dict[str, str] = {}

CORRUPT = "_corrupt_record"

# What Spark's XML reader is given: the six elements as strings plus the corrupt-record column.
# Unknown child elements and attributes are not in the schema, so they are ignored.
READ_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in MANDATORY]
    + [StructField(CORRUPT, StringType(), True)]
)

READ_OPTIONS = {
    "rowTag": ROW_TAG,
    "rootTag": ROOT_TAG,
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "inferSchema": "false",
    # A file is one XML document, parsed as a stream and never split (MultiLineXmlDataSource),
    # so the n-th row of a file is its n-th <order>.
    "multiLine": "true",
    # The legacy parser cuts the document into <order>...</order> records first and parses each on
    # its own: a malformed order becomes one corrupt row holding that order's text, and the orders
    # after it are still read. The default (optimized) parser gives up on the rest of the file and
    # returns the *whole* file as one corrupt row. tests/unit/test_contracts_orders.py pins this.
    "useLegacyXMLParser": "true",
    # Bronze keeps values as they landed; silver trims.
    "ignoreSurroundingSpaces": "false",
    "encoding": "UTF-8",
}

# Bronze: the six elements as the strings that landed, the raw XML of an order that did not parse.
BRONZE_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in MANDATORY]
    + [StructField("raw_record", StringType(), True)]
    + LINEAGE_FIELDS
)

# ``order_date_time`` is UTC, as written in the file.
TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"

# The typed columns silver derives from bronze (ids and phones stay text: leading zeros, '+', spaces).
TYPED_COLUMNS = {
    "order_id": StringType(),
    "mobile_number": StringType(),
    "order_date_time": TimestampType(),
    "sku_id": StringType(),
    "sku_count": IntegerType(),
    "total_amount": MONEY,
}
