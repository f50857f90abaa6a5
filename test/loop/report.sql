-- pgTAP: retention.report_html on hand-made fixtures.  The expected counts
-- come from the fixtures (worked out in the comments) or from the
-- functions the report is drawn from (cohort_table), never from the report
-- itself; the AUC is computed by hand.
BEGIN;
SELECT plan(87);
SET LOCAL timezone = 'UTC';

-- the number of (non-overlapping) matches of a regular expression
CREATE FUNCTION hits(doc text, pattern text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT count(*)::integer FROM regexp_matches(doc, pattern, 'g') $$;
-- the inside of the first element with the given id
CREATE FUNCTION by_id(doc text, id text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    at integer := position(('id="' || id || '"') IN doc);
    tag text;
    rest text;
BEGIN
    IF at = 0 THEN
        RETURN NULL;
    END IF;
    tag := substring(left(doc, at) FROM '.*<([a-z0-9]+) ');   -- greedy: the last tag opened
    rest := substr(doc, at);
    rest := substr(rest, position('>' IN rest) + 1);
    RETURN left(rest, position(('</' || tag || '>') IN rest) - 1);
END $$;

------------------------------------------------------------------------
-- declarations
------------------------------------------------------------------------
SELECT function_returns('retention', 'report_html', ARRAY['text'], 'text', 'report_html(text) returns text');
SELECT volatility_is('retention', 'report_html', ARRAY['text'], 'stable', 'report_html is STABLE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'retention.report_html(text)'::regprocedure),
          'r', 'report_html is PARALLEL RESTRICTED (it reads the caller''s tables)');
SELECT isnt((SELECT obj_description('retention.report_html(text)'::regprocedure, 'pg_proc')), NULL,
            'report_html has a comment');
SELECT is((SELECT pg_get_expr(p.proargdefaults, 0) FROM pg_proc p WHERE p.oid = 'retention.report_html(text)'::regprocedure),
          '''default''::text', 'the pipeline defaults to ''default''');
SELECT volatility_is('retention', 'html_escape', ARRAY['text'], 'immutable', 'html_escape is IMMUTABLE');
SELECT is(retention.html_escape('<a href="x">Tom & Jerry''s</a>'),
          '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;', 'html_escape replaces & < > " and ''');
SELECT is(retention.html_escape('&amp;'), '&amp;amp;', 'html_escape escapes an existing reference again');
SELECT is(retention.html_escape(NULL), NULL, 'html_escape of NULL is NULL');

------------------------------------------------------------------------
-- fixture: five customers, January to March 2024 (UTC)
--   u1 buys 01-05, 02-10, 03-15        u2 buys 01-20, views 02-01
--   u3 buys 02-03, 03-04               u4 buys 02-25        u5 buys 03-10
-- Purchase cohorts (churn_on 'purchase'), censored after March:
--   January  {u1, u2}: period 0 100%, 1 50% (u1), 2 50% (u1)
--   February {u3, u4}: period 0 100%, 1 50% (u3)
--   March    {u5}:     period 0 100%
-- so 6 heatmap cells, 3 cohorts, 2 of them past period 0 (2 curves, 3 dots).
------------------------------------------------------------------------
CREATE TABLE rpt_events (user_id bigint, ts timestamptz, event_type text, item_id bigint, amount numeric);
INSERT INTO rpt_events VALUES
    (1, '2024-01-05 10:00', 'purchase', 10, 20), (1, '2024-02-10 10:00', 'purchase', 11, 15),
    (1, '2024-03-15 10:00', 'purchase', 12, 30), (2, '2024-01-20 10:00', 'purchase', 10, 12),
    (2, '2024-02-01 10:00', 'view', 11, NULL), (3, '2024-02-03 10:00', 'purchase', 11, 40),
    (3, '2024-03-04 10:00', 'purchase', 10, 25), (4, '2024-02-25 10:00', 'purchase', 12, 9),
    (5, '2024-03-10 10:00', 'purchase', 10, 50);
INSERT INTO retention.pipelines (name, events) VALUES ('rpt', 'rpt_events');

-- holdout of churn model version 2 (the one that scored the customers):
--   churned  0.9 0.8 0.6 0.5          retained  0.7 0.5 0.4 0.2 0.1
-- Of the 4 x 5 = 20 (churned, retained) pairs the churned one scores higher
-- in 5 + 5 + 4 + 3 = 17 and ties in 1 (0.5, 0.5): AUC = 17.5 / 20 = 0.875.
-- NaN and 1.5 are not probabilities and are left out.  8 distinct scores
-- give 8 ROC points after the origin; 9 rows give 9 calibration groups.
-- Version 1 ranks everything the wrong way round (AUC 0) and must not show.
INSERT INTO retention.churn_holdout (pipeline, model_version, churn_prob, churned)
SELECT 'rpt', 2, p, true FROM unnest(ARRAY[0.9, 0.8, 0.6, 0.5]::float8[]) AS p
UNION ALL
SELECT 'rpt', 2, p, false FROM unnest(ARRAY[0.7, 0.5, 0.4, 0.2, 0.1, 'NaN', 1.5]::float8[]) AS p
UNION ALL
SELECT 'rpt', 1, p, p < 0.5 FROM unnest(ARRAY[0.1, 0.2, 0.8, 0.9]::float8[]) AS p;
INSERT INTO retention.models (name, version, kind, model, metrics, trained_at) VALUES
    ('rpt_churn', 1, 'logreg', '{}', '{}', '2024-03-30 03:00+00'),
    ('rpt_churn', 2, 'logreg', '{}', '{}', '2024-03-31 03:00+00'),
    ('rpt_churn', 3, 'logreg', '{}', '{}', '2024-04-01 03:00+00');
-- version 3 was trained but is worse, so the customers keep version 2; its
-- holdout rows say AUC 0 and must not show either
INSERT INTO retention.churn_holdout (pipeline, model_version, churn_prob, churned)
VALUES ('rpt', 3, 0.9, false), ('rpt', 3, 0.1, true);

-- scores: churn probabilities 0, 0.07, 0.5, 0.97, 1 and one NULL
--   bins [0, 0.05): 1   [0.05, 0.10): 1   [0.50, 0.55): 1   [0.95, 1]: 2
--   5 scored, 3 at 0.5 or more.  A feature name that is an attack.
INSERT INTO retention.customer_scores (pipeline, user_id, churn_prob, top_features, churn_model_version, scored_at)
VALUES ('rpt', 1, 0.0, '[{"feature": "days_since_last_purchase", "contribution": 0.5}]', 2, now()),
       ('rpt', 2, 0.07, '[{"feature": "days_since_last_purchase", "contribution": 1.5},
                          {"feature": "<script>alert(\"x\")</script>&''", "contribution": 0.25}]', 2, now()),
       ('rpt', 3, 0.5, '[{"feature": "purchases_90d", "contribution": 0.75}, "not an object", {"contribution": 1}]', 2, now()),
       ('rpt', 4, 0.97, '{"not": "an array"}', 2, now()),
       ('rpt', 5, 1.0, NULL, 2, now()),
       ('rpt', 6, NULL, NULL, NULL, now());

-- item-kNN evaluation, as rows of evaluate_item_knn in a JSON array; the
-- older version 1 has other numbers that must not show
INSERT INTO retention.models (name, version, kind, model, metrics) VALUES
    ('rpt_item_knn', 1, 'item_knn', '{}', '{"evaluation": [{"recommender": "item_knn", "users": 1, "precision_at_k": 0.999}]}'),
    ('rpt_item_knn', 2, 'item_knn', '{}',
     '{"k": 10, "evaluation": [
        {"recommender": "item_knn", "users": 40, "precision_at_k": 0.12, "recall_at_k": 0.3, "ndcg_at_k": 0.25,
         "map_at_k": 0.2, "hit_rate": 0.5, "coverage": 0.4},
        {"recommender": "popularity", "users": 40, "precision_at_k": 0.06, "recall_at_k": 0.2, "ndcg_at_k": 0.1,
         "map_at_k": 0.08, "hit_rate": 0.5, "coverage": 0.05}]}');

-- refresh history: run 7 succeeded, run 8 failed later with a hostile message
INSERT INTO retention.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, rows, message) VALUES
    (7, 'rpt', 'features', 'ok', '2024-04-01 03:00:00+00', '2024-04-01 03:00:05+00', 5, NULL),
    (7, 'rpt', 'churn model', 'kept previous', '2024-04-01 03:00:05+00', '2024-04-01 03:00:09+00', 5, NULL),
    (8, 'rpt', 'features', 'failed', '2024-04-02 03:00:00+00', '2024-04-02 03:00:01+00', NULL, 'relation "<x>" does not exist');
