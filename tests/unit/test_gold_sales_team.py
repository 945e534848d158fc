"""sales_team_data_mart (METRICS.md): every column hand-computed on one small fixture.

Run date 2026-02-15, incentive rate 0.01. The fixture, per (store, salesperson):

store 1, salesperson 10 "Asha Rao"
    2025-11-05  100.00
    2025-12-03  200.00, 2025-12-20 100.50      -> Dec 300.50 (ties with 11 for rank 1)
    2026-01-10  100.00, 2026-01-11   0.01      -> Jan 100.01, avg 50.005 -> 50.01 (half-up)
    2026-02-10   60.00
    2026-02-16  999.00                          -> after the run date: excluded
store 1, salesperson 11 "Ben Ng"
    2025-12-31  300.50                          -> Dec rank 1 tie, incentive 3.005 -> 3.01 (half-up)
    2026-02-15   80.00                          -> on the run date: included; no Jan row (gap)
store 1, salesperson 12 (not in sales_team -> "Unknown")
    2025-12-15   50.00                          -> Dec rank 3 (RANK, not DENSE_RANK)
    2026-03-01   70.00                          -> after the run date: no 2026-03 row, last month stays 2025-12
store 2, salesperson 13 " Cara" / "Diaz " (trimmed name)
    2026-01-02 33.33, 33.33, 33.34              -> Jan 100.00, avg 33.333.. -> 33.33
sales_team also holds id 99, who has no sales (must not produce a row).

The mart is built from silver transactions (``sales_team_data_mart``): the rows above as
``channel = 'store'``, plus rows that must not count: an online order and a POS order matched to
store 1 (not in-store), and a cancelled in-store row (not revenue).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality

from etl.contracts.silver import TRANSACTIONS
from etl.gold.sales_team import sales_team_data_mart

RUN_DATE = date(2026, 2, 15)
RATE = D("0.01")

STORE_SALES_DDL = "store_id int, sales_person_id int, sales_date date, amount decimal(18,2)"
TEAM_DDL = "id int, first_name string, last_name string"
MART_DDL = (
    "store_id int, sales_person_id int, full_name string, sales_month string, "
    "total_sales decimal(18,2), total_transactions int, avg_transaction_value decimal(18,2), "
    "max_single_transaction decimal(18,2), avg_sales_per_month decimal(18,2), top_performance_rank int, "
    "incentive decimal(18,2), month_over_month_variance decimal(18,2), sales_growth_rate decimal(9,2), "
    "year_to_date_sales decimal(18,2), first_sale_month string, last_sale_month string, "
    "sales_contribution_percentage decimal(9,2)"
)

STORE_SALES = [
    (1, 10, date(2025, 11, 5), D("100.00")),
    (1, 10, date(2025, 12, 3), D("200.00")),
    (1, 10, date(2025, 12, 20), D("100.50")),
    (1, 10, date(2026, 1, 10), D("100.00")),
    (1, 10, date(2026, 1, 11), D("0.01")),
    (1, 10, date(2026, 2, 10), D("60.00")),
    (1, 10, date(2026, 2, 16), D("999.00")),
    (1, 11, date(2025, 12, 31), D("300.50")),
    (1, 11, date(2026, 2, 15), D("80.00")),
    (1, 12, date(2025, 12, 15), D("50.00")),
    (1, 12, date(2026, 3, 1), D("70.00")),
    (2, 13, date(2026, 1, 2), D("33.33")),
    (2, 13, date(2026, 1, 2), D("33.33")),
    (2, 13, date(2026, 1, 3), D("33.34")),
]


def transaction(tid, store, salesperson, day, amount, channel="store", revenue=True):
    return (channel, tid, 1, store, salesperson, day, None, D(amount), 1,
            "Success" if revenue else "Cancelled", revenue, [], None, None, None, None, None, None)


TRANSACTION_ROWS = [
    transaction(f"s{n}", store, salesperson, day, amount)
    for n, (store, salesperson, day, amount) in enumerate(STORE_SALES)
] + [
    transaction("o1", None, None, date(2026, 1, 10), "500.00", channel="online"),
    transaction("p1", 1, None, date(2026, 1, 10), "700.00", channel="pos"),
    transaction("s-cancelled", 1, 11, date(2026, 1, 10), "1000.00", revenue=False),
]
TEAM = [(10, "Asha", "Rao"), (11, "Ben", "Ng"), (13, " Cara", "Diaz "), (99, "No", "Sales")]

# Hand-computed (see the module docstring for the inputs):
#  store 1 Dec total = 300.50 + 300.50 + 50.00 = 651.00; 300.50*100/651 = 46.1600.. ; 50*100/651 = 7.6804..
#  store 1 Feb total = 60.00 + 80.00 = 140.00; 80/140 = 57.142..% ; 60/140 = 42.857..%
#  10 Dec: variance 300.50-100.00 = 200.50, growth 200.50/100.00 = 200.50 %, avg/month (100+300.50)/2 = 200.25
#  10 Jan: variance 100.01-300.50 = -200.49, growth -66.7188.. -> -66.72, avg/month 500.51/3 = 166.8366.. -> 166.84,
#          year to date restarts at 100.01
#  10 Feb: variance 60.00-100.01 = -40.01, growth -40.0059.. -> -40.01, avg/month 560.51/4 = 140.1275 -> 140.13,
#          ytd 160.01; rank 2 behind 11 (80.00), incentive 0.00
#  11 Feb: previous row is Dec (Jan missing): variance and growth null; avg/month (300.50+80)/2 = 190.25
EXPECTED = [
    # store, sp, name, month, total, n, avg_tx, max_tx, avg_month, rank, incentive, mom, growth, ytd, first, last, share
    (1, 10, "Asha Rao", "2025-11", D("100.00"), 1, D("100.00"), D("100.00"), D("100.00"), 1, D("1.00"),
     None, None, D("100.00"), "2025-11", "2026-02", D("100.00")),
    (1, 10, "Asha Rao", "2025-12", D("300.50"), 2, D("150.25"), D("200.00"), D("200.25"), 1, D("3.01"),
     D("200.50"), D("200.50"), D("400.50"), "2025-11", "2026-02", D("46.16")),
    (1, 10, "Asha Rao", "2026-01", D("100.01"), 2, D("50.01"), D("100.00"), D("166.84"), 1, D("1.00"),
     D("-200.49"), D("-66.72"), D("100.01"), "2025-11", "2026-02", D("100.00")),
    (1, 10, "Asha Rao", "2026-02", D("60.00"), 1, D("60.00"), D("60.00"), D("140.13"), 2, D("0.00"),
     D("-40.01"), D("-40.01"), D("160.01"), "2025-11", "2026-02", D("42.86")),
    (1, 11, "Ben Ng", "2025-12", D("300.50"), 1, D("300.50"), D("300.50"), D("300.50"), 1, D("3.01"),
     None, None, D("300.50"), "2025-12", "2026-02", D("46.16")),
    (1, 11, "Ben Ng", "2026-02", D("80.00"), 1, D("80.00"), D("80.00"), D("190.25"), 1, D("0.80"),
     None, None, D("80.00"), "2025-12", "2026-02", D("57.14")),
    (1, 12, "Unknown", "2025-12", D("50.00"), 1, D("50.00"), D("50.00"), D("50.00"), 3, D("0.00"),
     None, None, D("50.00"), "2025-12", "2025-12", D("7.68")),
    (2, 13, "Cara Diaz", "2026-01", D("100.00"), 3, D("33.33"), D("33.34"), D("100.00"), 1, D("1.00"),
     None, None, D("100.00"), "2026-01", "2026-01", D("100.00")),
]
KEY = ["store_id", "sales_person_id", "sales_month"]


@pytest.fixture(scope="module")
def mart(spark):
    transactions = spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS)
    team = spark.createDataFrame(TEAM, TEAM_DDL)
    return sales_team_data_mart(transactions, team, RUN_DATE, RATE).cache()


@pytest.fixture(scope="module")
def expected(spark):
    return spark.createDataFrame(EXPECTED, MART_DDL)


def in_store(spark, store_sales):
    """Silver transactions for (store_id, sales_person_id, sales_date, amount) rows: in-store revenue."""
    rows = [("store", f"s{i}", None, store, person, day, None, amount, 1, "Success", True, [], "f.csv", i, "r",
             None, None, None)
            for i, (store, person, day, amount) in enumerate(store_sales.collect())]
    return spark.createDataFrame(rows, TRANSACTIONS)


def _columns(frame, *names):
    return frame.select(*KEY, *names)


def test_every_column_matches_the_hand_computed_mart(mart, expected):
    assert_df_equality(mart, expected, ignore_row_order=True, ignore_nullable=True)


def test_only_in_store_revenue_transactions_count(spark, mart):
    # Jan 2026, store 1: only salesperson 10's 100.01; the online, POS and cancelled rows add nothing
    expected = spark.createDataFrame(
        [(1, 10, "2026-01", D("100.01"), 2, D("100.00"))],
        "store_id int, sales_person_id int, sales_month string, total_sales decimal(18,2), "
        "total_transactions int, sales_contribution_percentage decimal(9,2)")
    actual = (_columns(mart, "total_sales", "total_transactions", "sales_contribution_percentage")
              .filter("sales_month = '2026-01' AND (store_id = 1 OR store_id IS NULL)"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_incentive_rate_must_be_exact(spark):
    transactions = spark.createDataFrame([], TRANSACTIONS)
    team = spark.createDataFrame([], TEAM_DDL)
    with pytest.raises(TypeError, match="Decimal"):
        sales_team_data_mart(transactions, team, RUN_DATE, 0.01)


def test_incentive_goes_to_every_rank_one_tie(spark, mart):
    expected = spark.createDataFrame(
        [(1, 10, "2025-12", 1, D("3.01")), (1, 11, "2025-12", 1, D("3.01")), (1, 12, "2025-12", 3, D("0.00"))],
        "store_id int, sales_person_id int, sales_month string, top_performance_rank int, incentive decimal(18,2)")
    actual = _columns(mart, "top_performance_rank", "incentive").filter("store_id = 1 AND sales_month = '2025-12'")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_month_over_month_is_null_after_a_gap_month(spark, mart):
    expected = spark.createDataFrame(
        [(1, 11, "2025-12", None, None), (1, 11, "2026-02", None, None)],
        "store_id int, sales_person_id int, sales_month string, "
        "month_over_month_variance decimal(18,2), sales_growth_rate decimal(9,2)")
    actual = _columns(mart, "month_over_month_variance", "sales_growth_rate").filter("sales_person_id = 11")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_year_to_date_sales_restart_in_january(spark, mart):
    expected = spark.createDataFrame(
        [(1, 10, "2025-11", D("100.00")), (1, 10, "2025-12", D("400.50")),
         (1, 10, "2026-01", D("100.01")), (1, 10, "2026-02", D("160.01"))],
        "store_id int, sales_person_id int, sales_month string, year_to_date_sales decimal(18,2)")
    actual = _columns(mart, "year_to_date_sales").filter("sales_person_id = 10")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_rows_after_the_run_date_are_excluded(spark, mart):
    # 999.00 on 2026-02-16 (salesperson 10) and 70.00 on 2026-03-01 (salesperson 12) are after the run date.
    expected = spark.createDataFrame(
        [(1, 10, "2026-02", D("60.00"), 1, 2, "2026-02"), (1, 12, "2025-12", D("50.00"), 1, 3, "2025-12")],
        "store_id int, sales_person_id int, sales_month string, total_sales decimal(18,2), "
        "total_transactions int, top_performance_rank int, last_sale_month string")
    actual = (_columns(mart, "total_sales", "total_transactions", "top_performance_rank", "last_sale_month")
              .filter("(sales_person_id = 10 AND sales_month >= '2026-02') OR sales_person_id = 12"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_salesperson_missing_from_team_is_unknown(spark, mart):
    expected = spark.createDataFrame(
        [(12, "Unknown"), (13, "Cara Diaz")], "sales_person_id int, full_name string")
    actual = mart.select("sales_person_id", "full_name").filter("sales_person_id IN (12, 13)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_derived_figures_round_half_up_once(spark, mart):
    # avg 100.01 / 2 = 50.005 -> 50.01; incentive 300.50 * 0.01 = 3.005 -> 3.01 (HALF_EVEN would give 50.00 / 3.00).
    expected = spark.createDataFrame(
        [(1, 10, "2026-01", D("50.01"), D("1.00")), (1, 11, "2025-12", D("300.50"), D("3.01"))],
        "store_id int, sales_person_id int, sales_month string, "
        "avg_transaction_value decimal(18,2), incentive decimal(18,2)")
    actual = (_columns(mart, "avg_transaction_value", "incentive")
              .filter("(sales_person_id = 10 AND sales_month = '2026-01') OR "
                      "(sales_person_id = 11 AND sales_month = '2025-12')"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_avg_sales_per_month_is_running_mean_of_months_with_sales(spark, mart):
    # 10: 100.00 | (100.00+300.50)/2 | (..+100.01)/3 = 166.8366.. | (..+60.00)/4 = 140.1275 ; 11 skips its gap month.
    expected = spark.createDataFrame(
        [(1, 10, "2025-11", D("100.00")), (1, 10, "2025-12", D("200.25")), (1, 10, "2026-01", D("166.84")),
         (1, 10, "2026-02", D("140.13")), (1, 11, "2025-12", D("300.50")), (1, 11, "2026-02", D("190.25"))],
        "store_id int, sales_person_id int, sales_month string, avg_sales_per_month decimal(18,2)")
    actual = _columns(mart, "avg_sales_per_month").filter("sales_person_id IN (10, 11)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_sales_contribution_percentage_is_share_of_store_month(spark, mart):
    expected = spark.createDataFrame(
        [(1, 10, "2025-12", D("46.16")), (1, 11, "2025-12", D("46.16")), (1, 12, "2025-12", D("7.68")),
         (1, 10, "2026-02", D("42.86")), (1, 11, "2026-02", D("57.14"))],
        "store_id int, sales_person_id int, sales_month string, sales_contribution_percentage decimal(9,2)")
    actual = (_columns(mart, "sales_contribution_percentage")
              .filter("store_id = 1 AND sales_month IN ('2025-12', '2026-02')"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_first_and_last_sale_month_per_salesperson(spark, mart):
    expected = spark.createDataFrame(
        [(1, 10, "2025-11", "2026-02"), (1, 11, "2025-12", "2026-02"), (1, 12, "2025-12", "2025-12"),
         (2, 13, "2026-01", "2026-01")],
        "store_id int, sales_person_id int, first_sale_month string, last_sale_month string")
    actual = mart.select("store_id", "sales_person_id", "first_sale_month", "last_sale_month").distinct()
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# Round half-up once, at the end: 50.01 * 100 / 100.01 = 50.0049995.. must give 50.00, not 50.01
# (which a division rounded to 6 places first would give: 50.005000 -> 50.01).


def test_sales_growth_rate_rounds_half_up_once(spark):
    # Jan 100.01, Feb 50.00: variance -50.01, growth -50.01 / 100.01 x 100 = -50.0049995.. -> -50.00
    store_sales = spark.createDataFrame(
        [(1, 10, date(2026, 1, 5), D("100.01")), (1, 10, date(2026, 2, 5), D("50.00"))], STORE_SALES_DDL)
    team = spark.createDataFrame([(10, "Asha", "Rao")], TEAM_DDL)
    actual = _columns(sales_team_data_mart(in_store(spark, store_sales), team, RUN_DATE, RATE), "month_over_month_variance",
                      "sales_growth_rate")
    expected = spark.createDataFrame(
        [(1, 10, "2026-01", None, None), (1, 10, "2026-02", D("-50.01"), D("-50.00"))],
        "store_id int, sales_person_id int, sales_month string, "
        "month_over_month_variance decimal(18,2), sales_growth_rate decimal(9,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_sales_contribution_percentage_rounds_half_up_once(spark):
    # store total 100.01: 50.01 -> 50.0049995..% -> 50.00 ; 50.00 -> 49.9950004..% -> 50.00
    store_sales = spark.createDataFrame(
        [(1, 10, date(2026, 2, 5), D("50.01")), (1, 11, date(2026, 2, 5), D("50.00"))], STORE_SALES_DDL)
    team = spark.createDataFrame([(10, "Asha", "Rao")], TEAM_DDL)
    actual = _columns(sales_team_data_mart(in_store(spark, store_sales), team, RUN_DATE, RATE), "sales_contribution_percentage")
    expected = spark.createDataFrame(
        [(1, 10, "2026-02", D("50.00")), (1, 11, "2026-02", D("50.00"))],
        "store_id int, sales_person_id int, sales_month string, sales_contribution_percentage decimal(9,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_incentive_uses_the_configured_rate_exactly(spark):
    store_sales = spark.createDataFrame([(1, 10, date(2026, 1, 5), D("1000.00"))], STORE_SALES_DDL)
    team = spark.createDataFrame([(10, "Asha", "Rao")], TEAM_DDL)
    actual = _columns(sales_team_data_mart(in_store(spark, store_sales), team, RUN_DATE, D("0.00125")), "incentive")
    expected = spark.createDataFrame([(1, 10, "2026-01", D("1.25"))],
                                     "store_id int, sales_person_id int, sales_month string, incentive decimal(18,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_growth_rate_too_large_for_its_type_is_null_not_a_failed_run(spark):
    # 1.00 -> 100001.00 is +10,000,000.00 %, one digit more than DECIMAL(9,2) holds.
    store_sales = spark.createDataFrame(
        [(1, 10, date(2026, 1, 5), D("1.00")), (1, 10, date(2026, 2, 5), D("100001.00"))], STORE_SALES_DDL)
    team = spark.createDataFrame([(10, "Asha", "Rao")], TEAM_DDL)
    actual = _columns(sales_team_data_mart(in_store(spark, store_sales), team, RUN_DATE, RATE), "sales_growth_rate")
    expected = spark.createDataFrame(
        [(1, 10, "2026-01", None), (1, 10, "2026-02", None)],
        "store_id int, sales_person_id int, sales_month string, sales_growth_rate decimal(9,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
