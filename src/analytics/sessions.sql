--------------------------------------------------------------------------
-- Sessions
--
-- A user's events split wherever the time since their previous event
-- exceeds the inactivity gap.  Window functions over the caller's table,
-- read with the caller's privileges.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sessions(
    events regclass,
    gap interval DEFAULT '30 minutes',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (user_id bigint, session_number bigint, session_start timestamptz,
               session_end timestamptz, event_count bigint, duration interval)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gap IS NULL OR gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format($q$
        SELECT u, sn, pg_catalog.min(t), pg_catalog.max(t), pg_catalog.count(*), pg_catalog.max(t) - pg_catalog.min(t)
          FROM (SELECT u, t, pg_catalog.sum(starts) OVER (PARTITION BY u ORDER BY t ROWS UNBOUNDED PRECEDING) AS sn
                  FROM (SELECT %1$I::bigint AS u, %2$I AS t,
                               CASE WHEN %2$I - pg_catalog.lag(%2$I) OVER (PARTITION BY %1$I ORDER BY %2$I) <= $1
                                    THEN 0 ELSE 1 END AS starts
                          FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL) marked) numbered
         GROUP BY u, sn
         ORDER BY u, sn $q$, user_column, time_column, events)
    USING gap;
END
$$;

COMMENT ON FUNCTION @extschema@.sessions(regclass, interval, name, name) IS
'sessions of every user: a new session starts when more than gap (default 30 minutes) passed since the user''s previous event; number, start, end, event count and duration';

CREATE FUNCTION @extschema@.session_summary(
    events regclass,
    gap interval DEFAULT '30 minutes',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (user_id bigint, sessions bigint, total_duration interval,
               avg_duration interval, avg_events_per_session float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.user_id, pg_catalog.count(*), pg_catalog.sum(s.duration), pg_catalog.avg(s.duration),
           pg_catalog.avg(s.event_count)::float8
      FROM @extschema@.sessions(events, gap, user_column, time_column) AS s
     GROUP BY s.user_id
     ORDER BY s.user_id
$$;

COMMENT ON FUNCTION @extschema@.session_summary(regclass, interval, name, name) IS
'per user: number of sessions, total and average session duration, average events per session';
