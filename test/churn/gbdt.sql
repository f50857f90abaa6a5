-- pgTAP: retention.gbdt_train, retention.gbdt_model and the tree-ensemble
-- forms of churn_prob, churn_logit, churn_base_logit, churn_explain, plus
-- gbdt_importance and train_churn_gbdt (issue 17).
--
-- References (scripts and their printed output in test/churn/fixtures/):
--   gbdt_small.py             scikit-learn 1.2.1 HistGradientBoostingClassifier
--                             and XGBoost 1.7.4 on pre-binned integer data:
--                             gbdt_small.csv, gbdt_small_expected.csv, gbdt_small.out
--   gbdt_shap_bruteforce.py   Shapley values by enumeration of every subset for
--                             the fixed model gbdt_shap_model.json:
--                             gbdt_shap_bruteforce.out
--   gbdt_online_shoppers.py   scikit-learn on UCI Online Shoppers, holdout = every
--                             fifth session: gbdt_online_shoppers.out
-- and two data sets worked out by hand in the comments below.
BEGIN;
SELECT plan(75);
SET client_min_messages = warning;

CREATE TEMP TABLE small (id int, label int, x1 float8, x2 float8, x3 float8, x4 float8);
\copy small FROM 'test/churn/fixtures/gbdt_small.csv' CSV HEADER
CREATE TEMP TABLE small_ref (id int, sk_d1 float8, sk_d2 float8, sk_d3 float8,
                             xgb_d1 float8, xgb_d2 float8, xgb_d3 float8, sk_r20 float8);
\copy small_ref FROM 'test/churn/fixtures/gbdt_small_expected.csv' CSV HEADER

-- ---------------------------------------------------------------------------
-- 1. Worked by hand.  x = 1, 1, 2, 2, 3, 3, 4, 4 with labels 0 0 0 1 1 1 1 1.
-- Prior p = 5/8, base score log(5/3); at the prior g = p - y (5/8 or -3/8),
-- h = p(1 - p) = 15/64.  Edges 1.5, 2.5, 3.5.  Gains G_L^2/H_L + G_R^2/H_R
-- (G = 0): x <= 1.5: 1.25^2/0.46875 + 1.25^2/1.40625 = 4.444;
-- x <= 2.5: 2 * 1.5^2/0.9375 = 4.8; x <= 3.5: 0.75^2/1.40625 + 0.75^2/0.46875
-- = 1.6.  So the split is x <= 2.5 with leaves -G/H = -1.6 and +1.6
-- (learning rate 1), covers 4 and 4, and the SHAP value of x is +-1.6
-- around the base value log(5/3).
CREATE TEMP TABLE hand AS
SELECT x, y FROM (VALUES (1, false), (1, false), (2, false), (2, true),
                         (3, true), (3, true), (4, true), (4, true)) v(x, y);
CREATE TEMP TABLE hand_model AS
SELECT retention.gbdt_train(y, ARRAY[x]::float8[],
       '{"max_iter": 1, "learning_rate": 1, "max_depth": 1, "min_samples_leaf": 1}') AS m FROM hand;
SELECT is((SELECT (m::jsonb)->'trees'->0->'threshold'->>0 FROM hand_model), '2.5', 'hand: the split is x <= 2.5');
SELECT is((SELECT (m::jsonb)->'trees'->0->'gain'->>0 FROM hand_model)::float8, 4.8::float8, 'hand: its gain is 4.8');
SELECT cmp_ok(abs(retention.churn_logit(m, '{1}') - (ln(5.0 / 3) - 1.6)), '<', 1e-12::float8,
              'hand: x = 1 scores log(5/3) - 1.6') FROM hand_model;
SELECT cmp_ok(abs(retention.churn_logit(m, '{4}') - (ln(5.0 / 3) + 1.6)), '<', 1e-12::float8,
              'hand: x = 4 scores log(5/3) + 1.6') FROM hand_model;
SELECT cmp_ok(abs(retention.churn_base_logit(m) - ln(5.0 / 3)), '<', 1e-12::float8,
              'hand: the base value is log(5/3)') FROM hand_model;
SELECT cmp_ok(abs((SELECT contribution FROM retention.churn_explain(m, '{3}')) - 1.6), '<', 1e-12::float8,
              'hand: the SHAP value of x = 3 is 1.6') FROM hand_model;

