-- pgTAP: item_knn and recommend against plain-SQL formulations of the same
-- top-k cosine on random data, with and without parallel workers; the
-- declarations; the registry; ranking_metrics on hand-computed cases.
BEGIN;
SELECT plan(43);

-- declarations ----------------------------------------------------------
SELECT has_type('retention', 'item_knn_model', 'type item_knn_model');
SELECT has_function('retention', 'item_knn', ARRAY['bigint', 'bigint', 'double precision', 'integer']);
SELECT isa_ok(NULL::retention.item_knn_model, 'retention.item_knn_model');
SELECT has_function('retention', 'recommend', ARRAY['retention.item_knn_model', 'bigint[]', 'integer']);
SELECT function_returns('retention', 'recommend', ARRAY['retention.item_knn_model', 'bigint[]', 'integer'], 'setof record');
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'retention'::regnamespace
        AND (p.proname LIKE 'item_knn%' OR p.proname IN ('recommend', 'ranking_metrics'))
        AND (p.proparallel <> 's' OR obj_description(p.oid, 'pg_proc') IS NULL)
        AND p.proname <> 'item_knn_save'),
    0, 'every item_knn, recommend and ranking_metrics function is PARALLEL SAFE and documented');
SELECT is(
    (SELECT a.aggcombinefn <> 0 AND a.aggtranstype = 'retention.agg_state'::regtype
       FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = 'retention.item_knn(bigint, bigint, float8, integer)'::regprocedure),
    true, 'item_knn has a combine function and a state Citus can ship (agg_state)');
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc p
      WHERE p.pronamespace = 'retention'::regnamespace
        AND p.proname IN ('recommend', 'item_knn_neighbors', 'item_knn_model_info', 'ranking_metrics')
        AND (p.provolatile <> 'i' OR NOT p.proisstrict)
        AND NOT (p.proname = 'recommend' AND p.pronargs = 4)),
    0, 'recommend, item_knn_neighbors, item_knn_model_info and ranking_metrics are IMMUTABLE STRICT');

-- random data, integer weights: every sum below is exact in float8, so
-- the SQL self-join and the aggregate must agree to the last bit.  Pairs
-- repeat (weights add up) and some rows carry NULLs (skipped).
SELECT setseed(0.17);
CREATE TABLE rnd (user_id bigint, item_id bigint, weight float8);
INSERT INTO rnd
SELECT CASE WHEN g % 97 = 0 THEN NULL ELSE floor(random() * 400)::bigint END,
       floor(random() * 150)::bigint + 1000,
       1 + floor(random() * 3)
  FROM generate_series(1, 6000) g;
INSERT INTO rnd VALUES (1, NULL, 1), (2, 1001, NULL);

CREATE TABLE reference AS
WITH pairs AS (
    SELECT user_id, item_id, sum(weight) AS w FROM rnd
     WHERE user_id IS NOT NULL AND item_id IS NOT NULL AND weight IS NOT NULL
     GROUP BY user_id, item_id),
norms AS (SELECT item_id, sum(w * w) AS n2 FROM pairs GROUP BY item_id),
dots AS (
    SELECT a.item_id, b.item_id AS neighbor_id, sum(a.w * b.w) AS dot
      FROM pairs a JOIN pairs b ON a.user_id = b.user_id AND a.item_id <> b.item_id
     GROUP BY a.item_id, b.item_id),
sims AS (
    SELECT d.item_id, d.neighbor_id, least(1.0::float8, d.dot / sqrt(na.n2 * nb.n2)) AS similarity
      FROM dots d JOIN norms na ON na.item_id = d.item_id JOIN norms nb ON nb.item_id = d.neighbor_id
     WHERE d.dot > 0),
ranked AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.item_id ORDER BY s.similarity DESC, s.neighbor_id) AS rank
      FROM sims s)
SELECT item_id, neighbor_id, similarity, rank FROM ranked WHERE rank <= 10;

SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE model_serial AS SELECT retention.item_knn(user_id, item_id, weight, 10) AS m FROM rnd;

SELECT results_eq(
    $$SELECT n.item_id, n.neighbor_id, n.similarity FROM model_serial, retention.item_knn_neighbors(model_serial.m) n$$,
    $$SELECT item_id, neighbor_id, similarity FROM reference ORDER BY item_id, rank$$,
    'item_knn equals the SQL self-join top-10 cosine, bit for bit and in order');
