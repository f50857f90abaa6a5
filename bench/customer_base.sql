-- bench/customer_base.sql: the customer-base models on 1,000,000 customers.
--
-- The customers are the full CDNOW cohort (23,570 customers, 69,659
-- purchases, data/cdnow/CDNOW_master.csv.gz) summarised in days up to
-- 1997-09-30 and copied 43 times, each copy observed up to two weeks longer,
-- so the summaries are as varied as daily data makes them.  Raw purchases
-- for rfm_summary are the master log copied 10 times.  Times are per million
-- customers, and as ratios to a baseline in the same session: a plain scan
-- of the same table, or the SQL an analyst would write for the same numbers.

\echo 'customer_base: 1,000,000 customer summaries; 696,590 raw purchases of 235,700 customers'
SELECT pg_catalog.setseed(0.42);

CREATE TEMP TABLE cdnow_master (customer_id int, day date, cds int, amount float8);
\copy cdnow_master FROM PROGRAM 'gzip -dc data/cdnow/CDNOW_master.csv.gz' CSV HEADER
SET TimeZone = 'UTC';

CREATE TABLE transactions AS
SELECT copy * 100000 + customer_id AS customer_id,
       day + random() * interval '20 hours' AS ts, amount
  FROM cdnow_master, generate_series(0, 9) copy;
ALTER TABLE transactions SET (parallel_workers = 2);

CREATE TEMP TABLE cdnow_days AS
SELECT customer_id, (retention.rfm_summary(day, amount, '1997-09-30', 'day')).*
  FROM cdnow_master GROUP BY customer_id;
CREATE TABLE customers AS
SELECT copy * 100000 + customer_id AS customer_id, frequency::float8 AS frequency,
       recency / 7 AS recency, (t + floor(random() * 14)) / 7 AS t, monetary
  FROM cdnow_days, generate_series(0, 42) copy
 ORDER BY copy, customer_id LIMIT 1000000;
ALTER TABLE customers SET (parallel_workers = 2);
VACUUM ANALYZE customers, transactions;

SELECT count(*) AS customers,
       count(DISTINCT (frequency, recency, t)) AS distinct_bgnbd_summaries,
       count(DISTINCT (frequency, monetary)) FILTER (WHERE frequency > 0) AS distinct_spend_summaries,
       (SELECT count(*) FROM transactions) AS purchases
  FROM customers;

CREATE TEMP TABLE timings (step text, n float8, ms float8, baseline_ms float8);

-- fits, one process
SET max_parallel_workers_per_gather = 0;
INSERT INTO timings VALUES
  ('plain scan of 1M summaries (serial)', 1e6,
   bench.best_ms('SELECT count(*), sum(frequency + recency + t) FROM customers'), NULL);
UPDATE timings SET baseline_ms = ms;
INSERT INTO timings SELECT 'bgnbd_fit (serial)', 1e6,
   bench.best_ms('SELECT retention.bgnbd_fit(frequency, recency, t) FROM customers'), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';
INSERT INTO timings SELECT 'pareto_nbd_fit (serial)', 1e6,
   bench.best_ms('SELECT retention.pareto_nbd_fit(frequency, recency, t) FROM customers', 1), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';
INSERT INTO timings SELECT 'gamma_gamma_fit (serial)', 1e6,
   bench.best_ms('SELECT retention.gamma_gamma_fit(frequency, monetary) FROM customers WHERE monetary > 0'), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';

-- scoring every customer: P(alive), expected purchases, lifetime value
SELECT retention.bgnbd_fit(frequency, recency, t) AS bgnbd,
       retention.pareto_nbd_fit(frequency, recency, t) AS pnbd,
       retention.gamma_gamma_fit(frequency, monetary) FILTER (WHERE monetary > 0) AS spend
  FROM customers \gset
INSERT INTO timings SELECT 'bgnbd_p_alive + expected_purchases(39)', 1e6,
   bench.best_ms(format($q$SELECT sum(retention.bgnbd_p_alive(%1$L, frequency, recency, t)
                                    + retention.bgnbd_expected_purchases(%1$L, 39, frequency, recency, t))
                             FROM customers$q$, :'bgnbd'), 1), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';
