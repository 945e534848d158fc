"""Hostile landing files, built byte by byte in the tests (never committed): one builder per input class.

openpyxl writes text as inline strings, so the workbooks here are written by hand, as
Excel writes them: text cells point into ``xl/sharedStrings.xml``. The same builders
feed the fast checks (tests/unit/test_hostile_input.py) and the whole ``etl run``
(tests/integration/test_hostile_input.py).
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

_NS = "http://schemas.openxmlformats.org"
_MAIN = f"{_NS}/spreadsheetml/2006/main"
_RELS = f"{_NS}/package/2006/relationships"
_DOC = f"{_NS}/officeDocument/2006/relationships"

CUSTOMER_HEADER = ["Customer ID", "First Name", "Last Name", "Address", "Pincode", "Mobile Number", "Region",
                   "Customer Joining Date"]


def customer_rows(count: int, first_id: int = 9000) -> list[list]:
    return [[first_id + i, f"Name{i}", "Hostile", f"{i} Test Road", 122001, 919800000000 + i, "North", "2024-01-02"]
            for i in range(count)]


def _column(index: int) -> str:
    name, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def workbook(rows: list[list], *, inline_header: bool = False, shared_strings_part: bool = True,
             sheet_xml: str | None = None, shared_strings_xml: str | None = None, dimension: str | None = None) -> bytes:
    """An XLSX file: one sheet ``Customers``, numbers as numbers, text as shared strings (the header as
    inline strings with ``inline_header``); ``shared_strings_part=False`` leaves that part (and its
    relationship) out; ``sheet_xml`` / ``shared_strings_xml`` replace those parts' text; ``dimension`` is the
    extent the sheet declares (default: its true one)."""
    strings: list[str] = []

    def cell(row: int, col: int, value) -> str:
        ref = f"{_column(col)}{row}"
        if isinstance(value, (int, float)):
            return f'<c r="{ref}"><v>{value}</v></c>'
        if inline_header and row == 1:
            return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
        strings.append(value)
        return f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>'

    body = "".join(f'<row r="{r}">' + "".join(cell(r, c, v) for c, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(rows, 1))
    # Excel writes the sheet's extent first; openpyxl reads the whole sheet at open to find it otherwise.
    extent = f"A1:{_column(max(len(r) for r in rows) - 1)}{len(rows)}" if rows else "A1"
    sheet = sheet_xml or (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
                          f'<dimension ref="{dimension or extent}"/><sheetData>{body}</sheetData></worksheet>')
    shared = shared_strings_xml or (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">' + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>")
    sst_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    parts = {
        "[Content_Types].xml":
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{_NS}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            + (f'<Override PartName="/xl/sharedStrings.xml" ContentType="{sst_type}"/>'
               if shared_strings_part else "") + "</Types>",
        "_rels/.rels":
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
            f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml":
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            '<sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels":
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            + (f'<Relationship Id="rId2" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/>'
               if shared_strings_part else "") + "</Relationships>",
        "xl/worksheets/sheet1.xml": sheet,
    }
    if shared_strings_part:
        parts["xl/sharedStrings.xml"] = shared
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def _sheet(rows: list[list]) -> str:
    """The sheet part ``workbook(rows)`` writes (to be damaged by the builders below)."""
    with zipfile.ZipFile(io.BytesIO(workbook(rows))) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def good_customers_xlsx(count: int = 3, first_id: int = 9000) -> bytes:
    return workbook([CUSTOMER_HEADER, *customer_rows(count, first_id)])


def xlsx_missing_shared_string() -> bytes:
    """Rows 1-2 read; row 3's first text cell points at shared string 999, which the workbook lacks."""
    rows = [CUSTOMER_HEADER, *customer_rows(3)]
    sheet = _sheet(rows)
    row3 = sheet.index('<row r="3">')
    first_text = sheet.index('t="s"><v>', row3) + len('t="s"><v>')
    end = sheet.index("</v>", first_text)
    return workbook(rows, sheet_xml=sheet[:first_text] + "999" + sheet[end:])


def xlsx_without_shared_strings_part() -> bytes:
    """The header is inline text (it reads); every later text cell points into a part that is not there."""
    return workbook([CUSTOMER_HEADER, *customer_rows(3)], inline_header=True, shared_strings_part=False)


def xlsx_damaged_after_row_2(rows: int = 3000, damaged_row: int = 2500) -> bytes:
    """Well-formed XML for its first rows, broken in row ``damaged_row``: far enough in for the parser to
    read the header (and the file to pass the check on its first row) before it meets the damage."""
    table = [CUSTOMER_HEADER, *customer_rows(rows)]
    return workbook(table, sheet_xml=_sheet(table).replace(f'<row r="{damaged_row}">',
                                                           f'<row r="{damaged_row}" <<<>'))


def xlsx_shared_strings_bomb(inflated_mb: int = 8) -> bytes:
    """A few KB that inflate to ``inflated_mb`` MB of shared strings (whitespace, ~1000:1)."""
    rows = [CUSTOMER_HEADER, *customer_rows(2)]
    strings = [v for row in rows for v in row if isinstance(v, str)]
    padding = " " * (inflated_mb * 1024 * 1024)
    shared = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}">'
              + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + padding + "</sst>")
    return workbook(rows, shared_strings_xml=shared)


def xlsx_row_beyond(row_number: int = 1_048_577 + 1) -> bytes:
    """A header, one row, and a last row numbered ``row_number``: openpyxl yields every row in between."""
    rows = [CUSTOMER_HEADER, *customer_rows(2)]
    sheet = _sheet(rows).replace('<row r="3">', f'<row r="{row_number}">')
    return workbook(rows, sheet_xml=sheet.replace('r="A3"', f'r="A{row_number}"'))


ORDERS_XML = ('<?xml version="1.0" encoding="{encoding}"?>\n<orders>\n  <order><order_id>H-1</order_id>'
              '<mobile_number>9811000017</mobile_number><customer_name>Asha Rao</customer_name>'
              '<order_date>2026-11-22</order_date><store_id>1</store_id><total_amount>10.00</total_amount>'
              '</order>\n</orders>\n')


def utf16_orders_xml() -> bytes:
    """A good orders document, in UTF-16 with its byte order mark (Spark reads XML as UTF-8: no record)."""
    return ORDERS_XML.format(encoding="UTF-16").encode("utf-16")


def orders_without_order() -> bytes:
    """A well-formed ``<orders>`` root with no ``<order>`` in it."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n</orders>\n'


SALES_HEADER = b"customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost\n"


def sales_invalid_utf8_after(offset: int = 8192) -> tuple[bytes, int]:
    """A sales file that is UTF-8 for its first ``offset``-odd bytes, then a Latin-1 byte; and its offset."""
    row = b"1,1,Strawberry Cone,2026-11-22,1,90.00,1,90.00\n"
    good = SALES_HEADER + row * (offset // len(row) + 1)
    bad = b"1,1,Cr\xe8me Cone,2026-11-22,1,90.00,1,90.00\n"
    return good + bad + row, len(good) + bad.index(b"\xe8")
