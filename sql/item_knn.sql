-- item_knn and recommend: a hand-worked example, the model's JSON form,
-- edge cases and every error with its SQLSTATE.
\set VERBOSITY sqlstate

-- Three users, four items; user 1's weight for item 20 comes as 1.5 + 0.5.
-- Item vectors over users (1, 2, 3):
--   10 = (1, 2, 0)   20 = (2, 0, 1)   30 = (0, 1, 2)   40 = (0, 0, 1)
-- squared norms 5, 5, 5, 1; dot products 10.20 = 2, 10.30 = 2, 20.30 = 2,
-- 20.40 = 1, 30.40 = 2, 10.40 = 0.  Cosines: 10-20 = 10-30 = 20-30 = 2/5 = 0.4,
-- 20-40 = 1/sqrt(5) = 0.4472135955, 30-40 = 2/sqrt(5) = 0.8944271910.
-- With k = 2 (ties by item id): 10 -> 20, 30;  20 -> 40, 10;
-- 30 -> 40, 10;  40 -> 30, 20.
CREATE TABLE interactions (user_id bigint, item_id bigint, weight float8);
INSERT INTO interactions VALUES
    (1, 10, 1), (1, 20, 1.5), (1, 20, 0.5),
    (2, 10, 2), (2, 30, 1),
    (3, 20, 1), (3, 30, 2), (3, 40, 1),
    -- skipped: a NULL user, item or weight
    (NULL, 10, 1), (1, NULL, 1), (2, 40, NULL);
CREATE TABLE knn AS SELECT retention.item_knn(user_id, item_id, weight, 2) AS model FROM interactions;

SELECT model FROM knn;
SELECT n.item_id, n.neighbor_id, round(n.similarity::numeric, 10) AS similarity
  FROM knn, retention.item_knn_neighbors(knn.model) n;
SELECT * FROM knn, retention.item_knn_model_info(knn.model);
-- one item's neighbours; an unknown item has none
SELECT n.neighbor_id, round(n.similarity::numeric, 10) FROM knn, retention.item_knn_neighbors(knn.model, 30) n;
SELECT count(*) FROM knn, retention.item_knn_neighbors(knn.model, 999) n;

-- recommend for a user who bought item 10: 20 and 30 tie at 0.4, by id
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{10}', 5) r;
-- bought 20 and 30: 40 = 1/sqrt(5) + 2/sqrt(5) = 3/sqrt(5) = 1.3416407865, 10 = 0.4 + 0.4
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{20,30}', 3) r;
-- duplicates, NULLs, unknown items and order in seen change nothing
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{30,NULL,999,20,30}', 3) r;
-- k = 1 keeps the best
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{20,30}', 1) r;
-- nothing known seen, nothing seen, everything seen: no rows
SELECT count(*) FROM knn, retention.recommend(knn.model, '{999}', 3);
SELECT count(*) FROM knn, retention.recommend(knn.model, '{}', 3);
SELECT count(*) FROM knn, retention.recommend(knn.model, '{10,20,30,40}', 3);
-- STRICT: NULL model or seen list, no rows
SELECT count(*) FROM retention.recommend(NULL, '{10}', 3);
SELECT count(*) FROM knn, retention.recommend(knn.model, NULL, 3);

-- the binary matrix (weight 1.0) of the same pairs: 10 = (1,1,0),
-- 20 = (1,0,1), 30 = (0,1,1), 40 = (0,0,1): 10-20 = 10-30 = 20-30 = 1/2,
-- 20-40 = 30-40 = 1/sqrt(2) = 0.7071067812, 10-40 = 0 (not a neighbour).
-- k = 3: 10 -> 20, 30;  20 -> 40, 10, 30;  30 -> 40, 10, 20;  40 -> 20, 30
SELECT n.item_id, n.neighbor_id, round(n.similarity::numeric, 10)
  FROM (SELECT retention.item_knn(user_id, item_id, 1.0, 3) AS m
          FROM (SELECT DISTINCT user_id, item_id FROM interactions WHERE weight IS NOT NULL) d) s,
       retention.item_knn_neighbors(s.m) n;

