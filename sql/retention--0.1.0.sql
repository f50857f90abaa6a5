/* retention--0.1.0.sql: install script for the retention extension */

\echo Use "CREATE EXTENSION retention" to load this file. \quit

--------------------------------------------------------------------------
-- Similarity
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cosine_sim(a float8[], b float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float8'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float8[], float8[]) IS
'cosine similarity of two float8 vectors of equal length, in [-1, 1]; NULL when either is a zero vector';

CREATE FUNCTION @extschema@.cosine_sim(a float4[], b float4[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float4'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float4[], float4[]) IS
'cosine similarity of two float4 vectors (embeddings) of equal length, computed in double precision, in [-1, 1]; NULL when either is a zero vector';

--------------------------------------------------------------------------
-- Model registry
--
-- Every trained model (churn, item-kNN, customer-base) is kept here as the
-- JSON text form of its type, one row per version.  JSON survives dumps and
-- future changes of the binary formats; readers convert a version once per
-- query, e.g. (SELECT model::text::retention.logreg_model ...).
--------------------------------------------------------------------------

CREATE TABLE @extschema@.models (
    name            text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    kind            text        NOT NULL,
    model           jsonb       NOT NULL,
    metrics         jsonb,
    feature_names   text[],
    training_source text,
    trained_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trained_by      name        NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (name, version)
);

COMMENT ON TABLE @extschema@.models IS
'versioned models: one row per (name, version), the model as the JSON text form of its type';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');

--------------------------------------------------------------------------
-- Retention: retention_rate and retention_rate_unbounded
--
-- One aggregate state (internal) shared by every variant: a hash of users,
-- each with the earliest period of a start event and a bitmap of the
-- periods they were active in.  Periods are calendar days, ISO weeks or
-- months in the session time zone, so everything that places a timestamp
-- in a period is STABLE.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer) IS
'transition function of retention_rate(user_id, ts, n) with daily periods';

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text) IS
'transition function of retention_rate(user_id, ts, n, period)';

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_filter_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text, boolean, boolean) IS
'transition function of retention_rate(user_id, ts, n, period, is_start, is_return)';

CREATE FUNCTION @extschema@.retention_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_combine(internal, internal) IS
'combine function of the retention aggregates: unites the users of two partial states';

CREATE FUNCTION @extschema@.retention_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'retention_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_serialize(internal) IS
'serialisation function of the retention aggregates';

CREATE FUNCTION @extschema@.retention_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_deserialize(bytea, internal) IS
'deserialisation function of the retention aggregates; validates the lengths it reads';

CREATE FUNCTION @extschema@.retention_rate_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_final(internal) IS
'final function of retention_rate: users active in period n over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_rate_unbounded_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_unbounded_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_unbounded_final(internal) IS
'final function of retention_rate_unbounded: users active in period n or later over users whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer) IS
'day-n retention: share of users (starting at their first event''s calendar day) active on day n, among those whose day n is not after the latest event';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text) IS
'period-n retention (period ''day'', ''week'' or ''month'' in the session time zone): share of users active in period n after their first event''s period, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text,
                                            is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text, boolean, boolean) IS
'period-n retention where the cohort starts at the user''s first is_start event and only is_return events count as returning';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer) IS
'unbounded ("on or after") day-n retention: share of users active on day n or later, among those whose day n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text) IS
'unbounded ("on or after") period-n retention: share of users active in period n or later, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text,
                                                      is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text, boolean, boolean) IS
'unbounded period-n retention with a start-event filter (is_start) and a return-event filter (is_return)';

CREATE FUNCTION @extschema@.period_start(ts timestamptz, period text DEFAULT 'day')
RETURNS date
AS 'MODULE_PATHNAME', 'period_start'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_start(timestamptz, text) IS
'first date of the day, ISO week (Monday) or month containing ts in the session time zone: the periods of the retention aggregates';

