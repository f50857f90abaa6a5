-- pgTAP: lifecycle, stickiness, sessions, user features and RFM against
-- independent plain-SQL formulations on random data, with parallel plans.
BEGIN;
SELECT plan(22);

SELECT setseed(0.5);
SET TimeZone = 'Europe/Berlin';
CREATE TABLE shop (user_id bigint, ts timestamptz, event_type text, item_id int, amount numeric);
INSERT INTO shop
SELECT (random() * 1500)::bigint,
       timestamptz '2024-01-01 00:00+00' + (random() ^ 1.5) * interval '120 days',
       (ARRAY['view', 'view', 'view', 'click', 'cart', 'purchase'])[1 + (random() * 5.999)::int],
       (random() * 300)::int,
       round((random() * 100)::numeric, 2)
  FROM generate_series(1, 40000);
ANALYZE shop;

-- lifecycle by week: per user and week, active or not, compared with the
-- previous week
CREATE FUNCTION plain_lifecycle(period text) RETURNS TABLE (p date, n bigint, r bigint, s bigint, d bigint)
LANGUAGE sql STABLE AS $$
  WITH a AS (SELECT DISTINCT user_id, date_trunc(period, ts)::date AS p FROM shop),
       first AS (SELECT user_id, min(p) AS f FROM a GROUP BY user_id),
       periods AS (SELECT g::date AS p FROM generate_series((SELECT min(p) FROM a), (SELECT max(p) FROM a),
                                                         ('1 ' || period)::interval) g),
       prev AS (SELECT p, (p - ('1 ' || period)::interval)::date AS q FROM periods)
  SELECT prev.p,
         (SELECT count(*) FROM first WHERE f = prev.p),
         (SELECT count(*) FROM a x JOIN a y ON y.user_id = x.user_id AND y.p = prev.q WHERE x.p = prev.p),
         (SELECT count(*) FROM a x JOIN first USING (user_id)
           WHERE x.p = prev.p AND first.f < prev.p
             AND NOT EXISTS (SELECT FROM a y WHERE y.user_id = x.user_id AND y.p = prev.q)),
         -(SELECT count(*) FROM a y WHERE y.p = prev.q
             AND NOT EXISTS (SELECT FROM a x WHERE x.user_id = y.user_id AND x.p = prev.p))
    FROM prev $$;
SELECT set_eq($$SELECT period_start, new_users, returning_users, resurrecting_users, dormant_users
                 FROM retention.lifecycle('shop', 'week')$$, $$SELECT * FROM plain_lifecycle('week')$$,
              'weekly lifecycle equals plain SQL');
SELECT set_eq($$SELECT period_start, new_users, returning_users, resurrecting_users, dormant_users
                 FROM retention.lifecycle('shop', 'day')$$, $$SELECT * FROM plain_lifecycle('day')$$,
              'daily lifecycle equals plain SQL');
SELECT set_eq($$SELECT period_start, new_users, returning_users, resurrecting_users, dormant_users
                 FROM retention.lifecycle('shop', 'month')$$, $$SELECT * FROM plain_lifecycle('month')$$,
              'monthly lifecycle equals plain SQL');

SELECT is((SELECT count(*)::int FROM (VALUES ('day'), ('week'), ('month')) v(p)
            WHERE (SELECT retention.lifecycle_matrix(a) FROM
                     (SELECT user_id, retention.user_activity(ts, v.p) AS a FROM shop
                       WHERE user_id IS NOT NULL GROUP BY user_id) u)::text
                  IS DISTINCT FROM (SELECT retention.lifecycle_matrix(user_id, ts, v.p) FROM shop)::text),
          0, 'two-stage lifecycle (per-user activities) equals the one-stage aggregate');

-- stickiness: distinct local days per user and week or month
CREATE FUNCTION plain_stickiness(period text) RETURNS TABLE (p date, k int, users bigint)
LANGUAGE sql STABLE AS $$
  SELECT p, k::int, count(*) FROM
    (SELECT user_id, date_trunc(period, ts)::date AS p, count(DISTINCT date_trunc('day', ts)) AS k
       FROM shop GROUP BY 1, 2) s
   GROUP BY p, k $$;
