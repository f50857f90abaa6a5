-- bench/retention.sql: retention_rate, the cohort table, lifecycle,
-- stickiness and the feature builder on 10 million synthetic events
-- (500,000 users over 180 days) against the SQL an analyst writes (CTEs +
-- count(DISTINCT)) and against a bare count(*) over the same table, all in
-- this session, serially and with two parallel workers.

\echo 'retention: 10,000,000 events, 500,000 users, 180 days'
SET TimeZone = 'UTC';
SELECT pg_catalog.setseed(0.42) \gset

-- Each user has a first day among the first 150 and returns with a
-- geometric-like delay, so cohorts shrink as real ones do.
CREATE TABLE events AS
SELECT u AS user_id,
       timestamptz '2024-01-01 00:00+00'
         + (((u * 7919) % 150) + least(floor(-ln(1 - pg_catalog.random()) * 15), 179 - (u * 7919) % 150))
           * interval '1 day'
         + pg_catalog.random() * interval '1 day' AS ts,
       (ARRAY['view', 'view', 'view', 'click', 'cart', 'purchase'])[1 + (pg_catalog.random() * 5.999)::int] AS event_type,
       (pg_catalog.random() * 5000)::int AS item_id,
       round((pg_catalog.random() * 80)::numeric, 2) AS amount
  FROM (SELECT (pg_catalog.random() * 499999)::bigint + 1 AS u FROM generate_series(1, 10000000)) s;
VACUUM ANALYZE events;
SELECT count(*) AS events, count(DISTINCT user_id) AS users,
       pg_size_pretty(pg_relation_size('events')) AS table_size FROM events;

-- the analyst's SQL: week-1 retention, and the weekly cohort table
\set analyst_rate 'WITH e AS (SELECT user_id, date_trunc(''week'', ts) AS w FROM events), firsts AS (SELECT user_id, min(w) AS f FROM e GROUP BY user_id), lastw AS (SELECT max(w) AS m FROM e) SELECT count(DISTINCT e.user_id) FILTER (WHERE e.w = f.f + interval ''1 week'')::float8 / count(DISTINCT f.user_id) FROM firsts f JOIN e USING (user_id), lastw WHERE f.f + interval ''1 week'' <= lastw.m'
\set analyst_cohorts 'WITH firsts AS (SELECT user_id, date_trunc(''week'', min(ts)) AS cohort FROM events GROUP BY user_id), sizes AS (SELECT cohort, count(*) AS size FROM firsts GROUP BY cohort), act AS (SELECT f.cohort, (date_trunc(''week'', e.ts)::date - f.cohort::date) / 7 AS k, count(DISTINCT e.user_id) AS retained FROM events e JOIN firsts f USING (user_id) GROUP BY 1, 2) SELECT a.cohort::date AS cohort_start, s.size AS cohort_size, a.k AS period_number, a.retained, a.retained::float8 / s.size AS rate FROM act a JOIN sizes s USING (cohort)'

-- both forms agree (the analyst's table has no censoring to do here: every
-- cell up to the last week exists)
SELECT (SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM events) AS retention_rate,
       (:analyst_rate) AS analyst_rate;
\set qa 'SELECT count(*) FROM (' :analyst_cohorts ') a'
SELECT 'cohort table agrees with the analyst''s SQL: ' ||
       (SELECT count(*) FROM (SELECT cohort_start, cohort_size, period_number, retained, rate
                                FROM retention.cohort_table('events', 'week')
                              EXCEPT SELECT cohort_start, cohort_size, period_number::int, retained, rate
                                       FROM (:analyst_cohorts) a) d)::text || ' differing rows' AS check;

