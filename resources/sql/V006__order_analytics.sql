-- V006 (issue 24): the nine order-analytics gold tables of etl/gold/marts.py, so that all of gold reaches MySQL.
-- The conventions of V002 and V005 (tests/unit/test_mysql_sql.py checks them against the Spark schemas):
--  * columns are the gold columns in the registry order with the same exact types: money DECIMAL(18,2),
--    percentages DECIMAL(9,2), ratios (support, confidence, lift) DECIMAL(9,4), counts INT, months CHAR(7)
--    yyyy-MM, booleans BOOLEAN; the primary key is the table's grain; text in a key is utf8mb4_bin.
--  * gold's `date` is served under a name that is no keyword: kpi_channel_daily.sales_date and
--    kpi_revenue_forecast.forecast_date (etl/export/mysql.py SERVED_RENAMES).
--  * the six tables cut from a window ending on the run date (kpi_peak_hours, kpi_menu_performance_30d,
--    customer_rfm, kpi_basket_pairs_90d, kpi_revenue_forecast, forecast_backtest) are snapshots: as_of_date
--    first, and a <table>_history keyed by as_of_date + the grain (etl/export/mysql.py SNAPSHOT_TABLES,
--    record_history). kpi_channel_daily, kpi_order_mix and kpi_cohort_retention cover every date or month
--    up to the run date already: no history.
-- New tables only, every statement CREATE TABLE IF NOT EXISTS: a partly applied V006 simply runs again.

