"""The warm-driver benchmark's CPU readers (benchmarks/warm_driver.py), on this test's own process."""

from __future__ import annotations

import os
import threading
import time

import pytest

from benchmarks.warm_driver import process_cpu, thread_cpu

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_process_cpu_counts_the_work_of_every_thread():
    before = process_cpu(os.getpid())
    worker = threading.Thread(target=_spin, args=(0.5,))
    worker.start()
    worker.join()
    assert process_cpu(os.getpid()) - before >= 0.3


def test_thread_cpu_puts_only_compiler_threads_under_jit():
    worker = threading.Thread(target=_spin, args=(0.5,), name="busy")
    worker.start()
    try:
        split = thread_cpu(os.getpid())
    finally:
        worker.join()
    assert split["jit"] == 0.0          # a Python process has no "C2 CompilerThread"
    assert split["other"] > 0.0
    assert split["other"] <= process_cpu(os.getpid()) + 0.05
