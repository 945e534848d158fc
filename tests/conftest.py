"""Shared fixtures: one local Spark session with Delta for the whole test run.

Integration fixtures (loopback MinIO and MariaDB) live in tests/integration/conftest.py.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)


# Unit tests run hand-built frames of a few rows: Spark's cost there is planning and code generation,
# not data. These settings change how, never what, Spark computes.
TINY_DATA_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.codegen.wholeStage": "false",
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Parallel runs (`make test`: pytest-xdist, ``-n 2 --dist loadgroup``): a test file is one unit of
    work, as with ``--dist loadfile``, so module fixtures run once; files marked
    ``xdist_group("slice")`` (they share the session's slice run, ``local_slice_run``) go to one worker
    together, so the slice runs once. Serial runs ignore the marks."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
