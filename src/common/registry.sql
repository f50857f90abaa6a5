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
