--------------------------------------------------------------------------
-- Lifecycle (growth accounting) and stickiness
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.lifecycle_trans(@extschema@.agg_state, bigint, timestamptz, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'lifecycle_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_trans(@extschema@.agg_state, bigint, timestamptz, text) IS
'transition function of lifecycle_matrix';

CREATE FUNCTION @extschema@.lifecycle_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lifecycle_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_final(@extschema@.agg_state) IS
'final function of lifecycle_matrix';

CREATE AGGREGATE @extschema@.lifecycle_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.lifecycle_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.lifecycle_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(bigint, timestamptz, text) IS
'growth accounting in one pass: a bigint[][] with one row {period start as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), new, returning, resurrecting, -dormant} per period; see lifecycle';

CREATE FUNCTION @extschema@.stickiness_trans(@extschema@.agg_state, bigint, timestamptz, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'stickiness_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_trans(@extschema@.agg_state, bigint, timestamptz, text) IS
'transition function of stickiness_matrix';

CREATE FUNCTION @extschema@.stickiness_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'stickiness_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_final(@extschema@.agg_state) IS
'final function of stickiness_matrix';

CREATE AGGREGATE @extschema@.stickiness_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.stickiness_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.stickiness_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(bigint, timestamptz, text) IS
'stickiness in one pass: a bigint[][] with one row {period start as days since 2000-01-01, users active on 1 unit, 2 units, ...} per period: hours of a day, days of a week, month or quarter; see stickiness';

CREATE FUNCTION @extschema@.lifecycle(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, period_start timestamp, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
BEGIN
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     g AS (SELECT %9$s AS b, @extschema@.lifecycle_matrix(e.u, e.t, %8$L) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi FROM e %10$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi FROM g) '
        'SELECT g.b, @extschema@.matrix_period_start(g.m[i][1], %8$L), '
        '       g.m[i][2], g.m[i][3], g.m[i][4], g.m[i][5], '
        '       @extschema@.period_complete(@extschema@.matrix_period_start(g.m[i][1], %8$L), '
        '                                   %8$L, bounds.lo, bounds.hi) '
        '  FROM g, bounds, pg_catalog.generate_subscripts(g.m, 1) AS i '
        ' ORDER BY g.b NULLS LAST, i',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
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
DECLARE
    caller_zone text;
BEGIN
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    -- the matrix is unpacked by unnest, which the planner expects to give a
    -- few rows (two series would be taken for a thousand each, an estimate
    -- that made even a small table's query pay for JIT compilation)
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     g AS (SELECT %9$s AS b, @extschema@.stickiness_matrix(e.u, e.t, %8$L) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi FROM e %10$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi FROM g), '
        '     x AS (SELECT g.b, g.m, u.v AS n, ((u.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) '
        '                  pg_catalog.array_length(g.m, 2))::pg_catalog.int4 OPERATOR(pg_catalog.+) 1 AS i, '
        '                  ((u.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) '
        '                  pg_catalog.array_length(g.m, 2))::pg_catalog.int4 AS d '
        '             FROM g, pg_catalog.unnest(g.m) WITH ORDINALITY AS u(v, o)), '
        '     s AS (SELECT x.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) x.m[x.i][1]::integer AS p, x.d, x.n '
        '             FROM x WHERE x.d OPERATOR(pg_catalog.>=) 1) '
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
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'distribution of active days per week, month or quarter (active hours per day): for each period and k, the users active on exactly k days (hours) of it and their share of the period''s active users; optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';

--------------------------------------------------------------------------
-- Lifecycle, two-stage form for distributed tables (Citus)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.activity_lifecycle_trans(bigint[], @extschema@.activity)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_trans(bigint[], @extschema@.activity) IS
'transition function of lifecycle_matrix(activity): new, returning, resurrecting and dormant counts per period';

CREATE FUNCTION @extschema@.activity_lifecycle_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_combine(bigint[], bigint[]) IS
'combine function of lifecycle_matrix(activity): adds the counts per period';

CREATE FUNCTION @extschema@.activity_lifecycle_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_final(bigint[]) IS
'final function of lifecycle_matrix(activity): the layout of lifecycle_matrix(user_id, ts, period)';

CREATE AGGREGATE @extschema@.lifecycle_matrix(activity @extschema@.activity) (
    SFUNC = @extschema@.activity_lifecycle_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_lifecycle_final,
    COMBINEFUNC = @extschema@.activity_lifecycle_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(@extschema@.activity) IS
'stage two of distributed growth accounting over per-user activities (a bigint[] state sized by periods); same result as lifecycle_matrix(user_id, ts, period)';

CREATE FUNCTION @extschema@.activity_stickiness_trans(bigint[], @extschema@.activity, text)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_trans(bigint[], @extschema@.activity, text) IS
'transition function of stickiness_matrix(activity, period): users per number of active days per week, month or quarter (hours per day, from activities by hour)';

CREATE FUNCTION @extschema@.activity_stickiness_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_combine(bigint[], bigint[]) IS
'combine function of stickiness_matrix(activity, period)';

CREATE FUNCTION @extschema@.activity_stickiness_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_final(bigint[]) IS
'final function of stickiness_matrix(activity, period): the layout of stickiness_matrix(user_id, ts, period)';

CREATE AGGREGATE @extschema@.stickiness_matrix(activity @extschema@.activity, period text) (
    SFUNC = @extschema@.activity_stickiness_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_stickiness_final,
    COMBINEFUNC = @extschema@.activity_stickiness_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(@extschema@.activity, text) IS
'stage two of distributed stickiness over per-user daily activities (a bigint[] state sized by periods); same result as stickiness_matrix(user_id, ts, period)';
