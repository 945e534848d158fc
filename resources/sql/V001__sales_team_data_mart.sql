-- V001: the sales team data mart (METRICS.md, sales_team_data_mart) and the load log.
CREATE TABLE IF NOT EXISTS sales_team_data_mart (
  store_id                      INT           NOT NULL COMMENT 'store of the sales rows',
  sales_person_id               INT           NOT NULL COMMENT 'salesperson id from the sales rows',
  full_name                     VARCHAR(255)  NOT NULL COMMENT 'first_name last_name from sales_team; Unknown when missing',
  sales_month                   CHAR(7)       NOT NULL COMMENT 'yyyy-MM',
  total_sales                   DECIMAL(18,2) NOT NULL COMMENT 'sum of transaction amounts in the month',
  total_transactions            INT           NOT NULL COMMENT 'number of transactions in the month',
  avg_transaction_value         DECIMAL(18,2) NOT NULL COMMENT 'total_sales / total_transactions',
  max_single_transaction        DECIMAL(18,2) NOT NULL COMMENT 'largest transaction in the month',
  avg_sales_per_month           DECIMAL(18,2) NOT NULL COMMENT 'mean monthly total_sales up to this month',
  top_performance_rank          INT           NOT NULL COMMENT 'RANK() by total_sales desc within store and month',
  incentive                     DECIMAL(18,2) NOT NULL COMMENT 'total_sales x incentive rate for rank 1, else 0',
  month_over_month_variance     DECIMAL(18,2) NULL     COMMENT 'total_sales minus previous calendar month; null without one',
  sales_growth_rate             DECIMAL(9,2)  NULL     COMMENT 'variance / previous total x 100',
  year_to_date_sales            DECIMAL(18,2) NOT NULL COMMENT 'running sum within the calendar year',
  first_sale_month              CHAR(7)       NOT NULL COMMENT 'earliest month with sales',
  last_sale_month               CHAR(7)       NOT NULL COMMENT 'latest month with sales up to the run date',
  sales_contribution_percentage DECIMAL(9,2)  NOT NULL COMMENT 'share of the store in-store total for the month',
  PRIMARY KEY (store_id, sales_person_id, sales_month),
  KEY ix_sales_team_month (sales_month),
  KEY ix_sales_team_person (sales_person_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per (store, salesperson, month); see docs/gold/sales_team_data_mart.md';

CREATE TABLE IF NOT EXISTS etl_runs (
  run_id      VARCHAR(64)  NOT NULL COMMENT 'the pipeline run that loaded',
  run_date    DATE         NOT NULL COMMENT 'as-of date of the gold tables',
  table_name  VARCHAR(64)  NOT NULL COMMENT 'gold table loaded',
  row_count   BIGINT       NOT NULL COMMENT 'rows visible after the load',
  loaded_at   DATETIME(3)  NOT NULL COMMENT 'UTC time the new content became visible',
  PRIMARY KEY (run_id, table_name),
  KEY ix_etl_runs_loaded (loaded_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Load log for freshness checks';
