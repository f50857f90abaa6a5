--------------------------------------------------------------------------
-- Tree ensembles for churn: retention.gbdt_model, the gbdt_train
-- aggregates (histogram gradient boosting with logistic loss, or a random
-- forest), scoring and exact TreeSHAP explanations, and the registry entry
-- point train_churn_gbdt.
--
-- The text form of a model is JSON (trees, bins, options, training
-- metrics); its binary wire form is a magic number, a format version and
-- that JSON.  Every input is validated by one reader (gbdt_model.c).
--------------------------------------------------------------------------

CREATE TYPE @extschema@.gbdt_model;

CREATE FUNCTION @extschema@.gbdt_model_in(cstring)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_in(cstring) IS
'input function of gbdt_model: reads and validates the JSON form (kind, format, n_features, base_score, bins, trees)';

CREATE FUNCTION @extschema@.gbdt_model_out(@extschema@.gbdt_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'gbdt_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_out(@extschema@.gbdt_model) IS
'output function of gbdt_model: trees, bins, importance, options and training metrics as JSON';

CREATE FUNCTION @extschema@.gbdt_model_recv(internal)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_recv(internal) IS
'binary input function of gbdt_model: magic number, format version and the JSON text, validated as the text input';

CREATE FUNCTION @extschema@.gbdt_model_send(@extschema@.gbdt_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gbdt_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_send(@extschema@.gbdt_model) IS
'binary output function of gbdt_model: magic number, format version and the JSON text';

CREATE TYPE @extschema@.gbdt_model (
    INPUT = @extschema@.gbdt_model_in,
    OUTPUT = @extschema@.gbdt_model_out,
    RECEIVE = @extschema@.gbdt_model_recv,
    SEND = @extschema@.gbdt_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.gbdt_model IS
'tree ensemble (gradient-boosted trees with logistic loss, or a random forest) for churn; text form is JSON';

CREATE FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'gbdt_model_to_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model) IS
'the model as jsonb: trees, bins, importance, options and training metrics';

CREATE FUNCTION @extschema@.gbdt_model(jsonb)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model(jsonb) IS
'a model from its jsonb form (as stored in retention.models), validated';

CREATE CAST (@extschema@.gbdt_model AS jsonb)
    WITH FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model);
CREATE CAST (jsonb AS @extschema@.gbdt_model)
    WITH FUNCTION @extschema@.gbdt_model(jsonb);

CREATE FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[]) IS
'transition function of gbdt_train: keeps one row (NULL elements are missing values), counts a skipped one';

CREATE FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[], jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[], jsonb) IS
'transition function of gbdt_train with options: keeps one row, counts a skipped one';

CREATE FUNCTION @extschema@.gbdt_train_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_combine(internal, internal) IS
'combine function of gbdt_train: concatenates the rows of two partial states';

CREATE FUNCTION @extschema@.gbdt_train_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gbdt_train_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_serialize(internal) IS
'serialisation function of gbdt_train, for parallel workers';

CREATE FUNCTION @extschema@.gbdt_train_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_deserialize(bytea, internal) IS
'deserialisation function of gbdt_train, for parallel workers; checks every length';

CREATE FUNCTION @extschema@.gbdt_train_final(internal)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_train_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_final(internal) IS
'final function of gbdt_train: bins the rows, puts them in canonical order and grows the trees';

