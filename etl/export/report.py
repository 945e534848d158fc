"""The daily Excel report (METRICS.md, "The Excel report"): ``Daily_Report_YYYYMMDD.xlsx`` for run date D.

One entry point, :func:`build_report`. It reads the lake only through the
``read_table(layer, name)`` function it is given (the pipeline passes one that
loads Delta tables, see :func:`lake_table_reader`; tests pass hand-built
frames), writes the workbook to a local file and returns where it is and how
many rows each sheet holds. Uploading the file is the caller's business.

Sheets, in this order::

    Summary                          headline figures for D, alerts, sheet notes, four charts
    Customers                        silver dim_customer, the version valid on D, one row per customer
    Current_Day_Orders               silver transactions dated D (none: the month of D, 1st .. D)
    Archived_Previous_Day            silver transactions dated D-1
    KPI_Repeat_Customers             gold kpi_repeat_customers
    KPI_Regional_Revenue             gold kpi_regional_revenue
    KPI_Monthly_Order_Trends         gold kpi_monthly_order_trends
    KPI_Top_Customers_Last_30_Days   gold kpi_top_customers_30d
    Customers_Data_Mart              gold customers_data_mart
    Sales_Team_Data_Mart             gold sales_team_data_mart
    Channels_Daily                   gold kpi_channel_daily, D-89 .. D
    Order_Mix                        gold kpi_order_mix
    Peak_Hours                       gold kpi_peak_hours as a 7 x 24 grid under a colour scale
    Menu_Performance                 gold kpi_menu_performance_30d
    RFM_Segments                     customers per segment, then gold customer_rfm
    Basket_Pairs                     gold kpi_basket_pairs_90d
    Cohort_Retention                 gold kpi_cohort_retention as a triangle under a colour scale
    Forecast                         gold kpi_revenue_forecast, then forecast_backtest

Every data sheet is written from one Arrow transfer per sheet (``toArrow()`` of
at most ``max_rows`` rows into openpyxl's write-only mode, see
``etl/export/excel.py``) in a total order: gold tables by their
registry sort keys, transactions by (date, channel, id), customers by id. A
sheet past ``max_rows`` (header included) continues on ``Name (2)``, ... The grid
sheets (``GRID_SHEETS``) are small tables collected once and written whole: bounded
by construction far below a sheet's limit, they are never split.

**Summary first, written last.** The Summary needs figures known only once the
data sheets are written (row counts, which sheets were split), while a
write-only workbook cannot go back to a sheet it has streamed. openpyxl's
public ``Workbook.create_sheet(title, index)`` places a new sheet at any
position, also in write-only mode: sheets are ordered in the file when the
workbook is saved, not when they are created. So the data sheets are streamed
first and the Summary is then created with ``index=0``; it is the first sheet
and the active one when the file opens. No count query is needed up front.

Every ``str`` from the data is written as text, never as a formula, with what a
workbook cannot store made visible (``etl/export/excel.py``, ``set_text``); a
sheet whose values needed that gets a note on the Summary.

The Summary's charts (native Excel charts, ``openpyxl.chart``) read small
tables written on the Summary itself, to the right of the charts: revenue by
region for the month of D (one row per region), orders by month (one row per
month), top customers over the last 30 days (10 rows, ties kept), and the
revenue of the last 60 days followed by the 14-day forecast of all channels. Those are
the only frames collected to the driver, together with two one-row lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.legend import Legend
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, StringType, StructField, StructType

from etl.export.excel import (DATE_FORMAT, DATETIME_FORMAT, HEADER_FILL, HEADER_FONT, MONEY_FORMAT,
                              PERCENT_FORMAT, Block, SheetResult, as_fraction, header_text, report_file_name,
                              set_text, table_name, write_block, write_sheet)
from etl.gold.common import UNKNOWN, customers_as_of, full_name
from etl.gold.marts import GOLD_TABLES

ReadTable = Callable[[str, str], DataFrame]

SUMMARY = "Summary"
# Gold sheets: sheet name -> gold table (METRICS.md order; the data sheets before them are built here).
GOLD_SHEETS = {
    "KPI_Repeat_Customers": "kpi_repeat_customers",
    "KPI_Regional_Revenue": "kpi_regional_revenue",
    "KPI_Monthly_Order_Trends": "kpi_monthly_order_trends",
    "KPI_Top_Customers_Last_30_Days": "kpi_top_customers_30d",
    "Customers_Data_Mart": "customers_data_mart",
    "Sales_Team_Data_Mart": "sales_team_data_mart",
}
# Order analytics (issue 24): sheet name -> the gold table it shows, in workbook order after GOLD_SHEETS.
ORDER_ANALYTICS_SHEETS = {
    "Channels_Daily": "kpi_channel_daily",               # the last CHANNEL_DAYS days
    "Order_Mix": "kpi_order_mix",
    "Peak_Hours": "kpi_peak_hours",                      # a 7 x 24 grid (GRID_SHEETS)
    "Menu_Performance": "kpi_menu_performance_30d",
    "RFM_Segments": "customer_rfm",                      # customers per segment, then the customers
    "Basket_Pairs": "kpi_basket_pairs_90d",
    "Cohort_Retention": "kpi_cohort_retention",          # a triangle (GRID_SHEETS)
    "Forecast": "kpi_revenue_forecast",                  # and forecast_backtest under it
}
# Sheets written whole from a small collected table, never split: their size is bounded by construction
# (7 rows; one row per cohort month; 14 days x 4 channels plus 4 backtest rows).
GRID_SHEETS = ("Peak_Hours", "Cohort_Retention", "Forecast")
SHEETS = (SUMMARY, "Customers", "Current_Day_Orders", "Archived_Previous_Day", *GOLD_SHEETS, *ORDER_ANALYTICS_SHEETS)
CHANNEL_DAYS = 90                  # Channels_Daily: D-89 .. D
SUMMARY_DAYS = 60                  # the Summary's revenue line: D-59 .. D, then the forecast
FORECAST_CHANNEL = "all"           # the Summary charts the forecast of all channels together
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Low white, high green (Excel's own two-colour scale): busy hours and retained cohorts stand out.
COLOR_SCALE = dict(start_type="min", start_color="FFFFFF", end_type="max", end_color="63BE7B")

CUSTOMER_COLUMNS = ["customer_id", "full_name", "address", "pincode", "phone_number", "region",
                    "customer_joining_date", "merged_customer_ids"]
TRANSACTION_COLUMNS = ["transaction_date", "transaction_time_utc", "channel", "transaction_id", "customer_id",
                       "customer_name", "store_id", "sales_person_id", "amount", "units", "status", "is_revenue",
                       "warnings"]
TRANSACTION_SORT = ("transaction_date", "channel", "transaction_id")
TRANSACTION_FORMATS = {"transaction_time_utc": DATETIME_FORMAT}
COUNT_FORMAT = "#,##0"

TITLE_FONT = Font(bold=True, size=16, color="1F4E78")
LINK_FONT = Font(color="0563C1", underline="single")       # Excel's own Hyperlink style
AUTHOR = "Retail lakehouse ETL"                               # the workbook's author (File > Info)
BOLD = Font(bold=True)
NOTE_FONT = Font(italic=True, color="9C0006")
TOP = Alignment(vertical="top")
WRAP = Alignment(vertical="top", wrap_text=True)
# Summary layout: text in A:E, charts from G, chart data from CHART_DATA_COLUMN (right of the charts).
SUMMARY_WIDTHS = {"A": 36, "B": 16, "C": 16, "D": 10, "E": 40}
CHART_COLUMN = "G"
CHART_DATA_COLUMN = 19          # S
CHART_WIDTH_CM, CHART_HEIGHT_CM, CHART_ROWS = 16.0, 9.0, 19   # rows between two chart anchors
PRINT_LAST_COLUMN = "P"                                       # the charts end in column P


@dataclass(frozen=True)
class Headline:
    """The Summary's figures for run date D (all from gold, except ``customers_on_record``)."""
    run_date: date
    revenue_day: Decimal
    orders_day: int
    revenue_mtd: Decimal
    orders_mtd: int
    customers_mtd: int              # distinct known customers with an order in the month of D
    customers_on_record: int        # rows of the Customers sheet
    top_region: str | None          # best named region in the month of D (Unknown only when no other)
    top_region_revenue: Decimal | None
    top_region_share_pct: Decimal | None
    alerts: tuple[tuple, ...]       # gold alerts dated D: (date, revenue, expected, reason)

    @property
    def avg_order_value_mtd(self) -> Decimal | None:
        if not self.orders_mtd:
            return None
        return (self.revenue_mtd / self.orders_mtd).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


