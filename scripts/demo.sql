-- scripts/demo.sql: a tour of the retention extension on the CDNOW purchase log.
-- Run by scripts/demo in a fresh database where the extension is installed.

\pset footer off
\set ON_ERROR_STOP 1

CREATE TABLE cdnow_purchases (
    customer_id  bigint        NOT NULL,
    purchased_on date          NOT NULL,
    cds          integer       NOT NULL,
    amount       numeric(10,2) NOT NULL
);
\copy cdnow_purchases FROM PROGRAM 'gzip -dc data/cdnow/CDNOW_master.csv.gz' WITH (FORMAT csv, HEADER)
ANALYZE cdnow_purchases;

\echo
\echo '== The data: CDNOW customers acquired in Q1 1997, every purchase until June 1998'
SELECT count(*) AS purchases,
       count(DISTINCT customer_id) AS customers,
       min(purchased_on) AS first_day,
       max(purchased_on) AS last_day,
       sum(cds) AS cds,
       sum(amount) AS revenue_usd
  FROM cdnow_purchases;

-- Each customer's purchases per calendar month, Jan 1997 .. Jun 1998, as a vector.
CREATE TABLE monthly_profiles AS
SELECT c.customer_id,
       array_agg(coalesce(p.purchases, 0)::float8 ORDER BY m.month) AS purchases_per_month
  FROM (SELECT DISTINCT customer_id FROM cdnow_purchases) c
 CROSS JOIN generate_series(date '1997-01-01', date '1998-06-01', interval '1 month') AS m(month)
  LEFT JOIN (SELECT customer_id, date_trunc('month', purchased_on) AS month, count(*) AS purchases
               FROM cdnow_purchases GROUP BY 1, 2) p
         ON p.customer_id = c.customer_id AND p.month = m.month
 GROUP BY c.customer_id;

-- a regular customer: the lowest-numbered one who bought in at least 8 different months
SELECT min(customer_id) AS regular
  FROM monthly_profiles
 WHERE (SELECT count(*) FROM unnest(purchases_per_month) n WHERE n > 0) >= 8 \gset

\echo
\echo '== cosine_sim: the customers who buy in the same rhythm as customer' :regular
\echo '   (monthly purchase counts over 18 months; 1 = same months in the same proportions)'
SELECT p.customer_id,
       round(retention.cosine_sim(p.purchases_per_month, me.purchases_per_month)::numeric, 4) AS similarity,
       p.purchases_per_month::int[] AS purchases_per_month
  FROM monthly_profiles p,
       (SELECT purchases_per_month FROM monthly_profiles WHERE customer_id = :regular) me
 ORDER BY retention.cosine_sim(p.purchases_per_month, me.purchases_per_month) DESC, p.customer_id
 LIMIT 6;

\echo
\echo '== cosine_sim: do the January, February and March 1997 cohorts spend alike over time?'
\echo '   (monthly revenue of each acquisition cohort; the shape, not the size, is compared)'
WITH cohort_of AS (
    SELECT customer_id, date_trunc('month', min(purchased_on))::date AS cohort
      FROM cdnow_purchases GROUP BY customer_id
), curves AS (
    SELECT c.cohort,
           array_agg(coalesce(r.revenue, 0)::float8 ORDER BY m.month) AS revenue_per_month
      FROM (SELECT DISTINCT cohort FROM cohort_of) c
     CROSS JOIN generate_series(date '1997-04-01', date '1998-06-01', interval '1 month') AS m(month)
      LEFT JOIN (SELECT o.cohort, date_trunc('month', p.purchased_on) AS month, sum(p.amount) AS revenue
                   FROM cdnow_purchases p JOIN cohort_of o USING (customer_id)
                  GROUP BY 1, 2) r
             ON r.cohort = c.cohort AND r.month = m.month
     GROUP BY c.cohort
)
SELECT to_char(a.cohort, 'Mon YYYY') AS cohort,
       round(retention.cosine_sim(a.revenue_per_month, b1.revenue_per_month)::numeric, 4) AS vs_jan_1997,
       round(retention.cosine_sim(a.revenue_per_month, b2.revenue_per_month)::numeric, 4) AS vs_feb_1997,
       round(retention.cosine_sim(a.revenue_per_month, b3.revenue_per_month)::numeric, 4) AS vs_mar_1997
  FROM curves a,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-01-01') b1,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-02-01') b2,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-03-01') b3
 ORDER BY a.cohort;
\echo '   (months Apr 1997 .. Jun 1998, after all three cohorts were complete)'

-- Retention, behaviour and customer-base models on the same log
CREATE VIEW cdnow_events AS
SELECT customer_id AS user_id, purchased_on::timestamptz AS ts FROM cdnow_purchases;

