"""The stages of a run: ingest, silver, gold, export (and ``etl export``'s two halves).

Each stage is an object that says

- ``name``: how ``--stages``, the logs and the run record (``ops/runs``) call it;
- ``identity``: the object-store credential group it signs in with
  (``storage.s3.stage_credentials.<identity>``, etl/access.py gives each its policy: the
  prefixes of the catalogue tables its stages own): ingest reads landing and writes bronze,
  transform (silver, gold) writes silver and gold, export reads the lake and writes the
  exports bucket; the run lock and record are the run identity's;
- ``writes()`` / ``reads()``: the catalogue tables (etl/catalog.py) it writes and reads,
  from which the dry run's plan and the run record's table versions come;
- ``mysql``: whether it signs in to MySQL (its secrets are then checked before the run);

and ``run(run)`` does its work for a ``Run`` (etl/run/run.py), which gives it Spark, the
object stores signed in as its identity, the run date and id, and the summary to fill.
The run calls the stage objects it is given; nothing is looked up by name except the
user's ``--stages`` list (``named``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Iterable

from etl import catalog, delta_io
from etl.bronze.feeds import all_feeds
from etl.bronze.ingest import due_files, ingest_feeds
from etl.bronze.keys import shown
from etl.catalog import Table
from etl.errors import ConfigError, ExportError, MissingTableError
from etl.export.excel import report_file_name
from etl.export.mysql import export_to_mysql, gold_run_date
from etl.export.ops_served import ops_frames
from etl.export.report import build_report, lake_table_reader
from etl.gold.build import build_gold
from etl.lake import table_uri
from etl.silver.build import SilverStage
from etl.storage import store_for

if TYPE_CHECKING:
    from etl.run.run import Run

log = logging.getLogger(__name__)


def _uris(run: "Run", tables: Iterable[Table]) -> str:
    return ", ".join(t.uri(run.cfg) for t in tables)


class Stage:
    """One step of a run, under one object-store identity."""

    name: str = ""
    identity: str = ""
    order: int = 0          # its place in pipeline order (a run takes its stages in this order)
    mysql: bool = False

    def writes(self) -> tuple[Table, ...]:
        """The catalogue tables the stage commits to (its entries whose ``stage`` is this one)."""
        return catalog.tables(stage=self.name)

    def reads(self) -> tuple[Table, ...]:
        return ()

    def run(self, run: "Run") -> None:
        raise NotImplementedError

    def plan(self, run: "Run") -> list[str]:
        """The dry run's lines: what it reads, then what it writes, one line per layer."""
        reads = self.reads()
        out = [f"  {self.name}: reads {reads[0].layer} {_uris(run, reads)}"]
        writes = self.writes()
        for layer in dict.fromkeys(t.layer for t in writes):
            named = f"{layer} " if layer != "ops" else ""
            out.append(f"    writes {named}{_uris(run, (t for t in writes if t.layer == layer))}")
        return out

    def __repr__(self) -> str:
        return f"<stage {self.name} ({self.identity} identity)>"


class Ingest(Stage):
    """Landing -> bronze (etl/bronze/ingest.py): every new file once, then archived."""

    name, identity, order = "ingest", "ingest", 0

    def run(self, run: "Run") -> None:
        landing = run.store(run.cfg.storage.landing)
        lake = run.store(run.cfg.storage.lake)
        bronze = {t.name: t.uri(run.cfg) for t in self.writes() if t.layer == "bronze"}
        run.summary.ingest = ingest_feeds(
            run.spark, landing, lake, bronze, catalog.table("ops", "file_manifest").uri(run.cfg), run.run_id,
            run.started_at.replace(tzinfo=None), feeds=all_feeds(run.cfg.ingest.xlsx_limits()),
            not_after=run.run_date)

    def plan(self, run: "Run") -> list[str]:
        cfg = run.cfg
        landing = cfg.storage.landing.rstrip("/")
        writes = self.writes()
        return [f"  ingest: reads new files under {landing}/<feed>/",
                *self._landing_lines(run),
                "    writes bronze " + _uris(run, (t for t in writes if t.layer == "bronze")),
                f"    writes {_uris(run, (t for t in writes if t.layer != 'bronze'))}; moves each file to "
                f"{landing}/archive/<feed>/ (or rejected/<feed>/ with a reason)"]

    @staticmethod
    def _landing_lines(run: "Run") -> list[str]:
        """The files waiting in landing (boto3 or the file system): those the stage would consider;
        content already in the manifest is recognised then, by checksum, as a duplicate."""
        try:
            landing = store_for(run.cfg, run.cfg.storage.landing, run.secret, INGEST.identity)
            listed = {feed: due_files(landing.list(f"{feed}/"), run.run_date) for feed in catalog.FEEDS}
        except Exception as exc:
            return [f"    (landing not listed: {type(exc).__name__}: {exc})"]
        lines = []
        for feed, (files, later) in listed.items():
            size = sum(f.size for f in files)
            names = (", ".join(shown(f.key) for f in files[:3])
                     + (f", ... {len(files) - 3} more" if len(files) > 3 else ""))
            lines.append(f"    {feed:<13} {len(files)} file(s), {size} byte(s)" + (f": {names}" if files else "")
                         + (f" ({len(later)} more in folders dated after {run.run_date} wait)" if later else ""))
        return lines