@dataclass(frozen=True)
class ReportResult:
    path: Path                           # the local .xlsx
    run_date: date
    sheets: tuple[SheetResult, ...]      # the data sheets in workbook order (Summary not included)
    current_day_scope: str               # "day": Current_Day_Orders holds D; "month": fell back to the month of D
    headline: Headline
    notes: tuple[str, ...] = field(default=())

    @property
    def row_counts(self) -> dict[str, int]:
        """Data rows per sheet (all its continuation sheets together), in workbook order."""
        return {sheet.name: sheet.rows for sheet in self.sheets}

    @property
    def sheet_titles(self) -> list[str]:
        """Every sheet of the workbook in order, continuation sheets included: Summary first."""
        return [SUMMARY, *(title for sheet in self.sheets for title in sheet.sheets)]

    @property
    def split_sheets(self) -> dict[str, tuple[str, ...]]:
        """Sheets that continued on ``Name (2)``, ...: name -> every title it used."""
        return {sheet.name: sheet.sheets for sheet in self.sheets if len(sheet.sheets) > 1}


def lake_table_reader(spark: SparkSession, cfg) -> ReadTable:
    """``read_table`` for :func:`build_report` that loads ``<lake>/<layer>/<name>`` as Delta. A silver
    table not written yet (a feed never delivered, e.g. no customers file so far) reads as empty, as it
    does for gold; a missing gold table is a one-line error (gold never ran)."""
    from etl import delta_io
    from etl.lake import table_uri

    def read(layer: str, name: str) -> DataFrame:
        uri = table_uri(cfg, layer, name)
        return delta_io.read_or_empty(spark, uri) if layer == "silver" else delta_io.read(spark, uri)

    return read


