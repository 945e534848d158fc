-- One row per pipeline run for SQL consumers: the same record as the lake's ops/runs Delta table
-- (docs/operations-records.md), written when a run that has an export stage ends, whatever its outcome.
-- etl_runs (V001) stays the per-table load log.

CREATE TABLE IF NOT EXISTS etl_run_records (
  run_id          VARCHAR(64)   NOT NULL COMMENT 'the run (the same id in ops/runs, etl_runs and every log line)',
  run_date        DATE          NOT NULL COMMENT 'as-of date the run was for',
  run_trigger     VARCHAR(32)   NOT NULL COMMENT 'cli, cron, backfill, spark-submit, rollback, ...',
  profile         VARCHAR(32)   NOT NULL COMMENT 'configuration profile',
  started_at      DATETIME(3)   NOT NULL COMMENT 'UTC',
  ended_at        DATETIME(3)   NOT NULL COMMENT 'UTC',
  status          VARCHAR(16)   NOT NULL COMMENT 'succeeded, failed or dq_failed',
  stages          VARCHAR(255)  NOT NULL COMMENT 'the stages asked for, comma-separated, in run order',
  stage_seconds   JSON          NOT NULL COMMENT '{"stage": seconds} for each stage that started',
  table_rows      JSON          NOT NULL COMMENT '[[layer, table, rows_in, rows_out, rows_quarantined], ...]',
  table_versions  JSON          NOT NULL COMMENT '{"layer/table": Delta version the run left it at}',
  alerts          JSON          NOT NULL COMMENT 'the alerts raised, as text',
  error           TEXT          NULL     COMMENT 'one line when the run failed, else NULL',
  PRIMARY KEY (run_id),
  KEY ix_etl_run_records_ended (ended_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per run: status, durations, rows and versions (ops/runs for SQL consumers)';
