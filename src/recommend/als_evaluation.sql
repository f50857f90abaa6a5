--------------------------------------------------------------------------
-- Recommendation: ALS, item-kNN, their blend and popularity on one split
--
-- The protocol of evaluate_item_knn (binary purchases, relevant = test items
-- new to a user of both periods), with ALS and a reciprocal-rank blend of
-- ALS and item-kNN (Cormack, Clarke & Buettcher 2009: score = sum over the
-- two lists of 1 / (60 + rank), over each list's top 50).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.evaluate_recommenders(train regclass, test regclass,
    neighbors integer DEFAULT 20, als_options pg_catalog.jsonb DEFAULT '{}', k integer DEFAULT 10,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (recommender text, users bigint, precision_at_k float8, recall_at_k float8,
               ndcg_at_k float8, map_at_k float8, hit_rate float8, coverage float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF neighbors IS NULL OR neighbors <= 0 THEN
        RAISE EXCEPTION 'neighbors must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('neighbors is %s.', coalesce(neighbors::text, 'null'));
    END IF;
    IF als_options IS NULL THEN
        RAISE EXCEPTION 'als_options must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH tr AS MATERIALIZED (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %3$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        te AS (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %4$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        knn AS MATERIALIZED (SELECT @extschema@.item_knn(tr.u, tr.i, 1.0, $1) AS m FROM tr),
        als AS MATERIALIZED (SELECT @extschema@.als_train(tr.u, tr.i, 1.0, $3) AS m FROM tr),
        popular AS MATERIALIZED (
            SELECT pg_catalog.array_agg(p.i ORDER BY p.n DESC, p.i) AS items
              FROM (SELECT tr.i, pg_catalog.count(*) AS n FROM tr GROUP BY tr.i) p),
        seen AS MATERIALIZED (SELECT tr.u, pg_catalog.array_agg(tr.i ORDER BY tr.i) AS items FROM tr GROUP BY tr.u),
        relevant AS (
            SELECT te.u, pg_catalog.array_agg(te.i ORDER BY te.i) AS items
              FROM te JOIN seen s ON s.u = te.u
             WHERE NOT te.i = ANY (s.items)
             GROUP BY te.u),
        -- each model as one query parameter (an InitPlan), not a CTE row read
        -- back per user: a model larger than work_mem would come from a
        -- temporary file every time, where a parameter stays one value in
        -- memory that recommend() recognises and keeps prepared
        ranked AS MATERIALIZED (
            SELECT r.u, r.items AS relevant, s.items AS seen,
                   ARRAY(SELECT x.item_id
                           FROM @extschema@.recommend((SELECT knn.m FROM knn), s.items, GREATEST($2, 50)) x) AS knn50,
                   ARRAY(SELECT x.item_id
                           FROM @extschema@.recommend((SELECT als.m FROM als), r.u, s.items, GREATEST($2, 50)) x) AS als50
              FROM relevant r JOIN seen s ON s.u = r.u),
        lists AS MATERIALIZED (
            SELECT l.u, l.relevant, l.knn50[1:$2] AS item_knn, l.als50[1:$2] AS als,
                   ARRAY(SELECT b.i FROM (
                             SELECT z.i, pg_catalog.sum(1.0 / (60 + z.rank)) AS s
                               FROM (SELECT a.i, a.rank FROM pg_catalog.unnest(l.knn50) WITH ORDINALITY a(i, rank)
                                     UNION ALL
                                     SELECT a.i, a.rank FROM pg_catalog.unnest(l.als50) WITH ORDINALITY a(i, rank)) z
                              GROUP BY z.i) b
                          ORDER BY b.s DESC, b.i LIMIT $2) AS blend,
                   ARRAY(SELECT x.item_id FROM popular CROSS JOIN LATERAL
                         @extschema@.recommend(NULL::@extschema@.item_knn_model, l.seen, $2, popular.items) x) AS popularity
              FROM ranked l),
        scored AS (
            SELECT v.recommender, l.u, v.list,
                   @extschema@.ranking_metrics(v.list, l.relevant, $2) AS m
              FROM lists l CROSS JOIN LATERAL (VALUES ('als'::text, l.als), ('blend', l.blend),
                                                      ('item_knn', l.item_knn), ('popularity', l.popularity)) v(recommender, list))
        -- averages in user order, so that parallel plans give the same bits
        SELECT s.recommender, pg_catalog.count(*), pg_catalog.avg((s.m).precision_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).recall_at_k ORDER BY s.u), pg_catalog.avg((s.m).ndcg_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).ap_at_k ORDER BY s.u), pg_catalog.avg((s.m).hit_at_k ORDER BY s.u),
               (SELECT pg_catalog.count(DISTINCT x)::float8 FROM scored s2 CROSS JOIN LATERAL pg_catalog.unnest(s2.list) x
                 WHERE s2.recommender = s.recommender)
               / (SELECT pg_catalog.count(DISTINCT tr.i) FROM tr)
          FROM scored s
         GROUP BY s.recommender
         ORDER BY s.recommender
    $query$, user_column, item_column, train, test)
    USING neighbors, k, als_options;
END
$$;

COMMENT ON FUNCTION @extschema@.evaluate_recommenders(regclass, regclass, integer, pg_catalog.jsonb, integer, name, name) IS
'offline evaluation of als (als_train with als_options), item_knn (the given neighbours), their reciprocal-rank blend and popularity on one train/test split, with the protocol and columns of evaluate_item_knn';