-- run 7's backtest: one score published, one withheld with a hostile reason
INSERT INTO retention.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, metrics) VALUES
    (7, 'rpt', 'refresh', 'ok', '2024-04-01 03:00:00+00', '2024-04-01 03:00:09+00',
     '{"backtest_cutoff": "2024-01-02", "min_backtest_auc": 0.6,
       "backtest": {"churn_prob": {"auc": 0.71, "n": 40, "published": true},
                    "p_alive": {"published": false, "reason": "bgnbd: not identified <script>"}}}');

CREATE TEMP TABLE rep (pipeline text PRIMARY KEY, html text);
INSERT INTO rep VALUES ('rpt', retention.report_html('rpt'));

------------------------------------------------------------------------
-- the document
------------------------------------------------------------------------
SELECT ok((SELECT html LIKE '<!DOCTYPE html>%</html>' || E'\n' FROM rep WHERE pipeline = 'rpt'),
          'one HTML document');
SELECT is((SELECT hits(html, '<svg class="chart"') FROM rep WHERE pipeline = 'rpt'), 7,
          'seven charts: heatmap, curves, survival, ROC, calibration, histogram, drivers');
SELECT is((SELECT hits(html, '<svg ') - hits(html, '</svg>') FROM rep WHERE pipeline = 'rpt'), 0,
          'every svg is closed');
