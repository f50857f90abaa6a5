-- bench/lifetimes.sql: the lifetime and survival models of issue 18 on
-- 1,000,000 customers.
--
-- Data, all from the bundled sets:
--   * MBG/NBD: the CDNOW cohort summarised in days and copied 43 times, each
--     copy observed up to two weeks longer (as bench/customer_base.sql), so
--     the summaries are as varied as daily data makes them;
--   * BG/BB: the donor cohort's 11,104 donors copied 90 times (999,360 rows);
--   * sBG: Fader & Hardie's regular cohort, 1,000 copies of its 1,000 customers;
--   * Kaplan-Meier and Cox: the 7,043 Telco customers copied 142 times, each
--     tenure plus a uniform jitter in [0, 1) so nearly every time is distinct
--     (the worst case for both: one risk-set step per row).
-- Times are per million customers and as ratios to baselines in the same
-- session: a plain scan of the same table, the SQL an analyst would write
-- for a Kaplan-Meier curve, and bgnbd_fit for MBG/NBD.

\echo 'lifetimes: 1,000,000 customers per model'
SELECT pg_catalog.setseed(0.42);
SET TimeZone = 'UTC';

CREATE TEMP TABLE cdnow_master (customer_id int, day date, cds int, amount float8);
\copy cdnow_master FROM PROGRAM 'gzip -dc data/cdnow/CDNOW_master.csv.gz' CSV HEADER
CREATE TEMP TABLE cdnow_days AS
SELECT customer_id, (retention.rfm_summary(day, amount, '1997-09-30', 'day')).*
  FROM cdnow_master GROUP BY customer_id;
CREATE TABLE customers AS
SELECT copy * 100000 + customer_id AS customer_id, frequency::float8 AS frequency,
       recency / 7 AS recency, (t + floor(random() * 14)) / 7 AS t
  FROM cdnow_days, generate_series(0, 42) copy
 ORDER BY copy, customer_id LIMIT 1000000;

CREATE TEMP TABLE donations (x int, t_x int, n int, w bigint);
\copy donations FROM 'test/customer_base/fixtures/donations.csv' CSV HEADER
CREATE TABLE donors AS
SELECT d.x, d.t_x, d.n FROM donations d, generate_series(1, d.w) AS i, generate_series(1, 90) AS j
 LIMIT 1000000;

CREATE TABLE contracts AS
SELECT s.periods, s.churned
  FROM (SELECT y AS periods, true AS churned, (ARRAY[369, 163, 86, 56, 37, 27, 21])[y] AS n
          FROM generate_series(1, 7) y
        UNION ALL SELECT 7, false, 241) s,
       generate_series(1, s.n) AS i, generate_series(1, 1000) AS j;

CREATE TEMP TABLE telco_raw (
  "customerID" text, gender text, "SeniorCitizen" text, "Partner" text, "Dependents" text,
  tenure text, "PhoneService" text, "MultipleLines" text, "InternetService" text,
  "OnlineSecurity" text, "OnlineBackup" text, "DeviceProtection" text, "TechSupport" text,
  "StreamingTV" text, "StreamingMovies" text, "Contract" text, "PaperlessBilling" text,
  "PaymentMethod" text, "MonthlyCharges" text, "TotalCharges" text, "Churn" text);
\copy telco_raw FROM PROGRAM 'gzip -dc data/telco_churn/Telco-Customer-Churn.csv.gz' WITH (FORMAT csv, HEADER true)
CREATE TABLE subscribers AS
SELECT tenure::float8 + random() AS t, "Churn" = 'Yes' AS churned,
       ARRAY["SeniorCitizen"::float8, ("Partner" = 'Yes')::int, ("PaperlessBilling" = 'Yes')::int,
             "MonthlyCharges"::float8] AS x
  FROM telco_raw, generate_series(1, 142)
 LIMIT 1000000;
ALTER TABLE customers SET (parallel_workers = 2);
ALTER TABLE donors SET (parallel_workers = 2);
ALTER TABLE contracts SET (parallel_workers = 2);
ALTER TABLE subscribers SET (parallel_workers = 2);
VACUUM ANALYZE customers, donors, contracts, subscribers;

SELECT (SELECT count(*) FROM customers) AS mbgnbd_customers,
       (SELECT count(*) FROM donors) AS bgbb_customers,
       (SELECT count(*) FROM contracts) AS sbg_customers,
       (SELECT count(*) FROM subscribers) AS survival_subjects,
       (SELECT count(DISTINCT t) FROM subscribers) AS distinct_survival_times;

