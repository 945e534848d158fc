"""The driver JVM's class-data archive (JDK AppCDS): Spark's, Delta's and Hadoop's classes parsed and
verified once, at set-up, and mapped from a file by every later driver instead of loaded again.

A cold driver spends seconds loading and verifying the ~15,000 classes a run touches before it computes
anything; a run of this pipeline is one such driver. ``make setup`` runs ``python -m etl.class_archive``:
a small workload of the pipeline's kinds of work (CSV, JSON Lines and XML reads with explicit schemas,
Delta creates, appends, MERGEs, date-range replaces, history, window functions, joins, an Arrow transfer)
in a driver started with ``-XX:ArchiveClassesAtExit``; the JVM writes the archive as it exits. A session
started by ``etl.spark.build_session`` then adds ``-XX:SharedArchiveFile`` to the driver's Java options
when that file is there. Measured in docs/benchmarks.md ("The class-data archive").

Written here because no library does it: the JDK provides the mechanism, and nothing in Spark or PySpark
builds or uses an archive. What it may not do:

* change what is computed: it holds parsed classes, not data or code of the project;
* fail a run: a missing archive is no option at all, and one the JVM cannot use (another JDK build, jars
  changed since) is ignored by the JVM itself (``-Xshare:auto``, its messages off), so the run only
  loads its classes as before; ``make setup`` builds it again when the jar manifest changes;
* reach a JVM it was not meant for: only a driver this module's caller starts (a session from Python,
  not yet running) gets the option; spark-submit's own drivers and executors are left as they are.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from etl.jars import JAR_DIR

ARCHIVE = Path(os.environ.get("ETL_CLASS_ARCHIVE", JAR_DIR / "driver-classes.jsa"))
DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
# Use the archive if the JVM can (auto: otherwise load classes as usual) and say nothing about it: a
# mismatch is the JVM's business, and its warnings would go to the job's standard output.
USE_FLAGS = ("-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-Xlog:class+path=off")


def use_options(archive: Path = ARCHIVE) -> str:
    """The Java options that map ``archive``; empty when there is none (never built, or removed)."""
    if not archive.is_file():
        return ""
    return " ".join([f"-XX:SharedArchiveFile={archive}", *USE_FLAGS])


def with_archive(conf: dict[str, str], options: str) -> dict[str, str]:
    """``conf`` with ``options`` before the driver's other Java options: of two values of one flag the
    JVM takes the last, so an archive (or ``-Xshare``) given there wins over this one."""
    if not options:
        return conf
    given = conf.get(DRIVER_OPTIONS, "").strip()
    return {**conf, DRIVER_OPTIONS: f"{options} {given}".strip()}


def _workload(folder: Path) -> None:
    """The pipeline's kinds of work on a few rows, in this process's (new) driver."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from etl.config import load_config
    from etl.spark import build_session

    cfg = load_config("local", environ={**os.environ, "ETL__STORAGE__LAKE": str(folder / "lake"),
                                        "ETL__STORAGE__LANDING": str(folder / "landing"),
                                        "ETL__STORAGE__EXPORTS": str(folder / "exports")})
    spark = build_session(cfg)
    landing = folder / "landing"
    landing.mkdir(parents=True)
    (landing / "sales.csv").write_text("sale_id,day,store,amount\n" + "".join(
        f"s{i},2026-11-{1 + i % 28:02d},st{i % 3},{i}.25\n" for i in range(200)), encoding="utf-8")
    (landing / "events.jsonl").write_text("".join(json.dumps(
        {"id": f"e{i}", "at": "2026-11-02T10:00:00Z", "items": [{"sku": f"k{i % 7}", "qty": i % 4}]}) + "\n"
        for i in range(200)), encoding="utf-8")
    (landing / "orders.xml").write_text("<orders>" + "".join(
        f"<order><id>o{i}</id><total>{i}.5</total></order>" for i in range(200)) + "</orders>", encoding="utf-8")

    sales = (spark.read.schema("sale_id string, day string, store string, amount string")
             .option("header", "true").option("mode", "PERMISSIVE").csv(str(landing / "sales.csv"))
             .select("*", F.col("_metadata.file_path").alias("file"))
             .withColumn("day", F.to_date("day")).withColumn("amount", F.col("amount").cast("decimal(18,2)")))
    events = spark.read.schema("id string, at timestamp, items array<struct<sku:string,qty:int>>").json(
        str(landing / "events.jsonl")).select("id", "at", F.explode_outer("items").alias("item"))
    orders = spark.read.format("xml").option("rowTag", "order").schema("id string, total string").load(
        str(landing / "orders.xml"))

    window = Window.partitionBy("store").orderBy(F.col("day").desc(), "sale_id")
    ranked = (sales.withColumn("rank", F.row_number().over(window))
              .withColumn("running", F.sum("amount").over(window.rowsBetween(Window.unboundedPreceding, 0)))
              .withColumn("before", F.lag("amount").over(window)))
    daily = ranked.groupBy("day", "store").agg(F.sum("amount").alias("revenue"), F.countDistinct("sale_id").alias("sales"))
    lake = str(folder / "lake" / "t")
    daily.write.format("delta").partitionBy("day").save(lake)
    daily.write.format("delta").mode("append").save(lake)
    (daily.where("day >= '2026-11-20'").write.format("delta").mode("overwrite")
     .option("replaceWhere", "day >= '2026-11-20'").save(lake))
    table = DeltaTable.forPath(spark, lake)
    (table.alias("t").merge(daily.alias("s"), "t.day = s.day AND t.store = s.store")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    table.history().collect()
    table.toDF().join(F.broadcast(ranked.select("store").distinct()), "store", "left_semi").count()
    events.groupBy("item.sku").agg(F.sum("item.qty")).join(orders, F.col("sku") == F.col("id"), "full").count()
    ranked.toArrow()
    spark.stop()


def build(archive: Path = ARCHIVE) -> Path:
    """Run ``_workload`` in a new Python process whose driver writes the archive at exit; replace the
    archive only once the new one is complete (a driver mapping the old file keeps it)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="class-archive-") as folder:
        options = f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds=off -Xlog:cds+dynamic=off"
        env = {**os.environ, "ETL__SPARK__CONF": json.dumps({DRIVER_OPTIONS: options}),
               "ETL_CLASS_ARCHIVE": str(partial)}          # not the one being written
        done = subprocess.run([sys.executable, "-m", "etl.class_archive", "--workload", folder], env=env,
                              capture_output=True, text=True)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"class-data archive not built (the runs load their classes as before): {tail}")
    partial.replace(archive)
    return archive


def main(argv: list[str]) -> int:
    if argv[:1] == ["--workload"]:
        _workload(Path(argv[1]))
        return 0
    path = build()
    print(f"class-data archive: {path} ({path.stat().st_size // 2**20} MiB); drivers started from Python map "
          f"it with {shlex.quote(use_options(path).split()[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
