"""Gold -> ``Daily_Report_YYYYMMDD.xlsx``, written and formatted for a business reader.

Each sheet's rows come to the driver in one Arrow transfer (``DataFrame.toArrow()``,
Spark's columnar collect, instead of ``toLocalIterator()`` row by row), cut first
at what one sheet holds (``max_rows``, header included): the driver never holds
more than one sheet's rows. openpyxl's write-only mode appends them, Arrow record
batch by record batch. Column kinds come from the Spark schema: money as
``#,##0.00``, percentages as ``0.00"%"`` (values are already ×100), dates as
dates. Widths are fitted from one small aggregate (max length per column).
A sheet longer than the configured limit continues on ``Name (2)``, ...
(titles are kept within Excel's 31 characters). The full daily report, with
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

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterator, Mapping

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DecimalType, TimestampType

MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = '0.00"%"'
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


def number_format(column: str, dtype) -> str | None:
    if isinstance(dtype, DecimalType):
        return PERCENT_FORMAT if column.endswith(("_percentage", "_pct", "_rate")) else MONEY_FORMAT
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


def column_widths(frame: DataFrame) -> list[int]:
    """Characters per column: the longest value (plus room for thousands separators on money) or the
    header (plus room for the autofilter button), capped at 60. One small aggregate over the frame."""
    lengths = frame.select(*[F.max(F.length(F.col(c).cast("string"))).alias(c) for c in frame.columns]).first()
    widths = []
    for field in frame.schema.fields:
        longest = lengths[field.name] or 0
        if isinstance(field.dataType, DecimalType):
            longest += longest // 3
        widths.append(min(60, max(len(field.name) + 4, longest + 2)))
    return widths


def _start_sheet(workbook: Workbook, title: str, frame: DataFrame, widths: list[int]):
    sheet = workbook.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"      # the header repeats on every printed page
    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)
    return sheet


def _finish_sheet(sheet, columns: int, rows: int) -> None:
    sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"


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


def sheet_rows(frame: DataFrame, max_rows: int) -> Iterator[tuple[list[tuple], bool]]:
    """``frame``'s rows for one sheet after another: (rows, more). Each sheet's rows are one Arrow
    transfer of at most ``max_rows`` rows (``max_rows - 1`` written under the header, one more to know
    whether the sheet continues); the next sheet starts at an ``offset`` (``frame`` is in a total order)."""
    per_sheet = max_rows - 1
    start = 0
    while True:
        part = frame.offset(start) if start else frame
        table = part.limit(per_sheet + 1).toArrow()
        more = table.num_rows > per_sheet
        rows: list[tuple] = []
        for batch in table.slice(0, per_sheet).to_batches():
            columns = [[_local(v) for v in column.to_pylist()] for column in batch.columns]
            rows.extend(zip(*columns) if columns else [()] * batch.num_rows)
        del table
        yield rows, more
        if not more:
            return
        start += per_sheet


def write_sheet(workbook: Workbook, name: str, frame: DataFrame, max_rows: int,
                overrides: Mapping[str, str] | None = None) -> SheetResult:
    """Write ``frame`` into ``name``, continuing on ``name (2)`` ... past ``max_rows`` (header included).

    ``overrides``: number formats by column name, replacing the ones chosen from the schema."""
    if max_rows < 2:
        raise ValueError(f"max_rows must leave room for the header and one row, got {max_rows}")
    formats = [(overrides or {}).get(f.name) or number_format(f.name, f.dataType) for f in frame.schema.fields]
    widths = column_widths(frame)
    titles: list[str] = []
    total = replaced = 0
    for rows, more in sheet_rows(frame, max_rows):
        titles.append(continuation_title(name, len(titles) + 1))
        sheet = _start_sheet(workbook, titles[-1], frame, widths)
        styled = _styled_cells(sheet, formats)
        plain = [index for index in range(len(formats)) if not formats[index]]
        for row in rows:
            values = list(row)
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
        _finish_sheet(sheet, len(widths), len(rows))
        total += len(rows)
    if replaced:
        log.warning("excel sheet %s: %d text value(s) held control characters a workbook cannot store; "
                    "written with visible symbols instead (U+2400..U+241F, U+FFFD)", name, replaced)
    return SheetResult(name, tuple(titles), total, replaced)
