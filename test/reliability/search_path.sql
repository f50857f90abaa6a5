-- pgTAP: a hostile search_path cannot change what retention computes.
--
-- The schema evil shadows, with exactly the argument types of pg_catalog,
-- the functions, aggregates, window functions and operators that SQL and
-- PL/pgSQL bodies commonly use, each returning a wrong answer (comparisons
-- negated, numbers off by one, text with a suffix, sets missing their first
-- row, aggregates off by one or reversed), and the type names that are not
-- SQL keywords (float8, text, jsonb, ...) with domains that round or
-- truncate.  Then every SQL and PL/pgSQL
-- function and procedure and every view of the schema retention is called
-- with SET search_path = evil, pg_catalog, public (pg_catalog explicitly
-- after evil, so evil wins) and its result compared with the same call under
-- a clean search_path.
--
-- The routines come from the catalogue: those without a hand-written call
-- below get one built from their argument types and the fixtures; a routine
-- the harness cannot call under a clean search_path fails the suite with a
-- diagnostic, so one merged later is never silently passed.  Names that
-- could not be shadowed (their pg_catalog signature takes "any" or is an
-- ordered-set aggregate, which SQL cannot define) are listed in a
-- diagnostic.

BEGIN;
SELECT no_plan();
SET client_min_messages = warning;
SET search_path = public, pg_catalog;
SELECT setseed(0.42);

--------------------------------------------------------------------------
-- Fixtures (realistic shapes; values fixed by the seed)
--------------------------------------------------------------------------

CREATE TABLE public.sp_events AS
SELECT (1 + floor(random() * 60))::bigint AS user_id,
       (1 + floor(random() * 25))::bigint AS item_id,
       timestamptz '2024-01-01' + random() * interval '300 days' AS ts,
       (ARRAY['view', 'cart', 'purchase'])[1 + floor(random() * 3)::int] AS event_type,
       round((5 + random() * 95)::numeric, 2) AS amount
  FROM generate_series(1, 1500);

CREATE TABLE public.sp_test_events AS
SELECT (1 + floor(random() * 60))::bigint AS user_id,
       (1 + floor(random() * 25))::bigint AS item_id
  FROM generate_series(1, 300);

-- labelled feature rows: churned depends on the features, with noise
CREATE TABLE public.sp_features AS
SELECT u AS user_id, f1, f2, f3,
       (random() < 1 / (1 + exp(-(0.5 - 0.8 * f1 + 0.3 * f2 - 0.2 * f3))))::int AS churned,
       u % 4 = 0 AS test
  FROM (SELECT u, random() * 4 - 2 AS f1, random() * 3 AS f2, random() * 10 - 5 AS f3
          FROM generate_series(1, 400) u) s;

CREATE TABLE public.sp_summaries AS
SELECT 'c' || i AS customer_id, freq::float8 AS frequency,
       (CASE WHEN freq = 0 THEN 0 ELSE round((random() * 30)::numeric, 1) END)::float8 AS recency,
       40::float8 AS t, (CASE WHEN freq = 0 THEN 0 ELSE 10 + random() * 50 END)::float8 AS monetary
  FROM (SELECT i, floor(random() * 6)::int AS freq FROM generate_series(1, 200) i) s;

CREATE TABLE public.sp_embeddings AS
SELECT i::bigint AS item_id,
       ARRAY[random() - 0.5, random() - 0.5, random() - 0.5, random() - 0.5]::float4[] AS embedding
  FROM generate_series(1, 25) i;

-- refresh()'s working tables that refresh_candidate reads
CREATE TEMP TABLE retention_rfm_cutoff AS
SELECT row_number() OVER (ORDER BY customer_id)::bigint AS user_id, frequency, recency, t FROM public.sp_summaries;
CREATE TEMP TABLE retention_backtest AS
SELECT user_id, user_id % 3 = 0 AS churned FROM pg_temp.retention_rfm_cutoff;

