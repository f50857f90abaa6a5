--------------------------------------------------------------------------
-- The nightly loop: save_model, refresh, at-risk customers
--
-- refresh() commits after every step, so a failed step is logged and the
-- others still run, and readers see each result appear whole: scores are
-- replaced in one transaction, models are new registry rows.  It must be
-- CALLed outside a transaction block (as pg_cron does).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.save_model(name text, kind text, model jsonb,
                                       metrics jsonb DEFAULT NULL, training_source text DEFAULT NULL,
                                       feature_names text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_version integer;
BEGIN
    IF name IS NULL OR kind IS NULL OR model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'name, kind and model must not be NULL';
    END IF;
    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) + 1 INTO new_version
      FROM @extschema@.models AS m WHERE m.name = save_model.name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (save_model.name, new_version, save_model.kind, save_model.model, save_model.metrics,
            save_model.feature_names, save_model.training_source);
    RETURN new_version;
END
$$;

COMMENT ON FUNCTION @extschema@.save_model(text, text, jsonb, jsonb, text, text[]) IS
'stores a model (the jsonb form of any model type) as the next version of name in retention.models and returns the version';

-- refresh()'s working tables live in the session's temporary schema
CREATE FUNCTION @extschema@.drop_refresh_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['retention_training', 'retention_current', 'retention_purchases',
                             'retention_knn_train', 'retention_knn_test', 'retention_rfm'] LOOP
        IF pg_catalog.to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION @extschema@.drop_refresh_tables() IS
'drops the temporary working tables of retention.refresh() in this session, if any';

CREATE PROCEDURE @extschema@.refresh(pipeline text DEFAULT 'default')
LANGUAGE plpgsql
AS $$
DECLARE
    p             @extschema@.pipelines;
    run           bigint := pg_catalog.nextval('@extschema@.refresh_run_ids');
    run_started   timestamptz := pg_catalog.clock_timestamp();
    as_of         timestamptz;
    cutoff        timestamptz;
    is_purchase   text;
    names         text[] := @extschema@.user_feature_names();
    columns       text;
    kept          text[];
    features      text;
    step_id       bigint;
    n             bigint;
    failures      integer := 0;
    err_state     text;
    err_message   text;
    churn_name    text := pipeline || '_churn';
    new_version   integer;
    old_version   integer;
    old_features  text[];
    new_auc       float8;
    old_auc       float8;
    champion      integer;
    churn         @extschema@.logreg_model;
    knn           @extschema@.item_knn_model;
    knn_version   integer;
    knn_metrics   jsonb;
    bg            @extschema@.bgnbd_model;
    spend         @extschema@.gamma_gamma_model;
    bg_version    integer;
    popular       bigint[];
    caller_path   text := pg_catalog.current_setting('search_path');
