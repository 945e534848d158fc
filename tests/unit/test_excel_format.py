"""Excel report formatting rules (etl/export/excel.py) that need no Spark."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from pyspark.sql.types import (DateType, DecimalType, IntegerType, LongType, StringType, TimestampType)

from etl.export.excel import (DATE_FORMAT, DAYS_FORMAT, MONEY_FORMAT, PERCENT_FORMAT, as_fraction, number_format,
                              report_file_name)


@pytest.mark.parametrize("column, dtype, expected", [
    ("total_sales", DecimalType(18, 2), MONEY_FORMAT),
    ("incentive", DecimalType(18, 2), MONEY_FORMAT),
    ("sales_contribution_percentage", DecimalType(9, 2), PERCENT_FORMAT),
    ("sales_growth_rate", DecimalType(9, 2), PERCENT_FORMAT),
    ("share_pct", DecimalType(9, 2), PERCENT_FORMAT),
    ("revenue_7d_change_pct", DecimalType(9, 2), PERCENT_FORMAT),
    ("avg_time_between_purchases", DecimalType(9, 2), DAYS_FORMAT),
    ("date", DateType(), DATE_FORMAT),
    ("ingested_at", TimestampType(), DATE_FORMAT),
    ("total_transactions", IntegerType(), None),
    ("order_count", LongType(), None),
    ("sales_month", StringType(), None),
    ("sales_growth_rate", StringType(), None),
])
def test_number_format_by_column_kind(column, dtype, expected):
    assert number_format(column, dtype) == expected


def test_percentages_are_fractions_under_excels_percent_format():
    # the lake holds 47.19 for 47.19 %: the cell holds 0.4719 under Excel's own "%" (which shows x100),
    # so a formula that multiplies by the cell gets the share, not 100 times it
    assert PERCENT_FORMAT == "0.00%"
    assert as_fraction(D("47.19")) == D("0.4719") and as_fraction(None) is None
    assert as_fraction(-12.5) == -0.125


def test_day_counts_are_not_money():
    assert DAYS_FORMAT != MONEY_FORMAT and "days" in DAYS_FORMAT


@pytest.mark.parametrize("run_date, name", [
    (date(2026, 2, 5), "Daily_Report_20260205.xlsx"),
    (date(2026, 11, 22), "Daily_Report_20261122.xlsx"),
])
def test_report_file_name(run_date, name):
    assert report_file_name(run_date) == name
