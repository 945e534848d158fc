"""Product matching for order event items: SKU first, then a fuzzy name match, else flagged.

DATA_CONTRACT.md (conformance, products): a JSON ``itemcode`` matches
``products.sku_id`` (``etl.silver.conform.match_product_by_sku``, the same rule
as the XML feed's SKU); an item it does not match falls back to a fuzzy match
of its name on ``products.name`` at or above a configurable similarity (0-100);
what stays unmatched is flagged for review (``match_method`` ``unmatched``,
``product_id`` null), never dropped.

Why a pandas function: no Spark built-in gives a *token-based* similarity.
``levenshtein`` and ``soundex`` compare whole strings in order, so
``"vanilla ice cream old fashion"`` scores far from ``"Old Fashion Vanilla Ice
Cream (300ml)"``; rapidfuzz's ``token_sort_ratio`` (case and punctuation
removed, words sorted, then an edit-distance ratio) scores them as the same
product. It runs in C++ over Python strings, so the strings must reach a Python
worker: a pandas function over a whole group, not a per-row Python UDF.

What reaches the Python worker is bounded and small, and nothing is collected
to the driver: only the *distinct* item names the SKU did not match (bounded by
the menu size, not by the number of orders) and the catalogue (id, name, sku:
reference data). Both are co-grouped on one constant key, so one
``applyInPandas`` call sees all those names and the whole catalogue and calls
``rapidfuzz.process.extractOne`` once per name (no names x catalogue cross join
in Spark). When every item matched by SKU there are no names, the catalogue
side is emptied too, and no Python worker runs at all.

Ties: the catalogue is scored in ``id`` order and ``extractOne`` keeps the first
best score, so the lowest product id wins, as it does for a shared SKU.
"""

from __future__ import annotations

import functools
import math

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from etl.errors import ConfigError
from etl.silver.conform import (CATALOGUE_NAME, CATALOGUE_SKU, MATCH_METHOD, PRODUCT_ID, UNMATCHED,
                                match_product_by_sku, require_columns, strip)

DEFAULT_THRESHOLD = 85.0
FUZZY = "fuzzy"

# The columns match_products adds to the items frame (the names etl.silver.conform uses).
MATCH_FIELDS = [
    StructField(PRODUCT_ID, IntegerType(), True),        # null when unmatched
    StructField(CATALOGUE_NAME, StringType(), True),     # the catalogue's name of the product
    StructField(CATALOGUE_SKU, StringType(), True),      # the catalogue's sku_id
    StructField(MATCH_METHOD, StringType(), False),      # sku | fuzzy | unmatched
]

# What the pandas function returns: one row per item name that reached the threshold.
FUZZY_MATCHES = StructType([
    StructField("item_name", StringType(), False),
    StructField("product_id", IntegerType(), False),
    StructField("product_name", StringType(), True),
    StructField("product_sku_id", StringType(), True),
    StructField("score", DoubleType(), False),
])

_GROUP = "_all"


