"""Run records, `etl status`, `etl check-freshness` and `etl rollback` on real parts (issue 8).

One module-scoped setup: two `etl run`s on one small generated slice (run date 2026-11-22, then
2026-11-23 with JSON logs), then a run that fails in its silver stage (its quality rules file is
missing), all started in this process like the status, freshness and rollback commands
(``etl.cli.main``; each would otherwise cost a JVM start: `etl run` as a process of its own is
tested by tests/integration/test_recovery.py, test_run_lock.py and the slice run). The tests
read ``ops/runs`` and the gold tables with the session's Spark. The rollback test comes last:
it undoes the second run. Like the other export tests, the module leaves MySQL's
``retail_gold`` holding its own gold.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date

import pytest
from delta.tables import DeltaTable

from devtools.generate import GenerateOptions, generate
from etl import cli
from etl.export.mysql import Connection, target_for
from etl.gold.marts import GOLD_TABLES
from tests.integration.conftest import BIN, etl_in_process, isolated_env, landing_store
from tests.integration.test_mysql_export import mysql_snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # several whole runs: not in make test-quick
OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=20, seed=5, customers=20,
                       orders_per_day=5, events_orders_per_day=5)
# The slice holds 2026-11-20..22: the first run is for its last day, the second for the day after (no new
# data, but gold for another date: every kpi_daily_sales row through D), so the two gold states differ.
FIRST_DATE, SECOND_DATE = date(2026, 11, 22), date(2026, 11, 23)


def _run_id(stdout: str) -> str:
    return re.search(r"^run (\S+) for ", stdout, re.MULTILINE).group(1)


def gold_snapshot(spark, cfg) -> dict[str, list]:
    """Every gold table's rows, sorted (gold is tiny here)."""
    return {name: sorted((tuple(r) for r in spark.read.format("delta").load(f"{cfg.storage.lake}/gold/{name}")
                          .collect()), key=repr) for name in GOLD_TABLES}


def records(spark, cfg) -> dict[str, dict]:
    rows = spark.read.format("delta").load(f"{cfg.storage.lake}/ops/runs").collect()
    return {r.run_id: r.asDict(recursive=True) for r in rows}


@pytest.fixture(scope="module")
def two_runs(stack, s3_spark, tmp_path_factory):
    prefix = f"ops-{uuid.uuid4().hex[:8]}"
    env = isolated_env(prefix)
    cfg = stack.config(**env)
    generate(OPTS, tmp_path_factory.mktemp("gen"), landing_store(stack, prefix), progress=False)
    first = etl_in_process(stack, s3_spark, env, ["run", "--date", FIRST_DATE.isoformat()])
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    gold_after_first = gold_snapshot(s3_spark, cfg)
    with Connection(s3_spark, target_for(cfg, stack.secret)) as conn:
        mysql_after_first = mysql_snapshot(conn)
    # Nothing new to ingest: the second run is gold and export only (each stage costs a busy CI machine).
    second = etl_in_process(stack, s3_spark, env, ["--log-format", "json", "run", "--date", SECOND_DATE.isoformat(),
                                                   "--stages", "gold,export", "--trigger", "cron"])
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    return {"stack": stack, "env": env, "cfg": cfg, "first": first, "second": second,
            "gold_after_first": gold_after_first, "mysql_after_first": mysql_after_first,
            "ids": [_run_id(first.stdout), _run_id(second.stdout)]}


@pytest.fixture
def etl_here(two_runs, monkeypatch, capsys):
    """``etl ARGS`` in this process, configured as the jobs are: (exit code, stdout, stderr)."""
    monkeypatch.setattr("etl.log.setup_logging", lambda *a, **k: None)   # keep pytest's log capture
    for key, value in {**two_runs["stack"].env, **two_runs["env"]}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ETL_MASTER_KEY", raising=False)

    def etl(*args: str, **env: str) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            capsys.readouterr()
            code = cli.main(list(args))
            out, err = capsys.readouterr()
        return code, out, err
    return etl