-- the analyst's per-user features: sessions from lag(), distinct days and
-- items, counts and sums, the churn label from a second look at the table
\set analyst_features 'SELECT count(*) FROM (WITH past AS (SELECT * FROM events WHERE ts <= ''2024-05-01''), s AS (SELECT user_id, count(*) FILTER (WHERE gap IS NULL OR gap > interval ''30 minutes'') AS sessions, sum(extract(epoch FROM gap)) FILTER (WHERE gap <= interval ''30 minutes'') AS sess_secs FROM (SELECT user_id, ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS gap FROM past) g GROUP BY user_id), a AS (SELECT user_id, max(ts) AS last_t, min(ts) AS first_t, count(*) FILTER (WHERE event_type = ''purchase'') AS purchases, count(*) FILTER (WHERE event_type = ''view'') AS views, count(*) FILTER (WHERE event_type = ''click'') AS clicks, count(*) FILTER (WHERE event_type = ''cart'') AS carts, sum(amount) FILTER (WHERE event_type = ''purchase'') AS spend, count(DISTINCT date_trunc(''day'', ts)) AS days, count(DISTINCT item_id) AS items FROM past GROUP BY user_id), f AS (SELECT DISTINCT user_id FROM events WHERE ts > ''2024-05-01'' AND ts <= timestamptz ''2024-05-01'' + interval ''30 days'') SELECT a.*, s.sessions, s.sess_secs, f.user_id IS NULL AS churned FROM a JOIN s USING (user_id) LEFT JOIN f USING (user_id)) x'

-- the analyst's funnel: view, then cart, then purchase within a day of the
-- view, from each user's first view only (what a CTE chain computes; the
-- funnel also tries later attempts, so it can only count more users)
\set analyst_funnel 'WITH s1 AS (SELECT user_id, min(ts) AS t1 FROM events WHERE event_type = ''view'' GROUP BY user_id), s2 AS (SELECT s1.user_id, s1.t1, min(e.ts) AS t2 FROM s1 JOIN events e ON e.user_id = s1.user_id AND e.event_type = ''cart'' AND e.ts >= s1.t1 AND e.ts <= s1.t1 + interval ''1 day'' GROUP BY 1, 2), s3 AS (SELECT s2.user_id, min(e.ts) AS t3 FROM s2 JOIN events e ON e.user_id = s2.user_id AND e.event_type = ''purchase'' AND e.ts >= s2.t2 AND e.ts <= s2.t1 + interval ''1 day'' GROUP BY 1) SELECT (SELECT count(*) FROM s1), (SELECT count(*) FROM s2), (SELECT count(*) FROM s3), (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t2 - t1)) FROM s2)'

-- the same funnel as funnel() computes, in SQL: any view can start an
-- attempt; a user's reported attempt is the earliest that reaches their
-- furthest step, each later step its earliest event that still leads there
-- (doc/analytics.md, Funnels)
\set same_funnel 'WITH v AS (SELECT user_id, ts FROM events WHERE event_type = ''view''), c AS (SELECT user_id, ts FROM events WHERE event_type = ''cart''), p AS (SELECT user_id, ts FROM events WHERE event_type = ''purchase''), vc AS (SELECT v.user_id, v.ts AS t1, c.ts AS t2 FROM v JOIN c ON c.user_id = v.user_id AND c.ts >= v.ts AND c.ts <= v.ts + interval ''1 day''), vcp AS (SELECT vc.user_id, vc.t1, vc.t2, min(p.ts) AS t3 FROM vc JOIN p ON p.user_id = vc.user_id AND p.ts >= vc.t2 AND p.ts <= vc.t1 + interval ''1 day'' GROUP BY 1, 2, 3), best3 AS (SELECT DISTINCT ON (user_id) user_id, t1, t2, t3 FROM vcp ORDER BY user_id, t1, t2), best2 AS (SELECT DISTINCT ON (vc.user_id) vc.user_id, vc.t1, vc.t2 FROM vc WHERE NOT EXISTS (SELECT FROM best3 WHERE best3.user_id = vc.user_id) ORDER BY vc.user_id, vc.t1, vc.t2), reached AS (SELECT t1, t2 FROM best3 UNION ALL SELECT t1, t2 FROM best2) SELECT (SELECT count(DISTINCT user_id) FROM v) AS step1, (SELECT count(*) FROM reached) AS step2, (SELECT count(*) FROM best3) AS step3, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t2 - t1)) FROM reached) AS median2, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t3 - t2)) FROM best3) AS median3'
SELECT 'funnel agrees with the same funnel in SQL: ' ||
       (SELECT count(*) FROM (SELECT step, users, median_seconds_from_previous
                                FROM retention.funnel('events', '{view,cart,purchase}', '1 day')
                              EXCEPT SELECT s.step, s.users, s.median
                                       FROM (:same_funnel) a,
                                            LATERAL (VALUES (1, a.step1, NULL::float8), (2, a.step2, a.median2),
                                                            (3, a.step3, a.median3)) AS s(step, users, median)) d)::text
       || ' differing steps' AS check;
