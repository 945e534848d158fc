"""The sample-data generator: deterministic, consistent across feeds, defects exactly where the report says.

No Spark: the files are read back with csv, xml.etree, json and openpyxl, and the
contract's rules (DATA_CONTRACT.md) are restated here in a few lines of Python, so
each test checks the files against the contract, not the generator against itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from openpyxl import load_workbook

from devtools.generate import ALL_FEEDS, DEFECT_KINDS, REPORT_NAME, SALES_HEADER, GenerateOptions, generate
from etl.errors import ConfigError
from etl.storage import LocalStore

DROP_DAY = date(2026, 11, 22)
FULL = GenerateOptions(start=date(2026, 11, 20), days=4, customers=40, sales_per_day=30, orders_per_day=20,
                       events_orders_per_day=15, seed=5, feeds=ALL_FEEDS, defects=True, drop_days=(DROP_DAY,))
# What tests/integration uses; its files must stay exactly what the original generator wrote.
SLICE = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=40, seed=11)
SLICE_SHA256 = {
    "products/products.csv": "c82f882f6fea920608cf7aab8fd1ffeb7f1a301ea5ebe468b8496cd90a9c972f",
    "sales/2026-11-20/sales_2026-11-20.csv": "b0390a4dc64bda8f866e5446b44b9f284ab59aacf7865655d962c5463336a1f6",
    "sales/2026-11-21/sales_2026-11-21.csv": "ba02d72e0eee97d02a033e3377216b2b9edcaa8fa1db2606db85de5c8796370d",
    "sales/2026-11-22/sales_2026-11-22.csv": "ea5fa4e057825320ffadc3bb7ab5ebcb734b866a9fea194f1a7e7e8946569eec",
    "sales_team/sales_team.csv": "6806fd0bbf7ab5306f5ed1d4f2c4b0ce869a9fdd5b0b28c0e95e132890126a0d",
    "stores/stores.csv": "5e10575c896c479f70bd65e1cc5c737876ae447666cdc95d63ee0c6974a0daa1",
}


# ----------------------------------------------------------------------------- reading the files back

def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def normalise_column(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header (normalised) and rows as strings, from a CSV or the first sheet of an XLSX."""
    if path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True).worksheets[0]
        values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            values = list(csv.reader(handle))
    return [normalise_column(h) for h in values[0]], values[1:]


def read_orders(path: Path) -> list[dict[str, str]]:
    return [{child.tag: child.text or "" for child in order} for order in ET.parse(path).getroot()]


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def normalise_phone(text: str) -> str | None:
    digits = re.sub(r"\D", "", text or "")
    if len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def day_of(key: str) -> date:
    return date.fromisoformat(re.search(r"\d{4}-\d{2}-\d{2}", key).group())


# ----------------------------------------------------------------------------- the contract's error rules

def _int(value: str) -> int | None:
    return int(value) if re.fullmatch(r"-?\d+", value or "") else None


def _dec(value: str) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def sales_row_fails(header: list[str], row: list[str]) -> bool:
    if len(row) != len(header):
        return True
    r = dict(zip(header, row))
    ints = [_int(r[c]) for c in ("customer_id", "store_id", "sales_person_id", "quantity")]
    price, total = _dec(r["price"]), _dec(r["total_cost"])
    try:
        datetime.strptime(r["sales_date"], "%Y-%m-%d")
    except ValueError:
        return True
    if None in ints or price is None or total is None or not r["product_name"]:
        return True
    quantity = ints[3]
    return quantity <= 0 or price < 0 or total < 0 or abs(price * quantity - total) > Decimal("0.01")


