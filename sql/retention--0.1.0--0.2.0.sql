/* retention--0.1.0--0.2.0.sql: update a 0.1.0 installation to 0.2.0.
 *
 * Every change to the extension's SQL made for 0.2.0 is here too, in the
 * commit that makes it; test/upgrade/upgrade.sh checks that an updated
 * database holds exactly the objects of a fresh 0.2.0 install. */

\echo Use "ALTER EXTENSION retention UPDATE TO '0.2.0'" to load this file. \quit

-- Funnels (issue 15): src/analytics/funnel.sql

--------------------------------------------------------------------------
-- Funnels
--
-- Two stages, so that a funnel over a distributed table runs per user
-- where the user's rows live:
--   stage one, funnel_user(...) grouped by user: how far the user got
--   (a retention.funnel_progress), with the times of the earliest attempt
--   that got there and its first event's breakdown value;
--   stage two, funnel_matrix(reached, seconds) grouped by breakdown: users
--   per step and the exact median time between steps, with a state of its
--   own type (retention.funnel_stats, text I/O) that can be combined.
-- funnel() and funnel_dropoffs() run both over a table.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.breakdown_sql(events regclass, breakdown_by name)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    props regtype;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                WHERE attrelid = events AND attname = breakdown_by AND attnum > 0 AND NOT attisdropped) THEN
        RETURN pg_catalog.format('(%I)::pg_catalog.text', breakdown_by);
    END IF;
    SELECT atttypid::regtype INTO props FROM pg_catalog.pg_attribute
     WHERE attrelid = events AND attname = 'properties' AND attnum > 0 AND NOT attisdropped;
    IF props IN ('jsonb'::regtype, 'json'::regtype) THEN
        RETURN pg_catalog.format('(properties OPERATOR(pg_catalog.->>) %L)', breakdown_by);
    END IF;
    RAISE EXCEPTION 'breakdown "%" is neither a column of % nor a key of a json properties column', breakdown_by, events
        USING ERRCODE = 'undefined_column',
              HINT = 'Name a column of the table, or a key of its properties column (jsonb).';
END
$$;

COMMENT ON FUNCTION @extschema@.breakdown_sql(regclass, name) IS
'the SQL expression (as text) of a breakdown: the column of that name cast to text, else the key of that name in the table''s properties jsonb column';

CREATE TYPE @extschema@.funnel_progress AS (
    reached integer,
    started timestamptz,
    breakdown text,
    seconds float8[]
);

COMMENT ON TYPE @extschema@.funnel_progress IS
'how far one user got in a funnel: the furthest step reached, when its earliest attempt started, that attempt''s breakdown value, and the seconds from each step to the next (element 1 NULL)';

