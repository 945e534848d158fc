"""Conformance rules shared by the silver feeds (DATA_CONTRACT.md, "Conformance rules (silver)").

Phones and product matching are defined once here so that every channel
(in-store, online, POS) finds the same customer and the same product for the
same input. Built-in Spark functions only (no Python UDFs), so everything runs
in the JVM and can be pushed into the plan.

Also the small schema helpers that let each feed module return frames with
exactly the silver schemas of ``etl/contracts/silver.py`` (nullability included).
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DataType, DateType, StringType, StructType, TimestampType

from etl.contracts import require_columns

# Columns the product-matching helpers add.
PRODUCT_ID = "product_id"
CATALOGUE_NAME = "catalogue_name"
CATALOGUE_SKU = "catalogue_sku_id"
MATCH_METHOD = "match_method"
UNMATCHED = "unmatched"


def strip(col: Column | str) -> Column:
    """Trim every kind of whitespace (tabs, newlines too, not only spaces); blank becomes null."""
    c = F.col(col) if isinstance(col, str) else col
    return F.nullif(F.regexp_replace(c, r"^\s+|\s+$", ""), F.lit(""))


def blank(col: str) -> Column:
    """True when the value is null or only whitespace."""
    return strip(col).isNull()


# -- phones -----------------------------------------------------------------------------------

def normalise_phone(col: Column | str) -> Column:
    """Digits only; 12 digits starting 91 or 11 starting 0 lose that prefix; valid only at 10 digits, else null.

    ``"+91 98110 00017"`` -> ``"9811000017"``; ``"098110-00017"`` -> ``"9811000017"``;
    ``"12345"`` -> null; null -> null.
    """
    c = F.col(col) if isinstance(col, str) else col
    digits = F.regexp_replace(c, r"[^0-9]", "")
    national = (F.when((F.length(digits) == 12) & digits.startswith("91"), F.substring(digits, 3, 10))
                .when((F.length(digits) == 11) & digits.startswith("0"), F.substring(digits, 2, 10))
                .otherwise(digits))
    return F.when(F.length(national) == 10, national)


# -- products ---------------------------------------------------------------------------------

def product_name_key(col: Column | str) -> Column:
    """The matching key of a product name: trimmed, lower case (DATA_CONTRACT.md: case-insensitive)."""
    return F.lower(strip(col))


def sku_key(col: Column | str) -> Column:
    """The matching key of a SKU: trimmed, upper case (``sku-0007`` is ``SKU-0007``)."""
    return F.upper(strip(col))


def _catalogue_by(products: DataFrame, key: Column) -> DataFrame:
    """One catalogue row per key: the lowest product id wins when names (or SKUs) collide."""
    require_columns(products, ("id", "name", "sku_id"), "products")
    lowest_id_first = Window.partitionBy("_key").orderBy(F.col(PRODUCT_ID).asc())
    return (products.filter(F.col("id").isNotNull())
            .select(key.alias("_key"), F.col("id").alias(PRODUCT_ID), F.col("name").alias(CATALOGUE_NAME),
                    F.col("sku_id").alias(CATALOGUE_SKU))
            .filter(F.col("_key").isNotNull())
            .withColumn("_n", F.row_number().over(lowest_id_first))
            .filter("_n = 1").drop("_n"))


def _match(frame: DataFrame, catalogue: DataFrame, key: Column, method: str) -> DataFrame:
    clash = [c for c in (PRODUCT_ID, CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD) if c in frame.columns]
    if clash:
        raise ValueError(f"product matching would overwrite column(s) {', '.join(clash)}")
    matched = frame.withColumn("_key", key).join(F.broadcast(catalogue), "_key", "left").drop("_key")
    return matched.withColumn(MATCH_METHOD, F.when(F.col(PRODUCT_ID).isNotNull(), F.lit(method))
                              .otherwise(F.lit(UNMATCHED)))


def match_product_by_name(frame: DataFrame, products: DataFrame, name_col: str = "product_name") -> DataFrame:
    """``frame`` plus product_id, catalogue_name, catalogue_sku_id (null when unmatched) and match_method
    (``name`` | ``unmatched``): ``name_col`` matched to ``products.name``, trimmed, case-insensitive."""
    require_columns(frame, (name_col,), "the frame to match by product name")
    return _match(frame, _catalogue_by(products, product_name_key("name")), product_name_key(name_col), "name")


def match_product_by_sku(frame: DataFrame, products: DataFrame, sku_col: str = "sku_id") -> DataFrame:
    """As ``match_product_by_name``, on ``sku_col`` against ``products.sku_id`` (trimmed, case-insensitive);
    match_method ``sku`` | ``unmatched``."""
    require_columns(frame, (sku_col,), "the frame to match by SKU")
    return _match(frame, _catalogue_by(products, sku_key("sku_id")), sku_key(sku_col), "sku")


# -- schemas ----------------------------------------------------------------------------------

def _unreachable(dtype: DataType) -> Column:
    """A non-null literal of ``dtype``, placed after ``raise_error`` in a coalesce (never evaluated)."""
    if isinstance(dtype, StringType):
        return F.lit("")
    if isinstance(dtype, BooleanType):
        return F.lit(False)
    if isinstance(dtype, DateType):
        return F.lit(date(1970, 1, 1))
    if isinstance(dtype, TimestampType):
        return F.lit(datetime(1970, 1, 1))
    if isinstance(dtype, ArrayType):
        return F.array().cast(dtype)
    return F.lit(0).cast(dtype)  # numeric types


def to_schema(frame: DataFrame, schema: StructType, what: str) -> DataFrame:
    """Select ``schema``'s columns in order, cast to its types, nullability made to match.

    A NOT NULL field fed by a column Spark thinks nullable (most columns the
    quality rules guarantee, such as a parsed date) becomes
    ``coalesce(col, raise_error(...), <literal>)``: Spark then knows it is not
    null, and a null that slips through fails the job naming the column instead
    of being written as a default (the literal is never reached).
    """
    require_columns(frame, schema.fieldNames(), what)
    current = {f.name: f for f in frame.schema.fields}
    columns = []
    for field in schema.fields:
        c = F.col(field.name).cast(field.dataType)
        if not field.nullable and current[field.name].nullable:
            message = f"{what}: {field.name} is null, which the quality rules should have prevented"
            c = F.coalesce(c, F.raise_error(F.lit(message)), _unreachable(field.dataType))
        elif field.nullable and not current[field.name].nullable:
            c = F.when(c.isNotNull(), c)  # the same values, declared nullable as the schema says
        columns.append(c.alias(field.name))
    shaped = frame.select(*columns)
    if shaped.schema != schema:
        raise ValueError(f"{what}: schema {shaped.schema.simpleString()} does not match {schema.simpleString()}")
    return shaped
