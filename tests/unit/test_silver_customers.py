"""Silver customers (etl/silver/customers.py): typing, the customers rules, canonical ids, SCD2 history.

Run date 2026-02-15 throughout. Versions and dimension rows are built from a
few literal fields (id, region, dates); the other attributes are fixed unless a
test is about them.
"""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl.contracts.customers import BRONZE_SCHEMA
from etl.contracts.silver import BEGINNING_OF_TIME as BOT, CUSTOMER_ID_MAP, DIM_CUSTOMER, END_OF_TIME as EOT
from etl.quality.rules import default_rules, apply_rules, passed
from etl.silver.customers import (customer_id_map, customer_versions, merged_into_another,
                                  scd2_merge, typed_customers)

RUN_DATE = date(2026, 2, 15)
PHONE = "9811000017"

VALID = {
    "customer_id": "1", "first_name": "Asha", "last_name": "Rao", "address": "Sector 66", "pincode": "122018",
    "phone_number": "+91 98110 00017", "region": "North", "customer_joining_date": "2024-05-01",
    "customer_name": None, "updated_at": "2026-02-10", "additional_columns": None, "raw_record": None,
    "source_file": "customers/a.csv", "record_number": 1, "file_checksum": "aaa",
    "ingested_at": datetime(2026, 2, 15, 6), "run_id": "r1",
}
RULES_DDL = "record_number bigint, failed_errors array<string>, warnings array<string>"
VERSION_DDL = ("customer_id int, first_name string, last_name string, address string, pincode string, "
               "phone_number string, region string, customer_joining_date date, updated_at date, run_id string, "
               "source_file string, record_number bigint")


def bronze_row(record_number: int, **changes) -> dict:
    return {**VALID, "record_number": record_number, **changes}


def bronze(spark, *rows: dict):
    return spark.createDataFrame([tuple(r[f.name] for f in BRONZE_SCHEMA.fields) for r in rows], BRONZE_SCHEMA)


def assert_rules(spark, rows: list[dict], expected: list[tuple[int, list[str], list[str]]]) -> None:
    checked = apply_rules(typed_customers(bronze(spark, *rows), RUN_DATE), default_rules()["customers"], RUN_DATE)
    actual = checked.select("record_number", F.array_sort("failed_errors").alias("failed_errors"),
                            F.array_sort("warnings").alias("warnings"))
    expected_df = spark.createDataFrame([(n, sorted(e), sorted(w)) for n, e, w in expected], RULES_DDL)
    assert_df_equality(actual, expected_df, ignore_row_order=True, ignore_nullable=True)


def version(cid: int, region: str, updated_at: date, run: str = "r1", file: str = "customers/a.csv",
            record: int = 1, phone: str | None = PHONE) -> tuple:
    return (cid, "Asha", "Rao", "Sector 66", "122018", phone, region, date(2024, 5, 1), updated_at, run, file,
            record)


def versions(spark, *rows: tuple):
    return spark.createDataFrame(list(rows), VERSION_DDL)


def dim_row(cid: int, region: str, valid_from: date, valid_to: date, phone: str | None = PHONE) -> tuple:
    return (cid, "Asha", "Rao", "Sector 66", "122018", phone, region, date(2024, 5, 1), valid_from, valid_to,
            valid_to == EOT)


def dim(spark, *rows: tuple):
    return spark.createDataFrame(list(rows), DIM_CUSTOMER)


def no_aliases(spark):
    return spark.createDataFrame([], CUSTOMER_ID_MAP)


# -- typing -------------------------------------------------------------------------------------