CREATE TEMP TABLE timings (step text, n float8, ms float8, baseline_ms float8);

CREATE FUNCTION pg_temp.scan_ms(tab text) RETURNS float8 LANGUAGE sql AS $$
  SELECT bench.best_ms(format('SELECT count(*) FROM %I t WHERE t IS NOT NULL', tab))
$$;

CREATE FUNCTION pg_temp.run(workers int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    label text := CASE WHEN workers = 0 THEN ' (serial)' ELSE ' (2 workers)' END;
    scan float8;
BEGIN
    PERFORM set_config('max_parallel_workers_per_gather', workers::text, true);
    scan := pg_temp.scan_ms('customers');
    INSERT INTO timings VALUES ('bgnbd_fit' || label, 1e6,
        bench.best_ms('SELECT retention.bgnbd_fit(frequency, recency, t) FROM customers'), scan);
    INSERT INTO timings VALUES ('mbgnbd_fit' || label, 1e6,
        bench.best_ms('SELECT retention.mbgnbd_fit(frequency, recency, t) FROM customers'), scan);
    INSERT INTO timings VALUES ('bgbb_fit' || label, 999360,
        bench.best_ms('SELECT retention.bgbb_fit(x, t_x, n) FROM donors'), pg_temp.scan_ms('donors'));
    INSERT INTO timings VALUES ('sbg_fit' || label, 1e6,
        bench.best_ms('SELECT retention.sbg_fit(periods, churned) FROM contracts'), pg_temp.scan_ms('contracts'));
    scan := pg_temp.scan_ms('subscribers');
    INSERT INTO timings VALUES ('km_fit' || label, 1e6,
        bench.best_ms('SELECT retention.km_fit(t, churned) FROM subscribers'), scan);
    INSERT INTO timings VALUES ('coxph_train, 4 features, Efron' || label, 1e6,
        bench.best_ms('SELECT retention.coxph_train(t, churned, x) FROM subscribers', 1), scan);
END $$;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SELECT pg_temp.run(0);
SELECT pg_temp.run(2);
SET max_parallel_workers_per_gather = 0;

-- the same Kaplan-Meier curve as an analyst would write it in SQL
INSERT INTO timings SELECT 'km_fit vs hand-written SQL Kaplan-Meier (serial)', 1e6, ms,
   bench.best_ms($q$SELECT count(*) FROM (
       SELECT t, exp(sum(ln(1 - d / n)) OVER (ORDER BY t)) AS s
         FROM (SELECT t, d, sum(d + c) OVER (ORDER BY t DESC) AS n
                 FROM (SELECT t, count(*) FILTER (WHERE churned)::float8 AS d,
                              count(*) FILTER (WHERE NOT churned)::float8 AS c
                         FROM subscribers GROUP BY t) g) r
        WHERE d < n) k$q$)
  FROM timings WHERE step = 'km_fit (serial)';

-- scoring every customer
SELECT retention.mbgnbd_fit(frequency, recency, t) AS mbg FROM customers \gset
SELECT retention.coxph_train(t, churned, x) AS cox FROM subscribers \gset
INSERT INTO timings VALUES ('mbgnbd_p_alive + expected_purchases(39)', 1e6,
   bench.best_ms(format($q$SELECT sum(retention.mbgnbd_p_alive(%1$L, frequency, recency, t)
                                    + retention.mbgnbd_expected_purchases(%1$L, 39, frequency, recency, t))
                             FROM customers$q$, :'mbg'), 1), pg_temp.scan_ms('customers'));
INSERT INTO timings VALUES ('coxph_survival at 12 months', 1e6,
   bench.best_ms(format($q$SELECT sum(retention.coxph_survival(%L, x, 12)) FROM subscribers$q$, :'cox'), 1),
   pg_temp.scan_ms('subscribers'));

SELECT :'mbg'::jsonb - 'std_err' AS mbgnbd_model;
SELECT (:'cox'::jsonb) - 'baseline' - 'means' AS coxph_model;

SELECT step,
       round((ms * 1e6 / n)::numeric, 0) AS ms_per_million_customers,
       round((ms / baseline_ms)::numeric, 2) AS ratio_to_baseline
  FROM timings ORDER BY ctid;
\echo 'baseline: a plain scan of the same table with the same settings; for the Kaplan-Meier comparison the window-function SQL an analyst would write'
