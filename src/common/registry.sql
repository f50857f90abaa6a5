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
-- Model ownership
--
-- Every model name belongs to one role, the one that saved its first
-- version (or a role it names that it is a member of).  Only members of the
-- owner add, change or delete versions; trained_by must be the role that
-- wrote the row.  Row-level security on retention.models and
-- retention.model_owners enforces it for direct INSERTs too, and readers
-- (churn_model, churn_gbdt_model, churn_scores, item_knn_load, als_load,
-- the loop) use only trusted versions: written by a member of the name's
-- owner.
--------------------------------------------------------------------------

CREATE TABLE @extschema@.model_owners (
    name       text        PRIMARY KEY,
    owner      name        NOT NULL DEFAULT CURRENT_USER,
    claimed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.model_owners IS
'the role owning each model name of retention.models: only its members add versions';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_owners', '');

-- who owns a name is no secret, and every reader of models checks it; a
-- role may claim a name only for itself (or a role it belongs to) and only
-- if it may write models (the policy below)
GRANT SELECT, INSERT ON @extschema@.model_owners TO PUBLIC;

CREATE FUNCTION @extschema@.role_is_member(member name, owner name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- false, not an error, when either role no longer exists
    SELECT COALESCE((SELECT pg_catalog.pg_has_role(m.oid, o.oid, 'MEMBER')
                       FROM pg_catalog.pg_roles AS m, pg_catalog.pg_roles AS o
                      WHERE m.rolname OPERATOR(pg_catalog.=) member
                        AND o.rolname OPERATOR(pg_catalog.=) owner), false)
$$;

COMMENT ON FUNCTION @extschema@.role_is_member(name, name) IS
'whether role member is owner or a member of it (false when either role does not exist)';

CREATE FUNCTION @extschema@.model_trusted(model_name text, trained_by name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT COALESCE((SELECT @extschema@.role_is_member(trained_by, o.owner)
                       FROM @extschema@.model_owners AS o
                      WHERE o.name OPERATOR(pg_catalog.=) model_name), false)
$$;

COMMENT ON FUNCTION @extschema@.model_trusted(text, name) IS
'whether a version of model_name written by trained_by is trusted: model_name has an owner and trained_by is a member of it';

CREATE FUNCTION @extschema@.trusted_model(model_name text, model_kind text, model_version integer DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m.model
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) model_kind
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC
     LIMIT 1
$$;

COMMENT ON FUNCTION @extschema@.trusted_model(text, text, integer) IS
'the JSON of a stored model of the given kind: the latest trusted version of model_name, or the given version if it is trusted; NULL when there is none. Every typed reader goes through it';

CREATE FUNCTION @extschema@.load_model(model_name text, model_kind text, model_version integer)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stored pg_catalog.jsonb := @extschema@.trusted_model(model_name, model_kind, model_version);
BEGIN
    IF stored IS NULL THEN
        RAISE EXCEPTION '% model "%"%does not exist', model_kind, model_name,
            CASE WHEN model_version IS NULL THEN ' ' ELSE ' version ' || model_version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN stored;
END
$$;

COMMENT ON FUNCTION @extschema@.load_model(text, text, integer) IS
'trusted_model, or error 42704 when there is no such trusted version: the loaders of the recommendation models';

CREATE FUNCTION @extschema@.save_model_of_kind(model_name text, model_kind text, model pg_catalog.jsonb,
                                               training_source text, metrics pg_catalog.jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
BEGIN
    IF model_name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models AS m
     WHERE m.name = model_name AND m.kind <> model_kind LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an % model', model_name, other_kind, model_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    RETURN @extschema@.save_model(model_name, model_kind, model, metrics, training_source);
END
$$;

COMMENT ON FUNCTION @extschema@.save_model_of_kind(text, text, pg_catalog.jsonb, text, pg_catalog.jsonb) IS
'save_model for a name that holds models of one kind only (42809 otherwise): the savers of the recommendation models';

CREATE FUNCTION @extschema@.claim_model(model_name text)
RETURNS name
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_owner name;
BEGIN
    IF model_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'model name must not be NULL';
    END IF;
    INSERT INTO @extschema@.model_owners (name, owner) VALUES (model_name, CURRENT_USER)
    ON CONFLICT (name) DO NOTHING;
    SELECT o.owner INTO current_owner FROM @extschema@.model_owners AS o WHERE o.name = model_name;
    IF NOT @extschema@.role_is_member(CURRENT_USER, current_owner) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format('permission denied to add a version to model "%s"', model_name),
            DETAIL = pg_catalog.format('Model "%s" belongs to role "%s", and role "%s" is not a member of it.',
                                       model_name, current_owner, CURRENT_USER),
            HINT = 'Choose another model name, or ask the owner to grant you membership in its role.';
    END IF;
    RETURN current_owner;
END
$$;

COMMENT ON FUNCTION @extschema@.claim_model(text) IS
'makes the current role the owner of model_name if it has none, and raises 42501 unless the current role is a member of its owner; returns the owner';

ALTER TABLE @extschema@.model_owners ENABLE ROW LEVEL SECURITY;
CREATE POLICY model_owners_read ON @extschema@.model_owners FOR SELECT USING (true);
CREATE POLICY model_owners_claim ON @extschema@.model_owners FOR INSERT
    WITH CHECK (@extschema@.role_is_member(CURRENT_USER, owner)
                AND pg_catalog.has_table_privilege('@extschema@.models', 'INSERT'));
CREATE POLICY model_owners_change ON @extschema@.model_owners FOR UPDATE
    USING (@extschema@.role_is_member(CURRENT_USER, owner))
    WITH CHECK (@extschema@.role_is_member(CURRENT_USER, owner));
CREATE POLICY model_owners_release ON @extschema@.model_owners FOR DELETE
    USING (@extschema@.role_is_member(CURRENT_USER, owner));

ALTER TABLE @extschema@.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON @extschema@.models FOR SELECT USING (true);
CREATE POLICY models_add ON @extschema@.models FOR INSERT
    WITH CHECK (trained_by OPERATOR(pg_catalog.=) CURRENT_USER
                AND @extschema@.model_trusted(name, trained_by));
CREATE POLICY models_change ON @extschema@.models FOR UPDATE
    USING (@extschema@.model_trusted(name, CURRENT_USER))
    WITH CHECK (trained_by OPERATOR(pg_catalog.=) CURRENT_USER
                AND @extschema@.model_trusted(name, trained_by));
CREATE POLICY models_delete ON @extschema@.models FOR DELETE
    USING (@extschema@.model_trusted(name, CURRENT_USER));
