"""The ``sales/`` feed: in-store sales, one CSV row per transaction."""

from pyspark.sql.types import (DateType, DecimalType, IntegerType, LongType, MapType,
                               StringType, StructField, StructType, TimestampType)

FEED = "sales"
MANDATORY = ("customer_id", "store_id", "product_name", "sales_date",
             "sales_person_id", "price", "quantity", "total_cost")
OPTIONAL = ("sale_id",)
ALIASES: dict[str, str] = {}

MONEY = DecimalType(18, 2)

LINEAGE_FIELDS = [
    StructField("source_file", StringType(), False),
    StructField("record_number", LongType(), False),
    StructField("file_checksum", StringType(), False),
    StructField("ingested_at", TimestampType(), False),
    StructField("run_id", StringType(), False),
]

# Bronze keeps every value as the string that landed, plus the raw record when it did not parse.
BRONZE_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in (*OPTIONAL, *MANDATORY)]
    + [StructField("additional_columns", MapType(StringType(), StringType()), True),
       StructField("raw_record", StringType(), True)]
    + LINEAGE_FIELDS
)

# The typed columns silver derives from bronze.
TYPED_COLUMNS = {
    "customer_id": IntegerType(),
    "store_id": IntegerType(),
    "sales_person_id": IntegerType(),
    "product_name": StringType(),
    "sales_date": DateType(),
    "price": MONEY,
    "quantity": IntegerType(),
    "total_cost": MONEY,
}
