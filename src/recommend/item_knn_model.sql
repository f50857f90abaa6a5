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