def check_threshold(threshold: object) -> float:
    """The similarity threshold as a float in [0, 100], or a ConfigError saying what is wrong."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or math.isnan(threshold) or not 0 <= threshold <= 100:
        raise ConfigError(f"the fuzzy product match threshold must be a number from 0 to 100, got {threshold!r}")
    return float(threshold)


def best_catalogue_matches(names: pd.DataFrame, catalogue: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """For each ``item_name``, the catalogue product whose name scores best, when it scores >= ``threshold``.

    ``names``: column ``item_name``; ``catalogue``: ``id``, ``name``, ``sku_id``.
    Score: ``fuzz.token_sort_ratio`` of both names after ``default_process``
    (lower case, non-alphanumerics to spaces, trimmed), 0-100. Returns the
    ``FUZZY_MATCHES`` columns. Module-level (not a closure) so that Spark workers
    unpickle it by reference.
    """
    catalogue = catalogue.dropna(subset=["id", "name"]).sort_values("id", kind="stable")
    choices = [default_process(name) for name in catalogue["name"]]
    rows = []
    for item_name in names["item_name"].dropna().unique():
        best = process.extractOne(default_process(item_name), choices, scorer=fuzz.token_sort_ratio,
                                  processor=None, score_cutoff=threshold)
        if best is not None:
            _, score, index = best
            product = catalogue.iloc[index]
            rows.append((item_name, int(product["id"]), product["name"], product["sku_id"], float(score)))
    columns = list(zip(*rows)) if rows else [()] * 5
    return pd.DataFrame({
        "item_name": pd.Series(columns[0], dtype=object),
        "product_id": pd.Series(columns[1], dtype="int32"),
        "product_name": pd.Series(columns[2], dtype=object),
        "product_sku_id": pd.Series(columns[3], dtype=object),
        "score": pd.Series(columns[4], dtype="float64"),
    })


def fuzzy_name_matches(names: DataFrame, products: DataFrame, threshold: float) -> DataFrame:
    """Distinct ``item_name`` rows x products (``id``, ``name``, ``sku_id``) -> ``FUZZY_MATCHES``.

    A name below the threshold has no row.
    """
    threshold = check_threshold(threshold)
    left = names.select(F.lit(0).alias(_GROUP), "item_name")
    # No names -> no catalogue group either, so the pandas function is not called at all.
    right = (products.select(F.lit(0).alias(_GROUP), F.col("id").cast(IntegerType()).alias("id"),
                             strip("name").alias("name"), strip("sku_id").alias("sku_id"))
             .join(left.select(_GROUP).limit(1), _GROUP, "left_semi"))
    return (left.groupBy(_GROUP)
            .cogroup(right.groupBy(_GROUP))
            .applyInPandas(functools.partial(best_catalogue_matches, threshold=threshold), FUZZY_MATCHES))


def match_products(items: DataFrame, products: DataFrame, threshold: float = DEFAULT_THRESHOLD,
                   itemcode_col: str = "itemcode", name_col: str = "name") -> DataFrame:
    """``items`` plus ``MATCH_FIELDS``, one row per item (none dropped).

    1. ``sku``: ``itemcode`` = ``products.sku_id``, trimmed, case-insensitive
       (several products with one SKU: the lowest id).
    2. ``fuzzy``: otherwise the item name (trimmed) scores >= ``threshold`` against
       a product name (``best_catalogue_matches``).
    3. ``unmatched``: product columns null.
    ``products``: silver products (``id``, ``name``, ``sku_id``).
    """
    threshold = check_threshold(threshold)
    require_columns(items, (itemcode_col, name_col), "the items frame")
    require_columns(products, ("id", "name", "sku_id"), "the products frame")
    for taken in ("_name_key", "_fuzzy"):
        if taken in items.columns:
            raise ValueError(f"the items frame already has column {taken}; rename it before matching")

    by_sku = match_product_by_sku(items, products, itemcode_col).withColumn("_name_key", strip(name_col))
    names = (by_sku.filter((F.col(MATCH_METHOD) == UNMATCHED) & F.col("_name_key").isNotNull())
             .select(F.col("_name_key").alias("item_name")).distinct())
    by_name = fuzzy_name_matches(names, products, threshold).select(
        F.col("item_name").alias("_name_key"),
        F.struct(F.col("product_id"), F.col("product_name"), F.col("product_sku_id")).alias("_fuzzy"))
    matched = by_sku.join(F.broadcast(by_name), "_name_key", "left")

    use_fuzzy = (F.col(MATCH_METHOD) == UNMATCHED) & F.col("_fuzzy").isNotNull()
    return matched.select(
        *items.columns,
        F.when(use_fuzzy, F.col("_fuzzy.product_id")).otherwise(F.col(PRODUCT_ID)).alias(PRODUCT_ID),
        F.when(use_fuzzy, F.col("_fuzzy.product_name")).otherwise(F.col(CATALOGUE_NAME)).alias(CATALOGUE_NAME),
        F.when(use_fuzzy, F.col("_fuzzy.product_sku_id")).otherwise(F.col(CATALOGUE_SKU)).alias(CATALOGUE_SKU),
        F.when(use_fuzzy, F.lit(FUZZY)).otherwise(F.col(MATCH_METHOD)).alias(MATCH_METHOD),
    )
