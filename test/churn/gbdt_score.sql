-- pgTAP: scoring with a retention.gbdt_model (churn_prob, churn_logit), as
-- gbdt_score.c computes it (leaves found feature by feature, trees of more
-- than 64 leaves walked) and as gbdt_model.c caches it per call site.
--
-- The reference is an independent walk of the model's JSON form in SQL
-- (the recursive query "walk" below): from each tree's root, x <= threshold
-- goes left, a NULL or NaN feature goes where default_left says, until a
-- leaf; the raw score is base_score plus the leaves' values.  A boosted
-- model's churn_logit is that raw score, a forest's churn_prob is it,
-- clamped to [0, 1].  Summed in SQL's order, hence the 1e-12 tolerance.
BEGIN;
SELECT plan(9);
SET client_min_messages = warning;
SET jit = off;

-- three features with missing values on both sides of the splits
CREATE TEMP TABLE train AS
SELECT i, (i % 7 < 3) <> (i % 5 = 0) AS y,
       ARRAY[CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 97)::float8 END,
             sin(i)::float8,
             CASE WHEN i % 13 = 0 THEN 'NaN' ELSE ((i * 7) % 31)::float8 END] AS f
  FROM generate_series(1, 3000) i;

-- rows to score: a share of the training rows, every threshold of the first
-- three trees of each model exactly (ties go left), just above it, the infinities, NULL and NaN
CREATE TEMP TABLE models AS
SELECT 'boosting' AS kind, retention.gbdt_train(y, f, '{"max_iter": 30}') AS m FROM train
UNION ALL
SELECT 'forest', retention.gbdt_train(y, f, '{"model": "random_forest", "max_iter": 10, "max_leaf_nodes": 80, "seed": 3}') FROM train;
-- boosted trees with two of the forest's deep trees between them (the same
-- rows, so the same bins): both ways of scoring, added in tree order
INSERT INTO models
SELECT 'mixed', jsonb_set(b.m::jsonb, '{trees}',
                          jsonb_path_query_array(b.m::jsonb, '$.trees[0 to 4]') ||
                          jsonb_path_query_array(f.m::jsonb, '$.trees[0 to 1]') ||
                          jsonb_path_query_array(b.m::jsonb, '$.trees[5 to 9]'))::retention.gbdt_model
  FROM models b, models f WHERE b.kind = 'boosting' AND f.kind = 'forest';

SELECT ok((SELECT bool_or(leaves > 64) AND bool_or(leaves <= 64)
             FROM (SELECT jsonb_array_length(jsonb_path_query_array(tree, '$.feature[*] ? (@ < 0)')) AS leaves
                     FROM models, jsonb_array_elements(m::jsonb -> 'trees') tree WHERE kind = 'mixed') t),
          'the mixed model has trees of at most and of more than 64 leaves');
SELECT ok((SELECT bool_and(leaves > 64)
             FROM (SELECT jsonb_array_length(jsonb_path_query_array(tree, '$.feature[*] ? (@ < 0)')) AS leaves
                     FROM models, jsonb_array_elements(m::jsonb -> 'trees') tree WHERE kind = 'forest') t),
          'the forest''s trees all have more than 64 leaves (they are walked)');

CREATE TEMP TABLE probe0 AS
SELECT f FROM train WHERE i % 20 = 0
UNION ALL
SELECT CASE j WHEN 1 THEN ARRAY[v, 0.5, 3] WHEN 2 THEN ARRAY[10, v, 3] ELSE ARRAY[10, 0.5, v] END
  FROM (SELECT DISTINCT (tree -> 'feature' ->> n)::int + 1 AS j, (tree -> 'threshold' ->> n)::float8 AS t
          FROM models, jsonb_array_elements(jsonb_path_query_array(m::jsonb, '$.trees[0 to 2]')) tree,
               generate_series(0, jsonb_array_length(tree -> 'feature') - 1) n
         WHERE (tree -> 'feature' ->> n)::int >= 0) s,
       LATERAL (VALUES (t), (CASE WHEN abs(t) < 1e300 THEN t + abs(t) * 1e-15 + 1e-300 ELSE 'Infinity' END)) v(v)
UNION ALL
SELECT ARRAY[a, b, c]
  FROM (VALUES ('Infinity'::float8), ('-Infinity'), (NULL), ('NaN'), (1.7976931348623157e308)) a(a),
       (VALUES ('Infinity'::float8), ('-Infinity'), (NULL), (0.25)) b(b),
       (VALUES ('Infinity'::float8), (NULL), ('NaN'), (4)) c(c);

CREATE TEMP TABLE probe AS SELECT row_number() OVER () AS id, f FROM probe0;

CREATE TEMP TABLE nodes AS
SELECT kind, t, n, (tree -> 'feature' ->> n)::int AS feature, (tree -> 'threshold' ->> n)::float8 AS threshold,
       (tree -> 'left' ->> n)::int AS lft, (tree -> 'right' ->> n)::int AS rgt,
       (tree -> 'default_left' ->> n)::boolean AS default_left, (tree -> 'value' ->> n)::float8 AS value
  FROM models, jsonb_array_elements(m::jsonb -> 'trees') WITH ORDINALITY a(tree, t),
       generate_series(0, jsonb_array_length(tree -> 'feature') - 1) n;

CREATE TEMP TABLE trees AS
SELECT kind, t, array_agg(feature ORDER BY n) AS feature, array_agg(coalesce(threshold, 0) ORDER BY n) AS threshold,
       array_agg(lft ORDER BY n) AS lft, array_agg(rgt ORDER BY n) AS rgt,
       array_agg(default_left ORDER BY n) AS default_left, array_agg(value ORDER BY n) AS value
  FROM nodes GROUP BY kind, t;

