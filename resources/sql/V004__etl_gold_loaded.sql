-- Which gold content each MySQL gold table holds, one row per table: the loader skips a table whose gold
-- content is the one recorded here (docs/serving.md, "Only what changed"). Written right after the swap;
-- the row of a table is deleted before its staging table is filled, so a row only ever describes content
-- that is live. Delete a row (or every row) to make the next load reload that table.

CREATE TABLE IF NOT EXISTS etl_gold_loaded (
  table_name      VARCHAR(64)   NOT NULL COMMENT 'the MySQL (and gold) table',
  content_hash    CHAR(64)      NOT NULL COMMENT 'SHA-256 of the gold content loaded: schema, row count and order-independent row hashes',
  row_count       BIGINT        NOT NULL COMMENT 'rows loaded (the live table must still hold as many)',
  run_id          VARCHAR(64)   NOT NULL COMMENT 'the run that loaded this content',
  run_date        DATE          NOT NULL COMMENT 'the run date of the gold loaded',
  loaded_at       DATETIME(3)   NOT NULL COMMENT 'UTC time the content became visible',
  checked_run_id  VARCHAR(64)   NOT NULL COMMENT 'the last run that found the gold content equal (or loaded it)',
  checked_at      DATETIME(3)   NOT NULL COMMENT 'UTC time of that check',
  PRIMARY KEY (table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='The gold content each gold table holds (the loader skips unchanged tables)';
