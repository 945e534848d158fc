"""Incremental gold equals a full rebuild (issue 5, point 3), on real Delta tables with a change feed.

The facts include the channel days and the POS order mix of the order analytics (issue 24): the history
holds POS orders with order types, platforms and payment types (some blank) and cancelled POS orders.

Silver ``transactions`` is fed day by day with generated sales over fourteen
months, and the days bring what a real feed brings: late records for old
months, corrected amounts, an order cancelled after the fact (``is_revenue``
turns false) and a record deleted. After every day the gold stage's inputs
(facts kept incrementally + silver windows) must give exactly the tables that
the pure functions compute from the whole of silver, and the facts must have
recomputed only the months the day touched. Every day compares the facts (what
the history-wide tables are computed from); one day compares every table end to end.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from etl.config import load_config
from etl.contracts.silver import DIM_CUSTOMER, SALES_LINES, TRANSACTIONS, BEGINNING_OF_TIME, END_OF_TIME
from etl.gold.build import gold_inputs
from etl.gold.marts import FACT_INPUTS, build_all, with_facts
from etl.lake import table_uri
from etl.delta_io import upsert

FIRST_DAY = date(2025, 10, 1)
HISTORY_DAYS = 400          # 2025-10-01 .. 2026-11-04: crosses a year boundary
KEYS = ["channel", "transaction_id"]


MIX = [("Delivery", "Zomato", "Online"), ("Dine In", None, "Cash"), (" Takeaway", "Own", " ")]


def tx(tid: str, day: date, amount: str, customer: int | None, store: int, person: int | None,
       channel: str = "store", revenue: bool = True) -> tuple:
    status = "Success" if revenue else "Cancelled"
    mix = MIX[sum(map(ord, tid)) % len(MIX)] if channel == "pos" else (None, None, None)
    return (channel, tid, customer, store, person, day, None, Decimal(amount), 1, status, revenue, [],
            "f", 1, "r", *mix)


def history(rng: random.Random) -> list[tuple]:
    rows = []
    for offset in range(HISTORY_DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        for n in range(rng.randint(0, 4)):
            channel = rng.choice(["store", "store", "online", "pos"])
            rows.append(tx(f"h{offset}-{n}", day, f"{rng.randint(100, 90000) / 100:.2f}",
                           rng.choice([None, *range(1, 30)]), rng.randint(1, 3),
                           rng.randint(10, 14) if channel == "store" else None, channel,
                           revenue=channel != "pos" or rng.random() > 0.1))   # some cancelled POS orders
    return rows


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    cfg = load_config("local", environ={"ETL__STORAGE__LAKE": str(root / "lake")})
    uri = table_uri(cfg, "silver", "transactions")
    spark.createDataFrame(history(random.Random(5)), TRANSACTIONS).write.format("delta").save(uri)
    dim = [(c, f"F{c}", f"L{c}", "addr", "560001", f"98000000{c:02d}", ["North", "South"][c % 2], None,
            BEGINNING_OF_TIME, END_OF_TIME, True) for c in range(1, 30)]
    spark.createDataFrame(dim, DIM_CUSTOMER).write.format("delta").save(table_uri(cfg, "silver", "dim_customer"))
    spark.createDataFrame([], SALES_LINES).write.format("delta").save(table_uri(cfg, "silver", "sales_lines"))
    spark.createDataFrame([(p, f"P{p}", "X") for p in range(10, 15)], "id int, first_name string, last_name string") \
        .write.format("delta").save(table_uri(cfg, "silver", "sales_team"))
    return cfg


def _silver(spark, cfg) -> dict:
    names = {"transactions": TRANSACTIONS, "sales_lines": SALES_LINES, "dim_customer": DIM_CUSTOMER}
    frames = {name: spark.read.format("delta").load(table_uri(cfg, "silver", name)) for name in names}
    frames["sales_team"] = spark.read.format("delta").load(table_uri(cfg, "silver", "sales_team"))
    frames["products"] = spark.createDataFrame([], "id int, name string, sku_id string")
    return frames


def _rows(frame) -> list[tuple]:
    return [tuple(row) for row in frame.collect()]     # tables are ordered by their total sort keys


def _sorted_rows(frame) -> list[tuple]:
    return sorted(tuple(row) for row in frame.collect())


def assert_inputs_equal_full_computation(spark, cfg, run_date: date, rebuild: bool = False) -> list:
    """The facts the stage keeps (cut at ``run_date``) equal the facts of the whole of silver up to it.
    Every history-wide gold table is a function of these facts, so equal facts mean equal tables."""
    frames, refreshed = gold_inputs(spark, cfg, run_date, rebuild=rebuild)
    full = with_facts(_silver(spark, cfg), run_date)
    for name in FACT_INPUTS:
        assert _sorted_rows(frames[name]) == _sorted_rows(full[name].select(*frames[name].columns)), name
    return refreshed


def assert_gold_equals_full_computation(spark, cfg, run_date: date) -> None:
    """Every gold table, end to end: from the stage's inputs and from the whole of silver."""
    frames, _ = gold_inputs(spark, cfg, run_date)
    incremental = build_all(frames, run_date)
    full = build_all(_silver(spark, cfg), run_date)
    for name in full:
        assert _rows(incremental[name]) == _rows(full[name]), name


