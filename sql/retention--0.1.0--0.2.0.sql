/* retention--0.1.0--0.2.0.sql: update a 0.1.0 installation to 0.2.0.
 *
 * Every change to the extension's SQL made for 0.2.0 is here too, in the
 * commit that makes it; test/upgrade/upgrade.sh checks that an updated
 * database holds exactly the objects of a fresh 0.2.0 install. */

\echo Use "ALTER EXTENSION retention UPDATE TO '0.2.0'" to load this file. \quit

-- churn (issue 16): logreg_train's elastic net
COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda and l1_ratio (elastic-net penalty lambda ((1 - l1_ratio)/2 ||coef||^2 + l1_ratio ||coef||_1), intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';

-- churn (issue 16): src/churn/encoder.sql
--------------------------------------------------------------------------
-- Churn feature encoder: raw rows (to_jsonb(row)) to feature vectors,
-- learned from the training rows and stored inside the model.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.churn_label_expr(label_column text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        $e$(CASE WHEN (src.%1$I)::pg_catalog.text OPERATOR(pg_catalog.~) '^\s*[-+]?[0-9.]+\s*$'
                 THEN (src.%1$I)::pg_catalog.text::pg_catalog.numeric::integer::boolean
                 ELSE (src.%1$I)::pg_catalog.text::boolean END)$e$, label_column)
$$;

COMMENT ON FUNCTION @extschema@.churn_label_expr(text) IS
'the SQL expression (over the FROM item src) that reads a label column as boolean: a number (0/1), a boolean, or text that reads as one (''Yes'', ''no'', ''t'', ''1''); used by train_churn_model and logreg_cv';

CREATE FUNCTION @extschema@.churn_encoder(source text, columns text[], options jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    opts        pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    min_count   pg_catalog.int8;
    max_levels  integer;
    standardize boolean;
    k           pg_catalog.text;
    st          record;
    n_levels    pg_catalog.int8;
    cols        pg_catalog.jsonb := '[]'::pg_catalog.jsonb;
    kept        pg_catalog.text[];
    rare        pg_catalog.text[];
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'source must not be NULL';
    END IF;
    IF columns IS NULL OR pg_catalog.cardinality(columns) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns must name at least one column and hold no NULL';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT c) FROM pg_catalog.unnest(columns) AS c)
       OPERATOR(pg_catalog.<>) pg_catalog.cardinality(columns) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns names a column twice';
    END IF;
    IF pg_catalog.jsonb_typeof(opts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'encoder options must be a JSON object';
    END IF;
    FOR k IN SELECT pg_catalog.jsonb_object_keys(opts) LOOP
        IF k OPERATOR(pg_catalog.<>) ALL (ARRAY['min_level_count', 'max_levels', 'standardize']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('unrecognized encoder option "%s"', k),
                HINT = 'Valid options are min_level_count, max_levels and standardize.';
        END IF;
    END LOOP;
    BEGIN
        min_count := COALESCE((opts OPERATOR(pg_catalog.->>) 'min_level_count')::pg_catalog.int8, 10);
        max_levels := COALESCE((opts OPERATOR(pg_catalog.->>) 'max_levels')::integer, 1000);
        standardize := COALESCE((opts OPERATOR(pg_catalog.->>) 'standardize')::boolean, false);
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count and max_levels are integers, standardize is true or false.';
    END;
    IF min_count OPERATOR(pg_catalog.<) 1 OR max_levels OPERATOR(pg_catalog.<) 1
       OR max_levels OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count must be at least 1 and max_levels between 1 and 1000.';
    END IF;

    -- one scan: every cell of the named columns, typed; per column its
    -- counts, mean and standard deviation, and the level counts of the
    -- columns that hold text
    FOR st IN EXECUTE pg_catalog.format(
        $q$WITH cells AS (
             SELECT u.i, x.t, e.value OPERATOR(pg_catalog.#>>) '{}' AS txt,
                    CASE WHEN x.t OPERATOR(pg_catalog.=) 'bool'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::boolean::integer::pg_catalog.float8
                         WHEN x.t OPERATOR(pg_catalog.=) 'number'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.float8 END AS num
               FROM (SELECT pg_catalog.to_jsonb(src) AS r FROM %s OFFSET 0) AS j
              CROSS JOIN LATERAL pg_catalog.jsonb_each(j.r) AS e
               JOIN pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i) ON u.name OPERATOR(pg_catalog.=) e.key
              CROSS JOIN LATERAL (SELECT CASE
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'null' THEN 'missing'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'boolean' THEN 'bool'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'number' THEN 'number'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.<>) 'string' THEN 'bad'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^\s*$' THEN 'missing'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~)
                             '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' THEN 'number'
                        ELSE 'text' END AS t) AS x),
           stats AS (
             SELECT u.i, u.name,
                    pg_catalog.count(c.t) AS n_present,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'missing') AS n_missing,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'text') AS n_text,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bad') AS n_bad,
                    pg_catalog.count(c.num) AS n_num,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bool') AS n_bool,
                    pg_catalog.avg(c.num) AS mean,
                    pg_catalog.stddev_pop(c.num) AS sd
               FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i)
               LEFT JOIN cells AS c ON c.i OPERATOR(pg_catalog.=) u.i
              GROUP BY u.i, u.name),
           levels AS (
             SELECT l.i, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(l.txt, l.n) ORDER BY l.txt COLLATE "C") AS counts
               FROM (SELECT c.i, c.txt, pg_catalog.count(*) AS n
                       FROM cells AS c
                      WHERE c.t OPERATOR(pg_catalog.<>) 'missing'
                        AND c.i OPERATOR(pg_catalog.=) ANY (SELECT s.i FROM stats AS s WHERE s.n_text OPERATOR(pg_catalog.>) 0)
                      GROUP BY c.i, c.txt) AS l
              GROUP BY l.i)
           SELECT s.*, l.counts FROM stats AS s LEFT JOIN levels AS l ON l.i OPERATOR(pg_catalog.=) s.i ORDER BY s.i$q$,
        @extschema@.source_from_item(source))
        USING columns
    LOOP
        IF st.n_present OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '42703',
                MESSAGE = pg_catalog.format('column "%s" is not in the rows of the source', st.name),
                HINT = 'Name columns of the source (their names are case-sensitive).';
        ELSIF st.n_bad OPERATOR(pg_catalog.>) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" holds arrays or objects', st.name),
                HINT = 'Encode scalar columns: numbers, booleans and text.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 AND st.n_num OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" has no values', st.name),
                HINT = 'Every value is NULL or blank; leave the column out.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 THEN
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'numeric', 'mean', st.mean, 'sd', st.sd,
                -- booleans are indicators, like the one-hot levels: never rescaled
                'standardize', standardize AND st.n_bool OPERATOR(pg_catalog.<) st.n_num,
                'missing_indicator', st.n_missing OPERATOR(pg_catalog.>) 0));
        ELSE
            SELECT pg_catalog.count(*),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.>=) min_count),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.<) min_count)
              INTO n_levels, kept, rare
              FROM pg_catalog.jsonb_array_elements(st.counts) WITH ORDINALITY AS x(e, o);
            IF n_levels OPERATOR(pg_catalog.>) max_levels THEN
                RAISE EXCEPTION USING ERRCODE = '54000',
                    MESSAGE = pg_catalog.format('column "%s" has %s distinct values, more than max_levels (%s)',
                                                st.name, n_levels, max_levels),
                    HINT = 'Leave identifiers out of the feature columns, or raise the max_levels option (at most 1000).';
            END IF;
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'categorical',
                'reference', kept[1],
                'levels', pg_catalog.to_jsonb(COALESCE(kept[2:], '{}'::pg_catalog.text[])),
                'rare', pg_catalog.to_jsonb(COALESCE(rare, '{}'::pg_catalog.text[])),
                'other', rare IS NOT NULL,
                'missing', st.n_missing OPERATOR(pg_catalog.>) 0));
        END IF;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('version', 1, 'standardize', standardize,
                                         'min_level_count', min_count, 'columns', cols);
