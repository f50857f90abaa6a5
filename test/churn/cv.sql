-- pgTAP: logreg_cv against R's cv.glmnet on UCI Online Shoppers, lasso, given
-- the same folds (test/churn/fixtures/online_shoppers_cv.R and its output
-- online_shoppers_cv.out, read below; the folds online_shoppers_folds.csv are
-- logreg_cv's assignment exported once, an input to R).
BEGIN;
SELECT plan(17);

\i data/online_shoppers/load.sql
CREATE VIEW sx AS
SELECT session, "Revenue", "Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
       "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues", "SpecialDay",
       "Weekend"::int AS "Weekend"
  FROM shoppers;

CREATE TEMP TABLE r_path (tag text, measure text, lambda float8, mean float8, std_err float8, n_nonzero int);
\copy r_path FROM PROGRAM 'grep "^path " test/churn/fixtures/online_shoppers_cv.out' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE r_sel (tag text, measure text, t1 text, lambda_min float8, t2 text, lambda_1se float8);
\copy r_sel FROM PROGRAM 'grep "^measure " test/churn/fixtures/online_shoppers_cv.out' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE r_folds (session bigint, fold int);
\copy r_folds FROM 'test/churn/fixtures/online_shoppers_folds.csv' WITH (FORMAT csv, HEADER true)

CREATE TEMP TABLE cv_dev AS
SELECT * FROM retention.logreg_cv('sx', 'Revenue',
    '{Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Weekend}',
    'session', '{"l1_ratio": 1, "n_lambda": 10}');
CREATE TEMP TABLE cv_auc AS
SELECT * FROM retention.logreg_cv('sx', 'Revenue',
    '{Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Weekend}',
    'session', '{"l1_ratio": 1, "n_lambda": 10, "metric": "auc"}');

-- the folds: the fixture's assignment, stratified (each fold 1/5 of each class, to one row)
SELECT is((SELECT count(*) FROM pg_temp.logreg_cv_rows), 12330::bigint, 'every row is used');
SELECT is((SELECT array_agg(n ORDER BY fold) FROM (SELECT fold, count(*) AS n FROM r_folds GROUP BY fold) AS c),
          '{2467,2467,2466,2465,2465}'::bigint[],
          'five folds: 10,422 non-buyers dealt 2,085 2,085 2,084 2,084 2,084 and 1,908 buyers 382 382 382 381 381');
SELECT ok((SELECT max(n) - min(n) <= 1 FROM (SELECT f.fold, count(*) AS n FROM r_folds AS f JOIN shoppers AS s USING (session)
                                               WHERE s."Revenue" GROUP BY f.fold) AS c),
          'stratified: the 1,908 buyers spread 381 or 382 per fold');
SELECT is((SELECT array_agg(n ORDER BY fold) FROM (SELECT fold, count(*) AS n FROM pg_temp.logreg_cv_rows WHERE NOT y GROUP BY fold) AS c),
          '{2085,2085,2084,2084,2084}'::bigint[], 'the non-buyers likewise (logreg_cv''s rows, kept in pg_temp.logreg_cv_rows)');
SELECT is((SELECT count(*) FROM (SELECT ((row_number() OVER (PARTITION BY "Revenue" ORDER BY hashtext(session::text), session::text COLLATE "C")) - 1) % 5 AS fold, session
                                   FROM shoppers) AS a JOIN r_folds AS b USING (session, fold)), 12330::bigint,
          'the assignment is the documented one (hash of the key, dealt in turn within each class) and the fixture''s');

-- the path: lambda, mean, standard error, non-zeros
SELECT is((SELECT count(*) FROM cv_dev), 10::bigint, 'ten penalties');
SELECT cmp_ok((SELECT max(abs(c.lambda - r.lambda) / r.lambda) FROM (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM cv_dev) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM r_path WHERE measure = 'deviance') AS r USING (i)),
              '<', 1e-12::float8, 'the lambda path equals glmnet''s (lambda_max = max |x''(y - mean y)| / rho, down to 1e-4 of it)');
SELECT cmp_ok((SELECT max(abs(c.mean - r.mean) / r.mean) FROM (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM cv_dev) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM r_path WHERE measure = 'deviance') AS r USING (i)),
              '<', 1e-6::float8, 'mean deviance equals cv.glmnet''s folds scored unclipped (1e-6 relative)');
SELECT cmp_ok((SELECT max(abs(c.std_err - r.std_err) / r.std_err) FROM (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM cv_dev) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM r_path WHERE measure = 'deviance') AS r USING (i)),
              '<', 1e-5::float8, 'its standard errors likewise (1e-5)');
SELECT is((SELECT array_agg(n_nonzero ORDER BY lambda DESC) FROM cv_dev),
          (SELECT array_agg(n_nonzero ORDER BY lambda DESC) FROM r_path WHERE measure = 'deviance'),
          'non-zero coefficients along the path equal glmnet''s nzero');
SELECT cmp_ok((SELECT max(abs(c.mean - r.mean) / r.mean) FROM (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM cv_auc) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM r_path WHERE measure = 'auc') AS r USING (i)),
              '<', 1e-9::float8, 'mean AUC equals R''s (1e-9)');
SELECT cmp_ok((SELECT max(abs(c.std_err - r.std_err) / r.std_err) FROM (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM cv_auc) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY lambda DESC) AS i FROM r_path WHERE measure = 'auc') AS r USING (i)),
              '<', 1e-6::float8, 'its standard errors likewise');

-- lambda_min and lambda_1se, as cv.glmnet
SELECT cmp_ok((SELECT abs(c.lambda - r.lambda_min) / r.lambda_min FROM cv_dev AS c, r_sel AS r
                WHERE r.measure = 'deviance' AND c.selected LIKE '%lambda_min%'), '<', 1e-12::float8, 'deviance: lambda_min');
SELECT cmp_ok((SELECT abs(c.lambda - r.lambda_1se) / r.lambda_1se FROM cv_dev AS c, r_sel AS r
                WHERE r.measure = 'deviance' AND c.selected LIKE '%lambda_1se%'), '<', 1e-12::float8, 'deviance: lambda_1se');
SELECT cmp_ok((SELECT abs(c.lambda - r.lambda_1se) / r.lambda_1se FROM cv_auc AS c, r_sel AS r
                WHERE r.measure = 'auc' AND c.selected LIKE '%lambda_1se%'), '<', 1e-12::float8, 'AUC: lambda_1se');

SELECT throws_ok($$SELECT * FROM retention.logreg_cv('sx', 'Revenue', '{PageValues}', 'session', '{"folds": 1}')$$,
                 '22023', 'invalid logreg_cv option value', 'one fold is not cross-validation');
SELECT throws_ok($$SELECT * FROM retention.logreg_cv('sx', 'Revenue', '{PageValues}', 'session', '{"lambda": 1}')$$,
                 '22023', 'logreg_cv does not take the option "lambda"', 'lambda is what it chooses');

SELECT * FROM finish();
ROLLBACK;
