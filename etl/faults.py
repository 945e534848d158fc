"""Fault injection for the recovery tests, in one place: the named points where a test may end the process.

A point does nothing unless the environment names it:

- ``ETL_TEST_CRASH_AT=<point>`` ends the process at once with exit code 70, as a kill would
  (tests/integration/test_ingest.py, test_recovery.py);
- ``ETL_TEST_KILL_JVM_AT=<point>`` kills the Spark JVM (SIGKILL, as the kernel or an OutOfMemoryError
  would end it) and carries on, so that the next Spark call meets a dead JVM
  (tests/integration/test_jvm_stopped.py).

The points: ``after_bronze_commit`` and ``after_manifest`` inside the ingest stage
(etl/bronze/ingest.py), and ``after_<stage>`` at each stage boundary of a run (etl/run/run.py).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CRASH_ENV = "ETL_TEST_CRASH_AT"
KILL_JVM_ENV = "ETL_TEST_KILL_JVM_AT"
CRASH_EXIT = 70


def point(name: str) -> None:
    """A named point of the run: a no-op unless ``ETL_TEST_CRASH_AT`` or ``ETL_TEST_KILL_JVM_AT`` names it."""
    if os.environ.get(CRASH_ENV) == name:
        log.error("test hook %s=%s: stopping the process here", CRASH_ENV, name)
        os._exit(CRASH_EXIT)
    if os.environ.get(KILL_JVM_ENV) == name:
        from pyspark import SparkContext

        log.error("test hook %s=%s: killing the Spark JVM here", KILL_JVM_ENV, name)
        gateway_process = SparkContext._gateway.proc     # spark-submit, which execs the JVM: the same pid
        os.kill(gateway_process.pid, 9)
        gateway_process.wait()
