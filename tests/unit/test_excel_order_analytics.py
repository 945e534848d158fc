"""The order-analytics sheets of the daily Excel report (etl/export/report.py, issue 24).

The silver and the other gold tables are those of tests/unit/test_excel_report.py (run date D =
2026-03-15); the nine order-analytics gold tables are hand-built with the registry's schemas (their
functions are tested in the gold tests), so each sheet can be compared with known gold rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from openpyxl import load_workbook
from openpyxl.chart import LineChart

from etl.export.excel import MONEY_FORMAT, PERCENT_FORMAT, RATIO_FORMAT, header_text
from etl.export.report import (GRID_SHEETS, ORDER_ANALYTICS_SHEETS, SHEETS, WEEKDAYS, build_report)
from etl.gold.marts import GOLD_TABLES
from etl.export.excel import number_format
from tests.unit.test_excel_report import RUN_DATE, gold_for, header, reader, silver, values  # noqa: F401

MODEL = "ExponentialSmoothing(seasonal='add', seasonal_periods=7)"
TABLE_SHEETS = [name for name in ORDER_ANALYTICS_SHEETS if name not in GRID_SHEETS]


def peak(dow, hour):
    return (dow * 7 + hour) % 11


ROWS = {
    "kpi_channel_daily": [
        (RUN_DATE - timedelta(days=95), "pos", 9, D("90.00"), D("10.00"), 0, D("90.00"), 9, D("10.00")),   # too old
        (RUN_DATE - timedelta(days=89), "in_store", 1, D("5.00"), D("5.00"), 0, D("5.00"), 1, D("5.00")),   # first
        (RUN_DATE, "in_store", 2, D("130.00"), D("65.00"), 0, D("200.00"), 4, D("50.00")),
        (RUN_DATE, "online", 0, D("0.00"), None, 0, D("0.00"), 0, None),
        (RUN_DATE, "pos", 1, D("20.00"), D("20.00"), 1, D("35.00"), 2, D("17.50")),
    ],
    "kpi_order_mix": [
        ("2026-03", "order_type", "Dine In", 3, D("45.00"), D("75.00"), D("69.23")),
        ("2026-03", "order_type", "=cmd|' /C calc'!A0", 1, D("20.00"), D("25.00"), D("30.77")),
        ("2026-02", "payment_type", "Card", 2, D("0.00"), D("100.00"), None),
    ],
    "kpi_peak_hours": [(dow, hour, peak(dow, hour), D(f"{peak(dow, hour)}.25"), D(peak(dow, hour) * 25) / 100,
                        1 + hour) for dow in range(1, 8) for hour in range(24)],
    "kpi_menu_performance_30d": [
        (2, "Masala Chai", "Drinks", 10, D("50.00"), 5, D("20.00"), D("150.00"), 1, False),
        (1, "Samosa", None, 0, D("0.00"), 0, D("0.00"), None, 2, True),
    ],
    "customer_rfm": [
        (1, "Asha Rao", RUN_DATE, 0, 5, D("210.00"), 5, 5, 5, "Champions"),
        (2, "Ben Ng", RUN_DATE, 0, 4, D("120.50"), 5, 4, 4, "Champions"),
        (3, "Kai Lee", date(2026, 1, 5), 69, 1, D("45.00"), 2, 1, 2, "Lost"),
        (4, "Unknown", date(2026, 3, 10), 5, 1, D("15.00"), 4, 1, 1, "Promising"),
    ],
    "kpi_basket_pairs_90d": [
        (1, "Samosa", 2, "Masala Chai", 4, D("0.1250"), D("0.8000"), D("0.5000"), D("2.5000"), 1),
        (2, "Masala Chai", 5, "Crème brûlée", 3, D("0.0938"), D("0.3750"), D("1.0000"), D("1.3333"), 2),
    ],
    "kpi_cohort_retention": [
        ("2026-01", 0, "2026-01", 4, 4, D("100.00")), ("2026-01", 1, "2026-02", 4, 1, D("25.00")),
        ("2026-01", 2, "2026-03", 4, 3, D("75.00")),
        ("2026-02", 0, "2026-02", 3, 3, D("100.00")), ("2026-02", 1, "2026-03", 3, 2, D("66.67")),
        ("2026-03", 0, "2026-03", 1, 1, D("100.00")),
    ],
    "kpi_revenue_forecast": [(channel, RUN_DATE + timedelta(days=k), D(f"{100 + k}.50"), D(f"{80 + k}.00"),
                              D(f"{120 + k}.00"), MODEL, date(2025, 3, 16), RUN_DATE)
                             for channel in ("all", "pos") for k in range(1, 15)],
    "forecast_backtest": [
        ("all", MODEL, D("12.34"), D("15.50"), D("10.25"), D("12.00")),
        ("pos", MODEL, None, None, D("0.00"), D("0.00")),
    ],
}


def gold_expected(gold, table):
    """The gold rows in the registry order as the sheet holds them: percentages (x100 in the lake) as
    fractions; decimals compared by value (ratios keep their four places)."""
    spec = GOLD_TABLES[table]
    frame = spec.ordered(gold[table].select(*spec.columns))
    percent = [number_format(f.name, f.dataType) == PERCENT_FORMAT for f in frame.schema.fields]
    return [tuple(v / 100 if p and v is not None else v for v, p in zip(row, percent)) for row in frame.collect()]


def gold_frames(spark, rows):
    return {name: spark.createDataFrame(table_rows, GOLD_TABLES[name].schema) for name, table_rows in rows.items()}


@pytest.fixture(scope="module")
def gold(spark, silver):  # noqa: F811 - the silver fixture of test_excel_report
    return {**gold_for(spark, silver, RUN_DATE), **gold_frames(spark, ROWS)}


@pytest.fixture(scope="module")
def report(spark, silver, gold, tmp_path_factory):  # noqa: F811
    result = build_report(spark, reader(silver, gold), RUN_DATE, tmp_path_factory.mktemp("oa"), 1_048_576)
    return result, load_workbook(result.path)


def test_the_order_analytics_sheets_follow_the_others_in_the_order_of_the_definitions(report):
    result, workbook = report
    assert list(ORDER_ANALYTICS_SHEETS) == ["Channels_Daily", "Order_Mix", "Peak_Hours", "Menu_Performance",
                                            "RFM_Segments", "Basket_Pairs", "Cohort_Retention", "Forecast"]
    assert workbook.sheetnames == list(SHEETS) == result.sheet_titles
    assert workbook.sheetnames[-8:] == list(ORDER_ANALYTICS_SHEETS)


@pytest.mark.parametrize("sheet_name", ["Order_Mix", "Menu_Performance", "Basket_Pairs"])
def test_table_sheets_equal_gold(report, gold, sheet_name):
    _, workbook = report
    table = ORDER_ANALYTICS_SHEETS[sheet_name]
    sheet = workbook[sheet_name]
    assert header(sheet) == [header_text(c) for c in GOLD_TABLES[table].columns]
    assert values(sheet) == gold_expected(gold, table)
    (excel_table,) = sheet.tables.values()
    assert excel_table.ref.startswith("A1:")


def test_channels_daily_is_the_last_90_days(report, gold):
    _, workbook = report
    sheet = workbook["Channels_Daily"]
    rows = values(sheet)
    assert [row[:2] for row in rows] == [(RUN_DATE - timedelta(days=89), "in_store"), (RUN_DATE, "in_store"),
                                         (RUN_DATE, "online"), (RUN_DATE, "pos")]
    assert rows == [row for row in gold_expected(gold, "kpi_channel_daily") if row[0] > RUN_DATE - timedelta(90)]
    assert header(sheet)[-3:] == ["Revenue 28 days", "Order count 28 days", "Average order value 28 days"]


def test_percentages_are_fractions_and_ratios_keep_four_decimals(report):
    _, workbook = report
    mix = workbook["Order_Mix"]
    assert mix["F2"].number_format == PERCENT_FORMAT and mix["F2"].value == 1.0       # 100.00 % of 2026-02
    assert mix["G2"].value is None                                                   # no revenue: no share
    pairs = workbook["Basket_Pairs"]
    formats = dict(zip(GOLD_TABLES["kpi_basket_pairs_90d"].columns, (c.number_format for c in pairs[2])))
    assert formats["support"] == formats["lift"] == formats["confidence_a_to_b"] == RATIO_FORMAT
    assert pairs["F2"].value == 0.125 and pairs["I2"].value == 2.5
    assert workbook["Menu_Performance"]["H2"].value == 1.5 and workbook["Menu_Performance"]["E2"].number_format \
        == MONEY_FORMAT
    # a formula-like value from the data stays text
    injected = next(c for row in mix.iter_rows(min_row=2) for c in row if str(c.value).startswith("=cmd"))
    assert injected.data_type == "s"


def test_peak_hours_is_a_7_by_24_grid_of_order_counts_with_a_colour_scale(report):
    _, workbook = report
    sheet = workbook["Peak_Hours"]
    grid = [[c.value for c in row] for row in sheet.iter_rows(min_row=1, max_row=8, max_col=25)]
    assert grid[0] == ["Day", *range(24)]
    assert [row[0] for row in grid[1:]] == list(WEEKDAYS)
    assert [row[1:] for row in grid[1:]] == [[peak(dow, hour) for hour in range(24)] for dow in range(1, 8)]
    assert all(len(row) == 25 for row in grid) and sheet.max_column == 25
    (rule_range,) = [r for r in sheet.conditional_formatting]
    assert str(rule_range.sqref) == "B2:Y8"
    assert rule_range.rules[0].type == "colorScale"


def test_cohort_retention_is_a_triangle_of_fractions_with_a_colour_scale(report):
    _, workbook = report
    sheet = workbook["Cohort_Retention"]
    grid = [[c.value for c in row] for row in sheet.iter_rows(min_row=1, max_row=4, max_col=5)]
    assert grid == [["Cohort", "Customers", 0, 1, 2],
                    ["2026-01", 4, 1.0, 0.25, 0.75],
                    ["2026-02", 3, 1.0, 0.6667, None],
                    ["2026-03", 1, 1.0, None, None]]
    assert sheet["D3"].number_format == PERCENT_FORMAT
    (rule_range,) = [r for r in sheet.conditional_formatting]
    assert str(rule_range.sqref) == "C2:E4" and rule_range.rules[0].type == "colorScale"


def test_rfm_segments_shows_customers_per_segment_then_the_customers(report, gold):
    _, workbook = report
    sheet = workbook["RFM_Segments"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(max_col=10)]
    assert rows[0][0] == "Customers per segment"
    assert rows[1][:4] == ["RFM segment", "Customers", "Customer share %", "Monetary"]
    assert [r[:4] for r in rows[2:5]] == [["Champions", 2, 0.5, 330.5], ["Lost", 1, 0.25, 45], ["Promising", 1, 0.25, 15]]
    top = 7                                          # caption, header, 3 segments, a blank row: the table's header
    assert rows[top - 1][:10] == [header_text(c) for c in GOLD_TABLES["customer_rfm"].columns]
    customers = [tuple(v.date() if isinstance(v, datetime) else v for v in row) for row in
                 sheet.iter_rows(min_row=top + 1, values_only=True)]
    assert [row[0] for row in customers] == [1, 2, 3, 4]
    assert customers == [tuple(float(v) if isinstance(v, D) else v for v in row)
                         for row in gold_expected(gold, "customer_rfm")]
    assert sheet.freeze_panes == f"A{top + 1}"
    refs = sorted(t.ref for t in sheet.tables.values())
    assert refs == ["A2:D5", f"A{top}:J{top + 4}"]


def test_forecast_sheet_holds_the_forecast_then_the_backtest(report, gold):
    _, workbook = report
    sheet = workbook["Forecast"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0].startswith("Revenue forecast for 2026-03-16 .. 2026-03-29")
    assert rows[1][:8] == [header_text(c) for c in GOLD_TABLES["kpi_revenue_forecast"].columns]
    forecast = [tuple(v.date() if isinstance(v, datetime) else v for v in row[:8]) for row in rows[2:30]]
    assert forecast == [tuple(float(v) if isinstance(v, D) else v for v in row)
                        for row in gold_expected(gold, "kpi_revenue_forecast")]
    assert rows[31][0].startswith("Backtest")
    assert rows[32][:6] == [header_text(c) for c in GOLD_TABLES["forecast_backtest"].columns]
    assert rows[33][:6] == ["all", MODEL, 0.1234, 0.155, 10.25, 12]               # MAPE as a fraction
    assert rows[34][:6] == ["pos", MODEL, None, None, 0, 0]
    assert sheet["C34"].number_format == PERCENT_FORMAT and sheet["E34"].number_format == MONEY_FORMAT
    assert len(sheet.tables) == 2


def test_summary_charts_the_forecast_with_its_band_beside_the_last_60_days(report, gold):
    _, workbook = report
    summary = workbook["Summary"]
    charts = summary._charts
    assert len(charts) == 4
    chart = charts[3]
    assert isinstance(chart, LineChart)
    titles = [s.tx.strRef.f for s in chart.series]

    def cells(ref):
        found = summary[ref.split("!")[1].replace("$", "")]
        return [found.value] if not isinstance(found, tuple) else [row[0].value for row in found]

    assert [cells(t)[0] for t in titles] == ["Revenue", "Forecast", "Lower 80%", "Upper 80%"]
    days = cells(chart.series[0].cat.strRef.f if chart.series[0].cat.strRef else chart.series[0].cat.numRef.f)
    assert len(days) == 74 and days[0] == "2026-01-15" and days[59] == "2026-03-15" and days[-1] == "2026-03-29"
    revenue, forecast, lower, upper = (cells(s.val.numRef.f) for s in chart.series)
    daily = {row["date"].isoformat(): float(row["revenue"]) for row in gold["kpi_daily_sales"].collect()}
    assert revenue[:60] == [daily.get(day, 0) for day in days[:60]] and revenue[60:] == [None] * 14
    assert revenue[59] == 150.5
    assert forecast == [None] * 60 + [100 + k + 0.5 for k in range(1, 15)]              # the "all" channel
    assert lower[60:] == [80 + k for k in range(1, 15)] and upper[60:] == [120 + k for k in range(1, 15)]
    assert all(s.graphicalProperties.line.prstDash == "dash" for s in chart.series[2:])


def test_summary_lists_and_links_every_order_analytics_sheet(report):
    result, workbook = report
    links = {row[0].value: (row[0].hyperlink.location if row[0].hyperlink else None, row[1].value)
             for row in workbook["Summary"].iter_rows(max_col=2) if row[0].value in ORDER_ANALYTICS_SHEETS}
    assert links == {name: (f"'{name}'!A1", result.row_counts[name]) for name in ORDER_ANALYTICS_SHEETS}
    assert result.row_counts["Peak_Hours"] == 7 and result.row_counts["Cohort_Retention"] == 3
    assert result.row_counts["Forecast"] == 30 and result.row_counts["RFM_Segments"] == 4


def test_empty_order_analytics_tables_give_sheets_that_say_so(spark, silver, tmp_path):  # noqa: F811
    gold = {**gold_for(spark, silver, RUN_DATE), **gold_frames(spark, {name: [] for name in ROWS})}
    result = build_report(spark, reader(silver, gold), RUN_DATE, tmp_path, 1_048_576)
    workbook = load_workbook(result.path)
    for name, table in ORDER_ANALYTICS_SHEETS.items():
        text = [c.value for row in workbook[name].iter_rows() for c in row if isinstance(c.value, str)]
        assert any(t.startswith("No rows: gold ") and table in t for t in text), name
        assert result.row_counts[name] == 0, name
    assert "forecast_backtest" in " ".join(str(c.value) for row in workbook["Forecast"].iter_rows() for c in row)
    assert len(workbook["Summary"]._charts) == 4


def test_a_row_limit_splits_the_table_sheets_but_never_a_grid(spark, silver, gold, tmp_path):  # noqa: F811
    result = build_report(spark, reader(silver, gold), RUN_DATE, tmp_path, 3)
    workbook = load_workbook(result.path)
    assert result.split_sheets["Channels_Daily"] == ("Channels_Daily", "Channels_Daily (2)")
    # RFM_Segments: the segment table fills the first sheet's rows; the customers continue, 2 a sheet
    assert result.split_sheets["RFM_Segments"] == ("RFM_Segments", "RFM_Segments (2)", "RFM_Segments (3)")
    customers = [row for title in result.split_sheets["RFM_Segments"][1:]
                 for row in workbook[title].iter_rows(min_row=2, values_only=True)]
    assert [row[0] for row in customers] == [1, 2, 3, 4]
    assert all(name not in result.split_sheets for name in GRID_SHEETS)
    rows = [r for t in result.split_sheets["Channels_Daily"] for r in values(workbook[t])]
    assert rows == [row for row in gold_expected(gold, "kpi_channel_daily") if row[0] > RUN_DATE - timedelta(90)]
    notes = [row[0].value for row in workbook["Summary"].iter_rows(max_col=1) if isinstance(row[0].value, str)]
    assert any(n.startswith("Channels_Daily has 4 rows") for n in notes)
