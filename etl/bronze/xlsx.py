"""Customers delivered as XLSX: the first sheet, converted to the CSV the CSV path already reads.

After ``xlsx_to_csv`` an XLSX delivery is a UTF-8 CSV with the sheet's own
header names (normalisation and aliases are applied later, by the CSV path, as
for any CSV file), so both formats share one header check, one reader and one
bronze table.

openpyxl reads the workbook in read-only mode: rows are streamed from the
sheet's XML and written out one at a time, never the whole sheet in memory.

Cell rendering: text as it is; integers, and floats that hold an integer,
without a decimal part (a phone number typed as a number, ``919811000017``,
not ``919811000017.0``); other floats in Python's shortest form (``0.1``);
dates ``yyyy-MM-dd``; date-times ``yyyy-MM-dd HH:mm:ss`` (``yyyy-MM-dd`` when
the time is midnight, as Excel dates are); times ``HH:mm:ss``; booleans
``true``/``false``; empty cells empty. Formulas give their cached value.
Fully blank rows are skipped (Spark's CSV reader skips blank lines too); the
first non-blank row is the header. Rows are padded to the header's width;
cells beyond it are kept (as extra fields) when not empty.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import date, datetime, time
from os import PathLike
from pathlib import Path
from typing import IO, Any, Iterator

Source = str | PathLike | IO[bytes]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def render_cell(value: Any) -> str:
    """One cell's value as CSV text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _rewind(source: Source) -> None:
    if hasattr(source, "seek"):
        source.seek(0)


def _open_first_sheet(source: Source):
    from openpyxl import load_workbook

    _rewind(source)
    workbook = load_workbook(source, read_only=True, data_only=True)
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    return workbook, sheet


def _rows(sheet) -> Iterator[list[str]]:
    """Non-blank rows as rendered strings, the header first, padded to the header's width."""
    width = None
    for values in sheet.iter_rows(values_only=True):
        cells = [render_cell(v) for v in values]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if width is None:
            width = len(cells)
        yield cells + [""] * (width - len(cells))


def xlsx_problem(source: Source) -> str | None:
    """Why an XLSX delivery must be rejected whole, or None: not an XLSX file, no worksheet, empty sheet.

    ``source`` is a local path or a seekable binary stream. Only the first sheet is
    looked at, and only up to its first non-blank row.
    """
    _rewind(source)
    if hasattr(source, "read"):
        head = source.read(8)
    else:
        with open(source, "rb") as handle:
            head = handle.read(8)
    if not head:
        return "empty file"
    if head.startswith(_OLE_MAGIC):
        return "not an XLSX file: an old .xls workbook or a password-protected one (save as .xlsx)"
    _rewind(source)
    if not zipfile.is_zipfile(source):
        return "not an XLSX file (not a zip archive)"
    _rewind(source)
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        if "xl/workbook.xml" not in names:
            return "not an XLSX file (a zip archive without xl/workbook.xml)"
        if not any(n.startswith("xl/worksheets/") and n.endswith(".xml") and "/_rels/" not in n for n in names):
            return "the workbook has no worksheet"
    try:
        workbook, sheet = _open_first_sheet(source)
    except Exception as error:  # openpyxl raises many types for a damaged workbook
        return f"unreadable XLSX workbook: {type(error).__name__}: {error}"
    try:
        if sheet is None:
            return "the workbook has no worksheet"
        if next(_rows(sheet), None) is None:
            return f"the first sheet ({sheet.title!r}) is empty"
        return None
    finally:
        workbook.close()
        _rewind(source)


def xlsx_to_csv(source: Source, out_path: str | PathLike) -> int:
    """Write the first sheet of an XLSX workbook as a UTF-8 CSV; returns the number of data rows.

    Check the file with ``xlsx_problem`` first; a workbook without a non-blank
    row raises ``InputError`` here rather than writing a CSV without a header.
    """
    from etl.errors import InputError

    workbook, sheet = _open_first_sheet(source)
    try:
        if sheet is None:
            raise InputError("the workbook has no worksheet")
        rows = _rows(sheet)
        header = next(rows, None)
        if header is None:
            raise InputError(f"the first sheet ({sheet.title!r}) is empty: no header row to convert")
        count = 0
        with open(Path(out_path), "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
        return count
    finally:
        workbook.close()
