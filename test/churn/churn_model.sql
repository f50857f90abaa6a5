-- pgTAP: the logreg_model type (JSON text form, jsonb casts), churn_prob,
-- churn_logit, churn_explain and churn_base_logit, with hand-computed values.
BEGIN;
SELECT plan(42);
SET client_min_messages = error;

-- the worked example of the issue: 0.5 + 0.3 * 2 + 0.2 * 30 = 7.1, p = 1 / (1 + e^-7.1)
SELECT is(round(retention.churn_prob('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,30}')::numeric, 5), 0.99918,
          'worked example: 1/(1+e^-7.1) = 0.99918');
SELECT cmp_ok(abs(retention.churn_prob('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,30}') - 1 / (1 + exp(-7.1::float8))),
              '<', 1e-15::float8, 'worked example to the last bits');
SELECT cmp_ok(abs(retention.churn_logit('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,30}') - 7.1),
              '<', 1e-14::float8, 'churn_logit is the linear predictor 7.1');
-- a logit of 0 is exactly one half; huge logits saturate without NaN
SELECT is(retention.churn_prob('{"intercept":-3,"coef":[1.5]}'::retention.logreg_model, '{2}'), 0.5::float8, 'logit 0 gives 0.5');
SELECT is(retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, '{800}'), 1::float8, 'logit 800 gives 1, not NaN');
SELECT is(retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, '{-800}'), 0::float8, 'logit -800 gives 0, not NaN');
SELECT cmp_ok(abs(retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, '{-40}') - exp(-40::float8) / (1 + exp(-40::float8))),
              '<', 1e-30::float8, 'small probabilities keep their digits (e^-40)');
SELECT ok(retention.churn_prob(NULL::retention.logreg_model, '{1}') IS NULL AND
          retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, NULL) IS NULL, 'STRICT: NULL in, NULL out');

-- text form: JSON in, JSON out, round trip exact
SELECT is('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model::text,
          '{"intercept": 0.5, "coef": [0.3, 0.2], "fit_intercept": true}', 'hand-written model prints as JSON');
SELECT is(('{"intercept":0.1,"coef":[0.30000000000000004,-1e-300],"feature_names":["a","b \"quoted\""]}'::retention.logreg_model)::text::retention.logreg_model::text,
          '{"intercept": 0.1, "coef": [0.30000000000000004, -1e-300], "feature_names": ["a", "b \"quoted\""], "fit_intercept": true}',
          'shortest exact digits, names escaped, text round trip');
SELECT is(('{"intercept":0.5,"coef":[0.3,0.2],"feature_names":["purchases","minutes"]}'::retention.logreg_model)::jsonb->'feature_names',
          '["purchases", "minutes"]'::jsonb, 'cast to jsonb keeps the names');
SELECT is(('{"intercept":0.5,"coef":[0.3,0.2]}'::jsonb)::retention.logreg_model::text,
          '{"intercept": 0.5, "coef": [0.3, 0.2], "fit_intercept": true}', 'cast from jsonb');

-- a trained model survives text and jsonb round trips bit for bit
CREATE TABLE m AS
SELECT retention.logreg_train(g % 3 = 0 OR g % 7 = 0, ARRAY[g, sqrt(g), g % 5]::float8[],
                              '{"feature_names": ["orders", "minutes", "weekday"]}') AS model
  FROM generate_series(1, 200) g;
SELECT is((SELECT model::text::retention.logreg_model::text FROM m), (SELECT model::text FROM m),
          'trained model: text round trip');
SELECT is((SELECT model::jsonb::retention.logreg_model::jsonb FROM m), (SELECT model::jsonb FROM m),
          'trained model: jsonb round trip');
SELECT cmp_ok((SELECT pg_column_size(model) FROM m), '<', (SELECT pg_column_size(model::jsonb) / 2 FROM m),
              'the binary form is less than half the size of the jsonb form');

-- binary COPY round trip (send/receive), bit for bit; the server writes and reads the file
SELECT '/tmp/retention_churn_model_' || pg_backend_pid() || '.bin' AS binfile \gset
\setenv RETENTION_BINFILE :binfile
CREATE TABLE m2 (model retention.logreg_model);
COPY m TO :'binfile' WITH (FORMAT binary);
COPY m2 FROM :'binfile' WITH (FORMAT binary);
SELECT is((SELECT model::text FROM m2), (SELECT model::text FROM m), 'binary COPY round trip');
-- the wire version is the byte after the 19-byte file header, the field count and the length
\! printf '\011' | dd of="$RETENTION_BINFILE" bs=1 seek=25 conv=notrunc status=none
SELECT throws_ok(format('COPY m2 FROM %L WITH (FORMAT binary)', :'binfile'),
                 '22P03', 'unsupported retention.logreg_model wire version 9', 'unknown wire version');
