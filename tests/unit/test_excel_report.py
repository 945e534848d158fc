"""The daily Excel report (etl/export/report.py): sheets, formats, values, Summary, charts, fallback, split.

Hand-built silver; gold from the registry (``build_all``) as the pipeline computes it.
Run date D = 2026-03-15.

    id   channel  customer  date        amount  note
    t1   store    1         2026-03-15  100.00  on D, store 1, salesperson 11
    t2   online   2         2026-03-15   50.50  on D, 09:30:00 UTC
    t3   pos      3         2026-03-15   20.00  on D, cancelled: not revenue
    t4   online   -         2026-03-14   10.00  D-1, anonymous
    t5   store    1         2026-03-14   30.00  D-1
    t6   store    2         2026-03-02   70.00
    t7   pos      4         2026-03-10   15.00  4 has no customer record; two warnings
    t8   store    1         2026-02-20   80.00
    t9   online   3         2026-01-05   45.00
    t10  store    2         2026-03-16   99.00  after D: nowhere

Customers: 1 moved North -> South on 2026-03-10; 2 East (ids 7 and 9 merged into 2);
3 West, whose address changes on 2026-03-20 (after D: the sheet shows the old one).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest
from openpyxl import load_workbook
from openpyxl.chart import BarChart, LineChart
from openpyxl.utils import get_column_letter

from etl.contracts.silver import (BEGINNING_OF_TIME, CUSTOMER_ID_MAP, DIM_CUSTOMER, END_OF_TIME, SALES_LINES,
                                  TRANSACTIONS)
from etl.export.excel import (DATE_FORMAT, DATETIME_FORMAT, DAYS_FORMAT, HEADER_FILL, MONEY_FORMAT, PERCENT_FORMAT,
                              continuation_title, header_text, number_format, write_sheet)
from etl.export.report import (AUTHOR, CUSTOMER_COLUMNS, GOLD_SHEETS, GRID_SHEETS, SHEETS, TRANSACTION_COLUMNS,
                               build_report)
from etl.gold.marts import GOLD_TABLES, build_all

RUN_DATE = date(2026, 3, 15)
UTC = timezone.utc


def tx(tid, channel, customer, day, amount, ts=None, revenue=True, store=None, person=None, warnings=()):
    return (channel, tid, customer, store, person, day, ts, D(amount), 1, "Success" if revenue else "Cancelled",
            revenue, list(warnings), "f.csv", 1, "r1", None, None, None)


TRANSACTION_ROWS = [
    tx("t1", "store", 1, date(2026, 3, 15), "100.00", store=1, person=11),
    tx("t2", "online", 2, date(2026, 3, 15), "50.50", ts=datetime(2026, 3, 15, 9, 30, tzinfo=UTC)),
    tx("t3", "pos", 3, date(2026, 3, 15), "20.00", ts=datetime(2026, 3, 15, 18, 5, 7, tzinfo=UTC), revenue=False,
       store=2),
    tx("t4", "online", None, date(2026, 3, 14), "10.00", ts=datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC)),
    tx("t5", "store", 1, date(2026, 3, 14), "30.00", store=1, person=11),
    tx("t6", "store", 2, date(2026, 3, 2), "70.00", store=1, person=12),
    tx("t7", "pos", 4, date(2026, 3, 10), "15.00", ts=datetime(2026, 3, 10, 12, 0, tzinfo=UTC), store=2,
       warnings=("unknown_customer", "unknown_product")),
    tx("t8", "store", 1, date(2026, 2, 20), "80.00", store=1, person=11),
    tx("t9", "online", 3, date(2026, 1, 5), "45.00", ts=datetime(2026, 1, 5, 8, 0, tzinfo=UTC)),
    tx("t10", "store", 2, date(2026, 3, 16), "99.00", store=1, person=12),
]


def version(customer, first, last, address, region, valid_from=BEGINNING_OF_TIME, valid_to=END_OF_TIME):
    return (customer, first, last, address, "560001", f"98765432{customer:02d}", region, date(2025, 1, customer),
            valid_from, valid_to, valid_to == END_OF_TIME)


DIM_ROWS = [
    version(1, "Asha", "Rao", "1 High St", "North", valid_to=date(2026, 3, 10)),
    version(1, "Asha", "Rao", "1 High St", "South", valid_from=date(2026, 3, 10)),
    version(2, "Ben", "Ng", "2 Mill Rd", "East"),
    version(3, "Kai", "Lee", "3 Park Ln", "West", valid_to=date(2026, 3, 20)),
    version(3, "Kai", "Lee", "30 Lake Ave", "West", valid_from=date(2026, 3, 20)),
]
ID_MAP_ROWS = [(1, 1), (2, 2), (3, 3), (9, 2), (7, 2)]


@pytest.fixture(scope="module")
def silver(spark):
    return {
        "transactions": spark.createDataFrame(TRANSACTION_ROWS, TRANSACTIONS),
        "dim_customer": spark.createDataFrame(DIM_ROWS, DIM_CUSTOMER),
        "customer_id_map": spark.createDataFrame(ID_MAP_ROWS, CUSTOMER_ID_MAP),
    }


def gold_for(spark, silver, run_date):
    inputs = {**silver, "sales_lines": spark.createDataFrame([], SALES_LINES),
              "sales_team": spark.createDataFrame([(11, "Sam", "Fox"), (12, "Ria", "Sen")],
                                                  "id int, first_name string, last_name string"),
              "products": spark.createDataFrame([], "id int, name string, sku_id string")}
    # materialised once, as the Delta tables would be: reading them does not recompute gold
    return {name: spark.createDataFrame(frame.collect(), frame.schema)
            for name, frame in build_all(inputs, run_date).items()}


def reader(silver, gold, calls=None):
    lake = {"silver": silver, "gold": gold}

    def read_table(layer, name):
        if calls is not None:
            calls.append((layer, name))
        return lake[layer][name]
    return read_table


@pytest.fixture(scope="module")
def gold(spark, silver):
    return gold_for(spark, silver, RUN_DATE)


@pytest.fixture(scope="module")
def report(spark, silver, gold, tmp_path_factory):
    calls = []
    result = build_report(spark, reader(silver, gold, calls), RUN_DATE, tmp_path_factory.mktemp("report"), 1_048_576)
    return result, load_workbook(result.path), calls


def values(sheet):
    """Data rows (below the header) as tuples, dates and amounts normalised for comparison."""
    return [tuple(_plain(cell.value) for cell in row) for row in sheet.iter_rows(min_row=2)]


def _plain(value):
    if isinstance(value, float):
        return D(str(value)).quantize(D("0.0001"))      # percentages are fractions: 47.19 % is 0.4719
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def _expected(frame):
    return [tuple(value.quantize(D("0.01")) if isinstance(value, D) else value for value in row)
            for row in frame.collect()]


def gold_expected(gold, table):
    """The gold rows as the sheet holds them: a percentage (×100 in the lake) as its fraction."""
    spec = GOLD_TABLES[table]
    fields = gold[table].select(*spec.columns).schema.fields
    percent = [number_format(f.name, f.dataType) == PERCENT_FORMAT for f in fields]
    return [tuple(v / 100 if p and v is not None else v for v, p in zip(row, percent))
            for row in _expected(spec.ordered(gold[table].select(*spec.columns)))]


def header(sheet):
    return [cell.value for cell in next(sheet.iter_rows(max_row=1))]


def words(columns):
    return [header_text(column) for column in columns]


def summary_figures(workbook):
    return {row[0].value: row[1].value for row in workbook["Summary"].iter_rows(max_col=2)
            if isinstance(row[0].value, str)}


# -- sheets, headers, formats ---------------------------------------------------------------------------

def test_file_name_sheets_and_order(report):
    result, workbook, _ = report
    assert result.path.name == "Daily_Report_20260315.xlsx"
    assert workbook.sheetnames == list(SHEETS) == [
        "Summary", "Customers", "Current_Day_Orders", "Archived_Previous_Day", "KPI_Repeat_Customers",
        "KPI_Regional_Revenue", "KPI_Monthly_Order_Trends", "KPI_Top_Customers_Last_30_Days",
        "Customers_Data_Mart", "Sales_Team_Data_Mart", "Channels_Daily", "Order_Mix", "Peak_Hours",
        "Menu_Performance", "RFM_Segments", "Basket_Pairs", "Cohort_Retention", "Forecast"]
    assert result.sheet_titles == workbook.sheetnames
    assert workbook.active.title == "Summary"
    assert not list(result.path.parent.glob("*.tmp.xlsx"))


def test_reads_only_silver_and_gold(report):
    _, _, calls = report
    assert {layer for layer, _ in calls} == {"silver", "gold"}
    assert {name for layer, name in calls if layer == "silver"} == {"transactions", "dim_customer", "customer_id_map"}


def test_row_counts_per_sheet(report, gold):
    result, workbook, _ = report
    expected = {"Customers": 3, "Current_Day_Orders": 3, "Archived_Previous_Day": 2,
                **{sheet: gold[table].count() for sheet, table in GOLD_SHEETS.items()}}
    assert {name: rows for name, rows in result.row_counts.items() if name in expected} == expected
    for sheet, rows in expected.items():
        assert workbook[sheet].max_row == rows + 1, sheet


def test_headers_in_words_bold_filled_frozen_each_sheet_an_excel_table(report):
    _, workbook, _ = report
    expected = {"Customers": CUSTOMER_COLUMNS, "Current_Day_Orders": TRANSACTION_COLUMNS,
                "Archived_Previous_Day": TRANSACTION_COLUMNS,
                **{sheet: GOLD_TABLES[table].columns for sheet, table in GOLD_SHEETS.items()}}
    names = set()
    for name, columns in expected.items():
        sheet = workbook[name]
        assert header(sheet) == words(columns), name
        first = sheet["A1"]
        assert first.font.bold and first.fill.fgColor.rgb.endswith(HEADER_FILL.fgColor.rgb[-6:]), name
        assert sheet.freeze_panes == "A2", name
        # the data range is an Excel table (its own filter buttons: no sheet filter over it), its
        # columns named as the header cells (else Excel repairs the file on opening)
        (table,) = sheet.tables.values()
        assert table.ref == f"A1:{get_column_letter(len(columns))}{max(sheet.max_row, 2)}", name
        assert [column.name for column in table.tableColumns] == header(sheet), name
        assert table.tableStyleInfo.showRowStripes and sheet.auto_filter.ref is None, name
        names.add(table.displayName)
        assert all(sheet.column_dimensions[get_column_letter(i)].width >= len(c)
                   for i, c in enumerate(words(columns), 1))
    assert len(names) == len(expected)                  # table names are unique in a workbook


@pytest.mark.parametrize("column, text", [
    ("total_sales", "Total sales"), ("customer_id", "Customer ID"), ("merged_customer_ids", "Merged customer IDs"),
    ("share_pct", "Share %"), ("transaction_time_utc", "Transaction time (UTC)"),
    ("avg_order_value", "Average order value"), ("revenue_7d_change_pct", "Revenue 7 days change %"),
    ("rank", "Rank"), ("date", "Date")])
def test_headers_are_words(column, text):
    assert header_text(column) == text


def test_document_title_and_author(report):
    _, workbook, _ = report
    assert workbook.properties.title == "Daily report for 2026-03-15"
    assert workbook.properties.creator == AUTHOR


def test_number_formats_follow_the_column_kinds(report, gold):
    _, workbook, _ = report
    for sheet_name, table in GOLD_SHEETS.items():
        sheet = workbook[sheet_name]
        fields = {f.name: f.dataType for f in gold[table].schema.fields}
        for row in sheet.iter_rows(min_row=2):
            for column, cell in zip(GOLD_TABLES[table].columns, row):
                assert cell.number_format == (number_format(column, fields[column]) or "General"), (sheet_name, column)
    orders = workbook["Current_Day_Orders"]
    formats = dict(zip(TRANSACTION_COLUMNS, (cell.number_format for cell in orders[2])))
    assert formats["transaction_date"] == DATE_FORMAT
    assert formats["transaction_time_utc"] == DATETIME_FORMAT
    assert formats["amount"] == MONEY_FORMAT
    assert formats["customer_id"] == formats["units"] == "General"       # counts and ids: plain integers
    regional = workbook["KPI_Regional_Revenue"]
    formats = dict(zip(GOLD_TABLES["kpi_regional_revenue"].columns, (cell.number_format for cell in regional[2])))
    assert formats == {"region": "General", "revenue": MONEY_FORMAT, "order_count": "General",
                       "share_pct": PERCENT_FORMAT}
    # a fraction under Excel's own percent format: shown as 47.19%, and =D2*B2 is 47.19 % of the revenue
    assert PERCENT_FORMAT == "0.00%"
    assert isinstance(regional["D2"].value, float) and regional["D2"].value == 0.4719
    mart = workbook["Customers_Data_Mart"]
    formats = dict(zip(GOLD_TABLES["customers_data_mart"].columns, (cell.number_format for cell in mart[2])))
    assert formats["avg_time_between_purchases"] == DAYS_FORMAT != MONEY_FORMAT        # days, not money
    assert isinstance(orders["A2"].value, datetime) and isinstance(orders["E2"].value, int)


# -- every value --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sheet_name", list(GOLD_SHEETS))
def test_gold_sheet_values_equal_gold(report, gold, sheet_name):
    _, workbook, _ = report
    assert values(workbook[sheet_name]) == gold_expected(gold, GOLD_SHEETS[sheet_name])


def test_customers_sheet_is_the_record_valid_on_the_run_date_with_merged_ids(report):
    _, workbook, _ = report
    assert values(workbook["Customers"]) == [
        (1, "Asha Rao", "1 High St", "560001", "9876543201", "South", date(2025, 1, 1), None),
        (2, "Ben Ng", "2 Mill Rd", "560001", "9876543202", "East", date(2025, 1, 2), "7, 9"),
        (3, "Kai Lee", "3 Park Ln", "560001", "9876543203", "West", date(2025, 1, 3), None),
    ]


def test_current_day_orders_are_the_transactions_dated_d_every_status(report):
    result, workbook, _ = report
    assert result.current_day_scope == "day"
    assert values(workbook["Current_Day_Orders"]) == [
        (date(2026, 3, 15), datetime(2026, 3, 15, 9, 30), "online", "t2", 2, "Ben Ng", None, None, D("50.50"), 1,
         "Success", True, None),
        (date(2026, 3, 15), datetime(2026, 3, 15, 18, 5, 7), "pos", "t3", 3, "Kai Lee", 2, None, D("20.00"), 1,
         "Cancelled", False, None),
        (date(2026, 3, 15), None, "store", "t1", 1, "Asha Rao", 1, 11, D("100.00"), 1, "Success", True, None),
    ]


def test_archived_previous_day_is_d_minus_1(report):
    _, workbook, _ = report
    assert values(workbook["Archived_Previous_Day"]) == [
        (date(2026, 3, 14), datetime(2026, 3, 14, 23, 59, 59), "online", "t4", None, None, None, None, D("10.00"),
         1, "Success", True, None),
        (date(2026, 3, 14), None, "store", "t5", 1, "Asha Rao", 1, 11, D("30.00"), 1, "Success", True, None),
    ]


# -- Summary ------------------------------------------------------------------------------------------

def test_summary_headline_figures(report):
    result, workbook, _ = report
    figures = summary_figures(workbook)
    assert figures["Run date"] == datetime(2026, 3, 15)
    assert figures["Revenue on the run date"] == 150.5           # t1 + t2; t3 is cancelled
    assert figures["Orders on the run date"] == 2
    assert figures["Revenue, month to date"] == 275.5            # t1 t2 t4 t5 t6 t7
    assert figures["Orders, month to date"] == 6
    assert figures["Average order value, month to date"] == 45.92
    assert figures["Customers with orders, month to date"] == 3  # 1, 2, 4 (3 only cancelled)
    assert figures["Customers on record"] == 3
    assert figures["Top region, month to date"] == "South"       # 1 moved South on 03-10: t1 + t5 = 130
    assert figures["Top region revenue, month to date"] == 130
    assert figures["Top region share of revenue"] == 0.4719
    assert figures["Sales-drop alerts on the run date"] == 0
    assert "No sales-drop alert for the run date." in figures
    headline = result.headline
    assert (headline.revenue_day, headline.orders_mtd, headline.top_region) == (D("150.50"), 6, "South")
    summary = workbook["Summary"]
    formats = {row[0].value: row[1].number_format for row in summary.iter_rows(max_col=2)}
    assert formats["Revenue, month to date"] == MONEY_FORMAT
    assert formats["Top region share of revenue"] == PERCENT_FORMAT
    assert formats["Run date"] == DATE_FORMAT


def test_summary_lists_every_sheet_and_its_rows(report):
    result, workbook, _ = report
    rows = {row[0].value: (row[1].value, row[2].value, row[4].value)
            for row in workbook["Summary"].iter_rows(max_col=5) if row[0].value in result.row_counts}
    assert rows == {name: (count, 1, None) for name, count in result.row_counts.items()}


def test_summary_sheet_list_links_to_each_sheet(report):
    """Each listed sheet name is an internal hyperlink to A1 of its sheet (a location, no external target)."""
    result, workbook, _ = report
    links = {row[0].value: row[0].hyperlink for row in workbook["Summary"].iter_rows(max_col=1)
             if row[0].value in result.row_counts}
    assert set(links) == set(result.row_counts)
    for name, link in links.items():
        assert link is not None and link.location == f"'{name}'!A1" and not link.target, name


def test_a_text_id_that_is_a_number_is_stored_as_a_number(spark, tmp_path):
    """``transaction_id`` is text in the lake (sale ids, order ids); one that is a plain number is a number
    in the sheet (no "number stored as text" flag); other text, a leading zero or more digits than Excel
    keeps stays text, and a formula-like id stays inert text."""
    from openpyxl import Workbook

    ids = ["100234", "T-17", "007", "1234567890123456", "=1+1", None]
    frame = spark.createDataFrame([(i, tid) for i, tid in enumerate(ids)], "n int, transaction_id string")
    workbook = Workbook(write_only=True)
    write_sheet(workbook, "Ids", frame.orderBy("n"), 100)
    workbook.save(tmp_path / "ids.xlsx")
    cells = [row[1] for row in load_workbook(tmp_path / "ids.xlsx")["Ids"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == [100234, "T-17", "007", "1234567890123456", "=1+1", None]
    assert [c.data_type for c in cells[:5]] == ["n", "s", "s", "s", "s"]


def test_summary_has_three_native_charts_on_its_own_data(report):
    _, workbook, _ = report
    summary = workbook["Summary"]
    charts = summary._charts
    assert [type(chart) for chart in charts] == [BarChart, LineChart, BarChart, LineChart]   # + the forecast
    assert [charts[0].type, charts[2].type] == ["col", "bar"]
    assert all(not workbook[name]._charts for name in workbook.sheetnames[1:])
    refs = [chart.series[0].val.numRef.f for chart in charts]
    assert all(ref.startswith("'Summary'!") for ref in refs)

    def table(ref):
        cells = summary[ref.split("!")[1].replace("$", "")]
        return [row[0].value for row in cells]

    categories = [table(chart.series[0].cat.strRef.f if chart.series[0].cat.strRef else chart.series[0].cat.numRef.f)
                  for chart in charts]
    assert table(refs[0]) == [130, 120.5, 25]                      # revenue by region, month of D
    assert categories[0] == ["South", "East", "Unknown"]
    assert categories[1] == ["2026-01", "2026-02", "2026-03"]       # every month up to D
    assert table(refs[1]) == [1, 1, 6]
    assert categories[2] == ["Asha Rao (#1)", "Ben Ng (#2)", "Unknown (#4)"]
    assert table(refs[2]) == [210, 120.5, 15]                      # spend over D-29 .. D


def test_alerts_for_d_come_from_gold_alerts(spark, silver, gold, tmp_path):
    alerts = spark.createDataFrame(
        [(date(2026, 3, 1), D("10.00"), D("90.00"), "an older drop"),
         (RUN_DATE, D("12.00"), D("95.50"), "7-day revenue 12.00 is below the baseline median 95.50 ...")],
        gold["alerts"].schema)
    result = build_report(spark, reader(silver, {**gold, "alerts": alerts}), RUN_DATE, tmp_path / "r.xlsx", 1_048_576)
    assert result.path == tmp_path / "r.xlsx"
    assert len(result.headline.alerts) == 1
    workbook = load_workbook(result.path)
    assert summary_figures(workbook)["Sales-drop alerts on the run date"] == 1
    rows = [[c.value for c in row] for row in workbook["Summary"].iter_rows(max_col=5)]
    alert = next(row for row in rows if row[0] == datetime(2026, 3, 15) and row[4])
    assert alert[1:3] == [12, 95.5] and alert[4].startswith("7-day revenue 12.00")
    assert not any(row[4] == "an older drop" for row in rows)


# -- fallback and split -------------------------------------------------------------------------------

def test_current_day_orders_fall_back_to_the_month_when_d_has_none(spark, silver, tmp_path):
    run_date = date(2026, 3, 13)                                  # nothing dated 03-13, nor 03-12
    gold = gold_for(spark, silver, run_date)
    result = build_report(spark, reader(silver, gold), run_date, tmp_path, 1_048_576)
    assert result.current_day_scope == "month"
    workbook = load_workbook(result.path)
    assert [row[:4] for row in values(workbook["Current_Day_Orders"])] == [
        (date(2026, 3, 2), None, "store", "t6"), (date(2026, 3, 10), datetime(2026, 3, 10, 12, 0), "pos", "t7")]
    assert values(workbook["Current_Day_Orders"])[1][-1] == "unknown_customer, unknown_product"
    assert values(workbook["Archived_Previous_Day"]) == []
    assert header(workbook["Archived_Previous_Day"]) == words(TRANSACTION_COLUMNS)
    assert result.row_counts["Current_Day_Orders"] == 2
    notes = [row[0].value for row in workbook["Summary"].iter_rows(max_col=1)]
    assert any(isinstance(n, str) and n.startswith("Current_Day_Orders: no transaction is dated 2026-03-13")
               for n in notes)


@pytest.fixture(scope="module")
def split_report(spark, silver, gold, tmp_path_factory):
    result = build_report(spark, reader(silver, gold), RUN_DATE, tmp_path_factory.mktemp("split"), 3)
    return result, load_workbook(result.path)


def test_split_continues_on_numbered_sheets(split_report, gold):
    result, workbook = split_report
    assert result.split_sheets["Customers"] == ("Customers", "Customers (2)")
    assert result.split_sheets["Customers_Data_Mart"] == (
        "Customers_Data_Mart", "Customers_Data_Mart (2)", "Customers_Data_Mart (3)")
    for name, titles in result.split_sheets.items():             # the pieces follow each other
        first = workbook.sheetnames.index(name)
        assert workbook.sheetnames[first:first + len(titles)] == list(titles)
    top_titles = result.split_sheets["KPI_Top_Customers_Last_30_Days"]
    assert top_titles == ("KPI_Top_Customers_Last_30_Days", "KPI_Top_Customers_Last_30_D (2)")
    assert all(len(title) <= 31 for title in workbook.sheetnames)
    # every piece: the header, at most 2 rows, formats and filter; together, the whole table in order
    for sheet_name, table in GOLD_SHEETS.items():
        titles = result.split_sheets.get(sheet_name, (sheet_name,))
        rows = []
        for title in titles:
            piece = workbook[title]
            assert header(piece) == words(GOLD_TABLES[table].columns)
            assert 1 <= piece.max_row - 1 <= 2 or gold[table].count() == 0
            assert piece.freeze_panes == "A2"
            assert next(iter(piece.tables.values())).ref.endswith(str(max(piece.max_row, 2)))
            rows.extend(values(piece))
        assert rows == gold_expected(gold, table), sheet_name
        assert result.row_counts[sheet_name] == len(rows)
    assert workbook.sheetnames[0] == "Summary"
    assert workbook.sheetnames == result.sheet_titles


def test_summary_says_which_sheets_continue(split_report):
    result, workbook = split_report
    text = [[c.value for c in row] for row in workbook["Summary"].iter_rows(max_col=5)]
    notes = [row[0] for row in text if isinstance(row[0], str) and " continues on " in row[0]]
    assert len(notes) == len(result.split_sheets) >= 3
    assert "Customers has 3 rows, more than one sheet holds (2 rows under the header): it continues on " \
           "Customers (2)." in notes
    listed = {row[0]: row[4] for row in text if row[0] in result.row_counts}
    assert listed["Customers"] == "Customers (2)"
    assert all(listed[name] == ", ".join(titles[1:]) for name, titles in result.split_sheets.items())


def test_continuation_titles_stay_within_31_characters():
    assert continuation_title("Customers", 1) == "Customers"
    assert continuation_title("Customers", 2) == "Customers (2)"
    assert continuation_title("KPI_Top_Customers_Last_30_Days", 12) == "KPI_Top_Customers_Last_30 (12)"
    assert continuation_title("KPI_Top_Customers_Last_30_Days", 2) == "KPI_Top_Customers_Last_30_D (2)"
    assert all(len(continuation_title("X" * 40, n)) == 31 for n in (1, 2, 10, 100))


def test_a_row_limit_without_room_for_data_is_refused(spark, silver, gold, tmp_path):
    with pytest.raises(ValueError, match="max_rows"):
        build_report(spark, reader(silver, gold), RUN_DATE, tmp_path, 1)


def test_lake_reader_reads_a_silver_table_never_delivered_as_empty_and_a_missing_gold_table_as_an_error(
        spark, tmp_path):
    from etl.config import load_config
    from etl.contracts.silver import DIM_CUSTOMER
    from etl.errors import MissingTableError
    from etl.export.report import lake_table_reader

    cfg = load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})
    read = lake_table_reader(spark, cfg)
    dim = read("silver", "dim_customer")
    assert dim.schema == DIM_CUSTOMER and dim.isEmpty()
    with pytest.raises(MissingTableError, match=r"/gold/customers_data_mart: gold/customers_data_mart is written "
                                                r"by the gold stage, which has not written it on this lake yet"):
        read("gold", "customers_data_mart").collect()


def test_sheets_come_through_arrow_cut_at_the_sheet_size_before_the_transfer(spark, silver, gold, tmp_path,
                                                                             monkeypatch):
    """Each sheet's rows reach the driver in Arrow transfers of at most ``max_rows`` rows (the limit is
    applied in Spark, before the transfer), never row by row through toLocalIterator."""
    DataFrame = type(spark.range(1))       # pyspark.sql.classic's DataFrame in Spark 4

    transfers: list[int] = []
    to_arrow = DataFrame.toArrow

    def counted(frame):
        table = to_arrow(frame)
        transfers.append(table.num_rows)
        return table

    def refused(frame, *args, **kwargs):
        raise AssertionError("toLocalIterator used")

    monkeypatch.setattr(DataFrame, "toArrow", counted)
    monkeypatch.setattr(DataFrame, "toLocalIterator", refused)
    result = build_report(spark, reader(silver, gold), RUN_DATE, tmp_path, 3)
    assert transfers and max(transfers) <= 3
    # one transfer per table sheet written (each continuation sheet included), nothing more; the grid
    # sheets (a 7 x 24 grid, the cohort triangle, the 14-day forecast) are small collected tables
    assert len(transfers) == len([t for t in result.sheet_titles[1:] if t not in GRID_SHEETS])
    assert sum(result.row_counts.values()) <= sum(transfers)
    assert gold["customers_data_mart"].count() > 3      # so the cut mattered
