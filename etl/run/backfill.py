"""A backfill (``etl run --from D1 --to D2``): one full run per date, in order, under one run lock."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Callable, Sequence

from etl.config import Config
from etl.errors import EXIT_FAILURE, EtlError
from etl.run.run import Run
from etl.run.stages import PIPELINE, STAGES, Stage
from etl.run.summary import RunSummary

log = logging.getLogger(__name__)


def run_dates(cfg: Config, first: date, last: date, stages: Sequence[Stage] = PIPELINE, rebuild_gold: bool = False,
              report: Callable[[RunSummary], None] = lambda summary: None,
              trigger: str = "backfill") -> list[RunSummary]:
    """A backfill: one full Run (own run id) per date from ``first`` to ``last``, in order, under one
    run lock held from the first date to the last (each date's run is named in it as it starts).

    Stops at the first failure with one line naming the date and the command that resumes from
    it; the exit code is the failure's own (4 for a data-quality threshold, ...).
    """
    dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    runs = [Run(cfg, dates[0], rebuild_gold=rebuild_gold, trigger=trigger)]
    runs[0].preflight(stages)           # bad secrets: one line before the lock or any data is touched
    log.info("backfill %s..%s: %d run(s), stages %s", first, last, len(dates), ",".join(s.name for s in stages))
    summaries = []
    with runs[0].lock(stages).held() as lock:
        for n, day in enumerate(dates):
            run = runs[0] if n == 0 else Run(cfg, day, rebuild_gold=rebuild_gold, trigger=trigger)
            try:
                run.execute(stages, lock=lock)
            except Exception as exc:
                report(run.summary)
                raise BackfillError.stopped(cfg, run, dates, n, stages, exc) from exc
            report(run.summary)
            summaries.append(run.summary)
    return summaries


class BackfillError(EtlError):
    """One date of a backfill failed; carries that failure's exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def stopped(cls, cfg: Config, run: Run, dates: list[date], n: int, stages: Sequence[Stage],
                exc: BaseException) -> "BackfillError":
        if not isinstance(exc, EtlError):
            log.exception("run %s for %s failed", run.run_id, run.run_date)     # a bug: the traceback to the log
        done = f"{dates[0]}..{dates[n - 1]} done" if n else "no date done"
        resume = f"etl run --from {dates[n]} --to {dates[-1]} --profile {cfg.profile}"
        names = tuple(s.name for s in stages)
        if names != STAGES:
            resume += f" --stages {','.join(names)}"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return cls(f"backfill stopped at {dates[n]} (run {run.run_id}, date {n + 1} of {len(dates)}; {done}): "
                   f"{reason}; resume with: {resume}", getattr(exc, "exit_code", EXIT_FAILURE))
