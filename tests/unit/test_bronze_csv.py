"""CSV feeds into bronze (etl/bronze/csv_feed.py): header checks and the positional -> contract mapping."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl.bronze.csv_feed import (CORRUPT, CsvHeader, CsvLineScan, conform_to_bronze, header_problem, parse_header,
                                 read_csv_group_by_lines,
                                 path_without_scheme, read_csv_group)
from etl.contracts import normalise_column_name
from etl.contracts import sales as contract

KNOWN = (*contract.OPTIONAL, *contract.MANDATORY)
SALES_HEADER = "customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost"


# -- headers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, canonical", [
    ("customer_id", "customer_id"),
    ("  Customer_ID ", "customer_id"),
    ("Sales Date", "sales_date"),
    ("sales-person-id", "sales_person_id"),
    ("Total  -  Cost", "total_cost"),
    ("PRODUCT\tNAME", "product_name"),
])
def test_header_names_are_normalised(raw, canonical):
    assert normalise_column_name(raw) == canonical
    assert parse_header(raw, {}).canonical == (canonical,)


def test_parse_header_keeps_raw_names_and_applies_aliases():
    header = parse_header('Customer ID,"Store Notes, free text",Mobile-Number', {"mobile_number": "phone_number"})
    assert header.raw == ("Customer ID", "Store Notes, free text", "Mobile-Number")
    assert header.canonical == ("customer_id", "store_notes,_free_text", "phone_number")


def test_a_header_with_every_mandatory_column_in_any_order_is_accepted():
    shuffled = ",".join(reversed(SALES_HEADER.split(","))) + ",sale_id,Store Notes"
    assert header_problem(parse_header(shuffled, {}), contract.MANDATORY) is None


def test_missing_mandatory_columns_are_named_in_the_reason():
    header = parse_header("customer_id,store_id,product_name,sales_date,price,quantity", {})
    assert header_problem(header, contract.MANDATORY) == "missing mandatory column(s): sales_person_id, total_cost"


def test_duplicated_columns_reject_the_file():
    # "Price" and " price" are the same column once normalised
    header = parse_header(SALES_HEADER + ",Price, price", {})
    assert header_problem(header, contract.MANDATORY) == "duplicated column(s): price"


@pytest.mark.parametrize("line", ["", ",,"])
def test_empty_header_rejects_the_file(line):
    assert header_problem(parse_header(line, {}), contract.MANDATORY) == "empty file or empty header line"


def test_blank_header_names_reject_the_file():
    # names that normalise to "" are no column: reported as every mandatory column missing
    problem = header_problem(parse_header(" , ,", {}), contract.MANDATORY)
    assert problem == "missing mandatory column(s): " + ", ".join(contract.MANDATORY)


def test_empty_file_rejects_the_file():
    # ingest gives a zero-byte file this header without reading it
    assert header_problem(CsvHeader((), ()), contract.MANDATORY) == "empty file or empty header line"


@pytest.mark.parametrize("uri, path", [
    ("s3a://landing/sales/x.csv", "/landing/sales/x.csv"),
    ("file:///a/b", "/a/b"),
    ("file:/a/b", "/a/b"),
    ("/a/b", "/a/b"),
])
def test_path_without_scheme(uri, path):
    assert path_without_scheme(uri) == path


# -- conform_to_bronze -----------------------------------------------------------------------

INGESTED_AT = datetime(2026, 2, 15, 6, 0)
CONFORMED_DDL = (
    "sale_id string, customer_id string, store_id string, product_name string, sales_date string, "
    "sales_person_id string, price string, quantity string, total_cost string, "
    "additional_columns map<string,string>, raw_record string, source_file string, record_number bigint, "
    "file_checksum string, ingested_at timestamp, run_id string"
)


def test_conform_maps_columns_by_header_position_and_keeps_extras(spark):
    # Columns in another order than the contract, plus an extra "Store Notes" and the optional sale_id.
    header = parse_header("Total Cost,quantity,price,Sales Person ID,sales_date,product_name,Store Notes,"
                          "store_id,customer_id,sale_id", {})
    raw = spark.createDataFrame(
        [("20.00", "2", "10.00", "3", "2026-02-14", "Milk", "late", "2", "1", "S-1", None,
          "file:/x/landing/sales/a%20b.csv"),
         ("5.00", "1", "5.00", "4", "2026-02-14", "Bread", None, "2", "9", None, None,
          "file:/x/landing/sales/a%20b.csv")],
        "c0 string, c1 string, c2 string, c3 string, c4 string, c5 string, c6 string, c7 string, c8 string, "
        f"c9 string, {CORRUPT} string, _file_path string").coalesce(1)
    files = spark.createDataFrame([("sales/a b.csv", "sum-ab")], "source_file string, file_checksum string")

    actual = conform_to_bronze(raw, header, KNOWN, files, "/x/landing", "run-1", INGESTED_AT)

    expected = spark.createDataFrame([
        ("S-1", "1", "2", "Milk", "2026-02-14", "3", "10.00", "2", "20.00", {"Store Notes": "late"}, None,
         "sales/a b.csv", 1, "sum-ab", INGESTED_AT, "run-1"),
        (None, "9", "2", "Bread", "2026-02-14", "4", "5.00", "1", "5.00", {"Store Notes": None}, None,
         "sales/a b.csv", 2, "sum-ab", INGESTED_AT, "run-1"),
    ], CONFORMED_DDL)
    # a map column cannot be sorted, so the rows are put in order here rather than by chispa
    assert_df_equality(actual.orderBy("record_number"), expected, ignore_nullable=True)


def test_conform_numbers_records_per_file_and_keeps_corrupt_records(spark):
    # Two files read together (as Spark reads one group: each file whole, one after the other),
    # neither with a sale_id column nor an extra; the landing root given with a scheme.
    header = parse_header(SALES_HEADER, {})
    row = ("1", "2", "Milk", "2026-02-14", "3", "10.00", "2", "20.00")
    broken = (None,) * 8
    a, b = "file:/x/landing/sales/2026-02-14/a.csv", "file:/x/landing/sales/2026-02-15/b+c.csv"  # Spark leaves "+" as is
    raw = spark.createDataFrame(
        [(*row, None, a), (*row, None, a), (*broken, '1,2,"Milk', a),
         (*row, None, b), (*row, None, b)],
        "c0 string, c1 string, c2 string, c3 string, c4 string, c5 string, c6 string, c7 string, "
        f"{CORRUPT} string, _file_path string").coalesce(1)
    files = spark.createDataFrame([("sales/2026-02-14/a.csv", "sum-a"), ("sales/2026-02-15/b+c.csv", "sum-b")],
                                  "source_file string, file_checksum string")

    actual = conform_to_bronze(raw, header, KNOWN, files, "file:///x/landing/", "run-1", INGESTED_AT)

    expected = spark.createDataFrame(
        [("sales/2026-02-14/a.csv", 1, "sum-a", None, None, "1"),
         ("sales/2026-02-14/a.csv", 2, "sum-a", None, None, "1"),
         ("sales/2026-02-14/a.csv", 3, "sum-a", None, '1,2,"Milk', None),
         ("sales/2026-02-15/b+c.csv", 1, "sum-b", None, None, "1"),
         ("sales/2026-02-15/b+c.csv", 2, "sum-b", None, None, "1")],
        "source_file string, record_number bigint, file_checksum string, sale_id string, raw_record string, "
        "customer_id string")
    assert_df_equality(actual.select("source_file", "record_number", "file_checksum", "sale_id", "raw_record",
                                     "customer_id"),
                       expected, ignore_row_order=True, ignore_nullable=True)
    assert actual.filter(F.col("additional_columns").isNotNull()).count() == 0
    assert [f.name for f in actual.schema.fields] == [f.name for f in contract.BRONZE_SCHEMA.fields]


def test_records_are_numbered_per_file_when_spark_reads_a_group(spark, tmp_path):
    # Real files this time: Spark packs both small files into one partition; numbering restarts per file
    # and counts records, not lines (the quoted product name spans two lines).
    root = tmp_path / "landing"
    (root / "sales").mkdir(parents=True)
    header_line = "sale_id," + SALES_HEADER
    (root / "sales" / "a b.csv").write_text(
        f"{header_line}\nA1,1,2,Milk,2026-02-14,3,10.00,2,20.00\n"
        'A2,1,2,"Milk\nlarge",2026-02-14,3,10.00,2,20.00\nA3,1,2,Tea,2026-02-14,3,1.00,1,1.00\n')
    (root / "sales" / "c.csv").write_text(f"{header_line}\nC1,1,2,Milk,2026-02-14,3,10.00,2,20.00\n")
    header = parse_header(header_line, {})
    raw = read_csv_group(spark, [f"file://{root}/sales/{n}" for n in ("a b.csv", "c.csv")], header)
    files = spark.createDataFrame([("sales/a b.csv", "sum-a"), ("sales/c.csv", "sum-c")],
                                  "source_file string, file_checksum string")

    actual = conform_to_bronze(raw, header, KNOWN, files, str(root), "run-1", INGESTED_AT)

    expected = spark.createDataFrame(
        [("A1", "sales/a b.csv", 1, "Milk"), ("A2", "sales/a b.csv", 2, "Milk\nlarge"),
         ("A3", "sales/a b.csv", 3, "Tea"), ("C1", "sales/c.csv", 1, "Milk")],
        "sale_id string, source_file string, record_number bigint, product_name string")
    assert_df_equality(actual.select("sale_id", "source_file", "record_number", "product_name"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_local_landing_file_with_a_space_in_its_name_can_be_read(spark, tmp_path):
    from etl.storage import LocalStore

    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "a b.csv").write_text(f"{SALES_HEADER}\n1,2,Milk,2026-02-14,3,10.00,2,20.00\n")
    stored = LocalStore(str(tmp_path)).list("sales/")
    raw = read_csv_group(spark, [f.uri for f in stored], parse_header(SALES_HEADER, {}))
    assert raw.count() == 1


# -- line by line (splittable) or whole files (multiLine) -----------------------------------------

def _scan(data: bytes, chunk: int) -> bool:
    scan = CsvLineScan()
    for at in range(0, len(data), chunk):
        scan.update(data[at:at + chunk])
    return scan.splittable()


@pytest.mark.parametrize("data, splittable", [
    (b"a,b\n1,2\n3,4\n", True),
    (b"a,b\n1,2\n3,4", True),                                   # no newline at the end
    (b"a,b\r\n1,2\r\n3,4\r\n", True),                           # CRLF throughout
    (b'a,b\n"x,y",2\n"say ""hi""",3\n,""\n', True),            # quoted fields, each closed on its line
    (b"a,b\n1,2\n\n3,4\n", True),                               # an empty line is no record in either parser
    (b"a,b\n1\n3,4,5\n", True),                                 # short and long rows: corrupt alike
    (b'a,b\n"x\ny",2\n', False),                                # a quoted newline
    (b'a,b\n"x\r\ny",2\n', False),
    (b'a,b\n1,"unclosed\n', False),
    (b'a,b\nab"c,2\n', False),                                  # a quote inside an unquoted field: not judged
    (b'a,b\n "x",2\n', False),
    (b"a,b\n1,2\n   \n3,4\n", False),                           # only spaces: the line parser drops it
    (b"a,b\n1,2\n\t\n", False),
    (b"a,b\r1,2\r", False),                                     # CR alone ends lines
    (b"a,b\r\n1,2\n", False),                                   # mixed line ends
])
def test_the_line_scan_says_whether_every_record_is_one_line(data, splittable):
    for chunk in (1, 2, 3, 5, 4096):                            # wherever the chunks cut the bytes
        assert _scan(data, chunk) is splittable, chunk