\! rm -f "$RETENTION_BINFILE"

-- explanations: contributions coef * (value - mean) add up with the base to the logit
-- hand example: means (1, 20); contributions 0.3 * (2 - 1) = 0.3 and 0.2 * (30 - 20) = 2;
-- base 0.5 + 0.3 * 1 + 0.2 * 20 = 4.8; 4.8 + 0.3 + 2 = 7.1
SELECT results_eq(
    $$SELECT feature_index, feature, value, coefficient, mean, round(contribution::numeric, 12)
        FROM retention.churn_explain('{"intercept":0.5,"coef":[0.3,0.2],"feature_names":["purchases","minutes"],"feature_means":[1,20]}'::retention.logreg_model, '{2,30}')$$,
    $$VALUES (1, 'purchases', 2::float8, 0.3::float8, 1::float8, 0.3::numeric),
             (2, 'minutes', 30, 0.2, 20, 2)$$,
    'churn_explain: one named row per feature');
SELECT cmp_ok(abs(retention.churn_base_logit('{"intercept":0.5,"coef":[0.3,0.2],"feature_means":[1,20]}'::retention.logreg_model) - 4.8),
              '<', 1e-14::float8, 'base logit 4.8');
SELECT cmp_ok((SELECT abs(retention.churn_base_logit(m.model)
                          + (SELECT sum(e.contribution) FROM retention.churn_explain(m.model, '{17,4.1,3}') e)
                          - retention.churn_logit(m.model, '{17,4.1,3}'))
                 FROM m),
              '<', 1e-12::float8, 'trained model: base + contributions = logit');
SELECT is((SELECT array_agg(feature ORDER BY feature_index) FROM m, retention.churn_explain(m.model, '{17,4.1,3}')),
          '{orders,minutes,weekday}'::text[], 'explanations carry the training feature names');
SELECT is((SELECT array_agg(feature) FROM retention.churn_explain('{"intercept":0,"coef":[1,2]}'::retention.logreg_model, '{1,1}')),
          '{NULL,NULL}'::text[], 'unnamed model: NULL names');

-- errors and their SQLSTATEs
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,30,1}')$$,
                 '2202E', 'feature vector has 3 elements but the model expects 2', 'wrong length names both');
SELECT throws_ok($$SELECT * FROM retention.churn_explain('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2}')$$,
                 '2202E', 'feature vector has 1 elements but the model expects 2', 'churn_explain: wrong length');
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,NULL}')$$,
                 '22004', 'array "features" must not contain nulls', 'NULL element');
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept":0.5,"coef":[0.3,0.2]}'::retention.logreg_model, '{2,NaN}')$$,
                 '22023', 'array "features" must not contain NaN or infinite values', 'NaN element');
SELECT throws_ok($$SELECT '{"coef":[0.3]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'no intercept');
SELECT throws_ok($$SELECT '{"intercept":1}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'no coef');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":["a"]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'coef not numbers');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"feature_names":["a","b"]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'names of the wrong length');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"fit_intercept":false}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: a model without an intercept must say intercept 0');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"fit_intercept":"no"}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: fit_intercept not boolean');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"feature_names":[1]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: names not strings');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"feature_means":[1,2]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: means of the wrong length');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"std_err":[1]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: std_err missing the intercept entry');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":[1],"std_err":[1,1],"converged":1}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: converged not boolean');
SELECT throws_ok($$SELECT '{"intercept":"1","coef":[1]}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: intercept as a string');
SELECT throws_ok($$SELECT '{"intercept":1,"coef":{"a":1}}'::retention.logreg_model$$,
                 '22P02', 'invalid input syntax for type retention.logreg_model', 'bad model: coef an object');
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, '{}')$$,
                 '22023', 'array "features" must not be empty', 'empty feature vector');
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept":0,"coef":[1]}'::retention.logreg_model, '{{1}}')$$,
                 '2202E', 'array "features" must be one-dimensional', 'two-dimensional feature vector');
SELECT throws_ok($$SELECT 'not json'::retention.logreg_model$$,
                 '22P02', NULL, 'not JSON');

-- declarations
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc
            WHERE pronamespace = 'retention'::regnamespace
              AND proname IN ('churn_prob', 'churn_logit', 'churn_explain', 'churn_base_logit')
              AND proargtypes[0] = 'retention.logreg_model'::regtype
              AND provolatile = 'i' AND proisstrict AND proparallel = 's'
              AND obj_description(oid, 'pg_proc') IS NOT NULL),
          4, 'scoring functions: IMMUTABLE STRICT PARALLEL SAFE, documented');

SELECT * FROM finish();
ROLLBACK;
