-- pgTAP: an aggregate's settings (period, mode, window, cutoff...) are the
-- group's: a row that changes one is an error (22023), never silently read
-- as the first row's (the adversarial review of 2026-12-03 found these four
-- answering with the first row's setting).  The rows come from a VALUES
-- list, whose per-row texts may sit at the address of the row before.
BEGIN;
SELECT plan(10);

SELECT throws_ok($$SELECT retention.lifecycle_matrix(u, t, p ORDER BY o)
                     FROM (VALUES (1, 1, '2024-01-01'::timestamptz, 'day'), (2, 2, '2024-02-01', 'month')) v(o, u, t, p)$$,
                 '22023', 'period changed from "day" to "month" within a group', 'lifecycle_matrix: the period');
SELECT throws_ok($$SELECT retention.stickiness_matrix(u, t, p ORDER BY o)
                     FROM (VALUES (1, 1, '2024-01-01'::timestamptz, 'week'), (2, 2, '2024-02-01', 'month')) v(o, u, t, p)$$,
                 '22023', 'period changed from "week" to "month" within a group', 'stickiness_matrix: the period');
SELECT throws_ok($$SELECT retention.cohort_matrix(u, t, 'week', m, true, true ORDER BY o)
                     FROM (VALUES (1, 1, '2024-01-01'::timestamptz, 'classic'), (2, 2, '2024-02-01', 'unbounded')) v(o, u, t, m)$$,
                 '22023', 'cohort mode changed within a group', 'cohort_matrix: the mode');
SELECT throws_ok($$SELECT retention.retention_rate_rolling(u, s, t, 1, w ORDER BY o)
                     FROM (VALUES (1, 1, '2024-01-01'::timestamptz, '2024-01-01'::timestamptz, '1 day'::interval),
                                  (2, 1, '2024-01-01', '2024-01-02', '1 hour')) v(o, u, s, t, w)$$,
                 '22023', 'rolling window changed within a group', 'retention_rate_rolling: the window');
SELECT throws_ok($$SELECT retention.user_feature_values(t, 'view', NULL, NULL, c, '30 days', '30 minutes',
                                                         'view', 'click', 'cart', 'purchase', 'activity' ORDER BY o)
                     FROM (VALUES (1, '2024-01-01'::timestamptz, '2024-02-01'::timestamptz),
                                  (2, '2024-01-02', '2024-03-01')) v(o, t, c)$$,
                 '22023', 'user_feature_values: the cutoff, horizon, session gap and churn definition changed within a group',
                 'user_feature_values: the cutoff');
SELECT throws_ok($$SELECT retention.user_feature_table(u, t, 'view', NULL, NULL, NULL, '2024-02-01', '30 days', g,
                                                        'view', 'click', 'cart', 'purchase', 'activity' ORDER BY o)
                     FROM (VALUES (1, 1, '2024-01-01'::timestamptz, '30 minutes'::interval),
                                  (2, 2, '2024-01-02', '1 hour')) v(o, u, t, g)$$,
                 '22023', 'user_feature_table: the cutoff, horizon, session gap and churn definition changed within a group',
                 'user_feature_table: the session gap');
SELECT throws_ok($$SELECT retention.logreg_train(y, x, o ORDER BY i)
                     FROM (VALUES (1, true, '{1}'::float8[], '{"lambda": 1}'::jsonb), (2, false, '{2}', '{"lambda": 2}')) v(i, y, x, o)$$,
                 '22023', 'logreg_train options changed within a group', 'logreg_train: the options');
-- the same setting written two ways is the same setting
SELECT is((SELECT retention.stickiness_matrix(u, t, p ORDER BY o) IS NOT NULL
             FROM (VALUES (1, 1, '2024-01-01'::timestamptz, 'week'), (2, 2, '2024-02-01', 'Week')) v(o, u, t, p)),
          true, 'stickiness_matrix: "week" and "Week" are one period');
SELECT is((SELECT retention.user_feature_values(t, 'view', NULL, NULL, '2024-02-01', h, '30 minutes',
                                                'view', 'click', 'cart', 'purchase', c ORDER BY o) IS NOT NULL
             FROM (VALUES (1, '2024-01-01'::timestamptz, '1 day'::interval, 'activity'),
                          (2, '2024-01-02', '24 hours', 'activity')) v(o, t, h, c)),
          true, 'user_feature_values: a horizon of "1 day" and of "24 hours" is the same setting');
-- a table's rows carry the options with a short header, the state a copy with a long one
CREATE TEMP TABLE options_rows AS
SELECT g % 2 = 0 AS y, ARRAY[g::float8, (g * 7 % 11)::float8] AS x, '{"lambda": 1}'::jsonb AS o
  FROM generate_series(1, 200) g;
SELECT lives_ok($$SELECT retention.logreg_train(y, x, o) FROM options_rows$$,
                'logreg_train: the same options on every row of a table are one setting');

SELECT * FROM finish();
ROLLBACK;
