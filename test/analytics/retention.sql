-- pgTAP: retention_rate, its variants and the cohort table against plain-SQL
-- formulations of the same definitions on random data, the CDNOW purchase
-- log against an independent computation, parallel plans and declarations.
BEGIN;
SELECT plan(38);

-- declarations: every function of this area documented and PARALLEL SAFE,
-- every aggregate with a combine function
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'retention'::regnamespace
        AND ((p.proparallel = 'u' AND p.provolatile <> 'v') OR obj_description(p.oid, 'pg_proc') IS NULL)),
    0, 'no reading function or aggregate of the schema is PARALLEL UNSAFE, and all are commented');
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
      WHERE p.pronamespace = 'retention'::regnamespace AND a.aggcombinefn = 0),
    0, 'every aggregate has a combine function');
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
      WHERE p.pronamespace = 'retention'::regnamespace AND a.aggtranstype = 'internal'::regtype
        AND (a.aggserialfn = 0 OR a.aggdeserialfn = 0)),
    0, 'every internal-state aggregate can be serialised');
SELECT is(
    (SELECT array_agg(DISTINCT a.aggtranstype::regtype::text) FROM pg_catalog.pg_aggregate a
       JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
      WHERE p.pronamespace = 'retention'::regnamespace
        AND pg_get_function_identity_arguments(p.oid) LIKE 'activity retention.activity%'),
    ARRAY['bigint[]'], 'the distributed second stage has a concrete (non-internal) state');
SELECT volatility_is('retention', 'retention_rate_trans',
                     ARRAY['retention.agg_state', 'bigint', 'timestamp with time zone', 'integer', 'text'], 'stable',
                     'placing timestamps in calendar periods depends on TimeZone: STABLE');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc
            WHERE pronamespace = 'retention'::regnamespace AND prosecdef), 0, 'no SECURITY DEFINER');

-- Plain-SQL formulations of the definitions.  Period index: days since
-- 2000-01-01, ISO weeks since Monday 2000-01-03, or year * 12 + month.
CREATE FUNCTION pidx(ts timestamptz, period text) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT CASE period
           WHEN 'day' THEN date_trunc('day', ts)::date - date '2000-01-01'
           WHEN 'week' THEN (date_trunc('week', ts)::date - date '2000-01-03') / 7
           ELSE extract(year FROM ts)::int * 12 + extract(month FROM ts)::int END $$;

-- R = S / N: starts = first is_start event, returns = is_return events,
-- observable when start + n <= the period of the latest event
CREATE FUNCTION plain_rate(tab regclass, period text, n int, unbounded bool, filtered bool)
RETURNS float8 LANGUAGE plpgsql STABLE AS $$
DECLARE r float8;
BEGIN
  EXECUTE format($q$
    WITH e AS (SELECT user_id, pidx(ts, %2$L) AS p,
                      CASE WHEN %5$L THEN kind = 'purchase' ELSE true END AS is_start,
                      CASE WHEN %5$L THEN kind IN ('purchase', 'cart') ELSE true END AS is_return
                 FROM %1$s WHERE user_id IS NOT NULL AND ts IS NOT NULL),
         m AS (SELECT max(p) AS m FROM e),
         f AS (SELECT user_id, min(p) AS f FROM e WHERE is_start GROUP BY user_id),
         obs AS (SELECT f.* FROM f, m WHERE f.f + %3$s <= m.m)
    SELECT (SELECT count(DISTINCT o.user_id) FROM obs o JOIN e ON e.user_id = o.user_id AND e.is_return
             WHERE CASE WHEN %4$L THEN e.p >= o.f + %3$s ELSE e.p = o.f + %3$s END)::float8
           / nullif((SELECT count(*) FROM obs), 0) $q$, tab, period, n, unbounded, filtered) INTO r;
  RETURN r;
END $$;

-- random events: 3,000 users, 60,000 events over 400 days, a few NULLs
SELECT setseed(0.25);
CREATE TABLE events (user_id bigint, ts timestamptz, kind text);
INSERT INTO events
SELECT (random() * 3000)::bigint,
       timestamptz '2023-01-01 00:00+00' + (random() ^ 2) * interval '400 days',
       (ARRAY['view', 'view', 'click', 'cart', 'purchase'])[1 + (random() * 4.999)::int]
  FROM generate_series(1, 60000);
INSERT INTO events VALUES (NULL, now(), 'view'), (1, NULL, 'view');
ANALYZE events;

