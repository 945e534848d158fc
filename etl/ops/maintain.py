"""``etl maintain``: compact every Delta table of the lake, then vacuum what time travel no longer needs.

Daily runs append and MERGE small commits, so tables collect many small files and
every read lists and opens them all. ``OPTIMIZE`` rewrites the live small files into
few large ones (a new table version with the same rows); ``VACUUM`` then deletes
the files no version younger than the retention refers to. The retention is
``ops.time_travel_days``: time travel (``versionAsOf`` / ``RESTORE``) keeps working
for that many days, older versions lose their data files.

The tables are found by listing ``<lake>/<layer>/*/_delta_log`` (one directory
listing per layer, cheap on S3), so a table added later is maintained without
touching this module. ``etl maintain`` holds the run lock (``etl/ops/lock.py``)
throughout: OPTIMIZE and VACUUM commit to the same tables as a run, and Delta on S3
is safe with one writer per table only. Figures come from Delta itself: ``DESCRIBE DETAIL``
(numFiles, sizeInBytes of the current version) before and after, and the metrics
VACUUM writes to the table history (files and bytes deleted).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from etl import catalog
from etl.config import Config
from etl.lake import LAYERS, table_uri
from etl.ops.lock import RunLock
from etl.storage import spark_uri

log = logging.getLogger(__name__)

DELTA_MIN_RETENTION_HOURS = 168          # Delta's retentionDurationCheck refuses less unless turned off
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# VACUUM repartitions its file listing into this many tasks (Spark's default: 10000): ops.vacuum_parallelism.
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


@dataclass(frozen=True)
class Footprint:
    """A table version's live data files: how many and their total size."""

    files: int
    bytes: int


@dataclass(frozen=True)
class TableMaintenance:
    name: str                    # <layer>/<table>
    uri: str
    before: Footprint
    after: Footprint
    vacuumed_files: int = 0      # physically deleted: unreferenced for longer than the retention
    vacuumed_bytes: int = 0
    error: str | None = None


@dataclass
class MaintenanceReport:
    lake: str
    retention_hours: float
    tables: list[TableMaintenance] = field(default_factory=list)

    @property
    def failed(self) -> list[TableMaintenance]:
        return [t for t in self.tables if t.error]

    def totals(self) -> TableMaintenance:
        done = [t for t in self.tables if not t.error]
        return TableMaintenance(
            f"total ({len(done)} table(s))", self.lake,
            Footprint(sum(t.before.files for t in done), sum(t.before.bytes for t in done)),
            Footprint(sum(t.after.files for t in done), sum(t.after.bytes for t in done)),
            sum(t.vacuumed_files for t in done), sum(t.vacuumed_bytes for t in done))

    def lines(self) -> list[str]:
        """The report as an aligned table, one row per table and a totals row."""
        days = self.retention_hours / 24
        out = [f"maintenance of {self.lake}: OPTIMIZE, then VACUUM keeping {self.retention_hours:g} h "
               f"({days:g} day(s)) of time travel"]
        header = ("table", "files before", "files after", "bytes before", "bytes after",
                  "vacuumed files", "vacuumed bytes")
        rows = [(t.name, f"{t.before.files:,}", f"{t.after.files:,}", f"{t.before.bytes:,}",
                 f"{t.after.bytes:,}", f"{t.vacuumed_files:,}", f"{t.vacuumed_bytes:,}")
                for t in [*(t for t in self.tables if not t.error), self.totals()]]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def fmt(row):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

        out.append(fmt(header))
        out.extend(fmt(row) for row in rows[:-1])
        out.append("  ".join("-" * w for w in widths))
        out.append(fmt(rows[-1]))
        out.extend(f"FAILED {t.name}: {t.error}" for t in self.failed)
        return out


def retention_hours(cfg: Config) -> float:
    return cfg.ops.time_travel_days * 24


def discover_tables(spark: SparkSession, cfg: Config) -> list[tuple[str, str]]:
    """(``<layer>/<table>``, uri) of every Delta table under the lake, layer by layer, by name."""
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    Path = jvm.org.apache.hadoop.fs.Path
    found = []
    for layer in LAYERS:
        folder = Path(spark_uri(cfg, cfg.storage.lake, layer))
        fs = folder.getFileSystem(hadoop)
        if not fs.exists(folder):
            continue
        names = sorted(status.getPath().getName() for status in fs.listStatus(folder)
                       if status.isDirectory() and fs.exists(Path(status.getPath(), "_delta_log")))
        found.extend((f"{layer}/{name}", table_uri(cfg, layer, name)) for name in names)
    return found


def footprint(spark: SparkSession, uri: str) -> Footprint:
    row = DeltaTable.forPath(spark, uri).detail().select("numFiles", "sizeInBytes").first()
    return Footprint(int(row["numFiles"] or 0), int(row["sizeInBytes"] or 0))


@contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session settings for the block, then put back what was there."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _vacuum_figures(table: DeltaTable) -> tuple[int, int]:
    """Files and bytes the last VACUUM deleted, from the VACUUM START/END entries it logs to the history."""
    files = size = 0
    for entry in table.history(2).select("operation", "operationMetrics").collect():   # two rows
        metrics = entry["operationMetrics"] or {}
        if entry["operation"] == "VACUUM END":
            files = int(metrics.get("numDeletedFiles", 0))
        elif entry["operation"] == "VACUUM START":
            size = int(metrics.get("sizeOfDataToDelete", 0))
    return files, size


def clustering(name: str) -> tuple[str, ...]:
    """The columns the catalogue clusters ``<layer>/<table>`` by (its ``layout``); () for other tables."""
    try:
        return catalog.table(*name.split("/", 1)).layout
    except KeyError:         # a table the catalogue does not know (an older release's): compacted only
        return ()


def maintain_table(spark: SparkSession, name: str, uri: str, hours: float) -> TableMaintenance:
    """OPTIMIZE then VACUUM one table; the rows and every version younger than ``hours`` stay readable.

    A table the catalogue clusters by date (silver's conformed tables) is Z-ordered by it: its files,
    small daily appends and MERGE rewrites alike, are rewritten into files of contiguous date ranges,
    so date-window reads keep skipping files. Unlike compaction, which rewrites small files only, this
    rewrites the whole table every time, so its cost grows with the table (``etl maintain`` is the
    periodic job, not the daily one)."""
    before = footprint(spark, uri)
    table = DeltaTable.forPath(spark, uri)
    columns = clustering(name)
    if columns:
        table.optimize().executeZOrderBy(*columns)
    else:
        table.optimize().executeCompaction()
    table.vacuum(hours)
    files, size = _vacuum_figures(table)
    after = footprint(spark, uri)
    log.info("maintain %s: files %d -> %d, bytes %d -> %d, vacuumed %d file(s), %d byte(s)",
             name, before.files, after.files, before.bytes, after.bytes, files, size)
    return TableMaintenance(name, uri, before, after, files, size)


def owner_identity(name: str) -> str:
    """The object-store identity that owns ``<layer>/<table>`` (etl/catalog.py, etl/access.py): only it
    may rewrite the table's files; a table the catalogue does not know is left to the transform one."""
    from etl import catalog
    from etl.access import stage_identities

    layer, _, table = name.partition("/")
    try:
        return stage_identities()[catalog.table(layer, table).stage]
    except KeyError:
        return "transform"


def maintenance_id() -> str:
    """The lock owner's id for ``etl maintain``: a run that finds the lock held names it as maintenance."""
    from etl.run.ids import new_run_id

    return f"maintain-{new_run_id()}"


def maintain_lake(spark: SparkSession, cfg: Config, only: tuple[str, ...] = (),
                  lock: RunLock | None = None,
                  sign_in: Callable[[str], object] | None = None) -> MaintenanceReport:
    """Maintain every table of the lake (or those whose ``<layer>/<table>`` is in ``only``).

    A table that fails is reported and the others are still maintained; the caller
    decides the exit code from ``report.failed``. ``lock``: the run lock the caller holds
    (``etl maintain`` takes it like a run); checked before each table, so maintenance that
    lost it (it expired and a run took it over) stops before its next commit (LockError).
    ``sign_in(identity)`` signs Spark in as the owner of each table before it is maintained (OPTIMIZE
    and VACUUM rewrite and delete its files, which no other identity may).
    """
    hours = retention_hours(cfg)
    settings = {
        VACUUM_LOGGING: "true",     # off by default on S3; the report needs its figures
        LISTING_PARALLELISM: str(cfg.ops.vacuum_parallelism or spark.sparkContext.defaultParallelism),
    }
    if hours < DELTA_MIN_RETENTION_HOURS:
        # ops.time_travel_days below 7 is an explicit choice in the config: honour it, loudly.
        log.warning("ops.time_travel_days is %g: VACUUM below Delta's 7-day safety check; a reader or "
                    "writer running longer than %g h may fail, and time travel is limited to %g h",
                    cfg.ops.time_travel_days, hours, hours)
        settings[RETENTION_CHECK] = "false"
    report = MaintenanceReport(spark_uri(cfg, cfg.storage.lake), hours)
    with _session_conf(spark, settings):
        for name, uri in discover_tables(spark, cfg):
            if only and name not in only:
                continue
            if lock is not None:
                lock.check()
            try:
                if sign_in is not None:
                    sign_in(owner_identity(name))
                report.tables.append(maintain_table(spark, name, uri, hours))
            except Exception as exc:  # noqa: BLE001 - one table's failure must not stop the others
                message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                log.error("maintain %s failed: %s", name, message)
                report.tables.append(TableMaintenance(name, uri, Footprint(0, 0), Footprint(0, 0), error=message))
    return report
