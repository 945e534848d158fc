"""``etl run`` options without Spark: --date / --from --to / --dry-run parsing, the backfill loop
(stages replaced by a recorder), and the local profile's file lock (exit 5 while held)."""

from __future__ import annotations

from datetime import date

import pytest

from etl.run import stages as run_stages
from etl.cli import build_parser, main, run_dates_of
from etl.errors import ConfigError, DataQualityError, LockError
from etl.ops.lock import FileRunLock, LockOwner

D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """The local profile with its lake and landing in a temporary folder."""
    monkeypatch.setenv("ETL__STORAGE__LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL__STORAGE__LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("ETL__EXCEL__OUTPUT_DIR", str(tmp_path / "exports"))
    return tmp_path / "lake"


@pytest.fixture
def recorded(monkeypatch):
    """Run's stages replaced by a recorder: (run date, run id, stage) in call order; ``fail`` maps a
    date to the exception its silver stage raises."""
    calls, fail = [], {}

    def stage(name):
        def run_stage(run):
            calls.append((run.run_date, run.run_id, name))
            if name == "silver" and run.run_date in fail:
                raise fail[run.run_date]
        return run_stage

    for each in run_stages.PIPELINE:
        monkeypatch.setattr(each, "run", stage(each.name))
    return calls, fail


def errors(stderr: str) -> list[str]:
    """The CLI's one-line errors (log lines share stderr)."""
    return [line for line in stderr.splitlines() if line.startswith("etl: error:")]


def parse(*argv):
    return build_parser().parse_args(["run", *argv])


def test_date_from_to_and_dry_run_are_parsed():
    args = parse("--from", "2026-11-20", "--to", "2026-11-22", "--dry-run", "--stages", "gold,export")
    assert (args.from_date, args.to_date, args.date, args.dry_run) == (D1, D3, None, True)
    assert run_dates_of(args) == (D1, D3)
    assert run_dates_of(parse("--date", "2026-11-21")) == (D2, D2)
    assert parse().dry_run is False


def test_date_and_from_are_mutually_exclusive(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse("--date", "2026-11-21", "--from", "2026-11-20", "--to", "2026-11-22")
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (("--from", "2026-11-20"), "needs both --from D1 and --to D2"),
    (("--to", "2026-11-20"), "needs both --from D1 and --to D2"),
    (("--from", "2026-11-22", "--to", "2026-11-20"), "--from 2026-11-22 is after --to 2026-11-20"),
])
def test_an_incomplete_or_reversed_range_is_a_config_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        run_dates_of(parse(*argv))


def test_a_bad_date_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse("--from", "2026-13-01", "--to", "2026-11-22")
    assert "'2026-13-01' is not a real date (month must be in 1..12)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--date", "22.11.2026")
    assert "'22.11.2026' is not a date in YYYY-MM-DD form" in capsys.readouterr().err


def test_dry_run_lists_reads_and_writes_per_stage_and_writes_nothing(lake, tmp_path, capsys, recorded):
    calls, _ = recorded
    (tmp_path / "landing" / "sales").mkdir(parents=True)
    (tmp_path / "landing" / "sales" / "s1.csv").write_text("a,b\n1,2\n")
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(["run", "--profile", "local", "--dry-run", "--date", "2026-11-22", "--stages", "ingest,gold"]) == 0
    out = capsys.readouterr().out
    assert sorted(p for p in tmp_path.rglob("*")) == before       # nothing written, not even the lock file
    assert calls == []
    assert "dry run for 2026-11-22 (profile local), stages ingest,gold" in out
    assert f"lock: would take {lake}/ops/_lock.json; now free" in out
    assert "sales         1 file(s), 8 byte(s): sales/s1.csv" in out
    assert f"writes bronze {lake.as_uri()}/bronze/stores" in out
    assert f"writes gold {lake.as_uri()}/gold/customers_data_mart" in out
    assert "silver:" not in out and "export:" not in out


def test_dry_run_of_export_names_the_excel_path_and_mysql_state(lake, tmp_path, capsys):
    assert main(["run", "--profile", "local", "--dry-run", "--date", "2026-11-22", "--stages", "export"]) == 0
    out = capsys.readouterr().out
    assert f"writes Excel {tmp_path / 'exports' / 'Daily_Report_20261122.xlsx'}" in out
    assert "MySQL: skipped (mysql.enabled is false)" in out