SELECT is((SELECT hits(html, '<section ') FROM rep WHERE pipeline = 'rpt'), 9, 'nine sections (the campaigns section says when there is none)');
SELECT is((SELECT hits(html, 'class="no-data"') FROM rep WHERE pipeline = 'rpt'), 0, 'no "no data yet" note');
SELECT is((SELECT hits(html, '<script|javascript:|src=|href=|url\(|@import|<link') FROM rep WHERE pipeline = 'rpt'), 0,
          'no script and nothing fetched: no src, href, url() or @import');
SELECT ok((SELECT html LIKE '%Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''"%'
             FROM rep WHERE pipeline = 'rpt'), 'a Content Security Policy forbids fetching anything');

-- the backtest: one row per score, the withheld one with its reason, escaped
SELECT is((SELECT hits(html, '<tr class="published"><th>churn_prob</th><td>0.71</td><td>40</td><td>yes</td>')
                  || ' ' || hits(html, '<tr class="withheld"><th>p_alive</th><td>–</td><td>–</td><td>withheld</td>')
             FROM rep WHERE pipeline = 'rpt'), '1 1', 'backtest: a published and a withheld score');
SELECT is((SELECT hits(html, 'bgnbd: not identified &lt;script&gt;') FROM rep WHERE pipeline = 'rpt'), 1,
          'backtest: the reason it is withheld, escaped');

-- (a) heatmap: one cell per row of cohort_table with the pipeline's settings
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"') FROM rep WHERE pipeline = 'rpt'),
          (SELECT count(*)::integer FROM retention.cohort_table('rpt_events', 'month', event_column => 'event_type',
                                                              start_event => 'purchase', return_event => 'purchase')),
          'heatmap: one cell per (cohort, period) row of cohort_table');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"') FROM rep WHERE pipeline = 'rpt'), 6,
          'heatmap: 3 + 2 + 1 = 6 cells (by hand)');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<text class="rate"') FROM rep WHERE pipeline = 'rpt'), 6,
          'heatmap: the rate printed in every cell');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<text class="rate"[^>]*>100\.0%</text>') FROM rep WHERE pipeline = 'rpt'), 3,
          'heatmap: 100% at period 0 of each of the 3 cohorts');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<text class="rate"[^>]*>50\.0%</text>') FROM rep WHERE pipeline = 'rpt'), 3,
          'heatmap: 50% at January 1 and 2 and February 1');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<text class="cohort-label"') FROM rep WHERE pipeline = 'rpt'), 3,
          'heatmap: one label per cohort');