# -- data sheets ---------------------------------------------------------------------------------------

def gold_sheet(read_table: ReadTable, table: str) -> DataFrame:
    """A gold table with the registry's columns, in the registry's total sort order."""
    spec = GOLD_TABLES[table]
    return spec.ordered(read_table("gold", table).select(*spec.columns))


def customers_sheet(dim_customer: DataFrame, customer_id_map: DataFrame, run_date: date) -> DataFrame:
    """One row per (deduplicated, canonical) customer: the dim_customer version valid on D, with the
    other delivered ids merged into it (``customer_id_map``), by customer_id."""
    valid_on_d = dim_customer.filter((F.col("valid_from") <= F.lit(run_date)) & (F.col("valid_to") > F.lit(run_date)))
    merged = (customer_id_map.filter(F.col("customer_id") != F.col("canonical_customer_id"))
              .groupBy(F.col("canonical_customer_id").alias("customer_id"))
              .agg(F.concat_ws(", ", F.array_sort(F.collect_set("customer_id")).cast("array<string>"))
                   .alias("merged_customer_ids")))
    return (valid_on_d.withColumn("full_name", full_name("first_name", "last_name"))
            .join(merged, "customer_id", "left")
            .select(*CUSTOMER_COLUMNS)
            .orderBy("customer_id"))


def transactions_sheet(transactions: DataFrame, dim_customer: DataFrame, run_date: date,
                       first: date, last: date) -> DataFrame:
    """Silver transactions dated ``first .. last`` (every status: ``status``/``is_revenue`` say whether
    one counts in revenue), with the customer's name as of D; time of day in UTC (online and POS)."""
    names = customers_as_of(dim_customer, run_date).select("customer_id", F.col("full_name").alias("_name"))
    return (transactions.filter(F.col("transaction_date").between(F.lit(first), F.lit(last)))
            .join(names, "customer_id", "left")
            .select("transaction_date",
                    F.col("transaction_ts").cast("timestamp_ntz").alias("transaction_time_utc"),
                    "channel", "transaction_id", "customer_id",
                    F.when(F.col("customer_id").isNotNull(), F.coalesce("_name", F.lit(UNKNOWN)))
                    .alias("customer_name"),
                    "store_id", "sales_person_id", "amount", "units", "status", "is_revenue",
                    F.when(F.size("warnings") > 0, F.concat_ws(", ", "warnings")).alias("warnings"))
            .orderBy(*TRANSACTION_SORT))


# -- order analytics (issue 24) -------------------------------------------------------------------------

def _empty_line(table: str, run_date: date) -> str:
    return f"No rows: gold {table} is empty for {run_date.isoformat()}."


def channels_sheet(kpi_channel_daily: DataFrame, run_date: date) -> DataFrame:
    """``kpi_channel_daily`` of the last ``CHANNEL_DAYS`` days (``D-89 .. D``), by (date, channel)."""
    spec = GOLD_TABLES["kpi_channel_daily"]
    first = run_date - timedelta(days=CHANNEL_DAYS - 1)
    return spec.ordered(kpi_channel_daily.select(*spec.columns)
                        .filter(F.col("date").between(F.lit(first), F.lit(run_date))))


SEGMENT_SCHEMA = StructType([StructField("rfm_segment", StringType()), StructField("customers", IntegerType()),
                             StructField("customer_share_pct", DecimalType(9, 2)),
                             StructField("monetary", DecimalType(18, 2))])


def segment_block(customer_rfm: DataFrame, run_date: date) -> Block:
    """Customers per RFM segment (a handful of rows: one small aggregate), most customers first; the
    share is of all customers of the table."""
    rows = (customer_rfm.groupBy("rfm_segment")
            .agg(F.count(F.lit(1)).cast("int").alias("customers"), F.sum("monetary").alias("monetary"))
            .orderBy(F.desc("customers"), "rfm_segment").collect())
    total = sum(r["customers"] for r in rows)
    values = [(r["rfm_segment"], r["customers"],
               (Decimal(r["customers"] * 100) / total).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"),
               r["monetary"]) for r in rows]
    return Block.of("Customers per segment", SEGMENT_SCHEMA, values, "T_RFM_Segments_per_segment",
                    empty=_empty_line("customer_rfm", run_date))


def _header_cell(sheet, value) -> WriteOnlyCell:
    """A grid's header cell (an hour, a weekday, a cohort month): text always as text."""
    cell = WriteOnlyCell(sheet)
    if isinstance(value, str):
        set_text(cell, value)
    else:
        cell.value = value
    cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    cell.alignment = Alignment(horizontal="center")
    return cell


def _note_cell(sheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet)
    set_text(cell, text)
    cell.font = Font(italic=True)
    return cell


