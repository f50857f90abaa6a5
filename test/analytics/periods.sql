-- pgTAP: quarter and hour periods, and rolling windows given in calendar
-- months, against plain SQL written from the definitions (periods from
-- date_trunc on the local time; window k of a user is [start + k * w,
-- start + (k + 1) * w), with timestamptz + interval doing the calendar) on
-- seeded random events with starts at the end of months (31 January plus
-- one month is 29 February 2024) and across both DST changes of
-- Europe/Berlin.
BEGIN;
SELECT plan(40);

SET TimeZone = 'Europe/Berlin';
SELECT setseed(0.17);
CREATE TABLE pe_events (user_id bigint, ts timestamptz);
INSERT INTO pe_events
SELECT u, CASE WHEN random() < 0.3 THEN timestamptz '2024-01-31 23:30+01' + (random() * 3) * interval '1 hour'
               ELSE timestamptz '2023-12-01 00:00+01' + random() * interval '400 days' END
  FROM (SELECT (random() * 400)::bigint AS u FROM generate_series(1, 5000)) x;
-- events exactly at a window's begin and one microsecond before it
INSERT INTO pe_events
SELECT user_id, min(ts) + interval '1 month' FROM pe_events WHERE user_id % 7 = 0 GROUP BY user_id;
INSERT INTO pe_events
SELECT user_id, min(ts) + interval '2 months' - interval '1 microsecond' FROM pe_events WHERE user_id % 5 = 0 GROUP BY user_id;

CREATE FUNCTION plain_rolling(n int, w interval, unbounded boolean) RETURNS float8 LANGUAGE sql STABLE AS $$
  WITH f AS (SELECT user_id, min(ts) AS start FROM pe_events GROUP BY user_id),
       latest AS (SELECT max(ts) AS m FROM pe_events),
       obs AS (SELECT f.* FROM f, latest WHERE f.start + n * w <= latest.m)
  SELECT count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM pe_events e WHERE e.user_id = obs.user_id AND e.ts >= obs.start + n * w
              AND (unbounded OR e.ts < obs.start + (n + 1) * w)))::float8 / NULLIF(count(*), 0)
    FROM obs $$;

CREATE VIEW pe_with_start AS
SELECT user_id, min(ts) OVER (PARTITION BY user_id) AS start, ts FROM pe_events;

SELECT is((SELECT retention.retention_rate_rolling(user_id, start, ts, 1, '1 month') FROM pe_with_start),
          plain_rolling(1, '1 month', false), 'rolling windows of one calendar month, window 1');
SELECT is((SELECT retention.retention_rate_rolling(user_id, start, ts, 3, '1 month') FROM pe_with_start),
          plain_rolling(3, '1 month', false), 'rolling windows of one calendar month, window 3');
SELECT is((SELECT retention.retention_rate_rolling_unbounded(user_id, start, ts, 2, '2 months') FROM pe_with_start),
          plain_rolling(2, '2 months', true), 'unbounded rolling windows of two months');
SELECT is((SELECT retention.retention_rate_rolling(user_id, start, ts, 2, '1 month 12 hours') FROM pe_with_start),
          plain_rolling(2, '1 month 12 hours', false), 'months first, then hours');
SELECT is(retention.rolling_retention('pe_events', 1, '1 month'), plain_rolling(1, '1 month', false),
          'rolling_retention with a window of one month');
SELECT is(retention.rolling_retention('pe_events', 4, '1 month', true), plain_rolling(4, '1 month', true),
          'unbounded rolling_retention with a window of one month');

-- parallel plans and their combine step give the same answer
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT retention.retention_rate_rolling(user_id, start, ts, 1, '1 month') FROM pe_with_start),
          plain_rolling(1, '1 month', false), 'the same with parallel workers');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

SELECT throws_ok($$SELECT retention.rolling_retention('pe_events', 1, '1 month -40 days')$$, '22023',
                 NULL, 'a window with a negative part is rejected');

