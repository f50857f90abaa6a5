-- churn: the documented examples of logreg_train, churn_prob, churn_explain
-- and the metrics, with their output; warnings and errors for bad input.
SET extra_float_digits = 0;

-- the worked example: 1 / (1 + e^-7.1)
SELECT retention.churn_prob('{"intercept": 0.5, "coef": [0.3, 0.2]}'::retention.logreg_model, ARRAY[2, 30]::float8[]);

-- a hand-written model prints as JSON
SELECT '{"intercept": 0.5, "coef": [0.3, 0.2], "feature_names": ["purchases", "minutes"]}'::retention.logreg_model;

-- UCLA admissions: the R glm example
\i data/ucla_admissions/load.sql
CREATE TABLE ucla_model AS
SELECT retention.logreg_train(admit = 1,
           ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[],
           '{"feature_names": ["gre", "gpa", "rank2", "rank3", "rank4"]}') AS model
  FROM ucla;

-- the coefficient table as R's summary(glm) prints it
SELECT t.term,
       round(t.estimate::numeric, 6) AS estimate,
       round(t.std_err::numeric, 6) AS std_error,
       round(t.z::numeric, 3) AS z_value,
       round(t.p::numeric, 6) AS p_value
  FROM ucla_model,
       ROWS FROM (jsonb_array_elements_text('["(Intercept)"]'::jsonb || (model::jsonb->'feature_names')),
                  jsonb_array_elements_text(((model::jsonb->'intercept') || (model::jsonb->'coef'))),
                  jsonb_array_elements_text(model::jsonb->'std_err'),
                  jsonb_array_elements_text(model::jsonb->'z'),
                  jsonb_array_elements_text(model::jsonb->'p_value'))
       AS t(term, estimate, std_err, z, p);

SELECT round((m->>'log_likelihood')::numeric, 7) AS log_likelihood,
       round((m->>'null_log_likelihood')::numeric, 7) AS null_log_likelihood,
       round((m->>'aic')::numeric, 4) AS aic,
       m->'converged' AS converged, m->'n_rows' AS n_rows, m->'n_skipped' AS n_skipped
  FROM (SELECT model::jsonb AS m FROM ucla_model) s;

-- explain one applicant: contributions to the log-odds against the average applicant
SELECT feature, value, round(coefficient::numeric, 6) AS coefficient, round(mean::numeric, 4) AS mean,
       round(contribution::numeric, 6) AS contribution
  FROM ucla_model, retention.churn_explain(model, '{700, 3.9, 0, 0, 0}');
SELECT round(retention.churn_base_logit(model)::numeric, 6) AS base_logit,
       round(retention.churn_logit(model, '{700, 3.9, 0, 0, 0}')::numeric, 6) AS logit,
       round(retention.churn_prob(model, '{700, 3.9, 0, 0, 0}')::numeric, 6) AS probability
  FROM ucla_model;

-- metrics of the fit
CREATE TABLE ucla_scored AS
SELECT retention.churn_prob(model, ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[]) AS p,
       admit = 1 AS admitted
  FROM ucla, ucla_model;
SELECT round(retention.roc_auc(p, admitted)::numeric, 9) AS auc,
       round(retention.log_loss(p, admitted)::numeric, 9) AS log_loss
  FROM ucla_scored;
SELECT jsonb_pretty(retention.classification_report(p, admitted, 0.5)) FROM ucla_scored;
SELECT r->'tp' AS tp, r->'fp' AS fp, round((r->>'threshold')::numeric, 6) AS threshold,
       round((r->>'f1')::numeric, 6) AS f1
  FROM (SELECT retention.threshold_max_f1(p, admitted) AS r FROM ucla_scored) s;
SELECT r->'tp' AS tp, r->'fp' AS fp, round((r->>'threshold')::numeric, 6) AS threshold,
       round((r->>'recall')::numeric, 6) AS recall
  FROM (SELECT retention.threshold_for_recall(p, admitted, 0.8) AS r FROM ucla_scored) s;

-- bad rows are skipped and counted
SELECT m->'n_rows' AS n_rows, m->'n_skipped' AS n_skipped
  FROM (SELECT retention.logreg_train(l, x, '{"lambda": 1}')::jsonb AS m
          FROM (VALUES (true, '{1,2}'::float8[]), (false, '{2,1}'), (true, '{3,1}'), (false, '{1,3}'),
                       (NULL, '{1,1}'), (true, NULL), (true, '{NaN,1}'), (false, '{1,NULL}'),
                       (true, '{Infinity,1}')) AS v(l, x)) s;

-- no optimum: a warning with a hint, converged = false, no NaN
SELECT m->'converged' AS converged, (m->>'iterations')::int < 100 AS stopped, m->'std_err' AS std_err
  FROM (SELECT retention.logreg_train(g > 10, ARRAY[g::float8])::jsonb AS m
          FROM generate_series(1, 20) g) s;
SELECT m->'converged' AS converged, round((m->>'intercept')::numeric, 1) > 30 AS huge_intercept
  FROM (SELECT retention.logreg_train(true, ARRAY[g::float8])::jsonb AS m
          FROM generate_series(1, 20) g) s;

-- errors
\set VERBOSITY sqlstate
SELECT retention.logreg_train(l, x) FROM (VALUES (true, '{1,2}'::float8[]), (false, '{1,2,3}')) v(l, x);
SELECT retention.logreg_train(g % 3 = 0, ARRAY[g, 2 * g]::float8[]) FROM generate_series(1, 20) g;
SELECT retention.churn_prob('{"intercept": 0.5, "coef": [0.3, 0.2]}'::retention.logreg_model, '{2,30,1}');
SELECT '{"coef": [0.3]}'::retention.logreg_model;
\set VERBOSITY default
SELECT retention.logreg_train(l, x) FROM (VALUES (true, '{1,2}'::float8[]), (false, '{1,2,3}')) v(l, x);
SELECT retention.logreg_train(g % 3 = 0, ARRAY[g, 5]::float8[], '{"feature_names": ["orders", "plan"]}')
  FROM generate_series(1, 20) g;
SELECT retention.churn_prob('{"intercept": 0.5, "coef": [0.3, 0.2]}'::retention.logreg_model, '{2,30,1}');
