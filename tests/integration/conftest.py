"""Real services for integration tests: a loopback MinIO and MariaDB of their own.

Everything the tests touch (ports, data folders, secrets file, master key) lives
under a temporary folder, so a developer's running ``dev`` services are never
used or changed. Jobs run as separate processes (``etl run``, ``spark-submit``)
exactly as a user starts them; the configuration reaches them through
``ETL__...`` environment variables.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from devtools import services
from devtools.generate import GenerateOptions, generate
from etl.config import PROJECT_ROOT, Config, load_config
from etl.secrets import SecretStore
from etl.spark import _s3_buckets, spark_conf
from etl.storage import store_for
from tests.conftest import server_folder

BIN = Path(sys.executable).parent
# JVM options of the job processes the tests start (``etl run``, spark-submit, the benchmark's runs): the
# client JIT only (C1, no C2). Such a JVM runs a tiny job for a few minutes and spent a third of its CPU
# in C2's compiler threads, whose code it never ran long enough to repay: a cold session with a few
# Delta writes and a MERGE took 85 s of CPU with both compilers, 57 s with C1 alone (docs/benchmarks.md,
# "Test suite"). The compiled code computes the same; only how fast it runs differs.
# With C1 alone the JVM also shrinks its code cache to 48 MB (240 MB with both compilers), and a whole run
# of the pipeline can fill that: "CodeCache is full", then "Out of space in CodeCache for adapters", a
# VirtualMachineError that ends the JVM mid-run (test_transient_outage.py in stop 33's CI). So the cache
# keeps the size it has in production.
JOB_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Stack:
    """The running services and the environment that points a job at them."""

    env: dict[str, str]
    cfg: Config

    def config(self, **overrides: str) -> Config:
        return load_config("dev", environ={**self.env, **overrides})

    def secret(self, name: str) -> str:
        return SecretStore(self.cfg.secrets_file).get(name)

    def run(self, args: list[str], extra_env: dict[str, str] | None = None,
            timeout: int = 1800, seen: set[str] | None = None) -> subprocess.CompletedProcess:
        """Run a job as its own process; with ``seen``, also collect the command line and environment
        of every process on the machine while it runs (the leak test searches them)."""
        env = {**os.environ, **self.env, **(extra_env or {})}
        if seen is None:
            return subprocess.run(args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
        done = threading.Event()
        sampler = threading.Thread(target=_sample_processes, args=(seen, done), daemon=True)
        sampler.start()
        try:
            return subprocess.run(args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
        finally:
            done.set()
            sampler.join()


def _is_storage_server(cmdline: bytes) -> bool:
    """MinIO and MariaDB servers themselves: MinIO is given its root credentials in its environment by
    design (devtools/services.py); what is searched is everything else on the machine."""
    argv = cmdline.split(b"\0")
    first = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
    return (first == "minio" and b"server" in argv[1:2]) or first in ("mariadbd", "mysqld")


def _sample_processes(seen: set[str], done: threading.Event) -> None:
    """Every 0.2 s: /proc/<pid>/cmdline and /proc/<pid>/environ of each process (as text), except the
    storage servers'."""
    while True:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if _is_storage_server((entry / "cmdline").read_bytes()):
                        continue
                except OSError:
                    continue
                for name in ("cmdline", "environ"):
                    try:
                        seen.add((entry / name).read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
                    except OSError:
                        pass
        if done.wait(0.2):
            return


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    root = tmp_path_factory.mktemp("stack")
    with server_folder("stack") as mariadb_dir:
        minio_port, console_port, mariadb_port = free_ports(3)
        env = {
            "ETL_PROFILE": "dev",
            "ETL_MASTER_KEY_FILE": str(root / "key" / "master.key"),
            "ETL__SERVICES__MINIO__PORT": str(minio_port),
            "ETL__SERVICES__MINIO__CONSOLE_PORT": str(console_port),
            "ETL__SERVICES__MINIO__DATA_DIR": str(root / "minio"),
            "ETL__SERVICES__MARIADB__PORT": str(mariadb_port),
            "ETL__SERVICES__MARIADB__DATA_DIR": str(mariadb_dir / "mariadb"),
            "ETL__STORAGE__S3__ENDPOINT": f"http://127.0.0.1:{minio_port}",
            "ETL__MYSQL__PORT": str(mariadb_port),
            "ETL__SECRETS__FILE": str(root / "secrets.json"),
            "ETL__EXCEL__OUTPUT_DIR": str(root / "exports"),
            # Jobs here process a few hundred rows: one shuffle partition, no whole-stage code generation
            # (compiling it costs more than running it on such data), and Delta's log state rebuilt in one
            # task instead of 50, expressions evaluated interpreted instead of compiled one by one
            # (NO_CODEGEN, as the test session). A job process started by a test lives a few minutes: its
            # JVM compiles with the quick JIT only (JOB_JVM_OPTIONS). How Spark computes, never what
            # (tests/conftest.py TINY_DATA_SETTINGS).
            "ETL__SPARK__SHUFFLE_PARTITIONS": "1",
            "ETL__SPARK__CONF": json.dumps({"spark.sql.codegen.wholeStage": "false",
                                            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                                            "spark.databricks.delta.snapshotPartitions": "1",
                                            "spark.driver.extraJavaOptions": JOB_JVM_OPTIONS,
                                            "spark.executor.extraJavaOptions": JOB_JVM_OPTIONS}),
        }
        cfg = load_config("dev", environ=env)
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("ETL_MASTER_KEY", raising=False)
            mp.setenv("ETL_MASTER_KEY_FILE", env["ETL_MASTER_KEY_FILE"])
            services.start(cfg, say=lambda line: None)
            yield Stack(env, cfg)
            services.stop(cfg, say=lambda line: None)


@pytest.fixture
def lake_prefix() -> str:
    """A fresh prefix per test so tests never see each other's tables or files."""
    return f"t-{uuid.uuid4().hex[:8]}"


def isolated_env(prefix: str) -> dict[str, str]:
    return {
        "ETL__STORAGE__LANDING": f"s3a://landing/{prefix}",
        "ETL__STORAGE__LAKE": f"s3a://lake/{prefix}",
        "ETL__STORAGE__EXPORTS": f"s3a://exports/{prefix}",
    }


@pytest.fixture(scope="session")
def s3_spark(spark, stack):
    """The test session, also able to read the stack's buckets over s3a (set on the live Hadoop conf)."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in spark_conf(stack.cfg, under_spark_submit=True).items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop."):], value)
    hadoop.set("fs.s3a.access.key", stack.secret(stack.cfg.storage.s3.access_key_secret))
    hadoop.set("fs.s3a.secret.key", stack.secret(stack.cfg.storage.s3.secret_key_secret))
    return spark


@contextmanager
def in_process(stack: Stack, spark, env: dict[str, str]) -> Iterator[Config]:
    """The configuration of ``env`` for runs started in this process (``etl.run.run.Run``) on the
    test session: no JVM start per run. A run signs Spark's S3A in as each stage's identity; the
    session's root keys are put back afterwards, so the other tests of this worker read as before."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**stack.env, **env}.items():
            mp.setenv(key, value)
        mp.delenv("ETL_MASTER_KEY", raising=False)
        try:
            yield stack.config(**env)
        finally:
            hadoop = spark.sparkContext._jsc.hadoopConfiguration()
            hadoop.set("fs.s3a.access.key", stack.secret(stack.cfg.storage.s3.access_key_secret))
            hadoop.set("fs.s3a.secret.key", stack.secret(stack.cfg.storage.s3.secret_key_secret))
            jvm = spark.sparkContext._jvm
            for bucket in _s3_buckets(stack.cfg):
                jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(f"s3a://{bucket}/"), hadoop).close()


