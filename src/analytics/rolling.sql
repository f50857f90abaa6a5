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
-- reads one small row per user.  The breakdown form returns one row per
-- value of the breakdown (taken from the user's first event); the scalar
-- form is the same over all users.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    breakdown_by name,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, users bigint, retained bigint, rate float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
    months integer;
    secs numeric;
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'period number n must not be negative, got %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    months := pg_catalog.date_part('year', window_length) * 12 OPERATOR(pg_catalog.+) pg_catalog.date_part('month', window_length);
    secs := EXTRACT(epoch FROM window_length OPERATOR(pg_catalog.-) pg_catalog.make_interval(months => months));
    IF window_length IS NULL OR months < 0 OR secs < 0 OR (months = 0 AND secs = 0) THEN
        RAISE EXCEPTION 'rolling window "%" must be positive', window_length
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    IF breakdown_by IS NOT NULL THEN
        -- the value on the user's first event (ties: least in byte order, NULL last)
        brk := pg_catalog.format('(pg_catalog.array_agg(%1$s ORDER BY %2$I, (%1$s) COLLATE "C"))[1]',
                                 @extschema@.breakdown_sql(events, breakdown_by), time_column);
    END IF;
    -- as retention_rate_rolling does: the months are calendar months in the
    -- session time zone, added first; the rest is measured in microseconds,
    -- a day being 24 hours
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH firsts AS (
        SELECT %1$I::bigint AS u, pg_catalog.min(%2$I) AS start, %4$s AS b
          FROM %3$s WHERE %1$I IS NOT NULL AND %5$s GROUP BY 1),
    per_user AS (
        SELECT f.u, f.b, f.start, pg_catalog.max(e.%2$I) AS last,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 + $4 AND e.%2$I < f.start + $2 + $5) AS in_window,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 + $4) AS at_or_after
          FROM firsts f JOIN %3$s e ON e.%1$I::bigint = f.u AND e.%2$I IS NOT NULL
               AND ($6::pg_catalog.timestamptz IS NULL OR e.%2$I >= $6)
               AND ($7::pg_catalog.timestamptz IS NULL OR e.%2$I < $7)
         GROUP BY f.u, f.b, f.start),
    latest AS (SELECT pg_catalog.max(last) AS m FROM per_user)
    SELECT per_user.b, pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END),
           pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END)::float8
           / pg_catalog.count(*)
      FROM per_user, latest
     WHERE per_user.start + $1 + $4 <= latest.m
     GROUP BY per_user.b
     ORDER BY per_user.b NULLS LAST $q$,
        user_column, time_column, events, brk, @extschema@.range_sql(time_column, date_from, date_to))
     USING pg_catalog.make_interval(months => months * n),
           pg_catalog.make_interval(months => months * (n + 1)),
           unbounded,
           (secs * n)::float8 * interval '1 second',
           (secs * (n + 1))::float8 * interval '1 second',
           date_from, date_to;
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, name, boolean, name, name, timestamptz, timestamptz, text) IS
'rolling-window retention over a table per breakdown value (from the user''s first event; NULL, or no breakdown_by, is a group of its own): users whose window n has begun by the latest event, those retained and their share; optional date range and time zone (where calendar months of the window begin)';

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS float8
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT r.rate
      FROM @extschema@.rolling_retention(events, n, window_length, NULL::pg_catalog.name, unbounded,
                                          user_column, time_column, date_from, date_to, time_zone) r
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, boolean, name, name, timestamptz, timestamptz, text) IS
'rolling-window retention over a table (see retention_rate_rolling) computed with a per-user stage of standard aggregates grouped by the user column, the form Citus distributes; optional date range and time zone';
