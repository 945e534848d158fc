"""``etl run --from D1 --to D3`` as a user starts it, on MinIO with tiny data (one process, one JVM).

Each date is a full run of its own, in order: gold is rewritten once per date, as of that
date (Delta versions 0, 1, 2 of ``kpi_daily_sales`` end on D1, D2, D3). The stop-at-the-
first-failure path and its message are covered without Spark in tests/unit/test_run_options.py.
"""

from __future__ import annotations

from datetime import date

import pytest

from etl.generate import GenerateOptions, generate
from etl.ops.lock import lock_for
from tests.integration.conftest import BIN, isolated_env, landing_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # make test-slow (several whole runs)

DATES = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]


def test_a_backfill_runs_each_date_in_order_under_one_lock(stack, s3_spark, lake_prefix, tmp_path):
    env = isolated_env(lake_prefix)
    generate(GenerateOptions(start=DATES[0], days=3, sales_per_day=4, feeds=("sales",)), tmp_path / "gen",
             landing_store(stack, lake_prefix))
    done = stack.run([str(BIN / "etl"), "run", "--from", "2026-11-20", "--to", "2026-11-22",
                      "--stages", "ingest,silver,gold"], env, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]

    headers = [line.split() for line in done.stdout.splitlines() if line.startswith("run ")]
    assert [h[3] for h in headers] == [d.isoformat() for d in DATES]
    assert len({h[1] for h in headers}) == 3                       # a run id per date
    assert "backfill 2026-11-20..2026-11-22: 3 run(s) done" in done.stdout
    # Each date ingests its own dated folder (sales/<date>/); later folders wait for their run.
    ingested = [line for line in done.stdout.splitlines() if line.startswith("  bronze sales ")]   # not sales_team
    assert [line.split("files ingested ")[1].split(",")[0] for line in ingested] == ["1", "1", "1"]
    # One lock for the whole backfill, renamed to each date's run, released at the end.
    assert done.stderr.count("acquired by run") == 1 and done.stderr.count("released by run") == 1
    assert f"released by run {headers[-1][1]}" in done.stderr
    assert lock_for(stack.config(**env), "reader", stack.secret).read() is None

    cfg = stack.config(**env)
    daily = f"{cfg.storage.lake}/gold/kpi_daily_sales"
    last_dates = [s3_spark.read.format("delta").option("versionAsOf", v).load(daily).agg({"date": "max"}).first()[0]
                  for v in range(3)]
    assert last_dates == DATES