SET TimeZone = 'America/New_York';
CREATE TEMP TABLE cases AS
SELECT p, n FROM (VALUES ('day', 0), ('day', 1), ('day', 7), ('day', 30), ('day', 399), ('week', 1),
                         ('week', 4), ('week', 12), ('month', 1), ('month', 3), ('month', 12), ('month', 13)) v(p, n);

SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate(user_id, ts, c.n, c.p) FROM events)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, false, false)),
          0, 'classic retention equals plain SQL for 12 (period, n) pairs');
SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate_unbounded(user_id, ts, c.n, c.p) FROM events)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, true, false)),
          0, 'unbounded retention equals plain SQL');
SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate(user_id, ts, c.n, c.p, kind = 'purchase', kind IN ('purchase', 'cart')) FROM events)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, false, true)),
          0, 'retention from first purchase to purchase-or-cart equals plain SQL');
SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate_unbounded(user_id, ts, c.n, c.p, kind = 'purchase', kind IN ('purchase', 'cart')) FROM events)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, true, true)),
          0, 'unbounded filtered retention equals plain SQL');
SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate(a, c.n) FROM
                     (SELECT user_id, retention.user_activity(ts, c.p) AS a FROM events
                       WHERE user_id IS NOT NULL GROUP BY user_id) u)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, false, false)),
          0, 'two-stage (per-user activity, then retention_rate(activity, n)) equals plain SQL');
SELECT is((SELECT count(*)::int FROM cases c
            WHERE (SELECT retention.retention_rate_unbounded(a, c.n) FROM
                     (SELECT user_id, retention.user_activity(ts, c.p, kind = 'purchase', kind IN ('purchase', 'cart')) AS a
                        FROM events WHERE user_id IS NOT NULL GROUP BY user_id) u)
                  IS DISTINCT FROM plain_rate('events', c.p, c.n, true, true)),
          0, 'two-stage unbounded filtered retention equals plain SQL');
-- (GROUP BY user_id makes a group of the NULL user too: stage one must
-- leave NULL users out, as the one-stage aggregate does)
-- a sanity check that the comparison can fail: the values are not trivial
SELECT ok((SELECT count(DISTINCT round(r::numeric, 6)) FROM
             (SELECT retention.retention_rate(user_id, ts, c.n, c.p) AS r FROM events, cases c GROUP BY c.p, c.n) g) >= 8,
          'the cases give many different rates');

-- rolling windows: plain SQL over epoch seconds, so that a day is 24 hours
-- in any time zone, as the aggregate measures it
CREATE FUNCTION plain_rolling(n int, w interval, unbounded bool) RETURNS float8 LANGUAGE sql STABLE AS $$
  WITH e AS (SELECT user_id, extract(epoch FROM ts) AS t FROM events WHERE user_id IS NOT NULL AND ts IS NOT NULL),
       f AS (SELECT user_id, min(t) AS f FROM e GROUP BY user_id),
       m AS (SELECT max(t) AS m FROM e),
       obs AS (SELECT f.* FROM f, m WHERE f.f + n * extract(epoch FROM w) <= m.m)
  SELECT (SELECT count(DISTINCT o.user_id) FROM obs o JOIN e USING (user_id)
           WHERE e.t >= o.f + n * extract(epoch FROM w)
             AND (unbounded OR e.t < o.f + (n + 1) * extract(epoch FROM w)))::float8
         / nullif((SELECT count(*) FROM obs), 0) $$;
CREATE TEMP TABLE rolling_cases AS
SELECT n, w FROM (VALUES (0, interval '1 day'), (1, '1 day'), (7, '1 day'), (2, '36 hours'),
                         (3, '7 days'), (1, '90 days'), (4, '90 days')) v(n, w);
SELECT is((SELECT count(*)::int FROM rolling_cases c
            WHERE (SELECT retention.retention_rate_rolling(user_id, start, ts, c.n, c.w)
                     FROM (SELECT user_id, ts, min(ts) OVER (PARTITION BY user_id) AS start FROM events) e)
                  IS DISTINCT FROM plain_rolling(c.n, c.w, false)),
          0, 'rolling-window retention equals plain SQL for 7 (n, window) pairs');
SELECT is((SELECT count(*)::int FROM rolling_cases c
            WHERE (SELECT retention.retention_rate_rolling_unbounded(user_id, start, ts, c.n, c.w)
                     FROM (SELECT user_id, ts, min(ts) OVER (PARTITION BY user_id) AS start FROM events) e)
                  IS DISTINCT FROM plain_rolling(c.n, c.w, true)),
          0, 'unbounded rolling-window retention equals plain SQL');