-- 2. Worked by hand: missing values learn their side.  x = 1, 1, 2, 2, NULL,
-- NULL with labels 0 0 1 1 1 1: p = 2/3, g = 2/3 or -1/3, h = 2/9.  With the
-- missing rows on the right, x <= 1.5 gains (4/3)^2/(4/9) + (4/3)^2/(8/9)
-- = 6 and x <= 2.5 gains 1.5; with them on the left the best gain is 1.5.
-- So missing goes right, and the leaves are -3 (x = 1) and 1.5 (x = 2, NULL).
CREATE TEMP TABLE hand2_model AS
SELECT retention.gbdt_train(y, ARRAY[x]::float8[],
       '{"max_iter": 1, "learning_rate": 1, "max_depth": 1, "min_samples_leaf": 1}') AS m
  FROM (VALUES (1, false), (1, false), (2, true), (2, true), (NULL, true), (NULL, true)) v(x, y);
SELECT is((SELECT (m::jsonb)->'trees'->0->'default_left'->>0 FROM hand2_model), 'false',
          'hand: missing values go right');
SELECT cmp_ok(abs(retention.churn_logit(m, '{NULL}') - (ln(2.0) + 1.5)), '<', 1e-12::float8,
              'hand: a NULL feature scores log 2 + 1.5') FROM hand2_model;
SELECT cmp_ok(abs(retention.churn_logit(m, ARRAY['NaN']::float8[]) - (ln(2.0) + 1.5)), '<', 1e-12::float8,
              'hand: NaN is missing too') FROM hand2_model;
SELECT cmp_ok(abs(retention.churn_logit(m, '{1}') - (ln(2.0) - 3)), '<', 1e-12::float8,
              'hand: x = 1 scores log 2 - 3') FROM hand2_model;

-- ---------------------------------------------------------------------------
-- 3. scikit-learn and XGBoost where the algorithms coincide: one tree of
-- depth 1 to 3, no subsampling, L2 = 1, learning rate 0.5, integer features.
-- Their gradients are float32, hence the 1e-6 tolerance (measured: 1e-8
-- against scikit-learn, 6e-8 against XGBoost).
CREATE TEMP TABLE small_models AS
SELECT d, retention.gbdt_train(s.label::boolean, ARRAY[x1, x2, x3, x4],
          jsonb_build_object('max_iter', 1, 'learning_rate', 0.5, 'max_depth', d,
                             'max_leaf_nodes', 0, 'min_samples_leaf', 1, 'l2_regularization', 1)) AS m,
       retention.gbdt_train(s.label::boolean, ARRAY[x1, x2, x3, x4],
          jsonb_build_object('max_iter', 1, 'learning_rate', 0.5, 'max_depth', d,
                             'max_leaf_nodes', 0, 'min_samples_leaf', 1, 'l2_regularization', 1))
          FILTER (WHERE x1 IS NOT NULL) AS m_xgb
  FROM small s, generate_series(1, 3) d GROUP BY d;
SELECT cmp_ok((SELECT max(abs(retention.churn_logit(sm.m, ARRAY[x1, x2, x3, x4]) -
                              CASE sm.d WHEN 1 THEN r.sk_d1 WHEN 2 THEN r.sk_d2 ELSE r.sk_d3 END))
                 FROM small s JOIN small_ref r USING (id)), '<', 1e-6::float8,
              format('depth %s: the raw scores of scikit-learn''s one tree, on every row', sm.d))
  FROM small_models sm ORDER BY d;
SELECT cmp_ok((SELECT max(abs(retention.churn_logit(sm.m_xgb, ARRAY[x1, x2, x3, x4]) -
                              CASE sm.d WHEN 1 THEN r.xgb_d1 WHEN 2 THEN r.xgb_d2 ELSE r.xgb_d3 END))
                 FROM small s JOIN small_ref r USING (id) WHERE s.x1 IS NOT NULL), '<', 1e-6::float8,
              format('depth %s: the raw scores of XGBoost''s one tree, on every row', sm.d))
  FROM small_models sm ORDER BY d;
-- gbdt_small.out: scikit-learn's depth-2 tree splits on x1, then x2 and x2
SELECT is((SELECT array_agg(f::int + 1 ORDER BY i) FROM jsonb_array_elements_text((m::jsonb)->'trees'->0->'feature')
                WITH ORDINALITY AS e(f, i) WHERE f::int >= 0)::text, '{1,2,2}',
          'depth 2: the split features of scikit-learn''s tree') FROM small_models WHERE d = 2;

