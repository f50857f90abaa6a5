-- pgTAP: item-kNN on UCI Online Retail (data/online_retail): the quality bar
-- of the issue, the metrics recomputed in plain SQL, and parallel builds.
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;
\i data/online_retail/load.sql

-- the data as its README describes it
SELECT is((SELECT count(*) FROM purchases), 396337::bigint, '396,337 purchase lines');
SELECT is((SELECT count(*) FROM (SELECT DISTINCT customer_id, item_id FROM purchases) s), 266221::bigint,
          '266,221 customer-item pairs');

-- the split of the issue: train before 2011-09-01, test from then on
CREATE TABLE train AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date < '2011-09-01';
CREATE TABLE test AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date >= '2011-09-01';
CREATE TABLE evaluation AS SELECT * FROM retention.evaluate_item_knn('train', 'test', 20, 10);

-- the same evaluation in plain SQL, metric by metric
CREATE TABLE seen AS SELECT user_id, array_agg(DISTINCT item_id) AS items FROM train GROUP BY user_id;
CREATE TABLE relevant AS
SELECT t.user_id, array_agg(DISTINCT t.item_id) AS items
  FROM test t JOIN seen s USING (user_id)
 WHERE NOT t.item_id = ANY (s.items)
 GROUP BY t.user_id;
CREATE TABLE model AS SELECT retention.item_knn(user_id, item_id, 1.0, 20) AS m
  FROM (SELECT DISTINCT user_id, item_id FROM train) d;
CREATE TABLE popularity AS
SELECT item_id, buyers, row_number() OVER (ORDER BY buyers DESC, item_id) AS position
  FROM (SELECT item_id, count(DISTINCT user_id) AS buyers FROM train GROUP BY item_id) s;
CREATE INDEX ON popularity (position);
-- ranked lists as rows: (user, recommender, rank, item)
CREATE TABLE lists AS
SELECT r.user_id, 'item_knn' AS recommender, x.rank, x.item_id
  FROM relevant r JOIN seen s USING (user_id) CROSS JOIN model
       CROSS JOIN LATERAL retention.recommend(model.m, s.items, 10) WITH ORDINALITY x(item_id, score, rank)
UNION ALL
SELECT r.user_id, 'popularity', p.rank, p.item_id
  FROM relevant r JOIN seen s USING (user_id)
       CROSS JOIN LATERAL (
           -- the 10 most popular unseen items are among the first 10 + |seen|
           SELECT q.item_id, row_number() OVER (ORDER BY q.position) AS rank
             FROM popularity q
            WHERE q.position <= 10 + cardinality(s.items) AND NOT q.item_id = ANY (s.items)
            ORDER BY q.position LIMIT 10) p;
-- per user: hits, DCG, ideal DCG, and the sum over hits of the precision at their rank
CREATE TABLE hits AS
SELECT l.user_id, l.recommender, l.rank, l.item_id = ANY (r.items) AS hit,
       count(*) FILTER (WHERE l.item_id = ANY (r.items))
           OVER (PARTITION BY l.user_id, l.recommender ORDER BY l.rank) AS hits_so_far
  FROM lists l JOIN relevant r USING (user_id);
CREATE TABLE per_user AS
SELECT r.user_id, rec.recommender, cardinality(r.items) AS n_relevant,
       count(h.rank) FILTER (WHERE h.hit) AS hits,
       coalesce(sum(1 / log(2, h.rank + 1.0)) FILTER (WHERE h.hit), 0) AS dcg,
       (SELECT sum(1 / log(2, g + 1.0)) FROM generate_series(1, least(cardinality(r.items), 10)) g) AS idcg,
       coalesce(sum(h.hits_so_far::numeric / h.rank) FILTER (WHERE h.hit), 0) AS ap_sum
  FROM relevant r CROSS JOIN (VALUES ('item_knn'), ('popularity')) rec(recommender)
  LEFT JOIN hits h ON h.user_id = r.user_id AND h.recommender = rec.recommender
 GROUP BY r.user_id, rec.recommender, r.items;