\set our_funnel 'SELECT count(*) FROM retention.funnel(''events'', ''{view,cart,purchase}'', ''1 day'')'

CREATE TEMP TABLE timings (mode text, what text, ms float8);

-- serial: one process
SET max_parallel_workers_per_gather = 0;
INSERT INTO timings VALUES
  ('serial', 'count(*)', bench.best_ms('SELECT count(*) FROM events')),
  ('serial', 'retention_rate', bench.best_ms($q$SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM events$q$)),
  ('serial', 'cohort_table', bench.best_ms($q$SELECT count(*) FROM retention.cohort_table('events', 'week')$q$)),
  ('serial', 'analyst rate SQL', bench.best_ms(:'analyst_rate', 1)),
  ('serial', 'analyst cohort SQL', bench.best_ms(:'qa', 1)),
  ('serial', 'funnel', bench.best_ms(:'our_funnel')),
  ('serial', 'analyst funnel SQL', bench.best_ms(:'analyst_funnel', 1)),
  ('serial', 'same funnel SQL', bench.best_ms(:'same_funnel', 1)),
  ('serial', 'user_features', bench.best_ms($q$SELECT count(*) FROM retention.user_features('events', '2024-05-01')$q$)),
  ('serial', 'analyst features SQL', bench.best_ms(:'analyst_features', 1));

-- parallel: two workers, as the server is configured
RESET max_parallel_workers_per_gather;
INSERT INTO timings VALUES
  ('parallel', 'count(*)', bench.best_ms('SELECT count(*) FROM events')),
  ('parallel', 'retention_rate', bench.best_ms($q$SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM events$q$)),
  ('parallel', 'analyst rate SQL', bench.best_ms(:'analyst_rate', 1)),
  ('parallel', 'cohort_table', bench.best_ms($q$SELECT count(*) FROM retention.cohort_table('events', 'week')$q$)),
  ('parallel', 'analyst cohort SQL', bench.best_ms(:'qa', 1)),
  ('parallel', 'funnel', bench.best_ms(:'our_funnel')),
  ('parallel', 'analyst funnel SQL', bench.best_ms(:'analyst_funnel', 1)),
  ('parallel', 'same funnel SQL', bench.best_ms(:'same_funnel', 1)),
  ('parallel', 'lifecycle', bench.best_ms($q$SELECT count(*) FROM retention.lifecycle('events', 'week')$q$)),
  ('parallel', 'stickiness', bench.best_ms($q$SELECT count(*) FROM retention.stickiness('events', 'week')$q$)),
  ('parallel', 'user_features', bench.best_ms($q$SELECT count(*) FROM retention.user_features('events', '2024-05-01')$q$)),
  ('parallel', 'analyst features SQL', bench.best_ms(:'analyst_features', 1));

SELECT mode, what, round(ms::numeric, 0) AS ms FROM timings ORDER BY mode DESC, what;

SELECT t.mode, t.what,
       round((t.ms / c.ms)::numeric, 2) AS ratio_to_count_star,
       round((a.ms / t.ms)::numeric, 1) AS speedup_vs_analyst_sql,
       round((f.ms / t.ms)::numeric, 1) AS speedup_vs_same_funnel_sql
  FROM timings t
  JOIN timings c ON c.mode = t.mode AND c.what = 'count(*)'
  LEFT JOIN timings f ON f.mode = t.mode AND t.what = 'funnel' AND f.what = 'same funnel SQL'
  LEFT JOIN timings a ON a.mode = t.mode
        AND a.what = CASE t.what WHEN 'retention_rate' THEN 'analyst rate SQL'
                                 WHEN 'cohort_table' THEN 'analyst cohort SQL'
                                 WHEN 'user_features' THEN 'analyst features SQL'
                                 WHEN 'funnel' THEN 'analyst funnel SQL' END
 WHERE t.what IN ('retention_rate', 'cohort_table', 'lifecycle', 'stickiness', 'user_features', 'funnel')
 ORDER BY t.mode DESC, t.what;