def test_typed_customer_has_normalised_phone_and_names_split_when_first_and_last_are_absent(spark):
    rows = [bronze_row(1),
            bronze_row(2, first_name=None, last_name=None, customer_name="  Mudita  Roy Sen ",
                       phone_number="0981-100-0018"),
            bronze_row(3, customer_name="Someone Else")]  # first/last present: they win
    actual = typed_customers(bronze(spark, *rows), RUN_DATE).select(
        "record_number", "customer_id", "first_name", "last_name", "phone_number", "customer_joining_date")
    expected = spark.createDataFrame([
        (1, 1, "Asha", "Rao", PHONE, date(2024, 5, 1)),
        (2, 1, "Mudita", "Roy Sen", "9811000018", date(2024, 5, 1)),
        (3, 1, "Asha", "Rao", PHONE, date(2024, 5, 1)),
    ], "record_number bigint, customer_id int, first_name string, last_name string, phone_number string, "
       "customer_joining_date date")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_file_outside_a_date_folder_takes_the_run_date(spark):
    rows = [bronze_row(1, updated_at=None), bronze_row(2, customer_id="2", updated_at=" "),
            bronze_row(3, customer_id="3", updated_at="2026-01-31")]
    actual = typed_customers(bronze(spark, *rows), RUN_DATE).select("record_number", "updated_at")
    expected = spark.createDataFrame([(1, RUN_DATE), (2, RUN_DATE), (3, date(2026, 1, 31))],
                                     "record_number bigint, updated_at date")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_without_updated_at_a_version_is_dated_by_its_landing_folder(spark):
    rows = [bronze_row(1, updated_at=None, source_file="customers/2024-11-01/base.csv"),
            bronze_row(2, customer_id="2", updated_at="", source_file="customers/2025-01-02/x/2025-01-03/b.xlsx"),
            bronze_row(3, customer_id="3", updated_at=None, source_file="customers/2024-13-01/c.csv"),
            bronze_row(4, customer_id="4", updated_at=None, source_file="customers/2024-11-01.csv"),
            bronze_row(5, customer_id="5", updated_at="2026-01-31", source_file="customers/2024-11-01/d.csv")]
    actual = typed_customers(bronze(spark, *rows), RUN_DATE).select("record_number", "updated_at")
    expected = spark.createDataFrame([
        (1, date(2024, 11, 1)),
        (2, date(2025, 1, 3)),      # the innermost date folder
        (3, RUN_DATE),              # no real date in the folder name
        (4, RUN_DATE),              # a date in the file name is no folder
        (5, date(2026, 1, 31)),     # a delivered updated_at wins over the folder
    ], "record_number bigint, updated_at date")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_text_fields_are_trimmed(spark):
    row = bronze_row(1, first_name=" Asha\t", last_name="  Rao ", address=" Sector 66 ", region=" North\n",
                     pincode=" 122018 ")
    actual = typed_customers(bronze(spark, row), RUN_DATE).select(
        "first_name", "last_name", "address", "pincode", "region")
    expected = spark.createDataFrame([("Asha", "Rao", "Sector 66", "122018", "North")],
                                     "first_name string, last_name string, address string, pincode string, "
                                     "region string")
    assert_df_equality(actual, expected, ignore_nullable=True)


# A base file (no updated_at) in an older date folder, and a dated XLSX update in a newer one (issue 20).
BASE = bronze_row(1, updated_at=None, region="North", source_file="customers/2024-11-01/customers.csv")
UPDATE = bronze_row(1, updated_at="2026-02-14", region="South", source_file="customers/2026-02-14/update.xlsx",
                    file_checksum="bbb")


def delivered_versions(spark, run_date: date, run_id: str, *rows: dict):
    """Bronze rows of one ingest run -> the versions silver stores (typing, the error rules, versions)."""
    typed = typed_customers(bronze(spark, *[{**r, "run_id": run_id} for r in rows]), run_date)
    return customer_versions(passed(apply_rules(typed, default_rules()["customers"], run_date)))


def test_a_history_load_dates_the_base_first_and_the_update_current(spark):
    history = delivered_versions(spark, date(2026, 3, 15), "r1", BASE, UPDATE)
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 14)), dim_row(1, "South", date(2026, 2, 14), EOT))
    assert_df_equality(scd2_merge(dim(spark), history, no_aliases(spark)), expected, ignore_row_order=True)


def test_a_history_load_gives_the_same_dim_customer_as_daily_runs(spark):
    one_run = scd2_merge(dim(spark), delivered_versions(spark, date(2026, 3, 15), "r3", BASE, UPDATE),
                         no_aliases(spark))
    first = delivered_versions(spark, date(2024, 11, 1), "r1", BASE)
    second = delivered_versions(spark, date(2026, 2, 14), "r2", UPDATE)
    # Day by day: the merge of each day's versions into the dimension, and the rebuild from every version
    # delivered so far (what the silver stage does).
    incremental = scd2_merge(scd2_merge(dim(spark), first, no_aliases(spark)), second, no_aliases(spark))
    rebuilt = scd2_merge(dim(spark), first.unionByName(second), no_aliases(spark))
    assert_df_equality(incremental, one_run, ignore_row_order=True)
    assert_df_equality(rebuilt, one_run, ignore_row_order=True)


def test_versions_are_ordered_by_their_date_not_by_the_order_they_were_ingested(spark):
    # The update ingested by an earlier run than the base file: still the base first, the update current.
    update_first = delivered_versions(spark, date(2026, 3, 15), "r1", UPDATE)
    base_later = delivered_versions(spark, date(2026, 3, 16), "r2", BASE)
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 14)), dim_row(1, "South", date(2026, 2, 14), EOT))
    actual = scd2_merge(dim(spark), update_first.unionByName(base_later), no_aliases(spark))
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_a_resend_differing_only_in_surrounding_spaces_is_no_new_version(spark):
    resend = bronze_row(1, updated_at=None, first_name=" Asha ", address="Sector 66  ", region=" North",
                        source_file="customers/2025-06-01/resend.csv", file_checksum="ccc")
    history = delivered_versions(spark, date(2026, 3, 15), "r1", BASE, resend)
    assert_df_equality(scd2_merge(dim(spark), history, no_aliases(spark)), dim(spark, dim_row(1, "North", BOT, EOT)))


