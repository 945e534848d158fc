"""Hostile input through a whole ``etl run`` on MinIO: each bad file rejected with its reason, the rest to gold.

One generated delivery (three days, every feed) with a file of each hostile class
beside the good files of the same feed (built byte by byte, tests/hostile_files.py);
one full ``etl run`` for the run date (ingest, silver, gold, MySQL, Excel), then
``etl run --stages ingest`` again, which must not judge a rejected file a second
time. Both run in this process (``etl_in_process``). The fast checks of each class
are tests/unit/test_hostile_input.py.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from pyspark.sql import functions as F

from devtools.generate import ALL_FEEDS, GenerateOptions, generate
from etl.bronze.ingest import rejected_key
from tests import hostile_files as hostile
from tests.integration.conftest import etl_in_process, isolated_env, landing_store
from tests.integration.test_no_leaks import secret_leaks

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-22"
OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=30, seed=17, customers=30,
                       orders_per_day=10, events_orders_per_day=8, feeds=ALL_FEEDS)
DAY = RUN_DATE
_LATE_UTF8, _LATE_OFFSET = hostile.sales_invalid_utf8_after(8192)
_SALE = hostile.SALES_HEADER + b"1,1,Strawberry Cone,2026-11-22,1,90.00,1,90.00\n"

# key -> (content, the reason, exactly or as its start)
HOSTILE = {
    # 1. one unreadable workbook
    f"customers/{DAY}/h_missing_shared_string.xlsx": (
        hostile.xlsx_missing_shared_string(),
        "unreadable XLSX workbook at row 3 of the first sheet: IndexError: list index out of range"),
    f"customers/{DAY}/h_no_shared_strings_part.xlsx": (
        hostile.xlsx_without_shared_strings_part(),
        "unreadable XLSX workbook at row 2 of the first sheet: IndexError: list index out of range"),
    f"customers/{DAY}/h_damaged_after_row_2.xlsx": (
        hostile.xlsx_damaged_after_row_2(), "unreadable XLSX workbook at row "),
    # 4. a workbook past a limit
    f"customers/{DAY}/h_shared_strings_bomb.xlsx": (
        hostile.xlsx_shared_strings_bomb(), "XLSX compression ratio too high: part 'xl/sharedStrings.xml' expands "),
    f"customers/{DAY}/h_row_beyond_the_limit.xlsx": (
        hostile.xlsx_row_beyond(),
        "XLSX sheet too long: more than 1048576 rows, blank ones included (ingest.xlsx_max_rows)"),
    # 5. not UTF-8 throughout, or no record
    f"sales/{DAY}/h_latin1_after_8k.csv": (_LATE_UTF8, f"not UTF-8 text (invalid byte at offset {_LATE_OFFSET})"),
    f"sales/{DAY}/h_header_only.csv": (hostile.SALES_HEADER, "no records: a header row and no data row"),
    f"orders/{DAY}/h_utf16.xml": (hostile.utf16_orders_xml(), "UTF-16 text (byte order mark), expected UTF-8"),
    f"orders/{DAY}/h_no_order.xml": (hostile.orders_without_order(), "no records: no <order> element under <orders>"),
    # 6. keys Spark would read as a pattern, or that would print a line of their own
    f"sales/{DAY}/h_glob[1].csv": (
        _SALE, "unsafe file name: glob character(s) [ ] in the key (Spark reads a path as a pattern)"),
    f"sales/{DAY}/h_new\nrejected sales/x.csv: fake.csv": (
        _SALE, "unsafe file name: control character(s) \\n in the key"),
}


@pytest.fixture(scope="module")
def hostile_run(stack, s3_spark, tmp_path_factory):
    prefix = "hostile"
    landing = landing_store(stack, prefix)
    report = generate(OPTS, tmp_path_factory.mktemp("gen-hostile"), landing, progress=False)
    folder = tmp_path_factory.mktemp("hostile")
    for i, (key, (content, _)) in enumerate(HOSTILE.items()):
        path = folder / f"{i}.bin"
        path.write_bytes(content)
        landing.upload(path, key)       # boto3 takes any key; `etl upload` would refuse the unsafe ones
    env = isolated_env(prefix)
    first = etl_in_process(stack, s3_spark, env, ["run", "--date", RUN_DATE])
    manifest_after_first = s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/file_manifest").count()
    again = etl_in_process(stack, s3_spark, env, ["run", "--date", RUN_DATE, "--stages", "ingest"])
    return landing, prefix, report, first, again, manifest_after_first


def test_the_run_exits_0_and_every_good_file_reaches_bronze_and_gold(hostile_run, s3_spark):
    landing, prefix, report, first, _, _ = hostile_run
    assert first.returncode == 0, first.stderr[-3000:]
    for feed in ALL_FEEDS:
        good = report.files[feed]
        bronze = s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/bronze/{feed}")
        per_file = {r.source_file: r["count"] for r in bronze.groupBy("source_file").count().collect()}
        assert per_file == good, feed                   # every good file whole, nothing of a hostile one
        assert {k.split("/", 1)[1] for k in (f.key for f in landing.list(f"archive/{feed}/"))} == set(good), feed
    assert report.variations["xlsx_files"], "the generator wrote no good XLSX customers file"
    for table in ("customers_data_mart", "sales_team_data_mart", "kpi_daily_sales"):
        assert s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/gold/{table}").count() > 0, table
    assert "excel report:" in first.stdout and "mysql customers_data_mart:" in first.stdout


@pytest.mark.parametrize("key", list(HOSTILE), ids=[k.split(f"{DAY}/", 1)[1].split("\n")[0] for k in HOSTILE])
def test_each_hostile_file_is_rejected_with_its_reason(hostile_run, s3_spark, key):
    landing, prefix, _, first, _, _ = hostile_run
    reason = HOSTILE[key][1]
    target = rejected_key(key)
    assert not landing.exists(key) and landing.exists(target), f"{key!r} was not moved to {target!r}"
    sidecar = json.loads(b"".join(landing.open_chunks(f"{target}.reason.json")))
    assert sidecar["file"] == key and sidecar["feed"] == key.split("/")[0]
    assert sidecar["reason"].startswith(reason), sidecar["reason"]
    rows = (s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/file_manifest")
            .filter(F.col("path") == key).collect())
    assert [(r.status, r.reason) for r in rows] == [("rejected", sidecar["reason"])]


def test_a_key_with_a_line_break_prints_on_one_line(hostile_run):
    _, _, _, first, _, _ = hostile_run
    out = first.stdout + first.stderr
    assert "rejected sales/2026-11-22/h_new\\nrejected sales/x.csv: fake.csv: unsafe file name" in first.stdout
    assert not any(line.startswith("rejected sales/x.csv") for line in out.splitlines())


def test_a_rerun_does_not_judge_a_rejected_file_again(hostile_run, s3_spark):
    _, prefix, _, _, again, manifest_after_first = hostile_run
    assert again.returncode == 0, again.stderr[-3000:]
    for feed in ALL_FEEDS:
        assert f"  bronze {feed:<11} files ingested 0, rejected 0, duplicate 0, rows 0" in again.stdout, again.stdout
    assert s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/file_manifest").count() == manifest_after_first


def test_no_secret_in_the_reject_sidecars_or_the_run_records(hostile_run, stack, s3_spark):
    """What readers of rejected files see (each sidecar) and the run's record hold no secret of the stack
    (the leak test, tests/integration/test_no_leaks.py, searches everything else a run leaves)."""
    landing, prefix, _, _, _, _ = hostile_run
    sidecars = {f.key: b"".join(landing.open_chunks(f.key)).decode("utf-8", errors="replace")
                for f in landing.list("rejected/") if f.key.endswith(".reason.json")}
    assert len(sidecars) >= len(HOSTILE), sorted(sidecars)      # the search can fail: every reject has its sidecar
    runs = "\n".join(r[0] for r in s3_spark.read.format("delta").load(f"s3a://lake/{prefix}/ops/runs")
                      .select(F.to_json(F.struct("*"))).collect())
    assert runs
    assert secret_leaks(stack, {**sidecars, "ops/runs": runs}) == []