@pytest.fixture
def failed_run(two_runs, etl_here):
    """A run stopped by its silver stage (the quality rules file cannot be read); started once per module."""
    if "failed" not in two_runs:
        code, out, err = etl_here("run", "--date", SECOND_DATE.isoformat(), "--stages", "silver",
                                  ETL__QUALITY__RULES_FILE="/nonexistent/quality_rules.yaml")
        assert code != 0 and "quality rules file /nonexistent/quality_rules.yaml cannot be read" in err, err
        two_runs["failed"] = _run_id(out)
    return two_runs["failed"]


def test_json_logs_carry_the_run_id(two_runs):
    run_id = two_runs["ids"][1]
    entries = [json.loads(line) for line in two_runs["second"].stderr.splitlines() if line.startswith("{")]
    assert {"stage gold: done", "stage export: done"} <= {e["message"] for e in entries}
    assert {e["run_id"] for e in entries if e["logger"].startswith("etl")} == {run_id}
    # Each gold table's compute has a line of its own (its write line holds only the copy): the benchmark
    # adds the two up per table (benchmarks/run.py gold_table_times).
    computed = {m.split(":")[0].removeprefix("gold ") for e in entries
                if (m := e["message"]).startswith("gold ") and ": computed in " in m}
    assert computed == {"inputs", *GOLD_TABLES}


def test_the_runs_table_holds_every_run_with_its_figures(two_runs, failed_run, s3_spark):
    cfg, (first_id, second_id) = two_runs["cfg"], two_runs["ids"]
    held = records(s3_spark, cfg)
    assert set(held) == {first_id, second_id, failed_run}
    first, second, failed = held[first_id], held[second_id], held[failed_run]

    assert (first["run_date"], first["trigger"], first["status"], first["error"]) == (FIRST_DATE, "cli",
                                                                                     "succeeded", None)
    assert (second["run_date"], second["trigger"], second["status"]) == (SECOND_DATE, "cron", "succeeded")
    assert (first["stages"], second["stages"]) == (["ingest", "silver", "gold", "export"], ["gold", "export"])
    for record in (first, second):
        assert set(record["stage_seconds"]) == set(record["stages"])
        assert all(seconds > 0 for seconds in record["stage_seconds"].values())
        assert record["started_at"] < record["ended_at"]
    rows = {(r["layer"], r["name"]): (r["rows_in"], r["rows_out"], r["rows_quarantined"])
            for r in first["table_rows"]}
    sales = OPTS.days * OPTS.sales_per_day
    assert rows[("bronze", "sales")] == (sales, sales, None)
    assert rows[("silver", "sales")] == (sales, sales, 0)
    for name in GOLD_TABLES:
        assert rows[("gold", name)] == rows[("mysql", name)]
    alerts = s3_spark.read.format("delta").load(f"{cfg.storage.lake}/gold/alerts")
    assert len(second["alerts"]) == alerts.filter(alerts.date == SECOND_DATE).count()
    second_gold = {r["name"]: r["rows_out"] for r in second["table_rows"] if r["layer"] == "gold"}
    for name, count in second_gold.items():
        assert s3_spark.read.format("delta").load(f"{cfg.storage.lake}/gold/{name}").count() == count, name

    # Versions: the first run created gold (v0), the second overwrote it (v1); each recorded version is a
    # commit of that run. The second run ran no ingest or silver stage, so it recorded no such table.
    assert first["table_versions"]["gold/kpi_daily_sales"] == 0
    assert second["table_versions"]["gold/kpi_daily_sales"] == 1
    assert "bronze/sales" in first["table_versions"] and "silver/transactions" in first["table_versions"]
    assert {key.split("/")[0] for key in second["table_versions"]} == {"gold"}
    for record in (first, second):
        for key, version in record["table_versions"].items():
            if key.startswith("gold/"):
                continue        # every gold table is recorded, also one whose empty overwrite made no commit
            commit = (DeltaTable.forPath(s3_spark, f"{cfg.storage.lake}/{key}").history()
                      .filter(f"version = {version}").first())
            assert commit.userMetadata == record["run_id"], key

    assert (failed["status"], failed["stages"], list(failed["stage_seconds"])) == ("failed", ["silver"],
                                                                                   ["silver"])
    assert failed["error"] == ("quality rules file /nonexistent/quality_rules.yaml cannot be read: "
                               "No such file or directory")
    assert failed["table_versions"] == {} and failed["table_rows"] == []


