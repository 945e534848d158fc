"""customer_rfm, kpi_basket_pairs_90d and kpi_cohort_retention (METRICS.md "Order analytics"), hand-computed.

Run date D = 2026-03-15. RFM window D-364 .. D = 2025-03-16 .. 2026-03-15; basket window
D-89 .. D = 2025-12-16 .. 2026-03-15. Each fixture is drawn next to its test.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl.contracts.silver import BEGINNING_OF_TIME, DIM_CUSTOMER, END_OF_TIME, SALES_LINES, TRANSACTIONS
from etl.gold.customer_analytics import (customer_rfm, kpi_basket_pairs_90d, kpi_cohort_retention,
                                         rfm_segment)
from etl.gold.facts import customer_month_facts

RUN_DATE = date(2026, 3, 15)
RFM_DDL = ("customer_id int, customer_name string, last_purchase_date date, recency_days int, frequency int, "
           "monetary decimal(18,2), r_score int, f_score int, m_score int, rfm_segment string")
BASKET_DDL = ("product_id_a int, product_name_a string, product_id_b int, product_name_b string, "
              "orders_with_both int, support decimal(9,4), confidence_a_to_b decimal(9,4), "
              "confidence_b_to_a decimal(9,4), lift decimal(9,4), lift_rank int")
COHORT_DDL = ("cohort_month string, month_offset int, sales_month string, cohort_size int, active_customers int, "
              "retention_pct decimal(9,2)")


def transaction(tid, customer, day, amount="10.00", revenue=True, channel="store"):
    return (channel, tid, customer, 1, None, day, None, D(amount), 1,
            "Success" if revenue else "Cancelled", revenue, [], None, None, None, None, None, None)


def version(customer, first, last, valid_from=BEGINNING_OF_TIME, valid_to=END_OF_TIME):
    return (customer, first, last, None, None, None, "North", None, valid_from, valid_to, valid_to == END_OF_TIME)


def line(tid, number, day, product_id, revenue=True, channel="pos"):
    return (channel, tid, number, day, None, None, product_id, None, None,
            "sku" if product_id is not None else "unmatched", 1, None, D("1.00"), revenue, None, None, None)


def same(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# ---------------------------------------------------------------- customer_rfm
#
#   customer  transactions (date amount)                       recency  freq  monetary
#   1         2026-03-15 10.00 (on D)                           0        1     10.00
#   2         2026-03-10 10.00                                  5        1     10.00
#   3         2026-03-08 5.00, 2026-03-10 5.00                  5        2     10.00
#   4         2026-01-01 100.00 x 3 (no customer record)        73       3     300.00
#   5         2025-03-16 1.00 (first day of the window)         364      1     1.00
#   not in the table: 6 (2025-03-15, a day before the window), 7 (cancelled only), 8 (after D), anonymous.
#
# n = 5. RANK by recency desc: 5 -> 1, 4 -> 2, 2 and 3 tie -> 3, 1 -> 5 (4 is skipped).
# r_score = 1 + floor(5 (r-1) / 4), capped at 5: r 1 -> 1, 2 -> 2, 3 -> 3, 5 -> 6 -> 5.
# RANK by frequency asc: 1, 2, 5 -> 1; 3 -> 4; 4 -> 5 => f 1, 4 (1 + floor(15/4)), 5.
# RANK by monetary asc: 5 -> 1; 1, 2, 3 tie -> 2; 4 -> 5 => m 1, 2 (1 + floor(5/4)), 5.
# Segments: 1 (r5 f1) New; 2 (r3 f1) Needs Attention; 3 (r3 f4) Loyal; 4 (r2 f5) At Risk; 5 (r1 f1) Lost.

RFM_TRANSACTIONS = [
    transaction("t1", 1, date(2026, 3, 15), channel="pos"),
    transaction("t2", 2, date(2026, 3, 10), channel="online"),
    transaction("t3", 3, date(2026, 3, 8), "5.00"),
    transaction("t4", 3, date(2026, 3, 10), "5.00"),
    transaction("t5", 4, date(2026, 1, 1), "100.00"),
    transaction("t6", 4, date(2026, 1, 1), "100.00"),
    transaction("t7", 4, date(2026, 1, 1), "100.00"),
    transaction("t8", 5, date(2025, 3, 16), "1.00"),
    transaction("t9", 6, date(2025, 3, 15), "50.00"),
    transaction("t10", 7, date(2026, 3, 1), "900.00", revenue=False, channel="pos"),
    transaction("t11", 8, date(2026, 3, 16), "900.00"),
    transaction("t12", None, date(2026, 3, 14), "900.00", channel="online"),
    transaction("t13", 2, date(2026, 3, 12), "900.00", revenue=False, channel="pos"),   # would make 2 recent
]
RFM_DIM = [
    version(1, "Asha", "Rao", valid_to=date(2026, 3, 16)),          # renamed after D: the name on D counts
    version(1, "Asha", "Iyer", valid_from=date(2026, 3, 16)),
    version(2, " Ben", None), version(3, "Cara", "Diaz"), version(5, "Esha", "Khan"),
    version(6, "Farid", "Shah"), version(7, "Gita", "Das"), version(8, "Hari", "Roy"),
]


@pytest.fixture(scope="module")
def rfm_dim(spark):
    return spark.createDataFrame(RFM_DIM, DIM_CUSTOMER).cache()


def test_rfm_scores_rank_ties_and_skip_the_window_edges(spark, rfm_dim):
    expected = spark.createDataFrame([
        (1, "Asha Rao", date(2026, 3, 15), 0, 1, D("10.00"), 5, 1, 2, "New"),
        (2, "Ben", date(2026, 3, 10), 5, 1, D("10.00"), 3, 1, 2, "Needs Attention"),
        (3, "Cara Diaz", date(2026, 3, 10), 5, 2, D("10.00"), 3, 4, 2, "Loyal"),
        (4, "Unknown", date(2026, 1, 1), 73, 3, D("300.00"), 2, 5, 5, "At Risk"),
        (5, "Esha Khan", date(2025, 3, 16), 364, 1, D("1.00"), 1, 1, 1, "Lost"),
    ], RFM_DDL)
    actual = customer_rfm(spark.createDataFrame(RFM_TRANSACTIONS, TRANSACTIONS), rfm_dim, RUN_DATE)
    same(actual, expected)


def test_rfm_one_customer_scores_one(spark, rfm_dim):
    # n = 1: every score is 1 (no division by n - 1), so the only customer is Lost.
    rows = [transaction("t1", 3, date(2026, 3, 15), "20.00"), transaction("t2", 3, date(2026, 3, 1), "30.00")]
    expected = spark.createDataFrame([(3, "Cara Diaz", date(2026, 3, 15), 0, 2, D("50.00"), 1, 1, 1, "Lost")],
                                     RFM_DDL)
    same(customer_rfm(spark.createDataFrame(rows, TRANSACTIONS), rfm_dim, RUN_DATE), expected)


def test_rfm_scores_are_exact_integer_quintiles(spark, rfm_dim):
    # 7 customers, all different: r = 1..7 -> 1 + floor(5 (r-1) / 6) = 1, 1, 2, 3, 4, 5, 6 -> 5.
    # (A double division 5 x 3 / 6 = 2.5 is fine, but the cap and the floor both matter here.)
    rows = [transaction(f"t{c}", c, date(2026, 3, 8 + c), f"{c}.00") for c in range(1, 8)]
    for c in range(1, 8):  # frequency c: customer c buys c times in total
        rows += [transaction(f"t{c}-{k}", c, date(2026, 3, 1), "0.00") for k in range(1, c)]
    actual = customer_rfm(spark.createDataFrame(rows, TRANSACTIONS), rfm_dim, RUN_DATE)
    scores = {r["customer_id"]: (r["r_score"], r["f_score"], r["m_score"]) for r in actual.collect()}
    quintiles = [1, 1, 2, 3, 4, 5, 5]
    assert scores == {c: (quintiles[c - 1],) * 3 for c in range(1, 8)}


# One (r, f) per rule, and pairs that several rules match: the first in METRICS.md's order wins.
SEGMENT_CASES = [
    (4, 4, "Champions"), (5, 5, "Champions"),                      # also Loyal
    (3, 3, "Loyal"), (4, 3, "Loyal"), (5, 3, "Loyal"),             # (4,3), (5,3): not Champions, before Promising
    (5, 1, "New"),                                                 # also Promising
    (4, 1, "Promising"), (5, 2, "Promising"), (4, 2, "Promising"),
    (3, 1, "Needs Attention"), (3, 2, "Needs Attention"),
    (2, 3, "At Risk"), (1, 5, "At Risk"),
    (2, 2, "Lost"), (1, 1, "Lost"),
]


def test_rfm_segment_first_matching_rule(spark):
    frame = spark.createDataFrame(SEGMENT_CASES, "r int, f int, expected string")
    got = {(row["r"], row["f"]): row["segment"]
           for row in frame.select("r", "f", rfm_segment(F.col("r"), F.col("f")).alias("segment")).collect()}
    assert got == {(r, f): segment for r, f, segment in SEGMENT_CASES}


def test_rfm_every_segment_from_transactions(spark, rfm_dim):
    # Ten customers, n = 10: score(rank) = 1 + floor(5 (rank-1) / 9) -> ranks 1..10 score
    # 1 1 2 2 3 3 4 4 5 5 (rank 10 -> 6, capped). Customer c last buys on 2026-03-(5 + c): recency rank c.
    # Frequencies are all different, so frequency k has rank k and f_score = the same table at k.
    #   c  r  frequency f  segment
    plan = [
        (1, 1, 1, 1, "Lost"),
        (2, 1, 5, 3, "At Risk"),
        (3, 2, 7, 4, "At Risk"),
        (4, 2, 10, 5, "At Risk"),
        (5, 3, 3, 2, "Needs Attention"),
        (6, 3, 6, 3, "Loyal"),
        (7, 4, 4, 2, "Promising"),
        (8, 4, 8, 4, "Champions"),
        (9, 5, 2, 1, "New"),
        (10, 5, 9, 5, "Champions"),
    ]
    rows = []
    for c, _, frequency, _, _ in plan:
        rows.append(transaction(f"t{c}", c, date(2026, 3, 5 + c)))
        rows += [transaction(f"t{c}-{k}", c, date(2026, 2, 1)) for k in range(1, frequency)]
    actual = customer_rfm(spark.createDataFrame(rows, TRANSACTIONS), rfm_dim, RUN_DATE).collect()
    got = {r["customer_id"]: (r["r_score"], r["frequency"], r["f_score"], r["rfm_segment"]) for r in actual}
    assert got == {c: (r, frequency, f, segment) for c, r, frequency, f, segment in plan}


# ---------------------------------------------------------------- kpi_basket_pairs_90d
#
#   order  date        channel/status     lines (product_id)        counts?
#   o1     2026-03-15  pos                1, 2, 3, 9                 yes (on D)
#   o2     2025-12-16  pos                1, 2, 3, 9                 yes (first day of the window)
#   o3     2026-02-01  pos                1, 1, 2, 9                 yes; 1 on two lines counts once
#   o4     2026-02-02  pos                2, 4                       yes
#   o5     2026-02-03  pos                unmatched, unmatched       an order (N) without products
#   o6     2026-02-03  pos                (no lines)                 an order (N) without lines
#   o11-13 2026-01-1x  pos                3, 4                       yes
#   o7     2026-02-04  pos, Cancelled     1, 3                       no: not revenue
#   o8     2025-12-15  pos                1, 3                       no: a day before the window
#   o9     2026-02-05  online             1, 3                       no: not a POS order
#   o10    2026-03-16  pos                1, 3                       no: after D
# 9 is matched in silver but not in the catalogue: (1,9) and (2,9) are in 3 orders but take no part.
#
# N = 9 POS orders (o1-o6, o11-o13). Orders with 1: 3; 2: 4; 3: 5; 4: 4.
# (1,2): o1 o2 o3 = 3 -> kept. (3,4): o11 o12 o13 = 3 -> kept. (1,3), (2,3): 2 -> dropped. (2,4): 1.
# (1,2): support 3/9 = .3333, 1->2 3/3 = 1.0000, 2->1 3/4 = .7500, lift 3 x 9 / (3 x 4) = 2.2500, rank 1
# (3,4): support .3333, 3->4 3/5 = .6000, 4->3 3/4 = .7500, lift 27 / 20 = 1.3500, rank 2

BASKET_ORDERS = {
    "o1": (date(2026, 3, 15), "pos", True, [1, 2, 3, 9]),
    "o2": (date(2025, 12, 16), "pos", True, [1, 2, 3, 9]),
    "o3": (date(2026, 2, 1), "pos", True, [1, 1, 2, 9]),
    "o4": (date(2026, 2, 2), "pos", True, [2, 4]),
    "o5": (date(2026, 2, 3), "pos", True, [None, None]),
    "o6": (date(2026, 2, 3), "pos", True, []),
    "o11": (date(2026, 1, 11), "pos", True, [3, 4]),
    "o12": (date(2026, 1, 12), "pos", True, [3, 4]),
    "o13": (date(2026, 1, 13), "pos", True, [3, 4]),
    "o7": (date(2026, 2, 4), "pos", False, [1, 3]),
    "o8": (date(2025, 12, 15), "pos", True, [1, 3]),
    "o9": (date(2026, 2, 5), "online", True, [1, 3]),
    "o10": (date(2026, 3, 16), "pos", True, [1, 3]),
}
CATALOGUE = [(1, "Vanilla"), (2, "Mango"), (3, "Choco"), (4, "Kulfi")]


def basket_frames(spark, orders=BASKET_ORDERS):
    lines = [line(tid, number, day, product, revenue, channel)
             for tid, (day, channel, revenue, products) in orders.items()
             for number, product in enumerate(products, start=1)]
    transactions = [transaction(tid, None, day, revenue=revenue, channel=channel)
                    for tid, (day, channel, revenue, _) in orders.items()]
    return (spark.createDataFrame(lines, SALES_LINES), spark.createDataFrame(transactions, TRANSACTIONS),
            spark.createDataFrame(CATALOGUE, "id int, name string"))


def test_basket_pairs_threshold_once_per_order_catalogue_only(spark):
    expected = spark.createDataFrame([
        (1, "Vanilla", 2, "Mango", 3, D("0.3333"), D("1.0000"), D("0.7500"), D("2.2500"), 1),
        (3, "Choco", 4, "Kulfi", 3, D("0.3333"), D("0.6000"), D("0.7500"), D("1.3500"), 2),
    ], BASKET_DDL)
    same(kpi_basket_pairs_90d(*basket_frames(spark), RUN_DATE), expected)


def test_basket_pair_in_two_orders_is_left_out_and_in_three_kept(spark):
    # A third POS order with 1 and 3 lifts (1,3) from 2 to exactly 3 orders.
    orders = {**BASKET_ORDERS, "o14": (date(2026, 3, 1), "pos", True, [3, 1])}
    rows = kpi_basket_pairs_90d(*basket_frames(spark, orders), RUN_DATE).collect()
    pairs = {(r["product_id_a"], r["product_id_b"]): r["orders_with_both"] for r in rows}
    assert pairs == {(1, 2): 3, (1, 3): 3, (3, 4): 3}


def test_basket_lift_rank_ties_on_equal_lift(spark):
    # Two disjoint pairs with the same counts: (1,2) and (3,4) each alone in 3 orders -> equal lift, rank 1 both.
    orders = {f"p{i}": (date(2026, 3, 1), "pos", True, [1, 2]) for i in range(3)}
    orders |= {f"q{i}": (date(2026, 3, 2), "pos", True, [3, 4]) for i in range(3)}
    rows = kpi_basket_pairs_90d(*basket_frames(spark, orders), RUN_DATE).collect()
    # N = 6; each product in 3 orders; lift = 3 x 6 / 9 = 2.0000
    assert sorted((r["product_id_a"], r["lift"], r["lift_rank"]) for r in rows) == [(1, D("2.0000"), 1),
                                                                                  (3, D("2.0000"), 1)]


# ---------------------------------------------------------------- kpi_cohort_retention
#
#   customer  revenue transactions                               cohort
#   1         2025-11-03                                         2025-11 (never returns)
#   2         2025-12-01, 2026-03-16 (after D)                   2025-12
#   3         2025-12-10, 2026-03-02                             2025-12 (gap: nothing in Jan, Feb)
#   4         2026-01-05, 2026-03-15 (on D)                      2026-01
#   5         2026-01-20                                         2026-01
#   6         2026-01-31, 2026-02-01, 2026-03-10                 2026-01
#   7         2026-01-10 cancelled, 2026-02-07, 2026-03-01       2026-02 (the cancelled order is no purchase)
#   8         2026-02-14                                         2026-02
#   9         2026-03-16 (after D)                               none
#   10        2026-03-03 (online)                                2026-03
#   anonymous 2026-02-10                                         none
#
# The facts are built over every revenue transaction, also those after D (the function cuts at D).

COHORT_TRANSACTIONS = [
    transaction("c1", 1, date(2025, 11, 3)),
    transaction("c2", 2, date(2025, 12, 1)), transaction("c2b", 2, date(2026, 3, 16)),
    transaction("c3", 3, date(2025, 12, 10)), transaction("c3b", 3, date(2026, 3, 2)),
    transaction("c4", 4, date(2026, 1, 5)), transaction("c4b", 4, date(2026, 3, 15)),
    transaction("c5", 5, date(2026, 1, 20)),
    transaction("c6", 6, date(2026, 1, 31)), transaction("c6b", 6, date(2026, 2, 1)),
    transaction("c6c", 6, date(2026, 3, 10)),
    transaction("c7", 7, date(2026, 1, 10), revenue=False, channel="pos"),
    transaction("c7b", 7, date(2026, 2, 7)), transaction("c7c", 7, date(2026, 3, 1)),
    transaction("c8", 8, date(2026, 2, 14)),
    transaction("c9", 9, date(2026, 3, 16)),
    transaction("c10", 10, date(2026, 3, 3), channel="online"),
    transaction("c11", None, date(2026, 2, 10)),
]


def cohort_facts(spark, rows=COHORT_TRANSACTIONS):
    return customer_month_facts(spark.createDataFrame(rows, TRANSACTIONS).filter("is_revenue"))


def test_cohort_retention_every_month_through_d(spark):
    expected = spark.createDataFrame([
        ("2025-11", 0, "2025-11", 1, 1, D("100.00")),
        ("2025-11", 1, "2025-12", 1, 0, D("0.00")),          # a cohort nobody returns from
        ("2025-11", 2, "2026-01", 1, 0, D("0.00")),
        ("2025-11", 3, "2026-02", 1, 0, D("0.00")),
        ("2025-11", 4, "2026-03", 1, 0, D("0.00")),
        ("2025-12", 0, "2025-12", 2, 2, D("100.00")),
        ("2025-12", 1, "2026-01", 2, 0, D("0.00")),          # months without activity are rows of zeros
        ("2025-12", 2, "2026-02", 2, 0, D("0.00")),
        ("2025-12", 3, "2026-03", 2, 1, D("50.00")),         # 3 on 03-02; 2's 03-16 is after D
        ("2026-01", 0, "2026-01", 3, 3, D("100.00")),
        ("2026-01", 1, "2026-02", 3, 1, D("33.33")),
        ("2026-01", 2, "2026-03", 3, 2, D("66.67")),         # 66.666.. half-up
        ("2026-02", 0, "2026-02", 2, 2, D("100.00")),        # 7's cancelled January order does not count
        ("2026-02", 1, "2026-03", 2, 1, D("50.00")),
        ("2026-03", 0, "2026-03", 1, 1, D("100.00")),        # 9 bought only after D
    ], COHORT_DDL)
    same(kpi_cohort_retention(cohort_facts(spark), RUN_DATE), expected)


def test_cohort_retention_is_empty_without_customers(spark):
    rows = [transaction("a1", None, date(2026, 3, 1)), transaction("a2", 1, date(2026, 3, 2), revenue=False)]
    assert kpi_cohort_retention(cohort_facts(spark, rows), RUN_DATE).count() == 0


def test_inputs_are_checked(spark):
    facts = cohort_facts(spark).drop("first_date")
    with pytest.raises(ValueError, match="first_date"):
        kpi_cohort_retention(facts, RUN_DATE)
    lines, transactions, products = basket_frames(spark)
    with pytest.raises(ValueError, match="channel"):
        kpi_basket_pairs_90d(lines.drop("channel"), transactions, products, RUN_DATE)