-- an item whose weights are all zero has no direction: no neighbours, and nobody's neighbour
SELECT n.* FROM (SELECT retention.item_knn(u, i, w, 5) AS m
                   FROM (VALUES (1, 1, 1.0), (1, 2, 0.0), (2, 1, 1.0), (2, 3, 1.0)) v(u, i, w)) s,
                retention.item_knn_neighbors(s.m) n;
-- identical item vectors: similarity exactly 1
SELECT n.* FROM (SELECT retention.item_knn(u, i, 3.0, 5) AS m
                   FROM (VALUES (1, 1), (1, 2), (2, 1), (2, 2)) v(u, i)) s,
                retention.item_knn_neighbors(s.m) n;

-- huge weights neither overflow nor change a cosine: users (1, 2) give
-- 1 = (1, 1)e300, 2 = (2e300, 0) (two rows add up), 3 = (0, 1.7e308):
-- 1-2 = 1-3 = 1/sqrt(2), 2-3 = 0
SELECT n.* FROM (SELECT retention.item_knn(u, i, w, 5) AS m
                   FROM (VALUES (1, 1, 1e300), (1, 2, 1e300), (2, 1, 1e300), (1, 2, 1e300), (2, 3, 1.7e308)) v(u, i, w)) s,
                retention.item_knn_neighbors(s.m) n;
-- a weight too small next to the largest to be squared: an error, not a wrong model
SELECT retention.item_knn(u, i, w, 5) FROM (VALUES (1, 1, 1e200), (1, 2, 1e-200), (2, 2, 1)) v(u, i, w);
-- a single item has no neighbours
SELECT retention.item_knn(u, 5, 1.0, 3) FROM generate_series(1, 3) u;
-- no rows: NULL, as sum() gives; only skipped rows: an empty model
SELECT retention.item_knn(user_id, item_id, weight, 5) IS NULL AS no_rows FROM interactions WHERE false;
SELECT retention.item_knn(user_id, item_id, weight, 5) FROM interactions WHERE weight IS NULL;
SELECT count(*) FROM retention.recommend('{"kind": "item_knn", "format": 1, "k": 5, "items": []}', '{1,2}', 10);

-- a WHERE clause composes: only users 2 and 3, whose vectors are 10 = (2,0),
-- 20 = (0,1), 30 = (1,2), 40 = (0,1): 10 -> 30 (2/sqrt(20) = 0.4472135955),
-- 20 -> 40 (1), 30 -> 20 (2/sqrt(5), tied with 40, smaller id), 40 -> 20 (1)
SELECT n.item_id, n.neighbor_id, round(n.similarity::numeric, 10)
  FROM (SELECT retention.item_knn(user_id, item_id, weight, 1) AS m FROM interactions WHERE user_id > 1) s,
       retention.item_knn_neighbors(s.m) n;

-- the JSON form: round trips exactly, through text and through jsonb
SELECT model::text::retention.item_knn_model::text = model::text AS text_round_trip,
       model::jsonb::retention.item_knn_model::text = model::text AS jsonb_round_trip
  FROM knn;
-- items and neighbours in any order, keys in any order, are put in order
SELECT '{"items": [[7, [[5, 0.25], [6, 0.5]]], [5, []], [6, [[7, 0.5]]]], "k": 2, "format": 1, "kind": "item_knn"}'::retention.item_knn_model;