def _deliver(spark, cfg, rows: list[tuple]) -> None:
    upsert(spark, spark.createDataFrame(rows, TRANSACTIONS), table_uri(cfg, "silver", "transactions"), KEYS,
           name="transactions", changed_when="NOT (s.amount <=> t.amount AND s.is_revenue <=> t.is_revenue)")


@pytest.fixture(scope="module")
def first_run(spark, lake) -> list:
    """The stage's first run over the history (builds every fact): once per module, whichever test of
    the module runs first, so that each test that follows a day's delivery also passes when run alone."""
    return assert_inputs_equal_full_computation(spark, lake, date(2026, 11, 4))


def test_first_run_builds_all_facts_and_matches(first_run):
    assert {r.name for r in first_run} == set(FACT_INPUTS)
    assert all(r.months is None for r in first_run)


def test_a_day_of_new_sales_recomputes_only_its_month(spark, lake, first_run):
    day = date(2026, 11, 5)
    _deliver(spark, lake, [tx("d5-1", day, "120.00", 3, 1, 10), tx("d5-2", day, "80.50", None, 2, None, "online"),
                           tx("d5-3", day, "9.99", None, 2, None, "pos"),
                           tx("d5-4", day, "19.99", None, 2, None, "pos", revenue=False)])
    refreshed = assert_inputs_equal_full_computation(spark, lake, day)
    assert [r.months for r in refreshed] == [["2026-11"]] * len(FACT_INPUTS)


def test_late_corrected_cancelled_and_deleted_records_recompute_their_months(spark, lake, first_run):
    day = date(2026, 11, 6)
    _deliver(spark, lake, [
        tx("d6-1", day, "55.00", 4, 3, 12),
        tx("late-1", date(2026, 2, 14), "999.99", 7, 1, 11),               # late record, old month
        tx("h10-0", FIRST_DAY + timedelta(days=10), "1.00", None, 1, 10),  # corrected (may not exist: then late)
    ])
    cancelled = spark.read.format("delta").load(table_uri(lake, "silver", "transactions")) \
        .filter("transaction_date = '2025-12-24' AND is_revenue").limit(1).collect()
    if cancelled:
        row = cancelled[0]
        _deliver(spark, lake, [tx(row.transaction_id, row.transaction_date, str(row.amount), row.customer_id,
                                  row.store_id, row.sales_person_id, row.channel, revenue=False)])
    from delta.tables import DeltaTable
    DeltaTable.forPath(spark, table_uri(lake, "silver", "transactions")).delete("transaction_date = '2026-07-04'")
    refreshed = assert_inputs_equal_full_computation(spark, lake, day)
    touched = {"2025-10", "2026-02", "2026-07", "2026-11"} | ({"2025-12"} if cancelled else set())
    assert all(set(r.months) <= touched and "2026-11" in r.months for r in refreshed)
    assert all("2026-03" not in r.months for r in refreshed)


def test_a_rerun_changes_nothing_and_an_earlier_date_still_gives_its_own_tables(spark, lake):
    assert assert_inputs_equal_full_computation(spark, lake, date(2026, 11, 6)) == []
    assert assert_inputs_equal_full_computation(spark, lake, date(2026, 10, 31)) == []   # D-1 after D
    assert_gold_equals_full_computation(spark, lake, date(2026, 11, 6))


def test_rebuild_gives_the_same_tables(spark, lake):
    refreshed = assert_inputs_equal_full_computation(spark, lake, date(2026, 11, 6), rebuild=True)
    assert all(r.months is None and r.reason == "rebuild requested" for r in refreshed)