BEGIN
    -- no object of the caller's schemas may stand in for a built-in below;
    -- a SET clause would forbid the COMMITs, so set it for the session and
    -- give the caller's path back at the end (and before raising)
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);

    SELECT * INTO p FROM @extschema@.pipelines AS x WHERE x.name = pipeline;
    IF NOT FOUND THEN
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('pipeline "%s" does not exist', pipeline),
            HINT = 'Describe the events table with INSERT INTO retention.pipelines (name, events, ...).';
    END IF;
    -- held across the commits below, so two refreshes of one pipeline never interleave
    IF NOT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('retention.refresh'),
                                          pg_catalog.hashtext(pipeline)) THEN
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        RAISE EXCEPTION USING ERRCODE = '55P03',
            MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline);
    END IF;

    PERFORM @extschema@.drop_refresh_tables();

    as_of := COALESCE(p.as_of, pg_catalog.now());
    cutoff := as_of - p.churn_horizon;
    is_purchase := pg_catalog.format('%I = %L', p.event_column, p.purchase_event);
    -- counts, amounts and durations are heavy-tailed: one huge order must not
    -- dominate a linear model, so they enter as log(1 + x); rates stay as they are
    columns := (SELECT pg_catalog.string_agg(
                    CASE WHEN c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                         THEN pg_catalog.format('f.features[%s] AS %I', i, c)
                         ELSE pg_catalog.format('pg_catalog.ln(1 + GREATEST(f.features[%s], 0)) AS %I',
                                                i, 'log_' || c) END,
                    ', ' ORDER BY i)
                  FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
    names := (SELECT pg_catalog.array_agg(
                  CASE WHEN c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                       THEN c ELSE 'log_' || c END ORDER BY i)
                FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));

    ------------------------------------------------------------------
    -- features: as of cutoff with the churn label over (cutoff, as_of]
    -- for training, and as of as_of for scoring
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'features', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_training AS
               SELECT f.user_id, f.churned,
                      (pg_catalog.hashtext(f.user_id::text) & 65535) < 13107 AS holdout, %s
                 FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                purchase_event => $10) AS f$q$, columns)
            USING p.events, cutoff, p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                  p.event_column, p.item_column, p.amount_column, p.purchase_event;
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_current AS
               SELECT f.user_id, %s
                 FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                purchase_event => $10) AS f$q$, columns)
            USING p.events, as_of, p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                  p.event_column, p.item_column, p.amount_column, p.purchase_event;
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_purchases AS
               SELECT %I::bigint AS user_id, %I::bigint AS item_id, %I AS ts,
                      (%I)::float8 AS amount
                 FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL$q$,
            p.user_column, p.item_column, p.time_column, p.amount_column, p.events, is_purchase,
            p.time_column, p.user_column, p.item_column)
            USING as_of;
        ANALYZE pg_temp.retention_training, pg_temp.retention_current, pg_temp.retention_purchases;

        -- constant features carry no information and make the fit singular
        EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM pg_temp.retention_training',
            (SELECT pg_catalog.string_agg(pg_catalog.format(
                        'CASE WHEN pg_catalog.stddev_pop(%I) > 1e-9 THEN %L END', c, c), ', ')
               FROM pg_catalog.unnest(names) AS c))
            INTO kept;
        kept := pg_catalog.array_remove(kept, NULL);
        features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ')
                       FROM pg_catalog.unnest(kept) AS c);
        SELECT pg_catalog.count(*) INTO n FROM pg_temp.retention_training;
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object(
                   'as_of', as_of, 'cutoff', cutoff,
                   'training_users', n,
                   'churn_rate', (SELECT pg_catalog.avg(churned::integer) FROM pg_temp.retention_training),
                   'scoring_users', (SELECT pg_catalog.count(*) FROM pg_temp.retention_current),
                   'features', kept,
                   'constant_features_dropped',
                   (SELECT pg_catalog.array_agg(c) FROM pg_catalog.unnest(names) AS c
                     WHERE c <> ALL (kept)))
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- churn model: a new version, kept only if it is at least as good as
    -- the current one on the same holdout users
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'churn model', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        SELECT m.version, m.feature_names INTO old_version, old_features
          FROM @extschema@.models AS m
         WHERE m.name = churn_name AND m.kind = 'logreg'
         ORDER BY m.version DESC LIMIT 1;
        CALL @extschema@.train_churn_model(churn_name, 'pg_temp.retention_training', 'churned', kept,
                                           p.churn_options, 'holdout', NULL, new_version);
        EXECUTE pg_catalog.format(
            $q$SELECT @extschema@.roc_auc(@extschema@.churn_prob($1, ARRAY[%s]::float8[]), churned)
                 FROM pg_temp.retention_training WHERE holdout$q$, features)
            INTO new_auc USING @extschema@.churn_model(churn_name, new_version);
        champion := new_version;
        IF old_version IS NOT NULL AND old_features <@ names THEN
            EXECUTE pg_catalog.format(
                $q$SELECT @extschema@.roc_auc(@extschema@.churn_prob($1, ARRAY[%s]::float8[]), churned)
                     FROM pg_temp.retention_training WHERE holdout$q$,
                (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ' ORDER BY i)
                   FROM pg_catalog.unnest(old_features) WITH ORDINALITY AS u(c, i)))
                INTO old_auc USING @extschema@.churn_model(churn_name, old_version);
            IF old_auc > new_auc THEN
                DELETE FROM @extschema@.models WHERE name = churn_name AND version = new_version;
                champion := old_version;
            END IF;
        END IF;
        churn := @extschema@.churn_model(churn_name, champion);

        DELETE FROM @extschema@.churn_holdout WHERE churn_holdout.pipeline = refresh.pipeline;
        EXECUTE pg_catalog.format(
            $q$INSERT INTO @extschema@.churn_holdout (pipeline, model_version, churn_prob, churned)
               SELECT $1, $2, s.prob, s.churned
                 FROM (SELECT @extschema@.churn_prob($3, ARRAY[%s]::float8[]) AS prob, churned
                         FROM pg_temp.retention_training WHERE holdout) AS s
                WHERE s.prob IS NOT NULL$q$,
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest((SELECT m.feature_names FROM @extschema@.models AS m
                                        WHERE m.name = churn_name AND m.version = champion))
                    WITH ORDINALITY AS u(c, i)))
            USING pipeline, champion, churn;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE @extschema@.refresh_runs
           SET status = CASE WHEN champion = new_version THEN 'ok' ELSE 'kept previous' END,
               finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object('version', champion, 'holdout_auc', new_auc,
                                                       'previous_version', old_version,
                                                       'previous_holdout_auc', old_auc),
               message = CASE WHEN champion <> new_version THEN pg_catalog.format(
                   'the new model''s holdout AUC %s is below the AUC %s of version %s on the same users; version %s stays in use',
                   pg_catalog.round(new_auc::numeric, 4), pg_catalog.round(old_auc::numeric, 4),
                   old_version, old_version) END
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- item-kNN: rebuilt on every purchase, evaluated on a split at cutoff
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'item-knn model', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        CREATE TEMP TABLE retention_knn_train AS
            SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases WHERE ts <= cutoff;
        CREATE TEMP TABLE retention_knn_test AS
            SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases WHERE ts > cutoff;
        SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) ORDER BY e.recommender) INTO knn_metrics
          FROM @extschema@.evaluate_item_knn('pg_temp.retention_knn_train', 'pg_temp.retention_knn_test',
                                             p.neighbors, 10) AS e;
        SELECT @extschema@.item_knn(u.user_id, u.item_id, 1.0, p.neighbors) INTO knn
          FROM (SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases) AS u;
        knn_version := @extschema@.item_knn_save(pipeline || '_item_knn', knn, p.events::text,
                                                 pg_catalog.jsonb_build_object('evaluation', knn_metrics,
                                                                               'k', 10, 'as_of', as_of,
                                                                               'cutoff', cutoff));
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
               rows = (SELECT i.items FROM @extschema@.item_knn_model_info(knn) AS i),
               metrics = pg_catalog.jsonb_build_object('version', knn_version, 'evaluation', knn_metrics)
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- customer base: BG/NBD and Gamma-Gamma on weekly RFM summaries
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'customer-base models', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        CREATE TEMP TABLE retention_rfm AS
            SELECT user_id, (@extschema@.rfm_summary(ts, amount, as_of, 'week')).*
              FROM pg_temp.retention_purchases GROUP BY user_id;
        SELECT @extschema@.bgnbd_fit(frequency, recency, t) INTO bg FROM pg_temp.retention_rfm;
        SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend
          FROM pg_temp.retention_rfm WHERE frequency > 0 AND monetary > 0;
        IF bg IS NULL OR spend IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'too few customers with purchases to fit the customer-base models';
        END IF;
        IF NOT (bg::jsonb ->> 'converged')::boolean OR NOT (spend::jsonb ->> 'converged')::boolean THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'the BG/NBD or Gamma-Gamma fit did not converge; scores are left without P(alive) and lifetime value',
                DETAIL = pg_catalog.format('BG/NBD: %s; Gamma-Gamma: %s.', bg::text, spend::text);
        END IF;
        bg_version := @extschema@.save_model(pipeline || '_bgnbd', 'bgnbd', bg::jsonb, NULL, p.events::text);
        PERFORM @extschema@.save_model(pipeline || '_spend', 'gamma_gamma', spend::jsonb, NULL, p.events::text);
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
               rows = (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm),
               metrics = pg_catalog.jsonb_build_object('bgnbd', bg::jsonb, 'gamma_gamma', spend::jsonb)
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        -- scores go on without these models (the functions are STRICT)
        bg := NULL;
        spend := NULL;
        bg_version := NULL;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- scores: every user, replaced in one transaction
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'scores', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        IF churn IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'no churn model to score with; see the failed steps of this run';
        END IF;
        SELECT pg_catalog.array_agg(item_id ORDER BY buyers DESC, item_id) INTO popular
          FROM (SELECT item_id, pg_catalog.count(DISTINCT user_id) AS buyers
                  FROM pg_temp.retention_purchases GROUP BY item_id
                 ORDER BY buyers DESC, item_id LIMIT 10) AS top;
        DELETE FROM @extschema@.customer_scores WHERE customer_scores.pipeline = refresh.pipeline;
        EXECUTE pg_catalog.format(
            $q$INSERT INTO @extschema@.customer_scores
               SELECT $1, c.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.clv,
                      s.clv * s.churn_prob,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                  'feature', e.feature, 'contribution', pg_catalog.round(e.contribution::numeric, 4))
                              ORDER BY e.contribution DESC)
                         FROM (SELECT x.feature, x.contribution
                                 FROM @extschema@.churn_explain($2, s.f) AS x
                                WHERE x.contribution > 0
                                ORDER BY x.contribution DESC LIMIT 3) AS e),
                      ARRAY(SELECT r.item_id FROM @extschema@.recommend($3, COALESCE(b.seen, '{}'), 3, $4) AS r),
                      $5, $6, $7, pg_catalog.now()
                 FROM pg_temp.retention_current AS c
                 LEFT JOIN pg_temp.retention_rfm AS m ON m.user_id = c.user_id
                 LEFT JOIN (SELECT user_id, pg_catalog.array_agg(DISTINCT item_id) AS seen
                              FROM pg_temp.retention_purchases GROUP BY user_id) AS b
                        ON b.user_id = c.user_id
                 CROSS JOIN LATERAL (
                     SELECT ARRAY[%s]::float8[] AS f,
                            @extschema@.churn_prob($2, ARRAY[%s]::float8[]) AS churn_prob,
                            @extschema@.bgnbd_p_alive($8, m.frequency, m.recency, m.t) AS p_alive,
                            @extschema@.bgnbd_expected_purchases($8, $9, m.frequency, m.recency, m.t)
                                AS expected_purchases,
                            @extschema@.customer_lifetime_value($8, $10, m.frequency, m.recency, m.t,
                                                                m.monetary, $11, 52.0 / 12, $12) AS clv) AS s$q$,
            features, features)
            USING pipeline, churn, knn, popular, champion, knn_version, bg_version, bg,
                  extract(epoch FROM p.churn_horizon) / (7 * 86400), spend, p.clv_months,
                  p.monthly_discount;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object(
                   'at_risk', (SELECT pg_catalog.count(*) FROM @extschema@.customer_scores AS cs
                                WHERE cs.pipeline = refresh.pipeline AND cs.churn_prob >= 0.5),
                   'value_at_risk', (SELECT pg_catalog.sum(cs.value_at_risk) FROM @extschema@.customer_scores AS cs
                                      WHERE cs.pipeline = refresh.pipeline))
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;

    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, message)
    VALUES (run, pipeline, 'refresh', CASE WHEN failures = 0 THEN 'ok' ELSE 'failed' END,
            run_started, pg_catalog.clock_timestamp(),
            CASE WHEN failures > 0 THEN pg_catalog.format('%s step(s) failed', failures) END);
    COMMIT;
    PERFORM @extschema@.drop_refresh_tables();
    PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('retention.refresh'),
                                          pg_catalog.hashtext(pipeline));
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
    COMMIT;
    -- after the commits above, so the run history survives the error that
    -- makes a scheduler (pg_cron) report the night as failed
    IF failures > 0 THEN
        RAISE EXCEPTION 'retention.refresh(%): % step(s) failed', pipeline, failures
            USING HINT = pg_catalog.format('See SELECT * FROM retention.refresh_runs WHERE run_id = %s.', run);
    END IF;
