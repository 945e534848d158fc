"""``etl maintain`` on real Delta tables in a local-disk lake: fewer files, the same rows, right figures."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from types import SimpleNamespace

import pytest

from etl.cli import main
from etl.config import load_config
from etl.ops.maintain import Footprint, MaintenanceReport, TableMaintenance, footprint, maintain_lake

APPENDS = 3


def _lake_config(tmp_path, **env):
    return load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake"), **env})


def _small_appends(spark, uri: str, appends: int) -> None:
    for i in range(appends):
        spark.range(i * 10, i * 10 + 10).coalesce(1).write.format("delta").mode("append").save(uri)


@pytest.fixture(scope="module")
def maintained(spark, tmp_path_factory):
    """A lake of two tables made of small appends and a folder that is no table, after `etl maintain`."""
    tmp_path = tmp_path_factory.mktemp("maintain")
    cfg = _lake_config(tmp_path)
    sales, dq = f"{cfg.storage.lake}/bronze/sales", f"{cfg.storage.lake}/ops/dq_results"
    _small_appends(spark, sales, APPENDS)
    _small_appends(spark, dq, 2)
    (tmp_path / "lake" / "gold" / "not_a_table").mkdir(parents=True)     # no _delta_log: left alone
    before = {"sales": footprint(spark, sales), "dq": footprint(spark, dq)}
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(out):
        mp.setenv("ETL__STORAGE__LAKE", cfg.storage.lake)
        code = main(["maintain", "--profile", "local"])
        unknown = main(["maintain", "--profile", "local", "--tables", "gold/nothing"])
    after = {"sales": footprint(spark, sales), "dq": footprint(spark, dq)}
    first = sorted(r.id for r in spark.read.format("delta").option("versionAsOf", 0).load(sales).collect())
    # Then with the retention set to 0 days, explicitly: the files the compaction replaced go.
    short = maintain_lake(spark, _lake_config(tmp_path, ETL__OPS__TIME_TRAVEL_DAYS="0"), only=("bronze/sales",))
    return SimpleNamespace(cfg=cfg, sales=sales, dq=dq, before=before, after=after, code=code, unknown=unknown,
                           lines=out.getvalue().splitlines(), first_version=first, short=short)


def test_maintain_compacts_and_keeps_rows_and_time_travel_within_the_retention(spark, maintained):
    m = maintained
    assert m.code == 0
    assert m.before["sales"].files == APPENDS and m.before["dq"].files == 2
    assert m.after["sales"].files == 1 and m.after["dq"].files == 1
    assert spark.read.format("delta").load(m.sales).count() == APPENDS * 10
    # 7 days of retention: the replaced small files were minutes old, so time travel still read them.
    assert m.first_version == list(range(10))


def test_the_report_gives_delta_figures_aligned_with_totals(maintained):
    m = maintained
    header = next(i for i, line in enumerate(m.lines) if line.startswith("table "))
    assert "168 h (7 day(s))" in m.lines[header - 1]
    table = m.lines[header:header + 5]
    assert len({len(line) for line in table}) == 1, "columns are aligned"
    rows = {line.split()[0]: [int(v.replace(",", "")) for v in line.split()[1:]] for line in table[1:3]}
    assert list(rows) == ["bronze/sales", "ops/dq_results"], "layer order, no stray folder"
    assert rows["bronze/sales"] == [APPENDS, 1, m.before["sales"].bytes, m.after["sales"].bytes, 0, 0]
    assert rows["ops/dq_results"] == [2, 1, m.before["dq"].bytes, m.after["dq"].bytes, 0, 0]
    assert table[4].startswith("total (2 table(s))")
    assert [int(v.replace(",", "")) for v in table[4].split()[3:]] == [sum(col) for col in zip(*rows.values())]
    assert m.unknown == 3, "an unknown --tables name is a usage error"


def test_a_retention_below_delta_safety_check_is_honoured_when_set_and_ends_older_time_travel(spark, maintained):
    m = maintained
    row, = m.short.tables
    assert m.short.retention_hours == 0
    assert (row.vacuumed_files, row.vacuumed_bytes) == (APPENDS, m.before["sales"].bytes)
    assert row.before == row.after == m.after["sales"]
    assert spark.read.format("delta").load(m.sales).count() == APPENDS * 10
    with pytest.raises(Exception):
        spark.read.format("delta").option("versionAsOf", 0).load(m.sales).collect()
    # The session's own safety check is back on afterwards.
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", "true") != "false"


def test_a_failed_table_is_listed_and_left_out_of_the_totals():
    ok = TableMaintenance("silver/a", "u", Footprint(5, 500), Footprint(1, 450), 2, 100)
    bad = TableMaintenance("silver/b", "u", Footprint(0, 0), Footprint(0, 0), error="boom")
    report = MaintenanceReport("file:///lake", 168, [ok, bad])
    assert report.failed == [bad]
    assert report.totals().before == Footprint(5, 500)
    assert report.lines()[-1] == "FAILED silver/b: boom"


def test_maintain_takes_the_run_lock_and_exits_5_while_a_run_holds_it(spark, tmp_path, monkeypatch, capsys):
    """The real lock of the local profile (an flock on <lake>/ops/_lock.json, as a run takes it): while
    a run holds it, `etl maintain` commits nothing and exits with the lock's code; otherwise it holds
    the lock itself, named as maintenance, while it OPTIMIZEs and VACUUMs, and releases it."""
    from etl.errors import EXIT_LOCKED
    from etl.ops import maintain as maintain_module
    from etl.ops.lock import LOCK_KEY, FileRunLock, LockOwner

    cfg = _lake_config(tmp_path)
    sales = f"{cfg.storage.lake}/bronze/sales"
    _small_appends(spark, sales, APPENDS)
    monkeypatch.setenv("ETL__STORAGE__LAKE", cfg.storage.lake)
    lock_path = tmp_path / "lake" / LOCK_KEY
    run = FileRunLock(lock_path, LockOwner("20261123T015750Z-abc123", "etl-1", 4242))
    with run.held():
        capsys.readouterr()
        code = main(["maintain", "--profile", "local"])
        err = capsys.readouterr().err
        assert code == EXIT_LOCKED == 5
        assert err.startswith(f"etl: error: another run holds the lock {lock_path}: run 20261123T015750Z-abc123 "
                              f"on host etl-1 (pid 4242)") and err.count("\n") == 1
        assert footprint(spark, sales).files == APPENDS            # nothing was compacted
    held_by = []
    maintain_table = maintain_module.maintain_table

    def recording(*args, **kwargs):
        held_by.append(FileRunLock(lock_path, LockOwner("reader", "h", 1)).read())
        return maintain_table(*args, **kwargs)

    monkeypatch.setattr(maintain_module, "maintain_table", recording)
    assert main(["maintain", "--profile", "local"]) == 0
    assert footprint(spark, sales).files == 1
    assert len(held_by) == 1 and held_by[0].owner.run_id.startswith("maintain-")
    assert FileRunLock(lock_path, LockOwner("reader", "h", 1)).read() is None    # released at the end
