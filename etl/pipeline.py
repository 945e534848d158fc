"""One pipeline run: run id, stages (ingest, silver, gold, export), and the summary.

Stages read and write only through the lake, so any stage can be rerun alone.
Before the first stage, a pre-flight check decrypts and authenticates every secret
the chosen stages will use (and drops the values), so no key, a wrong key, a
tampered file or a missing secret stop the run with one line before any data is
touched. Afterwards secrets are decrypted lazily, by the stage that needs them.
Then the run takes the run lock (etl/ops/lock.py) for as long as its stages write, so
two runs never write the same Delta tables at once. ``run_dates`` runs a backfill, one
date after another under one lock; ``Run.plan`` is the dry run (no Spark, no writes).
"""

from __future__ import annotations

import logging
import re
import secrets as random_tokens
from contextlib import contextmanager
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterator

from pyspark.sql import SparkSession

from etl import delta_io
from etl import runs as records
from etl.catalog import FACTS_TABLES, FEEDS, GOLD_INPUTS, GOLD_MARTS, SILVER_TABLES
from etl import faults
from etl.bronze.ingest import FeedIngestResult, due_files, ingest_feeds
from etl.config import STAGE_CREDENTIAL_GROUP, Config
from etl.errors import EXIT_FAILURE, EtlError, ExportError, SecretError, StorageAccessError
from etl.export.excel import report_file_name
from etl.export.report import build_report, lake_table_reader
from etl.export.mysql import export_to_mysql, gold_run_date
from etl.gold.build import GoldResult, build_gold
from etl.lake import table_uri
from etl.log import current_run_id
from etl.ops.lock import RunLock, lock_for
from etl.secrets import OK, SecretStore, referenced_secrets
from etl.silver.build import SilverResult, SilverStage
from etl.spark import build_session, use_stage_credentials
from etl.storage import store_for

log = logging.getLogger(__name__)
# How S3A (through py4j) and boto3 say that a key is wrong or a right is missing.
REFUSAL_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken")
REFUSAL = re.compile(r"AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Access Denied|403 Forbidden"
                     r"|Status Code: 403")
STAGES = ("ingest", "silver", "gold", "export")
# Every gold mart of the catalogue reaches MySQL (DDL in resources/sql, one table per gold table).
EXPORTED_TABLES = GOLD_MARTS


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique across concurrent starts."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{random_tokens.token_hex(3)}"


@dataclass
class RunSummary:
    run_id: str
    run_date: date
    profile: str
    ingest: list[FeedIngestResult] = field(default_factory=list)
    silver: SilverResult | None = None
    gold: GoldResult | None = None
    mysql: dict[str, int] | None = None
    mysql_target: str | None = None
    excel_local: str | None = None
    excel_sheets: dict[str, int] | None = None
    excel_uploaded: str | None = None
    # For the ops/runs record (etl/runs.py): set by Run.execute.
    trigger: str = "cli"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None
    error: str | None = None
    stages: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"run {self.run_id} for {self.run_date} (profile {self.profile})"]
        for feed in self.ingest:
            recovered = f", recovered {len(feed.recovered)}" if feed.recovered else ""
            out.append(f"  bronze {feed.feed:<11} files ingested {len(feed.ingested)}, rejected {len(feed.rejected)}, "
                       f"duplicate {len(feed.duplicates)}{recovered}, rows {feed.rows}")
            out.extend(f"    rejected {key}: {reason}" for key, reason in feed.rejected.items())
        if self.silver:
            out.extend(self.silver.lines())
        if self.gold:
            out.extend(f"  gold {refresh.line()}" for refresh in self.gold.facts)
            for table, count in self.gold.counts.items():
                out.append(f"  gold {table:<24} {count} row(s) at {self.gold.locations[table]}")
            out.extend(f"  ALERT {alert}" for alert in self.gold.alerts)
            if not self.gold.alerts:
                out.append(f"  alerts: none for {self.run_date} (kpi_daily_sales.is_anomaly is false)")
        if self.mysql is not None:
            out.extend(f"  mysql {table}: {count} row(s) at {self.mysql_target}" for table, count in self.mysql.items())
        if self.excel_local:
            out.append(f"  excel report: {self.excel_local}")
            if self.excel_sheets:
                out.append("    sheets: " + ", ".join(f"{name} {rows}" for name, rows in self.excel_sheets.items()))
        if self.excel_uploaded:
            out.append(f"  excel uploaded: {self.excel_uploaded}")
        return out


def first_stage(stages) -> str | None:
    """The stage a run starts with (its identity writes the run lock); ``etl export`` stages as given."""
    return next((s for s in STAGES if s in stages), next(iter(stages), None))


