--------------------------------------------------------------------------
-- Recommendation: offline evaluation
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.ranking_metrics(recommended bigint[], relevant bigint[], k integer,
    OUT precision_at_k float8, OUT recall_at_k float8, OUT ndcg_at_k float8,
    OUT ap_at_k float8, OUT hit_at_k float8)
AS 'MODULE_PATHNAME', 'ranking_metrics'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.ranking_metrics(bigint[], bigint[], integer) IS
'precision@k, recall@k, NDCG@k, average precision@k and hit@k of one user''s ranked list against the set of relevant items (binary relevance); average them over users with avg(); NULLs when nothing is relevant';

--------------------------------------------------------------------------
-- Recommendation: cold start, popularity and evaluation on a train/test split
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.item_knn_model, seen bigint[], k integer, fallback bigint[])
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_item_knn_fallback'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.item_knn_model, bigint[], integer, bigint[]) IS
'recommend(model, seen, k), then, while fewer than k rows, the fallback items (e.g. best-sellers) in their order with score 0, skipping seen and listed ones; a NULL model or seen list means no history (cold start)';

CREATE FUNCTION @extschema@.evaluate_item_knn(train regclass, test regclass,
    neighbors integer DEFAULT 20, k integer DEFAULT 10,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (recommender text, users bigint, precision_at_k float8, recall_at_k float8,
               ndcg_at_k float8, map_at_k float8, hit_rate float8, coverage float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF neighbors IS NULL OR neighbors <= 0 THEN
        RAISE EXCEPTION 'neighbors must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('neighbors is %s.', coalesce(neighbors::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH tr AS MATERIALIZED (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %3$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        te AS (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %4$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        model AS MATERIALIZED (SELECT @extschema@.item_knn(tr.u, tr.i, 1.0, $1) AS m FROM tr),
        popular AS MATERIALIZED (
            SELECT pg_catalog.array_agg(p.i ORDER BY p.n DESC, p.i) AS items
              FROM (SELECT tr.i, pg_catalog.count(*) AS n FROM tr GROUP BY tr.i) p),
        seen AS MATERIALIZED (SELECT tr.u, pg_catalog.array_agg(tr.i ORDER BY tr.i) AS items FROM tr GROUP BY tr.u),
        relevant AS (
            SELECT te.u, pg_catalog.array_agg(te.i ORDER BY te.i) AS items
              FROM te JOIN seen s ON s.u = te.u
             WHERE NOT te.i = ANY (s.items)
             GROUP BY te.u),
        lists AS MATERIALIZED (
            SELECT r.u, r.items AS relevant,
                   ARRAY(SELECT x.item_id FROM model CROSS JOIN LATERAL
                         @extschema@.recommend(model.m, s.items, $2) x) AS item_knn,
                   ARRAY(SELECT x.item_id FROM popular CROSS JOIN LATERAL
                         @extschema@.recommend(NULL::@extschema@.item_knn_model, s.items, $2, popular.items) x) AS popularity
              FROM relevant r JOIN seen s ON s.u = r.u),
        scored AS (
            SELECT 'item_knn'::text AS recommender, l.u,
                   @extschema@.ranking_metrics(l.item_knn, l.relevant, $2) AS m FROM lists l
            UNION ALL
            SELECT 'popularity', l.u, @extschema@.ranking_metrics(l.popularity, l.relevant, $2) FROM lists l)
        -- averages in user order, so that parallel plans give the same bits
        SELECT s.recommender, pg_catalog.count(*), pg_catalog.avg((s.m).precision_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).recall_at_k ORDER BY s.u), pg_catalog.avg((s.m).ndcg_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).ap_at_k ORDER BY s.u), pg_catalog.avg((s.m).hit_at_k ORDER BY s.u),
               (SELECT pg_catalog.count(DISTINCT x)::float8 FROM lists l CROSS JOIN LATERAL
                       pg_catalog.unnest(CASE s.recommender WHEN 'item_knn' THEN l.item_knn ELSE l.popularity END) x)
               / (SELECT pg_catalog.count(DISTINCT tr.i) FROM tr)
          FROM scored s
         GROUP BY s.recommender
         ORDER BY s.recommender
    $query$, user_column, item_column, train, test)
    USING neighbors, k;
END
$$;

COMMENT ON FUNCTION @extschema@.evaluate_item_knn(regclass, regclass, integer, integer, name, name) IS
'offline evaluation: trains item_knn (binary purchases, the given number of neighbours) on train, recommends k unseen items to every user of both tables, counts as relevant the test items new to the user, and reports precision@k, recall@k, NDCG@k, MAP@k, hit rate and catalogue coverage averaged per user, with the popularity baseline computed the same way';