CREATE AGGREGATE @extschema@.gbdt_train(label boolean, features float8[]) (
    SFUNC = @extschema@.gbdt_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.gbdt_train_final,
    COMBINEFUNC = @extschema@.gbdt_train_combine,
    SERIALFUNC = @extschema@.gbdt_train_serialize,
    DESERIALFUNC = @extschema@.gbdt_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gbdt_train(boolean, float8[]) IS
'gradient-boosted trees with logistic loss (100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf, 255 quantile bins); NULL and NaN features are missing values with learned default directions; the same model with and without parallel workers';

CREATE AGGREGATE @extschema@.gbdt_train(label boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.gbdt_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.gbdt_train_final,
    COMBINEFUNC = @extschema@.gbdt_train_combine,
    SERIALFUNC = @extschema@.gbdt_train_serialize,
    DESERIALFUNC = @extschema@.gbdt_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gbdt_train(boolean, float8[], jsonb) IS
'gradient-boosted trees or a random forest ({"model": "random_forest"}) with options: max_iter, learning_rate, max_leaf_nodes, max_depth, min_samples_leaf, l2_regularization, max_bins, subsample, bootstrap, feature_fraction, seed, class_weight, early_stopping, validation_fraction, n_iter_no_change, tol, feature_names';

CREATE FUNCTION @extschema@.churn_prob(model @extschema@.gbdt_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_prob'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob(@extschema@.gbdt_model, float8[]) IS
'churn probability of one user under a tree ensemble: the sigmoid of the boosted log-odds, or a forest''s mean of tree probabilities; NULL elements are missing values';

CREATE FUNCTION @extschema@.churn_logit(model @extschema@.gbdt_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit(@extschema@.gbdt_model, float8[]) IS
'log-odds of churn of one user under a tree ensemble (for a forest, the logit of its probability)';

CREATE FUNCTION @extschema@.churn_base_logit(model @extschema@.gbdt_model)
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_base_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_base_logit(@extschema@.gbdt_model) IS
'base value of churn_explain for a tree ensemble: the expected raw score over the training rows'' paths (log-odds; a forest''s probability)';

CREATE FUNCTION @extschema@.churn_explain(model @extschema@.gbdt_model, features float8[],
    OUT feature_index integer, OUT feature text, OUT value float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gbdt_churn_explain'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain(@extschema@.gbdt_model, float8[]) IS
'exact path-dependent TreeSHAP value of every feature (Lundberg et al. 2018, Algorithm 2); with churn_base_logit they add up to the raw score (log-odds; a forest''s probability)';

CREATE FUNCTION @extschema@.gbdt_importance(model @extschema@.gbdt_model,
    OUT feature_index integer, OUT feature text, OUT splits bigint, OUT gain float8,
    OUT gain_share float8, OUT mean_abs_shap float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gbdt_importance'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.gbdt_importance(@extschema@.gbdt_model) IS
'global feature importance of a tree ensemble: splits, total split gain and its share, and the mean |SHAP| over a sample of up to 1000 training rows';

CREATE PROCEDURE @extschema@.train_churn_gbdt(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    options jsonb DEFAULT NULL,
    holdout_column text DEFAULT NULL,
    holdout_fraction float8 DEFAULT 0.2,
    INOUT version integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    test_expr  pg_catalog.text;
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    model      @extschema@.gbdt_model;
    holdout    pg_catalog.jsonb;
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source and label_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF holdout_column IS NULL AND NOT (holdout_fraction OPERATOR(pg_catalog.>=) 0::pg_catalog.float8
                                       AND holdout_fraction OPERATOR(pg_catalog.<) 1::pg_catalog.float8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('holdout_fraction %s is not in [0, 1)', holdout_fraction);
    END IF;
    IF NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;

    from_item := @extschema@.source_from_item(source);
    label_expr := pg_catalog.format('(src.%I)::integer::boolean', label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));
    IF holdout_column IS NOT NULL THEN
        test_expr := pg_catalog.format('COALESCE((src.%I)::boolean, false)', holdout_column);
    ELSE
        -- a deterministic split: a hash of the whole row, as train_churn_model
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    EXECUTE pg_catalog.format(
        'SELECT @extschema@.gbdt_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
        label_expr, feats, from_item, test_expr)
        INTO model USING opts;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, a NULL feature array or an infinite feature are skipped.';
    END IF;

    -- holdout metrics on the rows the model has not seen (missing values allowed)
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(p, y),
                    'log_loss', @extschema@.log_loss(p, y),
                    'at_0_5', @extschema@.classification_report(p, y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(p, y))
             FROM (SELECT @extschema@.churn_prob($1, f) AS p, y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                    WHERE y IS NOT NULL
                      AND NOT (f OPERATOR(pg_catalog.&&) '{Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        label_expr, feats, from_item, test_expr)
        INTO holdout USING model;

    -- the next version; the first saver of a name owns it (save_model)
    version := @extschema@.save_model(model_name, 'gbdt', model::pg_catalog.jsonb,
        pg_catalog.jsonb_build_object('holdout', holdout,
                                      'holdout_split', COALESCE(holdout_column,
                                          'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
        source, feature_columns);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_gbdt(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a tree-ensemble churn model (gbdt_train) on a table, view or query except its holdout rows, evaluates it on the holdout and stores it as the next version in retention.models (kind gbdt); returns the version';

CREATE FUNCTION @extschema@.churn_gbdt_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.gbdt_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.trusted_model(model_name, 'gbdt', model_version)::pg_catalog.text::@extschema@.gbdt_model
$$;

COMMENT ON FUNCTION @extschema@.churn_gbdt_model(text, integer) IS
'a stored tree-ensemble churn model: the latest trusted version of model_name (written by a member of its owner), or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';
