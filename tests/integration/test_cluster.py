"""The daily job on a real Spark standalone cluster: master + worker on 127.0.0.1 via spark-class.

The job is sent with ``spark-submit --master spark://127.0.0.1:<port>`` as on a production
cluster; its gold must equal the local-mode run's gold. The master, the worker and the submitted
driver compile with the client JIT only, like every job process of the tests (``JOB_JVM_OPTIONS``:
how fast the JVMs warm up on CI's two cores, never what the job computes; the executor gets it
through the stack's ``spark.executor.extraJavaOptions``).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from etl.config import PROJECT_ROOT
from etl.jars import jars_csv
from tests.integration.conftest import (BIN, JOB_JVM_OPTIONS, SLICE_OPTS, SLICE_RUN_DATE, free_ports,
                                        isolated_env, landing_store)
from devtools.generate import generate

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
ORDER = ["store_id", "sales_person_id", "sales_month"]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("spark-cluster")
    port, master_ui, worker_ui = free_ports(3)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(work / "worker"),
           "SPARK_LOG_DIR": str(work / "logs"), "SPARK_NO_DAEMONIZE": "1",
           "SPARK_DAEMON_JAVA_OPTS": JOB_JVM_OPTIONS}
    spark_class = str(BIN / "spark-class")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(master_ui)],
        env=env, stdout=open(work / "master.log", "w"), stderr=subprocess.STDOUT)
    worker = None
    try:
        _wait_http(f"http://127.0.0.1:{master_ui}/json/")
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
             "--host", "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui)],
            env=env, stdout=open(work / "worker.log", "w"), stderr=subprocess.STDOUT)
        _wait_http(f"http://127.0.0.1:{worker_ui}/json/")
        yield f"spark://127.0.0.1:{port}", work
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def test_spark_submit_on_standalone_cluster_matches_local_gold(cluster, local_slice_run, s3_spark, tmp_path):
    master_url, work = cluster
    stack, local_cfg, _, _ = local_slice_run
    env = {**isolated_env("cluster"), "SPARK_LOCAL_IP": "127.0.0.1",
           "ETL__EXCEL__OUTPUT_DIR": str(tmp_path / "exports")}
    generate(SLICE_OPTS, tmp_path / "gen", landing_store(stack, "cluster"))

    submitted = stack.run([
        str(BIN / "spark-submit"), "--master", master_url, "--deploy-mode", "client",
        "--jars", jars_csv(), "--driver-memory", "1g", "--executor-memory", "1g",
        "--driver-java-options", JOB_JVM_OPTIONS,
        "--conf", "spark.cores.max=1",
        str(PROJECT_ROOT / "jobs" / "daily_etl.py"), "--date", SLICE_RUN_DATE.isoformat(),
    ], env)
    assert submitted.returncode == 0, submitted.stderr[-4000:]
    # The work really ran on the worker: it launched an executor for the application.
    assert any(Path(work / "worker").glob("app-*/*/stderr")), "no executor ran on the standalone worker"

    cluster_cfg = stack.config(**isolated_env("cluster"))
    read = lambda cfg: [tuple(r) for r in s3_spark.read.format("delta")  # noqa: E731
                        .load(f"{cfg.storage.lake}/gold/sales_team_data_mart").orderBy(*ORDER).collect()]
    local_gold = read(local_cfg)
    assert len(local_gold) == 9
    assert read(cluster_cfg) == local_gold
