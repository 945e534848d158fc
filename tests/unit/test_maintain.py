"""``etl maintain`` on real Delta tables in a local-disk lake: fewer files, the same rows, right figures."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable

from etl.cli import main
from etl.config import load_config
from etl.ops.maintain import Footprint, MaintenanceReport, TableMaintenance, footprint, maintain_lake

APPENDS = 12


def _lake_config(tmp_path, **env):
    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake"), **env})


def _small_appends(spark, uri: str, appends: int) -> None:
    for i in range(appends):
        spark.range(i * 10, i * 10 + 10).coalesce(1).write.format("delta").mode("append").save(uri)


@pytest.fixture
def lake(spark, tmp_path):
    cfg = _lake_config(tmp_path)
    sales = f"{cfg.storage.lake}/bronze/sales"
    _small_appends(spark, sales, APPENDS)
    _small_appends(spark, f"{cfg.storage.lake}/ops/dq_results", 3)
    (tmp_path / "lake" / "gold" / "not_a_table").mkdir(parents=True)     # no _delta_log: left alone
    return cfg, sales


def test_maintain_compacts_keeps_rows_and_time_travel_and_reports_delta_figures(spark, lake):
    cfg, sales = lake
    before = footprint(spark, sales)
    assert before.files == APPENDS

    report = maintain_lake(spark, cfg)

    assert [t.name for t in report.tables] == ["bronze/sales", "ops/dq_results"]
    row = report.tables[0]
    assert row.before == before
    assert row.after == footprint(spark, sales) == Footprint(1, row.after.bytes)
    assert report.tables[1].before.files == 3 and report.tables[1].after.files == 1
    # 7 days of retention: the compacted files are minutes old, so nothing is deleted yet.
    assert (row.vacuumed_files, row.vacuumed_bytes) == (0, 0)
    assert spark.read.format("delta").load(sales).count() == APPENDS * 10
    first = spark.read.format("delta").option("versionAsOf", 0).load(sales)
    assert sorted(r.id for r in first.collect()) == list(range(10))
    totals = report.totals()
    assert totals.before.files == APPENDS + 3 and totals.after.files == 2
    assert totals.after.bytes == sum(t.after.bytes for t in report.tables)

    lines = report.lines()
    assert "168 h (7 day(s))" in lines[0]
    table_lines = lines[1:]
    assert len({len(line) for line in table_lines}) == 1, "columns are aligned"
    assert table_lines[1].split()[:3] == ["bronze/sales", str(APPENDS), "1"]
    assert table_lines[-1].startswith("total (2 table(s))")


def test_a_retention_below_delta_safety_check_is_honoured_when_set_and_ends_older_time_travel(spark, tmp_path):
    cfg = _lake_config(tmp_path, ETL__OPS__TIME_TRAVEL_DAYS="0")
    sales = f"{cfg.storage.lake}/bronze/sales"
    _small_appends(spark, sales, 4)
    before = footprint(spark, sales)

    row = maintain_lake(spark, cfg).tables[0]

    assert (row.vacuumed_files, row.vacuumed_bytes) == (4, before.bytes)
    assert spark.read.format("delta").load(sales).count() == 40
    with pytest.raises(Exception):
        spark.read.format("delta").option("versionAsOf", 0).load(sales).collect()
    # The session's own safety check is back on afterwards.
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", "true") != "false"


def test_the_command_prints_the_report_and_rejects_an_unknown_table(spark, lake, monkeypatch, capsys):
    cfg, sales = lake
    monkeypatch.setenv("ETL__STORAGE__LAKE", cfg.storage.lake)
    assert main(["maintain", "--profile", "local", "--tables", "bronze/sales"]) == 0
    out = capsys.readouterr().out
    assert "bronze/sales" in out and "ops/dq_results" not in out and "total (1 table(s))" in out
    assert DeltaTable.forPath(spark, sales).detail().first()["numFiles"] == 1
    assert main(["maintain", "--profile", "local", "--tables", "gold/nothing"]) == 3


def test_a_failed_table_is_listed_and_left_out_of_the_totals():
    ok = TableMaintenance("silver/a", "u", Footprint(5, 500), Footprint(1, 450), 2, 100)
    bad = TableMaintenance("silver/b", "u", Footprint(0, 0), Footprint(0, 0), error="boom")
    report = MaintenanceReport("file:///lake", 168, [ok, bad])
    assert report.failed == [bad]
    assert report.totals().before == Footprint(5, 500)
    assert report.lines()[-1] == "FAILED silver/b: boom"
