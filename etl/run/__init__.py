"""The run: one date's pipeline (or a backfill, or a rollback) as stages under the run lock.

- ``ids``: the run id;
- ``stages``: the stage objects (ingest, silver, gold, export and its two halves): each says its
  object-store identity and the catalogue tables it reads and writes, and runs given the run;
- ``run``: ``Run``: pre-flight secrets check, the run lock, each stage under its identity, the record;
- ``plan``: the dry run, from the stages' reads and writes;
- ``summary``: ``RunSummary``, what a run did and the lines it prints;
- ``records``: the run's row in ``ops/runs`` (and MySQL), ``etl status``, ``etl check-freshness``;
- ``backfill``: ``run_dates`` and ``BackfillError``, one run per date under one lock;
- ``rollback``: ``etl rollback``: the restore stage and ``RollbackRun``.

The lock itself (S3 conditional writes, or ``flock`` locally) is etl/ops/lock.py. Nothing is
imported here: import the module you need (``etl.catalog`` imports ``etl.run.records``).
"""
