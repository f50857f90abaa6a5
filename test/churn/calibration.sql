-- pgTAP: calibration (Platt, isotonic, the class-weight shift), the Brier
-- score, ECE and the reliability curve, against scikit-learn on probabilities
-- computed outside the extension (R glmnet's Telco holdout predictions):
-- test/churn/fixtures/calibration_sklearn.py and its output, read below.
BEGIN;
SELECT plan(22);

\i data/telco_churn/load.sql
CREATE VIEW telco_raw AS SELECT t.*, t.file_row % 5 = 0 AS is_test FROM telco AS t;
CREATE TEMP TABLE r_pred (file_row bigint, p float8);
\copy r_pred FROM PROGRAM 'sed -n "s/^pred //p" test/churn/fixtures/telco_raw_glmnet.out' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE ref (key text, a float8, b float8, c float8);
\copy ref FROM PROGRAM 'grep -v "^n " test/churn/fixtures/calibration_sklearn.out | awk "{print \$1, \$2, (\$3 == \"\" ? \"\\\\N\" : \$3), (\$4 == \"\" ? \"\\\\N\" : \$4)}"' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE pl AS
SELECT array_agg(r.p ORDER BY r.file_row) AS p, array_agg(t."Churn" = 'Yes' ORDER BY r.file_row) AS y
  FROM r_pred AS r JOIN telco AS t USING (file_row);
CREATE FUNCTION pg_temp.ref(k text) RETURNS float8 LANGUAGE sql AS $$ SELECT a FROM ref WHERE key = k $$;

-- Platt
CREATE TEMP TABLE platt AS SELECT retention.calibration_fit(p, y, 'platt') AS c FROM pl;
SELECT cmp_ok(abs((c->>'a')::float8 - pg_temp.ref('platt_a')), '<', 1e-9::float8, 'Platt slope equals scikit-learn''s unpenalised logistic regression on the log-odds') FROM platt;
SELECT cmp_ok(abs((c->>'b')::float8 - pg_temp.ref('platt_b')), '<', 1e-9::float8, 'Platt intercept likewise') FROM platt;

-- isotonic: predictions at probe points, through a model whose probability is the probe
CREATE TEMP TABLE iso AS SELECT retention.calibration_fit(p, y, 'isotonic') AS c FROM pl;
SELECT cmp_ok((SELECT max(abs(retention.churn_prob(retention.churn_model_with_calibration(
                          jsonb_build_object('intercept', ln(r.a / (1 - r.a)), 'coef', '[0]'::jsonb)::retention.logreg_model, iso.c),
                          '{0}') - r.b))
                 FROM ref AS r, iso WHERE r.key = 'isotonic_at' AND r.a > 0 AND r.a < 1),
              '<', 1e-12::float8, 'isotonic predictions at 0.01 .. 0.9 equal scikit-learn''s (linear between points, clipped)');
SELECT cmp_ok(abs((SELECT avg(retention.churn_prob(retention.churn_model_with_calibration(
                          jsonb_build_object('intercept', ln(q / (1 - q)), 'coef', '[0]'::jsonb)::retention.logreg_model, iso.c), '{0}'))
                     FROM iso, pl, unnest(pl.p) AS q) - pg_temp.ref('isotonic_mean_fitted')),
              '<', 1e-12::float8, 'the isotonic fit reproduces the base rate on its own data (mean 378 / 1408)');
SELECT is(retention.churn_logit(retention.churn_model_with_calibration('{"intercept": 0.3, "coef": [1]}', c), '{0.2}'), 0.5::float8,
          'churn_logit is the model''s own linear predictor, not calibrated') FROM iso;

-- measures
CREATE TEMP TABLE cm AS SELECT retention.calibration_metrics(p, y) AS m FROM pl;
SELECT cmp_ok(abs((m->>'brier')::float8 - pg_temp.ref('brier')), '<', 1e-15::float8, 'Brier score equals brier_score_loss') FROM cm;
SELECT cmp_ok(abs((m->>'ece')::float8 - pg_temp.ref('ece')), '<', 1e-15::float8, 'ECE over 10 uniform bins') FROM cm;
SELECT cmp_ok(abs((m->>'mce')::float8 - pg_temp.ref('mce')), '<', 1e-15::float8, 'maximum calibration error') FROM cm;
SELECT is((m->>'n_rows')::int, 1408, 'n_rows') FROM cm;
SELECT is((SELECT array_agg(c.n_rows ORDER BY c.bin) FROM pl, retention.calibration_curve(pl.p, pl.y) AS c),
          (SELECT array_agg(a::bigint ORDER BY ctid) FROM ref WHERE key = 'curve'),
          'reliability curve: the same non-empty bins and counts as calibration_curve');
SELECT cmp_ok((SELECT max(abs(c.mean_prob - r.b) + abs(c.fraction_positive - r.c))
                 FROM (SELECT c.*, row_number() OVER (ORDER BY c.bin) AS i FROM pl, retention.calibration_curve(pl.p, pl.y) AS c) AS c
                 JOIN (SELECT *, row_number() OVER (ORDER BY ctid) AS i FROM ref WHERE key = 'curve') AS r USING (i)),
              '<', 1e-15::float8, 'and the same mean probability and fraction positive per bin');

-- train_churn_model: a class-weighted model is corrected back to the base rate by default
CALL retention.train_churn_model('weighted', 'telco_raw', 'Churn',
    '{gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges}',
    '{"lambda": 1, "class_weight": "balanced"}', 'is_test');
-- training rows: 5,635 of which 1,869 - 378 = 1,491 churned; balanced weights n / (2 n_class)
-- multiply the odds by w1 / w0 = 4,144 / 1,491, so the shift is log(1491 / 4144)
SELECT cmp_ok(abs((retention.churn_model('weighted')::jsonb->'calibration'->>'shift')::float8 - ln(1491.0 / 4144.0)),
              '<', 1e-14::float8, 'balanced class weights: the odds are shifted by log(1491 / 4144)');
SELECT cmp_ok(abs((metrics->'holdout'->'calibration'->>'mean_prob')::float8 - 378.0 / 1408), '<', 0.01::float8,
              'the corrected model''s holdout mean probability is within 0.01 of the base rate 26.8%')
  FROM retention.models WHERE name = 'weighted';
SELECT cmp_ok((metrics->'holdout'->'calibration_before'->>'mean_prob')::float8, '>', 0.4::float8,
              'uncorrected it averaged over 0.4 (the issue''s 0.416)')
  FROM retention.models WHERE name = 'weighted';
SELECT is(metrics->'holdout'->>'calibration_method', 'shift', 'the method is recorded') FROM retention.models WHERE name = 'weighted';
-- explicit weights {"0": 1, "1": 3}: the shift is log(1/3)
CALL retention.train_churn_model('weighted3', 'telco_raw', 'Churn', '{tenure,Contract}',
    '{"class_weight": {"0": 1, "1": 3}}', 'is_test');
SELECT cmp_ok(abs((retention.churn_model('weighted3')::jsonb->'calibration'->>'shift')::float8 - ln(1.0 / 3)),
              '<', 1e-15::float8, 'explicit class weights: the odds are shifted by log(w0 / w1)');
-- or, with "calibration": "none", flagged loudly: a WARNING (printed, not caught
-- here) and a flag in the metrics
SET client_min_messages = error;
CALL retention.train_churn_model('weighted', 'telco_raw', 'Churn', '{tenure,Contract}',
    '{"class_weight": "balanced", "calibration": "none"}', 'is_test');
RESET client_min_messages;
SELECT is(metrics->'holdout'->'uncalibrated_class_weights', 'true', 'an uncalibrated weighted model is flagged in its metrics')
  FROM retention.models WHERE name = 'weighted' AND version = 2;
SELECT is(retention.churn_model('weighted', 2)::jsonb ? 'calibration', false, 'and has no calibration');

-- Platt fitted on the holdout by train_churn_model: the same as calibration_fit on the raw model's holdout probabilities
CALL retention.train_churn_model('platt', 'telco_raw', 'Churn', '{tenure,Contract,MonthlyCharges}',
    '{"lambda": 1, "calibration": "platt"}', 'is_test');
SELECT is(retention.churn_model('platt')::jsonb->'calibration',
          (SELECT retention.calibration_fit(array_agg(retention.churn_prob_row(retention.churn_model_with_calibration(retention.churn_model('platt'), NULL), to_jsonb(t))),
                                            array_agg(t."Churn" = 'Yes'), 'platt')
             FROM telco_raw AS t WHERE t.is_test),
          'train_churn_model''s Platt calibration is fitted on the holdout');

SELECT throws_ok($$SELECT retention.calibration_fit('{0.5,0.2}', '{t,t}', 'platt')$$, '22000', 'calibration needs labels of both classes', 'one class');
SELECT throws_ok($$SELECT retention.calibration_fit('{1.5}', '{t}', 'isotonic')$$, '22023', 'probability 1.5 is not in [0, 1]', 'a probability outside [0, 1]');
SELECT throws_ok($$SELECT retention.churn_model_with_calibration('{"intercept": 0, "coef": [1]}', '{"method": "isotonic", "x": [0.5, 0.4], "y": [0, 1]}')$$,
                 '22023', 'invalid churn calibration', 'a calibration whose x decreases');

SELECT * FROM finish();
ROLLBACK;
