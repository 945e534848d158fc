"""The write operations of etl/delta_io.py, on real Delta tables: what each commits, and what it skips.

Each test reads the table's own log (operation, version) so that an operation that
commits when it should not, or MERGEs where an append does, fails here.
"""

from __future__ import annotations

import re

import pytest
from delta.tables import DeltaTable

from etl import delta_io

SCHEMA = "id int, name string"


def _frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA).coalesce(1)


def _rows(spark, uri):
    return sorted(tuple(r) for r in spark.read.format("delta").load(uri).collect())


def _operations(spark, uri):
    return [r.operation for r in DeltaTable.forPath(spark, uri).history().orderBy("version").collect()]


@pytest.fixture()
def uri(tmp_path):
    return str(tmp_path / "table")


def test_an_append_with_a_transaction_id_is_written_once(spark, uri):
    first = delta_io.append(spark, _frame(spark, [(1, "a")]), uri, name="t", txn=("run-1/t", 0))
    again = delta_io.append(spark, _frame(spark, [(1, "a")]), uri, name="t", txn=("run-1/t", 0))
    other = delta_io.append(spark, _frame(spark, [(2, "b")]), uri, name="t", txn=("run-2/t", 0))
    assert (first.version, first.outcome, first.rows_written) == (0, "created", 1)
    assert again.version is None and again.outcome == "unchanged"
    assert (other.version, other.outcome, other.rows_written) == (1, "appended", 1)
    assert _rows(spark, uri) == [(1, "a"), (2, "b")]


def test_the_commit_s_metrics_come_from_its_log_entry(spark, uri):
    delta_io.append(spark, _frame(spark, [(1, "a"), (2, "b")]), uri, name="t")
    commit = delta_io.last_commit(spark, uri)
    assert (commit.version, commit.operation, commit.metrics["numOutputRows"]) == (0, "WRITE", 2)
    assert delta_io.current_version(spark, uri) == 0


def test_upsert_skips_what_is_stored_appends_new_keys_and_merges_changes(spark, uri):
    changed = "NOT (s.name <=> t.name)"
    delta_io.upsert(spark, _frame(spark, [(1, "a"), (2, "b")]), uri, ["id"], name="t", changed_when=changed)
    same = delta_io.upsert(spark, _frame(spark, [(1, "a")]), uri, ["id"], name="t", changed_when=changed)
    new = delta_io.upsert(spark, _frame(spark, [(1, "a"), (3, "c")]), uri, ["id"], name="t", changed_when=changed)
    moved = delta_io.upsert(spark, _frame(spark, [(2, "B"), (4, "d")]), uri, ["id"], name="t", changed_when=changed)
    assert same.outcome == "unchanged"
    assert new.outcome == "appended" and new.rows_written == 1          # only key 3: key 1 is stored as it is
    assert moved.outcome == "merged"
    assert _rows(spark, uri) == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
    assert _operations(spark, uri) == ["WRITE", "WRITE", "MERGE"]


def test_an_insert_only_upsert_leaves_stored_keys_alone(spark, uri):
    delta_io.upsert(spark, _frame(spark, [(1, "a")]), uri, ["id"], name="t", changed_when=None)
    done = delta_io.upsert(spark, _frame(spark, [(1, "changed"), (2, "b")]), uri, ["id"], name="t",
                           changed_when=None)
    assert done.outcome == "appended"
    assert _rows(spark, uri) == [(1, "a"), (2, "b")]


def test_append_new_appends_only_keys_not_stored_within_the_scope(spark, uri):
    delta_io.append(spark, _frame(spark, [(1, "a"), (2, "b")]), uri, name="t")
    done = delta_io.append_new(spark, _frame(spark, [(2, "b"), (3, "c")]), uri, ["id"], name="t", scope="id >= 2")
    assert done.rows_written == 1
    assert _rows(spark, uri) == [(1, "a"), (2, "b"), (3, "c")]


def test_replace_where_replaces_the_predicate_s_rows_in_one_commit(spark, uri):
    delta_io.append(spark, _frame(spark, [(1, "a"), (2, "b"), (3, "c")]), uri, name="t")
    done = delta_io.replace_where(spark, _frame(spark, [(2, "B")]), uri, "id IN (2, 3)", name="t")
    assert done.version == 1 and done.operation == "WRITE"
    assert _rows(spark, uri) == [(1, "a"), (2, "B")]


def test_replace_if_changed_commits_only_a_different_content(spark, uri):
    assert delta_io.replace_if_changed(spark, _frame(spark, []), uri, name="t").outcome == "created"   # even empty
    assert delta_io.replace_if_changed(spark, _frame(spark, []), uri, name="t").outcome == "unchanged"
    assert delta_io.replace_if_changed(spark, _frame(spark, [(1, "a")]), uri, name="t").version == 1
    assert delta_io.replace_if_changed(spark, _frame(spark, [(1, "a")]), uri, name="t").outcome == "unchanged"
    assert delta_io.replace_if_changed(spark, _frame(spark, [(1, "b")]), uri, name="t").version == 2