-- ---- quarters ----
CREATE FUNCTION plain_rate(n int, unit text, unbounded boolean) RETURNS float8 LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT user_id, date_trunc(unit, ts AT TIME ZONE current_setting('TimeZone')) AS q FROM pe_events),
       f AS (SELECT user_id, min(q) AS q0 FROM p GROUP BY user_id),
       step AS (SELECT CASE unit WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || unit)::interval END AS w),
       obs AS (SELECT f.* FROM f, step WHERE f.q0 + n * step.w <= (SELECT max(q) FROM p))
  SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM p, step WHERE p.user_id = obs.user_id
            AND (p.q = obs.q0 + n * step.w OR (unbounded AND p.q > obs.q0 + n * step.w))))::float8
         / NULLIF(count(*), 0)
    FROM obs $$;

SELECT is((SELECT retention.retention_rate(user_id, ts, 1, 'quarter') FROM pe_events),
          plain_rate(1, 'quarter', false), 'quarterly retention, quarter 1');
SELECT is((SELECT retention.retention_rate(user_id, ts, 2, 'Quarter') FROM pe_events),
          plain_rate(2, 'quarter', false), 'quarterly retention, quarter 2 (the name in any case)');
SELECT is((SELECT retention.retention_rate_unbounded(user_id, ts, 1, 'quarter') FROM pe_events),
          plain_rate(1, 'quarter', true), 'quarterly unbounded retention');
SELECT is((SELECT retention.retention_rate(a, 1) FROM (SELECT retention.user_activity(ts, 'quarter') a
                                                          FROM pe_events GROUP BY user_id) u),
          plain_rate(1, 'quarter', false), 'quarterly retention in two stages');
SELECT is(retention.period_start('2024-05-17 10:00+02', 'quarter'), date '2024-04-01', 'period_start of a quarter');
SELECT is(retention.period_start('2024-12-31 23:30+00', 'quarter'), date '2025-01-01',
          'period_start of a quarter in the session time zone (Berlin: already 2025)');

CREATE FUNCTION plain_quarter_cohorts() RETURNS TABLE (cohort_start date, cohort_size bigint, period_number int, retained bigint)
LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT DISTINCT user_id, date_trunc('quarter', ts AT TIME ZONE current_setting('TimeZone'))::date AS q FROM pe_events),
       f AS (SELECT user_id, min(q) AS q0 FROM p GROUP BY user_id),
       sizes AS (SELECT q0, count(*) AS size FROM f GROUP BY q0),
       k AS (SELECT s.q0, s.size, g.k FROM sizes s,
                    generate_series(0, ((extract(year FROM (SELECT max(q) FROM p)) * 12 + extract(month FROM (SELECT max(q) FROM p))
                                       - extract(year FROM s.q0) * 12 - extract(month FROM s.q0)) / 3)::int) g(k))
  SELECT k.q0, k.size, k.k, (SELECT count(*) FROM f JOIN p USING (user_id)
                              WHERE f.q0 = k.q0 AND p.q = (k.q0 + k.k * interval '3 months')::date)
    FROM k $$;
SELECT set_eq($$SELECT cohort_start, cohort_size, period_number, retained FROM retention.cohort_table('pe_events', 'quarter')$$,
              $$SELECT * FROM plain_quarter_cohorts()$$, 'quarterly cohort table');
SELECT is((SELECT count(*) FILTER (WHERE complete) FROM retention.cohort_table('pe_events', 'quarter', date_from => '2024-01-01', date_to => '2025-01-01')),
          (SELECT count(*) FROM retention.cohort_table('pe_events', 'quarter', date_from => '2024-01-01', date_to => '2025-01-01')),
          'the four quarters of 2024 are complete with that date range');

SELECT set_eq($$SELECT period_start, active_days, users FROM retention.stickiness('pe_events', 'quarter')$$,
              $$SELECT q, d::int, count(*) FROM (
                  SELECT user_id, date_trunc('quarter', ts AT TIME ZONE current_setting('TimeZone'))::date AS q,
                         count(DISTINCT (ts AT TIME ZONE current_setting('TimeZone'))::date) AS d
                    FROM pe_events GROUP BY 1, 2) x GROUP BY 1, 2$$,
              'quarterly stickiness: active days per quarter');
