-- pgTAP: the churn model registry: train_churn_model, churn_model and
-- churn_models_latest, with holdout metrics checked against scikit-learn
-- (REFERENCES.md, Telco "Holdout") and row-level security applying.
BEGIN;
SELECT plan(32);
SET client_min_messages = error;

CREATE FUNCTION pg_temp.max_rel_err(got float8[], want float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN pg_catalog.cardinality(got) IS DISTINCT FROM pg_catalog.cardinality(want)
                THEN 'Infinity'::float8
                ELSE (SELECT max(abs(g - w) / abs(w)) FROM unnest(got, want) AS u(g, w)) END
$$;
CREATE FUNCTION pg_temp.terms(m jsonb) RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT (m->>'intercept')::float8 || array_agg(e::float8 ORDER BY i)
      FROM jsonb_array_elements_text(m->'coef') WITH ORDINALITY AS u(e, i)
$$;

\i data/telco_churn/load.sql
\i data/ucla_admissions/load.sql

CREATE TABLE versions (step text, version integer);
DO $$
DECLARE
    v integer;
    features text[] := ARRAY['gender_male', 'senior_citizen', 'partner', 'dependents', 'tenure', 'phone_service',
        'multiple_lines', 'internet_fiber', 'internet_none', 'online_security', 'online_backup',
        'device_protection', 'tech_support', 'streaming_tv', 'streaming_movies', 'contract_one_year',
        'contract_two_year', 'paperless_billing', 'pay_credit_card', 'pay_electronic_check',
        'pay_mailed_check', 'monthly_charges', 'total_charges'];
BEGIN
    CALL retention.train_churn_model('telco', 'telco_features', 'churn', features,
                                     holdout_column => 'is_test', version => v);
    INSERT INTO versions VALUES ('first', v);
    v := NULL;
    CALL retention.train_churn_model('telco', 'SELECT * FROM telco_features', 'churn', features,
                                     '{"lambda": 1}', 'is_test', version => v);
    INSERT INTO versions VALUES ('second', v);
END
$$;

SELECT is((SELECT version FROM versions WHERE step = 'first'), 1, 'first version is 1');
SELECT is((SELECT version FROM versions WHERE step = 'second'), 2, 'next version is 2');
SELECT is((SELECT kind FROM retention.models WHERE name = 'telco' AND version = 1), 'logreg', 'kind logreg');
SELECT is((SELECT training_source FROM retention.models WHERE name = 'telco' AND version = 1), 'telco_features',
          'training source kept');
SELECT is((SELECT feature_names[23] FROM retention.models WHERE name = 'telco' AND version = 1), 'total_charges',
          'feature names kept');
SELECT is((SELECT model->'feature_names'->>0 FROM retention.models WHERE name = 'telco' AND version = 1), 'gender_male',
          'the model carries its feature names');
SELECT is((SELECT trained_by FROM retention.models WHERE name = 'telco' AND version = 1), current_user,
          'trained_by is the caller');
-- the model is the exact fit on the 5626 train rows
SELECT cmp_ok((SELECT pg_temp.max_rel_err(pg_temp.terms(model),
    '{0.59435280183879446,-0.0059707899643659289,0.23714357209577611,0.087037202497188715,-0.1389163712496399,-0.054617643203939047,-0.23605264039888371,0.32151097271539369,1.2639984951068726,-1.2751709027435614,-0.31039965799501079,-0.064940092469544172,0.096259792911459058,-0.28705205584437277,0.42921819666216687,0.35851107171870988,-0.6640690312057892,-1.4550491854674066,0.3203012320649401,-0.067729549974440403,0.28156234573052935,-0.038630051847117951,-0.020016211682605829,0.00026542217433475987}')
                 FROM retention.models WHERE name = 'telco' AND version = 1),
              '<', 1e-9::float8, 'version 1 is the exact train-split fit');
SELECT is((SELECT model->'n_rows' FROM retention.models WHERE name = 'telco' AND version = 1), '5626', 'trained on 5626 rows');
-- holdout metrics: scikit-learn on the 1406 test rows
SELECT is((SELECT metrics->'holdout'->'n_rows' FROM retention.models WHERE name = 'telco' AND version = 1), '1406',
          'evaluated on 1406 holdout rows');
SELECT cmp_ok((SELECT abs((metrics->'holdout'->>'roc_auc')::float8 - 0.862079525783) FROM retention.models WHERE name = 'telco' AND version = 1),
              '<', 1e-12::float8, 'holdout AUC 0.862079525783');
SELECT cmp_ok((SELECT abs((metrics->'holdout'->>'log_loss')::float8 - 0.398171984509) FROM retention.models WHERE name = 'telco' AND version = 1),
              '<', 1e-12::float8, 'holdout log loss 0.398171984509');

-- reading versions back
SELECT is((SELECT retention.churn_model('telco')::jsonb->'lambda'), '1', 'churn_model: the latest version by default');
SELECT is((SELECT retention.churn_model('telco', 1)::jsonb->'lambda'), '0', 'churn_model: a named version');
SELECT ok(retention.churn_model('nothing') IS NULL, 'churn_model: NULL for an unknown name');
SELECT is((SELECT version FROM retention.churn_models_latest WHERE name = 'telco'), 2, 'churn_models_latest: version 2');
SELECT cmp_ok((SELECT abs(retention.churn_prob((SELECT retention.churn_model('telco', 1)),
                          ARRAY[gender_male, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines,
                                internet_fiber, internet_none, online_security, online_backup, device_protection,
                                tech_support, streaming_tv, streaming_movies, contract_one_year, contract_two_year,
                                paperless_billing, pay_credit_card, pay_electronic_check, pay_mailed_check,
                                monthly_charges, total_charges]::float8[]) - 1 / (1 + exp(-(
                          -- R linear predictor of the train fit, rn = 1 (refs telco_R_pred.csv, eta_from_train_fit)
                          0.57413477703735605))))
                 FROM telco_features WHERE rn = 1),
              '<', 1e-9::float8, 'scoring with a stored version reproduces R''s linear predictor');

-- scoring a whole table by model name: the registry knows the feature columns
SELECT is((SELECT count(*)::int FROM retention.churn_scores('telco', 'telco_features', 'customer_id')), 7032,
          'churn_scores: one score per user');
SELECT cmp_ok((SELECT abs(churn_prob - 1 / (1 + exp(-0.57413477703735605)))
                 FROM retention.churn_scores('telco', 'telco_features', 'customer_id', 1)
                WHERE id = (SELECT customer_id FROM telco_features WHERE rn = 1)),
              '<', 1e-9::float8, 'churn_scores with version 1 reproduces R''s linear predictor');
SELECT is((SELECT count(*)::int FROM retention.churn_scores('telco', 'SELECT customer_id, gender_male, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines, internet_fiber, internet_none, online_security, online_backup, device_protection, tech_support, streaming_tv, streaming_movies, contract_one_year, contract_two_year, paperless_billing, pay_credit_card, pay_electronic_check, pay_mailed_check, monthly_charges, NULL::float8 AS total_charges FROM telco_features WHERE rn <= 3', 'customer_id')
            WHERE churn_prob IS NULL), 3, 'churn_scores: a NULL feature gives a NULL score');
SELECT throws_ok($$SELECT * FROM retention.churn_scores('nothing', 'telco_features', 'customer_id')$$,
                 '42704', 'churn model ''nothing'' does not exist', 'churn_scores: unknown model');

-- hash split: deterministic, train + holdout = all rows
DO $$
DECLARE v integer;
BEGIN
    CALL retention.train_churn_model('ucla', 'ucla', 'admit', '{gre,gpa}', version => v);
    CALL retention.train_churn_model('ucla', 'ucla', 'admit', '{gre,gpa}', version => v);
END $$;
SELECT is((SELECT count(DISTINCT model::text)::int FROM retention.models WHERE name = 'ucla'), 1,
          'the hash split is deterministic');
SELECT is((SELECT (model->>'n_rows')::int + (metrics->'holdout'->>'n_rows')::int FROM retention.models WHERE name = 'ucla' AND version = 1),
          400, 'train and holdout rows add up to the table');

-- row-level security on the user's table applies: the procedure runs as the caller
CREATE ROLE retention_test_analyst;
GRANT USAGE ON SCHEMA retention TO retention_test_analyst;
GRANT SELECT, INSERT ON retention.models TO retention_test_analyst;
GRANT SELECT ON ucla TO retention_test_analyst;
ALTER TABLE ucla ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_rank_1_2 ON ucla FOR SELECT TO retention_test_analyst USING (rank <= 2);
SET ROLE retention_test_analyst;
DO $$
DECLARE v integer;
BEGIN
    CALL retention.train_churn_model('ucla_rls', 'ucla', 'admit', '{gre,gpa}', holdout_fraction => 0, version => v);
END $$;
RESET ROLE;
SELECT is((SELECT (model->>'n_rows')::int FROM retention.models WHERE name = 'ucla_rls'),
          (SELECT count(*)::int FROM ucla WHERE rank <= 2), 'row-level security limits the training rows');

-- errors
SELECT throws_ok($$CALL retention.train_churn_model('x', 'ucla', 'admit', '{}')$$,
                 '22023', 'feature_columns must name at least one column', 'no features');
SELECT throws_ok($$CALL retention.train_churn_model('x', 'ucla', 'admit', '{gre}', holdout_fraction => 1)$$,
                 '22023', 'holdout_fraction 1 is not in [0, 1)', 'holdout fraction 1');

SELECT throws_ok($$CALL retention.train_churn_model(NULL, 'ucla', 'admit', '{gre}')$$,
                 '22004', 'model_name, source and label_column must not be NULL', 'NULL name');
SELECT throws_ok($$CALL retention.train_churn_model('x', 'SELECT admit, gre FROM ucla WHERE false', 'admit', '{gre}')$$,
                 '22000', 'no usable training rows in SELECT admit, gre FROM ucla WHERE false', 'no training rows');
SELECT throws_ok($$CALL retention.train_churn_model('x', 'no_such_table', 'admit', '{gre}')$$,
                 '42P01', NULL, 'unknown table');
SELECT throws_ok($$CALL retention.train_churn_model('x', 'ucla', 'admit', '{no_such_column}')$$,
                 '42703', NULL, 'unknown column');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc WHERE pronamespace = 'retention'::regnamespace AND prosecdef),
          0, 'no SECURITY DEFINER function');
SELECT ok((SELECT obj_description('retention.train_churn_model'::regproc, 'pg_proc') IS NOT NULL
              AND obj_description('retention.churn_model'::regproc, 'pg_proc') IS NOT NULL
              AND obj_description('retention.churn_models_latest'::regclass, 'pg_class') IS NOT NULL),
          'registry objects are documented');

SELECT * FROM finish();
ROLLBACK;
