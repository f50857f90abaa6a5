--------------------------------------------------------------------------
-- The nightly loop: refresh()
--
-- refresh() commits after every step, so a failed step is logged and the
-- others still run, and readers see each result appear whole: scores are
-- replaced in one transaction, models are new registry rows.  It must be
-- CALLed outside a transaction block (as pg_cron does).  A cancel or a
-- statement_timeout is caught by name at every step: the run is marked
-- cancelled, the lock released and the caller's search_path is given back.
--------------------------------------------------------------------------

CREATE PROCEDURE @extschema@.refresh(pipeline text DEFAULT 'default')
LANGUAGE plpgsql
AS $$
DECLARE
    steps         constant text[] := ARRAY['customer summaries', 'features', 'churn model', 'item-knn model',
                                           'customer-base models', 'scores', 'campaigns'];
    p             @extschema@.pipelines;
    run           bigint;
    run_started   timestamptz := pg_catalog.clock_timestamp();
    as_of         timestamptz;
    cutoff        timestamptz;
    horizon       float8;                  -- the churn horizon in weeks, the customer-base models' unit
    is_purchase   text;
    order_expr    text;
    names         text[] := @extschema@.user_feature_names();
    columns       text;
    kept          text[];
    nonconstant   text[];
    features      text;
    dropped       jsonb;
    corr          jsonb;
    partner       text;
    c             text;
    step          text;
    step_id       bigint;
    step_status   text;
    step_rows     bigint;
    step_metrics  jsonb;
    step_message  text;
    failures      integer := 0;
    interrupted   boolean := false;
    final_error   boolean := false;
    locked        boolean := false;
    holder_pid    integer;
    holder_state  text;
    err_state     text;
    err_message   text;
    lock_class    constant integer := pg_catalog.hashtext('retention.refresh');
    lock_key      constant integer := pg_catalog.hashtext(pipeline);
    churn_name    text := pipeline || '_churn';
    new_auc       float8;
    champion      integer;
    contest       jsonb;                   -- train_churn_candidates: the candidates and the version in use
    churn_stored  record;
    churn         @extschema@.logreg_model;  -- the churn model in use: logistic,
    churn_trees   @extschema@.gbdt_model;    -- or a tree ensemble (the other is NULL)
    churn_means   float8[];                -- its features' training means, for the trees' explanations
    knn           @extschema@.item_knn_model;
    knn_version   integer;
    knn_metrics   jsonb;
    candidate     text;
    fit_now       jsonb;
    fit_cut       jsonb;
    candidates    jsonb;
    best          jsonb;
    base          jsonb;                   -- the customer-base model in use (fitted at as_of), or NULL
    base_cut      jsonb;                   -- the same kind fitted at cutoff, for the backtests
    base_version  integer;
    spend         @extschema@.gamma_gamma_model;
    spend_cut     @extschema@.gamma_gamma_model;
    min_auc       float8;
    backtest      jsonb := '{}';           -- per score: auc, n, published, reason
    popular       bigint[];
