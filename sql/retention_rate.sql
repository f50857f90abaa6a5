-- retention_rate, retention_rate_unbounded and cohort_table on hand-made
-- event sets whose answers are worked out in the comments.
\set VERBOSITY sqlstate
SET extra_float_digits = 0;
SET TimeZone = 'UTC';

CREATE TABLE ev (user_id bigint, ts timestamptz, event_type text);
-- Set A, daily periods.  Start day and active day offsets:
--   u1 starts Jan 1, active on offsets {0, 1, 3}
--   u2 starts Jan 2, active on {0, 1}
--   u3 starts Jan 3, a single event
--   u4 starts Jan 5, a single event; the latest event, so the last
--      observable period is Jan 5
INSERT INTO ev VALUES
  (1, '2024-01-01 10:00+00', 'view'),
  (1, '2024-01-02 09:00+00', 'purchase'),
  (1, '2024-01-04 23:59+00', 'purchase'),
  (2, '2024-01-02 00:00+00', 'purchase'),
  (2, '2024-01-03 12:00+00', 'view'),
  (3, '2024-01-03 08:00+00', 'view'),
  (4, '2024-01-05 07:00+00', 'view');

-- n = 0: all 4 users observable, all active on their start day: 1
-- n = 1: start <= Jan 4: u1, u2, u3; active next day: u1, u2: 2/3
-- n = 2: start <= Jan 3: u1, u2, u3; u1 not on Jan 3, u2 not on Jan 4: 0
-- n = 3: start <= Jan 2: u1, u2; u1 on Jan 4: 1/2
-- n = 4: start <= Jan 1: u1; not on Jan 5: 0
-- n = 5: nobody observable: NULL
SELECT n, retention.retention_rate(user_id, ts, n) AS day_n,
       retention.retention_rate(user_id, ts, n, 'day') AS day_n_explicit
  FROM ev, generate_series(0, 5) n GROUP BY n ORDER BY n;

-- unbounded (on or after): retained when the last activity is at or after
-- offset n.  Last offsets: u1 3, u2 1, u3 0.
-- n = 1: u1, u2 of u1, u2, u3: 2/3;  n = 2: u1 of 3: 1/3;
-- n = 3: u1 of u1, u2: 1/2;  n = 4: u1 last on Jan 4 < Jan 5: 0
SELECT n, retention.retention_rate_unbounded(user_id, ts, n, 'day') AS unbounded
  FROM ev, generate_series(0, 5) n GROUP BY n ORDER BY n;

-- 2024-01-01 is a Monday: the whole set lies in one ISO week and one month,
-- so week 0 is 1 and week 1 is not observable yet
SELECT retention.retention_rate(user_id, ts, 0, 'week') AS week_0,
       retention.retention_rate(user_id, ts, 1, 'week') AS week_1,
       retention.retention_rate(user_id, ts, 1, 'MONTH') AS month_1
  FROM ev;