SELECT set_eq($$SELECT period_start, active_days, users FROM retention.stickiness('shop', 'week')$$,
              $$SELECT * FROM plain_stickiness('week')$$, 'weekly stickiness equals plain SQL');
SELECT set_eq($$SELECT period_start, active_days, users FROM retention.stickiness('shop', 'month')$$,
              $$SELECT * FROM plain_stickiness('month')$$, 'monthly stickiness equals plain SQL');

SELECT is((SELECT count(*)::int FROM (VALUES ('week'), ('month')) v(p)
            WHERE (SELECT retention.stickiness_matrix(a, v.p) FROM
                     (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM shop
                       WHERE user_id IS NOT NULL GROUP BY user_id) u)::text
                  IS DISTINCT FROM (SELECT retention.stickiness_matrix(user_id, ts, v.p) FROM shop)::text),
          0, 'two-stage stickiness (per-user daily activities) equals the one-stage aggregate');

-- sessions: an event starts a session when no event of the same user lies
-- within the gap before it (a self-join, not window functions)
SELECT is((SELECT count(*) FROM retention.sessions('shop', '2 hours')),
          (SELECT count(*) FROM shop e
            WHERE NOT EXISTS (SELECT FROM shop p WHERE p.user_id = e.user_id
                                AND p.ts < e.ts AND p.ts >= e.ts - interval '2 hours')
              AND NOT EXISTS (SELECT FROM shop p WHERE p.user_id = e.user_id AND p.ts = e.ts AND p.ctid < e.ctid)),
          'number of 2-hour sessions equals the events with no predecessor within 2 hours');
SELECT is((SELECT sum(event_count)::bigint FROM retention.sessions('shop')), (SELECT count(*) FROM shop),
          'sessions cover every event once');
SELECT is((SELECT count(*)::int FROM retention.sessions('shop', '6 hours') s
            WHERE s.duration <> s.session_end - s.session_start OR s.session_start > s.session_end),
          0, 'durations are end minus start');

-- user features against direct aggregates, as of 2024-03-01 (spend is
-- summed in double precision, hence the tolerance)
CREATE TEMP TABLE feats AS SELECT * FROM retention.user_features('shop', '2024-03-01 00:00+01', '21 days');
SELECT is((SELECT count(*) FROM feats), (SELECT count(DISTINCT user_id) FROM shop WHERE ts <= '2024-03-01 00:00+01'),
          'one row per user active before the cutoff');
SELECT is((SELECT count(*)::int FROM feats f JOIN
             (SELECT user_id, count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
                     count(*) FILTER (WHERE event_type = 'view') AS views,
                     count(DISTINCT ts::date) AS days,
                     sum(amount) FILTER (WHERE event_type = 'purchase') AS spend,
                     count(DISTINCT item_id) AS items,
                     extract(epoch FROM timestamptz '2024-03-01 00:00+01' - max(ts)) / 86400 AS recency
                FROM shop WHERE ts <= '2024-03-01 00:00+01' GROUP BY user_id) d USING (user_id)
            WHERE f.purchases <> d.purchases OR f.views <> d.views OR f.active_days <> d.days
               OR (f.total_spend IS NULL) <> (d.spend IS NULL) OR abs(f.total_spend - d.spend::float8) > 1e-6
               OR f.distinct_items <> d.items
               OR abs(f.days_since_last_event - d.recency) > 1e-9),
          0, 'purchases, views, active days, spend, items and recency equal direct aggregates');
SELECT is((SELECT count(*)::int FROM feats f
            WHERE f.churned = EXISTS (SELECT FROM shop s WHERE s.user_id = f.user_id
                                        AND s.ts > '2024-03-01 00:00+01' AND s.ts <= '2024-03-22 00:00+01')),
          0, 'churned means no event in the 21 days after the cutoff');
SELECT is((SELECT count(*)::int FROM feats
            WHERE array_length(features, 1) <> 17 OR array_position(features, NULL) IS NOT NULL
               OR features[1] <> days_since_last_event OR features[3] <> purchases OR features[10] <> views),
          0, 'feature arrays: 17 values, no NULLs, in user_feature_names() order');