BEGIN
    -- COMMIT here fails at once inside a transaction block, before anything is locked
    COMMIT;
    BEGIN
        -- no object of the caller's schemas may stand in for a built-in below.
        -- A procedure that COMMITs cannot carry a SET clause, so the path is set
        -- for the current transaction only, again after every COMMIT: a commit,
        -- an error or a cancel gives the caller's path back by itself.
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- from here on a cancel is let through only inside these blocks, where
        -- it is caught; an error that escapes still releases the lock
        PERFORM @extschema@.refresh_guard_begin(lock_class, lock_key);
        SELECT * INTO p FROM @extschema@.pipelines AS x WHERE x.name = pipeline;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('pipeline "%s" does not exist', pipeline),
                HINT = 'Describe the events table with INSERT INTO retention.pipelines (name, events, ...).';
        END IF;
        -- held across the commits below, so two refreshes of one pipeline never
        -- interleave; released on every way out (a cancel included).  A lock this
        -- session still holds is left from an interrupted run here: not taken twice.
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                          AND l.classid = pg_catalog.oid(lock_class::bigint & 4294967295)
                          AND l.objid = pg_catalog.oid(lock_key::bigint & 4294967295)
                          AND l.objsubid = 2 AND l.granted)
           AND NOT pg_catalog.pg_try_advisory_lock(lock_class, lock_key) THEN
            SELECT a.pid, a.state INTO holder_pid, holder_state
              FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.classid = pg_catalog.oid(lock_class::bigint & 4294967295)
               AND l.objid = pg_catalog.oid(lock_key::bigint & 4294967295) AND l.objsubid = 2
             LIMIT 1;
            IF holder_state <> 'active' THEN
                RAISE EXCEPTION USING ERRCODE = '55P03',
                    MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline),
                    DETAIL = pg_catalog.format('Session %s (%s) holds the pipeline''s lock.', holder_pid, holder_state),
                    HINT = 'That session is not running anything: a refresh interrupted between two steps left the lock. Its next CALL retention.refresh() takes it over and releases it; pg_terminate_backend ends it.';
            END IF;
            RAISE EXCEPTION USING ERRCODE = '55P03',
                MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline),
                DETAIL = pg_catalog.format('Session %s holds the pipeline''s lock.', COALESCE(holder_pid::text, '(gone)'));
        END IF;
        locked := true;
    EXCEPTION WHEN query_canceled THEN
        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
        interrupted := true;
    END;
    IF interrupted THEN
        -- the lock may have been taken just before the cancel
        PERFORM @extschema@.refresh_guard_end();
        RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = err_message;
    END IF;

    BEGIN
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        run := pg_catalog.nextval('@extschema@.refresh_run_ids');
        -- nobody else refreshes this pipeline: a step still "running" belongs to
        -- a run that was interrupted (cancel, crash, lost connection)
        UPDATE @extschema@.refresh_runs AS r
           SET status = 'failed', finished_at = COALESCE(r.finished_at, pg_catalog.clock_timestamp()),
               message = 'interrupted before it finished (cancelled, or the session ended); marked when the next run started'
         WHERE r.pipeline = p.name AND r.status = 'running';
        -- and such a run, like one cancelled while recording its end, has no row of its own
        INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, message)
        SELECT r.run_id, p.name, 'refresh', 'failed', pg_catalog.min(r.started_at), pg_catalog.max(r.finished_at),
               'interrupted before it finished (cancelled, or the session ended); marked when the next run started'
          FROM @extschema@.refresh_runs AS r
         WHERE r.pipeline = p.name
         GROUP BY r.run_id
        HAVING NOT pg_catalog.bool_or(r.step = 'refresh');
        PERFORM @extschema@.drop_refresh_tables();
        as_of := COALESCE(p.as_of, pg_catalog.now());
        cutoff := as_of - p.churn_horizon;
        horizon := extract(epoch FROM p.churn_horizon) / (7 * 86400);
        min_auc := p.min_backtest_auc;
        is_purchase := pg_catalog.format('%I = %L', p.event_column, p.purchase_event);
        order_expr := CASE WHEN p.order_column IS NULL THEN 'NULL::text'
                         ELSE pg_catalog.format('(%I)::text', p.order_column) END;
        -- counts, amounts and durations are heavy-tailed: one huge order must not
        -- dominate a linear model, so they enter as log(1 + x); rates stay as they
        -- are.  With an order column, purchases count distinct orders and the
        -- average order value divides by them.
        columns := (SELECT pg_catalog.string_agg(pg_catalog.format(
                        CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                             THEN '%s AS %I' ELSE 'pg_catalog.ln(1 + GREATEST(%s, 0)) AS %I' END,
                        CASE WHEN p.order_column IS NOT NULL AND u.c = 'purchases'
                             THEN 'COALESCE(o.orders, 0)::float8'
                             WHEN p.order_column IS NOT NULL AND u.c = 'avg_order_value'
                             THEN pg_catalog.format('COALESCE(f.features[%s] / NULLIF(o.orders, 0), 0)',
                                                    pg_catalog.array_position(names, 'total_spend'))
                             ELSE pg_catalog.format('f.features[%s]', u.i) END,
                        CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                             THEN u.c ELSE 'log_' || u.c END),
                        ', ' ORDER BY u.i)
                      FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
        names := (SELECT pg_catalog.array_agg(
                      CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                           THEN u.c ELSE 'log_' || u.c END ORDER BY u.i)
                    FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
    EXCEPTION WHEN query_canceled THEN
        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
        interrupted := true;
    END;

    FOREACH step IN ARRAY steps LOOP
        EXIT WHEN interrupted;
        BEGIN
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
            VALUES (run, pipeline, step, 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
        EXCEPTION WHEN query_canceled THEN
            GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
            interrupted := true;
        END;
        EXIT WHEN interrupted;
        COMMIT;
        -- each step in its own subtransaction: its failure rolls back only its
        -- own work, and is logged; query_canceled is not among OTHERS, so a
        -- cancel is caught by name, and handled after the loop
        BEGIN
            step_status := 'ok';
            step_rows := NULL;
            step_metrics := NULL;
            step_message := NULL;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            -- test-only switch: make one step fail (see test/loop/operations.sh)
            IF pg_catalog.current_setting('retention.test_fail_step', true) = step THEN
                RAISE EXCEPTION USING ERRCODE = 'XX000',
                    MESSAGE = pg_catalog.format('step "%s" failed on purpose (retention.test_fail_step)', step);
            END IF;
            CASE step
            ------------------------------------------------------------------
            -- customer summaries: each customer's weekly recency-frequency-
            -- monetary summary at as_of and at cutoff, and the items each bought.
            -- Both are grouped by the user id as they are read, so on a table
            -- distributed by it (Citus) the workers summarise and the
            -- coordinator receives one row per customer and per customer and
            -- item, never the purchase events.
            ------------------------------------------------------------------
            WHEN 'customer summaries' THEN
                EXECUTE pg_catalog.format(
                    $q$CREATE TEMP TABLE retention_customers AS
                       SELECT %I::bigint AS user_id,
                              @extschema@.rfm_summary(%I, (%I)::float8, $1, 'week') AS at_as_of,
                              @extschema@.rfm_summary(%I, (%I)::float8, $2, 'week') FILTER (WHERE %I <= $2) AS at_cutoff,
                              pg_catalog.min(%I) <= $2 AS known_at_cutoff,
                              pg_catalog.bool_and(%I <= $2) AS churned,
                              pg_catalog.count(*) AS purchases,
                              pg_catalog.count(DISTINCT %s)
                                  OPERATOR(pg_catalog.+) pg_catalog.bool_or(%s IS NULL)::integer AS orders
                         FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL
                        GROUP BY %I$q$,
                    p.user_column, p.time_column, p.amount_column, p.time_column, p.amount_column, p.time_column,
                    p.time_column, p.time_column, order_expr, order_expr,
                    p.events, is_purchase, p.time_column, p.user_column, p.item_column, p.user_column)
                    USING as_of, cutoff;
                EXECUTE pg_catalog.format(
                    $q$CREATE TEMP TABLE retention_purchased_items AS
                       SELECT %I::bigint AS user_id, %I::bigint AS item_id,
                              pg_catalog.min(%I) <= $2 AS by_cutoff, pg_catalog.max(%I) > $2 AS after_cutoff
                         FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL
                        GROUP BY %I, %I$q$,
                    p.user_column, p.item_column, p.time_column, p.time_column,
                    p.events, is_purchase, p.time_column, p.user_column, p.item_column,
                    p.user_column, p.item_column)
                    USING as_of, cutoff;
                CREATE TEMP TABLE retention_rfm AS
                    SELECT user_id, (at_as_of).* FROM pg_temp.retention_customers;
                CREATE TEMP TABLE retention_rfm_cutoff AS
                    SELECT user_id, (at_cutoff).* FROM pg_temp.retention_customers WHERE known_at_cutoff;
                -- who actually stopped buying: customers of the cutoff without a
                -- purchase in (cutoff, as_of], the outcome the backtests rank
                CREATE TEMP TABLE retention_backtest AS
                    SELECT user_id, churned FROM pg_temp.retention_customers WHERE known_at_cutoff;
                ANALYZE pg_temp.retention_purchased_items, pg_temp.retention_rfm, pg_temp.retention_rfm_cutoff,
                        pg_temp.retention_backtest;
                SELECT pg_catalog.count(*) INTO step_rows FROM pg_temp.retention_rfm;
                step_metrics := pg_catalog.jsonb_build_object(
                    'purchases', (SELECT COALESCE(pg_catalog.sum(c.purchases), 0) FROM pg_temp.retention_customers AS c),
                    'orders', CASE WHEN p.order_column IS NOT NULL THEN
                                  (SELECT COALESCE(pg_catalog.sum(c.orders), 0) FROM pg_temp.retention_customers AS c) END,
                    'customers', step_rows,
                    'customers_at_cutoff', (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm_cutoff));

            ------------------------------------------------------------------
            -- features: as of cutoff with the churn label over (cutoff, as_of]
            -- for training, and as of as_of for scoring
            ------------------------------------------------------------------
            WHEN 'features' THEN
                -- the training set at the cutoff (with the label and a holdout
                -- fifth by a hash of the user id), the customers to score at as_of
                FOREACH c IN ARRAY ARRAY['retention_training', 'retention_current'] LOOP
                    EXECUTE pg_catalog.format(
                        $q$CREATE TEMP TABLE %I AS
                           SELECT f.user_id, %s %s
                             FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                            purchase_event => $10) AS f
                             LEFT JOIN (SELECT %I::bigint AS user_id, pg_catalog.count(DISTINCT %s) AS orders
                                          FROM %s WHERE %s AND %I <= $2 GROUP BY 1) AS o ON o.user_id = f.user_id$q$,
                        c, CASE WHEN c = 'retention_training'
                                THEN 'f.churned, (pg_catalog.hashtext(f.user_id::text) & 65535) < 13107 AS holdout,'
                                ELSE '' END,
                        columns, p.user_column, order_expr, p.events, is_purchase, p.time_column)
                        USING p.events, CASE WHEN c = 'retention_training' THEN cutoff ELSE as_of END,
                              p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                              p.event_column, p.item_column, p.amount_column, p.purchase_event;
                END LOOP;
                ANALYZE pg_temp.retention_training, pg_temp.retention_current;

                -- constant features carry no information and make the fit singular
                EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM pg_temp.retention_training',
                    (SELECT pg_catalog.string_agg(pg_catalog.format(
                                'CASE WHEN pg_catalog.stddev_pop(%I) > 1e-9 THEN %L END', u.c, u.c), ', ')
                       FROM pg_catalog.unnest(names) AS u(c)))
                    INTO kept;
                kept := pg_catalog.array_remove(kept, NULL);
                -- the rule for duplicates and near-collinear pairs: walking the
                -- features in user_feature_names() order, a feature whose Pearson
                -- correlation with an already kept one is 0.9 or more in absolute
                -- value (on the training rows, after log(1 + x)) is dropped.  Their
                -- coefficients would split one effect between them, with signs
                -- that mislead an explanation.
                IF pg_catalog.cardinality(kept) > 1 THEN
                    EXECUTE pg_catalog.format('SELECT %s FROM pg_temp.retention_training',
                        (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.jsonb_build_object(%L, pg_catalog.corr(%I, %I))',
                                                                        a.c || '|' || b.c, a.c, b.c), ' || ')
                           FROM pg_catalog.unnest(kept) WITH ORDINALITY AS a(c, i)
                           JOIN pg_catalog.unnest(kept) WITH ORDINALITY AS b(c, i) ON a.i < b.i))
                        INTO corr;
                END IF;
                dropped := '[]';
                nonconstant := kept;
                kept := '{}';
                FOREACH c IN ARRAY nonconstant LOOP
                    SELECT k INTO partner FROM pg_catalog.unnest(kept) AS k
                     WHERE abs((corr ->> (k || '|' || c))::float8) >= 0.9
                     ORDER BY abs((corr ->> (k || '|' || c))::float8) DESC LIMIT 1;
                    IF partner IS NULL THEN
                        kept := kept || c;
                    ELSE
                        dropped := dropped || pg_catalog.jsonb_build_object(
                            'feature', c, 'correlated_with', partner,
                            'r', pg_catalog.round((corr ->> (partner || '|' || c))::numeric, 4));
                    END IF;
                END LOOP;
                features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', k), ', ' ORDER BY i)
                               FROM pg_catalog.unnest(kept) WITH ORDINALITY AS u(k, i));
                SELECT pg_catalog.count(*) INTO step_rows FROM pg_temp.retention_training;
                step_metrics := pg_catalog.jsonb_build_object(
                    'as_of', as_of, 'cutoff', cutoff,
                    'training_users', step_rows,
                    'churn_rate', (SELECT pg_catalog.avg(churned::integer) FROM pg_temp.retention_training),
                    'scoring_users', (SELECT pg_catalog.count(*) FROM pg_temp.retention_current),
                    'purchases_count', CASE WHEN p.order_column IS NULL THEN 'purchase events' ELSE 'orders' END,
                    'features', kept,
                    'constant_features_dropped',
                    (SELECT pg_catalog.array_agg(u.c) FROM pg_catalog.unnest(names) AS u(c)
                      WHERE u.c <> ALL (nonconstant)),
                    'collinear_features_dropped', dropped);

            ------------------------------------------------------------------
            -- churn model: the pipeline's candidates (logistic, elastic net with
            -- lambda by cross-validation, gradient-boosted trees) trained on the
            -- same users and compared on the same holdout users; the best by
            -- ROC AUC becomes the new version only if it is at least as good as
            -- the current one there.  The holdout is the churn probability's
            -- backtest: users no candidate was trained on, scored at cutoff,
            -- against who churned in the horizon that followed.
            ------------------------------------------------------------------
            WHEN 'churn model' THEN
                IF features IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no features to train on; see the features step of this run';
                END IF;
                contest := @extschema@.train_churn_candidates(churn_name, 'pg_temp.retention_training', 'churned', kept,
                                                              'holdout', 'user_id', p.churn_candidates, p.churn_options);
                champion := (contest ->> 'version')::integer;
                IF champion IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no churn model candidate could be trained',
                        DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', e ->> 'candidate', e ->> 'error'), '; ')
                                    FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e);
                END IF;
                SELECT m.kind, m.model, m.feature_names INTO churn_stored
                  FROM @extschema@.models AS m WHERE m.name = churn_name AND m.version = champion;
                IF churn_stored.kind = 'gbdt' THEN
                    churn_trees := churn_stored.model::text::@extschema@.gbdt_model;
                ELSE
                    churn := churn_stored.model::text::@extschema@.logreg_model;
                END IF;
                features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', u.c), ', ' ORDER BY u.i)
                               FROM pg_catalog.unnest(churn_stored.feature_names) WITH ORDINALITY AS u(c, i));
                -- the training users' means, for the direction an explanation of the trees reads
                EXECUTE pg_catalog.format('SELECT ARRAY[%s]::float8[] FROM pg_temp.retention_training WHERE NOT holdout',
                    (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.avg(%I)', u.c), ', ' ORDER BY u.i)
                       FROM pg_catalog.unnest(churn_stored.feature_names) WITH ORDINALITY AS u(c, i)))
                    INTO churn_means;

                DELETE FROM @extschema@.churn_holdout WHERE churn_holdout.pipeline = refresh.pipeline;
                EXECUTE pg_catalog.format(
                    $q$INSERT INTO @extschema@.churn_holdout (pipeline, model_version, churn_prob, churned)
                       SELECT $1, $2, s.prob, s.churned
                         FROM (SELECT COALESCE(@extschema@.churn_prob($3, ARRAY[%s]::float8[]),
                                               @extschema@.churn_prob($4, ARRAY[%s]::float8[])) AS prob, churned
                                 FROM pg_temp.retention_training WHERE holdout) AS s
                        WHERE s.prob IS NOT NULL$q$, features, features)
                    USING pipeline, champion, churn, churn_trees;
                GET DIAGNOSTICS step_rows = ROW_COUNT;
                new_auc := COALESCE((SELECT (e #>> '{holdout,roc_auc}')::float8
                                       FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e
                                      WHERE (e ->> 'chosen')::boolean),
                                    (contest #>> '{previous,holdout,roc_auc}')::float8);
                backtest := backtest || pg_catalog.jsonb_build_object('churn_prob',
                    @extschema@.refresh_backtest_entry(new_auc, step_rows, min_auc,
                                                       'holdout users of the churn model'));
                IF NOT (backtest -> 'churn_prob' ->> 'published')::boolean THEN
                    churn := NULL;
                    churn_trees := NULL;
                END IF;
                step_status := CASE WHEN (contest ->> 'kept_previous')::boolean THEN 'kept previous' ELSE 'ok' END;
                step_metrics := pg_catalog.jsonb_build_object(
                    'version', champion, 'kind', churn_stored.kind, 'candidate', contest ->> 'candidate',
                    'holdout_auc', new_auc,
                    'previous_version', contest #> '{previous,version}',
                    'previous_holdout_auc', contest #> '{previous,holdout,roc_auc}',
                    'candidates', (SELECT pg_catalog.jsonb_agg(e - 'model')
                                     FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e),
                    'backtest', backtest -> 'churn_prob');
                step_message := CASE WHEN (contest ->> 'kept_previous')::boolean THEN pg_catalog.format(
                    'the best candidate (%s) has holdout AUC %s, below the AUC %s of version %s on the same users; version %s stays in use',
                    COALESCE(contest ->> 'best', 'none trained'),
                    COALESCE((SELECT pg_catalog.round((e #>> '{holdout,roc_auc}')::numeric, 4)::text
                                FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e
                               WHERE e ->> 'candidate' = contest ->> 'best'), '-'),
                    pg_catalog.round((contest #>> '{previous,holdout,roc_auc}')::numeric, 4),
                    champion, champion) END;

            ------------------------------------------------------------------
            -- item-kNN: rebuilt on every purchase, evaluated on a split at cutoff
            ------------------------------------------------------------------
            WHEN 'item-knn model' THEN
                CREATE TEMP TABLE retention_knn_train AS
                    SELECT user_id, item_id FROM pg_temp.retention_purchased_items WHERE by_cutoff;
                CREATE TEMP TABLE retention_knn_test AS
                    SELECT user_id, item_id FROM pg_temp.retention_purchased_items WHERE after_cutoff;
                SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) ORDER BY e.recommender) INTO knn_metrics
                  FROM @extschema@.evaluate_item_knn('pg_temp.retention_knn_train', 'pg_temp.retention_knn_test',
                                                     p.neighbors, 10) AS e;
                SELECT @extschema@.item_knn(u.user_id, u.item_id, 1.0, p.neighbors) INTO knn
                  FROM pg_temp.retention_purchased_items AS u;
                knn_version := @extschema@.item_knn_save(pipeline || '_item_knn', knn, p.events::text,
                                                         pg_catalog.jsonb_build_object('evaluation', knn_metrics,
                                                                                       'k', 10, 'as_of', as_of,
                                                                                       'cutoff', cutoff));
                step_rows := (SELECT i.items FROM @extschema@.item_knn_model_info(knn) AS i);
                step_metrics := pg_catalog.jsonb_build_object('version', knn_version, 'evaluation', knn_metrics);

            ------------------------------------------------------------------
            -- customer base: every candidate fitted at as_of (to publish) and at
            -- cutoff (to backtest).  A candidate is used only if the data
            -- identify its parameters at both times; P(alive) and expected
            -- purchases are published only where their backtest AUC reaches
            -- min_backtest_auc.  Where the dropout of BG/NBD vanishes, what is
            -- left of it is the NBD purchase model (r, alpha): expected
            -- purchases without P(alive).
            ------------------------------------------------------------------
            WHEN 'customer-base models' THEN
                candidates := '[]';
                FOREACH candidate IN ARRAY ARRAY['bgnbd', 'mbgnbd', 'pareto_nbd'] LOOP
                    -- a model type this build does not have is no candidate
                    CONTINUE WHEN pg_catalog.to_regprocedure(pg_catalog.format(
                        '@extschema@.%I(float8, float8, float8)', candidate || '_fit')) IS NULL;
                    EXECUTE pg_catalog.format('SELECT @extschema@.%I(frequency, recency, t)::jsonb FROM pg_temp.retention_rfm',
                                              candidate || '_fit') INTO fit_now;
                    EXECUTE pg_catalog.format('SELECT @extschema@.%I(frequency, recency, t)::jsonb FROM pg_temp.retention_rfm_cutoff',
                                              candidate || '_fit') INTO fit_cut;
                    candidates := candidates || @extschema@.refresh_candidate(candidate, fit_now, fit_cut, horizon);
                    -- the NBD limit of a BG/NBD whose dropout vanished
                    IF candidate = 'bgnbd' AND fit_now IS NOT NULL AND fit_cut IS NOT NULL
                       AND (fit_now ->> 'a')::float8 / ((fit_now ->> 'a')::float8 + (fit_now ->> 'b')::float8) < 1e-3
                       AND (fit_cut ->> 'a')::float8 / ((fit_cut ->> 'a')::float8 + (fit_cut ->> 'b')::float8) < 1e-3 THEN
                        candidates := candidates || @extschema@.refresh_candidate('nbd',
                            pg_catalog.jsonb_build_object('kind', 'nbd', 'r', fit_now -> 'r', 'alpha', fit_now -> 'alpha',
                                                          'n', fit_now -> 'n', 'from', 'bgnbd with a/(a+b) near 0'),
                            pg_catalog.jsonb_build_object('kind', 'nbd', 'r', fit_cut -> 'r', 'alpha', fit_cut -> 'alpha',
                                                          'n', fit_cut -> 'n', 'from', 'bgnbd with a/(a+b) near 0'),
                            horizon);
                    END IF;
                END LOOP;
                -- the best usable candidate: by the backtest AUC of P(alive) where it
                -- is published, else by that of expected purchases
                SELECT x INTO best FROM pg_catalog.jsonb_array_elements(candidates) AS x
                 WHERE x ->> 'problem' IS NULL
                   AND (x ->> 'expected_purchases_auc')::float8 >= min_auc
                 ORDER BY (x ->> 'p_alive_auc')::float8 >= min_auc DESC NULLS LAST,
                          (x ->> 'p_alive_auc')::float8 DESC NULLS LAST,
                          (x ->> 'expected_purchases_auc')::float8 DESC
                 LIMIT 1;
                base := best -> 'fit';
                base_cut := best -> 'fit_at_cutoff';
                backtest := backtest || pg_catalog.jsonb_build_object(
                    'p_alive', CASE WHEN best IS NULL OR best ->> 'p_alive_auc' IS NULL
                                    THEN @extschema@.refresh_withheld(candidates, 'p_alive_auc', min_auc)
                                    ELSE @extschema@.refresh_backtest_entry((best ->> 'p_alive_auc')::float8,
                                             (best ->> 'n')::bigint, min_auc, best ->> 'model') END,
                    'expected_purchases', CASE WHEN best IS NULL
                                    THEN @extschema@.refresh_withheld(candidates, 'expected_purchases_auc', min_auc)
                                    ELSE @extschema@.refresh_backtest_entry((best ->> 'expected_purchases_auc')::float8,
                                             (best ->> 'n')::bigint, min_auc, best ->> 'model') END);
                -- spend per purchase, for the lifetime value
                SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend
                  FROM pg_temp.retention_rfm WHERE frequency > 0 AND monetary > 0;
                SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend_cut
                  FROM pg_temp.retention_rfm_cutoff WHERE frequency > 0 AND monetary > 0;
                IF @extschema@.customer_base_fit_problem(spend::jsonb) IS NOT NULL
                   OR @extschema@.customer_base_fit_problem(spend_cut::jsonb) IS NOT NULL THEN
                    backtest := backtest || pg_catalog.jsonb_build_object('predicted_clv', pg_catalog.jsonb_build_object(
                        'published', false,
                        'reason', 'Gamma-Gamma spend model: ' || COALESCE(
                            @extschema@.customer_base_fit_problem(spend::jsonb),
                            'at the backtest cutoff, ' || @extschema@.customer_base_fit_problem(spend_cut::jsonb),
                            'too few repeat customers to fit')));
                    spend := NULL;
                    spend_cut := NULL;
                END IF;
                IF base IS NOT NULL THEN
                    base_version := @extschema@.save_model(pipeline || '_' || (base ->> 'kind'), base ->> 'kind', base,
                                                           pg_catalog.jsonb_build_object('backtest', best - 'fit' - 'fit_at_cutoff'),
                                                           p.events::text);
                END IF;
                IF spend IS NOT NULL THEN
                    PERFORM @extschema@.save_model(pipeline || '_spend', 'gamma_gamma', spend::jsonb, NULL, p.events::text);
                END IF;
                step_rows := (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm);
                step_metrics := pg_catalog.jsonb_build_object(
                    'model', base ->> 'kind', 'version', base_version,
                    'candidates', candidates, 'gamma_gamma', spend::jsonb,
                    'backtest', pg_catalog.jsonb_build_object('p_alive', backtest -> 'p_alive',
                                                              'expected_purchases', backtest -> 'expected_purchases'));
                IF base IS NULL THEN
                    step_message := 'no customer-base model earns its place; P(alive), expected purchases and lifetime value are withheld: '
                                    || (backtest -> 'expected_purchases' ->> 'reason');
                ELSIF NOT (backtest -> 'p_alive' ->> 'published')::boolean THEN
                    step_message := 'P(alive) withheld: ' || (backtest -> 'p_alive' ->> 'reason');
                END IF;

            ------------------------------------------------------------------
            -- scores: every customer, replaced in one transaction; NULL where a
            -- step failed or a score did not earn its place
            ------------------------------------------------------------------
            WHEN 'scores' THEN
                IF pg_catalog.to_regclass('pg_temp.retention_current') IS NULL
                   AND pg_catalog.to_regclass('pg_temp.retention_rfm') IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no customers to score: the customer summaries and features steps failed';
                END IF;
                -- what a failed step did not make stands empty
                IF pg_catalog.to_regclass('pg_temp.retention_current') IS NULL THEN
                    CREATE TEMP TABLE retention_current (user_id bigint);
                END IF;
                IF pg_catalog.to_regclass('pg_temp.retention_rfm') IS NULL THEN
                    CREATE TEMP TABLE retention_rfm (user_id bigint, frequency float8, recency float8,
                                                     t float8, monetary float8);
                END IF;
                IF pg_catalog.to_regclass('pg_temp.retention_purchased_items') IS NULL THEN
                    CREATE TEMP TABLE retention_purchased_items (user_id bigint, item_id bigint);
                END IF;
                IF (churn IS NULL AND churn_trees IS NULL) OR features IS NULL THEN
                    churn := NULL;
                    churn_trees := NULL;
                    features := 'NULL';
                END IF;
                -- every customer's customer-base scores, apart: a model that cannot
                -- score someone (a horizon its series cannot reach) withholds
                -- them, with the error, and the other scores still land
                CREATE TEMP TABLE retention_base_scores (user_id bigint, p_alive float8,
                                                         expected_purchases float8, clv float8);
                IF base IS NOT NULL THEN
                    BEGIN
                        INSERT INTO pg_temp.retention_base_scores
                        SELECT m.user_id,
                               CASE WHEN (backtest -> 'p_alive' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_p_alive(base, m.frequency, m.recency, m.t) END,
                               CASE WHEN (backtest -> 'expected_purchases' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_expected_purchases(base, horizon, m.frequency,
                                                                                      m.recency, m.t) END,
                               CASE WHEN (backtest -> 'expected_purchases' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_clv(base, spend, m.frequency, m.recency, m.t,
                                                                       m.monetary, p.clv_months, 52.0 / 12,
                                                                       p.monthly_discount) END
                          FROM pg_temp.retention_rfm AS m;
                    EXCEPTION WHEN data_exception THEN
                        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                        backtest := backtest || pg_catalog.jsonb_build_object(
                            'p_alive', pg_catalog.jsonb_build_object('published', false,
                                'reason', (base ->> 'kind') || ' cannot score every customer: ' || err_message),
                            'expected_purchases', pg_catalog.jsonb_build_object('published', false,
                                'reason', (base ->> 'kind') || ' cannot score every customer: ' || err_message));
                    END;
                END IF;
                -- value at risk, backtested like the rest: lifetime value at cutoff
                -- times the churn probability of the holdout users
                IF (churn IS NOT NULL OR churn_trees IS NOT NULL) AND spend IS NOT NULL
                   AND (backtest -> 'expected_purchases' ->> 'published')::boolean THEN
                    BEGIN
                        EXECUTE pg_catalog.format(
                            $q$SELECT @extschema@.roc_auc(s.v, s.churned), pg_catalog.count(s.v)
                                 FROM (SELECT tr.churned,
                                              COALESCE(@extschema@.churn_prob($1, ARRAY[%s]::float8[]),
                                                       @extschema@.churn_prob($6, ARRAY[%s]::float8[]))
                                              * @extschema@.customer_base_clv($2, $3, m.frequency, m.recency, m.t,
                                                                              m.monetary, $4, 52.0 / 12, $5) AS v
                                         FROM pg_temp.retention_training AS tr
                                         JOIN pg_temp.retention_rfm_cutoff AS m ON m.user_id = tr.user_id
                                        WHERE tr.holdout) AS s$q$, features, features)
                            INTO new_auc, step_rows
                            USING churn, base_cut, spend_cut, p.clv_months, p.monthly_discount, churn_trees;
                        backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk',
                            @extschema@.refresh_backtest_entry(new_auc, step_rows, min_auc,
                                'holdout users: churn probability times lifetime value at cutoff'));
                    EXCEPTION WHEN data_exception THEN
                        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                        backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk', pg_catalog.jsonb_build_object(
                            'published', false,
                            'reason', 'the lifetime value at cutoff cannot be computed for every holdout user: '
                                      || err_message));
                    END;
                ELSE
                    backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk', pg_catalog.jsonb_build_object(
                        'published', false,
                        'reason', 'needs a published churn probability, expected purchases and spend model'));
                END IF;
                SELECT pg_catalog.array_agg(item_id ORDER BY buyers DESC, item_id) INTO popular
                  FROM (SELECT item_id, pg_catalog.count(*) AS buyers
                          FROM pg_temp.retention_purchased_items GROUP BY item_id
                         ORDER BY buyers DESC, item_id LIMIT 10) AS top;
                DELETE FROM @extschema@.customer_scores WHERE customer_scores.pipeline = refresh.pipeline;
                EXECUTE pg_catalog.format(
                    $q$INSERT INTO @extschema@.customer_scores
                           (pipeline, user_id, churn_prob, p_alive, expected_purchases, predicted_clv,
                            value_at_risk, top_features, recommended_items, churn_model_version,
                            item_knn_version, bgnbd_version, scored_at, customer_base_model)
                       SELECT $1, u.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.clv,
                              CASE WHEN $9 THEN s.clv * s.churn_prob END,
                              COALESCE(@extschema@.churn_explanation($2, s.f),
                                       @extschema@.churn_explanation($10, s.f, $11)),
                              ARRAY(SELECT r.item_id FROM @extschema@.recommend($3, COALESCE(b.seen, '{}'), 3, $4) AS r),
                              $5, $6, $7, pg_catalog.now(), $8 ->> 'kind'
                         FROM (SELECT user_id FROM pg_temp.retention_current
                               UNION SELECT user_id FROM pg_temp.retention_rfm) AS u
                         LEFT JOIN pg_temp.retention_current AS c ON c.user_id = u.user_id
                         LEFT JOIN pg_temp.retention_base_scores AS bs ON bs.user_id = u.user_id
                         LEFT JOIN (SELECT user_id, pg_catalog.array_agg(DISTINCT item_id) AS seen
                                      FROM pg_temp.retention_purchased_items GROUP BY user_id) AS b
                                ON b.user_id = u.user_id
                         CROSS JOIN LATERAL (
                             SELECT ARRAY[%s]::float8[] AS f,
                                    COALESCE(@extschema@.churn_prob($2, ARRAY[%s]::float8[]),
                                             @extschema@.churn_prob($10, ARRAY[%s]::float8[])) AS churn_prob,
                                    bs.p_alive, bs.expected_purchases, bs.clv) AS s$q$,
                    features, features, features)
                    USING pipeline, churn, knn, popular, champion, knn_version, base_version, base,
                          COALESCE((backtest -> 'value_at_risk' ->> 'published')::boolean, false),
                          churn_trees, churn_means;
                GET DIAGNOSTICS step_rows = ROW_COUNT;
                DROP TABLE pg_temp.retention_base_scores;
                step_metrics := pg_catalog.jsonb_build_object(
                    'at_risk', (SELECT pg_catalog.count(*) FROM @extschema@.customer_scores AS cs
                                 WHERE cs.pipeline = refresh.pipeline AND cs.churn_prob >= 0.5),
                    'value_at_risk', (SELECT pg_catalog.sum(cs.value_at_risk) FROM @extschema@.customer_scores AS cs
                                       WHERE cs.pipeline = refresh.pipeline),
                    'with_churn_prob', (SELECT pg_catalog.count(cs.churn_prob) FROM @extschema@.customer_scores AS cs
                                         WHERE cs.pipeline = refresh.pipeline),
                    'backtest', backtest,
                    'withheld', (SELECT pg_catalog.jsonb_object_agg(e.key, e.value -> 'reason')
                                   FROM pg_catalog.jsonb_each(backtest) AS e
                                  WHERE NOT (e.value ->> 'published')::boolean));
                IF churn IS NULL AND churn_trees IS NULL THEN
                    step_message := 'scored without churn probabilities: '
                                    || COALESCE(backtest -> 'churn_prob' ->> 'reason', 'the churn model step failed');
                END IF;

            ------------------------------------------------------------------
            -- campaigns: the pipeline's auto-assigned campaigns take the new
            -- at-risk customers into their treatment and control arms
            ------------------------------------------------------------------
            WHEN 'campaigns' THEN
                IF EXISTS (SELECT FROM @extschema@.refresh_runs r
                            WHERE r.run_id = run AND r.step = 'scores' AND r.status <> 'ok') THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no assignment: the scores step of this run failed';
                END IF;
                SELECT COALESCE(pg_catalog.sum(a.customers), 0)::bigint,
                       COALESCE(pg_catalog.jsonb_object_agg(a.campaign || ' ' || a.arm, a.customers), '{}')
                  INTO step_rows, step_metrics
                  FROM @extschema@.assign_campaigns(pipeline, as_of) a;
            END CASE;
            UPDATE @extschema@.refresh_runs
               SET status = step_status, finished_at = pg_catalog.clock_timestamp(), rows = step_rows,
                   metrics = step_metrics, message = step_message
             WHERE id = step_id;
        EXCEPTION
            WHEN query_canceled THEN
                GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                interrupted := true;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
                step_status := 'failed';
                step_metrics := NULL;
                step_message := err_state || ': ' || err_message;
        END;
        EXIT WHEN interrupted;
        -- the failure's bookkeeping, protected like the rest: between the blocks
        -- only EXIT and COMMIT run, so a cancel almost always lands in a handler
        BEGIN
            IF step_status = 'failed' THEN
                -- the step's work was rolled back; what it would have given is NULL
                failures := failures + 1;
                CASE step
                    WHEN 'features' THEN features := NULL;
                    WHEN 'churn model' THEN churn := NULL; churn_trees := NULL; champion := NULL;
                    WHEN 'item-knn model' THEN knn := NULL; knn_version := NULL;
                    WHEN 'customer-base models' THEN base := NULL; base_cut := NULL; base_version := NULL;
                                                     spend := NULL; spend_cut := NULL;
                    ELSE NULL;
                END CASE;
                UPDATE @extschema@.refresh_runs
                   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), message = step_message
                 WHERE id = step_id;
            END IF;
        EXCEPTION WHEN query_canceled THEN
            GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
            interrupted := true;
        END;
        EXIT WHEN interrupted;
        COMMIT;
    END LOOP;

    -- the run's own row, then the working tables and the lock, on every way out
    FOR attempt IN 1..2 LOOP
        BEGIN
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            IF run IS NOT NULL THEN
                IF interrupted THEN
                    UPDATE @extschema@.refresh_runs AS r
                       SET status = 'cancelled', finished_at = pg_catalog.clock_timestamp(),
                           message = COALESCE(err_message, 'canceling statement due to user request')
                     WHERE r.run_id = run AND r.status = 'running';
                END IF;
                INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, metrics, message)
                VALUES (run, pipeline, 'refresh',
                        CASE WHEN interrupted THEN 'cancelled' WHEN failures = 0 THEN 'ok' ELSE 'failed' END,
                        run_started, pg_catalog.clock_timestamp(),
                        pg_catalog.jsonb_build_object('as_of', as_of, 'backtest_cutoff', cutoff,
                                                      'min_backtest_auc', min_auc, 'backtest', backtest),
                        CASE WHEN interrupted THEN 'cancelled: ' || COALESCE(err_message, 'canceling statement due to user request')
                             WHEN failures > 0 THEN pg_catalog.format('%s step(s) failed', failures) END);
            END IF;
            PERFORM @extschema@.drop_refresh_tables();
        EXCEPTION
            WHEN query_canceled THEN
                -- cancelled while recording the end: once more, as cancelled (the
                -- cancel is spent, so this attempt runs through)
                IF NOT interrupted THEN
                    GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                END IF;
                interrupted := true;
                CONTINUE;
            WHEN OTHERS THEN
                -- raised below, once the lock is released
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
                final_error := true;
        END;
        EXIT;
    END LOOP;
    COMMIT;
    PERFORM @extschema@.refresh_guard_end();   -- releases the lock
    IF final_error THEN
        RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message,
            DETAIL = pg_catalog.format('Refresh run %s of pipeline "%s" could not record its end.', run, pipeline);
    END IF;
    IF interrupted THEN
        RAISE EXCEPTION USING ERRCODE = 'query_canceled',
            MESSAGE = COALESCE(err_message, 'canceling statement due to user request'),
            DETAIL = pg_catalog.format('Refresh run %s of pipeline "%s" was cancelled and is marked so in retention.refresh_runs.', run, pipeline);
    END IF;
    -- after the commits above, so the run history survives the error that
    -- makes a scheduler (pg_cron) report the night as failed
    IF failures > 0 THEN
        RAISE EXCEPTION 'retention.refresh(%): % step(s) failed', pipeline, failures
            USING HINT = pg_catalog.format('See SELECT * FROM retention.refresh_runs WHERE run_id = %s.', run);
    END IF;
END
$$;

COMMENT ON PROCEDURE @extschema@.refresh(text) IS
'rebuilds a pipeline: customer summaries, behaviour features, a new churn model version (the best of the pipeline''s churn_candidates on the holdout, kept only if not worse there than the version in use), item-kNN, the customer-base model that fits and earns its place on a backtest, every customer''s scores (NULL where a step failed or a score did not beat its backtest threshold), and the new at-risk customers of auto-assigned campaigns in their arms; each step committed and logged in retention.refresh_runs; CALL it outside a transaction block';
