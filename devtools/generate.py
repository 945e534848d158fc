"""Sample landing data for all seven feeds, from a seed (DATA_CONTRACT.md).

``generate(opts, out, landing)`` writes, for ``opts.days`` days from ``opts.start``:

* ``sales/<date>/sales_<date>.csv``: in-store sales (the original thin-slice feed);
* ``orders/<date>/orders_<date>.xml``: online orders, mobile numbers in varied formats;
* ``order_events/<date>/events_<date>.jsonl``: POS / aggregator order events, several
  versions per order (increasing ``stream_id``), totals that reconcile;
* ``customers/<date>/customers_<date>.csv`` (some deliveries ``.xlsx``): day one is the
  full customer base, later days re-send a few unchanged records and (with defects)
  changed versions carrying ``updated_at``; some deliveries use the aliased headers
  ``customer_name`` / ``mobile_number``. Each day's delivery sits in its date's folder,
  as the contract lands it: a record without ``updated_at`` is dated by that folder, so
  one run over several days dates the versions as the daily runs do;
* ``stores/stores.csv``, ``products/products.csv``, ``sales_team/sales_team.csv``.

Only the feeds named in ``opts.feeds`` are written (default: the original four).
Every feed draws from the same customers (ids ``1..customers``, one phone each), the
same twelve SKUs and the same stores, so a phone in an online order normalises to a
customer of the ``customers/`` feed and a ``Restaurant.restID`` to a store's
``external_ref``.

Deterministic: the same options give byte-identical files (XLSX included: fixed
workbook timestamps and zip entry times). Each feed draws from its own random stream,
so adding a feed never changes another feed's files (except that ``stores.csv`` gains
``external_ref`` and ``region`` once orders, order_events or customers are asked for);
with ``opts.feeds``, ``opts.defects`` and ``opts.drop_days`` at their defaults the
output is exactly the original generator's. Rows are written as they are generated
(only the events of the orders of the last hour or so wait to be written), so a year
of data never sits in memory; only the report's defect positions and the changed
customers grow with the size.

``opts.defects`` injects every kind in ``DEFECT_KINDS`` at ``opts.defect_rate`` (at
least one of each row-level kind per file, at least one file per file-level kind;
customer defects only in the deliveries after the first), and the returned
``GenerationReport`` (also written to ``out/_generation_report.json``, never uploaded)
says exactly which files and 1-based record numbers hold them. Record numbers count
data rows after the header (CSV, XLSX), ``<order>`` elements (XML) and lines (JSONL).
Row-level marks name the original file only; a duplicate file is a byte copy of it.
``report.variations`` locates the legitimate variety the contract asks the pipeline to
handle (empty phones, restaurants no store matches, items without ``itemcode``,
re-sent unchanged customers, aliased headers, XLSX deliveries). ``opts.drop_days``
cut that day's sales, online orders and order-event orders to ``DROP_FACTOR``.

POS order events and online orders carry planted patterns for the order analytics (see
docs/design.md, "Sample data"): lunch and dinner peaks in the order times, a weekly season and a
trend in the basket quantities (``day_factor``), a mix of order types, platforms and payments
(``ORDER_MIX``), item pairs that sell together (``PLANTED_PAIRS``), regulars and churning customers
(``CustomerBase.shopper``). The in-store sales feed keeps the original draw and every feed keeps its
number of records a day.

Defective records are added to a file, never put in place of good ones: a file holds
``sales_per_day`` (``orders_per_day``, ``events_orders_per_day``) good records plus the
injected ones, so expectations stay simple to state.
"""

from __future__ import annotations

import csv
import heapq
import json
import random
import re
import shutil
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterator
from xml.sax.saxutils import escape

from tqdm import tqdm

from etl.errors import ConfigError
from etl.storage import ObjectStore

FIRST_NAMES = ["Aarav", "Diya", "Kabir", "Meera", "Rohan", "Ishita", "Vikram", "Ananya", "Arjun", "Sana",
               "Nikhil", "Priya", "Rahul", "Kavya", "Aditya", "Neha"]
LAST_NAMES = ["Sharma", "Verma", "Iyer", "Reddy", "Gupta", "Nair", "Khan", "Das", "Mehta", "Roy", "Singh"]
PRODUCTS = [("Old Fashion Vanilla Ice Cream (300ml)", "Comfort Classics", "360.00"),
            ("Belgian Chocolate Tub (500ml)", "Premium", "520.00"),
            ("Mango Sorbet Cup (120ml)", "Sorbets", "110.00"),
            ("Strawberry Cone", "Cones", "90.00"),
            ("Butterscotch Family Pack (1L)", "Family Packs", "640.00"),
            ("Pistachio Kulfi Stick", "Kulfi", "75.00"),
            ("Cookies and Cream Sandwich", "Novelties", "120.00"),
            ("Coffee Walnut Tub (500ml)", "Premium", "480.00"),
            ("Blueberry Cheesecake Cup (120ml)", "Premium", "150.00"),
            ("Classic Chocolate Cone", "Cones", "95.00"),
            ("Alphonso Mango Family Pack (1L)", "Family Packs", "690.00"),
            ("Rose Falooda Kulfi", "Kulfi", "85.00")]
SALES_HEADER = ["customer_id", "store_id", "product_name", "sales_date", "sales_person_id",
                "price", "quantity", "total_cost"]
STORES_HEADER = ["id", "address", "store_pincode", "store_manager_name", "store_opening_date", "reviews"]
STORES_EXTRA = ["external_ref", "region"]
PRODUCTS_HEADER = ["id", "name", "sku_id", "category", "current_price", "old_price", "created_date",
                   "updated_date", "expiry_date"]
TEAM_HEADER = ["id", "first_name", "last_name", "manager_id", "is_manager", "address", "pincode", "joining_date"]
CUSTOMERS_HEADER = ["customer_id", "first_name", "last_name", "address", "pincode", "phone_number", "region",
                    "customer_joining_date"]
CUSTOMERS_ALIASED = ["customer_id", "customer_name", "address", "pincode", "mobile_number", "region",
                     "customer_joining_date"]

DEFAULT_FEEDS = ("sales", "stores", "products", "sales_team")
ALL_FEEDS = ("sales", "orders", "order_events", "customers", "stores", "products", "sales_team")
# Row-level kinds map file -> record numbers; missing_column, extra_columns and sales_drop
# list files; duplicate_files maps each copy to the file it repeats.
DEFECT_KINDS = ("malformed_rows", "missing_column", "extra_columns", "duplicate_files", "duplicate_events",
                "out_of_order_events", "cancelled_orders", "unknown_customers", "unknown_products",
                "customer_changes", "sales_drop")
_FILE_LIST_KINDS = ("missing_column", "extra_columns", "sales_drop")
# Legitimate variety the contract asks the pipeline to handle (not defects), reported the same way.
VARIATIONS = ("empty_phones", "unmatched_restaurants", "items_without_itemcode", "unchanged_resends",
              "aliased_headers", "xlsx_files")
