"""Reference data, bronze -> silver (etl/silver/reference.py): the latest delivery of each id, typed."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from etl.silver.reference import typed_reference

BRONZE_TEAM_DDL = (
    "id string, first_name string, last_name string, manager_id string, is_manager string, address string, "
    "pincode string, joining_date string, ingested_at timestamp, source_file string, record_number bigint"
)
SILVER_TEAM_DDL = (
    "id int, first_name string, last_name string, manager_id int, is_manager string, address string, "
    "pincode string, joining_date date"
)
DAY1, DAY2 = datetime(2026, 2, 14, 6), datetime(2026, 2, 15, 6)


def test_latest_ingested_version_of_each_id_wins_and_unparseable_ids_are_left_out(spark):
    bronze = spark.createDataFrame([
        ("10", "Asha", "Rao", "", "Y", "Old St 1", "110001", "2020-01-01", DAY1, "sales_team/t1.csv", 1),
        (" 10 ", " Asha ", "Rao-Singh", "1", "N", "New St 2", "110002", "2020-01-01", DAY2, "sales_team/t2.csv", 1),
        ("11", "Ben", "Ng", "10", "N", "x", "110003", "2021-13-01", DAY1, "sales_team/t1.csv", 2),
        ("x1", "Bad", "Id", "10", "N", "x", "110004", "2021-01-01", DAY2, "sales_team/t2.csv", 2),
        (None, "No", "Id", "10", "N", "x", "110005", "2021-01-01", DAY2, "sales_team/t2.csv", 3),
    ], BRONZE_TEAM_DDL)
    expected = spark.createDataFrame([
        (10, "Asha", "Rao-Singh", 1, "N", "New St 2", "110002", date(2020, 1, 1)),
        (11, "Ben", "Ng", 10, "N", "x", "110003", None),  # month 13 does not parse: null, row kept
    ], SILVER_TEAM_DDL)
    assert_df_equality(typed_reference(bronze, "sales_team"), expected, ignore_row_order=True,
                       ignore_nullable=True)
