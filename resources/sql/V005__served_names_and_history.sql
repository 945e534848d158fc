-- V005 (issue 23): the served tables fit their SQL consumers.
--  * The four snapshot tables (kpi_regional_revenue, kpi_top_customers_30d, kpi_product_sales_30d,
--    kpi_repeat_customers) hold one run date's figures: each now carries that date in as_of_date, and a
--    <table>_history table keeps the rows of every run date (key: as_of_date + the table's key), filled
--    after each swap (etl/export/mysql.py record_history), so a consumer can trend them without the lake.
--  * `rank` and `date` are reserved words: kpi_top_customers_30d.rank is spend_rank, kpi_daily_sales.date
--    is sales_date, alerts.date is alert_date. Gold (Delta) keeps its names; only MySQL renames
--    (docs/serving.md, "Served names"). <table>_legacy views show the old names for one release.
--  * etl_runs was a per-table load log named like a table of runs, beside etl_run_records (the one row
--    per run): it is renamed etl_table_loads, and etl_runs is a view over it for one release.
-- Each changed table is rebuilt beside the live one (<table>__v005, the rows copied with the date of
-- the content MySQL recorded for it), then every table is switched in one atomic RENAME TABLE, so a
-- reader never sees a table missing or empty. The RENAME is the point of no return: a V005 stopped
-- before it runs again from the start (the first statement drops what it had built); one stopped
-- after it needs only its statements after the RENAME (all IF EXISTS / IF NOT EXISTS / OR REPLACE).
-- The export after a migration reloads every table.

DROP TABLE IF EXISTS kpi_regional_revenue__v005, kpi_repeat_customers__v005, kpi_top_customers_30d__v005,
  kpi_product_sales_30d__v005, kpi_daily_sales__v005, alerts__v005;

CREATE TABLE IF NOT EXISTS kpi_regional_revenue__v005 (
  as_of_date  DATE          NOT NULL COMMENT 'the run date of this snapshot (the month of this date)',
  region      VARCHAR(128) COLLATE utf8mb4_bin NOT NULL COMMENT 'customer region on the transaction date; Unknown for anonymous or missing',
  revenue     DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts in the month of the run date',
  order_count INT           NOT NULL COMMENT 'number of transactions',
  share_pct   DECIMAL(9,2)  NULL     COMMENT 'revenue / the month total x 100; null when the total is 0',
  PRIMARY KEY (region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Revenue by region in the month of the run date; see docs/gold/kpi_regional_revenue.md';

CREATE TABLE IF NOT EXISTS kpi_repeat_customers__v005 (
  as_of_date    DATE          NOT NULL COMMENT 'the run date of this snapshot (the month of this date)',
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on the run date; Unknown without one',
  order_count   INT           NOT NULL COMMENT 'transactions in the month of the run date (2 or more)',
  total_amount  DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  PRIMARY KEY (customer_id),
  KEY ix_repeat_customers_orders (order_count)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Customers with 2 or more transactions in the month of the run date; see docs/gold/kpi_repeat_customers.md';

CREATE TABLE IF NOT EXISTS kpi_top_customers_30d__v005 (
  as_of_date    DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 30 days)',
  spend_rank    INT           NOT NULL COMMENT 'gold rank: RANK() by total_spend desc; ties share a rank',
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on the run date; Unknown without one',
  total_spend   DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts over the 30 days ending on the run date',
  order_count   INT           NOT NULL COMMENT 'number of transactions over those 30 days',
  PRIMARY KEY (customer_id),
  KEY ix_top_customers_rank (spend_rank)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Customers ranked 10th or better by 30-day spend, ties kept; see docs/gold/kpi_top_customers_30d.md';

CREATE TABLE IF NOT EXISTS kpi_product_sales_30d__v005 (
  as_of_date   DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 30 days)',
  product_id   INT           NULL     COMMENT 'catalogue id; null for lines not matched to the catalogue',
  product_name VARCHAR(255)  NOT NULL COMMENT 'catalogue name; unmatched: the raw item name, else the SKU; Unknown if neither',
  quantity     INT           NOT NULL COMMENT 'sum of line quantities over the 30 days ending on the run date',
  revenue      DECIMAL(18,2) NOT NULL COMMENT 'sum of line amounts over those 30 days',
  revenue_rank INT           NOT NULL COMMENT 'RANK() by revenue desc; ties share a rank',
  row_id       BIGINT UNSIGNED NOT NULL INVISIBLE AUTO_INCREMENT COMMENT 'surrogate primary key, filled by the server (not a gold column)',
  product_key  VARCHAR(270) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
               AS (IFNULL(CONCAT('id:', product_id), CONCAT('name:', product_name))) STORED INVISIBLE
               COMMENT 'the grain: id:<product_id>, or name:<product_name> when unmatched (not a gold column)',
  PRIMARY KEY (row_id),
  UNIQUE KEY uq_product_sales_grain (product_key),
  KEY ix_product_sales_product (product_id),
  KEY ix_product_sales_rank (revenue_rank)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Products by revenue over the 30 days ending on the run date; see docs/gold/kpi_product_sales_30d.md';

CREATE TABLE IF NOT EXISTS kpi_daily_sales__v005 (
  sales_date            DATE          NOT NULL COMMENT 'gold date: every calendar day from the first transaction through the run date',
  revenue               DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts that day; 0 without sales',
  order_count           INT           NOT NULL COMMENT 'number of transactions',
  units                 INT           NOT NULL COMMENT 'sum of units',
  avg_order_value       DECIMAL(18,2) NULL     COMMENT 'revenue / order_count; null without orders',
  revenue_7d            DECIMAL(18,2) NOT NULL COMMENT 'revenue of the 7 days ending that day',
  revenue_7d_change_pct DECIMAL(9,2)  NULL     COMMENT 'change of revenue_7d against the 7 days before, x 100; null when that is 0',
  is_anomaly            BOOLEAN       NOT NULL COMMENT '1 when the sales-drop test flags the day',
  PRIMARY KEY (sales_date),
  KEY ix_daily_sales_anomaly (is_anomaly, sales_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per day up to the run date with the sales-drop flag; see docs/gold/kpi_daily_sales.md';

CREATE TABLE IF NOT EXISTS alerts__v005 (
  alert_date DATE          NOT NULL COMMENT 'gold date: the anomalous day',
  revenue    DECIMAL(18,2) NOT NULL COMMENT 'the revenue_7d of that day (the tested signal)',
  expected   DECIMAL(18,2) NOT NULL COMMENT 'baseline median of revenue_7d over days d-34 .. d-7',
  reason     VARCHAR(1024) NOT NULL COMMENT 'the figures of the sales-drop test',
  PRIMARY KEY (alert_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Days flagged by the sales-drop test; see docs/gold/alerts.md';

-- The rows MySQL holds, with the run date of the content it recorded (etl_gold_loaded, else the last
-- load logged); rows of a table without either are left out: the export that follows reloads it.
INSERT INTO kpi_regional_revenue__v005 (as_of_date, region, revenue, order_count, share_pct)
SELECT d.as_of_date, t.region, t.revenue, t.order_count, t.share_pct FROM kpi_regional_revenue t
CROSS JOIN (SELECT COALESCE((SELECT run_date FROM etl_gold_loaded WHERE table_name = 'kpi_regional_revenue'),
                            (SELECT MAX(run_date) FROM etl_runs WHERE table_name = 'kpi_regional_revenue')) AS as_of_date) d
WHERE d.as_of_date IS NOT NULL;

INSERT INTO kpi_repeat_customers__v005 (as_of_date, customer_id, customer_name, order_count, total_amount)
SELECT d.as_of_date, t.customer_id, t.customer_name, t.order_count, t.total_amount FROM kpi_repeat_customers t
CROSS JOIN (SELECT COALESCE((SELECT run_date FROM etl_gold_loaded WHERE table_name = 'kpi_repeat_customers'),
                            (SELECT MAX(run_date) FROM etl_runs WHERE table_name = 'kpi_repeat_customers')) AS as_of_date) d
WHERE d.as_of_date IS NOT NULL;

INSERT INTO kpi_top_customers_30d__v005 (as_of_date, spend_rank, customer_id, customer_name, total_spend, order_count)
SELECT d.as_of_date, t.`rank`, t.customer_id, t.customer_name, t.total_spend, t.order_count FROM kpi_top_customers_30d t
CROSS JOIN (SELECT COALESCE((SELECT run_date FROM etl_gold_loaded WHERE table_name = 'kpi_top_customers_30d'),
                            (SELECT MAX(run_date) FROM etl_runs WHERE table_name = 'kpi_top_customers_30d')) AS as_of_date) d
WHERE d.as_of_date IS NOT NULL;

INSERT INTO kpi_product_sales_30d__v005 (as_of_date, product_id, product_name, quantity, revenue, revenue_rank)
SELECT d.as_of_date, t.product_id, t.product_name, t.quantity, t.revenue, t.revenue_rank FROM kpi_product_sales_30d t
CROSS JOIN (SELECT COALESCE((SELECT run_date FROM etl_gold_loaded WHERE table_name = 'kpi_product_sales_30d'),
                            (SELECT MAX(run_date) FROM etl_runs WHERE table_name = 'kpi_product_sales_30d')) AS as_of_date) d
WHERE d.as_of_date IS NOT NULL;

INSERT INTO kpi_daily_sales__v005 (sales_date, revenue, order_count, units, avg_order_value, revenue_7d,
                                   revenue_7d_change_pct, is_anomaly)
SELECT `date`, revenue, order_count, units, avg_order_value, revenue_7d, revenue_7d_change_pct, is_anomaly
FROM kpi_daily_sales;

INSERT INTO alerts__v005 (alert_date, revenue, expected, reason)
SELECT `date`, revenue, expected, reason FROM alerts;

RENAME TABLE kpi_regional_revenue TO kpi_regional_revenue__v004, kpi_regional_revenue__v005 TO kpi_regional_revenue,
  kpi_repeat_customers TO kpi_repeat_customers__v004, kpi_repeat_customers__v005 TO kpi_repeat_customers,
  kpi_top_customers_30d TO kpi_top_customers_30d__v004, kpi_top_customers_30d__v005 TO kpi_top_customers_30d,
  kpi_product_sales_30d TO kpi_product_sales_30d__v004, kpi_product_sales_30d__v005 TO kpi_product_sales_30d,
  kpi_daily_sales TO kpi_daily_sales__v004, kpi_daily_sales__v005 TO kpi_daily_sales,
  alerts TO alerts__v004, alerts__v005 TO alerts,
  etl_runs TO etl_table_loads;

DROP TABLE IF EXISTS kpi_regional_revenue__v004, kpi_repeat_customers__v004, kpi_top_customers_30d__v004,
  kpi_product_sales_30d__v004, kpi_daily_sales__v004, alerts__v004;

-- History: one set of rows per run date; a rerun of a date replaces that date's rows.
CREATE TABLE IF NOT EXISTS kpi_regional_revenue_history (
  as_of_date  DATE          NOT NULL COMMENT 'the run date of the snapshot',
  region      VARCHAR(128) COLLATE utf8mb4_bin NOT NULL COMMENT 'as kpi_regional_revenue.region',
  revenue     DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts in the month of as_of_date',
  order_count INT           NOT NULL COMMENT 'number of transactions',
  share_pct   DECIMAL(9,2)  NULL     COMMENT 'revenue / the month total x 100; null when the total is 0',
  PRIMARY KEY (as_of_date, region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_regional_revenue of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_repeat_customers_history (
  as_of_date    DATE          NOT NULL COMMENT 'the run date of the snapshot',
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on as_of_date',
  order_count   INT           NOT NULL COMMENT 'transactions in the month of as_of_date (2 or more)',
  total_amount  DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  PRIMARY KEY (as_of_date, customer_id),
  KEY ix_repeat_customers_history_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_repeat_customers of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_top_customers_30d_history (
  as_of_date    DATE          NOT NULL COMMENT 'the run date of the snapshot',
  spend_rank    INT           NOT NULL COMMENT 'RANK() by total_spend desc on as_of_date',
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on as_of_date',
  total_spend   DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts over the 30 days ending on as_of_date',
  order_count   INT           NOT NULL COMMENT 'number of transactions over those 30 days',
  PRIMARY KEY (as_of_date, customer_id),
  KEY ix_top_customers_history_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_top_customers_30d of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_product_sales_30d_history (
  as_of_date   DATE          NOT NULL COMMENT 'the run date of the snapshot',
  product_id   INT           NULL     COMMENT 'catalogue id; null for lines not matched to the catalogue',
  product_name VARCHAR(255)  NOT NULL COMMENT 'as kpi_product_sales_30d.product_name',
  quantity     INT           NOT NULL COMMENT 'sum of line quantities over the 30 days ending on as_of_date',
  revenue      DECIMAL(18,2) NOT NULL COMMENT 'sum of line amounts over those 30 days',
  revenue_rank INT           NOT NULL COMMENT 'RANK() by revenue desc on as_of_date',
  row_id       BIGINT UNSIGNED NOT NULL INVISIBLE AUTO_INCREMENT COMMENT 'surrogate primary key, filled by the server',
  product_key  VARCHAR(270) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
               AS (IFNULL(CONCAT('id:', product_id), CONCAT('name:', product_name))) STORED INVISIBLE
               COMMENT 'the grain within a date: id:<product_id>, or name:<product_name> when unmatched',
  PRIMARY KEY (row_id),
  UNIQUE KEY uq_product_sales_history_grain (as_of_date, product_key),
  KEY ix_product_sales_history_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_product_sales_30d of every run date; see docs/serving.md';

-- The old names, for one release (docs/serving.md, "Served names"): read-only views.
CREATE OR REPLACE VIEW kpi_top_customers_30d_legacy AS
SELECT spend_rank AS `rank`, customer_id, customer_name, total_spend, order_count FROM kpi_top_customers_30d;

CREATE OR REPLACE VIEW kpi_daily_sales_legacy AS
SELECT sales_date AS `date`, revenue, order_count, units, avg_order_value, revenue_7d, revenue_7d_change_pct,
       is_anomaly FROM kpi_daily_sales;

CREATE OR REPLACE VIEW alerts_legacy AS
SELECT alert_date AS `date`, revenue, expected, reason FROM alerts;

CREATE OR REPLACE VIEW etl_runs AS
SELECT run_id, run_date, table_name, row_count, loaded_at FROM etl_table_loads;