SELECT is((SELECT items FROM model_serial, retention.item_knn_model_info(m)),
          (SELECT count(DISTINCT item_id)::int FROM rnd WHERE user_id IS NOT NULL AND weight IS NOT NULL),
          'every item with a non-NULL row is in the model');

-- the same rows in another order give the same model
SELECT is((SELECT retention.item_knn(user_id, item_id, weight, 10)::text
             FROM (SELECT * FROM rnd ORDER BY weight DESC, item_id DESC, user_id) s),
          (SELECT m::text FROM model_serial), 'row order does not matter');

-- parallel: forced workers, a Partial Aggregate under a Gather
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END $$;
ALTER TABLE rnd SET (parallel_workers = 2);
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT matches(pg_temp.plan_of('SELECT retention.item_knn(user_id, item_id, weight, 10) FROM rnd'),
               'Gather(.|\n)*Partial Aggregate', 'the plan is parallel');
SELECT is((SELECT retention.item_knn(user_id, item_id, weight, 10)::text FROM rnd),
          (SELECT m::text FROM model_serial), 'parallel workers give the identical model');

-- fractional random weights: agree within rounding, same neighbour sets
CREATE TABLE rnd_frac AS SELECT user_id, item_id, random() * 5 AS weight FROM rnd WHERE user_id IS NOT NULL AND weight IS NOT NULL;
CREATE TABLE reference_frac AS
WITH pairs AS (SELECT user_id, item_id, sum(weight) AS w FROM rnd_frac GROUP BY 1, 2),
norms AS (SELECT item_id, sum(w * w) AS n2 FROM pairs GROUP BY 1),
dots AS (SELECT a.item_id, b.item_id AS neighbor_id, sum(a.w * b.w) AS dot
           FROM pairs a JOIN pairs b ON a.user_id = b.user_id AND a.item_id <> b.item_id GROUP BY 1, 2),
ranked AS (SELECT d.item_id, d.neighbor_id, d.dot / sqrt(na.n2 * nb.n2) AS similarity,
                  row_number() OVER (PARTITION BY d.item_id ORDER BY d.dot / sqrt(na.n2 * nb.n2) DESC, d.neighbor_id) AS rank
             FROM dots d JOIN norms na ON na.item_id = d.item_id JOIN norms nb ON nb.item_id = d.neighbor_id)
SELECT * FROM ranked WHERE rank <= 5;
CREATE TABLE model_frac AS SELECT retention.item_knn(user_id, item_id, weight, 5) AS m FROM rnd_frac;
SELECT is((SELECT count(*)::int FROM model_frac, retention.item_knn_neighbors(m) n
             FULL JOIN reference_frac r USING (item_id, neighbor_id)
            WHERE r.item_id IS NULL OR n.item_id IS NULL OR abs(n.similarity - r.similarity) > 1e-12),
          0, 'fractional weights: same top-5 neighbours as SQL, similarities within 1e-12');

-- recommend against its definition in SQL: sum of similarities over seen
-- items (added in ascending seen id order, as recommend does), unseen only,
-- top 10 by score then item_id
CREATE TABLE seen AS
SELECT user_id, array_agg(DISTINCT item_id) AS items FROM rnd
 WHERE user_id IS NOT NULL AND item_id IS NOT NULL AND weight IS NOT NULL AND user_id < 60
 GROUP BY user_id;
SELECT results_eq(
    $$SELECT s.user_id, r.item_id, r.score FROM seen s, model_serial, retention.recommend(model_serial.m, s.items, 10) r
      ORDER BY s.user_id, r.score DESC, r.item_id$$,
    $$WITH scores AS (
          SELECT s.user_id, n.neighbor_id AS item_id, sum(n.similarity ORDER BY n.item_id) AS score
            FROM seen s CROSS JOIN model_serial
                 CROSS JOIN LATERAL retention.item_knn_neighbors(model_serial.m) n
           WHERE n.item_id = ANY (s.items) AND NOT n.neighbor_id = ANY (s.items)
           GROUP BY s.user_id, n.neighbor_id),
      ranked AS (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) AS rank FROM scores)
      SELECT user_id, item_id, score FROM ranked WHERE rank <= 10 ORDER BY user_id, score DESC, item_id$$,
    'recommend equals its plain-SQL definition for 60 users, bit for bit');

-- a model read from a table and a model passed as a value give the same rows
SELECT results_eq(
    $$SELECT r.* FROM model_serial, retention.recommend(model_serial.m, '{1000,1001,1002}', 5) r$$,
    $$SELECT r.* FROM retention.recommend((SELECT m::text FROM model_serial)::retention.item_knn_model, '{1002,1000,1001,1000}', 5) r$$,
    'a model parsed from JSON recommends the same, whatever the seen order and duplicates');

