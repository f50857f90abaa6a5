-- pgTAP: every function of the extension that reads a table the caller
-- names runs with the caller's privileges.  A role denied the table gets
-- 42501 from each of them; a role limited by row-level security gets
-- results computed over its rows only.  (The list of such functions is
-- checked against the catalogue, so a new one cannot be forgotten here.)
BEGIN;
SELECT plan(44);

CREATE TABLE public.priv_events AS
SELECT 1 + (g % 40)::bigint AS user_id,
       1 + (g * 7 % 97)::bigint AS item_id,
       timestamptz '2024-01-01 00:00+00' + (g * 37 % 200) * interval '1 day' + (g % 5) * interval '13 minutes' AS ts,
       (ARRAY['view', 'click', 'cart', 'purchase'])[1 + g % 4] AS event_type,
       (g % 50 + 1)::numeric AS amount,
       (g % 3 = 0) AS churned,
       (g % 11)::float8 AS f1,
       (g % 7)::float8 AS f2,
       ARRAY[(g % 5)::float4, (g % 3)::float4, 1::float4] AS embedding
  FROM generate_series(1, 1200) g;

CREATE ROLE retention_priv_denied;
CREATE ROLE retention_priv_rls;
GRANT USAGE ON SCHEMA retention TO retention_priv_denied, retention_priv_rls;
GRANT SELECT ON public.priv_events TO retention_priv_rls;
ALTER TABLE public.priv_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_first_ten ON public.priv_events FOR SELECT TO retention_priv_rls
    USING (user_id <= 10);

-- the functions of the schema that take a relation (regclass) or a query:
-- each is called below
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND p.prokind = 'f'
                   AND ('regclass'::regtype = ANY (p.proargtypes::oid[]) OR p.proargnames && ARRAY['source'])
                 ORDER BY 1),
          ARRAY['breakdown_sql', 'churn_encoder', 'churn_holdout_metrics', 'churn_scores', 'cohort_table', 'customer_base', 'evaluate_item_knn',
                'evaluate_recommenders', 'funnel', 'funnel_dropoffs', 'funnel_progress_sql', 'lifecycle',
                'logreg_cv', 'logreg_train_multipass', 'nearest_by_embedding', 'paths', 'recommend_all', 'recommend_all',
                'recommend_from_similar_users', 'rfm', 'rolling_retention', 'rolling_retention', 'session_summary',
                'sessions', 'source_from_item', 'stickiness', 'train_churn_candidates', 'user_features'],
          'the functions that read a caller-named relation are the ones tested here');

-- a model to call the recommenders with, and a stored churn model
CREATE TEMP TABLE knn AS
SELECT retention.item_knn(user_id, item_id, 1.0, 5) AS m FROM public.priv_events;
GRANT SELECT ON knn TO retention_priv_denied, retention_priv_rls;
CREATE TEMP TABLE als AS
SELECT retention.als_train(user_id, item_id, 1.0, '{"factors": 3, "iterations": 2}') AS m FROM public.priv_events;
GRANT SELECT ON als TO retention_priv_denied, retention_priv_rls;
SELECT retention.claim_model('priv_churn') IS NOT NULL AS claimed \gset
INSERT INTO retention.models (name, version, kind, model, feature_names)
VALUES ('priv_churn', 1, 'logreg', '{"intercept": 0.1, "coef": [0.2, -0.1]}', '{f1,f2}');
GRANT SELECT ON retention.models TO retention_priv_denied, retention_priv_rls;
CREATE TEMP TABLE summaries AS
SELECT user_id::text AS customer_id, 2::float8 AS frequency, 10::float8 AS recency, 20::float8 AS t,
       15::float8 AS monetary FROM public.priv_events GROUP BY user_id;

