"""Rows per second of the Excel report's row writing, without Spark (docs/excel_report.md, "Big sheets").

    .venv/bin/python benchmarks/excel_rows.py [--rows 100000]

Writes the same rows (10 columns: ids, text, money, a count, a date, a share) into an openpyxl
write-only sheet twice: as the report did before, a styled cell created per value, and as
``etl.export.excel`` does now, one styled cell per formatted column reused for every row
(``_styled_cells``). Prints rows/s for each and whether openpyxl serialises through lxml.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl.export.excel import _styled_cells  # noqa: E402

FORMATS = [None, None, None, "#,##0.00", "#,##0.00", "#,##0", "yyyy-mm-dd", None, "0.00%", "#,##0"]


def rows(count: int):
    return [(i, f"Customer {i}", "Bengaluru", Decimal("1234.56"), Decimal("12.34"), 17, date(2026, 11, 1),
             "2026-11", Decimal("0.25"), 3) for i in range(count)]


def cell_per_value(sheet, data) -> None:
    """The report's loop before: a new styled cell for every value."""
    for row in data:
        cells = []
        for value, fmt in zip(row, FORMATS):
            cell = WriteOnlyCell(sheet, value=value)
            if fmt:
                cell.number_format = fmt
            cells.append(cell)
        sheet.append(cells)


def reused_cells(sheet, data) -> None:
    """The report's loop now (etl/export/excel.py write_sheet)."""
    styled = _styled_cells(sheet, FORMATS)
    for row in data:
        values = list(row)
        for index, cell in styled:
            cell.value = values[index]
            values[index] = cell
        sheet.append(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data = rows(args.rows)
    out = {"rows": args.rows, "openpyxl": openpyxl.__version__, "lxml": openpyxl.LXML}
    for method in (cell_per_value, reused_cells):
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("rows")
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            method(sheet, data)
            workbook.save(Path(folder) / "rows.xlsx")
            seconds = time.perf_counter() - began
        out[method.__name__] = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