-- 20 rounds, 6 leaves, 10 rows per leaf, L2 0.5, learning rate 0.3: best-first
-- growth, missing values in x1
CREATE TEMP TABLE r20 AS
SELECT retention.gbdt_train(label::boolean, ARRAY[x1, x2, x3, x4],
       '{"max_iter": 20, "learning_rate": 0.3, "max_leaf_nodes": 6, "min_samples_leaf": 10,
         "l2_regularization": 0.5, "feature_names": ["x1", "x2", "x3", "x4"]}') AS m FROM small;
SELECT cmp_ok((SELECT max(abs(retention.churn_logit(r20.m, ARRAY[x1, x2, x3, x4]) - r.sk_r20))
                 FROM small s JOIN small_ref r USING (id)), '<', 1e-6::float8,
              '20 rounds of 6 leaves: scikit-learn''s raw scores on every row') FROM r20;
-- gbdt_small.out: scikit-learn's training log loss after rounds 1..20
SELECT cmp_ok((SELECT max(abs(((m::jsonb)->'metrics'->'train_loss'->>i::int)::float8 - ref))
                 FROM unnest('{0.614361,0.566053,0.537097,0.519611,0.506386,0.491488,0.482392,0.474225,0.468886,0.464108,0.459393,0.454965,0.451187,0.446727,0.443281,0.439389,0.435975,0.433472,0.432038,0.429755}'::float8[])
                      WITH ORDINALITY AS u(ref, i)), '<=', 5e-7::float8,
              '20 rounds: the training log loss of every round is scikit-learn''s') FROM r20;
SELECT ok((SELECT bool_and((l->>i)::float8 <= (l->>(i - 1))::float8)
             FROM (SELECT (m::jsonb)->'metrics'->'train_loss' AS l FROM r20) t, generate_series(1, 20) i),
          '20 rounds: the training loss never increases');
SELECT is((SELECT jsonb_array_length((m::jsonb)->'metrics'->'train_loss') FROM r20), 21,
          'the loss is recorded before the first round and after each');

-- ---------------------------------------------------------------------------
-- 4. SHAP: additivity on every row, and Algorithm 2 against brute force.
SELECT cmp_ok((SELECT max(abs(e.total + retention.churn_base_logit(r20.m)
                              - retention.churn_logit(r20.m, ARRAY[x1, x2, x3, x4])))
                 FROM small s,
                      LATERAL (SELECT sum(contribution) AS total
                                 FROM retention.churn_explain(r20.m, ARRAY[s.x1, s.x2, s.x3, s.x4])) e),
              '<', 1e-9::float8, 'SHAP values and the base value add up to the log-odds on all 600 rows')
  FROM r20;
SELECT is((SELECT string_agg(feature || ':' || coalesce(value::text, 'NULL'), ',' ORDER BY feature_index)
             FROM retention.churn_explain(r20.m, '{NULL,2,3,4}')), 'x1:NULL,x2:2,x3:3,x4:4',
          'churn_explain names the features and shows a missing value as NULL') FROM r20;

CREATE TEMP TABLE shap_file (j text);
\copy shap_file FROM 'test/churn/fixtures/gbdt_shap_model.json' WITH (FORMAT text, DELIMITER E'\x01')
CREATE TEMP TABLE shap_ref (line text);
\copy shap_ref FROM 'test/churn/fixtures/gbdt_shap_bruteforce.out' WITH (FORMAT text, DELIMITER E'\x01')
-- a line of a brute-force reference: case id, the n Shapley values, the base value
CREATE FUNCTION pg_temp.reference_case(line text, n integer, OUT id integer, OUT phi float8[], OUT base float8)
LANGUAGE sql AS $$
SELECT split_part(line, ' ', 1)::int,
       (SELECT array_agg(split_part(line, ' ', k)::float8 ORDER BY k) FROM generate_series(2, n + 1) k),
       split_part(line, ' ', n + 2)::float8
