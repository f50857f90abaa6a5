-- test/upgrade/values.sql: results computed from the state made by
-- setup.sql, one "name | value" line each.  test/upgrade/upgrade.sh runs it
-- before and after the update: the data must be kept and give the same
-- results.
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' | '
SET TimeZone = 'UTC';
SET extra_float_digits = 3;

SELECT 'pipelines', string_agg(name || ':' || events::text, ',' ORDER BY name) FROM retention.pipelines;
SELECT 'refresh runs', count(*) || ' rows, last run ' || max(run_id) FROM retention.refresh_runs;
SELECT 'registry', string_agg(name || '@' || version || ':' || kind, ',' ORDER BY name, version) FROM retention.models;
-- 0.1.0's columns (0.2.0 adds customer_base_model)
SELECT 'scores', count(*) || ' ' || md5(string_agg((s.pipeline, s.user_id, s.churn_prob, s.p_alive, s.expected_purchases,
                                                     s.predicted_clv, s.value_at_risk, s.top_features, s.recommended_items,
                                                     s.churn_model_version, s.item_knn_version, s.bgnbd_version,
                                                     s.scored_at)::text, ',' ORDER BY s.user_id))
  FROM retention.customer_scores s;
SELECT 'holdout', count(*) FROM retention.churn_holdout;
SELECT 'churn_prob, registry model ' || u.user_id,
       retention.churn_prob(m.model::text::retention.logreg_model, f.features)
  FROM (SELECT model FROM retention.models WHERE name = 'default_churn' ORDER BY version DESC LIMIT 1) m,
       (SELECT user_id FROM upgrade_rfm ORDER BY user_id LIMIT 3) u,
       LATERAL (SELECT array_agg((u.user_id % (i + 7))::float8 ORDER BY i) AS features
                  FROM generate_series(1, jsonb_array_length(m.model -> 'coef')) i) f;
SELECT 'churn_prob, stored column',
       retention.churn_prob(logreg, (SELECT array_agg(0.25::float8 * i ORDER BY i)
                                       FROM generate_series(1, jsonb_array_length(logreg::text::jsonb -> 'coef')) i))
  FROM upgrade_models;
SELECT 'recommend, stored column', string_agg(r.item_id || ':' || r.score, ',' ORDER BY r.score DESC, r.item_id)
  FROM upgrade_models, retention.recommend(knn, '{1,2,3}', 5) r;
SELECT 'recommend, registry', string_agg(r.item_id || ':' || r.score, ',' ORDER BY r.score DESC, r.item_id)
  FROM retention.recommend(retention.item_knn_load('upgrade_knn'), '{4,5}', 5) r;
SELECT 'bgnbd', retention.bgnbd_p_alive(bgnbd, 2, 10, 30) || ' ' || retention.bgnbd_expected_purchases(bgnbd, 52, 2, 10, 30)
  FROM upgrade_models;
SELECT 'pareto/nbd', retention.pareto_nbd_p_alive(pareto, 2, 10, 30) FROM upgrade_models;
SELECT 'gamma-gamma', retention.gamma_gamma_expected_spend(spend, 2, 50) FROM upgrade_models;
SELECT 'activity', count(*) || ' ' || md5(string_agg(activity::text, ',' ORDER BY user_id)) FROM upgrade_activity;
SELECT 'retention over stored activities', retention.retention_rate(activity, 1)::text FROM upgrade_activity;
