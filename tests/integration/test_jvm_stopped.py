"""A run whose Spark JVM dies (out of heap, killed) ends with one clear line and exit code 1, not a traceback.

The JVM is really killed (SIGKILL, through the test hook ``ETL_TEST_KILL_JVM_AT=after_ingest`` of
etl.faults.point) between the ingest and silver stages of a local-profile run on an
empty landing; silver's first Spark call then meets a dead JVM, as after an OutOfMemoryError.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.conftest import BIN

pytestmark = [pytest.mark.integration]


def test_a_dead_spark_jvm_is_one_line_naming_the_heap(tmp_path):
    env = {**os.environ, "ETL_PROFILE": "local", "ETL_TEST_KILL_JVM_AT": "after_ingest",
           "ETL__SPARK__SHUFFLE_PARTITIONS": "1",
           **{f"ETL__STORAGE__{area.upper()}": str(tmp_path / area) for area in ("landing", "lake", "exports")}}
    (tmp_path / "landing").mkdir()
    done = subprocess.run([str(BIN / "etl"), "run", "--date", "2026-11-20", "--stages", "ingest,silver"],
                          env=env, capture_output=True, text=True, timeout=600)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-3000:]
    assert lines[-1].startswith("etl: error: the Spark JVM stopped in the middle of the run"), done.stderr[-3000:]
    assert "spark.driver_memory" in lines[-1]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "killing the Spark JVM here" in done.stderr           # the hook ran: the JVM died for real
