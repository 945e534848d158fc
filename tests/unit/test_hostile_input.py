"""Hostile landing files, judged file by file without Spark (etl/bronze/{xlsx,feeds,keys,ingest}.py, etl upload).

Every file is built in the test (tests/hostile_files.py) and put in a real local
landing folder; the checks are the ones ingest runs. The whole ``etl run`` over the
same classes, beside good files, is tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from etl.bronze import feeds as feeds_module
from etl.bronze.feeds import HEAD_LIMIT, XmlFeed, all_feeds
from etl.bronze.ingest import Utf8Scan, _judge, fingerprint, fingerprint_and_check, rejected_key
from etl.bronze.keys import escaped_key, key_problem, shown
from etl.bronze.xlsx import XlsxLimits, archive_problem, xlsx_problem, xlsx_to_csv
from etl.cli import main
from etl.config import load_config
from etl.errors import InputError
from etl.storage import LocalStore
from tests import hostile_files as hostile

FEEDS = {feed.name: feed for feed in all_feeds()}


def _landing(tmp_path, files: dict[str, bytes]) -> tuple[LocalStore, LocalStore]:
    for key, content in files.items():
        path = tmp_path / "landing" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (tmp_path / "staging").mkdir(exist_ok=True)
    return LocalStore(str(tmp_path / "landing")), LocalStore(str(tmp_path / "staging"))


def _verdict(tmp_path, key: str, content: bytes, feed=None) -> str | None:
    """The reason ingest gives ``content`` landed at ``key`` (None: accepted), from the same one read."""
    landing, staging = _landing(tmp_path, {key: content})
    stored = landing.list(key.split("/")[0] + "/")[0]
    _, verdict = fingerprint_and_check(landing, staging, feed or FEEDS[key.split("/")[0]], stored, set())
    return verdict[0]


# -- defect 1: any failure to read one workbook rejects that workbook ------------------------------

def test_a_good_hand_written_workbook_is_accepted(tmp_path):
    assert _verdict(tmp_path, "customers/good.xlsx", hostile.good_customers_xlsx()) is None


@pytest.mark.parametrize("build, reason", [
    (hostile.xlsx_missing_shared_string,
     "unreadable XLSX workbook at row 3 of the first sheet: IndexError: list index out of range"),
    (hostile.xlsx_without_shared_strings_part,
     "unreadable XLSX workbook at row 2 of the first sheet: IndexError: list index out of range"),
    (hostile.xlsx_damaged_after_row_2, "unreadable XLSX workbook at row "),
], ids=["missing shared string", "no shared-strings part", "damaged XML after row 2"])
def test_a_workbook_broken_after_its_header_is_rejected_with_the_row(tmp_path, build, reason):
    assert xlsx_problem(io.BytesIO(build())) is None          # the header reads: only the whole sheet fails
    assert _verdict(tmp_path, "customers/bad.xlsx", build()).startswith(reason)


def test_damaged_xml_names_the_parser_error_near_its_row(tmp_path):
    reason = _verdict(tmp_path, "customers/bad.xlsx", hostile.xlsx_damaged_after_row_2())
    row = int(reason.split("at row ")[1].split()[0])
    assert 2 < row <= 2500 and "of the first sheet: ParseError: not well-formed (invalid token): line 1" in reason


def test_a_sheet_that_understates_its_extent_loses_no_row(tmp_path):
    book = hostile.workbook([hostile.CUSTOMER_HEADER, *hostile.customer_rows(3)], dimension="A1:B2")
    assert xlsx_to_csv(io.BytesIO(book), tmp_path / "out.csv") == 3
    assert (tmp_path / "out.csv").read_text().splitlines()[-1].startswith("9002,Name2,Hostile,")


def test_xlsx_to_csv_turns_any_reading_error_into_an_input_error(tmp_path):
    with pytest.raises(InputError, match="^unreadable XLSX workbook at row 3 .*IndexError"):
        xlsx_to_csv(io.BytesIO(hostile.xlsx_missing_shared_string()), tmp_path / "out.csv")


def test_a_check_that_raises_rejects_that_file_only(tmp_path):
    """A stand-in feed whose check raises (no real file makes the built-in checks raise any more):
    the ingest pass turns it into the file's reason instead of leaving the stage."""
    class Exploding(XmlFeed):
        def check(self, *args, **kwargs):
            raise KeyError("rId7")

    landing, staging = _landing(tmp_path, {"orders/a.xml": b"<orders/>"})
    stored = landing.list("orders/")[0]
    scan = fingerprint(landing, stored.key, HEAD_LIMIT, scan_lines=False)
    assert _judge(landing, staging, Exploding("orders"), stored, scan) == ("unreadable file: KeyError: 'rId7'", None)