END
$$;

COMMENT ON FUNCTION @extschema@.churn_encoder(text, text[], jsonb) IS
'learns a feature encoder from the rows of a table, view or query for the named columns: numeric columns (numbers, booleans as 0/1, text that is all numbers) with an optional standardisation and a missing-value indicator, text columns one-hot with the first level in byte order as the reference and levels seen fewer than min_level_count times (default 10) grouped as "(other)"; options min_level_count, max_levels (default 1000), standardize (default false)';

CREATE FUNCTION @extschema@.churn_encode(encoder jsonb, "row" jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'churn_encode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encode(jsonb, jsonb) IS
'the feature vector of a raw row (to_jsonb(row)) under an encoder from churn_encoder; a level never seen in training encodes as the reference level';

CREATE FUNCTION @extschema@.churn_encoder_features(encoder jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_encoder_features'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encoder_features(jsonb) IS
'the readable names of the features an encoder makes, in order (for example "Contract=Two year", "TotalCharges (missing)")';

CREATE FUNCTION @extschema@.churn_model_with_encoder(model @extschema@.logreg_model, encoder jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'churn_model_with_encoder'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_model_with_encoder(@extschema@.logreg_model, jsonb) IS
'the model with the encoder its features were made by stored inside it, so that churn_prob_row, churn_logit_row and churn_explain_row take raw rows; feature names from the encoder';

CREATE FUNCTION @extschema@.churn_prob_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_prob_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob_row(@extschema@.logreg_model, jsonb) IS
'churn probability of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_logit_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_logit_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit_row(@extschema@.logreg_model, jsonb) IS
'log-odds of churn of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_explain_row(model @extschema@.logreg_model, "row" jsonb,
    OUT feature_index integer, OUT feature text, OUT value float8, OUT coefficient float8,
    OUT mean float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'churn_explain_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain_row(@extschema@.logreg_model, jsonb) IS
'churn_explain of one raw row (to_jsonb(row)), encoded by the encoder stored in the model: one row per encoded feature';

CREATE FUNCTION @extschema@.churn_unseen(model @extschema@.logreg_model, "row" jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_unseen'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_unseen(@extschema@.logreg_model, jsonb) IS
'the values of a raw row that the model''s encoder never saw in training ("column=value"), which score as the reference level; empty when none';

-- churn (issue 16): src/churn/calibration.sql
--------------------------------------------------------------------------
-- Churn probability calibration: Platt scaling and isotonic regression
-- fitted on a holdout and stored in the model; Brier score, expected
-- calibration error and the reliability curve.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.calibration_fit(probs float8[], labels boolean[], method text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'calibration_fit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.calibration_fit(float8[], boolean[], text) IS
'a calibration of probabilities fitted to labels (pairs with a NULL skipped): method platt (logistic regression of the labels on the log-odds) or isotonic (pool-adjacent-violators, interpolated linearly and clipped as scikit-learn); store it with churn_model_with_calibration';

CREATE FUNCTION @extschema@.churn_model_with_calibration(model @extschema@.logreg_model, calibration jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'churn_model_with_calibration'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_model_with_calibration(@extschema@.logreg_model, jsonb) IS
'the model with a calibration (from calibration_fit, or {"method": "shift", "shift": s}) stored in it, applied by churn_prob and churn_prob_row; a NULL calibration removes it';

CREATE FUNCTION @extschema@.calibration_metrics(probs float8[], labels boolean[], bins integer DEFAULT 10)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'calibration_metrics'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.calibration_metrics(float8[], boolean[], integer) IS
'calibration of probabilities against labels: n_rows, base_rate, mean_prob, Brier score, expected calibration error (ece) and maximum calibration error (mce) over equal-width bins';

CREATE FUNCTION @extschema@.calibration_curve(probs float8[], labels boolean[], bins integer DEFAULT 10,
    OUT bin integer, OUT lower float8, OUT upper float8, OUT n_rows bigint,
    OUT mean_prob float8, OUT fraction_positive float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'calibration_curve'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.calibration_curve(float8[], boolean[], integer) IS
'the reliability curve: per non-empty equal-width bin of probability its rows, mean probability and fraction of positive labels (scikit-learn calibration_curve, strategy uniform)';

-- churn (issue 16): src/churn/cv.sql
--------------------------------------------------------------------------
-- Churn model selection: k-fold cross-validation of logreg_train over a
-- path of penalties, as R's cv.glmnet reports it.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.logreg_cv(source text, label_column text, feature_columns text[],
                                      key_column text, options jsonb DEFAULT NULL)
RETURNS TABLE (l1_ratio float8, lambda float8, mean float8, std_err float8,
               n_nonzero integer, selected text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    train_opts pg_catalog.jsonb;
    k          integer;
    metric     pg_catalog.text;
    n_lambda   integer;
    min_ratio  pg_catalog.float8;
    lambdas    pg_catalog.float8[];
    rhos       pg_catalog.float8[];
    rho        pg_catalog.float8;
    lam        pg_catalog.float8;
    lam_max    pg_catalog.float8;
    f          integer;
    m          @extschema@.logreg_model;
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    n_rows     pg_catalog.int8;
    n_pos      pg_catalog.int8;
    key        pg_catalog.text;
    fold_train pg_catalog.int8[];
BEGIN
    IF source IS NULL OR label_column IS NULL OR key_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'source, label_column and key_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF pg_catalog.jsonb_typeof(opts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'logreg_cv options must be a JSON object';
    END IF;
    -- the options of cross-validation; the others go to logreg_train, which checks them
    FOR key IN SELECT pg_catalog.jsonb_object_keys(opts) LOOP
        IF key OPERATOR(pg_catalog.=) ANY (ARRAY['feature_names', 'lambda']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('logreg_cv does not take the option "%s"', key),
                HINT = 'Give the penalties to try as "lambdas", or let logreg_cv make a path of "n_lambda" of them.';
        END IF;
    END LOOP;
    BEGIN
        k := COALESCE((opts OPERATOR(pg_catalog.->>) 'folds')::integer, 5);
        metric := COALESCE(opts OPERATOR(pg_catalog.->>) 'metric', 'deviance');
        n_lambda := COALESCE((opts OPERATOR(pg_catalog.->>) 'n_lambda')::integer, 20);
        min_ratio := COALESCE((opts OPERATOR(pg_catalog.->>) 'lambda_min_ratio')::pg_catalog.float8, 1e-4);
        lambdas := (SELECT pg_catalog.array_agg(e::pg_catalog.float8 ORDER BY e::pg_catalog.float8 DESC)
                      FROM pg_catalog.jsonb_array_elements_text(opts OPERATOR(pg_catalog.->) 'lambdas') AS e);
        rhos := CASE
                    WHEN pg_catalog.jsonb_typeof(opts OPERATOR(pg_catalog.->) 'l1_ratio') OPERATOR(pg_catalog.=) 'array'
                    THEN (SELECT pg_catalog.array_agg(e::pg_catalog.float8 ORDER BY o)
                            FROM pg_catalog.jsonb_array_elements_text(opts OPERATOR(pg_catalog.->) 'l1_ratio')
                                 WITH ORDINALITY AS u(e, o))
                    WHEN pg_catalog.jsonb_typeof(opts OPERATOR(pg_catalog.->) 'l1_ratio') OPERATOR(pg_catalog.=) 'number'
                    THEN ARRAY[(opts OPERATOR(pg_catalog.->>) 'l1_ratio')::pg_catalog.float8]
                    ELSE ARRAY[0::pg_catalog.float8] END;
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR invalid_parameter_value THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid logreg_cv option value',
            DETAIL = 'folds and n_lambda are integers, lambda_min_ratio a number, lambdas an array of numbers, l1_ratio a number or an array of numbers.';
    END;
    IF k OPERATOR(pg_catalog.<) 2 OR k OPERATOR(pg_catalog.>) 100
       OR n_lambda OPERATOR(pg_catalog.<) 1 OR n_lambda OPERATOR(pg_catalog.>) 1000
       OR NOT (min_ratio OPERATOR(pg_catalog.>) 0 AND min_ratio OPERATOR(pg_catalog.<) 1)
       OR metric OPERATOR(pg_catalog.<>) ALL (ARRAY['deviance', 'auc'])
       OR EXISTS (SELECT FROM pg_catalog.unnest(lambdas) AS l
                   WHERE NOT (l OPERATOR(pg_catalog.>=) 0 AND l OPERATOR(pg_catalog.<) 'Infinity'))
       OR EXISTS (SELECT FROM pg_catalog.unnest(rhos) AS r
                   WHERE r IS NULL OR NOT (r OPERATOR(pg_catalog.>=) 0 AND r OPERATOR(pg_catalog.<=) 1)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid logreg_cv option value',
            DETAIL = 'folds is 2 to 100, n_lambda 1 to 1000, lambda_min_ratio in (0, 1), metric "deviance" or "auc", lambdas zero or positive, l1_ratio in [0, 1].';
    END IF;
    train_opts := opts OPERATOR(pg_catalog.-) ARRAY['folds', 'metric', 'n_lambda', 'lambda_min_ratio', 'lambdas', 'l1_ratio'];

    from_item := @extschema@.source_from_item(source);
    label_expr := @extschema@.churn_label_expr(label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));

    -- the usable rows, each in a fold: within each class, rows in the order
    -- of a hash of the key are dealt to the folds in turn (stratified and
    -- deterministic: the same key is in the same fold on every run)
    IF pg_catalog.to_regclass('pg_temp.logreg_cv_rows') IS NULL THEN
        CREATE TEMP TABLE logreg_cv_rows (y boolean, x pg_catalog.float8[], fold pg_catalog.int8);
        CREATE TEMP TABLE logreg_cv_scores
            (l1_ratio pg_catalog.float8, lambda pg_catalog.float8, fold integer, n pg_catalog.int8,
             score pg_catalog.float8, n_nonzero integer);
    END IF;
    TRUNCATE pg_temp.logreg_cv_rows, pg_temp.logreg_cv_scores;
    EXECUTE pg_catalog.format(
        $q$INSERT INTO pg_temp.logreg_cv_rows
           SELECT s.y, s.x,
                  ((pg_catalog.row_number() OVER (PARTITION BY s.y ORDER BY pg_catalog.hashtext(s.key), s.key COLLATE "C"))
                    OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) %s AS fold
             FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS x, (src.%I)::pg_catalog.text AS key
                     FROM %s) AS s
            WHERE s.y IS NOT NULL AND pg_catalog.array_position(s.x, NULL) IS NULL
              AND NOT (s.x OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])$q$,
        k, label_expr, feats, key_column, from_item);
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE r.y) INTO n_rows, n_pos
      FROM pg_temp.logreg_cv_rows AS r;
    IF n_pos OPERATOR(pg_catalog.<) k OR n_rows OPERATOR(pg_catalog.-) n_pos OPERATOR(pg_catalog.<) k THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('%s-fold cross-validation needs at least %s rows of each class', k, k),
            DETAIL = pg_catalog.format('The usable rows hold %s positive and %s negative labels.', n_pos, n_rows OPERATOR(pg_catalog.-) n_pos);
    END IF;

    fold_train := (SELECT pg_catalog.array_agg(n_rows OPERATOR(pg_catalog.-) c.n ORDER BY c.fold)
                     FROM (SELECT r.fold, pg_catalog.count(*) AS n FROM pg_temp.logreg_cv_rows AS r GROUP BY r.fold) AS c);

    FOREACH rho IN ARRAY rhos LOOP
        IF lambdas IS NULL THEN
            -- glmnet's path: from the smallest penalty that zeroes every
            -- coefficient, max_j |x_j'(y - mean y)| / rho (rho at least
            -- 0.001, as glmnet for ridge), down to lambda_min_ratio of it
            SELECT pg_catalog.max(pg_catalog.abs(t.g)) OPERATOR(pg_catalog./) GREATEST(rho, 0.001)
              INTO lam_max
              FROM (SELECT j, pg_catalog.sum(r.x[j] OPERATOR(pg_catalog.*)
                              (r.y::integer OPERATOR(pg_catalog.-) (n_pos::pg_catalog.float8 OPERATOR(pg_catalog./) n_rows))) AS g
                      FROM pg_temp.logreg_cv_rows AS r, pg_catalog.generate_subscripts(r.x, 1) AS j
                     GROUP BY j) AS t;
        END IF;
        FOR lam IN
            SELECT l FROM pg_catalog.unnest(COALESCE(lambdas,
                (SELECT pg_catalog.array_agg(lam_max OPERATOR(pg_catalog.*)
                            (min_ratio OPERATOR(pg_catalog.^) (i::pg_catalog.float8 OPERATOR(pg_catalog./) GREATEST(n_lambda OPERATOR(pg_catalog.-) 1, 1)))
                            ORDER BY i)
                   FROM pg_catalog.generate_series(0, n_lambda OPERATOR(pg_catalog.-) 1) AS i))) AS l
        LOOP
            FOR f IN 0 .. k OPERATOR(pg_catalog.-) 1 LOOP
                -- lambda is on the scale of a sum over the rows: a fold's fit
                -- on n_train rows takes lambda n_train / n, the same penalty
                -- per row (cv.glmnet keeps its per-row lambda across folds)
                SELECT @extschema@.logreg_train(r.y, r.x, train_opts OPERATOR(pg_catalog.||)
                           pg_catalog.jsonb_build_object('lambda',
                               lam OPERATOR(pg_catalog.*) (fold_train[f OPERATOR(pg_catalog.+) 1]::pg_catalog.float8 OPERATOR(pg_catalog./) n_rows),
                               'l1_ratio', rho))
                  INTO m FROM pg_temp.logreg_cv_rows AS r WHERE r.fold OPERATOR(pg_catalog.<>) f;
                INSERT INTO pg_temp.logreg_cv_scores
                SELECT rho, lam, f, pg_catalog.count(*),
                       CASE WHEN metric OPERATOR(pg_catalog.=) 'auc' THEN @extschema@.roc_auc(@extschema@.churn_prob(m, r.x), r.y)
                            -- binomial deviance per row, -2 log-likelihood, as cv.glmnet
                            ELSE 2 OPERATOR(pg_catalog.*) @extschema@.log_loss(@extschema@.churn_prob(m, r.x), r.y) END,
                       NULL
                  FROM pg_temp.logreg_cv_rows AS r WHERE r.fold OPERATOR(pg_catalog.=) f;
            END LOOP;
            -- the non-zero coefficients of the fit on all rows, as cv.glmnet's nzero
            SELECT @extschema@.logreg_train(r.y, r.x, train_opts OPERATOR(pg_catalog.||)
                       pg_catalog.jsonb_build_object('lambda', lam, 'l1_ratio', rho))
              INTO m FROM pg_temp.logreg_cv_rows AS r;
            UPDATE pg_temp.logreg_cv_scores AS s
               SET n_nonzero = (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements_text(m::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'coef') AS c
                                 WHERE c::pg_catalog.float8 OPERATOR(pg_catalog.<>) 0)
             WHERE s.l1_ratio OPERATOR(pg_catalog.=) rho AND s.lambda OPERATOR(pg_catalog.=) lam;
        END LOOP;
    END LOOP;

    -- mean over the folds weighted by their sizes, and its standard error
    -- sqrt(weighted mean of squared deviations / (k - 1)), as cv.glmnet
    RETURN QUERY
    WITH path AS (
        SELECT s.l1_ratio, s.lambda,
               pg_catalog.sum(s.n OPERATOR(pg_catalog.*) s.score) OPERATOR(pg_catalog./) pg_catalog.sum(s.n) AS mean,
               pg_catalog.max(s.n_nonzero) AS n_nonzero
          FROM pg_temp.logreg_cv_scores AS s GROUP BY s.l1_ratio, s.lambda),
    se AS (
        SELECT p.l1_ratio, p.lambda, p.mean, p.n_nonzero,
               pg_catalog.sqrt(pg_catalog.sum(s.n OPERATOR(pg_catalog.*) ((s.score OPERATOR(pg_catalog.-) p.mean) OPERATOR(pg_catalog.^) 2))
                               OPERATOR(pg_catalog./) pg_catalog.sum(s.n) OPERATOR(pg_catalog./) (k OPERATOR(pg_catalog.-) 1)) AS std_err
          FROM path AS p JOIN pg_temp.logreg_cv_scores AS s
            ON s.l1_ratio OPERATOR(pg_catalog.=) p.l1_ratio AND s.lambda OPERATOR(pg_catalog.=) p.lambda
         GROUP BY p.l1_ratio, p.lambda, p.mean, p.n_nonzero),
    signed AS (   -- lower is better
        SELECT e.*, CASE WHEN metric OPERATOR(pg_catalog.=) 'auc' THEN OPERATOR(pg_catalog.-) e.mean ELSE e.mean END AS loss
          FROM se AS e),
    best AS (
        SELECT DISTINCT ON (g.l1_ratio) g.l1_ratio, g.lambda AS lambda_min, g.loss OPERATOR(pg_catalog.+) g.std_err AS bound
          FROM signed AS g ORDER BY g.l1_ratio, g.loss, g.lambda DESC),
    one_se AS (
        SELECT b.l1_ratio, pg_catalog.max(g.lambda) AS lambda_1se
          FROM best AS b JOIN signed AS g ON g.l1_ratio OPERATOR(pg_catalog.=) b.l1_ratio
         WHERE g.loss OPERATOR(pg_catalog.<=) b.bound
         GROUP BY b.l1_ratio)
    SELECT g.l1_ratio, g.lambda, g.mean, g.std_err, g.n_nonzero::integer,
           CASE WHEN g.lambda OPERATOR(pg_catalog.=) b.lambda_min OR g.lambda OPERATOR(pg_catalog.=) o.lambda_1se
                THEN pg_catalog.concat_ws(', ',
                         CASE WHEN g.lambda OPERATOR(pg_catalog.=) b.lambda_min THEN 'lambda_min' END,
                         CASE WHEN g.lambda OPERATOR(pg_catalog.=) o.lambda_1se THEN 'lambda_1se' END) END
      FROM signed AS g
      JOIN best AS b ON b.l1_ratio OPERATOR(pg_catalog.=) g.l1_ratio
      JOIN one_se AS o ON o.l1_ratio OPERATOR(pg_catalog.=) g.l1_ratio
     ORDER BY pg_catalog.array_position(rhos, g.l1_ratio), g.lambda DESC;
END
$$;

COMMENT ON FUNCTION @extschema@.logreg_cv(text, text, text[], text, jsonb) IS
'k-fold cross-validation of logreg_train over a path of penalties, as R''s cv.glmnet: folds by a hash of key_column, stratified by the label; one row per (l1_ratio, lambda) with the mean and standard error of the fold scores (deviance or AUC), the non-zero coefficients of the fit on all rows, and selected = lambda_min / lambda_1se; options folds (5), metric, lambdas or n_lambda (20) and lambda_min_ratio (1e-4), l1_ratio (a number or an array), and any logreg_train option';

-- churn (issue 16): train_churn_model learns an encoder for text columns and
-- calibrates; churn_scores scores raw rows with the encoder
CREATE OR REPLACE PROCEDURE @extschema@.train_churn_model(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    options jsonb DEFAULT NULL,
    holdout_column text DEFAULT NULL,
    holdout_fraction float8 DEFAULT 0.2,
    INOUT version integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    test_expr  pg_catalog.text;
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    model      @extschema@.logreg_model;
    holdout    pg_catalog.jsonb;
    encoder    pg_catalog.jsonb;
    enc_opts   pg_catalog.jsonb;
    scored     pg_catalog.text;
    cal_method pg_catalog.text;
    calibration pg_catalog.jsonb;
    cal_before pg_catalog.jsonb;
    shift      pg_catalog.float8;
    uncalibrated @extschema@.logreg_model;
    types      pg_catalog.text[];
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source and label_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF holdout_column IS NULL AND NOT (holdout_fraction OPERATOR(pg_catalog.>=) 0::pg_catalog.float8
                                       AND holdout_fraction OPERATOR(pg_catalog.<) 1::pg_catalog.float8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('holdout_fraction %s is not in [0, 1)', holdout_fraction);
    END IF;
    from_item := @extschema@.source_from_item(source);
    IF opts OPERATOR(pg_catalog.?) 'calibration' THEN
        cal_method := opts OPERATOR(pg_catalog.->>) 'calibration';
        opts := opts OPERATOR(pg_catalog.-) 'calibration';
    END IF;

    -- the encoder: asked for with the "encoder" option (true or the options
    -- of churn_encoder), and always used when a feature column is not a number
    IF opts OPERATOR(pg_catalog.?) 'encoder' THEN
        enc_opts := opts OPERATOR(pg_catalog.->) 'encoder';
        opts := opts OPERATOR(pg_catalog.-) 'encoder';
        IF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.=) 'boolean' THEN
            enc_opts := CASE WHEN enc_opts::pg_catalog.text::boolean THEN '{}'::pg_catalog.jsonb END;
        ELSIF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.<>) 'object' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'the "encoder" option must be true, false or an object of churn_encoder options';
        END IF;
    ELSE
        EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM %s LIMIT 1',
            (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.pg_typeof(src.%I)::pg_catalog.text', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
            from_item)
            INTO types;
        IF EXISTS (SELECT FROM pg_catalog.unnest(types) AS t
                    WHERE t OPERATOR(pg_catalog.<>) ALL (ARRAY['smallint', 'integer', 'bigint', 'real',
                                                             'double precision', 'numeric'])) THEN
            enc_opts := '{}'::pg_catalog.jsonb;
        END IF;
    END IF;

    IF enc_opts IS NULL AND NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;
    label_expr := @extschema@.churn_label_expr(label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));
    IF holdout_column IS NOT NULL THEN
        test_expr := pg_catalog.format('COALESCE((src.%I)::boolean, false)', holdout_column);
    ELSE
        -- a deterministic split: a hash of the whole row
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    IF enc_opts IS NOT NULL THEN
        -- learned on the training rows only, like the coefficients
        encoder := @extschema@.churn_encoder(
            pg_catalog.format('SELECT src.* FROM %s WHERE NOT (%s)', from_item, test_expr),
            feature_columns, enc_opts);
        opts := opts OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('feature_names',
                pg_catalog.to_jsonb(@extschema@.churn_encoder_features(encoder)));
        feats := pg_catalog.format('@extschema@.churn_encode(%L::pg_catalog.jsonb, pg_catalog.to_jsonb(src))', encoder);
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, %s, $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
        model := @extschema@.churn_model_with_encoder(model, encoder);
    ELSE
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
    END IF;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, NULL features or non-finite features are skipped.';
    END IF;

    -- the holdout rows the model has not seen, scored by $1: (p, y, u), u the
    -- unseen levels of a raw row; with an encoder the raw rows, missing values
    -- encoded, else the rows with usable features
    IF enc_opts IS NOT NULL THEN
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob_row($1, r) AS p, y, @extschema@.churn_unseen($1, r) AS u
                 FROM (SELECT %s AS y, pg_catalog.to_jsonb(src) AS r FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL$q$,
            label_expr, from_item, test_expr);
    ELSE
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob($1, f) AS p, y, '{}'::pg_catalog.text[] AS u
                 FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                  AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])$q$,
            label_expr, feats, from_item, test_expr);
    END IF;

    -- calibration: "platt" or "isotonic" fitted on the holdout, "shift" (the
    -- prior correction of class weights, the default for a model trained
    -- with them) or "none"
    cal_method := COALESCE(cal_method, CASE WHEN opts OPERATOR(pg_catalog.?) 'class_weight' THEN 'shift' ELSE 'none' END);
    IF cal_method OPERATOR(pg_catalog.=) 'shift' THEN
        IF NOT opts OPERATOR(pg_catalog.?) 'class_weight' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'calibration "shift" corrects for class weights, and the options give none';
        END IF;
        IF opts OPERATOR(pg_catalog.->>) 'class_weight' OPERATOR(pg_catalog.=) 'balanced' THEN
            -- balanced weights n / (2 n_class): log(w0 / w1) = log(n1 / n0) on the training rows
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.ln(pg_catalog.count(*) FILTER (WHERE y)::pg_catalog.float8
                                      OPERATOR(pg_catalog./) pg_catalog.count(*) FILTER (WHERE NOT y))
                   FROM (SELECT %s AS y FROM %s WHERE NOT (%s)) AS t',
                label_expr, from_item, test_expr)
                INTO shift;
        ELSE
            shift := pg_catalog.ln(
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,0}', opts OPERATOR(pg_catalog.#>>) '{class_weight,false}', '1')::pg_catalog.float8
                OPERATOR(pg_catalog./)
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,1}', opts OPERATOR(pg_catalog.#>>) '{class_weight,true}', '1')::pg_catalog.float8);
        END IF;
        calibration := pg_catalog.jsonb_build_object('method', 'shift', 'shift', shift);
    ELSIF cal_method OPERATOR(pg_catalog.=) ANY (ARRAY['platt', 'isotonic']) THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_fit(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y), %L) FROM (%s) AS s',
            cal_method, scored)
            INTO calibration USING model;
        IF calibration IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = pg_catalog.format('calibration "%s" needs holdout rows, and there are none', cal_method);
        END IF;
    ELSIF cal_method OPERATOR(pg_catalog.<>) 'none' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('unknown calibration "%s"', cal_method),
            HINT = 'Use "platt", "isotonic", "shift" or "none".';
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        RAISE WARNING USING ERRCODE = '01000',
            MESSAGE = pg_catalog.format('churn model %L is trained with class weights and not calibrated: its probabilities overstate the weighted class', model_name),
            DETAIL = 'Class weights multiply the odds the model learns by w1/w0; the holdout metrics record "uncalibrated_class_weights".',
            HINT = 'Leave out "calibration": "none" to correct the odds back to the base rate (the default), or calibrate with "platt" or "isotonic" on the holdout.';
    END IF;
    IF calibration IS NOT NULL THEN
        uncalibrated := model;
        model := @extschema@.churn_model_with_calibration(model, calibration);
    END IF;

    -- holdout metrics of the final model; with a calibration fitted on the
    -- holdout (platt, isotonic) they are in-sample for the calibration
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'n_unseen', pg_catalog.count(*) FILTER (WHERE pg_catalog.cardinality(s.u) OPERATOR(pg_catalog.>) 0),
                    'roc_auc', @extschema@.roc_auc(s.p, s.y),
                    'log_loss', @extschema@.log_loss(s.p, s.y),
                    'at_0_5', @extschema@.classification_report(s.p, s.y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(s.p, s.y),
                    'calibration', @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)))
             FROM (%s) AS s$q$, scored)
        INTO holdout USING model;
    holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_method', cal_method);
    IF uncalibrated IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)) FROM (%s) AS s', scored)
            INTO cal_before USING uncalibrated;
        holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_before', cal_before);
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        holdout := holdout OPERATOR(pg_catalog.||) '{"uncalibrated_class_weights": true}'::pg_catalog.jsonb;
    END IF;

    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(model_name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) OPERATOR(pg_catalog.+) 1 INTO version
      FROM @extschema@.models AS m WHERE m.name OPERATOR(pg_catalog.=) model_name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (model_name, version, 'logreg', model::pg_catalog.jsonb,
            pg_catalog.jsonb_build_object('holdout', holdout,
                                          'holdout_split', COALESCE(holdout_column,
                                              'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
            feature_columns, source);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.churn_scores(model_name text, source text, id_column text,
                                         model_version integer DEFAULT NULL)
RETURNS TABLE (id text, churn_prob float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    stored record;
BEGIN
    SELECT m.model, m.feature_names INTO stored
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) 'logreg'
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s does not exist', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            HINT = 'Train it with CALL retention.train_churn_model(...).';
    END IF;
    IF stored.model OPERATOR(pg_catalog.?) 'encoder' THEN
        -- a model with an encoder scores the raw rows
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$SELECT (src.%I)::pg_catalog.text, @extschema@.churn_prob_row($1, pg_catalog.to_jsonb(src)) FROM %s$q$,
            id_column, @extschema@.source_from_item(source))
            USING stored.model::pg_catalog.text::@extschema@.logreg_model;
        RETURN;
    END IF;
    IF stored.feature_names IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churn model %L has no feature names', model_name),
            HINT = 'Score with retention.churn_prob and the features in training order.';
    END IF;
    -- users with a NULL feature get a NULL score; the columns are the model's feature names
    RETURN QUERY EXECUTE pg_catalog.format(
        $q$SELECT s.id, CASE WHEN pg_catalog.array_position(s.f, NULL) IS NULL
                             THEN @extschema@.churn_prob($1, s.f) END
             FROM (SELECT (src.%I)::pg_catalog.text AS id, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s) AS s$q$,
        id_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source))
        USING stored.model::pg_catalog.text::@extschema@.logreg_model;
END
$$;