SELECT ok((SELECT by_id(html, 'cohort-heatmap') LIKE '%>2024-01  (2)</text>%' FROM rep WHERE pipeline = 'rpt'),
          'heatmap: the January cohort labelled with its size');
SELECT ok((SELECT by_id(html, 'cohort-heatmap') LIKE '%<title>cohort 2024-01-01, month 2: 1 of 2 retained (50.00%)</title>%'
             FROM rep WHERE pipeline = 'rpt'), 'heatmap: a cell''s tooltip gives its counts');

-- (b) curves: one polyline per cohort that has reached period 1
SELECT is((SELECT hits(by_id(html, 'retention-curves'), '<polyline class="curve"') FROM rep WHERE pipeline = 'rpt'),
          (SELECT count(DISTINCT cohort_start)::integer
             FROM retention.cohort_table('rpt_events', 'month', event_column => 'event_type',
                                         start_event => 'purchase', return_event => 'purchase')
            WHERE period_number >= 1),
          'curves: one polyline per cohort past period 0 (cohort_table)');
SELECT is((SELECT hits(by_id(html, 'retention-curves'), '<polyline class="curve"') FROM rep WHERE pipeline = 'rpt'), 2,
          'curves: January and February (by hand)');
SELECT is((SELECT hits(by_id(html, 'retention-curves'), '<circle class="dot"') FROM rep WHERE pipeline = 'rpt'), 3,
          'curves: one dot per cohort and period from 1 on');

-- incomplete periods: the data runs from 01-05 10:00 to 03-15 10:00, so
-- January holds 26 days 14 hours (26.6 of 31 days) and March 14 days 10
-- hours (14.4 of 31); the incomplete cells are January's period 0 and 2,
-- February's period 1 and March's period 0, two of them on the curves
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"[^>]*data-complete="false"') FROM rep WHERE pipeline = 'rpt'), 4,
          'heatmap: the four incomplete cells drawn apart (by hand)');
SELECT is((SELECT by_id(html, 'cohort-heatmap-incomplete') FROM rep WHERE pipeline = 'rpt'),
          '<span class="swatch-incomplete"></span>lighter cells with a dashed border: incomplete: 26.6 of 31 days (2024-01); '
          '14.4 of 31 days (2024-03); their rates count only the days so far.',
          'heatmap: the legend says how much of each incomplete period the data holds (by hand)');
SELECT is((SELECT hits(by_id(html, 'retention-curves'), '<circle class="dot"[^>]*data-complete="false"') FROM rep WHERE pipeline = 'rpt'), 2,
          'curves: the two incomplete points hollow (by hand)');

-- survival: unbounded, incomplete last periods left out: January lost 1 of 2
-- in period 1, February and March are censored at period 0, so the
-- Kaplan-Meier curve is 1, then 1 - 1/2
SELECT is((SELECT substring(by_id(html, 'survival-curves') FROM '<polyline class="km"[^>]* data-survival="([^"]*)"') FROM rep WHERE pipeline = 'rpt'),
          '1.0000 0.5000', 'survival: Kaplan-Meier over the cohorts (by hand)');
SELECT is((SELECT hits(by_id(html, 'survival-curves'), '<polyline class="survival"') FROM rep WHERE pipeline = 'rpt'), 3,
          'survival: one observed line per cohort');

-- (c) ROC of version 2
SELECT is((SELECT substring(html FROM 'ROC curve \(AUC <span class="auc">([0-9.]+)</span>\)') FROM rep WHERE pipeline = 'rpt'),
          '0.875', 'ROC: the title gives the AUC computed by hand, 17.5 / 20');
SELECT is((SELECT hits(by_id(html, 'roc-curve'), '<polyline class="roc"') FROM rep WHERE pipeline = 'rpt'), 1,
          'ROC: one curve');
SELECT is((SELECT array_length(regexp_split_to_array(substring(html FROM '<polyline class="roc" fill="none" points="([^"]*)"'), ' '), 1)
             FROM rep WHERE pipeline = 'rpt'), 9, 'ROC: the origin and one point per distinct score (8)');