_FILE_LIST_VARIATIONS = ("aliased_headers", "xlsx_files")
REPORT_NAME = "_generation_report.json"
DROP_FACTOR = 0.2

# (city, pincode, region): a customer's address, pincode and region move together.
CITIES = [("Gurgaon", "122001", "North"), ("Delhi", "110001", "North"), ("Mumbai", "400001", "West"),
          ("Pune", "411001", "West"), ("Bengaluru", "560001", "South"), ("Chennai", "600001", "South"),
          ("Kolkata", "700001", "East"), ("Bhubaneswar", "751001", "East")]
STREETS = ["MG Road", "Park Street", "Sector 66", "Linking Road", "Brigade Road", "Anna Salai", "Salt Lake",
           "FC Road", "Civil Lines", "Janpath"]
REGIONS = ("North", "South", "East", "West")
# Products no catalogue knows, with names no fuzzy match should tie to a real product.
UNKNOWN_PRODUCTS = [("Durian Surprise Bucket", "SKU-9001", "260.00"),
                    ("Wasabi Ginger Swirl", "SKU-9002", "310.00"),
                    ("Charcoal Lemon Popsicle", "SKU-9003", "70.00")]
UNKNOWN_CUSTOMER_BASE = 900_000_000
FIRST_ORDER_ID = 100_001
FIRST_EVENT_ORDER_ID = 700_001
FIRST_STREAM_ID = 1_001
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.18")
_MASK = (1 << 64) - 1

# Planted patterns (POS order events and online orders; the in-store sales feed stays the original draw, so
# its files and the counts of records per day do not change). Order counts per day are fixed by the options;
# the rhythm of the day is in the order times, the weekly season and the trend in the baskets' quantities.
# Relative order intensity per hour of the day (UTC as written): lunch 12-13, dinner 19-20.
HOUR_WEIGHTS = (0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.0, 1.2, 1.5, 3.0, 6.0, 6.5, 3.5, 1.5, 1.5, 2.0, 3.5,
                6.0, 7.0, 4.5, 2.0, 0.8)
WEEKDAY_FACTORS = (0.85, 0.85, 0.9, 0.95, 1.1, 1.3, 1.25)   # Monday .. Sunday: busier weekends
TREND_PER_YEAR = 0.5                                         # basket size grows 50% over a year, linearly
PLANTED_PAIRS = ((2, 7), (5, 10), (6, 12))                   # product ids bought together
PAIR_SHARE = 0.3                                             # orders built around a planted pair
BASKET_SIZES = (1, 1, 1, 2, 2, 3, 4)                          # items in an order without a planted pair
REGULAR_SHARE = 0.1                                          # customers 1 .. 10%: regulars, never churn
REGULAR_ORDERS = 0.35                                        # of the orders placed by a regular
# Order type -> weight, platforms (order_from) with weights, payment types with weights.
ORDER_MIX = (("Dine In", 45, (("POS", 1),), (("Card", 5), ("Cash", 2), ("Online", 3))),
             ("Delivery", 40, (("Zomato", 55), ("Swiggy", 45)), (("Online", 9), ("Cash", 1))),
             ("Pick Up", 15, (("POS", 70), ("Zomato", 15), ("Swiggy", 15)), (("Online", 5), ("Card", 3), ("Cash", 2))))


@dataclass(frozen=True)
class GenerateOptions:
    """What to generate. Sizes are per day unless named otherwise."""

    start: date
    days: int = 3
    stores: int = 3
    salespersons_per_store: int = 3
    customers: int = 50
    sales_per_day: int = 40
    seed: int = 7
    orders_per_day: int = 20
    events_orders_per_day: int = 20
    feeds: tuple[str, ...] = DEFAULT_FEEDS
    defects: bool = False
    defect_rate: float = 0.03
    drop_days: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "feeds", tuple(self.feeds))
        object.__setattr__(self, "drop_days", tuple(sorted(set(self.drop_days))))
        if not isinstance(self.start, date):
            raise ConfigError(f"generate: start must be a date, got {self.start!r}")
        for name in ("days", "stores", "salespersons_per_store", "customers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"generate: {name} must be at least 1, got {getattr(self, name)}")
        for name in ("sales_per_day", "orders_per_day", "events_orders_per_day"):
            if getattr(self, name) < 0:
                raise ConfigError(f"generate: {name} must not be negative, got {getattr(self, name)}")
        unknown = [f for f in self.feeds if f not in ALL_FEEDS]
        if unknown:
            raise ConfigError(f"generate: unknown feed(s) {', '.join(unknown)}: choose from {', '.join(ALL_FEEDS)}")
        if not 0 < self.defect_rate <= 1:
            raise ConfigError(f"generate: defect_rate must be in (0, 1], got {self.defect_rate}")
        last = self.start + timedelta(days=self.days - 1)
        outside = [d.isoformat() for d in self.drop_days if not self.start <= d <= last]
        if outside:
            raise ConfigError(f"generate: drop day(s) {', '.join(outside)} outside the generated range "
                              f"{self.start.isoformat()}..{last.isoformat()}")

    def volume(self, per_day: int, day: date) -> int:
        """``per_day``, or ``DROP_FACTOR`` of it (at least one) on a drop day."""
        if day in self.drop_days and per_day > 0:
            return max(1, round(per_day * DROP_FACTOR))
        return per_day

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "days": self.days, "stores": self.stores,
                "salespersons_per_store": self.salespersons_per_store, "customers": self.customers,
                "sales_per_day": self.sales_per_day, "seed": self.seed, "orders_per_day": self.orders_per_day,
                "events_orders_per_day": self.events_orders_per_day, "feeds": list(self.feeds),
                "defects": self.defects, "defect_rate": self.defect_rate,
                "drop_days": [d.isoformat() for d in self.drop_days]}


@dataclass
class GenerationReport:
    """What ``generate`` wrote: files per feed with their record counts, and where each defect is.

    Keys are paths relative to ``out`` (and to the landing root), with ``/``.
    ``len(report)`` and ``iter(report)`` give the local paths, as the old list return did.
    """

    out: Path
    options: GenerateOptions
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    defects: dict[str, list | dict] = field(default_factory=dict)
    variations: dict[str, list | dict] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        for feed in ALL_FEEDS:
            self.files.setdefault(feed, {})
        for kind in DEFECT_KINDS:
            self.defects.setdefault(kind, [] if kind in _FILE_LIST_KINDS else {})
        for kind in VARIATIONS:
            self.variations.setdefault(kind, [] if kind in _FILE_LIST_VARIATIONS else {})

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.paths)

    @property
    def drop_days(self) -> list[str]:
        return [d.isoformat() for d in self.options.drop_days]

    def records(self, feed: str) -> int:
        """All records written for ``feed``, defective ones and duplicate files included."""
        return sum(self.files[feed].values())

    def add_file(self, feed: str, key: str, records: int) -> None:
        self.files[feed][key] = records
        self.paths.append(self.out / key)

    def mark(self, kind: str, key: str, record: int | None = None) -> None:
        """Record a defect (``DEFECT_KINDS``) or a variation (``VARIATIONS``) in ``key``."""
        target = self.defects if kind in DEFECT_KINDS else self.variations
        if kind not in target:
            raise ValueError(f"unknown defect or variation kind '{kind}'")
        if record is None:
            target[kind].append(key)
        else:
            target[kind].setdefault(key, []).append(record)

    def as_dict(self) -> dict:
        return {"options": self.options.as_dict(), "drop_days": self.drop_days, "files": self.files,
                "defects": self.defects, "variations": self.variations}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"