$$;
CREATE TEMP TABLE shap_cases AS SELECT (pg_temp.reference_case(line, 4)).* FROM shap_ref;
CREATE TEMP TABLE shap_x (id int, x float8[]);
INSERT INTO shap_x VALUES (1, '{3,2,1,10}'), (2, '{NULL,0,2,19}'), (3, '{9,5,3,0}'), (4, '{0,0,0,0}'),
                          (5, '{5,NULL,2,NULL}'), (6, '{7.5,2.5,1.5,4.5}'), (7, '{NULL,NULL,NULL,NULL}');
SELECT cmp_ok((SELECT max(abs(e.contribution - c.phi[e.feature_index]))
                 FROM shap_cases c JOIN shap_x USING (id),
                      LATERAL retention.churn_explain((SELECT j::retention.gbdt_model FROM shap_file), shap_x.x) e),
              '<', 1e-12::float8, 'TreeSHAP equals the Shapley values computed by enumerating every subset (7 vectors)');
SELECT cmp_ok((SELECT max(abs(retention.churn_base_logit(j::retention.gbdt_model) - c.base))
                 FROM shap_file, shap_cases c), '<', 1e-12::float8,
              'the base value is the brute-force v(empty set)');

-- Two models held in memory that differ only in their objective (a
-- forest's leaves are probabilities, boosting's are log-odds), alternating
-- at one call site: the per-call-site cache must tell them apart (before
-- the digest covered the whole value, the second got the first's answers).
SELECT is((WITH v AS MATERIALIZED (
               SELECT g, (CASE WHEN g % 2 = 0 THEN j
                               ELSE replace(j, '"objective": "logistic"', '"objective": "random_forest"') END)::retention.gbdt_model AS m
                 FROM shap_file, generate_series(1, 4) g)
           SELECT string_agg(round(retention.churn_prob(v.m, '{3,2,1,10}')::numeric, 12)::text, ' ' ORDER BY v.g) FROM v),
          (SELECT concat_ws(' ', f, b, f, b)
             FROM (SELECT round(retention.churn_prob(j::retention.gbdt_model, '{3,2,1,10}')::numeric, 12)::text AS b,
                          round(retention.churn_prob(replace(j, '"objective": "logistic"', '"objective": "random_forest"')::retention.gbdt_model,
                                                     '{3,2,1,10}')::numeric, 12)::text AS f
                     FROM shap_file) one),
          'two models differing only in objective, alternating at one call site, each score with their own');

-- Covers whose ratios underflow (1e-300 under 1e300): the zero fraction of
-- a split is 0; the values are 0, not NaN (Algorithm 2 divided by it).
SELECT is((SELECT string_agg(contribution::text, ',' ORDER BY feature_index)
             FROM retention.churn_explain('{"kind": "gbdt", "format": 1, "n_features": 2, "base_score": 0, "bins": [[0.5], [0.5]],
                                            "trees": [{"feature": [0, 1, -1, -1, -1], "bin": [0, 0, 0, 0, 0], "left": [1, 3, -1, -1, -1],
                                                       "right": [2, 4, -1, -1, -1], "default_left": [false, false, false, false, false],
                                                       "value": [0, 0, 1, -1, 2], "cover": [1e300, 1e-300, 1e300, 1e-300, 1e-300]}]}'::retention.gbdt_model,
                                          '{1,1}')),
          '0,0', 'TreeSHAP of a model whose cover ratios underflow is 0, not NaN');

-- The same on a random forest whose paths run 11 to 15 splits deep over six
-- features, most of them split again below themselves: what the quadrature
-- of gbdt_shap.c must integrate exactly (gbdt_shap_deep.out).
CREATE TEMP TABLE deep_file (j text);
\copy deep_file FROM 'test/churn/fixtures/gbdt_shap_deep_model.json' WITH (FORMAT text, DELIMITER E'\x01')
CREATE TEMP TABLE deep_ref (line text);
\copy deep_ref FROM 'test/churn/fixtures/gbdt_shap_deep.out' WITH (FORMAT text, DELIMITER E'\x01')
CREATE TEMP TABLE deep_cases AS SELECT (pg_temp.reference_case(line, 6)).* FROM deep_ref;
CREATE TEMP TABLE deep_x (id int, x float8[]);
INSERT INTO deep_x VALUES (1, '{7,1.2,0,0.9,3,1.5}'), (2, '{2,4.1,2,0.2,17,0.1}'), (3, '{9,0.3,1,0.5,11,1.9}'),
                          (4, '{NULL,2.5,NULL,0.7,8,NULL}'), (5, '{5,3.3,2,0.45,20,1.0}'), (6, '{0,0,0,0,0,0}'),
                          (7, '{10,5,3,1,20,2}'), (8, '{6,NULL,1,NULL,NULL,0.6}');
