"""Bounded retries with exponential backoff for transient failures, one log line per retry.

Two mechanisms, one policy (``retries`` in the config):

- boto3 (landing, archive, exports): botocore's own retry modes already retry
  throttling, 5xx answers and connection errors; ``s3_retry_config`` sets the mode
  and the attempts, and ``log_s3_retries`` makes each retry visible at WARNING
  (botocore itself only logs at DEBUG).
- Anything else (opening a MySQL connection): ``call_with_retries`` with
  ``tenacity``, retrying only what a classifier says is transient, so bad
  credentials or a missing database fail at once.

Spark's own I/O to S3 is retried by Hadoop S3A (``fs.s3a.retry.*``, ``fs.s3a.attempts.maximum``
in etl/spark.py); see docs/operations-maintenance.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from etl.config import Config

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits of ``first_backoff`` seconds, doubled each time, at most ``max_backoff``."""

    attempts: int = 5
    first_backoff: float = 1.0
    max_backoff: float = 30.0

    def waits(self) -> list[float]:
        """The waits between the attempts, in order: their sum bounds the time spent retrying."""
        return [min(self.max_backoff, self.first_backoff * 2 ** n) for n in range(self.attempts - 1)]


def mysql_policy(cfg: Config) -> RetryPolicy:
    r = cfg.retries
    return RetryPolicy(r.mysql_attempts, r.mysql_backoff_seconds, r.mysql_max_backoff_seconds)


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, is_transient: Callable[[BaseException], bool],
                      what: str, describe: Callable[[BaseException], str] = str,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again after a transient failure until ``policy.attempts`` tries are spent.

    The last exception is raised unchanged (a permanent one at once). ``describe`` renders an
    exception for the log line (it must not reveal secrets).
    """
    def before_sleep(state) -> None:
        log.warning("%s failed (attempt %d of %d): %s; retrying in %.1f s", what, state.attempt_number,
                    policy.attempts, describe(state.outcome.exception()), state.next_action.sleep)

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.first_backoff, max=policy.max_backoff),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)


def s3_retry_config(cfg: Config) -> dict:
    """botocore's ``retries`` setting for a client (``total_max_attempts`` counts the first try,
    botocore's ``max_attempts`` would not)."""
    return {"mode": cfg.retries.s3_mode, "total_max_attempts": cfg.retries.s3_max_attempts}


def log_s3_retries(client, max_attempts: int):
    """Log each retry botocore makes on ``client``, with the error that caused it; returns the client."""
    def remember_error(request_dict=None, response=None, caught_exception=None, **_):
        if request_dict is None:
            return None
        if caught_exception is not None:
            error = f"{type(caught_exception).__name__}: {caught_exception}"
        elif response is not None:
            meta = response[1].get("ResponseMetadata", {})
            error = f"HTTP {meta.get('HTTPStatusCode')} {response[1].get('Error', {}).get('Code', '')}".strip()
        else:
            return None
        request_dict["context"]["etl_last_error"] = error
        return None              # never decides anything: botocore's own handler does

    def log_retry(request=None, operation_name=None, **_):
        context = getattr(request, "context", {}) or {}
        retries = context.get("retries", {})
        attempt = retries.get("attempt", 1)
        if attempt > 1:
            log.warning("s3 %s: attempt %d of %d after %s", operation_name, attempt, retries.get("max", max_attempts),
                        context.get("etl_last_error", "a transient error"))

    client.meta.events.register("needs-retry.s3", remember_error)
    client.meta.events.register("request-created.s3", log_retry)
    return client
