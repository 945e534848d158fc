"""The catalogue's table layouts, on real Delta tables: silver's conformed tables clustered by date, the
facts partitioned by month, and ``etl maintain`` keeping the clustering.

What a layout is for is that a read of some dates opens only the files that can hold them, and that a
month of the facts recomputed replaces only that month's files. The tests read the tables' own logs
(each file's date range from Delta's statistics, the files a commit removed) and the files a filtered
read takes its rows from, so a write that loses the layout fails here.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from etl import catalog, delta_io
from etl.config import load_config
from etl.contracts import silver as contract
from etl.ops.maintain import maintain_lake

FIRST_DAY = date(2026, 1, 1)
DAYS = 120          # four months
SPREAD_FILES = 4    # the shuffle partitions a spread write is range-partitioned into here


@pytest.fixture()
def cfg(tmp_path):
    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})


@contextmanager
def shuffle_partitions(spark, n: int):
    """The test session runs with one shuffle partition; a spread write needs several to spread over."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(n))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)


def _transactions(spark, days: int = DAYS, partitions: int = SPREAD_FILES):
    """One in-store sale a day over ``days`` days, dealt round-robin over ``partitions`` partitions, as a
    first load's rows come out of its deduplication (every partition holds every month)."""
    rows = [("store", f"S{i:04d}", 1, 1, 1, FIRST_DAY + timedelta(days=i), None, Decimal("10.00"), 1, "Success",
             True, [], f"sales/{i}.csv", 1, "r1") for i in range(days)]
    frame = spark.createDataFrame(rows, _without_pos(contract.TRANSACTIONS))
    for field in contract.POS_ORDER_FIELDS:
        frame = frame.withColumn(field.name, F.lit(None).cast(field.dataType))
    return frame.repartition(partitions)


def _without_pos(schema):
    from pyspark.sql.types import StructType

    pos = {f.name for f in contract.POS_ORDER_FIELDS}
    return StructType([f for f in schema.fields if f.name not in pos])


def _folder(uri: str) -> Path:
    return Path(uri.removeprefix("file://").removeprefix("file:"))


def _live_files(uri: str) -> dict[str, tuple[str, str]]:
    """Data file -> (min, max) of ``transaction_date`` from Delta's per-file statistics, for the files
    of the table's latest version (every add not removed since)."""
    live: dict[str, tuple[str, str]] = {}
    for log_file in sorted((_folder(uri) / "_delta_log").glob("*.json")):
        for line in log_file.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                stats = json.loads(action["add"]["stats"])
                live[action["add"]["path"]] = (stats["minValues"].get("transaction_date"),
                                               stats["maxValues"].get("transaction_date"))
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return live


def _files_read(spark, uri: str, first: date, last: date) -> int:
    return (spark.read.format("delta").load(uri).filter(F.col("transaction_date").between(first, last))
            .select(F.input_file_name()).distinct().count())


def test_a_first_load_is_spread_over_files_of_contiguous_dates_and_a_month_s_read_opens_one(spark, cfg):
    uri = catalog.table("silver", "transactions").uri(cfg)
    with shuffle_partitions(spark, SPREAD_FILES):
        delta_io.upsert_new_versions(spark, _transactions(spark), uri, ["channel", "transaction_id"],
                                     ["source_file", "record_number"], name="transactions", spread=True)
    ranges = sorted(_live_files(uri).values())
    assert len(ranges) == SPREAD_FILES
    for (_, last), (first, _) in zip(ranges, ranges[1:]):
        assert last < first, ranges          # each file a date range of its own, none overlapping
    assert spark.read.format("delta").load(uri).count() == DAYS
    assert _files_read(spark, uri, date(2026, 2, 1), date(2026, 2, 10)) == 1


def test_without_spread_a_first_load_keeps_its_partitions_and_every_file_holds_every_month(spark, cfg):
    """The control for the test above: the same rows written as they come (a day's write) are not spread,
    so a ten-day read opens every file. A spread that stopped working would look like this."""
    uri = catalog.table("silver", "transactions").uri(cfg)
    with shuffle_partitions(spark, SPREAD_FILES):
        delta_io.upsert_new_versions(spark, _transactions(spark), uri, ["channel", "transaction_id"],
                                     ["source_file", "record_number"], name="transactions", spread=False)
    assert len(_live_files(uri)) == SPREAD_FILES
    assert _files_read(spark, uri, date(2026, 2, 1), date(2026, 2, 10)) == SPREAD_FILES


