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

A workbook comes from outside, so it is held to limits (``XlsxLimits``, config
``ingest.xlsx_*``, docs/ingestion.md): its parts' uncompressed sizes and
compression ratios are read from the zip's central directory before openpyxl
opens it (Python's ``zipfile`` never inflates a part beyond the size its
directory entry declares: a part that would is a CRC error), and rows and cells
are counted as they stream, blank ones included (openpyxl makes up the rows and
cells a sheet skips, so ``<row r="1000000">`` alone is a million rows). Past a
limit, or on any error while reading (a cell pointing at a shared string that
does not exist, a sheet without its shared-strings part, damaged XML in a later
row), the file is rejected with a reason naming it; nothing else stops.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import date, datetime, time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Any, Iterator

from etl.bronze.keys import shown
from etl.errors import InputError

Source = str | PathLike | IO[bytes]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MIB = 1024 * 1024
RATIO_GRACE_BYTES = MIB    # a part smaller than this is not held to the ratio: small XML compresses very well


@dataclass(frozen=True)
class XlsxLimits:
    """What one XLSX delivery may expand to (config ``ingest``; defaults in docs/ingestion.md)."""

    max_uncompressed_bytes: int = 256 * MIB    # all parts together, as the zip's directory declares them
    max_ratio: float = 100.0                   # uncompressed / compressed, per part above RATIO_GRACE_BYTES
    max_rows: int = 1_048_576                  # rows of the first sheet, blank ones included (Excel's own maximum)
    max_cells: int = 50_000_000                # cells of the first sheet, as openpyxl yields them (blank ones too)


def archive_problem(archive: zipfile.ZipFile, limits: XlsxLimits) -> str | None:
    """Why a workbook's zip directory alone rejects it (too large uncompressed, or a part inflating
    too far), or None; nothing is decompressed."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        return (f"XLSX too large: {total} bytes uncompressed, over the limit of {limits.max_uncompressed_bytes} "
                f"(ingest.xlsx_max_uncompressed_mb)")
    for info in infos:
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            return (f"XLSX compression ratio too high: part {shown(info.filename)[:120]!r} expands {ratio:.0f}x "
                    f"({info.compress_size} -> {info.file_size} bytes), over the limit of {limits.max_ratio:g}x "
                    f"(ingest.xlsx_max_ratio)")
    return None


def _unreadable(error: BaseException, row: int) -> InputError:
    """A reading error as the reason a file is rejected (an OS error of this machine is not the file's fault)."""
    if isinstance(error, OSError) and error.errno is not None:
        raise error
    text = shown(" ".join(str(error).split()))[:200]
    return InputError(f"unreadable XLSX workbook at row {row} of the first sheet: {type(error).__name__}: {text}")


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
    if sheet is not None:
        # The extent a sheet declares (<dimension>) is the writer's word: openpyxl stops at its last row, so a
        # sheet that understates it would lose rows silently. Read every row there is (limits count them).
        sheet.reset_dimensions()
    return workbook, sheet


class _Position:
    """Where the reading is: rows and cells openpyxl has yielded so far (blank ones included)."""

    def __init__(self) -> None:
        self.rows = self.cells = 0


def _rows(sheet, limits: XlsxLimits, at: _Position) -> Iterator[list[str]]:
    """Non-blank rows as rendered strings, the header first, padded to the header's width; raises
    ``InputError`` past a row or cell limit."""
    width = None
    for values in sheet.iter_rows(values_only=True):
        at.rows += 1
        at.cells += len(values)
        if at.rows > limits.max_rows:
            raise InputError(f"XLSX sheet too long: more than {limits.max_rows} rows, blank ones included "
                             f"(ingest.xlsx_max_rows)")
        if at.cells > limits.max_cells:
            raise InputError(f"XLSX sheet too large: more than {limits.max_cells} cells, blank ones included "
                             f"(ingest.xlsx_max_cells)")
        cells = [render_cell(v) for v in values]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if width is None:
            width = len(cells)
        yield cells + [""] * (width - len(cells))


def xlsx_problem(source: Source, limits: XlsxLimits = XlsxLimits()) -> str | None:
    """Why an XLSX delivery must be rejected whole, or None: not an XLSX file, past a size or ratio
    limit, no worksheet, empty sheet, unreadable up to its header.

    ``source`` is a local path or a seekable binary stream. Only the first sheet is
    looked at, and only up to its first non-blank row (``xlsx_to_csv`` judges the rest).
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
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            if "xl/workbook.xml" not in names:
                return "not an XLSX file (a zip archive without xl/workbook.xml)"
            if not any(n.startswith("xl/worksheets/") and n.endswith(".xml") and "/_rels/" not in n for n in names):
                return "the workbook has no worksheet"
            problem = archive_problem(archive, limits)
            if problem:
                return problem
    except (zipfile.BadZipFile, ValueError, EOFError) as error:      # a damaged central directory
        return f"not an XLSX file (damaged zip archive: {type(error).__name__})"
    try:
        workbook, sheet = _open_first_sheet(source)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook
        if isinstance(error, OSError) and error.errno is not None:
            raise
        return f"unreadable XLSX workbook: {type(error).__name__}: {shown(' '.join(str(error).split()))[:200]}"
    at = _Position()
    try:
        if sheet is None:
            return "the workbook has no worksheet"
        if next(_rows(sheet, limits, at), None) is None:
            return f"the first sheet ({shown(sheet.title)!r}) is empty"
        return None
    except InputError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - any failure to read the file is the file's reason
        return str(_unreadable(error, at.rows + 1))
    finally:
        workbook.close()
        _rewind(source)


def xlsx_to_csv(source: Source, out_path: str | PathLike, limits: XlsxLimits = XlsxLimits()) -> int:
    """Write the first sheet of an XLSX workbook as a UTF-8 CSV; returns the number of data rows.

    Check the file with ``xlsx_problem`` first. Any problem met on the way (an empty
    sheet, a limit, a row openpyxl cannot read) raises ``InputError`` with the reason
    to reject the file; only an error of this machine (disk full) raises as itself.
    """
    workbook, sheet = _open_first_sheet(source)
    at = _Position()
    try:
        if sheet is None:
            raise InputError("the workbook has no worksheet")
        rows = _rows(sheet, limits, at)
        header = next(rows, None)
        if header is None:
            raise InputError(f"the first sheet ({shown(sheet.title)!r}) is empty: no header row to convert")
        count = 0
        with open(Path(out_path), "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
        return count
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to read the file is the file's reason
        raise _unreadable(error, at.rows + 1) from None
    finally:
        workbook.close()