SELECT set_eq($$SELECT period_start, new_users, returning_users, resurrecting_users FROM retention.lifecycle('pe_events', 'quarter')$$,
              $$WITH p AS (SELECT DISTINCT user_id, date_trunc('quarter', ts AT TIME ZONE current_setting('TimeZone'))::date AS q FROM pe_events),
                     f AS (SELECT user_id, min(q) AS q0 FROM p GROUP BY user_id),
                     qs AS (SELECT generate_series(min(q), max(q), interval '3 months')::date AS q FROM p)
                SELECT qs.q,
                       (SELECT count(*) FROM f WHERE f.q0 = qs.q) AS new_users,
                       (SELECT count(*) FROM p a JOIN p b ON a.user_id = b.user_id AND b.q = (a.q - interval '3 months')::date WHERE a.q = qs.q) AS returning_users,
                       (SELECT count(*) FROM p a JOIN f USING (user_id) WHERE a.q = qs.q AND f.q0 < a.q
                           AND NOT EXISTS (SELECT 1 FROM p b WHERE b.user_id = a.user_id AND b.q = (a.q - interval '3 months')::date)) AS resurrecting_users
                  FROM qs$$,
              'quarterly lifecycle: new, returning and resurrecting users');

-- ---- hours, across the autumn change of Europe/Berlin (27 October 2024) ----
CREATE TEMP TABLE pe_hours AS
SELECT (random() * 60)::bigint AS user_id, timestamptz '2024-10-26 20:00+02' + random() * interval '20 hours' AS ts
  FROM generate_series(1, 800);
CREATE FUNCTION plain_hour_rate(n int) RETURNS float8 LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT user_id, date_trunc('hour', ts AT TIME ZONE 'Europe/Berlin') AS h FROM pe_hours),
       f AS (SELECT user_id, min(h) AS h0 FROM p GROUP BY user_id),
       obs AS (SELECT f.* FROM f WHERE f.h0 + n * interval '1 hour' <= (SELECT max(h) FROM p))
  SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM p WHERE p.user_id = obs.user_id AND p.h = obs.h0 + n * interval '1 hour'))::float8
         / NULLIF(count(*), 0)
    FROM obs $$;
SELECT is((SELECT retention.retention_rate(user_id, ts, 3, 'hour') FROM pe_hours), plain_hour_rate(3),
          'hourly retention (local hours: the repeated hour is one period)');
SELECT is((SELECT retention.retention_rate(user_id, ts, 7, 'hour') FROM pe_hours), plain_hour_rate(7),
          'hourly retention, hour 7');
SELECT is((SELECT retention.retention_rate(a, 3) FROM (SELECT retention.user_activity(ts, 'hour') a FROM pe_hours GROUP BY user_id) u),
          plain_hour_rate(3), 'hourly retention in two stages');
-- cohort tables and lifecycle by local hour: a cohort's period k is its
-- first local hour plus k hours on the local clock
CREATE FUNCTION plain_hour_cohorts()
RETURNS TABLE (cohort_start timestamp, cohort_size bigint, period_number int, retained bigint, complete boolean)
LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT DISTINCT user_id, date_trunc('hour', ts AT TIME ZONE 'Europe/Berlin') AS h FROM pe_hours),
       f AS (SELECT user_id, min(h) AS h0 FROM p GROUP BY user_id),
       sizes AS (SELECT h0, count(*) AS size FROM f GROUP BY h0),
       k AS (SELECT s.h0, s.size, g.k FROM sizes s,
                    generate_series(0, (extract(epoch FROM (SELECT max(h) FROM p) - s.h0) / 3600)::int) g(k))
  SELECT k.h0, k.size, k.k,
         (SELECT count(*) FROM f JOIN p USING (user_id) WHERE f.h0 = k.h0 AND p.h = k.h0 + k.k * interval '1 hour'),
         (k.h0 + k.k * interval '1 hour')::timestamptz >= (SELECT min(ts) FROM pe_hours)
           AND (k.h0 + (k.k + 1) * interval '1 hour')::timestamptz <= (SELECT max(ts) FROM pe_hours)
    FROM k $$;
SELECT set_eq($$SELECT cohort_start, cohort_size, period_number, retained, complete FROM retention.cohort_table('pe_hours', 'hour')$$,
              $$SELECT * FROM plain_hour_cohorts()$$,
              'hourly cohort table, across the repeated hour, with its complete flags');