SELECT is((SELECT count(*)::int FROM rolling_cases c, (VALUES (false), (true)) u(unbounded)
            WHERE retention.rolling_retention('events', c.n, c.w, u.unbounded) IS DISTINCT FROM
                  plain_rolling(c.n, c.w, u.unbounded)),
          0, 'rolling_retention (the distributable per-user form) equals plain SQL');

-- the cohort table against plain SQL: every (cohort, period) cell
CREATE FUNCTION plain_cohorts(period text, unbounded bool)
RETURNS TABLE (f int, size bigint, k int, retained bigint) LANGUAGE sql STABLE AS $$
  WITH e AS (SELECT user_id, pidx(ts, period) AS p FROM events WHERE user_id IS NOT NULL AND ts IS NOT NULL),
       m AS (SELECT max(p) AS m FROM e),
       f AS (SELECT user_id, min(p) AS f FROM e GROUP BY user_id),
       sz AS (SELECT f, count(*) AS size FROM f GROUP BY f)
  SELECT sz.f, sz.size, k,
         (SELECT count(DISTINCT e.user_id) FROM f JOIN e USING (user_id)
           WHERE f.f = sz.f AND CASE WHEN unbounded THEN e.p >= f.f + k ELSE e.p = f.f + k END)
    FROM sz, m, generate_series(0, m.m - sz.f) k $$;
CREATE FUNCTION plain_recurring(period text)
RETURNS TABLE (f int, size bigint, k int, retained bigint) LANGUAGE sql STABLE AS $$
  WITH e AS (SELECT DISTINCT user_id, pidx(ts, period) AS p FROM events WHERE user_id IS NOT NULL AND ts IS NOT NULL),
       m AS (SELECT max(p) AS m FROM e),
       sz AS (SELECT p AS f, count(*) AS size FROM e GROUP BY p)
  SELECT sz.f, sz.size, k,
         (SELECT count(*) FROM e c JOIN e r ON r.user_id = c.user_id AND r.p = c.p + k WHERE c.p = sz.f)
    FROM sz, m, generate_series(0, m.m - sz.f) k $$;
SELECT set_eq($$SELECT pidx(cohort_start, 'week'), cohort_size, period_number, retained FROM retention.cohort_table('events', 'week')$$,
              $$SELECT * FROM plain_cohorts('week', false)$$, 'weekly cohort table equals plain SQL, cell by cell');
SELECT set_eq($$SELECT pidx(cohort_start, 'month'), cohort_size, period_number, retained FROM retention.cohort_table('events', 'month', unbounded => true)$$,
              $$SELECT * FROM plain_cohorts('month', true)$$, 'monthly unbounded cohort table equals plain SQL');
SELECT set_eq($$SELECT pidx(cohort_start, 'week'), cohort_size, period_number, retained FROM retention.cohort_table('events', 'week', recurring => true)$$,
              $$SELECT * FROM plain_recurring('week')$$, 'weekly recurring cohort table equals plain SQL');
SELECT is((SELECT count(*)::int FROM (VALUES ('day', 'classic'), ('week', 'unbounded'), ('week', 'recurring'),
                                            ('month', 'recurring_unbounded'), ('day', 'recurring')) m(p, mode)
            WHERE (SELECT retention.cohort_matrix(a, m.mode) FROM
                     (SELECT user_id, retention.user_activity(ts, m.p) AS a FROM events
                       WHERE user_id IS NOT NULL GROUP BY user_id) u)::text
                  IS DISTINCT FROM (SELECT retention.cohort_matrix(user_id, ts, m.p, m.mode, true, true) FROM events)::text
               OR (SELECT retention.cohort_matrix(a, 'unbounded') FROM
                     (SELECT user_id, retention.user_activity(ts, m.p, kind = 'purchase', kind <> 'view') AS a FROM events
                       WHERE user_id IS NOT NULL GROUP BY user_id) u)::text
                  IS DISTINCT FROM (SELECT retention.cohort_matrix(user_id, ts, m.p, 'unbounded', kind = 'purchase', kind <> 'view')
                                      FROM events)::text),
          0, 'two-stage cohort matrices equal the one-stage ones, in every mode and with filters');
SELECT ok((SELECT bool_and(rate = retained::float8 / cohort_size) FROM retention.cohort_table('events', 'week')),
          'rate is retained / cohort_size');

-- periods around DST transitions and 1970: 2,000 users with events spread
-- over 1965-1975 in three zones with DST (Lord Howe shifts by 30 minutes)
CREATE TABLE old_events AS
SELECT (random() * 2000)::bigint AS user_id,
       timestamptz '1965-01-01 00:00+00' + random() * interval '10 years' AS ts, 'view'::text AS kind
  FROM generate_series(1, 40000);
