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
SET search_path = pg_catalog, pg_temp
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