# -- rules --------------------------------------------------------------------------------------

def test_no_customer_id(spark):
    rows = [bronze_row(1, customer_id=" 7 "), bronze_row(2, customer_id=None), bronze_row(3, customer_id="abc")]
    assert_rules(spark, rows, [(1, [], []), (2, ["no_customer_id"], []), (3, ["no_customer_id"], [])])


def test_duplicate_customer_id_within_one_file_fails_every_copy(spark):
    rows = [bronze_row(1, customer_id="1"), bronze_row(2, customer_id=" 1"), bronze_row(3, customer_id="2"),
            # the same id in another file is a later version, not a duplicate
            bronze_row(1, customer_id="2", source_file="customers/b.csv", file_checksum="bbb")]
    assert_rules(spark, rows, [(1, ["duplicate_customer_id_in_file"], []), (2, ["duplicate_customer_id_in_file"], []),
                               (3, [], []), (1, [], [])])


def test_invalid_phone_is_a_warning(spark):
    rows = [bronze_row(1), bronze_row(2, customer_id="2", phone_number="12345"),
            bronze_row(3, customer_id="3", phone_number=None)]
    assert_rules(spark, rows, [(1, [], []), (2, [], ["invalid_phone"]), (3, [], ["invalid_phone"])])


def test_updated_at_unparseable(spark):
    rows = [bronze_row(1), bronze_row(2, customer_id="2", updated_at="10/02/2026")]
    assert_rules(spark, rows, [(1, [], []), (2, ["updated_at_unparseable"], [])])


def test_customer_joining_date_unparseable_is_a_warning(spark):
    rows = [bronze_row(1, customer_joining_date=None), bronze_row(2, customer_id="2", customer_joining_date="May")]
    assert_rules(spark, rows, [(1, [], []), (2, [], ["customer_joining_date_unparseable"])])


def test_malformed_record(spark):
    rows = [bronze_row(1, raw_record='1,"Asha')]
    assert_rules(spark, rows, [(1, ["malformed_record"], [])])


# -- canonical ids ------------------------------------------------------------------------------

def test_customers_sharing_a_valid_phone_map_to_the_lowest_id(spark):
    rows = versions(spark,
                    version(5, "North", date(2026, 2, 1)),
                    version(3, "North", date(2026, 2, 1)),
                    version(9, "North", date(2026, 2, 1)),
                    version(4, "North", date(2026, 2, 1), phone=None),        # no valid phone: itself
                    version(2, "North", date(2026, 2, 1), phone=None),
                    version(7, "North", date(2026, 1, 1), phone="9000000001"),
                    version(1, "North", date(2026, 1, 1), phone=PHONE),       # used to share with 3, 5, 9 ...
                    version(1, "North", date(2026, 2, 1), phone="9000000002"))  # ... but not any more
    expected = spark.createDataFrame([(5, 3), (3, 3), (9, 3), (4, 4), (2, 2), (7, 7), (1, 1)], CUSTOMER_ID_MAP)
    actual = customer_id_map(rows)
    assert actual.schema == CUSTOMER_ID_MAP
    assert_df_equality(actual, expected, ignore_row_order=True)


# -- SCD2 ---------------------------------------------------------------------------------------

def test_first_version_holds_from_the_beginning_of_time_and_is_current(spark):
    actual = scd2_merge(dim(spark), versions(spark, version(1, "North", date(2026, 2, 1))), no_aliases(spark))
    assert actual.schema == DIM_CUSTOMER
    assert_df_equality(actual, dim(spark, dim_row(1, "North", BOT, EOT)))


def test_later_version_closes_the_previous_one_on_the_day_it_starts(spark):
    current = dim(spark, dim_row(1, "North", BOT, EOT))
    actual = scd2_merge(current, versions(spark, version(1, "South", date(2026, 2, 10))), no_aliases(spark))
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "South", date(2026, 2, 10), EOT))
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_version_identical_to_the_current_one_is_no_change(spark):
    current = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "South", date(2026, 2, 10), EOT))
    actual = scd2_merge(current, versions(spark, version(1, "South", date(2026, 2, 14))), no_aliases(spark))
    assert_df_equality(actual, current, ignore_row_order=True)


