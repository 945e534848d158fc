"""Landing -> bronze on MinIO over s3a: every feed, rejects with reasons, duplicates, idempotency, crashes.

Each test gets its own landing/lake prefix. Runs go through ``etl run --stages ingest``,
started in this process (``etl_in_process``) except the killed ones, which need a process
of their own; checks read the real Delta tables and the real bucket.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from pyspark.sql import functions as F

from devtools.generate import ALL_FEEDS, GenerateOptions, generate
from tests.integration.conftest import BIN, etl_in_process, isolated_env, landing_store

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-22"
ALL_FEEDS_OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=25, seed=5, customers=30,
                                 orders_per_day=12, events_orders_per_day=10, feeds=ALL_FEEDS, defects=True)
CLEAN_OPTS = GenerateOptions(start=date(2026, 11, 21), days=1, sales_per_day=20, seed=9, customers=20,
                             orders_per_day=8, events_orders_per_day=6, feeds=ALL_FEEDS)


INGEST = ["run", "--date", RUN_DATE, "--stages", "ingest"]


def _ingest(stack, spark, prefix):
    """``etl run --stages ingest`` in this process (no cold JVM start)."""
    return etl_in_process(stack, spark, isolated_env(prefix), INGEST)


def _killed_ingest(stack, prefix, crash_at):
    """The same as a process of its own, ended by ``os._exit`` at ``crash_at`` (as a kill would)."""
    return stack.run([str(BIN / "etl"), *INGEST], {**isolated_env(prefix), "ETL_TEST_CRASH_AT": crash_at})


def _keys(store, prefix=""):
    return sorted(f.key for f in store.list(prefix))


def _bronze(spark, prefix, feed):
    return spark.read.format("delta").load(f"s3a://lake/{prefix}/bronze/{feed}")


def _manifest(spark, prefix):
    return spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/file_manifest").collect()


def _expected(report):
    """Per feed: (files ingested, rejected, duplicate, rows in bronze) as the generator wrote them."""
    expected = {}
    for feed in ALL_FEEDS:
        files = report.files[feed]
        rejected = [k for k in report.defects["missing_column"] if k in files]
        duplicates = [k for k in report.defects["duplicate_files"] if k in files]
        ingested = [k for k in files if k not in rejected and k not in duplicates]
        expected[feed] = (len(ingested), len(rejected), len(duplicates), sum(files[k] for k in ingested))
    return expected


def _summary_line(feed, ingested, rejected, duplicate, rows):
    return (f"  bronze {feed:<11} files ingested {ingested}, rejected {rejected}, duplicate {duplicate}, "
            f"rows {rows}")


# -- every feed, from generated data with injected defects --------------------------------------

@pytest.fixture(scope="module")
def all_feeds_run(stack, s3_spark, tmp_path_factory):
    prefix = "ingest-all"
    landing = landing_store(stack, prefix)
    report = generate(ALL_FEEDS_OPTS, tmp_path_factory.mktemp("gen-all"), landing, progress=False)
    first = _ingest(stack, s3_spark, prefix)
    assert first.returncode == 0, first.stderr[-3000:]
    return stack, landing, prefix, report, first


def test_every_feed_reaches_its_bronze_table_with_the_generated_counts(all_feeds_run, s3_spark):
    _, landing, prefix, report, first = all_feeds_run
    expected = _expected(report)
    assert any(r for _, r, _, _ in expected.values()), "the generator injected no file to reject"
    assert any(d for _, _, d, _ in expected.values()), "the generator injected no duplicate file"
    for feed, (ingested, rejected, duplicate, rows) in expected.items():
        assert _summary_line(feed, ingested, rejected, duplicate, rows) in first.stdout, first.stdout
        assert _bronze(s3_spark, prefix, feed).count() == rows, feed
    # Every landed file is now in archive/ or rejected/, none left in the feed prefixes.
    for feed in ALL_FEEDS:
        assert _keys(landing, f"{feed}/") == [], feed
    landed = {key for feed in ALL_FEEDS for key in report.files[feed]}
    moved = {k.split("/", 1)[1] for k in _keys(landing, "archive/") + _keys(landing, "rejected/")
             if not k.endswith(".reason.json")}
    assert moved == landed


def test_bronze_keeps_nested_events_and_the_lineage_of_every_record(all_feeds_run, s3_spark):
    _, _, prefix, report, _ = all_feeds_run
    events = _bronze(s3_spark, prefix, "order_events")
    # The whole event is kept as it came (raw_line) and parsed with its nesting (event struct).
    first = events.orderBy("source_file", "record_number").first()
    assert json.loads(first.raw_line)["event_id"] == first.event.event_id
    assert first.event.raw_event.raw_payload.properties.Order.orderID is not None
    orders = _bronze(s3_spark, prefix, "orders")
    assert {f.name for f in orders.schema.fields} >= {"order_id", "mobile_number", "raw_record"}
    for feed in ALL_FEEDS:
        table = _bronze(s3_spark, prefix, feed)
        lineage = table.select("source_file", "record_number", "file_checksum", "ingested_at", "run_id")
        assert lineage.filter("source_file IS NULL OR record_number IS NULL OR file_checksum IS NULL "
                              "OR ingested_at IS NULL OR run_id IS NULL").count() == 0, feed
        # record numbers are 1..n per file, each once
        per_file = table.groupBy("source_file").agg({"record_number": "max", "*": "count"}).collect()
        for row in per_file:
            assert row["max(record_number)"] >= row["count(1)"], (feed, row.source_file)
    # An XLSX delivery's rows carry the workbook's landing key.
    xlsx = report.variations["xlsx_files"]
    assert xlsx, "the generator wrote no XLSX customers file"
    assert _bronze(s3_spark, prefix, "customers").filter(f"source_file = '{xlsx[0]}'").count() \
        == report.files["customers"][xlsx[0]]


def test_manifest_has_a_row_per_file_with_status_size_checksum_run_and_version(all_feeds_run, s3_spark):
    _, _, prefix, report, first = all_feeds_run
    rows = _manifest(s3_spark, prefix)
    by_path = {r.path: r for r in rows}
    assert set(by_path) == {key for feed in ALL_FEEDS for key in report.files[feed]}
    for row in rows:
        assert row.size > 0 and len(row.checksum) == 64 and row.run_id in first.stdout
        if row.status == "ingested":
            assert row.rows_read == report.files[row.feed][row.path] and row.bronze_version is not None
        elif row.status == "rejected":
            assert row.path in report.defects["missing_column"] and row.reason.startswith("missing mandatory")
        else:
            assert row.status == "skipped_duplicate" and row.path in report.defects["duplicate_files"]


def test_the_same_landing_content_again_changes_no_bronze_count(all_feeds_run, s3_spark, tmp_path):
    stack, landing, prefix, report, _ = all_feeds_run
    before = {feed: _bronze(s3_spark, prefix, feed).count() for feed in ALL_FEEDS}
    # The whole delivery again under the same names, and one file of each format under a new name.
    generate(ALL_FEEDS_OPTS, tmp_path / "again", landing, progress=False)
    renamed = {}
    for feed in ("sales", "orders", "order_events", "customers"):
        key = next(k for k in report.files[feed] if k not in report.defects["missing_column"])
        renamed[feed] = f"{feed}/resent/{key.rsplit('/', 1)[1]}"
        landing.upload(tmp_path / "again" / key, renamed[feed])
    second = _ingest(stack, s3_spark, prefix)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {feed: _bronze(s3_spark, prefix, feed).count() for feed in ALL_FEEDS} == before
    statuses = {}
    for row in _manifest(s3_spark, prefix):
        statuses.setdefault(row.path, []).append(row.status)
    for key in renamed.values():
        assert statuses[key] == ["skipped_duplicate"], key
    for feed in ALL_FEEDS:
        assert _keys(landing, f"{feed}/") == [], feed


# -- one test per reject reason ------------------------------------------------------------------

def _xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SALES_HEADER = b"customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost\n"
REJECTS = {
    "sales/bad/empty.csv": (b"", "empty file"),
    "sales/bad/binary.csv": (b"PK\x03\x04\x00\x00binary", "not a text file (binary content)"),
    "sales/bad/latin1.csv": ("customer_id,store_id,product_name\n1,2,Cr\xe8me\n".encode("latin-1") + b"x" * 10,
                             "not UTF-8 text (invalid byte at offset 40)"),
    "sales/bad/no_price.csv": (b"customer_id,store_id,product_name,sales_date,sales_person_id,quantity,total_cost\n"
                               b"1,1,Strawberry Cone,2026-11-21,1,1,90.00\n", "missing mandatory column(s): price"),
    "sales/bad/twice.csv": (SALES_HEADER.rstrip(b"\n") + b",price\n", "duplicated column(s): price"),
    "sales/bad/orders.xml": (b"<orders><order><order_id>1</order_id></order></orders>\n",
                             "wrong format: XML, expected CSV with a header row"),
    "stores/bad/stores.json": (b'{"id": 1}\n', "wrong format: JSON, expected CSV with a header row"),
    "orders/bad/empty.xml": (b"", "empty file"),
    "orders/bad/sales.csv": (SALES_HEADER, "not XML: starts with 'customer_id,store_id'"),
    "orders/bad/root.xml": (b"<?xml version='1.0'?>\n<sales><order/></sales>\n",
                            "wrong root element <sales>, expected <orders>"),
    "order_events/bad/array.json": (b'[{"stream_id": 1}]\n', "a JSON array, not JSON Lines (one object per line)"),
    "order_events/bad/pretty.json": (b'{\n  "stream_id": 1\n}\n',
                                     "pretty-printed JSON, not JSON Lines (one object per line)"),
    "order_events/bad/csv.jsonl": (SALES_HEADER, "not JSON Lines: starts with 'customer_id,store_id'"),
    "customers/bad/not_zip.xlsx": (b"customer_id,first_name\n", "not an XLSX file (not a zip archive)"),
    "customers/bad/no_region.xlsx": (_xlsx([["Customer ID", "First Name", "Last Name", "Address", "Pincode",
                                             "Mobile Number", "Customer Joining Date"],
                                            [1, "Asha", "Rao", "MG Road", 122001, 9811000017, "2024-01-02"]]),
                                     "missing mandatory column(s): region"),
    "customers/bad/blank.xlsx": (_xlsx([]), "the first sheet ('Sheet') is empty"),
    "customers/bad/half_name.csv": (b"customer_id,first_name,address,pincode,phone_number,region,"
                                    b"customer_joining_date\n1,Asha,MG Road,122001,9811000017,North,2024-01-02\n",
                                    "missing mandatory column(s): last_name"),
}


@pytest.fixture(scope="module")
def rejects_run(stack, s3_spark, tmp_path_factory):
    """One ingest run over every bad file, and over the four customers files of the XLSX/CSV test."""
    prefix = "ingest-rejects"
    landing = landing_store(stack, prefix)
    folder = tmp_path_factory.mktemp("rejects")
    for key, content in [*((k, c) for k, (c, _) in REJECTS.items()), *CUSTOMER_FILES.items()]:
        path = folder / key.replace("/", "_")
        path.write_bytes(content)
        landing.upload(path, key)
    result = _ingest(stack, s3_spark, prefix)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = {r.path: r for r in _manifest(s3_spark, prefix)}
    return landing, prefix, result, manifest


@pytest.mark.parametrize("key", list(REJECTS), ids=[k.split("/", 2)[2] + "@" + k.split("/")[0] for k in REJECTS])
def test_reject_reason(rejects_run, s3_spark, key):
    landing, prefix, result, manifest = rejects_run
    reason = REJECTS[key][1]
    assert not landing.exists(key), f"{key} is still in landing"
    assert landing.exists(f"rejected/{key}"), f"{key} was not moved to rejected/"
    sidecar = json.loads(b"".join(landing.open_chunks(f"rejected/{key}.reason.json")))
    assert (sidecar["reason"], sidecar["file"], sidecar["feed"]) == (reason, key, key.split("/")[0])
    row = manifest[key]
    assert (row.status, row.reason, row.rows_read, row.bronze_version) == ("rejected", reason, None, None)
    assert f"rejected {key}: {reason}" in result.stdout
    # Nothing of a rejected file reaches bronze.
    feed = key.split("/")[0]
    bronze_uri = f"s3a://lake/{prefix}/bronze/{feed}"
    if feed == "customers":
        assert _bronze(s3_spark, prefix, feed).filter(F.col("source_file") == key).count() == 0
    else:
        assert f"bronze {feed:<11} files ingested 0" in result.stdout, bronze_uri


# -- XLSX and CSV customers give the same bronze rows ---------------------------------------------

CUSTOMER_VALUES = [
    [7, "Asha", "Rao", "12 MG Road, Gurgaon", 122001, 919811000017, "North", date(2024, 1, 2)],
    [8, "Vikram", "Khan", "4 Anna Salai, Chennai", 600001, "098110 00018", "South", date(2023, 5, 30)],
]
CANONICAL = ["customer_id", "first_name", "last_name", "address", "pincode", "phone_number", "region",
             "customer_joining_date"]
ALIASED = ["Customer ID", "First Name", "Last-Name", " Address", "PINCODE", "Mobile Number", "Region",
           "Customer Joining Date"]


def _csv_text(header):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[v.isoformat() if isinstance(v, date) else v for v in row] for row in CUSTOMER_VALUES])
    return out.getvalue().encode()


CUSTOMER_FILES = {
    "customers/a_aliased.csv": _csv_text(ALIASED),
    "customers/b_canonical.csv": _csv_text(CANONICAL),
    # typed cells: numbers for ids, pincode and one phone, a real date cell
    "customers/c_aliased.xlsx": _xlsx([ALIASED, *[[*r[:7], datetime.combine(r[7], datetime.min.time())]
                                                  for r in CUSTOMER_VALUES]]),
    "customers/d_canonical.xlsx": _xlsx([CANONICAL, *CUSTOMER_VALUES]),
}


def test_xlsx_and_csv_customers_with_aliased_headers_give_the_same_bronze_rows(rejects_run, s3_spark):
    _, prefix, result, _ = rejects_run
    assert "  bronze customers   files ingested 4, rejected 4, duplicate 0, rows 8" in result.stdout, result.stdout
    bronze = _bronze(s3_spark, prefix, "customers")
    content = [c for c in bronze.columns if c not in ("source_file", "file_checksum", "ingested_at", "run_id")]
    per_file = {key: sorted(tuple(r) for r in bronze.filter(bronze.source_file == key).select(*content).collect())
                for key in CUSTOMER_FILES}
    reference = per_file["customers/b_canonical.csv"]
    assert len(reference) == 2 and reference[0][:3] == ("7", "Asha", "Rao")
    assert reference[0][5] == "919811000017" and reference[0][7] == "2024-01-02"
    for key, rows in per_file.items():
        assert rows == reference, key


# -- a crash between bronze commit and archive --------------------------------------------------

def test_runs_killed_after_the_bronze_commit_and_after_the_manifest_are_completed_by_the_next(
        stack, s3_spark, lake_prefix, tmp_path):
    landing = landing_store(stack, lake_prefix)
    report = generate(CLEAN_OPTS, tmp_path / "gen", landing, progress=False)
    expected = _expected(report)
    # Killed after the first bronze commit (stores): its rows are in bronze, every file still in landing.
    crashed = _killed_ingest(stack, lake_prefix, "after_bronze_commit")
    assert crashed.returncode == 70, crashed.stderr[-3000:]
    assert _bronze(s3_spark, lake_prefix, "stores").count() == expected["stores"][3]
    assert sum(len(_keys(landing, f"{feed}/")) for feed in ALL_FEEDS) == len(report)
    # Killed again, after every commit and the manifest, before any archive move.
    crashed = _killed_ingest(stack, lake_prefix, "after_manifest")
    assert crashed.returncode == 70, crashed.stderr[-3000:]
    assert sum(len(_keys(landing, f"{feed}/")) for feed in ALL_FEEDS) == len(report)

    rerun = _ingest(stack, s3_spark, lake_prefix)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "recovered 1" in rerun.stdout
    for feed, (ingested, _, _, rows) in expected.items():
        assert _bronze(s3_spark, lake_prefix, feed).count() == rows, feed
        assert _keys(landing, f"{feed}/") == [], feed
        assert len(_keys(landing, f"archive/{feed}/")) == ingested, feed
    manifest = _manifest(s3_spark, lake_prefix)
    assert sorted(r.status for r in manifest) == ["ingested"] * len(report)
    assert {r.path: r.rows_read for r in manifest} == {k: v for f in ALL_FEEDS for k, v in report.files[f].items()}
