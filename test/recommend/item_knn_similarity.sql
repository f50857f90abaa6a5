-- pgTAP: item_knn(..., similarity) with Pearson correlation and adjusted
-- cosine, for item-item and (columns swapped) user-user neighbours, against
-- a direct dense numpy computation (test/recommend/fixtures/
-- similarity_reference.py and the similarities it printed).
BEGIN;
SELECT plan(16);
SET LOCAL client_min_messages = warning;

CREATE TEMP TABLE pairs (user_id bigint, item_id bigint, weight float8);
\copy pairs FROM 'test/recommend/fixtures/similarity_pairs.csv' WITH (FORMAT csv)
CREATE TEMP TABLE ref (kind text, a bigint, b bigint, similarity float8);
\copy ref FROM 'test/recommend/fixtures/similarity_reference.csv' WITH (FORMAT csv)

SELECT has_function('retention', 'item_knn', ARRAY['bigint', 'bigint', 'double precision', 'integer', 'text']);

-- k = 1000 keeps every positive similarity, so ties cannot decide the set
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE got AS
SELECT 'pearson' AS kind, n.* FROM (SELECT retention.item_knn(user_id, item_id, weight, 1000, 'pearson') m FROM pairs) s,
       retention.item_knn_neighbors(s.m) n
UNION ALL
SELECT 'adjusted_cosine', n.* FROM (SELECT retention.item_knn(user_id, item_id, weight, 1000, 'adjusted_cosine') m FROM pairs) s,
       retention.item_knn_neighbors(s.m) n
UNION ALL
SELECT 'pearson_users', n.* FROM (SELECT retention.item_knn(item_id, user_id, weight, 1000, 'pearson') m FROM pairs) s,
       retention.item_knn_neighbors(s.m) n
UNION ALL
SELECT 'adjusted_cosine_users', n.* FROM (SELECT retention.item_knn(item_id, user_id, weight, 1000, 'adjusted_cosine') m FROM pairs) s,
       retention.item_knn_neighbors(s.m) n;

SELECT is((SELECT count(*)::int FROM got g FULL JOIN ref r ON r.kind = g.kind AND r.a = g.item_id AND r.b = g.neighbor_id
            WHERE (g.kind = v.kind OR r.kind = v.kind) AND (g.kind IS NULL OR r.kind IS NULL)),
          0, v.kind || ': the same neighbour pairs as numpy (similarities above 1e-12)')
  FROM (VALUES ('pearson'), ('adjusted_cosine'), ('pearson_users'), ('adjusted_cosine_users')) v(kind);
SELECT is((SELECT count(*)::int FROM got g JOIN ref r ON r.kind = g.kind AND r.a = g.item_id AND r.b = g.neighbor_id
            WHERE g.kind = v.kind AND abs(g.similarity - r.similarity) <= 1e-12),
          (SELECT count(*)::int FROM ref r WHERE r.kind = v.kind),
          v.kind || ': similarities equal numpy''s to 1e-12')
  FROM (VALUES ('pearson'), ('adjusted_cosine'), ('pearson_users'), ('adjusted_cosine_users')) v(kind);
SELECT ok((SELECT count(*) FROM ref WHERE kind = 'pearson') > 50 AND (SELECT count(*) FROM ref WHERE kind = 'adjusted_cosine') > 50,
          'the reference is not trivially small');

-- the default and 'cosine' are the same model
SELECT is((SELECT retention.item_knn(user_id, item_id, weight, 5, 'cosine')::text FROM pairs),
          (SELECT retention.item_knn(user_id, item_id, weight, 5)::text FROM pairs), 'cosine is the default');
-- top k: the k best of the full lists, ties by neighbour id
SELECT is((SELECT count(*)::int FROM (SELECT retention.item_knn(user_id, item_id, weight, 3, 'pearson') m FROM pairs) s,
                  retention.item_knn_neighbors(s.m) n
             JOIN (SELECT g.*, row_number() OVER (PARTITION BY g.item_id ORDER BY g.similarity DESC, g.neighbor_id) AS rank
                     FROM got g WHERE g.kind = 'pearson') e
               ON e.item_id = n.item_id AND e.neighbor_id = n.neighbor_id AND e.rank <= 3),
          (SELECT count(*)::int FROM (SELECT item_id, least(3, count(*)) c FROM got WHERE kind = 'pearson' GROUP BY item_id) s,
                  generate_series(1, s.c)),
          'k = 3 keeps the 3 most correlated neighbours of every item');

-- parallel plans give the same model
CREATE TEMP TABLE big AS
SELECT g % 499 AS user_id, (g * 31) % 97 AS item_id, (g % 5)::float8 AS weight FROM generate_series(1, 50000) g;
ANALYZE big;
CREATE TEMP TABLE serial AS
SELECT retention.item_knn(user_id, item_id, weight, 10, 'pearson')::text AS p,
       retention.item_knn(user_id, item_id, weight, 10, 'adjusted_cosine')::text AS a FROM big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT (retention.item_knn(user_id, item_id, weight, 10, 'pearson')::text,
                   retention.item_knn(user_id, item_id, weight, 10, 'adjusted_cosine')::text) FROM big),
          (SELECT (p, a) FROM serial), 'parallel workers give the same Pearson and adjusted-cosine models');
RESET max_parallel_workers_per_gather;

SELECT throws_ok($$SELECT retention.item_knn(user_id, item_id, weight, 5, 'spearman') FROM pairs$$, '22023', NULL,
                 'an unknown similarity is refused');
SELECT throws_ok($$SELECT retention.item_knn(user_id, item_id, weight, 5, NULL) FROM pairs$$, '22004', NULL,
                 'a NULL similarity is refused');
SELECT throws_ok($$SELECT retention.item_knn(user_id, item_id, weight, 5, CASE WHEN user_id % 2 = 0 THEN 'pearson' ELSE 'cosine' END) FROM pairs$$,
                 '22023', NULL, 'a similarity that changes between rows is refused');

SELECT * FROM finish();
ROLLBACK;
