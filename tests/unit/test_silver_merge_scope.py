"""What a silver write touches (issue 4, point 4), read from the Delta commits themselves.

Silver ``transactions`` and ``sales_lines`` are upserted on their business key
by ``upsert_new_versions``: a day of new keys is an append that rewrites no
file, a correction rewrites only the file holding the corrected key, and a
rerun of the same rows commits nothing. (A plain Delta MERGE would rewrite every
file holding a matched key even when its update condition is false: the last
test shows it, and is why unchanged rows are dropped before the MERGE.) A
correction that moves a sale to another date still replaces the earlier row
(the contract: the same ``sale_id`` seen again replaces the earlier version),
which is why the match is never narrowed to the new rows' dates.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from delta.tables import DeltaTable

from etl.contracts.silver import TRANSACTIONS
from etl.delta_io import upsert_new_versions
from etl.silver.build import VERSION_COLUMNS

KEYS = ["channel", "transaction_id"]
DAY_ONE = date(2026, 11, 1)


def _sale(sale_id: int, day: date, amount: str, source_file: str, record: int) -> tuple:
    return ("store", f"S{sale_id}", sale_id % 7, 1, 10, day, None, Decimal(amount), 1, "Success", True, [],
            source_file, record, "run", None, None, None)


def _day(day_index: int) -> list[tuple]:
    """Ten sales of one day, delivered in one file."""
    day = DAY_ONE + timedelta(days=day_index)
    return [_sale(day_index * 100 + n, day, "10.00", f"sales/{day}.csv", n) for n in range(10)]


def _frame(spark, rows):
    return spark.createDataFrame(rows, TRANSACTIONS).coalesce(1)


def _upsert(spark, uri, rows) -> tuple[str, dict]:
    """What upsert_new_versions did, and the metrics of the table's last commit."""
    done = upsert_new_versions(spark, _frame(spark, rows), uri, KEYS, VERSION_COLUMNS, name="transactions").outcome
    last = DeltaTable.forPath(spark, uri).history(1).collect()[0]
    return done, {"operation": last.operation, "version": last.version, **(last.operationMetrics or {})}


def _table(spark, uri):
    return spark.read.format("delta").load(uri)


@pytest.fixture()
def three_days(spark, tmp_path):
    """A transactions table of three daily deliveries: three files, one per day."""
    uri = str(tmp_path / "transactions")
    assert [_upsert(spark, uri, _day(i))[0] for i in range(3)] == ["created", "appended", "appended"]
    assert len(_table(spark, uri).inputFiles()) == 3
    return uri


def test_a_day_of_new_keys_is_appended_and_rewrites_no_file(spark, three_days):
    before = set(_table(spark, three_days).inputFiles())
    done, metrics = _upsert(spark, three_days, _day(3))
    assert done == "appended" and metrics["operation"] == "WRITE"
    assert metrics["numOutputRows"] == "10"
    assert before < set(_table(spark, three_days).inputFiles())        # every earlier file is still there


def test_a_correction_rewrites_only_the_file_that_holds_the_corrected_key(spark, three_days):
    before = set(_table(spark, three_days).inputFiles())
    corrected = _sale(105, DAY_ONE + timedelta(days=1), "12.50", "sales/correction.csv", 1)
    done, metrics = _upsert(spark, three_days, [corrected, *_day(3)])
    assert done == "merged"
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("1", "10")
    assert metrics["numTargetFilesRemoved"] == "1"
    assert len(before - set(_table(spark, three_days).inputFiles())) == 1     # day two's file, and only it
    rows = _table(spark, three_days).filter("transaction_id = 'S105'").collect()
    assert [(r.amount, r.source_file) for r in rows] == [(Decimal("12.50"), "sales/correction.csv")]


def test_a_correction_that_moves_the_date_replaces_the_earlier_row(spark, three_days):
    moved = _sale(5, DAY_ONE + timedelta(days=20), "10.00", "sales/late.csv", 1)
    assert _upsert(spark, three_days, [moved])[0] == "merged"
    rows = _table(spark, three_days).filter("transaction_id = 'S5'").collect()
    assert [r.transaction_date for r in rows] == [DAY_ONE + timedelta(days=20)]
    assert _table(spark, three_days).count() == 30


def test_a_rerun_of_the_same_rows_commits_nothing(spark, three_days):
    version = DeltaTable.forPath(spark, three_days).history(1).collect()[0].version
    assert upsert_new_versions(spark, _frame(spark, _day(1)), three_days, KEYS, VERSION_COLUMNS,
                               name="transactions").outcome == "unchanged"
    assert DeltaTable.forPath(spark, three_days).history(1).collect()[0].version == version


def test_why_unchanged_rows_are_dropped_first_a_plain_merge_rewrites_their_file(spark, three_days):
    (DeltaTable.forPath(spark, three_days).alias("t").merge(_frame(spark, _day(1)).alias("s"),
                                                             "t.channel = s.channel AND t.transaction_id = s.transaction_id")
     .whenMatchedUpdateAll(condition="NOT (s.source_file <=> t.source_file AND s.record_number <=> t.record_number)")
     .whenNotMatchedInsertAll().execute())
    metrics = DeltaTable.forPath(spark, three_days).history(1).collect()[0].operationMetrics
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetFilesRemoved"]) == ("0", "1")


def _line(order: str, line: int, stream: int) -> tuple:
    return ("pos", order, line, DAY_ONE, None, None, None, f"item {line}", None, "unmatched", 1, Decimal("2.00"),
            Decimal("2.00"), True, f"events/{stream}.jsonl", stream, "run")


def test_lines_an_order_no_longer_has_are_deleted_and_other_orders_keep_theirs(spark, tmp_path):
    from etl.contracts.silver import SALES_LINES

    uri, keys = str(tmp_path / "sales_lines"), ["channel", "transaction_id", "line_number"]

    def upsert(rows):
        return upsert_new_versions(spark, spark.createDataFrame(rows, SALES_LINES), uri, keys, VERSION_COLUMNS,
                                   name="sales_lines", parent_keys=["channel", "transaction_id"]).outcome

    upsert([_line("A", n, 1) for n in (1, 2, 3)] + [_line("B", n, 1) for n in (1, 2)])
    assert upsert([_line("A", n, 2) for n in (1, 2)]) == "merged"         # A's new version has two items
    rows = sorted((r.transaction_id, r.line_number, r.record_number) for r in _table(spark, uri).collect())
    assert rows == [("A", 1, 2), ("A", 2, 2), ("B", 1, 1), ("B", 2, 1)]
