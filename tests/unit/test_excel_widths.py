"""A sheet's column widths from its own Arrow rows equal those from Spark's aggregate (etl/export/excel.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from etl.export.excel import arrow_lengths, column_widths, sheet_rows

SCHEMA = ("customer_id string, total decimal(12,2), share decimal(9,4), first_purchase date, loaded_at timestamp, "
          "orders long, days int, active boolean, note string")
ROWS = [
    ("C-00017", Decimal("-123456.78"), Decimal("47.1900"), date(2026, 11, 2), datetime(2026, 11, 22, 9, 5, 7),
     123456789012, 7, True, None),
    ("Zoë Ünal 名前", Decimal("5.00"), Decimal("0.0001"), None, datetime(2026, 1, 1, 0, 0, 0, 500000), None, -3,
     False, None),
]


def test_the_longest_value_per_column_counts_as_sparks_length_of_the_text(spark):
    frame = spark.createDataFrame(ROWS, SCHEMA)
    spark_lengths = frame.selectExpr(*[f"max(length(cast({c} AS string))) AS {c}" for c in frame.columns]).first()
    lengths = arrow_lengths(frame.toArrow())
    assert lengths == [spark_lengths[c] or 0 for c in frame.columns]
    assert column_widths(frame, lengths) == column_widths(frame)


def test_the_lengths_come_with_the_rows_only_when_one_sheet_holds_them_all(spark):
    frame = spark.createDataFrame([(f"id-{'x' * n}",) for n in range(5)], "customer_id string").orderBy("customer_id")
    one_sheet = list(sheet_rows(frame, max_rows=6))     # 5 rows under the header
    assert [(len(rows), more, lengths) for rows, more, lengths in one_sheet] == [(5, False, [7])]
    two_sheets = list(sheet_rows(frame, max_rows=4))    # 3 rows under each header
    assert [(len(rows), more, lengths) for rows, more, lengths in two_sheets] == [(3, True, None), (2, False, None)]
