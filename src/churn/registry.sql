--------------------------------------------------------------------------
-- Churn model registry: train_churn_model stores versions in
-- retention.models; churn_model and churn_models_latest read them back.
-- Everything runs with the caller's privileges, so grants and row-level
-- security on the user's tables (and on retention.models) apply.
--------------------------------------------------------------------------

CREATE PROCEDURE @extschema@.train_churn_model(
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
    model      @extschema@.logreg_model;
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
        -- a deterministic split: a hash of the whole row
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    IF @extschema@.is_distributed(from_item) THEN
        -- on Citus: one pushed-down Newton pass per iteration, each shard
        -- sending a state of fixed size, where logreg_train would send every
        -- training row to the coordinator; the same model (to 1e-9)
        model := @extschema@.logreg_train_multipass(
            pg_catalog.format('SELECT %s AS retention_label, %s FROM %s WHERE NOT (%s)',
                label_expr,
                (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8 AS %I', c, c), ', ' ORDER BY i)
                   FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
                from_item, test_expr),
            'retention_label', feature_columns, opts);
    ELSE
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
    END IF;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, NULL features or non-finite features are skipped.';
    END IF;

    -- holdout metrics on the rows the model has not seen (usable rows only)
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(p, y),
                    'log_loss', @extschema@.log_loss(p, y),
                    'at_0_5', @extschema@.classification_report(p, y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(p, y))
             FROM (SELECT @extschema@.churn_prob($1, f) AS p, y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                    WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                      AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        label_expr, feats, from_item, test_expr)
        INTO holdout USING model;

    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(model_name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) OPERATOR(pg_catalog.+) 1 INTO version
      FROM @extschema@.models AS m WHERE m.name OPERATOR(pg_catalog.=) model_name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (model_name, version, 'logreg', model::pg_catalog.jsonb,
            pg_catalog.jsonb_build_object('holdout', holdout,
                                          'holdout_split', COALESCE(holdout_column,
                                              'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
            feature_columns, source);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_model(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a churn model on a table, view or query (label column, feature columns) except its holdout rows, evaluates it on the holdout (AUC, log loss, report at 0.5, max-F1 threshold) and stores it as the next version in retention.models; returns the version';

CREATE FUNCTION @extschema@.churn_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m.model::pg_catalog.text::@extschema@.logreg_model
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) 'logreg'
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
     ORDER BY m.version DESC
     LIMIT 1
$$;

COMMENT ON FUNCTION @extschema@.churn_model(text, integer) IS
'a stored churn model: the latest version of model_name, or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';

CREATE VIEW @extschema@.churn_models_latest WITH (security_invoker = true) AS
SELECT DISTINCT ON (m.name)
       m.name, m.version, m.model::text::@extschema@.logreg_model AS model,
       m.metrics, m.feature_names, m.trained_at, m.trained_by
  FROM @extschema@.models AS m
 WHERE m.kind = 'logreg'
 ORDER BY m.name, m.version DESC;

COMMENT ON VIEW @extschema@.churn_models_latest IS
'the latest version of every churn (logreg) model, as a logreg_model ready for churn_prob';

CREATE FUNCTION @extschema@.churn_scores(model_name text, source text, id_column text,
                                         model_version integer DEFAULT NULL)
RETURNS TABLE (id text, churn_prob float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    stored record;
BEGIN
    SELECT m.model, m.feature_names INTO stored
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) 'logreg'
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s does not exist', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            HINT = 'Train it with CALL retention.train_churn_model(...).';
    END IF;
    IF stored.feature_names IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churn model %L has no feature names', model_name),
            HINT = 'Score with retention.churn_prob and the features in training order.';
    END IF;
    -- users with a NULL feature get a NULL score; the columns are the model's feature names
    RETURN QUERY EXECUTE pg_catalog.format(
        $q$SELECT s.id, CASE WHEN pg_catalog.array_position(s.f, NULL) IS NULL
                             THEN @extschema@.churn_prob($1, s.f) END
             FROM (SELECT (src.%I)::pg_catalog.text AS id, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s) AS s$q$,
        id_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source))
        USING stored.model::pg_catalog.text::@extschema@.logreg_model;
END
$$;

COMMENT ON FUNCTION @extschema@.churn_scores(text, text, text, integer) IS
'churn probability of every user of a table, view or query, with the latest (or the given) version of a stored churn model, reading the feature columns named in the registry; NULL for users with a NULL feature';