def write_peak_hours(workbook: Workbook, rows: list, run_date: date) -> SheetResult:
    """``kpi_peak_hours`` as a grid: Monday .. Sunday down, hours 0 .. 23 (UTC) across, order counts,
    under a colour scale. Always 8 rows (header and 7 days): it never reaches a sheet's row limit."""
    name = "Peak_Hours"
    sheet = workbook.create_sheet(name)
    sheet.column_dimensions["A"].width = 12
    for hour in range(24):
        sheet.column_dimensions[get_column_letter(hour + 2)].width = 6
    if not rows:
        sheet.append([_note_cell(sheet, _empty_line("kpi_peak_hours", run_date))])
        return SheetResult(name, (name,), 0)
    sheet.freeze_panes = "B2"
    counts = {(r["day_of_week"], r["hour"]): r["order_count"] for r in rows}
    sheet.append([_header_cell(sheet, "Day"), *(_header_cell(sheet, hour) for hour in range(24))])
    for day, weekday in enumerate(WEEKDAYS, start=1):
        sheet.append([_header_cell(sheet, weekday), *(counts.get((day, hour)) for hour in range(24))])
    sheet.conditional_formatting.add("B2:Y8", ColorScaleRule(**COLOR_SCALE))
    sheet.append([])
    first = run_date - timedelta(days=27)
    sheet.append([_note_cell(sheet, f"Orders by weekday and hour (UTC), online and POS orders dated "
                                    f"{first.isoformat()} .. {run_date.isoformat()} (gold kpi_peak_hours).")])
    return SheetResult(name, (name,), len(WEEKDAYS))


def write_cohort_retention(workbook: Workbook, rows: list, run_date: date) -> SheetResult:
    """``kpi_cohort_retention`` as a triangle: one row per cohort month (with its size), one column per
    month offset, retention as a fraction under ``0.00%`` and a colour scale. One row per month since
    the first transaction: far below a sheet's row limit, so it is never split."""
    name = "Cohort_Retention"
    sheet = workbook.create_sheet(name)
    if not rows:
        sheet.append([_note_cell(sheet, _empty_line("kpi_cohort_retention", run_date))])
        return SheetResult(name, (name,), 0)
    cohorts = sorted({r["cohort_month"] for r in rows})
    offsets = max(r["month_offset"] for r in rows) + 1
    size = {r["cohort_month"]: r["cohort_size"] for r in rows}
    retention = {(r["cohort_month"], r["month_offset"]): r["retention_pct"] for r in rows}
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 12
    for offset in range(offsets):
        sheet.column_dimensions[get_column_letter(offset + 3)].width = 9
    sheet.freeze_panes = "C2"
    sheet.append([_header_cell(sheet, "Cohort"), _header_cell(sheet, "Customers"),
                  *(_header_cell(sheet, offset) for offset in range(offsets))])
    for cohort in cohorts:
        cells = [_header_cell(sheet, cohort), size[cohort]]
        for offset in range(offsets):
            cell = WriteOnlyCell(sheet, value=as_fraction(retention.get((cohort, offset))))
            cell.number_format = PERCENT_FORMAT
            cells.append(cell)
        sheet.append(cells)
    last = f"{get_column_letter(offsets + 2)}{len(cohorts) + 1}"
    sheet.conditional_formatting.add(f"C2:{last}", ColorScaleRule(**COLOR_SCALE))
    sheet.append([])
    sheet.append([_note_cell(sheet, "Share of each cohort (customers by the month of their first transaction) "
                                    "with a transaction 0, 1, 2, ... months later (gold kpi_cohort_retention).")])
    return SheetResult(name, (name,), len(cohorts))


def write_forecast(workbook: Workbook, forecast: DataFrame, forecast_rows: list, backtest: DataFrame,
                   backtest_rows: list, run_date: date) -> SheetResult:
    """The forecast rows (``kpi_revenue_forecast``, by channel and date), then the backtest
    (``forecast_backtest``): two small Excel tables, written whole."""
    name = "Forecast"
    sheet = workbook.create_sheet(name)
    blocks = [
        Block.of(f"Revenue forecast for {(run_date + timedelta(days=1)).isoformat()} .. "
                 f"{(run_date + timedelta(days=14)).isoformat()} (80% prediction interval)", forecast.schema,
                 forecast_rows, table_name("Forecast"), empty=_empty_line("kpi_revenue_forecast", run_date)),
        Block.of("Backtest: the model against the seasonal-naive forecast over the last 14 days", backtest.schema,
                 backtest_rows, table_name("Forecast backtest"), empty=_empty_line("forecast_backtest", run_date)),
    ]
    widths = [max(len(header_text(c)) + 4, 12) for c in forecast.columns]
    widths[forecast.columns.index("model")] = 40
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    row = 1
    for block in blocks:
        row = write_block(sheet, block, row)
    return SheetResult(name, (name,), len(forecast_rows) + len(backtest_rows))


# -- headline figures and chart data (small, collected) ---------------------------------------------

def recent_days(read_table: ReadTable, run_date: date) -> list:
    """``kpi_daily_sales`` of the last ``SUMMARY_DAYS`` days (date, revenue, order_count), read once: the
    headline takes D from it, the forecast chart the whole line."""
    first = run_date - timedelta(days=SUMMARY_DAYS - 1)
    return (read_table("gold", "kpi_daily_sales").filter(F.col("date").between(F.lit(first), F.lit(run_date)))
            .select("date", "revenue", "order_count").orderBy("date").collect())