def _lake(tmp_path):
    from etl.config import load_config

    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})


def test_a_first_load_appends_without_comparing_keys_and_the_next_checks_the_stored_keys(spark, tmp_path):
    """A first load has no stored key to compare with (no table, or one without files: the checksum file
    says so without a Spark job): an append. Once rows are stored, the same rows again change nothing."""
    from datetime import datetime

    from etl import catalog
    from etl.bronze.manifest import ManifestEntry, record

    uri = catalog.table("ops", "file_manifest").uri(_lake(tmp_path))
    assert delta_io.stored_files(spark, uri) == 0
    entry = ManifestEntry("sales", "sales/a.csv", 10, "c1", "r1", "ingested")
    record(spark, uri, [entry], datetime(2026, 11, 22))
    assert _operations(spark, uri) == ["WRITE"] and delta_io.stored_files(spark, uri) == 1
    record(spark, uri, [entry], datetime(2026, 11, 23))
    assert _operations(spark, uri) == ["WRITE"]


def test_a_table_its_stage_never_wrote_reads_as_one_line_naming_that_stage_or_as_no_rows(spark, tmp_path):
    """``read``: a one-line error that says which stage writes the table; ``read_or_empty``: no rows with
    the catalogue's columns (a feed never delivered); an uncatalogued path has no schema to stand in."""
    from etl import catalog
    from etl.delta_io import _catalogued_schema, schema_differences
    from etl.errors import MissingTableError

    uri = catalog.table("silver", "transactions").uri(_lake(tmp_path))
    with pytest.raises(MissingTableError, match=r"no Delta table at .*/silver/transactions: silver/transactions "
                                                r"is written by the silver stage, which has not written it"):
        delta_io.read(spark, uri)
    with pytest.raises(MissingTableError, match="written by the silver stage"):
        delta_io.read(spark, uri, version=delta_io.current_version(spark, uri))
    empty = delta_io.read_or_empty(spark, uri)
    assert empty.isEmpty() and schema_differences(empty.schema, _catalogued_schema("silver", "transactions")) == []
    with pytest.raises(MissingTableError, match="not a table of the catalogue"):
        delta_io.read_or_empty(spark, str(tmp_path / "elsewhere" / "thing"))


def test_sql_strings_quote_what_a_key_may_hold(spark):
    keys = ["plain", "it's", "back\\slash"]
    found = spark.createDataFrame([(k,) for k in keys], "k string").filter(f"k IN ({delta_io.sql_strings(keys)})")
    assert found.count() == 3


def test_every_table_write_logs_one_line_with_its_table_operation_rows_and_seconds(spark, tmp_path, caplog):
    """A stage that writes is never silent: one INFO line per write (an upsert's inner append is part of it)."""
    uri = str(tmp_path / "silver" / "things")
    changed = "NOT (s.name <=> t.name)"
    with caplog.at_level("INFO", logger="etl.delta_io"):
        delta_io.upsert(spark, _frame(spark, [(1, "a"), (2, "b")]), uri, ["id"], name="t", changed_when=changed)
        delta_io.upsert(spark, _frame(spark, [(1, "a")]), uri, ["id"], name="t", changed_when=changed)
        delta_io.upsert(spark, _frame(spark, [(2, "B"), (3, "c")]), uri, ["id"], name="t", changed_when=changed)
    lines = [r.getMessage() for r in caplog.records if r.name == "etl.delta_io"]
    assert len(lines) == 3, lines
    pattern = r"table silver/things \(upsert\): {} in \d+\.\d s{}"
    assert re.fullmatch(pattern.format("created 2 rows", r" \(WRITE, version 0\)"), lines[0]), lines[0]
    assert re.fullmatch(pattern.format("unchanged, no commit, 0 rows", ""), lines[1]), lines[1]
    assert re.fullmatch(pattern.format("merged 3 rows", r" \(MERGE, version 1\)"), lines[2]), lines[2]