def order_fails(order: dict[str, str]) -> bool:
    if set(order) != {"order_id", "mobile_number", "order_date_time", "sku_id", "sku_count", "total_amount"}:
        return True
    try:
        datetime.strptime(order["order_date_time"], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return True
    count, amount = _int(order["sku_count"]), _dec(order["total_amount"])
    return _int(order["order_id"]) is None or count is None or count <= 0 or amount is None or amount < 0


def event_or_none(line: str) -> dict | None:
    """The event of a line that passes the error rules, else None."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    props = event["raw_event"]["raw_payload"]["properties"]
    order = props["Order"]
    if "orderID" not in order:
        return None
    if abs(reconciled(order) - Decimal(str(order["total"]))) > Decimal("0.05"):
        return None
    if any(item["quantity"] <= 0 or item["price"] < 0 for item in props["OrderItem"]):
        return None
    return event


def reconciled(order: dict) -> Decimal:
    d = lambda name: Decimal(str(order[name]))  # noqa: E731
    return (d("core_total") + d("tax_total") - d("discount_total") + d("delivery_charges")
            + d("packaging_charge") + d("service_charge") + d("round_off"))


def customer_rows_failing(header: list[str], rows: list[list[str]]) -> set[int]:
    ids = [dict(zip(header, row))["customer_id"] for row in rows]
    return {n for n, cid in enumerate(ids, start=1) if not cid or ids.count(cid) > 1}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return generate(FULL, out, progress=False), out


@pytest.fixture(scope="module")
def customers(full) -> dict[str, list[dict[str, str]]]:
    """Customers files in delivery order, rows as dicts under the contract's column names."""
    report, out = full
    deliveries = {}
    for key in sorted(report.files["customers"], key=day_of):
        header, rows = read_table(out / key)
        header = [{"mobile_number": "phone_number"}.get(h, h) for h in header]
        records = []
        for row in rows:
            record = dict(zip(header, row))
            if "customer_name" in record:
                record["first_name"], _, record["last_name"] = record.pop("customer_name").partition(" ")
            records.append(record)
        deliveries[key] = records
    return deliveries


def known_phones(customers, until: date) -> set[str]:
    return {r["phone_number"] for key, rows in customers.items() if day_of(key) <= until for r in rows
            if r["customer_id"]}


def keys(report, feed: str, *, copies: bool = False) -> list[str]:
    duplicates = report.defects["duplicate_files"]
    return [k for k in report.files[feed] if copies or k not in duplicates]


def marked(report, kind: str, key: str) -> set[int]:
    return set(report.defects[kind].get(key, []))


# ----------------------------------------------------------------------------- determinism and defaults

def test_same_options_give_byte_identical_files(tmp_path):
    opts = GenerateOptions(start=date(2026, 11, 20), days=3, customers=20, sales_per_day=10, orders_per_day=6,
                           events_orders_per_day=6, seed=3, feeds=ALL_FEEDS, defects=True,
                           drop_days=(date(2026, 11, 21),))
    generate(opts, tmp_path / "a", progress=False)
    generate(opts, tmp_path / "b", progress=False)
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert any(k.endswith(".xlsx") for k in first)
    assert first == second


def test_another_seed_gives_other_files(tmp_path):
    generate(GenerateOptions(start=date(2026, 11, 20), days=1, seed=1), tmp_path / "a", progress=False)
    generate(GenerateOptions(start=date(2026, 11, 20), days=1, seed=2), tmp_path / "b", progress=False)
    assert tree(tmp_path / "a")["sales/2026-11-20/sales_2026-11-20.csv"] != \
        tree(tmp_path / "b")["sales/2026-11-20/sales_2026-11-20.csv"]


def test_defaults_write_exactly_the_original_slice(tmp_path):
    report = generate(SLICE, tmp_path, progress=False)
    files = tree(tmp_path)
    assert set(files) == set(SLICE_SHA256) | {REPORT_NAME}
    assert {k: hashlib.sha256(files[k]).hexdigest() for k in SLICE_SHA256} == SLICE_SHA256
    assert len(report) == len(report.paths) == 6
    assert sorted(p.relative_to(tmp_path).as_posix() for p in report) == sorted(SLICE_SHA256)

    team_header, team = read_table(tmp_path / "sales_team/sales_team.csv")
    assert len(team) == 9
    sellers = set()
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        header, rows = read_table(tmp_path / f"sales/{day}/sales_{day}.csv")
        assert header == SALES_HEADER and len(rows) == 40
        sellers |= {(r[1], r[4]) for r in rows}
    # Salesperson k of store s has id (s - 1) * 3 + k: every one of the nine sells at least once.
    assert sellers == {(str(s), str((s - 1) * 3 + k)) for s in (1, 2, 3) for k in (1, 2, 3)}
    assert all(v == [] or v == {} for v in report.defects.values())


def test_new_feeds_leave_the_sales_and_reference_files_as_they_were(tmp_path):
    generate(SLICE, tmp_path / "slice", progress=False)
    generate(GenerateOptions(start=SLICE.start, days=3, sales_per_day=40, seed=11, feeds=ALL_FEEDS),
             tmp_path / "all", progress=False)
    slice_files, all_files = tree(tmp_path / "slice"), tree(tmp_path / "all")
    for key in SLICE_SHA256:
        if key != "stores/stores.csv":
            assert all_files[key] == slice_files[key], key
    # Stores gain external_ref and region; the original columns keep their values.
    header, rows = read_table(tmp_path / "all/stores/stores.csv")
    assert header[-2:] == ["external_ref", "region"]
    _, old_rows = read_table(tmp_path / "slice/stores/stores.csv")
    assert [r[:-2] for r in rows] == old_rows


def test_report_is_written_next_to_the_files_and_never_uploaded(tmp_path):
    landing = LocalStore(str(tmp_path / "landing"))
    report = generate(FULL, tmp_path / "out", landing, progress=False)
    uploaded = {f.key for f in landing.list("")}
    written = {k for feed in report.files.values() for k in feed}
    assert uploaded == written
    assert REPORT_NAME not in uploaded
    assert json.loads((tmp_path / "out" / REPORT_NAME).read_text()) == json.loads(report.to_json())
    assert set(report.defects) == set(DEFECT_KINDS)
    for feed, files in report.files.items():
        for key, records in files.items():
            assert (tmp_path / "out" / key).exists(), key


def test_record_counts_in_the_report_match_the_files(full):
    report, out = full
    for feed, files in report.files.items():
        for key, records in files.items():
            path = out / key
            if path.suffix == ".xml":
                count = len(read_orders(path))
            elif path.suffix == ".jsonl":
                count = len(read_lines(path))
            else:
                count = len(read_table(path)[1])
            assert count == records, key


def test_options_a_user_can_get_wrong_are_named():
    with pytest.raises(ConfigError, match="unknown feed.*invoices"):
        GenerateOptions(start=date(2026, 11, 20), feeds=("sales", "invoices"))
    with pytest.raises(ConfigError, match="drop day.*2026-12-25.*outside"):
        GenerateOptions(start=date(2026, 11, 20), drop_days=(date(2026, 12, 25),))
    with pytest.raises(ConfigError, match="days must be at least 1"):
        GenerateOptions(start=date(2026, 11, 20), days=0)


# ----------------------------------------------------------------------------- defects, one test per kind

def test_every_defect_kind_is_injected(full):
    report, _ = full
    assert all(report.defects[kind] for kind in DEFECT_KINDS), \
        [kind for kind in DEFECT_KINDS if not report.defects[kind]]


def test_malformed_sales_rows_are_exactly_the_rows_failing_an_error_rule(full):
    report, out = full
    for key in keys(report, "sales"):
        if key in report.defects["missing_column"]:
            continue
        header, rows = read_table(out / key)
        failing = {n for n, row in enumerate(rows, start=1) if sales_row_fails(header, row)}
        assert failing == marked(report, "malformed_rows", key), key
    assert any(k.startswith("sales/") for k in report.defects["malformed_rows"])


def test_malformed_orders_are_exactly_the_orders_failing_an_error_rule(full):
    report, out = full
    for key in keys(report, "orders"):
        failing = {n for n, order in enumerate(read_orders(out / key), start=1) if order_fails(order)}
        assert failing == marked(report, "malformed_rows", key), key
    assert any(k.startswith("orders/") for k in report.defects["malformed_rows"])


def test_malformed_events_are_exactly_the_lines_failing_an_error_rule(full):
    report, out = full
    for key in keys(report, "order_events"):
        failing = {n for n, line in enumerate(read_lines(out / key), start=1) if event_or_none(line) is None}
        assert failing == marked(report, "malformed_rows", key), key
    assert any(k.startswith("order_events/") for k in report.defects["malformed_rows"])


def test_malformed_customer_rows_have_no_or_a_repeated_customer_id(full):
    report, out = full
    for key in keys(report, "customers"):
        header, rows = read_table(out / key)
        assert customer_rows_failing(header, rows) == marked(report, "malformed_rows", key), key
    assert any(k.startswith("customers/") for k in report.defects["malformed_rows"])


def test_missing_column_files_lack_one_mandatory_column(full):
    report, out = full
    assert report.defects["missing_column"]
    for key in keys(report, "sales"):
        header, _ = read_table(out / key)
        missing = set(SALES_HEADER) - set(header)
        if key in report.defects["missing_column"]:
            assert len(missing) == 1, key
        else:
            assert not missing, key


def test_extra_column_files_hold_every_mandatory_column_and_more(full):
    report, out = full
    assert report.defects["extra_columns"]
    for key in keys(report, "sales"):
        header, rows = read_table(out / key)
        extras = set(header) - set(SALES_HEADER)
        if key in report.defects["extra_columns"]:
            assert set(SALES_HEADER) <= set(header) and {"sale_id"} < extras, key
            assert header[:len(SALES_HEADER)] != SALES_HEADER or extras
            assert not any(sales_row_fails(header, row) for row in rows)
        else:
            assert not extras, key


def test_duplicate_files_are_byte_copies_under_another_name(full):
    report, out = full
    assert report.defects["duplicate_files"]
    for copy, original in report.defects["duplicate_files"].items():
        assert copy != original
        assert (out / copy).read_bytes() == (out / original).read_bytes()


def test_duplicate_events_repeat_an_earlier_line_with_the_same_event_id(full):
    report, out = full
    for key in keys(report, "order_events"):
        seen, repeated = {}, set()
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            if event is None:
                continue
            if event["event_id"] in seen:
                assert seen[event["event_id"]] == line
                repeated.add(n)
            seen[event["event_id"]] = line
        assert repeated == marked(report, "duplicate_events", key), key
    assert report.defects["duplicate_events"]


def test_out_of_order_events_arrive_after_a_newer_version_of_their_order(full):
    report, out = full
    for key in keys(report, "order_events"):
        newest, late = {}, set()
        duplicates = marked(report, "duplicate_events", key)
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            if event is None or n in duplicates:
                continue
            order = event["aggregate_id"]
            if event["stream_id"] < newest.get(order, 0):
                late.add(n)
            newest[order] = max(newest.get(order, 0), event["stream_id"])
        assert late == marked(report, "out_of_order_events", key), key
    assert report.defects["out_of_order_events"]


def test_cancelled_orders_end_in_a_cancelled_version(full):
    report, out = full
    cancelled_orders = 0
    for key in keys(report, "order_events"):
        current, cancelled_lines = {}, set()
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            if event is None:
                continue
            order = event["raw_event"]["raw_payload"]["properties"]["Order"]
            if order["status"] == "Cancelled":
                cancelled_lines.add(n)
            if event["stream_id"] > current.get(order["orderID"], (0, ""))[0]:
                current[order["orderID"]] = (event["stream_id"], order["status"])
        assert cancelled_lines == marked(report, "cancelled_orders", key), key
        assert {s for _, s in current.values()} <= {"Success", "Cancelled"}
        cancelled_orders += sum(1 for _, s in current.values() if s == "Cancelled")
    assert cancelled_orders >= 1


def test_unknown_customers_are_in_no_customers_delivery(full, customers):
    report, out = full
    ids = {r["customer_id"] for rows in customers.values() for r in rows}
    phones = known_phones(customers, date.max)
    for key in keys(report, "sales"):
        if key in report.defects["missing_column"]:
            continue
        header, rows = read_table(out / key)
        unknown = {n for n, row in enumerate(rows, start=1)
                   if not sales_row_fails(header, row) and dict(zip(header, row))["customer_id"] not in ids}
        assert unknown == marked(report, "unknown_customers", key), key
    for key in keys(report, "orders"):
        unknown = {n for n, o in enumerate(read_orders(out / key), start=1)
                   if not order_fails(o) and normalise_phone(o["mobile_number"]) not in phones}
        assert unknown == marked(report, "unknown_customers", key), key
    for key in keys(report, "order_events"):
        unknown = set()
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            phone = event and event["raw_event"]["raw_payload"]["properties"]["Customer"]["phone"]
            if phone and normalise_phone(phone) not in phones:
                unknown.add(n)
        assert unknown == marked(report, "unknown_customers", key), key
    assert {k.split("/")[0] for k in report.defects["unknown_customers"]} == {"sales", "orders", "order_events"}


def test_unknown_products_are_not_in_the_catalogue(full):
    report, out = full
    header, rows = read_table(out / "products/products.csv")
    names = {dict(zip(header, r))["name"].lower() for r in rows}
    skus = {dict(zip(header, r))["sku_id"] for r in rows}
    for key in keys(report, "sales"):
        if key in report.defects["missing_column"]:
            continue
        header, rows = read_table(out / key)
        unknown = {n for n, row in enumerate(rows, start=1)
                   if not sales_row_fails(header, row) and dict(zip(header, row))["product_name"].lower() not in names}
        assert unknown == marked(report, "unknown_products", key), key
    for key in keys(report, "orders"):
        unknown = {n for n, o in enumerate(read_orders(out / key), start=1)
                   if not order_fails(o) and o["sku_id"] not in skus}
        assert unknown == marked(report, "unknown_products", key), key
    for key in keys(report, "order_events"):
        unknown = set()
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            items = event["raw_event"]["raw_payload"]["properties"]["OrderItem"] if event else []
            if any(i["itemcode"] and i["itemcode"] not in skus for i in items):
                unknown.add(n)
        assert unknown == marked(report, "unknown_products", key), key


def test_customer_changes_carry_updated_at_and_differ_from_the_version_before(full, customers):
    report, _ = full
    attributes = ("first_name", "last_name", "address", "pincode", "phone_number", "region", "customer_joining_date")
    current: dict[str, tuple] = {}
    changes = 0
    for number, (key, rows) in enumerate(customers.items()):
        errors = marked(report, "malformed_rows", key)
        for n, row in enumerate(rows, start=1):
            version = tuple(row[a] for a in attributes)
            if number == 0:
                assert not row.get("updated_at")
            elif n in errors:
                continue
            elif n in marked(report, "customer_changes", key):
                assert row["updated_at"] == day_of(key).isoformat()
                assert version != current[row["customer_id"]]
                changes += 1
            else:           # a re-sent record: the same attributes, no updated_at
                assert not row["updated_at"] and version == current[row["customer_id"]], (key, n)
            current[row["customer_id"]] = version
    assert changes >= 1


def test_drop_days_have_a_fifth_of_the_volume(full):
    report, out = full
    assert report.drop_days == [DROP_DAY.isoformat()]
    assert set(report.defects["sales_drop"]) == {k for f in ("sales", "orders", "order_events")
                                                 for k in keys(report, f) if day_of(k) == DROP_DAY
                                                 and not re.search(r"_[bc]\.csv$", k)}
    for feed, per_day in (("sales", FULL.sales_per_day), ("orders", FULL.orders_per_day)):
        for key in keys(report, feed):
            if re.search(r"_[bc]\.csv$", key):
                continue
            injected = sum(len(report.defects[k].get(key, []))
                           for k in ("malformed_rows", "unknown_customers", "unknown_products"))
            clean = report.files[feed][key] - injected
            assert clean == (round(per_day * 0.2) if day_of(key) == DROP_DAY else per_day), key
    events = {day_of(k): len({json.loads(line)["aggregate_id"] for line in read_lines(out / k)
                              if event_or_none(line)}) for k in keys(report, "order_events")}
    assert events[DROP_DAY] == round(FULL.events_orders_per_day * 0.2)
    assert all(n == FULL.events_orders_per_day for d, n in events.items() if d != DROP_DAY)


def test_no_defects_unless_asked(tmp_path):
    opts = GenerateOptions(start=date(2026, 11, 20), days=3, customers=20, sales_per_day=10, orders_per_day=6,
                           events_orders_per_day=6, seed=3, feeds=ALL_FEEDS)
    report = generate(opts, tmp_path, progress=False)
    assert all(not report.defects[kind] for kind in DEFECT_KINDS)
    for key in report.files["sales"]:
        header, rows = read_table(tmp_path / key)
        assert not any(sales_row_fails(header, row) for row in rows)
    for key in report.files["orders"]:
        assert not any(order_fails(o) for o in read_orders(tmp_path / key))
    for key in report.files["order_events"]:
        assert all(event_or_none(line) for line in read_lines(tmp_path / key))


# ----------------------------------------------------------------------------- consistency across feeds

def test_totals_reconcile_on_every_valid_event(full):
    report, out = full
    checked = 0
    for key in keys(report, "order_events"):
        errors = marked(report, "malformed_rows", key)
        for n, line in enumerate(read_lines(out / key), start=1):
            if n in errors:
                continue
            order = json.loads(line)["raw_event"]["raw_payload"]["properties"]["Order"]
            assert reconciled(order) == Decimal(str(order["total"])), (key, n)
            checked += 1
    assert checked > 50


def test_orders_have_several_versions_with_increasing_stream_ids(full):
    report, out = full
    for key in keys(report, "order_events"):
        errors, duplicates = marked(report, "malformed_rows", key), marked(report, "duplicate_events", key)
        versions: dict[str, list[tuple[str, int]]] = {}
        for n, line in enumerate(read_lines(out / key), start=1):
            if n in errors or n in duplicates:
                continue
            event = json.loads(line)
            versions.setdefault(event["aggregate_id"], []).append((event["occurred_at"], event["stream_id"]))
        for order, states in versions.items():
            assert len(states) >= 2, order
            # Ordered by when they happened, the versions carry increasing stream ids.
            assert [s for _, s in sorted(states)] == sorted(s for _, s in states), order


def test_online_order_phones_are_customers_phones(full, customers):
    report, out = full
    matched = 0
    for key in keys(report, "orders"):
        phones = known_phones(customers, day_of(key))
        unknown = marked(report, "unknown_customers", key) | marked(report, "malformed_rows", key)
        for n, order in enumerate(read_orders(out / key), start=1):
            if n not in unknown:
                assert normalise_phone(order["mobile_number"]) in phones, (key, n, order["mobile_number"])
                matched += 1
    assert matched > 50
    formats = {re.sub(r"\d", "9", o.get("mobile_number", "")) for k in keys(report, "orders")
               for o in read_orders(out / k)}
    assert {"+99 99999 99999", "999999-99999", "9999999999"} <= formats   # +91 98110 00017, 098110-00017, ...


def test_in_store_and_online_customers_are_the_same_people(full, customers):
    report, out = full
    first_delivery = next(iter(customers.values()))
    by_phone = {r["phone_number"]: r["customer_id"] for r in first_delivery}
    in_store = set()
    for key in keys(report, "sales"):
        header, rows = read_table(out / key)
        if "customer_id" in header:
            in_store |= {dict(zip(header, row))["customer_id"] for row in rows}
    online = {by_phone[normalise_phone(o.get("mobile_number"))] for k in keys(report, "orders")
              for o in read_orders(out / k) if normalise_phone(o.get("mobile_number")) in by_phone}
    assert len(in_store & online) >= 5


def test_event_restaurants_map_to_store_external_refs(full):
    report, out = full
    header, rows = read_table(out / "stores/stores.csv")
    refs = {dict(zip(header, r))["external_ref"] for r in rows} - {""}
    assert refs and len(refs) < len(rows)        # some stores have a POS integration, not all
    for key in keys(report, "order_events"):
        unmatched = set(report.variations["unmatched_restaurants"].get(key, []))
        for n, line in enumerate(read_lines(out / key), start=1):
            event = event_or_none(line)
            if event is None:
                continue
            rest_id = event["raw_event"]["raw_payload"]["properties"]["Restaurant"]["restID"]
            assert (rest_id not in refs) == (n in unmatched), (key, n)


def test_customers_arrive_as_csv_and_xlsx_with_aliased_headers(full, customers):
    report, out = full
    first_key, first = next(iter(customers.items()))
    assert first_key.endswith(".csv") and [r["customer_id"] for r in first] == [str(i) for i in range(1, 41)]
    assert report.variations["xlsx_files"] and all(k.endswith(".xlsx") for k in report.variations["xlsx_files"])
    for key in report.files["customers"]:
        header, _ = read_table(out / key)
        aliased = {"customer_name", "mobile_number"} <= set(header)
        assert aliased == (key in report.variations["aliased_headers"]), key
    assert report.variations["aliased_headers"]


# ----------------------------------------------------------------------------- planted patterns (order analytics)

PATTERNS = GenerateOptions(start=date(2026, 1, 5), days=84, customers=200, sales_per_day=0, orders_per_day=60,
                           events_orders_per_day=150, seed=21, feeds=("orders", "order_events", "stores"))


@pytest.fixture(scope="module")
def patterns(tmp_path_factory):
    """12 weeks (starting on a Monday) of online orders and POS orders, current states only:
    (date, hour, customer phone, amount, units, order_type, order_from, payment_type, product codes);
    online orders: the first five."""
    out = tmp_path_factory.mktemp("patterns")
    report = generate(PATTERNS, out, progress=False)
    current: dict[str, tuple[int, dict]] = {}
    for key in report.files["order_events"]:
        for line in read_lines(out / key):
            event = json.loads(line)
            if event["stream_id"] > current.get(event["aggregate_id"], (0, {}))[0]:
                current[event["aggregate_id"]] = (event["stream_id"], event)
    pos = []
    for _, event in current.values():
        props = event["raw_event"]["raw_payload"]["properties"]
        order = props["Order"]
        at = datetime.strptime(order["created_on"], "%Y-%m-%d %H:%M:%S")
        pos.append((at.date(), at.hour, normalise_phone(props["Customer"]["phone"]), Decimal(str(order["total"])),
                    sum(i["quantity"] for i in props["OrderItem"]), order["order_type"], order["order_from"], order["payment_type"],
                    frozenset(i["itemcode"] for i in props["OrderItem"] if i["itemcode"])))
    online = []
    for key in report.files["orders"]:
        for o in read_orders(out / key):
            at = datetime.strptime(o["order_date_time"], "%Y-%m-%d %H:%M:%S")
            online.append((at.date(), at.hour, normalise_phone(o["mobile_number"]), Decimal(o["total_amount"]),
                           int(o["sku_count"])))
    return pos, online


def test_weekend_days_take_more_revenue_than_weekdays(patterns):
    pos, online = patterns
    for orders in (pos, online):
        revenue: dict[date, Decimal] = {}
        for row in orders:
            revenue[row[0]] = revenue.get(row[0], Decimal(0)) + row[3]
        weekend = [v for d, v in revenue.items() if d.weekday() >= 5]
        weekday = [v for d, v in revenue.items() if d.weekday() <= 3]
        assert sum(weekend) / len(weekend) > Decimal("1.25") * sum(weekday) / len(weekday)


def test_baskets_grow_over_the_weeks(patterns):
    for orders in patterns:
        def units_per_order(first_day: int, last_day: int) -> float:
            block = [r[4] for r in orders if first_day <= (r[0] - PATTERNS.start).days <= last_day]
            return sum(block) / len(block)
        # 50% a year: (1 + 0.5 × 69.5 / 365) / (1 + 0.5 × 13.5 / 365) = 1.075 between weeks 1-4 and 9-12.
        assert units_per_order(56, 83) > 1.04 * units_per_order(0, 27)


def test_orders_peak_at_lunch_and_dinner(patterns):
    for orders in patterns:
        hours = [0] * 24
        for row in orders:
            hours[row[1]] += 1
        quiet = hours[15] + hours[16]
        assert hours[12] + hours[13] > 2 * quiet and hours[19] + hours[20] > 2 * quiet, hours
        assert max(range(24), key=hours.__getitem__) in (12, 13, 19, 20), hours
        assert hours[3] * 10 < hours[13], hours


def test_planted_pairs_sell_together_far_above_chance(patterns):
    pos, _ = patterns
    baskets = [row[8] for row in pos]
    n = len(baskets)
    codes = sorted({code for b in baskets for code in b})
    share = {code: sum(code in b for b in baskets) / n for code in codes}
    planted = {frozenset({f"SKU-{a:04d}", f"SKU-{b:04d}"}) for a, b in ((2, 7), (5, 10), (6, 12))}
    lifts = {}
    for a in share:
        for b in share:
            if a < b:
                both = sum(a in basket and b in basket for basket in baskets) / n
                lifts[frozenset({a, b})] = both / (share[a] * share[b])
    assert all(lifts[pair] > 2 for pair in planted), {tuple(sorted(p)): lifts[p] for p in planted}
    assert max(v for pair, v in lifts.items() if pair not in planted) < 1.5
    assert sum(len(b) >= 2 for b in baskets) / n > 0.5          # multi-item baskets


def test_order_types_platforms_and_payments_are_a_realistic_mix(patterns):
    pos, _ = patterns
    n = len(pos)
    types = {t: sum(r[5] == t for r in pos) / n for t in ("Dine In", "Delivery", "Pick Up")}
    assert 0.35 < types["Dine In"] < 0.55 and 0.30 < types["Delivery"] < 0.50 and 0.08 < types["Pick Up"] < 0.22
    assert sum(types.values()) == 1
    assert {r[6] for r in pos if r[5] == "Delivery"} == {"Zomato", "Swiggy"}
    assert {r[6] for r in pos if r[5] == "Dine In"} == {"POS"}
    assert {r[6] for r in pos if r[5] == "Pick Up"} == {"POS", "Zomato", "Swiggy"}
    payments = {p: sum(r[7] == p for r in pos) / n for p in ("Online", "Card", "Cash")}
    assert sum(payments.values()) == 1 and min(payments.values()) > 0.05
    delivery = [r for r in pos if r[5] == "Delivery"]
    assert sum(r[7] == "Online" for r in delivery) / len(delivery) > 0.8   # app orders are paid in the app


def test_regulars_come_back_and_other_customers_churn(patterns):
    pos, online = patterns
    days: dict[str, set[date]] = {}
    for row in pos + online:
        days.setdefault(row[2], set()).add(row[0])
    # Regulars: the tenth of the customers who buy most place more than a third of the orders.
    per_customer: dict[str, int] = {}
    for row in pos + online:
        per_customer[row[2]] = per_customer.get(row[2], 0) + 1
    orders = sorted(per_customer.values(), reverse=True)
    assert sum(orders[:PATTERNS.customers // 10]) > sum(orders) / 3, (sum(orders[:20]), sum(orders))
    # Churn: of the customers who bought in the first four weeks, many never buy in the last four.
    early = [d for d in days.values() if min(d) < PATTERNS.start + timedelta(days=28)]
    gone = [d for d in early if max(d) < PATTERNS.start + timedelta(days=56)]
    assert len(gone) / len(early) > 0.2, (len(gone), len(early))
    # New customers keep arriving: some buy first in the second half.
    assert sum(min(d) >= PATTERNS.start + timedelta(days=42) for d in days.values()) >= 5
