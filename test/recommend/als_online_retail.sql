-- pgTAP: ALS on UCI Online Retail (data/online_retail), the quality bar of
-- issue 19: with 32 factors, alpha = 20, regularization 0.1 and 15
-- iterations, precision@10 within 0.015 of item-kNN's on the same time split
-- (train before 2011-11-01, test from then on), and a blend that beats both.
BEGIN;
SELECT plan(5);
SET LOCAL client_min_messages = warning;
\i data/online_retail/load.sql

CREATE TABLE train AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date < '2011-11-01';
CREATE TABLE test AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date >= '2011-11-01';
CREATE TABLE evaluation AS
SELECT * FROM retention.evaluate_recommenders('train', 'test', 20,
    '{"factors": 32, "alpha": 20, "regularization": 0.1, "iterations": 15}', 10);
CREATE TABLE knn_only AS SELECT * FROM retention.evaluate_item_knn('train', 'test', 20, 10);

SELECT is((SELECT array_agg(recommender ORDER BY recommender) FROM evaluation),
          '{als,blend,item_knn,popularity}', 'four recommenders');
SELECT is((SELECT count(*)::int FROM evaluation e JOIN knn_only k USING (recommender)
            WHERE e.users = k.users AND e.precision_at_k = k.precision_at_k AND e.recall_at_k = k.recall_at_k
              AND e.ndcg_at_k = k.ndcg_at_k AND e.map_at_k = k.map_at_k AND e.hit_rate = k.hit_rate
              AND e.coverage = k.coverage),
          2, 'item_knn and popularity rows are exactly those of evaluate_item_knn (same protocol)');
SELECT cmp_ok((SELECT precision_at_k FROM evaluation WHERE recommender = 'als')
              - (SELECT precision_at_k FROM evaluation WHERE recommender = 'item_knn'), '>=', -0.015::float8,
              'ALS precision@10 is within 0.015 of item-kNN''s (or above it)');
SELECT cmp_ok((SELECT precision_at_k FROM evaluation WHERE recommender = 'blend'), '>',
              (SELECT max(precision_at_k) FROM evaluation WHERE recommender IN ('als', 'item_knn')),
              'the reciprocal-rank blend beats both on precision@10');
SELECT cmp_ok((SELECT precision_at_k FROM evaluation WHERE recommender = 'als'), '>',
              1.5 * (SELECT precision_at_k FROM evaluation WHERE recommender = 'popularity'),
              'ALS is at least 1.5 times popularity');

SELECT * FROM finish();
ROLLBACK;