SELECT is((SELECT substring(html FROM '<polyline class="roc" fill="none" points="([^ "]*) ') FROM rep WHERE pipeline = 'rpt'),
          '50.0,320.0', 'ROC: starts at (0, 0), bottom left');
SELECT is((SELECT substring(html FROM '<polyline class="roc" fill="none" points="[^"]* ([^ "]*)"') FROM rep WHERE pipeline = 'rpt'),
          '350.0,20.0', 'ROC: ends at (1, 1), top right');
-- after 0.9 and 0.8 (both churned) the curve is at FPR 0, TPR 2/4: (50, 170)
SELECT ok((SELECT html ~ 'class="roc" fill="none" points="50\.0,320\.0 50\.0,245\.0 50\.0,170\.0 110\.0,170\.0 ' FROM rep WHERE pipeline = 'rpt'),
          'ROC: the first points by hand: (0, 1/4), (0, 2/4), then 0.7 retained: (1/5, 2/4)');
SELECT is((SELECT hits(by_id(html, 'roc-curve'), '<line class="diagonal"') FROM rep WHERE pipeline = 'rpt'), 1,
          'ROC: the chance diagonal');

-- (d) calibration
SELECT is((SELECT hits(by_id(html, 'calibration'), '<circle class="point"') FROM rep WHERE pipeline = 'rpt'), 9,
          'calibration: 9 holdout rows make 9 groups (deciles when there are 10 or more)');
SELECT is((SELECT hits(by_id(html, 'calibration'), '<line class="diagonal"') FROM rep WHERE pipeline = 'rpt'), 1,
          'calibration: the diagonal');
SELECT is((SELECT hits(by_id(html, 'calibration'), '<polyline class="calibration"') FROM rep WHERE pipeline = 'rpt'), 1,
          'calibration: one line');
SELECT ok((SELECT html LIKE '%<title>decile 9: mean predicted 0.900, observed 1.000, 1 customers</title>%' FROM rep WHERE pipeline = 'rpt'),
          'calibration: the top group is 0.9, churned');

-- (e) risk histogram
SELECT is((SELECT hits(by_id(html, 'risk-histogram'), '<rect class="bar"') FROM rep WHERE pipeline = 'rpt'), 20,
          'histogram: 20 bars');
SELECT is((SELECT array_agg(m[1]::int ORDER BY o) FROM rep, regexp_matches(by_id(html, 'risk-histogram'), ': ([0-9]+) customers</title>', 'g') WITH ORDINALITY AS x(m, o)
            WHERE pipeline = 'rpt'),
          ARRAY[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2],
          'histogram: 0 | 0.07 | 0.5 | 0.97 and 1 in the last bin, NULL left out');
SELECT is((SELECT by_id(html, 'count-scored') FROM rep WHERE pipeline = 'rpt'), '5', 'header: 5 customers scored');
SELECT is((SELECT by_id(html, 'count-at-risk') FROM rep WHERE pipeline = 'rpt'), '3', 'header: 3 at 0.5 or more');
SELECT is((SELECT by_id(html, 'count-customers') FROM rep WHERE pipeline = 'rpt'), '5', 'header: 5 customers in cohorts');

-- drivers, and a feature name that is an attack
SELECT is((SELECT hits(by_id(html, 'churn-drivers'), '<rect class="driver"') FROM rep WHERE pipeline = 'rpt'), 3,
          'drivers: the 3 well-formed feature names, not the malformed entries');
SELECT is((SELECT hits(html, '<script') FROM rep WHERE pipeline = 'rpt'), 0, 'a hostile feature name does not become a script');
SELECT ok((SELECT html LIKE '%&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;%' FROM rep WHERE pipeline = 'rpt'),
          'the hostile feature name is shown, escaped');
SELECT ok((SELECT by_id(html, 'churn-drivers') LIKE '%days_since_last_purchase: among the top drivers of 2 customers, mean contribution 1.000%'
             FROM rep WHERE pipeline = 'rpt'), 'drivers: days_since_last_purchase for 2 customers, mean (0.5 + 1.5) / 2');