def test_dry_run_of_export_lists_the_ops_tables_served_with_gold(lake, tmp_path, capsys, monkeypatch):
    """The quality results and the rejected files go to MySQL with the gold tables: the plan says so."""
    monkeypatch.setenv("ETL__MYSQL__ENABLED", "true")
    secrets = tmp_path / "secrets"                      # the run checks its stages' secrets before it plans
    secrets.mkdir()
    for name in ("mysql_user", "mysql_password"):
        (secrets / name).write_text("unused-by-a-dry-run")
    monkeypatch.setenv("ETL__SECRETS__SOURCE", "folder")
    monkeypatch.setenv("ETL__SECRETS__FOLDER", str(secrets))
    assert main(["run", "--profile", "local", "--dry-run", "--date", "2026-11-22", "--stages", "export"]) == 0
    out = capsys.readouterr().out
    reads = next(line for line in out.splitlines() if line.strip().startswith("reads ops "))
    assert f"{lake.as_uri()}/ops/dq_results as dq_results" in reads
    assert f"{lake.as_uri()}/ops/file_manifest as rejected_files" in reads
    writes = next(line for line in out.splitlines() if "writes MySQL" in line)
    assert writes.endswith(", dq_results, rejected_files")
    assert "customers_data_mart" in writes and "kpi_revenue_forecast" in writes


def test_backfill_runs_each_date_in_order_with_its_own_run_id(lake, capsys, recorded):
    calls, _ = recorded
    assert main(["run", "--profile", "local", "--from", "2026-11-20", "--to", "2026-11-22",
                 "--stages", "ingest,silver"]) == 0
    assert [(day, stage) for day, _, stage in calls] == [
        (D1, "ingest"), (D1, "silver"), (D2, "ingest"), (D2, "silver"), (D3, "ingest"), (D3, "silver")]
    run_ids = [run_id for _, run_id, _ in calls[::2]]
    assert len(set(run_ids)) == 3
    out = capsys.readouterr().out
    assert [line.split(" for ")[1].split(" ")[0] for line in out.splitlines() if line.startswith("run ")] == \
        ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert "backfill 2026-11-20..2026-11-22: 3 run(s) done" in out
    assert FileRunLock(lake / "ops" / "_lock.json", LockOwner("x", "h", 1)).read() is None   # released


def test_backfill_stops_at_the_first_failure_with_its_code_and_the_resume_command(lake, capsys, recorded):
    calls, fail = recorded
    fail[D2] = DataQualityError("feed sales: 12 of 40 row(s) failed rule quantity_not_positive")
    code = main(["run", "--profile", "local", "--from", "2026-11-20", "--to", "2026-11-22", "--stages",
                 "ingest,silver"])
    assert code == 4
    assert [day for day, _, _ in calls] == [D1, D1, D2, D2]       # date 3 never started
    err = errors(capsys.readouterr().err)
    assert len(err) == 1
    assert err[0].startswith("etl: error: backfill stopped at 2026-11-21 (run ")
    assert "date 2 of 3; 2026-11-20..2026-11-20 done): feed sales: 12 of 40 row(s) failed" in err[0]
    assert err[0].endswith("resume with: etl run --from 2026-11-21 --to 2026-11-22 --profile local "
                           "--stages ingest,silver")
    assert FileRunLock(lake / "ops" / "_lock.json", LockOwner("x", "h", 1)).read() is None   # released


def test_an_unexpected_failure_stops_the_backfill_with_exit_1(lake, capsys, recorded):
    _, fail = recorded
    fail[D1] = RuntimeError("boom")
    assert main(["run", "--profile", "local", "--from", "2026-11-20", "--to", "2026-11-21"]) == 1
    assert "backfill stopped at 2026-11-20 (run " in capsys.readouterr().err


