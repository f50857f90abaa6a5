-- pgTAP: funnels against an independent brute-force reference
-- (test/analytics/fixtures/funnel_oracle.py, which enumerates every attempt
-- of every user) on seeded random events: ties in time, steps one
-- microsecond outside the window, repeated attempts, NULL, missing and
-- json-null breakdown values, repeated step types, date ranges, all three
-- modes; then empty inputs, parallel plans, the two-stage form, the state
-- type's I/O and hostile input.
BEGIN;
SELECT plan(49);

SET TimeZone = 'UTC';
\i test/analytics/fixtures/funnel_oracle.sql
ANALYZE funnel_events;

-- stage one, per user: every (config, user) outcome
CREATE TEMP TABLE got_users AS
SELECT c.id AS config, s.user_id, (s.p).reached, (s.p).started, (s.p).breakdown, (s.p).seconds
  FROM funnel_configs c,
       LATERAL (SELECT user_id,
                       retention.funnel_user(ts, event_type, c.steps, c.win, c.mode,
                                             CASE c.breakdown WHEN 'country' THEN properties ->> 'country'
                                                              WHEN 'plan' THEN plan END,
                                             c.date_from, c.date_to) AS p
                  FROM funnel_events GROUP BY user_id) s
 WHERE (s.p).reached > 0;

SELECT cmp_ok((SELECT count(*) FROM funnel_expected_users), '>', 1000::bigint,
              'the reference holds more than 1000 user outcomes');
SELECT is((SELECT count(*) FROM (SELECT * FROM got_users EXCEPT ALL SELECT * FROM funnel_expected_users) d), 0::bigint,
          'every per-user outcome is in the reference');
SELECT is((SELECT count(*) FROM (SELECT * FROM funnel_expected_users EXCEPT ALL SELECT * FROM got_users) d), 0::bigint,
          'every outcome of the reference is found');

-- funnel() per configuration: users, rates and medians
CREATE FUNCTION funnel_of(cid int) RETURNS TABLE (breakdown text, step int, users bigint, rate float8, median float8)
LANGUAGE sql AS $$
  SELECT f.breakdown, f.step, f.users, f.conversion_rate, f.median_seconds_from_previous
    FROM funnel_configs c,
         retention.funnel('funnel_events', c.steps, c.win, c.mode, c.breakdown,
                          date_from => c.date_from, date_to => c.date_to) f
   WHERE c.id = cid $$;

CREATE FUNCTION funnel_mismatches(cid int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (
    SELECT * FROM funnel_of(cid) g FULL JOIN (SELECT * FROM funnel_expected WHERE config = cid) e
        ON e.breakdown IS NOT DISTINCT FROM g.breakdown AND e.step = g.step
     WHERE e.step IS NULL OR g.step IS NULL OR e.users <> g.users
        OR abs(coalesce(e.conversion_rate, -1) - coalesce(g.rate, -1)) > 1e-12
        OR abs(coalesce(e.median, -1) - coalesce(g.median, -1)) > 1e-9) d $$;

SELECT is(funnel_mismatches(id), 0::bigint,
          format('funnel %s (%s, %s, window %s, breakdown %s) matches the reference', id, mode, steps, win,
                 coalesce(breakdown, '-')))
  FROM funnel_configs ORDER BY id;

-- drop-offs: the users of the reference who reached step - 1 and no further
SELECT is(
    (SELECT array_agg(user_id ORDER BY user_id)
       FROM funnel_configs c, retention.funnel_dropoffs('funnel_events', c.steps, c.win, 3, c.mode, c.breakdown,
                                                        date_from => c.date_from, date_to => c.date_to)
      WHERE c.id = 4),
    (SELECT array_agg(user_id ORDER BY user_id) FROM funnel_expected_users WHERE config = 4 AND reached = 2),
    'funnel_dropoffs lists the users who reached step 2 but not step 3');
SELECT is(
    (SELECT array_agg(user_id ORDER BY user_id)
       FROM funnel_configs c, retention.funnel_dropoffs('funnel_events', c.steps, c.win, 2, c.mode)
      WHERE c.id = 2),
    (SELECT array_agg(user_id ORDER BY user_id) FROM funnel_expected_users WHERE config = 2 AND reached = 1),
    'funnel_dropoffs for step 2 of a strict funnel');

-- the row order of the input and parallel plans change nothing
CREATE TEMP TABLE serial_result AS SELECT id, f.* FROM funnel_configs, funnel_of(id) f;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
SELECT is((SELECT count(*) FROM (SELECT id, f.* FROM funnel_configs, funnel_of(id) f
                                  EXCEPT SELECT * FROM serial_result) d), 0::bigint,
          'parallel plans give the same funnels');
-- sorted grouping splits no user, but the plan has partial aggregates
-- whose states the leader combines (funnel_user_combine)
SELECT is(
    (SELECT count(*) FROM (
        SELECT 2, user_id, (p).reached, (p).started, (p).breakdown, (p).seconds
          FROM (SELECT user_id, retention.funnel_user(ts, event_type, '{a,b,c}', '30 minutes', 'strict',
                                                      NULL, NULL, NULL) p
                  FROM funnel_events GROUP BY user_id) u WHERE (p).reached > 0
        EXCEPT ALL SELECT * FROM funnel_expected_users WHERE config = 2) d), 0::bigint,
    'per-user outcomes in a parallel plan match the reference');
RESET enable_hashagg;
SELECT is(
    (SELECT retention.funnel_matrix(r, s)::text
       FROM (SELECT (p).reached r, (p).seconds s
               FROM (SELECT retention.funnel_user(ts, event_type, '{a,b,c}', '30 minutes', 'ordered', NULL, NULL, NULL) p
                       FROM funnel_events GROUP BY user_id) u) x),
    (SELECT retention.funnel_matrix(reached, seconds)::text FROM funnel_expected_users WHERE config = 1),
    'funnel_matrix in parallel equals funnel_matrix over the reference outcomes');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- stage two by hand: the same result as percentile_cont over the reference
SELECT is(
    (SELECT retention.funnel_matrix(reached, seconds) FROM funnel_expected_users WHERE config = 1),
    (SELECT array_agg(ARRAY[u, r, med] ORDER BY k)
       FROM (SELECT k, u, u / first_value(u) OVER (ORDER BY k) AS r, med
               FROM (SELECT k, count(*) FILTER (WHERE reached >= k)::float8 AS u,
                            percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds[k])
                                FILTER (WHERE reached >= k AND k > 1) AS med
                       FROM funnel_expected_users, generate_series(1, 3) k WHERE config = 1 GROUP BY k) y) x),
    'funnel_matrix equals count and percentile_cont(0.5) per step');