-- errors in the aggregate's input
SELECT retention.item_knn(u, i, w, 2) FROM (VALUES (1, 1, -1.0)) v(u, i, w);
SELECT retention.item_knn(u, i, w, 2) FROM (VALUES (1, 1, 'NaN'::float8)) v(u, i, w);
SELECT retention.item_knn(u, i, w, 2) FROM (VALUES (1, 1, 'Infinity'::float8)) v(u, i, w);
SELECT retention.item_knn(u, i, 1.0, 0) FROM (VALUES (1, 1)) v(u, i);
SELECT retention.item_knn(u, i, 1.0, -3) FROM (VALUES (1, 1)) v(u, i);
SELECT retention.item_knn(u, i, 1.0, 10001) FROM (VALUES (1, 1)) v(u, i);
SELECT retention.item_knn(u, i, 1.0, NULL) FROM (VALUES (1, 1)) v(u, i);
SELECT retention.item_knn(u, i, 1.0, u::int) FROM (VALUES (1, 1), (2, 1)) v(u, i);
-- errors in recommend's input
SELECT * FROM knn, retention.recommend(knn.model, '{10}', 0);
SELECT * FROM knn, retention.recommend(knn.model, '{{10,20},{30,40}}', 3);
-- errors in the JSON form
SELECT 'not json'::retention.item_knn_model;
SELECT '[1, 2]'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2}'::retention.item_knn_model;
SELECT '{"kind": "logreg", "format": 1, "k": 2, "items": []}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 2, "k": 2, "items": []}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 0, "items": []}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": {}}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, []], [1, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1.5, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [["1", []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 0.5]]]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[1, 0.5]]]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 1.5]]], [2, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 0]]], [2, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 1, "items": [[1, [[2, 0.5], [3, 0.5]]], [2, []], [3, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 0.5], [2, 0.5]]], [2, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2]]], [2, []]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1]]}'::retention.item_knn_model;
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[99999999999999999999, []]]}'::retention.item_knn_model;
-- with full messages, as users see them
\set VERBOSITY default
SELECT retention.item_knn(u, i, w, 2) FROM (VALUES (7, 3, -1.0)) v(u, i, w);
SELECT retention.item_knn(u, i, w, 5) FROM (VALUES (1, 1, 1e200), (1, 2, 1e-200), (2, 2, 1)) v(u, i, w);
SELECT retention.item_knn(u, i, 1.0, 0) FROM (VALUES (1, 1)) v(u, i);
SELECT * FROM knn, retention.recommend(knn.model, '{10}', -1);
SELECT '{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 0.5]]]]}'::retention.item_knn_model;

-- a fallback list (best-sellers) fills up what collaborative filtering
-- cannot: after 20 and 30 (0.4 each) come 40 and 50 with score 0, skipping
-- the listed 20, the seen 10, the repeated 50 and the NULL
\set VERBOSITY sqlstate
SELECT r.item_id, round(r.score::numeric, 10)
  FROM knn, retention.recommend(knn.model, '{10}', 4, '{20,40,10,NULL,50,50,60}') r;
-- enough collaborative rows: the fallback is not used
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{10}', 1, '{40}') r;
-- cold start: no model or no history, only the fallback
SELECT * FROM retention.recommend(NULL, NULL, 3, '{7,8,7,9,10}');
SELECT r.* FROM knn, retention.recommend(knn.model, '{}', 2, '{30,10}') r;
-- no fallback: recommend(model, seen, k) exactly
SELECT r.item_id, round(r.score::numeric, 10) FROM knn, retention.recommend(knn.model, '{20,30}', 3, NULL) r;
SELECT count(*) FROM retention.recommend(NULL, '{10}', 3, NULL);
-- errors
SELECT * FROM retention.recommend(NULL, '{10}', 0, '{1}');
SELECT * FROM retention.recommend(NULL, '{10}', NULL::integer, '{1}');
SELECT * FROM retention.recommend(NULL, '{10}', 3, '{{1,2},{3,4}}');
SELECT * FROM retention.recommend(NULL, '{{10}}', 3, '{1}');
SELECT * FROM retention.evaluate_item_knn('interactions', 'interactions', 20, 0);
SELECT * FROM retention.evaluate_item_knn('interactions', 'interactions', 0, 10);
SELECT * FROM retention.evaluate_item_knn('no_such_table', 'interactions');
SELECT * FROM retention.evaluate_item_knn('interactions', 'interactions', 20, 10, 'customer');

-- evaluate_item_knn on the example, trained and tested on the same table:
-- nothing is new to anyone, so no user is evaluated
SELECT * FROM retention.evaluate_item_knn('interactions', 'interactions');
