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
