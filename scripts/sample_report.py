"""Build a sample daily Excel report from seeded, made-up silver data, without any service.

    .venv/bin/python scripts/sample_report.py [--date 2026-11-22] [--out .local/exports/sample] [--max-rows N]

Silver frames (transactions over ~5 months, 60 customers in 5 regions, some merged by phone,
cancelled POS orders, anonymous online orders, three stores with salespeople, and a sales drop
in the last week) are generated in memory from a fixed seed; gold comes from the same
registry the pipeline uses (``etl.gold.marts.build_all``); ``etl.export.report.build_report``
writes the workbook. Used for docs/images/daily_report_summary.png (``make report-png``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

FIRST = ["Asha", "Ben", "Cara", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivan", "Jun", "Kai", "Lena",
         "Milo", "Nia", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Tom"]
LAST = ["Rao", "Ng", "Diaz", "Shah", "Kaya", "Ali", "Berg", "Mori", "Petrov", "Li", "Lee", "Vogel"]
REGIONS = ["North", "South", "East", "West", "Central"]
CHANNELS = ["store", "online", "pos"]
ORDER_TYPES = ["Dine In", "Dine In", "Delivery", "Delivery", "Pick Up"]
PRODUCTS = [("Vanilla Cone", "Classics"), ("Chocolate Fudge Cup", "Classics"), ("Mango Kulfi", "Kulfi"),
            ("Pista Kulfi", "Kulfi"), ("Berry Sorbet", "Sorbets"), ("Lemon Sorbet", "Sorbets"),
            ("Brownie Sundae", "Sundaes"), ("Caramel Sundae", "Sundaes")]


def silver_rows(run_date: date, seed: int = 7):
    from etl.contracts.silver import BEGINNING_OF_TIME, END_OF_TIME

    rnd = random.Random(seed)
    customers, id_map = [], []
    for cid in range(1, 61):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        region = REGIONS[min(len(REGIONS) - 1, int(rnd.random() ** 1.6 * len(REGIONS)))]
        joined = run_date - timedelta(days=rnd.randint(160, 900))
        row = [cid, first, last, f"{rnd.randint(1, 250)} {rnd.choice(['High', 'Mill', 'Park', 'Lake'])} Street",
               f"{rnd.randint(100000, 999999)}", f"9{rnd.randint(100000000, 999999999)}", region, joined,
               BEGINNING_OF_TIME, END_OF_TIME, True]
        if cid % 17 == 0:        # moved to another region 40 days ago: two versions
            moved = run_date - timedelta(days=40)
            customers.append(tuple(row[:8] + [BEGINNING_OF_TIME, moved, False]))
            row[6] = REGIONS[(REGIONS.index(region) + 1) % len(REGIONS)]
            row[8] = moved
        customers.append(tuple(row))
        id_map.append((cid, cid))
        if cid % 11 == 0:        # a duplicate delivered id sharing this customer's phone
            id_map.append((1000 + cid, cid))

    weights = [1 / (1 + i % 23) for i in range(60)]
    transactions, lines, number = [], [], 0
    start = run_date - timedelta(days=150)
    day = start
    while day <= run_date:
        volume = 14 + (6 if day.weekday() >= 5 else 0) + rnd.randint(-3, 3)
        if (run_date - day).days < 6:          # the last days slump: the sales-drop alert fires on D
            volume = max(1, volume // 5)
        for _ in range(volume):
            number += 1
            channel = rnd.choice(CHANNELS)
            customer = None if channel == "online" and rnd.random() < 0.15 else rnd.choices(range(1, 61), weights)[0]
            amount = Decimal(rnd.randint(500, 40000)) / 100
            units = rnd.randint(1, 6)
            cancelled = channel == "pos" and rnd.random() < 0.08
            store = rnd.randint(1, 3) if channel != "online" else None
            person = (store * 10 + rnd.randint(1, 3)) if channel == "store" else None
            ts = None if channel == "store" else datetime(day.year, day.month, day.day, rnd.randint(8, 21),
                                                          rnd.randint(0, 59), rnd.randint(0, 59))
            warnings = ["unknown_product"] if rnd.random() < 0.03 else []
            order_type = rnd.choice(ORDER_TYPES) if channel == "pos" else None
            order_from = (rnd.choice(["Zomato", "Swiggy"]) if order_type == "Delivery" else "POS") if order_type else None
            payment = rnd.choice(["Online", "Cash", "Card"]) if channel == "pos" else None
            tid = f"{channel[0].upper()}{number:06d}"
            transactions.append((channel, tid, customer, store, person, day, ts,
                                 amount, units, "Cancelled" if cancelled else "Success", not cancelled, warnings,
                                 None, None, None, order_type, order_from, payment))
            # Lines: a planted pair (1 and 2) on a third of the POS orders, one to three products otherwise.
            products = rnd.sample(range(1, len(PRODUCTS) + 1), rnd.randint(1, 3 if channel == "pos" else 1))
            if channel == "pos" and rnd.random() < 0.33:
                products = sorted({1, 2, *products[:1]})
            share = (amount / len(products)).quantize(Decimal("0.01"))
            for position, product in enumerate(products, start=1):
                line_amount = amount - share * (len(products) - 1) if position == 1 else share
                lines.append((channel, tid, position, day, customer, store, product, PRODUCTS[product - 1][0], None,
                              "name", 1, None, line_amount, not cancelled, None, None, None))
        day += timedelta(days=1)
    team = [(s * 10 + p, rnd.choice(FIRST), rnd.choice(LAST)) for s in (1, 2, 3) for p in (1, 2, 3)]
    return transactions, lines, customers, id_map, team


def build(run_date: date, out: Path, max_rows: int) -> Path:
    from etl.config import load_config
    from etl.contracts.silver import CUSTOMER_ID_MAP, DIM_CUSTOMER, SALES_LINES, TRANSACTIONS
    from etl.export.report import build_report
    from etl.gold.marts import build_all
    from etl.spark import build_session

    cfg = load_config("local", environ={"ETL__SPARK__SHUFFLE_PARTITIONS": "2", "ETL__SPARK__MASTER": "local[2]"})
    spark = build_session(cfg)
    try:
        transactions, lines, customers, id_map, team = silver_rows(run_date)
        silver = {
            "transactions": spark.createDataFrame(transactions, TRANSACTIONS),
            "dim_customer": spark.createDataFrame(customers, DIM_CUSTOMER),
            "customer_id_map": spark.createDataFrame(id_map, CUSTOMER_ID_MAP),
        }
        catalogue = [(number, name, f"SKU-{number:04d}", category)
                     for number, (name, category) in enumerate(PRODUCTS, start=1)]
        inputs = {**silver, "sales_lines": spark.createDataFrame(lines, SALES_LINES),
                  "sales_team": spark.createDataFrame(team, "id int, first_name string, last_name string"),
                  "products": spark.createDataFrame(catalogue, "id int, name string, sku_id string, category string")}
        gold = {name: spark.createDataFrame(frame.collect(), frame.schema)
                for name, frame in build_all(inputs, run_date).items()}
        lake = {"silver": silver, "gold": gold}
        result = build_report(spark, lambda layer, name: lake[layer][name], run_date, out, max_rows)
    finally:
        spark.stop()
    print(f"{result.path}")
    for sheet, rows in result.row_counts.items():
        print(f"  {sheet:<32} {rows} row(s)")
    return result.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 22))
    parser.add_argument("--out", type=Path, default=ROOT / ".local" / "exports" / "sample")
    parser.add_argument("--max-rows", type=int, default=1_048_576)
    args = parser.parse_args()
    build(args.date, args.out, args.max_rows)


if __name__ == "__main__":
    main()