SET TimeZone = 'Europe/London';
SELECT is((SELECT count(*)::int FROM (VALUES (0), (1), (2), (30), (365)) v(n)
            WHERE (SELECT retention.retention_rate(user_id, ts, v.n, 'day') FROM old_events)
                  IS DISTINCT FROM plain_rate('old_events', 'day', v.n, false, false)),
          0, 'Europe/London 1965-1975: daily retention equals plain SQL');
SET TimeZone = 'Australia/Lord_Howe';
SELECT is((SELECT count(*)::int FROM (VALUES (0), (1), (2), (30), (365)) v(n)
            WHERE (SELECT retention.retention_rate(user_id, ts, v.n, 'day') FROM old_events)
                  IS DISTINCT FROM plain_rate('old_events', 'day', v.n, false, false)),
          0, 'Australia/Lord_Howe: daily retention equals plain SQL');
SET TimeZone = 'America/New_York';
SELECT is((SELECT count(*)::int FROM (VALUES (0), (1), (7), (30), (365)) v(n)
            WHERE (SELECT retention.retention_rate(user_id, ts, v.n, 'day') FROM old_events)
                  IS DISTINCT FROM plain_rate('old_events', 'day', v.n, false, false)),
          0, 'America/New_York 1965-1975: daily retention equals plain SQL');
SELECT is((SELECT count(*)::int FROM old_events
            WHERE retention.period_start(ts, 'week') <> date_trunc('week', ts)::date
               OR retention.period_start(ts, 'month') <> date_trunc('month', ts)::date),
          0, 'period_start agrees with date_trunc');

-- parallel plans: the same answers with two workers as with none
ALTER TABLE events SET (parallel_workers = 2);
INSERT INTO events SELECT user_id + 3000, ts + interval '1 day', kind FROM events WHERE user_id IS NOT NULL;
INSERT INTO events SELECT user_id + 6000, ts + interval '2 days', kind FROM events WHERE user_id IS NOT NULL;
ANALYZE events;
CREATE TABLE events_with_start WITH (parallel_workers = 2) AS
SELECT user_id, ts, min(ts) OVER (PARTITION BY user_id) AS start FROM events;
ANALYZE events_with_start;
CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || q LOOP plan := plan || line || E'\n'; END LOOP;
  RETURN plan;
END $$;
CREATE FUNCTION all_answers() RETURNS float8[] LANGUAGE sql STABLE AS $$
  SELECT ARRAY[retention.retention_rate(user_id, ts, 1, 'week'),
               retention.retention_rate(user_id, ts, 7, 'day'),
               retention.retention_rate_unbounded(user_id, ts, 2, 'month'),
               retention.retention_rate(user_id, ts, 1, 'week', kind = 'purchase', kind <> 'view'),
               (SELECT retention.retention_rate_rolling(user_id, start, ts, 3, '2 days') FROM events_with_start)]
    FROM events $$;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_answers AS
SELECT all_answers() AS a,
       (SELECT array_agg(ROW(c.*)::text ORDER BY c.cohort_start, c.period_number)
          FROM retention.cohort_table('events', 'week', recurring => true) c) AS cohorts,
       (SELECT array_agg(ROW(c.*)::text ORDER BY c.cohort_start, c.period_number)
          FROM retention.cohort_table('events', 'day', unbounded => true) c) AS cohorts_day,
       (SELECT array_agg(r ORDER BY k) FROM (SELECT k, retention.retention_rate(user_id, ts, 1, 'day') AS r
                                                FROM events, (VALUES (1), (2)) v(k) WHERE user_id % k = 0 GROUP BY k) g) AS grouped;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT matches(plan_of($$SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM events$$),
               'Gather.*Partial Aggregate', 'the plan is parallel: Gather over Partial Aggregate');
SELECT matches(plan_of($$SELECT retention.cohort_matrix(user_id, ts, 'week', 'recurring', true, true) FROM events$$),
               'Gather.*Partial Aggregate', 'the cohort matrix plan is parallel');
SELECT matches(plan_of($$SELECT retention.retention_rate_rolling(user_id, start, ts, 3, '2 days') FROM events_with_start$$),
               'Gather.*Partial Aggregate', 'the rolling retention plan is parallel');
SELECT is(all_answers(), (SELECT a FROM serial_answers), 'retention rates: parallel equals serial');
SELECT is((SELECT array_agg(ROW(c.*)::text ORDER BY c.cohort_start, c.period_number)
             FROM retention.cohort_table('events', 'week', recurring => true) c),
          (SELECT cohorts FROM serial_answers), 'recurring weekly cohort table: parallel equals serial');
