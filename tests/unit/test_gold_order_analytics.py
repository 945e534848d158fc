"""Order analytics by channel and time (METRICS.md "Order analytics"): hand-computed on small frames.

Run date D = 2026-03-15 (a Sunday). Each test builds the few rows its rule needs; the facts tables are
computed from the transactions by etl/gold/facts.py, as the gold stage does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

from chispa import assert_df_equality

from etl.contracts.silver import SALES_LINES, TRANSACTIONS
from etl.gold.facts import channel_daily_facts, pos_mix_month_facts
from etl.gold.marts import GOLD_TABLES
from etl.gold.order_analytics import (kpi_channel_daily, kpi_menu_performance_30d, kpi_order_mix,
                                      kpi_peak_hours)

RUN_DATE = date(2026, 3, 15)


def tx(tid, channel, day, amount, status="Success", ts=None, order_type=None, order_from=None, payment_type=None):
    return (channel, tid, None, None, None, day, ts, D(amount), 1, status, status == "Success", [], None, None, None,
            order_type, order_from, payment_type)


def schema(table: str) -> str:
    return GOLD_TABLES[table].schema


def channel_daily(spark, rows, run_date=RUN_DATE):
    return kpi_channel_daily(channel_daily_facts(spark.createDataFrame(rows, TRANSACTIONS)), run_date)


# -- kpi_channel_daily ----------------------------------------------------------------------------

def test_every_date_and_channel_from_the_first_transaction_with_zeros_and_cancelled_pos_orders(spark):
    """2026-03-13 .. 03-15: in-store only on the 13th (two sales), online nothing on the 14th, a cancelled
    and a refunded POS order on the 14th (counted as cancelled, not revenue), one after D (ignored)."""
    d13, d14, d15 = date(2026, 3, 13), date(2026, 3, 14), date(2026, 3, 15)
    rows = [tx("s1", "store", d13, "10.00"), tx("s2", "store", d13, "5.01"),
            tx("o1", "online", d13, "7.00"), tx("o2", "online", d15, "3.00"),
            tx("p1", "pos", d14, "20.00"), tx("p2", "pos", d14, "99.00", status="Cancelled"),
            tx("p3", "pos", d14, "50.00", status="Refunded"), tx("p4", "pos", d15, "1.00"),
            tx("late", "store", date(2026, 3, 16), "1000.00")]
    z, n = D("0.00"), None
    expected = spark.createDataFrame([
        (d13, "in_store", 2, D("15.01"), D("7.51"), 0, D("15.01"), 2, D("7.51")),
        (d13, "online", 1, D("7.00"), D("7.00"), 0, D("7.00"), 1, D("7.00")),
        (d13, "pos", 0, z, n, 0, z, 0, n),
        (d14, "in_store", 0, z, n, 0, D("15.01"), 2, D("7.51")),
        (d14, "online", 0, z, n, 0, D("7.00"), 1, D("7.00")),
        (d14, "pos", 1, D("20.00"), D("20.00"), 2, D("20.00"), 1, D("20.00")),
        (d15, "in_store", 0, z, n, 0, D("15.01"), 2, D("7.51")),
        (d15, "online", 1, D("3.00"), D("3.00"), 0, D("10.00"), 2, D("5.00")),
        (d15, "pos", 1, D("1.00"), D("1.00"), 0, D("21.00"), 2, D("10.50")),
    ], schema("kpi_channel_daily"))
    actual = channel_daily(spark, rows).orderBy("date", "channel")
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_the_28_day_sums_take_the_28_days_ending_the_date_and_no_more(spark):
    """In-store 1.00 on each of 30 days from 2026-02-14 (D-29): on D the window D-27 .. D holds 28 of them."""
    rows = [tx(f"s{i}", "store", RUN_DATE - timedelta(days=i), "1.00") for i in range(30)]
    rows.append(tx("big", "store", RUN_DATE - timedelta(days=28), "100.00"))    # D-28: just outside on D
    actual = channel_daily(spark, rows).filter("channel = 'in_store'")
    on = {r.date: r for r in actual.collect()}
    assert (on[RUN_DATE].revenue_28d, on[RUN_DATE].order_count_28d) == (D("28.00"), 28)
    assert (on[RUN_DATE - timedelta(days=1)].revenue_28d, on[RUN_DATE - timedelta(days=1)].order_count_28d) == \
        (D("128.00"), 29)           # D-28 .. D-1 holds the 100.00 day (two orders on it)
    assert on[RUN_DATE].avg_order_value_28d == D("1.00")
    assert actual.count() == 30


def test_no_transactions_no_rows(spark):
    assert channel_daily(spark, [tx("p", "pos", RUN_DATE, "5.00", status="Cancelled")]).count() == 0


# -- kpi_order_mix --------------------------------------------------------------------------------

def test_order_mix_shares_per_month_and_dimension_with_unknown_for_empty_values(spark):
    """March: three POS orders (10 + 20 + 30 = 60); a cancelled one and in-store sales are left out.
    February: one order. Shares: 1/3 = 33.33 %, 2/3 = 66.67 % (half-up), revenue 10/60 = 16.67 %."""
    m = date(2026, 3, 2)
    rows = [tx("a", "pos", m, "10.00", order_type="Delivery", order_from="Zomato", payment_type="Cash"),
            tx("b", "pos", m, "20.00", order_type="Delivery", order_from=" Swiggy ", payment_type=None),
            tx("c", "pos", m, "30.00", order_type="Dine In", order_from="Zomato", payment_type=" "),
            tx("x", "pos", m, "99.00", status="Cancelled", order_type="Takeaway"),
            tx("s", "store", m, "50.00"),
            tx("f", "pos", date(2026, 2, 20), "5.00", order_type="Takeaway", order_from="Own", payment_type="Card"),
            tx("after", "pos", date(2026, 4, 1), "5.00", order_type="Takeaway")]
    actual = kpi_order_mix(pos_mix_month_facts(spark.createDataFrame(rows, TRANSACTIONS)), RUN_DATE)
    expected = spark.createDataFrame([
        ("2026-02", "order_from", "Own", 1, D("5.00"), D("100.00"), D("100.00")),
        ("2026-02", "order_type", "Takeaway", 1, D("5.00"), D("100.00"), D("100.00")),
        ("2026-02", "payment_type", "Card", 1, D("5.00"), D("100.00"), D("100.00")),
        ("2026-03", "order_from", "Swiggy", 1, D("20.00"), D("33.33"), D("33.33")),
        ("2026-03", "order_from", "Zomato", 2, D("40.00"), D("66.67"), D("66.67")),
        ("2026-03", "order_type", "Delivery", 2, D("30.00"), D("66.67"), D("50.00")),
        ("2026-03", "order_type", "Dine In", 1, D("30.00"), D("33.33"), D("50.00")),
        ("2026-03", "payment_type", "Cash", 1, D("10.00"), D("33.33"), D("16.67")),
        ("2026-03", "payment_type", "Unknown", 2, D("50.00"), D("66.67"), D("83.33")),
    ], schema("kpi_order_mix"))
    assert_df_equality(actual.orderBy("sales_month", "dimension", "value"), expected, ignore_nullable=True)


# -- kpi_peak_hours -------------------------------------------------------------------------------

def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def test_peak_hours_always_168_cells_monday_first_utc_hours_and_ranks_with_ties(spark):
    """D-27 = 2026-02-16 (a Monday) .. D = 2026-03-15 (a Sunday). Monday 12h: 3 orders (two weeks);
    Sunday 23h: 2 orders; Friday 9h: 2 orders (a tie for rank 2); the next cells share rank 4."""
    monday, friday, sunday = date(2026, 2, 16), date(2026, 3, 13), RUN_DATE
    rows = [tx("m1", "pos", monday, "10.00", ts=at(monday, 12, 5)),
            tx("m2", "online", monday + timedelta(days=7), "20.00", ts=at(monday + timedelta(days=7), 12, 59)),
            tx("m3", "pos", monday + timedelta(days=14), "0.50", ts=at(monday + timedelta(days=14), 12)),
            tx("s1", "pos", sunday, "1.00", ts=at(sunday, 23, 59)),
            tx("s2", "online", sunday, "2.00", ts=at(sunday, 23)),
            tx("f1", "pos", friday, "3.00", ts=at(friday, 9)), tx("f2", "pos", friday, "4.00", ts=at(friday, 9)),
            tx("store", "store", friday, "500.00"),                                          # no time: left out
            tx("cancelled", "pos", friday, "9.00", status="Cancelled", ts=at(friday, 9)),   # not revenue
            tx("old", "pos", monday - timedelta(days=1), "9.00", ts=at(monday - timedelta(days=1), 23)),  # D-28
            tx("after", "pos", RUN_DATE + timedelta(days=1), "9.00", ts=at(RUN_DATE + timedelta(days=1), 0))]
    actual = kpi_peak_hours(spark.createDataFrame(rows, TRANSACTIONS), RUN_DATE)
    assert actual.count() == 168
    cells = {(r.day_of_week, r.hour): r for r in actual.collect()}
    assert set(cells) == {(d, h) for d in range(1, 8) for h in range(24)}
    assert tuple(cells[(1, 12)])[2:] == (3, D("30.50"), D("0.75"), 1)
    assert tuple(cells[(7, 23)])[2:] == (2, D("3.00"), D("0.50"), 2)
    assert tuple(cells[(5, 9)])[2:] == (2, D("7.00"), D("0.50"), 2)
    assert tuple(cells[(3, 4)])[2:] == (0, D("0.00"), D("0.00"), 4)     # an empty cell: zeros, rank after the 3
    assert sum(r.order_count for r in cells.values()) == 7


def test_peak_hours_without_orders_still_has_168_zero_rows(spark):
    actual = kpi_peak_hours(spark.createDataFrame([], TRANSACTIONS), RUN_DATE)
    assert actual.count() == 168
    assert actual.filter("order_count = 0 AND revenue = 0 AND busiest_rank = 1").count() == 168


# -- kpi_menu_performance_30d ---------------------------------------------------------------------

def line(tid, number, day, product, quantity, amount, revenue=True):
    return ("pos", tid, number, day, None, None, product, f"P{product}", None, "sku", quantity, None, D(amount),
            revenue, None, None, None)


PRODUCTS = "id int, name string, sku_id string, category string"


def test_menu_one_row_per_catalogue_product_windows_change_rank_and_underperforming(spark):
    """Current window D-29 = 2026-02-14 .. D; previous D-59 = 2026-01-15 .. 2026-02-13.

    product 1: one order with it on two lines (2 + 1 units, 30 + 15) and 10.00 earlier: +350 %;
    product 2: 45.00 now (ties 1 for rank 1), nothing before: change null;
    product 3: 5.00 now, 10.00 before: -50 %;  product 4: no sales at all: underperforming;
    product 5: 20.00 now; product 6 (not in the catalogue) and an unmatched line are left out;
    a cancelled line and one before D-59 do not count.
    Five catalogue products: PERCENT_RANK of revenue ascending is 0 (4), 0.25 (3), 0.5 (5), 0.75 (1, 2):
    only 4 is below 0.2."""
    now, before = date(2026, 2, 14), date(2026, 2, 13)
    rows = [line("a", 1, now, 1, 2, "30.00"), line("a", 2, now, 1, 1, "15.00"), line("b", 1, before, 1, 1, "10.00"),
            line("c", 1, RUN_DATE, 2, 3, "45.00"),
            line("d", 1, RUN_DATE, 3, 1, "5.00"), line("e", 1, date(2026, 1, 15), 3, 2, "10.00"),
            line("f", 1, RUN_DATE, 5, 4, "20.00"),
            line("g", 1, RUN_DATE, 6, 1, "999.00"), line("h", 1, RUN_DATE, None, 1, "999.00"),
            line("i", 1, RUN_DATE, 5, 1, "999.00", revenue=False), line("j", 1, date(2026, 1, 14), 5, 1, "999.00")]
    products = spark.createDataFrame([(p, f"Item {p}", f"SKU-{p}", "Cones" if p < 3 else None)
                                      for p in range(1, 6)], PRODUCTS)
    actual = kpi_menu_performance_30d(spark.createDataFrame(rows, SALES_LINES), products, RUN_DATE)
    expected = spark.createDataFrame([
        (1, "Item 1", "Cones", 3, D("45.00"), 1, D("10.00"), D("350.00"), 1, False),
        (2, "Item 2", "Cones", 3, D("45.00"), 0, D("0.00"), None, 1, False),
        (5, "Item 5", None, 4, D("20.00"), 0, D("0.00"), None, 3, False),
        (3, "Item 3", None, 1, D("5.00"), 2, D("10.00"), D("-50.00"), 4, False),
        (4, "Item 4", None, 0, D("0.00"), 0, D("0.00"), None, 5, True),
    ], schema("kpi_menu_performance_30d"))
    assert_df_equality(actual.orderBy("revenue_rank", "product_id"), expected, ignore_nullable=True)


def test_underperforming_is_percent_rank_below_0_2_not_at_it(spark):
    """Six products with revenue 1..6: PERCENT_RANK 0, 0.2, 0.4, ...: only the lowest is below 0.2 (the
    second sits at 0.2 exactly); none has zero revenue."""
    rows = [line(f"t{p}", 1, RUN_DATE, p, 1, f"{p}.00") for p in range(1, 7)]
    products = spark.createDataFrame([(p, f"Item {p}", None, None) for p in range(1, 7)], PRODUCTS)
    actual = kpi_menu_performance_30d(spark.createDataFrame(rows, SALES_LINES), products, RUN_DATE)
    assert sorted(r.product_id for r in actual.filter("underperforming").collect()) == [1]