-- two models read from one table in one query, alternating: each call uses
-- its own row's model (the per-query cache is keyed by the stored value)
CREATE TABLE two_models AS
SELECT 1 AS id, m FROM model_serial UNION ALL SELECT 2, m FROM model_frac;
SELECT results_eq(
    $$SELECT s.user_id, t.id, r.item_id, r.score
        FROM seen s CROSS JOIN two_models t, retention.recommend(t.m, s.items, 3) r
       ORDER BY s.user_id, t.id, r.score DESC, r.item_id$$,
    $$SELECT s.user_id, t.id, r.item_id, r.score
        FROM seen s CROSS JOIN (SELECT id, m::text::retention.item_knn_model AS m FROM two_models) t,
             retention.recommend(t.m, s.items, 3) r
       ORDER BY s.user_id, t.id, r.score DESC, r.item_id$$,
    'models alternating between rows of a table give each row its own recommendations');

-- the registry --------------------------------------------------------------
SELECT is(retention.item_knn_save('shop', m, 'rnd, k = 10'), 1, 'first save is version 1') FROM model_serial;
SELECT is(retention.item_knn_save('shop', m, 'rnd, k = 5', '{"precision_at_10": 0.1}'), 2, 'second save is version 2') FROM model_frac;
SELECT is((SELECT kind FROM retention.models WHERE name = 'shop' AND version = 2), 'item_knn', 'kind is item_knn');
SELECT is((SELECT metrics FROM retention.models WHERE name = 'shop' AND version = 2),
          '{"precision_at_10": 0.1}'::jsonb, 'metrics are stored');
SELECT is(retention.item_knn_load('shop')::text, (SELECT m::text FROM model_frac), 'load takes the latest version');
SELECT is(retention.item_knn_load('shop', 1)::text, (SELECT m::text FROM model_serial), 'load takes a given version');
SELECT throws_ok($$SELECT retention.item_knn_load('nothing')$$, '42704',
                 'item_knn model "nothing" does not exist', 'loading a missing model');
SELECT throws_ok($$SELECT retention.item_knn_load('shop', 9)$$, '42704',
                 'item_knn model "shop" version 9 does not exist', 'loading a missing version');
INSERT INTO retention.models (name, version, kind, model) VALUES ('churn', 1, 'logreg', '{}');
SELECT throws_ok($$SELECT retention.item_knn_save('churn', m) FROM model_serial$$, '42809',
                 'model "churn" is a logreg model, not an item_knn model', 'a name used by another kind');
SELECT throws_ok($$SELECT retention.item_knn_save(NULL, m) FROM model_serial$$, '22004', NULL, 'NULL name');

-- ranking_metrics, hand-computed ------------------------------------------
-- recommended 1..5, relevant {2, 5, 7}, k = 5: hits at ranks 2 and 5.
-- precision 2/5, recall 2/3, DCG = 1/log2(3) + 1/log2(6), IDCG = 1 + 1/log2(3)
-- + 1/log2(4), AP = (1/2 + 2/5) / min(3, 5) = 0.3, hit 1
SELECT is(m.precision_at_k, 0.4::float8, 'precision@5') FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 5) m;
SELECT cmp_ok(abs(m.recall_at_k - 2 / 3.0::float8), '<', 1e-15::float8, 'recall@5') FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 5) m;
SELECT cmp_ok(abs(m.ndcg_at_k - (1 / log(2, 3) + 1 / log(2, 6))::float8 / (1 + 1 / log(2, 3) + 1 / log(2, 4))::float8),
              '<', 1e-14::float8, 'NDCG@5') FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 5) m;
SELECT cmp_ok(abs(m.ap_at_k - 0.3), '<', 1e-15::float8, 'AP@5') FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 5) m;
SELECT is(m.hit_at_k, 1::float8, 'hit@5') FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 5) m;
-- k = 2 cuts the list: one hit at rank 2; precision 1/2, recall 1/3,
-- NDCG = (1/log2(3)) / (1 + 1/log2(3)), AP = (1/2) / min(3, 2) = 0.25
SELECT ok(m.precision_at_k = 0.5 AND abs(m.recall_at_k - 1 / 3.0::float8) < 1e-15
          AND abs(m.ndcg_at_k - (1 / log(2, 3))::float8 / (1 + 1 / log(2, 3))::float8) < 1e-14
          AND m.ap_at_k = 0.25 AND m.hit_at_k = 1, 'k = 2 truncates the list')
  FROM retention.ranking_metrics('{1,2,3,4,5}', '{2,5,7}', 2) m;
