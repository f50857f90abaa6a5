-- pgTAP: user paths against a plain-SQL formulation written differently
-- (LATERAL ... ORDER BY ... LIMIT over a unique row id instead of
-- row_number), on seeded random events with ties in time, repeated anchors,
-- NULL event types and users without the anchor event.
BEGIN;
SELECT plan(12);

SET TimeZone = 'UTC';
SELECT setseed(0.15);
CREATE TABLE path_events (id bigserial, user_id bigint, event_type text, ts timestamptz);
INSERT INTO path_events (user_id, event_type, ts)
SELECT (random() * 400)::bigint,
       CASE WHEN random() < 0.03 THEN NULL
            ELSE (ARRAY['home', 'search', 'view', 'view', 'cart', 'buy'])[1 + (random() * 5.999)::int] END,
       timestamptz '2024-01-01' + (random() * 2000)::int * interval '1 minute'   -- many ties
  FROM generate_series(1, 6000);
ANALYZE path_events;

-- the order: time, then event type in byte order (NULL last), then the row
CREATE FUNCTION plain_paths(anchor text, dir text, k int, lo timestamptz, hi timestamptz)
RETURNS TABLE (path text[], users bigint, share float8) LANGUAGE sql STABLE AS $$
  WITH a AS (
    SELECT DISTINCT ON (user_id) user_id, ts, event_type COLLATE "C" AS ev, id
      FROM path_events
     WHERE event_type = anchor AND (lo IS NULL OR ts >= lo) AND (hi IS NULL OR ts < hi)
     ORDER BY user_id, ts, event_type COLLATE "C", id),
  p AS (
    SELECT a.user_id,
           ARRAY(SELECT x.event_type FROM path_events x
                  WHERE x.user_id = a.user_id
                    AND CASE WHEN dir = 'next'
                             THEN (x.ts, coalesce(x.event_type COLLATE "C", E'\uFFFF'), x.id) > (a.ts, a.ev, a.id)
                             ELSE (x.ts, coalesce(x.event_type COLLATE "C", E'\uFFFF'), x.id) < (a.ts, a.ev, a.id) END
                  ORDER BY CASE WHEN dir = 'next' THEN x.ts END,
                           CASE WHEN dir = 'next' THEN x.event_type COLLATE "C" END,
                           CASE WHEN dir = 'next' THEN x.id END,
                           CASE WHEN dir <> 'next' THEN x.ts END DESC,
                           CASE WHEN dir <> 'next' THEN x.event_type COLLATE "C" END DESC,
                           CASE WHEN dir <> 'next' THEN x.id END DESC
                  LIMIT k) AS path
      FROM a)
  SELECT path, count(*), count(*)::float8 / (SELECT count(*) FROM a) FROM p GROUP BY path $$;

CREATE FUNCTION path_mismatches(anchor text, dir text, k int, lo timestamptz DEFAULT NULL, hi timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (
    SELECT * FROM retention.paths('path_events', anchor, dir, k, date_from => lo, date_to => hi) g
      FULL JOIN plain_paths(anchor, dir, k, lo, hi) e ON e.path = g.path
     WHERE e.path IS NULL OR g.path IS NULL OR e.users <> g.users OR abs(e.share - g.share) > 1e-12) d $$;

SELECT is(path_mismatches('view', 'next', 1), 0::bigint, 'next event after the first view');
SELECT is(path_mismatches('view', 'next', 3), 0::bigint, 'next three events after the first view');
SELECT is(path_mismatches('cart', 'previous', 2), 0::bigint, 'two events before the first cart, nearest first');
SELECT is(path_mismatches('buy', 'previous', 5), 0::bigint, 'five events before the first buy');
SELECT is(path_mismatches('home', 'next', 4, '2024-01-01 06:00', '2024-01-01 20:00'), 0::bigint,
          'with a date range for the anchor');
SELECT is((SELECT sum(users) FROM retention.paths('path_events', 'search')),
          (SELECT count(DISTINCT user_id) FROM path_events WHERE event_type = 'search')::numeric,
          'every user with the event has one path');
SELECT is((SELECT path FROM retention.paths('path_events', 'view', 'next', 2) LIMIT 1),
          (SELECT path FROM plain_paths('view', 'next', 2, NULL, NULL) ORDER BY users DESC, path LIMIT 1),
          'the most frequent path comes first');

-- edge cases
SELECT is_empty($$SELECT * FROM retention.paths('path_events', 'no such event')$$, 'an event nobody did: no paths');
CREATE TABLE path_tiny (user_id bigint, event_type text, ts timestamptz);
INSERT INTO path_tiny VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01'), (2, 'a', '2024-01-01'), (2, 'c', '2024-01-02');
SELECT results_eq($$SELECT path, users FROM retention.paths('path_tiny', 'a', 'next', 3)$$,
                  $$VALUES ('{}'::text[], 1::bigint), ('{b,c}', 1)$$,
                  'the last event gives {}; a tie sorts by type (a before b)');
SELECT throws_ok($$SELECT * FROM retention.paths('path_tiny', 'a', 'sideways')$$, '22023', NULL, 'unknown direction');
SELECT throws_ok($$SELECT * FROM retention.paths('path_tiny', 'a', 'next', 0)$$, '22023', NULL, 'depth 0');

CREATE ROLE path_reader;
GRANT USAGE ON SCHEMA retention TO path_reader;
GRANT SELECT ON path_tiny TO path_reader;
SET ROLE path_reader;
SELECT is((SELECT sum(users) FROM retention.paths('path_tiny', 'a', 'previous')), 2::numeric,
          'a role with USAGE only reads paths of its own table');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