def keep_lock(lock: RunLock, run_id: str | None = None) -> None:
    """Refresh the lock between stages: LockError when it was lost; a failed request (network)
    only warns, as the lock is still ours until its expiry and the heartbeat retries."""
    try:
        lock.refresh(run_id=run_id)
    except EtlError:
        raise
    except Exception as exc:
        log.warning("run lock %s: refresh failed (%s: %s); the heartbeat retries", lock.where,
                    type(exc).__name__, exc)


class Run:
    def __init__(self, cfg: Config, run_date: date, run_id: str | None = None, rebuild_gold: bool = False,
                 trigger: str = "cli"):
        self.cfg = cfg
        self.rebuild_gold = rebuild_gold
        self.run_date = run_date
        self.run_id = run_id or new_run_id()
        self.started_at = datetime.now(timezone.utc)
        self.summary = RunSummary(self.run_id, run_date, cfg.profile, trigger=trigger, started_at=self.started_at)
        self._spark: SparkSession | None = None
        self._secrets: dict[str, str] = {}
        self._stage: str | None = None      # whose object-store identity Spark and boto3 use now

    def secret(self, name: str) -> str:
        """Decrypt one secret on first use; kept in memory for this run only."""
        if name not in self._secrets:
            self._secrets[name] = SecretStore(self.cfg.secrets_file, profile=self.cfg.profile).get(name)
        return self._secrets[name]

    def preflight(self, stages: tuple[str, ...]) -> None:
        """Every secret ``stages`` will use is present and authenticates, or one SecretError line.

        Runs before Spark starts and before any stage reads or writes: values are decrypted
        only to check their authentication tag and are not kept.
        """
        needed = referenced_secrets(self.cfg, stages)
        if not needed:
            return
        store = SecretStore(self.cfg.secrets_file, profile=self.cfg.profile)
        states = store.verify(needed)      # no key, wrong key, unreadable file: raises here
        bad = [name for name in needed if states[name] != OK]
        if bad:
            name = bad[0]
            users = [s for s in stages if name in referenced_secrets(self.cfg, (s,))]
            more = (f"; {len(bad) - 1} more secret(s) unusable, `etl secrets check --profile {self.cfg.profile}` "
                    f"lists them" if len(bad) > 1 else "")
            raise SecretError(f"nothing was run: {store.problem(name, states[name])} (named by "
                              f"{', '.join(needed[name])}, used by stage {','.join(users)}){more}")

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = build_session(self.cfg, self.secret if self.cfg.storage.s3 else None, self._stage)
            self._spark.conf.set(records.USER_METADATA_CONF, self.run_id)   # every commit names this run
        return self._spark

    def _enter(self, stage: str) -> None:
        """From now on Spark and the object-store clients sign in as ``stage``'s identity
        (``storage.s3.stage_credentials``): ingest, transform (silver, gold) or export."""
        self._stage = stage
        if self._spark is not None and self.cfg.storage.s3 is not None:
            if use_stage_credentials(self._spark, self.cfg, self.secret, stage):
                log.info("object store: signed in as the %s identity", STAGE_CREDENTIAL_GROUP.get(stage, stage))

    def store(self, root: str):
        """The object store at a configured area root, signed in as the current stage's identity."""
        return store_for(self.cfg, root, self.secret, self._stage)

    # -- stages -------------------------------------------------------------
    def ingest(self) -> None:
        landing = self.store(self.cfg.storage.landing)
        lake = self.store(self.cfg.storage.lake)
        self.summary.ingest = ingest_feeds(
            self.spark, landing, lake, {name: table_uri(self.cfg, "bronze", name) for name in FEEDS},
            table_uri(self.cfg, "ops", "file_manifest"), self.run_id, self.started_at.replace(tzinfo=None),
            not_after=self.run_date)

    def silver(self) -> None:
        stage = SilverStage(self.spark, self.cfg, self.run_date, self.run_id)
        self.summary.silver = stage.result      # filled as feeds are checked: reported even if a threshold stops the run
        stage.run()

    def gold(self) -> None:
        self.summary.gold = build_gold(self.spark, self.cfg, self.run_date, rebuild=self.rebuild_gold)

    def export(self) -> None:
        """MySQL, then the Excel report; the report is still written when MySQL fails, then the MySQL
        error stops the run (``etl export mysql --date D`` retries that part alone)."""
        try:
            self.export_mysql()
        except ExportError:
            self.export_excel()
            raise
        self.export_excel()

    def _gold(self, tables) -> dict:
        """The gold Delta tables by name; ExportError naming the first one missing (gold never ran)."""
        uris = {t: table_uri(self.cfg, "gold", t) for t in tables}
        missing = [uri for uri in uris.values() if not delta_io.is_table(self.spark, uri)]
        if missing:
            raise ExportError(f"no gold Delta table at {missing[0]} ({len(missing)} missing): "
                              f"run 'etl run --date {self.run_date}' first")
        return {t: self.spark.read.format("delta").load(uri) for t, uri in uris.items()}

    def export_mysql(self) -> None:
        """Every gold table into MySQL from the gold Delta tables, visible at once (etl/export/mysql.py)."""
        if not self.cfg.mysql.enabled:
            log.info("mysql export skipped: mysql.enabled is false in profile '%s'", self.cfg.profile)
            return
        gold = self._gold(EXPORTED_TABLES)
        built_for = gold_run_date(gold["kpi_daily_sales"])
        if built_for is not None and built_for != self.run_date:
            raise ExportError(f"gold at {table_uri(self.cfg, 'gold', 'kpi_daily_sales')} is for run date "
                              f"{built_for}, not {self.run_date}: run 'etl run --date {self.run_date} "
                              f"--stages gold,export' instead")
        m = self.cfg.mysql
        self.summary.mysql_target = f"mysql://{m.host}:{m.port}/{m.database}"
        self.summary.mysql = export_to_mysql(self.spark, self.cfg, self.secret, gold, self.run_id, self.run_date)

    def export_excel(self) -> None:
        """``Daily_Report_YYYYMMDD.xlsx`` from gold and silver (etl/export/report.py), written locally
        and then, when ``excel.upload``, to the exports bucket under ``reports/<run date>/``."""
        self._gold(GOLD_MARTS)       # one clear error when gold never ran
        local = self.cfg.path(self.cfg.excel.output_dir) / report_file_name(self.run_date)
        began = time.monotonic()
        report = build_report(self.spark, lake_table_reader(self.spark, self.cfg), self.run_date, local,
                              self.cfg.excel.max_rows_per_sheet)
        self.summary.excel_local = str(report.path)
        self.summary.excel_sheets = report.row_counts
        log.info("excel: %s holds %d row(s) on %d sheet(s), written in %.2f s", report.path.name,
                 sum(report.row_counts.values()), len(report.row_counts), time.monotonic() - began)
        if self.cfg.excel.upload:
            exports = self.store(self.cfg.storage.exports)
            self.summary.excel_uploaded = exports.upload(
                report.path, f"reports/{self.run_date.isoformat()}/{report.path.name}")

    def _refused(self, exc: Exception, stage: str) -> StorageAccessError | None:
        """One line for an object-store refusal of ``stage``'s identity, else None.

        Spark (S3A, through py4j) and boto3 report a bad key or a missing right as a long
        exception; the run stops with a configuration error naming the identity's secrets
        instead. Secret values are masked in the quoted message, whatever it contains.
        """
        if isinstance(exc, EtlError) or self.cfg.storage.s3 is None:
            return None
        response = getattr(exc, "response", None)           # botocore's ClientError
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        text = code if code in REFUSAL_CODES else next(
            (line.strip() for line in str(exc).splitlines() if REFUSAL.search(line)), None)
        if not text:
            return None
        for value in self._secrets.values():
            text = text.replace(value, "***")
        identity = self.cfg.storage.s3.identity(stage)
        group = STAGE_CREDENTIAL_GROUP.get(stage, stage)
        return StorageAccessError(
            f"stage {stage}: the object store refused the {group} identity (secrets "
            f"'{identity.access_key_secret}', '{identity.secret_key_secret}'): {text[:300]}; check those secrets "
            f"and that identity's policy (etl/access.py; `etl services start` recreates them for dev)")

    def run_stage(self, stage: str, method: str | None = None) -> None:
        """Run one stage under its own object-store identity."""
        self._enter(stage)
        try:
            getattr(self, method or stage)()
        except Exception as exc:
            refused = self._refused(exc, stage)
            if refused is None:
                raise
            raise refused from None

    @contextmanager
    def locked(self, stages: tuple[str, ...], lock: RunLock | None = None) -> Iterator[RunLock]:
        """The run lock for this run: ``lock`` when a backfill already holds it (now naming this
        run), else taken here (as the first stage's identity) and released at the end, also on failure."""
        if lock is not None:
            keep_lock(lock, run_id=self.run_id)
            yield lock
            return
        own = lock_for(self.cfg, self.run_id, self.secret, first_stage(stages))
        with own.held():
            yield own

    def what(self) -> str:
        """What the run's first log line says it is for."""
        return f"for {self.run_date}"

    def execute(self, stages: tuple[str, ...] = STAGES, lock: RunLock | None = None) -> RunSummary:
        """The pipeline stages of ``stages`` in pipeline order, then any other step (a subclass's) as given,
        under the run lock; the run's row in ops/runs is written before the lock is released."""
        token = current_run_id.set(self.run_id)
        self.summary.stages = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
        try:
            self.preflight(stages)
            with self.locked(stages, lock) as held:
                error: BaseException | None = None
                try:
                    log.info("run %s %s, stages %s", self.run_id, self.what(), ",".join(stages))
                    for stage in self.summary.stages:
                        keep_lock(held)     # stops here if the lock was lost (taken over)
                        log.info("stage %s: start", stage)
                        began = time.monotonic()
                        try:
                            self.run_stage(stage)
                        finally:
                            self.summary.stage_seconds[stage] = round(time.monotonic() - began, 3)
                        log.info("stage %s: done", stage)
                        faults.point(f"after_{stage}")      # a test may end the process here
                    return self.summary
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    self.record(error)
        finally:
            current_run_id.reset(token)

    def record(self, error: BaseException | None) -> None:
        """The run's row in ops/runs (etl/runs.py) and, for a run with an export stage, in MySQL's
        etl_run_records, whatever the outcome; never hides the run's own error.

        A run stopped before its first stage (the secrets pre-flight) touched nothing and has no Spark
        session: its one line and exit code are its record."""
        self.summary.ended_at = datetime.now(timezone.utc)
        self.summary.status, self.summary.error = records.status_of(error), records.error_line(error)
        if self._spark is None:
            return
        try:
            try:
                self.summary.table_versions.update(records.written_versions(self.spark, self.cfg, self.summary))
                records.write_run_record(self.spark, records.runs_uri(self.cfg), records.run_record(self.summary))
                log.info("run %s recorded in %s: %s", self.run_id, records.runs_uri(self.cfg), self.summary.status)
            except Exception as exc:  # noqa: BLE001 - the run's outcome stands; the monitor sees a missing record
                log.error("run %s not recorded in %s: %s", self.run_id, records.runs_uri(self.cfg),
                          records.error_line(exc))
            if records.records_to_mysql(self.summary, error, self.cfg.mysql.enabled):
                try:
                    records.write_mysql_run_record(self.spark, self.cfg, self.secret, records.run_record(self.summary))
                    log.info("run %s recorded in MySQL etl_run_records", self.run_id)
                except Exception as exc:  # noqa: BLE001 - as above; ops/runs holds the record
                    log.warning("run %s not recorded in MySQL etl_run_records: %s", self.run_id,
                                records.error_line(exc))
        finally:
            try:
                self._spark.conf.unset(records.USER_METADATA_CONF)
            except Exception:  # noqa: BLE001 - a session already gone has nothing to reset
                pass

    # -- dry run ---------------------------------------------------------------
    def plan(self, stages: tuple[str, ...] = STAGES) -> list[str]:
        """What ``execute(stages)`` would read and write, without Spark and without writing.

        Lists the files waiting in landing (boto3 or the file system: these are the files the
        ingest stage would consider; content already in the manifest is recognised then, by
        checksum, as a duplicate) and the lock's current holder; everything else is names.
        """
        cfg, uri = self.cfg, (lambda layer, table: table_uri(self.cfg, layer, table))
        out = [f"dry run for {self.run_date} (profile {cfg.profile}), stages {','.join(stages)}: "
               f"nothing is started or written"]
        lock = lock_for(cfg, self.run_id, self.secret, first_stage(stages))
        out.append(f"  lock: would take {lock.where}; now {self._lock_now(lock)}")
        if "ingest" in stages:
            out.append(f"  ingest: reads new files under {cfg.storage.landing.rstrip('/')}/<feed>/")
            out.extend(self._landing_lines())
            out.append("    writes bronze " + ", ".join(uri("bronze", f) for f in FEEDS))
            out.append(f"    writes {uri('ops', 'file_manifest')}; moves each file to "
                       f"{cfg.storage.landing.rstrip('/')}/archive/<feed>/ (or rejected/<feed>/ with a reason)")
        if "silver" in stages:
            out.append("  silver: reads bronze " + ", ".join(uri("bronze", f) for f in FEEDS))
            out.append("    writes silver " + ", ".join(uri("silver", t) for t in SILVER_TABLES))
            out.append(f"    writes {uri('ops', 'dq_results')}, {uri('ops', 'silver_progress')}")
        if "gold" in stages:
            out.append("  gold: reads silver " + ", ".join(uri("silver", t) for t in GOLD_INPUTS))
            out.append("    writes gold " + ", ".join(uri("gold", t) for t in (*GOLD_MARTS, *FACTS_TABLES)))
        if "export" in stages:
            out.append(f"  export: reads gold {uri('gold', '<table>')} for " + ", ".join(EXPORTED_TABLES))
            m = cfg.mysql
            out.append(f"    writes MySQL mysql://{m.host}:{m.port}/{m.database} tables "
                       + ", ".join(EXPORTED_TABLES) if m.enabled
                       else "    MySQL: skipped (mysql.enabled is false)")
            name = report_file_name(self.run_date)
            local = cfg.path(cfg.excel.output_dir) / name
            upload = (f", uploaded to {cfg.storage.exports.rstrip('/')}/reports/{self.run_date.isoformat()}/{name}"
                      if cfg.excel.upload else "")
            out.append(f"    writes Excel {local}{upload}")
        return out

    def _lock_now(self, lock: RunLock) -> str:
        try:
            state = lock.read()
        except Exception as exc:          # the dry run reports, it does not fail on a listing
            return f"unknown ({type(exc).__name__}: {exc})"
        if state is None:
            return "free"
        expired = " (stale: would be taken over)" if state.expired(datetime.now(timezone.utc)) else ""
        return f"held by {state.owner.describe()} since {state.acquired_at:%Y-%m-%dT%H:%M:%SZ}{expired}"

    def _landing_lines(self) -> list[str]:
        try:
            landing = store_for(self.cfg, self.cfg.storage.landing, self.secret, "ingest")
            listed = {feed: due_files(landing.list(f"{feed}/"), self.run_date) for feed in FEEDS}
        except Exception as exc:
            return [f"    (landing not listed: {type(exc).__name__}: {exc})"]
        lines = []
        for feed, (files, later) in listed.items():
            size = sum(f.size for f in files)
            shown = ", ".join(f.key for f in files[:3]) + (f", ... {len(files) - 3} more" if len(files) > 3 else "")
            lines.append(f"    {feed:<13} {len(files)} file(s), {size} byte(s)" + (f": {shown}" if files else "")
                         + (f" ({len(later)} more in folders dated after {self.run_date} wait)" if later else ""))
        return lines


