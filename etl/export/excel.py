"""Gold -> ``Daily_Report_YYYYMMDD.xlsx``, written and formatted for a business reader.

Each sheet's rows come to the driver in one Arrow transfer (``DataFrame.toArrow()``,
Spark's columnar collect, instead of ``toLocalIterator()`` row by row), cut first
at what one sheet holds (``max_rows``, header included): the driver never holds
more than one sheet's rows. openpyxl's write-only mode appends them, Arrow record
batch by record batch. Column kinds come from the Spark schema: money as
``#,##0.00``, day counts as ``0.00 "days"``, dates as dates, and percentages as
fractions with Excel's own ``0.00%`` format: the lake holds them ×100 (47.19 for
47.19 %), the cell holds 0.4719, so ``=B2*C2`` in Excel means what it says.
Headers are words (``Total sales``, :func:`header_text`); an id column of text
whose value is a plain number (``transaction_id`` 100234) stores it as a number,
so Excel neither flags "number stored as text" nor sorts 10 before 9. Each
sheet's rows are an Excel table (``Table``, its own filter buttons and banded
rows; openpyxl's write-only writer writes tables when their columns are given).
Widths are fitted from the longest value per column: counted on the sheet's own Arrow
rows when one transfer holds all of them (a day's gold tables: no query of its own), else
from one small aggregate over the frame.
A sheet longer than the configured limit continues on ``Name (2)``, ...
(titles are kept within Excel's 31 characters). Small bounded tables (a :class:`Block`: the
RFM segment counts, the forecast and its backtest) are written whole, as their own Excel tables,
above a sheet's main table or alone. Ratios (``decimal(9,4)``) keep four decimals (``0.0000``). The full daily report, with
its Summary sheet and charts, is assembled by ``etl/export/report.py``.

**Text from the data is written as text, never as a formula.** openpyxl stores a
string that starts with ``=`` as a formula and one equal to an error code
(``#N/A``) as an error; names, addresses, regions and product names come from
raw files, so every ``str`` value goes through :func:`text_value`: typed as text
(``t="inlineStr"``), with Excel's quote prefix when it starts with ``=``, ``+``,
``-``, ``@``, tab or carriage return (what spreadsheet-injection guidance lists),
so that editing the cell in Excel does not turn it into a formula either. The
only way to write a formula is to mean it: a :class:`Formula` value.

**Characters a workbook cannot hold are replaced here, visibly.** XML 1.0 (the
file format) has no C0 control characters except tab, line feed and carriage
return, nor U+FFFE, U+FFFF or lone surrogates; openpyxl raises on the first of
them. Each control character becomes its Unicode "control picture" (``\\x01`` ->
U+2401, shown as a small "SOH", one for one, so the value stays readable and the original can be
told), the others U+FFFD. The lake and MySQL keep the value as delivered: only
this one output format cannot store it (docs/excel_report.md, "Text cells").
"""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, StringType, TimestampType

MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.00%"        # Excel's percent: the cell holds the fraction (0.4719 shows 47.19%)
DAYS_FORMAT = '0.00 "days"'
HUNDRED = Decimal(100)
PERCENT_SUFFIXES = ("_percentage", "_pct", "_rate")
PERCENT_PREFIXES = ("mape_",)   # mean absolute percent errors, x100 in the lake like every percentage
RATIO_FORMAT = "0.0000"         # DECIMAL(9,4) ratios (support, confidence, lift): not money, four decimals
# A text id that is a plain number (no sign, no leading zero, at most 15 digits: Excel keeps 15
# significant digits) is stored as a number.
NUMERIC_ID = re.compile(r"0|[1-9][0-9]{0,14}")
TABLE_STYLE = "TableStyleMedium2"
# Words of a column name shown otherwise in a header (``share_pct`` -> ``Share %``).
HEADER_WORDS = {"id": "ID", "ids": "IDs", "utc": "(UTC)", "pct": "%", "avg": "Average", "7d": "7 days",
                "30d": "30 days", "mtd": "month to date",
                "28d": "28 days", "90d": "90 days", "80": "80%", "prev": "previous", "rfm": "RFM", "mape": "MAPE",
                "mae": "MAE"}
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MAX_TITLE = 31          # Excel's limit on a sheet name
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
# A text cell starting with one of these is a formula to a spreadsheet that re-evaluates it (OWASP, CSV
# injection): written as text with the quote prefix. openpyxl itself only makes "=..." a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Not storable in a workbook (XML 1.0): C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CONTROL_PICTURES = 0x2400      # U+2400 + code: the visible symbol of each C0 control character
REPLACEMENT = "\ufffd"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SheetResult:
    name: str
    sheets: tuple[str, ...]
    rows: int
    replaced: int = 0           # text values that held characters a workbook cannot store (made visible)


