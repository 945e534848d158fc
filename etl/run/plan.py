"""The dry run (``etl run --dry-run``): what a run would read and write, without Spark and without writing.

Each stage says its own reads and writes (etl/run/stages.py, from the catalogue); the plan adds
the run lock's current holder. Only landing is listed (boto3 or the file system): everything
else is names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

from etl.ops.lock import RunLock
from etl.run.stages import PIPELINE, Stage

if TYPE_CHECKING:
    from etl.run.run import Run


def plan(run: "Run", stages: Sequence[Stage] = PIPELINE) -> list[str]:
    """The lines of the dry run of ``run.execute(stages)``."""
    cfg = run.cfg
    out = [f"dry run for {run.run_date} (profile {cfg.profile}), stages {','.join(s.name for s in stages)}: "
           f"nothing is started or written"]
    lock = run.lock(stages)
    out.append(f"  lock: would take {lock.where}; now {lock_now(lock)}")
    for stage in PIPELINE:                   # pipeline order, as the run takes them
        if stage in stages:
            out.extend(stage.plan(run))
    return out


def lock_now(lock: RunLock) -> str:
    try:
        state = lock.read()
    except Exception as exc:          # the dry run reports, it does not fail on a listing
        return f"unknown ({type(exc).__name__}: {exc})"
    if state is None:
        return "free"
    expired = " (stale: would be taken over)" if state.expired(datetime.now(timezone.utc)) else ""
    return f"held by {state.owner.describe()} since {state.acquired_at:%Y-%m-%dT%H:%M:%SZ}{expired}"
