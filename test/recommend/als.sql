-- pgTAP: implicit ALS (als_train, als_model, recommend, fold-in) against the
-- independent numpy implementation bench/als_numpy.py, whose factors for a
-- small data set are in test/recommend/fixtures (als_reference.py made them);
-- determinism, parallel plans, text round trips, hostile models, limits,
-- the registry and a role with only USAGE on the schema.
BEGIN;
SELECT plan(50);
SET LOCAL client_min_messages = warning;

-- declarations ----------------------------------------------------------
SELECT has_type('retention', 'als_model', 'type als_model');
SELECT has_function('retention', 'als_train', ARRAY['bigint', 'bigint', 'double precision', 'jsonb']);
SELECT has_function('retention', 'recommend', ARRAY['retention.als_model', 'bigint', 'bigint[]', 'integer']);
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'retention'::regnamespace
        AND (p.proname LIKE 'als%' OR p.oid = 'retention.recommend(retention.als_model, bigint, bigint[], integer)'::regprocedure)
        AND p.proname <> 'als_save'
        AND (p.proparallel <> 's' OR obj_description(p.oid, 'pg_proc') IS NULL)),
    0, 'every als function is PARALLEL SAFE and documented');
SELECT is(
    (SELECT bool_and(a.aggcombinefn <> 0 AND a.aggserialfn <> 0 AND a.aggdeserialfn <> 0)
       FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
      WHERE p.proname = 'als_train' AND p.pronamespace = 'retention'::regnamespace),
    true, 'both als_train aggregates have combine, serialise and deserialise functions');
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'retention'::regnamespace AND p.proname LIKE 'als_train_%'
        AND has_function_privilege('public', p.oid, 'EXECUTE')),
    0, 'the support functions of als_train are not executable by PUBLIC');

-- the reference ---------------------------------------------------------
CREATE TEMP TABLE pairs (user_id bigint, item_id bigint, weight float8);
\copy pairs FROM 'test/recommend/fixtures/als_pairs.csv' WITH (FORMAT csv)
CREATE TEMP TABLE ref (kind text, id bigint, f float8[]);
\copy ref FROM 'test/recommend/fixtures/als_reference_factors.csv' WITH (FORMAT csv)
CREATE TEMP TABLE opts AS SELECT
    '{"factors": 4, "alpha": 2, "regularization": 0.5, "iterations": 10, "cg_steps": 3, "seed": 42}'::jsonb AS o;

SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE model AS
SELECT retention.als_train(p.user_id, p.item_id, p.weight, opts.o) AS m FROM pairs p, opts;

SELECT is((SELECT (users, items, factors, bytes)::text FROM model, retention.als_model_info(m)),
          '(40,25,4,' || (64 + (8 + 16) * 65) || ')', '40 users, 25 items, 4 factors, 64 + 24 bytes per row');
-- float4 storage: 2^-24 relative rounding, and summation order differs from BLAS
SELECT is((SELECT count(*)::int FROM model, retention.als_user_factors(m) u JOIN ref r ON r.kind = 'u' AND r.id = u.user_id,
                  LATERAL unnest(u.factors, r.f) z(a, b)
            WHERE abs(a - b) <= 1e-5 * greatest(abs(b), 0.01)), 160,
          'user factors equal the numpy reference (relative 1e-5)');
SELECT is((SELECT count(*)::int FROM model, retention.als_item_factors(m) i JOIN ref r ON r.kind = 'i' AND r.id = i.item_id,
                  LATERAL unnest(i.factors, r.f) z(a, b)
            WHERE abs(a - b) <= 1e-5 * greatest(abs(b), 0.01)), 100,
          'item factors equal the numpy reference (relative 1e-5)');
SELECT is((SELECT count(*)::int FROM model, LATERAL unnest(retention.als_user_vector(m, NULL, '{110,101,102,999,NULL}'),
                  (SELECT f FROM ref WHERE kind = 'f')) z(a, b)
            WHERE abs(a - b) <= 1e-5 * greatest(abs(b), 0.01)), 4,
          'fold-in of a new user equals numpy''s exact least-squares solve; unknown items and NULLs are ignored');