def _headline(read_table: ReadTable, run_date: date, regions: list, customers_on_record: int,
              recent: list) -> Headline:
    day = next((row for row in recent if row["date"] == run_date), None)
    month = (read_table("gold", "kpi_monthly_order_trends").filter(F.col("sales_month") == f"{run_date:%Y-%m}")
             .select("revenue", "order_count", "unique_customers").first())
    alerts = [tuple(row) for row in read_table("gold", "alerts").filter(F.col("date") == F.lit(run_date))
              .select("date", "revenue", "expected", "reason").orderBy("date", "reason").collect()]
    named = [r for r in regions if r["region"] != UNKNOWN] or list(regions)
    top = named[0] if named else None
    return Headline(
        run_date=run_date,
        revenue_day=day["revenue"] if day else Decimal("0.00"),
        orders_day=day["order_count"] if day else 0,
        revenue_mtd=month["revenue"] if month else Decimal("0.00"),
        orders_mtd=month["order_count"] if month else 0,
        customers_mtd=month["unique_customers"] if month else 0,
        customers_on_record=customers_on_record,
        top_region=top["region"] if top else None,
        top_region_revenue=top["revenue"] if top else None,
        top_region_share_pct=top["share_pct"] if top else None,
        alerts=tuple(alerts),
    )


def _chart_tables(read_table: ReadTable) -> tuple[list, list, list]:
    """Bounded by construction: regions, months up to D, top 10 customers (ties kept)."""
    regions = gold_sheet(read_table, "kpi_regional_revenue").select("region", "revenue", "share_pct").collect()
    months = gold_sheet(read_table, "kpi_monthly_order_trends").select("sales_month", "order_count", "revenue").collect()
    top = gold_sheet(read_table, "kpi_top_customers_30d").select("rank", "customer_id", "customer_name",
                                                               "total_spend").collect()
    return regions, months, top


# -- the Summary sheet --------------------------------------------------------------------------------

class _Grid:
    """The Summary's cells by (row, column), emitted row by row into the write-only sheet at the end
    (write-only sheets take rows in order only; the text and the chart data share rows)."""

    def __init__(self):
        self.cells: dict[tuple[int, int], tuple[Any, dict]] = {}
        self.heights: dict[int, float] = {}      # points, for rows holding wrapped text
        self.row = 1

    def put(self, row: int, column: int, value: Any, **style) -> None:
        self.cells[(row, column)] = (value, style)

    def line(self, *values: Any, formats: tuple[str | None, ...] = (), **style) -> int:
        """Write ``values`` from column A on the next free row of the text area; returns the row."""
        row = self.row
        for index, value in enumerate(values):
            fmt = formats[index] if index < len(formats) else None
            self.put(row, index + 1, value, **({"number_format": fmt} if fmt else {}), **style)
        self.row += 1
        return row

    def header(self, *titles: str, row: int | None = None, column: int = 1) -> int:
        """Header cells on the next free text row, or at (``row``, ``column``) when given."""
        at = self.row if row is None else row
        for index, title in enumerate(titles):
            self.put(at, column + index, title, font=HEADER_FONT, fill=HEADER_FILL)
        if row is None:
            self.row += 1
        return at

    def skip(self, lines: int = 1) -> None:
        self.row += lines

    @property
    def last_row(self) -> int:
        return max((r for r, _ in self.cells), default=0)

    def emit(self, sheet) -> None:
        for row, height in self.heights.items():      # row attributes are written with the row
            sheet.row_dimensions[row].height = height
        for row in range(1, self.last_row + 1):
            columns = [c for (r, c) in self.cells if r == row]
            values = [None] * max(columns, default=0)
            for column in columns:
                value, style = self.cells[(row, column)]
                cell = WriteOnlyCell(sheet)
                if isinstance(value, str):      # region and customer names come from the data: text
                    set_text(cell, value)
                else:
                    cell.value = value
                for key, setting in style.items():
                    setattr(cell, key, setting)
                values[column - 1] = cell
            sheet.append(values)