def test_a_run_while_the_local_lock_is_held_exits_5_naming_the_holder(lake, capsys, recorded):
    calls, _ = recorded
    holder = FileRunLock(lake / "ops" / "_lock.json", LockOwner("20261122T010000Z-abcdef", "night-host", 4242))
    with holder.held():
        assert main(["run", "--profile", "local", "--date", "2026-11-22"]) == 5
        assert main(["run", "--profile", "local", "--from", "2026-11-20", "--to", "2026-11-21"]) == 5
        assert main(["run", "--profile", "local", "--dry-run", "--date", "2026-11-22"]) == 0   # takes no lock
    err = capsys.readouterr()
    assert calls == []
    first = errors(err.err)[0]
    assert first.startswith(f"etl: error: another run holds the lock {lake}/ops/_lock.json: "
                            "run 20261122T010000Z-abcdef on host night-host (pid 4242), since ")
    assert "now held by run 20261122T010000Z-abcdef on host night-host" in err.out
    assert main(["run", "--profile", "local", "--date", "2026-11-22", "--stages", "ingest"]) == 0   # free again


def test_file_lock_refuses_a_second_holder_and_names_the_current_run(tmp_path):
    path = tmp_path / "ops" / "_lock.json"
    first = FileRunLock(path, LockOwner("run-1", "h", 1))
    first.acquire()
    first.refresh(run_id="run-2")        # a backfill's next date names its own run
    with pytest.raises(LockError, match="run run-2 on host h"):
        FileRunLock(path, LockOwner("other", "h", 2)).acquire()
    first.release()
    second = FileRunLock(path, LockOwner("other", "h", 2))
    second.acquire()
    second.release()


def test_the_spark_submit_entry_point_takes_the_same_arguments(lake, tmp_path):
    """jobs/daily_etl.py is `etl run`: a backfill dry run through it (no Spark starts for a dry run)."""
    import os
    import subprocess
    import sys

    from etl.config import PROJECT_ROOT

    done = subprocess.run([sys.executable, "jobs/daily_etl.py", "--profile", "local", "--dry-run",
                           "--from", "2026-11-21", "--to", "2026-11-22", "--stages", "gold"],
                          cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split(",")[0] for line in done.stdout.splitlines() if line.startswith("dry run")] == [
        "dry run for 2026-11-21 (profile local)", "dry run for 2026-11-22 (profile local)"]
    assert not (lake / "ops").exists()


def test_files_in_folders_dated_after_the_run_date_wait_for_their_run():
    from etl.bronze.ingest import due_files, folder_date
    from etl.storage import StoredFile

    keys = ["sales/2026-11-20/a.csv", "sales/2026-11-21/north/b.csv", "sales/2026-11-22/c.csv", "sales/d.csv",
            "sales/2026-13-01/e.csv", "customers/customers_2026-11-22.csv"]
    files = [StoredFile(uri=k, key=k, size=1) for k in keys]
    due, waiting = due_files(files, D2)
    assert [f.key for f in waiting] == ["sales/2026-11-22/c.csv"]
    assert [f.key for f in due] == [k for k in keys if k != "sales/2026-11-22/c.csv"]
    assert due_files(files, None) == (files, [])
    assert folder_date("sales/2026-11-21/north/b.csv") == D2 and folder_date("sales/20261121/x.csv") is None


def test_dry_run_counts_files_waiting_for_a_later_date(lake, tmp_path, capsys):
    for day in ("2026-11-21", "2026-11-22"):
        (tmp_path / "landing" / "sales" / day).mkdir(parents=True)
        (tmp_path / "landing" / "sales" / day / "s.csv").write_text("a\n")
    assert main(["run", "--profile", "local", "--dry-run", "--date", "2026-11-21", "--stages", "ingest"]) == 0
    assert ("sales         1 file(s), 2 byte(s): sales/2026-11-21/s.csv (1 more in folders dated after 2026-11-21 "
            "wait)") in capsys.readouterr().out


def test_a_lock_whose_process_on_this_host_is_gone_is_stale_before_its_expiry():
    import os
    import socket
    import subprocess
    from datetime import datetime, timedelta, timezone

    from etl.ops.lock import LockState

    finished = subprocess.Popen(["true"])
    finished.wait()                                   # reaped: its pid no longer exists
    now = datetime.now(timezone.utc)
    later = now + timedelta(hours=2)
    here = socket.gethostname()
    assert LockState(LockOwner("killed", here, finished.pid), now, later).stale(now)
    assert not LockState(LockOwner("alive", here, os.getpid()), now, later).stale(now)
    assert not LockState(LockOwner("elsewhere", "other-host", finished.pid), now, later).stale(now)
    assert LockState(LockOwner("elsewhere", "other-host", 1), now - timedelta(hours=3), now).stale(now)