SET ROLE retention_priv_denied;
SELECT throws_ok($$SELECT * FROM retention.cohort_table('public.priv_events', 'week')$$, '42501', NULL, 'cohort_table: denied');
SELECT throws_ok($$SELECT * FROM retention.lifecycle('public.priv_events', 'week')$$, '42501', NULL, 'lifecycle: denied');
SELECT throws_ok($$SELECT * FROM retention.stickiness('public.priv_events', 'week')$$, '42501', NULL, 'stickiness: denied');
SELECT throws_ok($$SELECT * FROM retention.funnel('public.priv_events', '{view,cart}', '1 day')$$, '42501', NULL, 'funnel: denied');
SELECT throws_ok($$SELECT * FROM retention.funnel_dropoffs('public.priv_events', '{view,cart}', '1 day', 2)$$, '42501', NULL, 'funnel_dropoffs: denied');
SELECT throws_ok($$SELECT * FROM retention.paths('public.priv_events', 'view')$$, '42501', NULL, 'paths: denied');
-- the two query builders read the catalogue, never the rows
SELECT lives_ok($$SELECT retention.breakdown_sql('public.priv_events', 'event_type')$$, 'breakdown_sql reads no rows');
SELECT lives_ok($$SELECT retention.funnel_progress_sql('public.priv_events', '{view}', '1 day', 'ordered', NULL, 'user_id', 'ts', 'event_type', NULL, NULL)$$,
                'funnel_progress_sql reads no rows');
SELECT throws_ok($$SELECT * FROM retention.sessions('public.priv_events')$$, '42501', NULL, 'sessions: denied');
SELECT throws_ok($$SELECT * FROM retention.session_summary('public.priv_events')$$, '42501', NULL, 'session_summary: denied');
SELECT throws_ok($$SELECT * FROM retention.user_features('public.priv_events', '2024-05-01')$$, '42501', NULL, 'user_features: denied');
SELECT throws_ok($$SELECT * FROM retention.rfm('public.priv_events', '2024-08-01')$$, '42501', NULL, 'rfm: denied');
SELECT throws_ok($$SELECT * FROM retention.rolling_retention('public.priv_events', 1, '7 days')$$, '42501', NULL, 'rolling_retention: denied');
SELECT throws_ok($$SELECT * FROM retention.rolling_retention('public.priv_events', 1, '7 days', breakdown_by => 'user_id')$$, '42501', NULL,
                 'rolling_retention by a breakdown: denied');
SELECT throws_ok($$SELECT * FROM retention.evaluate_item_knn('public.priv_events', 'public.priv_events')$$, '42501', NULL, 'evaluate_item_knn: denied');
SELECT throws_ok($$SELECT * FROM retention.recommend_all((SELECT m FROM knn), 'public.priv_events', 3)$$, '42501', NULL, 'recommend_all: denied');
SELECT throws_ok($$SELECT * FROM retention.recommend_all((SELECT m FROM als), 'public.priv_events', 3)$$, '42501', NULL, 'recommend_all (als): denied');
SELECT throws_ok($$SELECT * FROM retention.evaluate_recommenders('public.priv_events', 'public.priv_events')$$, '42501', NULL, 'evaluate_recommenders: denied');
SELECT throws_ok($$SELECT * FROM retention.recommend_from_similar_users((SELECT m FROM knn), 'public.priv_events', 1, 3)$$, '42501', NULL, 'recommend_from_similar_users: denied');
SELECT throws_ok($$SELECT * FROM retention.nearest_by_embedding('{1,1,1}'::float4[], 'public.priv_events', 3, NULL, 'user_id', 'embedding')$$, '42501', NULL, 'nearest_by_embedding: denied');
SELECT throws_ok($$SELECT * FROM retention.churn_scores('priv_churn', 'public.priv_events', 'user_id')$$, '42501', NULL, 'churn_scores: denied');
SELECT throws_ok($$SELECT retention.logreg_train_multipass('public.priv_events', 'churned', '{f1,f2}')$$, '42501', NULL, 'logreg_train_multipass: denied');
SELECT throws_ok($$CALL retention.train_churn_model('priv_m', 'public.priv_events', 'churned', '{f1,f2}')$$, '42501', NULL, 'train_churn_model: denied');
SELECT throws_ok($$SELECT retention.churn_encoder('public.priv_events', '{f1,f2}')$$, '42501', NULL, 'churn_encoder: denied');
SELECT throws_ok($$SELECT * FROM retention.logreg_cv('public.priv_events', 'churned', '{f1,f2}', 'user_id')$$, '42501', NULL, 'logreg_cv: denied');
SELECT throws_ok($$SELECT retention.churn_holdout_metrics((SELECT retention.churn_model('priv_churn')), 'public.priv_events', 'churned', '{f1,f2}', 'churned')$$,
                 '42501', NULL, 'churn_holdout_metrics: denied');