SELECT is((SELECT retention.cohort_matrix(a, 'classic') FROM (SELECT retention.user_activity(ts, 'hour') a FROM pe_hours GROUP BY user_id) u),
          (SELECT retention.cohort_matrix(user_id, ts, 'hour', 'classic', true, true) FROM pe_hours),
          'hourly cohort matrix in two stages');
SELECT set_eq($$SELECT period_start, new_users, returning_users, resurrecting_users, dormant_users
                  FROM retention.lifecycle('pe_hours', 'hour', time_zone => 'Europe/Berlin')$$,
              $$WITH p AS (SELECT DISTINCT user_id, date_trunc('hour', ts AT TIME ZONE 'Europe/Berlin') AS h FROM pe_hours),
                     f AS (SELECT user_id, min(h) AS h0 FROM p GROUP BY user_id),
                     hs AS (SELECT generate_series(min(h), max(h), interval '1 hour') AS h FROM p)
                SELECT hs.h,
                       (SELECT count(*) FROM f WHERE f.h0 = hs.h) AS new_users,
                       (SELECT count(*) FROM p a JOIN p b ON a.user_id = b.user_id AND b.h = a.h - interval '1 hour'
                         WHERE a.h = hs.h) AS returning_users,
                       (SELECT count(*) FROM p a JOIN f USING (user_id) WHERE a.h = hs.h AND f.h0 < a.h
                           AND NOT EXISTS (SELECT 1 FROM p b WHERE b.user_id = a.user_id AND b.h = a.h - interval '1 hour')) AS resurrecting_users,
                       -(SELECT count(*) FROM p b WHERE b.h = hs.h - interval '1 hour'
                           AND NOT EXISTS (SELECT 1 FROM p a WHERE a.user_id = b.user_id AND a.h = hs.h)) AS dormant_users
                  FROM hs$$,
              'hourly lifecycle: new, returning, resurrecting and dormant users');
SELECT is((SELECT retention.lifecycle_matrix(a) FROM (SELECT retention.user_activity(ts, 'hour') a FROM pe_hours GROUP BY user_id) u),
          (SELECT retention.lifecycle_matrix(user_id, ts, 'hour') FROM pe_hours),
          'hourly lifecycle matrix in two stages');
SELECT is((SELECT count(*) FROM pe_hours, unnest('{hour,day,week,month,quarter}'::text[]) k
            WHERE retention.period_start_time(ts, k) IS DISTINCT FROM date_trunc(k, ts AT TIME ZONE 'Europe/Berlin')),
          0::bigint, 'period_start_time is date_trunc on the local time, for every period');
SELECT is(retention.period_start_time('2024-10-27 02:30+01', 'hour'), retention.period_start_time('2024-10-27 02:30+02', 'hour'),
          'the repeated local hour 02:00 is one period');
SELECT throws_ok($$SELECT retention.period_start('2024-10-27 02:30+01', 'hour')$$, '0A000', NULL,
                 'period_start gives dates: hours are refused');
SELECT throws_ok($$SELECT retention.retention_rate(user_id, ts, 1, 'hour') FROM (VALUES (1, timestamptz '20000-01-01')) v(user_id, ts)$$,
                 '22008', NULL, 'hour periods end in 14177');
SELECT throws_ok($$SELECT retention.retention_rate(user_id, ts, 1, 'hour') FROM (VALUES (1, timestamptz '1700-01-01')) v(user_id, ts)$$,
                 '22008', NULL, 'and begin in 1720');

-- stickiness per day: active local hours of each local day
SELECT set_eq($$SELECT period_start, active_days, users FROM retention.stickiness('pe_hours', 'day', time_zone => 'Europe/Berlin')$$,
              $$SELECT d, n::int, count(*) FROM (
                  SELECT user_id, (ts AT TIME ZONE 'Europe/Berlin')::date AS d,
                         count(DISTINCT date_trunc('hour', ts AT TIME ZONE 'Europe/Berlin')) AS n
                    FROM pe_hours GROUP BY 1, 2) x GROUP BY 1, 2$$,
              'stickiness per day counts active hours (the repeated hour of 27 October once)');