--------------------------------------------------------------------------
-- Retention, two-stage form for distributed tables (Citus)
--
-- Stage one condenses each user's events into a retention.activity value
-- (grouped by user id, so it runs where the user's rows live); stage two
-- aggregates activities with a bigint[] state that can be shipped as text
-- and combined:
--   SELECT retention.retention_rate(a, 3)
--     FROM (SELECT user_id, retention.user_activity(ts, 'month') AS a
--             FROM events GROUP BY user_id) per_user;
--------------------------------------------------------------------------

CREATE TYPE @extschema@.activity;

CREATE FUNCTION @extschema@.activity_in(cstring)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_in(cstring) IS
'input function of retention.activity: period:first_start:last_event:base:bits';

CREATE FUNCTION @extschema@.activity_out(@extschema@.activity)
RETURNS cstring
AS 'MODULE_PATHNAME', 'activity_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_out(@extschema@.activity) IS
'output function of retention.activity';

CREATE FUNCTION @extschema@.activity_recv(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_recv(internal) IS
'binary input function of retention.activity';

CREATE FUNCTION @extschema@.activity_send(@extschema@.activity)
RETURNS bytea
AS 'MODULE_PATHNAME', 'activity_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_send(@extschema@.activity) IS
'binary output function of retention.activity';

CREATE TYPE @extschema@.activity (
    INPUT = @extschema@.activity_in,
    OUTPUT = @extschema@.activity_out,
    RECEIVE = @extschema@.activity_recv,
    SEND = @extschema@.activity_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.activity IS
'one user''s events condensed: period kind, first start period, latest event''s period and a bitmap of active periods';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text) IS
'transition function of user_activity(ts, period)';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean) IS
'transition function of user_activity(ts, period, is_start, is_return)';

CREATE FUNCTION @extschema@.user_activity_final(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'user_activity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_final(internal) IS
'final function of user_activity: the activity of the group''s user';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text) IS
'stage one of distributed retention: one user''s events (GROUP BY user id) as a retention.activity';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text, is_start boolean, is_return boolean) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text, boolean, boolean) IS
'stage one of distributed retention with start and return event filters';

