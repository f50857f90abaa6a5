--------------------------------------------------------------------------
-- Recommendation: embeddings (content-based)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.embedding_mean_transfn(float8[], float4[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'embedding_mean_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_transfn(float8[], float4[]) IS
'transition function of retention.embedding_mean: {count, sums, rounding errors}';

CREATE FUNCTION @extschema@.embedding_mean_combinefn(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'embedding_mean_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_combinefn(float8[], float8[]) IS
'combine function of retention.embedding_mean: adds two states';

CREATE FUNCTION @extschema@.embedding_mean_finalfn(float8[])
RETURNS float4[]
AS 'MODULE_PATHNAME', 'embedding_mean_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_finalfn(float8[]) IS
'final function of retention.embedding_mean: sums divided by the count';

CREATE AGGREGATE @extschema@.embedding_mean(embedding float4[]) (
    SFUNC = @extschema@.embedding_mean_transfn,
    STYPE = float8[],
    FINALFUNC = @extschema@.embedding_mean_finalfn,
    COMBINEFUNC = @extschema@.embedding_mean_combinefn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.embedding_mean(float4[]) IS
'mean of float4[] embeddings of equal length, summed in double precision (e.g. a user profile from the items bought); NULL embeddings are skipped';

CREATE FUNCTION @extschema@.nearest_by_embedding(query float4[], embeddings regclass, k integer,
    exclude bigint[] DEFAULT '{}',
    id_column name DEFAULT 'item_id', embedding_column name DEFAULT 'embedding')
RETURNS TABLE (item_id bigint, similarity float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF query IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT s.id, s.similarity
          FROM (SELECT e.%1$I::bigint AS id, @extschema@.cosine_sim(e.%2$I, $1) AS similarity
                  FROM %3$s e
                 WHERE e.%2$I IS NOT NULL AND e.%1$I IS NOT NULL
                   AND NOT e.%1$I = ANY (pg_catalog.array_remove($2, NULL))) s
         WHERE s.similarity IS NOT NULL
         ORDER BY s.similarity DESC, s.id
         LIMIT $3
    $query$, id_column, embedding_column, embeddings)
    USING query, coalesce(exclude, '{}'), k;
END
$$;

COMMENT ON FUNCTION @extschema@.nearest_by_embedding(float4[], regclass, integer, bigint[], name, name) IS
'the k items of the embeddings table most similar to query by cosine_sim, highest first, ties by id, skipping excluded ids and zero vectors; content-based recommendations that work for items nobody has bought yet';
