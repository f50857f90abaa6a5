-- pgTAP: the encoder learned with a churn model (churn_encoder, churn_encode,
-- raw-row scoring, explanations, unseen levels) and train_churn_model on the
-- raw Telco CSV columns, against R's glmnet on an encoding written
-- independently in R (test/churn/fixtures/telco_raw_glmnet.R, whose output
-- telco_raw_glmnet.out is read below).
BEGIN;
SELECT plan(35);

\i data/telco_churn/load.sql
CREATE VIEW telco_raw AS SELECT t.*, t.file_row % 5 = 0 AS is_test FROM telco AS t;

-- R's coefficients and holdout predictions
CREATE TEMP TABLE r_coef (name text, value float8);
\copy r_coef FROM PROGRAM 'sed -n "s/^coef //p" test/churn/fixtures/telco_raw_glmnet.out' WITH (FORMAT text, DELIMITER E'\t')
CREATE TEMP TABLE r_pred (file_row bigint, p float8);
\copy r_pred FROM PROGRAM 'sed -n "s/^pred //p" test/churn/fixtures/telco_raw_glmnet.out' WITH (FORMAT text, DELIMITER ' ')
CREATE TEMP TABLE r_intercept AS
SELECT -0.33079663365311385::float8 AS value;  -- "intercept" line of telco_raw_glmnet.out

CALL retention.train_churn_model('telco_raw', 'telco_raw', 'Churn', '{gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges}', '{"lambda": 1}', 'is_test');
CREATE TEMP TABLE m AS SELECT retention.churn_model('telco_raw') AS m;

SELECT is((SELECT count(*) FROM r_coef), 31::bigint, 'R encodes 19 raw columns as 31 features');
SELECT is((SELECT array_agg(e ORDER BY i) FROM m, jsonb_array_elements_text(m::jsonb->'feature_names') WITH ORDINALITY AS u(e, i)),
          (SELECT array_agg(name) FROM r_coef),
          'the same features, in the same order, with readable names (Contract=Two year, TotalCharges (missing))');
SELECT cmp_ok((SELECT max(abs(g::float8 - r.value) / abs(r.value))
                 FROM m, jsonb_array_elements_text(m::jsonb->'coef') WITH ORDINALITY AS u(g, i)
                 JOIN (SELECT value, row_number() OVER () AS i FROM r_coef) AS r USING (i)),
              '<', 1e-5::float8, 'coefficients equal glmnet''s (ridge, lambda = 1 / n) to 1e-5 relative');
SELECT cmp_ok(abs((m::jsonb->>'intercept')::float8 - r.value) / abs(r.value), '<', 1e-5::float8,
              'the intercept equals glmnet''s') FROM m, r_intercept AS r;
SELECT cmp_ok((SELECT max(abs(retention.churn_prob_row(m.m, to_jsonb(t)) - r.p))
                 FROM m, telco_raw AS t JOIN r_pred AS r USING (file_row)),
              '<', 1e-6::float8, 'raw holdout rows score as R predicts them (1,408 rows, 1e-6)');
SELECT is((SELECT count(*) FROM telco_raw t JOIN r_pred USING (file_row)), 1408::bigint, 'the holdout is every fifth file row');

-- the model's own holdout metrics are those of scoring the raw holdout rows
SELECT is((SELECT metrics->'holdout'->'roc_auc' FROM retention.models WHERE name = 'telco_raw'),
          (SELECT to_jsonb(retention.roc_auc(retention.churn_prob_row(m.m, to_jsonb(t)), t."Churn" = 'Yes'))
             FROM m, telco_raw AS t WHERE t.is_test),
          'holdout AUC = AUC of churn_prob over the raw holdout rows');
SELECT is((SELECT metrics->'holdout'->'log_loss' FROM retention.models WHERE name = 'telco_raw'),
          (SELECT to_jsonb(retention.log_loss(retention.churn_prob_row(m.m, to_jsonb(t)), t."Churn" = 'Yes'))
             FROM m, telco_raw AS t WHERE t.is_test),
          'holdout log loss likewise');
SELECT is((SELECT metrics->'holdout'->'n_unseen' FROM retention.models WHERE name = 'telco_raw'), '0',
          'no holdout row has an unseen level');