# -- defect 4: limits on what a workbook expands to --------------------------------------------------

def test_the_default_limits_come_from_the_config_and_can_be_changed():
    assert load_config("local", environ={}).ingest.xlsx_limits() == XlsxLimits(256 * 1024 * 1024, 100.0, 1_048_576,
                                                                              50_000_000)
    cfg = load_config("local", environ={"ETL__INGEST__XLSX_MAX_ROWS": "500", "ETL__INGEST__XLSX_MAX_RATIO": "20"})
    assert (cfg.ingest.xlsx_limits().max_rows, cfg.ingest.xlsx_limits().max_ratio) == (500, 20.0)


def test_a_shared_strings_bomb_is_rejected_from_the_zip_directory_before_openpyxl_opens_it(tmp_path, monkeypatch):
    bomb = hostile.xlsx_shared_strings_bomb()
    assert len(bomb) < 64 * 1024
    monkeypatch.setattr("etl.bronze.xlsx._open_first_sheet", lambda source: pytest.fail("openpyxl opened it"))
    reason = _verdict(tmp_path, "customers/bomb.xlsx", bomb)
    assert reason.startswith("XLSX compression ratio too high: part 'xl/sharedStrings.xml' expands ")
    assert reason.endswith("over the limit of 100x (ingest.xlsx_max_ratio)")


def test_the_uncompressed_size_limit_counts_every_part(tmp_path):
    book = hostile.good_customers_xlsx()
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        total = sum(i.file_size for i in archive.infolist())
        assert archive_problem(archive, XlsxLimits(max_uncompressed_bytes=total)) is None
        assert archive_problem(archive, XlsxLimits(max_uncompressed_bytes=total - 1)) == (
            f"XLSX too large: {total} bytes uncompressed, over the limit of {total - 1} "
            f"(ingest.xlsx_max_uncompressed_mb)")


