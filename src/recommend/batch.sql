--------------------------------------------------------------------------
-- Recommendation: batch recommendations and user-user collaborative filtering
--
-- A user-user model is an item_knn model with the roles swapped:
-- retention.item_knn(item_id, user_id, weight, k) gives every user the k
-- users whose item vectors have the highest cosine similarity.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend_all(model @extschema@.item_knn_model, interactions regclass,
    k integer, fallback bigint[] DEFAULT NULL,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (user_id bigint, rank integer, item_id bigint, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT u.uid, x.rank::integer, x.item_id, x.score
          FROM (SELECT t.%1$I::bigint AS uid, pg_catalog.array_agg(t.%2$I::bigint) AS seen
                  FROM %3$s t WHERE t.%1$I IS NOT NULL
                 GROUP BY t.%1$I) u
               CROSS JOIN LATERAL @extschema@.recommend($1, u.seen, $2, $3)
                   WITH ORDINALITY x(item_id, score, rank)
         ORDER BY u.uid, x.rank
    $query$, user_column, item_column, interactions)
    USING model, k, fallback;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_all(@extschema@.item_knn_model, regclass, integer, bigint[], name, name) IS
'batch recommendations: for every user of the interactions table, the k best unseen items (rank 1 first), filled up from fallback when given; for nightly campaign tables';

CREATE FUNCTION @extschema@.recommend_from_similar_users(user_model @extschema@.item_knn_model,
    interactions regclass, user_id bigint, k integer,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (item_id bigint, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH neighbors AS (
            SELECT n.neighbor_id, n.similarity
              FROM @extschema@.item_knn_neighbors($1, $2) n),
        theirs AS (
            SELECT DISTINCT t.%1$I::bigint AS uid, t.%2$I::bigint AS item
              FROM %3$s t JOIN neighbors n ON t.%1$I = n.neighbor_id
             WHERE t.%2$I IS NOT NULL)
        SELECT th.item, pg_catalog.sum(n.similarity ORDER BY n.neighbor_id)
          FROM theirs th JOIN neighbors n ON n.neighbor_id = th.uid
         WHERE NOT EXISTS (SELECT 1 FROM %3$s mine WHERE mine.%1$I = $2 AND mine.%2$I = th.item)
         GROUP BY th.item
         ORDER BY 2 DESC, 1
         LIMIT $3
    $query$, user_column, item_column, interactions)
    USING user_model, user_id, k;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_from_similar_users(@extschema@.item_knn_model, regclass, bigint, integer, name, name) IS
'user-user collaborative filtering: the k items the user has not bought, scored by the sum of the similarities of the similar users (from user_model, an item_knn model built with users and items swapped) who bought them; highest first, ties by item_id';
