--------------------------------------------------------------------------
-- Retention: cohort tables
--
-- cohort_matrix is the one-pass aggregate; cohort_table runs it over a
-- table and returns the long format BI tools chart directly.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_matrix_trans(@extschema@.agg_state, bigint, timestamptz, text, text, boolean, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'cohort_matrix_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_trans(@extschema@.agg_state, bigint, timestamptz, text, text, boolean, boolean) IS
'transition function of cohort_matrix';

CREATE FUNCTION @extschema@.cohort_matrix_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'cohort_matrix_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_final(@extschema@.agg_state) IS
'final function of cohort_matrix: one row per cohort {start date as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), size, retained at 0, 1, ...}';

CREATE AGGREGATE @extschema@.cohort_matrix(user_id bigint, ts timestamptz, period text, mode text,
                                           is_start boolean, is_return boolean) (
    SFUNC = @extschema@.cohort_matrix_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.cohort_matrix_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean) IS
'cohort retention matrix in one pass (mode ''classic'', ''unbounded'', ''recurring'' or ''recurring_unbounded''): a bigint[][] with one row {start date as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), size, retained at period 0, 1, ...} per cohort, NULL where censored; see cohort_table';

-- Each cohort's start and size are taken from the unnested stream (the
-- first and second cell of its row): subscripting the matrix per cell walks
-- its null bitmap, or decompresses it, every time.
CREATE FUNCTION @extschema@.cohort_rows(matrix bigint[])
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 100
AS $$
    SELECT DATE '2000-01-01' OPERATOR(pg_catalog.+) y.start::integer, y.size, y.k, y.v,
           y.v::float8 OPERATOR(pg_catalog./) y.size::float8
      FROM (SELECT x.v, ((x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%) x.w)::integer OPERATOR(pg_catalog.-) 2 AS k,
                   pg_catalog.first_value(x.v) OVER w AS start, pg_catalog.nth_value(x.v, 2) OVER w AS size
              FROM (SELECT u.v, u.o, n.w
                      FROM (SELECT pg_catalog.array_length(matrix, 2) AS w OFFSET 0) AS n,
                           pg_catalog.unnest(matrix) WITH ORDINALITY AS u(v, o)) AS x
            WINDOW w AS (PARTITION BY (x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) x.w ORDER BY x.o
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) AS y
     WHERE y.k OPERATOR(pg_catalog.>=) 0 AND y.v IS NOT NULL
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
    return_event text DEFAULT NULL,
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, cohort_start timestamp, cohort_size bigint, period_number integer, retained bigint,
               rate float8, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
    is_start text := 'true';
    is_return text := 'true';
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
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
    -- group lacks before it are filled with 0 retained users.  The extent
    -- of the data comes from the same scan: a second reference to the
    -- events would make PostgreSQL materialise them.  Without a breakdown
    -- there is nothing to group by.  The matrix is unpacked by unnest, which
    -- the planner expects to give a few rows, not by two series it would
    -- take for a thousand each: that estimate cost more than the scan and
    -- made even a small table's query pay for JIT compilation.  A cohort's
    -- start and size come from its row in that stream (subscripting the
    -- matrix per cell walks its null bitmap each time), and its periods are
    -- generated once per cohort, not once per cell.
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS s, %4$s AS r, %5$s AS b '
        '             FROM %6$s WHERE %1$I IS NOT NULL AND %7$s), '
        '     g AS (SELECT %12$s AS b, @extschema@.cohort_matrix(e.u, e.t, %10$L, %11$L, e.s, e.r) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi '
        '             FROM e %13$s), '
        '     bounds AS (SELECT COALESCE(%8$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%9$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi, '
        '                       @extschema@.period_start_time(pg_catalog.max(g.hi), %10$L) AS last FROM g), '
        '     x AS MATERIALIZED (SELECT g.b, u.v, u.o, n.w FROM g, '
        '                  LATERAL (SELECT pg_catalog.array_length(g.m, 2) AS w OFFSET 0) AS n, '
        '                  pg_catalog.unnest(g.m) WITH ORDINALITY AS u(v, o)), '
        '     y AS (SELECT x.b, x.v, ((x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) x.w)::pg_catalog.int4 '
        '                  OPERATOR(pg_catalog.-) 2 AS k, '
        '                  pg_catalog.first_value(x.v) OVER w AS start, pg_catalog.nth_value(x.v, 2) OVER w AS size '
        '             FROM x WINDOW w AS (PARTITION BY x.b, (x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) x.w '
        '                                 ORDER BY x.o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)), '
        '     c AS (SELECT y.b, @extschema@.matrix_period_start(y.start, %10$L) AS cohort_start, '
        '                  y.size AS cohort_size, y.k AS period_number, y.v AS retained '
        '             FROM y WHERE y.k OPERATOR(pg_catalog.>=) 0 AND y.v IS NOT NULL), '
        '     cells AS (SELECT co.b, co.cohort_start, co.cohort_size, '
        '                      (k.n OPERATOR(pg_catalog.-) 1)::pg_catalog.int4 AS period_number, k.p '
        '                 FROM (SELECT DISTINCT c.b, c.cohort_start, c.cohort_size FROM c) AS co, bounds, '
        '                      pg_catalog.generate_series(co.cohort_start, bounds.last, '
        '                          (CASE pg_catalog.lower(%10$L) WHEN ''quarter'' THEN ''3 months'' '
        '                           ELSE ''1 '' OPERATOR(pg_catalog.||) %10$L END)::pg_catalog.interval) '
        '                          WITH ORDINALITY AS k(p, n)) '
        'SELECT cells.b, cells.cohort_start, cells.cohort_size, cells.period_number, '
        '       COALESCE(c.retained, 0), '
        '       COALESCE(c.retained, 0)::pg_catalog.float8 OPERATOR(pg_catalog./) cells.cohort_size::pg_catalog.float8, '
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
             ELSE 'classic' END,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text, name, timestamptz, timestamptz, text) IS
'cohort retention table in long format (breakdown, cohort_start, cohort_size, period_number, retained, rate, complete) over a table of events, read with the caller''s privileges; classic or unbounded, first-time or recurring cohorts, censored after the latest event; optional breakdown (from the user''s first start event), date range and time zone; complete says the period lies within the data';

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
