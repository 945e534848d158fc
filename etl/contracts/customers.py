"""The ``customers/`` feed: the CRM export, one row per customer's current record (CSV or XLSX).

XLSX files are converted to CSV first (``etl/bronze/xlsx.py``), so both go
through the CSV path: header normalised, aliases applied, then checked here.

Mandatory columns (a file missing one is rejected whole): every contract column
except ``updated_at``. The dimension keeps history, so a file without, say,
``region`` would otherwise read as "every customer's region is now unknown" and
write a new, empty version of every customer. ``first_name`` + ``last_name``
may come as one ``customer_name`` column instead (split at the first space,
``split_customer_name``); when both forms are present, ``first_name`` /
``last_name`` win and ``customer_name`` is kept as it came.
"""

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, IntegerType, MapType, StringType, StructField, StructType

from etl.contracts.sales import LINEAGE_FIELDS

FEED = "customers"
NAME_PARTS = ("first_name", "last_name")
COMBINED_NAME = "customer_name"
MANDATORY = ("customer_id", *NAME_PARTS, "address", "pincode", "phone_number", "region",
             "customer_joining_date")
OPTIONAL = ("updated_at",)
# Applied after normalise_column_name; customer_name is not an alias (it stands for two columns).
ALIASES: dict[str, str] = {"mobile_number": "phone_number"}

# The columns bronze names (anything else goes to additional_columns, as for sales).
KNOWN_COLUMNS = (*MANDATORY, COMBINED_NAME, *OPTIONAL)

DATE_FORMAT = "yyyy-MM-dd"

BRONZE_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in KNOWN_COLUMNS]
    + [StructField("additional_columns", MapType(StringType(), StringType()), True),
       StructField("raw_record", StringType(), True)]
    + LINEAGE_FIELDS
)

# The typed columns silver derives from bronze (pincode and phone stay text: leading zeros).
TYPED_COLUMNS = {
    "customer_id": IntegerType(),
    "first_name": StringType(),
    "last_name": StringType(),
    "address": StringType(),
    "pincode": StringType(),
    "phone_number": StringType(),
    "region": StringType(),
    "customer_joining_date": DateType(),
    "updated_at": DateType(),
}


def mandatory_columns(canonical_header: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a file with this (normalised, aliased) header must have.

    ``customer_name`` stands in for ``first_name`` + ``last_name`` when the file has
    neither of them; a file with only one of the two still needs the other. Use with
    ``etl.bronze.csv_feed.header_problem(header, mandatory_columns(header.canonical))``.
    """
    if COMBINED_NAME in canonical_header and not any(p in canonical_header for p in NAME_PARTS):
        first, last = NAME_PARTS
        return tuple(COMBINED_NAME if c == first else c for c in MANDATORY if c != last)
    return MANDATORY


def split_customer_name(name: Column) -> tuple[Column, Column]:
    """``customer_name`` -> (first_name, last_name): split at the first space.

    Surrounding whitespace is dropped first, and the whitespace run at the split
    point too (``"Mudita  Roy Sen"`` -> ``"Mudita"``, ``"Roy Sen"``). One word gives
    a null last name; a blank or null name gives two nulls. Columns are unnamed:
    the caller aliases them.
    """
    trimmed = F.regexp_replace(name, r"^\s+|\s+$", "")
    first = F.regexp_extract(trimmed, r"^(\S+)", 1)
    last = F.regexp_extract(trimmed, r"^\S+\s+(.+)$", 1)
    return F.nullif(first, F.lit("")), F.nullif(last, F.lit(""))