class Silver(Stage):
    """Bronze -> silver, with the data-quality checks (etl/silver/build.py)."""

    name, identity, order = "silver", "transform", 1

    def reads(self) -> tuple[Table, ...]:
        return catalog.tables("bronze")

    def run(self, run: "Run") -> None:
        stage = SilverStage(run.spark, run.cfg, run.run_date, run.run_id)
        run.summary.silver = stage.result      # filled as feeds are checked: reported even if a threshold stops the run
        stage.run()


class Gold(Stage):
    """Silver -> the gold facts and marts (etl/gold/build.py)."""

    name, identity, order = "gold", "transform", 2

    def reads(self) -> tuple[Table, ...]:
        return tuple(catalog.table("silver", name) for name in catalog.GOLD_INPUTS)

    def run(self, run: "Run") -> None:
        run.summary.gold = build_gold(run.spark, run.cfg, run.run_date, rebuild=run.rebuild_gold)


def built_gold(run: "Run") -> dict:
    """The gold frames this run's gold stage wrote, materialized (empty when gold ran in another process)."""
    return run.summary.gold.frames if run.summary.gold is not None else {}


def gold_frames(run: "Run", tables: Iterable[str]) -> dict:
    """The gold tables by name: those this process's gold stage just wrote (the same content, without
    reading Delta again), else the Delta tables; ExportError naming the first one missing (gold never ran)."""
    tables = list(tables)
    built = built_gold(run)
    if all(t in built for t in tables):
        return {t: built[t] for t in tables}
    uris = {t: table_uri(run.cfg, "gold", t) for t in tables}
    try:
        return {t: delta_io.read(run.spark, uri) for t, uri in uris.items()}
    except MissingTableError as exc:
        raise ExportError(f"{exc}; gold never ran here: run 'etl run --date {run.run_date}' first") from None


class ExportMysql(Stage):
    """Every gold mart into MySQL from the gold Delta tables, visible at once (etl/export/mysql.py)."""

    name, identity, order, mysql = "export_mysql", "export", 3, True

    def reads(self) -> tuple[Table, ...]:
        return tuple(catalog.table("gold", name) for name in catalog.GOLD_MARTS)

    def run(self, run: "Run") -> None:
        cfg = run.cfg
        if not cfg.mysql.enabled:
            log.info("mysql export skipped: mysql.enabled is false in profile '%s'", cfg.profile)
            return
        gold = gold_frames(run, catalog.GOLD_MARTS)
        built_for = gold_run_date(gold["kpi_daily_sales"])
        if built_for is not None and built_for != run.run_date:
            raise ExportError(f"gold at {table_uri(cfg, 'gold', 'kpi_daily_sales')} is for run date "
                              f"{built_for}, not {run.run_date}: run 'etl run --date {run.run_date} "
                              f"--stages gold,export' instead")
        m = cfg.mysql
        run.summary.mysql_target = f"mysql://{m.host}:{m.port}/{m.database}"
        # The quality results and rejected files beside gold (V007), in the same swap.
        ops = ops_frames(run.spark, lambda name: table_uri(cfg, "ops", name))
        run.summary.mysql = export_to_mysql(run.spark, cfg, run.secret, {**gold, **ops}, run.run_id, run.run_date)


