"""kpi_daily_sales and alerts (METRICS.md sales-drop detection), hand-computed.

Fixture (day k = 2026-01-01 + k days; run date D = day 46 = 2026-02-16):
    days 0..39   one sale of 100 + k (day 0: 100.00 .. day 39: 139.00), 2 units each
    days 40..43  no sales (day 43 has a cancelled 500.00 that must not count)
    day 44       three sales 100.00, 100.00, 200.00 (units 1, 1, unknown) = 400.00
    days 45, 46  no sales
    plus a cancelled sale on 2025-12-25 (the calendar still starts on 2026-01-01) and a sale after D.

revenue_7d: day j <= 5 sums the days so far (100, 201, 303, ...); for 6 <= j <= 39 it is
sum(100 + k, k = j-6..j) = 679 + 7j. After the drop: day 40 = 134+..+139 = 819, 41 = 685, 42 = 550,
43 = 414, 44 = 139 + 138 + 400 = 677, 45 = 139 + 400 = 539, 46 = 400.

Baseline of day d >= 40: revenue_7d of days d-34 .. d-7, the 28 values 679 + 7j, j = d-34 .. d-7.
Median = mean of the 14th and 15th = 679 + 7(d-21) + 3.5 = 535.5 + 7d (day 40: (812 + 819) / 2 = 815.5).
Deviations 7|i - 13.5|, i = 0..27: 3.5, 3.5, 10.5, 10.5, ..., 45.5 (13th, 14th), 52.5 (15th, 16th), ...
MAD = (45.5 + 52.5) / 2 = 49.0. Threshold = median - 3 x 1.4826 x 49.0 = median - 217.9422.

    day  revenue_7d  median  threshold  half median  anomaly
    42   550         829.5   611.5578   414.75       no: below the threshold, not below half (undetected)
    43   414         836.5   618.5578   418.25       yes
    44   677         843.5   625.5578   421.75       no
    45   539         850.5   632.5578   425.25       no: below the threshold only
    46   400         857.5   639.5578   428.75       yes
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality

from etl.contracts.silver import TRANSACTIONS
from etl.gold.common import revenue_up_to
from etl.gold.facts import daily_facts
from etl.gold.kpis import alerts, daily_sales_with_baseline, kpi_daily_sales

START = date(2026, 1, 1)
RUN_DATE = START + timedelta(days=46)
DAILY_DDL = ("date date, revenue decimal(18,2), order_count int, units int, avg_order_value decimal(18,2), "
             "revenue_7d decimal(18,2), revenue_7d_change_pct decimal(9,2), is_anomaly boolean")


def day(k: int) -> date:
    return START + timedelta(days=k)


def transaction(tid, on, amount, units=2, revenue=True, customer=1):
    return ("store", tid, customer, 1, 10, on, None, D(amount), units,
            "Success" if revenue else "Cancelled", revenue, [], None, None, None, None, None, None)


TRANSACTION_ROWS = [
    *[transaction(f"d{k}", day(k), f"{100 + k}.00", customer=None if k == 5 else 1) for k in range(40)],
    transaction("cancelled-43", day(43), "500.00", revenue=False),
    transaction("d44a", day(44), "100.00", units=1),
    transaction("d44b", day(44), "100.00", units=1),
    transaction("d44c", day(44), "200.00", units=None),
    transaction("cancelled-early", date(2025, 12, 25), "900.00", revenue=False),
    transaction("after-run-date", day(47), "1000.00"),
]


@pytest.fixture(scope="module")
def transactions(spark):
    return spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS).cache()


@pytest.fixture(scope="module")
def daily(transactions):
    return kpi_daily_sales(transactions, RUN_DATE).cache()


def test_every_column_of_the_days_around_the_drop(spark, daily):
    # change pct against revenue_7d of d-7 (679 + 7(d-7)): day 38 945 vs 896 = +5.46875 -> 5.47 (half-up)
    expected = spark.createDataFrame([
        (day(38), D("138.00"), 1, 2, D("138.00"), D("945.00"), D("5.47"), False),
        (day(39), D("139.00"), 1, 2, D("139.00"), D("952.00"), D("5.43"), False),
        (day(40), D("0.00"), 0, 0, None, D("819.00"), D("-10.00"), False),
        (day(41), D("0.00"), 0, 0, None, D("685.00"), D("-25.30"), False),
        (day(42), D("0.00"), 0, 0, None, D("550.00"), D("-40.48"), False),
        (day(43), D("0.00"), 0, 0, None, D("414.00"), D("-55.53"), True),
        (day(44), D("400.00"), 3, 2, D("133.33"), D("677.00"), D("-27.83"), False),
        (day(45), D("0.00"), 0, 0, None, D("539.00"), D("-42.96"), False),
        (day(46), D("0.00"), 0, 0, None, D("400.00"), D("-57.98"), True),
    ], DAILY_DDL)
    actual = daily.filter(daily.date >= day(38))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_calendar_runs_from_the_first_transaction_date_through_the_run_date(daily):
    dates = [row.date for row in daily.select("date").collect()]
    assert sorted(dates) == [day(k) for k in range(47)]


def test_first_days_sum_a_partial_week_and_have_no_previous_week(spark, daily):
    # days before the calendar count as 0; the 7 days before day 0..6 are all before it: change null.
    # day 7: 728 against day 0's 100.00 (the only day of 2025-12-26 .. 2026-01-01 with sales): +628 %
    expected = spark.createDataFrame(
        [(day(0), D("100.00"), None), (day(1), D("201.00"), None), (day(2), D("303.00"), None),
         (day(3), D("406.00"), None), (day(4), D("510.00"), None), (day(5), D("615.00"), None),
         (day(6), D("721.00"), None), (day(7), D("728.00"), D("628.00"))],
        "date date, revenue_7d decimal(18,2), revenue_7d_change_pct decimal(9,2)")
    actual = daily.filter(daily.date <= day(7)).select("date", "revenue_7d", "revenue_7d_change_pct")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_day_without_sales_counts_as_zero_in_the_rolling_window(spark, daily):
    # day 41 = days 35..41: 135 + 136 + 137 + 138 + 139 + 0 + 0 = 685.00
    expected = spark.createDataFrame([(day(40), D("0.00"), 0, D("819.00")), (day(41), D("0.00"), 0, D("685.00"))],
                                     "date date, revenue decimal(18,2), order_count int, revenue_7d decimal(18,2)")
    actual = daily.filter(daily.date.isin(day(40), day(41))).select("date", "revenue", "order_count", "revenue_7d")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_baseline_median_is_the_mean_of_the_two_middle_values(spark, transactions):
    # day 40: sorted baseline ... 812 (14th), 819 (15th) ... -> 815.5 (neither value; a lower or upper
    # median would give 812 or 819). MAD: 14th and 15th sorted deviations 45.5 and 52.5 -> 49.0
    expected = spark.createDataFrame(
        [(day(40), D("815.5"), D("49.0")), (day(46), D("857.5"), D("49.0"))],
        "date date, median decimal(38,4), mad decimal(38,4)")
    actual = (daily_sales_with_baseline(daily_facts(revenue_up_to(transactions, RUN_DATE)), RUN_DATE).filter(f"date IN ('{day(40)}', '{day(46)}')")
              .selectExpr("date", "CAST(_median AS decimal(38,4)) AS median", "CAST(_mad AS decimal(38,4)) AS mad"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_drop_below_both_bounds_is_an_anomaly_and_below_one_is_not(spark, daily):
    # 42 and 45 are below median - 4.4478 x MAD but not below half the median; 43 and 46 are below both
    expected = spark.createDataFrame(
        [(day(42), False), (day(43), True), (day(45), False), (day(46), True)], "date date, is_anomaly boolean")
    actual = daily.filter(daily.date.isin(day(42), day(43), day(45), day(46))).select("date", "is_anomaly")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_only_the_detected_days_are_anomalous(daily):
    assert sorted(row.date for row in daily.filter("is_anomaly").collect()) == [day(43), day(46)]


def test_day_with_fewer_than_34_days_before_it_is_never_anomalous(spark):
    # 100.00 a day on days 0..26, then nothing. Days 33 and 34 both have revenue_7d 0.00; only day 34 has
    # a full baseline (days 0..27: 100, 200, .., 600, 700 x 21, 600 -> median 700, MAD 0): it is anomalous.
    rows = [transaction(f"d{k}", day(k), "100.00") for k in range(27)]
    actual = kpi_daily_sales(spark.createDataFrame(rows, TRANSACTIONS), day(34))
    expected = spark.createDataFrame([(day(33), D("0.00"), False), (day(34), D("0.00"), True)],
                                     "date date, revenue_7d decimal(18,2), is_anomaly boolean")
    assert actual.filter("is_anomaly AND date < '2026-02-03'").count() == 0
    assert_df_equality(actual.filter(actual.date >= day(33)).select("date", "revenue_7d", "is_anomaly"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_no_transactions_give_an_empty_calendar(spark):
    assert kpi_daily_sales(spark.createDataFrame([], TRANSACTIONS), RUN_DATE).count() == 0


def test_alerts_list_the_anomalous_days_with_expected_and_reason(spark, transactions):
    expected = spark.createDataFrame([
        (day(43), D("414.00"), D("836.50"),
         "7-day revenue 414.00 is below the baseline median 836.50 - 3 x 1.4826 x MAD 49.00 = 618.56 "
         "and below half the median 418.25 (baseline days 2026-01-10 .. 2026-02-06)"),
        (day(46), D("400.00"), D("857.50"),
         "7-day revenue 400.00 is below the baseline median 857.50 - 3 x 1.4826 x MAD 49.00 = 639.56 "
         "and below half the median 428.75 (baseline days 2026-01-13 .. 2026-02-09)"),
    ], "date date, revenue decimal(18,2), expected decimal(18,2), reason string")
    assert_df_equality(alerts(transactions, RUN_DATE), expected, ignore_row_order=True, ignore_nullable=True)
