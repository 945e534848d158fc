"""Daily report KPIs (METRICS.md) except kpi_daily_sales: hand-computed on one small fixture.

Run date D = 2026-03-15; month of D = 2026-03-01 .. 03-15; last 30 days = 2026-02-14 .. 03-15.

    id   customer  date        amount  note
    t1   1         2026-03-02  100.00  region North
    t2   1         2026-03-09   50.00  North (last day of the first version)
    t3   1         2026-03-10   30.00  South (1 moved on 2026-03-10: region change mid-month)
    t4   2         2026-03-05   20.00  East
    t5   2         2026-03-15   25.50  on D
    t6   3         2026-03-03   40.00  West
    t7   3         2026-03-04  300.00  cancelled: not revenue (3 stays a one-order customer)
    t8   -         2026-03-06   60.00  anonymous
    t9   -         2026-03-07   10.00  anonymous
    t10  4         2026-03-08   15.00  4 is not in dim_customer: Unknown
    t11  4         2026-03-16   99.00  after D
    t12  5         2026-03-11    5.00  5's region is blank: Unknown
    t13  5         2026-03-12    5.00
    t14  2         2026-02-28   70.00  before the month, inside the 30 days
    t15  6         2026-02-13  500.00  one day before the 30 days
    t16  6         2026-02-14   45.00  first day of the 30 days
    t17  1         2025-12-20   80.00  no sales at all in 2026-01 (a gap month)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality

from etl.contracts.silver import BEGINNING_OF_TIME, DIM_CUSTOMER, END_OF_TIME, SALES_LINES, TRANSACTIONS
from etl.gold.kpis import (kpi_monthly_order_trends, kpi_product_sales_30d, kpi_regional_revenue,
                           kpi_repeat_customers, kpi_top_customers_30d)

RUN_DATE = date(2026, 3, 15)


def transaction(tid, customer, day, amount, revenue=True, channel="store"):
    return (channel, tid, customer, 1, 10, day, None, D(amount), 1,
            "Success" if revenue else "Cancelled", revenue, [], None, None, None, None, None, None)


def version(customer, first, last, region, valid_from=BEGINNING_OF_TIME, valid_to=END_OF_TIME):
    return (customer, first, last, None, None, None, region, None, valid_from, valid_to, valid_to == END_OF_TIME)


TRANSACTION_ROWS = [
    transaction("t1", 1, date(2026, 3, 2), "100.00"),
    transaction("t2", 1, date(2026, 3, 9), "50.00", channel="online"),
    transaction("t3", 1, date(2026, 3, 10), "30.00", channel="pos"),
    transaction("t4", 2, date(2026, 3, 5), "20.00"),
    transaction("t5", 2, date(2026, 3, 15), "25.50"),
    transaction("t6", 3, date(2026, 3, 3), "40.00", channel="online"),
    transaction("t7", 3, date(2026, 3, 4), "300.00", revenue=False, channel="pos"),
    transaction("t8", None, date(2026, 3, 6), "60.00", channel="online"),
    transaction("t9", None, date(2026, 3, 7), "10.00", channel="online"),
    transaction("t10", 4, date(2026, 3, 8), "15.00"),
    transaction("t11", 4, date(2026, 3, 16), "99.00"),
    transaction("t12", 5, date(2026, 3, 11), "5.00"),
    transaction("t13", 5, date(2026, 3, 12), "5.00"),
    transaction("t14", 2, date(2026, 2, 28), "70.00"),
    transaction("t15", 6, date(2026, 2, 13), "500.00"),
    transaction("t16", 6, date(2026, 2, 14), "45.00"),
    transaction("t17", 1, date(2025, 12, 20), "80.00"),
]
DIM_ROWS = [
    version(1, "Asha", "Rao", "North", valid_to=date(2026, 3, 10)),
    version(1, "Asha", "Rao", "South", valid_from=date(2026, 3, 10)),
    version(2, "Ben", "Ng", "East"),
    version(3, "Kai", "Lee", "West"),
    version(5, "Dev", "Shah", " "),
    version(6, "Cara", "Diaz", "East"),
]


@pytest.fixture(scope="module")
def transactions(spark):
    return spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS).cache()


@pytest.fixture(scope="module")
def dim(spark):
    return spark.createDataFrame(DIM_ROWS, DIM_CUSTOMER).cache()


# kpi_repeat_customers

def test_repeat_customers_have_two_or_more_transactions_in_the_month(spark, transactions, dim):
    # 1: t1 t2 t3; 2: t4 t5 (t14 is February); 5: t12 t13. Not 3 (t7 cancelled), not the anonymous pair,
    # not 4 (t11 is after D).
    expected = spark.createDataFrame(
        [(1, "Asha Rao", 3, D("180.00")), (2, "Ben Ng", 2, D("45.50")), (5, "Dev Shah", 2, D("10.00"))],
        "customer_id int, customer_name string, order_count int, total_amount decimal(18,2)")
    actual = kpi_repeat_customers(transactions, dim, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# kpi_regional_revenue

def test_regional_revenue_uses_the_region_on_the_transaction_date(spark, transactions, dim):
    # North t1 t2 = 150.00, South t3 = 30.00 (mid-month move), East t4 t5 = 45.50, West t6 = 40.00,
    # Unknown = anonymous t8 t9 (70.00) + t10 (customer 4 not in dim) + t12 t13 (blank region) = 95.00.
    # Month total 360.50: shares 41.6088.. 8.3217.. 12.6213.. 11.0957.. 26.3522..
    expected = spark.createDataFrame(
        [("North", D("150.00"), 2, D("41.61")), ("South", D("30.00"), 1, D("8.32")),
         ("East", D("45.50"), 2, D("12.62")), ("West", D("40.00"), 1, D("11.10")),
         ("Unknown", D("95.00"), 5, D("26.35"))],
        "region string, revenue decimal(18,2), order_count int, share_pct decimal(9,2)")
    actual = kpi_regional_revenue(transactions, dim, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_share_pct_rounds_half_up_once(spark, dim):
    # East 1.00 of 800.00 = 0.125 % -> 0.13 (half-even would give 0.12); West 799.00 = 99.875 % -> 99.88
    rows = [transaction("a", 2, date(2026, 3, 1), "1.00"), transaction("b", 3, date(2026, 3, 1), "799.00")]
    expected = spark.createDataFrame([("East", D("1.00"), 1, D("0.13")), ("West", D("799.00"), 1, D("99.88"))],
                                     "region string, revenue decimal(18,2), order_count int, share_pct decimal(9,2)")
    actual = kpi_regional_revenue(spark.createDataFrame(rows, TRANSACTIONS), dim, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# kpi_monthly_order_trends

def test_monthly_trends_cover_every_month_including_a_month_without_sales(spark, transactions):
    # 2025-12: t17. 2026-01: nothing. 2026-02: t14 t15 t16 (customers 2, 6).
    # 2026-03: 11 revenue orders up to D = 360.50; customers 1 2 3 4 5 (the anonymous orders count as orders only)
    expected = spark.createDataFrame(
        [("2025-12", 1, D("80.00"), 1), ("2026-01", 0, D("0.00"), 0), ("2026-02", 3, D("615.00"), 2),
         ("2026-03", 11, D("360.50"), 5)],
        "sales_month string, order_count int, revenue decimal(18,2), unique_customers int")
    actual = kpi_monthly_order_trends(transactions, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# kpi_top_customers_30d

def test_top_customers_rank_spend_over_the_last_30_days(spark, transactions, dim):
    # 2026-02-14 .. 03-15: 1 180.00 (3), 2 115.50 (t4 t5 t14), 6 45.00 (t16 only: t15 is 02-13),
    # 3 40.00, 4 15.00 (Unknown name), 5 10.00 (2)
    expected = spark.createDataFrame(
        [(1, 1, "Asha Rao", D("180.00"), 3), (2, 2, "Ben Ng", D("115.50"), 3), (3, 6, "Cara Diaz", D("45.00"), 1),
         (4, 3, "Kai Lee", D("40.00"), 1), (5, 4, "Unknown", D("15.00"), 1), (6, 5, "Dev Shah", D("10.00"), 2)],
        "rank int, customer_id int, customer_name string, total_spend decimal(18,2), order_count int")
    actual = kpi_top_customers_30d(transactions, dim, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_top_customers_keep_ties_at_rank_ten(spark, dim):
    # customers 101..109 spend 1200.00 .. 400.00 (ranks 1..9); 110 and 111 both 300.00 (rank 10, both kept);
    # 112 spends 200.00 (rank 12: left out)
    spends = {101: "1200.00", 102: "1100.00", 103: "1000.00", 104: "900.00", 105: "800.00", 106: "700.00",
              107: "600.00", 108: "500.00", 109: "400.00", 110: "300.00", 111: "300.00", 112: "200.00"}
    rows = [transaction(f"c{c}", c, date(2026, 3, 1), amount) for c, amount in spends.items()]
    expected = spark.createDataFrame(
        [(rank, c, "Unknown", D(spends[c]), 1) for rank, c in
         [(1, 101), (2, 102), (3, 103), (4, 104), (5, 105), (6, 106), (7, 107), (8, 108), (9, 109), (10, 110),
          (10, 111)]],
        "rank int, customer_id int, customer_name string, total_spend decimal(18,2), order_count int")
    actual = kpi_top_customers_30d(spark.createDataFrame(rows, TRANSACTIONS), dim, RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# kpi_product_sales_30d

def line(tid, day, product_id, name, sku, quantity, amount, revenue=True, channel="pos"):
    return (channel, tid, 1, day, 1, 1, product_id, name, sku, "sku" if product_id else "unmatched", quantity,
            None, D(amount), revenue, None, None, None)


LINE_ROWS = [
    line("l1", date(2026, 3, 1), 1, "vanilla cup", None, 2, "20.00", channel="store"),
    line("l2", date(2026, 3, 10), 1, "Vanilla Cup", "SKU-0001", 1, "10.00", channel="online"),
    line("l3", date(2026, 2, 14), 2, "Mango Bar", "SKU-0002", 3, "30.00"),
    line("l4", date(2026, 3, 12), None, "Choco Cone", "SKU-X", 1, "12.00"),
    line("l5", date(2026, 3, 13), None, "Choco Cone", None, 2, "18.00"),
    line("l6", date(2026, 3, 5), None, None, "SKU-0099", 1, "25.00", channel="online"),
    line("l7", date(2026, 3, 2), 2, "Mango Bar", "SKU-0002", 5, "100.00", revenue=False),
    line("l8", date(2026, 2, 13), 3, "Berry Tub", None, 1, "50.00", channel="store"),
    line("l9", date(2026, 3, 16), 3, "Berry Tub", None, 1, "50.00", channel="store"),
    line("l10", date(2026, 3, 3), 4, "Old Name", "SKU-0004", 1, "5.00"),
]
PRODUCTS = [(1, "Vanilla Cup", "SKU-0001"), (2, "Mango Bar", "SKU-0002"), (3, "Berry Tub", "SKU-0003")]


def test_product_sales_group_lines_by_product_over_the_last_30_days(spark):
    # 1 (catalogue name, whatever the line says): l1 + l2; 2: l3 (02-14 is the first day; l7 is cancelled);
    # unmatched "Choco Cone": l4 + l5; unmatched without a name: its SKU; 4 is not in the catalogue: the
    # line's name. 3: l8 is before the 30 days, l9 after D. Three products tie at 30.00 (rank 1, next is 4).
    expected = spark.createDataFrame(
        [(1, "Vanilla Cup", 3, D("30.00"), 1), (2, "Mango Bar", 3, D("30.00"), 1),
         (None, "Choco Cone", 3, D("30.00"), 1), (None, "SKU-0099", 1, D("25.00"), 4),
         (4, "Old Name", 1, D("5.00"), 5)],
        "product_id int, product_name string, quantity int, revenue decimal(18,2), revenue_rank int")
    actual = kpi_product_sales_30d(spark.createDataFrame(LINE_ROWS, SALES_LINES),
                                   spark.createDataFrame(PRODUCTS, "id int, name string, sku_id string"), RUN_DATE)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
