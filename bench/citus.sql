-- bench/citus.sql: what crosses the network when the extension runs on a
-- Citus cluster, and the wall-clock ratio to one node.  Run by bench/citus.sh
-- on the coordinator of a 1 + 2 cluster holding events_local (on the
-- coordinator) and events (the same rows distributed by user_id).
--
-- For each query: the bytes the workers send to the coordinator (the text of
-- every row their task queries return, summed over the shards: the task
-- query is the one EXPLAIN VERBOSE shows, run on every shard), against the
-- bytes of the columns the query reads from the events (what Citus's
-- row-gather strategy would ship), and the time on the distributed table
-- over the time on the local copy (same machine, so it measures overhead and
-- the parallelism of the two workers, not a bigger cluster).
\set ON_ERROR_STOP 1
-- error: Citus warns that functions in pg_temp stay on the coordinator
SET client_min_messages = error;
SET TimeZone = 'UTC';
\pset footer off

CREATE OR REPLACE FUNCTION pg_temp.shipped_bytes(query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    task text;
    total bigint;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
        IF line ~ '^\s*Query: ' THEN
            task := regexp_replace(line, '^\s*Query: ', '');
            EXIT;
        END IF;
    END LOOP;
    IF task IS NULL THEN
        RETURN NULL;
    END IF;
    task := regexp_replace(task, 'public\.events_[0-9]+', '%s', 'g');
    SELECT sum(result::bigint) INTO total
      FROM run_command_on_shards('events',
             format('SELECT COALESCE(sum(pg_catalog.octet_length(t::text)), 0) FROM (%s) t', task));
    RETURN total;
END
$$;

CREATE OR REPLACE FUNCTION pg_temp.elapsed_ms(query text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE query;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

CREATE TEMP TABLE cases (name text, query text, columns text);
INSERT INTO cases VALUES
('retention_rate(user_id, ts, 7, ''day'')', $q$SELECT retention.retention_rate(user_id, ts, 7, 'day') FROM %s$q$, 'user_id, ts'),
('retention_rate_unbounded(user_id, ts, 2, ''week'')', $q$SELECT retention.retention_rate_unbounded(user_id, ts, 2, 'week') FROM %s$q$, 'user_id, ts'),
('cohort_matrix(.., ''month'', ''classic'', ..) (cohort_table)', $q$SELECT retention.cohort_matrix(user_id, ts, 'month', 'classic', true, true) FROM %s$q$, 'user_id, ts'),
('lifecycle_matrix(.., ''week'') (lifecycle)', $q$SELECT retention.lifecycle_matrix(user_id, ts, 'week') FROM %s$q$, 'user_id, ts'),
('stickiness_matrix(.., ''week'') (stickiness)', $q$SELECT retention.stickiness_matrix(user_id, ts, 'week') FROM %s$q$, 'user_id, ts'),
('retention_rate_rolling(.., 3, ''7 days'') (rolling_retention)', $q$SELECT retention.retention_rate_rolling(user_id, timestamptz '2024-01-01', ts, 3, '7 days') FROM %s$q$, 'user_id, ts'),
('two-stage: retention_rate(user_activity(..), 2)', $q$SELECT retention.retention_rate(a, 2) FROM (SELECT retention.user_activity(ts, 'week') a FROM %s GROUP BY user_id) s$q$, 'user_id, ts'),
('user_feature_values per user (user_features)', $q$SELECT user_id, retention.user_feature_values(ts, event_type, item_id::text, amount, '2024-10-01', '60 days', '30 minutes', 'view', 'click', 'cart', 'purchase', 'activity') FROM %s GROUP BY user_id$q$, 'user_id, ts, event_type, item_id, amount'),
('rfm_summary per user', $q$SELECT user_id, retention.rfm_summary(ts, amount::float8, '2024-12-31', 'day') FROM %s WHERE event_type = 'purchase' GROUP BY user_id$q$, 'user_id, ts, amount'),
('item_knn(user_id, item_id, 1, 10) over purchases', $q$SELECT retention.item_knn(user_id, item_id, 1.0, 10) FROM %s WHERE event_type = 'purchase'$q$, 'user_id, item_id'),
('funnel_user per user, then funnel_matrix (funnel)', $q$SELECT retention.funnel_matrix((f).reached, (f).seconds) FROM (SELECT user_id, retention.funnel_user(ts, event_type, '{view,cart,purchase}', '7 days', 'ordered', NULL, NULL, NULL) f FROM %s GROUP BY user_id) s WHERE (f).reached > 0$q$, 'user_id, ts, event_type'),
('refresh(): per-customer summaries', $q$SELECT user_id, retention.rfm_summary(ts, amount::float8, '2024-12-31', 'week') AS at_as_of, retention.rfm_summary(ts, amount::float8, '2024-10-02', 'week') FILTER (WHERE ts <= '2024-10-02') AS at_cutoff, min(ts) <= '2024-10-02' AS known_at_cutoff, bool_and(ts <= '2024-10-02') AS churned, count(*) AS purchases FROM %s WHERE event_type = 'purchase' GROUP BY user_id$q$, 'user_id, ts, amount, event_type'),
('refresh(): the items each customer bought', $q$SELECT user_id, item_id, min(ts) <= '2024-10-02' AS by_cutoff, max(ts) > '2024-10-02' AS after_cutoff FROM %s WHERE event_type = 'purchase' GROUP BY user_id, item_id$q$, 'user_id, item_id, ts, event_type'),
('roc_auc(score, label) over events', $q$SELECT retention.roc_auc(amount::float8, event_type = 'purchase') FROM %s$q$, 'amount, event_type');

SELECT name AS query,
       pg_size_pretty(shipped) AS shipped_to_coordinator,
       pg_size_pretty(rows_bytes) AS rows_it_reads,
       round(100.0 * shipped / rows_bytes, 3) AS shipped_pct,
       round(dist_ms::numeric / 1000, 2) AS distributed_s,
       round(local_ms::numeric / 1000, 2) AS one_node_s,
       round((dist_ms / local_ms)::numeric, 2) AS time_ratio
  FROM (SELECT c.name,
               pg_temp.shipped_bytes(format(c.query, 'events')) AS shipped,
               (SELECT sum(result::bigint) FROM run_command_on_shards('events',
                    format('SELECT sum(pg_catalog.octet_length(ROW(%s)::text)) FROM %%s', c.columns))) AS rows_bytes,
               pg_temp.elapsed_ms(format(c.query, 'events')) AS dist_ms,
               pg_temp.elapsed_ms(format(c.query, 'events_local')) AS local_ms
          FROM cases c) s;