SELECT is((SELECT count(*) FROM retention.churn_scores('telco_raw', 'SELECT * FROM telco_raw WHERE is_test', 'customerID') AS s
             JOIN telco_raw AS t ON t."customerID" = s.id, m
            WHERE s.churn_prob = retention.churn_prob_row(m.m, to_jsonb(t))), 1408::bigint,
          'churn_scores scores raw rows with the model''s encoder');

-- a blank TotalCharges is missing: the training mean and the indicator
SELECT is((retention.churn_encode(m::jsonb->'encoder', to_jsonb(t)))[30:31],
          ARRAY[(SELECT avg("TotalCharges"::float8) FROM telco_raw WHERE NOT is_test AND btrim("TotalCharges") <> ''), 1]::float8[],
          'a blank TotalCharges encodes as the training mean with the missing indicator set')
  FROM m, telco AS t WHERE t."customerID" = '4472-LVYGI';

-- unseen levels score as the reference, and are reported
SELECT is(retention.churn_prob_row(m.m, to_jsonb(t) || '{"Contract": "Three year"}'),
          retention.churn_prob_row(m.m, to_jsonb(t) || '{"Contract": "Month-to-month"}'),
          'an unseen level scores as the reference level')
  FROM m, telco AS t WHERE t.file_row = 1;
SELECT is(retention.churn_unseen(m.m, to_jsonb(t) || '{"Contract": "Three year", "gender": null}'),
          '{"gender=(missing)","Contract=Three year"}', 'churn_unseen names them (a NULL in a column that had none too)')
  FROM m, telco AS t WHERE t.file_row = 1;
SELECT is(retention.churn_unseen(m.m, to_jsonb(t)), '{}', 'a known row has none')
  FROM m, telco AS t WHERE t.file_row = 1;
SELECT is(retention.churn_prob_row(m.m, to_jsonb(t) - 'customerID' - 'Churn' - 'file_row'),
          retention.churn_prob_row(m.m, to_jsonb(t)), 'columns the encoder does not use are ignored')
  FROM m, telco AS t WHERE t.file_row = 1;

-- explanations of raw rows
SELECT cmp_ok(abs((SELECT sum(contribution) FROM retention.churn_explain_row(m.m, to_jsonb(t)))
                  + retention.churn_base_logit(m.m) - retention.churn_logit_row(m.m, to_jsonb(t))), '<', 1e-12::float8,
              'raw-row contributions plus the base logit add up to the logit')
  FROM m, telco AS t WHERE t.file_row = 1;
SELECT is((SELECT array_agg(feature ORDER BY feature_index) FILTER (WHERE value = 1 AND feature LIKE 'Contract%')
             FROM retention.churn_explain_row(m.m, to_jsonb(t))), NULL,
          'a month-to-month customer (the reference) has no Contract dummy set')
  FROM m, telco AS t WHERE t.file_row = 1 AND t."Contract" = 'Month-to-month';
SELECT is((SELECT feature FROM retention.churn_explain_row(m.m, to_jsonb(t)) WHERE feature LIKE 'Contract=%' AND value = 1),
          'Contract=Two year', 'readable names in churn_explain')
  FROM m, telco AS t WHERE t."Contract" = 'Two year' AND t.file_row = (SELECT min(file_row) FROM telco WHERE "Contract" = 'Two year');

-- the model's text form carries the encoder and round-trips
SELECT is(m::text::retention.logreg_model::text, m::text, 'a model with an encoder round-trips through text') FROM m;
SELECT is(retention.churn_prob_row(m::jsonb::retention.logreg_model, to_jsonb(t)), retention.churn_prob_row(m.m, to_jsonb(t)),
          'and scores the same after the round trip') FROM m, telco AS t WHERE t.file_row = 1;

-- the encoder on small data: rare levels, booleans, standardisation
CREATE TEMP TABLE small (id int, plan text, active boolean, spend float8, region text);
INSERT INTO small VALUES (1, 'a', true, 10, 'x'), (2, 'a', false, 20, 'x'), (3, 'a', true, 30, NULL),
    (4, 'b', false, NULL, 'y'), (5, 'b', true, 50, 'y'), (6, 'c', true, 60, 'y'), (7, 'd', false, 70, 'y');
