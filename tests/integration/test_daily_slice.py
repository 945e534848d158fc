"""The thin slice end to end on real parts: MinIO over s3a, Delta tables, MariaDB over JDBC, Excel.

The job runs as ``etl run`` in its own process, twice for the same date; the
second run must change nothing a consumer can see.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import load_workbook

from etl.export.mysql import Connection, target_for
from etl.export.excel import PERCENT_SUFFIXES, as_fraction, header_text
from etl.gold.sales_team import COLUMNS as MART_COLUMNS
from tests.integration.conftest import SLICE_OPTS as OPTS, SLICE_RUN_DATE as RUN_DATE, etl_in_process

pytestmark = pytest.mark.integration



def _comparable(row):
    """Excel stores numbers as int/float; compare every number as an exact decimal of its text."""
    return tuple(Decimal(str(v)) if isinstance(v, (int, float, Decimal)) else v for v in row)


def _rows(frame, order):
    return [tuple(r) for r in frame.orderBy(*order).collect()]


def _mysql_rows(spark, cfg, secret):
    with Connection(spark, target_for(cfg, secret)) as conn:
        return conn.query(f"SELECT {', '.join(MART_COLUMNS)} FROM sales_team_data_mart "
                          "ORDER BY store_id, sales_person_id, sales_month")


def gold_table(spark, cfg, version=None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(f"{cfg.storage.lake}/gold/sales_team_data_mart")


def test_layers_exist_on_minio_with_expected_counts(local_slice_run, s3_spark):
    _, cfg, _, first = local_slice_run
    lake = cfg.storage.lake
    expected_sales = OPTS.days * OPTS.sales_per_day
    assert s3_spark.read.format("delta").load(f"{lake}/bronze/sales").count() == expected_sales
    store_sales = s3_spark.read.format("delta").load(f"{lake}/silver/transactions").filter("channel = 'store'")
    assert store_sales.count() == expected_sales
    assert s3_spark.read.format("delta").load(f"{lake}/bronze/sales_team").count() == 9
    gold = gold_table(s3_spark, cfg)
    # 3 stores x 3 salespersons, one month of sales, all of them selling with 40 sales a day.
    assert gold.count() == 9
    assert gold.agg({"total_sales": "sum"}).first()[0] == store_sales.agg({"amount": "sum"}).first()[0]
    assert f"  silver sales        rows in {expected_sales}, to silver {expected_sales}, quarantined 0" in first.stdout
    assert "gold sales_team_data_mart     9 row(s) at s3a://lake/slice/gold/sales_team_data_mart" in first.stdout


def test_mysql_and_excel_hold_exactly_the_gold_rows(local_slice_run, s3_spark):
    stack, cfg, _, first = local_slice_run
    gold = _rows(gold_table(s3_spark, cfg), ["store_id", "sales_person_id", "sales_month"])
    mysql = _mysql_rows(s3_spark, cfg, stack.secret)
    as_text = [tuple(None if v is None else str(v) for v in row) for row in gold]
    assert mysql == as_text

    report = load_workbook(cfg.path(cfg.excel.output_dir) / "Daily_Report_20261122.xlsx", read_only=True)
    sheet = report["Sales_Team_Data_Mart"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == [header_text(c) for c in MART_COLUMNS]      # headers in words
    by_store_month = sorted(values[1:], key=lambda r: (r[0], r[1], r[3]))
    # a percentage is a fraction in a 0.00% cell (the lake holds it x100)
    percent = [c.endswith(PERCENT_SUFFIXES) for c in MART_COLUMNS]
    expected = [tuple(as_fraction(v) if p else v for v, p in zip(row, percent)) for row in gold]
    assert [_comparable(row) for row in by_store_month] == [_comparable(row) for row in expected]
    assert "excel uploaded: s3a://exports/slice/reports/2026-11-22/Daily_Report_20261122.xlsx" in first.stdout


def test_second_run_changes_nothing_and_time_travel_works(local_slice_run, s3_spark):
    stack, cfg, env, _ = local_slice_run
    lake = cfg.storage.lake
    gold_before = _rows(gold_table(s3_spark, cfg), ["store_id", "sales_person_id", "sales_month"])
    mysql_before = _mysql_rows(s3_spark, cfg, stack.secret)
    bronze_before = s3_spark.read.format("delta").load(f"{lake}/bronze/sales").count()

    second = etl_in_process(stack, s3_spark, env, ["run", "--date", RUN_DATE.isoformat()])   # no JVM start
    assert second.returncode == 0, second.stderr[-3000:]
    # The first run archived what it ingested, so the second finds nothing new.
    assert "bronze sales       files ingested 0, rejected 0, duplicate 0, rows 0" in second.stdout

    assert s3_spark.read.format("delta").load(f"{lake}/bronze/sales").count() == bronze_before
    assert _rows(gold_table(s3_spark, cfg), ["store_id", "sales_person_id", "sales_month"]) == gold_before
    assert _mysql_rows(s3_spark, cfg, stack.secret) == mysql_before
    # The gold table was rewritten by the second run; its previous version is still readable.
    assert _rows(gold_table(s3_spark, cfg, version=0), ["store_id", "sales_person_id", "sales_month"]) == gold_before


def test_every_table_the_run_wrote_is_in_the_catalogue_with_its_schema(local_slice_run, s3_spark):
    """The catalogue (etl/catalog.py) is the one list of tables: a table written outside it, or with other
    columns or types than it says, fails here."""
    from pyspark.sql.types import StructType

    from etl.catalog import TABLES

    _, cfg, _, _ = local_slice_run
    jvm = s3_spark.sparkContext._jvm
    lake = jvm.org.apache.hadoop.fs.Path(cfg.storage.lake)
    fs = lake.getFileSystem(s3_spark.sparkContext._jsc.hadoopConfiguration())
    written = sorted(f"{s.getPath().getParent().getParent().getName()}/{s.getPath().getParent().getName()}"
                     for s in fs.globStatus(jvm.org.apache.hadoop.fs.Path(f"{cfg.storage.lake}/*/*/_delta_log")))
    catalogued = {t.key: t for t in TABLES}
    assert set(written) <= set(catalogued), set(written) - set(catalogued)
    assert {"bronze/sales", "silver/transactions", "gold/customers_data_mart", "ops/runs"} <= set(written)
    for key in written:
        stored = s3_spark.read.format("delta").load(f"{cfg.storage.lake}/{key}").schema
        schema = catalogued[key].schema
        expected = schema if isinstance(schema, StructType) else StructType.fromDDL(schema)
        # Types compared without nullability: Delta stores the columns of a DataFrame write as nullable.
        assert ([(f.name, f.dataType.simpleString()) for f in stored]
                == [(f.name, f.dataType.simpleString()) for f in expected]), key