\echo
\echo '== retention.cohort_table: monthly cohorts, share of customers buying again in month 1, 2, 3'
SELECT cohort_start, cohort_size,
       round(max(rate) FILTER (WHERE period_number = 1)::numeric, 4) AS month_1,
       round(max(rate) FILTER (WHERE period_number = 2)::numeric, 4) AS month_2,
       round(max(rate) FILTER (WHERE period_number = 3)::numeric, 4) AS month_3,
       round(max(rate) FILTER (WHERE period_number = 12)::numeric, 4) AS month_12
  FROM retention.cohort_table('cdnow_events', 'month')
 GROUP BY cohort_start, cohort_size ORDER BY cohort_start;

\echo
\echo '== retention.retention_rate over everyone: classic and "on or after" month-3 retention'
SELECT round(retention.retention_rate(customer_id, purchased_on, 3, 'month')::numeric, 4) AS month_3,
       round(retention.retention_rate_unbounded(customer_id, purchased_on, 3, 'month')::numeric, 4)
           AS month_3_or_later
  FROM cdnow_purchases;

\echo
\echo '== BG/NBD on the 39 weeks to 1997-09-30 (Fader, Hardie & Lee 2005 publish r 0.243, alpha 4.414, a 0.793, b 2.426)'
SET TimeZone = 'UTC';
CREATE TABLE cdnow_calibration AS
SELECT customer_id,
       (retention.rfm_summary(purchased_on, amount::float8, '1997-09-30', 'week')).*
  FROM cdnow_purchases WHERE purchased_on <= '1997-09-30' GROUP BY customer_id;
SELECT round((m ->> 'r')::numeric, 3) AS r, round((m ->> 'alpha')::numeric, 3) AS alpha,
       round((m ->> 'a')::numeric, 3) AS a, round((m ->> 'b')::numeric, 3) AS b,
       round((m ->> 'log_likelihood')::numeric, 1) AS log_likelihood, m ->> 'converged' AS converged
  FROM (SELECT retention.bgnbd_fit(frequency, recency, t)::jsonb AS m FROM cdnow_calibration) s;
\echo '   (fitted on all 23,570 customers here; the paper fits the 1/10 sample, reproduced in test/customer_base/customer_base.sql)'

-- The nightly loop on UCI Online Retail: purchases of 4,300 customers, 2010-12 to 2011-12
\echo
\echo '== The nightly loop on UCI Online Retail (a UK online gift shop, 396,337 purchase lines)'
\i data/online_retail/load.sql
CREATE TABLE retail_events AS
SELECT r.customer_id AS user_id, i.item_id, r.invoice_date::timestamptz AS ts,
       'purchase'::text AS event_type, (r.quantity * r.unit_price)::numeric(12,2) AS amount
  FROM online_retail r JOIN items i USING (stock_code)
 WHERE r.customer_id IS NOT NULL AND r.invoice_no NOT LIKE 'C%' AND r.quantity > 0 AND r.unit_price > 0;
ANALYZE retail_events;
CREATE VIEW item_names AS
SELECT i.item_id, i.stock_code, mode() WITHIN GROUP (ORDER BY r.description) AS description
  FROM items i JOIN online_retail r USING (stock_code) WHERE r.description ~ '[A-Za-z]' GROUP BY 1, 2;

-- the data ends on 2011-12-09: replay the night after it
INSERT INTO retention.pipelines (name, events, as_of, churn_horizon)
VALUES ('online_retail', 'retail_events', '2011-12-10', '90 days');
CALL retention.refresh('online_retail');

\echo
\echo '== retention.refresh_runs: what CALL retention.refresh(''online_retail'') did'
SELECT step, status, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds, rows,
       CASE step WHEN 'churn model' THEN 'holdout AUC ' || round((metrics ->> 'holdout_auc')::numeric, 4)
                 WHEN 'item-knn model' THEN 'precision@10 ' ||
                      (SELECT string_agg(e ->> 'recommender' || ' ' || round((e ->> 'precision_at_k')::numeric, 4), ', ')
                         FROM jsonb_array_elements(metrics -> 'evaluation') e)
                 WHEN 'features' THEN 'churn rate ' || round((metrics ->> 'churn_rate')::numeric, 3)
       END AS result
  FROM retention.refresh_runs WHERE pipeline = 'online_retail' ORDER BY id;

\echo
\echo '== retention.at_risk(0.5, ''online_retail''): whom to win back first, and with what'
SELECT a.user_id AS customer,
       round(a.churn_prob::numeric, 2) AS churn_prob,
       round(a.p_alive::numeric, 2) AS p_alive,
       round(a.predicted_clv::numeric, 0) AS clv_gbp,
       round(a.value_at_risk::numeric, 0) AS at_risk_gbp,
       (SELECT string_agg(f ->> 'feature', ', ') FROM jsonb_array_elements(a.top_features) f) AS risk_drivers,
       (SELECT string_agg(n.description, ' | ' ORDER BY r.ord)
          FROM unnest(a.recommended_items) WITH ORDINALITY r(item_id, ord)
          JOIN item_names n USING (item_id)) AS offer
  FROM retention.at_risk(0.5, 'online_retail') a
 LIMIT 8;
