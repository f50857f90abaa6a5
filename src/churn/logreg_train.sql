--------------------------------------------------------------------------
-- Churn training: logreg_train (one scan, rows kept in memory) and the
-- multi-pass form logreg_step + logreg_train_multipass (one scan per
-- Newton iteration, constant memory, a float8[] state Citus can ship)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[])
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[]) IS
'transition function of logreg_train: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[], jsonb)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[], jsonb) IS
'transition function of logreg_train with options: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of logreg_train: concatenates the rows of two partial states';

CREATE FUNCTION @extschema@.logreg_train_final(@extschema@.agg_state)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_train_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_final(@extschema@.agg_state) IS
'final function of logreg_train: Newton (IRLS) iterations to the exact optimum';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[]) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[]) IS
'maximum-likelihood logistic regression of label on features (intercept implicit), exact Newton solve; rows with NULL or non-finite values are skipped and counted';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda (L2, intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';

CREATE FUNCTION @extschema@.logreg_step_accum(float8[], boolean, float8[], float8[], jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_accum(float8[], boolean, float8[], float8[], jsonb) IS
'transition function of logreg_step: adds one row to the objective, gradient and Hessian sums';

CREATE FUNCTION @extschema@.logreg_step_combine(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_combine(float8[], float8[]) IS
'combine function of logreg_step: adds two states of sums';

CREATE AGGREGATE @extschema@.logreg_step(label boolean, features float8[], coef float8[], options jsonb) (
    SFUNC = @extschema@.logreg_step_accum,
    STYPE = float8[],
    COMBINEFUNC = @extschema@.logreg_step_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_step(boolean, float8[], float8[], jsonb) IS
'one Newton pass of logistic regression at coef (intercept first): objective, gradient and Hessian sums in a float8[] state that Citus can combine across nodes';

CREATE FUNCTION @extschema@.logreg_step_objective(state float8[], coef float8[], options jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'logreg_step_objective'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_objective(float8[], float8[], jsonb) IS
'penalised negative log-likelihood of a logreg_step state at its coefficients; NULL when the state or the coefficients are NULL (NULL options mean the defaults)';

CREATE FUNCTION @extschema@.logreg_step_direction(state float8[], coef float8[], options jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_direction'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_direction(float8[], float8[], jsonb) IS
'Newton step of a logreg_step state: {objective, convergence criterion, d_1..d_p}, next coef = coef - d; NULL when the Hessian became singular';

CREATE FUNCTION @extschema@.logreg_step_model(state float8[], coef float8[], options jsonb,
                                              iterations integer, converged boolean,
                                              last_step float8 DEFAULT NULL)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_step_model'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_model(float8[], float8[], jsonb, integer, boolean, float8) IS
'the model of a finished multi-pass fit, from the logreg_step state at its final coefficients; last_step is the norm of the last step over the norm of the coefficients (NULL: unknown), used to tell separation from an outlying row';

-- A table or view name, or a query, as a FROM item aliased "src".
CREATE FUNCTION @extschema@.source_from_item(source text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    IF source OPERATOR(pg_catalog.~*) '^\s*\(?\s*(select|with|values|table)\s' THEN
        RETURN pg_catalog.format('(%s) AS src', source);
    END IF;
    RETURN pg_catalog.format('%s AS src', source::pg_catalog.regclass);
END
$$;

COMMENT ON FUNCTION @extschema@.source_from_item(text) IS
'a training source (table or view name, or a SELECT query) as a FROM item aliased src; the query runs with the caller''s privileges';

CREATE FUNCTION @extschema@.logreg_train_multipass(source text, label_column text,
                                                   feature_columns text[], options jsonb DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    opts     pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    max_iter integer := COALESCE((opts OPERATOR(pg_catalog.->>) 'max_iter')::integer, 100);
    tol      pg_catalog.float8 := COALESCE((opts OPERATOR(pg_catalog.->>) 'tol')::pg_catalog.float8, 1e-8);
    p        integer;
    pass     pg_catalog.text;
    beta     pg_catalog.float8[];
    cand     pg_catalog.float8[];
    s        pg_catalog.float8[];
    sc       pg_catalog.float8[];
    dir      pg_catalog.float8[];
    f        pg_catalog.float8;
    fc       pg_catalog.float8;
    t        pg_catalog.float8;
    iter     integer := 0;
    last_step pg_catalog.float8 := 0;
    accepted boolean;
    converged boolean := false;
BEGIN
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;
    p := pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.+)
         CASE WHEN COALESCE((opts OPERATOR(pg_catalog.->>) 'fit_intercept')::boolean, true) THEN 1 ELSE 0 END;
    pass := pg_catalog.format(
        'SELECT @extschema@.logreg_step((src.%I)::integer::boolean, ARRAY[%s]::pg_catalog.float8[], $1, $2) FROM %s',
        label_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source));
    beta := pg_catalog.array_fill(0::pg_catalog.float8, ARRAY[p]);

    -- "balanced" class weights need the class counts: one counting pass
    IF opts OPERATOR(pg_catalog.->>) 'class_weight' OPERATOR(pg_catalog.=) 'balanced' THEN
        EXECUTE pass INTO s USING beta, opts OPERATOR(pg_catalog.-) 'class_weight'::pg_catalog.text;
        -- 1-based slots of the state: 4 = usable rows, 6 = positives
        IF s IS NOT NULL AND s[6] OPERATOR(pg_catalog.>) 0 AND s[6] OPERATOR(pg_catalog.<) s[4] THEN
            opts := pg_catalog.jsonb_set(opts, '{class_weight}',
                pg_catalog.jsonb_build_object(
                    '0', s[4] OPERATOR(pg_catalog./) (2 OPERATOR(pg_catalog.*) (s[4] OPERATOR(pg_catalog.-) s[6])),
                    '1', s[4] OPERATOR(pg_catalog./) (2 OPERATOR(pg_catalog.*) s[6])));
        ELSE
            opts := opts OPERATOR(pg_catalog.-) 'class_weight'::pg_catalog.text;
        END IF;
    END IF;

    EXECUTE pass INTO s USING beta, opts;
    -- slot 2 is the feature count, -1 while no row was usable
    IF s IS NULL OR s[2] OPERATOR(pg_catalog.<) 0 OR s[4] OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;
    END IF;
    f := @extschema@.logreg_step_objective(s, beta, opts);
    WHILE iter OPERATOR(pg_catalog.<) max_iter LOOP
        dir := @extschema@.logreg_step_direction(s, beta, opts);
        IF dir IS NULL THEN             -- the curvature vanished: separation
            last_step := 'Infinity';
            EXIT;
        END IF;
        t := 1;
        accepted := false;
        FOR h IN 0 .. 50 LOOP
            -- OPERATOR() syntax has one precedence for all: parenthesise
            SELECT pg_catalog.array_agg(beta[i] OPERATOR(pg_catalog.-)
                                        (t OPERATOR(pg_catalog.*) dir[i OPERATOR(pg_catalog.+) 2]) ORDER BY i)
              INTO cand
              FROM pg_catalog.generate_series(1, p) AS i;
            EXECUTE pass INTO sc USING cand, opts;
            fc := @extschema@.logreg_step_objective(sc, cand, opts);
            IF fc OPERATOR(pg_catalog.<=)
               (f OPERATOR(pg_catalog.+)
                (1e-13::pg_catalog.float8 OPERATOR(pg_catalog.*) (pg_catalog.abs(f) OPERATOR(pg_catalog.+) 1::pg_catalog.float8))) THEN
                accepted := true;
                EXIT;
            END IF;
            t := t OPERATOR(pg_catalog./) 2::pg_catalog.float8;
        END LOOP;
        IF NOT accepted THEN
            converged := dir[2] OPERATOR(pg_catalog.<) tol;
            EXIT;
        END IF;
        -- ||t d|| / ||new coef||, as logreg_train measures it
        SELECT CASE WHEN pg_catalog.sum(c OPERATOR(pg_catalog.*) c) OPERATOR(pg_catalog.=) 0::pg_catalog.float8
                    THEN CASE WHEN pg_catalog.sum(d OPERATOR(pg_catalog.*) d) OPERATOR(pg_catalog.=) 0::pg_catalog.float8
                              THEN 0 ELSE 'Infinity'::pg_catalog.float8 END
                    ELSE pg_catalog.sqrt(pg_catalog.sum(d OPERATOR(pg_catalog.*) d)
                                         OPERATOR(pg_catalog./) pg_catalog.sum(c OPERATOR(pg_catalog.*) c)) END
          INTO last_step
          FROM pg_catalog.generate_series(1, p) AS i,
               LATERAL (SELECT cand[i] AS c, cand[i] OPERATOR(pg_catalog.-) beta[i] AS d) AS v;
        beta := cand;
        s := sc;
        f := fc;
        iter := iter OPERATOR(pg_catalog.+) 1;
        IF dir[2] OPERATOR(pg_catalog.<) tol THEN
            converged := true;
            EXIT;
        END IF;
    END LOOP;
    RETURN @extschema@.logreg_step_model(s, beta, opts, iter, converged, last_step);
END
$$;

COMMENT ON FUNCTION @extschema@.logreg_train_multipass(text, text, text[], jsonb) IS
'logistic regression in constant memory: drives the logreg_step aggregate (one scan of source per Newton iteration) to the same exact optimum as logreg_train; use it for tables larger than memory or distributed with Citus';
