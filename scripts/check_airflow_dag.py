"""Load resources/schedule/airflow_dag.py with Airflow's own DagBag and check what it runs.

Run by ``make check-airflow-dag`` inside a virtual environment holding one Airflow version and the
Spark provider (``.venv-airflow2``, ``.venv-airflow3``); Airflow is no dependency of the project, so
this is not part of the test suite (its two installs take minutes). Checks, without a metadata
database:

* the file imports with no error on that Airflow version;
* the DAG chains ingest >> silver >> gold >> export, each a spark-submit of jobs/daily_etl.py;
* the run date a scheduled run passes (``--date``) is the day before the run starts, for the run
  the scheduler makes at 02:30 UTC (Airflow 3 would pass the same day with a plain cron schedule).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "silver", "gold", "export"]


def _dagbag(folder: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag          # Airflow 3.1 and later
    except ImportError:
        from airflow.models.dagbag import DagBag                  # Airflow 2, 3.0
    # Examples are off through AIRFLOW__CORE__LOAD_EXAMPLES (Airflow 3's DagBag has no argument for it).
    return DagBag(dag_folder=str(folder))


def _render(dag, template: str, context: dict) -> str:
    return dag.get_template_env().from_string(template).render(**context)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--dag-file", default=str(ROOT / "resources" / "schedule" / "airflow_dag.py"))
    args = parser.parse_args(argv)
    import airflow
    from airflow.timetables.base import TimeRestriction

    version = airflow.__version__
    bag = _dagbag(Path(args.dag_file).parent)
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"Airflow {version}: {path} does not load:\n{error}", file=sys.stderr)
        return 1
    dag = bag.dags.get("retail_lakehouse_daily")          # the parsed DAG (get_dag reads the database)
    assert dag is not None, f"Airflow {version}: no DAG retail_lakehouse_daily"
    order = [task.task_id for task in sorted(dag.tasks, key=lambda t: len(_ancestors(dag, t)))]
    assert order == STAGES, order
    for upstream, downstream in zip(STAGES, STAGES[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)

    # The first scheduled run after 2026-11-22 starts at 2026-11-23 02:30 UTC: its run date is 2026-11-22.
    earliest = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)     # intervals starting from then on
    info = dag.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True))
    assert info.run_after == datetime(2026, 11, 23, 2, 30, tzinfo=timezone.utc), info.run_after
    context = {"data_interval_start": info.data_interval.start, "data_interval_end": info.data_interval.end,
               "ds": info.logical_date.strftime("%Y-%m-%d") if info.logical_date else None}
    for stage in STAGES:
        task = dag.get_task(stage)
        rendered = [_render(dag, str(value), context) for value in task.application_args]
        date = rendered[rendered.index("--date") + 1]
        assert date == "2026-11-22", f"{stage}: --date {date} for the run at {info.run_after}"
        assert rendered[rendered.index("--stages") + 1] == stage
        assert task.application.endswith("/jobs/daily_etl.py")
    print(f"Airflow {version}: the DAG loads; {' >> '.join(STAGES)}; the run at {info.run_after:%Y-%m-%d %H:%M} "
          f"UTC passes --date 2026-11-22")
    return 0


def _ancestors(dag, task) -> set[str]:
    seen, todo = set(), list(task.upstream_task_ids)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(dag.get_task(current).upstream_task_ids)
    return seen


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
