"""A lake written before silver transactions carried the POS order fields (order_type, order_from,
payment_type) keeps working: real Delta tables written with the old schema.

* The silver stage adds the columns (ALTER TABLE ADD COLUMNS, nullable), fills the stored POS rows from
  silver/orders (each order's current state), and then writes new rows and new versions as usual.
* The gold stage reads such a table before silver ran again: the columns read as null (Unknown in the mix).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from etl import delta_io
from etl.config import load_config
from etl.contracts.silver import POS_ORDER_FIELDS, TRANSACTIONS
from etl.gold.build import gold_inputs
from etl.silver import order_events
from etl.silver.build import VERSION_COLUMNS, SilverStage

DAY = date(2026, 2, 1)
OLD_TRANSACTIONS = StructType([f for f in TRANSACTIONS.fields if f not in POS_ORDER_FIELDS])


def old_row(tid: str, channel: str, amount: str = "10.00", record: int = 1) -> tuple:
    return (channel, tid, None, None, None, DAY, None, Decimal(amount), 1, "Success", True, [], "f", record, "r1")


def orders_frame(spark, rows: list[dict]):
    """silver/orders rows (the ORDERS schema) with the given fields; the rest null or empty."""
    base = spark.createDataFrame([(r["order_id"],) for r in rows], "order_id string")
    by_id = {r["order_id"]: r for r in rows}
    columns = []
    for field in order_events.ORDERS.fields:
        if field.name == "order_id":
            columns.append(F.col("order_id"))
            continue
        value = F.lit(None).cast(field.dataType)
        for order_id, row in by_id.items():
            if field.name in row:
                value = F.when(F.col("order_id") == order_id, F.lit(row[field.name]).cast(field.dataType)) \
                    .otherwise(value)
        if not field.nullable:
            value = F.coalesce(value, F.lit(datetime(2026, 2, 1, 12)).cast(field.dataType)
                               if field.name == "created_on" else F.array().cast(field.dataType)
                               if field.name == "warnings" else F.lit(0).cast(field.dataType)
                               if field.name != "status" else F.lit("Success"))
        columns.append(value.alias(field.name))
    return spark.createDataFrame(base.select(*columns).rdd, order_events.ORDERS)


def test_an_old_transactions_table_gains_the_columns_filled_from_the_orders_then_takes_new_rows(spark, tmp_path):
    cfg = load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})
    stage = SilverStage(spark, cfg, DAY, "run-2")
    tx_uri = stage.uri("silver", "transactions")
    spark.createDataFrame([old_row("s1", "store"), old_row("p1", "pos"), old_row("p2", "pos")], OLD_TRANSACTIONS) \
        .write.format("delta").save(tx_uri)
    orders_frame(spark, [{"order_id": "p1", "order_type": "Delivery", "order_from": "Zomato", "payment_type": "Cash"},
                         {"order_id": "p2", "order_type": "Dine In"}]) \
        .write.format("delta").save(stage.uri("silver", "orders"))

    stage.evolve_transactions(tx_uri)
    assert delta_io.add_missing_columns(spark, tx_uri, TRANSACTIONS) == []        # once only
    new = spark.createDataFrame([
        (*old_row("p3", "pos", record=2), "Takeaway", "Own", "Card"),             # a new order
        (*old_row("s1", "store", "12.00", record=3), None, None, None),           # a new version of a sale
    ], TRANSACTIONS)
    delta_io.upsert_new_versions(spark, new, tx_uri, ["channel", "transaction_id"], VERSION_COLUMNS,
                                 name="transactions")

    stored = spark.read.format("delta").load(tx_uri)
    assert stored.columns == TRANSACTIONS.fieldNames()
    rows = sorted((r.transaction_id, str(r.amount), r.order_type, r.order_from, r.payment_type)
                  for r in stored.collect())
    assert rows == [("p1", "10.00", "Delivery", "Zomato", "Cash"), ("p2", "10.00", "Dine In", None, None),
                    ("p3", "10.00", "Takeaway", "Own", "Card"), ("s1", "12.00", None, None, None)]


def test_gold_reads_an_old_transactions_table_with_the_columns_as_null(spark, tmp_path):
    cfg = load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})
    tx_uri = SilverStage(spark, cfg, DAY, "run-1").uri("silver", "transactions")
    spark.createDataFrame([old_row("p1", "pos"), old_row("s1", "store")], OLD_TRANSACTIONS) \
        .write.format("delta").save(tx_uri)
    frames, _ = gold_inputs(spark, cfg, DAY)
    mix = sorted(tuple(r) for r in frames["pos_mix_month"].select("dimension", "value", "order_count").collect())
    assert mix == [("order_from", "Unknown", 1), ("order_type", "Unknown", 1), ("payment_type", "Unknown", 1)]
    assert set(POS_ORDER_FIELDS[0].name for _ in [0]) <= set(frames["transactions"].columns)