-- RFM over the purchases: quintiles of 1,500-odd customers
CREATE TEMP TABLE scores AS SELECT * FROM retention.rfm('shop', '2024-05-01', event_column => 'event_type');
SELECT ok((SELECT max(c) - min(c) <= 1 FROM (SELECT r_score, count(*) AS c FROM scores GROUP BY r_score) s),
          'recency quintiles hold equal numbers of customers (within one)');
SELECT is((SELECT count(*)::int FROM scores a JOIN scores b ON a.recency_days < b.recency_days
            WHERE a.r_score < b.r_score), 0, 'more recent customers never get a lower recency score');
SELECT is((SELECT count(*)::int FROM scores a JOIN scores b ON a.frequency > b.frequency
            WHERE a.f_score < b.f_score), 0, 'more frequent customers never get a lower frequency score');

-- parallel plans: lifecycle and stickiness matrices as without workers
ALTER TABLE shop SET (parallel_workers = 2);
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS
SELECT retention.lifecycle_matrix(user_id, ts, 'week') AS l, retention.stickiness_matrix(user_id, ts, 'week') AS s FROM shop;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || q LOOP plan := plan || line || E'\n'; END LOOP;
  RETURN plan;
END $$;
SELECT matches(plan_of($$SELECT retention.lifecycle_matrix(user_id, ts, 'week') FROM shop$$),
               'Gather.*Partial Aggregate', 'the lifecycle plan is parallel');
SELECT is((SELECT ARRAY[retention.lifecycle_matrix(user_id, ts, 'week')::text, retention.stickiness_matrix(user_id, ts, 'week')::text] FROM shop),
          (SELECT ARRAY[l::text, s::text] FROM serial), 'lifecycle and stickiness: parallel equals serial');

-- the feature aggregate's partial states cross from workers to the leader
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_features AS SELECT * FROM retention.user_features('shop', '2024-03-01 00:00+01');
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
SELECT matches(plan_of($$SELECT user_id, retention.user_feature_values(ts, event_type, item_id::text, amount,
                          '2024-03-01', '30 days', '30 minutes', 'view', 'click', 'cart', 'purchase', 'activity')
                          FROM shop GROUP BY user_id$$),
               'Gather.*Partial GroupAggregate', 'the feature aggregate plan is parallel');
SELECT set_eq($$SELECT * FROM retention.user_features('shop', '2024-03-01 00:00+01')$$,
              $$SELECT * FROM serial_features$$, 'user features: parallel equals serial');

-- spend is exact whatever the amounts: as PostgreSQL's numeric sum gives
-- it, then converted to float8 (scales past 18 digits, sums past 64 and
-- 128 bits, a thousand cents, mixed scales, NaN)
CREATE TEMP TABLE spend_ev (user_id bigint, ts timestamptz, event_type text, item_id bigint, amount numeric);
INSERT INTO spend_ev
SELECT u, timestamptz '2024-02-01 00:00+00' + i * interval '1 minute', 'purchase', i, a
  FROM (VALUES (1, 1, 0.1), (1, 2, 0.2), (1, 3, 0.300000000000000000001),
               (2, 1, 1e30), (2, 2, -1e30), (2, 3, 0.5),
               (3, 1, 12.345), (3, 2, 7.6550), (3, 3, -3),
               (4, 1, 99999999999999999.99), (4, 2, 99999999999999999.99),
               (5, 1, 'NaN'), (5, 2, 1),
               (7, 1, 1e37), (7, 2, 1e37), (7, 3, 0.000000000000000001)) v(u, i, a)
UNION ALL SELECT 6, timestamptz '2024-02-01 00:00+00' + i * interval '1 second', 'purchase', i, 0.01
  FROM generate_series(1, 1000) i;
SELECT is((SELECT count(*)::int FROM retention.user_features('spend_ev', '2024-03-01 00:00+00') f
             FULL JOIN (SELECT user_id, sum(amount)::float8 AS spend FROM spend_ev GROUP BY user_id) d USING (user_id)
            WHERE f.total_spend IS DISTINCT FROM d.spend),
          0, 'total spend equals numeric''s own sum of the amounts, converted once, for awkward amounts');

SELECT * FROM finish();
ROLLBACK;
