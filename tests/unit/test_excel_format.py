"""Excel report formatting rules (etl/export/excel.py) that need no Spark."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql.types import (DateType, DecimalType, IntegerType, LongType, StringType, TimestampType)

from etl.export.excel import DATE_FORMAT, MONEY_FORMAT, PERCENT_FORMAT, number_format, report_file_name


@pytest.mark.parametrize("column, dtype, expected", [
    ("total_sales", DecimalType(18, 2), MONEY_FORMAT),
    ("incentive", DecimalType(18, 2), MONEY_FORMAT),
    ("sales_contribution_percentage", DecimalType(9, 2), PERCENT_FORMAT),
    ("sales_growth_rate", DecimalType(9, 2), PERCENT_FORMAT),
    ("share_pct", DecimalType(9, 2), PERCENT_FORMAT),
    ("revenue_7d_change_pct", DecimalType(9, 2), PERCENT_FORMAT),
    ("date", DateType(), DATE_FORMAT),
    ("ingested_at", TimestampType(), DATE_FORMAT),
    ("total_transactions", IntegerType(), None),
    ("order_count", LongType(), None),
    ("sales_month", StringType(), None),
    ("sales_growth_rate", StringType(), None),
])
def test_number_format_by_column_kind(column, dtype, expected):
    assert number_format(column, dtype) == expected


def test_percent_values_are_shown_as_they_are():
    # values are already x100: the format must not be Excel's "%" (which multiplies by 100)
    assert PERCENT_FORMAT == '0.00"%"'


@pytest.mark.parametrize("run_date, name", [
    (date(2026, 2, 5), "Daily_Report_20260205.xlsx"),
    (date(2026, 11, 22), "Daily_Report_20261122.xlsx"),
])
def test_report_file_name(run_date, name):
    assert report_file_name(run_date) == name
