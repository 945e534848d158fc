"""Per-feed file checks (etl/bronze/feeds.py) on real files in a local landing folder.

The integration tests run the same checks over s3a with every reject reason;
these pin the dispatch: which check a feed applies, and where an accepted file
is read from (an XLSX delivery from its staged CSV, under the landing key).
"""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook

from etl.bronze.feeds import HEAD_LIMIT, all_feeds, csv_format_problem
from etl.storage import LocalStore

FEEDS = {feed.name: feed for feed in all_feeds()}


def _store(tmp_path, name, files: dict[str, bytes]) -> LocalStore:
    for key, content in files.items():
        path = tmp_path / name / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (tmp_path / name).mkdir(exist_ok=True)
    return LocalStore(str(tmp_path / name))


def _check(tmp_path, feed, key, content):
    landing = _store(tmp_path, "landing", {key: content})
    staging = _store(tmp_path, "staging", {})
    stored = landing.list(f"{feed}/")[0]
    checksum, head = landing.fingerprint(stored.key, HEAD_LIMIT)
    return FEEDS[feed].check(landing, stored, checksum, head, staging), landing, staging


def test_csv_format_problem_names_xml_and_json():
    assert csv_format_problem(b"  <?xml version='1.0'?><orders/>") == "wrong format: XML, expected CSV with a header row"
    assert csv_format_problem(b'\xef\xbb\xbf{"a": 1}') == "wrong format: JSON, expected CSV with a header row"
    assert csv_format_problem(b"[1, 2]") == "wrong format: JSON, expected CSV with a header row"
    assert csv_format_problem(b"id,name\n") is None


def test_every_contract_feed_is_known_in_ingest_order():
    assert list(FEEDS) == ["stores", "products", "sales_team", "customers", "sales", "orders", "order_events"]


def test_a_csv_feed_accepts_a_header_with_extra_columns_in_any_order(tmp_path):
    header = b"extra,total_cost,quantity,price,sales_person_id,sales_date,product_name,store_id,customer_id\n"
    (problem, accepted), landing, _ = _check(tmp_path, "sales", "sales/a.csv", header)
    assert problem is None
    assert accepted.read_uri == landing.uri_for("sales/a.csv") and accepted.read_root == landing.root
    assert accepted.header.canonical[0] == "extra"


def test_the_xml_feed_applies_the_xml_check(tmp_path):
    (problem, accepted), _, _ = _check(tmp_path, "orders", "orders/a.xml", b"<order_list/>")
    assert (problem, accepted) == ("wrong root element <order_list>, expected <orders>", None)


def test_the_json_lines_feed_applies_the_json_lines_check(tmp_path):
    (problem, _), _, _ = _check(tmp_path, "order_events", "order_events/a.json", b"[]\n")
    assert problem == "a JSON array, not JSON Lines (one object per line)"


def test_an_xlsx_customers_file_is_read_from_its_staged_csv_under_the_landing_key(tmp_path):
    book = Workbook()
    book.active.append(["Customer ID", "Customer Name", "Address", "Pincode", "Mobile Number", "Region",
                        "Customer Joining Date"])
    book.active.append([1, "Asha Rao", "MG Road", 122001, 9811000017, "North", "2024-01-02"])
    buffer = io.BytesIO()
    book.save(buffer)
    (problem, accepted), _, staging = _check(tmp_path, "customers", "customers/d/x.xlsx", buffer.getvalue())
    assert problem is None
    assert accepted.read_root == staging.root and accepted.read_uri == staging.uri_for("customers/d/x.xlsx")
    staged = (tmp_path / "staging" / "customers" / "d" / "x.xlsx").read_text()
    assert staged == ("Customer ID,Customer Name,Address,Pincode,Mobile Number,Region,Customer Joining Date\n"
                      "1,Asha Rao,MG Road,122001,9811000017,North,2024-01-02\n")
    assert "customer_name" in accepted.header.canonical and "phone_number" in accepted.header.canonical


def test_a_customers_csv_named_xlsx_is_judged_as_a_workbook(tmp_path):
    (problem, _), _, _ = _check(tmp_path, "customers", "customers/x.xlsx", b"customer_id\n1\n")
    assert problem == "not an XLSX file (not a zip archive)"


def test_a_header_longer_than_the_kept_head_is_read_from_the_file(tmp_path):
    long_extra = "x" * (HEAD_LIMIT + 10)
    header = f"customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost,{long_extra}\n"
    (problem, accepted), _, _ = _check(tmp_path, "sales", "sales/wide.csv", header.encode() + b"1,2,3\n")
    assert problem is None and accepted.header.canonical[-1] == long_extra


def test_the_ingest_pass_decides_which_csv_files_spark_may_split_and_read_line_by_line(spark, tmp_path,
                                                                                        monkeypatch):
    from etl.bronze import feeds
    from etl.bronze.ingest import fingerprint

    header = b"customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost\n"
    row = b'1,2,"Milk, large",2026-02-14,3,10.00,2,20.00\n'
    landing = _store(tmp_path, "landing", {
        "sales/big.csv": header + row * 40,                                # one record a line, larger than a split
        "sales/small.csv": header + row,                                   # one record a line, never cut
        "sales/quoted.csv": header + row * 20 + b'1,2,"Milk\nlarge",2026-02-14,3,10.00,2,20.00\n',
    })
    staging = _store(tmp_path, "staging", {})
    accepted = {}
    for stored in landing.list("sales/"):
        checksum, head, splittable, _ = fingerprint(landing, stored.key, HEAD_LIMIT, scan_lines=True)
        problem, accepted[stored.key] = FEEDS["sales"].check(landing, stored, checksum, head, staging,
                                                            splittable=splittable)
        assert problem is None
    assert {k: a.splittable for k, a in accepted.items()} == {
        "sales/big.csv": True, "sales/small.csv": True, "sales/quoted.csv": False}

    calls = []
    for name in ("read_csv_group", "read_csv_group_by_lines"):
        real = getattr(feeds, name)
        monkeypatch.setattr(feeds, name, lambda s, uris, h, real=real, name=name: calls.append(
            (name, sorted(u.rsplit("/", 1)[1] for u in uris))) or real(s, uris, h))
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    try:
        bronze = FEEDS["sales"].read(spark, list(accepted.values()), "run-1", datetime(2026, 2, 15))
        numbers = sorted((r.source_file, r.record_number) for r in bronze.collect())
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert sorted(calls) == [("read_csv_group", ["quoted.csv", "small.csv"]), ("read_csv_group_by_lines", ["big.csv"])]
    assert numbers == sorted([("sales/big.csv", n) for n in range(1, 41)] + [("sales/small.csv", 1)]
                             + [("sales/quoted.csv", n) for n in range(1, 22)])