def etl_in_process(stack: Stack, spark, env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess:
    """``etl ARGS`` run by ``etl.cli.main`` in this process, on the test session, with its standard output,
    its standard error (log lines included, as the job writes them) and exit code, like ``Stack.run``.

    A job process started cold spends most of a tiny run loading classes and compiling; in the test
    worker's warm JVM the same run takes a fraction of that. What needs a process of its own (a kill,
    two runs at once, the process list, Spark's own logs) still uses ``Stack.run``."""
    from etl import cli

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with in_process(stack, spark, env), redirect_stdout(out), redirect_stderr(err):
            code = cli.main(args)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    return subprocess.CompletedProcess(["etl", *args], code, out.getvalue(), err.getvalue())


def landing_store(stack: Stack, prefix: str):
    cfg = stack.config(**isolated_env(prefix))
    return store_for(cfg, cfg.storage.landing, stack.secret)


SLICE_RUN_DATE = date(2026, 11, 22)
SLICE_OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, sales_per_day=40, seed=11)


# Spark's event log, uncompressed so it can be searched (test_no_leaks.py); Hadoop's S3A and the AWS SDK
# log at DEBUG through log4j2-debug-s3a.properties, next to this file.
LOG4J_DEBUG = Path(__file__).with_name("log4j2-debug-s3a.properties")


def observed_env(stack: Stack, env: dict[str, str], event_dir: Path) -> dict[str, str]:
    """``env`` plus an event log in ``event_dir`` and DEBUG logging of S3A and the AWS SDK."""
    conf = json.loads(stack.env["ETL__SPARK__CONF"])
    conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_dir.as_uri(),
                 "spark.eventLog.compress": "false",
                 "spark.driver.extraJavaOptions": f"{JOB_JVM_OPTIONS} -Dlog4j2.configurationFile={LOG4J_DEBUG.as_uri()}"})
    return {**env, "ETL__SPARK__CONF": json.dumps(conf)}


@dataclass
class SliceRun:
    """What the leak test searches: the run's output, its event log folder, the processes seen."""

    event_dir: Path
    processes: set[str]


@pytest.fixture(scope="session")
def local_slice_run(stack, s3_spark, tmp_path_factory):
    """Three generated days in landing prefix ``slice``, run once with ``etl run`` in local mode,
    observed: Python logs at DEBUG, Spark's event log on, every process's command line sampled."""
    env = isolated_env("slice")
    generate(SLICE_OPTS, tmp_path_factory.mktemp("gen"), landing_store(stack, "slice"))
    observed = SliceRun(tmp_path_factory.mktemp("events"), set())
    first = stack.run([str(BIN / "etl"), "--log-level", "DEBUG", "run", "--date", SLICE_RUN_DATE.isoformat()],
                      observed_env(stack, env, observed.event_dir), seen=observed.processes)
    assert first.returncode == 0, first.stderr[-3000:]
    first.observed = observed
    return stack, stack.config(**env), env, first

def served_text(value):
    """A Spark value as Connector/J's getString shows it (how a MySQL row reads back as text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def sorted_rows(rows):
    """Rows in a total order whatever their nulls (MySQL and Spark order nulls differently)."""
    return sorted(rows, key=lambda row: tuple("" if v is None else v for v in row))
