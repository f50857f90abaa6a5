-- pgTAP: the churn model candidates refresh() compares (train_churn_candidates).
--   * the candidate kept is the one with the best holdout ROC AUC, each AUC
--     computed here independently: the Mann-Whitney rank sum of the
--     candidate's holdout scores, in plain SQL, mid-ranks for ties;
--   * the others are not in the registry; the new version's metrics hold
--     every candidate's; a worse challenger leaves the version in use;
--   * a tree ensemble in use scores through churn_scores and explains
--     through churn_explanation (TreeSHAP, direction against the means).
BEGIN;
SELECT plan(20);
SET LOCAL client_min_messages = warning;

-- churn when exactly one of two rates is high (an interaction no linear
-- model can see), with a tenth of the labels flipped; every fifth row held out
SELECT setseed(0.5);
CREATE TEMP TABLE cand_rows AS
SELECT i AS user_id, x1, x2,
       ((x1 > 0.5) <> (x2 > 0.5)) <> (random() < 0.1) AS churned,
       i % 5 = 0 AS holdout
  FROM (SELECT i, random() AS x1, random() AS x2 FROM generate_series(1, 2000) AS i) AS s;

-- the holdout AUC of a score by the rank sum: (R1 - n1 (n1 + 1) / 2) / (n1 n0)
CREATE FUNCTION pg_temp.rank_sum_auc(kind text, model jsonb) RETURNS float8 LANGUAGE sql AS $$
    WITH m AS MATERIALIZED (
        SELECT CASE WHEN kind = 'gbdt' THEN model::text::retention.gbdt_model END AS trees,
               CASE WHEN kind = 'logreg' THEN model::text::retention.logreg_model END AS linear),
    s AS (
        SELECT r.churned, COALESCE(retention.churn_prob(m.trees, ARRAY[r.x1, r.x2]),
                                   retention.churn_prob(m.linear, ARRAY[r.x1, r.x2])) AS p
          FROM pg_temp.cand_rows AS r, m WHERE r.holdout),
    ranked AS (
        SELECT churned, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS mid_rank FROM s)
    SELECT ((sum(mid_rank) FILTER (WHERE churned)
             - count(*) FILTER (WHERE churned) * (count(*) FILTER (WHERE churned) + 1) / 2.0)
            / (count(*) FILTER (WHERE churned) * count(*) FILTER (WHERE NOT churned)))::float8
      FROM ranked
$$;

CREATE TEMP TABLE contest AS
SELECT retention.train_churn_candidates('cand_churn', 'pg_temp.cand_rows', 'churned', '{x1,x2}',
                                        'holdout', 'user_id') AS r;