def test_a_host_not_in_utc_costs_no_extra_spark_work_per_commit(spark, tmp_path):
    """Delta re-reads a table's whole state on every commit when the driver JVM's time zone is not UTC
    (etl.spark.JVM_TIME_ZONE); the session pins it, so an append stays one Spark job.

    Jobs are counted by a job group of the test's own (the status tracker keeps the newest jobs); the SQL
    status store would not do, as it stops counting once a long test session holds its 1,000 executions."""
    from etl.spark import pin_jvm_time_zone

    jvm = spark.sparkContext._jvm
    zone, prop = jvm.java.util.TimeZone.getDefault(), jvm.java.lang.System.getProperty("user.timezone")
    uri = str(tmp_path / "tz")
    delta_io.append(spark, _frame(spark, [(0, "a")]), uri, name="t")

    def cost_of_one_append(group: str) -> int:
        context = spark.sparkContext
        context.setLocalProperty("spark.jobGroup.id", group)
        try:
            delta_io.append(spark, _frame(spark, [(1, "b")]), uri, name="t")
        finally:
            context.setLocalProperty("spark.jobGroup.id", None)
        return len(context.statusTracker().getJobIdsForGroup(group))

    try:
        jvm.java.util.TimeZone.setDefault(jvm.java.util.TimeZone.getTimeZone("Europe/Berlin"))
        jvm.java.lang.System.setProperty("user.timezone", "Europe/Berlin")
        in_berlin = cost_of_one_append("tz-test-berlin")
        pin_jvm_time_zone(spark)
        pinned = cost_of_one_append("tz-test-pinned")
        pinned_zone = jvm.java.util.TimeZone.getDefault().getID(), jvm.java.lang.System.getProperty("user.timezone")
    finally:
        jvm.java.util.TimeZone.setDefault(zone)
        jvm.java.lang.System.setProperty("user.timezone", prop)
    assert pinned < in_berlin, (pinned, in_berlin)          # the verification's state reconstruction is gone
    assert pinned_zone == ("UTC", "UTC")


def test_the_pipeline_session_runs_its_jvm_in_utc(spark):
    jvm = spark.sparkContext._jvm
    assert jvm.java.util.TimeZone.getDefault().getID() == "UTC"
    assert jvm.java.lang.System.getProperty("user.timezone") == "UTC"


def test_schema_differences_name_what_is_missing_added_or_retyped_and_ignore_order_and_nullability():
    from pyspark.sql.types import ArrayType, IntegerType, LongType, StringType, StructField, StructType

    expected = StructType([StructField("id", LongType(), False), StructField("name", StringType()),
                           StructField("tags", ArrayType(StringType(), False))])
    same = StructType([StructField("tags", ArrayType(StringType(), True)), StructField("name", StringType()),
                       StructField("id", LongType(), True)])
    assert delta_io.schema_differences(same, expected) == []
    wrong = StructType([StructField("id", IntegerType()), StructField("extra", StringType()),
                        StructField("tags", ArrayType(StringType()))])
    assert delta_io.schema_differences(wrong, expected) == [
        "missing name string", "unexpected extra string", "id is int, the catalogue says bigint"]


def test_a_frame_that_does_not_match_its_catalogue_schema_is_refused_before_anything_is_written(spark, tmp_path):
    from etl import catalog
    from etl.errors import SchemaMismatchError

    uri = str(tmp_path / "lake" / "ops" / "dq_results")
    schema = catalog.table("ops", "dq_results").schema
    good = spark.createDataFrame([], schema)
    for write in (lambda f: delta_io.append(spark, f, uri, name="dq_results"),
                  lambda f: delta_io.overwrite(spark, f, uri, name="dq_results"),
                  lambda f: delta_io.replace_where(spark, f, uri, "true", name="dq_results"),
                  lambda f: delta_io.upsert(spark, f, uri, ["run_id"], name="dq_results", changed_when=None)):
        for bad, says in ((good.drop("severity"), "missing severity string"),
                          (good.withColumn("failed_rows", good.failed_rows.cast("int")),
                           "failed_rows is int, the catalogue says bigint")):
            with pytest.raises(SchemaMismatchError, match=f"nothing was written to ops/dq_results: .*{says}"):
                write(bad)
    assert not (tmp_path / "lake").exists()                       # refused before any Spark job or file
    assert delta_io.append(spark, good.select(*reversed(good.columns)), uri, name="dq_results").outcome == "created"


def test_a_table_outside_the_catalogue_is_written_as_it_comes(spark, uri):
    assert delta_io.append(spark, _frame(spark, [(1, "a")]), uri, name="t").outcome == "created"


def test_the_write_that_creates_a_table_sets_its_catalogue_properties_in_that_same_commit(spark, tmp_path):
    """silver/transactions is created with its change data feed on: no ALTER TABLE commit after it, and
    gold finds the feed on. A table without catalogue properties gets none."""
    from etl import catalog
    from etl.contracts import silver as contract
    from etl.gold.build import _enable_change_feed

    cfg = _lake(tmp_path)
    uri = catalog.table("silver", "transactions").uri(cfg)
    delta_io.append(spark, spark.createDataFrame([], contract.TRANSACTIONS), uri, name="transactions")
    assert delta_io.table_property(spark, uri, "delta.enableChangeDataFeed") == "true"
    assert _enable_change_feed(spark, uri) is False and _operations(spark, uri) == ["WRITE"]

    lines = catalog.table("silver", "sales_lines").uri(cfg)
    delta_io.append(spark, spark.createDataFrame([], contract.SALES_LINES), lines, name="sales_lines")
    assert delta_io.table_property(spark, lines, "delta.enableChangeDataFeed") is None