-- a start event filter and a return event filter: the cohort starts at the
-- first purchase, and only purchases count as returning.  u1 starts Jan 2
-- with purchases on Jan 2 and Jan 4; u2 starts Jan 2 with a purchase on
-- Jan 2; u3 and u4 never buy.  The latest event (u4's view) is still Jan 5.
-- n = 1: Jan 3 purchases: none: 0;  n = 2: Jan 4: u1 of 2: 1/2;
-- n = 3: Jan 5: none: 0;  n = 4: Jan 6 is after Jan 5: NULL
SELECT n, retention.retention_rate(user_id, ts, n, 'day',
                                   event_type = 'purchase', event_type = 'purchase') AS purchase_retention,
       retention.retention_rate_unbounded(user_id, ts, n, 'day',
                                          event_type = 'purchase', event_type = 'purchase') AS unbounded
  FROM ev, generate_series(0, 4) n GROUP BY n ORDER BY n;
-- unbounded: n = 1: u1 buys again on Jan 4 >= Jan 3: 1/2; n = 2: 1/2; n = 3: 0

-- start = first purchase, return = any event: n = 1 (Jan 3): u2's view: 1/2
SELECT retention.retention_rate(user_id, ts, 1, 'day', event_type = 'purchase', true)
  FROM ev;

-- GROUP BY gives one retention figure per group; each group's own latest
-- event bounds what is observable.  Group "a" = u1, u2 (latest Jan 4): day 1
-- is 2/2; group "b" = u3, u4 (latest Jan 5): u3's day 1 is observable, u4's
-- is not: 0/1
SELECT CASE WHEN user_id <= 2 THEN 'a' ELSE 'b' END AS grp,
       retention.retention_rate(user_id, ts, 1, 'day') AS day_1
  FROM ev GROUP BY 1 ORDER BY 1;

-- NULL users and timestamps are skipped; all-NULL or empty input gives NULL
INSERT INTO ev VALUES (NULL, '2024-01-09', 'view'), (5, NULL, 'view');
SELECT retention.retention_rate(user_id, ts, 1, 'day') AS still_two_thirds FROM ev;
SELECT retention.retention_rate(user_id, ts, 1) AS nothing FROM ev WHERE ts IS NULL;
SELECT retention.retention_rate(user_id, ts, 1) AS empty FROM ev WHERE false;
-- a NULL n or period behaves like any NULL argument of a strict aggregate
SELECT retention.retention_rate(user_id, ts, NULL) AS null_n,
       retention.retention_rate(user_id, ts, 1, NULL) AS null_period FROM ev;
DELETE FROM ev WHERE user_id IS NULL OR ts IS NULL OR user_id = 5;

-- one user with a single event, and one group of one user
SELECT retention.retention_rate(1, '2024-01-01'::timestamptz, 0) AS single_event_day_0,
       retention.retention_rate(1, '2024-01-01'::timestamptz, 1) AS single_event_day_1;
SELECT retention.retention_rate(user_id, ts, 3) FROM ev WHERE user_id = 1;  -- u1: Jan 4 active: 1

-- calendar periods in the session time zone.  New York springs forward on
-- 2024-03-10: an event at 2024-03-09 12:00 EST and one at 2024-03-11
-- 00:30 EDT (04:30 UTC) are two local days apart (n = 2 retained, n = 1
-- not), although a fixed UTC-5 offset would put the second on March 10.
SET TimeZone = 'America/New_York';
SELECT retention.retention_rate(7, ts, 1, 'day') AS ny_day_1,
       retention.retention_rate(7, ts, 2, 'day') AS ny_day_2
  FROM (VALUES ('2024-03-09 17:00+00'::timestamptz), ('2024-03-11 04:30+00')) v(ts);
-- 2024-03-09 12:00 UTC and 2024-03-10 23:30 UTC: Mar 9 07:00 and Mar 10
-- 19:30 in New York (one day apart), Mar 9 21:00 and Mar 11 08:30 in Tokyo
-- (two days apart)
SELECT retention.retention_rate(7, ts, 1, 'day') AS ny_day_1
  FROM (VALUES ('2024-03-09 12:00+00'::timestamptz), ('2024-03-10 23:30+00')) v(ts);
SET TimeZone = 'Asia/Tokyo';
SELECT retention.retention_rate(7, ts, 1, 'day') AS tokyo_day_1,
       retention.retention_rate(7, ts, 2, 'day') AS tokyo_day_2
  FROM (VALUES ('2024-03-09 12:00+00'::timestamptz), ('2024-03-10 23:30+00')) v(ts);
SET TimeZone = 'UTC';

-- ISO weeks start on Monday: Sunday 2024-01-07 23:00 and Monday 2024-01-08
-- 01:00 are weeks 0 and 1; months count calendar months (Jan 31 -> Feb 29)
SELECT retention.retention_rate(1, ts, 1, 'week') AS sunday_to_monday
  FROM (VALUES ('2024-01-07 23:00+00'::timestamptz), ('2024-01-08 01:00+00')) v(ts);
SELECT retention.retention_rate(1, ts, 1, 'week') AS monday_to_sunday_same_week
  FROM (VALUES ('2024-01-08 00:00+00'::timestamptz), ('2024-01-14 23:59+00'), ('2024-01-15 00:00+00')) v(ts);
SELECT retention.retention_rate(1, ts, 1, 'month') AS jan31_feb29
  FROM (VALUES ('2024-01-31 23:59+00'::timestamptz), ('2024-02-29 00:00+00')) v(ts);

-- before 1970 and far in the future: one hour either side of midnight
-- 1970-01-01 are two days; December 1899 to January 1900 is one month;
-- the years 2999/3000 (a Tuesday and a Wednesday: one ISO week, so week 1
-- is not observable) and 200000
SELECT retention.retention_rate(1, ts, 1, 'day') AS across_1970
  FROM (VALUES ('1969-12-31 23:00+00'::timestamptz), ('1970-01-01 01:00+00')) v(ts);
SELECT retention.retention_rate(1, ts, 0, 'day') AS before_1970_same_day,
       retention.retention_rate(1, ts, 1, 'day') AS before_1970_next_day
  FROM (VALUES ('1969-12-30 00:00+00'::timestamptz), ('1969-12-30 23:59:59.999999+00')) v(ts);
SELECT retention.retention_rate(1, ts, 1, 'month') AS dec1899_jan1900
  FROM (VALUES ('1899-12-15 00:00+00'::timestamptz), ('1900-01-02 00:00+00')) v(ts);
SELECT retention.retention_rate(1, ts, 1, 'day') AS y3000,
       retention.retention_rate(1, ts, 1, 'week') AS y3000_week
  FROM (VALUES ('2999-12-31 12:00+00'::timestamptz), ('3000-01-01 12:00+00')) v(ts);
SELECT retention.retention_rate(1, ts, 12, 'month') AS y200000
  FROM (VALUES ('200000-01-15 00:00+00'::timestamptz), ('200001-01-15 00:00+00')) v(ts);
SELECT retention.period_start('1969-12-31 23:00+00', 'week') AS week_of_1969_12_31,
       retention.period_start('1900-01-01 00:00+00', 'month') AS month_1900,
       retention.period_start('2024-03-10 12:00+00', 'week') AS week_2024_03_10;

-- a user active over more than 64 periods keeps a bitmap outside the
-- hash entry: days 0, 70 and 200 of a user, read in reverse order so the
-- bitmap's base moves twice
SELECT retention.retention_rate(1, ts, 70) AS day_70, retention.retention_rate(1, ts, 200) AS day_200,
       retention.retention_rate(1, ts, 199) AS day_199
  FROM (SELECT ts FROM (VALUES ('2024-01-01'::timestamptz), ('2024-03-11'), ('2024-07-19')) v(ts)
         ORDER BY ts DESC) o;

-- cohort tables in long format, set A by day.
-- classic: cohort Jan 1 (u1) {1,1,0,1,0}; Jan 2 (u2) {1,1,0,0};
--          Jan 3 (u3) {1,0,0}; Jan 5 (u4) {1}; later cells are censored
SELECT * FROM retention.cohort_table('ev', 'day');
-- unbounded: u1's last activity is offset 3, so Jan 1 becomes {1,1,1,1,0}
SELECT cohort_start, period_number, retained FROM retention.cohort_table('ev', 'day', unbounded => true)
 WHERE cohort_start = '2024-01-01';
-- recurring: every active day is a cohort.  u1 active Jan 1, 2, 4; u2 Jan
-- 2, 3; u3 Jan 3; u4 Jan 5.  Jan 1 {u1}: {1,1,0,1,0}; Jan 2 {u1,u2}:
-- {2,1,1,0}; Jan 3 {u2,u3}: {2,0,0}; Jan 4 {u1}: {1,0}; Jan 5 {u4}: {1}
SELECT cohort_start, cohort_size, array_agg(retained ORDER BY period_number) AS retained
  FROM retention.cohort_table('ev', 'day', recurring => true) GROUP BY 1, 2 ORDER BY 1;
-- recurring unbounded: Jan 2 {u1,u2}: k=1 u1 (Jan 4 >= Jan 3) and u2: 2;
-- k=2: u1: 1; k=3: 0
SELECT cohort_start, cohort_size, array_agg(retained ORDER BY period_number) AS retained
  FROM retention.cohort_table('ev', 'day', unbounded => true, recurring => true) GROUP BY 1, 2 ORDER BY 1;
-- first purchase to purchase: cohort Jan 2 = {u1, u2}: {2, 0, 1, 0}
SELECT cohort_start, cohort_size, array_agg(retained ORDER BY period_number) AS retained
  FROM retention.cohort_table('ev', 'day', event_column => 'event_type',
                              start_event => 'purchase', return_event => 'purchase')
 GROUP BY 1, 2 ORDER BY 1;
-- other column names, and a view a BI tool can chart
CREATE TABLE clicks (customer bigint, clicked_at timestamptz);
INSERT INTO clicks SELECT user_id, ts FROM ev;
CREATE VIEW weekly_cohorts AS
  SELECT * FROM retention.cohort_table('clicks', 'week', user_column => 'customer', time_column => 'clicked_at');
SELECT * FROM weekly_cohorts;

-- the two-stage form for distributed tables gives the same answers
SELECT n, (SELECT retention.retention_rate(a, n) FROM
             (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u) AS two_stage,
          (SELECT retention.retention_rate_unbounded(a, n) FROM
             (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u) AS two_stage_unbounded,
          (SELECT retention.retention_rate(a, n) FROM
             (SELECT user_id, retention.user_activity(ts, 'day', event_type = 'purchase', event_type = 'purchase') AS a
                FROM ev GROUP BY user_id) u) AS two_stage_purchases
  FROM generate_series(0, 5) n;
-- activities as text: u1 started on day 8766 (2024-01-01), latest event 8769
SELECT user_id, retention.user_activity(ts, 'day') FROM ev GROUP BY user_id ORDER BY user_id;
SELECT user_id, retention.user_activity(ts, 'day', event_type = 'purchase', event_type = 'purchase')
  FROM ev GROUP BY user_id ORDER BY user_id;
SELECT 'month:276:279:276:1001'::retention.activity, 'week:-:5:5:1'::retention.activity;
-- the cohort table from per-user activities: the same rows as above
SELECT * FROM retention.cohort_rows((
  SELECT retention.cohort_matrix(a, 'classic')
    FROM (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u));
SELECT retention.cohort_matrix(a, 'recurring')
  FROM (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u;

-- rolling windows from the exact first event.  u1 starts 2024-01-01 10:00
-- with events 23 h and 25 h later (windows 0 and 1 of a day); u2 starts
-- 2024-01-01 00:00 with one event 48 h later (window 2), the latest event.
-- n = 1: both windows 1 have begun; u1 has an event in [Jan 2 10:00, Jan 3
--        10:00), u2 none in [Jan 2 00:00, Jan 3 00:00): 1/2
-- n = 2: u1's window 2 begins Jan 3 10:00, after the latest event: only
--        u2 counts, with its event at the very start of the window: 1
-- unbounded n = 1: both have a later event: 1
CREATE TABLE rolling_ev (user_id bigint, ts timestamptz);
INSERT INTO rolling_ev VALUES
  (1, '2024-01-01 10:00+00'), (1, '2024-01-02 09:00+00'), (1, '2024-01-02 11:00+00'),
  (2, '2024-01-01 00:00+00'), (2, '2024-01-03 00:00+00');
SELECT n, retention.retention_rate_rolling(user_id, start, ts, n, '1 day') AS rolling,
       retention.retention_rate_rolling_unbounded(user_id, start, ts, n, '24 hours') AS unbounded
  FROM (SELECT user_id, ts, min(ts) OVER (PARTITION BY user_id) AS start FROM rolling_ev) e,
       generate_series(0, 3) n
 GROUP BY n ORDER BY n;

-- the same through rolling_retention, whose per-user stage is standard
-- aggregates grouped by user (the form for distributed tables)
SELECT n, retention.rolling_retention('rolling_ev', n, '1 day') AS rolling,
       retention.rolling_retention('rolling_ev', n, '24 hours', unbounded => true) AS unbounded
  FROM generate_series(0, 3) n;

-- errors
SELECT retention.retention_rate(user_id, ts, -1) FROM ev;
SELECT retention.retention_rate(user_id, ts, 1, 'fortnight') FROM ev;
SELECT retention.retention_rate(user_id, ts, user_id::int) FROM ev;
SELECT retention.retention_rate(user_id, ts, 1, CASE WHEN user_id = 1 THEN 'day' ELSE 'week' END) FROM ev;
SELECT retention.retention_rate(1, 'infinity'::timestamptz, 1);
SELECT retention.retention_rate(1, ts, 1)
  FROM (VALUES ('1000-01-01'::timestamptz), ('4000-01-01')) v(ts);
SELECT retention.period_start(now(), 'year');
SELECT retention.retention_rate(a, -2) FROM (SELECT retention.user_activity(ts, 'day') a FROM ev GROUP BY user_id) u;
SELECT retention.retention_rate(a, 1) FROM (VALUES ('day:1:1:1:1'::retention.activity), ('week:1:1:1:1')) v(a);
SELECT 'day:1:2:1'::retention.activity;
SELECT 'day:1:2:1:1x'::retention.activity;
SELECT 'day:1:2:1:110'::retention.activity;
SELECT 'day:5:2:1:1'::retention.activity;
SELECT retention.activity_rate_final('{1,2,3}'::bigint[]);
SELECT retention.activity_cohort_final('{1,2,3}'::bigint[]);
SELECT retention.cohort_matrix(a, 'recurring')
  FROM (SELECT user_id, retention.user_activity(ts, 'day', event_type = 'purchase', true) AS a FROM ev GROUP BY user_id) u;
SELECT retention.cohort_matrix(a, 'classic') FROM (VALUES ('day:1:1:1:1'::retention.activity), ('week:1:1:1:1')) v(a);
SELECT retention.cohort_matrix(a, 'classic') FROM (VALUES ('day:1:1:1:1'::retention.activity), ('day:5000:5000:5000:1')) v(a);
SELECT * FROM retention.cohort_table('ev', 'day', start_event => 'purchase');
SELECT * FROM retention.cohort_table('ev', 'day', recurring => true, event_column => 'event_type', start_event => 'purchase');
SELECT retention.cohort_matrix(user_id, ts, 'day', 'sideways', true, true) FROM ev;
SELECT * FROM retention.cohort_table('no_such_table');
SELECT retention.cohort_matrix(1, ts, 'day', 'classic', true, true)
  FROM (VALUES ('1900-01-01'::timestamptz), ('2024-01-01')) v(ts);
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '0 days') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '-1 hour') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '1 month -40 days') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, ts, -1, '1 day') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '1 day') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, '2024-01-02', ts, 1, '1 day') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, 'infinity', 1, '1 day') FROM rolling_ev;
SELECT retention.rolling_retention('rolling_ev', -1, '1 day');
SELECT retention.rolling_retention('rolling_ev', 1, '1 month -40 days');
SELECT retention.rolling_retention('rolling_ev', 1, '0 seconds');
\set VERBOSITY default
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '0 days') FROM rolling_ev;
SELECT retention.retention_rate_rolling(user_id, ts, ts, 1, '-1 mon') FROM rolling_ev;
SELECT retention.retention_rate(user_id, ts, -1) FROM ev;
SELECT retention.retention_rate(user_id, ts, 1, 'fortnight') FROM ev;
SELECT retention.retention_rate(1, ts, 1)
  FROM (VALUES ('1000-01-01'::timestamptz), ('4000-01-01')) v(ts);

DROP VIEW weekly_cohorts;
DROP TABLE ev, clicks, rolling_ev;
