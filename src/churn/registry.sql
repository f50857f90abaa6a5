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
    encoder    pg_catalog.jsonb;
    enc_opts   pg_catalog.jsonb;
    scored     pg_catalog.text;
    cal_method pg_catalog.text;
    calibration pg_catalog.jsonb;
    cal_before pg_catalog.jsonb;
    shift      pg_catalog.float8;
    uncalibrated @extschema@.logreg_model;
    types      pg_catalog.text[];
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
    from_item := @extschema@.source_from_item(source);
    IF opts OPERATOR(pg_catalog.?) 'calibration' THEN
        cal_method := opts OPERATOR(pg_catalog.->>) 'calibration';
        opts := opts OPERATOR(pg_catalog.-) 'calibration';
    END IF;

    -- the encoder: asked for with the "encoder" option (true or the options
    -- of churn_encoder), and always used when a feature column is not a number
    IF opts OPERATOR(pg_catalog.?) 'encoder' THEN
        enc_opts := opts OPERATOR(pg_catalog.->) 'encoder';
        opts := opts OPERATOR(pg_catalog.-) 'encoder';
        IF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.=) 'boolean' THEN
            enc_opts := CASE WHEN enc_opts::pg_catalog.text::boolean THEN '{}'::pg_catalog.jsonb END;
        ELSIF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.<>) 'object' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'the "encoder" option must be true, false or an object of churn_encoder options';
        END IF;
    ELSE
        EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM %s LIMIT 1',
            (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.pg_typeof(src.%I)::pg_catalog.text', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
            from_item)
            INTO types;
        IF EXISTS (SELECT FROM pg_catalog.unnest(types) AS t
                    WHERE t OPERATOR(pg_catalog.<>) ALL (ARRAY['smallint', 'integer', 'bigint', 'real',
                                                             'double precision', 'numeric'])) THEN
            enc_opts := '{}'::pg_catalog.jsonb;
        END IF;
    END IF;

    IF enc_opts IS NULL AND NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;
    label_expr := @extschema@.churn_label_expr(label_column);
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

    IF enc_opts IS NOT NULL THEN
        -- learned on the training rows only, like the coefficients
        encoder := @extschema@.churn_encoder(
            pg_catalog.format('SELECT src.* FROM %s WHERE NOT (%s)', from_item, test_expr),
            feature_columns, enc_opts);
        opts := opts OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('feature_names',
                pg_catalog.to_jsonb(@extschema@.churn_encoder_features(encoder)));
        feats := pg_catalog.format('@extschema@.churn_encode(%L::pg_catalog.jsonb, pg_catalog.to_jsonb(src))', encoder);
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, %s, $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
        model := @extschema@.churn_model_with_encoder(model, encoder);
    ELSIF @extschema@.is_distributed(from_item) THEN
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

    -- the holdout rows the model has not seen, scored by $1: (p, y, u), u the
    -- unseen levels of a raw row; with an encoder the raw rows, missing values
    -- encoded, else the rows with usable features
    IF enc_opts IS NOT NULL THEN
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob_row($1, r) AS p, y, @extschema@.churn_unseen($1, r) AS u
                 FROM (SELECT %s AS y, pg_catalog.to_jsonb(src) AS r FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL$q$,
            label_expr, from_item, test_expr);
    ELSE
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob($1, f) AS p, y, '{}'::pg_catalog.text[] AS u
                 FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                  AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])$q$,
            label_expr, feats, from_item, test_expr);
    END IF;

    -- calibration: "platt" or "isotonic" fitted on the holdout, "shift" (the
    -- prior correction of class weights, the default for a model trained
    -- with them) or "none"
    cal_method := COALESCE(cal_method, CASE WHEN opts OPERATOR(pg_catalog.?) 'class_weight' THEN 'shift' ELSE 'none' END);
    IF cal_method OPERATOR(pg_catalog.=) 'shift' THEN
        IF NOT opts OPERATOR(pg_catalog.?) 'class_weight' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'calibration "shift" corrects for class weights, and the options give none';
        END IF;
        IF opts OPERATOR(pg_catalog.->>) 'class_weight' OPERATOR(pg_catalog.=) 'balanced' THEN
            -- balanced weights n / (2 n_class): log(w0 / w1) = log(n1 / n0) on the training rows
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.ln(pg_catalog.count(*) FILTER (WHERE y)::pg_catalog.float8
                                      OPERATOR(pg_catalog./) pg_catalog.count(*) FILTER (WHERE NOT y))
                   FROM (SELECT %s AS y FROM %s WHERE NOT (%s)) AS t',
                label_expr, from_item, test_expr)
                INTO shift;
        ELSE
            shift := pg_catalog.ln(
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,0}', opts OPERATOR(pg_catalog.#>>) '{class_weight,false}', '1')::pg_catalog.float8
                OPERATOR(pg_catalog./)
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,1}', opts OPERATOR(pg_catalog.#>>) '{class_weight,true}', '1')::pg_catalog.float8);
        END IF;
        calibration := pg_catalog.jsonb_build_object('method', 'shift', 'shift', shift);
    ELSIF cal_method OPERATOR(pg_catalog.=) ANY (ARRAY['platt', 'isotonic']) THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_fit(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y), %L) FROM (%s) AS s',
            cal_method, scored)
            INTO calibration USING model;
        IF calibration IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = pg_catalog.format('calibration "%s" needs holdout rows, and there are none', cal_method);
        END IF;
    ELSIF cal_method OPERATOR(pg_catalog.<>) 'none' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('unknown calibration "%s"', cal_method),
            HINT = 'Use "platt", "isotonic", "shift" or "none".';
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        RAISE WARNING USING ERRCODE = '01000',
            MESSAGE = pg_catalog.format('churn model %L is trained with class weights and not calibrated: its probabilities overstate the weighted class', model_name),
            DETAIL = 'Class weights multiply the odds the model learns by w1/w0; the holdout metrics record "uncalibrated_class_weights".',
            HINT = 'Leave out "calibration": "none" to correct the odds back to the base rate (the default), or calibrate with "platt" or "isotonic" on the holdout.';
    END IF;
    IF calibration IS NOT NULL THEN
        uncalibrated := model;
        model := @extschema@.churn_model_with_calibration(model, calibration);
    END IF;

    -- holdout metrics of the final model; with a calibration fitted on the
    -- holdout (platt, isotonic) they are in-sample for the calibration
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'n_unseen', pg_catalog.count(*) FILTER (WHERE pg_catalog.cardinality(s.u) OPERATOR(pg_catalog.>) 0),
                    'roc_auc', @extschema@.roc_auc(s.p, s.y),
                    'log_loss', @extschema@.log_loss(s.p, s.y),
                    'at_0_5', @extschema@.classification_report(s.p, s.y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(s.p, s.y),
                    'calibration', @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)))
             FROM (%s) AS s$q$, scored)
        INTO holdout USING model;
    holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_method', cal_method);
    IF uncalibrated IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)) FROM (%s) AS s', scored)
            INTO cal_before USING uncalibrated;
        holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_before', cal_before);
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        holdout := holdout OPERATOR(pg_catalog.||) '{"uncalibrated_class_weights": true}'::pg_catalog.jsonb;
    END IF;

    -- the next version; the first saver of a name owns it (save_model)
    version := @extschema@.save_model(model_name, 'logreg', model::pg_catalog.jsonb,
        pg_catalog.jsonb_build_object('holdout', holdout,
                                      'holdout_split', COALESCE(holdout_column,
                                          'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
        source, feature_columns);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_model(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a churn model on a table, view or query (label column, feature columns) except its holdout rows, evaluates it on the holdout (AUC, log loss, report at 0.5, max-F1 threshold) and stores it as the next version in retention.models; returns the version';

CREATE FUNCTION @extschema@.churn_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.trusted_model(model_name, 'logreg', model_version)::pg_catalog.text::@extschema@.logreg_model
$$;

COMMENT ON FUNCTION @extschema@.churn_model(text, integer) IS
'a stored churn model: the latest trusted version of model_name (written by a member of its owner), or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';

CREATE VIEW @extschema@.churn_models_latest WITH (security_invoker = true) AS
SELECT DISTINCT ON (m.name)
       m.name, m.version, m.model::text::@extschema@.logreg_model AS model,
       m.metrics, m.feature_names, m.trained_at, m.trained_by
  FROM @extschema@.models AS m
 WHERE m.kind = 'logreg' AND @extschema@.model_trusted(m.name, m.trained_by)
 ORDER BY m.name, m.version DESC;

COMMENT ON VIEW @extschema@.churn_models_latest IS
'the latest trusted version (written by a member of its owner) of every churn (logreg) model, as a logreg_model ready for churn_prob';

CREATE FUNCTION @extschema@.churn_scores(model_name text, source text, id_column text,
                                         model_version integer DEFAULT NULL)
RETURNS TABLE (id text, churn_prob float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    stored record;
BEGIN
    -- the latest churn model of either kind (the loop's champion may be a
    -- tree ensemble), or the given version
    SELECT m.version, m.kind, m.model, m.feature_names INTO stored
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM @extschema@.models AS m
                              WHERE m.name OPERATOR(pg_catalog.=) model_name
                                AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])) THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s has no trusted version', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            DETAIL = 'Only versions written by a member of the role owning the name (retention.model_owners) are used.',
            HINT = 'Save it with save_model or train_churn_model, or claim the name first with retention.claim_model.';
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s does not exist', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            HINT = 'Train it with CALL retention.train_churn_model(...).';
    END IF;
    -- which model scored, so a silent switch of versions cannot mislead
    RAISE NOTICE USING MESSAGE = pg_catalog.format('churn_scores: churn model %L version %s (%s)',
                                                   model_name, stored.version, stored.kind);
    IF stored.kind OPERATOR(pg_catalog.=) 'logreg' AND stored.model OPERATOR(pg_catalog.?) 'encoder' THEN
        -- a model with an encoder scores the raw rows
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$SELECT (src.%I)::pg_catalog.text, @extschema@.churn_prob_row($1, pg_catalog.to_jsonb(src)) FROM %s$q$,
            id_column, @extschema@.source_from_item(source))
            USING stored.model::pg_catalog.text::@extschema@.logreg_model;
        RETURN;
    END IF;
    IF stored.feature_names IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churn model %L has no feature names', model_name),
            HINT = 'Score with retention.churn_prob and the features in training order.';
    END IF;
    IF stored.kind OPERATOR(pg_catalog.=) 'gbdt' THEN
        -- trees take NULL features as missing values
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$SELECT (src.%I)::pg_catalog.text, @extschema@.churn_prob($1, ARRAY[%s]::pg_catalog.float8[]) FROM %s$q$,
            id_column,
            (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
            @extschema@.source_from_item(source))
            USING stored.model::pg_catalog.text::@extschema@.gbdt_model;
        RETURN;
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
'churn probability of every user of a table, view or query, with the latest (or the given) version of a stored churn model (logistic or tree ensemble), reading the feature columns named in the registry; a NOTICE names the version used; NULL for users with a NULL feature (a logistic model)';