def test_a_small_part_is_not_held_to_the_ratio():
    """Tiny XML parts compress far beyond 100:1 in real workbooks; only parts over 1 MiB are judged."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/styles.xml", " " * 1024 * 1024)          # exactly the grace: 1000:1, allowed
    with zipfile.ZipFile(out) as archive:
        assert archive_problem(archive, XlsxLimits()) is None


def test_a_row_numbered_past_the_limit_is_rejected_though_the_file_is_tiny(tmp_path):
    book = hostile.xlsx_row_beyond()
    assert len(book) < 4096
    assert _verdict(tmp_path, "customers/long.xlsx", book) == (
        "XLSX sheet too long: more than 1048576 rows, blank ones included (ingest.xlsx_max_rows)")


def test_row_and_cell_limits_are_counted_as_the_sheet_streams(tmp_path):
    book = io.BytesIO(hostile.good_customers_xlsx(count=5))             # 6 rows of 8 cells
    assert xlsx_problem(book, XlsxLimits(max_rows=6, max_cells=48)) is None
    assert xlsx_to_csv(book, tmp_path / "ok.csv", XlsxLimits(max_rows=6, max_cells=48)) == 5
    with pytest.raises(InputError, match="more than 5 rows"):
        xlsx_to_csv(book, tmp_path / "rows.csv", XlsxLimits(max_rows=5))
    with pytest.raises(InputError, match="more than 47 cells"):
        xlsx_to_csv(book, tmp_path / "cells.csv", XlsxLimits(max_cells=47))


def test_the_customers_feed_applies_its_configured_limits(tmp_path):
    feed = all_feeds(XlsxLimits(max_rows=3))[3]
    assert _verdict(tmp_path, "customers/c.xlsx", hostile.good_customers_xlsx(count=5), feed=feed) == (
        "XLSX sheet too long: more than 3 rows, blank ones included (ingest.xlsx_max_rows)")


def test_at_most_two_workbooks_are_converted_at_once():
    assert feeds_module._XLSX_SLOTS._initial_value == feeds_module.XLSX_AT_ONCE == 2


# -- defect 5: UTF-8 throughout, and files that give no record -----------------------------------

def test_the_utf8_scan_finds_the_first_bad_byte_anywhere_and_across_chunk_edges():
    text = ("é" * 3000).encode()                  # 2-byte characters: chunk edges cut some of them
    for size in (1, 2, 3, 4095, 4096, 10_000):
        scan = Utf8Scan()
        for start in range(0, len(text), size):
            scan.update(text[start:start + size])
        assert scan.finish() is None, size
    bad = text + b"\xff" + b"abc"
    for size in (1, 7, 4096, len(bad)):
        scan = Utf8Scan()
        for start in range(0, len(bad), size):
            scan.update(bad[start:start + size])
        assert scan.finish() == len(text), size
    cut = Utf8Scan()
    cut.update(text[:-1])                            # the file ends inside a character
    assert cut.finish() == len(text) - 2


def test_a_bad_byte_after_the_first_4_kib_rejects_a_csv_file(tmp_path):
    content, offset = hostile.sales_invalid_utf8_after(8192)
    assert offset > 8192
    assert _verdict(tmp_path, "sales/late.csv", content) == f"not UTF-8 text (invalid byte at offset {offset})"


def test_a_bad_byte_past_the_head_rejects_json_lines_too(tmp_path):
    line = b'{"event_id": "e1"}\n'
    content = line * 500 + b'{"event_id": "\xc3("}\n'
    assert _verdict(tmp_path, "order_events/late.jsonl", content) == (
        f"not UTF-8 text (invalid byte at offset {len(line) * 500 + 14})")     # where the bad sequence starts


def test_utf16_xml_is_rejected_by_name(tmp_path):
    assert _verdict(tmp_path, "orders/utf16.xml", hostile.utf16_orders_xml()) == (
        "UTF-16 text (byte order mark), expected UTF-8")
    assert _verdict(tmp_path / "other", "orders/utf8.xml", hostile.ORDERS_XML.format(encoding="UTF-8").encode()) is None


def test_xlsx_is_not_scanned_as_text(tmp_path):
    assert _verdict(tmp_path, "customers/good.xlsx", hostile.good_customers_xlsx()) is None


def test_every_feed_names_why_a_file_gave_no_record():
    assert {name: feed.no_records for name, feed in FEEDS.items()} == {
        **{name: "no records: a header row and no data row"
           for name in ("stores", "products", "sales_team", "customers", "sales")},
        "orders": "no records: no <order> element under <orders>",
        "order_events": "no records: only blank lines"}


# -- defect 6: landing keys -----------------------------------------------------------------------

@pytest.mark.parametrize("key, reason", [
    ("sales/d/a[1].csv", "unsafe file name: glob character(s) [ ] in the key (Spark reads a path as a pattern)"),
    ("sales/d/{a,b}.csv", "unsafe file name: glob character(s) { } in the key (Spark reads a path as a pattern)"),
    ("sales/d/*.csv", "unsafe file name: glob character(s) * in the key (Spark reads a path as a pattern)"),
    ("sales/d/a?.csv", "unsafe file name: glob character(s) ? in the key (Spark reads a path as a pattern)"),
    ("sales/d\\a.csv", "unsafe file name: glob character(s) \\ in the key (Spark reads a path as a pattern)"),
    ("sales/d/10:30.csv", "unsafe file name: character(s) : in the key (Spark reads a path as a pattern)"),
    ("sales/d/a\nrejected x.csv", "unsafe file name: control character(s) \\n in the key"),
    ("sales/d/a\r\x1b.csv", "unsafe file name: control character(s) \\r, \\x1b in the key"),
    ("sales/d/a\u2028.csv", "unsafe file name: control character(s) \\u2028 in the key"),
    ("sales/../x.csv", "unsafe file name: an empty, '.' or '..' folder in the key"),
    ("sales/./x.csv", "unsafe file name: an empty, '.' or '..' folder in the key"),
    ("sales//x.csv", "unsafe file name: an empty, '.' or '..' folder in the key"),
])
def test_unsafe_keys_are_named(key, reason):
    assert key_problem(key) == reason


@pytest.mark.parametrize("key", ["sales/2026-11-22/sales_2026-11-22.csv", "customers/a b/Crème (1).xlsx",
                                 "sales/x..y.csv", "sales/50%.csv", "sales/a,b+c.csv"])
def test_ordinary_keys_are_safe(key):
    assert key_problem(key) is None


def test_an_unsafe_key_goes_to_an_escaped_key_under_rejected_and_prints_on_one_line():
    assert rejected_key("sales/d/a[1].csv") == "rejected/sales/d/a%5B1%5D.csv"
    assert rejected_key("sales/../x\n.csv") == "rejected/sales/%2E%2E/x%0A.csv"
    assert rejected_key("sales/d/ok.csv") == "rejected/sales/d/ok.csv"
    assert key_problem(escaped_key("sales/d/{a}*?\\:%\n.csv")) is None
    assert shown("sales/a\nrejected b.csv") == "sales/a\\nrejected b.csv"


def test_an_unsafe_key_is_rejected_unread_by_the_checks_even_when_its_content_is_good(tmp_path):
    content = hostile.SALES_HEADER + b"1,1,Cone,2026-11-22,1,90.00,1,90.00\n"
    assert _verdict(tmp_path, "sales/d/ok.csv", content) is None
    assert _verdict(tmp_path, "sales/d/a[1].csv", content).startswith("unsafe file name: glob character(s) [ ]")


@pytest.fixture
def landing_folder(tmp_path, monkeypatch):
    folder = tmp_path / "landing"
    monkeypatch.setenv("ETL__STORAGE__LANDING", str(folder))
    return folder


@pytest.mark.parametrize("folder", ["../../x", "a/../../b", "2026-11-22/[ab]", "a\nb", "x:y"])
def test_upload_refuses_a_folder_that_leaves_the_landing_root_or_spark_would_misread(tmp_path, landing_folder,
                                                                                    capsys, folder):
    source = tmp_path / "my_sales.csv"
    source.write_bytes(hostile.SALES_HEADER)
    assert main(["upload", str(source), "--feed", "sales", "--folder", folder, "--profile", "local"]) == 3
    err = capsys.readouterr().err
    assert "etl: error: refusing to upload 'sales/" in err and "unsafe file name" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not landing_folder.exists()


def test_upload_refuses_a_folder_holding_one_unsafe_name_and_uploads_nothing(tmp_path, landing_folder, capsys):
    source = tmp_path / "batch"
    source.mkdir()
    (source / "a.csv").write_bytes(hostile.SALES_HEADER)
    (source / "b[1].csv").write_bytes(hostile.SALES_HEADER)
    (source / "c\nd.csv").write_bytes(hostile.SALES_HEADER)
    assert main(["upload", str(source), "--feed", "sales", "--profile", "local"]) == 3
    err = capsys.readouterr().err
    assert "refusing to upload 'sales/b[1].csv': unsafe file name: glob character(s) [ ]" in err
    assert "(2 such name(s), nothing was uploaded)" in err
    assert not landing_folder.exists()