def run_dates(cfg: Config, first: date, last: date, stages: tuple[str, ...] = STAGES, rebuild_gold: bool = False,
              report: Callable[[RunSummary], None] = lambda summary: None,
              trigger: str = "backfill") -> list[RunSummary]:
    """A backfill: one full Run (own run id) per date from ``first`` to ``last``, in order, under one
    run lock held from the first date to the last (each date's run is named in it as it starts).

    Stops at the first failure with one line naming the date and the command that resumes from
    it; the exit code is the failure's own (4 for a data-quality threshold, ...).
    """
    dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    runs = [Run(cfg, dates[0], rebuild_gold=rebuild_gold, trigger=trigger)]
    runs[0].preflight(stages)           # bad secrets: one line before the lock or any data is touched
    log.info("backfill %s..%s: %d run(s), stages %s", first, last, len(dates), ",".join(stages))
    summaries = []
    with lock_for(cfg, runs[0].run_id, runs[0].secret, first_stage(stages)).held() as lock:
        for n, day in enumerate(dates):
            run = runs[0] if n == 0 else Run(cfg, day, rebuild_gold=rebuild_gold, trigger=trigger)
            try:
                run.execute(stages, lock=lock)
            except Exception as exc:
                report(run.summary)
                raise BackfillError.stopped(cfg, run, dates, n, stages, exc) from exc
            report(run.summary)
            summaries.append(run.summary)
    return summaries


class BackfillError(EtlError):
    """One date of a backfill failed; carries that failure's exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def stopped(cls, cfg: Config, run: Run, dates: list[date], n: int, stages: tuple[str, ...],
                exc: BaseException) -> "BackfillError":
        if not isinstance(exc, EtlError):
            log.exception("run %s for %s failed", run.run_id, run.run_date)     # a bug: the traceback to the log
        done = f"{dates[0]}..{dates[n - 1]} done" if n else "no date done"
        resume = f"etl run --from {dates[n]} --to {dates[-1]} --profile {cfg.profile}"
        if tuple(stages) != STAGES:
            resume += f" --stages {','.join(stages)}"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return cls(f"backfill stopped at {dates[n]} (run {run.run_id}, date {n + 1} of {len(dates)}; {done}): "
                   f"{reason}; resume with: {resume}", getattr(exc, "exit_code", EXIT_FAILURE))
