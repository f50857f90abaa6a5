-- pgTAP: user-user collaborative filtering against cosine_sim of dense
-- user vectors, batch recommendations against per-user calls, embeddings
-- against plain SQL, and the errors of these functions.
BEGIN;
SELECT plan(24);

-- random binary purchases: 120 users, 60 items
SELECT setseed(0.29);
CREATE TABLE buys AS
SELECT DISTINCT floor(random() * 120)::bigint AS user_id, floor(random() * 60)::bigint + 500 AS item_id
  FROM generate_series(1, 1500);

-- user-user: an item_knn model with the roles swapped ----------------------
CREATE TABLE user_model AS SELECT retention.item_knn(item_id, user_id, 1.0, 5) AS m FROM buys;
-- the reference: cosine_sim of dense 0/1 vectors over all 60 items
CREATE TABLE dense AS
SELECT u.user_id, array_agg((b.item_id IS NOT NULL)::int::float8 ORDER BY i.item_id) AS v
  FROM (SELECT DISTINCT user_id FROM buys) u
 CROSS JOIN (SELECT generate_series(500, 559)::bigint AS item_id) i
  LEFT JOIN buys b ON b.user_id = u.user_id AND b.item_id = i.item_id
 GROUP BY u.user_id;
CREATE TABLE user_reference AS
SELECT item_id, neighbor_id, similarity FROM (
    SELECT a.user_id AS item_id, b.user_id AS neighbor_id, retention.cosine_sim(a.v, b.v) AS similarity,
           row_number() OVER (PARTITION BY a.user_id ORDER BY retention.cosine_sim(a.v, b.v) DESC, b.user_id) AS rank
      FROM dense a JOIN dense b ON a.user_id <> b.user_id
     WHERE retention.cosine_sim(a.v, b.v) > 0) s
 WHERE rank <= 5;
SELECT results_eq(
    $$SELECT n.item_id, n.neighbor_id, n.similarity FROM user_model, retention.item_knn_neighbors(user_model.m) n$$,
    $$SELECT item_id, neighbor_id, similarity FROM user_reference ORDER BY item_id, similarity DESC, neighbor_id$$,
    'most similar users equal the top 5 by cosine_sim of dense user vectors, bit for bit');

-- recommendations from similar users, against the definition in SQL
SELECT results_eq(
    $$SELECT u, r.item_id, r.score FROM generate_series(0, 19) u,
             LATERAL retention.recommend_from_similar_users((SELECT m FROM user_model), 'buys', u, 5) r$$,
    $$SELECT u, item_id, score FROM generate_series(0, 19) u, LATERAL (
          SELECT b.item_id, sum(n.similarity ORDER BY n.neighbor_id) AS score
            FROM user_model, retention.item_knn_neighbors(user_model.m, u) n
            JOIN buys b ON b.user_id = n.neighbor_id
           WHERE b.item_id NOT IN (SELECT item_id FROM buys WHERE user_id = u)
           GROUP BY b.item_id ORDER BY score DESC, b.item_id LIMIT 5) s$$,
    'recommend_from_similar_users equals its plain-SQL definition for 20 users');
SELECT is((SELECT count(*)::int FROM retention.recommend_from_similar_users((SELECT m FROM user_model), 'buys', -1, 5)),
          0, 'an unknown user gets nothing');

-- batch recommendations --------------------------------------------------
CREATE TABLE item_model AS SELECT retention.item_knn(user_id, item_id, 1.0, 10) AS m FROM buys;
SELECT results_eq(
    $$SELECT * FROM retention.recommend_all((SELECT m FROM item_model), 'buys', 5)$$,
    $$SELECT s.user_id, x.rank::int, x.item_id, x.score
        FROM (SELECT user_id, array_agg(item_id) AS seen FROM buys GROUP BY user_id) s,
             item_model, retention.recommend(item_model.m, s.seen, 5) WITH ORDINALITY x(item_id, score, rank)
       ORDER BY s.user_id, x.rank$$,
    'recommend_all equals recommend called user by user');
SELECT is((SELECT count(DISTINCT user_id)::int FROM retention.recommend_all((SELECT m FROM item_model), 'buys', 5, '{1,2,3,4,5}')),
          (SELECT count(DISTINCT user_id)::int FROM buys), 'with a fallback, every user gets recommendations');
SELECT is((SELECT min(c)::int FROM (SELECT count(*) c FROM retention.recommend_all((SELECT m FROM item_model), 'buys', 5, '{1,2,3,4,5}') GROUP BY user_id) s),
          5, 'with a fallback, every user gets k');
-- the fallback in its own order, each item once, never a seen item nor one
-- the model already recommended (the repeats are found in a hash table)
SELECT is(ARRAY(SELECT item_id FROM retention.recommend(NULL::retention.item_knn_model, '{2}', 4, '{5,1,5,2,3,1,7}')),
          '{5,1,3,7}'::bigint[], 'the fallback alone: in its order, without repeats or seen items');
SELECT is((SELECT count(*) - count(DISTINCT r.item_id) FROM item_model,
                  retention.recommend(item_model.m, (SELECT array_agg(item_id) FROM buys WHERE user_id = (SELECT min(user_id) FROM buys)),
                                      50, (SELECT array_agg(i ORDER BY i DESC) || array_agg(i) FROM generate_series(1, 60) i)) r),
          0::bigint, 'recommend with a model and a repeating fallback lists every item once');
