"""``etl rollback --run RUN_ID``: gold and MySQL back to what they were before a run.

"Before the run" is the gold the *previous succeeded run* left: the newest
``ops/runs`` record that started before the target, succeeded, and recorded a
version of every gold table (a pipeline run with the gold stage, or an earlier
rollback). Its recorded versions are restored with Delta ``RESTORE`` (each a new
version whose content is the old one), then every gold table is exported to
MySQL again, so MySQL holds what that run had exported. Recorded versions, not
commit timestamps, so no clock matters; and a failed run in between that wrote
gold but never reached MySQL is skipped, so gold and MySQL end consistent.

Not restored: bronze, silver and the gold facts tables (they follow silver, and
the next run rebuilds gold from them); a later ``etl run --date D`` brings the
target's data back. The rollback is a run of its own (trigger ``rollback``) with
its row in ``ops/runs``.
"""

from __future__ import annotations

import logging
from datetime import date

from pyspark.sql import functions as F

from etl import catalog, delta_io
from etl.config import Config
from etl.errors import ConfigError
from etl.gold.build import GoldResult
from etl.gold.marts import GOLD_TABLES
from etl.lake import table_uri
from etl.run import records
from etl.run.run import Run
from etl.run.stages import EXPORT_MYSQL, Stage

log = logging.getLogger(__name__)


def gold_key(table: str) -> str:
    return f"gold/{table}"


def versions_to_restore(target: dict, previous: dict | None, tables=None) -> dict[str, int]:
    """Table -> the version to restore, from the previous succeeded run's record; ConfigError if none."""
    tables = tuple(GOLD_TABLES) if tables is None else tables
    if not any(gold_key(t) in target["table_versions"] for t in tables):
        raise ConfigError(f"run {target['run_id']} ({target['status']}, stages {','.join(target['stages'])}) "
                          f"wrote no gold table: nothing to roll back")
    if previous is None:
        raise ConfigError(f"no succeeded run with gold recorded before run {target['run_id']}: gold has no "
                          f"earlier state to go back to")
    return {t: int(previous["table_versions"][gold_key(t)]) for t in tables}


class Restore(Stage):
    """Gold back to the versions the previous succeeded run recorded (Delta ``RESTORE``); it rewrites
    gold, so it signs in as the gold stage's (transform) identity."""

    name, identity, order = "restore", "transform", 2

    def writes(self) -> tuple[catalog.Table, ...]:
        return tuple(catalog.table("gold", name) for name in GOLD_TABLES)

    def run(self, run: "RollbackRun") -> None:
        target = records.find_run(run.spark, run.cfg, run.target_run_id)
        runs = records.runs_table(run.spark, run.cfg)
        has_gold = F.lit(True)
        for table in GOLD_TABLES:
            has_gold = has_gold & F.col("table_versions").getItem(gold_key(table)).isNotNull()
        earlier = (runs.filter((F.col("started_at") < F.lit(target["started_at"]))
                               & (F.col("status") == records.SUCCEEDED) & has_gold)
                   .orderBy(F.col("started_at").desc()).limit(1).collect())
        run.previous = records.as_record(earlier[0]) if earlier else None
        versions = versions_to_restore(target, run.previous)
        run.undone = [r.run_id for r in runs.filter((F.col("started_at") > F.lit(target["started_at"]))
                                                    & has_gold).orderBy("started_at").limit(20).collect()
                      if r.run_id != run.run_id]
        run.run_date = run.summary.run_date = run.previous["run_date"]
        gold = GoldResult()
        for table, version in versions.items():
            uri = table_uri(run.cfg, "gold", table)
            current = delta_io.current_version(run.spark, uri)
            if delta_io.restore(run.spark, uri, version, name=f"gold {table}").version is not None:
                log.info("gold %s: restored to v%d (left by run %s), was v%d", table, version,
                         run.previous["run_id"], current)
            left = delta_io.current_version(run.spark, uri)
            run.summary.table_versions[gold_key(table)] = left
            run.restored[table] = (current, version)
            gold.locations[table] = uri
            gold.counts[table] = run.spark.read.format("delta").load(uri).count()
        alerts = run.spark.read.format("delta").load(table_uri(run.cfg, "gold", "alerts"))
        gold.alerts = [f"{r.date}: revenue_7d {r.revenue} against {r.expected} expected ({r.reason})"
                       for r in alerts.filter(alerts.date == run.run_date).collect()]   # at most one row
        run.summary.gold = gold


RESTORE = Restore()
# A rollback's stages: restore, then every gold table to MySQL again.
STEPS = (RESTORE, EXPORT_MYSQL)


class RollbackRun(Run):
    """A run whose steps are ``restore`` then ``export_mysql``; its run date is that of the gold restored."""

    def __init__(self, cfg: Config, target_run_id: str):
        super().__init__(cfg, date.today(), trigger="rollback")
        self.target_run_id = target_run_id
        self.restored: dict[str, tuple[int, int]] = {}      # table -> (version before, version restored)
        self.previous: dict | None = None
        self.undone: list[str] = []                         # later runs whose gold is undone as well

    def what(self) -> str:
        # Its run date is known only once restore has found the run before the target.
        return f"rolling back run {self.target_run_id}"

    def lines(self) -> list[str]:
        out = self.summary.lines()
        if self.previous is not None:
            out.insert(1, f"  rolled back run {self.target_run_id}: gold as left by run {self.previous['run_id']} "
                          f"for {self.previous['run_date']}")
        out[2:2] = [f"  gold {table:<24} restored to v{to} (was v{was})" for table, (was, to) in
                    self.restored.items()]
        if self.undone:
            out.append(f"  note: also undone, as they ran after it: run(s) {', '.join(self.undone)}")
        out.append("  bronze and silver unchanged: `etl run --date D` recomputes gold from them")
        return out