SELECT cmp_ok((SELECT max(abs(e.contribution - c.phi[e.feature_index]))
                 FROM deep_cases c JOIN deep_x USING (id),
                      LATERAL retention.churn_explain((SELECT j::retention.gbdt_model FROM deep_file), deep_x.x) e),
              '<', 1e-12::float8, 'TreeSHAP of deep trees that split features again equals the brute-force Shapley values (8 vectors)');
SELECT is((SELECT count(*) FROM deep_cases c JOIN deep_x USING (id),
                  LATERAL retention.churn_explain((SELECT j::retention.gbdt_model FROM deep_file), deep_x.x) e),
          48::bigint, 'six values for each of the eight vectors');

-- ---------------------------------------------------------------------------
-- 5. Determinism: seeds, row order, parallel workers.
CREATE TEMP TABLE seeded AS
SELECT s, (SELECT retention.gbdt_train(label::boolean, ARRAY[x1, x2, x3, x4],
                  jsonb_build_object('max_iter', 10, 'subsample', 0.5, 'feature_fraction', 0.5, 'seed', s))::text
             FROM (SELECT * FROM small ORDER BY CASE WHEN o THEN id ELSE -id END) t) AS m
  FROM (VALUES (7, true), (7, false), (8, true)) v(s, o);
SELECT is(count(DISTINCT m), 1::bigint, 'the same seed gives the same model, in either row order')
  FROM seeded WHERE s = 7;
SELECT isnt((SELECT m FROM seeded WHERE s = 8), (SELECT m FROM seeded WHERE s = 7 LIMIT 1),
            'another seed gives another model');
SELECT is((SELECT retention.gbdt_train(label::boolean, ARRAY[x1, x2, x3, x4])::text FROM (SELECT * FROM small ORDER BY random()) t),
          (SELECT retention.gbdt_train(label::boolean, ARRAY[x1, x2, x3, x4])::text FROM (SELECT * FROM small ORDER BY id) t),
          'the default model does not depend on the row order');

-- the split of every value against the missing ones (bin = the edge count,
-- threshold DBL_MAX): label = missing, so the root splits exactly there; the
-- model must read back as written and score missing values higher
CREATE TEMP TABLE missing_only AS
SELECT i % 3 = 0 AS y, ARRAY[CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 50)::float8 END] AS f
  FROM generate_series(1, 3000) i;
SELECT ok((SELECT (m::jsonb -> 'trees' -> 0 -> 'bin' ->> 0)::int = 49
                  AND m::text::retention.gbdt_model::text = m::text
                  AND retention.churn_prob(m, ARRAY[NULL::float8]) > retention.churn_prob(m, ARRAY[10::float8])
             FROM (SELECT retention.gbdt_train(y, f, '{"max_iter": 5}') AS m FROM missing_only) s),
          'a split of every value against the missing ones is stored past the last edge and reads back');

-- parallel = serial on a real table (workers cannot read temporary ones)
CREATE TABLE public.gbdt_parallel AS
SELECT i, random() < 0.3 + 0.4 * (i % 7 = 0)::int AS y,
       ARRAY[(i % 97)::float8, CASE WHEN i % 11 = 0 THEN NULL ELSE sin(i) END, (i % 13)::float8] AS f
  FROM generate_series(1, 30000) i;
ALTER TABLE public.gbdt_parallel SET (parallel_workers = 2);
ANALYZE public.gbdt_parallel;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS SELECT retention.gbdt_train(y, f, '{"max_iter": 20}')::text AS m FROM public.gbdt_parallel;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
CREATE TEMP TABLE plan_json (p json);
DO $$
DECLARE p json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) SELECT retention.gbdt_train(y, f, ''{"max_iter": 20}'') FROM public.gbdt_parallel' INTO p;
  INSERT INTO plan_json VALUES (p);
END $$;
SELECT ok((SELECT jsonb_path_exists(p::jsonb, 'strict $.**."Workers Launched" ? (@ > 0)') FROM plan_json),
          'the parallel plan launched workers');
