"""``etl run --from D1 --to D3`` as a user starts it equals three single runs, one per date (issue 8).

The same generated sales (three days, one dated folder each) land under two prefixes. One is
run as a backfill by the command line's own entry point (``etl.cli.main``, in this worker's warm
JVM: a cold job process spends minutes of a tiny run loading classes); the other as three single
runs for the same dates, one after another (``etl.run.run.Run``). Runs as processes of their own
(exit codes, two at once) are in tests/integration/test_run_lock.py.
Every silver and gold table must then hold the same rows, and gold must have been rewritten
once per date, as of that date. The stop-at-the-first-failure path and its message are
covered without Spark in tests/unit/test_run_options.py.

Three dates (a first, a middle and a last run) show every rule a longer range would: each date its own
run and run id in order, its own folder only, one lock across the runs, gold as of each date. Five dates
made it ten whole runs instead of six (docs/benchmarks.md, "Test suite").
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devtools.generate import GenerateOptions, generate
from etl.ops.lock import lock_for
from etl.run.run import Run
from etl.run.stages import named
from tests.integration.conftest import etl_in_process, in_process, isolated_env, landing_store
from tests.integration.test_recovery import assert_same_silver_and_gold

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # several whole runs: not in make test-quick

DATES = [date(2026, 11, 18) + timedelta(days=n) for n in range(3)]
STAGES = ("ingest", "silver", "gold")
OPTS = GenerateOptions(start=DATES[0], days=len(DATES), sales_per_day=4, feeds=("sales",))


def test_a_backfill_over_three_dates_equals_three_single_runs(stack, s3_spark, lake_prefix, tmp_path):
    backfill_env, singles_env = isolated_env(f"{lake_prefix}-bf"), isolated_env(f"{lake_prefix}-single")
    for prefix in (f"{lake_prefix}-bf", f"{lake_prefix}-single"):
        generate(OPTS, tmp_path / prefix, landing_store(stack, prefix), progress=False)

    done = etl_in_process(stack, s3_spark, backfill_env, ["run", "--from", DATES[0].isoformat(),
                                                          "--to", DATES[-1].isoformat(), "--stages", ",".join(STAGES)])
    assert done.returncode == 0, done.stderr[-3000:]
    headers = [line.split() for line in done.stdout.splitlines() if line.startswith("run ")]
    assert [h[3] for h in headers] == [d.isoformat() for d in DATES]
    assert len({h[1] for h in headers}) == len(DATES)               # a run id per date
    assert f"backfill {DATES[0]}..{DATES[-1]}: {len(DATES)} run(s) done" in done.stdout
    # Each date ingests its own dated folder (sales/<date>/); later folders wait for their run.
    ingested = [line for line in done.stdout.splitlines() if line.startswith("  bronze sales ")]   # not sales_team
    assert [line.split("files ingested ")[1].split(",")[0] for line in ingested] == ["1"] * len(DATES)
    # One lock for the whole backfill, renamed to each date's run, released at the end.
    assert done.stderr.count("acquired by run") == 1 and done.stderr.count("released by run") == 1
    assert f"released by run {headers[-1][1]}" in done.stderr
    backfill_cfg = stack.config(**backfill_env)
    assert lock_for(backfill_cfg, "reader", stack.secret).read() is None

    with in_process(stack, s3_spark, singles_env) as singles_cfg:
        for day in DATES:
            Run(singles_cfg, day).execute(named(STAGES))

    assert_same_silver_and_gold(stack, s3_spark, backfill_cfg, singles_cfg)
    # Gold was rewritten once per date, as of that date (Delta versions 0..2 of kpi_daily_sales).
    daily = f"{backfill_cfg.storage.lake}/gold/kpi_daily_sales"
    last_dates = [s3_spark.read.format("delta").option("versionAsOf", v).load(daily).agg({"date": "max"}).first()[0]
                  for v in range(len(DATES))]
    assert last_dates == DATES
