"""The tiny day in a warm driver: the same day run several times in one Python process and one JVM.

Why: a scheduled ``etl run`` is a new JVM every day, and on a small day most of its CPU goes to
making that JVM fast (the JIT compilers compile Spark, Delta and Janino while the run waits for
them), not to the records. A long-lived driver, such as a Spark Connect server the scheduler
submits to, pays that once. This measures what such a driver would reach, without building one:
the first run is the cold process's; every later run is what a warm driver would do for the same day.

    .venv/bin/python benchmarks/warm_driver.py --runs 3 --results benchmarks/results/warm

Each run is the whole pipeline (ingest, silver, gold, export) for the demo's day 2026-11-22 on the
``local`` profile, from a landing folder, into a lake and an exports folder of its own (ingest
archives what it took, and the lake remembers it), so that every run does the work of a first day. The JVM's CPU seconds per run come from /proc (user + system of the JVM process and its
threads, the JIT compilers' own threads counted apart). Figures go to ``<results>/tiny.json`` and
docs/benchmarks.md ("A warm driver") quotes them; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import TINY_DATE, TINY_DAYS, TINY_START, load_average, machine  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of ``pid``'s live threads, split into the JIT compilers' and the rest."""
    out = {"jit": 0.0, "other": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / TICK
        out["jit" if "CompilerThre" in name else "other"] += seconds
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds of the whole process ``pid`` (its ended threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=3, help="runs of the day in one process (default 3)")
    parser.add_argument("--work", type=Path, default=ROOT / ".local" / "bench-warm")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "warm")
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    logging.basicConfig(level=getattr(logging, os.environ.get("WARM_LOG", "WARNING")), format="%(asctime)s %(name)s %(message)s")
    shutil.rmtree(args.work, ignore_errors=True)
    env = {**os.environ, "ETL_PROFILE": "local", "ETL__STORAGE__LANDING": str(args.work / "landing")}
    subprocess.run([str(ROOT / ".venv" / "bin" / "etl"), "generate", "--start", TINY_START.isoformat(),
                    "--days", str(TINY_DAYS), "--out", str(args.work / "generated")],
                   env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    from etl.config import load_config
    from etl.run.run import Run

    result = {"scenario": "tiny day, warm driver", "run_date": TINY_DATE.isoformat(), "profile": "local",
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "note": args.note,
              "machine": machine(), "load_average_start": load_average(), "runs": []}
    jvm_pid = None
    for i in range(args.runs):
        roots = {area: args.work / f"{area}-{i}" for area in ("landing", "lake", "exports")}
        shutil.copytree(args.work / "generated", roots["landing"], ignore=shutil.ignore_patterns("_*"))
        cfg = load_config("local", environ={**env, **{f"ETL__STORAGE__{k.upper()}": str(v) for k, v in roots.items()},
                                            "ETL__EXCEL__OUTPUT_DIR": str(roots["exports"])})
        before = (thread_cpu(jvm_pid), process_cpu(jvm_pid)) if jvm_pid else ({"jit": 0.0, "other": 0.0}, 0.0)
        started = time.monotonic()
        run = Run(cfg, TINY_DATE)
        summary = run.execute()
        wall = time.monotonic() - started
        if jvm_pid is None:
            jvm_pid = int(run.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        threads, total = thread_cpu(jvm_pid), process_cpu(jvm_pid)
        entry = {"run": i + 1, "wall_s": round(wall, 2),
                 "stages_s": {k: round(v, 2) for k, v in summary.stage_seconds.items()},
                 "jvm_cpu_s": round(total - before[1], 1),
                 "jit_cpu_s": round(threads["jit"] - before[0]["jit"], 1)}
        result["runs"].append(entry)
        print(json.dumps(entry), flush=True)
    result["load_average_end"] = load_average()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "tiny.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