SELECT is((SELECT retention.gbdt_train(y, f, '{"max_iter": 20}')::text FROM public.gbdt_parallel),
          (SELECT m FROM serial), 'the model with parallel workers is the serial model, bit for bit');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE public.gbdt_parallel;

-- ---------------------------------------------------------------------------
-- 6. Acceptance on UCI Online Shoppers: the 11 features, holdout = every
-- fifth session, default settings.  gbdt_online_shoppers.out: scikit-learn's
-- holdout AUC is 0.918773 (log loss 0.236975).
\i data/online_shoppers/load.sql
CREATE TEMP TABLE shop AS
SELECT session, "Revenue" AS y, session % 5 = 0 AS is_test,
       ARRAY["Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
             "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
             "SpecialDay", "Weekend"::int]::float8[] AS f
  FROM shoppers;
CREATE TEMP TABLE shop_model AS SELECT retention.gbdt_train(y, f) AS m FROM shop WHERE NOT is_test;
SELECT cmp_ok((SELECT retention.roc_auc(retention.churn_prob(m, f), y) FROM shop, shop_model WHERE is_test),
              '>=', (0.918773 - 0.005)::float8, 'Online Shoppers: holdout AUC within 0.005 of scikit-learn''s');
SELECT cmp_ok((SELECT abs(retention.roc_auc(retention.churn_prob(m, f), y) - 0.918773)
                 FROM shop, shop_model WHERE is_test), '<', 5e-6::float8,
              'Online Shoppers: in fact the same AUC to the printed digits');
SELECT cmp_ok((SELECT abs(retention.log_loss(retention.churn_prob(m, f), y) - 0.236975)
                 FROM shop, shop_model WHERE is_test), '<', 5e-6::float8,
              'Online Shoppers: and the same holdout log loss');
SELECT cmp_ok((SELECT max(abs(e.total + retention.churn_base_logit(m) - retention.churn_logit(m, f)))
                 FROM (SELECT * FROM shop WHERE is_test AND session % 4 = 0) s, shop_model,
                      LATERAL (SELECT sum(contribution) AS total FROM retention.churn_explain(m, s.f)) e),
              '<', 1e-9::float8, 'Online Shoppers: SHAP values add up on the holdout rows checked (617)');
SELECT is((SELECT feature_index FROM retention.gbdt_importance(m) ORDER BY gain DESC LIMIT 1), 9,
          'PageValues has the largest gain') FROM shop_model;
SELECT is((SELECT feature_index FROM retention.gbdt_importance(m) ORDER BY mean_abs_shap DESC LIMIT 1), 9,
          'and the largest mean |SHAP|') FROM shop_model;
SELECT cmp_ok((SELECT abs(sum(gain_share) - 1) FROM retention.gbdt_importance(m)), '<', 1e-12::float8,
              'the gain shares add up to 1') FROM shop_model;

-- the random forest: bagging, sqrt(k) features per split, mean of the trees
CREATE TEMP TABLE shop_rf AS
SELECT retention.gbdt_train(y, f, '{"model": "random_forest", "max_iter": 50, "min_samples_leaf": 2, "seed": 1}') AS m
  FROM shop WHERE NOT is_test;
SELECT cmp_ok((SELECT retention.roc_auc(retention.churn_prob(m, f), y) FROM shop, shop_rf WHERE is_test),
              '>=', 0.89::float8, 'random forest: a holdout AUC near scikit-learn''s forest (0.90, 100 trees)');
SELECT cmp_ok((SELECT max(abs(retention.churn_prob(m, f) -
                              (SELECT sum(v) FROM (SELECT 1) z,
                                      LATERAL (SELECT retention.churn_base_logit(m) + sum(contribution) AS v
                                                 FROM retention.churn_explain(m, f)) q)))
                 FROM (SELECT * FROM shop WHERE is_test AND session % 40 = 0) s, shop_rf), '<', 1e-9::float8,
              'random forest: SHAP values add up to the probability');
SELECT is((SELECT (m::jsonb)->>'objective' FROM shop_rf), 'random_forest', 'the forest says what it is');

-- early stopping on a validation share; class weights
CREATE TEMP TABLE shop_es AS
SELECT retention.gbdt_train(y, f, '{"early_stopping": true, "max_iter": 500, "learning_rate": 0.3}') AS m
  FROM shop WHERE NOT is_test;
