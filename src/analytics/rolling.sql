--------------------------------------------------------------------------
-- Retention over rolling windows
--
-- Window k of a user is [start + k * window, start + (k + 1) * window)
-- from the user's exact first event, passed in as "start" (for example
-- min(ts) OVER (PARTITION BY user_id)), so that a user costs one small hash
-- entry whatever the order of the rows.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_trans(@extschema@.agg_state, bigint, timestamptz, timestamptz, integer, interval)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'rolling_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_trans(@extschema@.agg_state, bigint, timestamptz, timestamptz, integer, interval) IS
'transition function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'rolling_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_final(@extschema@.agg_state) IS
'final function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_unbounded_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_unbounded_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_unbounded_final(@extschema@.agg_state) IS
'final function of retention_rate_rolling_unbounded';

CREATE AGGREGATE @extschema@.retention_rate_rolling(user_id bigint, start timestamptz, ts timestamptz,
                                                    n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.rolling_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window retention: share of users with an event in [start + n * window_length, start + (n + 1) * window_length), among users whose window n has begun by the latest event';

CREATE AGGREGATE @extschema@.retention_rate_rolling_unbounded(user_id bigint, start timestamptz, ts timestamptz,
                                                              n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.rolling_unbounded_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling_unbounded(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window unbounded retention: share of users with an event at or after start + n * window_length, among users whose window n has begun';

--------------------------------------------------------------------------
-- Rolling-window retention over a table, in a form for distributed tables
--
-- Only standard aggregates grouped by the user column and a join on it, so
-- that Citus runs the per-user stage next to the data; the second stage
-- reads one small row per user.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result float8;
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'period number n must not be negative, got %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF window_length IS NULL OR window_length <= interval '0'
       OR pg_catalog.date_part('month', window_length) <> 0 OR pg_catalog.date_part('year', window_length) <> 0 THEN
        RAISE EXCEPTION 'rolling window "%" must be a positive number of days, hours or less', window_length
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- windows are measured in microseconds, a day being 24 hours, exactly
    -- as retention_rate_rolling does
    EXECUTE pg_catalog.format($q$
    WITH firsts AS (
        SELECT %1$I::bigint AS u, pg_catalog.min(%2$I) AS start
          FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY 1),
    per_user AS (
        SELECT f.u, f.start, pg_catalog.max(e.%2$I) AS last,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 AND e.%2$I < f.start + $2) AS in_window,
               pg_catalog.bool_or(e.%2$I >= f.start + $1) AS at_or_after
          FROM firsts f JOIN %3$s e ON e.%1$I::bigint = f.u AND e.%2$I IS NOT NULL
         GROUP BY f.u, f.start),
    latest AS (SELECT pg_catalog.max(last) AS m FROM per_user)
    SELECT pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END)::float8
           / NULLIF(pg_catalog.count(*), 0)
      FROM per_user, latest
     WHERE per_user.start + $1 <= latest.m $q$,
        user_column, time_column, events)
      INTO result
     USING (EXTRACT(epoch FROM window_length) * n)::float8 * interval '1 second',
           (EXTRACT(epoch FROM window_length) * (n + 1))::float8 * interval '1 second',
           unbounded;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, boolean, name, name) IS
'rolling-window retention over a table (see retention_rate_rolling) computed with a per-user stage of standard aggregates grouped by the user column, the form Citus distributes';