-- (f) recommendation metrics: the latest item_knn version
SELECT is((SELECT hits(by_id(html, 'recommendation-metrics'), '<tr class="metric"') FROM rep WHERE pipeline = 'rpt'), 7,
          'metrics: the 7 columns of evaluate_item_knn, a row each');
SELECT ok((SELECT by_id(html, 'recommendation-metrics') LIKE '%<th>item-kNN</th><th>popularity (baseline)</th><th>item-kNN ÷ popularity</th>%'
             FROM rep WHERE pipeline = 'rpt'), 'metrics: item-kNN against popularity, with the ratio');
SELECT ok((SELECT html LIKE '%<tr class="metric" id="metric-precision_at_k"><th>precision@k</th><td class="best">0.1200</td><td>0.0600</td><td class="ratio">2.00×</td></tr>%'
             FROM rep WHERE pipeline = 'rpt'), 'metrics: precision 0.12 against 0.06, twice, the better one marked');
SELECT ok((SELECT html LIKE '%<tr class="metric" id="metric-hit_rate"><th>hit rate</th><td class="best">0.5000</td><td class="best">0.5000</td><td class="ratio">1.00×</td></tr>%'
             FROM rep WHERE pipeline = 'rpt'), 'metrics: a tie marks both');
SELECT ok((SELECT html LIKE '%metric (k = 10)%' AND html NOT LIKE '%0.999%' FROM rep WHERE pipeline = 'rpt'),
          'metrics: k shown, the older version not');

-- header
SELECT ok((SELECT html LIKE '%<h1>Retention report: <span class="pipeline">rpt</span></h1>%' FROM rep WHERE pipeline = 'rpt'),
          'header: the pipeline name');
SELECT is((SELECT by_id(html, 'latest-refresh') FROM rep WHERE pipeline = 'rpt'),
          'run 7, 2024-04-01 03:00:00+00 to 03:00:09 (3 steps, 9.0 s)', 'header: the latest successful run, "kept previous" included');
SELECT is((SELECT by_id(html, 'failed-refresh') FROM rep WHERE pipeline = 'rpt'),
          'run 8, step features at 2024-04-02 03:00:00+00: relation &quot;&lt;x&gt;&quot; does not exist',
          'header: the failed run after it, its message escaped');
SELECT is((SELECT by_id(html, 'churn-model') FROM rep WHERE pipeline = 'rpt'),
          'rpt_churn version 2, trained 2024-03-31 03:00, 9 holdout customers (4 churned)',
          'header: the churn model that scored the customers, not the newer rejected one');

------------------------------------------------------------------------
-- the pipeline's churn definition: churn_on 'activity' counts the view,
-- so January keeps both customers in February; the evaluation as an object
-- keyed by recommender; a holdout of churned customers only; a churn model
-- without scores
------------------------------------------------------------------------
INSERT INTO retention.pipelines (name, events, churn_on) VALUES ('rpt_act', 'rpt_events', 'activity');
INSERT INTO retention.models (name, version, kind, model, metrics) VALUES
    ('rpt_act_item_knn', 1, 'item_knn', '{}',
     '{"item_knn": {"users": 3, "precision_at_k": 0.5}, "popularity": {"users": 3, "precision_at_k": 0.25}, "note": "x"}');
INSERT INTO retention.churn_holdout (pipeline, model_version, churn_prob, churned)
VALUES ('rpt_act', 4, 0.3, true), ('rpt_act', 4, 0.8, true);
INSERT INTO rep VALUES ('rpt_act', retention.report_html('rpt_act'));

SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<text class="rate"[^>]*>100\.0%</text>') FROM rep WHERE pipeline = 'rpt_act'), 4,
          'activity: 100% at period 0 of 3 cohorts and at January 1 (u2''s view counts)');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"') FROM rep WHERE pipeline = 'rpt_act'),
          (SELECT count(*)::integer FROM retention.cohort_table('rpt_events', 'month')),
          'activity: one cell per row of the unfiltered cohort_table');
SELECT ok((SELECT html LIKE '%<tr class="metric" id="metric-precision_at_k"><th>precision@k</th><td class="best">0.5000</td><td>0.2500</td><td class="ratio">2.00×</td></tr>%'
             FROM rep WHERE pipeline = 'rpt_act'), 'metrics keyed by recommender are read too');