def test_rerun_with_the_same_input_changes_nothing(spark):
    delivered = versions(spark, version(1, "North", date(2026, 1, 5)), version(1, "South", date(2026, 2, 10)),
                         version(2, "East", date(2026, 2, 1), phone="9000000002"))
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "South", date(2026, 2, 10), EOT),
                   dim_row(2, "East", BOT, EOT, phone="9000000002"))
    once = scd2_merge(dim(spark), delivered, no_aliases(spark))
    assert_df_equality(once, expected, ignore_row_order=True)
    twice = scd2_merge(once, delivered, no_aliases(spark))
    assert_df_equality(twice, expected, ignore_row_order=True)


def test_version_arriving_out_of_order_is_placed_at_its_own_date(spark):
    current = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "South", date(2026, 2, 10), EOT))
    late = versions(spark, version(1, "East", date(2026, 2, 1), run="r2"))
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 1)),
                   dim_row(1, "East", date(2026, 2, 1), date(2026, 2, 10)),
                   dim_row(1, "South", date(2026, 2, 10), EOT))  # still current: it is the newest by date
    assert_df_equality(scd2_merge(current, late, no_aliases(spark)), expected, ignore_row_order=True)


def test_two_versions_of_the_same_date_the_later_delivery_wins(spark):
    current = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "South", date(2026, 2, 10), EOT))
    corrections = versions(spark,
                           version(1, "West", date(2026, 2, 10), run="r2", file="customers/b.csv"),
                           version(1, "Central", date(2026, 2, 10), run="r3", file="customers/a.csv"))
    expected = dim(spark, dim_row(1, "North", BOT, date(2026, 2, 10)), dim_row(1, "Central", date(2026, 2, 10), EOT))
    assert_df_equality(scd2_merge(current, corrections, no_aliases(spark)), expected, ignore_row_order=True)


def test_dimension_holds_canonical_ids_only(spark):
    current = dim(spark, dim_row(7, "North", BOT, EOT))            # 7 was canonical until 3 arrived
    delivered = versions(spark, version(3, "East", date(2026, 2, 1)), version(7, "West", date(2026, 2, 1)))
    id_map = spark.createDataFrame([(3, 3), (7, 3)], CUSTOMER_ID_MAP)
    assert_df_equality(scd2_merge(current, delivered, id_map), dim(spark, dim_row(3, "East", BOT, EOT)))


def test_an_id_merged_into_another_by_a_later_delivery_moves_its_rows(spark):
    # 5 arrives sharing 1's phone; 6 was its own and now shares 2's phone; 7 already mapped to 1;
    # 8 mapped to 1 and has a phone of its own now (a split: its rows sit under 1, indistinguishable);
    # 3 stays its own.
    old = spark.createDataFrame([(1, 1), (2, 2), (6, 6), (7, 1), (8, 1), (3, 3)], CUSTOMER_ID_MAP)
    new = spark.createDataFrame([(1, 1), (2, 2), (5, 1), (6, 2), (7, 1), (8, 8), (3, 3)], CUSTOMER_ID_MAP)
    expected = spark.createDataFrame([(5, 1), (6, 2)], CUSTOMER_ID_MAP)
    assert_df_equality(merged_into_another(old, new), expected, ignore_row_order=True, ignore_nullable=True)


def test_nothing_moves_when_the_map_is_unchanged(spark):
    same = spark.createDataFrame([(1, 1), (5, 1)], CUSTOMER_ID_MAP)
    assert merged_into_another(same, same).isEmpty()


def test_rows_stored_under_a_merged_id_move_to_the_survivor_in_silver(spark, tmp_path):
    from decimal import Decimal

    from etl.config import load_config
    from etl.contracts.silver import SALES_LINES, TRANSACTIONS
    from etl.silver.build import SilverStage

    cfg = load_config("local", environ={"ETL__STORAGE__LAKE": str(tmp_path / "lake")})
    stage = SilverStage(spark, cfg, date(2026, 2, 15), "run-2")
    day = date(2026, 2, 1)
    tx = [("store", f"s{c}", c, 1, 3, day, None, Decimal("1.00"), 1, "Success", True, [], "f", c, "run-1",
           None, None, None) for c in (1, 5, 9)]
    line = [("store", f"s{c}", 1, day, c, 1, 1, "Milk", "SKU", "name", 1, Decimal("1.00"), Decimal("1.00"), True,
             "f", c, "run-1") for c in (1, 5, 9)]
    spark.createDataFrame(tx, TRANSACTIONS).write.format("delta").save(stage.uri("silver", "transactions"))
    spark.createDataFrame(line, SALES_LINES).write.format("delta").save(stage.uri("silver", "sales_lines"))
    stage.move_merged_customers(spark.createDataFrame([(5, 1)], CUSTOMER_ID_MAP))
    for table in ("transactions", "sales_lines"):
        rows = spark.read.format("delta").load(stage.uri("silver", table)).select("transaction_id", "customer_id")
        assert sorted(tuple(r) for r in rows.collect()) == [("s1", 1), ("s5", 1), ("s9", 9)], table
