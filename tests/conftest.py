"""Shared fixtures: one local Spark session with Delta for the whole test run.

Integration fixtures (loopback MinIO and MariaDB) live in tests/integration/conftest.py.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)


@pytest.fixture(scope="session")
def local_config():
    from etl.config import load_config

    return load_config("local", environ={"ETL__SPARK__SHUFFLE_PARTITIONS": "2", "ETL__SPARK__MASTER": "local[2]"})


@pytest.fixture(scope="session")
def spark(local_config):
    """The project's own session builder, so tests run with the production settings."""
    from etl.spark import build_session

    session = build_session(local_config)
    yield session
    session.stop()