-- scoring ---------------------------------------------------------------
-- scores are the dot products, recomputed in SQL from the factors
CREATE TEMP TABLE sql_scores AS
SELECT u.user_id, i.item_id, (SELECT sum(a::float8 * b::float8) FROM unnest(u.factors, i.factors) z(a, b)) AS score
  FROM model, retention.als_user_factors(m) u, retention.als_item_factors(m) i;
SELECT is((SELECT count(*)::int FROM (
              SELECT s.user_id, x.item_id, x.score, x.rank
                FROM (SELECT DISTINCT user_id FROM pairs) s, model,
                     LATERAL retention.recommend(m, s.user_id, ARRAY(SELECT p.item_id FROM pairs p WHERE p.user_id = s.user_id), 5)
                         WITH ORDINALITY x(item_id, score, rank)) r
              JOIN (SELECT q.*, row_number() OVER (PARTITION BY q.user_id ORDER BY q.score DESC, q.item_id) AS rank
                      FROM sql_scores q
                     WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.user_id = q.user_id AND p.item_id = q.item_id)) e
                ON e.user_id = r.user_id AND e.rank = r.rank
             WHERE e.item_id = r.item_id AND abs(e.score - r.score) < 1e-12),
          (SELECT count(*)::int FROM (SELECT user_id, least(5, 25 - count(DISTINCT item_id)) n FROM pairs GROUP BY user_id) s, generate_series(1, s.n)),
          'recommend = the top 5 unseen items by the SQL dot product, ties by item id, for every user');
SELECT is((SELECT count(*)::int FROM model, retention.recommend(m, 1, '{}', 1000)), 25,
          'k larger than the catalogue: every item once');
SELECT is((SELECT count(*)::int FROM model, retention.recommend(m, 424242, '{999}', 10)), 0,
          'an unknown user with no known item: no rows');
SELECT is((SELECT count(*)::int FROM model, retention.recommend(m, 424242, '{101,102,110}', 30) x
            WHERE x.item_id IN (101, 102, 110)), 0, 'a folded-in user is not offered what they have seen');
SELECT is((SELECT array_agg(x.item_id) FROM model, retention.recommend(m, NULL, '{101,102,110}', 3) x),
          (SELECT array_agg(x.item_id) FROM model, retention.recommend(m, 424242, '{110,102,101,101}', 3) x),
          'a NULL user is folded in; the order and repeats of seen do not matter');
SELECT is((SELECT count(*)::int FROM retention.recommend(NULL::retention.als_model, 1, '{}', 3)), 0, 'NULL model: no rows');
SELECT throws_ok($$SELECT * FROM model, retention.recommend(m, 1, '{}', 0)$$, '22023', NULL, 'k = 0 is refused');
SELECT throws_ok($$SELECT * FROM model, retention.recommend(m, 1, '{{1,2}}', 3)$$, '2202E', NULL, 'a 2-D seen array is refused');
SELECT is((SELECT count(*)::int FROM model, retention.recommend_all(m, 'pairs', 3)),
          (SELECT sum(least(3, 25 - n))::int FROM (SELECT count(DISTINCT item_id) n FROM pairs GROUP BY user_id) s),
          'recommend_all: k rows per user');
CREATE TEMP TABLE emb AS SELECT i.item_id, i.factors AS embedding FROM model, retention.als_item_factors(m) i;
SELECT is((SELECT count(*)::int FROM model, retention.nearest_by_embedding(retention.als_user_vector(m, 1), 'emb', 5)), 5,
          'item factors feed nearest_by_embedding');

-- determinism ------------------------------------------------------------
SELECT is((SELECT retention.als_train(p.user_id, p.item_id, p.weight, opts.o)::text
             FROM (SELECT * FROM pairs ORDER BY user_id DESC, item_id DESC) p, opts),
          (SELECT m::text FROM model), 'the row order does not change the model');
SELECT isnt((SELECT retention.als_train(p.user_id, p.item_id, p.weight, opts.o || '{"seed": 43}')::text FROM pairs p, opts),
            (SELECT m::text FROM model), 'another seed gives another model');
-- two models of the same size held in memory, alternating at one call site:
-- each call gets its own model's items, for known users and folded-in ones
-- (the per-call-site cache knows a model in memory by its hash, not by its
-- size or address); the same calls, one model per call site, are the reference
CREATE TEMP TABLE twins AS
SELECT (SELECT m FROM model) AS a,
       (SELECT retention.als_train(p.user_id, p.item_id, p.weight, opts.o || '{"seed": 43}') FROM pairs p, opts) AS b;