SELECT ok((SELECT html LIKE '%<tr class="metric" id="metric-recall_at_k"><th>recall@k</th><td>–</td><td>–</td><td class="ratio">–</td></tr>%'
             FROM rep WHERE pipeline = 'rpt_act'), 'a metric that was not stored shows a dash');
SELECT ok((SELECT by_id(html, 'roc-curve-no-data') LIKE 'No data yet: the holdout of model version 4 has only churned customers%'
             FROM rep WHERE pipeline = 'rpt_act'), 'one class in the holdout: no ROC curve, and a note why');
SELECT is((SELECT hits(by_id(html, 'calibration'), '<circle class="point"') FROM rep WHERE pipeline = 'rpt_act'), 2,
          'one class in the holdout: calibration still drawn');

------------------------------------------------------------------------
-- more cohorts than fit: the latest 36 cohorts and periods 0 .. 35.
-- Customer d (1 .. 40) is active on day d of 2024 and every day after it
-- until day 80, so all 36 periods of the 36 latest cohorts (days 5 .. 40)
-- are observable: 36 x 36 = 1296 cells.
------------------------------------------------------------------------
CREATE TABLE rpt_daily AS
SELECT d::bigint AS user_id, timestamptz '2024-01-01 12:00+00' + (d - 1 + k) * interval '1 day' AS ts
  FROM generate_series(1, 40) AS d, generate_series(0, 79) AS k WHERE d + k <= 80;
INSERT INTO retention.pipelines (name, events, cohort_period, churn_on) VALUES ('rpt_daily', 'rpt_daily', 'day', 'activity');
INSERT INTO rep VALUES ('rpt_daily', retention.report_html('rpt_daily'));
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"') FROM rep WHERE pipeline = 'rpt_daily'),
          (SELECT count(*)::integer FROM retention.cohort_table('rpt_daily', 'day')
            WHERE cohort_start >= date '2024-01-05' AND period_number < 36),
          'capped heatmap: the rows of cohort_table of the latest 36 cohorts, periods below 36');
SELECT is((SELECT hits(by_id(html, 'cohort-heatmap'), '<rect class="cell"') FROM rep WHERE pipeline = 'rpt_daily'), 1296,
          'capped heatmap: 36 x 36 cells (by hand)');
SELECT is((SELECT hits(by_id(html, 'retention-curves'), '<polyline class="curve"') FROM rep WHERE pipeline = 'rpt_daily'), 36,
          'capped curves: 36 cohorts');
SELECT ok((SELECT html LIKE '%; the latest 36 of 40 cohorts.%' FROM rep WHERE pipeline = 'rpt_daily'),
          'capped heatmap: the caption says so');

------------------------------------------------------------------------
-- "no data yet": a pipeline whose name is an attack and whose events
-- table is empty, with nothing refreshed
------------------------------------------------------------------------
CREATE TABLE rpt_empty (user_id bigint, ts timestamptz, event_type text);
INSERT INTO retention.pipelines (name, events) VALUES ('<b>"evil" & ''co''</b>', 'rpt_empty');
INSERT INTO rep VALUES ('evil', retention.report_html('<b>"evil" & ''co''</b>'));
SELECT is((SELECT hits(html, '<svg') FROM rep WHERE pipeline = 'evil'), 0, 'no data: no charts');
SELECT is((SELECT array_agg(m[1] ORDER BY m[1]) FROM rep, regexp_matches(html, '<p class="no-data" id="([a-z-]+)"', 'g') AS m
            WHERE pipeline = 'evil'),
          ARRAY['backtest-no-data', 'calibration-no-data', 'churn-drivers-no-data', 'cohort-heatmap-no-data', 'recommendation-metrics-no-data',
                'retention-curves-no-data', 'risk-histogram-no-data', 'roc-curve-no-data', 'survival-curves-no-data'],
          'no data: every section says "no data yet"');
SELECT is((SELECT hits(html, '<b>|"evil"|''co''') FROM rep WHERE pipeline = 'evil'), 0,
          'the hostile pipeline name appears nowhere unescaped');
SELECT is((SELECT hits(html, '&lt;b&gt;&quot;evil&quot; &amp; &#39;co&#39;&lt;/b&gt;') FROM rep WHERE pipeline = 'evil'), 2,
          'the pipeline name is shown escaped in the title and the heading');