def test_runs_with_an_export_stage_are_recorded_in_mysql_too(two_runs, failed_run, s3_spark):
    """MySQL's etl_run_records holds the same record as ops/runs for SQL consumers; the failed run had no
    export stage, so it never signed in to MySQL."""
    stack, cfg, ids = two_runs["stack"], two_runs["cfg"], [*two_runs["ids"], failed_run]
    held = records(s3_spark, cfg)
    with Connection(s3_spark, target_for(cfg, stack.secret)) as conn:
        rows = conn.query("SELECT run_id, run_date, run_trigger, profile, status, stages, stage_seconds, table_rows, "
                          "table_versions, alerts, error, started_at, ended_at FROM etl_run_records WHERE run_id IN ("
                          + ", ".join(f"'{i}'" for i in ids) + ")")
    mysql = {row[0]: row for row in rows}
    assert set(mysql) == set(two_runs["ids"])
    for run_id in two_runs["ids"]:
        record, row = held[run_id], mysql[run_id]
        assert row[1:6] == (record["run_date"].isoformat(), record["trigger"], "dev", record["status"],
                            ",".join(record["stages"]))
        assert json.loads(row[6]) == pytest.approx(record["stage_seconds"])
        assert json.loads(row[7]) == [[r["layer"], r["name"], r["rows_in"], r["rows_out"], r["rows_quarantined"]]
                                      for r in record["table_rows"]]
        assert (json.loads(row[8]), json.loads(row[9]), row[10]) == (record["table_versions"], record["alerts"], None)
        assert row[11] < row[12]


def test_status_lists_the_runs_and_details_one(two_runs, failed_run, etl_here):
    first_id, second_id = two_runs["ids"]
    code, out, _ = etl_here("status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "id", "run", "date", "trigger", "status", "duration", "rows", "to", "gold",
                                "alerts"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [failed_run, SECOND_DATE.isoformat(), "cli", "failed"],
        [second_id, SECOND_DATE.isoformat(), "cron", "succeeded"],
        [first_id, FIRST_DATE.isoformat(), "cli", "succeeded"]]

    code, out, _ = etl_here("status", "--run", failed_run)
    assert code == 0
    assert out.splitlines()[0].endswith("(profile dev, trigger cli): failed")
    assert "  error: quality rules file /nonexistent/quality_rules.yaml cannot be read: No such file or directory" \
        in out.splitlines()
    code, out, _ = etl_here("status", "--run", second_id)
    assert "  delta versions left: " in out and "gold/kpi_daily_sales v1" in out
    assert re.search(r"^  gold kpi_daily_sales\s+-\s+\d+\s+-$", out, re.MULTILINE)


def test_check_freshness_passes_then_fails_with_a_tiny_max_age(two_runs, failed_run, etl_here):
    code, out, _ = etl_here("check-freshness", "--max-age", "26h")
    assert (code, out.startswith("fresh: last succeeded run ended ")) == (0, True), out
    code, _, err = etl_here("check-freshness", "--max-age", "1s")
    assert code == 6
    assert re.fullmatch(r"etl: error: stale: last succeeded run ended \S+ \S+ UTC, \S+ ago, more than the "
                        r"allowed 1s\n", err), err