-- empty inputs
CREATE TABLE funnel_empty (user_id bigint, event_type text, ts timestamptz, properties jsonb);
SELECT results_eq(
    $$SELECT breakdown, step, event_type, users, conversion_rate, median_seconds_from_previous
        FROM retention.funnel('funnel_empty', '{a,b}', '1 hour')$$,
    $$VALUES (NULL::text, 1, 'a'::text, 0::bigint, NULL::float8, NULL::float8),
             (NULL, 2, 'b', 0, NULL, NULL)$$,
    'an empty table gives every step with 0 users and no rates');
SELECT is_empty($$SELECT * FROM retention.funnel('funnel_empty', '{a,b}', '1 hour', breakdown_by => 'country')$$,
                'an empty table with a breakdown gives no groups');
SELECT is_empty($$SELECT * FROM retention.funnel_dropoffs('funnel_empty', '{a,b}', '1 hour', 2)$$,
                'an empty table drops nobody');
SELECT is((SELECT retention.funnel_matrix(r, s) FROM (SELECT 1, NULL::float8[]) x(r, s) WHERE false), NULL,
          'funnel_matrix over no rows is NULL');

-- a hand-made case: ties, the window boundary and a breaking event
CREATE TABLE funnel_hand (user_id bigint, event_type text, ts timestamptz, properties jsonb);
INSERT INTO funnel_hand VALUES
  (1, 'b', '2024-01-01 10:00', '{"src": "ad"}'), (1, 'a', '2024-01-01 10:00', '{"src": "mail"}'),
  (1, 'c', '2024-01-01 11:00', NULL),                               -- exactly the window after a: in
  (2, 'a', '2024-01-01 10:00', '{"src": "ad"}'), (2, 'b', '2024-01-01 10:30', NULL),
  (2, 'c', '2024-01-01 11:00:00.000001', NULL),                     -- one microsecond late
  (3, 'a', '2024-01-01 10:00', '{"src": "seo"}'), (3, 'zz', '2024-01-01 10:10', NULL),
  (3, 'b', '2024-01-01 10:20', NULL), (3, 'c', '2024-01-01 10:30', NULL);
SELECT results_eq(
    $$SELECT breakdown, step, users, conversion_rate, median_seconds_from_previous
        FROM retention.funnel('funnel_hand', '{a,b,c}', '1 hour', breakdown_by => 'src')$$,
    $$VALUES ('ad'::text, 1, 1::bigint, 1::float8, NULL::float8), ('ad', 2, 1, 1, 1800), ('ad', 3, 0, 0, NULL),
             ('mail', 1, 1, 1, NULL), ('mail', 2, 1, 1, 0), ('mail', 3, 1, 1, 3600),
             ('seo', 1, 1, 1, NULL), ('seo', 2, 1, 1, 1200), ('seo', 3, 1, 1, 600)$$,
    'ordered: a tie fills steps in either order, the window is inclusive, one microsecond late is out');
