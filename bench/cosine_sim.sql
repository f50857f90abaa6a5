-- bench/cosine_sim.sql: cosine_sim throughput against the same computation
-- in plain SQL (unnest + sum), over 200,000 rows of 128-dimensional vectors
-- compared with one query vector, as a similarity search does.

\echo 'cosine_sim: 200,000 rows x 128 dimensions, one session, no parallel workers'
SET max_parallel_workers_per_gather = 0;
SELECT pg_catalog.setseed(0.42) \gset

CREATE TABLE vectors8 AS
SELECT id, ARRAY(SELECT pg_catalog.random() - 0.5 FROM generate_series(1, 128) WHERE id > 0)::float8[] AS v
  FROM generate_series(1, 200000) id;
CREATE TABLE vectors4 AS SELECT id, v::float4[] AS v FROM vectors8;
VACUUM ANALYZE vectors8, vectors4;

CREATE TEMP TABLE timings AS
SELECT t.type, t.ext_ms, t.plain_ms, t.scan_ms
  FROM (VALUES
    ('float8[]',
     bench.best_ms($q$SELECT sum(retention.cosine_sim(v, q.qv)) FROM vectors8, (SELECT v AS qv FROM vectors8 WHERE id = 1) q$q$),
     bench.best_ms($q$SELECT sum((SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y)) FROM unnest(v, q.qv) u(x, y)))
                        FROM vectors8, (SELECT v AS qv FROM vectors8 WHERE id = 1) q$q$),
     bench.best_ms($q$SELECT sum(array_length(v, 1)) FROM vectors8$q$)),
    ('float4[]',
     bench.best_ms($q$SELECT sum(retention.cosine_sim(v, q.qv)) FROM vectors4, (SELECT v AS qv FROM vectors4 WHERE id = 1) q$q$),
     bench.best_ms($q$SELECT sum((SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y)) FROM unnest(v, q.qv) u(x, y)))
                        FROM vectors4, (SELECT v AS qv FROM vectors4 WHERE id = 1) q$q$),
     bench.best_ms($q$SELECT sum(array_length(v, 1)) FROM vectors4$q$))
  ) AS t(type, ext_ms, plain_ms, scan_ms);

SELECT type,
       round(ext_ms::numeric, 1) AS cosine_sim_ms,
       round(plain_ms::numeric, 1) AS plain_sql_ms,
       round(scan_ms::numeric, 1) AS bare_scan_ms,
       round((plain_ms / ext_ms)::numeric, 1) AS speedup_vs_plain_sql,
       round((ext_ms / scan_ms)::numeric, 2) AS ratio_to_bare_scan,
       round((200000 / ext_ms)::numeric, 0) AS rows_per_ms
  FROM timings ORDER BY type DESC;

-- 1,536-dimensional embeddings (a language model's output), 20,000 rows
CREATE TABLE embeddings AS
SELECT id, ARRAY(SELECT (pg_catalog.random() - 0.5)::float4 FROM generate_series(1, 1536) WHERE id > 0) AS v
  FROM generate_series(1, 20000) id;
VACUUM ANALYZE embeddings;
SELECT '1536-dim float4[]' AS type,
       round(e::numeric, 1) AS cosine_sim_ms,
       round(p::numeric, 1) AS plain_sql_ms,
       round((p / e)::numeric, 1) AS speedup_vs_plain_sql,
       round((20000 / e)::numeric, 0) AS rows_per_ms
  FROM (SELECT bench.best_ms($q$SELECT sum(retention.cosine_sim(v, q.qv)) FROM embeddings, (SELECT v AS qv FROM embeddings WHERE id = 1) q$q$) AS e,
               bench.best_ms($q$SELECT sum((SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y)) FROM unnest(v, q.qv) u(x, y)))
                                  FROM embeddings, (SELECT v AS qv FROM embeddings WHERE id = 1) q$q$) AS p) s;
