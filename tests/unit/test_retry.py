"""Which errors are retried, how long retrying can take, and that each retry is logged."""

from __future__ import annotations

import logging

import pytest

from etl.config import load_config
from etl.export.mysql import is_transient_connect_error, is_transient_sql_error, sql_error_of
from etl.retry import RetryPolicy, call_with_retries, mysql_policy, s3_retry_config


@pytest.mark.parametrize("state, code", [
    ("08S01", 0),          # Connector/J: connection refused / communications link failure
    ("08001", 0),          # unable to connect
    ("08004", 1040),       # too many connections
    ("HY000", 1205),       # lock wait timeout
    ("40001", 1213),       # deadlock
    ("HY000", 2013),       # lost connection during query
    ("HYT00", 0),          # timeout
])
def test_transient_errors(state, code):
    assert is_transient_sql_error(state, code)


@pytest.mark.parametrize("state, code", [
    ("28000", 1045),       # access denied: wrong user or password
    ("42000", 1049),       # unknown database
    ("42000", 1044),       # access denied to the database
    ("42000", 1064),       # syntax error
    ("42S02", 1146),       # unknown table
    ("08S01", 1045),       # a permanent code wins over a connection SQLState
    ("HY000", 0),
    (None, None),          # not an SQL error at all
])
def test_permanent_errors(state, code):
    assert not is_transient_sql_error(state, code)


class _Java:
    """Stands in for a py4j Java exception: an SQLException or not, with a cause."""

    def __init__(self, state=None, code=None, cause=None):
        self.state, self.code, self.cause = state, code, cause

    def getSQLState(self):
        if self.state is None:
            raise AttributeError("no such method")
        return self.state

    def getErrorCode(self):
        return self.code

    def getCause(self):
        return self.cause


class _Py4JError(Exception):
    def __init__(self, java):
        super().__init__("java error")
        self.java_exception = java


def test_the_sql_error_is_found_in_the_cause_chain():
    wrapped = _Py4JError(_Java(cause=_Java("28000", 1045)))
    assert sql_error_of(wrapped) == ("28000", 1045)
    assert not is_transient_connect_error(wrapped)
    assert is_transient_connect_error(_Py4JError(_Java("08S01", 0)))
    assert sql_error_of(ValueError("plain python")) == (None, None)


def test_backoff_doubles_up_to_its_bound():
    assert RetryPolicy(6, 1.0, 5.0).waits() == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert RetryPolicy(1, 1.0, 5.0).waits() == []
    cfg = load_config("local", environ={"ETL__RETRIES__MYSQL_ATTEMPTS": "3", "ETL__RETRIES__S3_MODE": "adaptive"})
    assert mysql_policy(cfg) == RetryPolicy(3, 1.0, 30.0)
    assert s3_retry_config(cfg) == {"mode": "adaptive", "total_max_attempts": 5}


def test_a_transient_failure_is_retried_with_the_policy_waits_and_a_log_line_each(caplog):
    calls, slept = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("refused")
        return "connected"

    policy = RetryPolicy(5, 0.5, 1.0)
    with caplog.at_level(logging.WARNING, logger="etl.retry"):
        assert call_with_retries(flaky, policy, lambda e: isinstance(e, ConnectionError), "connecting",
                                 sleep=slept.append) == "connected"
    assert len(calls) == 4 and slept == policy.waits()[:3] == [0.5, 1.0, 1.0]
    assert [r.getMessage() for r in caplog.records] == [
        f"connecting failed (attempt {n} of 5): refused; retrying in {w:.1f} s" for n, w in ((1, 0.5), (2, 1.0), (3, 1.0))]


def test_retries_stop_at_the_bound_and_a_permanent_error_is_not_retried():
    calls, slept = [], []

    def down():
        calls.append(1)
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        call_with_retries(down, RetryPolicy(3, 2.0, 3.0), lambda e: True, "x", sleep=slept.append)
    assert len(calls) == 3 and slept == [2.0, 3.0]

    calls.clear(), slept.clear()
    with pytest.raises(PermissionError):
        call_with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(PermissionError("denied")),
                          RetryPolicy(5), lambda e: not isinstance(e, PermissionError), "x", sleep=slept.append)
    assert len(calls) == 1 and slept == []


def test_boto3_retries_a_refused_connection_with_a_log_line_per_retry(caplog):
    import socket

    from botocore.exceptions import EndpointConnectionError

    from etl.storage import s3_client

    with socket.socket() as sock:            # a free port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = load_config("dev", environ={"ETL__STORAGE__S3__ENDPOINT": f"http://127.0.0.1:{port}",
                                      "ETL__RETRIES__S3_MAX_ATTEMPTS": "3"})
    client = s3_client(cfg, lambda name: "not-a-real-" + name)
    with caplog.at_level(logging.WARNING, logger="etl.retry"), pytest.raises(EndpointConnectionError):
        client.head_object(Bucket="landing", Key="x")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" after ")[0] for line in lines] == ["s3 HeadObject: attempt 2 of 3",
                                                              "s3 HeadObject: attempt 3 of 3"]
    assert "EndpointConnectionError" in lines[0]


def test_an_s3_client_keeps_a_connection_per_ingest_thread():
    """Fewer pooled connections than ingest's threads makes urllib3 open, discard and warn per call."""
    from etl.bronze.ingest import IO_THREADS
    from etl.storage import s3_client

    client = s3_client(load_config("dev"), lambda name: "not-a-real-" + name)
    assert client.meta.config.max_pool_connections >= IO_THREADS
