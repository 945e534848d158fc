"""customers_data_mart (METRICS.md): every column hand-computed on one small fixture.

Run date D = 2026-03-15. Transactions (revenue unless said otherwise):

customer 1 "Asha Rao" (address changed 2026-01-01: current record "New St", North)
    2025-11-30 100.00 | 2026-01-05 50.00, 25.00 (same date twice) | 2026-03-11 200.00
    2026-03-12 500.00 not revenue (cancelled)   -> excluded
    2026-03-16 999.00 after D                  -> excluded
    lifetime 375.00 over 4 transactions; months 2025-11 .. 2026-03 = 5; distinct dates
    11-30, 01-05, 03-11: gaps 36 and 65 days -> 50.50
customer 2 "Ben Ng": 2026-02-20 40.00, 20.00, 0.01 (one purchase date)
    lifetime 60.01 / 3 = 20.0033 -> 20.00 ; / 2 months = 30.005 -> 30.01 (half-up)
customer 3 "Kai Lee": 2025-10-01 600.00, 2025-12-10 400.00; last purchase 95 days before D -> inactive
customer 4 "Mia Roy": 2025-12-15 100.00; exactly 90 days before D -> still active
customer 5 (not in dim_customer): 2026-03-15 10.00 (on D) -> Unknown, no address/phone/region
customer 6 " Cara" / null: 2026-01-31 100.00, 2026-02-28 200.00; region East until 2026-03-20,
    West from then (a version after D: as of D the record is East)
anonymous: 2026-03-01 70.00 -> no row
customer 7 is in dim_customer without transactions -> no row

Lifetime values ascending: 5 10.00, 2 60.01, 4 100.00, 6 300.00, 1 375.00, 3 1000.00;
PERCENT_RANK = 0, 0.2, 0.4, 0.6, 0.8, 1.0 -> Occasional, Occasional, Regular (0.4 boundary),
Regular, Premium (0.8 boundary), and customer 3 is At Risk (inactive) whatever its rank.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality

from etl.contracts.silver import BEGINNING_OF_TIME, DIM_CUSTOMER, END_OF_TIME, TRANSACTIONS
from etl.gold.customers import customers_data_mart

RUN_DATE = date(2026, 3, 15)


def transaction(tid, customer, day, amount, revenue=True, channel="pos"):
    return (channel, tid, customer, None, None, day, None, D(amount), 1,
            "Success" if revenue else "Cancelled", revenue, [], None, None, None, None, None, None)


def version(customer, first, last, address, phone, region, valid_from=BEGINNING_OF_TIME, valid_to=END_OF_TIME):
    return (customer, first, last, address, None, phone, region, None, valid_from, valid_to, valid_to == END_OF_TIME)


TRANSACTION_ROWS = [
    transaction("t1", 1, date(2025, 11, 30), "100.00"),
    transaction("t2", 1, date(2026, 1, 5), "50.00"),
    transaction("t3", 1, date(2026, 1, 5), "25.00"),
    transaction("t4", 1, date(2026, 3, 11), "200.00"),
    transaction("t5", 1, date(2026, 3, 12), "500.00", revenue=False),
    transaction("t6", 1, date(2026, 3, 16), "999.00"),
    transaction("t7", 2, date(2026, 2, 20), "40.00"),
    transaction("t8", 2, date(2026, 2, 20), "20.00"),
    transaction("t9", 2, date(2026, 2, 20), "0.01"),
    transaction("t10", 3, date(2025, 10, 1), "600.00"),
    transaction("t11", 3, date(2025, 12, 10), "400.00"),
    transaction("t12", 4, date(2025, 12, 15), "100.00"),
    transaction("t13", 5, date(2026, 3, 15), "10.00"),
    transaction("t14", 6, date(2026, 1, 31), "100.00"),
    transaction("t15", 6, date(2026, 2, 28), "200.00"),
    transaction("t16", None, date(2026, 3, 1), "70.00", channel="online"),
]
DIM_ROWS = [
    version(1, "Asha", "Rao", "Old St", "9810000001", "North", valid_to=date(2026, 1, 1)),
    version(1, "Asha", "Rao", "New St", "9810000001", "North", valid_from=date(2026, 1, 1)),
    version(2, "Ben", "Ng", "2 Park Rd", "9810000002", "South"),
    version(3, "Kai", "Lee", "3 Hill Rd", None, "North"),
    version(4, "Mia", "Roy", "4 Lake Rd", "9810000004", "South"),
    version(6, " Cara", None, "6 Mall Rd", "9810000006", "East", valid_to=date(2026, 3, 20)),
    version(6, " Cara", None, "6 Mall Rd", "9810000006", "West", valid_from=date(2026, 3, 20)),
    version(7, "No", "Sales", "7 Side St", "9810000007", "East"),
]

MART_DDL = (
    "customer_id int, full_name string, address string, phone_number string, region string, "
    "sales_month string, total_sales decimal(18,2), monthly_transactions int, "
    "customer_lifetime_value decimal(18,2), first_purchase_month string, last_purchase_month string, "
    "purchase_frequency int, monetary_value decimal(18,2), avg_monthly_spending decimal(18,2), "
    "max_single_transaction decimal(18,2), avg_time_between_purchases decimal(9,2), "
    "inactive_status boolean, customer_segment string"
)
ASHA = (1, "Asha Rao", "New St", "9810000001", "North")
ASHA_LIFE = (D("375.00"), "2025-11", "2026-03", 4, D("93.75"), D("75.00"), D("200.00"), D("50.50"), False, "Premium")
BEN = (2, "Ben Ng", "2 Park Rd", "9810000002", "South")
BEN_LIFE = (D("60.01"), "2026-02", "2026-02", 3, D("20.00"), D("30.01"), D("40.00"), None, False, "Occasional")
KAI = (3, "Kai Lee", "3 Hill Rd", None, "North")
KAI_LIFE = (D("1000.00"), "2025-10", "2025-12", 2, D("500.00"), D("166.67"), D("600.00"), D("70.00"), True, "At Risk")
MIA = (4, "Mia Roy", "4 Lake Rd", "9810000004", "South")
MIA_LIFE = (D("100.00"), "2025-12", "2025-12", 1, D("100.00"), D("25.00"), D("100.00"), None, False, "Regular")
NOBODY = (5, "Unknown", None, None, None)
NOBODY_LIFE = (D("10.00"), "2026-03", "2026-03", 1, D("10.00"), D("10.00"), D("10.00"), None, False, "Occasional")
CARA = (6, "Cara", "6 Mall Rd", "9810000006", "East")
CARA_LIFE = (D("300.00"), "2026-01", "2026-02", 2, D("150.00"), D("100.00"), D("200.00"), D("28.00"), False, "Regular")
EXPECTED = [
    (*ASHA, "2025-11", D("100.00"), 1, *ASHA_LIFE),
    (*ASHA, "2026-01", D("75.00"), 2, *ASHA_LIFE),
    (*ASHA, "2026-03", D("200.00"), 1, *ASHA_LIFE),
    (*BEN, "2026-02", D("60.01"), 3, *BEN_LIFE),
    (*KAI, "2025-10", D("600.00"), 1, *KAI_LIFE),
    (*KAI, "2025-12", D("400.00"), 1, *KAI_LIFE),
    (*MIA, "2025-12", D("100.00"), 1, *MIA_LIFE),
    (*NOBODY, "2026-03", D("10.00"), 1, *NOBODY_LIFE),
    (*CARA, "2026-01", D("100.00"), 1, *CARA_LIFE),
    (*CARA, "2026-02", D("200.00"), 1, *CARA_LIFE),
]


@pytest.fixture(scope="module")
def mart(spark):
    transactions = spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS)
    dim = spark.createDataFrame(DIM_ROWS, DIM_CUSTOMER)
    return customers_data_mart(transactions, dim, RUN_DATE).cache()


def _per_customer(spark, mart, rows, ddl):
    expected = spark.createDataFrame(rows, ddl)
    return mart.select(*expected.columns).distinct(), expected


def test_every_column_matches_the_hand_computed_mart(spark, mart):
    assert_df_equality(mart, spark.createDataFrame(EXPECTED, MART_DDL), ignore_row_order=True, ignore_nullable=True)


def test_anonymous_non_revenue_and_later_transactions_are_excluded(spark, mart):
    # customer 1 in 2026-03: only the 200.00 of 03-11 (the cancelled 500.00 and the 999.00 of 03-16 do not count)
    actual, expected = _per_customer(
        spark, mart.filter("customer_id = 1 AND sales_month = '2026-03' OR customer_id IS NULL"),
        [(1, "2026-03", D("200.00"), 1, D("375.00"), 4)],
        "customer_id int, sales_month string, total_sales decimal(18,2), monthly_transactions int, "
        "customer_lifetime_value decimal(18,2), purchase_frequency int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_customer_with_one_purchase_date_has_no_time_between_purchases(spark, mart):
    # 2: three transactions on one date; 4 and 5: one transaction each
    actual, expected = _per_customer(
        spark, mart.filter("customer_id IN (2, 4, 5)"), [(2, None), (4, None), (5, None)],
        "customer_id int, avg_time_between_purchases decimal(9,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_time_between_purchases_is_mean_gap_between_distinct_dates(spark, mart):
    # 1: 2025-11-30 -> 2026-01-05 (36 d) -> 2026-03-11 (65 d): 50.50, the two 01-05 sales are one date
    # 3: 2025-10-01 -> 2025-12-10 (70 d); 6: 2026-01-31 -> 2026-02-28 (28 d)
    actual, expected = _per_customer(
        spark, mart.filter("customer_id IN (1, 3, 6)"), [(1, D("50.50")), (3, D("70.00")), (6, D("28.00"))],
        "customer_id int, avg_time_between_purchases decimal(9,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_inactive_after_more_than_90_days(spark, mart):
    # 3: last purchase 2025-12-10, 95 days before D; 4: 2025-12-15, exactly 90 days: not more than 90
    actual, expected = _per_customer(
        spark, mart.filter("customer_id IN (3, 4)"), [(3, True, "At Risk"), (4, False, "Regular")],
        "customer_id int, inactive_status boolean, customer_segment string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_segments_by_percent_rank_of_lifetime_value(spark, mart):
    # percent ranks 0 (5), 0.2 (2), 0.4 (4), 0.6 (6), 0.8 (1), 1.0 (3, inactive)
    actual, expected = _per_customer(
        spark, mart,
        [(5, "Occasional"), (2, "Occasional"), (4, "Regular"), (6, "Regular"), (1, "Premium"), (3, "At Risk")],
        "customer_id int, customer_segment string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_record_is_the_version_valid_on_the_run_date(spark, mart):
    # 1 moved on 2026-01-01 (New St); 6 moves West on 2026-03-20, after D: East as of D
    actual, expected = _per_customer(
        spark, mart.filter("customer_id IN (1, 6)"), [(1, "Asha Rao", "New St", "North"), (6, "Cara", "6 Mall Rd", "East")],
        "customer_id int, full_name string, address string, region string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_customer_missing_from_dim_is_unknown(spark, mart):
    actual, expected = _per_customer(
        spark, mart.filter("customer_id = 5"), [NOBODY], "customer_id int, full_name string, address string, "
        "phone_number string, region string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_avg_monthly_spending_counts_months_through_the_run_month(spark, mart):
    # 1: 375.00 / 5 (2025-11..2026-03); 3: 1000.00 / 6 (2025-10..2026-03, inactive months count);
    # 2: 60.01 / 2 = 30.005 -> 30.01 (half-up); 5: 10.00 / 1
    actual, expected = _per_customer(
        spark, mart.filter("customer_id IN (1, 2, 3, 5)"),
        [(1, D("75.00")), (2, D("30.01")), (3, D("166.67")), (5, D("10.00"))],
        "customer_id int, avg_monthly_spending decimal(18,2)")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_lifetime_figures_repeat_on_every_month_row(spark, mart):
    actual, expected = _per_customer(
        spark, mart.filter("customer_id = 1"),
        [(1, D("375.00"), "2025-11", "2026-03", 4, D("93.75"), D("200.00"))],
        "customer_id int, customer_lifetime_value decimal(18,2), first_purchase_month string, "
        "last_purchase_month string, purchase_frequency int, monetary_value decimal(18,2), "
        "max_single_transaction decimal(18,2)")
    assert mart.filter("customer_id = 1").count() == 3
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_transactions_without_a_needed_column_are_rejected_by_name(spark):
    frame = spark.createDataFrame([(1, date(2026, 1, 1))], "customer_id int, transaction_date date")
    dim = spark.createDataFrame([], DIM_CUSTOMER)
    with pytest.raises(ValueError, match="transactions lacks column.*amount"):
        customers_data_mart(frame, dim, RUN_DATE)