END
$$;

COMMENT ON PROCEDURE @extschema@.refresh(text) IS
'rebuilds a pipeline: behaviour features, a new churn model version (kept only if not worse on the holdout), item-kNN, BG/NBD and Gamma-Gamma, and every user''s scores; each step committed and logged in retention.refresh_runs; CALL it outside a transaction block';

CREATE FUNCTION @extschema@.at_risk(threshold float8 DEFAULT 0.5, pipeline text DEFAULT 'default')
RETURNS TABLE (user_id bigint, churn_prob float8, p_alive float8, expected_purchases float8,
               predicted_clv float8, value_at_risk float8, top_features jsonb,
               recommended_items bigint[], scored_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT s.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.predicted_clv,
           s.value_at_risk, s.top_features, s.recommended_items, s.scored_at
      FROM @extschema@.customer_scores AS s
     WHERE s.pipeline OPERATOR(pg_catalog.=) at_risk.pipeline
       AND s.churn_prob OPERATOR(pg_catalog.>=) at_risk.threshold
     ORDER BY s.value_at_risk DESC NULLS LAST, s.churn_prob DESC, s.user_id
$$;

COMMENT ON FUNCTION @extschema@.at_risk(float8, text) IS
'customers of a pipeline whose churn probability is at least threshold, with P(alive), expected purchases, lifetime value, the features driving their risk and three items to offer them, by value at risk (lifetime value x churn probability)';

CREATE VIEW @extschema@.at_risk_customers WITH (security_invoker = true) AS
SELECT * FROM @extschema@.at_risk();

COMMENT ON VIEW @extschema@.at_risk_customers IS
'the default pipeline''s customers with a churn probability of at least 0.5, by value at risk: the main list for BI tools';
