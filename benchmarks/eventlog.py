"""What a run's Spark event log says about memory, spill and where the time went.

The benchmark runs each pipeline process with Spark's event log on (``spark.eventLog.*``, a
folder per run) and reads it here afterwards: the figures come from Spark's own task and
executor metrics, the same ones its UI and history server show, so nothing is sampled from
outside. Written here rather than read through the history server because a benchmark must
not need one more service; the event log is JSON Lines, one listener event per line.

- heap: the highest ``JVMHeapMemory`` (heap in use, garbage included, as the JVM reports it
  before a collection) that the driver reported; in local mode the executor is the driver.
- spill: Spark's task metrics ``Memory Bytes Spilled`` (the in-memory size of what was
  spilled) and ``Disk Bytes Spilled`` (what it took on disk), summed over the tasks.
- shuffle: bytes written and read by shuffles; GC: the JVM's total collection time.
- time: the SQL executions (one per action) by duration, with the job description the
  pipeline gave them, so that a profile names the slowest tables and steps.
- CPU: the tasks' CPU seconds (``Executor CPU Time`` plus deserialisation, the JVM's threads only, not
  Python workers) by job description, all of them (``task_cpu_s_by_job``): on a shared machine, where
  wall time lies, what a table's own jobs cost.
- counts: Spark SQL executions started (``SparkListenerSQLExecutionStart``: every action, Delta's
  own snapshot and MERGE queries included, also those that never ended in a killed run) and Spark
  jobs started (``SparkListenerJobStart``). On a small day these, not the rows, are the run's cost
  (per query: planning, a Delta snapshot, scheduling).
- session: when the application (the SparkContext) started, ``SparkListenerApplicationStart``'s
  ``Timestamp`` in epoch milliseconds, so that the benchmark can tell the time a run spent after
  its Spark session was up from the process's start-up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


def events(folder: Path):
    """Every event of every log under ``folder`` (Spark 4 writes a folder of rolled files per application)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.startswith(("events_", "local-", "app-"))
                       and not p.name.endswith((".crc", ".inprogress"))):
        with open(path) as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except ValueError:      # the last line of a log still being written (or of a killed run)
                    continue


def summarize(folder: Path, top: int = 12) -> dict:
    """Peak heap, spill, shuffle and GC totals, and the slowest SQL executions of the logs under ``folder``."""
    peak_heap = peak_execution = memory_spilled = disk_spilled = shuffle_written = shuffle_read = 0
    gc_ms = tasks = stages = jobs = sql_started = 0
    app_start_ms: int | None = None
    started: dict[int, tuple[int, str]] = {}
    executions: list[dict] = []
    job_descriptions: dict[int, str] = {}
    stage_seconds_by_description: dict[str, float] = defaultdict(float)
    cpu_ns_by_description: dict[str, int] = defaultdict(int)
    for event in events(folder):
        kind = event["Event"]
        if kind == "SparkListenerTaskEnd":
            tasks += 1
            heap = (event.get("Task Executor Metrics") or {}).get("JVMHeapMemory", 0)
            peak_heap = max(peak_heap, heap)
            metrics = event.get("Task Metrics") or {}
            cpu_ns_by_description[job_descriptions.get(event.get("Stage ID")) or "(no description)"] += (
                metrics.get("Executor CPU Time", 0) + metrics.get("Executor Deserialize CPU Time", 0))
            peak_execution = max(peak_execution, metrics.get("Peak Execution Memory", 0))
            memory_spilled += metrics.get("Memory Bytes Spilled", 0)
            disk_spilled += metrics.get("Disk Bytes Spilled", 0)
            shuffle_written += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
            read = metrics.get("Shuffle Read Metrics") or {}
            shuffle_read += read.get("Remote Bytes Read", 0) + read.get("Local Bytes Read", 0)
        elif kind == "SparkListenerStageExecutorMetrics":
            executor_metrics = event.get("Executor Metrics") or {}
            peak_heap = max(peak_heap, executor_metrics.get("JVMHeapMemory", 0))
            gc_ms = max(gc_ms, executor_metrics.get("TotalGCTime", 0))
        elif kind == "SparkListenerApplicationStart":
            app_start_ms = event.get("Timestamp") if app_start_ms is None else min(app_start_ms, event["Timestamp"])
        elif kind == "SparkListenerJobStart":
            jobs += 1
            description = (event.get("Properties") or {}).get("spark.job.description")
            for stage_id in event.get("Stage IDs", []):
                job_descriptions[stage_id] = description or ""
        elif kind == "SparkListenerStageCompleted":
            stages += 1
            info = event["Stage Info"]
            if info.get("Submission Time") and info.get("Completion Time"):
                seconds = (info["Completion Time"] - info["Submission Time"]) / 1000
                stage_seconds_by_description[job_descriptions.get(info["Stage ID"]) or "(no description)"] += seconds
        elif kind == SQL_START:
            sql_started += 1
            started[event["executionId"]] = (event["time"], event.get("description", ""))
        elif kind == SQL_END and event["executionId"] in started:
            begin, description = started.pop(event["executionId"])
            executions.append({"id": event["executionId"], "seconds": round((event["time"] - begin) / 1000, 2),
                               "description": description})
    executions.sort(key=lambda e: -e["seconds"])
    by_description = sorted(stage_seconds_by_description.items(), key=lambda kv: -kv[1])
    return {"peak_heap_mib": round(peak_heap / 2 ** 20),
            "peak_task_execution_memory_mib": round(peak_execution / 2 ** 20),
            "memory_spilled_mib": round(memory_spilled / 2 ** 20), "disk_spilled_mib": round(disk_spilled / 2 ** 20),
            "shuffle_written_mib": round(shuffle_written / 2 ** 20), "shuffle_read_mib": round(shuffle_read / 2 ** 20),
            "gc_s": round(gc_ms / 1000, 1), "tasks": tasks, "stages": stages, "sql_executions": len(executions),
            "sql_executions_started": sql_started, "jobs": jobs, "app_start_ms": app_start_ms,
            "slowest_sql": executions[:top],
            "stage_seconds_by_job": [{"job": name, "seconds": round(s, 1)} for name, s in by_description[:top]],
            "task_cpu_s_by_job": {name: round(ns / 1e9, 2) for name, ns in sorted(cpu_ns_by_description.items())}}


if __name__ == "__main__":
    import sys

    print(json.dumps(summarize(Path(sys.argv[1])), indent=1))