def _summary_text(grid: _Grid, headline: Headline, sheets: list[SheetResult], notes: list[str]) -> None:
    d = headline.run_date
    grid.line(f"Daily report for {d.isoformat()}", font=TITLE_FONT)
    grid.line("Run date", d, formats=(None, DATE_FORMAT))
    grid.line("Month to date", f"{d.replace(day=1).isoformat()} .. {d.isoformat()}")
    grid.skip()
    grid.header("Headline figures", "Value")
    grid.line("Revenue on the run date", headline.revenue_day, formats=(None, MONEY_FORMAT))
    grid.line("Orders on the run date", headline.orders_day, formats=(None, COUNT_FORMAT))
    grid.line("Revenue, month to date", headline.revenue_mtd, formats=(None, MONEY_FORMAT))
    grid.line("Orders, month to date", headline.orders_mtd, formats=(None, COUNT_FORMAT))
    grid.line("Average order value, month to date", headline.avg_order_value_mtd, formats=(None, MONEY_FORMAT))
    grid.line("Customers with orders, month to date", headline.customers_mtd, formats=(None, COUNT_FORMAT))
    grid.line("Customers on record", headline.customers_on_record, formats=(None, COUNT_FORMAT))
    grid.line("Top region, month to date", headline.top_region or "n/a")
    grid.line("Top region revenue, month to date", headline.top_region_revenue, formats=(None, MONEY_FORMAT))
    grid.line("Top region share of revenue", as_fraction(headline.top_region_share_pct), formats=(None, PERCENT_FORMAT))
    grid.line("Sales-drop alerts on the run date", len(headline.alerts), formats=(None, COUNT_FORMAT))
    grid.skip()

    grid.line(f"Sales-drop alerts for {d.isoformat()}", font=BOLD)
    grid.header("Date", "Revenue, 7 days", "Expected, 7 days", "", "Reason")
    if headline.alerts:
        for alert_date, revenue, expected, reason in headline.alerts:
            row = grid.line(alert_date, revenue, expected, formats=(DATE_FORMAT, MONEY_FORMAT, MONEY_FORMAT),
                            alignment=TOP)
            grid.put(row, 5, reason, alignment=WRAP)
            grid.heights[row] = 15 * -(-len(reason) // SUMMARY_WIDTHS["E"])   # lines of wrapped text
    else:
        grid.line("No sales-drop alert for the run date.")
    grid.skip()

    grid.header("Sheet", "Rows", "Sheets used", "", "Continued on")
    for sheet in sheets:
        row = grid.line(None, sheet.rows, len(sheet.sheets), None, ", ".join(sheet.sheets[1:]) or None,
                        formats=(None, COUNT_FORMAT, COUNT_FORMAT))
        grid.put(row, 1, sheet.name, hyperlink=sheet_link(sheet.sheets[0]), font=LINK_FONT)
    if notes:
        grid.skip()
        grid.header("Notes")
        for note in notes:
            grid.line(note, font=NOTE_FONT)


def sheet_link(title: str) -> Hyperlink:
    """An internal link to cell A1 of sheet ``title`` (a location, no relationship, no external target)."""
    return Hyperlink(ref="", location=f"'{title}'!A1", display=title)


def forecast_chart_rows(recent: list, forecast_rows: list, run_date: date) -> list[tuple]:
    """(day, revenue, forecast, lower 80%, upper 80%) for ``D-59 .. D+14``: the revenue of the last 60 days,
    then the forecast of all channels with its interval (none: the line stops at D)."""
    revenue = {row["date"]: row["revenue"] for row in recent}
    ahead = {row["date"]: row for row in forecast_rows if row["channel"] == FORECAST_CHANNEL}
    out = []
    for offset in range(-(SUMMARY_DAYS - 1), 15):
        day = run_date + timedelta(days=offset)
        point = ahead.get(day)
        out.append((day.isoformat(), revenue.get(day, Decimal("0.00")) if offset <= 0 else None,
                    point["forecast"] if point else None, point["lower_80"] if point else None,
                    point["upper_80"] if point else None))
    return out


def _chart_data(grid: _Grid, sheet, regions: list, months: list, top: list,
                forecast: list) -> dict[str, tuple[int, int, int]]:
    """The three chart tables side by side from CHART_DATA_COLUMN, one blank column apart;
    name -> (first column, header row, last row). Sets their column widths on ``sheet``."""
    out = {}
    tables = {
        "regions": (("Region", "Revenue, month to date"), [(r["region"], r["revenue"]) for r in regions],
                    (None, MONEY_FORMAT), (20, 22)),
        "months": (("Month", "Orders", "Revenue"), [(m["sales_month"], m["order_count"], m["revenue"]) for m in months],
                   (None, COUNT_FORMAT, MONEY_FORMAT), (10, 10, 16)),
        "top": (("Customer", "Spend, last 30 days"),
                [(f"{t['customer_name']} (#{t['customer_id']})", t["total_spend"]) for t in top],
                (None, MONEY_FORMAT), (32, 20)),
        "forecast": (("Day", "Revenue", "Forecast", "Lower 80%", "Upper 80%"), forecast,
                     (None, MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT, MONEY_FORMAT), (12, 12, 12, 12, 12)),
    }
    column = CHART_DATA_COLUMN
    grid.put(1, column, "Chart data (read by the charts)", font=BOLD)
    for name, (titles, rows, formats, widths) in tables.items():
        for index, width in enumerate(widths):
            sheet.column_dimensions[get_column_letter(column + index)].width = width
        grid.header(*titles, row=2, column=column)
        for offset, values in enumerate(rows, start=3):
            for index, value in enumerate(values):
                style = {"number_format": formats[index]} if formats[index] else {}
                grid.put(offset, column + index, value, **style)
        out[name] = (column, 2, 2 + max(len(rows), 1))
        column += len(titles) + 1
    return out


def _style_chart(chart, title: str, y_title: str, anchor_row: int, y_format: str = "#,##0"):
    chart.title = title
    chart.y_axis.title = y_title
    chart.y_axis.number_format = y_format
    chart.x_axis.tickLblSkip = 1                                # every category labelled
    chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
    chart.legend = None
    # openpyxl 3.1 marks axes deleted unless told otherwise: Excel would then draw no axis labels.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    return chart, f"{CHART_COLUMN}{anchor_row}"


def _charts(sheet, data: dict[str, tuple[int, int, int]]) -> list:
    charts = []
    column, header, last = data["regions"]
    bar = BarChart()
    bar.type = "col"
    bar.add_data(Reference(sheet, min_col=column + 1, min_row=header, max_row=last), titles_from_data=True)
    bar.set_categories(Reference(sheet, min_col=column, min_row=header + 1, max_row=last))
    charts.append(_style_chart(bar, "Revenue by region, month to date", "Revenue", 2))

    column, header, last = data["months"]
    line = LineChart()
    line.add_data(Reference(sheet, min_col=column + 1, min_row=header, max_row=last), titles_from_data=True)
    line.set_categories(Reference(sheet, min_col=column, min_row=header + 1, max_row=last))
    line.series[0].marker.symbol = "circle"
    line.series[0].smooth = False          # a trend of counts: straight segments, no invented curve
    charts.append(_style_chart(line, "Orders by month", "Orders", 2 + CHART_ROWS))

    column, header, last = data["top"]
    top = BarChart()
    top.type = "bar"                       # horizontal bars: customer names read on the axis
    top.add_data(Reference(sheet, min_col=column + 1, min_row=header, max_row=last), titles_from_data=True)
    top.set_categories(Reference(sheet, min_col=column, min_row=header + 1, max_row=last))
    top.x_axis.scaling.orientation = "maxMin"   # rank 1 at the top ...
    top.y_axis.crosses = "max"                  # ... and the spend axis stays at the bottom
    charts.append(_style_chart(top, "Top customers, last 30 days", "Spend", 2 + 2 * CHART_ROWS))

    column, header, last = data["forecast"]
    ahead = LineChart()
    ahead.add_data(Reference(sheet, min_col=column + 1, max_col=column + 4, min_row=header, max_row=last),
                   titles_from_data=True)
    ahead.set_categories(Reference(sheet, min_col=column, min_row=header + 1, max_row=last))
    for series in ahead.series:
        series.smooth = False
    for series in ahead.series[2:]:          # the 80% band: its two edges, dashed, in the forecast's colour
        series.graphicalProperties.line.dashStyle = "dash"
        series.graphicalProperties.line.solidFill = "9DC3E6"
    chart, anchor = _style_chart(ahead, "Revenue, last 60 days, and the 14-day forecast (all channels)", "Revenue",
                                 2 + 3 * CHART_ROWS)
    chart.x_axis.tickLblSkip = 7                                # a label a week
    chart.legend = Legend()
    chart.legend.position = "b"
    charts.append((chart, anchor))
    for chart, anchor in charts:
        sheet.add_chart(chart, anchor)
    return [chart for chart, _ in charts]


def _write_summary(workbook: Workbook, headline: Headline, sheets: list[SheetResult], notes: list[str],
                   regions: list, months: list, top: list, forecast: list) -> None:
    sheet = workbook.create_sheet(SUMMARY, 0)     # public API: first position, whenever created
    for letter, width in SUMMARY_WIDTHS.items():
        sheet.column_dimensions[letter].width = width
    grid = _Grid()
    _summary_text(grid, headline, sheets, notes)
    data = _chart_data(grid, sheet, regions, months, top, forecast)
    _charts(sheet, data)
    # Printed (and rendered to PNG): the text and the charts on one landscape page. Sheet properties
    # and the view go at the top of the sheet's XML: set them before the first row is streamed.
    sheet.print_area = f"A1:{PRINT_LAST_COLUMN}{max(grid.last_row, 1 + 4 * CHART_ROWS)}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 1
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    sheet.sheet_view.showGridLines = False
    grid.emit(sheet)


def _notes(sheets: list[SheetResult], max_rows: int, scope: str, run_date: date) -> list[str]:
    notes = []
    if scope == "month":
        notes.append(f"Current_Day_Orders: no transaction is dated {run_date.isoformat()}; the sheet shows "
                     f"the month of the run date ({run_date.replace(day=1).isoformat()} .. {run_date.isoformat()}).")
    for sheet in sheets:
        if len(sheet.sheets) > 1:
            notes.append(f"{sheet.name} has {sheet.rows:,} rows, more than one sheet holds "
                         f"({max_rows - 1:,} rows under the header): it continues on {', '.join(sheet.sheets[1:])}.")
    for sheet in sheets:
        if sheet.replaced:
            notes.append(f"{sheet.name}: {sheet.replaced:,} value(s) held control characters a workbook cannot "
                         f"store; they are shown as symbols (\u2401 for the character 0x01, and so on; \ufffd "
                         f"for others). The lake and MySQL hold them as delivered.")
    return notes


def describe(workbook: Workbook, run_date: date) -> None:
    """The document's properties (File > Info, and what a document library indexes)."""
    props = workbook.properties
    props.title = f"Daily report for {run_date.isoformat()}"
    props.subject = "Retail sales: revenue, orders, customers and sales team"
    props.creator = props.lastModifiedBy = AUTHOR
    props.keywords = f"daily report, {run_date.isoformat()}"


def _write_order_analytics(workbook: Workbook, read_table: ReadTable, run_date: date, max_rows: int,
                           written: list[SheetResult], label: Callable[[str], None]) -> list:
    """The order-analytics sheets in ``ORDER_ANALYTICS_SHEETS`` order, each gold table read once; returns
    the forecast rows (the Summary charts them)."""
    def table_sheet(name: str, frame: DataFrame, **options) -> None:
        label(name)
        written.append(write_sheet(workbook, name, frame, max_rows, empty=_empty_line(
            ORDER_ANALYTICS_SHEETS[name], run_date), **options))

    table_sheet("Channels_Daily", channels_sheet(read_table("gold", "kpi_channel_daily"), run_date))
    table_sheet("Order_Mix", gold_sheet(read_table, "kpi_order_mix"))
    label("Peak_Hours")
    written.append(write_peak_hours(workbook, gold_sheet(read_table, "kpi_peak_hours").collect(), run_date))
    table_sheet("Menu_Performance", gold_sheet(read_table, "kpi_menu_performance_30d"))
    rfm = gold_sheet(read_table, "customer_rfm")
    table_sheet("RFM_Segments", rfm, blocks=(segment_block(rfm, run_date),))
    table_sheet("Basket_Pairs", gold_sheet(read_table, "kpi_basket_pairs_90d"))
    label("Cohort_Retention")
    written.append(write_cohort_retention(workbook, gold_sheet(read_table, "kpi_cohort_retention").collect(),
                                          run_date))
    label("Forecast")
    forecast, backtest = gold_sheet(read_table, "kpi_revenue_forecast"), gold_sheet(read_table, "forecast_backtest")
    forecast_rows, backtest_rows = forecast.collect(), backtest.collect()
    written.append(write_forecast(workbook, forecast, forecast_rows, backtest, backtest_rows, run_date))
    return forecast_rows


# -- entry point ----------------------------------------------------------------------------------------

def build_report(spark: SparkSession | None, read_table: ReadTable, run_date: date, path: Path,
                 max_rows: int = 1_048_576) -> ReportResult:
    """Write the daily report for ``run_date`` and return where it is and what it holds.

    ``read_table(layer, name)``: a table as a DataFrame, ``layer`` ``"gold"`` (the tables of
    ``GOLD_TABLES``) or ``"silver"`` (``transactions``, ``dim_customer``, ``customer_id_map``).
    ``path``: the ``.xlsx`` to write, or a folder to write ``Daily_Report_YYYYMMDD.xlsx`` into; the
    file is written beside it under a temporary name and renamed, so a reader never sees half a file.
    ``max_rows``: rows per sheet, header included (Excel's maximum by default).
    ``spark``: only used to label the Spark jobs per sheet (may be None).
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        path = path / report_file_name(run_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    context = spark.sparkContext if spark is not None else None

    def label(what: str) -> None:
        if context is not None:
            context.setJobDescription(f"excel report {run_date.isoformat()}: {what}" if what else None)

    transactions = read_table("silver", "transactions")
    dim_customer = read_table("silver", "dim_customer")
    label("Current_Day_Orders scope")
    scope = "day" if transactions.filter(F.col("transaction_date") == F.lit(run_date)).limit(1).count() else "month"
    first_day = run_date if scope == "day" else run_date.replace(day=1)
    previous = run_date - timedelta(days=1)
    frames = {
        "Customers": customers_sheet(dim_customer, read_table("silver", "customer_id_map"), run_date),
        "Current_Day_Orders": transactions_sheet(transactions, dim_customer, run_date, first_day, run_date),
        "Archived_Previous_Day": transactions_sheet(transactions, dim_customer, run_date, previous, previous),
        **{sheet: gold_sheet(read_table, table) for sheet, table in GOLD_SHEETS.items()},
    }

    workbook = Workbook(write_only=True)
    describe(workbook, run_date)
    written = []
    try:
        for name, frame in frames.items():
            label(name)
            overrides = TRANSACTION_FORMATS if "transaction_time_utc" in frame.columns else None
            written.append(write_sheet(workbook, name, frame, max_rows, overrides))
        forecast_rows = _write_order_analytics(workbook, read_table, run_date, max_rows, written, label)
        label("Summary")
        regions, months, top = _chart_tables(read_table)
        recent = recent_days(read_table, run_date)
        headline = _headline(read_table, run_date, regions, written[0].rows, recent)
    finally:
        label("")
    notes = _notes(written, max_rows, scope, run_date)
    _write_summary(workbook, headline, written, notes, regions, months, top,
                   forecast_chart_rows(recent, forecast_rows, run_date))

    tmp = path.with_name(f".{path.stem}.tmp.xlsx")
    workbook.save(tmp)
    tmp.replace(path)
    return ReportResult(path, run_date, tuple(written), scope, headline, tuple(notes))