SELECT ok((SELECT by_id(html, 'latest-refresh') LIKE '%none yet%' AND by_id(html, 'churn-model') LIKE '%none yet%'
             FROM rep WHERE pipeline = 'evil'), 'no data: no refresh and no churn model yet');

-- an item-kNN model stored without an evaluation
INSERT INTO retention.models (name, version, kind, model, metrics)
VALUES ('<b>"evil" & ''co''</b>_item_knn', 1, 'item_knn', '{}', NULL);
SELECT ok(by_id(retention.report_html('<b>"evil" & ''co''</b>'), 'recommendation-metrics-no-data')
          = 'No data yet: the item-kNN model has no offline evaluation.', 'a model without evaluation says so');

------------------------------------------------------------------------
-- an events table the report cannot read is a note, not an error
------------------------------------------------------------------------
INSERT INTO retention.pipelines (name, events, user_column) VALUES ('rpt_badcol', 'rpt_events', 'customer');
SELECT ok(by_id(retention.report_html('rpt_badcol'), 'cohort-heatmap-no-data')
          LIKE 'No data yet: cannot read the events table public.rpt_events: column &quot;customer&quot; does not exist%',
          'a missing column: a note naming it');
CREATE TABLE rpt_gone (user_id bigint, ts timestamptz);
INSERT INTO retention.pipelines (name, events) VALUES ('rpt_gone', 'rpt_gone');
DROP TABLE rpt_gone;
SELECT ok(by_id(retention.report_html('rpt_gone'), 'cohort-heatmap-no-data') ~ '^No data yet: cannot read the events table [0-9]+: the table no longer exists\.$',
          'a dropped events table: a note');

-- the caller's privileges: a role that may read the scores but not the
-- events sees the rest of the report
CREATE ROLE rpt_reader;
GRANT USAGE ON SCHEMA retention TO rpt_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA retention TO rpt_reader;
GRANT INSERT ON rep TO rpt_reader;
SET LOCAL ROLE rpt_reader;
INSERT INTO rep VALUES ('reader', retention.report_html('rpt'));
RESET ROLE;
SELECT ok((SELECT by_id(html, 'cohort-heatmap-no-data') LIKE '%permission denied for table rpt_events%' FROM rep WHERE pipeline = 'reader'),
          'without SELECT on the events: a note, read with the caller''s privileges');
SELECT is((SELECT hits(html, '<rect class="bar"') FROM rep WHERE pipeline = 'reader'), 20,
          'without SELECT on the events: the scores still drawn');

-- a hostile search_path: look-alikes of the functions and operators the
-- report uses, in a schema searched before pg_catalog, change nothing
CREATE SCHEMA rpt_evil;
CREATE FUNCTION rpt_evil.replace(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'HACKED' $$;
CREATE FUNCTION rpt_evil.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT 'HACKED' $$;
CREATE FUNCTION rpt_evil.round(numeric, integer) RETURNS numeric LANGUAGE sql AS $$ SELECT 42::numeric $$;
CREATE FUNCTION rpt_evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'HACKED' $$;
CREATE OPERATOR rpt_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = rpt_evil.cat);
SET LOCAL search_path = rpt_evil, pg_catalog, public;
INSERT INTO rep VALUES ('hijack', retention.report_html('rpt')), ('hijack escape', retention.html_escape('<&>'));
RESET search_path;
SELECT is((SELECT html FROM rep WHERE pipeline = 'hijack'), (SELECT html FROM rep WHERE pipeline = 'rpt'),
          'look-alike functions and operators earlier on the search_path do not change the report');
SELECT is((SELECT html FROM rep WHERE pipeline = 'hijack escape'), '&lt;&amp;&gt;',
          'nor html_escape');

-- errors
SELECT throws_ok($$SELECT retention.report_html('nope')$$, '42704', 'pipeline "nope" does not exist',
                 'an unknown pipeline is an error');
SELECT throws_ok($$SELECT retention.report_html(NULL)$$, '22004', 'pipeline must not be null', 'NULL is an error');

SELECT * FROM finish();
ROLLBACK;
