"""One pipeline run: run id, stages (ingest, silver, gold, export), and the summary.

Stages read and write only through the lake, so any stage can be rerun alone.
Before the first stage, a pre-flight check decrypts and authenticates every secret
the chosen stages will use (and drops the values), so no key, a wrong key, a
tampered file or a missing secret stop the run with one line before any data is
touched. Afterwards secrets are decrypted lazily, by the stage that needs them.
"""

from __future__ import annotations

import logging
import re
import secrets as random_tokens
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from etl import runs as records
from etl.bronze.feeds import FEED_NAMES
from etl.bronze.ingest import FeedIngestResult, crash_point, ingest_feeds
from etl.config import STAGE_CREDENTIAL_GROUP, Config
from etl.errors import EtlError, ExportError, SecretError, StorageAccessError
from etl.export.excel import report_file_name
from etl.export.report import build_report, lake_table_reader
from etl.export.mysql import export_to_mysql, gold_run_date
from etl.gold.build import GoldResult, build_gold
from etl.gold.marts import GOLD_TABLES
from etl.lake import table_uri
from etl.log import current_run_id
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
# Every gold table of the registry reaches MySQL (DDL in resources/sql, one table per gold table).
EXPORTED_TABLES = tuple(GOLD_TABLES)


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
            self.spark, landing, lake, {name: table_uri(self.cfg, "bronze", name) for name in FEED_NAMES},
            table_uri(self.cfg, "ops", "file_manifest"), self.run_id, self.started_at.replace(tzinfo=None))

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
        missing = [uri for uri in uris.values() if not DeltaTable.isDeltaTable(self.spark, uri)]
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
        self._gold(GOLD_TABLES)      # one clear error when gold never ran
        local = self.cfg.path(self.cfg.excel.output_dir) / report_file_name(self.run_date)
        report = build_report(self.spark, lake_table_reader(self.spark, self.cfg), self.run_date, local,
                              self.cfg.excel.max_rows_per_sheet)
        self.summary.excel_local = str(report.path)
        self.summary.excel_sheets = report.row_counts
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

    def execute(self, stages: tuple[str, ...] = STAGES) -> RunSummary:
        """The pipeline stages of ``stages`` in pipeline order, then any other step (a subclass's) as given."""
        token = current_run_id.set(self.run_id)
        self.summary.stages = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
        error: BaseException | None = None
        try:
            self.preflight(stages)
            log.info("run %s for %s, stages %s", self.run_id, self.run_date, ",".join(stages))
            for stage in self.summary.stages:
                log.info("stage %s: start", stage)
                began = time.monotonic()
                try:
                    self.run_stage(stage)
                finally:
                    self.summary.stage_seconds[stage] = round(time.monotonic() - began, 3)
                log.info("stage %s: done", stage)
                crash_point(f"after_{stage}")      # test hook: a kill at this stage boundary
            return self.summary
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                self.record(error)
            finally:
                current_run_id.reset(token)

    def record(self, error: BaseException | None) -> None:
        """The run's row in ops/runs (etl/runs.py), whatever the outcome; never hides the run's own error.

        A run stopped before its first stage (the secrets pre-flight) touched nothing and has no Spark
        session: its one line and exit code are its record."""
        self.summary.ended_at = datetime.now(timezone.utc)
        self.summary.status, self.summary.error = records.status_of(error), records.error_line(error)
        if self._spark is None:
            return
        try:
            self.summary.table_versions.update(records.written_versions(self.spark, self.cfg, self.summary))
            records.write_run_record(self.spark, records.runs_uri(self.cfg), records.run_record(self.summary))
            log.info("run %s recorded in %s: %s", self.run_id, records.runs_uri(self.cfg), self.summary.status)
        except Exception as exc:  # noqa: BLE001 - the run's outcome stands; the monitor sees a missing record
            log.error("run %s not recorded in %s: %s", self.run_id, records.runs_uri(self.cfg),
                      records.error_line(exc))
        finally:
            try:
                self._spark.conf.unset(records.USER_METADATA_CONF)
            except Exception:  # noqa: BLE001 - a session already gone has nothing to reset
                pass