INSERT INTO timings SELECT 'pareto_nbd_p_alive + expected_purchases(39)', 1e6,
   bench.best_ms(format($q$SELECT sum(retention.pareto_nbd_p_alive(%1$L, frequency, recency, t)
                                    + retention.pareto_nbd_expected_purchases(%1$L, 39, frequency, recency, t))
                             FROM customers$q$, :'pnbd'), 1), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';
INSERT INTO timings SELECT 'customer_lifetime_value (13 periods)', 1e5,
   bench.best_ms(format($q$SELECT sum(retention.customer_lifetime_value(%L, %L, frequency, recency, t, monetary, 13, 4, 0.01))
                             FROM customers WHERE customer_id <= 100000$q$, :'bgnbd', :'spend'), 1), ms / 10
  FROM timings WHERE step LIKE 'plain scan of 1M%serial%';

-- rfm_summary against the GROUP BY an analyst would write for the same numbers
INSERT INTO timings VALUES ('rfm_summary over raw purchases (serial)', 235700,
   bench.best_ms($q$SELECT count(r) FROM (SELECT retention.rfm_summary(ts, amount, '1997-09-30', 'week') AS r
                                           FROM transactions GROUP BY customer_id) s$q$),
   bench.best_ms($q$SELECT count(*) FROM (
                      SELECT customer_id, count(*) - 1 AS frequency,
                             (max(day) - min(day)) / 7.0 AS recency, ('1997-09-30'::date - min(day)) / 7.0 AS t,
                             coalesce(sum(amount) FILTER (WHERE day > first_day) / nullif(count(*) - 1, 0), 0) AS monetary
                        FROM (SELECT customer_id, day, sum(amount) AS amount, min(day) OVER (PARTITION BY customer_id) AS first_day
                                FROM (SELECT customer_id, (ts AT TIME ZONE current_setting('TimeZone'))::date AS day, amount
                                        FROM transactions WHERE ts < '1997-10-01') t
                               GROUP BY customer_id, day) d
                       GROUP BY customer_id) s$q$));

INSERT INTO timings SELECT 'rfm_summary vs bare GROUP BY count(*)', 235700, ms,
   bench.best_ms('SELECT count(r) FROM (SELECT count(*) AS r FROM transactions GROUP BY customer_id) s')
  FROM timings WHERE step LIKE 'rfm_summary over raw%';

-- fits with two parallel workers
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
INSERT INTO timings VALUES
  ('plain scan of 1M summaries (2 workers)', 1e6,
   bench.best_ms('SELECT count(*), sum(frequency + recency + t) FROM customers'), NULL);
UPDATE timings SET baseline_ms = ms WHERE step LIKE 'plain scan of 1M%2 workers%';
INSERT INTO timings SELECT 'bgnbd_fit (2 workers)', 1e6,
   bench.best_ms('SELECT retention.bgnbd_fit(frequency, recency, t) FROM customers'), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%2 workers%';
INSERT INTO timings SELECT 'gamma_gamma_fit (2 workers)', 1e6,
   bench.best_ms('SELECT retention.gamma_gamma_fit(frequency, monetary) FROM customers WHERE monetary > 0'), ms
  FROM timings WHERE step LIKE 'plain scan of 1M%2 workers%';

-- the fitted models: the copies are CDNOW customers, so these are close to CDNOW's
SELECT :'bgnbd'::jsonb - 'std_err' AS bgnbd_model;
SELECT :'pnbd'::jsonb - 'std_err' AS pareto_nbd_model;
SELECT :'spend'::jsonb - 'std_err' AS gamma_gamma_model;

SELECT step,
       round((ms * 1e6 / n)::numeric, 0) AS ms_per_million_customers,
       round((ms / baseline_ms)::numeric, 2) AS ratio_to_baseline
  FROM timings ORDER BY ctid;
\echo 'baseline: a plain scan of the same table with the same settings; for rfm_summary the SQL an analyst would write, then a bare GROUP BY customer_id count(*)'