class ExportExcel(Stage):
    """``Daily_Report_YYYYMMDD.xlsx`` from gold and silver (etl/export/report.py), written locally
    and then, when ``excel.upload``, to the exports bucket under ``reports/<run date>/``."""

    name, identity, order = "export_excel", "export", 3

    def reads(self) -> tuple[Table, ...]:
        return tuple(catalog.table("gold", name) for name in catalog.GOLD_MARTS)

    def run(self, run: "Run") -> None:
        cfg = run.cfg
        gold_frames(run, catalog.GOLD_MARTS)       # one clear error when gold never ran
        local = cfg.path(cfg.excel.output_dir) / report_file_name(run.run_date)
        began = time.monotonic()
        read_lake, built = lake_table_reader(run.spark, cfg), built_gold(run)

        def read(layer: str, name: str):
            return built[name] if layer == "gold" and name in built else read_lake(layer, name)

        report = build_report(run.spark, read, run.run_date, local, cfg.excel.max_rows_per_sheet)
        run.summary.excel_local = str(report.path)
        run.summary.excel_sheets = report.row_counts
        log.info("excel: %s holds %d row(s) on %d sheet(s), written in %.2f s", report.path.name,
                 sum(report.row_counts.values()), len(report.row_counts), time.monotonic() - began)
        if cfg.excel.upload:
            exports = run.store(cfg.storage.exports)
            run.summary.excel_uploaded = exports.upload(
                report.path, f"reports/{run.run_date.isoformat()}/{report.path.name}")


EXPORT_MYSQL, EXPORT_EXCEL = ExportMysql(), ExportExcel()


class Export(Stage):
    """MySQL, then the Excel report; the report is still written when MySQL fails, then the MySQL
    error stops the run (``etl export mysql --date D`` retries that part alone)."""

    name, identity, order, mysql = "export", "export", 3, True

    def reads(self) -> tuple[Table, ...]:
        return EXPORT_MYSQL.reads()

    def run(self, run: "Run") -> None:
        try:
            EXPORT_MYSQL.run(run)
        except ExportError:
            EXPORT_EXCEL.run(run)
            raise
        EXPORT_EXCEL.run(run)

    def plan(self, run: "Run") -> list[str]:
        cfg = run.cfg
        marts = [t.name for t in self.reads()]
        out = [f"  export: reads gold {table_uri(cfg, 'gold', '<table>')} for " + ", ".join(marts)]
        m = cfg.mysql
        if m.enabled:
            # the quality results and rejected files are served with gold (etl/export/ops_served.py)
            ops = ", ".join(f"{catalog.table('ops', source).uri(cfg)} as {served}"
                            for served, source in catalog.SERVED_OPS.items())
            out.append(f"    reads ops {ops}")
            out.append(f"    writes MySQL mysql://{m.host}:{m.port}/{m.database} tables "
                       + ", ".join([*marts, *catalog.SERVED_OPS]))
        else:
            out.append("    MySQL: skipped (mysql.enabled is false)")
        name = report_file_name(run.run_date)
        local = cfg.path(cfg.excel.output_dir) / name
        upload = (f", uploaded to {cfg.storage.exports.rstrip('/')}/reports/{run.run_date.isoformat()}/{name}"
                  if cfg.excel.upload else "")
        out.append(f"    writes Excel {local}{upload}")
        return out


INGEST, SILVER, GOLD, EXPORT = Ingest(), Silver(), Gold(), Export()
# The stages of `etl run`, in pipeline order, and their names (the --stages choices).
PIPELINE: tuple[Stage, ...] = (INGEST, SILVER, GOLD, EXPORT)
STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)
# `etl export mysql|excel`: the export stage's halves, alone.
EXPORTS: dict[str, Stage] = {"mysql": EXPORT_MYSQL, "excel": EXPORT_EXCEL}


def every_stage() -> tuple[Stage, ...]:
    """Every stage a command may run (``etl rollback``'s restore included): whose secrets the config names."""
    from etl.run.rollback import RESTORE

    return (*PIPELINE, EXPORT_MYSQL, EXPORT_EXCEL, RESTORE)


def named(names: Iterable[str]) -> tuple[Stage, ...]:
    """``etl run --stages``: the pipeline stages of those names, as given; ConfigError for any other name."""
    names = tuple(names)
    by_name = {s.name: s for s in PIPELINE}
    unknown = [n for n in names if n not in by_name]
    if unknown or not names:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(STAGES)}")
    return tuple(by_name[n] for n in names)