CREATE FUNCTION @extschema@.activity_rate_trans(bigint[], @extschema@.activity, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_trans(bigint[], @extschema@.activity, integer) IS
'transition function of retention_rate(activity, n): users and retained users per start period';

CREATE FUNCTION @extschema@.activity_rate_unbounded_trans(bigint[], @extschema@.activity, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_unbounded_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_unbounded_trans(bigint[], @extschema@.activity, integer) IS
'transition function of retention_rate_unbounded(activity, n)';

CREATE FUNCTION @extschema@.activity_rate_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_combine(bigint[], bigint[]) IS
'combine function of retention_rate(activity, n): adds the counts per start period';

CREATE FUNCTION @extschema@.activity_rate_final(bigint[])
RETURNS float8
AS 'MODULE_PATHNAME', 'activity_rate_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_final(bigint[]) IS
'final function of retention_rate(activity, n): retained over observable users';

CREATE AGGREGATE @extschema@.retention_rate(activity @extschema@.activity, n integer) (
    SFUNC = @extschema@.activity_rate_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_rate_final,
    COMBINEFUNC = @extschema@.activity_rate_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(@extschema@.activity, integer) IS
'stage two of distributed retention: period-n retention over per-user activities, same answer as retention_rate(user_id, ts, n, period)';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(activity @extschema@.activity, n integer) (
    SFUNC = @extschema@.activity_rate_unbounded_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_rate_final,
    COMBINEFUNC = @extschema@.activity_rate_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(@extschema@.activity, integer) IS
'stage two of distributed retention: unbounded period-n retention over per-user activities';

--------------------------------------------------------------------------
-- Retention: cohort tables
--
-- cohort_matrix is the one-pass aggregate; cohort_table runs it over a
-- table and returns the long format BI tools chart directly.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_matrix_trans(internal, bigint, timestamptz, text, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'cohort_matrix_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_trans(internal, bigint, timestamptz, text, text, boolean, boolean) IS
'transition function of cohort_matrix';

CREATE FUNCTION @extschema@.cohort_matrix_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'cohort_matrix_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_final(internal) IS
'final function of cohort_matrix: one row per cohort {start date as days since 2000-01-01, size, retained at 0, 1, ...}';

CREATE AGGREGATE @extschema@.cohort_matrix(user_id bigint, ts timestamptz, period text, mode text,
                                           is_start boolean, is_return boolean) (
    SFUNC = @extschema@.cohort_matrix_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.cohort_matrix_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean) IS
'cohort retention matrix in one pass (mode ''classic'', ''unbounded'', ''recurring'' or ''recurring_unbounded''): a bigint[][] with one row {start date as days since 2000-01-01, size, retained at period 0, 1, ...} per cohort, NULL where censored; see cohort_table';

CREATE FUNCTION @extschema@.cohort_rows(matrix bigint[])
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT DATE '2000-01-01' + matrix[i][1]::integer,
           matrix[i][2],
           k,
           matrix[i][k + 3],
           matrix[i][k + 3]::float8 / matrix[i][2]::float8
      FROM pg_catalog.generate_subscripts(matrix, 1) AS i,
           pg_catalog.generate_series(0, pg_catalog.array_length(matrix, 2) - 3) AS k
     WHERE matrix[i][k + 3] IS NOT NULL
     ORDER BY 1, 3
$$;

COMMENT ON FUNCTION @extschema@.cohort_rows(bigint[]) IS
'the long format of a cohort_matrix: one row per cohort and observable period';

CREATE FUNCTION @extschema@.cohort_table(
    events regclass,
    period text DEFAULT 'week',
    unbounded boolean DEFAULT false,
    recurring boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT NULL,
    start_event text DEFAULT NULL,
    return_event text DEFAULT NULL)
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    matrix bigint[];
    is_start text := 'true';
    is_return text := 'true';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    IF start_event IS NOT NULL THEN
        is_start := pg_catalog.format('%I = %L', event_column, start_event);
    END IF;
    IF return_event IS NOT NULL THEN
        is_return := pg_catalog.format('%I = %L', event_column, return_event);
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT @extschema@.cohort_matrix(%I, %I, %L, %L, %s, %s) FROM %s',
        user_column, time_column, period,
        CASE WHEN recurring AND unbounded THEN 'recurring_unbounded'
             WHEN recurring THEN 'recurring'
             WHEN unbounded THEN 'unbounded'
             ELSE 'classic' END,
        is_start, is_return, events)
      INTO matrix;
    RETURN QUERY SELECT * FROM @extschema@.cohort_rows(matrix);
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text) IS
'cohort retention table in long format (cohort_start, cohort_size, period_number, retained, rate) over a table of events, read with the caller''s privileges; classic or unbounded, first-time or recurring cohorts, censored after the latest event';

--------------------------------------------------------------------------
-- Retention over rolling windows
--
-- Window k of a user is [start + k * window, start + (k + 1) * window)
-- from the user's exact first event, passed in as "start" (for example
-- min(ts) OVER (PARTITION BY user_id)), so that a user costs one small hash
-- entry whatever the order of the rows.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_trans(internal, bigint, timestamptz, timestamptz, integer, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_trans(internal, bigint, timestamptz, timestamptz, integer, interval) IS
'transition function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_combine(internal, internal) IS
'combine function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rolling_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_serialize(internal) IS
'serialisation function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_deserialize(bytea, internal) IS
'deserialisation function of retention_rate_rolling; checks the length against the user count';

CREATE FUNCTION @extschema@.rolling_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_final(internal) IS
'final function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_unbounded_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_unbounded_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_unbounded_final(internal) IS
'final function of retention_rate_rolling_unbounded';

CREATE AGGREGATE @extschema@.retention_rate_rolling(user_id bigint, start timestamptz, ts timestamptz,
                                                    n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.rolling_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    SERIALFUNC = @extschema@.rolling_serialize,
    DESERIALFUNC = @extschema@.rolling_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window retention: share of users with an event in [start + n * window_length, start + (n + 1) * window_length), among users whose window n has begun by the latest event';

CREATE AGGREGATE @extschema@.retention_rate_rolling_unbounded(user_id bigint, start timestamptz, ts timestamptz,
                                                              n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.rolling_unbounded_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    SERIALFUNC = @extschema@.rolling_serialize,
    DESERIALFUNC = @extschema@.rolling_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling_unbounded(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window unbounded retention: share of users with an event at or after start + n * window_length, among users whose window n has begun';

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
AS $$
    SELECT s.user_id, pg_catalog.count(*), pg_catalog.sum(s.duration), pg_catalog.avg(s.duration),
           pg_catalog.avg(s.event_count)::float8
      FROM @extschema@.sessions(events, gap, user_column, time_column) AS s
     GROUP BY s.user_id
     ORDER BY s.user_id
$$;

COMMENT ON FUNCTION @extschema@.session_summary(regclass, interval, name, name) IS
'per user: number of sessions, total and average session duration, average events per session';

--------------------------------------------------------------------------
-- Per-user behaviour features and churn labels
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.user_feature_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['days_since_last_event', 'days_since_last_purchase', 'purchases', 'active_days',
                 'sessions', 'total_spend', 'avg_order_value', 'tenure_days', 'avg_session_minutes',
                 'views', 'clicks', 'carts', 'click_through_rate', 'view_to_purchase_rate',
                 'activity_trend', 'distinct_items', 'mean_days_between_purchases']
$$;

COMMENT ON FUNCTION @extschema@.user_feature_names() IS
'names of the elements of user_features().features, in order';

CREATE FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric,
        timestamptz, interval, interval, text, text, text, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'transition function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_final(internal)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'user_feature_values_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_final(internal) IS
'final function of user_feature_values: local days depend on TimeZone, hence STABLE';

CREATE FUNCTION @extschema@.user_feature_values_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_combine(internal, internal) IS
'combine function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_values_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_serialize(internal) IS
'serialisation function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal) IS
'deserialisation function of user_feature_values; checks every length';

CREATE AGGREGATE @extschema@.user_feature_values(ts timestamptz, event_type text, item text, amount numeric,
        cutoff timestamptz, horizon interval, session_gap interval, view_event text, click_event text,
        cart_event text, purchase_event text, churn_on text) (
    SFUNC = @extschema@.user_feature_values_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_feature_values_final,
    COMBINEFUNC = @extschema@.user_feature_values_combine,
    SERIALFUNC = @extschema@.user_feature_values_serialize,
    DESERIALFUNC = @extschema@.user_feature_values_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_feature_values(timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'one user''s features as of cutoff (GROUP BY user): the 17 values of user_feature_names(), NULL where undefined, then the churn label 1 or 0; see user_features';

CREATE FUNCTION @extschema@.user_features(
    events regclass,
    cutoff timestamptz,
    horizon interval DEFAULT '30 days',
    churn_on text DEFAULT 'activity',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    item_column name DEFAULT 'item_id',
    amount_column name DEFAULT 'amount',
    view_event text DEFAULT 'view',
    click_event text DEFAULT 'click',
    cart_event text DEFAULT 'cart',
    purchase_event text DEFAULT 'purchase',
    session_gap interval DEFAULT '30 minutes')
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    IF churn_on IS NULL OR churn_on NOT IN ('activity', 'purchase') THEN
        RAISE EXCEPTION 'unknown churn definition "%"', churn_on
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use "activity" (no event in the horizon) or "purchase" (no purchase in the horizon).';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'churn horizon "%" must be positive', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF session_gap IS NULL OR session_gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', session_gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('month', horizon) <> 0 OR pg_catalog.date_part('year', horizon) <> 0
       OR pg_catalog.date_part('month', session_gap) <> 0 OR pg_catalog.date_part('year', session_gap) <> 0 THEN
        RAISE EXCEPTION 'churn horizon "%" and session gap "%" must not contain months or years', horizon, session_gap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Months differ in length; use days, e.g. interval ''30 days''.';
    END IF;
    IF cutoff IS NULL OR NOT pg_catalog.isfinite(cutoff) THEN
        RAISE EXCEPTION 'cutoff "%" must be a finite time', cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- one hashed GROUP BY over the events up to the horizon (with a day of
    -- margin: the aggregate measures the horizon exactly)
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH v AS (
        SELECT %1$I::bigint AS u,
               @extschema@.user_feature_values(%2$I, %3$I::text, %4$s, %5$s,
                                               $1, $2, $3, $4, $5, $6, $7, $8) AS x
          FROM %6$s
         WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9
         GROUP BY 1)
    SELECT u,
           ARRAY[x[1], COALESCE(x[2], x[8]), x[3], x[4], x[5], COALESCE(x[6], 0), COALESCE(x[7], 0),
                 x[8], x[9], x[10], x[11], x[12], COALESCE(x[13], 0), COALESCE(x[14], 0), x[15],
                 CASE WHEN %7$s THEN x[16] ELSE 0 END, COALESCE(x[17], x[8])]::float8[],
           x[18] = 1, x[1], x[2], x[3]::bigint, x[4]::bigint, x[5]::bigint, x[6], x[7], x[8], x[9],
           x[10]::bigint, x[11]::bigint, x[12]::bigint, x[13], x[14], x[15],
           CASE WHEN %7$s THEN x[16]::bigint END, x[17]
      FROM v WHERE x IS NOT NULL ORDER BY u $q$,
        user_column, time_column, event_column,
        CASE WHEN item_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
        CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
        events,
        CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
    USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
          cutoff + horizon + interval '1 day';
END
$$;

COMMENT ON FUNCTION @extschema@.user_features(regclass, timestamptz, interval, text, name, name, name, name, name, text, text, text, text, interval) IS
'one row per user with an event at or before cutoff: behaviour features as of cutoff (named columns and, in user_feature_names() order, a float8[] without NULLs for logreg_train) and churned = no event (churn_on => ''activity'') or no purchase (''purchase'') in (cutoff, cutoff + horizon]';

--------------------------------------------------------------------------
-- RFM scores and segments
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rfm_segment(r_score integer, f_score integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN r_score NOT BETWEEN 1 AND 5 OR f_score NOT BETWEEN 1 AND 5 THEN NULL
        WHEN r_score = 5 AND f_score >= 4 THEN 'champions'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'loyal customers'
        WHEN r_score >= 4 AND f_score BETWEEN 2 AND 3 THEN 'potential loyalists'
        WHEN r_score = 5 AND f_score = 1 THEN 'new customers'
        WHEN r_score = 4 AND f_score = 1 THEN 'promising'
        WHEN r_score = 3 AND f_score = 3 THEN 'need attention'
        WHEN r_score = 3 AND f_score <= 2 THEN 'about to sleep'
        WHEN r_score <= 2 AND f_score = 5 THEN 'can''t lose them'
        WHEN r_score <= 2 AND f_score >= 3 THEN 'at risk'
        WHEN r_score = 1 AND f_score = 1 THEN 'lost'
        ELSE 'hibernating'
    END
$$;

COMMENT ON FUNCTION @extschema@.rfm_segment(integer, integer) IS
'the customary RFM segment of a recency and a frequency score (1-5, 5 best): champions, loyal customers, potential loyalists, new customers, promising, need attention, about to sleep, can''t lose them, at risk, hibernating, lost';

CREATE FUNCTION @extschema@.rfm(
    events regclass,
    as_of timestamptz DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    amount_column name DEFAULT 'amount',
    event_column name DEFAULT NULL,
    purchase_event text DEFAULT 'purchase')
RETURNS TABLE (user_id bigint, recency_days float8, frequency bigint, monetary float8,
               r_score integer, f_score integer, m_score integer, rfm_cell text, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH p AS (
        SELECT %1$I::bigint AS u, %2$I AS t, %3$I::float8 AS amount
          FROM %4$s
         WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %5$s
           AND ($1 IS NULL OR %2$I <= $1)),
    ref AS (SELECT COALESCE($1, pg_catalog.max(t)) AS as_of FROM p),
    c AS (
        SELECT u, pg_catalog.date_part('epoch', ref.as_of - pg_catalog.max(t)) / 86400 AS recency_days,
               pg_catalog.count(*) AS frequency, COALESCE(pg_catalog.sum(amount), 0) AS monetary
          FROM p, ref GROUP BY u, ref.as_of),
    s AS (
        SELECT c.*,
               pg_catalog.ntile(5) OVER (ORDER BY recency_days DESC, u)::integer AS r,
               pg_catalog.ntile(5) OVER (ORDER BY frequency, u)::integer AS f,
               pg_catalog.ntile(5) OVER (ORDER BY monetary, u)::integer AS m
          FROM c)
    SELECT u, recency_days, frequency, monetary, r, f, m, r::text || f::text || m::text,
           @extschema@.rfm_segment(r, f)
      FROM s ORDER BY u $q$,
        user_column, time_column, amount_column, events,
        CASE WHEN event_column IS NULL THEN 'true'
             ELSE pg_catalog.format('%I::text = %L', event_column, purchase_event) END)
    USING as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.rfm(regclass, timestamptz, name, name, name, name, text) IS
'RFM per customer as of as_of (default: the latest purchase): recency in days, frequency, monetary total, quintile scores 1-5 (recency reversed, ties broken by user id), the cell ''RFM'' and the segment of rfm_segment(r, f)';

--------------------------------------------------------------------------
-- Cohort tables, two-stage form for distributed tables (Citus)
--
--   SELECT * FROM retention.cohort_rows((
--     SELECT retention.cohort_matrix(a, 'classic')
--       FROM (SELECT user_id, retention.user_activity(ts, 'week') AS a
--               FROM events GROUP BY user_id) per_user));
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.activity_cohort_trans(bigint[], @extschema@.activity, text)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_trans(bigint[], @extschema@.activity, text) IS
'transition function of cohort_matrix(activity, mode): cohort sizes and retained counts per offset';

CREATE FUNCTION @extschema@.activity_cohort_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_combine(bigint[], bigint[]) IS
'combine function of cohort_matrix(activity, mode): adds two matrices';

CREATE FUNCTION @extschema@.activity_cohort_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_final(bigint[]) IS
'final function of cohort_matrix(activity, mode): the layout of cohort_matrix(user_id, ts, ...)';

CREATE AGGREGATE @extschema@.cohort_matrix(activity @extschema@.activity, mode text) (
    SFUNC = @extschema@.activity_cohort_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_cohort_final,
    COMBINEFUNC = @extschema@.activity_cohort_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(@extschema@.activity, text) IS
'stage two of a distributed cohort table over per-user activities (a bigint[] state sized by periods, not users); same result as cohort_matrix(user_id, ts, period, mode, ...); unpack with cohort_rows';

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
