/* retention--0.1.0.sql: install script for the retention extension */

\echo Use "CREATE EXTENSION retention" to load this file. \quit

--------------------------------------------------------------------------
-- Similarity
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cosine_sim(a float8[], b float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float8'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float8[], float8[]) IS
'cosine similarity of two float8 vectors of equal length, in [-1, 1]; NULL when either is a zero vector';

CREATE FUNCTION @extschema@.cosine_sim(a float4[], b float4[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float4'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float4[], float4[]) IS
'cosine similarity of two float4 vectors (embeddings) of equal length, computed in double precision, in [-1, 1]; NULL when either is a zero vector';

--------------------------------------------------------------------------
-- Model registry
--
-- Every trained model (churn, item-kNN, customer-base) is kept here as the
-- JSON text form of its type, one row per version.  JSON survives dumps and
-- future changes of the binary formats; readers convert a version once per
-- query, e.g. (SELECT model::text::retention.logreg_model ...).
--------------------------------------------------------------------------

CREATE TABLE @extschema@.models (
    name            text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    kind            text        NOT NULL,
    model           jsonb       NOT NULL,
    metrics         jsonb,
    feature_names   text[],
    training_source text,
    trained_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trained_by      name        NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (name, version)
);

COMMENT ON TABLE @extschema@.models IS
'versioned models: one row per (name, version), the model as the JSON text form of its type';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');

--------------------------------------------------------------------------
-- Recommendation: the item-kNN model type
--
-- retention.item_knn_model holds, for every item, its k most similar items
-- in compressed sparse row form (12 bytes per item and per neighbour).  Its
-- text form is JSON; the casts to and from jsonb store it in
-- retention.models.  Parsing JSON costs about a microsecond per neighbour,
-- so applications keep the binary value: a table column of this type, or
-- one retention.item_knn_load() per query.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.item_knn_model;

CREATE FUNCTION @extschema@.item_knn_model_in(cstring)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_in(cstring) IS
'reads an item_knn_model from its JSON text form, validating it';

CREATE FUNCTION @extschema@.item_knn_model_out(@extschema@.item_knn_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'item_knn_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_out(@extschema@.item_knn_model) IS
'writes an item_knn_model as JSON: {"kind": "item_knn", "format": 1, "k": k, "items": [[item_id, [[neighbor_id, similarity], ...]], ...]}';

-- Stored out of line but uncompressed: similarities compress poorly, and
-- decompressing on every read would cost more than it saves.
CREATE TYPE @extschema@.item_knn_model (
    INPUT = @extschema@.item_knn_model_in,
    OUTPUT = @extschema@.item_knn_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = external
);

COMMENT ON TYPE @extschema@.item_knn_model IS
'item-item collaborative filtering model: the k most similar items of every item, built by retention.item_knn';

CREATE FUNCTION @extschema@.item_knn_model(model pg_catalog.jsonb)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model(pg_catalog.jsonb) IS
'reads an item_knn_model from jsonb, e.g. the model column of retention.models';

CREATE CAST (pg_catalog.jsonb AS @extschema@.item_knn_model)
    WITH FUNCTION @extschema@.item_knn_model(pg_catalog.jsonb);

COMMENT ON CAST (pg_catalog.jsonb AS @extschema@.item_knn_model) IS
'reads an item_knn_model from its JSON form';

CREATE CAST (@extschema@.item_knn_model AS pg_catalog.jsonb) WITH INOUT;

COMMENT ON CAST (@extschema@.item_knn_model AS pg_catalog.jsonb) IS
'the JSON form of an item_knn_model, as stored in retention.models';

--------------------------------------------------------------------------
-- Recommendation: building item-kNN models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer) IS
'transition function of retention.item_knn: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.item_knn_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_combinefn(internal, internal) IS
'combine function of retention.item_knn: the union of two partial states';

CREATE FUNCTION @extschema@.item_knn_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'item_knn_serialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_serialfn(internal) IS
'serialisation function of retention.item_knn';

CREATE FUNCTION @extschema@.item_knn_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_deserialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_deserialfn(bytea, internal) IS
'deserialisation function of retention.item_knn; checks the length of its input';

CREATE FUNCTION @extschema@.item_knn_finalfn(internal)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_finalfn(internal) IS
'final function of retention.item_knn: computes the top-k cosine neighbours of every item';

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    SERIALFUNC = @extschema@.item_knn_serialfn,
    DESERIALFUNC = @extschema@.item_knn_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer) IS
'item-kNN model: for every item its k most similar items by cosine similarity of their user vectors; weights of a repeated (user, item) pair add up; rows with a NULL user, item or weight are skipped';

--------------------------------------------------------------------------
-- Recommendation: using item-kNN models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.item_knn_model, seen bigint[], k integer)
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_item_knn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.item_knn_model, bigint[], integer) IS
'the k best items not in seen, scored by the sum of the similarities between each seen item and its neighbours; highest first, ties by item_id';

CREATE FUNCTION @extschema@.item_knn_neighbors(model @extschema@.item_knn_model)
RETURNS TABLE (item_id bigint, neighbor_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'item_knn_neighbors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.item_knn_neighbors(@extschema@.item_knn_model) IS
'the model as rows (item_id, neighbor_id, similarity), by item_id, then similarity descending, then neighbor_id';

CREATE FUNCTION @extschema@.item_knn_neighbors(model @extschema@.item_knn_model, item_id bigint)
RETURNS TABLE (item_id bigint, neighbor_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'item_knn_neighbors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.item_knn_neighbors(@extschema@.item_knn_model, bigint) IS
'the neighbours of one item as rows (item_id, neighbor_id, similarity), most similar first; no rows for an unknown item';

CREATE FUNCTION @extschema@.item_knn_model_info(model @extschema@.item_knn_model,
    OUT k integer, OUT items integer, OUT neighbors bigint, OUT bytes bigint)
AS 'MODULE_PATHNAME', 'item_knn_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_info(@extschema@.item_knn_model) IS
'k, number of items, total number of neighbours and size in bytes of an item_knn model';

--------------------------------------------------------------------------
-- Recommendation: item-kNN models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_save(name text, model @extschema@.item_knn_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
    new_version integer;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models m
     WHERE m.name = item_knn_save.name AND m.kind <> 'item_knn' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an item_knn model', name, other_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, training_source)
    SELECT item_knn_save.name, COALESCE(max(m.version), 0) + 1, 'item_knn',
           item_knn_save.model::pg_catalog.jsonb, item_knn_save.metrics,
           item_knn_save.training_source
      FROM @extschema@.models m WHERE m.name = item_knn_save.name
    RETURNING version INTO new_version;
    RETURN new_version;
END
$$;

COMMENT ON FUNCTION @extschema@.item_knn_save(text, @extschema@.item_knn_model, text, pg_catalog.jsonb) IS
'stores an item_knn model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.item_knn_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.item_knn_model
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result @extschema@.item_knn_model;
BEGIN
    SELECT m.model::@extschema@.item_knn_model INTO result
      FROM @extschema@.models m
     WHERE m.name = item_knn_load.name AND m.kind = 'item_knn'
       AND (item_knn_load.version IS NULL OR m.version = item_knn_load.version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item_knn model "%"%does not exist', name,
            CASE WHEN version IS NULL THEN ' ' ELSE ' version ' || version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.item_knn_load(text, integer) IS
'the item_knn model stored under name in retention.models, its latest version unless version is given; parses JSON, so call it once per query';

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
