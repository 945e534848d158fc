"""Customers, bronze -> silver: typed CRM rows, the canonical-id map, and the SCD2 ``dim_customer``.

A later delivery may change a customer's address, phone or region, and a sale
must be attributed to the region the customer had on the sale's date
(DATA_CONTRACT.md, customers), so the dimension keeps history (SCD type 2)
instead of overwriting. Customers sharing a valid phone are one customer; the
lowest id is canonical and the dimension holds canonical ids only.

Flow::

    typed = typed_customers(bronze, run_date)              # run_date: only for files outside a date folder
    checked = apply_rules(typed, rules["customers"], run_date, observation=obs)
    versions = customer_versions(passed(checked))
    id_map = customer_id_map(versions_of_all_runs)         # every valid version delivered so far
    dim = scd2_merge(current_dim, versions, id_map)

History choices (the contract is silent on these):

* A version's date (``updated_at``, ``version_date``) is the delivered
  ``updated_at``; without one, the date of the landing folder the file arrived
  in (``customers/YYYY-MM-DD/...``, read from ``source_file``); the run date
  only for a file outside such a folder. So a history load that ingests many
  days' deliveries in one run dates every version as the daily runs did.
* A version holds from that date; the first version of a customer from
  BEGINNING_OF_TIME, the current one until END_OF_TIME (``valid_to`` exclusive).
* Out of order: a version is placed in the history at its own date, whatever
  order it arrives in. One dated before the current version becomes the version
  for [its date, the next version's date) and does not become current; one
  dated between two versions splits the earlier one.
* Two versions with the same date: the later delivery wins (run_id, then file,
  then record number), including over what the dimension already holds, so a
  same-day correction replaces the version instead of adding one.
* A version identical to the one before it in date order (same attributes) is
  no change, so re-running with the same input changes nothing.
* The dimension does not store a first version's own date (its valid_from is
  BEGINNING_OF_TIME), so an incremental merge places a late version dated
  before a customer's first-known version *after* it. Rebuilding from every
  version delivered so far (``scd2_merge(empty_dim, all_versions, id_map)``)
  has no such limit and gives the same result as the incremental merges
  otherwise; the customers feed is small, so that is the recommended use.
* Canonical ids: the map is computed from each customer's latest version
  (latest ``updated_at``); customers whose latest phones agree are one. Only
  the canonical id's own records form its history: an alias's rows are not
  merged into it (they would make the region flip between two records).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts import customers as contract
from etl.contracts.customers import split_customer_name
from etl.contracts.silver import BEGINNING_OF_TIME, CUSTOMER_ID_MAP, DIM_CUSTOMER, END_OF_TIME
from etl.quality.rules import bronze_row
from etl.silver.conform import blank, normalise_phone, require_columns, strip, to_schema

# The attributes a version consists of: two versions are "identical" when all of these agree.
ATTRIBUTES = ("first_name", "last_name", "address", "pincode", "phone_number", "region", "customer_joining_date")
LINEAGE = ("run_id", "source_file", "record_number")
RAW_COLUMNS = (*contract.MANDATORY, *contract.OPTIONAL)
# The last YYYY-MM-DD folder of a landing key (greedy prefix: the last one; the trailing "/": a folder,
# not the file name), as etl.bronze.ingest.folder_date reads it to decide which run a file is due for.
DATE_FOLDER = r"^(?:.*/)?(\d{4}-\d{2}-\d{2})/"


def landing_folder_date(source_file: Column | str) -> Column:
    """The date of the landing folder a file arrived in (``customers/2024-11-01/x.csv`` -> 2024-11-01).

    Null for a key outside a ``YYYY-MM-DD`` folder, or whose folder name is no real date.
    """
    key = F.col(source_file) if isinstance(source_file, str) else source_file
    return F.try_to_date(F.nullif(F.regexp_extract(key, DATE_FOLDER, 1), F.lit("")), contract.DATE_FORMAT)


def version_date(updated_at: Column | str, source_file: Column | str, run_date: date) -> Column:
    """The date a customer version holds from (DATA_CONTRACT customers; docs/silver.md).

    The delivered ``updated_at`` (null when it does not parse: an error rule); when the row has
    none, the date of its file's landing folder; ``run_date`` only for a file outside such a folder.
    """
    delivered = F.col(updated_at) if isinstance(updated_at, str) else updated_at
    return F.when(strip(delivered).isNull(),
                  F.coalesce(landing_folder_date(source_file), F.lit(run_date))) \
        .otherwise(F.try_to_date(strip(delivered), contract.DATE_FORMAT))


def typed_customers(bronze: DataFrame, run_date: date) -> DataFrame:
    """Bronze customers (strings) -> typed columns next to the raw strings (``_raw_<col>``).

    * ``customer_id`` int (null when missing or unparseable);
    * ``first_name`` / ``last_name`` from ``customer_name`` (split at the first
      space) when the row has neither; trimmed, blank as null, like every text;
    * ``phone_number`` normalised (10 digits or null), the delivered text in ``_raw_phone_number``;
    * ``customer_joining_date`` date; ``updated_at`` the version's date (``version_date``):
      the delivered date, else the file's landing folder date, else ``run_date`` (the
      ingesting run's date, for a file outside a date folder); null when the delivered
      date does not parse (an error rule);
    * ``copies_in_file``: rows with this customer_id in the same file (null without an id);
    * ``raw_record``, lineage and ``_bronze`` (the bronze row, for the quarantine).
    """
    require_columns(bronze, contract.BRONZE_SCHEMA.fieldNames(), "bronze customers")
    split_first, split_last = split_customer_name(F.col(contract.COMBINED_NAME))
    names_absent = blank("first_name") & blank("last_name")
    updated_at = version_date("updated_at", "source_file", run_date)
    typed = bronze.select(
        F.expr("try_cast(trim(customer_id) AS INT)").alias("customer_id"),
        F.when(names_absent, split_first).otherwise(strip("first_name")).alias("first_name"),
        F.when(names_absent, split_last).otherwise(strip("last_name")).alias("last_name"),
        strip("address").alias("address"),
        strip("pincode").alias("pincode"),
        normalise_phone("phone_number").alias("phone_number"),
        strip("region").alias("region"),
        F.try_to_date(strip("customer_joining_date"), contract.DATE_FORMAT).alias("customer_joining_date"),
        updated_at.alias("updated_at"),
        *[F.col(c).alias(f"_raw_{c}") for c in RAW_COLUMNS],
        F.col(contract.COMBINED_NAME).alias(f"_raw_{contract.COMBINED_NAME}"),
        "raw_record", "additional_columns", "source_file", "record_number", "file_checksum", "run_id",
        bronze_row(bronze),
    )
    same_id_same_file = Window.partitionBy("file_checksum", "customer_id")
    return typed.withColumn("copies_in_file", F.when(F.col("customer_id").isNotNull(),
                                                     F.count(F.lit(1)).over(same_id_same_file)))


def customer_versions(valid_customers: DataFrame) -> DataFrame:
    """Rows that passed the error rules -> versions: customer_id, the attributes, updated_at, lineage."""
    require_columns(valid_customers, ("customer_id", *ATTRIBUTES, "updated_at", *LINEAGE), "valid customers")
    return valid_customers.select("customer_id", *ATTRIBUTES, "updated_at", *LINEAGE)


def _newest_delivery_first() -> list[Column]:
    return [F.col(c).desc_nulls_last() for c in LINEAGE]


def customer_id_map(customers: DataFrame) -> DataFrame:
    """Every delivered customer_id -> its canonical id (CUSTOMER_ID_MAP).

    ``customers``: versions (customer_id, phone_number normalised, updated_at,
    lineage), all deliveries so far. Each customer's latest version gives its
    phone; customers sharing a valid phone map to the lowest of their ids, the
    others (and customers without a valid phone) to themselves.
    """
    require_columns(customers, ("customer_id", "phone_number", "updated_at", *LINEAGE), "customers")
    latest_first = Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc_nulls_last(),
                                                             *_newest_delivery_first())
    latest = (customers.filter(F.col("customer_id").isNotNull())
              .withColumn("_n", F.row_number().over(latest_first)).filter("_n = 1"))
    same_phone = Window.partitionBy("phone_number")
    canonical = F.when(F.col("phone_number").isNotNull(), F.min("customer_id").over(same_phone)) \
        .otherwise(F.col("customer_id"))
    return to_schema(latest.select("customer_id", canonical.alias("canonical_customer_id")),
                     CUSTOMER_ID_MAP, "customer_id_map")


def _canonical_only(frame: DataFrame, id_map: DataFrame) -> DataFrame:
    """Drop ids the map sends elsewhere (ids absent from the map are kept as their own canonical id)."""
    aliases = id_map.filter(F.col("customer_id") != F.col("canonical_customer_id")).select("customer_id")
    return frame.join(F.broadcast(aliases), "customer_id", "left_anti")


def _differs_from_previous(window: Window) -> Column:
    changed = [~F.col(a).eqNullSafe(F.lag(a).over(window)) for a in ATTRIBUTES]
    first = F.lag("customer_id").over(window).isNull()
    result = first
    for c in changed:
        result = result | c
    return result


def scd2_merge(current_dim: DataFrame, new_versions: DataFrame, id_map: DataFrame) -> DataFrame:
    """The full ``dim_customer`` (DIM_CUSTOMER, canonical ids only) after adding ``new_versions``.

    ``current_dim``: DIM_CUSTOMER rows (may be empty). ``new_versions``:
    ``customer_versions`` output. ``id_map``: CUSTOMER_ID_MAP. See the module
    docstring for how dates, ties, repeats and out-of-order versions are handled.
    """
    require_columns(current_dim, DIM_CUSTOMER.fieldNames(), "current dim_customer")
    require_columns(new_versions, ("customer_id", *ATTRIBUTES, "updated_at", *LINEAGE), "new customer versions")
    require_columns(id_map, CUSTOMER_ID_MAP.fieldNames(), "customer_id_map")
    held = current_dim.select(
        "customer_id", *ATTRIBUTES, F.col("valid_from").alias("_from"), F.lit(0).alias("_priority"),
        *[F.lit(None).cast(t).alias(c) for c, t in (("run_id", "string"), ("source_file", "string"),
                                                     ("record_number", "bigint"))])
    arriving = new_versions.filter(F.col("customer_id").isNotNull() & F.col("updated_at").isNotNull()).select(
        "customer_id", *ATTRIBUTES, F.col("updated_at").alias("_from"), F.lit(1).alias("_priority"),
        *[F.col(c) for c in LINEAGE])
    candidates = _canonical_only(held.unionByName(arriving), id_map)

    # Same customer, same date: the latest delivery wins (a new delivery over what the dim holds).
    per_customer_and_date = Window.partitionBy("customer_id", "_from").orderBy(
        F.col("_priority").desc(), *_newest_delivery_first())
    dated = candidates.withColumn("_n", F.row_number().over(per_customer_and_date)).filter("_n = 1")

    # A version identical to the one before it is no change.
    by_date = Window.partitionBy("customer_id").orderBy("_from")
    changes = dated.withColumn("_changed", _differs_from_previous(by_date)).filter("_changed")

    valid_to = F.coalesce(F.lead("_from").over(by_date), F.lit(END_OF_TIME))
    dim = (changes
           .withColumn("valid_from", F.when(F.row_number().over(by_date) == 1, F.lit(BEGINNING_OF_TIME))
                       .otherwise(F.col("_from")))
           .withColumn("valid_to", valid_to)
           .withColumn("is_current", F.col("valid_to") == F.lit(END_OF_TIME)))
    return to_schema(dim, DIM_CUSTOMER, "dim_customer")


def merged_into_another(old_map: DataFrame, new_map: DataFrame) -> DataFrame:
    """Ids that were their own canonical id and now map to another (customer_id, canonical_customer_id).

    A customer delivered later with the phone of an existing one merges the two:
    silver rows stored under the id that loses must move to the survivor, so that
    the merged id never appears in gold (METRICS.md conventions). An id absent
    from the old map counted as its own canonical id. Rows of an id that already
    mapped elsewhere are stored under that other id and cannot be told apart, so
    a later split (a changed phone) applies to new rows only (docs/silver.md).
    """
    previous = old_map.select("customer_id", F.col("canonical_customer_id").alias("_previous"))
    return (new_map.join(previous, "customer_id", "left")
            .filter(F.coalesce("_previous", "customer_id") == F.col("customer_id"))
            .filter(F.col("canonical_customer_id") != F.col("customer_id"))
            .select("customer_id", "canonical_customer_id"))