SELECT is((SELECT array_agg(ROW(c.*)::text ORDER BY c.cohort_start, c.period_number)
             FROM retention.cohort_table('events', 'day', unbounded => true) c),
          (SELECT cohorts_day FROM serial_answers), 'daily unbounded cohort table: parallel equals serial');
SELECT is((SELECT array_agg(r ORDER BY k) FROM (SELECT k, retention.retention_rate(user_id, ts, 1, 'day') AS r
                                                  FROM events, (VALUES (1), (2)) v(k) WHERE user_id % k = 0 GROUP BY k) g),
          (SELECT grouped FROM serial_answers), 'grouped retention: parallel equals serial');
SELECT is((SELECT a[1] FROM serial_answers), plain_rate('events', 'week', 1, false, false),
          'and both equal plain SQL on the tripled table');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- CDNOW: 23,570 customers who first bought in Q1 1997, purchases to June
-- 1998.  Monthly cohorts and day-n rates computed independently by a
-- Python script (standard library only: csv + sets of (year * 12 + month)
-- per customer, first month = min, latest month = June 1998) run once:
--   cohort 1997-01: 7846 customers; buying again in months 1..17:
--     1157 964 810 679 736 720 582 559 594 673 634 528 511 664 472 497 498
--   cohort 1997-02: 8476; months 1..16:
--     1312 980 783 847 786 626 619 666 721 661 545 568 718 545 548 551
--   cohort 1997-03: 7248; months 1..15:
--     1032 752 756 674 564 561 579 634 569 464 472 678 420 443 457
--   all customers, n = 1: 3501 / 23570 classic, 10815 / 23570 unbounded;
--   n = 3: 2349 / 23570 and 9305 / 23570; n = 12: 1774 / 23570 and
--   4854 / 23570; n = 17: 498 / 7846 (only January's month 17 is observable)
CREATE TABLE cdnow (customer_id bigint, date date, number_of_cds int, dollar_value numeric);
\copy cdnow FROM PROGRAM 'gzip -dc data/cdnow/CDNOW_master.csv.gz' WITH (FORMAT csv, HEADER true)
CREATE VIEW cdnow_events AS SELECT customer_id AS user_id, date::timestamptz AS ts FROM cdnow;
SELECT is((SELECT count(DISTINCT customer_id)::int FROM cdnow), 23570, 'CDNOW: 23,570 customers');
SELECT is((SELECT array_agg(retained ORDER BY period_number) FROM retention.cohort_table('cdnow_events', 'month')
            WHERE cohort_start = '1997-01-01'),
          ARRAY[7846, 1157, 964, 810, 679, 736, 720, 582, 559, 594, 673, 634, 528, 511, 664, 472, 497, 498]::bigint[],
          'CDNOW: January 1997 cohort, months 0-17');
SELECT is((SELECT array_agg(retained ORDER BY period_number) FROM retention.cohort_table('cdnow_events', 'month')
            WHERE cohort_start = '1997-02-01'),
          ARRAY[8476, 1312, 980, 783, 847, 786, 626, 619, 666, 721, 661, 545, 568, 718, 545, 548, 551]::bigint[],
          'CDNOW: February 1997 cohort, months 0-16');
SELECT is((SELECT array_agg(retained ORDER BY period_number) FROM retention.cohort_table('cdnow_events', 'month')
            WHERE cohort_start = '1997-03-01'),
          ARRAY[7248, 1032, 752, 756, 674, 564, 561, 579, 634, 569, 464, 472, 678, 420, 443, 457]::bigint[],
          'CDNOW: March 1997 cohort, months 0-15');
SELECT is((SELECT ARRAY[retention.retention_rate(customer_id, date, 1, 'month'),
                        retention.retention_rate_unbounded(customer_id, date, 1, 'month'),
                        retention.retention_rate(customer_id, date, 3, 'month'),
                        retention.retention_rate_unbounded(customer_id, date, 3, 'month'),
                        retention.retention_rate(customer_id, date, 12, 'month'),
                        retention.retention_rate_unbounded(customer_id, date, 12, 'month'),
                        retention.retention_rate(customer_id, date, 17, 'month'),
                        retention.retention_rate(customer_id, date, 18, 'month')] FROM cdnow),
          ARRAY[3501 / 23570.0, 10815 / 23570.0, 2349 / 23570.0, 9305 / 23570.0,
                1774 / 23570.0, 4854 / 23570.0, 498 / 7846.0, NULL]::float8[],
          'CDNOW: month-n retention rates, classic and unbounded');

SELECT * FROM finish();
ROLLBACK;