CREATE FUNCTION pg_temp.walk(feature int[], threshold float8[], lft int[], rgt int[], default_left boolean[],
                             value float8[], x float8[]) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    i int := 1;             -- 1-based position of node i - 1
    v float8;
    go_left boolean;
BEGIN
    WHILE feature[i] >= 0 LOOP
        v := x[feature[i] + 1];
        IF v IS NULL OR v = 'NaN' THEN
            go_left := default_left[i];
        ELSE
            go_left := v <= threshold[i];
        END IF;
        IF go_left THEN
            i := lft[i] + 1;
        ELSE
            i := rgt[i] + 1;
        END IF;
    END LOOP;
    RETURN value[i];
END $$;

CREATE TEMP TABLE walked AS
SELECT k.kind, p.id,
       k.base_score + (SELECT sum(pg_temp.walk(tr.feature, tr.threshold, tr.lft, tr.rgt, tr.default_left, tr.value, p.f))
                         FROM trees tr WHERE tr.kind = k.kind) AS raw
  FROM (SELECT kind, (m::jsonb ->> 'base_score')::float8 AS base_score FROM models) k, probe p;

-- one model per query: rows alternating between models rebuild the cache
SELECT is((SELECT count(*) FROM walked w JOIN probe p USING (id), (SELECT m FROM models WHERE kind = 'boosting') m
            WHERE w.kind = 'boosting' AND abs(retention.churn_logit(m.m, p.f) - w.raw) <= 1e-12),
          (SELECT count(*) FROM probe),
          'boosted trees: churn_logit is the walked raw score on every probe row, thresholds and infinities included');
SELECT is((SELECT count(*) FROM walked w JOIN probe p USING (id), (SELECT m FROM models WHERE kind = 'mixed') m
            WHERE w.kind = 'mixed' AND abs(retention.churn_logit(m.m, p.f) - w.raw) <= 1e-12),
          (SELECT count(*) FROM probe),
          'boosted and walked trees mixed: churn_logit is the walked raw score on every probe row');
SELECT is((SELECT count(*) FROM walked w JOIN probe p USING (id), (SELECT m FROM models WHERE kind = 'forest') m
            WHERE w.kind = 'forest' AND abs(retention.churn_prob(m.m, p.f) - least(1, greatest(0, w.raw))) <= 1e-12),
          (SELECT count(*) FROM probe),
          'forest: churn_prob is the walked mean of the trees on every probe row');

-- ---------------------------------------------------------------------------
-- The per-call-site cache must not mix models up.  Rows alternate between
-- models within one query (one call site): the values must be those of each
-- model scored on its own.  Two small models of the same size (recognised by
-- size and checksum), and the same two stored out of line, uncompressed
-- (recognised by their toast pointers).
CREATE TEMP TABLE pair AS
SELECT 1 AS id, retention.gbdt_train(y, f, '{"max_iter": 3, "max_leaf_nodes": 4, "min_samples_leaf": 100}') AS m
  FROM train;
-- the second: another value of one leaf, so the same size to the byte
INSERT INTO pair SELECT 2, jsonb_set(m::jsonb, '{trees,0,value,1}', '0.5')::retention.gbdt_model FROM pair;
SELECT is((SELECT count(DISTINCT pg_column_size(m)) FROM pair), 1::bigint, 'the two small models have the same size');
SELECT isnt((SELECT m::text FROM pair WHERE id = 1), (SELECT m::text FROM pair WHERE id = 2), 'but they differ');

CREATE TEMP TABLE pair_toasted (id int, m retention.gbdt_model);
ALTER TABLE pair_toasted ALTER COLUMN m SET STORAGE EXTERNAL;
INSERT INTO pair_toasted SELECT 1, m FROM models WHERE kind = 'boosting';
INSERT INTO pair_toasted SELECT 2, m FROM models WHERE kind = 'mixed';
SELECT cmp_ok((SELECT min(pg_column_size(m)) FROM pair_toasted), '>', 2048, 'the large models are stored out of line');

CREATE TEMP TABLE alone AS
SELECT 'small' AS what, i, (SELECT retention.churn_logit(m, t.f) FROM pair WHERE id = 1) AS l1,
       (SELECT retention.churn_logit(m, t.f) FROM pair WHERE id = 2) AS l2 FROM train t
UNION ALL
SELECT 'toasted', i, (SELECT retention.churn_logit(m, t.f) FROM pair_toasted WHERE id = 1),
       (SELECT retention.churn_logit(m, t.f) FROM pair_toasted WHERE id = 2) FROM train t;

SELECT is((SELECT count(*)
             FROM (SELECT 'small' AS what, t.i, p.id, retention.churn_logit(p.m, t.f) AS l
                     FROM train t JOIN pair p ON p.id = 1 + (t.i / (1 + t.i % 3)) % 2
                   UNION ALL
                   SELECT 'toasted', t.i, p.id, retention.churn_logit(p.m, t.f)
                     FROM train t JOIN pair_toasted p ON p.id = 1 + (t.i / (1 + t.i % 3)) % 2) s
             JOIN alone a USING (what, i)
            WHERE s.l IS DISTINCT FROM CASE s.id WHEN 1 THEN a.l1 ELSE a.l2 END), 0::bigint,
          'two models interleaved in one query score each row as each model alone, in memory and toasted');
SELECT * FROM finish();
ROLLBACK;