class Formula(str):
    """A formula the report writes on purpose (``Formula("=SUM(B2:B9)")``); any other ``str`` is text."""


def visible_text(value: str) -> str:
    """``value`` with what a workbook cannot store made visible: a C0 control character as its control
    picture (``\\x01`` -> U+2401), a surrogate or U+FFFE/U+FFFF as U+FFFD. Other text is unchanged."""
    return UNSTORABLE.sub(_visible, value)


def _visible(match: re.Match) -> str:
    char = match.group()
    return chr(CONTROL_PICTURES + ord(char)) if char < " " else REPLACEMENT


def set_text(cell, value: str) -> None:
    """``value`` into ``cell`` as text (or as a formula when it is a :class:`Formula`)."""
    if isinstance(value, Formula):
        cell.value = str(value)
        return
    value = visible_text(value)
    cell.value = value
    cell.data_type = "s"            # also "=..." and "#N/A": text, not a formula nor an error
    if value.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True


def text_value(sheet, value: str):
    """What to append to a write-only ``sheet`` for a ``str`` value: the string itself when openpyxl
    stores it as plain text anyway (the common case, no cell object), else a text cell (see set_text)."""
    if isinstance(value, Formula) or value.startswith(FORMULA_TRIGGERS) or value in ERROR_CODES:
        cell = WriteOnlyCell(sheet)
        set_text(cell, value)
        return cell
    return visible_text(value) if UNSTORABLE.search(value) else value


def report_file_name(run_date: date) -> str:
    return f"Daily_Report_{run_date:%Y%m%d}.xlsx"


def header_text(column: str) -> str:
    """A column name in words for a header: ``total_sales`` -> ``Total sales``, ``customer_id`` ->
    ``Customer ID``, ``share_pct`` -> ``Share %``, ``transaction_time_utc`` -> ``Transaction time (UTC)``."""
    words = [HEADER_WORDS.get(word, word) for word in column.split("_") if word]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def is_day_count(column: str) -> bool:
    return column.endswith("_days") or "_time_between_" in column


def number_format(column: str, dtype) -> str | None:
    if isinstance(dtype, DecimalType):
        if column.endswith(PERCENT_SUFFIXES) or column.startswith(PERCENT_PREFIXES):
            return PERCENT_FORMAT
        if dtype.scale == 4:
            return RATIO_FORMAT
        return DAYS_FORMAT if is_day_count(column) else MONEY_FORMAT
    if isinstance(dtype, (DateType, TimestampType)):
        return DATE_FORMAT
    return None


def continuation_title(name: str, number: int) -> str:
    """``Name`` for the first sheet, ``Name (2)``, ``Name (3)``, ... after it; the base name is
    shortened when the suffix would take the title past Excel's 31 characters."""
    if number == 1:
        return name[:MAX_TITLE]
    suffix = f" ({number})"
    return name[:MAX_TITLE - len(suffix)].rstrip(" _") + suffix


def as_fraction(value):
    """A percentage as the lake holds it (×100) as the fraction a ``0.00%`` cell holds (exact for Decimal)."""
    if isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
        return value / HUNDRED if isinstance(value, (Decimal, int)) else value / 100
    return value