CREATE TABLE sql_metrics AS
SELECT recommender, count(*) AS users,
       avg(hits / 10.0) AS precision_at_k, avg(hits::numeric / n_relevant) AS recall_at_k,
       avg(dcg / idcg) AS ndcg_at_k, avg(ap_sum / least(n_relevant, 10)) AS map_at_k,
       avg((hits > 0)::int) AS hit_rate,
       (SELECT count(DISTINCT l.item_id) FROM lists l WHERE l.recommender = p.recommender)::numeric
       / (SELECT count(DISTINCT item_id) FROM train) AS coverage
  FROM per_user p GROUP BY recommender;

SELECT is((SELECT users FROM evaluation WHERE recommender = 'item_knn'),
          (SELECT count(*) FROM relevant), 'evaluated users: bought in both periods, something new in the test period');
SELECT is((SELECT count(*)::int FROM evaluation e JOIN sql_metrics s USING (recommender)
            WHERE e.users = s.users
              AND abs(e.precision_at_k - s.precision_at_k) < 1e-12 AND abs(e.recall_at_k - s.recall_at_k) < 1e-12
              AND abs(e.ndcg_at_k - s.ndcg_at_k) < 1e-12 AND abs(e.map_at_k - s.map_at_k) < 1e-12
              AND abs(e.hit_rate - s.hit_rate) < 1e-12 AND abs(e.coverage - s.coverage) < 1e-12),
          2, 'all six metrics of both recommenders equal their plain-SQL computation');

-- the quality bar: precision@10 about 0.09-0.10, about twice popularity
SELECT cmp_ok((SELECT precision_at_k FROM evaluation WHERE recommender = 'item_knn'), '>=', 0.09::float8,
              'item_knn precision@10 >= 0.09');
SELECT cmp_ok((SELECT precision_at_k FROM evaluation WHERE recommender = 'item_knn'), '<=', 0.11::float8,
              'item_knn precision@10 <= 0.11 (no leak from the test period)');
SELECT cmp_ok((SELECT k.precision_at_k / p.precision_at_k FROM evaluation k, evaluation p
                WHERE k.recommender = 'item_knn' AND p.recommender = 'popularity'), '>=', 1.8::float8,
              'item_knn precision@10 is about twice popularity''s (>= 1.8 times)');
SELECT ok((SELECT bool_and(k.recall_at_k > p.recall_at_k AND k.ndcg_at_k > p.ndcg_at_k AND k.map_at_k > p.map_at_k
                           AND k.hit_rate > p.hit_rate AND k.coverage > p.coverage)
             FROM evaluation k, evaluation p WHERE k.recommender = 'item_knn' AND p.recommender = 'popularity'),
          'item_knn beats popularity on every metric');

-- the model: every training item, at most 20 neighbours each, similarities in (0, 1]
SELECT is((SELECT items FROM model, retention.item_knn_model_info(m)),
          (SELECT count(DISTINCT item_id)::int FROM train), 'one entry per training item');
SELECT ok((SELECT max(c) <= 20 FROM (SELECT count(*) c FROM model, retention.item_knn_neighbors(m) GROUP BY item_id) s),
          'at most 20 neighbours per item');
SELECT ok((SELECT min(similarity) > 0 AND max(similarity) <= 1 FROM model, retention.item_knn_neighbors(m)),
          'similarities in (0, 1]');

-- real partial aggregation: 396,337 rows (weights of repeated lines add up)
-- split between workers give the model the serial plan gives
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE model_serial AS SELECT retention.item_knn(customer_id, item_id, 1.0, 20)::text AS m FROM purchases;
ALTER TABLE purchases SET (parallel_workers = 2);
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END $$;
SELECT matches(pg_temp.plan_of('SELECT retention.item_knn(customer_id, item_id, 1.0, 20) FROM purchases'),
               'Gather(.|\n)*Partial Aggregate', 'the plan on purchases is parallel');
SELECT is((SELECT retention.item_knn(customer_id, item_id, 1.0, 20)::text FROM purchases),
          (SELECT m FROM model_serial), 'parallel and serial builds give the identical model');
SELECT is((SELECT precision_at_k FROM retention.evaluate_item_knn('train', 'test', 20, 10) WHERE recommender = 'item_knn'),
          (SELECT precision_at_k FROM evaluation WHERE recommender = 'item_knn'),
          'the evaluation gives the same precision with parallel plans allowed');

SELECT * FROM finish();
ROLLBACK;
