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

CREATE TYPE @extschema@.funnel_group AS (
    breakdown text,
    matrix float8[]
);

COMMENT ON TYPE @extschema@.funnel_group IS
'one breakdown value of a funnel_groups result and its funnel_matrix';

CREATE FUNCTION @extschema@.funnel_groups_trans(internal, bigint, timestamptz, text, text[], interval, text, text,
                                                timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_trans(internal, bigint, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'transition function of funnel_groups: keeps the events that matter to the funnel, partitioned by user';

CREATE FUNCTION @extschema@.funnel_groups_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_combine(internal, internal) IS
'combine function of funnel_groups: unites the events of two partial states';

CREATE FUNCTION @extschema@.funnel_groups_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_groups_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_serialize(internal) IS
'serialisation function of funnel_groups';

CREATE FUNCTION @extschema@.funnel_groups_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_deserialize(bytea, internal) IS
'deserialisation function of funnel_groups; validates what it reads';

-- STABLE: the window is added to timestamps in the session time zone
CREATE FUNCTION @extschema@.funnel_groups_final(internal)
RETURNS @extschema@.funnel_group[]
AS 'MODULE_PATHNAME', 'funnel_groups_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_final(internal) IS
'final function of funnel_groups: each user''s furthest step, counted per breakdown value';

CREATE AGGREGATE @extschema@.funnel_groups(user_id bigint, ts timestamptz, event text, steps text[],
                                           conversion_window interval, mode text, breakdown text,
                                           date_from timestamptz, date_to timestamptz) (
    SFUNC = @extschema@.funnel_groups_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.funnel_groups_final,
    COMBINEFUNC = @extschema@.funnel_groups_combine,
    SERIALFUNC = @extschema@.funnel_groups_serialize,
    DESERIALFUNC = @extschema@.funnel_groups_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_groups(bigint, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'a whole funnel in one pass, without GROUP BY: per breakdown value of the users who reached step 1, the funnel_matrix of their funnel_user outcomes (a retention.funnel_group[] in byte order of the values, NULL last; NULL user ids are one user); keeps the events that matter (24 bytes each) in memory';

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
DECLARE
    -- validates every argument first, whichever form runs
    progress text := @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by,
                                                     user_column, time_column, event_column, date_from, date_to);
    -- without a breakdown there is one group, shown even when empty
    result_sql constant text :=
        'WITH g AS (%s), '
        '     h AS (SELECT * FROM g UNION ALL '
        '           SELECT NULL, NULL WHERE %L AND NOT EXISTS (SELECT 1 FROM g)) '
        'SELECT h.b, r.step, r.event_type, r.users, r.conversion_rate, r.median_seconds_from_previous '
        '  FROM h, @extschema@.funnel_rows(h.m, %L::pg_catalog.text[]) r '
        ' ORDER BY h.b NULLS LAST, r.step';
    groups text := pg_catalog.format(
        'SELECT (u.p).breakdown AS b, @extschema@.funnel_matrix((u.p).reached, (u.p).seconds) AS m '
        '  FROM (%s) u WHERE (u.p).reached OPERATOR(pg_catalog.>) 0 GROUP BY 1', progress);
    conds text[] := '{}';
BEGIN
    -- One pass without GROUP BY (funnel_groups) when the user ids are
    -- integers and the table is not distributed and small enough that its
    -- events fit funnel_groups' memory limit whatever the statistics say (a
    -- heap row takes at least 28 bytes: at most 42 million rows); else per
    -- user, then by breakdown.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
                WHERE c.oid OPERATOR(pg_catalog.=) events AND a.attname OPERATOR(pg_catalog.=) user_column
                  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                  AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                     'pg_catalog.int8'::pg_catalog.regtype)
                  AND c.relkind IN ('r', 'm')
                  AND pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog./) 28 OPERATOR(pg_catalog.<=) 42000000)
       AND NOT @extschema@.is_distributed(events::pg_catalog.text) THEN
        IF date_from IS NOT NULL THEN
            conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz',
                                                time_column, date_from);
        END IF;
        IF date_to IS NOT NULL THEN
            conds := conds || pg_catalog.format(
                '%I OPERATOR(pg_catalog.<=) (%L::pg_catalog.timestamptz OPERATOR(pg_catalog.+) %L::pg_catalog.interval)',
                time_column, date_to, conversion_window);
        END IF;
        groups := pg_catalog.format(
            'SELECT x.breakdown AS b, x.matrix AS m '
            '  FROM (SELECT @extschema@.funnel_groups((%1$I)::pg_catalog.int8, %2$I, (%3$I)::pg_catalog.text, '
            '               %4$L::pg_catalog.text[], %5$L::pg_catalog.interval, %6$L, %7$s, '
            '               %8$L::pg_catalog.timestamptz, %9$L::pg_catalog.timestamptz) AS a FROM %10$s %11$s) s, '
            '       pg_catalog.unnest(s.a) x',
            user_column, time_column, event_column, steps, conversion_window, mode,
            CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
                 ELSE @extschema@.breakdown_sql(events, breakdown_by) END,
            date_from, date_to, events,
            CASE WHEN conds OPERATOR(pg_catalog.=) '{}' THEN ''
                 ELSE 'WHERE ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(conds, ' AND ') END);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(result_sql, groups, breakdown_by IS NULL, steps);
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
