--------------------------------------------------------------------------
-- Customer base: cohort retention projected beyond the observed periods
--
-- A cohort matrix of survivor counts (cohort_matrix with unbounded
-- retention: active in period k or later, so counts never rise) is a
-- contractual survivor table per cohort.  One sBG model is fitted to all
-- cohorts together (each contributes its losses per period and its
-- survivors at its last observed period), and each cohort is projected from
-- its own last observed count: retained(k) = retained(L) S(k) / S(L).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_projection(matrix bigint[], horizon integer)
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer,
               retained float8, rate float8, projected boolean)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    model @extschema@.sbg_model;
    bad record;
BEGIN
    IF horizon < 0 THEN
        RAISE EXCEPTION 'horizon must not be negative, not %', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT a.cohort_start, a.period_number INTO bad
      FROM @extschema@.cohort_rows(matrix) AS a
      JOIN @extschema@.cohort_rows(matrix) AS b
        ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
     WHERE b.retained > a.retained
     ORDER BY 1, 2 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cohort % retains more customers in period % than in period %',
                        bad.cohort_start, bad.period_number + 1, bad.period_number
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A projection needs survivor counts that never rise.',
                  HINT = 'Build the matrix with unbounded retention (cohort_matrix mode ''unbounded'').';
    END IF;

    -- lost during period t: (t, true); still there after the last period L: (L, false)
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT @extschema@.sbg_fit(g.t, g.churned, g.customers) INTO model
      FROM (SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS customers
              FROM r AS a JOIN r AS b
                ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
            UNION ALL
            SELECT last.period_number, false, last.retained FROM last) AS g
     WHERE g.customers > 0;

    RETURN QUERY
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT r.cohort_start, r.cohort_size, r.period_number, r.retained::float8,
           r.retained::float8 / r.cohort_size::float8, false
      FROM r
    UNION ALL
    SELECT last.cohort_start, last.cohort_size, k,
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number),
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number) / last.cohort_size::float8,
           true
      FROM last, generate_series(last.period_number + 1, horizon) AS k
     WHERE model IS NOT NULL
     ORDER BY 1, 3;
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_projection(bigint[], integer) IS
'the cohorts of a cohort_matrix of survivor counts (unbounded retention) with periods up to horizon: observed rows as they are, later periods projected by one sBG model fitted to all cohorts (projected = true)';