def table_name(title: str) -> str:
    """An Excel table name for a sheet title: ``T_`` and its letters, digits and ``_`` (``Customers (2)`` ->
    ``T_Customers_2``); unique in the workbook as the titles are."""
    return "T_" + re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")


def column_widths(frame: DataFrame, lengths: Sequence[int | None] | None = None) -> list[int]:
    """Characters per column: the longest value (plus room for thousands separators on money) or the
    header (plus room for the autofilter button), capped at 60. ``lengths``: the longest value of each
    column when the caller has the rows (``arrow_lengths``); without it one small aggregate over the frame."""
    if lengths is None:
        row = frame.select(*[F.max(F.length(F.col(c).cast("string"))).alias(c) for c in frame.columns]).first()
        lengths = [row[c] for c in frame.columns]
    widths = []
    for field, length in zip(frame.schema.fields, lengths):
        longest = length or 0
        if isinstance(field.dataType, DecimalType):
            longest += longest // 3
        widths.append(min(60, max(len(header_text(field.name)) + 4, longest + 2)))
    return widths


def _start_sheet(workbook: Workbook, title: str, frame: DataFrame, widths: list[int], blocks: Sequence["Block"] = ()):
    """A new sheet with its widths, the ``blocks`` (first sheet only) and the table's header under them."""
    sheet = workbook.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    top = 1 + sum(block.height for block in blocks)
    sheet.freeze_panes = f"A{top + 1}"
    sheet.print_title_rows = f"{top}:{top}"      # the header repeats on every printed page
    row = 1
    for block in blocks:
        row = write_block(sheet, block, row)
    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=header_text(name))
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)
    return sheet, top


def _finish_sheet(sheet, headers: list[str], rows: int, top: int = 1, name: str | None = None) -> None:
    """The sheet's range as an Excel table (filter buttons, banded rows, structured references). A
    table holds at least one row under its header: an empty sheet's table is its header and one empty
    row. openpyxl's write-only mode cannot read the header back, so the table's columns are given."""
    ref = f"A{top}:{get_column_letter(len(headers))}{top + max(rows, 1)}"
    table = Table(displayName=table_name(name or sheet.title), ref=ref,
                  tableColumns=[TableColumn(id=i, name=h) for i, h in enumerate(headers, start=1)],
                  tableStyleInfo=TableStyleInfo(name=TABLE_STYLE, showRowStripes=True))
    with warnings.catch_warnings():     # "in write-only mode you must add table columns manually": done above
        warnings.simplefilter("ignore", UserWarning)
        sheet.add_table(table)


@dataclass(frozen=True)
class Block:
    """A small table written whole at a place of a sheet (above a sheet's main table, or several on a
    sheet of their own): a caption, a header in words, rows as the lake holds them (percentages x100,
    turned into fractions here), formats chosen from the columns' Spark types. Bounded by the caller
    (a handful of segments, a 14-day forecast): it is never split over sheets."""
    caption: str | None
    columns: tuple[str, ...]
    formats: tuple[str | None, ...]
    rows: tuple[tuple, ...]
    table: str                          # the Excel table's name (unique in the workbook)
    empty: str | None = None            # the line shown instead of a table when there are no rows

    @property
    def height(self) -> int:
        """Rows the block takes, the blank row after it included."""
        return (1 if self.caption else 0) + (1 + max(len(self.rows), 1) if self.rows or not self.empty else 1) + 1

    @classmethod
    def of(cls, caption, schema, rows, table, empty=None, overrides=None) -> "Block":
        """A block of ``rows`` (tuples in ``schema``'s column order) with the formats of their types."""
        formats = tuple((overrides or {}).get(f.name) or number_format(f.name, f.dataType) for f in schema.fields)
        return cls(caption, tuple(schema.names), formats, tuple(tuple(r) for r in rows), table, empty)


CAPTION_FONT = Font(bold=True)
NOTE_FONT = Font(italic=True)


