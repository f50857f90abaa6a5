-- bench/recommend.sql: item-kNN recommendations on UCI Online Retail.
--
--   1. building the item_knn model on all purchases, against the SQL
--      self-join an analyst would write for the same top-k cosine neighbours
--   2. recommend() latency per call, p50 and p99, for users with 50 seen
--      items, against the same ranking in plain SQL over the model as rows
--   3. cosine top-k over 100,000 embeddings of 256 dimensions, against the
--      plain-SQL formulation
--   4. a catalogue of 1,000,000 items
--   5. offline evaluation (the table in the README, under Recommendations)
-- One session, no parallel workers, so that ratios compare like with like.

SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
\i data/online_retail/load.sql
VACUUM ANALYZE online_retail, items, purchases;

\echo
\echo '1. item_knn on all Online Retail purchases (k = 20; weights of repeated lines add up)'
SELECT count(*) AS purchase_lines, count(DISTINCT (customer_id, item_id)) AS customer_item_pairs,
       count(DISTINCT item_id) AS items
  FROM purchases;

-- the baseline, timed once (it takes minutes): the same neighbours by a SQL self-join
SELECT bench.best_ms($q$
CREATE TABLE sql_neighbors AS
WITH pairs AS (
    SELECT customer_id, item_id, count(*)::float8 AS w FROM purchases GROUP BY 1, 2),
norms AS (SELECT item_id, sum(w * w) AS n2 FROM pairs GROUP BY 1),
dots AS (
    SELECT a.item_id, b.item_id AS neighbor_id, sum(a.w * b.w) AS dot
      FROM pairs a JOIN pairs b ON a.customer_id = b.customer_id AND a.item_id <> b.item_id
     GROUP BY 1, 2),
ranked AS (
    SELECT d.item_id, d.neighbor_id, least(1.0::float8, d.dot / sqrt(na.n2 * nb.n2)) AS similarity,
           row_number() OVER (PARTITION BY d.item_id ORDER BY d.dot / sqrt(na.n2 * nb.n2) DESC, d.neighbor_id) AS rank
      FROM dots d JOIN norms na ON na.item_id = d.item_id JOIN norms nb ON nb.item_id = d.neighbor_id)
SELECT item_id, neighbor_id, similarity FROM ranked WHERE rank <= 20$q$, 1) AS sql_ms \gset
SELECT bench.best_ms($q$SELECT retention.item_knn(customer_id, item_id, 1.0, 20) FROM purchases$q$, 5) AS ext_ms \gset
CREATE TABLE ext_model AS SELECT retention.item_knn(customer_id, item_id, 1.0, 20) AS m FROM purchases;

SELECT round(:ext_ms::numeric, 0) AS item_knn_ms,
       round(:sql_ms::numeric, 0) AS sql_self_join_ms,
       round((:sql_ms / :ext_ms)::numeric, 1) AS speedup,
       (SELECT count(*) FROM ext_model, retention.item_knn_neighbors(m) n
          FULL JOIN sql_neighbors q USING (item_id, neighbor_id)
         WHERE n.item_id IS NULL OR q.item_id IS NULL OR n.similarity <> q.similarity) AS rows_that_differ;

SELECT i.* FROM ext_model, retention.item_knn_model_info(m) i;

\echo
\echo '2. recommend() per call: users with 50 seen items, model of purchases before 2011-09-01 (binary, k = 20)'
CREATE TABLE models_bin AS
SELECT 'shop'::text AS name, retention.item_knn(customer_id, item_id, 1.0, 20) AS model
  FROM (SELECT DISTINCT customer_id, item_id FROM purchases WHERE invoice_date < '2011-09-01') d;
CREATE TABLE users50 AS
SELECT customer_id, (array_agg(item_id ORDER BY item_id))[1:50] AS seen
  FROM (SELECT DISTINCT customer_id, item_id FROM purchases WHERE invoice_date < '2011-09-01') d
 GROUP BY customer_id HAVING count(*) >= 50;
-- the baseline: the model as rows, indexed, ranked in SQL
CREATE TABLE model_rows AS SELECT n.* FROM models_bin, retention.item_knn_neighbors(model) n;
CREATE INDEX ON model_rows (item_id);
VACUUM ANALYZE models_bin, users50, model_rows;

CREATE FUNCTION bench.latencies(kind text, OUT calls integer, OUT p50_us float8, OUT p99_us float8, OUT mean_us float8)
LANGUAGE plpgsql AS $$
DECLARE
    m retention.item_knn_model;
    s bigint[];
    t timestamptz;
    times float8[] := '{}';
