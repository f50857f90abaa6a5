--------------------------------------------------------------------------
-- Lifecycle (growth accounting) and stickiness
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.lifecycle_trans(internal, bigint, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'lifecycle_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_trans(internal, bigint, timestamptz, text) IS
'transition function of lifecycle_matrix';

CREATE FUNCTION @extschema@.lifecycle_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lifecycle_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_final(internal) IS
'final function of lifecycle_matrix';

CREATE AGGREGATE @extschema@.lifecycle_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.lifecycle_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.lifecycle_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(bigint, timestamptz, text) IS
'growth accounting in one pass: a bigint[][] with one row {period start as days since 2000-01-01, new, returning, resurrecting, -dormant} per period; see lifecycle';

CREATE FUNCTION @extschema@.stickiness_trans(internal, bigint, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'stickiness_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_trans(internal, bigint, timestamptz, text) IS
'transition function of stickiness_matrix';

CREATE FUNCTION @extschema@.stickiness_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'stickiness_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_final(internal) IS
'final function of stickiness_matrix';

CREATE AGGREGATE @extschema@.stickiness_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.stickiness_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.stickiness_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(bigint, timestamptz, text) IS
'stickiness in one pass: a bigint[][] with one row {period start as days since 2000-01-01, users active on 1 day, 2 days, ...} per week or month; see stickiness';

CREATE FUNCTION @extschema@.lifecycle(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (period_start date, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matrix bigint[];
BEGIN
    EXECUTE pg_catalog.format('SELECT @extschema@.lifecycle_matrix(%I, %I, %L) FROM %s',
                              user_column, time_column, period, events)
      INTO matrix;
    RETURN QUERY
        SELECT DATE '2000-01-01' + matrix[i][1]::integer, matrix[i][2], matrix[i][3], matrix[i][4], matrix[i][5]
          FROM pg_catalog.generate_subscripts(matrix, 1) AS i
         ORDER BY i;
END
$$;

COMMENT ON FUNCTION @extschema@.lifecycle(regclass, text, name, name) IS
'users per period by lifecycle stage: new (first seen), returning (active now and in the previous period), resurrecting (active now, not in the previous period, seen before) and dormant (active in the previous period, not now; a negative count)';

CREATE FUNCTION @extschema@.stickiness(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (period_start date, active_days integer, users bigint, share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matrix bigint[];
BEGIN
    EXECUTE pg_catalog.format('SELECT @extschema@.stickiness_matrix(%I, %I, %L) FROM %s',
                              user_column, time_column, period, events)
      INTO matrix;
    RETURN QUERY
        SELECT s.period_start, s.active_days, s.users,
               s.users::float8 / pg_catalog.sum(s.users) OVER (PARTITION BY s.period_start)::float8
          FROM (SELECT DATE '2000-01-01' + matrix[i][1]::integer AS period_start, k AS active_days,
                       matrix[i][k + 1] AS users
                  FROM pg_catalog.generate_subscripts(matrix, 1) AS i,
                       pg_catalog.generate_series(1, pg_catalog.array_length(matrix, 2) - 1) AS k) s
         WHERE s.users > 0
         ORDER BY 1, 2;
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name) IS
'distribution of active days per week or month: for each period and k, the users active on exactly k days of it and their share of the period''s active users';

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
'transition function of stickiness_matrix(activity, period): users per number of active days per week or month';

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
