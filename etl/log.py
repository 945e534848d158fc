"""Structured logging: every record carries the run id; ``--log-format json`` for machines.

Standard-library logging only: a filter stamps the current run id on each
record, and a formatter renders text or one JSON object per line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

current_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="-")


class RunContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks log with the run id of the code that submitted them.

    A new thread starts with an empty ``contextvars`` context (before Python 3.14), so a record
    logged in a plain pool's worker carried run id "-". Each task runs in a copy of the context
    it was submitted from (``Executor.map`` submits through ``submit``).
    """

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


class RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = current_run_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s [run %(run_id)s] %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("py4j", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # py4j logs "Exception while sending command" with a traceback, through the root logger, when the Spark
    # JVM is gone; the CLI says that in one line instead (etl.cli.spark_jvm_stopped).
    handler.addFilter(lambda record: f"{os.sep}py4j{os.sep}" not in record.pathname)


def console_progress_wanted() -> bool:
    """Spark's console progress bar (``[Stage 3:=====>   (40 + 2) / 200]``) for a person watching: only
    when standard error is a terminal and the log is text. It redraws one line in place, which a JSON
    log or a file cannot hold; there each Delta write's log line is the progress (etl.delta_io)."""
    if not sys.stderr.isatty():
        return False
    return not any(isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers)

