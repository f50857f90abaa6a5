-- test/upgrade/setup.sql: state of every kind, made under 0.1.0 before the
-- update (after test/loop/fixtures/synthetic_events.sql and one
-- CALL retention.refresh(), which fill the pipeline, its runs, scores,
-- holdout and the churn, item-kNN, BG/NBD and spend models of the registry):
-- values of each binary type of the extension stored in user tables.
SET TimeZone = 'UTC';

CREATE TABLE upgrade_rfm AS
SELECT user_id, (retention.rfm_summary(ts, amount::float8, '2024-10-27', 'week')).*
  FROM events
 WHERE event_type = 'purchase'
 GROUP BY user_id;

CREATE TABLE upgrade_models AS
SELECT (SELECT m.model::text::retention.logreg_model FROM retention.models m
         WHERE m.name = 'default_churn' ORDER BY m.version DESC LIMIT 1) AS logreg,
       (SELECT retention.item_knn(user_id, item_id, 1, 10) FROM events) AS knn,
       (SELECT retention.bgnbd_fit(frequency, recency, t) FROM upgrade_rfm) AS bgnbd,
       (SELECT retention.pareto_nbd_fit(frequency, recency, t) FROM upgrade_rfm) AS pareto,
       (SELECT retention.gamma_gamma_fit(frequency, monetary) FROM upgrade_rfm WHERE frequency > 0) AS spend;

CREATE TABLE upgrade_activity AS
SELECT user_id, retention.user_activity(ts, 'month') AS activity
  FROM events
 GROUP BY user_id;

SELECT retention.item_knn_save('upgrade_knn', knn) FROM upgrade_models;