CREATE FUNCTION @extschema@.churn_holdout_metrics(model anyelement, source text, label_column text,
                                                  feature_columns text[], holdout_column text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    result pg_catalog.jsonb;
BEGIN
    -- the holdout rows with a label and every feature finite: the rows every
    -- candidate (logistic or trees) scores, so their metrics compare
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(s.p, s.y),
                    'log_loss', @extschema@.log_loss(s.p, s.y),
                    'brier', pg_catalog.avg((s.p OPERATOR(pg_catalog.-) s.y::integer) OPERATOR(pg_catalog.^) 2))
             FROM (SELECT @extschema@.churn_prob($1, t.f) AS p, t.y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f
                             FROM %s WHERE COALESCE((src.%I)::boolean, false)) AS t
                    WHERE t.y IS NOT NULL AND pg_catalog.array_position(t.f, NULL) IS NULL
                      AND NOT (t.f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        @extschema@.churn_label_expr(label_column),
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source), holdout_column)
        INTO result USING model;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.churn_holdout_metrics(anyelement, text, text, text[], text) IS
'holdout metrics of a churn model (logreg_model or gbdt_model) on the rows of source where holdout_column is true, with a label and every feature finite: n_rows, roc_auc, log_loss and brier';

CREATE FUNCTION @extschema@.train_churn_candidates(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    holdout_column text,
    key_column text,
    candidates text[] DEFAULT ARRAY['logreg', 'elastic_net', 'gbdt'],
    logreg_options jsonb DEFAULT NULL,
    gbdt_options jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    lopts      pg_catalog.jsonb := COALESCE(logreg_options, '{}'::pg_catalog.jsonb);
    cv_opts    pg_catalog.jsonb;
    opts       pg_catalog.jsonb;
    cand       pg_catalog.text;
    kind       pg_catalog.text;
    entry      pg_catalog.jsonb;
    entries    pg_catalog.jsonb := '[]';
    best       pg_catalog.jsonb;
    previous   pg_catalog.jsonb;
    old        record;
    lam        pg_catalog.float8;
    v          integer;
    lr         @extschema@.logreg_model;
    trees      @extschema@.gbdt_model;
    err        pg_catalog.text;
    keep_new   boolean;
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL OR holdout_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source, label_column and holdout_column must not be NULL';
    END IF;
    IF candidates IS NULL OR pg_catalog.cardinality(candidates) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(candidates, NULL) IS NOT NULL
       OR EXISTS (SELECT FROM pg_catalog.unnest(candidates) AS c
                   WHERE c OPERATOR(pg_catalog.<>) ALL (ARRAY['logreg', 'elastic_net', 'gbdt'])) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('candidates %s must name at least one of logreg, elastic_net and gbdt', candidates);
    END IF;
    IF pg_catalog.jsonb_typeof(lopts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'logreg_options must be a JSON object';
    END IF;
    PERFORM @extschema@.claim_model(model_name);

    -- the champion: the latest trusted version of either kind, scored on
    -- the same holdout rows if the source still has its feature columns
    SELECT m.version, m.kind, m.model, m.feature_names INTO old
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC LIMIT 1;
    IF FOUND THEN
        BEGIN
            IF old.kind OPERATOR(pg_catalog.=) 'gbdt' THEN
                previous := @extschema@.churn_holdout_metrics(old.model::pg_catalog.text::@extschema@.gbdt_model,
                                                              source, label_column, old.feature_names, holdout_column);
            ELSE
                previous := @extschema@.churn_holdout_metrics(old.model::pg_catalog.text::@extschema@.logreg_model,
                                                              source, label_column, old.feature_names, holdout_column);
            END IF;
            previous := pg_catalog.jsonb_build_object('version', old.version, 'kind', old.kind, 'holdout', previous);
        EXCEPTION WHEN undefined_column OR invalid_text_representation OR data_exception THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            previous := pg_catalog.jsonb_build_object('version', old.version, 'kind', old.kind,
                                                      'not_comparable', err);
        END;
    END IF;

    -- every candidate on the same training rows, each in a block of its own:
    -- one that fails is recorded with its error and the others still run
    FOREACH cand IN ARRAY candidates LOOP
        entry := pg_catalog.jsonb_build_object('candidate', cand);
        BEGIN
            v := NULL;
            IF cand OPERATOR(pg_catalog.=) 'gbdt' THEN
                kind := 'gbdt';
                opts := COALESCE(gbdt_options, '{}'::pg_catalog.jsonb);
                CALL @extschema@.train_churn_gbdt(model_name, source, label_column, feature_columns,
                                                  opts, holdout_column, NULL, v);
                trees := @extschema@.churn_gbdt_model(model_name, v);
                entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                    'holdout', @extschema@.churn_holdout_metrics(trees, source, label_column, feature_columns, holdout_column),
                    'model', trees::pg_catalog.jsonb);
            ELSE
                kind := 'logreg';
                opts := lopts;
                IF cand OPERATOR(pg_catalog.=) 'elastic_net' THEN
                    -- lambda by 5-fold cross-validation on the training rows
                    -- (minimum deviance), half lasso half ridge unless told
                    cv_opts := pg_catalog.jsonb_build_object('l1_ratio', COALESCE(lopts OPERATOR(pg_catalog.->) 'l1_ratio', '0.5'),
                                                             'folds', 5, 'n_lambda', 10)
                               OPERATOR(pg_catalog.||) (lopts OPERATOR(pg_catalog.-) ARRAY['lambda', 'l1_ratio', 'calibration', 'encoder', 'feature_names']);
                    SELECT c.lambda INTO lam
                      FROM @extschema@.logreg_cv(
                               pg_catalog.format('SELECT * FROM %s WHERE NOT COALESCE((src.%I)::boolean, false)',
                                                 @extschema@.source_from_item(source), holdout_column),
                               label_column, feature_columns, key_column, cv_opts) AS c
                     WHERE c.selected OPERATOR(pg_catalog.~~) '%lambda_min%' LIMIT 1;
                    opts := lopts OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('lambda', lam,
                                                                                        'l1_ratio', cv_opts OPERATOR(pg_catalog.->) 'l1_ratio');
                END IF;
                CALL @extschema@.train_churn_model(model_name, source, label_column, feature_columns,
                                                   opts, holdout_column, NULL, v);
                lr := @extschema@.churn_model(model_name, v);
                entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                    'holdout', @extschema@.churn_holdout_metrics(lr, source, label_column, feature_columns, holdout_column),
                    'model', lr::pg_catalog.jsonb);
            END IF;
            entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('kind', kind, 'version', v, 'options', opts);
        EXCEPTION WHEN OTHERS THEN
            -- query_canceled is not among OTHERS: a cancel ends the whole call
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('kind', kind, 'error', err);
        END;
        entries := entries OPERATOR(pg_catalog.||) entry;
    END LOOP;

    -- the best by holdout ROC AUC, then log loss, then the order given
    SELECT e INTO best
      FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS x(e, i)
     WHERE e OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}' IS NOT NULL
     ORDER BY (e OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8 DESC,
              (e OPERATOR(pg_catalog.#>>) '{holdout,log_loss}')::pg_catalog.float8, x.i
     LIMIT 1;
    -- a new version replaces the champion only if its AUC is not below the
    -- champion's on the same rows
    keep_new := best IS NOT NULL AND NOT COALESCE(
        (previous OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8
            OPERATOR(pg_catalog.>) (best OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8, false);
    DELETE FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.version OPERATOR(pg_catalog.=) ANY (
           SELECT (e OPERATOR(pg_catalog.->>) 'version')::integer FROM pg_catalog.jsonb_array_elements(entries) AS e)
       AND NOT (keep_new AND m.version OPERATOR(pg_catalog.=) (best OPERATOR(pg_catalog.->>) 'version')::integer);
    entries := (SELECT pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                           'chosen', keep_new AND e OPERATOR(pg_catalog.=) best)
                           OPERATOR(pg_catalog.-) CASE WHEN keep_new AND e OPERATOR(pg_catalog.=) best THEN '' ELSE 'version' END
                       ORDER BY x.i)
                  FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS x(e, i));
    IF keep_new THEN
        -- the registry keeps what the new champion beat
        UPDATE @extschema@.models AS m
           SET metrics = COALESCE(m.metrics, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                   'candidate', best OPERATOR(pg_catalog.->>) 'candidate',
                   'candidates', (SELECT pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.-) 'model')
                                    FROM pg_catalog.jsonb_array_elements(entries) AS e),
                   'previous', previous)
         WHERE m.name OPERATOR(pg_catalog.=) model_name
           AND m.version OPERATOR(pg_catalog.=) (best OPERATOR(pg_catalog.->>) 'version')::integer;
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'name', model_name,
        'version', CASE WHEN keep_new THEN (best OPERATOR(pg_catalog.->>) 'version')::integer ELSE old.version END,
        'kind', CASE WHEN keep_new THEN best OPERATOR(pg_catalog.->>) 'kind' ELSE old.kind END,
        'candidate', CASE WHEN keep_new THEN best OPERATOR(pg_catalog.->>) 'candidate' END,
        'kept_previous', NOT keep_new AND previous IS NOT NULL,
        'best', best OPERATOR(pg_catalog.->>) 'candidate',
        'previous', previous,
        'candidates', entries);
END
$$;

COMMENT ON FUNCTION @extschema@.train_churn_candidates(text, text, text, text[], text, text, text[], jsonb, jsonb) IS
'trains the candidate churn models (logreg: logreg_options as given; elastic_net: lambda by 5-fold logreg_cv, l1_ratio 0.5; gbdt: gbdt_train) on the same training rows of source, scores them on the same holdout rows (ROC AUC, log loss, Brier), and keeps the best by AUC as the next version of model_name only if its AUC is not below the current version''s on those rows; the others are deleted. Returns the version in use and every candidate''s metrics (and model)';
