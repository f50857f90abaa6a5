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
