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
    RETURN @extschema@.save_model(item_knn_save.name, 'item_knn', item_knn_save.model::pg_catalog.jsonb,
                                  item_knn_save.metrics, item_knn_save.training_source);
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
       AND @extschema@.model_trusted(m.name, m.trained_by)
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
