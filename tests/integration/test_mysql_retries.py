"""Opening a MySQL connection against the real MariaDB: unreachable at first, then reachable, is
retried until it connects; wrong credentials fail at the first attempt, without a retry."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace

import pytest

from etl.errors import ExportError
from etl.export.mysql import Connection, target_for
from etl.retry import RetryPolicy
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration

RETRY_LINE = "failed (attempt"


class LateForwarder:
    """A TCP port that refuses connections until ``start`` is called, then forwards them to ``target``."""

    def __init__(self, port: int, target: int):
        self.port, self.target = port, target
        self.server: socket.socket | None = None

    def start(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return                      # closed
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        if self.server:
            self.server.close()


def _retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if RETRY_LINE in r.getMessage()]


def test_mysql_unreachable_at_first_is_retried_until_it_answers(stack, spark, caplog):
    port, = free_ports(1)
    forwarder = LateForwarder(port, stack.cfg.mysql.port)
    timer = threading.Timer(3.0, forwarder.start)
    target = replace(target_for(stack.config(ETL__MYSQL__PORT=str(port)), stack.secret),
                     retry=RetryPolicy(attempts=6, first_backoff=0.5, max_backoff=2.0))  # waits 0.5+1+2+2+2 s
    started = time.monotonic()
    timer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="etl.retry"), Connection(spark, target) as conn:
            assert conn.query("SELECT 1") == [("1",)]
    finally:
        timer.cancel()
        forwarder.close()
    elapsed = time.monotonic() - started
    lines = _retry_lines(caplog)
    assert elapsed >= 3.0 and 2 <= len(lines) <= 5, (elapsed, lines)
    assert lines[0].startswith(f"connecting to MySQL at jdbc:mysql://127.0.0.1:{port}/")
    assert "attempt 1 of 6" in lines[0] and "Communications link failure" in lines[0]
    assert target.password not in "\n".join(lines)


def test_wrong_credentials_fail_fast_without_a_retry(stack, spark, caplog):
    real = target_for(stack.cfg, stack.secret)
    target = replace(real, password=real.password + "-wrong", retry=RetryPolicy(attempts=5, first_backoff=2.0))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="etl.retry"), pytest.raises(ExportError) as failure:
        Connection(spark, target)
    assert time.monotonic() - started < 2.0, "the first wait (2 s) was never slept"
    assert _retry_lines(caplog) == []
    assert "Access denied" in str(failure.value) and target.password not in str(failure.value)
