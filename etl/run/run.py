"""One run: its stages in order under the run lock, each signed in as its own identity, then its record.

Stages (etl/run/stages.py) read and write only through the lake, so any stage can be rerun alone.
Before the first stage, a pre-flight check decrypts and authenticates every secret
the chosen stages will use (and drops the values), so no key, a wrong key, a
tampered file or a missing secret stop the run with one line before any data is
touched. Afterwards secrets are decrypted lazily, by the stage that needs them.
Then the run takes the run lock (etl/ops/lock.py) for as long as its stages write, so
two runs never write the same Delta tables at once; it signs in as the run identity
(the bookkeeping's own, etl/access.py) to take it, refreshes it between stages, and a backfill (etl/run/backfill.py)
hands one lock to each date's run. The run's row in ``ops/runs`` (etl/run/records.py) is
written before the lock is released, whatever the outcome.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Iterator, Sequence

from pyspark.sql import SparkSession

from etl import faults
from etl.access import RUN_IDENTITY
from etl.config import Config
from etl.errors import EtlError, SecretError, StorageAccessError
from etl.log import current_run_id
from etl.ops.lock import RunLock, lock_for
from etl.run import records
from etl.run.ids import new_run_id
from etl.run.stages import PIPELINE, Stage
from etl.run.summary import RunSummary
from etl.secrets import OK, open_secrets, referenced_secrets
from etl.spark import build_session, is_local, restart_session, use_stage_credentials
from etl.storage import store_for

log = logging.getLogger(__name__)
# How S3A (through py4j) and boto3 say that a key is wrong or a right is missing.
REFUSAL_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken")
REFUSAL = re.compile(r"AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Access Denied|403 Forbidden"
                     r"|Status Code: 403")


def in_order(stages: Sequence[Stage]) -> list[Stage]:
    """``stages`` in pipeline order (a stable sort: stages of one place keep the order given)."""
    return sorted(stages, key=lambda s: s.order)


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
        self._identity: str | None = None   # whose object-store identity Spark and boto3 use now
        self._started: list[Stage] = []     # the stages begun, for the run record's table versions

    def secret(self, name: str) -> str:
        """Decrypt one secret on first use; kept in memory for this run only."""
        if name not in self._secrets:
            self._secrets[name] = open_secrets(self.cfg).get(name)
        return self._secrets[name]

    def preflight(self, stages: Sequence[Stage]) -> None:
        """Every secret ``stages`` will use is present and authenticates, or one SecretError line.

        Runs before Spark starts and before any stage reads or writes: values are decrypted
        only to check their authentication tag and are not kept.
        """
        names = [s.name for s in stages]
        needed = referenced_secrets(self.cfg, names)
        if not needed:
            return
        store = open_secrets(self.cfg)
        states = store.verify(needed)      # no key, wrong key, unreadable file: raises here
        bad = [name for name in needed if states[name] != OK]
        if bad:
            name = bad[0]
            users = [s for s in names if name in referenced_secrets(self.cfg, (s,))]
            more = (f"; {len(bad) - 1} more secret(s) unusable, `etl secrets check --profile {self.cfg.profile}` "
                    f"lists them" if len(bad) > 1 else "")
            raise SecretError(f"nothing was run: {store.problem(name, states[name])} (named by "
                              f"{', '.join(needed[name])}, used by stage {','.join(users)}){more}")

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = build_session(self.cfg, self.secret if self.cfg.storage.s3 else None, self._identity)
            self._spark.conf.set(records.USER_METADATA_CONF, self.run_id)   # every commit names this run
        return self._spark

    def _enter(self, stage: Stage) -> None:
        """From now on Spark and the object-store clients sign in as ``stage``'s identity
        (``storage.s3.stage_credentials``): ingest, transform (silver, gold) or export."""
        self._sign_in(stage.identity)

    def _sign_in(self, identity: str) -> None:
        """Spark and the object-store clients sign in as ``identity`` from now on.

        In local mode the tasks run in this JVM, whose cached S3A file systems are closed on a change
        (``use_stage_credentials``). A cluster's executors keep their own cache, filled with the keys
        of the first stage that used them, out of this process's reach: there a change of identity
        starts a new Spark application (``restart_session``), with executors of its own that never
        held another identity's keys. The gold frames kept for the export belong to the old session
        and are dropped; the export then reads the gold Delta tables."""
        previous, self._identity = self._identity, identity
        if self._spark is None or self.cfg.storage.s3 is None or previous == identity:
            return
        if not is_local(self._spark):
            if self.summary.gold is not None:
                self.summary.gold.frames.clear()
            began = time.monotonic()
            self._spark = restart_session(self._spark, self.cfg, self.secret, identity)
            self._spark.conf.set(records.USER_METADATA_CONF, self.run_id)
            log.info("object store: signed in as the %s identity, in a new Spark application (executors of "
                     "its own, %.1f s)", identity, time.monotonic() - began)
        elif use_stage_credentials(self._spark, self.cfg, self.secret, identity):
            log.info("object store: signed in as the %s identity", identity)

    def store(self, root: str):
        """The object store at a configured area root, signed in as the current stage's identity."""
        return store_for(self.cfg, root, self.secret, self._identity)

    def _refused(self, exc: Exception, stage: Stage) -> StorageAccessError | None:
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
        identity = self.cfg.storage.s3.identity(stage.identity)
        return StorageAccessError(
            f"stage {stage.name}: the object store refused the {stage.identity} identity (secrets "
            f"'{identity.access_key_secret}', '{identity.secret_key_secret}'): {text[:300]}; check those secrets "
            f"and that identity's policy (etl/access.py; `etl services start` recreates them for dev)")

    def run_stage(self, stage: Stage) -> None:
        """Run one stage under its own object-store identity."""
        self._enter(stage)
        try:
            stage.run(self)
        except Exception as exc:
            refused = self._refused(exc, stage)
            if refused is None:
                raise
            raise refused from None

    def lock(self, stages: Sequence[Stage]) -> RunLock:
        """The run lock of this profile, signed in as the run identity (not yet taken): no stage's
        identity may write the lock or ops/runs (etl/access.py)."""
        return lock_for(self.cfg, self.run_id, self.secret, RUN_IDENTITY)

    @contextmanager
    def locked(self, stages: Sequence[Stage], lock: RunLock | None = None) -> Iterator[RunLock]:
        """The run lock for this run: ``lock`` when a backfill already holds it (now naming this
        run), else taken here (as the run identity) and released at the end, also on failure."""
        if lock is not None:
            keep_lock(lock, run_id=self.run_id)
            yield lock
            return
        with self.lock(stages).held() as own:
            yield own

    def what(self) -> str:
        """What the run's first log line says it is for."""
        return f"for {self.run_date}"

    def execute(self, stages: Sequence[Stage] = PIPELINE, lock: RunLock | None = None) -> RunSummary:
        """``stages`` in pipeline order under the run lock; the run's row in ops/runs is written
        before the lock is released."""
        token = current_run_id.set(self.run_id)
        ordered = in_order(stages)
        self.summary.stages = [s.name for s in ordered]
        try:
            self.preflight(stages)
            with self.locked(stages, lock) as held:
                error: BaseException | None = None
                try:
                    log.info("run %s %s, stages %s", self.run_id, self.what(), ",".join(s.name for s in stages))
                    for stage in ordered:
                        keep_lock(held)     # stops here if the lock was lost (taken over)
                        log.info("stage %s: start", stage.name)
                        self._started.append(stage)
                        began = time.monotonic()
                        try:
                            self.run_stage(stage)
                        finally:
                            self.summary.stage_seconds[stage.name] = round(time.monotonic() - began, 3)
                        log.info("stage %s: done", stage.name)
                        faults.point(f"after_{stage.name}")     # a test may end the process here
                    return self.summary
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    self.record(error)
                    if self.summary.gold is not None:
                        self.summary.gold.frames.clear()   # their blocks go with them (a backfill runs on)
        finally:
            current_run_id.reset(token)

    def record(self, error: BaseException | None) -> None:
        """The run's row in ops/runs (etl/run/records.py) and, for a run with an export stage, in MySQL's
        etl_run_records, whatever the outcome; never hides the run's own error.

        A run stopped before its first stage (the secrets pre-flight) touched nothing and has no Spark
        session: its one line and exit code are its record."""
        self.summary.ended_at = datetime.now(timezone.utc)
        self.summary.status, self.summary.error = records.status_of(error), records.error_line(error)
        if self._spark is None:
            return
        try:
            try:
                # ops/runs belongs to the run identity (the bookkeeping), not to the last stage's.
                self._sign_in(RUN_IDENTITY)
                written = [t for stage in self._started for t in stage.writes()]
                self.summary.table_versions.update(records.written_versions(self.spark, self.cfg, self.run_id,
                                                                            written))
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
