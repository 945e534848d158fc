"""One run over several days of deliveries gives the same customer history as daily runs (issue 20).

The same generated landing (three days, customer updates in CSV and XLSX, a dated folder per day)
lands under two prefixes. One is taken by a single run for the last date (a history load: every
day's files in one run); the other by one run per date, each ingesting its own day's folders.
A customers record without ``updated_at`` is dated by its landing folder, not by the run that
ingests it, so ``dim_customer`` and everything built on it (``customers_data_mart``, the KPI
tables) must come out the same: every silver and gold table holds the same rows. The rule's
cases are in tests/unit/test_silver_customers.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from devtools.generate import GenerateOptions, generate
from etl.contracts.silver import END_OF_TIME
from etl.run.run import Run
from etl.run.stages import named
from tests.integration.conftest import etl_in_process, in_process, isolated_env, landing_store
from tests.integration.test_recovery import assert_same_silver_and_gold

pytestmark = [pytest.mark.integration, pytest.mark.slow]   # four whole runs: not in make test-quick

DATES = [date(2026, 11, 20) + timedelta(days=n) for n in range(3)]
STAGES = ("ingest", "silver", "gold")
# defects=True: the later days carry changed customer versions (with updated_at) next to unchanged re-sends.
# Sizes: enough rows that a day's few malformed rows (one sale; three customers records) stay under the
# error thresholds (sales 5%, customers 25%) in each daily run.
OPTS = GenerateOptions(start=DATES[0], days=len(DATES), customers=300, sales_per_day=30, seed=20,
                       feeds=("sales", "customers", "stores", "products", "sales_team"), defects=True)


def test_one_run_over_several_days_of_deliveries_equals_daily_runs(stack, s3_spark, lake_prefix, tmp_path):
    once_env, daily_env = isolated_env(f"{lake_prefix}-once"), isolated_env(f"{lake_prefix}-daily")
    for prefix in (f"{lake_prefix}-once", f"{lake_prefix}-daily"):
        report = generate(OPTS, tmp_path / prefix, landing_store(stack, prefix), progress=False)
    assert report.defects["customer_changes"], "the generator wrote no customer update"

    done = etl_in_process(stack, s3_spark, once_env, ["run", "--date", DATES[-1].isoformat(),
                                                      "--stages", ",".join(STAGES)])
    assert done.returncode == 0, done.stderr[-3000:]
    with in_process(stack, s3_spark, daily_env) as daily_cfg:
        for day in DATES:
            Run(daily_cfg, day).execute(named(STAGES))

    once_cfg = stack.config(**once_env)
    # The history load dated the base by its folder (day one): the updates are the current versions.
    dim = s3_spark.read.format("delta").load(f"{once_cfg.storage.lake}/silver/dim_customer")
    assert dim.filter(F.col("valid_to") == F.lit(END_OF_TIME)).count() == dim.select("customer_id").distinct().count()
    assert dim.filter(F.col("valid_from") > F.lit(DATES[0])).count() > 0, "no customer update reached dim_customer"
    # A quarantined row records the run that judged it (its date, and the bronze row's run id and load time
    # inside ``record``): the history load's, or its day's.
    judged_by = {f"silver/quarantine_{feed}": frozenset({"run_date", "record"}) for feed in ("sales", "customers")}
    assert_same_silver_and_gold(stack, s3_spark, once_cfg, daily_cfg, ignore=judged_by)