CREATE FUNCTION @extschema@.funnel_user_trans(internal, timestamptz, text, text[], interval, text, text,
                                              timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_trans(internal, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'transition function of funnel_user: keeps the user''s events that matter to the funnel';

CREATE FUNCTION @extschema@.funnel_user_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_combine(internal, internal) IS
'combine function of funnel_user: unites the events of two partial states';

CREATE FUNCTION @extschema@.funnel_user_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_user_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_serialize(internal) IS
'serialisation function of funnel_user';

CREATE FUNCTION @extschema@.funnel_user_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_deserialize(bytea, internal) IS
'deserialisation function of funnel_user; validates what it reads';

-- STABLE: the window is added to timestamps in the session time zone
CREATE FUNCTION @extschema@.funnel_user_final(internal)
RETURNS @extschema@.funnel_progress
AS 'MODULE_PATHNAME', 'funnel_user_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_final(internal) IS
'final function of funnel_user: the furthest step, the earliest attempt that reached it and its breakdown';

CREATE AGGREGATE @extschema@.funnel_user(ts timestamptz, event text, steps text[], conversion_window interval,
                                         mode text, breakdown text, date_from timestamptz, date_to timestamptz) (
    SFUNC = @extschema@.funnel_user_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.funnel_user_final,
    COMBINEFUNC = @extschema@.funnel_user_combine,
    SERIALFUNC = @extschema@.funnel_user_serialize,
    DESERIALFUNC = @extschema@.funnel_user_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_user(timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'stage one of a funnel, grouped by user: how far the user got through steps (mode ''ordered'', ''strict'' or ''unordered'') within conversion_window, starting in [date_from, date_to) (NULL: unbounded), as a retention.funnel_progress';

CREATE TYPE @extschema@.funnel_stats;

CREATE FUNCTION @extschema@.funnel_stats_in(cstring)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_stats_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_in(cstring) IS
'input function of retention.funnel_stats: nsteps|users at furthest step 1,2,...|step:seconds,...';

CREATE FUNCTION @extschema@.funnel_stats_out(@extschema@.funnel_stats)
RETURNS cstring
AS 'MODULE_PATHNAME', 'funnel_stats_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_out(@extschema@.funnel_stats) IS
'output function of retention.funnel_stats';

CREATE FUNCTION @extschema@.funnel_stats_recv(internal)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_stats_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_recv(internal) IS
'binary input function of retention.funnel_stats';

CREATE FUNCTION @extschema@.funnel_stats_send(@extschema@.funnel_stats)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_stats_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_send(@extschema@.funnel_stats) IS
'binary output function of retention.funnel_stats';

CREATE TYPE @extschema@.funnel_stats (
    INPUT = @extschema@.funnel_stats_in,
    OUTPUT = @extschema@.funnel_stats_out,
    RECEIVE = @extschema@.funnel_stats_recv,
    SEND = @extschema@.funnel_stats_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.funnel_stats IS
'partial funnel summary: users per furthest step and every step-to-step duration (for exact medians)';

CREATE FUNCTION @extschema@.funnel_matrix_trans(@extschema@.funnel_stats, integer, float8[])
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_matrix_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_trans(@extschema@.funnel_stats, integer, float8[]) IS
'transition function of funnel_matrix: counts a user at their furthest step and keeps their durations';

CREATE FUNCTION @extschema@.funnel_matrix_combine(@extschema@.funnel_stats, @extschema@.funnel_stats)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_matrix_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_combine(@extschema@.funnel_stats, @extschema@.funnel_stats) IS
'combine function of funnel_matrix: adds the counts and unites the durations';

CREATE FUNCTION @extschema@.funnel_matrix_final(@extschema@.funnel_stats)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'funnel_matrix_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_final(@extschema@.funnel_stats) IS
'final function of funnel_matrix: per step {users at the step or further, conversion rate, median seconds from the previous step}';

CREATE AGGREGATE @extschema@.funnel_matrix(reached integer, seconds float8[]) (
    SFUNC = @extschema@.funnel_matrix_trans,
    STYPE = @extschema@.funnel_stats,
    FINALFUNC = @extschema@.funnel_matrix_final,
    COMBINEFUNC = @extschema@.funnel_matrix_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_matrix(integer, float8[]) IS
'stage two of a funnel over funnel_user results ((p).reached, (p).seconds): a float8[steps][3] of {users at the step or further, conversion rate from step 1, median seconds from the previous step as percentile_cont(0.5)}; unpack with funnel_rows';

CREATE FUNCTION @extschema@.funnel_rows(matrix float8[], steps text[])
RETURNS TABLE (step integer, event_type text, users bigint, conversion_rate float8,
               median_seconds_from_previous float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT k, steps[k],
           COALESCE(matrix[k][1]::bigint, 0),
           matrix[k][2],
           matrix[k][3]
      FROM pg_catalog.generate_series(1, pg_catalog.cardinality(steps)) AS k
     ORDER BY k
$$;

COMMENT ON FUNCTION @extschema@.funnel_rows(float8[], text[]) IS
'the long format of a funnel_matrix: one row per step (0 users and NULL rates when the matrix is NULL)';

CREATE FUNCTION @extschema@.funnel_progress_sql(
    events regclass, steps text[], conversion_window interval, mode text, breakdown_by name,
    user_column name, time_column name, event_column name, date_from timestamptz, date_to timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conds text[] := ARRAY[pg_catalog.format('%I IS NOT NULL', time_column)];
BEGIN
    IF events IS NULL OR steps IS NULL OR conversion_window IS NULL OR mode IS NULL
       OR user_column IS NULL OR time_column IS NULL OR event_column IS NULL THEN
        RAISE EXCEPTION 'funnel arguments other than breakdown_by, date_from and date_to must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.lower(mode) NOT IN ('ordered', 'strict', 'unordered') THEN
        RAISE EXCEPTION 'unknown funnel mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''ordered'', ''strict'' or ''unordered''.';
    END IF;
    IF pg_catalog.cardinality(steps) NOT BETWEEN 1 AND 32 OR pg_catalog.array_ndims(steps) <> 1
       OR pg_catalog.array_position(steps, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a funnel needs between 1 and 32 steps, none NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF conversion_window < INTERVAL '0' THEN
        RAISE EXCEPTION 'conversion window must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a strict funnel needs every event (any event can break a sequence)
    IF pg_catalog.lower(mode) <> 'strict' THEN
        conds := conds || pg_catalog.format('(%I)::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.text[])',
                                            event_column, steps);
    END IF;
    IF date_from IS NOT NULL THEN
        conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz',
                                            time_column, date_from);
    END IF;
    -- later steps may come up to the window after the last allowed start
    IF date_to IS NOT NULL THEN
        conds := conds || pg_catalog.format(
            '%I OPERATOR(pg_catalog.<=) (%L::pg_catalog.timestamptz OPERATOR(pg_catalog.+) %L::pg_catalog.interval)',
            time_column, date_to, conversion_window);
    END IF;
    RETURN pg_catalog.format(
        'SELECT %1$I AS user_id, @extschema@.funnel_user(%2$I, (%3$I)::pg_catalog.text, %4$L::pg_catalog.text[], '
        '%5$L::pg_catalog.interval, %6$L, %7$s, %8$L::pg_catalog.timestamptz, %9$L::pg_catalog.timestamptz) AS p '
        'FROM %10$s WHERE %11$s GROUP BY %1$I',
        user_column, time_column, event_column, steps, conversion_window, mode,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.breakdown_sql(events, breakdown_by) END,
        date_from, date_to, events, pg_catalog.array_to_string(conds, ' AND '));
END
$$;

COMMENT ON FUNCTION @extschema@.funnel_progress_sql(regclass, text[], interval, text, name, name, name, name, timestamptz, timestamptz) IS
'the query (as text) of stage one of funnel and funnel_dropoffs: one row (user_id, p funnel_progress) per user, validating the arguments';

CREATE FUNCTION @extschema@.funnel(
    events regclass,
    steps text[],
    conversion_window interval,
    mode text DEFAULT 'ordered',
    breakdown_by name DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (breakdown text, step integer, event_type text, users bigint, conversion_rate float8,
               median_seconds_from_previous float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- without a breakdown there is one group, shown even when empty
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH g AS (SELECT (u.p).breakdown AS b, @extschema@.funnel_matrix((u.p).reached, (u.p).seconds) AS m '
        '             FROM (%s) u WHERE (u.p).reached OPERATOR(pg_catalog.>) 0 GROUP BY 1), '
        '     h AS (SELECT * FROM g UNION ALL '
        '           SELECT NULL, NULL WHERE %L AND NOT EXISTS (SELECT 1 FROM g)) '
        'SELECT h.b, r.step, r.event_type, r.users, r.conversion_rate, r.median_seconds_from_previous '
        '  FROM h, @extschema@.funnel_rows(h.m, %L::pg_catalog.text[]) r '
        ' ORDER BY h.b NULLS LAST, r.step',
        @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by, user_column,
                                        time_column, event_column, date_from, date_to),
        breakdown_by IS NULL, steps);
END
$$;

COMMENT ON FUNCTION @extschema@.funnel(regclass, text[], interval, text, name, name, name, name, timestamptz, timestamptz) IS
'conversion funnel over a table of events, read with the caller''s privileges: per breakdown value and step, the users who reached the step or further, the conversion rate from step 1 and the median seconds from the previous step; modes ordered, strict and unordered';

CREATE FUNCTION @extschema@.funnel_dropoffs(
    events regclass,
    steps text[],
    conversion_window interval,
    step integer,
    mode text DEFAULT 'ordered',
    breakdown_by name DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (user_id bigint, breakdown text, started timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF step IS NULL OR step < 2 OR step > pg_catalog.cardinality(steps) THEN
        RAISE EXCEPTION 'drop-off step must be between 2 and the number of steps (%), got %',
                        pg_catalog.cardinality(steps), step
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Step k lists the users who reached step k - 1 but not step k.';
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT (u.user_id)::pg_catalog.int8, (u.p).breakdown, (u.p).started FROM (%s) u '
        ' WHERE (u.p).reached OPERATOR(pg_catalog.=) %s ORDER BY 1',
        @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by, user_column,
                                        time_column, event_column, date_from, date_to),
        step - 1);
END
$$;

COMMENT ON FUNCTION @extschema@.funnel_dropoffs(regclass, text[], interval, integer, text, name, name, name, name, timestamptz, timestamptz) IS
'the users who reached step - 1 of a funnel but not step (the intervention list), with the breakdown value and start of their furthest attempt';

-- User paths (issue 15): src/analytics/paths.sql

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

-- Query shaping (issue 15): src/analytics/shaping.sql, and cohort_table,
-- lifecycle and stickiness with breakdown_by, date_from, date_to, time_zone
-- and a complete column (new result columns: dropped and created again; no
-- view or other object of the extension depends on them)

CREATE FUNCTION @extschema@.first_touch_sql(user_column name, time_column name, breakdown text, is_start text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        'pg_catalog.first_value(%1$s) OVER (PARTITION BY %2$I ORDER BY (%4$s) IS NOT TRUE, %3$I, '
        '(%1$s) COLLATE "C")', breakdown, user_column, time_column, is_start)
$$;

COMMENT ON FUNCTION @extschema@.first_touch_sql(name, name, text, text) IS
'the SQL expression (as text) of a user''s breakdown value: the one on their first event for which is_start holds (ties: the least in byte order, NULL last)';

CREATE FUNCTION @extschema@.range_sql(time_column name, date_from timestamptz, date_to timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.concat_ws(' AND ',
        pg_catalog.format('%I IS NOT NULL', time_column),
        CASE WHEN date_from IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz', time_column, date_from) END,
        CASE WHEN date_to IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz', time_column, date_to) END)
$$;

COMMENT ON FUNCTION @extschema@.range_sql(name, timestamptz, timestamptz) IS
'the SQL condition (as text) keeping the events of [date_from, date_to) (NULL: unbounded) with a time';

CREATE FUNCTION @extschema@.period_complete(period_start date, period text, data_from timestamptz, data_to timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT period_start::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) data_from
       AND (period_start OPERATOR(pg_catalog.+) ('1 ' OPERATOR(pg_catalog.||) period)::pg_catalog.interval)::pg_catalog.timestamptz
           OPERATOR(pg_catalog.<=) data_to
$$;

COMMENT ON FUNCTION @extschema@.period_complete(date, text, timestamptz, timestamptz) IS
'whether the day, week or month starting at period_start (in the session time zone) lies within [data_from, data_to]';
DROP FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text);
DROP FUNCTION @extschema@.lifecycle(regclass, text, name, name);
DROP FUNCTION @extschema@.stickiness(regclass, text, name, name);

CREATE FUNCTION @extschema@.cohort_table(
    events regclass,
    period text DEFAULT 'week',
    unbounded boolean DEFAULT false,
    recurring boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT NULL,
    start_event text DEFAULT NULL,
    return_event text DEFAULT NULL,
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, cohort_start date, cohort_size bigint, period_number integer, retained bigint,
               rate float8, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_start text := 'true';
    is_return text := 'true';
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    IF start_event IS NOT NULL THEN
        is_start := pg_catalog.format('%I OPERATOR(pg_catalog.=) %L', event_column, start_event);
    END IF;
    IF return_event IS NOT NULL THEN
        is_return := pg_catalog.format('%I OPERATOR(pg_catalog.=) %L', event_column, return_event);
    END IF;
    IF breakdown_by IS NOT NULL THEN
        brk := @extschema@.first_touch_sql(user_column, time_column,
                                            @extschema@.breakdown_sql(events, breakdown_by), is_start);
    END IF;
    -- cohort_matrix censors each group after its own latest event; every
    -- period up to the latest event of all is observable, so the cells a
    -- group lacks before it are filled with 0 retained users
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS s, %4$s AS r, %5$s AS b '
        '             FROM %6$s WHERE %1$I IS NOT NULL AND %7$s), '
        '     bounds AS (SELECT COALESCE(%8$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%9$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi, '
        '                       @extschema@.period_start(pg_catalog.max(e.t), %10$L) AS last FROM e), '
        '     g AS (SELECT e.b, @extschema@.cohort_matrix(e.u, e.t, %10$L, %11$L, e.s, e.r) AS m '
        '             FROM e GROUP BY e.b), '
        '     c AS (SELECT g.b, r.* FROM g, @extschema@.cohort_rows(g.m) r), '
        '     cells AS (SELECT DISTINCT c.b, c.cohort_start, c.cohort_size, '
        '                      (k.n OPERATOR(pg_catalog.-) 1)::pg_catalog.int4 AS period_number, k.p::pg_catalog.date AS p '
        '                 FROM c, bounds, pg_catalog.generate_series(c.cohort_start::pg_catalog.timestamp, '
        '                          bounds.last::pg_catalog.timestamp, (''1 '' OPERATOR(pg_catalog.||) %10$L)::pg_catalog.interval) '
        '                          WITH ORDINALITY AS k(p, n)) '
        'SELECT cells.b, cells.cohort_start, cells.cohort_size, cells.period_number, '
        '       COALESCE(c.retained, 0), '
        '       COALESCE(c.rate, 0::pg_catalog.float8), '
        '       @extschema@.period_complete(cells.p, %10$L, bounds.lo, bounds.hi) '
        '  FROM bounds, cells LEFT JOIN c ON c.b IS NOT DISTINCT FROM cells.b '
        '   AND c.cohort_start OPERATOR(pg_catalog.=) cells.cohort_start '
        '   AND c.period_number OPERATOR(pg_catalog.=) cells.period_number '
        ' ORDER BY cells.b NULLS LAST, cells.cohort_start, cells.period_number',
        user_column, time_column, is_start, is_return, brk, events,
        @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN recurring AND unbounded THEN 'recurring_unbounded'
             WHEN recurring THEN 'recurring'
             WHEN unbounded THEN 'unbounded'
             ELSE 'classic' END);
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text, name, timestamptz, timestamptz, text) IS
'cohort retention table in long format (breakdown, cohort_start, cohort_size, period_number, retained, rate, complete) over a table of events, read with the caller''s privileges; classic or unbounded, first-time or recurring cohorts, censored after the latest event; optional breakdown (from the user''s first start event), date range and time zone; complete says the period lies within the data';

CREATE FUNCTION @extschema@.lifecycle(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, period_start date, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi FROM e), '
        '     g AS (SELECT e.b, @extschema@.lifecycle_matrix(e.u, e.t, %8$L) AS m FROM e GROUP BY e.b) '
        'SELECT g.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer, '
        '       g.m[i][2], g.m[i][3], g.m[i][4], g.m[i][5], '
        '       @extschema@.period_complete(DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer, '
        '                                   %8$L, bounds.lo, bounds.hi) '
        '  FROM g, bounds, pg_catalog.generate_subscripts(g.m, 1) AS i '
        ' ORDER BY g.b NULLS LAST, i',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period);
END
$$;

COMMENT ON FUNCTION @extschema@.lifecycle(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'users per period by lifecycle stage: new (first seen), returning (active now and in the previous period), resurrecting (active now, not in the previous period, seen before) and dormant (active in the previous period, not now; a negative count); optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';

CREATE FUNCTION @extschema@.stickiness(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, period_start date, active_days integer, users bigint, share float8,
               complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi FROM e), '
        '     g AS (SELECT e.b, @extschema@.stickiness_matrix(e.u, e.t, %8$L) AS m FROM e GROUP BY e.b), '
        '     s AS (SELECT g.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer AS p, '
        '                  k AS d, g.m[i][k OPERATOR(pg_catalog.+) 1] AS n '
        '             FROM g, pg_catalog.generate_subscripts(g.m, 1) AS i, '
        '                  pg_catalog.generate_series(1, pg_catalog.array_length(g.m, 2) OPERATOR(pg_catalog.-) 1) AS k) '
        'SELECT s.b, s.p, s.d, s.n, '
        '       s.n::pg_catalog.float8 OPERATOR(pg_catalog./) '
        '           pg_catalog.sum(s.n) OVER (PARTITION BY s.b, s.p)::pg_catalog.float8, '
        '       @extschema@.period_complete(s.p, %8$L, bounds.lo, bounds.hi) '
        '  FROM s, bounds WHERE s.n OPERATOR(pg_catalog.>) 0 '
        ' ORDER BY s.b NULLS LAST, s.p, s.d',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period);
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'distribution of active days per week or month: for each period and k, the users active on exactly k days of it and their share of the period''s active users; optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';