# ----------------------------------------------------------------------------- helpers

def _mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): cheap per-record randomness without a Random."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK)) + 0x9E3779B97F4A7C15) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
    return h


def _count(n: int, rate: float) -> int:
    """How many of ``n`` get a defect: ``rate`` of them, at least one when there is anything."""
    return max(1, round(n * rate)) if n > 0 else 0


def _injected_defects(opts: "GenerateOptions", bad: random.Random, n: int) -> dict[int, str]:
    """Line position -> defect kind, for a day of ``n`` good sales or orders (none without ``--inject-defects``):
    malformed rows and unknown customers and products, each at the defect rate, among the day's lines."""
    if not opts.defects or n <= 0:
        return {}
    kinds = [kind for kind in ("malformed_rows", "unknown_customers", "unknown_products")
             for _ in range(_count(n, opts.defect_rate))]
    return dict(zip(bad.sample(range(n + len(kinds)), len(kinds)), kinds))


def _pick(rng: random.Random, n: int, k: int) -> set[int]:
    return set(rng.sample(range(n), min(n, k))) if n > 0 and k > 0 else set()


def _weighted(rng: random.Random, choices: tuple) -> tuple:
    """One of ``choices`` (tuples whose second item is a weight), from one draw."""
    point = rng.random() * sum(c[1] for c in choices)
    for choice in choices:
        point -= choice[1]
        if point < 0:
            return choice
    return choices[-1]