def test_status_and_freshness_read_the_records_without_spark_as_spark_reads_them(two_runs, failed_run, s3_spark,
                                                                                 etl_here):
    """delta-rs (the ``deltalake`` package) reads ops/runs from MinIO as the export identity: the same
    records and the same lines as the Spark reader they replace, and no JVM in a process of its own."""
    from etl.run import records as runs

    cfg = two_runs["cfg"]
    by_spark = sorted((runs.as_record(r) for r in s3_spark.read.format("delta").load(runs.runs_uri(cfg)).collect()),
                      key=lambda r: r["started_at"], reverse=True)
    code, out, _ = etl_here("status")
    assert (code, out) == (0, "\n".join(runs.status_lines(by_spark)) + "\n")
    for record in by_spark:
        code, out, _ = etl_here("status", "--run", record["run_id"])
        assert (code, out) == (0, "\n".join(runs.detail_lines(record)) + "\n")

    probe = ("import sys, time; from pyspark import SparkContext; from etl.cli import main; t = time.monotonic(); "
             "code = main(sys.argv[1:]); print(f'jvm={SparkContext._gateway is not None} "
             "seconds={time.monotonic() - t:.2f} code={code}')")
    for args in (["status"], ["check-freshness", "--max-age", "26h"]):
        done = two_runs["stack"].run([str(BIN / "python"), "-c", probe, *args], two_runs["env"])
        assert done.returncode == 0, done.stderr[-2000:]
        said = done.stdout.splitlines()[-1]
        print(f"etl {' '.join(args)} as a process: {said}")
        assert said.startswith("jvm=False ") and said.endswith(" code=0"), said


def test_status_of_an_empty_lake_and_a_wrong_key_are_one_line_each(two_runs, etl_here):
    code, out, _ = etl_here("status", ETL__STORAGE__LAKE="s3a://lake/no-such-prefix")
    assert (code, out) == (0, "no run recorded yet in s3a://lake/no-such-prefix/ops/runs\n")
    code, out, err = etl_here("check-freshness", "--max-age", "26h", ETL__STORAGE__LAKE="s3a://lake/no-such-prefix")
    assert (code, err) == (6, "etl: error: stale: no succeeded run recorded in s3a://lake/no-such-prefix/ops/runs\n")
    # The export identity's keys swapped for the transform identity's names: the lake still reads (both may
    # read it); a secret name that does not exist is a configuration error naming it, never a traceback.
    code, _, err = etl_here("status", ETL__STORAGE__S3__STAGE_CREDENTIALS__EXPORT__ACCESS_KEY_SECRET="no_such_secret")
    assert code == 3 and err.startswith("etl: error: ") and "no_such_secret" in err and len(err.splitlines()) == 1
    # A key of another identity: MinIO refuses the signature; one line, without the key.
    other = two_runs["cfg"].storage.s3.identity("ingest").secret_key_secret     # the name, not the value
    code, _, err = etl_here("status", **{"ETL__STORAGE__S3__STAGE_CREDENTIALS__EXPORT__SECRET_KEY_SECRET": other})
    assert code == 1 and err.startswith("etl: error: cannot read the run records in s3a://lake/") and \
        len(err.splitlines()) == 1, err
    assert two_runs["stack"].secret(other) not in err


def test_rollback_of_the_second_run_restores_gold_and_mysql(two_runs, failed_run, etl_here, s3_spark):
    stack, cfg, (first_id, second_id) = two_runs["stack"], two_runs["cfg"], two_runs["ids"]
    assert gold_snapshot(s3_spark, cfg) != two_runs["gold_after_first"]    # the second run changed gold

    code, out, err = etl_here("rollback", "--run", second_id)
    assert code == 0, err
    assert f"  rolled back run {second_id}: gold as left by run {first_id} for {FIRST_DATE}" in out
    assert f"  gold {'kpi_daily_sales':<24} restored to v0 (was v1)" in out

    assert gold_snapshot(s3_spark, cfg) == two_runs["gold_after_first"]
    with Connection(s3_spark, target_for(cfg, stack.secret)) as conn:
        assert mysql_snapshot(conn) == two_runs["mysql_after_first"]
    rollback = [r for r in records(s3_spark, cfg).values() if r["trigger"] == "rollback"]
    assert len(rollback) == 1
    assert (rollback[0]["status"], rollback[0]["run_date"], rollback[0]["stages"]) == (
        "succeeded", FIRST_DATE, ["restore", "export_mysql"])
    assert rollback[0]["table_versions"]["gold/kpi_daily_sales"] == 2
    # A rollback is not a fresh load: freshness still dates from the second run.
    code, out, _ = etl_here("check-freshness", "--max-age", "26h")
    assert code == 0
