"""Benchmark: ingest one very large CSV, and a folder of many small files, through the real stage.

    .venv/bin/python benchmarks/ingest_scale.py big  --size-gb 2      [--profile dev]
    .venv/bin/python benchmarks/ingest_scale.py many --files 10000    [--profile dev]

The data is written to a temporary folder, uploaded to a fresh landing prefix
(``bench-<scenario>-<time>``) and ingested by ``etl run --stages ingest`` in its
own process, exactly as the scheduler runs it. The script samples the resident
memory of that process tree (the Python driver and its JVM) every 0.2 s from
``/proc`` and prints one JSON line: wall time, rows and files ingested, peak
RSS of each process. Figures are recorded in docs/benchmarks.md.

``--driver-memory`` (default 1g) caps the JVM heap: a 2 GB file ingested under
a 1 GB heap shows the data streams through Spark and is never held whole.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import PeakRss  # noqa: E402

HEADER = "sale_id,customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost\n"
PRODUCTS = [("Strawberry Cone", "90.00"), ("Vanilla Cup", "60.00"), ("Mango Kulfi", "45.00"),
            ("Chocolate Brownie Sundae", "210.00")]


def sales_lines(count: int, seed: int, start_id: int = 0) -> str:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        name, price = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 5)
        day = date(2026, 1, 1) + timedelta(days=rng.randint(0, 320))
        total = f"{float(price) * quantity:.2f}"
        lines.append(f"B-{seed}-{start_id + i},{rng.randint(1, 5000)},{rng.randint(1, 20)},{name},{day},"
                     f"{rng.randint(1, 200)},{price},{quantity},{total}\n")
    return "".join(lines)


def write_big(folder: Path, size_bytes: int) -> tuple[Path, int]:
    """One CSV of ``size_bytes``: a 100,000-row block repeated (ids stay unique), streamed to disk."""
    path = folder / "sales_big.csv"
    rows = 0
    block_rows = 100_000
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        written = len(HEADER)
        block = 0
        while written < size_bytes:
            text = sales_lines(block_rows, seed=1, start_id=0).replace("B-1-", f"B-{block}-")
            out.write(text)
            written += len(text)
            rows += block_rows
            block += 1
    return path, rows


def write_many(folder: Path, files: int, rows_per_file: int) -> tuple[list[Path], int]:
    paths = []
    for i in range(files):
        path = folder / f"part-{i:05d}.csv"
        path.write_text(HEADER + sales_lines(rows_per_file, seed=i))
        paths.append(path)
    return paths, files * rows_per_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("scenario", choices=["big", "many"])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rows-per-file", type=int, default=20)
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--driver-memory", default="1g")
    args = parser.parse_args()

    from etl.config import load_config
    from etl.run.run import Run
    from etl.storage import store_for

    stamp = time.strftime("%Y%m%dT%H%M%S")
    prefix = f"bench-{args.scenario}-{stamp}"
    cfg = load_config(args.profile)
    remote = cfg.storage.landing.startswith("s3a://")
    roots = {area: (f"{getattr(cfg.storage, area).rstrip('/')}/{prefix}" if remote
                    else str(cfg.path(f".local/{prefix}/{area}"))) for area in ("landing", "lake", "exports")}
    env = {**os.environ, "ETL_PROFILE": args.profile, "ETL__SPARK__DRIVER_MEMORY": args.driver_memory,
           **{f"ETL__STORAGE__{area.upper()}": root for area, root in roots.items()}}
    landing = store_for(load_config(args.profile, environ=env), roots["landing"], Run(cfg, date.today()).secret)

    with tempfile.TemporaryDirectory(prefix="etl-bench-") as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        if args.scenario == "big":
            path, rows = write_big(folder, int(args.size_gb * 1024 ** 3))
            paths = [path]
            keys = ["sales/big/sales_big.csv"]
        else:
            paths, rows = write_many(folder, args.files, args.rows_per_file)
            keys = [f"sales/many/{p.name}" for p in paths]
        size = sum(p.stat().st_size for p in paths)
        generated_s = time.monotonic() - started
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda pk: landing.upload(*pk), zip(paths, keys)))
        upload_s = time.monotonic() - started

    command = [str(ROOT / ".venv/bin/etl"), "run", "--date", "2026-11-22", "--stages", "ingest"]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(process.pid) as rss:
        out, err = process.communicate()
    ingest_s = time.monotonic() - started
    summary = next((line for line in out.splitlines() if line.startswith("  bronze sales ")), "")
    result = {
        "scenario": args.scenario, "profile": args.profile, "landing": roots["landing"],
        "files": len(keys), "bytes": size, "rows_generated": rows, "driver_memory": args.driver_memory,
        "generate_s": round(generated_s, 1), "upload_s": round(upload_s, 1), "ingest_s": round(ingest_s, 1),
        "exit_code": process.returncode, "summary": summary.strip(),
        "peak_rss_mib": {name: round(kib / 1024) for name, kib in sorted(rss.peak.items())},
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    if process.returncode != 0:
        print(err[-4000:], file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
