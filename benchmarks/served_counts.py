"""Rows of gold tables in the lake (Delta, latest version) and in MySQL, for the order-analytics benchmark.

    python benchmarks/served_counts.py TABLE [TABLE ...]

Prints one JSON object, ``{"gold": {table: rows}, "mysql": {table: rows}}``. Runs with the
same profile and ``ETL__...`` environment as the ``etl run`` it checks (the lake may be on MinIO
over s3a); MySQL is read through the pipeline's own JDBC connection (etl/export/mysql.py), so it
counts what the export's reader sees: the live served table (a snapshot table's rows are those of
the run date the export loaded). ``mysql`` is absent when the profile does not enable MySQL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    tables = list(sys.argv[1:] if argv is None else argv)
    from etl.config import load_config
    from etl.export.mysql import Connection, live_counts, target_for
    from etl.lake import table_uri
    from etl.secrets import SecretStore
    from etl.spark import build_session

    cfg = load_config()
    secrets = SecretStore(cfg.secrets_file)
    spark = build_session(cfg, secrets.get if cfg.storage.s3 is not None else None)
    out: dict = {"gold": {t: spark.read.format("delta").load(table_uri(cfg, "gold", t)).count() for t in tables}}
    if cfg.mysql.enabled:
        with Connection(spark, target_for(cfg, secrets.get)) as conn:
            out["mysql"] = live_counts(conn, tables)
    spark.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
