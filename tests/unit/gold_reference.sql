-- An independent implementation of every gold table (METRICS.md) in plain DuckDB SQL, for
-- tests/unit/test_gold_differential.py. It shares no code with etl/gold and deliberately takes
-- other routes to the same numbers:
--   * money is handled as integer cents (HUGEINT) and every rounded figure is an integer division
--     rounded half away from zero (Spark's HALF_UP), never a decimal or double division;
--   * ranks are "1 + number of strictly larger values", the previous month is a join on the month
--     index, running and year-to-date sums are joins, PERCENT_RANK thresholds are integer
--     comparisons, the mean gap between distinct dates telescopes to (last - first) / (dates - 1);
--   * the 7-day sums and the 28-day baselines are self-joins on the day number, and the medians
--     pick the 14th and 15th of row_number(): the sales-drop test is an integer inequality.
-- Inputs: views transactions, sales_lines, dim_customer, sales_team, products; variables run_date
-- (DATE), rate_num and rate_den (the incentive rate as an integer fraction).
-- Sections start with "-- table: <name>"; the first section, "-- setup", defines macros and views.

-- setup
CREATE OR REPLACE MACRO cents(x) AS CAST(x * 100 AS HUGEINT);
CREATE OR REPLACE MACRO idiv_half_up(n, d) AS
    CASE WHEN d <> 0 THEN sign(n) * sign(d) * ((2 * abs(n) + abs(d)) // (2 * abs(d))) END;
CREATE OR REPLACE MACRO from_cents(c) AS CAST(CAST(c AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(18, 2));
-- a / b rounded half-up to 2 places, for a and b with at most 2 decimals
CREATE OR REPLACE MACRO div2(a, b) AS from_cents(idiv_half_up(cents(a) * 100, cents(b)));
CREATE OR REPLACE MACRO month_index(d) AS year(d) * 12 + month(d);
CREATE OR REPLACE MACRO month_text(d) AS strftime(d, '%Y-%m');
CREATE OR REPLACE MACRO full_name(f, l) AS coalesce(nullif(trim(concat_ws(' ', f, l)), ''), 'Unknown');

CREATE OR REPLACE VIEW counted AS
SELECT * FROM transactions WHERE is_revenue AND transaction_date <= getvariable('run_date');

CREATE OR REPLACE VIEW customer_record AS
SELECT customer_id, full_name(first_name, last_name) AS full_name, address, phone_number, region
FROM dim_customer
WHERE valid_from <= getvariable('run_date') AND getvariable('run_date') < valid_to;

CREATE OR REPLACE VIEW month_of_run_date AS
SELECT * FROM counted
WHERE month_index(transaction_date) = month_index(getvariable('run_date'));

CREATE OR REPLACE VIEW last_30_days AS
SELECT * FROM counted WHERE transaction_date >= getvariable('run_date') - 29;

CREATE OR REPLACE VIEW daily_reference AS
WITH day_totals AS (
    SELECT transaction_date AS date, cents(sum(amount)) AS revenue_c, count(*) AS orders,
           sum(coalesce(units, 0)) AS units
    FROM counted GROUP BY transaction_date
),
calendar AS (
    SELECT CAST(d AS DATE) AS date
    FROM range((SELECT min(transaction_date) FROM counted), getvariable('run_date') + INTERVAL 1 DAY,
               INTERVAL 1 DAY) AS t(d)
),
days AS (
    SELECT c.date, date_diff('day', (SELECT min(date) FROM calendar), c.date) AS k,
           coalesce(t.revenue_c, 0) AS revenue_c, coalesce(t.orders, 0) AS orders, coalesce(t.units, 0) AS units
    FROM calendar c LEFT JOIN day_totals t USING (date)
),
week AS (
    SELECT a.date, a.k, a.revenue_c, a.orders, a.units, sum(b.revenue_c) AS r7_c
    FROM days a JOIN days b ON b.k BETWEEN a.k - 6 AND a.k
    GROUP BY a.date, a.k, a.revenue_c, a.orders, a.units
),
baseline AS (
    SELECT a.k, b.r7_c AS v, row_number() OVER (PARTITION BY a.k ORDER BY b.r7_c) AS pos
    FROM week a JOIN week b ON b.k BETWEEN a.k - 34 AND a.k - 7
    WHERE a.k >= 34
),
median AS (  -- twice the median, in cents
    SELECT k, sum(v) AS median2 FROM baseline WHERE pos IN (14, 15) GROUP BY k
),
deviation AS (  -- |2v - median2| = twice the absolute deviation
    SELECT b.k, abs(2 * b.v - m.median2) AS dv,
           row_number() OVER (PARTITION BY b.k ORDER BY abs(2 * b.v - m.median2)) AS pos
    FROM baseline b JOIN median m USING (k)
),
mad AS (  -- four times the MAD, in cents
    SELECT k, sum(dv) AS mad4 FROM deviation WHERE pos IN (14, 15) GROUP BY k
)
SELECT w.date, w.k, w.revenue_c, w.orders, w.units, w.r7_c, coalesce(p.r7_c, 0) AS previous_c,
       m.median2, d.mad4,
       -- r7 < median - 3 x 1.4826 x MAD  <=>  40000 r7 < 20000 median2 - 44478 mad4 ; r7 < median / 2
       coalesce(40000 * w.r7_c < 20000 * m.median2 - 44478 * d.mad4 AND 4 * w.r7_c < m.median2, false)
           AS is_anomaly
FROM week w
LEFT JOIN week p ON p.k = w.k - 7
LEFT JOIN median m ON m.k = w.k
LEFT JOIN mad d ON d.k = w.k;

-- table: customers_data_mart
WITH bought AS (
    SELECT customer_id, transaction_date, amount FROM counted WHERE customer_id IS NOT NULL
),
lifetime AS (
    SELECT customer_id, sum(amount) AS clv, count(*) AS frequency, min(transaction_date) AS first_day,
           max(transaction_date) AS last_day, max(amount) AS largest, count(DISTINCT transaction_date) AS dates,
           date_diff('day', max(transaction_date), getvariable('run_date')) > 90 AS inactive
    FROM bought GROUP BY customer_id
),
ranked AS (
    SELECT l.*, 1 + (SELECT count(*) FROM lifetime o WHERE o.clv < l.clv) AS value_rank,
           (SELECT count(*) FROM lifetime) AS customers
    FROM lifetime l
),
monthly AS (
    SELECT customer_id, month_text(transaction_date) AS sales_month, sum(amount) AS total, count(*) AS n
    FROM bought GROUP BY customer_id, month_text(transaction_date)
)
SELECT m.customer_id, coalesce(r.full_name, 'Unknown') AS full_name, r.address, r.phone_number, r.region,
       m.sales_month, CAST(m.total AS DECIMAL(18, 2)) AS total_sales, CAST(m.n AS INTEGER) AS monthly_transactions,
       CAST(l.clv AS DECIMAL(18, 2)) AS customer_lifetime_value,
       month_text(l.first_day) AS first_purchase_month, month_text(l.last_day) AS last_purchase_month,
       CAST(l.frequency AS INTEGER) AS purchase_frequency,
       div2(l.clv, l.frequency) AS monetary_value,
       div2(l.clv, month_index(getvariable('run_date')) - month_index(l.first_day) + 1) AS avg_monthly_spending,
       CAST(l.largest AS DECIMAL(18, 2)) AS max_single_transaction,
       CASE WHEN l.dates >= 2
            THEN TRY_CAST(div2(date_diff('day', l.first_day, l.last_day), l.dates - 1) AS DECIMAL(9, 2)) END
           AS avg_time_between_purchases,
       l.inactive AS inactive_status,
       CASE WHEN l.inactive THEN 'At Risk'
            -- PERCENT_RANK = (rank - 1) / (customers - 1) >= 4/5, >= 2/5
            WHEN l.customers > 1 AND 5 * (l.value_rank - 1) >= 4 * (l.customers - 1) THEN 'Premium'
            WHEN l.customers > 1 AND 5 * (l.value_rank - 1) >= 2 * (l.customers - 1) THEN 'Regular'
            ELSE 'Occasional' END AS customer_segment
FROM monthly m JOIN ranked l USING (customer_id) LEFT JOIN customer_record r USING (customer_id)
ORDER BY m.customer_id, m.sales_month;

-- table: sales_team_data_mart
WITH monthly AS (
    SELECT store_id, sales_person_id, month_index(transaction_date) AS mi, month_text(transaction_date) AS sales_month,
           year(transaction_date) AS yr, sum(amount) AS total, count(*) AS n, max(amount) AS largest
    FROM counted WHERE channel = 'store'
    GROUP BY store_id, sales_person_id, month_index(transaction_date), month_text(transaction_date),
             year(transaction_date)
),
figures AS (
    SELECT m.*,
           1 + (SELECT count(*) FROM monthly o
                WHERE o.store_id = m.store_id AND o.mi = m.mi AND o.total > m.total) AS position,
           (SELECT sum(o.total) FROM monthly o WHERE o.store_id = m.store_id AND o.mi = m.mi) AS store_total,
           (SELECT sum(o.total) FROM monthly o WHERE o.store_id = m.store_id
                AND o.sales_person_id = m.sales_person_id AND o.mi <= m.mi) AS running_total,
           (SELECT count(*) FROM monthly o WHERE o.store_id = m.store_id
                AND o.sales_person_id = m.sales_person_id AND o.mi <= m.mi) AS running_months,
           (SELECT sum(o.total) FROM monthly o WHERE o.store_id = m.store_id
                AND o.sales_person_id = m.sales_person_id AND o.yr = m.yr AND o.mi <= m.mi) AS ytd,
           (SELECT min(o.sales_month) FROM monthly o WHERE o.store_id = m.store_id
                AND o.sales_person_id = m.sales_person_id) AS first_month,
           (SELECT max(o.sales_month) FROM monthly o WHERE o.store_id = m.store_id
                AND o.sales_person_id = m.sales_person_id) AS last_month
    FROM monthly m
)
SELECT f.store_id, f.sales_person_id, coalesce(full_name(t.first_name, t.last_name), 'Unknown') AS full_name,
       f.sales_month, CAST(f.total AS DECIMAL(18, 2)) AS total_sales, CAST(f.n AS INTEGER) AS total_transactions,
       div2(f.total, f.n) AS avg_transaction_value, CAST(f.largest AS DECIMAL(18, 2)) AS max_single_transaction,
       div2(f.running_total, f.running_months) AS avg_sales_per_month,
       CAST(f.position AS INTEGER) AS top_performance_rank,
       CASE WHEN f.position = 1
            THEN from_cents(idiv_half_up(cents(f.total) * getvariable('rate_num'), getvariable('rate_den')))
            ELSE CAST(0 AS DECIMAL(18, 2)) END AS incentive,
       CAST(f.total - p.total AS DECIMAL(18, 2)) AS month_over_month_variance,
       TRY_CAST(div2((f.total - p.total) * 100, p.total) AS DECIMAL(9, 2)) AS sales_growth_rate,
       CAST(f.ytd AS DECIMAL(18, 2)) AS year_to_date_sales,
       f.first_month AS first_sale_month, f.last_month AS last_sale_month,
       TRY_CAST(div2(f.total * 100, f.store_total) AS DECIMAL(9, 2)) AS sales_contribution_percentage
FROM figures f
LEFT JOIN monthly p ON p.store_id = f.store_id AND p.sales_person_id = f.sales_person_id AND p.mi = f.mi - 1
LEFT JOIN sales_team t ON t.id = f.sales_person_id
ORDER BY f.store_id, f.sales_person_id, f.sales_month;

-- table: kpi_repeat_customers
SELECT t.customer_id, coalesce(r.full_name, 'Unknown') AS customer_name, CAST(count(*) AS INTEGER) AS order_count,
       CAST(sum(t.amount) AS DECIMAL(18, 2)) AS total_amount
FROM month_of_run_date t LEFT JOIN customer_record r USING (customer_id)
WHERE t.customer_id IS NOT NULL
GROUP BY t.customer_id, r.full_name
HAVING count(*) >= 2
ORDER BY order_count DESC, customer_id;

-- table: kpi_regional_revenue
WITH placed AS (
    SELECT CASE WHEN v.region IS NULL OR trim(v.region) = '' THEN 'Unknown' ELSE v.region END AS region, t.amount
    FROM month_of_run_date t
    LEFT JOIN dim_customer v
      ON v.customer_id = t.customer_id AND v.valid_from <= t.transaction_date AND t.transaction_date < v.valid_to
)
SELECT region, CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue, CAST(count(*) AS INTEGER) AS order_count,
       TRY_CAST(div2(sum(amount) * 100, (SELECT sum(amount) FROM month_of_run_date)) AS DECIMAL(9, 2)) AS share_pct
FROM placed GROUP BY region
ORDER BY revenue DESC, region;

-- table: kpi_monthly_order_trends
WITH months AS (
    SELECT month_text(m) AS sales_month
    FROM range((SELECT date_trunc('month', min(transaction_date)) FROM counted),
               date_trunc('month', getvariable('run_date')) + INTERVAL 1 MONTH, INTERVAL 1 MONTH) AS t(m)
)
SELECT s.sales_month, CAST(count(t.amount) AS INTEGER) AS order_count,
       CAST(coalesce(sum(t.amount), 0) AS DECIMAL(18, 2)) AS revenue,
       CAST(count(DISTINCT t.customer_id) AS INTEGER) AS unique_customers
FROM months s LEFT JOIN counted t ON month_text(t.transaction_date) = s.sales_month
GROUP BY s.sales_month
ORDER BY s.sales_month;

-- table: kpi_top_customers_30d
WITH spend AS (
    SELECT customer_id, sum(amount) AS total, count(*) AS n
    FROM last_30_days WHERE customer_id IS NOT NULL GROUP BY customer_id
),
ranked AS (
    SELECT s.*, 1 + (SELECT count(*) FROM spend o WHERE o.total > s.total) AS position FROM spend s
)
SELECT CAST(position AS INTEGER) AS rank, customer_id, coalesce(r.full_name, 'Unknown') AS customer_name,
       CAST(total AS DECIMAL(18, 2)) AS total_spend, CAST(n AS INTEGER) AS order_count
FROM ranked LEFT JOIN customer_record r USING (customer_id)
WHERE position <= 10
ORDER BY rank, customer_id;

-- table: kpi_product_sales_30d
WITH lines AS (
    SELECT * FROM sales_lines
    WHERE is_revenue AND transaction_date BETWEEN getvariable('run_date') - 29 AND getvariable('run_date')
),
matched AS (
    SELECT l.product_id, coalesce(min(p.name), min(coalesce(l.product_name, l.sku_id)), 'Unknown') AS product_name,
           sum(l.quantity) AS quantity, sum(l.amount) AS revenue
    FROM lines l LEFT JOIN products p ON p.id = l.product_id
    WHERE l.product_id IS NOT NULL GROUP BY l.product_id
),
unmatched AS (
    SELECT CAST(NULL AS INTEGER) AS product_id, coalesce(product_name, sku_id, 'Unknown') AS product_name,
           sum(quantity) AS quantity, sum(amount) AS revenue
    FROM lines WHERE product_id IS NULL GROUP BY coalesce(product_name, sku_id, 'Unknown')
),
products_sold AS (SELECT * FROM matched UNION ALL SELECT * FROM unmatched)
SELECT product_id, product_name, CAST(quantity AS INTEGER) AS quantity, CAST(revenue AS DECIMAL(18, 2)) AS revenue,
       CAST(1 + (SELECT count(*) FROM products_sold o WHERE o.revenue > s.revenue) AS INTEGER) AS revenue_rank
FROM products_sold s
ORDER BY revenue_rank, product_name, product_id NULLS LAST;

-- table: kpi_daily_sales
SELECT date, from_cents(revenue_c) AS revenue, CAST(orders AS INTEGER) AS order_count, CAST(units AS INTEGER) AS units,
       CASE WHEN orders > 0 THEN from_cents(idiv_half_up(revenue_c, orders)) END AS avg_order_value,
       from_cents(r7_c) AS revenue_7d,
       TRY_CAST(from_cents(idiv_half_up((r7_c - previous_c) * 10000, previous_c)) AS DECIMAL(9, 2))
           AS revenue_7d_change_pct,
       is_anomaly
FROM daily_reference
ORDER BY date;

-- table: alerts
SELECT date, from_cents(r7_c) AS revenue, from_cents(idiv_half_up(median2, 2)) AS expected,
       '7-day revenue ' || from_cents(r7_c)
       || ' is below the baseline median ' || from_cents(idiv_half_up(median2, 2))
       || ' - 3 x 1.4826 x MAD ' || from_cents(idiv_half_up(mad4, 4))
       || ' = ' || from_cents(idiv_half_up(20000 * median2 - 44478 * mad4, 40000))
       || ' and below half the median ' || from_cents(idiv_half_up(median2, 4))
       || ' (baseline days ' || CAST(date - 34 AS VARCHAR) || ' .. ' || CAST(date - 7 AS VARCHAR) || ')' AS reason
FROM daily_reference
WHERE is_anomaly
ORDER BY date;

-- table: kpi_channel_daily
-- Every (date, channel) from the first revenue transaction through run_date; the 28-day sums are a
-- self-join on the day number over the complete calendar.
WITH per_day AS (
    SELECT transaction_date AS date, CASE channel WHEN 'store' THEN 'in_store' ELSE channel END AS channel,
           count(*) FILTER (WHERE is_revenue) AS orders,
           coalesce(cents(sum(amount) FILTER (WHERE is_revenue)), 0) AS revenue_c,
           count(*) FILTER (WHERE channel = 'pos' AND status <> 'Success') AS cancelled
    FROM transactions WHERE transaction_date <= getvariable('run_date')
    GROUP BY ALL
),
calendar AS (
    SELECT CAST(d AS DATE) AS date
    FROM range((SELECT min(transaction_date) FROM counted), getvariable('run_date') + INTERVAL 1 DAY,
               INTERVAL 1 DAY) AS t(d)
),
grid AS (
    SELECT c.date, ch.channel, date_diff('day', DATE '2000-01-01', c.date) AS k,
           coalesce(p.orders, 0) AS orders, coalesce(p.revenue_c, 0) AS revenue_c,
           coalesce(p.cancelled, 0) AS cancelled
    FROM calendar c
    CROSS JOIN (VALUES ('in_store'), ('online'), ('pos')) AS ch(channel)
    LEFT JOIN per_day p ON p.date = c.date AND p.channel = ch.channel
),
rolled AS (
    SELECT a.date, a.channel, a.orders, a.revenue_c, a.cancelled, sum(b.revenue_c) AS r28_c, sum(b.orders) AS o28
    FROM grid a JOIN grid b ON b.channel = a.channel AND b.k BETWEEN a.k - 27 AND a.k
    GROUP BY a.date, a.channel, a.orders, a.revenue_c, a.cancelled
)
SELECT date, channel, CAST(orders AS INTEGER) AS order_count, from_cents(revenue_c) AS revenue,
       CASE WHEN orders > 0 THEN from_cents(idiv_half_up(revenue_c, orders)) END AS avg_order_value,
       CAST(cancelled AS INTEGER) AS cancelled_orders, from_cents(r28_c) AS revenue_28d,
       CAST(o28 AS INTEGER) AS order_count_28d,
       CASE WHEN o28 > 0 THEN from_cents(idiv_half_up(r28_c, o28)) END AS avg_order_value_28d
FROM rolled
ORDER BY date, channel;

-- table: kpi_order_mix
-- Each POS revenue order once per dimension; shares in hundredths of a percent by integer division.
WITH pos AS (
    SELECT month_text(transaction_date) AS sales_month, cents(amount) AS amount_c, order_type, order_from,
           payment_type
    FROM counted WHERE channel = 'pos'
),
long AS (
    SELECT sales_month, amount_c, 'order_type' AS dimension, order_type AS raw FROM pos
    UNION ALL SELECT sales_month, amount_c, 'order_from', order_from FROM pos
    UNION ALL SELECT sales_month, amount_c, 'payment_type', payment_type FROM pos
),
cells AS (
    SELECT sales_month, dimension, coalesce(nullif(trim(raw), ''), 'Unknown') AS value, count(*) AS orders,
           sum(amount_c) AS revenue_c
    FROM long GROUP BY ALL
),
months AS (SELECT sales_month, count(*) AS orders, sum(amount_c) AS revenue_c FROM pos GROUP BY sales_month)
SELECT c.sales_month, c.dimension, c.value, CAST(c.orders AS INTEGER) AS order_count,
       from_cents(c.revenue_c) AS revenue,
       CAST(from_cents(idiv_half_up(c.orders * 10000, m.orders)) AS DECIMAL(9, 2)) AS order_share_pct,
       TRY_CAST(from_cents(idiv_half_up(c.revenue_c * 10000, m.revenue_c)) AS DECIMAL(9, 2)) AS revenue_share_pct
FROM cells c JOIN months m USING (sales_month)
ORDER BY c.sales_month, c.dimension, c.value;

-- table: kpi_peak_hours
-- The 7 x 24 grid left-joined with the online and POS orders of the 28 days by their UTC time;
-- order_count / 4 is order_count x 25 cents.
WITH o AS (
    SELECT isodow(timezone('UTC', transaction_ts)) AS dow, hour(timezone('UTC', transaction_ts)) AS hr,
           cents(amount) AS amount_c
    FROM counted
    WHERE channel IN ('online', 'pos') AND transaction_ts IS NOT NULL
      AND transaction_date >= getvariable('run_date') - 27
),
grid AS (SELECT d AS day_of_week, h AS hour FROM range(1, 8) AS a(d), range(0, 24) AS b(h)),
cells AS (
    SELECT g.day_of_week, g.hour, count(o.dow) AS orders, coalesce(sum(o.amount_c), 0) AS revenue_c
    FROM grid g LEFT JOIN o ON o.dow = g.day_of_week AND o.hr = g.hour
    GROUP BY g.day_of_week, g.hour
)
SELECT CAST(day_of_week AS INTEGER) AS day_of_week, CAST(hour AS INTEGER) AS hour,
       CAST(orders AS INTEGER) AS order_count, from_cents(revenue_c) AS revenue,
       CAST(from_cents(orders * 25) AS DECIMAL(9, 2)) AS avg_orders_per_day,
       CAST(1 + (SELECT count(*) FROM cells x WHERE x.orders > c.orders) AS INTEGER) AS busiest_rank
FROM cells c
ORDER BY day_of_week, hour;

-- table: kpi_menu_performance_30d
-- Every catalogue product; PERCENT_RANK < 0.2 as 5 x (products with less revenue) < n - 1.
WITH sums AS (
    SELECT product_id,
           sum(quantity) FILTER (WHERE transaction_date >= getvariable('run_date') - 29) AS q30,
           cents(sum(amount) FILTER (WHERE transaction_date >= getvariable('run_date') - 29)) AS r30,
           sum(quantity) FILTER (WHERE transaction_date < getvariable('run_date') - 29) AS qp,
           cents(sum(amount) FILTER (WHERE transaction_date < getvariable('run_date') - 29)) AS rp
    FROM sales_lines
    WHERE is_revenue AND product_id IS NOT NULL
      AND transaction_date BETWEEN getvariable('run_date') - 59 AND getvariable('run_date')
    GROUP BY product_id
),
menu AS (
    SELECT p.id AS product_id, p.name AS product_name, p.category, coalesce(s.q30, 0) AS q30,
           coalesce(s.r30, 0) AS r30, coalesce(s.qp, 0) AS qp, coalesce(s.rp, 0) AS rp
    FROM products p LEFT JOIN sums s ON s.product_id = p.id
),
total AS (SELECT count(*) AS n FROM menu),
ranked AS (
    SELECT m.*, 1 + (SELECT count(*) FROM menu o WHERE o.r30 > m.r30) AS rank_desc,
           (SELECT count(*) FROM menu o WHERE o.r30 < m.r30) AS below
    FROM menu m
)
SELECT product_id, product_name, category, CAST(q30 AS INTEGER) AS quantity_30d, from_cents(r30) AS revenue_30d,
       CAST(qp AS INTEGER) AS quantity_prev_30d, from_cents(rp) AS revenue_prev_30d,
       CASE WHEN rp <> 0 THEN TRY_CAST(from_cents(idiv_half_up((r30 - rp) * 10000, rp)) AS DECIMAL(9, 2)) END
           AS revenue_change_pct,
       CAST(rank_desc AS INTEGER) AS revenue_rank,
       (r30 = 0 OR total.n = 1 OR 5 * below < total.n - 1) AS underperforming
FROM ranked, total
ORDER BY revenue_rank, product_id;

-- table: customer_rfm
-- Ranks are "1 + number of strictly smaller (or larger) values"; recency desc = an earlier last date.
WITH bought AS (
    SELECT customer_id, transaction_date, amount FROM counted
    WHERE customer_id IS NOT NULL AND transaction_date >= getvariable('run_date') - 364
),
customers AS (
    SELECT customer_id, max(transaction_date) AS last_day, count(*) AS frequency, cents(sum(amount)) AS monetary_c
    FROM bought GROUP BY customer_id
),
ranked AS (
    SELECT c.*, (SELECT count(*) FROM customers) AS n,
           1 + (SELECT count(*) FROM customers o WHERE o.last_day < c.last_day) AS r,
           1 + (SELECT count(*) FROM customers o WHERE o.frequency < c.frequency) AS f,
           1 + (SELECT count(*) FROM customers o WHERE o.monetary_c < c.monetary_c) AS m
    FROM customers c
),
scored AS (
    SELECT customer_id, last_day, frequency, monetary_c,
           CASE WHEN n = 1 THEN 1 ELSE least(5, 1 + (5 * (r - 1)) // (n - 1)) END AS r_score,
           CASE WHEN n = 1 THEN 1 ELSE least(5, 1 + (5 * (f - 1)) // (n - 1)) END AS f_score,
           CASE WHEN n = 1 THEN 1 ELSE least(5, 1 + (5 * (m - 1)) // (n - 1)) END AS m_score
    FROM ranked
)
SELECT s.customer_id, coalesce(r.full_name, 'Unknown') AS customer_name, s.last_day AS last_purchase_date,
       CAST(date_diff('day', s.last_day, getvariable('run_date')) AS INTEGER) AS recency_days,
       CAST(s.frequency AS INTEGER) AS frequency, from_cents(s.monetary_c) AS monetary,
       CAST(s.r_score AS INTEGER) AS r_score, CAST(s.f_score AS INTEGER) AS f_score,
       CAST(s.m_score AS INTEGER) AS m_score,
       CASE WHEN s.r_score >= 4 AND s.f_score >= 4 THEN 'Champions'
            WHEN s.r_score >= 3 AND s.f_score >= 3 THEN 'Loyal'
            WHEN s.r_score = 5 AND s.f_score = 1 THEN 'New'
            WHEN s.r_score >= 4 AND s.f_score <= 2 THEN 'Promising'
            WHEN s.r_score = 3 AND s.f_score <= 2 THEN 'Needs Attention'
            WHEN s.r_score <= 2 AND s.f_score >= 3 THEN 'At Risk'
            ELSE 'Lost' END AS rfm_segment
FROM scored s LEFT JOIN customer_record r USING (customer_id)
ORDER BY s.customer_id;

-- table: kpi_basket_pairs_90d
-- Ratios in ten-thousandths by integer division rounded half-up; the lift rank compares
-- both x orders_a' x orders_b' with both' x orders_a x orders_b (N is common), in HUGEINT.
WITH pos_orders AS (
    SELECT DISTINCT transaction_id FROM transactions
    WHERE channel = 'pos' AND is_revenue
      AND transaction_date BETWEEN getvariable('run_date') - 89 AND getvariable('run_date')
),
total AS (SELECT count(*) AS n FROM pos_orders),
items AS (
    SELECT DISTINCT l.transaction_id, l.product_id
    FROM sales_lines l
    WHERE l.channel = 'pos' AND l.is_revenue
      AND l.transaction_date BETWEEN getvariable('run_date') - 89 AND getvariable('run_date')
      AND l.product_id IN (SELECT id FROM products)
),
per_product AS (SELECT product_id, count(*) AS orders FROM items GROUP BY product_id),
pairs AS (
    SELECT a.product_id AS pa, b.product_id AS pb, count(*) AS both_orders
    FROM items a JOIN items b ON a.transaction_id = b.transaction_id AND a.product_id < b.product_id
    GROUP BY a.product_id, b.product_id
    HAVING count(*) >= 3
),
figures AS (
    SELECT p.pa, p.pb, CAST(p.both_orders AS HUGEINT) AS both_orders, CAST(x.orders AS HUGEINT) AS orders_a,
           CAST(y.orders AS HUGEINT) AS orders_b, CAST(t.n AS HUGEINT) AS n
    FROM pairs p JOIN per_product x ON x.product_id = p.pa JOIN per_product y ON y.product_id = p.pb, total t
),
names AS (SELECT id, coalesce(min(name), 'Unknown') AS name FROM products GROUP BY id)
SELECT CAST(f.pa AS INTEGER) AS product_id_a, na.name AS product_name_a,
       CAST(f.pb AS INTEGER) AS product_id_b, nb.name AS product_name_b,
       CAST(f.both_orders AS INTEGER) AS orders_with_both,
       TRY_CAST(CAST(idiv_half_up(f.both_orders * 10000, f.n) AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(9, 4)) AS support,
       TRY_CAST(CAST(idiv_half_up(f.both_orders * 10000, f.orders_a) AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(9, 4))
           AS confidence_a_to_b,
       TRY_CAST(CAST(idiv_half_up(f.both_orders * 10000, f.orders_b) AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(9, 4))
           AS confidence_b_to_a,
       TRY_CAST(CAST(idiv_half_up(f.both_orders * f.n * 10000, f.orders_a * f.orders_b) AS DECIMAL(18, 0)) * 0.0001
                AS DECIMAL(9, 4)) AS lift,
       CAST(1 + (SELECT count(*) FROM figures o
                 WHERE o.both_orders * f.orders_a * f.orders_b > f.both_orders * o.orders_a * o.orders_b)
            AS INTEGER) AS lift_rank
FROM figures f JOIN names na ON na.id = f.pa JOIN names nb ON nb.id = f.pb
ORDER BY lift_rank, product_id_a, product_id_b;

-- table: kpi_cohort_retention
-- Months as integer indexes (year x 12 + month); every month of a cohort's range from a range().
WITH bought AS (
    SELECT DISTINCT customer_id, month_index(transaction_date) AS mi FROM counted WHERE customer_id IS NOT NULL
),
cohort AS (SELECT customer_id, min(mi) AS cohort_mi FROM bought GROUP BY customer_id),
sizes AS (SELECT cohort_mi, count(*) AS size FROM cohort GROUP BY cohort_mi),
months AS (
    SELECT mi FROM range((SELECT min(cohort_mi) FROM sizes), month_index(getvariable('run_date')) + 1) AS t(mi)
),
active AS (
    SELECT c.cohort_mi, b.mi, count(*) AS active FROM bought b JOIN cohort c USING (customer_id)
    GROUP BY c.cohort_mi, b.mi
)
SELECT printf('%04d-%02d', (s.cohort_mi - 1) // 12, (s.cohort_mi - 1) % 12 + 1) AS cohort_month,
       CAST(m.mi - s.cohort_mi AS INTEGER) AS month_offset,
       printf('%04d-%02d', (m.mi - 1) // 12, (m.mi - 1) % 12 + 1) AS sales_month,
       CAST(s.size AS INTEGER) AS cohort_size, CAST(coalesce(a.active, 0) AS INTEGER) AS active_customers,
       TRY_CAST(from_cents(idiv_half_up(coalesce(a.active, 0) * 10000, s.size)) AS DECIMAL(9, 2)) AS retention_pct
FROM sizes s JOIN months m ON m.mi >= s.cohort_mi
LEFT JOIN active a ON a.cohort_mi = s.cohort_mi AND a.mi = m.mi
ORDER BY cohort_month, month_offset;
