"""Every Delta table of the lake, in one catalogue: layer, name, schema, keys, layout, write, owner.

Everything that needs a list of tables reads it from here: the feeds ingest
writes, the tables each stage writes (``Stage.writes`` in etl/run/stages.py: the run
record's table versions, the dry run's plan), the schema every write is checked against and
the schema a reader sees for a table its stage has not written yet (``delta_io.read_or_empty``:
a feed never delivered), the gold tables the report and MySQL serve. Adding a table means
adding an entry here; how it is written is the ``write`` operation of
``etl/delta_io.py`` named on the entry.

``stage`` is the name of the stage that owns (writes) the table, and so whose
object-store identity may write its prefix: ``ingest``, ``silver``, ``gold``, or
``run`` for the run record every stage's run writes at its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pyspark.sql.types import DateType, LongType, MapType, StringType, StructField, StructType

from etl.bronze import manifest
from etl.config import Config
from etl.contracts import customers as customers_contract
from etl.contracts import order_events as events_contract
from etl.contracts import orders as orders_contract
from etl.contracts import reference as reference_contract
from etl.contracts import sales as sales_contract
from etl.contracts import silver as silver_contract
from etl.gold.marts import GOLD_TABLES
from etl.lake import table_uri
from etl.quality.rules import DQ_RESULTS_SCHEMA, QUARANTINE_SCHEMA
from etl.run.records import RUNS_SCHEMA
from etl.silver import order_events as events_silver

# Write operations (etl/delta_io.py) a table is written with.
APPEND = "append"                    # new rows only, a commit per batch (idempotent with a txn id)
APPEND_NEW = "append_new"            # rows whose key is not stored yet
UPSERT = "upsert"                    # MERGE on the keys, only changed rows
VERSIONS = "upsert_new_versions"     # new versions of business keys
REPLACE_WHERE = "replace_where"      # the rows of a predicate replaced in one commit
REPLACE_IF_CHANGED = "replace_if_changed"
OVERWRITE = "overwrite"              # replaced whole every run

# Layouts. Silver's conformed tables are read by date windows (gold's recent window, the months the
# change feed names): their files are clustered by the date, so that Delta's per-file minimum and maximum
# skip the files of other dates. The facts tables are partitioned by month: a month recomputed replaces
# that month's partition only.
BY_DATE = ("transaction_date",)
BY_MONTH = ("sales_month",)


@dataclass(frozen=True)
class Table:
    layer: str
    name: str
    schema: StructType | str         # a StructType, or Spark DDL where that is how the module defines it
    keys: tuple[str, ...]
    write: str
    stage: str
    # Columns the files are clustered by (delta_io.laid_out; etl maintain Z-orders by them), if any.
    layout: tuple[str, ...] = ()
    # Delta partition columns, given to the write that creates (or overwrites) the table, if any.
    partition_by: tuple[str, ...] = ()
    # Delta table properties the write that creates the table sets (delta_io: no commit of their own)
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """``layer/name``: how run records and logs name the table."""
        return f"{self.layer}/{self.name}"

    def uri(self, cfg: Config) -> str:
        return table_uri(cfg, self.layer, self.name)


def _ddl(ddl: str) -> str:
    """A schema kept as Spark DDL (parsing it needs a session; ``createDataFrame`` takes it as it is)."""
    return ddl


def _reference_bronze(feed: str) -> StructType:
    return StructType([StructField(c, StringType(), True) for c in reference_contract.COLUMNS[feed]]
                      + [StructField("additional_columns", MapType(StringType(), StringType()), True),
                         StructField("raw_record", StringType(), True)]
                      + sales_contract.LINEAGE_FIELDS)


def _reference_silver(feed: str) -> StructType:
    return StructType([StructField(c, t, True) for c, t in reference_contract.COLUMNS[feed].items()])


REFERENCE_FEEDS = ("stores", "products", "sales_team")
CHECKED_FEEDS = ("customers", "sales", "orders", "order_events")
BRONZE_KEYS = ("source_file", "record_number")

CUSTOMER_VERSIONS = StructType([
    *[f for f in silver_contract.DIM_CUSTOMER.fields if f.name not in ("valid_from", "valid_to", "is_current")],
    StructField("updated_at", DateType(), True),
    StructField("run_id", StringType(), True),
    StructField("source_file", StringType(), True),
    StructField("record_number", LongType(), True),
])
# A (feed, ingest run) silver has processed, and the version of the feed's bronze table it read then: the
# bronze commits after the newest such version are the feed's new runs (etl/silver/build.py).
SILVER_PROGRESS = StructType([StructField("feed", StringType(), True), StructField("run_id", StringType(), True),
                              StructField("bronze_version", LongType(), True)])
FACTS_SCHEMAS = {
    "customer_month": _ddl("customer_id int, sales_month string, total_sales decimal(28,2), "
                           "monthly_transactions int, max_amount decimal(18,2), first_date date, last_date date, "
                           "purchase_days int"),
    "store_person_month": _ddl("store_id int, sales_person_id int, sales_month string, total_sales decimal(28,2), "
                               "total_transactions int, max_single_transaction decimal(18,2)"),
    "daily": _ddl("date date, revenue decimal(28,2), order_count bigint, units bigint, sales_month string"),
    "channel_daily": _ddl("date date, channel string, order_count bigint, revenue decimal(28,2), "
                          "cancelled_orders bigint, sales_month string"),
    "pos_mix_month": _ddl("sales_month string, dimension string, value string, order_count bigint, "
                          "revenue decimal(28,2)"),
}

# Bronze: one table per landing feed, in the order ingest takes them (reference data first).
_BRONZE = [
    *[Table("bronze", feed, _reference_bronze(feed), BRONZE_KEYS, APPEND, "ingest") for feed in REFERENCE_FEEDS],
    Table("bronze", "customers", customers_contract.BRONZE_SCHEMA, BRONZE_KEYS, APPEND, "ingest"),
    Table("bronze", "sales", sales_contract.BRONZE_SCHEMA, BRONZE_KEYS, APPEND, "ingest"),
    Table("bronze", "orders", orders_contract.BRONZE_SCHEMA, BRONZE_KEYS, APPEND, "ingest"),
    Table("bronze", "order_events", events_contract.BRONZE_SCHEMA, BRONZE_KEYS, APPEND, "ingest"),
]
_SILVER = [
    *[Table("silver", feed, _reference_silver(feed), ("id",), REPLACE_IF_CHANGED, "silver")
      for feed in REFERENCE_FEEDS],
    Table("silver", "customer_versions", CUSTOMER_VERSIONS, BRONZE_KEYS, APPEND_NEW, "silver"),
    Table("silver", "dim_customer", silver_contract.DIM_CUSTOMER, ("customer_id", "valid_from"),
          REPLACE_IF_CHANGED, "silver"),
    Table("silver", "customer_id_map", silver_contract.CUSTOMER_ID_MAP, ("customer_id",), REPLACE_IF_CHANGED,
          "silver"),
    # Gold's facts follow its changes through the change data feed (etl/gold/build.py).
    Table("silver", "transactions", silver_contract.TRANSACTIONS, ("channel", "transaction_id"), VERSIONS,
          "silver", layout=BY_DATE, properties=(("delta.enableChangeDataFeed", "true"),)),
    Table("silver", "sales_lines", silver_contract.SALES_LINES, ("channel", "transaction_id", "line_number"),
          VERSIONS, "silver", layout=BY_DATE),
    Table("silver", "orders", events_silver.ORDERS, ("order_id",), UPSERT, "silver"),
    Table("silver", "order_items", events_silver.ORDER_ITEMS, ("order_id", "line_number"), REPLACE_WHERE,
          "silver"),
    Table("silver", "order_item_addons", events_silver.ORDER_ITEM_ADDONS, ("order_id", "line_number",
                                                                           "addon_number"), REPLACE_WHERE, "silver"),
    Table("silver", "order_taxes", events_silver.ORDER_TAXES, ("order_id", "tax_number"), REPLACE_WHERE,
          "silver"),
    Table("silver", "order_discounts", events_silver.ORDER_DISCOUNTS, ("order_id", "discount_number"),
          REPLACE_WHERE, "silver"),
    Table("silver", "restaurants", events_silver.RESTAURANTS, ("rest_id",), UPSERT, "silver"),
    *[Table("silver", f"quarantine_{feed}", QUARANTINE_SCHEMA, BRONZE_KEYS, REPLACE_WHERE, "silver")
      for feed in CHECKED_FEEDS],
]
_OPS = [
    Table("ops", "file_manifest", manifest.SCHEMA, ("feed", "path", "checksum", "status"), APPEND_NEW, "ingest"),
    Table("ops", "dq_results", DQ_RESULTS_SCHEMA, ("run_id", "feed", "rule"), APPEND, "silver"),
    Table("ops", "silver_progress", SILVER_PROGRESS, ("feed", "run_id"), APPEND, "silver"),
    Table("ops", "runs", RUNS_SCHEMA, ("run_id",), APPEND, "run"),
]
_GOLD = [
    *[Table("gold", name, _ddl(spec.schema), (), OVERWRITE, "gold") for name, spec in GOLD_TABLES.items()],
    *[Table("gold", f"facts_{name}", schema, (), REPLACE_WHERE, "gold", partition_by=BY_MONTH)
      for name, schema in FACTS_SCHEMAS.items()],
]

TABLES: tuple[Table, ...] = (*_BRONZE, *_SILVER, *_GOLD, *_OPS)
_BY_KEY = {t.key: t for t in TABLES}


def table(layer: str, name: str) -> Table:
    try:
        return _BY_KEY[f"{layer}/{name}"]
    except KeyError:
        raise KeyError(f"no table {layer}/{name} in the catalogue (etl/catalog.py)") from None


def tables(layer: str | None = None, stage: str | None = None) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if (layer is None or t.layer == layer) and (stage is None or t.stage == stage))


def names(layer: str, stage: str | None = None) -> tuple[str, ...]:
    return tuple(t.name for t in tables(layer, stage))


def uris(cfg: Config, chosen: Iterable[Table]) -> list[str]:
    return [t.uri(cfg) for t in chosen]


FEEDS = names("bronze")
GOLD_MARTS = tuple(GOLD_TABLES)                       # served: MySQL, the report
# Served in MySQL beside gold (resources/sql/V007, etl/export/ops_served.py): MySQL table -> the ops
# Delta table it is cut from. Loaded, swapped and granted like the gold tables.
SERVED_OPS = {"dq_results": "dq_results", "rejected_files": "file_manifest"}
# Silver tables gold reads, and the reference tables it joins.
GOLD_INPUTS = ("transactions", "sales_lines", "dim_customer", "sales_team", "products")


__all__ = ["TABLES", "Table", "table", "tables", "names", "FEEDS", "GOLD_MARTS", "SERVED_OPS",
           "GOLD_INPUTS",
           "BY_DATE", "BY_MONTH"]
