-- V007 (issue 25): the lake's quality results and rejected landing files for SQL consumers and the
-- dashboard's Data health page. Served like the gold tables (etl/catalog.py SERVED_OPS): loaded whole
-- through <table>__staging and the one RENAME TABLE swap with them, when their content changed
-- (etl_gold_loaded), by the loader; read by the consumers (etl/export/mysql.py account_objects).
--  * dq_results: ops/dq_results as the lake holds it, one row per (run, feed, rule) that silver checked;
--    a rerun of a run date adds its own rows (the dashboard shows the newest run of each date).
--  * rejected_files: the rows of ops/file_manifest whose status is rejected, with the reason.
-- New tables only, every statement CREATE TABLE IF NOT EXISTS: a partly applied V007 simply runs again.

CREATE TABLE IF NOT EXISTS dq_results (
  run_id       VARCHAR(64)  COLLATE utf8mb4_bin NOT NULL COMMENT 'the run that checked the rows (ops/runs, etl_run_records)',
  run_date     DATE         NOT NULL COMMENT 'the run date that run was for',
  feed         VARCHAR(64)  COLLATE utf8mb4_bin NOT NULL COMMENT 'the checked feed: customers, sales, orders, order_events',
  rule         VARCHAR(128) COLLATE utf8mb4_bin NOT NULL COMMENT 'a rule of conf/quality_rules.yaml (docs/silver.md), or _rows_with_errors: rows failing any error rule',
  severity     VARCHAR(8)   NOT NULL COMMENT 'error (the row is quarantined) or warn (kept, counted)',
  failed_rows  BIGINT       NOT NULL COMMENT 'rows of the feed the rule failed in that run',
  total_rows   BIGINT       NOT NULL COMMENT 'rows of the feed that run checked',
  PRIMARY KEY (run_id, feed, rule),
  KEY ix_dq_results_date (run_date, feed, rule)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Quality results per run, feed and rule: the lake''s ops/dq_results';

CREATE TABLE IF NOT EXISTS rejected_files (
  feed         VARCHAR(64)  COLLATE utf8mb4_bin NOT NULL COMMENT 'the feed the file was delivered for',
  path         VARCHAR(1024) COLLATE utf8mb4_bin NOT NULL COMMENT 'where it was in landing when it was read (it is moved to rejected/)',
  checksum     VARCHAR(80)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'the file content''s digest',
  size         BIGINT       NOT NULL COMMENT 'bytes',
  run_id       VARCHAR(64)  COLLATE utf8mb4_bin NOT NULL COMMENT 'the run whose ingest rejected it',
  reason       TEXT         NULL     COMMENT 'why: the specific problem ingest found (a bad header, not UTF-8, ...)',
  rejected_at  DATETIME(3)  NOT NULL COMMENT 'UTC, when ingest recorded it in ops/file_manifest',
  PRIMARY KEY (feed, checksum, path(512)),
  KEY ix_rejected_files_at (rejected_at),
  KEY ix_rejected_files_run (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Landing files ingest rejected, with the reason: the rejected rows of the lake''s ops/file_manifest';