def write_block(sheet, block: Block, row: int) -> int:
    """Append ``block`` to the write-only ``sheet`` whose next row is ``row``; returns the next free row."""
    if block.caption:
        caption = WriteOnlyCell(sheet)
        set_text(caption, block.caption)
        caption.font = CAPTION_FONT
        sheet.append([caption])
        row += 1
    if not block.rows and block.empty:
        cell = WriteOnlyCell(sheet)
        set_text(cell, block.empty)
        cell.font = NOTE_FONT
        sheet.append([cell])
        sheet.append([])
        return row + 2
    header = []
    for name in block.columns:
        cell = WriteOnlyCell(sheet, value=header_text(name))
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        header.append(cell)
    sheet.append(header)
    top = row
    for values in block.rows:
        cells = []
        for value, fmt in zip(values, block.formats):
            if fmt == PERCENT_FORMAT:
                value = as_fraction(value)
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet)
                set_text(cell, value)
            else:
                cell = WriteOnlyCell(sheet, value=_local(value))
            if fmt:
                cell.number_format = fmt
            cells.append(cell)
        sheet.append(cells)
    if not block.rows:
        sheet.append([])
    _finish_sheet(sheet, [header_text(c) for c in block.columns], len(block.rows), top, block.table)
    sheet.append([])
    return top + 1 + max(len(block.rows), 1) + 1


def _styled_cells(sheet, formats: list[str | None]) -> list[tuple[int, WriteOnlyCell]]:
    """One cell per column that has a number format, reused for every row of ``sheet``: a write-only
    sheet writes a row out when it is appended, so only the value changes, and the style is looked up
    once per sheet instead of once per value. Columns without a format take plain values. Measured on
    100,000 rows of 10 columns (openpyxl with lxml): 8,500 rows/s, against 5,300 with a styled cell
    created per value (docs/benchmarks.md, serving)."""
    cells = []
    for index, fmt in enumerate(formats):
        if fmt:
            cell = WriteOnlyCell(sheet)
            cell.number_format = fmt
            cells.append((index, cell))
    return cells


