"""Copy the pipeline's gold marts out of the lake for the peer comparison: one Parquet file per mart.

    python benchmarks/gold_snapshot.py --out DIR [[LABEL:]TABLE[@VERSION] ...]

Each item writes ``DIR/[LABEL/]TABLE.parquet``, the table as of Delta version ``VERSION``
(default: the latest), so one process reads what several runs wrote.

Runs with the same profile and ``ETL__...`` environment as the ``etl run`` it checks, and
reads the Delta tables through Spark (the lake may be on MinIO over s3a). The marts are
small (one row per customer-month and per salesperson-month), so they pass through the
driver; the large tables never do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MARTS = ("customers_data_mart", "sales_team_data_mart")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("items", nargs="*", default=list(MARTS), metavar="[LABEL:]TABLE[@VERSION]")
    args = parser.parse_args(argv)

    from etl.config import load_config
    from etl.lake import table_uri
    from etl.secrets import SecretStore
    from etl.spark import build_session

    cfg = load_config()
    secrets = SecretStore(cfg.secrets_file) if cfg.storage.s3 is not None else None
    spark = build_session(cfg, secrets.get if secrets else None)
    args.out.mkdir(parents=True, exist_ok=True)
    for item in args.items:
        label, _, rest = item.rpartition(":")
        table, _, version = rest.partition("@")
        reader = spark.read.format("delta")
        if version and version != "None":
            reader = reader.option("versionAsOf", int(version))
        frame = reader.load(table_uri(cfg, "gold", table)).toPandas()
        folder = args.out / label if label else args.out
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / f"{table}.parquet", index=False)
        print(f"{item}: {len(frame)} row(s)")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