SELECT cmp_ok(((m::jsonb)->'metrics'->>'rounds')::int, '<', 500, 'early stopping stops before max_iter')
  FROM shop_es;
SELECT is(((m::jsonb)->'metrics'->>'n_validation')::int,
          (SELECT (ceil(0.1 * count(*) FILTER (WHERE NOT y)) + ceil(0.1 * count(*) FILTER (WHERE y)))::int
             FROM shop WHERE NOT is_test), 'the validation share is a stratified tenth') FROM shop_es;
SELECT cmp_ok((SELECT abs(((retention.gbdt_train(y, f, '{"class_weight": "balanced", "max_iter": 1}')::jsonb)->>'base_score')::float8)
                 FROM shop WHERE NOT is_test), '<', 1e-12::float8, 'balanced class weights start from even odds');

-- ---------------------------------------------------------------------------
-- 7. The model type: round trips and hostile input.
SELECT is((SELECT m::text::retention.gbdt_model::text FROM r20), (SELECT m::text FROM r20), 'text round trip');
SELECT is((SELECT (m::jsonb)::retention.gbdt_model::text FROM r20), (SELECT m::text FROM r20), 'jsonb round trip');
CREATE TEMP TABLE bin_m AS SELECT m FROM r20;
CREATE TEMP TABLE bin_m2 (m retention.gbdt_model);
SELECT '/tmp/retention_gbdt_' || pg_backend_pid() || '.bin' AS binfile \gset
COPY bin_m TO :'binfile' WITH (FORMAT binary);
COPY bin_m2 FROM :'binfile' WITH (FORMAT binary);
SELECT is((SELECT m::text FROM bin_m2), (SELECT m::text FROM bin_m), 'binary COPY round trip');

