"""The dashboard's shaping functions (etl/dashboard/shaping.py) and its query list (queries.py): pure, no
MySQL. The queries themselves run against a real MariaDB in tests/integration/test_dashboard.py."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal as D

import pandas as pd
import pytest

from etl.dashboard import queries, shaping

RUN = date(2026, 11, 22)


def daily():
    return pd.DataFrame({
        "sales_date": [date(2026, 11, 20), date(2026, 11, 21), RUN],
        "revenue": [D("100.00"), D("50.50"), D("1234.56")],
        "order_count": [3, 2, 41],
        "revenue_7d": [D("700.00"), D("750.50"), D("1985.06")],
        "is_anomaly": [0, 1, 0],
    })


def test_headline_equals_the_excel_summary_rules():
    monthly = pd.DataFrame({"sales_month": ["2026-10", "2026-11"], "revenue": [D("9.99"), D("1000.00")],
                            "order_count": [1, 3], "unique_customers": [1, 2]})
    regions = pd.DataFrame({"region": ["Unknown", "North"], "revenue": [D("900.00"), D("100.00")]})
    figures = shaping.headline(daily(), monthly, regions, RUN)
    assert figures["revenue_day"] == D("1234.56") and figures["orders_day"] == 41
    assert figures["revenue_mtd"] == D("1000.00") and figures["orders_mtd"] == 3
    assert figures["avg_order_value_mtd"] == D("333.33")        # 1000 / 3, half up to cents
    assert figures["top_region"] == "North"                      # Unknown is never the top region
    text = dict(shaping.headline_text(figures))
    assert text["Revenue on the run date"] == "1,234.56"
    assert text["Orders on the run date"] == "41"


def test_headline_of_a_day_without_rows_is_zero_not_an_error():
    empty = pd.DataFrame(columns=["sales_date", "revenue", "order_count"])
    figures = shaping.headline(empty, pd.DataFrame(columns=["sales_month", "revenue", "order_count",
                                                            "unique_customers"]),
                               pd.DataFrame(columns=["region", "revenue"]), RUN)
    assert figures["revenue_day"] == D("0.00") and figures["avg_order_value_mtd"] is None
    assert dict(shaping.headline_text(figures))["Top region, month to date"] == "n/a"


@pytest.mark.parametrize("fn,value,text", [
    (shaping.money, D("1234567.005"), "1,234,567.01"), (shaping.money, None, ""),
    (shaping.count, 12345, "12,345"), (shaping.percent, D("47.19"), "47.19%"),
    (shaping.ratio, D("0.12345"), "0.1235"), (shaping.days, D("3.5"), "3.50 days"),
])
def test_formats_are_the_excel_reports(fn, value, text):
    assert fn(value) == text


def test_formatted_picks_the_format_by_column_name_as_the_report_does():
    frame = pd.DataFrame({"customer_id": [7], "total_spend": [D("1000.5")], "share_pct": [D("12.5")],
                          "lift": [D("2.4567")], "avg_time_between_purchases": [D("3")], "order_count": [1200],
                          "spend_rank": [1]})
    row = shaping.formatted(frame).iloc[0].to_dict()
    assert row == {"customer_id": 7, "total_spend": "1,000.50", "share_pct": "12.50%", "lift": "2.4567",
                   "avg_time_between_purchases": "3.00 days", "order_count": "1,200", "spend_rank": 1}


def test_revenue_lines_hold_the_day_and_the_7_day_average_and_anomalies_are_marked():
    lines = shaping.revenue_lines(daily())
    assert set(lines["series"]) == {"Revenue", "7-day average"}
    avg = lines[lines["series"] == "7-day average"]["value"].tolist()
    assert avg[0] == pytest.approx(100.0)
    marks = shaping.anomalies(daily())
    assert marks["sales_date"].dt.date.tolist() == [date(2026, 11, 21)] and marks["value"].tolist() == [50.5]


def test_forecast_band_keeps_one_channel():
    forecast = pd.DataFrame({"channel": ["all", "pos"], "forecast_date": [date(2026, 11, 23)] * 2,
                             "forecast": [D("10"), D("5")], "lower_80": [D("8"), D("4")], "upper_80": [D("12"), D("6")]})
    band = shaping.forecast_band(forecast)
    assert band[["forecast", "lower_80", "upper_80"]].values.tolist() == [[10.0, 8.0, 12.0]]


def test_rfm_segments_count_customers_and_sum_spend():
    rfm = pd.DataFrame({"customer_id": [1, 2, 3], "rfm_segment": ["Lost", "Champions", "Champions"],
                        "monetary": [D("1.10"), D("2.00"), D("3.05")]})
    out = shaping.rfm_segments(rfm)
    assert out.values.tolist() == [["Champions", 2, D("5.05")], ["Lost", 1, D("1.10")]]


def test_leaderboard_is_one_month_by_store_and_rank():
    team = pd.DataFrame({"store_id": [2, 1, 1, 1], "sales_person_id": [5, 3, 4, 4], "full_name": ["e", "c", "d", "d"],
                         "sales_month": ["2026-11", "2026-11", "2026-11", "2026-10"],
                         "total_sales": [D("1")] * 4, "incentive": [D("0.01")] * 4, "sales_growth_rate": [None] * 4,
                         "sales_contribution_percentage": [D("50")] * 4, "top_performance_rank": [1, 2, 1, 1],
                         "year_to_date_sales": [D("1"), D("2"), D("3"), D("4")]})
    board = shaping.leaderboard(team, "2026-11")
    assert board[["store_id", "top_performance_rank", "sales_person_id"]].values.tolist() == [[1, 1, 4], [1, 2, 3],
                                                                                             [2, 1, 5]]
    assert set(shaping.ytd_lines(team)["person"]) == {"e (2)", "c (1)", "d (1)"}


def test_peak_matrix_names_days_as_spark_numbers_them():
    peak = pd.DataFrame({"day_of_week": [1, 7], "hour": [9, 20], "avg_orders_per_day": [D("0.25"), D("3")]})
    assert shaping.peak_matrix(peak)["day"].tolist() == ["Sun", "Sat"]


def test_mix_of_one_dimension_sums_over_months():
    mix = pd.DataFrame({"dimension": ["payment_type"] * 3 + ["order_type"], "value": ["Card", "card", "Card", "Dine"],
                        "order_count": [2, 1, 3, 9], "revenue": [D("2"), D("1"), D("3"), D("9")]})
    assert shaping.mix_of(mix, "payment_type").values.tolist() == [["Card", 5, D("5")], ["card", 1, D("1")]]


def test_run_records_give_durations_rows_per_layer_and_freshness():
    runs = pd.DataFrame({"run_id": ["r1"], "stage_seconds": [json.dumps({"ingest": 3.5, "gold": 10})],
                         "table_rows": [json.dumps([["silver", "sales", 10, 8, 2], ["silver", "orders", 5, 5, 0],
                                                    ["gold", "alerts", None, 1, None]])],
                         "started_at": [datetime(2026, 11, 23, 2, 0, 0)], "ended_at": [datetime(2026, 11, 23, 2, 1, 5)],
                         "run_date": [RUN], "run_trigger": ["schedule"], "status": ["succeeded"],
                         "stages": ["ingest,gold"], "error": [None]})
    assert shaping.stage_durations(runs).values.tolist() == [["r1", "ingest", 3.5], ["r1", "gold", 10.0]]
    assert shaping.rows_per_layer(runs).values.tolist() == [["r1", "silver", 13, 2], ["r1", "gold", 1, 0]]
    assert shaping.run_summary(runs)["seconds"].tolist() == [65.0]
    loads = pd.DataFrame({"run_date": [RUN], "loaded_at": [datetime(2026, 11, 23, 2, 1)]})
    assert shaping.freshness(loads, date(2026, 11, 23))["fresh"] is True
    late = shaping.freshness(loads, date(2026, 11, 26))
    assert late["fresh"] is False and late["days_behind"] == 3
    assert shaping.freshness(loads.iloc[0:0], RUN)["fresh"] is False


def test_every_query_reads_one_served_table_with_parameters_only():
    for query in queries.QUERIES.values():
        assert "{" not in query.sql and "'" not in query.sql, query.name          # no formatting, no literals
        placeholders = set(re.findall(r"%\((\w+)\)s", query.sql))
        assert placeholders == set(query.params), query.name
        tables = set(re.findall(r"\b(?:FROM|JOIN)\s+`?(\w+)", query.sql))
        assert tables == {query.table}, (query.name, tables)


def test_a_query_refuses_missing_or_extra_parameters():
    with pytest.raises(TypeError, match="daily_sales"):
        queries.run(None, "daily_sales", start=RUN)
    assert queries.query_for("top_customers", as_of=RUN)[0].table == "kpi_top_customers_30d_history"
    assert queries.query_for("daily_sales", as_of=RUN)[0].table == "kpi_daily_sales"


def test_quarantine_per_rule_keeps_the_newest_run_of_each_date_and_the_rules_only():
    first, rerun, next_day = "20261123T020000Z-aaaaaa", "20261123T090000Z-bbbbbb", "20261124T020000Z-cccccc"
    dq = pd.DataFrame([
        (first, RUN, "sales", "amount_positive", "error", 5, 40),
        (first, RUN, "sales", "_rows_with_errors", "error", 5, 40),
        (rerun, RUN, "sales", "amount_positive", "error", 2, 40),          # the rerun's counts win
        (rerun, RUN, "sales", "_rows_with_errors", "error", 2, 40),
        (first, RUN, "customers", "email_format", "warn", 1, 9),            # another feed, only one run
        (next_day, date(2026, 11, 23), "sales", "amount_positive", "error", 0, 41),
    ], columns=["run_id", "run_date", "feed", "rule", "severity", "failed_rows", "total_rows"])
    got = shaping.quarantine_per_rule(dq)
    assert got[["run_date", "feed", "rule", "failed_rows", "run_id"]].values.tolist() == [
        [RUN, "customers", "email_format", 1, first],
        [RUN, "sales", "amount_positive", 2, rerun],
        [date(2026, 11, 23), "sales", "amount_positive", 0, next_day]]
    assert shaping.quarantine_per_rule(dq.iloc[0:0]).empty
