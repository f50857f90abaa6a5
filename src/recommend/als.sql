--------------------------------------------------------------------------
-- Recommendation: implicit-feedback ALS (matrix factorisation)
--
-- retention.als_model holds a factor vector for every user and item of the
-- training data (8 + 4 * factors bytes each).  Its text form is JSON; the
-- casts to and from jsonb store it in retention.models.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.als_model;

CREATE FUNCTION @extschema@.als_model_in(cstring)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_in(cstring) IS
'reads an als_model from its JSON text form, validating it';

CREATE FUNCTION @extschema@.als_model_out(@extschema@.als_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'als_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_out(@extschema@.als_model) IS
'writes an als_model as JSON: {"kind": "als", "format": 1, "factors": f, ..., "users": [[user_id, [factors]], ...], "items": [[item_id, [factors]], ...]}';

-- Stored out of line but uncompressed: factors compress poorly.
CREATE TYPE @extschema@.als_model (
    INPUT = @extschema@.als_model_in,
    OUTPUT = @extschema@.als_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = external
);

COMMENT ON TYPE @extschema@.als_model IS
'implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008): a float4 factor vector per user and per item, trained by retention.als_train';

CREATE FUNCTION @extschema@.als_model(model pg_catalog.jsonb)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model(pg_catalog.jsonb) IS
'reads an als_model from jsonb, e.g. the model column of retention.models';

CREATE CAST (pg_catalog.jsonb AS @extschema@.als_model)
    WITH FUNCTION @extschema@.als_model(pg_catalog.jsonb);

COMMENT ON CAST (pg_catalog.jsonb AS @extschema@.als_model) IS
'reads an als_model from its JSON form';

CREATE CAST (@extschema@.als_model AS pg_catalog.jsonb) WITH INOUT;

COMMENT ON CAST (@extschema@.als_model AS pg_catalog.jsonb) IS
'the JSON form of an als_model, as stored in retention.models';

--------------------------------------------------------------------------
-- Recommendation: training ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8) IS
'transition function of retention.als_train: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb) IS
'transition function of retention.als_train with options: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_combinefn(internal, internal) IS
'combine function of retention.als_train: the union of two partial states';

CREATE FUNCTION @extschema@.als_train_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'als_train_serialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_serialfn(internal) IS
'serialisation function of retention.als_train';

CREATE FUNCTION @extschema@.als_train_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_deserialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_deserialfn(bytea, internal) IS
'deserialisation function of retention.als_train; checks every field of its input';

CREATE FUNCTION @extschema@.als_train_finalfn(internal)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_train_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_finalfn(internal) IS
'final function of retention.als_train: trains the factors';

-- support functions nobody calls by name
REVOKE EXECUTE ON FUNCTION
    @extschema@.als_train_transfn(internal, bigint, bigint, float8),
    @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb),
    @extschema@.als_train_combinefn(internal, internal),
    @extschema@.als_train_serialfn(internal),
    @extschema@.als_train_deserialfn(bytea, internal),
    @extschema@.als_train_finalfn(internal)
FROM PUBLIC;

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8) IS
'implicit-feedback ALS with the default options (32 factors, regularization 0.01, alpha 1, 15 iterations, 3 conjugate-gradient steps, seed 0); weights of a repeated pair add up; rows with a NULL are skipped';

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8, options pg_catalog.jsonb) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8, pg_catalog.jsonb) IS
'implicit-feedback ALS (Hu, Koren & Volinsky 2008, conjugate-gradient updates): options factors, regularization, alpha (confidence 1 + alpha * weight), iterations, cg_steps, seed; deterministic for a seed';

--------------------------------------------------------------------------
-- Recommendation: using ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.als_model, user_id bigint, seen bigint[], k integer)
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_als'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.als_model, bigint, bigint[], integer) IS
'the k items not in seen with the highest x_user . y_item; a user the model does not know (or a NULL user_id) is folded in from the seen items; highest first, ties by item_id; no rows without a known user or a known seen item';

CREATE FUNCTION @extschema@.als_user_vector(model @extschema@.als_model, user_id bigint, seen bigint[] DEFAULT NULL)
RETURNS float4[]
AS 'MODULE_PATHNAME', 'als_user_vector'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_user_vector(@extschema@.als_model, bigint, bigint[]) IS
'a user''s factor vector: the model''s own, or folded in from seen for a user it does not know; NULL when there is neither';

CREATE FUNCTION @extschema@.als_item_factors(model @extschema@.als_model)
RETURNS TABLE (item_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_item_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_item_factors(@extschema@.als_model) IS
'the item factors as rows (item_id, factors float4[]), by item_id; e.g. the embeddings table of nearest_by_embedding';

CREATE FUNCTION @extschema@.als_user_factors(model @extschema@.als_model)
RETURNS TABLE (user_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_user_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_user_factors(@extschema@.als_model) IS
'the user factors as rows (user_id, factors float4[]), by user_id';

CREATE FUNCTION @extschema@.als_model_info(model @extschema@.als_model,
    OUT factors integer, OUT users integer, OUT items integer, OUT regularization float8,
    OUT alpha float8, OUT iterations integer, OUT cg_steps integer, OUT seed bigint, OUT bytes bigint)
AS 'MODULE_PATHNAME', 'als_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_info(@extschema@.als_model) IS
'factors, users, items, training options and size in bytes of an als model';

CREATE FUNCTION @extschema@.recommend_all(model @extschema@.als_model, interactions regclass,
    k integer, user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
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
          FROM (SELECT t.%1$I::bigint AS uid,
                       pg_catalog.array_agg(t.%2$I::bigint) FILTER (WHERE t.%2$I IS NOT NULL) AS seen
                  FROM %3$s t WHERE t.%1$I IS NOT NULL
                 GROUP BY t.%1$I) u
               CROSS JOIN LATERAL @extschema@.recommend($1, u.uid, u.seen, $2)
                   WITH ORDINALITY x(item_id, score, rank)
         ORDER BY u.uid, x.rank
    $query$, user_column, item_column, interactions)
    USING model, k;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_all(@extschema@.als_model, regclass, integer, name, name) IS
'batch recommendations from an ALS model: for every user of the interactions table, the k best items they have not interacted with (rank 1 first); users the model does not know are folded in from their items';

--------------------------------------------------------------------------
-- Recommendation: ALS models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_save(name text, model @extschema@.als_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
    SELECT @extschema@.save_model_of_kind($1, 'als', $2::pg_catalog.jsonb, $3, $4)
$$;

COMMENT ON FUNCTION @extschema@.als_save(text, @extschema@.als_model, text, pg_catalog.jsonb) IS
'stores an als model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.als_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.als_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.load_model($1, 'als', $2)::@extschema@.als_model
$$;

COMMENT ON FUNCTION @extschema@.als_load(text, integer) IS
'the als model stored under name in retention.models: its latest trusted version (written by a member of the name''s owner), or the given version if trusted; parses JSON, so call it once per query';