CREATE TEMP TABLE twin_calls AS
SELECT g, CASE WHEN g % 4 < 2 THEN u.user_id END AS user_id,
       ARRAY(SELECT p.item_id FROM pairs p WHERE p.user_id = u.user_id ORDER BY p.item_id) AS seen
  FROM generate_series(1, 40) g,
       LATERAL (SELECT DISTINCT user_id FROM pairs ORDER BY user_id OFFSET g % 40 LIMIT 1) u;
-- (the text round trip makes values in memory: a table would toast them)
SELECT is((WITH twins AS MATERIALIZED (SELECT a::text::retention.als_model AS a, b::text::retention.als_model AS b FROM twins)
           SELECT count(*)::int FROM twins, twin_calls c
            WHERE ARRAY(SELECT x.item_id || ':' || x.score
                          FROM retention.recommend(CASE WHEN c.g % 2 = 0 THEN twins.a ELSE twins.b END,
                                                   c.user_id, c.seen, 5) x)
                  = CASE WHEN c.g % 2 = 0
                         THEN ARRAY(SELECT x.item_id || ':' || x.score FROM retention.recommend(twins.a, c.user_id, c.seen, 5) x)
                         ELSE ARRAY(SELECT x.item_id || ':' || x.score FROM retention.recommend(twins.b, c.user_id, c.seen, 5) x) END
              AND cardinality(ARRAY(SELECT x.item_id FROM retention.recommend(twins.a, c.user_id, c.seen, 5) x)) > 0),
          40, 'two same-size models in memory, alternating at one call site, each give their own recommendations');
-- models that differ only in the header: in the fold-in's alpha, or in
-- how the same bytes divide into users and items
SELECT is((WITH v AS MATERIALIZED (
               SELECT g, jsonb_set(m::text::jsonb, '{alpha}', to_jsonb(CASE WHEN g % 2 = 0 THEN 0 ELSE 500 END))::text::retention.als_model AS m
                 FROM model, generate_series(1, 4) g)
           SELECT string_agg(r.items, ' ' ORDER BY v.g)
             FROM v, LATERAL (SELECT string_agg(x.item_id::text, ',') AS items
                                FROM retention.recommend(v.m, NULL, '{101,102,103}', 5) x) r),
          (WITH one AS (SELECT (SELECT string_agg(x.item_id::text, ',')
                                  FROM model, retention.recommend(jsonb_set(m::text::jsonb, '{alpha}', '500')::text::retention.als_model,
                                                                  NULL, '{101,102,103}', 5) x) AS a500,
                               (SELECT string_agg(x.item_id::text, ',')
                                  FROM model, retention.recommend(jsonb_set(m::text::jsonb, '{alpha}', '0')::text::retention.als_model,
                                                                  NULL, '{101,102,103}', 5) x) AS a0)
           SELECT concat_ws(' ', a500, a0, a500, a0) FROM one),
          'two models differing only in alpha, alternating at one call site, fold in with their own alpha');
SELECT is((WITH v AS MATERIALIZED (
               SELECT g, (CASE WHEN g % 2 = 0
                               THEN '{"kind": "als", "format": 1, "factors": 1, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[1, [1]], [2, [1]]], "items": [[3, [1]], [4, [-1]], [5, [2]]]}'
                               ELSE '{"kind": "als", "format": 1, "factors": 1, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[1, [1]], [2, [1]], [3, [1]]], "items": [[4, [-1]], [5, [2]]]}'
                          END)::retention.als_model AS m
                 FROM generate_series(1, 4) g)
           SELECT string_agg(r.items, ' ' ORDER BY v.g)
             FROM v, LATERAL (SELECT string_agg(x.item_id::text, ',') AS items FROM retention.recommend(v.m, 1, '{}', 5) x) r),
          '5,4 5,3,4 5,4 5,3,4',
          'two models of the same bytes split differently into users and items each recommend their own items');