BEGIN
    -- parsed once from JSON, so the variable holds the model itself, not a
    -- pointer to its TOAST chunks (which every call would have to read)
    m := (SELECT model::text FROM models_bin WHERE name = 'shop')::retention.item_knn_model;
    FOR round IN 1 .. 3 LOOP
        FOR s IN SELECT seen FROM users50 ORDER BY customer_id LOOP
            t := clock_timestamp();
            IF kind = 'model held in memory' THEN
                PERFORM count(*) FROM retention.recommend(m, s, 10);
            ELSIF kind = 'model read from its table' THEN
                PERFORM count(*) FROM retention.recommend((SELECT model FROM models_bin WHERE name = 'shop'), s, 10);
            ELSE
                PERFORM count(*) FROM (
                    SELECT r.neighbor_id, sum(r.similarity) AS score FROM model_rows r
                     WHERE r.item_id = ANY (s) AND NOT r.neighbor_id = ANY (s)
                     GROUP BY r.neighbor_id ORDER BY score DESC, r.neighbor_id LIMIT 10) q;
            END IF;
            IF round > 1 THEN       -- the first round warms caches and plans
                times := times || 1e6 * extract(epoch FROM clock_timestamp() - t)::float8;
            END IF;
        END LOOP;
    END LOOP;
    SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY x),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY x), avg(x)
      INTO calls, p50_us, p99_us, mean_us FROM unnest(times) x;
END $$;

CREATE TEMP TABLE lat AS
SELECT k.kind, l.* FROM (VALUES ('model held in memory'), ('model read from its table'), ('plain SQL over the model as rows')) k(kind),
       LATERAL bench.latencies(k.kind) l;
SELECT (SELECT count(*) FROM users50) AS users_with_50_items,
       (SELECT items FROM models_bin, retention.item_knn_model_info(model)) AS catalogue_items,
       (SELECT bytes FROM models_bin, retention.item_knn_model_info(model)) AS model_bytes;
SELECT kind, calls, round(p50_us::numeric, 1) AS p50_us, round(p99_us::numeric, 1) AS p99_us,
       round(mean_us::numeric, 1) AS mean_us,
       round(((SELECT p50_us FROM lat WHERE kind = 'plain SQL over the model as rows') / p50_us)::numeric, 1)
           AS p50_speedup_vs_plain_sql
  FROM lat;
-- and all the users at once, from the table (one read of the model per query)
SELECT round(b::numeric, 1) AS ms_for_all_users, (SELECT count(*) FROM users50) AS users,
       round((1000 * b / (SELECT count(*) FROM users50))::numeric, 1) AS us_per_user
  FROM (SELECT bench.best_ms($q$SELECT count(*) FROM users50 u, models_bin m, retention.recommend(m.model, u.seen, 10) r$q$) AS b) s;

\echo
\echo '3. cosine top-10 over 100,000 float4 embeddings of 256 dimensions'
SELECT setseed(0.42);
CREATE TABLE embeddings AS
SELECT id::bigint AS item_id, ARRAY(SELECT (random() - 0.5)::float4 FROM generate_series(1, 256) WHERE id > 0) AS embedding
  FROM generate_series(1, 100000) id;
VACUUM ANALYZE embeddings;
SELECT round(e::numeric, 0) AS nearest_by_embedding_ms,
       round(c::numeric, 0) AS order_by_cosine_sim_ms,
       round(p::numeric, 0) AS plain_sql_ms,
       round((p / e)::numeric, 1) AS speedup_vs_plain_sql,
       (SELECT array_agg(item_id) FROM retention.nearest_by_embedding((SELECT embedding FROM embeddings WHERE item_id = 1), 'embeddings', 10, '{1}'))
       = (SELECT array_agg(item_id) FROM (
             SELECT e.item_id FROM embeddings e, (SELECT embedding AS q FROM embeddings WHERE item_id = 1) q
              WHERE e.item_id <> 1
              ORDER BY (SELECT sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y)) FROM unnest(e.embedding, q.q) u(x, y)) DESC, e.item_id
              LIMIT 10) s) AS same_top_10
  FROM (SELECT bench.best_ms($q$SELECT count(*) FROM retention.nearest_by_embedding((SELECT embedding FROM embeddings WHERE item_id = 1), 'embeddings', 10, '{1}')$q$) AS e,
               bench.best_ms($q$SELECT count(*) FROM (SELECT e.item_id FROM embeddings e, (SELECT embedding AS q FROM embeddings WHERE item_id = 1) q
                                  WHERE e.item_id <> 1 ORDER BY retention.cosine_sim(e.embedding, q.q) DESC, e.item_id LIMIT 10) s$q$) AS c,
               bench.best_ms($q$SELECT count(*) FROM (SELECT e.item_id FROM embeddings e, (SELECT embedding AS q FROM embeddings WHERE item_id = 1) q
                                  WHERE e.item_id <> 1
                                  ORDER BY (SELECT sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y)) FROM unnest(e.embedding, q.q) u(x, y)) DESC, e.item_id
                                  LIMIT 10) s$q$, 1) AS p) t;
