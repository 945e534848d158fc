"""Sample data: a few days of ``sales/`` CSV files and the reference files, from a seed.

The same seed and arguments give byte-identical files, so tests and demos can
state exact expectations. Files are written to a local folder and, when a
landing store is given, uploaded there (``sales/<date>/sales_<date>.csv``).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from tqdm import tqdm

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


@dataclass(frozen=True)
class GenerateOptions:
    start: date
    days: int = 3
    stores: int = 3
    salespersons_per_store: int = 3
    customers: int = 50
    sales_per_day: int = 40
    seed: int = 7


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def reference_files(opts: GenerateOptions, out: Path) -> list[Path]:
    rng = random.Random(opts.seed)
    stores = [[i, f"{rng.randint(1, 200)} MG Road, Block {chr(64 + i)}", f"1100{i:02d}",
               f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", "2020-01-15", f"{rng.randint(30, 50) / 10}"]
              for i in range(1, opts.stores + 1)]
    products = [[i, name, f"SKU-{i:04d}", category, price, price, "2024-01-01", "2026-01-01", "2027-12-31"]
                for i, (name, category, price) in enumerate(PRODUCTS, start=1)]
    team = []
    for store in range(1, opts.stores + 1):
        for k in range(opts.salespersons_per_store):
            person = (store - 1) * opts.salespersons_per_store + k + 1
            team.append([person, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES),
                         (store - 1) * opts.salespersons_per_store + 1, "Y" if k == 0 else "N",
                         f"{rng.randint(1, 99)} Park Street", f"1100{store:02d}", "2021-04-01"])
    return [
        _write_csv(out / "stores" / "stores.csv", ["id", "address", "store_pincode", "store_manager_name",
                                                   "store_opening_date", "reviews"], stores),
        _write_csv(out / "products" / "products.csv", ["id", "name", "sku_id", "category", "current_price",
                                                       "old_price", "created_date", "updated_date", "expiry_date"],
                   products),
        _write_csv(out / "sales_team" / "sales_team.csv", ["id", "first_name", "last_name", "manager_id",
                                                           "is_manager", "address", "pincode", "joining_date"], team),
    ]


def sales_files(opts: GenerateOptions, out: Path) -> list[Path]:
    rng = random.Random(opts.seed * 1000 + 1)
    paths = []
    for offset in range(opts.days):
        day = opts.start + timedelta(days=offset)
        rows = []
        for _ in range(opts.sales_per_day):
            store = rng.randint(1, opts.stores)
            person = (store - 1) * opts.salespersons_per_store + rng.randint(1, opts.salespersons_per_store)
            name, _, price = rng.choice(PRODUCTS)
            quantity = rng.randint(1, 4)
            rows.append([rng.randint(1, opts.customers), store, name, day.isoformat(), person,
                         price, quantity, f"{Decimal(price) * quantity:.2f}"])
        paths.append(_write_csv(out / "sales" / day.isoformat() / f"sales_{day.isoformat()}.csv",
                                SALES_HEADER, rows))
    return paths


def generate(opts: GenerateOptions, out: Path, landing: ObjectStore | None = None) -> list[Path]:
    """Write the files under ``out``; upload them to ``landing`` when given. Returns the local paths."""
    paths = reference_files(opts, out) + sales_files(opts, out)
    if landing is not None:
        for path in tqdm(paths, desc="uploading to landing", unit="file", leave=False):
            landing.upload(path, str(path.relative_to(out)))
    return paths