class _Clock:
    """Times of day for the orders of a day: ``n`` evenly spread quantiles (one jittered in each ``1/n``)
    through the inverse of the distribution ``HOUR_WEIGHTS`` gives over ``span`` seconds (uniform within
    an hour). Monotone, so the times come in order, as the feeds write them; vectorised (numpy, its own
    seeded stream per day) because it runs once per order."""

    def __init__(self, span: int, seed: int):
        hours = -(-span // 3600)
        weights = [HOUR_WEIGHTS[h] * min(3600, span - h * 3600) / 3600 for h in range(hours)]
        total, running = sum(weights), 0.0
        self.quantiles, self.edges = [0.0], [0.0]
        for h, weight in enumerate(weights):
            running += weight / total
            self.quantiles.append(running)
            self.edges.append(float(min(span, (h + 1) * 3600)))
        self.quantiles[-1] = 1.0
        self.span, self.seed = span, seed

    def day(self, index: int, n: int) -> list[float]:
        """Seconds into day ``index`` of its ``n`` orders, ascending, each below ``span``."""
        import numpy as np

        if n <= 0:
            return []
        jitter = np.random.default_rng([self.seed, index]).random(n)
        seconds = np.interp((np.arange(n) + jitter) / n, self.quantiles, self.edges)
        return np.minimum(seconds, self.span - 1e-3).tolist()


def day_factor(opts: "GenerateOptions", day: date) -> float:
    """How large the baskets of ``day`` are: the weekday's factor times the trend since ``opts.start``."""
    return WEEKDAY_FACTORS[day.weekday()] * (1 + TREND_PER_YEAR * (day - opts.start).days / 365)


def _scaled(quantity: int, factor: float, rng: random.Random) -> int:
    """``quantity × factor`` rounded at random (up with the fractional part's probability): the mean is exact."""
    return max(1, int(quantity * factor + rng.random()))


def format_phone(digits: str, style: int) -> str:
    """A 10-digit number as a web shop or a till types it: ``+91 98110 00017``, ``098110-00017``, plain."""
    if style == 0:
        return f"+91 {digits[:5]} {digits[5:]}"
    if style == 1:
        return f"0{digits[:5]}-{digits[5:]}"
    return digits


def _money(value: Decimal) -> str:
    return f"{value.quantize(CENT):.2f}"


@contextmanager
def _csv_file(path: Path, header: list[str]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        yield writer


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with _csv_file(path, header) as writer:
        writer.writerows(rows)
    return path


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _write_xlsx(path: Path, sheet: str, header: list[str], rows: list[list], stamp: datetime) -> Path:
    """One-sheet workbook with byte-stable output.

    openpyxl stamps ``modified`` with the current time on save and zip entries with the
    file time, so the saved file is repacked: entries in the same order with ``stamp``
    as their time, ``docProps/core.xml`` with ``stamp`` as created and modified.
    """
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "etl generate"
    workbook.properties.created = stamp
    worksheet = workbook.create_sheet(sheet)
    worksheet.append(header)
    for row in rows:
        worksheet.append(row)
    scratch = path.with_name(path.name + ".tmp")
    workbook.save(scratch)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(scratch) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _MODIFIED.sub(rb"\g<1>" + when + rb"\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)
    scratch.unlink()
    return path


# ----------------------------------------------------------------------------- reference data

def _legacy_reference_rows(opts: GenerateOptions) -> tuple[list[list], list[list]]:
    """Store and sales-team rows, drawn exactly as the original generator drew them."""
    rng = random.Random(opts.seed)
    stores = [[i, f"{rng.randint(1, 200)} MG Road, Block {chr(64 + i)}", f"1100{i:02d}",
               f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", "2020-01-15", f"{rng.randint(30, 50) / 10}"]
              for i in range(1, opts.stores + 1)]
    team = []
    for store in range(1, opts.stores + 1):
        for k in range(opts.salespersons_per_store):
            person = (store - 1) * opts.salespersons_per_store + k + 1
            team.append([person, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES),
                         (store - 1) * opts.salespersons_per_store + 1, "Y" if k == 0 else "N",
                         f"{rng.randint(1, 99)} Park Street", f"1100{store:02d}", "2021-04-01"])
    return stores, team


def store_refs(opts: GenerateOptions) -> dict[int, str]:
    """``external_ref`` per store id; every third store has none (it has no POS integration)."""
    rng = random.Random(opts.seed * 1000 + 5)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    refs = {i: "".join(rng.choice(alphabet) for _ in range(10)) for i in range(1, opts.stores + 1)}
    return {i: ref for i, ref in refs.items() if i % 3 != 0}


def _extended_stores(opts: GenerateOptions) -> bool:
    """Stores carry ``external_ref`` and ``region`` when a feed that needs them is generated."""
    return any(feed in opts.feeds for feed in ("orders", "order_events", "customers"))


def reference_files(opts: GenerateOptions, out: Path, report: GenerationReport | None = None) -> list[Path]:
    stores, team = _legacy_reference_rows(opts)
    if _extended_stores(opts):
        refs = store_refs(opts)
        stores = [row + [refs.get(row[0], ""), REGIONS[(row[0] - 1) % len(REGIONS)]] for row in stores]
        stores_header = STORES_HEADER + STORES_EXTRA
    else:
        stores_header = STORES_HEADER
    products = [[i, name, f"SKU-{i:04d}", category, price, price, "2024-01-01", "2026-01-01", "2027-12-31"]
                for i, (name, category, price) in enumerate(PRODUCTS, start=1)]
    written = []
    for feed, header, rows in (("stores", stores_header, stores), ("products", PRODUCTS_HEADER, products),
                               ("sales_team", TEAM_HEADER, team)):
        if feed not in opts.feeds:
            continue
        key = f"{feed}/{feed}.csv"
        written.append(_write_csv(out / key, header, rows))
        if report is not None:
            report.add_file(feed, key, len(rows))
    return written


def _catalogue() -> list[tuple[int, str, str, str, Decimal]]:
    """(product id, name, sku, category, price) as products.csv holds them."""
    return [(i, name, f"SKU-{i:04d}", category, Decimal(price))
            for i, (name, category, price) in enumerate(PRODUCTS, start=1)]


# ----------------------------------------------------------------------------- customers

@dataclass(frozen=True)
class Customer:
    id: int
    first_name: str
    last_name: str
    city: str
    address: str
    pincode: str
    phone: str          # 10 digits
    region: str
    joining_date: date
    version: int = 0


class CustomerBase:
    """The customers every feed draws from: base records from a hash of (seed, id), plus changes."""

    def __init__(self, opts: GenerateOptions):
        self.opts = opts
        self.changed: dict[int, Customer] = {}
        self._spans: list[tuple[int, int]] | None = None
        self._pool: list[int] = []
        self._pool_day = -1

    def phone(self, customer_id: int, version: int) -> str:
        """Unique per customer: ``9...`` first, ``8...`` after a change (unknown phones use ``7...``)."""
        if version == 0:
            return f"9{(customer_id * 48271829 + self.opts.seed) % 10 ** 9:09d}"
        return f"8{(customer_id * 48271829 + self.opts.seed) % 10 ** 8:08d}{version % 10}"

    def base(self, customer_id: int) -> Customer:
        h = _mix(self.opts.seed, 101, customer_id)
        city, pincode, region = CITIES[h % len(CITIES)]
        return Customer(customer_id, FIRST_NAMES[(h >> 8) % len(FIRST_NAMES)],
                        LAST_NAMES[(h >> 16) % len(LAST_NAMES)], city,
                        f"{1 + (h >> 24) % 300} {STREETS[(h >> 34) % len(STREETS)]}, {city}", pincode,
                        self.phone(customer_id, 0), region,
                        self.opts.start - timedelta(days=30 + (h >> 44) % 2000))

    def current(self, customer_id: int) -> Customer:
        return self.changed.get(customer_id) or self.base(customer_id)

    def span(self, customer_id: int) -> tuple[int, int]:
        """The days ``[joins, leaves)`` (indexes from ``opts.start``) in which a non-regular customer shops:
        60% join during the first 80% of the period, 70% stop 14 days to half the period after joining
        (they churn)."""
        h = _mix(self.opts.seed, 303, customer_id)
        joins = (h >> 8) % max(1, int(self.opts.days * 0.8)) if h % 10 < 6 else 0
        leaves = joins + 14 + (h >> 32) % max(1, self.opts.days // 2) if (h >> 4) % 10 < 7 else 1 << 30
        return joins, leaves

    def shopper(self, rng: random.Random, index: int) -> int:
        """The customer of an order on day ``index`` from one draw: a regular (ids up to ``REGULAR_SHARE`` of
        the base, who never churn) for ``REGULAR_ORDERS`` of the orders, else a customer active that day."""
        u = rng.random()
        regulars = max(1, int(self.opts.customers * REGULAR_SHARE))
        if index != self._pool_day:
            if self._spans is None:
                self._spans = [self.span(c) for c in range(regulars + 1, self.opts.customers + 1)]
            self._pool = [regulars + 1 + k for k, (joins, leaves) in enumerate(self._spans) if joins <= index < leaves]
            self._pool_day = index
        pool = self._pool
        if u < REGULAR_ORDERS or not pool:
            return 1 + min(regulars - 1, int(u / REGULAR_ORDERS * regulars)) if u < REGULAR_ORDERS \
                else 1 + min(self.opts.customers - 1, int(u * self.opts.customers))
        return pool[min(len(pool) - 1, int((u - REGULAR_ORDERS) / (1 - REGULAR_ORDERS) * len(pool)))]

    def change(self, customer: Customer, rng: random.Random) -> Customer:
        """A new version: moved to another region, a new phone, or a new address in the same city."""
        version = customer.version + 1
        kind = rng.choice(("move", "phone", "address"))
        if kind == "move":
            city, pincode, region = rng.choice([c for c in CITIES if c[2] != customer.region])
            new = replace(customer, city=city, pincode=pincode, region=region, version=version,
                          address=f"{rng.randint(1, 300)} {rng.choice(STREETS)}, {city}")
        elif kind == "phone":
            new = replace(customer, phone=self.phone(customer.id, version), version=version)
        else:
            address = f"{rng.randint(1, 300)} {rng.choice(STREETS)}, {customer.city}"
            if address == customer.address:
                address = f"{rng.randint(301, 400)} {rng.choice(STREETS)}, {customer.city}"
            new = replace(customer, address=address, version=version)
        self.changed[customer.id] = new
        return new


def _distinct_ids(rng: random.Random, customers: int, count: int, taken: set[int]) -> list[int]:
    """``count`` customer ids not in ``taken`` (fewer when the base is too small)."""
    free = customers - len(taken)
    count = min(count, free)
    if count <= 0:
        return []
    if count * 4 > free:
        pool = [i for i in range(1, customers + 1) if i not in taken]
        return rng.sample(pool, count)
    chosen: list[int] = []
    while len(chosen) < count:
        candidate = rng.randint(1, customers)
        if candidate not in taken and candidate not in chosen:
            chosen.append(candidate)
    return chosen


class _CustomersFeed:
    """Day one: the whole base (CSV). Later days: a small delta, some as XLSX or with aliased headers."""

    def __init__(self, opts: GenerateOptions, out: Path, report: GenerationReport, people: CustomerBase):
        self.opts, self.out, self.report, self.people = opts, out, report, people
        self.rng = random.Random(opts.seed * 1000 + 4)
        self.bad = random.Random(opts.seed * 1000 + 14)

    @staticmethod
    def _row(c: Customer, aliased: bool, updated_at: str) -> list:
        names = [f"{c.first_name} {c.last_name}"] if aliased else [c.first_name, c.last_name]
        return [c.id, *names, c.address, c.pincode, c.phone, c.region, c.joining_date.isoformat(), updated_at]

    def write_day(self, index: int, day: date) -> list[Path]:
        opts, people = self.opts, self.people
        if index == 0:
            key = f"customers/{day.isoformat()}/customers_{day.isoformat()}.csv"
            with _csv_file(self.out / key, CUSTOMERS_HEADER) as writer:
                for customer_id in range(1, opts.customers + 1):
                    writer.writerow(self._row(people.current(customer_id), False, "")[:-1])
            self.report.add_file("customers", key, opts.customers)
            return [self.out / key]

        aliased, as_xlsx = index % 2 == 1, index % 3 == 2
        taken: set[int] = set()
        resend_ids = _distinct_ids(self.rng, opts.customers, max(1, round(opts.customers * 0.02)), taken)
        taken.update(resend_ids)
        rows: list[tuple[int, list, tuple[str, ...]]] = [
            (cid, self._row(people.current(cid), aliased, ""), ("unchanged_resends",)) for cid in resend_ids]
        if opts.defects:
            for cid in _distinct_ids(self.bad, opts.customers, _count(opts.customers, opts.defect_rate), taken):
                taken.add(cid)
                new = people.change(people.current(cid), self.bad)
                rows.append((cid, self._row(new, aliased, day.isoformat()), ("customer_changes",)))
            for cid in _distinct_ids(self.bad, opts.customers, 1, taken):
                taken.add(cid)
                current = people.current(cid)
                # Two rows with one customer_id: both are errors, so neither may carry a real change.
                rows.append((cid, self._row(current, aliased, ""), ("malformed_rows",)))
                other = replace(current, address=f"{current.address} (old)")
                rows.append((cid, self._row(other, aliased, ""), ("malformed_rows",)))
        rows.sort(key=lambda r: r[0])
        if opts.defects:                      # a record without its customer_id (an empty cell)
            anonymous = self._row(people.current(self.bad.randint(1, opts.customers)), aliased, "")
            anonymous[0] = None if as_xlsx else ""
            rows.insert(self.bad.randint(0, len(rows)), (0, anonymous, ("malformed_rows",)))
        header = (CUSTOMERS_ALIASED if aliased else CUSTOMERS_HEADER) + ["updated_at"]
        name = f"{day.isoformat()}/customers_{day.isoformat()}"
        if as_xlsx:
            key = f"customers/{name}.xlsx"
            stamp = datetime.combine(day, time(6, 0))
            _write_xlsx(self.out / key, "customers", [h.replace("_", " ").title() for h in header],
                        [row for _, row, _ in rows], stamp)
            self.report.mark("xlsx_files", key)
        else:
            key = f"customers/{name}.csv"
            _write_csv(self.out / key, header, [row for _, row, _ in rows])
        if aliased:
            self.report.mark("aliased_headers", key)
        for number, (_, _, tags) in enumerate(rows, start=1):
            for tag in tags:
                self.report.mark(tag, key, number)
        self.report.add_file("customers", key, len(rows))
        return [self.out / key]


# ----------------------------------------------------------------------------- sales (CSV)

class _SalesFeed:
    def __init__(self, opts: GenerateOptions, out: Path, report: GenerationReport):
        self.opts, self.out, self.report = opts, out, report
        self.rng = random.Random(opts.seed * 1000 + 1)     # the original generator's stream
        self.bad = random.Random(opts.seed * 1000 + 11)
        self.unknown_customers = 0
        self.file_defects: dict[str, set[int]] = {}
        if opts.defects:
            for kind in ("missing_column", "extra_columns", "duplicate_files"):
                self.file_defects[kind] = _pick(self.bad, opts.days, _count(opts.days, opts.defect_rate))

    def _sale(self, day: date) -> list:
        """One sale, drawn exactly as the original generator drew it."""
        opts, rng = self.opts, self.rng
        store = rng.randint(1, opts.stores)
        person = (store - 1) * opts.salespersons_per_store + rng.randint(1, opts.salespersons_per_store)
        name, _, price = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 4)
        return [rng.randint(1, opts.customers), store, name, day.isoformat(), person,
                price, quantity, f"{Decimal(price) * quantity:.2f}"]

    def _other_sale(self, day: date, customer_id: int | None = None, product: tuple[str, str] | None = None) -> list:
        opts, rng = self.opts, self.bad
        store = rng.randint(1, opts.stores)
        person = (store - 1) * opts.salespersons_per_store + rng.randint(1, opts.salespersons_per_store)
        if product is None:
            name, _, price = rng.choice(PRODUCTS)
        else:
            name, price = product
        quantity = rng.randint(1, 4)
        customer = customer_id if customer_id is not None else rng.randint(1, opts.customers)
        return [customer, store, name, day.isoformat(), person, price, quantity,
                f"{Decimal(price) * quantity:.2f}"]

    def _defect_row(self, kind: str, day: date) -> list:
        if kind == "unknown_customers":
            self.unknown_customers += 1
            return self._other_sale(day, customer_id=UNKNOWN_CUSTOMER_BASE + self.unknown_customers)
        if kind == "unknown_products":
            name, _, price = self.bad.choice(UNKNOWN_PRODUCTS)
            return self._other_sale(day, product=(name, price))
        row = self._other_sale(day)
        variant = self.bad.randrange(7)
        if variant == 0:
            row[6] = "two"                                        # quantity not a number
        elif variant == 1:
            row[3] = f"{day.year}-02-30"                          # no such date
        elif variant == 2:
            row[0] = ""                                           # customer_id missing
        elif variant == 3:
            row[7] = _money(Decimal(row[7]) + 5)                  # price * quantity != total_cost
        elif variant == 4:
            row[6], row[7] = 0, "0.00"                            # quantity <= 0
        elif variant == 5:
            row = row[:5]                                         # truncated line
        else:
            row[5], row[7] = f"-{row[5]}", f"-{row[7]}"           # negative price and total
        return row

    def write_day(self, index: int, day: date) -> list[Path]:
        opts, report = self.opts, self.report
        folder = f"sales/{day.isoformat()}"
        key = f"{folder}/sales_{day.isoformat()}.csv"
        n = opts.volume(opts.sales_per_day, day)
        injected = _injected_defects(opts, self.bad, n)
        total = n + len(injected)
        with _csv_file(self.out / key, SALES_HEADER) as writer:
            for position in range(total):
                kind = injected.get(position)
                if kind is None:
                    writer.writerow(self._sale(day))
                else:
                    writer.writerow(self._defect_row(kind, day))
                    report.mark(kind, key, position + 1)
        report.add_file("sales", key, total)
        if day in opts.drop_days:
            report.mark("sales_drop", key)
        written = [self.out / key]
        extra_rows = max(3, round(n * 0.1))
        if index in self.file_defects.get("missing_column", ()):
            dropped = self.bad.randrange(len(SALES_HEADER))
            side = f"{folder}/sales_{day.isoformat()}_b.csv"
            rows = [self._other_sale(day) for _ in range(extra_rows)]
            _write_csv(self.out / side, SALES_HEADER[:dropped] + SALES_HEADER[dropped + 1:],
                       [row[:dropped] + row[dropped + 1:] for row in rows])
            report.add_file("sales", side, extra_rows)
            report.mark("missing_column", side)
            written.append(self.out / side)
        if index in self.file_defects.get("extra_columns", ()):
            header = ["sale_id", *SALES_HEADER, "channel", "promo_code"]
            self.bad.shuffle(header)
            side = f"{folder}/sales_{day.isoformat()}_c.csv"
            rows = []
            for number in range(1, extra_rows + 1):
                values = dict(zip(SALES_HEADER, self._other_sale(day)))
                values.update(sale_id=f"S{day:%Y%m%d}C{number:05d}", channel=self.bad.choice(["till", "kiosk"]),
                              promo_code=self.bad.choice(["", "DIWALI10", "WINTER5"]))
                rows.append([values[column] for column in header])
            _write_csv(self.out / side, header, rows)
            report.add_file("sales", side, extra_rows)
            report.mark("extra_columns", side)
            written.append(self.out / side)
        if index in self.file_defects.get("duplicate_files", ()):
            copy = f"{folder}/sales_{day.isoformat()}_copy.csv"
            shutil.copyfile(self.out / key, self.out / copy)
            report.add_file("sales", copy, total)
            report.defects["duplicate_files"][copy] = key
            written.append(self.out / copy)
        return written


# ----------------------------------------------------------------------------- online orders (XML)

class _OrdersFeed:
    def __init__(self, opts: GenerateOptions, out: Path, report: GenerationReport, people: CustomerBase):
        self.opts, self.out, self.report, self.people = opts, out, report, people
        self.rng = random.Random(opts.seed * 1000 + 2)
        self.bad = random.Random(opts.seed * 1000 + 12)
        self.next_id = FIRST_ORDER_ID
        self.catalogue = _catalogue()
        self.clock = _Clock(86400, opts.seed * 1000 + 22)
        self.duplicate_days = (_pick(self.bad, opts.days, _count(opts.days, opts.defect_rate))
                               if opts.defects else set())

    def _order(self, rng: random.Random, at: datetime, phone: str | None = None,
               product: tuple[str, Decimal] | None = None, index: int | None = None,
               factor: float = 1.0) -> list[tuple[str, str]]:
        """One order; ``index`` (the day's) picks an active customer and ``factor`` scales the count."""
        if phone is None:
            customer = (rng.randint(1, self.opts.customers) if index is None else self.people.shopper(rng, index))
            phone = self.people.current(customer).phone
        style = rng.randrange(3)
        if product is None:
            _, _, sku, _, price = rng.choice(self.catalogue)
        else:
            sku, price = product
        count = rng.randint(1, 3) if factor == 1.0 else _scaled(rng.randint(1, 3), factor, rng)
        order_id = self.next_id
        self.next_id += 1
        return [("order_id", str(order_id)), ("mobile_number", format_phone(phone, style)),
                ("order_date_time", at.strftime("%Y-%m-%d %H:%M:%S")), ("sku_id", sku),
                ("sku_count", str(count)), ("total_amount", _money(price * count))]

    def _defect(self, kind: str, day_start: datetime) -> list[tuple[str, str]]:
        bad = self.bad
        at = day_start + timedelta(seconds=bad.randrange(86400))
        if kind == "unknown_customers":
            return self._order(bad, at, phone=f"7{bad.randrange(10 ** 9):09d}")
        if kind == "unknown_products":
            _, sku, price = bad.choice(UNKNOWN_PRODUCTS)
            return self._order(bad, at, product=(sku, Decimal(price)))
        elements = self._order(bad, at)
        variant = bad.randrange(5)
        if variant == 0:
            del elements[bad.randrange(len(elements))]            # a mandatory element missing
        elif variant == 1:
            elements[4] = ("sku_count", "two")
        elif variant == 2:
            elements[4] = ("sku_count", "0")
        elif variant == 3:
            elements[5] = ("total_amount", "-" + elements[5][1])
        else:
            elements[2] = ("order_date_time", f"{at:%Y-%m-%d} 25:61:00")
        return elements

    def write_day(self, index: int, day: date) -> list[Path]:
        opts, report = self.opts, self.report
        folder = f"orders/{day.isoformat()}"
        key = f"{folder}/orders_{day.isoformat()}.xml"
        n = opts.volume(opts.orders_per_day, day)
        injected = _injected_defects(opts, self.bad, n)
        day_start = datetime.combine(day, time(0))
        factor = day_factor(opts, day)
        times = self.clock.day(index, n)
        path = self.out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        normal = 0
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n')
            for position in range(n + len(injected)):
                kind = injected.get(position)
                if kind is None:
                    at = day_start + timedelta(seconds=int(times[normal]))
                    elements = self._order(self.rng, at, index=index, factor=factor)
                    normal += 1
                else:
                    elements = self._defect(kind, day_start)
                    report.mark(kind, key, position + 1)
                handle.write("  <order>\n")
                for tag, value in elements:
                    handle.write(f"    <{tag}>{escape(value)}</{tag}>\n")
                handle.write("  </order>\n")
            handle.write("</orders>\n")
        total = n + len(injected)
        report.add_file("orders", key, total)
        if day in opts.drop_days:
            report.mark("sales_drop", key)
        written = [path]
        if index in self.duplicate_days:
            copy = f"{folder}/orders_{day.isoformat()}_copy.xml"
            shutil.copyfile(path, self.out / copy)
            report.add_file("orders", copy, total)
            report.defects["duplicate_files"][copy] = key
            written.append(self.out / copy)
        return written


# ----------------------------------------------------------------------------- order events (JSONL)

def order_amounts(items: list[dict], discount: Decimal, delivery: Decimal, packaging: Decimal) -> dict:
    """Order totals that reconcile exactly; ``total`` is rounded to whole rupees, ``round_off`` the difference."""
    core = sum((Decimal(str(i["price"])) * i["quantity"] for i in items), Decimal(0))
    discount = min(discount, core)
    tax = ((core - discount) * TAX_RATE).quantize(CENT, ROUND_HALF_UP)
    raw = core + tax - discount + delivery + packaging
    total = raw.quantize(Decimal(1), ROUND_HALF_UP)
    return {"core": core, "tax": tax, "discount": discount, "delivery": delivery, "packaging": packaging,
            "total": total, "round_off": total - raw}


class _EventsFeed:
    SPAN = 86400 - 2 * 3600      # orders start by 22:00 so every event of a day stays in that day

    def __init__(self, opts: GenerateOptions, out: Path, report: GenerationReport, people: CustomerBase):
        self.opts, self.out, self.report, self.people = opts, out, report, people
        self.rng = random.Random(opts.seed * 1000 + 3)
        self.bad = random.Random(opts.seed * 1000 + 13)
        self.next_order = FIRST_EVENT_ORDER_ID
        self.next_stream = FIRST_STREAM_ID
        self.catalogue = _catalogue()
        self.by_id = {product[0]: product for product in self.catalogue}
        self.clock = _Clock(self.SPAN, opts.seed * 1000 + 23)
        self.index, self.factor = 0, 1.0
        stores, _ = _legacy_reference_rows(opts)
        refs = store_refs(opts)
        # (restID, name, address, contact): stores with an external_ref, and outlets no store matches.
        self.restaurants = [(refs[row[0]], f"Store {row[0]}", row[1], self._contact(refs[row[0]]))
                            for row in stores if row[0] in refs]
        outlets = random.Random(opts.seed * 1000 + 6)
        self.unmatched = []
        for k in range(1, 4):
            ref = "ck" + "".join(outlets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(8))
            if ref not in refs.values():
                self.unmatched.append((ref, f"Cloud Kitchen {k}", f"Unit {k}, Food Court", self._contact(ref)))

    def _contact(self, ref: str) -> str:
        return f"74{_mix(self.opts.seed, int(ref, 36)) % 10 ** 8:08d}"

    def _uuid(self, rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def _build(self, stream_id: int, event_id: str, occurred: datetime, order: dict, customer: dict,
               items: list[dict], restaurant: tuple[str, str, str], status: str) -> dict:
        amounts = order_amounts(items, order["discount"], order["delivery"], order["packaging"])
        line_items, remaining = [], amounts["discount"]
        for number, item in enumerate(items):
            line_total = Decimal(str(item["price"])) * item["quantity"]
            share = (remaining if number == len(items) - 1
                     else (amounts["discount"] * line_total / amounts["core"]).quantize(CENT))
            remaining -= share
            line_items.append({"itemid": item["itemid"], "name": item["name"], "itemcode": item["itemcode"],
                               "quantity": item["quantity"], "price": float(item["price"]),
                               "total": float(line_total),
                               "tax": float(((line_total - share) * TAX_RATE).quantize(CENT, ROUND_HALF_UP)),
                               "discount": float(share), "addon": item["addon"], "category_name": item["category"]})
        half = (amounts["tax"] / 2).quantize(CENT, ROUND_HALF_UP)
        oid = order["id"]
        return {
            "stream_id": stream_id, "event_id": event_id, "aggregate_type": "order", "aggregate_id": str(oid),
            "event_type": "orderdetails", "occurred_at": occurred.isoformat(timespec="microseconds"),
            "raw_event": {"source": order["source"], "raw_payload": {"event": "orderdetails", "properties": {
                "Order": {"orderID": oid, "total": float(amounts["total"]), "core_total": float(amounts["core"]),
                          "tax_total": float(amounts["tax"]), "discount_total": float(amounts["discount"]),
                          "delivery_charges": float(amounts["delivery"]),
                          "packaging_charge": float(amounts["packaging"]), "service_charge": 0,
                          "round_off": _money(amounts["round_off"]),
                          "created_on": order["created_on"], "order_type": order["order_type"],
                          "order_from": order["order_from"], "payment_type": order["payment_type"],
                          "status": status, "customer_invoice_id": str(oid)},
                "Customer": customer,
                "OrderItem": line_items,
                "Tax": [{"rate": 9.0, "type": "P", "title": "CGST@9", "amount": float(half)},
                        {"rate": 9.0, "type": "P", "title": "SGST@9", "amount": float(amounts["tax"] - half)}],
                "Discount": ([{"rate": 0.0, "type": "F", "title": "Special Discount",
                               "amount": float(amounts["discount"])}] if amounts["discount"] else []),
                "Restaurant": {"restID": restaurant[0], "res_name": restaurant[1], "address": restaurant[2],
                               "contact_information": restaurant[3]},
            }}},
        }

    def _item(self, product: tuple[int, str, str, str, Decimal], quantity: int, rng: random.Random) -> dict:
        pid, name, sku, category, price = product
        addon = ([{"addonid": str(53392800 + pid), "name": rng.choice(["Cup", "Cone"]), "price": 0,
                   "quantity": "1", "group_name": "Cuporcone"}] if rng.random() < 0.3 else [])
        return {"itemid": 1282571400 + pid, "name": name, "itemcode": sku, "category": category,
                "price": price, "quantity": quantity, "addon": addon}

    def _basket(self, rng: random.Random) -> list[tuple[int, str, str, str, Decimal]]:
        """The products of an order: ``PAIR_SHARE`` of the orders hold a planted pair (sometimes with one
        more product), the others ``BASKET_SIZES`` products drawn evenly."""
        if rng.random() < PAIR_SHARE:
            first, second = PLANTED_PAIRS[rng.randrange(len(PLANTED_PAIRS))]
            basket = [self.by_id[first], self.by_id[second]]
            if rng.random() < 0.3:
                extra = rng.choice(self.catalogue)
                if extra not in basket:
                    basket.append(extra)
            return basket
        return rng.sample(self.catalogue, min(len(self.catalogue), rng.choice(BASKET_SIZES)))

    def _order_events(self, start: datetime, flags: set[str]) -> list[tuple[datetime, str, tuple[str, ...]]]:
        """The lines of one order as (delivery time, JSON text, report tags), in no particular order."""
        rng, bad = self.rng, self.bad
        oid = self.next_order
        self.next_order += 1
        person = self.people.current(self.people.shopper(rng, self.index))
        style = rng.randrange(3)
        content_tags: list[str] = []
        if "unknown_customers" in flags:
            name = f"{bad.choice(FIRST_NAMES)} {bad.choice(LAST_NAMES)}"
            phone, address = format_phone(f"7{bad.randrange(10 ** 9):09d}", style), f"{bad.randint(1, 300)} Ring Road"
            content_tags.append("unknown_customers")
        else:
            name, phone, address = f"{person.first_name} {person.last_name}", format_phone(person.phone, style), \
                person.address
        if "empty_phones" in flags and "unknown_customers" not in flags:
            phone = ""
            content_tags.append("empty_phones")
        customer = {"name": name, "phone": phone, "address": address, "gstin": ""}
        if "unmatched_restaurants" in flags or not self.restaurants:
            restaurant = rng.choice(self.unmatched)
            content_tags.append("unmatched_restaurants")
        else:
            restaurant = rng.choice(self.restaurants)
        items = [self._item(p, _scaled(rng.randint(1, 3), self.factor, rng), rng) for p in self._basket(rng)]
        if "items_without_itemcode" in flags:
            items[0]["itemcode"] = ""
            items[0]["name"] = items[0]["name"].lower().replace("(", "").replace(")", "")
            content_tags.append("items_without_itemcode")
        if "unknown_products" in flags:          # one more line, for a product no catalogue knows
            uname, usku, uprice = bad.choice(UNKNOWN_PRODUCTS)
            items.append({"itemid": 1282579000 + int(usku[-4:]), "name": uname, "itemcode": usku,
                          "category": "Seasonal", "price": Decimal(uprice), "quantity": bad.randint(1, 2),
                          "addon": []})
            content_tags.append("unknown_products")
        order_type, _, platforms, payments = _weighted(rng, ORDER_MIX)
        order_from, payment_type = _weighted(rng, platforms)[0], _weighted(rng, payments)[0]
        core = sum((i["price"] * i["quantity"] for i in items), Decimal(0))
        order = {"id": oid, "source": order_from.lower() if order_from != "POS" else "pos",
                 "created_on": start.strftime("%Y-%m-%d %H:%M:%S"), "order_type": order_type,
                 "order_from": order_from, "payment_type": payment_type,
                 "discount": (core * Decimal("0.1")).quantize(Decimal(1)) if core >= 500 and rng.random() < 0.4
                 else Decimal(0),
                 "delivery": Decimal(rng.choice(["0", "30", "40"])) if order_type == "Delivery" else Decimal(0),
                 "packaging": Decimal(rng.choice(["0", "20", "40", "80"]))}

        versions = rng.choice((2, 3))
        statuses = ["Success"] * versions
        if "cancelled_orders" in flags:
            statuses[-1] = "Cancelled"
        lines: list[tuple[datetime, str, tuple[str, ...]]] = []
        occurred = start + timedelta(seconds=rng.randint(1, 30), microseconds=rng.randrange(1_000_000))
        event = {}
        for number, status in enumerate(statuses):
            if number:
                occurred += timedelta(seconds=rng.randint(30, 900), microseconds=rng.randrange(1_000_000))
                if status == "Success":          # a later version changes the basket
                    items = [dict(items[0], quantity=items[0]["quantity"] + 1), *items[1:]]
            event = self._build(self.next_stream, self._uuid(rng), occurred, order, customer, items,
                                restaurant, status)
            self.next_stream += 1
            tags = tuple(content_tags) + (("cancelled_orders",) if status == "Cancelled" else ())
            lines.append((occurred, json.dumps(event, ensure_ascii=False), tags))
        last = lines[-1][0]
        if "out_of_order_events" in flags:       # the first version arrives after the newest one
            _, text, tags = lines[0]
            lines[0] = (last + timedelta(seconds=bad.randint(5, 300)), text, tags + ("out_of_order_events",))
        if "duplicate_events" in flags:          # one version delivered twice, byte for byte
            _, text, tags = lines[bad.randrange(len(lines))]
            latest = max(at for at, _, _ in lines)
            lines.append((latest + timedelta(seconds=bad.randint(1, 1200)), text,
                          tuple(t for t in tags if t != "out_of_order_events") + ("duplicate_events",)))
        if "malformed_rows" in flags:            # an invalid newer version: the order keeps its last valid one
            broken = json.loads(json.dumps(event))
            broken["stream_id"] = self.next_stream
            self.next_stream += 1
            broken["event_id"] = self._uuid(bad)
            at = max(at for at, _, _ in lines) + timedelta(seconds=bad.randint(60, 1800))
            broken["occurred_at"] = at.isoformat(timespec="microseconds")
            props = broken["raw_event"]["raw_payload"]["properties"]
            variant = bad.randrange(4)
            text = None
            if variant == 0:
                text = json.dumps(broken, ensure_ascii=False)
                text = text[: len(text) // 2]                     # cut off mid-object
            elif variant == 1:
                del props["Order"]["orderID"]
            elif variant == 2:
                props["Order"]["total"] = float(Decimal(str(props["Order"]["total"])) + 25)
            else:
                props["OrderItem"][0]["quantity"] = 0
            lines.append((at, text if text is not None else json.dumps(broken, ensure_ascii=False),
                          ("malformed_rows",)))
        return lines

    def write_day(self, index: int, day: date) -> list[Path]:
        opts, report, rng = self.opts, self.report, self.rng
        key = f"order_events/{day.isoformat()}/events_{day.isoformat()}.jsonl"
        n = opts.volume(opts.events_orders_per_day, day)
        flags: dict[int, set[str]] = {}
        share = max(1, n // 10)
        for kind in ("empty_phones", "unmatched_restaurants", "items_without_itemcode"):
            for i in _pick(rng, n, share):
                flags.setdefault(i, set()).add(kind)
        if opts.defects:
            for kind in ("cancelled_orders", "duplicate_events", "out_of_order_events", "malformed_rows",
                         "unknown_customers", "unknown_products"):
                for i in _pick(self.bad, n, _count(n, opts.defect_rate)):
                    flags.setdefault(i, set()).add(kind)
        path = self.out / key
        path.parent.mkdir(parents=True, exist_ok=True)
        day_start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        self.index, self.factor = index, day_factor(opts, day)
        times = self.clock.day(index, n)
        pending: list[tuple[datetime, int, str, tuple[str, ...]]] = []
        sequence = line = 0
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            def deliver(until: datetime | None) -> None:
                nonlocal line
                while pending and (until is None or pending[0][0] <= until):
                    _, _, text, tags = heapq.heappop(pending)
                    line += 1
                    handle.write(text + "\n")
                    for tag in tags:
                        report.mark(tag, key, line)

            for i in range(n):
                start = day_start + timedelta(seconds=times[i])
                deliver(start)
                for at, text, tags in self._order_events(start.replace(microsecond=0), flags.get(i, set())):
                    sequence += 1
                    heapq.heappush(pending, (at, sequence, text, tags))
            deliver(None)
        report.add_file("order_events", key, line)
        if day in opts.drop_days:
            report.mark("sales_drop", key)
        return [path]


# ----------------------------------------------------------------------------- entry points

def sales_files(opts: GenerateOptions, out: Path) -> list[Path]:
    """Only the ``sales/`` files (kept for callers of the original module)."""
    feed = _SalesFeed(opts, out, GenerationReport(out, opts))
    return [p for index in range(opts.days) for p in feed.write_day(index, opts.start + timedelta(days=index))]


def generate(opts: GenerateOptions, out: Path, landing: ObjectStore | None = None,
             progress: bool = True) -> GenerationReport:
    """Write the files of ``opts.feeds`` under ``out`` (and upload each to ``landing`` when given).

    Returns the report, also written to ``out/_generation_report.json`` (never uploaded);
    ``report.paths`` are the local files in the order they were written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = GenerationReport(out, opts)
    people = CustomerBase(opts)

    def ship(paths: list[Path]) -> None:
        if landing is not None:
            for path in paths:
                landing.upload(path, path.relative_to(out).as_posix())

    ship(reference_files(opts, out, report))
    daily = []
    if "customers" in opts.feeds:       # first, so the day's orders see the day's customer changes
        daily.append(_CustomersFeed(opts, out, report, people))
    if "sales" in opts.feeds:
        daily.append(_SalesFeed(opts, out, report))
    if "orders" in opts.feeds:
        daily.append(_OrdersFeed(opts, out, report, people))
    if "order_events" in opts.feeds:
        daily.append(_EventsFeed(opts, out, report, people))
    for index in tqdm(range(opts.days), desc="generating", unit="day", disable=not progress, leave=False):
        day = opts.start + timedelta(days=index)
        for feed in daily:
            ship(feed.write_day(index, day))
    (out / REPORT_NAME).write_text(report.to_json(), encoding="utf-8")
    return report