def test_a_day_s_write_is_sorted_by_date_within_its_file(spark, cfg):
    uri = catalog.table("silver", "transactions").uri(cfg)
    rows = _transactions(spark, days=30, partitions=1).orderBy(F.col("transaction_date").desc()).coalesce(1)
    delta_io.append(spark, rows, uri, name="transactions")
    (path,) = _live_files(uri)
    dates = [r.transaction_date for r in spark.read.parquet(f"{uri}/{path}").select("transaction_date").collect()]
    assert dates == sorted(dates) and len(dates) == 30


def test_a_table_without_a_layout_is_written_as_it_comes(spark, cfg):
    frame = spark.range(3).select(F.col("id").cast("int").alias("id"))
    assert delta_io.laid_out(frame, cfg.storage.lake + "/ops/somewhere") is frame
    assert catalog.table("silver", "orders").layout == ()


def _facts_daily(spark, months):
    rows = [(date.fromisoformat(f"{m}-{d:02d}"), Decimal("5.00"), 1, 1, m) for m in months for d in (1, 2)]
    return spark.createDataFrame(rows, "date date, revenue decimal(28,2), order_count bigint, units bigint, "
                                       "sales_month string")


def _commit_actions(uri: str, version: int) -> list[dict]:
    text = (_folder(uri) / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_the_facts_are_partitioned_by_month_and_a_month_replaced_touches_only_its_files(spark, cfg):
    uri = catalog.table("gold", "facts_daily").uri(cfg)
    delta_io.overwrite(spark, _facts_daily(spark, ["2026-01", "2026-02", "2026-03"]), uri, name="facts_daily")
    assert DeltaTable.forPath(spark, uri).detail().first().partitionColumns == ["sales_month"]

    delta_io.replace_where(spark, _facts_daily(spark, ["2026-02"]), uri, "sales_month IN ('2026-02')",
                           name="facts_daily")
    actions = _commit_actions(uri, 1)
    removed = [a["remove"]["path"] for a in actions if "remove" in a]
    added = [a["add"]["path"] for a in actions if "add" in a]
    assert removed and all(p.startswith("sales_month=2026-02/") for p in removed), removed
    assert added and all(p.startswith("sales_month=2026-02/") for p in added), added
    assert spark.read.format("delta").load(uri).count() == 6


def test_facts_an_older_release_wrote_unpartitioned_gain_the_partitioning_when_overwritten(spark, cfg):
    uri = catalog.table("gold", "facts_daily").uri(cfg)
    _facts_daily(spark, ["2026-01"]).write.format("delta").save(uri)
    assert DeltaTable.forPath(spark, uri).detail().first().partitionColumns == []
    delta_io.overwrite(spark, _facts_daily(spark, ["2026-01", "2026-02"]), uri, name="facts_daily")
    assert DeltaTable.forPath(spark, uri).detail().first().partitionColumns == ["sales_month"]
    assert spark.read.format("delta").load(uri).count() == 4


def test_maintain_z_orders_a_clustered_table_by_its_layout_and_only_compacts_the_others(spark, cfg):
    transactions = catalog.table("silver", "transactions").uri(cfg)
    for start in (60, 0, 30):          # three daily-sized appends, out of date order
        day = _transactions(spark, days=30, partitions=1).withColumn(
            "transaction_date", F.date_add("transaction_date", start)).withColumn(
            "transaction_id", F.concat(F.lit(f"{start}-"), "transaction_id"))
        delta_io.append(spark, day, transactions, name="transactions")
    manifest = f"{cfg.storage.lake}/bronze/sales"
    for i in range(2):
        spark.range(i * 5, i * 5 + 5).coalesce(1).write.format("delta").mode("append").save(manifest)

    report = maintain_lake(spark, cfg, only=("silver/transactions", "bronze/sales"))
    assert not report.failed
    optimized = {uri: DeltaTable.forPath(spark, uri).history().filter("operation = 'OPTIMIZE'").collect()
                 for uri in (transactions, manifest)}
    assert [json.loads(c.operationParameters["zOrderBy"]) for c in optimized[transactions]] == [["transaction_date"]]
    assert [json.loads(c.operationParameters["zOrderBy"]) for c in optimized[manifest]] == [[]]
    assert spark.read.format("delta").load(transactions).count() == 90