SELECT is((SELECT retention.stickiness_matrix(a, 'day') FROM (SELECT retention.user_activity(ts, 'hour') a FROM pe_hours GROUP BY user_id) u),
          (SELECT retention.stickiness_matrix(user_id, ts, 'day') FROM pe_hours),
          'stickiness per day in two stages, from activities by hour');
SELECT is((SELECT retention.stickiness_matrix(a, 'week') FROM (SELECT retention.user_activity(ts, 'day') a FROM pe_events GROUP BY user_id) u),
          (SELECT retention.stickiness_matrix(user_id, ts, 'week') FROM pe_events),
          'stickiness per week in two stages still takes activities by day');
SELECT throws_ok($$SELECT retention.stickiness_matrix(a, 'day') FROM (SELECT retention.user_activity(ts, 'day') a FROM pe_hours GROUP BY user_id) u$$,
                 '22023', NULL, 'stickiness per day rejects activities by day');
SELECT throws_ok($$SELECT retention.stickiness_matrix(user_id, ts, 'hour') FROM pe_hours$$, '22023', NULL,
                 'stickiness per hour is an error');

-- rolling_retention by breakdown, date range and time zone
ALTER TABLE pe_events ADD COLUMN plan text;
UPDATE pe_events SET plan = CASE WHEN random() < 0.2 THEN NULL WHEN random() < 0.5 THEN 'free' ELSE 'pro' END;
CREATE FUNCTION plain_rolling_by(n int, w interval, lo timestamptz, hi timestamptz)
RETURNS TABLE (b text, users bigint, retained bigint, rate float8)
LANGUAGE sql STABLE SET TimeZone = 'America/New_York' AS $$
  WITH ev AS (SELECT * FROM pe_events WHERE ts >= lo AND ts < hi),
       f AS (SELECT DISTINCT ON (user_id) user_id, ts AS start, plan AS b FROM ev
              ORDER BY user_id, ts, plan COLLATE "C" NULLS LAST),
       obs AS (SELECT f.* FROM f WHERE f.start + n * w <= (SELECT max(ts) FROM ev)),
       r AS (SELECT obs.*, EXISTS (SELECT 1 FROM ev e WHERE e.user_id = obs.user_id AND e.ts >= obs.start + n * w
                                     AND e.ts < obs.start + (n + 1) * w) AS kept FROM obs)
  SELECT b, count(*), count(*) FILTER (WHERE kept), (count(*) FILTER (WHERE kept))::float8 / count(*) FROM r GROUP BY b $$;
SELECT set_eq($$SELECT * FROM retention.rolling_retention('pe_events', 2, '1 month', breakdown_by => 'plan',
                  date_from => '2024-01-15', date_to => '2024-11-01', time_zone => 'America/New_York')$$,
              $$SELECT * FROM plain_rolling_by(2, '1 month', '2024-01-15', '2024-11-01')$$,
              'rolling_retention by a breakdown, over a date range, in a time zone');
SELECT is(retention.rolling_retention('pe_events', 2, '1 month', date_from => '2024-01-15', date_to => '2024-11-01',
                                      time_zone => 'America/New_York'),
          (SELECT retained::float8 / users FROM (SELECT sum(users) AS users, sum(retained) AS retained
                                                   FROM plain_rolling_by(2, '1 month', '2024-01-15', '2024-11-01')) x),
          'the scalar form over the same range and zone');
SELECT is(current_setting('TimeZone'), 'Europe/Berlin', 'the call leaves the session time zone as it was');
-- inside a transaction too (a local setting would otherwise last to its end)
SELECT ok((SELECT count(*) FROM retention.cohort_table('pe_events', 'month', time_zone => 'Asia/Tokyo')) > 0
          AND (SELECT count(*) FROM retention.stickiness('pe_events', 'month', time_zone => 'Asia/Tokyo')) > 0
          AND (SELECT count(*) FROM retention.lifecycle('pe_events', 'month', time_zone => 'Asia/Tokyo')) > 0,
          'cohort_table, stickiness and lifecycle in another zone');
SELECT is(current_setting('TimeZone'), 'Europe/Berlin', 'and they leave the session time zone as it was');

SELECT * FROM finish();
ROLLBACK;