-- two models of the same size made to share the 64-bit hash that keyed
-- the cache before it was a SHA-256 digest: als_collision_b.json is
-- als_collision_a.json with item 100's factors changed and the next 12
-- bytes chosen to bring hash_any_extended's state back (found by the
-- adversarial review of 2026-12-03); alternating at one call site, each
-- must give its own recommendations
CREATE TEMP TABLE collision_file (side text, j text);
\copy collision_file (j) FROM 'test/recommend/fixtures/als_collision_a.json' WITH (FORMAT text, DELIMITER E'\x01')
UPDATE collision_file SET side = 'a';
\copy collision_file (j) FROM 'test/recommend/fixtures/als_collision_b.json' WITH (FORMAT text, DELIMITER E'\x01')
UPDATE collision_file SET side = 'b' WHERE side IS NULL;
SELECT is((WITH v AS MATERIALIZED (
               SELECT g, (SELECT j FROM collision_file WHERE side = CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END)::retention.als_model AS m
                 FROM generate_series(1, 4) g)
           SELECT string_agg(r.items, ' ' ORDER BY v.g)
             FROM v, LATERAL (SELECT string_agg(x.item_id::text, ',') AS items FROM retention.recommend(v.m, 3, NULL, 3) x) r),
          (WITH one AS (SELECT (SELECT string_agg(x.item_id::text, ',')
                                  FROM retention.recommend((SELECT j FROM collision_file WHERE side = 'a')::retention.als_model, 3, NULL, 3) x) AS a,
                               (SELECT string_agg(x.item_id::text, ',')
                                  FROM retention.recommend((SELECT j FROM collision_file WHERE side = 'b')::retention.als_model, 3, NULL, 3) x) AS b)
           SELECT concat_ws(' ', b, a, b, a) FROM one),
          'two models made to collide under a 64-bit hash, alternating at one call site, each recommend their own items');
SELECT isnt((SELECT string_agg(x.item_id::text, ',') FROM retention.recommend((SELECT j FROM collision_file WHERE side = 'a')::retention.als_model, 3, NULL, 3) x),
            (SELECT string_agg(x.item_id::text, ',') FROM retention.recommend((SELECT j FROM collision_file WHERE side = 'b')::retention.als_model, 3, NULL, 3) x),
            'and the colliding models recommend differently');
SELECT isnt((SELECT string_agg(x.item_id::text, ',') FROM twins, retention.recommend(twins.a, NULL, '{101,102}', 5) x),
            (SELECT string_agg(x.item_id::text, ',') FROM twins, retention.recommend(twins.b, NULL, '{101,102}', 5) x),
            'and the two models do differ');
CREATE TEMP TABLE big AS
SELECT (g % 997) AS user_id, (g * 7919) % 301 AS item_id, 1 + g % 3 AS weight FROM generate_series(1, 60000) g;
ANALYZE big;
CREATE TEMP TABLE serial_model AS SELECT retention.als_train(user_id, item_id, weight, '{"factors": 8, "iterations": 3}') AS m FROM big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT retention.als_train(user_id, item_id, weight, '{"factors": 8, "iterations": 3}')::text FROM big),
          (SELECT m::text FROM serial_model), 'parallel workers give the same model, bit for bit');
RESET max_parallel_workers_per_gather;

-- text form ---------------------------------------------------------------
SELECT is((SELECT m::text::retention.als_model::text FROM model), (SELECT m::text FROM model), 'text round trip');
SELECT is((SELECT (m::jsonb)::retention.als_model::text FROM model), (SELECT m::text FROM model), 'jsonb round trip');
SELECT is((SELECT '{"kind": "als", "format": 1, "factors": 2, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[5, [1, 0]]], "items": [[9, [0.5, 0.25]], [7, [1, 1]]]}'::retention.als_model::text),
          '{"kind": "als", "format": 1, "factors": 2, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[5, [1, 0]]], "items": [[7, [1, 1]], [9, [0.5, 0.25]]]}',
          'a hand-written model reads back with items in id order');
SELECT is((SELECT array_agg(x.item_id || ':' || x.score) FROM retention.recommend(
              '{"kind": "als", "format": 1, "factors": 2, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[5, [1, 0]]], "items": [[9, [0.5, 0.25]], [7, [1, 1]], [8, [-2, 5]]]}', 5, '{}', 3) x),
          '{7:1,9:0.5,8:-2}', 'hand-computed scores: (1,0).(1,1) = 1, (1,0).(0.5,0.25) = 0.5, (1,0).(-2,5) = -2');

