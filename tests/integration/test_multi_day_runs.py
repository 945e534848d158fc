"""Runs over several days equal one run per date: a backfill (issue 8) and a history load (issue 20).

One generated landing (three days; sales with their defects, customers in CSV and XLSX with updated
and re-sent records, stores, products, the sales team; a dated folder per day) lands under three
prefixes. The reference is one run per date (``etl.run.run.Run``, the module's fixture); against it:

- a backfill, ``etl run --from D1 --to D3`` as a user starts it (the command line's own entry point,
  ``etl.cli.main``, in this worker's warm JVM: a cold job process spends minutes of a tiny run loading
  classes): each date its own run and run id in order, its own folder only, one lock across the runs,
  gold as of each date, and every silver and gold table equal to the reference;
- a history load, one ``etl run`` for the last date that takes every day's files: a customers record
  without ``updated_at`` is dated by its landing folder, not by the run that ingests it, so
  ``dim_customer`` and everything built on it come out the same as the reference's.

The two once had a reference each (ten whole runs; seven now, docs/benchmarks.md, "Test suite").
Runs as processes of their own (exit codes, two at once) are in tests/integration/test_run_lock.py;
the backfill's stop-at-the-first-failure path is in tests/unit/test_run_options.py, the version-date
rule's cases in tests/unit/test_silver_customers.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from devtools.generate import GenerateOptions, generate
from etl.contracts.silver import END_OF_TIME
from etl.ops.lock import lock_for
from etl.run.run import Run
from etl.run.stages import named
from tests.integration.conftest import etl_in_process, in_process, isolated_env, landing_store
from tests.integration.test_recovery import assert_same_silver_and_gold

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # seven whole runs: not in make test-quick

# Three dates (a first, a middle and a last run) show every rule a longer range would.
DATES = [date(2026, 11, 20) + timedelta(days=n) for n in range(3)]
STAGES = ("ingest", "silver", "gold")
# defects=True: the later days carry changed customer versions (with updated_at) next to unchanged re-sends.
# Sizes: enough rows that a day's few malformed rows (one sale; three customers records) stay under the
# error thresholds (sales 5%, customers 25%) in each daily run.
OPTS = GenerateOptions(start=DATES[0], days=len(DATES), customers=300, sales_per_day=30, seed=20,
                       feeds=("sales", "customers", "stores", "products", "sales_team"), defects=True)
# A quarantined row records the run that judged it: its date, and inside ``record`` the bronze row's run id
# and load time. Between two lakes of per-date runs only ``record`` differs; the history load judges every
# day's rows on the last date.
QUARANTINES = tuple(f"silver/quarantine_{feed}" for feed in ("sales", "customers"))


@pytest.fixture(scope="module")
def deliveries(stack, tmp_path_factory):
    """The same generated landing under three prefixes: {'daily' | 'backfill' | 'once': env}, and the report."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    envs = {name: isolated_env(f"{prefix}-{name}") for name in ("daily", "backfill", "once")}
    for name in envs:
        report = generate(OPTS, tmp_path_factory.mktemp(name), landing_store(stack, f"{prefix}-{name}"),
                          progress=False)
    assert report.defects["customer_changes"], "the generator wrote no customer update"
    return envs, report


@pytest.fixture(scope="module")
def daily_reference(stack, s3_spark, deliveries):
    """One run per date, one after another: the lake both other ways of running must equal."""
    envs, _ = deliveries
    with in_process(stack, s3_spark, envs["daily"]) as daily_cfg:
        for day in DATES:
            Run(daily_cfg, day).execute(named(STAGES))
    return daily_cfg


def test_a_backfill_over_three_dates_equals_three_single_runs(stack, s3_spark, deliveries, daily_reference):
    envs, report = deliveries
    done = etl_in_process(stack, s3_spark, envs["backfill"], ["run", "--from", DATES[0].isoformat(),
                                                              "--to", DATES[-1].isoformat(),
                                                              "--stages", ",".join(STAGES)])
    assert done.returncode == 0, done.stderr[-3000:]
    headers = [line.split() for line in done.stdout.splitlines() if line.startswith("run ")]
    assert [h[3] for h in headers] == [d.isoformat() for d in DATES]
    assert len({h[1] for h in headers}) == len(DATES)               # a run id per date
    assert f"backfill {DATES[0]}..{DATES[-1]}: {len(DATES)} run(s) done" in done.stdout
    # Each date takes every sales file of its own dated folder (sales/<date>/: the day's file and the
    # generator's defective side files and copies) and no other; later folders wait for their run.
    taken = re.findall(r"^  bronze sales +files ingested (\d+), rejected (\d+), duplicate (\d+)", done.stdout,
                       re.MULTILINE)                                # "sales " is not sales_team
    assert [sum(map(int, files)) for files in taken] == \
        [sum(1 for key in report.files["sales"] if key.startswith(f"sales/{day.isoformat()}/")) for day in DATES], taken
    assert all(int(files[0]) >= 1 for files in taken), taken          # the day's own file at least
    # One lock for the whole backfill, renamed to each date's run, released at the end.
    assert done.stderr.count("acquired by run") == 1 and done.stderr.count("released by run") == 1
    assert f"released by run {headers[-1][1]}" in done.stderr
    backfill_cfg = stack.config(**envs["backfill"])
    assert lock_for(backfill_cfg, "reader", stack.secret).read() is None

    assert_same_silver_and_gold(stack, s3_spark, backfill_cfg, daily_reference,
                                ignore={table: frozenset({"record"}) for table in QUARANTINES})
    # Gold was rewritten once per date, as of that date (Delta versions 0..2 of kpi_daily_sales).
    daily = f"{backfill_cfg.storage.lake}/gold/kpi_daily_sales"
    last_dates = [s3_spark.read.format("delta").option("versionAsOf", v).load(daily).agg({"date": "max"}).first()[0]
                  for v in range(len(DATES))]
    assert last_dates == DATES


def test_one_run_over_several_days_of_deliveries_equals_daily_runs(stack, s3_spark, deliveries, daily_reference):
    envs, _ = deliveries
    done = etl_in_process(stack, s3_spark, envs["once"], ["run", "--date", DATES[-1].isoformat(),
                                                          "--stages", ",".join(STAGES)])
    assert done.returncode == 0, done.stderr[-3000:]

    once_cfg = stack.config(**envs["once"])
    # The history load dated the base by its folder (day one): the updates are the current versions.
    dim = s3_spark.read.format("delta").load(f"{once_cfg.storage.lake}/silver/dim_customer")
    assert dim.filter(F.col("valid_to") == F.lit(END_OF_TIME)).count() == dim.select("customer_id").distinct().count()
    assert dim.filter(F.col("valid_from") > F.lit(DATES[0])).count() > 0, "no customer update reached dim_customer"
    assert_same_silver_and_gold(stack, s3_spark, once_cfg, daily_reference,
                                ignore={table: frozenset({"run_date", "record"}) for table in QUARANTINES})