-- a pipeline for the report (refresh() itself commits, so it cannot run in
-- this test's transaction; it pins its own search_path first thing)
INSERT INTO retention.pipelines (name, events) VALUES ('sp', 'public.sp_events');

-- a campaign on it, half its users assigned in March (issue 19)
INSERT INTO retention.customer_scores (pipeline, user_id, churn_prob, recommended_items, scored_at)
SELECT 'sp', u, 0.3 + 0.6 * random(), '{1,2}', '2024-03-01' FROM generate_series(1, 60) u;
INSERT INTO retention.campaigns (name, pipeline, control_fraction, assignment_key)
VALUES ('sp_campaign', 'sp', 0.4, '0123456789abcdef'), ('sp_assign', 'sp', 0.4, 'fedcba9876543210');
INSERT INTO retention.interventions (campaign, user_id, arm, assigned_at, churn_prob)
SELECT 'sp_campaign', s.user_id, retention.assignment_arm('sp_campaign', s.user_id, 0.4, '0123456789abcdef'),
       '2024-03-01', s.churn_prob
  FROM retention.customer_scores s WHERE s.pipeline = 'sp';

CREATE TABLE public.sp_knn AS
SELECT retention.item_knn(user_id, item_id, 1.0, 10) AS m FROM public.sp_events;
CREATE TABLE public.sp_als AS
SELECT retention.als_train(user_id, item_id, 1.0, '{"factors": 3, "iterations": 2}') AS m FROM public.sp_events;
CREATE TABLE public.sp_user_knn AS
SELECT retention.item_knn(item_id, user_id, 1.0, 10) AS m FROM public.sp_events;

DO $$
DECLARE
    v integer;
BEGIN
    CALL retention.train_churn_model('sp_churn', 'public.sp_features', 'churned', '{f1,f2,f3}',
                                     NULL, NULL, 0.2, v);
    PERFORM retention.item_knn_save('sp_knn', (SELECT m FROM public.sp_knn));
    PERFORM retention.als_save('sp_als', (SELECT m FROM public.sp_als));
END
$$;

--------------------------------------------------------------------------
-- How to call each routine.  Each call is SQL that runs under the search
-- path being tested; when probe is set, it runs afterwards under the clean
-- search_path and its result is what is compared (for procedures and for
-- functions that write).  Both run in a subtransaction rolled back after.
-- Model literals are typed with schema-qualified types.
--------------------------------------------------------------------------

CREATE TABLE pg_temp.calls (routine text PRIMARY KEY, call text NOT NULL, probe text);
INSERT INTO pg_temp.calls VALUES
('retention.cohort_table(regclass,text,boolean,boolean,name,name,name,text,text,name,timestamp with time zone,timestamp with time zone,text)',
 $$SELECT * FROM retention.cohort_table('sp_events', 'week')$$, NULL),
('retention.rolling_retention(regclass,integer,interval,name,boolean,name,name,timestamp with time zone,timestamp with time zone,text)',
 $$SELECT * FROM retention.rolling_retention('sp_events', 1, '1 month', breakdown_by => 'event_type', time_zone => 'Europe/Paris')$$, NULL),
('retention.rolling_retention(regclass,integer,interval,boolean,name,name,timestamp with time zone,timestamp with time zone,text)',
 $$SELECT retention.rolling_retention('sp_events', 1, '2 days', date_from => '2024-01-02', time_zone => 'Europe/Paris')$$, NULL),
('retention.lifecycle(regclass,text,name,name,name,timestamp with time zone,timestamp with time zone,text)',
 $$SELECT * FROM retention.lifecycle('sp_events', 'week', breakdown_by => 'event_type', time_zone => 'Europe/Paris')$$, NULL),
('retention.stickiness(regclass,text,name,name,name,timestamp with time zone,timestamp with time zone,text)',
 $$SELECT * FROM retention.stickiness('sp_events', 'week', breakdown_by => 'event_type', time_zone => 'Europe/Paris')$$, NULL),
('retention.funnel(regclass,text[],interval,text,name,name,name,name,timestamp with time zone,timestamp with time zone)',
 $$SELECT * FROM retention.funnel('sp_events', '{view,purchase}', '7 days', 'ordered', 'event_type')$$, NULL),
('retention.funnel_dropoffs(regclass,text[],interval,integer,text,name,name,name,name,timestamp with time zone,timestamp with time zone)',
 $$SELECT * FROM retention.funnel_dropoffs('sp_events', '{view,purchase}', '7 days', 2, 'strict')$$, NULL),
('retention.funnel_progress_sql(regclass,text[],interval,text,name,name,name,name,timestamp with time zone,timestamp with time zone)',
 $$SELECT retention.funnel_progress_sql('sp_events', '{view,purchase}', '7 days', 'unordered', 'event_type', 'user_id', 'ts', 'event_type', NULL, NULL)$$, NULL),
('retention.paths(regclass,text,text,integer,name,name,name,timestamp with time zone,timestamp with time zone)',
 $$SELECT * FROM retention.paths('sp_events', 'view', 'previous', 2)$$, NULL),
('retention.report_html(text)',
 $$SELECT retention.report_html('sp')$$, NULL),
-- report_html's parts, on the pipeline's row and report_cohorts' cells
('retention.report_cohorts(retention.pipelines,integer,integer)',
 $$SELECT c.* FROM retention.pipelines p, retention.report_cohorts(p, 36, 36) c WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_incomplete_note(retention.report_cell[],text,timestamp with time zone,timestamp with time zone)',
 $$SELECT retention.report_incomplete_note(c.cells, 'month', c.data_from, c.data_to)
     FROM retention.pipelines p, retention.report_cohorts(p, 36, 36) c WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_heatmap_html(retention.report_cell[],integer,text,boolean,text)',
 $$SELECT retention.report_heatmap_html(c.cells, c.cohorts, 'month', true, '1 of 2 days')
     FROM retention.pipelines p, retention.report_cohorts(p, 36, 36) c WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_curves_html(retention.report_cell[],text,boolean,text)',
 $$SELECT retention.report_curves_html(c.cells, 'month', false, NULL)
     FROM retention.pipelines p, retention.report_cohorts(p, 36, 36) c WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_survivor_matrix(retention.pipelines)',
 $$SELECT retention.report_survivor_matrix(p) FROM retention.pipelines p WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_survival_html(retention.pipelines,integer,integer,integer)',
 $$SELECT retention.report_survival_html(p, 36, 36, 12) FROM retention.pipelines p WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.report_header_html(retention.pipelines,bigint,bigint,bigint,integer,timestamp with time zone,bigint,bigint)',
 $$SELECT retention.report_header_html(p, 60, 50, 20, 1, '2024-06-01 03:00+00'::pg_catalog.timestamptz, 7, 13)
     FROM retention.pipelines p WHERE p.name OPERATOR(pg_catalog.=) 'sp'$$, NULL),
('retention.churn_encoder(text,text[],jsonb)',
 $$SELECT retention.churn_encoder('sp_features', '{f1,f2,f3}', '{"standardize": true}')::pg_catalog.text$$, NULL),
('retention.logreg_cv(text,text,text[],text,jsonb)',
 $$SELECT * FROM retention.logreg_cv('sp_features', 'churned', '{f1,f2,f3}', 'user_id', '{"folds": 3, "n_lambda": 3, "l1_ratio": 0.5}')$$, NULL),
('retention.churn_model(text,integer)',
 $$SELECT retention.churn_model('sp_churn')::pg_catalog.text$$, NULL),
('retention.churn_scores(text,text,text,integer)',
 $$SELECT * FROM retention.churn_scores('sp_churn', 'sp_features', 'user_id')$$, NULL),
('retention.churn_holdout_metrics(anyelement,text,text,text[],text)',
 $$SELECT retention.churn_holdout_metrics((SELECT retention.churn_model('sp_churn')),
            'sp_features', 'churned', '{f1,f2,f3}', 'test')::pg_catalog.text$$, NULL),
('retention.train_churn_candidates(text,text,text,text[],text,text,text[],jsonb,jsonb)',
 $$SELECT retention.train_churn_candidates('sp_cand', 'sp_features', 'churned',
            '{f1,f2,f3}', 'test', 'user_id', '{logreg,elastic_net,gbdt}', '{"lambda": 0.1}', '{"max_iter": 5}') IS NOT NULL$$,
 $$SELECT version, kind, model::text, metrics::text, feature_names, training_source
     FROM retention.models WHERE name = 'sp_cand'$$),
('retention.churn_explanation(retention.gbdt_model,double precision[],double precision[],integer)',
 $$SELECT retention.churn_explanation(retention.gbdt_train(churned::pg_catalog.bool, ARRAY[f1, f2, f3], '{"max_iter": 3}'),
            '{1,1,1}'::pg_catalog.float8[], '{0,0,0}'::pg_catalog.float8[])::pg_catalog.text
     FROM sp_features$$, NULL),
('retention.customer_base(regclass,retention.bgnbd_model,retention.gamma_gamma_model,double precision,integer,double precision,double precision)',
 $$SELECT * FROM retention.customer_base('sp_summaries',
       '{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}'::retention.bgnbd_model,
       '{"p":6.25,"q":3.74,"v":15.44}'::retention.gamma_gamma_model, 39, 12, 4.33, 0.01)$$, NULL),
('retention.customer_base_expected_purchases(jsonb,double precision,double precision,double precision,double precision)',
 $$SELECT retention.customer_base_expected_purchases('{"kind":"bgnbd","r":0.243,"alpha":4.414,"a":0.793,"b":2.426}', 39, 2, 30.43, 38.86)
   UNION ALL SELECT retention.customer_base_expected_purchases('{"kind":"pareto_nbd","r":0.553,"alpha":10.578,"s":0.606,"beta":11.669}', 39, 2, 30.43, 38.86)
   UNION ALL SELECT retention.customer_base_expected_purchases('{"kind":"nbd","r":0.5,"alpha":10}', 13, 2, 15, 20)$$, NULL),
('retention.customer_base_p_alive(jsonb,double precision,double precision,double precision)',
 $$SELECT retention.customer_base_p_alive('{"kind":"bgnbd","r":0.243,"alpha":4.414,"a":0.793,"b":2.426}', 2, 30.43, 38.86)
   UNION ALL SELECT retention.customer_base_p_alive('{"kind":"pareto_nbd","r":0.553,"alpha":10.578,"s":0.606,"beta":11.669}', 2, 30.43, 38.86)$$, NULL),
('retention.customer_base_clv(jsonb,retention.gamma_gamma_model,double precision,double precision,double precision,double precision,integer,double precision,double precision)',
 $$SELECT retention.customer_base_clv(m::pg_catalog.jsonb, '{"p":6.25,"q":3.74,"v":15.44}', 2, 30.43, 38.86, 35, 12, 4.33, 0.01)
     FROM (VALUES ('{"kind":"bgnbd","r":0.243,"alpha":4.414,"a":0.793,"b":2.426}'),
                  ('{"kind":"pareto_nbd","r":0.553,"alpha":10.578,"s":0.606,"beta":11.669}'),
                  ('{"kind":"nbd","r":0.5,"alpha":10}')) AS v(m)$$, NULL),
('retention.refresh_candidate(text,jsonb,jsonb,double precision)',
 $$SELECT retention.refresh_candidate('bgnbd', f, f, 13)::pg_catalog.text
     FROM (SELECT '{"kind":"bgnbd","r":0.243,"alpha":4.414,"a":0.793,"b":2.426,"converged":true,
                    "std_err":{"r":0.01,"alpha":0.3,"a":0.1,"b":0.5}}'::pg_catalog.jsonb AS f) AS s$$, NULL),
('retention.refresh_withheld(jsonb,text,double precision)',
 $$SELECT retention.refresh_withheld('[{"model": "bgnbd", "problem": "not converged", "p_alive_auc": 0.32},
                                       {"model": "nbd", "expected_purchases_auc": 0.73}]', 'p_alive_auc', 0.6)::pg_catalog.text$$, NULL),
('retention.evaluate_item_knn(regclass,regclass,integer,integer,name,name)',
 $$SELECT * FROM retention.evaluate_item_knn('sp_events', 'sp_test_events', 5, 3)$$, NULL),
('retention.als_load(text,integer)',
 $$SELECT retention.als_load('sp_als')::pg_catalog.text$$, NULL),
('retention.als_save(text,retention.als_model,text,jsonb)',
 $$SELECT retention.als_save('sp_als', (SELECT m FROM sp_als), 'sp_events', '{"note": "x"}')$$,
 $$SELECT version, kind, model::text, metrics::text, training_source FROM retention.models
    WHERE name = 'sp_als' ORDER BY version$$),
('retention.evaluate_recommenders(regclass,regclass,integer,jsonb,integer,name,name)',
 $$SELECT * FROM retention.evaluate_recommenders('sp_events', 'sp_test_events', 5, '{"factors": 3, "iterations": 2}', 3)$$, NULL),
('retention.recommend_all(retention.als_model,regclass,integer,name,name)',
 $$SELECT * FROM retention.recommend_all((SELECT m FROM sp_als), 'sp_events', 3)$$, NULL),
('retention.assignment_arm(text,bigint,double precision,bytea)',
 $$SELECT retention.assignment_arm('sp_campaign', 7, 0.3, '0123456789abcdef'::bytea)$$, NULL),
('retention.assign_interventions(text,timestamp with time zone)',
 $$SELECT * FROM retention.assign_interventions('sp_assign', '2024-03-01')$$,
 $$SELECT user_id, arm, assigned_at, churn_prob FROM retention.interventions
    WHERE campaign = 'sp_assign' ORDER BY user_id$$),
('retention.intervention_outcomes(text,interval)',
 $$SELECT * FROM retention.intervention_outcomes('sp_campaign', '30 days')$$, NULL),
('retention.intervention_effect(text,interval,double precision)',
 $$SELECT * FROM retention.intervention_effect('sp_campaign', '30 days')$$, NULL),
('retention.intervention_uplift(text,interval,integer,double precision)',
 $$SELECT * FROM retention.intervention_uplift('sp_campaign', '30 days', 4)$$, NULL),
('retention.load_model(text,text,integer)',
 $$SELECT retention.load_model('sp_knn', 'item_knn', NULL)::pg_catalog.text$$, NULL),
('retention.save_model_of_kind(text,text,jsonb,text,jsonb)',
 $$SELECT retention.save_model_of_kind('sp_kind', 'item_knn', (SELECT m FROM sp_knn)::pg_catalog.jsonb, 'sp_events', '{"note": "x"}')$$,
 $$SELECT version, kind, model::text, metrics::text, training_source FROM retention.models
    WHERE name = 'sp_kind' ORDER BY version$$),
('retention.item_knn_load(text,integer)',
 $$SELECT retention.item_knn_load('sp_knn')::pg_catalog.text$$, NULL),
('retention.item_knn_save(text,retention.item_knn_model,text,jsonb)',
 $$SELECT retention.item_knn_save('sp_knn', (SELECT m FROM sp_knn), 'sp_events', '{"note": "x"}')$$,
 $$SELECT version, kind, model::text, metrics::text, training_source FROM retention.models
    WHERE name = 'sp_knn' ORDER BY version$$),
('retention.logreg_train_multipass(text,text,text[],jsonb)',
 $$SELECT retention.logreg_train_multipass('sp_features', 'churned', '{f1,f2,f3}',
                                           '{"lambda": 0.5, "class_weight": "balanced"}')::pg_catalog.text$$, NULL),
('retention.nearest_by_embedding(real[],regclass,integer,bigint[],name,name)',
 $$SELECT * FROM retention.nearest_by_embedding('{0.1,-0.2,0.3,0.05}', 'sp_embeddings', 5, '{3,7}')$$, NULL),
('retention.recommend_all(retention.item_knn_model,regclass,integer,bigint[],name,name)',
 $$SELECT * FROM retention.recommend_all((SELECT m FROM sp_knn), 'sp_events', 3, '{1,2,3,4,5}')$$, NULL),
('retention.recommend_from_similar_users(retention.item_knn_model,regclass,bigint,integer,name,name)',
 $$SELECT * FROM retention.recommend_from_similar_users((SELECT m FROM sp_user_knn), 'sp_events', 7, 5)$$, NULL),
('retention.source_from_item(text)',
 $$SELECT retention.source_from_item('sp_features') UNION ALL
   SELECT retention.source_from_item(' (SELECT * FROM sp_features)')$$, NULL),
('retention.train_churn_gbdt(text,text,text,text[],jsonb,text,double precision,integer)',
 $$CALL retention.train_churn_gbdt('sp_gbdt', 'SELECT * FROM sp_features', 'churned', '{f1,f2,f3}',
                                   '{"max_iter": 5}', NULL, 0.25)$$,
 $$SELECT version, kind, model::text, metrics::text, feature_names, training_source
     FROM retention.models WHERE name = 'sp_gbdt'$$),
('retention.train_churn_model(text,text,text,text[],jsonb,text,double precision,integer)',
 $$CALL retention.train_churn_model('sp_churn2', 'SELECT * FROM sp_features', 'churned', '{f1,f2,f3}',
                                    '{"lambda": 0.1}', NULL, 0.25)$$,
 $$SELECT version, kind, model::text, metrics::text, feature_names, training_source
     FROM retention.models WHERE name = 'sp_churn2'$$);

-- a fixture value of each argument type, for routines merged without a call above
CREATE FUNCTION pg_temp.fixture_value(t regtype, argname text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$
SELECT CASE format_type(t, NULL)
    WHEN 'regclass' THEN CASE WHEN argname ~ 'summar' THEN '''sp_summaries''::pg_catalog.regclass'
                              WHEN argname ~ 'embed' THEN '''sp_embeddings''::pg_catalog.regclass'
                              WHEN argname ~ 'feature|source|label' THEN '''sp_features''::pg_catalog.regclass'
                              ELSE '''sp_events''::pg_catalog.regclass' END
    WHEN 'text' THEN CASE WHEN argname ~ 'source|table' THEN '''sp_events'''
                          WHEN argname ~ 'model|name' THEN '''sp_churn'''
                          WHEN argname ~ 'unit|period|interval' THEN '''week'''
                          ELSE '''purchase''' END
    WHEN 'name' THEN CASE WHEN argname ~ 'user' THEN '''user_id''' WHEN argname ~ 'item' THEN '''item_id'''
                          WHEN argname ~ 'time|ts' THEN '''ts''' WHEN argname ~ 'amount' THEN '''amount'''
                          ELSE '''event_type''' END
    WHEN 'integer' THEN '3'
    WHEN 'bigint' THEN '7::pg_catalog.int8'
    WHEN 'double precision' THEN '0.5::pg_catalog.float8'
    WHEN 'numeric' THEN '12.5::pg_catalog.numeric'
    WHEN 'boolean' THEN 'true'
    WHEN 'interval' THEN '''7 days''::pg_catalog.interval'
    WHEN 'timestamp with time zone' THEN '''2024-10-01 00:00+00''::pg_catalog.timestamptz'
    WHEN 'date' THEN '''2024-10-01''::pg_catalog.date'
    WHEN 'timestamp without time zone' THEN '''2024-10-01 00:00''::pg_catalog.timestamp'
    WHEN 'bigint[]' THEN '''{1,2,3}''::pg_catalog.int8[]'
    WHEN 'text[]' THEN '''{f1,f2,f3}''::pg_catalog.text[]'
    WHEN 'double precision[]' THEN '''{0.5,1,-2}''::pg_catalog.float8[]'
    WHEN 'real[]' THEN '''{0.1,-0.2,0.3,0.05}''::pg_catalog.float4[]'
    WHEN 'jsonb' THEN '''{}''::pg_catalog.jsonb'
    WHEN 'retention.item_knn_model' THEN '(SELECT m FROM public.sp_knn)'
    WHEN 'retention.als_model' THEN '(SELECT m FROM public.sp_als)'
    WHEN 'retention.logreg_model' THEN 'retention.churn_model(''sp_churn'')'
    WHEN 'retention.bgnbd_model' THEN '''{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}''::retention.bgnbd_model'
    WHEN 'retention.pareto_nbd_model' THEN '''{"r":0.553,"alpha":10.578,"s":0.606,"beta":11.669}''::retention.pareto_nbd_model'
    WHEN 'retention.gamma_gamma_model' THEN '''{"p":6.25,"q":3.74,"v":15.44}''::retention.gamma_gamma_model'
    WHEN 'retention.mbgnbd_model' THEN '''{"r":0.525,"alpha":6.18,"a":0.891,"b":1.61}''::retention.mbgnbd_model'
    WHEN 'retention.bgbb_model' THEN '''{"alpha":1.204,"beta":0.75,"gamma":0.657,"delta":2.783}''::retention.bgbb_model'
    WHEN 'retention.sbg_model' THEN '''{"alpha":0.704,"beta":1.182}''::retention.sbg_model'
    WHEN 'retention.survival_curve' THEN '''{"time":[1,2,3],"n_event":[1,0,1],"n_censor":[0,1,1]}''::retention.survival_curve'
    WHEN 'retention.coxph_model' THEN '''{"coefficients":[0.5,1,-2],"baseline":{"time":[1,2],"cumulative_hazard":[0.1,0.2]}}''::retention.coxph_model'
    END
$$;

-- every routine and view under test, with its call
CREATE TABLE pg_temp.subjects AS
SELECT p.oid::regprocedure::text AS routine, p.prokind,
       coalesce(c.call,
           CASE WHEN p.prokind = 'p' THEN 'CALL ' ELSE 'SELECT * FROM ' END
           || p.oid::regproc::text || '('
           || coalesce((SELECT string_agg(pg_temp.fixture_value(a.t, coalesce(p.proargnames[a.i], '')), ', ' ORDER BY a.i)
                          FROM unnest(p.proargtypes::oid[]::regtype[]) WITH ORDINALITY a(t, i)), '')
           || ')') AS call,
       c.probe,
       c.call IS NULL AS generic
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang
  LEFT JOIN pg_temp.calls c ON c.routine = p.oid::regprocedure::text
 WHERE p.pronamespace = 'retention'::regnamespace
   AND l.lanname IN ('sql', 'plpgsql')
   AND p.prokind IN ('f', 'p')
   AND p.oid <> 'retention.refresh(text)'::regprocedure
UNION ALL
SELECT c.oid::regclass::text, 'v', 'SELECT * FROM ' || c.oid::regclass::text, NULL, false
  FROM pg_class c
 WHERE c.relnamespace = 'retention'::regnamespace AND c.relkind IN ('v', 'm');

-- a generic call has a NULL where no fixture fits: the routine is not callable
SELECT diag(format('search_path: no call for %s (argument types without a fixture); add one to pg_temp.calls',
                   routine))
  FROM pg_temp.subjects WHERE call IS NULL;

--------------------------------------------------------------------------
-- The hostile schema
--------------------------------------------------------------------------

CREATE SCHEMA evil;

-- a wrong value of type rt computed from the SQL expression e (evaluated
-- with only schema-qualified references, so evil cannot hijack itself)
CREATE FUNCTION pg_temp.wrong(rt regtype, e text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$
SELECT CASE
    WHEN rt = 'boolean'::regtype THEN format('(NOT (%s))', e)
    WHEN rt IN ('smallint', 'integer', 'bigint', 'real', 'double precision', 'numeric')
        THEN format('((%s) OPERATOR(pg_catalog.+) 1::%s)', e, rt)
    WHEN rt IN ('text', 'character varying', 'name')
        THEN format('((%s)::pg_catalog.text OPERATOR(pg_catalog.||) ''~evil'')::%s', e, rt)
    WHEN rt IN ('timestamp with time zone', 'timestamp without time zone', 'date', 'interval')
        THEN format('((%s) OPERATOR(pg_catalog.+) ''1 day''::pg_catalog.interval)::%s', e, rt)
    WHEN rt = 'jsonb'::regtype
        THEN format('pg_catalog.jsonb_build_array(%s, ''evil''::pg_catalog.text)', e)
    WHEN rt = 'json'::regtype
        THEN format('pg_catalog.json_build_array(%s, ''evil''::pg_catalog.text)', e)
    WHEN rt IN ('anyarray', 'anycompatiblearray', 'double precision[]', 'bigint[]', 'integer[]', 'text[]', 'real[]')
        THEN format('(SELECT pg_catalog.array_agg(x ORDER BY i DESC) FROM pg_catalog.unnest(%s) WITH ORDINALITY u(x, i))', e)
    END
$$;

-- Operators: every pg_catalog operator of these names on these types
CREATE TABLE pg_temp.shadowed (kind text, name text, signature text);
DO $$
DECLARE
    o record;
    fn text;
    body text;
    n int := 0;
BEGIN
    FOR o IN
        SELECT op.oid, op.oprname, op.oprleft::regtype AS l, op.oprright::regtype AS r,
               op.oprresult::regtype AS res, op.oprcode::regproc AS code
          FROM pg_operator op
         WHERE op.oprnamespace = 'pg_catalog'::regnamespace
           AND op.oprname IN ('=', '<>', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '||', '&',
                              '~', '~*', '!~', '->', '->>', '?', '&&', '@>', '<@', '#>>')
           AND op.oprleft IN (0, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                              'float8'::regtype, 'numeric'::regtype, 'text'::regtype, 'timestamptz'::regtype,
                              'interval'::regtype, 'jsonb'::regtype, 'oid'::regtype, 'bool'::regtype,
                              'date'::regtype, 'timestamp'::regtype, 'anyarray'::regtype, 'anycompatiblearray'::regtype,
                              'float8[]'::regtype, 'int8[]'::regtype, 'text[]'::regtype)
           AND op.oprright IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                               'float8'::regtype, 'numeric'::regtype, 'text'::regtype, 'timestamptz'::regtype,
                               'interval'::regtype, 'jsonb'::regtype, 'oid'::regtype, 'bool'::regtype,
                               'date'::regtype, 'timestamp'::regtype, 'anyarray'::regtype, 'anycompatiblearray'::regtype,
                               'anycompatible'::regtype, 'text[]'::regtype, 'float8[]'::regtype)
    LOOP
        body := pg_temp.wrong(o.res, CASE WHEN o.l = 0 THEN format('OPERATOR(pg_catalog.%s) $1', o.oprname)
                                          ELSE format('$1 OPERATOR(pg_catalog.%s) $2', o.oprname) END);
        CONTINUE WHEN body IS NULL;
        n := n + 1;
        fn := format('evil.op_%s', n);
        EXECUTE format('CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE sql IMMUTABLE AS %L',
                       fn, CASE WHEN o.l = 0 THEN o.r::text ELSE o.l || ', ' || o.r END, o.res,
                       'SELECT ' || body);
        EXECUTE format('CREATE OPERATOR evil.%s (FUNCTION = %s, %s RIGHTARG = %s)',
                       o.oprname, fn, CASE WHEN o.l = 0 THEN '' ELSE format('LEFTARG = %s,', o.l) END, o.r);
        INSERT INTO pg_temp.shadowed VALUES ('operator', o.oprname, format('%s(%s, %s)', o.oprname, o.l, o.r));
    END LOOP;
END
$$;

-- Scalar and set-returning functions: every pg_catalog overload of these
-- names whose types SQL can declare
DO $$
DECLARE
    f record;
    args text;
    body text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset, p.prorettype::regtype AS rt,
               p.proargtypes::oid[]::regtype[] AS argtypes, p.provariadic
          FROM pg_proc p
         WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
           AND p.proname IN ('sqrt', 'ln', 'exp', 'abs', 'round', 'floor', 'ceil', 'ceiling', 'trunc',
                             'power', 'log', 'mod', 'sign', 'greatest', 'least', 'date_trunc', 'date_part',
                             'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp',
                             'unnest', 'array_length', 'cardinality', 'array_position', 'array_remove',
                             'array_fill', 'array_append', 'array_cat', 'array_to_string', 'array_upper',
                             'generate_series', 'format', 'concat', 'length', 'lower', 'upper', 'left',
                             'right', 'substr', 'replace', 'jsonb_build_object', 'jsonb_build_array',
                             'jsonb_set', 'to_jsonb', 'jsonb_typeof', 'hashtext', 'nullif', 'coalesce',
                             'age', 'make_interval', 'to_char', 'lpad', 'string_to_array', 'regexp_replace',
                             'isfinite', 'extract', 'float8', 'int4', 'int8', 'numeric', 'text')
           -- "any" and internal arguments need C; SQL cannot declare them
           AND NOT p.proargtypes::oid[] && ARRAY['"any"', 'internal', 'cstring', 'anyelement', 'anynonarray', 'anycompatiblenonarray', 'anycompatiblerange',
                                                 'anyenum', 'anyrange', 'anymultirange']::regtype[]::oid[]
           AND p.prorettype NOT IN ('internal'::regtype, 'cstring'::regtype, 'record'::regtype)
    LOOP
        args := (SELECT string_agg('$' || i, ', ') FROM generate_series(1, cardinality(f.argtypes)) i);
        IF f.proretset THEN
            body := format('SELECT x FROM pg_catalog.%I(%s) x OFFSET 1', f.proname, coalesce(args, ''));
        ELSE
            body := pg_temp.wrong(f.rt, format('pg_catalog.%I(%s)', f.proname, coalesce(args, '')));
            IF body IS NULL THEN
                INSERT INTO pg_temp.shadowed VALUES ('not shadowed', f.proname, f.oid::regprocedure::text);
                CONTINUE;
            END IF;
            body := 'SELECT ' || body;
        END IF;
        EXECUTE format('CREATE FUNCTION evil.%I(%s%s) RETURNS %s%s LANGUAGE sql %s AS %L',
                       f.proname,
                       CASE WHEN f.provariadic <> 0 THEN 'VARIADIC ' ELSE '' END,
                       (SELECT coalesce(string_agg(format_type(t, NULL), ', ' ORDER BY i), '')
                          FROM unnest(f.argtypes) WITH ORDINALITY a(t, i)),
                       CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END, f.rt,
                       CASE WHEN f.proname IN ('now', 'clock_timestamp', 'statement_timestamp',
                                               'transaction_timestamp') THEN 'STABLE' ELSE 'IMMUTABLE' END,
                       body);
        INSERT INTO pg_temp.shadowed VALUES ('function', f.proname, f.oid::regprocedure::text);
    END LOOP;
END
$$;

-- COALESCE, GREATEST and LEAST are syntax; functions of those names must
-- never be called (checked below)
CREATE FUNCTION evil.coalesce(anyelement, anyelement) RETURNS anyelement LANGUAGE sql IMMUTABLE
AS 'SELECT $2';
CREATE FUNCTION evil.greatest(float8, float8) RETURNS float8 LANGUAGE sql IMMUTABLE
AS 'SELECT -1::float8';
CREATE FUNCTION evil.least(float8, float8) RETURNS float8 LANGUAGE sql IMMUTABLE
AS 'SELECT -1::float8';

-- Aggregates over one argument of a plain type: the real aggregate over the
-- collected values, then made wrong
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN
        SELECT p.oid, p.proname, p.proargtypes[0]::regtype AS t, p.prorettype::regtype AS rt
          FROM pg_proc p JOIN pg_aggregate g ON g.aggfnoid = p.oid
         WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.pronargs = 1 AND g.aggkind = 'n'
           AND p.proname IN ('sum', 'avg', 'min', 'max', 'count', 'stddev', 'stddev_pop', 'stddev_samp',
                             'variance', 'var_pop', 'var_samp', 'bool_and', 'bool_or', 'every',
                             'jsonb_agg', 'json_agg')
           AND p.proargtypes[0] IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                    'float8'::regtype, 'numeric'::regtype, 'text'::regtype,
                                    'timestamptz'::regtype, 'interval'::regtype, 'bool'::regtype,
                                    'date'::regtype, 'oid'::regtype)
    LOOP
        CONTINUE WHEN pg_temp.wrong(a.rt, '$1') IS NULL;
        EXECUTE format('CREATE FUNCTION evil.agg_final_%s(%s[]) RETURNS %s LANGUAGE sql IMMUTABLE AS %L',
                       a.oid, a.t, a.rt,
                       'SELECT ' || pg_temp.wrong(a.rt, format('(SELECT pg_catalog.%I(x) FROM pg_catalog.unnest($1) x)',
                                                              a.proname)));
        EXECUTE format('CREATE AGGREGATE evil.%I(%s) (SFUNC = pg_catalog.array_append, STYPE = %s[], '
                       'INITCOND = ''{}'', FINALFUNC = evil.agg_final_%s, PARALLEL = SAFE)',
                       a.proname, a.t, a.t, a.oid);
        INSERT INTO pg_temp.shadowed VALUES ('aggregate', a.proname, a.oid::regprocedure::text);
    END LOOP;
END
$$;

-- count(*) and count("any") through the server's own counters, started at 100
CREATE AGGREGATE evil.count(*) (SFUNC = pg_catalog.int8inc, STYPE = int8, INITCOND = '100');
CREATE AGGREGATE evil.count("any") (SFUNC = pg_catalog.int8inc_any, STYPE = int8, INITCOND = '100');
-- array_agg reversed; string_agg with an extra separator at the end
CREATE FUNCTION evil.reverse_array(anyarray) RETURNS anyarray LANGUAGE sql IMMUTABLE
AS 'SELECT pg_catalog.array_agg(x ORDER BY i DESC) FROM pg_catalog.unnest($1) WITH ORDINALITY u(x, i)';
CREATE FUNCTION evil.array_agg_step(anyarray, anynonarray) RETURNS anyarray LANGUAGE sql IMMUTABLE
AS 'SELECT pg_catalog.array_append($1, $2)';
CREATE AGGREGATE evil.array_agg(anynonarray) (SFUNC = evil.array_agg_step, STYPE = anyarray,
    FINALFUNC = evil.reverse_array);
CREATE FUNCTION evil.string_agg_step(text, text, text) RETURNS text LANGUAGE sql IMMUTABLE
AS 'SELECT pg_catalog.concat($1, $2, $3)';
CREATE AGGREGATE evil.string_agg(text, text) (SFUNC = evil.string_agg_step, STYPE = text);
-- window functions: only C can define them, so each is another built-in one
CREATE FUNCTION evil.row_number() RETURNS bigint WINDOW LANGUAGE internal AS 'window_rank';
CREATE FUNCTION evil.rank() RETURNS bigint WINDOW LANGUAGE internal AS 'window_row_number';
CREATE FUNCTION evil.dense_rank() RETURNS bigint WINDOW LANGUAGE internal AS 'window_row_number';
CREATE FUNCTION evil.ntile(integer) RETURNS integer WINDOW LANGUAGE internal AS 'window_dense_rank';
INSERT INTO pg_temp.shadowed VALUES
    ('aggregate', 'count', 'count(*)'), ('aggregate', 'count', 'count("any")'),
    ('aggregate', 'array_agg', 'array_agg(anynonarray)'), ('aggregate', 'string_agg', 'string_agg(text, text)'),
    ('window', 'row_number', 'row_number()'), ('window', 'rank', 'rank()'),
    ('window', 'dense_rank', 'dense_rank()'), ('window', 'ntile', 'ntile(integer)');

-- Types: the names that are not SQL keywords resolve through the path too
-- (a cast ::float8 in a body, a PL/pgSQL declaration); each shadow is a
-- domain that silently rounds, truncates or changes meaning
CREATE DOMAIN evil.float8 AS pg_catalog.numeric(30, 2);
CREATE DOMAIN evil.float4 AS pg_catalog.numeric(30, 1);
CREATE DOMAIN evil.int8 AS pg_catalog.numeric(30, 0) CHECK (VALUE >= -1);
CREATE DOMAIN evil.int4 AS pg_catalog.int8;
CREATE DOMAIN evil.text AS pg_catalog.varchar(3);
CREATE DOMAIN evil.name AS pg_catalog.varchar(3);
CREATE DOMAIN evil.jsonb AS pg_catalog.json;
CREATE DOMAIN evil.timestamptz AS pg_catalog.timestamp;
CREATE DOMAIN evil.regclass AS pg_catalog.oid;
INSERT INTO pg_temp.shadowed
SELECT 'type', t.typname, t.oid::regtype::text FROM pg_type t WHERE t.typnamespace = 'evil'::regnamespace
   AND t.typtype = 'd';

-- the shadows work: each of these is wrong under the hostile search_path
-- (computed there, compared here: pgTAP itself must not run under evil)
SET search_path = evil, pg_catalog, public;
CREATE TABLE pg_temp.hijacked AS
SELECT 1 + 1 AS plus, 2.0::float8 * 3 AS times, 'a' || 'b' AS cat, 1 < 2 AS less,
       sqrt(4::float8) AS root, (SELECT count(*) FROM generate_series(1, 3)) AS n,
       (SELECT sum(x) FROM (VALUES (1.5::float8)) v(x)) AS total,
       (SELECT array_agg(x) FROM (VALUES (1), (2)) v(x)) AS arr,
       greatest(1::float8, 2::float8) AS g, least(1::float8, 2::float8) AS l, coalesce(NULL::int, 5) AS c,
       (0.125::float8)::pg_catalog.text AS cast_float8, ('abcdef'::text)::pg_catalog.text AS cast_text;
SET search_path = public, pg_catalog;
SELECT isnt(h.plus::text, '2', 'evil + on integers is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.times::text, '6', 'evil * on float8 is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.cat::text, 'ab', 'evil || on text is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.less::text, 'true', 'evil < on integers is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.root::text, '2', 'evil sqrt is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.n::text, '3', 'evil count(*) or generate_series is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.total::text, '1.5', 'evil sum is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.arr::text, '{1,2}', 'evil array_agg is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.cast_float8, '0.125', 'a cast to evil float8 is wrong') FROM pg_temp.hijacked h;
SELECT isnt(h.cast_text, 'abcdef', 'a cast to evil text is wrong') FROM pg_temp.hijacked h;
SELECT is(ARRAY[h.g::float8, h.l::float8, h.c::float8], ARRAY[2, 1, 5]::float8[],
          'GREATEST, LEAST and COALESCE are syntax: functions of those names are never called')
  FROM pg_temp.hijacked h;

SELECT diag(format('search_path: shadowed %s operators, %s functions, %s aggregates, %s window functions and %s types',
                   count(*) FILTER (WHERE kind = 'operator'), count(*) FILTER (WHERE kind = 'function'),
                   count(*) FILTER (WHERE kind = 'aggregate'), count(*) FILTER (WHERE kind = 'window'),
                   count(*) FILTER (WHERE kind = 'type')))
  FROM pg_temp.shadowed;
SELECT diag('search_path: not shadowed (SQL cannot declare their pg_catalog signatures): '
            || string_agg(DISTINCT p.oid::regprocedure::text, ', '))
  FROM pg_proc p
 WHERE p.pronamespace = 'pg_catalog'::regnamespace
   AND p.proname IN ('format', 'concat', 'jsonb_build_object', 'percentile_cont', 'percentile_disc',
                     'mode', 'coalesce', 'greatest', 'least', 'nullif', 'lag', 'lead', 'first_value')
   AND NOT EXISTS (SELECT 1 FROM pg_temp.shadowed s WHERE s.signature = p.oid::regprocedure::text);

--------------------------------------------------------------------------
-- The comparison
--------------------------------------------------------------------------

-- Runs call (then probe) under path in a subtransaction that is rolled
-- back, and returns the result as text, or the error as "ERROR sqlstate:
-- message".
CREATE FUNCTION pg_temp.run(call text, probe text, path text) RETURNS text
LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    -- built before the path changes: only EXECUTE and qualified calls run under it
    is_query boolean := probe IS NULL AND call !~* '^\s*call\s';
    wrapped text := format('SELECT pg_catalog.string_agg(t::pg_catalog.text, E''\n'' ORDER BY t::pg_catalog.text) '
                           'FROM (%s) t', CASE WHEN is_query THEN call ELSE probe END);
    result text;
    state text;
    msg text;
BEGIN
    BEGIN
        PERFORM pg_catalog.set_config('search_path', path, true);
        IF is_query THEN
            EXECUTE wrapped INTO result;
        ELSE
            EXECUTE call;
            PERFORM pg_catalog.set_config('search_path', 'public, pg_catalog', true);
            EXECUTE wrapped INTO result;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'RB001';
    EXCEPTION
        WHEN SQLSTATE 'RB001' THEN
            NULL;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            result := format('ERROR %s: %s', state, msg);
    END;
    RETURN coalesce(result, '(no rows)');
END
$$;

CREATE TABLE pg_temp.outcomes AS
SELECT s.routine, s.generic, s.call,
       pg_temp.run(s.call, s.probe, 'public, pg_catalog') AS clean,
       pg_temp.run(s.call, s.probe, 'evil, pg_catalog, public') AS hostile
  FROM pg_temp.subjects s
 WHERE s.call IS NOT NULL;

-- a routine the harness could not call cleanly proves nothing: fail it
SELECT ok(false, format('%s can be called by the harness (%s)', routine,
                        CASE WHEN call IS NULL THEN 'no fixture for an argument type' ELSE clean END))
  FROM (SELECT routine, NULL AS call, NULL AS clean FROM pg_temp.subjects WHERE call IS NULL
        UNION ALL
        SELECT routine, call, clean FROM pg_temp.outcomes WHERE clean LIKE 'ERROR %') x;

SELECT is(o.hostile, o.clean,
          format('%s %s computes the same under search_path = evil, pg_catalog, public',
                 CASE WHEN o.routine LIKE '%(%' THEN 'routine' ELSE 'view' END, o.routine))
  FROM pg_temp.outcomes o
 WHERE o.clean NOT LIKE 'ERROR %'
 ORDER BY o.routine;

SELECT diag(format('search_path: %s routines and views compared (%s with a generic call), %s not callable',
                   (SELECT count(*) FROM pg_temp.outcomes WHERE clean NOT LIKE 'ERROR %'),
                   (SELECT count(*) FROM pg_temp.outcomes WHERE clean NOT LIKE 'ERROR %' AND generic),
                   (SELECT count(*) FROM pg_temp.subjects WHERE call IS NULL)
                   + (SELECT count(*) FROM pg_temp.outcomes WHERE clean LIKE 'ERROR %')));

SELECT * FROM finish();
ROLLBACK;
