-- V002: every other gold table of etl/gold/marts.py (GOLD_TABLES), so that all of gold reaches MySQL.
-- Columns are the gold table's columns in the registry order, with the same exact types:
-- money DECIMAL(18,2), percentages and day counts DECIMAL(9,2), counts INT, months CHAR(7) yyyy-MM,
-- booleans BOOLEAN (TINYINT(1)). tests/unit/test_mysql_sql.py checks this against the Spark schemas.
-- Text that is part of a key uses utf8mb4_bin: Spark groups text case- and accent-sensitively, so
-- North and north are two rows in gold and must be two keys here too (silver trims every text).
-- Every statement is CREATE TABLE IF NOT EXISTS, so a partly applied V002 can simply run again.
-- Runs on MySQL 8.0.23+ (INVISIBLE columns) and MariaDB 10.3+.

CREATE TABLE IF NOT EXISTS customers_data_mart (
  customer_id                INT           NOT NULL COMMENT 'canonical customer id (lowest id of customers sharing a phone)',
  full_name                  VARCHAR(255)  NOT NULL COMMENT 'first_name last_name of the record valid on the run date; Unknown without one',
  address                    VARCHAR(512)  NULL     COMMENT 'address of the customer record; null without one',
  phone_number               VARCHAR(32)   NULL     COMMENT 'normalised 10-digit phone of the record; null without one',
  region                     VARCHAR(128)  NULL     COMMENT 'region of the record; null without one',
  sales_month                CHAR(7)       NOT NULL COMMENT 'yyyy-MM',
  total_sales                DECIMAL(18,2) NOT NULL COMMENT 'sum of transaction amounts in the month',
  monthly_transactions       INT           NOT NULL COMMENT 'number of transactions in the month',
  customer_lifetime_value    DECIMAL(18,2) NOT NULL COMMENT 'sum of all amounts up to the run date',
  first_purchase_month       CHAR(7)       NOT NULL COMMENT 'earliest month with a transaction (yyyy-MM)',
  last_purchase_month        CHAR(7)       NOT NULL COMMENT 'latest month with a transaction up to the run date (yyyy-MM)',
  purchase_frequency         INT           NOT NULL COMMENT 'number of transactions up to the run date',
  monetary_value             DECIMAL(18,2) NOT NULL COMMENT 'lifetime value / purchase_frequency',
  avg_monthly_spending       DECIMAL(18,2) NOT NULL COMMENT 'lifetime value / calendar months from the first purchase month through the run date month',
  max_single_transaction     DECIMAL(18,2) NOT NULL COMMENT 'largest single transaction amount up to the run date',
  avg_time_between_purchases DECIMAL(9,2)  NULL     COMMENT 'mean gap in days between distinct purchase dates; null with fewer than two',
  inactive_status            BOOLEAN       NOT NULL COMMENT '1 when the last purchase is more than 90 days before the run date',
  customer_segment           VARCHAR(16)   NOT NULL COMMENT 'At Risk, Premium, Regular or Occasional',
  PRIMARY KEY (customer_id, sales_month),
  KEY ix_customers_month (sales_month),
  KEY ix_customers_segment (customer_segment),
  KEY ix_customers_region (region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per (customer, month with a transaction); see docs/gold/customers_data_mart.md';

CREATE TABLE IF NOT EXISTS kpi_repeat_customers (
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on the run date; Unknown without one',
  order_count   INT           NOT NULL COMMENT 'transactions in the month of the run date (2 or more)',
  total_amount  DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  PRIMARY KEY (customer_id),
  KEY ix_repeat_customers_orders (order_count)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Customers with 2 or more transactions in the month of the run date; see docs/gold/kpi_repeat_customers.md';

CREATE TABLE IF NOT EXISTS kpi_regional_revenue (
  region      VARCHAR(128) COLLATE utf8mb4_bin NOT NULL COMMENT 'customer region on the transaction date; Unknown for anonymous or missing',
  revenue     DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts in the month of the run date',
  order_count INT           NOT NULL COMMENT 'number of transactions',
  share_pct   DECIMAL(9,2)  NULL     COMMENT 'revenue / the month total x 100; null when the total is 0',
  PRIMARY KEY (region)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Revenue by region in the month of the run date; see docs/gold/kpi_regional_revenue.md';

CREATE TABLE IF NOT EXISTS kpi_monthly_order_trends (
  sales_month      CHAR(7)       NOT NULL COMMENT 'yyyy-MM; every month from the first transaction through the run date',
  order_count      INT           NOT NULL COMMENT 'number of transactions, anonymous ones included',
  revenue          DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts',
  unique_customers INT           NOT NULL COMMENT 'distinct known customers',
  PRIMARY KEY (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per month up to the run date; see docs/gold/kpi_monthly_order_trends.md';

CREATE TABLE IF NOT EXISTS kpi_top_customers_30d (
  `rank`        INT           NOT NULL COMMENT 'RANK() by total_spend desc; ties share a rank (rank is reserved in MySQL 8: quote it)',
  customer_id   INT           NOT NULL COMMENT 'canonical customer id',
  customer_name VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on the run date; Unknown without one',
  total_spend   DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts over the 30 days ending on the run date',
  order_count   INT           NOT NULL COMMENT 'number of transactions over those 30 days',
  PRIMARY KEY (customer_id),
  KEY ix_top_customers_rank (`rank`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Customers ranked 10th or better by 30-day spend, ties kept; see docs/gold/kpi_top_customers_30d.md';

-- The grain is product_id for matched lines and the name for unmatched ones (product_id null), and a
-- primary key column cannot be null; product_name alone is not unique either (two catalogue products
-- may share a name, an unmatched raw name may equal a catalogue name), and MariaDB refuses a primary
-- key on a generated column. So the grain is enforced by a unique key on the invisible generated
-- column product_key (id:<product_id>, or name:<product_name> when unmatched), and the primary key is
-- an invisible surrogate row_id (the pattern of MySQL generated invisible primary keys). Both are
-- invisible: SELECT * and the loader see exactly the gold columns; the server fills both.
CREATE TABLE IF NOT EXISTS kpi_product_sales_30d (
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

CREATE TABLE IF NOT EXISTS kpi_daily_sales (
  `date`                DATE          NOT NULL COMMENT 'every calendar day from the first transaction through the run date',
  revenue               DECIMAL(18,2) NOT NULL COMMENT 'sum of amounts that day; 0 without sales',
  order_count           INT           NOT NULL COMMENT 'number of transactions',
  units                 INT           NOT NULL COMMENT 'sum of units',
  avg_order_value       DECIMAL(18,2) NULL     COMMENT 'revenue / order_count; null without orders',
  revenue_7d            DECIMAL(18,2) NOT NULL COMMENT 'revenue of the 7 days ending that day',
  revenue_7d_change_pct DECIMAL(9,2)  NULL     COMMENT 'change of revenue_7d against the 7 days before, x 100; null when that is 0',
  is_anomaly            BOOLEAN       NOT NULL COMMENT '1 when the sales-drop test flags the day',
  PRIMARY KEY (`date`),
  KEY ix_daily_sales_anomaly (is_anomaly, `date`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per day up to the run date with the sales-drop flag; see docs/gold/kpi_daily_sales.md';

CREATE TABLE IF NOT EXISTS alerts (
  `date`   DATE          NOT NULL COMMENT 'the anomalous day',
  revenue  DECIMAL(18,2) NOT NULL COMMENT 'the revenue_7d of that day (the tested signal)',
  expected DECIMAL(18,2) NOT NULL COMMENT 'baseline median of revenue_7d over days d-34 .. d-7',
  reason   VARCHAR(1024) NOT NULL COMMENT 'the figures of the sales-drop test',
  PRIMARY KEY (`date`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Days flagged by the sales-drop test; see docs/gold/alerts.md';