-- hostile and invalid input ---------------------------------------------------
SELECT throws_ok($$SELECT '{"kind": "item_knn", "format": 1}'::retention.als_model$$, '22P02', NULL, 'wrong kind');
SELECT throws_ok($$SELECT '{"kind": "als", "format": 2, "factors": 1, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [], "items": []}'::retention.als_model$$,
                 '22P02', NULL, 'a future format is refused');
SELECT throws_ok($$SELECT '{"kind": "als", "format": 1, "factors": 2, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [[1, [1]]], "items": []}'::retention.als_model$$,
                 '22P02', NULL, 'a vector of the wrong length is refused');
SELECT throws_ok($$SELECT '{"kind": "als", "format": 1, "factors": 1, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [], "items": [[1, [1]], [1, [2]]]}'::retention.als_model$$,
                 '22P02', NULL, 'a repeated id is refused');
SELECT throws_ok($$SELECT '{"kind": "als", "format": 1, "factors": 1, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [], "items": [[1, [1e300]]]}'::retention.als_model$$,
                 '22P02', NULL, 'a factor beyond real is refused');
SELECT throws_ok($$SELECT '{"kind": "als", "format": 1, "factors": 100000, "regularization": 0.1, "alpha": 1, "iterations": 1, "cg_steps": 1, "seed": 0, "users": [], "items": []}'::retention.als_model$$,
                 '22P02', NULL, 'too many factors is refused');
-- every prefix of a real model's text either reads or fails cleanly
CREATE TEMP TABLE prefixes (read boolean);
DO $$
DECLARE
    t text := (SELECT m::text FROM model);
BEGIN
    FOR n IN 1 .. length(t) - 1 BY 37 LOOP
        BEGIN
            PERFORM left(t, n)::retention.als_model;
            INSERT INTO prefixes VALUES (true);
        EXCEPTION WHEN invalid_text_representation THEN
            INSERT INTO prefixes VALUES (false);
        END;
    END LOOP;
END
$$;
SELECT is((SELECT count(*) FILTER (WHERE read)::int FROM prefixes), 0, 'truncated models are rejected, never read');
SELECT throws_ok($$SELECT retention.als_train(user_id, item_id, weight, '{"factor": 4}') FROM pairs$$, '22023', NULL, 'unknown option');
SELECT throws_ok($$SELECT retention.als_train(user_id, item_id, weight, '{"factors": 0}') FROM pairs$$, '22023', NULL, 'factors = 0');
SELECT throws_ok($$SELECT retention.als_train(user_id, item_id, -1, '{}') FROM pairs$$, '22023', NULL, 'negative weight');
SELECT throws_ok($$SELECT retention.als_train(user_id, item_id, 'NaN', '{}') FROM pairs$$, '22023', NULL, 'NaN weight');
SELECT throws_ok($$SELECT retention.als_train(user_id, item_id, 1, jsonb_build_object('seed', user_id)) FROM pairs$$,
                 '22023', NULL, 'options that change between rows');
-- the limit: 262,200 users and items of 8 + 4 * 1024 bytes exceed 1 GB
SELECT throws_ok($$SELECT retention.als_train(g, g, 1, '{"factors": 1024}') FROM generate_series(1, 131100) g$$,
                 '54000', NULL, 'a model beyond 1 GB is refused before training');

-- registry and a role with only USAGE ------------------------------------------
SELECT is((SELECT retention.als_save('als_test', m) FROM model), 1, 'als_save: version 1');
SELECT is((SELECT retention.als_load('als_test')::text), (SELECT m::text FROM model), 'als_load reads it back');
SELECT throws_ok($$SELECT retention.item_knn_save('als_test_knn', retention.item_knn(1, 2, 1.0, 3));
                   SELECT retention.als_save('als_test_knn', (SELECT m FROM model))$$, '42809', NULL,
                 'als_save refuses a name that holds another kind of model');
CREATE ROLE retention_als_user;
GRANT USAGE ON SCHEMA retention TO retention_als_user;
GRANT SELECT ON pairs, model, opts TO retention_als_user;
SET LOCAL ROLE retention_als_user;
SELECT is((SELECT count(*)::int FROM (SELECT retention.als_train(p.user_id, p.item_id, p.weight, opts.o) AS m FROM pairs p, opts) t,
                  retention.recommend(t.m, 1, '{}', 3)), 3, 'a role with only USAGE trains and recommends');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