CREATE TEMP TABLE hostile (what text, j jsonb);
INSERT INTO hostile
SELECT v.what, v.j FROM (SELECT (m::jsonb) AS j0 FROM hand_model) h,
LATERAL (VALUES
  ('a child pointing at its parent (a cycle)', jsonb_set(j0, '{trees,0,left,0}', '0')),
  ('a child index beyond the tree', jsonb_set(j0, '{trees,0,right,0}', '1000000')),
  ('two parents of one node', jsonb_set(jsonb_set(j0, '{trees,0,left,0}', '1'), '{trees,0,right,0}', '1')),
  ('a feature out of range', jsonb_set(j0, '{trees,0,feature,0}', '5')),
  ('a bin beyond the edges', jsonb_set(j0, '{trees,0,bin,0}', '200')),
  ('a threshold that is not its bin''s edge', jsonb_set(j0, '{trees,0,threshold,0}', '7')),
  ('a negative cover', jsonb_set(j0, '{trees,0,cover,1}', '-4')),
  ('a huge count of features', jsonb_set(j0, '{n_features}', '1000000000')),
  ('a non-integer child', jsonb_set(j0, '{trees,0,left,0}', '1.5')),
  ('a leaf with children', jsonb_set(j0, '{trees,0,left,1}', '2')),
  ('decreasing bin edges', jsonb_set(j0, '{bins,0}', '[3, 2, 1]')),
  ('a missing node array', j0 #- '{trees,0,value}'),
  ('arrays of different lengths', jsonb_set(j0, '{trees,0,cover}', '[8, 4]')),
  ('an unknown format', jsonb_set(j0, '{format}', '2'))) v(what, j);
SELECT throws_ok(format('SELECT %L::jsonb::retention.gbdt_model', j), '22P02', NULL,
                 'rejected: ' || what) FROM hostile ORDER BY what;
-- a chain 70 levels deep is rejected (TreeSHAP's path is bounded)
SELECT throws_ok(format('SELECT %L::retention.gbdt_model', jsonb_build_object(
    'kind', 'gbdt', 'format', 1, 'n_features', 1, 'base_score', 0, 'bins', '[[0.5]]'::jsonb,
    'trees', jsonb_build_array(jsonb_build_object(
        'feature', (SELECT jsonb_agg(CASE WHEN i % 2 = 0 AND i < 140 THEN 0 ELSE -1 END ORDER BY i) FROM generate_series(0, 140) i),
        'bin', (SELECT jsonb_agg(0) FROM generate_series(0, 140)),
        'left', (SELECT jsonb_agg(CASE WHEN i % 2 = 0 AND i < 140 THEN i + 1 ELSE -1 END ORDER BY i) FROM generate_series(0, 140) i),
        'right', (SELECT jsonb_agg(CASE WHEN i % 2 = 0 AND i < 140 THEN i + 2 ELSE -1 END ORDER BY i) FROM generate_series(0, 140) i),
        'default_left', (SELECT jsonb_agg(false) FROM generate_series(0, 140)),
        'value', (SELECT jsonb_agg(0.1) FROM generate_series(0, 140)),
        'cover', (SELECT jsonb_agg(1) FROM generate_series(0, 140)))))), '22P02', NULL,
    'rejected: a tree 70 levels deep');

-- ---------------------------------------------------------------------------
-- 8. Errors, the registry, and a caller with only USAGE on the schema.
SELECT throws_ok($$SELECT retention.churn_prob(m, '{1,2}') FROM hand_model$$, '2202E', NULL,
                 'a feature vector of the wrong length is an error');
SELECT throws_ok($$SELECT retention.gbdt_train(y, ARRAY[x]::float8[], '{"lambda": 1}') FROM hand$$, '22023', NULL,
                 'an unknown option is an error');
SELECT throws_ok($$SELECT retention.gbdt_train(y, ARRAY[x]::float8[], '{"max_bins": 256}') FROM hand$$, '22023', NULL,
                 'more than 255 bins is an error');
SELECT throws_ok($$SELECT retention.gbdt_train(y, CASE WHEN x = 1 THEN ARRAY[x, x] ELSE ARRAY[x] END::float8[]) FROM hand$$,
                 '2202E', NULL, 'rows of different widths are an error');
SELECT is((SELECT ((retention.gbdt_train(y, f)::jsonb)->'metrics'->>'n_skipped')::int
             FROM (VALUES (true, '{1}'::float8[]), (false, '{2}'), (NULL, '{3}'), (true, NULL),
                          (false, '{Infinity}'), (true, '{4}')) v(y, f)), 3,
          'rows with a NULL label, a NULL array or an infinite feature are skipped and counted');

CREATE TEMP TABLE shop_cols AS
SELECT "Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
       "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
       "SpecialDay", "Weekend"::int AS "Weekend", "Revenue", session % 5 = 0 AS is_test
  FROM shoppers;
CALL retention.train_churn_gbdt('shoppers_gbdt', 'shop_cols', 'Revenue',
     ARRAY['Administrative', 'Administrative_Duration', 'Informational', 'Informational_Duration',
           'ProductRelated', 'ProductRelated_Duration', 'BounceRates', 'ExitRates', 'PageValues',
           'SpecialDay', 'Weekend'], NULL, 'is_test');
SELECT cmp_ok((SELECT abs((metrics->'holdout'->>'roc_auc')::float8 - 0.918773) FROM retention.models
                WHERE name = 'shoppers_gbdt' AND version = 1 AND kind = 'gbdt'), '<', 5e-6::float8,
              'train_churn_gbdt stores version 1 with its holdout AUC');
SELECT is((SELECT feature FROM retention.gbdt_importance(retention.churn_gbdt_model('shoppers_gbdt'))
            ORDER BY gain DESC LIMIT 1), 'PageValues', 'churn_gbdt_model reads it back, with feature names');

-- a role with only USAGE on the schema trains, scores and explains
CREATE ROLE gbdt_tap_user;
GRANT USAGE ON SCHEMA retention TO gbdt_tap_user;
GRANT SELECT ON small TO gbdt_tap_user;
SET ROLE gbdt_tap_user;
SELECT lives_ok($$SELECT retention.churn_prob(m, '{1,2,3,NULL}'), (SELECT count(*) FROM retention.churn_explain(m, '{1,2,3,4}'))
                    FROM (SELECT retention.gbdt_train(label::boolean, ARRAY[x1, x2, x3, x4], '{"max_iter": 3}') AS m FROM small) t$$,
                'a caller with only USAGE trains, scores and explains');
SELECT throws_ok($$SELECT '{"kind": "gbdt", "format": 1, "n_features": 1, "base_score": 0, "bins": [[]], "trees": [{"feature": [0], "bin": [0], "left": [-1], "right": [-1], "default_left": [false], "value": [1], "cover": [1]}]}'::retention.gbdt_model$$,
                 '22P02', NULL, 'and cannot slip in a split on a feature without edges');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
