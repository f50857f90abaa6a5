--------------------------------------------------------------------------
-- Recommendation: item-kNN models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_save(name text, model @extschema@.item_knn_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
    SELECT @extschema@.save_model_of_kind($1, 'item_knn', $2::pg_catalog.jsonb, $3, $4)
$$;

COMMENT ON FUNCTION @extschema@.item_knn_save(text, @extschema@.item_knn_model, text, pg_catalog.jsonb) IS
'stores an item_knn model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.item_knn_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.item_knn_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.load_model($1, 'item_knn', $2)::@extschema@.item_knn_model
$$;

COMMENT ON FUNCTION @extschema@.item_knn_load(text, integer) IS
'the item_knn model stored under name in retention.models: its latest trusted version (written by a member of the name''s owner), or the given version if trusted; parses JSON, so call it once per query';