SELECT throws_ok($$SELECT retention.train_churn_candidates('priv_cand', 'public.priv_events', 'churned', '{f1,f2}', 'churned', 'user_id')$$,
                 '42501', NULL, 'train_churn_candidates: denied');
SELECT throws_ok($$SELECT * FROM retention.customer_base('pg_temp.summaries', '{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}', '{"p":6.25,"q":3.74,"v":15.44}', 39, 12, 4.33, 0.01)$$, '42501', NULL, 'customer_base: denied');
RESET ROLE;

-- row-level security: the same calls see users 1 to 10 only
SET ROLE retention_priv_rls;
SELECT is((SELECT sum(cohort_size) FILTER (WHERE period_number = 0) FROM retention.cohort_table('public.priv_events', 'week'))::bigint,
          10::bigint, 'cohort_table: the cohorts hold the ten visible users');
SELECT is((SELECT sum(new_users) FROM retention.lifecycle('public.priv_events', 'week'))::bigint,
          10::bigint, 'lifecycle: ten new users in all');
SELECT is((SELECT users FROM retention.funnel('public.priv_events', '{view}', '1 day')), 3::bigint,
          'funnel: the three visible users with a view (1, 5 and 9) enter');
SELECT is((SELECT sum(users) FROM retention.paths('public.priv_events', 'view')), 3::numeric,
          'paths: the three visible users with a view');
SELECT is((SELECT sum(new_users) FROM retention.lifecycle('public.priv_events', 'week', breakdown_by => 'event_type'))::bigint,
          10::bigint, 'lifecycle with a breakdown: ten new users in all');
SELECT is((SELECT max(user_id) FROM retention.sessions('public.priv_events')), 10::bigint,
          'sessions: no user past the tenth');
SELECT is((SELECT count(*) FROM retention.user_features('public.priv_events', '2024-05-01')),
          10::bigint, 'user_features: one row for each visible user');
SELECT is((SELECT count(*) FROM retention.rfm('public.priv_events', '2024-08-01')),
          10::bigint, 'rfm: one row for each visible user');
SELECT is((SELECT count(DISTINCT id) FROM retention.churn_scores('priv_churn', 'public.priv_events', 'user_id')),
          10::bigint, 'churn_scores: the visible users only');
SELECT is((SELECT (retention.churn_holdout_metrics((SELECT retention.churn_model('priv_churn')), 'public.priv_events',
                                                   'churned', '{f1,f2}', 'churned') ->> 'n_rows')::bigint),
          (SELECT count(*) FROM public.priv_events WHERE user_id <= 10 AND churned),
          'churn_holdout_metrics: the visible rows only');
SELECT is((SELECT count(DISTINCT user_id) FROM retention.recommend_all((SELECT m FROM knn), 'public.priv_events', 3)),
          10::bigint, 'recommend_all: the visible users only');
SELECT is((SELECT count(DISTINCT user_id) FROM retention.recommend_all((SELECT m FROM als), 'public.priv_events', 3)),
          10::bigint, 'recommend_all (als): the visible users only');
SELECT is((SELECT max(item_id) FROM retention.nearest_by_embedding('{1,1,1}'::float4[], 'public.priv_events', 1000, NULL, 'user_id', 'embedding')),
          10::bigint, 'nearest_by_embedding: the visible rows only');
SELECT is((SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM public.priv_events),
          (SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM public.priv_events WHERE user_id <= 10),
          'aggregates see what the query sees');
RESET ROLE;
SELECT is((SELECT sum(cohort_size) FILTER (WHERE period_number = 0) FROM retention.cohort_table('public.priv_events', 'week'))::bigint,
          40::bigint, 'the table owner still sees all forty users');

SELECT * FROM finish();
ROLLBACK;
