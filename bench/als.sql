-- bench/als.sql: als_train on UCI Online Retail (32 factors, alpha 20,
-- regularization 0.1, 15 iterations, 3 conjugate-gradient steps) against the
-- same algorithm in plain numpy (bench/als_numpy.py, Debian's python3-numpy),
-- run from this session on the same pairs.  The issue asks als_train to be
-- faster than numpy.  Also: the two models agree factor by factor (both
-- start from the same SplitMix64 stream), and the bare scan of the pairs.

SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
\i data/online_retail/load.sql

CREATE TABLE als_pairs AS
SELECT DISTINCT customer_id AS user_id, item_id, 1.0::float8 AS weight
  FROM purchases WHERE invoice_date < '2011-11-01';
VACUUM ANALYZE als_pairs;
SELECT count(*) AS pairs, count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items FROM als_pairs;

CREATE TEMP TABLE timings AS
SELECT bench.best_ms($q$SELECT count(*) FROM als_pairs$q$, 3) AS scan_ms,
       bench.best_ms($q$SELECT retention.als_train(user_id, item_id, weight,
           '{"factors": 32, "alpha": 20, "regularization": 0.1, "iterations": 15}') FROM als_pairs$q$, 2) AS train_ms;
CREATE TABLE als_model AS
SELECT retention.als_train(user_id, item_id, weight,
    '{"factors": 32, "alpha": 20, "regularization": 0.1, "iterations": 15}') AS m FROM als_pairs;

\copy als_pairs TO 'bench_als_pairs.csv' WITH (FORMAT csv)
\! test -x /usr/bin/python3 && /usr/bin/python3 -c 'import numpy' || echo 'python3-numpy not installed'
\set numpy_ms `ALS_NUMPY_WRITE=1 /usr/bin/python3 bench/als_numpy.py bench_als_pairs.csv 32 20 0.1 15`

SELECT round(scan_ms::numeric, 1) AS bare_scan_ms,
       round(train_ms::numeric, 0) AS als_train_ms,
       :numpy_ms AS numpy_ms,
       round((:numpy_ms / train_ms)::numeric, 1) AS numpy_over_als_train,
       round((train_ms / scan_ms)::numeric, 0) AS als_train_over_bare_scan
  FROM timings;

-- the same algorithm: factors agree to float4 rounding
CREATE TABLE numpy_factors (kind text, id bigint, f float8[]);
\copy numpy_factors FROM PROGRAM 'sed -E "s/^([ui]),([0-9]+),(.*)$/\\1\t\\2\t{\\3}/" bench_als_pairs.csv.factors'
WITH ours AS (
    SELECT 'u' AS kind, u.user_id AS id, u.factors FROM als_model, retention.als_user_factors(m) u
    UNION ALL
    SELECT 'i', i.item_id, i.factors FROM als_model, retention.als_item_factors(m) i)
SELECT o.kind, count(*) AS values, max(abs(a - b) / greatest(abs(b), 1e-3)) AS max_relative_difference
  FROM ours o JOIN numpy_factors n USING (kind, id), LATERAL unnest(o.factors, n.f) z(a, b)
 GROUP BY o.kind ORDER BY o.kind;
\! rm -f bench_als_pairs.csv bench_als_pairs.csv.factors
