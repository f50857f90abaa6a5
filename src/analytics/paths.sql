--------------------------------------------------------------------------
-- User paths: what users do after (or before) an event
--
-- Each user's events are put in one order (time, then event type in byte
-- order, so ties are broken the same way every run); the anchor is the
-- user's first event of the given type (starting in [date_from, date_to)
-- when given), and the user's path is the next (or previous) `depth` events
-- in that order, nearest first.  Users with fewer events have a shorter
-- path; {} means the anchor was their last (first) event.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.paths(
    events regclass,
    event text,
    direction text DEFAULT 'next',
    depth integer DEFAULT 3,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (path text[], users bigint, share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    anchor_cond text := 'true';
BEGIN
    IF events IS NULL OR event IS NULL OR direction IS NULL OR depth IS NULL
       OR user_column IS NULL OR time_column IS NULL OR event_column IS NULL THEN
        RAISE EXCEPTION 'path arguments other than date_from and date_to must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.lower(direction) NOT IN ('next', 'previous') THEN
        RAISE EXCEPTION 'unknown path direction "%"', direction
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''next'' or ''previous''.';
    END IF;
    IF depth NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'path depth must be between 1 and 100, got %', depth
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF date_from IS NOT NULL THEN
        anchor_cond := pg_catalog.format('e.t OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz', date_from);
    END IF;
    IF date_to IS NOT NULL THEN
        anchor_cond := anchor_cond || pg_catalog.format(' AND e.t OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz',
                                                        date_to);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, (%3$I)::pg_catalog.text AS ev, '
        '                  pg_catalog.row_number() OVER (PARTITION BY %1$I '
        '                      ORDER BY %2$I, (%3$I)::pg_catalog.text COLLATE "C") AS pos '
        '             FROM %4$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL), '
        '     a AS (SELECT DISTINCT ON (e.u) e.u, e.pos FROM e '
        '            WHERE e.ev OPERATOR(pg_catalog.=) %5$L AND %6$s ORDER BY e.u, e.pos), '
        '     p AS (SELECT a.u, pg_catalog.array_agg(e.ev ORDER BY e.pos %7$s) AS path '
        '             FROM a JOIN e ON e.u OPERATOR(pg_catalog.=) a.u '
        '              AND e.pos BETWEEN a.pos %8$s AND a.pos %9$s '
        '            GROUP BY a.u) '
        'SELECT COALESCE(p.path, ''{}''::pg_catalog.text[]), pg_catalog.count(*), '
        '       pg_catalog.count(*)::pg_catalog.float8 '
        '       OPERATOR(pg_catalog./) pg_catalog.sum(pg_catalog.count(*)) OVER ()::pg_catalog.float8 '
        '  FROM a LEFT JOIN p ON p.u OPERATOR(pg_catalog.=) a.u '
        ' GROUP BY 1 ORDER BY 2 DESC, 1',
        user_column, time_column, event_column, events, event, anchor_cond,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN 'ASC' ELSE 'DESC' END,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN '+ 1' ELSE pg_catalog.format('- %s', depth) END,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN pg_catalog.format('+ %s', depth) ELSE '- 1' END);
END
$$;

COMMENT ON FUNCTION @extschema@.paths(regclass, text, text, integer, name, name, name, timestamptz, timestamptz) IS
'user paths: the most frequent sequences of the next (or previous) depth events after (before) each user''s first event of a type, nearest first, with the users who took each and their share';