SELECT results_eq(
    $$SELECT step, users FROM retention.funnel('funnel_hand', '{a,b,c}', '1 hour', 'strict')$$,
    $$VALUES (1, 3::bigint), (2, 2), (3, 1)$$,
    'strict: the zz event between a and b stops user 3 at step 1');
SELECT results_eq(
    $$SELECT step, users, median_seconds_from_previous FROM retention.funnel('funnel_hand', '{c,b,a}', '1 hour', 'unordered')$$,
    $$VALUES (1, 3::bigint, NULL::float8), (2, 3, 1200), (3, 2, 2100)$$,
    'unordered: any order within the window after the earliest event (medians by hand: {0, 1800, 1200} and {3600, 600})');
SELECT results_eq(
    $$SELECT step, users FROM retention.funnel('funnel_hand', '{a,b,c}', '1 hour',
                                               date_from => '2024-01-01 10:00:00.000001+00')$$,
    $$VALUES (1, 0::bigint), (2, 0), (3, 0)$$,
    'date_from excludes a first step one microsecond early');

-- the state type: text and binary round trips, validation
SELECT is('3|2,1,1|2:0.5,3:1e-06,2:7'::retention.funnel_stats::text, '3|2,1,1|2:0.5,3:1e-06,2:7',
          'funnel_stats text round trip');
-- strtod reports ERANGE for a subnormal it reads exactly: what out wrote
-- must read back (COPY out, then in)
SELECT is('2|0,1|2:5e-324'::retention.funnel_stats::text, '2|0,1|2:5e-324',
          'funnel_stats text round trip of a subnormal duration');
SELECT throws_ok($$SELECT '3|2,1,1|2:0.5'::retention.funnel_stats$$, '22P03', NULL,
                 'durations that do not match the user counts are rejected');
SELECT throws_ok($$SELECT '3|2,1,1|2:-1,3:1,2:7'::retention.funnel_stats$$, '22P03', NULL,
                 'negative durations are rejected');
SELECT throws_ok($$SELECT '0||'::retention.funnel_stats$$, '22P02', NULL, 'zero steps are rejected');
SELECT throws_ok($$SELECT '2|1,x|'::retention.funnel_stats$$, '22P02', NULL, 'garbage is rejected');
SELECT throws_ok($$SELECT retention.funnel_matrix_combine('2|1,0|'::retention.funnel_stats, '3|1,0,0|')$$,
                 '22023', NULL, 'states of different step counts are not combined');

-- hostile but well-formed arguments
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_hand', '{a,b}', '1 hour', 'sideways')$$,
                 '22023', 'unknown funnel mode "sideways"', 'unknown mode');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_hand', '{}', '1 hour')$$,
                 '22023', NULL, 'no steps');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_hand', '{a,NULL}', '1 hour')$$,
                 '22023', NULL, 'a NULL step');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_hand', '{a,b}', '-1 hour')$$,
                 '22023', 'conversion window must not be negative', 'negative window');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_configs', '{a,b}', '1 hour', breakdown_by => 'nope')$$,
                 '42703', NULL, 'a breakdown that is neither a column nor a properties key');
SELECT throws_ok($$SELECT * FROM retention.funnel_dropoffs('funnel_hand', '{a,b}', '1 hour', 1)$$,
                 '22023', NULL, 'drop-off step 1 is meaningless');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_hand', '{a,b}', '1 hour', user_column => 'x; drop table t')$$,
                 '42703', NULL, 'column names are quoted identifiers');
SELECT throws_ok($$SELECT retention.funnel_matrix(2, '{NULL,NULL}') FROM funnel_hand$$,
                 '22004', NULL, 'a reached step without its seconds');
SELECT throws_ok($$SELECT retention.funnel_matrix(3, '{NULL,1}')$$,
                 '22023', NULL, 'a furthest step beyond the steps');
SELECT throws_ok($$SELECT retention.funnel_user(ts, event_type, ARRAY[event_type], '1 hour', 'ordered', NULL, NULL, NULL)
                     FROM funnel_hand GROUP BY user_id$$,
                 '22023', NULL, 'steps that change within a group');
SELECT lives_ok($$SELECT retention.funnel_user(ts, NULL, '{a}', '1 hour', 'strict', NULL, NULL, NULL) FROM funnel_hand$$,
                'events without a type are kept as breaks of strict funnels');

-- a role with only USAGE on the schema reads its own table
CREATE ROLE funnel_reader;
GRANT USAGE ON SCHEMA retention TO funnel_reader;
GRANT SELECT ON funnel_hand TO funnel_reader;
SET ROLE funnel_reader;
SELECT is((SELECT sum(users) FROM retention.funnel('funnel_hand', '{a,b,c}', '1 hour', 'unordered', 'src')),
          8::numeric, 'a role with USAGE only runs funnels with a breakdown');
SELECT throws_ok($$SELECT * FROM retention.funnel('funnel_events', '{a}', '1 hour')$$, '42501', NULL,
                 'and cannot read a table it has no right to');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