CREATE TABLE renamed AS SELECT user_id AS customer, item_id AS product FROM buys;
SELECT results_eq(
    $$SELECT * FROM retention.recommend_all((SELECT m FROM item_model), 'renamed', 3, NULL, 'customer', 'product')$$,
    $$SELECT * FROM retention.recommend_all((SELECT m FROM item_model), 'buys', 3)$$,
    'column names can be given');

-- embeddings -------------------------------------------------------------
-- mean: (1,2), (3,5), skip NULL -> (2, 3.5); compensated sums keep the 1s
-- that 1e20 - 1e20 would lose: (1 + 3 + 1e20 - 1e20) / 4 = 1
SELECT is(retention.embedding_mean(e), '{2,3.5}'::float4[], 'mean of two embeddings')
  FROM (VALUES ('{1,2}'::float4[]), ('{3,5}'), (NULL)) v(e);
SELECT is(retention.embedding_mean(e), '{1,2.25}'::float4[], 'compensated sums')
  FROM (VALUES ('{1,2}'::float4[]), ('{3,5}'), ('{1e20,1}'), ('{-1e20,1}')) v(e);
SELECT is(retention.embedding_mean(e), NULL, 'no embeddings: NULL') FROM (VALUES (NULL::float4[])) v(e);

CREATE TABLE emb AS
SELECT id AS item_id, ARRAY(SELECT (random() - 0.5)::float4 FROM generate_series(1, 32) WHERE id > 0) AS embedding
  FROM generate_series(1, 3000) id;
INSERT INTO emb VALUES (3001, array_fill(0::float4, ARRAY[32])), (3002, NULL);
-- mean in plain SQL, in double, then rounded to float4
SELECT is((SELECT retention.embedding_mean(embedding) FROM emb WHERE item_id <= 100),
          (SELECT array_agg(m::float4 ORDER BY d) FROM (
              SELECT d, avg(embedding[d]::float8) AS m FROM emb, generate_series(1, 32) d
               WHERE item_id <= 100 GROUP BY d) s),
          'embedding_mean equals avg() per dimension');
ALTER TABLE emb SET (parallel_workers = 2);
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE mean_serial AS SELECT retention.embedding_mean(embedding) AS m FROM emb;
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
SELECT matches(pg_temp.plan_of('SELECT retention.embedding_mean(embedding) FROM emb'),
               'Gather(.|\n)*Partial Aggregate', 'embedding_mean runs in parallel');
SELECT is((SELECT retention.embedding_mean(embedding) FROM emb), (SELECT m FROM mean_serial),
          'parallel and serial means are identical');
RESET max_parallel_workers_per_gather;

-- nearest by cosine, against the plain-SQL formulation
SELECT results_eq(
    $$SELECT item_id FROM retention.nearest_by_embedding((SELECT embedding FROM emb WHERE item_id = 7), 'emb', 10, '{7}')$$,
    $$SELECT e.item_id::bigint FROM emb e, (SELECT embedding AS q FROM emb WHERE item_id = 7) q
       WHERE e.item_id <> 7 AND e.embedding IS NOT NULL
         AND (SELECT sum(x * x) FROM unnest(e.embedding) x) > 0
       ORDER BY (SELECT sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y))
                   FROM unnest(e.embedding, q.q) u(x, y)) DESC, e.item_id
       LIMIT 10$$,
    'nearest_by_embedding gives the plain-SQL top 10');
SELECT cmp_ok((SELECT max(abs(n.similarity - (SELECT sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y))
                                               FROM unnest(e.embedding, q.q) u(x, y))))
                 FROM retention.nearest_by_embedding((SELECT embedding FROM emb WHERE item_id = 7), 'emb', 10) n
                 JOIN emb e USING (item_id), (SELECT embedding AS q FROM emb WHERE item_id = 7) q),
              '<', 1e-12::float8, 'and its similarities');
SELECT is((SELECT item_id FROM retention.nearest_by_embedding((SELECT embedding FROM emb WHERE item_id = 7), 'emb', 1)),
          7::bigint, 'an item is nearest to itself unless excluded');
SELECT is((SELECT count(*)::int FROM retention.nearest_by_embedding(array_fill(1::float4, ARRAY[32]), 'emb', 5000, '{1,NULL}')),
          2999, 'zero vectors, NULL embeddings and excluded ids are skipped');

-- errors
SELECT throws_ok($$SELECT retention.embedding_mean(e) FROM (VALUES ('{1,2}'::float4[]), ('{1,2,3}')) v(e)$$,
                 '2202E', 'embedding has 3 dimensions but the others have 2', 'embeddings of different lengths');
SELECT throws_ok($$SELECT retention.embedding_mean(e) FROM (VALUES ('{1,NaN}'::float4[])) v(e)$$,
                 '22023', 'array "embedding" must not contain NaN or infinite values', 'NaN in an embedding');
SELECT throws_ok($$SELECT * FROM retention.nearest_by_embedding('{1}', 'emb', 0)$$,
                 '22023', 'k must be greater than zero', 'nearest_by_embedding, k = 0');
SELECT throws_ok($$SELECT * FROM retention.recommend_all((SELECT m FROM item_model), 'buys', 0)$$,
                 '22023', 'k must be greater than zero', 'recommend_all, k = 0');
SELECT throws_ok($$SELECT * FROM retention.recommend_from_similar_users((SELECT m FROM user_model), 'buys', 1, -2)$$,
                 '22023', 'k must be greater than zero', 'recommend_from_similar_users, k < 0');

SELECT * FROM finish();
ROLLBACK;