CREATE TEMP TABLE enc AS SELECT retention.churn_encoder('small', '{plan,active,spend,region}', '{"min_level_count": 2, "standardize": true}') AS e;
SELECT is(retention.churn_encoder_features(e),
          '{plan=b,plan=(other),active,spend,"spend (missing)",region=y,region=(missing)}',
          'reference levels a and x (first in byte order), c and d rare (fewer than 2 rows) grouped as (other), missing indicators')
  FROM enc;
SELECT is(e->'columns'->0->'rare', '["c", "d"]', 'the rare levels are stored') FROM enc;
-- spend: mean 40, population sd sqrt(((10-40)^2+(20-40)^2+(30-40)^2+(50-40)^2+(60-40)^2+(70-40)^2)/6) = sqrt(2800/6)
SELECT cmp_ok(abs((retention.churn_encode(e, '{"plan": "c", "active": true, "spend": 50, "region": "x"}'))[4] - 10 / sqrt(2800.0 / 6)),
              '<', 1e-15::float8, 'standardised spend (50 - 40) / sd_pop') FROM enc;
SELECT is((retention.churn_encode(e, '{"plan": "c", "active": true, "spend": 50, "region": "x"}'))[1:3], '{0,1,1}',
          'a rare level sets (other); a boolean is 0/1, not standardised') FROM enc;
SELECT is(retention.churn_encode(e, '{"plan": "zzz", "active": "false", "spend": "40", "region": null}'),
          '{0,0,0,0,0,0,1}', 'unseen level: the reference; text numbers and booleans are read; NULL is (missing)') FROM enc;

-- errors
SELECT throws_ok($$SELECT retention.churn_encoder('telco', '{customerID,gender}')$$, '54000',
                 'column "customerID" has 7043 distinct values, more than max_levels (1000)', 'identifiers are refused');
SELECT throws_ok($$SELECT retention.churn_encoder('telco', '{Gender}')$$, '42703', NULL, 'a column that is not there');
SELECT throws_ok($$SELECT retention.churn_encoder('small', '{plan}', '{"min_count": 2}')$$, '22023',
                 'unrecognized encoder option "min_count"', 'unknown encoder options');
SELECT throws_ok($$SELECT retention.churn_encoder('small', '{plan}', '{"min_level_count": 0}')$$, '22023', NULL, 'min_level_count below 1');
SELECT throws_ok($$SELECT retention.churn_encode('{"version": 1, "columns": [{"name": "a", "kind": "numeric", "mean": 0}]}', '{}')$$,
                 '22023', 'invalid churn encoder', 'an encoder missing a field');
SELECT throws_ok($$SELECT retention.churn_encode('{"version": 1, "columns": [{"name": "a", "kind": "categorical", "reference": "x", "levels": ["x"]}]}', '{}')$$,
                 '22023', 'invalid churn encoder', 'an encoder listing its reference as a level');
SELECT throws_ok($$SELECT retention.churn_encode(e, '{"spend": "lots"}') FROM enc$$, '22P02',
                 'column "spend" value "lots" is not a number', 'text in a numeric column');
SELECT throws_ok($$SELECT retention.churn_prob_row('{"intercept": 0, "coef": [1]}'::retention.logreg_model, '{"a": 1}')$$,
                 '22023', 'the model has no encoder, so it cannot score a raw row', 'a model without an encoder');
SELECT throws_ok($$SELECT '{"intercept": 0, "coef": [1, 2], "encoder": {"version": 1, "columns": [{"name": "a", "kind": "numeric", "mean": 0, "sd": 1}]}}'::retention.logreg_model$$,
                 '22P02', NULL, 'a model whose encoder makes another number of features');

-- a role with only USAGE on the schema scores raw rows
CREATE ROLE churn_encoder_user;
GRANT USAGE ON SCHEMA retention TO churn_encoder_user;
GRANT SELECT ON m, enc TO churn_encoder_user;
SET ROLE churn_encoder_user;
SELECT ok(retention.churn_prob_row(m.m, '{"Contract": "Two year", "tenure": "12", "TotalCharges": " "}') BETWEEN 0 AND 1,
          'a role with only USAGE scores a raw row') FROM m;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
