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
