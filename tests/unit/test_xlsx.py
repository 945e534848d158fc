"""The customers/ feed: XLSX -> CSV conversion (etl/bronze/xlsx.py) and the customers contract."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import pytest
from chispa import assert_df_equality
from openpyxl import Workbook
from pyspark.sql import functions as F

from etl.bronze.csv_feed import header_problem, parse_header
from etl.bronze.xlsx import render_cell, xlsx_problem, xlsx_to_csv
from etl.contracts import customers as contract
from etl.errors import InputError

HEADER = ["Customer ID", "Customer Name", "Mobile-Number", "Address", "Pincode", "Region",
          "Customer Joining Date", "updated_at"]

# What a CRM user would export as CSV from the same sheet.
EQUIVALENT_CSV = (
    "Customer ID,Customer Name,Mobile-Number,Address,Pincode,Region,Customer Joining Date,updated_at\n"
    "1,Mudita Roy,919811000017,\"Sector 66, Gurgaon\",122001,North,2024-01-05,\n"
    "2,Arjun,+91 98110-00018,\"House \"\"Sea View\"\"\nMumbai\",0400001,West,2024-02-29,2026-11-01\n"
    "3,,,,,,,\n"
)


def write_workbook(path, rows, *, sheet_title="Customers", leading_blank_rows=0, extra_sheet=True):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    for _ in range(leading_blank_rows):
        sheet.append([])
    for row in rows:
        sheet.append(row)
    if extra_sheet:  # only the first sheet counts
        workbook.create_sheet("Notes").append(["not", "customers"])
    workbook.save(path)
    return path


CUSTOMER_ROWS = [
    HEADER,
    # numbers typed as numbers, a date cell, a comma in a text
    [1, "Mudita Roy", 919811000017, "Sector 66, Gurgaon", 122001, "North", datetime(2024, 1, 5), None],
    # text that looks like a number keeps its zeros; quotes and a line break in a cell
    [2, "Arjun", "+91 98110-00018", 'House "Sea View"\nMumbai', "0400001", "West", date(2024, 2, 29),
     datetime(2026, 11, 1)],
    [],                                  # a blank row: skipped
    [3.0],                               # a short row: padded to the header's width
]


# -- conversion ------------------------------------------------------------------------------

def test_xlsx_with_aliased_headers_converts_to_the_same_csv_as_the_equivalent_csv_file(tmp_path):
    source = write_workbook(tmp_path / "customers.xlsx", CUSTOMER_ROWS, leading_blank_rows=2)
    out = tmp_path / "customers.csv"

    assert xlsx_to_csv(source, out) == 3
    assert out.read_bytes() == EQUIVALENT_CSV.encode("utf-8")

    # ...and from there the CSV path's header check applies, aliases included
    header = parse_header(out.read_text(encoding="utf-8").split("\n", 1)[0], contract.ALIASES)
    assert header.canonical == ("customer_id", "customer_name", "phone_number", "address", "pincode", "region",
                                "customer_joining_date", "updated_at")
    assert header_problem(header, contract.mandatory_columns(header.canonical)) is None


def test_xlsx_to_csv_reads_a_stream_as_well_as_a_path(tmp_path):
    buffer = io.BytesIO(write_workbook(tmp_path / "c.xlsx", CUSTOMER_ROWS).read_bytes())
    out = tmp_path / "from_stream.csv"
    xlsx_to_csv(buffer, out)
    assert out.read_text(encoding="utf-8") == EQUIVALENT_CSV


def test_cells_beyond_the_header_are_kept_as_extra_fields(tmp_path):
    source = write_workbook(tmp_path / "c.xlsx", [["customer_id", "region"], [7, "East", "stray note"]])
    xlsx_to_csv(source, tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text(encoding="utf-8") == "customer_id,region\n7,East,stray note\n"


def test_a_workbook_without_rows_raises_rather_than_writing_a_csv_without_header(tmp_path):
    source = write_workbook(tmp_path / "empty.xlsx", [])
    with pytest.raises(InputError, match="the first sheet \\('Customers'\\) is empty"):
        xlsx_to_csv(source, tmp_path / "empty.csv")
    assert not (tmp_path / "empty.csv").exists()


@pytest.mark.parametrize("value, text", [
    (None, ""),
    ("", ""),
    (" keep  spaces ", " keep  spaces "),
    (42, "42"),
    (42.0, "42"),
    (919811000017.0, "919811000017"),
    (-3.0, "-3"),
    (0.1, "0.1"),
    (718.5, "718.5"),
    (True, "true"),
    (False, "false"),
    (date(2024, 2, 29), "2024-02-29"),
    (datetime(2024, 2, 29, 0, 0), "2024-02-29"),
    (datetime(2024, 2, 29, 18, 4, 11), "2024-02-29 18:04:11"),
    (time(18, 4, 11), "18:04:11"),
])
def test_cells_are_rendered_as_csv_text(value, text):
    assert render_cell(value) == text


# -- file-level check ------------------------------------------------------------------------

def test_a_workbook_with_rows_in_its_first_sheet_has_no_problem(tmp_path):
    path = write_workbook(tmp_path / "ok.xlsx", CUSTOMER_ROWS)
    assert xlsx_problem(path) is None
    with open(path, "rb") as stream:
        assert xlsx_problem(stream) is None
        assert stream.tell() == 0  # rewound for the conversion


def _zip_without_workbook(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("customers.csv", "customer_id\n1\n")
    return path


def _workbook_with_only_a_chartsheet(path):
    workbook = Workbook()
    workbook.create_chartsheet("Chart")
    workbook.remove(workbook.worksheets[0])
    workbook.save(path)
    return path


def _bytes(content: bytes):
    def make(path):
        path.write_bytes(content)
        return path
    return make


@pytest.mark.parametrize("make, reason", [
    (_bytes(b""), "empty file"),
    (_bytes(b"customer_id,region\n1,North\n"), "not an XLSX file (not a zip archive)"),
    (_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504),
     "not an XLSX file: an old .xls workbook or a password-protected one (save as .xlsx)"),
    (_zip_without_workbook, "not an XLSX file (a zip archive without xl/workbook.xml)"),
    (_workbook_with_only_a_chartsheet, "the workbook has no worksheet"),
    (lambda p: write_workbook(p, [[], [None, None]], sheet_title="Blank"), "the first sheet ('Blank') is empty"),
])
def test_xlsx_problems_name_the_reason(tmp_path, make, reason):
    assert xlsx_problem(make(tmp_path / "customers.xlsx")) == reason


def test_a_damaged_workbook_is_reported_unreadable(tmp_path):
    path = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook><sheets>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet>")
    assert xlsx_problem(path).startswith("unreadable XLSX workbook: ")


# -- customers contract ----------------------------------------------------------------------

def test_customer_name_stands_in_for_first_and_last_name_only_when_neither_is_there():
    assert contract.mandatory_columns(("customer_id", "first_name", "last_name")) == contract.MANDATORY
    assert contract.mandatory_columns(("customer_id", "customer_name")) == (
        "customer_id", "customer_name", "address", "pincode", "phone_number", "region", "customer_joining_date")
    # first_name alone still needs last_name, customer_name or not
    assert "last_name" in contract.mandatory_columns(("customer_id", "customer_name", "first_name"))


def test_a_customers_file_missing_a_mandatory_column_is_rejected():
    header = parse_header("customer_id,customer_name,mobile_number,address,pincode,customer_joining_date",
                          contract.ALIASES)
    assert header_problem(header, contract.mandatory_columns(header.canonical)) == (
        "missing mandatory column(s): region")


def test_customer_name_splits_at_the_first_space(spark):
    names = spark.createDataFrame(
        [("Mudita Roy",), ("  Mudita  Roy Sen ",), ("Cher",), ("",), ("   ",), (None,), ("Ana\tMaria Lopez",)],
        "customer_name string")
    first, last = contract.split_customer_name(F.col("customer_name"))

    actual = names.select("customer_name", first.alias("first_name"), last.alias("last_name"))

    expected = spark.createDataFrame([
        ("Mudita Roy", "Mudita", "Roy"),
        ("  Mudita  Roy Sen ", "Mudita", "Roy Sen"),
        ("Cher", "Cher", None),
        ("", None, None),
        ("   ", None, None),
        (None, None, None),
        ("Ana\tMaria Lopez", "Ana", "Maria Lopez"),
    ], "customer_name string, first_name string, last_name string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
