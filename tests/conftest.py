"""Shared fixtures: one local Spark session with Delta for the whole test run.

Integration fixtures (loopback MinIO and MariaDB) live in tests/integration/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)


# Unit tests run hand-built frames of a few rows: Spark's cost there is planning and code generation,
# not data. These settings change how, never what, Spark computes. The code generation factory's
# NO_CODEGEN evaluates projections, predicates and orderings with Spark's interpreted implementations
# (the reference its generated code is tested against) instead of compiling Java for each one with
# Janino, a compile that a few rows never repay: tests/unit/test_gold_incremental.py 236 -> 198 CPU s
# (docs/benchmarks.md, "Test suite").
TINY_DATA_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
}


@pytest.fixture(scope="session")
def local_config():
    from etl.config import load_config

    return load_config("local", environ={"ETL__SPARK__SHUFFLE_PARTITIONS": "2", "ETL__SPARK__MASTER": "local[2]"})


@pytest.fixture(scope="session")
def spark(local_config):
    """The project's own session builder (the production settings), plus TINY_DATA_SETTINGS unless
    ETL_TEST_FAST_SPARK=0: about half the time on hand-built frames (tests/unit/test_gold_incremental.py
    156 s -> 76 s)."""
    from etl.spark import build_session

    session = build_session(local_config)
    if os.environ.get("ETL_TEST_FAST_SPARK", "1") == "1":
        for key, value in TINY_DATA_SETTINGS.items():
            session.conf.set(key, value)
    yield session
    session.stop()



# -- how two pytest-xdist workers share the suite (make test: -n 2 --dist loadfile) ----------------------
# The modules that read the session's observed slice run (tests/integration/conftest.py local_slice_run)
# go to one worker as one unit, so that run happens once, not once per worker.
SLICE_RUN_MODULES = {"test_cluster.py", "test_daily_slice.py", "test_dashboard.py", "test_mysql_export.py",
                     "test_no_leaks.py", "test_recovery.py"}
SLICE_RUN_UNIT = "tests/integration/[slice run]"
# Units start heaviest first (longest processing time first), so no worker ends alone on a long module:
# xdist's own order is by number of tests, which put the single-test, ten-minute modules last. Weights
# are relative costs from `pytest --durations` (docs/benchmarks.md, "Test suite"); unlisted modules weigh nothing.
UNIT_WEIGHTS = {SLICE_RUN_UNIT: 100, "tests/integration/test_operations_records.py": 40,
                "tests/integration/test_multi_day_runs.py": 36, "tests/integration/test_bench_smoke.py": 30,
                "tests/integration/test_dashboard_browser.py": 18,   # its own run of the demo's data, not the slice
                "tests/integration/test_ingest.py": 25, "tests/integration/test_silver.py": 25,
                "tests/integration/test_transient_outage.py": 12, "tests/integration/test_run_lock.py": 8}


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SLICE_RUN_UNIT if path.rsplit("/", 1)[-1] in SLICE_RUN_MODULES else path


def pytest_collection_modifyitems(config, items):
    """Heaviest work units first (a stable sort: the order inside a module is kept)."""
    items.sort(key=lambda item: -UNIT_WEIGHTS.get(work_unit(item.nodeid), 0))


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile with the slice-run modules as one unit, in the order of the sorted collection."""
    if getattr(config.option, "dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SliceRunAwareScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return SliceRunAwareScheduling(config, log)


@contextmanager
def server_folder(prefix: str):
    """A folder for a test MariaDB's data that Debian's ``mysql`` user can reach: run by root, the
    server runs as ``mysql`` (devtools.services.mariadb_account), and pytest's own temporary folders sit
    under a 0700 ``/tmp/pytest-of-root``. Removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"etl-test-{prefix}-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)