def _sales_line(file: int, i: int) -> str:
    name = f'"Ice, cream {i}"' if i % 7 == 0 else ('"say ""hi"""' if i % 11 == 0 else f"Tea{i}")
    if i % 13 == 0:
        return f"{file}-{i},1,2"                                # a corrupt (short) row keeps its number
    return f"{file}-{i},{i},2,{name},2026-02-14,3,1.00,{i},{i}.00"


def test_a_line_by_line_read_numbers_records_as_the_whole_file_read(spark, tmp_path):
    # Several files, each cut into many splits (a 512-byte split size), packed several to a partition:
    # the numbers taken from the splits equal the whole-file read's, record for record.
    root = tmp_path / "landing"
    (root / "sales").mkdir(parents=True)
    header_line = "sale_id," + SALES_HEADER
    bodies = {
        "a.csv": "\n".join([header_line] + [_sales_line(1, i) for i in range(1, 300)]) + "\n",
        "b c.csv": "\r\n".join([header_line] + [_sales_line(2, i) for i in range(1, 120)]),
        "d.csv": "\n".join([header_line] + [_sales_line(3, i) if i % 10 else "" for i in range(1, 200)]) + "\n",
        "e.csv": f"{header_line}\n{_sales_line(4, 1)}\n",
    }
    for name, body in bodies.items():
        (root / "sales" / name).write_bytes(body.encode())
        assert _scan(body.encode(), 4096), name
    uris = [f"file://{root}/sales/{name}" for name in bodies]
    header = parse_header(header_line, {})
    files = spark.createDataFrame([(f"sales/{n}", f"sum-{n}") for n in bodies], "source_file string, file_checksum string")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    try:
        raw = read_csv_group_by_lines(spark, uris, header)
        by_lines = conform_to_bronze(raw, header, KNOWN, files, str(root), "run-1", INGESTED_AT)
        plan = by_lines._jdf.queryExecution().executedPlan().toString()
        by_lines_rows = sorted(tuple(r) for r in by_lines.drop("additional_columns").collect())
        starts = (spark.read.text(uris).select(F.col("_metadata.file_path"), F.col("_metadata.file_block_start"))
                  .distinct().groupBy("file_path").count().collect())
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    whole = conform_to_bronze(read_csv_group(spark, uris, header), header, KNOWN, files, str(root), "run-1",
                              INGESTED_AT)
    whole_rows = sorted(tuple(r) for r in whole.drop("additional_columns").collect())

    assert max(r["count"] for r in starts) >= 10                # the big files really were cut in many splits
    assert "Window" not in plan and "hashpartitioning" not in plan   # no window, no shuffle of the records
    assert len(by_lines_rows) == 299 + 119 + 180 + 1
    assert by_lines_rows == whole_rows
    numbers = {}
    for row in by_lines_rows:
        numbers.setdefault(row[-5], []).append(row[-4])         # source_file -> record numbers
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in numbers.values())