-- a repeated item counts once: {2,2,5} vs {2,5}, k = 3: hits at ranks 1 and 3,
-- AP = (1/1 + 2/3) / 2 = 5/6
SELECT ok(abs(m.precision_at_k - 2 / 3.0::float8) < 1e-15 AND m.recall_at_k = 1
          AND abs(m.ap_at_k - 5 / 6.0::float8) < 1e-15, 'a repeated recommendation counts once')
  FROM retention.ranking_metrics('{2,2,5}', '{2,5}', 3) m;
-- a short list is still divided by k; the one relevant item first is ideal
SELECT ok(m.precision_at_k = 0.1 AND m.recall_at_k = 1 AND m.ndcg_at_k = 1 AND m.ap_at_k = 1,
          'fewer recommendations than k') FROM retention.ranking_metrics('{9}', '{9}', 10) m;
SELECT ok(m.precision_at_k = 0 AND m.recall_at_k = 0 AND m.ndcg_at_k = 0 AND m.ap_at_k = 0 AND m.hit_at_k = 0,
          'no hits, all zero') FROM retention.ranking_metrics('{}', '{1,NULL}', 10) m;
SELECT ok(m IS NULL, 'nothing relevant: NULLs, which avg() skips')
  FROM retention.ranking_metrics('{1,2}', '{NULL}', 10) m;
SELECT throws_ok($$SELECT retention.ranking_metrics('{1}', '{1}', 0)$$, '22023', 'k must be greater than zero', 'k = 0');
SELECT throws_ok($$SELECT retention.ranking_metrics('{1,NULL}', '{1}', 5)$$, '22004',
                 'array "recommended" must not contain nulls', 'NULL in the recommended list');
SELECT throws_ok($$SELECT retention.ranking_metrics('{{1,2}}', '{1}', 5)$$, '2202E',
                 'array "recommended" must be one-dimensional', 'two-dimensional list');
SELECT throws_ok($$SELECT retention.ranking_metrics('{1}', '{{1},{2}}', 5)$$, '2202E',
                 'array "relevant" must be one-dimensional', 'two-dimensional relevant set');

-- a model that could exceed the 1 GB limit of a value is refused before the work:
-- 100,000 items with k = 1000 could take 100,000 * 1,000 * 12 bytes = 1.2 GB
SELECT throws_ok($$SELECT retention.item_knn(g, g, 1.0, 1000) FROM generate_series(1, 100000) g$$,
                 '54000', 'item_knn model of 100000 items with k = 1000 would exceed the 1 GB limit of a value',
                 'a model too large for one value: program_limit_exceeded');

-- fuzz: 2,000 random mutations of a valid JSON model either read as a model
-- that recommend() accepts, or fail with a class-22 error; never anything else
CREATE FUNCTION pg_temp.fuzz_model_input(n integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    base text := '{"kind": "item_knn", "format": 1, "k": 2, "items": [[10, [[20, 0.4], [30, 0.4]]], [20, [[40, 0.4472135954999579], [10, 0.4]]], [30, [[40, 0.8944271909999159], [10, 0.4]]], [40, [[30, 0.8944271909999159], [20, 0.4472135954999579]]]]}';
    alphabet text := '[]{},:"0123456789.-e ';
    t text;
    p integer;
    other text := '';
BEGIN
    PERFORM setseed(0.3);
    FOR i IN 1 .. n LOOP
        t := base;
        FOR j IN 1 .. 1 + floor(random() * 3)::integer LOOP
            p := 1 + floor(random() * length(t))::integer;
            IF random() < 0.5 THEN
                t := overlay(t PLACING '' FROM p FOR 1);
            ELSE
                t := overlay(t PLACING substr(alphabet, 1 + floor(random() * length(alphabet))::integer, 1) FROM p FOR 1);
            END IF;
        END LOOP;
        BEGIN
            PERFORM count(*) FROM retention.recommend(t::retention.item_knn_model, '{10,20}', 3);
        EXCEPTION WHEN OTHERS THEN
            IF left(SQLSTATE, 2) <> '22' THEN
                other := other || SQLSTATE || ' ';
            END IF;
        END;
    END LOOP;
    RETURN other;
END $$;
SELECT is(pg_temp.fuzz_model_input(2000), '', 'mutated JSON models give a model or a class-22 error');

SELECT * FROM finish();
ROLLBACK;