def _local(value):
    """A value as ``Row`` gives it: Arrow returns zone-aware datetimes for Spark ``timestamp`` columns,
    ``toLocalIterator`` naive ones in the driver's local time (Excel takes naive datetimes only)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone().replace(tzinfo=None)
    return value


def arrow_lengths(table: pa.Table) -> list[int] | None:
    """The longest value of each column of ``table`` as text, as Spark's ``length(cast(c AS string))``
    counts it (a timestamp's fraction of a second without its trailing zeros); None when a column has no
    plain text form (the caller asks Spark instead)."""
    lengths = []
    for column in table.columns:
        try:
            if pa.types.is_timestamp(column.type):
                text = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")      # seconds with 3-9 decimals
                if column.type.unit != "s":
                    text = pc.replace_substring_regex(pc.replace_substring_regex(text, r"0+$", ""), r"\.$", "")
            else:
                text = pc.cast(column, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return None
        lengths.append(pc.max(pc.utf8_length(text)).as_py() or 0)
    return lengths


def sheet_rows(frame: DataFrame, max_rows: int, first: int | None = None,
               ) -> Iterator[tuple[list[tuple], bool, list[int] | None]]:
    """``frame``'s rows for one sheet after another: (rows, more, lengths). Each sheet's rows are one Arrow
    transfer of at most ``max_rows`` rows (``max_rows - 1`` written under the header, one more to know
    whether the sheet continues); the next sheet starts at an ``offset`` (``frame`` is in a total order).
    ``first``: rows the first sheet holds when something stands above its table (default ``max_rows - 1``).
    ``lengths``: the longest value of each column (``arrow_lengths``) when this one transfer holds every
    row of ``frame``, else None."""
    per_sheet = max_rows - 1
    size = per_sheet if first is None else max(first, 0)
    start = 0
    while True:
        part = frame.offset(start) if start else frame
        table = part.limit(size + 1).toArrow()
        more = table.num_rows > size
        table = table.slice(0, size)
        rows: list[tuple] = []
        for batch in table.to_batches():
            columns = [[_local(v) for v in column.to_pylist()] for column in batch.columns]
            rows.extend(zip(*columns) if columns else [()] * batch.num_rows)
        lengths = arrow_lengths(table) if not (more or start) else None
        del table
        yield rows, more, lengths
        if not more:
            return
        start += size
        size = per_sheet


def write_sheet(workbook: Workbook, name: str, frame: DataFrame, max_rows: int,
                overrides: Mapping[str, str] | None = None, blocks: Sequence[Block] = (),
                empty: str | None = None) -> SheetResult:
    """Write ``frame`` into ``name``, continuing on ``name (2)`` ... past ``max_rows`` (header included).

    ``overrides``: number formats by column name, replacing the ones chosen from the schema.
    ``blocks``: small tables written above the table on the first sheet; their rows count against that
    sheet's ``max_rows`` (when they leave no room, the first sheet holds them and the header only).
    ``empty``: a line written under the (empty) table when ``frame`` has no row, saying so."""
    if max_rows < 2:
        raise ValueError(f"max_rows must leave room for the header and one row, got {max_rows}")
    formats = [(overrides or {}).get(f.name) or number_format(f.name, f.dataType) for f in frame.schema.fields]
    percents = [index for index, fmt in enumerate(formats) if fmt == PERCENT_FORMAT]
    ids = [index for index, f in enumerate(frame.schema.fields)
           if f.name.endswith("_id") and isinstance(f.dataType, StringType) and not formats[index]]
    headers = [header_text(name) for name in frame.columns]
    titles: list[str] = []
    total = replaced = 0
    above = sum(block.height for block in blocks)
    sheets = sheet_rows(frame, max_rows, max_rows - 1 - above if blocks else None)
    rows, more, lengths = next(sheets)
    widths = column_widths(frame, lengths)      # lengths None (rows on several sheets): an aggregate first
    for rows, more, _ in itertools.chain([(rows, more, lengths)], sheets):
        titles.append(continuation_title(name, len(titles) + 1))
        sheet, top = _start_sheet(workbook, titles[-1], frame, widths, blocks if len(titles) == 1 else ())
        styled = _styled_cells(sheet, formats)
        plain = [index for index in range(len(formats)) if not formats[index]]
        for row in rows:
            values = list(row)
            for index in percents:
                values[index] = as_fraction(values[index])
            for index in ids:
                value = values[index]
                if type(value) is str and NUMERIC_ID.fullmatch(value):
                    values[index] = int(value)
            for index in plain:       # ordinary text is left to openpyxl, which stores it as text
                value = values[index]
                if type(value) is str and (value.startswith(FORMULA_TRIGGERS) or value in ERROR_CODES
                                           or UNSTORABLE.search(value)):
                    replaced += UNSTORABLE.search(value) is not None
                    values[index] = text_value(sheet, value)
            for index, cell in styled:
                value = values[index]
                if type(value) is str:              # a text column given a number format: still text
                    replaced += bool(UNSTORABLE.search(value))
                    text = WriteOnlyCell(sheet)     # its own cell: the shared one keeps no quote prefix
                    text.number_format = cell.number_format
                    set_text(text, value)
                    values[index] = text
                else:
                    cell.value = value
                    values[index] = cell
            sheet.append(values)
        if empty and not rows and not more and len(titles) == 1:
            note = WriteOnlyCell(sheet)
            set_text(note, empty)
            note.font = NOTE_FONT
            sheet.append([])                        # the empty row of the table
            sheet.append([note])                    # below the table, outside it
        _finish_sheet(sheet, headers, len(rows), top)
        total += len(rows)
    if replaced:
        log.warning("excel sheet %s: %d text value(s) held control characters a workbook cannot store; "
                    "written with visible symbols instead (U+2400..U+241F, U+FFFD)", name, replaced)
    return SheetResult(name, tuple(titles), total, replaced)
