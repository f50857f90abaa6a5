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
            -- (unnest: the planner expects a few elements per array, where
            -- generate_subscripts' thousand made the query JIT-compile)
            SELECT pg_catalog.max(pg_catalog.abs(t.g)) OPERATOR(pg_catalog./) GREATEST(rho, 0.001)
              INTO lam_max
              FROM (SELECT u.j, pg_catalog.sum(u.v OPERATOR(pg_catalog.*)
                              (r.y::integer OPERATOR(pg_catalog.-) (n_pos::pg_catalog.float8 OPERATOR(pg_catalog./) n_rows))) AS g
                      FROM pg_temp.logreg_cv_rows AS r, pg_catalog.unnest(r.x) WITH ORDINALITY AS u(v, j)
                     GROUP BY u.j) AS t;
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