CREATE TABLE IF NOT EXISTS kpi_channel_daily (
  sales_date          DATE          NOT NULL COMMENT 'gold date: every calendar day from the first transaction through the run date',
  channel             VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'in_store, online or pos',
  order_count         INT           NOT NULL COMMENT 'revenue transactions of the channel that day; 0 without',
  revenue             DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts; 0 without',
  avg_order_value     DECIMAL(18,2) NULL     COMMENT 'revenue / order_count; null without orders',
  cancelled_orders    INT           NOT NULL COMMENT 'POS orders dated that day whose current status is not Success; 0 for in_store and online',
  revenue_28d         DECIMAL(18,2) NOT NULL COMMENT 'revenue of the 28 days ending that day',
  order_count_28d     INT           NOT NULL COMMENT 'orders of the 28 days ending that day',
  avg_order_value_28d DECIMAL(18,2) NULL     COMMENT 'revenue_28d / order_count_28d; null when order_count_28d is 0',
  PRIMARY KEY (sales_date, channel),
  KEY ix_channel_daily_channel (channel, sales_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per (day, channel) up to the run date; see docs/gold/kpi_channel_daily.md';

CREATE TABLE IF NOT EXISTS kpi_order_mix (
  sales_month       CHAR(7)       NOT NULL COMMENT 'yyyy-MM; every month up to the run date with POS orders',
  dimension         VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'order_type, order_from or payment_type',
  `value`           VARCHAR(255) COLLATE utf8mb4_bin NOT NULL COMMENT 'the value as delivered, trimmed; Unknown when empty',
  order_count       INT           NOT NULL COMMENT 'POS orders of the month with this value',
  revenue           DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  order_share_pct   DECIMAL(9,2)  NULL     COMMENT 'order_count / the month''s POS orders x 100',
  revenue_share_pct DECIMAL(9,2)  NULL     COMMENT 'revenue / the month''s POS revenue x 100; null when that is 0',
  PRIMARY KEY (sales_month, dimension, `value`),
  KEY ix_order_mix_dimension (dimension, `value`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='POS orders by order type, source and payment type per month; see docs/gold/kpi_order_mix.md';

CREATE TABLE IF NOT EXISTS kpi_peak_hours (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 28 days)',
  day_of_week        INT           NOT NULL COMMENT '1 = Monday .. 7 = Sunday',
  `hour`             INT           NOT NULL COMMENT 'hour of the day in UTC, 0 .. 23',
  order_count        INT           NOT NULL COMMENT 'online and POS orders dated D-27 .. D in that weekday and hour',
  revenue            DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  avg_orders_per_day DECIMAL(9,2)  NOT NULL COMMENT 'order_count / 4 (each weekday occurs 4 times in 28 days)',
  busiest_rank       INT           NOT NULL COMMENT 'RANK() by order_count desc; ties share a rank',
  PRIMARY KEY (day_of_week, `hour`),
  KEY ix_peak_hours_rank (busiest_rank)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Exactly 168 rows: orders by weekday and hour over the 28 days ending on the run date; see docs/gold/kpi_peak_hours.md';

CREATE TABLE IF NOT EXISTS kpi_menu_performance_30d (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 30 days)',
  product_id         INT           NOT NULL COMMENT 'catalogue id (every catalogue product; unmatched lines are left out)',
  product_name       VARCHAR(255)  NULL     COMMENT 'catalogue name',
  category           VARCHAR(255)  NULL     COMMENT 'catalogue category',
  quantity_30d       INT           NOT NULL COMMENT 'sum of line quantities dated D-29 .. D',
  revenue_30d        DECIMAL(18,2) NOT NULL COMMENT 'sum of line amounts dated D-29 .. D',
  quantity_prev_30d  INT           NOT NULL COMMENT 'sum of line quantities dated D-59 .. D-30',
  revenue_prev_30d   DECIMAL(18,2) NOT NULL COMMENT 'sum of line amounts dated D-59 .. D-30',
  revenue_change_pct DECIMAL(9,2)  NULL     COMMENT 'change of revenue_30d against revenue_prev_30d x 100; null when revenue_prev_30d is 0',
  revenue_rank       INT           NOT NULL COMMENT 'RANK() by revenue_30d desc; ties share a rank',
  underperforming    BOOLEAN       NOT NULL COMMENT '1 when revenue_30d is 0 or in the bottom fifth (PERCENT_RANK below 0.2)',
  PRIMARY KEY (product_id),
  KEY ix_menu_performance_rank (revenue_rank),
  KEY ix_menu_performance_under (underperforming, revenue_rank)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Catalogue products over the 30 days ending on the run date against the 30 before; see docs/gold/kpi_menu_performance_30d.md';

CREATE TABLE IF NOT EXISTS customer_rfm (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 365 days)',
  customer_id        INT           NOT NULL COMMENT 'canonical customer id',
  customer_name      VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on the run date; Unknown without one',
  last_purchase_date DATE          NOT NULL COMMENT 'latest transaction date in D-364 .. D',
  recency_days       INT           NOT NULL COMMENT 'the run date minus last_purchase_date, in days',
  frequency          INT           NOT NULL COMMENT 'transactions in D-364 .. D',
  monetary           DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  r_score            INT           NOT NULL COMMENT 'recency score 1 .. 5 (5 most recent)',
  f_score            INT           NOT NULL COMMENT 'frequency score 1 .. 5 (5 most frequent)',
  m_score            INT           NOT NULL COMMENT 'monetary score 1 .. 5 (5 highest spend)',
  rfm_segment        VARCHAR(32)   NOT NULL COMMENT 'Champions, Loyal, New, Promising, Needs Attention, At Risk or Lost',
  PRIMARY KEY (customer_id),
  KEY ix_customer_rfm_segment (rfm_segment)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='One row per customer with a transaction in the 365 days ending on the run date; see docs/gold/customer_rfm.md';

CREATE TABLE IF NOT EXISTS kpi_basket_pairs_90d (
  as_of_date        DATE          NOT NULL COMMENT 'the run date of this snapshot (the last of the 90 days)',
  product_id_a      INT           NOT NULL COMMENT 'catalogue id of the first product (the lower id)',
  product_name_a    VARCHAR(255)  NULL     COMMENT 'its catalogue name',
  product_id_b      INT           NOT NULL COMMENT 'catalogue id of the second product (the higher id)',
  product_name_b    VARCHAR(255)  NULL     COMMENT 'its catalogue name',
  orders_with_both  INT           NOT NULL COMMENT 'POS orders dated D-89 .. D holding both (3 or more)',
  support           DECIMAL(9,4)  NOT NULL COMMENT 'orders_with_both / all POS orders of the window (a fraction)',
  confidence_a_to_b DECIMAL(9,4)  NOT NULL COMMENT 'orders_with_both / orders holding a',
  confidence_b_to_a DECIMAL(9,4)  NOT NULL COMMENT 'orders_with_both / orders holding b',
  lift              DECIMAL(9,4)  NOT NULL COMMENT 'support / (share of orders with a x share with b)',
  lift_rank         INT           NOT NULL COMMENT 'RANK() by lift desc; ties share a rank',
  PRIMARY KEY (product_id_a, product_id_b),
  KEY ix_basket_pairs_b (product_id_b),
  KEY ix_basket_pairs_rank (lift_rank)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Pairs of catalogue products ordered together over the 90 days ending on the run date; see docs/gold/kpi_basket_pairs_90d.md';

CREATE TABLE IF NOT EXISTS kpi_cohort_retention (
  cohort_month     CHAR(7)      NOT NULL COMMENT 'yyyy-MM of the customer''s first transaction, any channel',
  month_offset     INT          NOT NULL COMMENT 'months after the cohort month: 0, 1, ...',
  sales_month      CHAR(7)      NOT NULL COMMENT 'yyyy-MM: cohort_month + month_offset, up to the month of the run date',
  cohort_size      INT          NOT NULL COMMENT 'customers of the cohort',
  active_customers INT          NOT NULL COMMENT 'cohort members with a transaction in sales_month',
  retention_pct    DECIMAL(9,2) NOT NULL COMMENT 'active_customers / cohort_size x 100',
  PRIMARY KEY (cohort_month, month_offset),
  KEY ix_cohort_retention_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Retention of each monthly customer cohort, month by month up to the run date; see docs/gold/kpi_cohort_retention.md';

CREATE TABLE IF NOT EXISTS kpi_revenue_forecast (
  as_of_date    DATE          NOT NULL COMMENT 'the run date of this snapshot (the forecast is made on it)',
  channel       VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'in_store, online, pos, or all (their sum)',
  forecast_date DATE          NOT NULL COMMENT 'gold date: a day D+1 .. D+14',
  forecast      DECIMAL(18,2) NOT NULL COMMENT 'forecast revenue of the day (at least 0)',
  lower_80      DECIMAL(18,2) NOT NULL COMMENT 'lower end of the 80% prediction interval (at least 0)',
  upper_80      DECIMAL(18,2) NOT NULL COMMENT 'upper end of the 80% prediction interval (at least 0)',
  model         VARCHAR(255)  NOT NULL COMMENT 'the model and its settings',
  trained_from  DATE          NOT NULL COMMENT 'first day of the revenue series the model was fitted on',
  trained_to    DATE          NOT NULL COMMENT 'last day of that series (the run date)',
  PRIMARY KEY (channel, forecast_date),
  KEY ix_revenue_forecast_date (forecast_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Revenue forecast for the 14 days after the run date per channel; see docs/gold/kpi_revenue_forecast.md';

CREATE TABLE IF NOT EXISTS forecast_backtest (
  as_of_date          DATE          NOT NULL COMMENT 'the run date of this snapshot (the last backtested day)',
  channel             VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'in_store, online, pos, or all',
  model               VARCHAR(255)  NOT NULL COMMENT 'the model and its settings, as in kpi_revenue_forecast',
  mape_model          DECIMAL(9,2)  NULL     COMMENT 'mean absolute percent error over D-13 .. D of the model trained up to D-14',
  mape_seasonal_naive DECIMAL(9,2)  NULL     COMMENT 'the same for the seasonal-naive forecast (the weekday of the week before)',
  mae_model           DECIMAL(18,2) NOT NULL COMMENT 'mean absolute error of the model over D-13 .. D',
  mae_seasonal_naive  DECIMAL(18,2) NOT NULL COMMENT 'mean absolute error of the seasonal-naive forecast',
  PRIMARY KEY (channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Does the forecast model beat the seasonal-naive forecast, per channel; see docs/gold/forecast_backtest.md';

-- History: one set of rows per run date; a rerun of a date replaces that date's rows (record_history).
CREATE TABLE IF NOT EXISTS kpi_peak_hours_history (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of the snapshot',
  day_of_week        INT           NOT NULL COMMENT '1 = Monday .. 7 = Sunday',
  `hour`             INT           NOT NULL COMMENT 'hour of the day in UTC, 0 .. 23',
  order_count        INT           NOT NULL COMMENT 'online and POS orders of the 28 days ending on as_of_date',
  revenue            DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  avg_orders_per_day DECIMAL(9,2)  NOT NULL COMMENT 'order_count / 4',
  busiest_rank       INT           NOT NULL COMMENT 'RANK() by order_count desc on as_of_date',
  PRIMARY KEY (as_of_date, day_of_week, `hour`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_peak_hours of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_menu_performance_30d_history (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of the snapshot',
  product_id         INT           NOT NULL COMMENT 'catalogue id',
  product_name       VARCHAR(255)  NULL     COMMENT 'catalogue name',
  category           VARCHAR(255)  NULL     COMMENT 'catalogue category',
  quantity_30d       INT           NOT NULL COMMENT 'quantity over the 30 days ending on as_of_date',
  revenue_30d        DECIMAL(18,2) NOT NULL COMMENT 'revenue over the 30 days ending on as_of_date',
  quantity_prev_30d  INT           NOT NULL COMMENT 'quantity over the 30 days before those',
  revenue_prev_30d   DECIMAL(18,2) NOT NULL COMMENT 'revenue over the 30 days before those',
  revenue_change_pct DECIMAL(9,2)  NULL     COMMENT 'as kpi_menu_performance_30d.revenue_change_pct',
  revenue_rank       INT           NOT NULL COMMENT 'RANK() by revenue_30d desc on as_of_date',
  underperforming    BOOLEAN       NOT NULL COMMENT 'as kpi_menu_performance_30d.underperforming',
  PRIMARY KEY (as_of_date, product_id),
  KEY ix_menu_performance_history_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_menu_performance_30d of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS customer_rfm_history (
  as_of_date         DATE          NOT NULL COMMENT 'the run date of the snapshot',
  customer_id        INT           NOT NULL COMMENT 'canonical customer id',
  customer_name      VARCHAR(255)  NOT NULL COMMENT 'name on the record valid on as_of_date',
  last_purchase_date DATE          NOT NULL COMMENT 'latest transaction date in the 365 days ending on as_of_date',
  recency_days       INT           NOT NULL COMMENT 'as_of_date minus last_purchase_date, in days',
  frequency          INT           NOT NULL COMMENT 'transactions in those 365 days',
  monetary           DECIMAL(18,2) NOT NULL COMMENT 'sum of their amounts',
  r_score            INT           NOT NULL COMMENT 'recency score 1 .. 5',
  f_score            INT           NOT NULL COMMENT 'frequency score 1 .. 5',
  m_score            INT           NOT NULL COMMENT 'monetary score 1 .. 5',
  rfm_segment        VARCHAR(32)   NOT NULL COMMENT 'the segment on as_of_date',
  PRIMARY KEY (as_of_date, customer_id),
  KEY ix_customer_rfm_history_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='customer_rfm of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_basket_pairs_90d_history (
  as_of_date        DATE          NOT NULL COMMENT 'the run date of the snapshot',
  product_id_a      INT           NOT NULL COMMENT 'catalogue id of the first product (the lower id)',
  product_name_a    VARCHAR(255)  NULL     COMMENT 'its catalogue name',
  product_id_b      INT           NOT NULL COMMENT 'catalogue id of the second product',
  product_name_b    VARCHAR(255)  NULL     COMMENT 'its catalogue name',
  orders_with_both  INT           NOT NULL COMMENT 'POS orders of the 90 days ending on as_of_date holding both',
  support           DECIMAL(9,4)  NOT NULL COMMENT 'as kpi_basket_pairs_90d.support',
  confidence_a_to_b DECIMAL(9,4)  NOT NULL COMMENT 'as kpi_basket_pairs_90d.confidence_a_to_b',
  confidence_b_to_a DECIMAL(9,4)  NOT NULL COMMENT 'as kpi_basket_pairs_90d.confidence_b_to_a',
  lift              DECIMAL(9,4)  NOT NULL COMMENT 'as kpi_basket_pairs_90d.lift',
  lift_rank         INT           NOT NULL COMMENT 'RANK() by lift desc on as_of_date',
  PRIMARY KEY (as_of_date, product_id_a, product_id_b),
  KEY ix_basket_pairs_history_a (product_id_a),
  KEY ix_basket_pairs_history_b (product_id_b)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_basket_pairs_90d of every run date; see docs/serving.md';

CREATE TABLE IF NOT EXISTS kpi_revenue_forecast_history (
  as_of_date    DATE          NOT NULL COMMENT 'the run date the forecast was made on',
  channel       VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'in_store, online, pos, or all',
  forecast_date DATE          NOT NULL COMMENT 'the forecast day, as_of_date + 1 .. 14',
  forecast      DECIMAL(18,2) NOT NULL COMMENT 'forecast revenue of the day',
  lower_80      DECIMAL(18,2) NOT NULL COMMENT 'lower end of the 80% prediction interval',
  upper_80      DECIMAL(18,2) NOT NULL COMMENT 'upper end of the 80% prediction interval',
  model         VARCHAR(255)  NOT NULL COMMENT 'the model and its settings',
  trained_from  DATE          NOT NULL COMMENT 'first day of the series the model was fitted on',
  trained_to    DATE          NOT NULL COMMENT 'last day of that series',
  PRIMARY KEY (as_of_date, channel, forecast_date),
  KEY ix_revenue_forecast_history_date (forecast_date, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='kpi_revenue_forecast of every run date (forecasts against what happened); see docs/serving.md';

CREATE TABLE IF NOT EXISTS forecast_backtest_history (
  as_of_date          DATE          NOT NULL COMMENT 'the run date of the snapshot',
  channel             VARCHAR(16) COLLATE utf8mb4_bin NOT NULL COMMENT 'in_store, online, pos, or all',
  model               VARCHAR(255)  NOT NULL COMMENT 'the model and its settings',
  mape_model          DECIMAL(9,2)  NULL     COMMENT 'as forecast_backtest.mape_model',
  mape_seasonal_naive DECIMAL(9,2)  NULL     COMMENT 'as forecast_backtest.mape_seasonal_naive',
  mae_model           DECIMAL(18,2) NOT NULL COMMENT 'as forecast_backtest.mae_model',
  mae_seasonal_naive  DECIMAL(18,2) NOT NULL COMMENT 'as forecast_backtest.mae_seasonal_naive',
  PRIMARY KEY (as_of_date, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='forecast_backtest of every run date; see docs/serving.md';