DROP TABLE embeddings;

\echo
\echo '4. a catalogue of 1,000,000 items: 3,000,000 random purchases by 200,000 users'
SELECT setseed(0.5);
CREATE TABLE big AS SELECT floor(random() * 200000)::bigint AS user_id, g % 1000000 AS item_id FROM generate_series(1, 3000000) g;
SELECT round(bench.best_ms($q$CREATE TEMP TABLE big_info AS
    SELECT i.* FROM (SELECT retention.item_knn(user_id, item_id, 1.0, 20) AS m FROM big) s,
                    retention.item_knn_model_info(s.m) i$q$, 1)::numeric, 0) AS build_ms \gset
SELECT k, items, neighbors, round(bytes / 1048576.0, 0) AS model_mb, :build_ms AS build_ms FROM big_info;
-- k = 100 could need 1.2 GB: refused before the work, with a clear error
\set VERBOSITY terse
\set ON_ERROR_STOP 0
SELECT retention.item_knn(user_id, item_id, 1.0, 100) IS NOT NULL FROM big;
\set ON_ERROR_STOP 1
\set VERBOSITY default
DROP TABLE big;

\echo
\echo '5. offline evaluation: train before 2011-09-01, test from then on, relevant = items new to the user'
CREATE TABLE train AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date < '2011-09-01';
CREATE TABLE test AS SELECT customer_id AS user_id, item_id FROM purchases WHERE invoice_date >= '2011-09-01';
SELECT recommender, users, round(precision_at_k::numeric, 4) AS "precision@10", round(recall_at_k::numeric, 4) AS "recall@10",
       round(ndcg_at_k::numeric, 4) AS "ndcg@10", round(map_at_k::numeric, 4) AS "map@10",
       round(hit_rate::numeric, 4) AS hit_rate, round(coverage::numeric, 4) AS coverage
  FROM retention.evaluate_item_knn('train', 'test', 20, 10);
SELECT round(bench.best_ms($q$SELECT * FROM retention.evaluate_item_knn('train', 'test', 20, 10)$q$, 1)::numeric, 0) AS evaluation_ms;

\echo
\echo '   user-user collaborative filtering on the same split: 50 most similar users (cosine of their purchase vectors)'
CREATE TABLE train_pairs AS SELECT DISTINCT user_id, item_id FROM train;
CREATE INDEX ON train_pairs (user_id, item_id);
VACUUM ANALYZE train_pairs;
CREATE TABLE user_model AS SELECT retention.item_knn(item_id, user_id, 1.0, 50) AS m FROM train_pairs;
CREATE TABLE relevant AS
SELECT t.user_id, array_agg(DISTINCT t.item_id) AS items
  FROM test t
 WHERE EXISTS (SELECT 1 FROM train_pairs p WHERE p.user_id = t.user_id)
   AND NOT EXISTS (SELECT 1 FROM train_pairs p WHERE p.user_id = t.user_id AND p.item_id = t.item_id)
 GROUP BY t.user_id;
CREATE TABLE user_lists AS
SELECT r.user_id, r.items AS relevant,
       ARRAY(SELECT x.item_id FROM user_model u, retention.recommend_from_similar_users(u.m, 'train_pairs', r.user_id, 10) x) AS recommended
  FROM relevant r;
SELECT 'user_knn' AS recommender, count(*) AS users,
       round(avg((m).precision_at_k)::numeric, 4) AS "precision@10", round(avg((m).recall_at_k)::numeric, 4) AS "recall@10",
       round(avg((m).ndcg_at_k)::numeric, 4) AS "ndcg@10", round(avg((m).ap_at_k)::numeric, 4) AS "map@10",
       round(avg((m).hit_at_k)::numeric, 4) AS hit_rate,
       round(((SELECT count(DISTINCT x) FROM user_lists, unnest(recommended) x)::numeric
              / (SELECT count(DISTINCT item_id) FROM train_pairs)), 4) AS coverage
  FROM (SELECT retention.ranking_metrics(recommended, relevant, 10) AS m FROM user_lists) s;
