-- pgTAP: breakdowns, date ranges, time zones and complete periods of
-- cohort_table, lifecycle and stickiness, against plain-SQL formulations
-- written from the definitions (periods from date_trunc on local time,
-- breakdown values from each user's first event) on seeded random events
-- that straddle both 2024 DST changes of Europe/Berlin, with NULL, missing
-- and unknown breakdown values.
BEGIN;
SELECT plan(21);

SET TimeZone = 'UTC';
SELECT setseed(0.42);
CREATE TABLE sh_events (user_id bigint, event_type text, ts timestamptz, properties jsonb, plan text);
INSERT INTO sh_events
SELECT u, (ARRAY['view', 'cart', 'buy'])[1 + (random() * 2.999)::int],
       -- around the spring change (31 March) and the autumn change (27 October),
       -- many of them within an hour or two of local midnight
       CASE WHEN random() < 0.5 THEN timestamptz '2024-03-24 00:00+00' ELSE timestamptz '2024-10-20 00:00+00' END
         + (random() * 14)::int * interval '1 day' + (20 + random() * 6) * interval '1 hour',
       CASE (random() * 4)::int WHEN 0 THEN '{"src": "ads"}' WHEN 1 THEN '{"src": "mail"}'
                                WHEN 2 THEN '{"src": null}' WHEN 3 THEN '{}' ELSE NULL END::jsonb,
       CASE WHEN random() < 0.2 THEN NULL WHEN random() < 0.5 THEN 'free' ELSE 'pro' END
  FROM (SELECT (random() * 300)::bigint AS u FROM generate_series(1, 4000)) x;
ANALYZE sh_events;

-- the breakdown value of each user: on their first event (ties: least in
-- byte order, NULL last), NULL for missing keys and JSON nulls
CREATE FUNCTION plain_brk(key text) RETURNS TABLE (user_id bigint, b text) LANGUAGE sql STABLE AS $$
  SELECT DISTINCT ON (user_id) user_id,
         CASE key WHEN 'plan' THEN plan ELSE properties ->> key END
    FROM sh_events
   ORDER BY user_id, ts, CASE key WHEN 'plan' THEN plan ELSE properties ->> key END COLLATE "C" NULLS LAST $$;

CREATE FUNCTION plain_cohorts(period text, tz text, key text, lo timestamptz, hi timestamptz)
RETURNS TABLE (b text, cohort_start date, cohort_size bigint, period_number int, retained bigint,
               rate float8, complete boolean)
LANGUAGE sql STABLE AS $$
  WITH ev AS (SELECT * FROM sh_events WHERE (lo IS NULL OR ts >= lo) AND (hi IS NULL OR ts < hi)),
       brk AS (SELECT DISTINCT ON (user_id) user_id,
                      CASE key WHEN 'plan' THEN plan WHEN 'none' THEN NULL ELSE properties ->> key END AS b
                 FROM ev ORDER BY user_id, ts,
                      CASE key WHEN 'plan' THEN plan WHEN 'none' THEN NULL ELSE properties ->> key END COLLATE "C" NULLS LAST),
       act AS (SELECT DISTINCT user_id, date_trunc(period, ts AT TIME ZONE tz)::date AS p FROM ev),
       coh AS (SELECT user_id, min(p) AS c FROM act GROUP BY 1),
       lim AS (SELECT date_trunc(period, max(ts) AT TIME ZONE tz)::date AS last,
                      coalesce(lo, min(ts)) AS dlo, coalesce(hi, max(ts)) AS dhi FROM ev),
       sizes AS (SELECT brk.b, coh.c, count(*) AS n FROM coh JOIN brk USING (user_id) GROUP BY 1, 2),
       cells AS (SELECT s.b, s.c, s.n, g.d::date AS d, (g.k - 1)::int AS k
                   FROM sizes s, lim, generate_series(s.c::timestamp, lim.last::timestamp, ('1 ' || period)::interval)
                        WITH ORDINALITY g(d, k)),
       kept AS (SELECT brk.b, coh.c, act.p, count(*) AS r
                  FROM coh JOIN brk USING (user_id) JOIN act USING (user_id) GROUP BY 1, 2, 3)
  SELECT cells.b, cells.c, cells.n, cells.k, coalesce(kept.r, 0), coalesce(kept.r, 0)::float8 / cells.n,
         (cells.d::timestamp AT TIME ZONE tz) >= lim.dlo
           AND ((cells.d + ('1 ' || period)::interval)::timestamp AT TIME ZONE tz) <= lim.dhi
    FROM lim, cells LEFT JOIN kept ON kept.b IS NOT DISTINCT FROM cells.b AND kept.c = cells.c AND kept.p = cells.d $$;

CREATE FUNCTION cohort_mismatches(period text, tz text, key text, lo timestamptz DEFAULT NULL, hi timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (
    (SELECT * FROM retention.cohort_table('sh_events', period, breakdown_by => nullif(key, 'none'),
                                          date_from => lo, date_to => hi, time_zone => tz)
     EXCEPT ALL SELECT * FROM plain_cohorts(period, tz, key, lo, hi))
    UNION ALL
    (SELECT * FROM plain_cohorts(period, tz, key, lo, hi)
     EXCEPT ALL SELECT * FROM retention.cohort_table('sh_events', period, breakdown_by => nullif(key, 'none'),
                                                     date_from => lo, date_to => hi, time_zone => tz))) d $$;

SELECT is(cohort_mismatches('day', 'Europe/Berlin', 'src'), 0::bigint,
          'daily cohorts in Berlin across both DST changes, broken down by a properties key');
SELECT is(cohort_mismatches('week', 'Europe/Berlin', 'plan'), 0::bigint, 'weekly cohorts broken down by a column');
SELECT is(cohort_mismatches('month', 'America/New_York', 'src'), 0::bigint, 'monthly cohorts in New York');
SELECT is(cohort_mismatches('day', 'Asia/Kolkata', 'none'), 0::bigint, 'daily cohorts in a half-hour zone, no breakdown');
SELECT is(cohort_mismatches('day', 'Europe/Berlin', 'src', '2024-03-27 00:00+01', '2024-10-25 00:00+02'), 0::bigint,
          'daily cohorts within a date range (complete up to date_to)');
SELECT is(cohort_mismatches('week', 'UTC', 'src', '2024-03-25 00:00+00', NULL), 0::bigint, 'weekly cohorts from date_from');
SELECT is((SELECT count(DISTINCT breakdown) FROM retention.cohort_table('sh_events', 'week', breakdown_by => 'src')),
          2::bigint, 'NULL, JSON null and a missing key are one group (not counted by count DISTINCT)');
SELECT ok((SELECT bool_or(breakdown IS NULL) FROM retention.cohort_table('sh_events', 'week', breakdown_by => 'src')),
          'the NULL group is there');
SELECT is(current_setting('TimeZone'), 'UTC', 'the session time zone is unchanged after time_zone => ...');

-- lifecycle and stickiness per breakdown group
CREATE FUNCTION plain_lifecycle(period text, tz text, key text)
RETURNS TABLE (b text, p date, n bigint, r bigint, s bigint, d bigint, complete boolean)
LANGUAGE sql STABLE AS $$
  WITH brk AS (SELECT * FROM plain_brk(key)),
       a AS (SELECT DISTINCT e.user_id, brk.b, date_trunc(period, e.ts AT TIME ZONE tz)::date AS p
               FROM sh_events e JOIN brk USING (user_id)),
       first AS (SELECT user_id, min(p) AS f FROM a GROUP BY 1),
       lim AS (SELECT min(ts) AS lo, max(ts) AS hi FROM sh_events),
       periods AS (SELECT b, g::date AS p, (g - ('1 ' || period)::interval)::date AS q
                     FROM (SELECT b, min(p) AS lo, max(p) AS hi FROM a GROUP BY b) x,
                          generate_series(x.lo, x.hi, ('1 ' || period)::interval) g),
       cur AS (SELECT a.b, a.p,
                      count(*) FILTER (WHERE f.f = a.p) AS n,
                      count(*) FILTER (WHERE prev.user_id IS NOT NULL) AS r,
                      count(*) FILTER (WHERE prev.user_id IS NULL AND f.f < a.p) AS s
                 FROM a JOIN first f USING (user_id)
                 LEFT JOIN a prev ON prev.user_id = a.user_id
                      AND prev.p = (a.p - ('1 ' || period)::interval)::date
                GROUP BY 1, 2),
       gone AS (SELECT y.b, (y.p + ('1 ' || period)::interval)::date AS p, count(*) AS d
                  FROM a y LEFT JOIN a x ON x.user_id = y.user_id AND x.p = (y.p + ('1 ' || period)::interval)::date
                 WHERE x.user_id IS NULL GROUP BY 1, 2)
  SELECT pr.b, pr.p, coalesce(cur.n, 0), coalesce(cur.r, 0), coalesce(cur.s, 0), -coalesce(gone.d, 0),
         (pr.p::timestamp AT TIME ZONE tz) >= lim.lo AND ((pr.p + ('1 ' || period)::interval)::timestamp AT TIME ZONE tz) <= lim.hi
    FROM lim, periods pr
    LEFT JOIN cur ON cur.b IS NOT DISTINCT FROM pr.b AND cur.p = pr.p
    LEFT JOIN gone ON gone.b IS NOT DISTINCT FROM pr.b AND gone.p = pr.p $$;

SELECT set_eq($$SELECT * FROM retention.lifecycle('sh_events', 'day', breakdown_by => 'src', time_zone => 'Europe/Berlin')$$,
              $$SELECT * FROM plain_lifecycle('day', 'Europe/Berlin', 'src')$$,
              'daily lifecycle in Berlin by a properties key');
SELECT set_eq($$SELECT * FROM retention.lifecycle('sh_events', 'week', breakdown_by => 'plan', time_zone => 'America/New_York')$$,
              $$SELECT * FROM plain_lifecycle('week', 'America/New_York', 'plan')$$,
              'weekly lifecycle in New York by a column');

CREATE FUNCTION plain_stickiness(period text, tz text, key text)
RETURNS TABLE (b text, p date, k int, n bigint, share float8, complete boolean)
LANGUAGE sql STABLE AS $$
  WITH brk AS (SELECT * FROM plain_brk(key)),
       days AS (SELECT e.user_id, brk.b, date_trunc(period, e.ts AT TIME ZONE tz)::date AS p,
                       count(DISTINCT (e.ts AT TIME ZONE tz)::date)::int AS k
                  FROM sh_events e JOIN brk USING (user_id) GROUP BY 1, 2, 3),
       lim AS (SELECT min(ts) AS lo, max(ts) AS hi FROM sh_events)
  SELECT b, p, k, count(*), count(*)::float8 / sum(count(*)) OVER (PARTITION BY b, p),
         (p::timestamp AT TIME ZONE tz) >= min(lim.lo) AND ((p + ('1 ' || period)::interval)::timestamp AT TIME ZONE tz) <= min(lim.hi)
    FROM days, lim GROUP BY b, p, k $$;

SELECT set_eq($$SELECT breakdown, period_start, active_days, users, round(share::numeric, 12), complete
                  FROM retention.stickiness('sh_events', 'week', breakdown_by => 'src', time_zone => 'Europe/Berlin')$$,
              $$SELECT b, p, k, n, round(share::numeric, 12), complete FROM plain_stickiness('week', 'Europe/Berlin', 'src')$$,
              'weekly stickiness in Berlin by a properties key');
SELECT set_eq($$SELECT breakdown, period_start, active_days, users, complete
                  FROM retention.stickiness('sh_events', 'month', breakdown_by => 'plan', time_zone => 'UTC')$$,
              $$SELECT b, p, k, n, complete FROM plain_stickiness('month', 'UTC', 'plan')$$,
              'monthly stickiness by a column');

-- the complete flag on a hand-made case: data from Tuesday 2 April 10:00 to
-- Monday 15 April 09:00 (UTC): only the week of 8 April is complete
CREATE TABLE sh_tiny (user_id bigint, ts timestamptz);
INSERT INTO sh_tiny VALUES (1, '2024-04-02 10:00+00'), (1, '2024-04-09 10:00+00'), (2, '2024-04-15 09:00+00');
SELECT results_eq($$SELECT period_start, complete FROM retention.stickiness('sh_tiny', 'week', time_zone => 'UTC')$$,
                  $$VALUES ('2024-04-01'::date, false), ('2024-04-08', true), ('2024-04-15', false)$$,
                  'complete: only the week wholly inside the data');
SELECT results_eq($$SELECT period_number, complete FROM retention.cohort_table('sh_tiny', 'week', time_zone => 'UTC',
                                                                                   date_from => '2024-04-01 00:00+00')
                     WHERE cohort_start = '2024-04-01'$$,
                  $$VALUES (0, true), (1, true), (2, false)$$,
                  'with date_from at the week''s start the first week is complete');

-- empty input, an empty range, hostile arguments
SELECT is_empty($$SELECT * FROM retention.cohort_table('sh_tiny', 'week', date_from => '2030-01-01')$$,
                'a range without events gives no cohorts');
SELECT is_empty($$SELECT * FROM retention.lifecycle('sh_tiny', 'week', breakdown_by => 'user_id', date_to => '2000-01-01')$$,
                'nor lifecycle rows');
SELECT throws_ok($$SELECT * FROM retention.lifecycle('sh_tiny', 'week', time_zone => 'Mars/Olympus')$$, '22023', NULL,
                 'an unknown time zone');
SELECT throws_ok($$SELECT * FROM retention.stickiness('sh_tiny', 'week', breakdown_by => 'x; drop table sh_tiny')$$,
                 '42703', NULL, 'a breakdown that is no column and no properties key (the table has no properties)');
SELECT throws_ok($$SELECT * FROM retention.cohort_table('sh_tiny', 'fortnight')$$, '22023', NULL, 'an unknown period');

CREATE ROLE sh_reader;
GRANT USAGE ON SCHEMA retention TO sh_reader;
GRANT SELECT ON sh_events TO sh_reader;
SET ROLE sh_reader;
SELECT is((SELECT sum(new_users) FROM retention.lifecycle('sh_events', 'week', breakdown_by => 'src',
                                                           time_zone => 'Europe/Berlin'))::bigint,
          (SELECT count(DISTINCT user_id) FROM sh_events), 'a role with USAGE only: every user new once');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
