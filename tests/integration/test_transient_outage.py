"""A transient object-store outage during a run is retried and the run succeeds.

The stack's real MinIO server is killed while ``etl run`` is in its silver stage and
started again a few seconds later, on the same port and data. Spark's S3A client
retries connection failures with backoff (``fs.s3a.retry.*``, ``fs.s3a.attempts.maximum``
in etl/spark.py) and boto3 with its ``standard`` retry mode (etl/storage.py), so the run
must end with exit 0 and the same silver rows as without the outage. The permanent
counterpart (a wrong key fails fast with exit 3, no retry) is in test_no_leaks.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date

import pytest

from devtools import services
from devtools.generate import GenerateOptions
from etl.config import PROJECT_ROOT
from tests.integration.conftest import BIN, generate, isolated_env, landing_store

pytestmark = pytest.mark.integration

RUN_DATE = date(2026, 11, 22)
OPTS = GenerateOptions(start=RUN_DATE, days=1, sales_per_day=30, seed=23, feeds=("sales", "stores", "products",
                                                                                 "sales_team", "customers"))
OUTAGE_SECONDS = 3


def _wait_for(path, text: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"run ended before '{text}': {path.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"'{text}' not seen in {timeout} s")


def test_minio_killed_and_restarted_during_silver_the_run_still_succeeds(stack, s3_spark, tmp_path):
    env = isolated_env("outage")
    generate(OPTS, tmp_path / "gen", landing_store(stack, "outage"))
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([str(BIN / "etl"), "run", "--date", RUN_DATE.isoformat(), "--stages", "ingest,silver"],
                                env={**os.environ, **stack.env, **env}, cwd=PROJECT_ROOT, stdout=stdout, stderr=stderr)
        try:
            _wait_for(err, "stage silver: start", proc)
            pid = services.status(stack.cfg)["minio"]["pid"]
            os.kill(pid, signal.SIGKILL)
            time.sleep(OUTAGE_SECONDS)
            assert not services.status(stack.cfg)["minio"]["running"]
            services.start(stack.cfg, say=lambda line: None)       # same port, same data
            assert proc.wait(timeout=900) == 0, err.read_text()[-4000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "stage silver: done" in err.read_text()
    assert "silver sales        rows in 30, to silver 30, quarantined 0" in out.read_text()
    lake = stack.config(**env).storage.lake
    assert s3_spark.read.format("delta").load(f"{lake}/silver/transactions").count() == 30