CREATE TEMP TABLE cand AS
SELECT e ->> 'candidate' AS candidate, e ->> 'kind' AS kind, (e ->> 'chosen')::boolean AS chosen,
       (e #>> '{holdout,roc_auc}')::float8 AS auc, (e #>> '{holdout,n_rows}')::bigint AS n_rows,
       pg_temp.rank_sum_auc(e ->> 'kind', e -> 'model') AS rank_sum
  FROM contest, jsonb_array_elements(r -> 'candidates') AS e;

SELECT is((SELECT string_agg(candidate || ':' || kind, ',' ORDER BY candidate) FROM cand),
          'elastic_net:logreg,gbdt:gbdt,logreg:logreg', 'the three default candidates were trained');
SELECT is((SELECT count(*)::int FROM cand WHERE abs(auc - rank_sum) < 1e-12), 3,
          'each candidate''s holdout AUC equals its rank-sum AUC computed here');
SELECT is((SELECT count(DISTINCT n_rows)::int || ' ' || min(n_rows) FROM cand),
          '1 ' || (SELECT count(*) FROM cand_rows WHERE holdout), 'every candidate is scored on the same holdout rows');
SELECT is((SELECT candidate FROM cand WHERE chosen),
          (SELECT candidate FROM cand ORDER BY rank_sum DESC LIMIT 1),
          'the candidate kept has the best rank-sum AUC');
SELECT ok((SELECT rank_sum FROM cand WHERE candidate = 'gbdt') > 0.8
          AND (SELECT max(rank_sum) FROM cand WHERE kind = 'logreg') < 0.6,
          'on an interaction the trees rank the holdout (AUC > 0.8) and the linear models do not (< 0.6)');
SELECT is((SELECT string_agg(version || ' ' || kind || ' ' || (metrics ->> 'candidate'), ',') FROM retention.models
            WHERE name = 'cand_churn'),
          (SELECT (r ->> 'version') || ' gbdt gbdt' FROM contest),
          'only the chosen candidate is in the registry, as the new version');
SELECT is((SELECT jsonb_array_length(metrics -> 'candidates') FROM retention.models WHERE name = 'cand_churn'), 3,
          'its metrics hold every candidate''s holdout metrics');
SELECT ok((SELECT bool_and(e #> '{holdout}' ?& ARRAY['roc_auc', 'log_loss', 'brier', 'n_rows'] AND NOT e ? 'model')
             FROM retention.models AS m, jsonb_array_elements(m.metrics -> 'candidates') AS e WHERE m.name = 'cand_churn'),
          'each with AUC, log loss and Brier score, and without the model itself');
SELECT ok((SELECT (e ->> 'lambda')::float8 > 0 AND (e ->> 'l1_ratio')::float8 = 0.5
             FROM contest, jsonb_array_elements(r -> 'candidates') AS x(c), LATERAL (SELECT c -> 'options' AS e) AS o
            WHERE c ->> 'candidate' = 'elastic_net'),
          'the elastic net takes its lambda from logreg_cv, with l1_ratio 0.5');

-- a worse challenger: the version in use stays, the challenger is deleted
CREATE TEMP TABLE contest2 AS
SELECT retention.train_churn_candidates('cand_churn', 'pg_temp.cand_rows', 'churned', '{x1,x2}',
                                        'holdout', 'user_id', '{logreg}', '{"lambda": 1}') AS r;
SELECT is((SELECT (r ->> 'kept_previous') || ' ' || (r ->> 'version') || ' ' || (r ->> 'kind') FROM contest2),
          (SELECT 'true ' || (r ->> 'version') || ' gbdt' FROM contest),
          'a challenger with a lower AUC than the version in use leaves it in use');
SELECT is((SELECT abs((r #>> '{previous,holdout,roc_auc}')::float8
                      - (SELECT rank_sum FROM cand WHERE chosen)) < 1e-12 FROM contest2), true,
          'the version in use is scored again on the same holdout rows');
SELECT is((SELECT count(*)::int FROM retention.models WHERE name = 'cand_churn'), 1,
          'the losing challenger is not in the registry');

-- the trees in use: churn_scores and the explanations of the loop
SELECT is((SELECT count(*)::int FROM retention.churn_scores('cand_churn', 'pg_temp.cand_rows', 'user_id') AS s
             JOIN cand_rows AS c ON c.user_id::text = s.id
            WHERE s.churn_prob = retention.churn_prob((SELECT retention.churn_gbdt_model('cand_churn')), ARRAY[c.x1, c.x2])),
          2000, 'churn_scores scores with the tree ensemble in use');
SELECT is((SELECT e ->> 'direction' FROM cand_rows AS c,
                  jsonb_array_elements(retention.churn_explanation(retention.churn_gbdt_model('cand_churn'),
                                                                   ARRAY[0.9, 0.1]::float8[], ARRAY[0.5, 0.5]::float8[], 2)) AS e
            WHERE c.user_id = 1 AND e ->> 'feature' = 'x1'),
          'higher', 'churn_explanation of the trees: x1 = 0.9 is higher than its mean 0.5');
SELECT ok((SELECT sum((e ->> 'contribution')::float8) <= min(retention.churn_logit(m, ARRAY[0.9, 0.1]::float8[])
                                                            - retention.churn_base_logit(m)) + 1e-4
             FROM (SELECT retention.churn_gbdt_model('cand_churn') AS m) AS t,
                  jsonb_array_elements(retention.churn_explanation(m, ARRAY[0.9, 0.1]::float8[], ARRAY[0.5, 0.5]::float8[])) AS e),
          'its contributions are the positive TreeSHAP values: they add up to at most the log-odds above the base');

-- churn_explanation of trees is C, so that the model's cache outlives each
-- call; the SQL function over churn_explain it replaced is the reference:
-- the same jsonb, to the text, for every row, with missing and NaN values,
-- means NULL, NaN, short or not 1-based, n from 0 to 3, names with and
-- without "log_" and a model without names
CREATE FUNCTION pg_temp.explanation_sql(model retention.gbdt_model, features float8[], means float8[], n integer)
RETURNS jsonb LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'feature', e.feature,
               'contribution', pg_catalog.round(e.contribution::pg_catalog.numeric, 4),
               'direction', e.direction,
               'reads', CASE WHEN e.direction OPERATOR(pg_catalog.=) 'missing'
                             THEN pg_catalog.format('%s is missing, which raises the churn risk',
                                                    pg_catalog.replace(pg_catalog.regexp_replace(e.feature, '^log_', ''), '_', ' '))
                             ELSE pg_catalog.format('%s is %s than average, which raises the churn risk',
                                                    pg_catalog.replace(pg_catalog.regexp_replace(e.feature, '^log_', ''), '_', ' '),
                                                    e.direction) END)
           ORDER BY e.contribution DESC)
      FROM (SELECT x.feature, x.contribution,
                   CASE WHEN x.value IS NULL OR x.value OPERATOR(pg_catalog.<>) x.value THEN 'missing'
                        WHEN x.value OPERATOR(pg_catalog.>) means[x.feature_index] THEN 'higher' ELSE 'lower' END AS direction
              FROM retention.churn_explain(model, features) AS x
             WHERE x.contribution OPERATOR(pg_catalog.>) 0
             ORDER BY x.contribution DESC, x.feature
             LIMIT n) AS e
$$;

CREATE TEMP TABLE expl AS
SELECT retention.churn_explanation(g.model, a.f, a.m, a.n)::text AS c_form,
       pg_temp.explanation_sql(g.model, a.f, a.m, a.n)::text AS sql_form
  FROM (SELECT retention.churn_gbdt_model('cand_churn') AS model
        UNION ALL
        SELECT retention.gbdt_train(churned, ARRAY[x1, x2], o) FROM cand_rows,
               (VALUES ('{"max_iter": 5, "feature_names": ["log_days_since_x", "x_two"]}'::jsonb),
                       ('{"max_iter": 5}'::jsonb)) AS v(o) GROUP BY o) AS g,
       cand_rows AS c,
       LATERAL (SELECT CASE c.user_id % 7 WHEN 0 THEN ARRAY[NULL, c.x2] WHEN 1 THEN ARRAY['NaN', c.x2]
                                          ELSE ARRAY[c.x1, c.x2] END::float8[] AS f,
                       CASE c.user_id % 5 WHEN 0 THEN ARRAY[0.5, NULL] WHEN 1 THEN ARRAY['NaN', 0.5]
                                          WHEN 2 THEN '[0:1]={0.5,0.5}' WHEN 3 THEN ARRAY[0.5]
                                          ELSE ARRAY[0.3, 0.6] END::float8[] AS m,
                       c.user_id % 4 AS n) AS a;
SELECT is((SELECT count(*)::int FROM expl WHERE c_form IS NOT DISTINCT FROM sql_form), 6000,
          'churn_explanation of trees gives what the SQL over churn_explain gave, for 6,000 calls');
SELECT ok((SELECT count(*) FROM expl WHERE c_form LIKE '%missing%') > 0
          AND (SELECT count(*) FROM expl WHERE c_form LIKE '%"days since x is %') > 0
          AND (SELECT count(*) FROM expl WHERE c_form LIKE '%"feature": null%') > 0
          AND (SELECT count(*) FROM expl WHERE c_form IS NULL) > 0,
          'the comparison covers missing values, "log_" names, a model without names and empty results');
-- equal contributions and no names: by position, whatever the means say
SELECT is((SELECT string_agg(e ->> 'direction', ',')
             FROM jsonb_array_elements(retention.churn_explanation(
                      '{"bins": [[0.5], [0.5]], "kind": "gbdt", "format": 1, "objective": "logistic", "base_score": 0, "n_features": 2,
                        "trees": [{"bin": [0, 0, 0], "gain": [1, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "cover": [2, 1, 1],
                                   "value": [0, -1, 1], "feature": [0, -1, -1], "threshold": [0.5, null, null], "default_left": [true, false, false]},
                                  {"bin": [0, 0, 0], "gain": [1, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "cover": [2, 1, 1],
                                   "value": [0, -1, 1], "feature": [1, -1, -1], "threshold": [0.5, null, null], "default_left": [true, false, false]}]}',
                      '{1,1}', '{2,0}', 3)) AS e),
          'lower,higher', 'ties in contribution between unnamed features come in feature order');
SELECT throws_ok($$SELECT retention.churn_explanation(retention.churn_gbdt_model('cand_churn'), ARRAY[1, 2]::float8[],
                                                      ARRAY[1, 2]::float8[], -1)$$,
                 '2201W', NULL, 'a negative n is 2201W, as a negative LIMIT was');

SELECT throws_ok($$SELECT retention.train_churn_candidates('cand_churn', 'pg_temp.cand_rows', 'churned', '{x1,x2}',
                                                           'holdout', 'user_id', '{logreg,forest}')$$,
                 '22023', NULL, 'an unknown candidate is 22023');

SELECT * FROM finish();
ROLLBACK;
