--------------------------------------------------------------------------
-- The nightly loop's support: save_model, refresh()'s working tables,
-- backtest records and customer-base candidates, the churn explanations it
-- stores, and its guard.  The procedure itself is refresh.sql.
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
    -- only members of the name's owner add versions (the first saver owns it)
    PERFORM @extschema@.claim_model(name);
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
'stores a model (the jsonb form of any model type) as the next version of name in retention.models and returns the version; the first saver of a name owns it, later versions need membership in the owner (42501 otherwise)';

-- refresh()'s working tables live in the session's temporary schema
CREATE FUNCTION @extschema@.drop_refresh_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['retention_training', 'retention_current', 'retention_purchased_items', 'retention_customers',
                             'retention_knn_train', 'retention_knn_test', 'retention_rfm',
                             'retention_rfm_cutoff', 'retention_backtest'] LOOP
        IF pg_catalog.to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION @extschema@.drop_refresh_tables() IS
'drops the temporary working tables of retention.refresh() in this session, if any';

CREATE FUNCTION @extschema@.refresh_backtest_entry(auc float8, n bigint, min_auc float8, scored text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'auc', pg_catalog.round(auc::pg_catalog.numeric, 4),
        'n', n,
        'scored', scored,
        'published', COALESCE(auc OPERATOR(pg_catalog.>=) min_auc, false),
        'reason', CASE WHEN auc IS NULL THEN 'no backtest was possible (no churner or no survivor scored)'
                       WHEN auc OPERATOR(pg_catalog.<) min_auc
                       THEN pg_catalog.format('its backtest AUC %s is below the threshold %s',
                                              pg_catalog.round(auc::pg_catalog.numeric, 4), min_auc) END))
$$;

COMMENT ON FUNCTION @extschema@.refresh_backtest_entry(float8, bigint, float8, text) IS
'refresh()''s record of one score''s backtest: its ROC AUC against who churned, the users scored, and whether it reaches min_auc and is published (with the reason when not)';

CREATE FUNCTION @extschema@.refresh_candidate(kind text, fit jsonb, fit_at_cutoff jsonb, horizon float8)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    auc_alive float8;
    auc_expected float8;
    n bigint;
    failure text;
BEGIN
    IF fit IS NULL OR fit_at_cutoff IS NULL THEN
        problem := 'too few customers to fit';
    ELSE
        problem := NULLIF(concat_ws('; ',
                                    'as of as_of: ' || @extschema@.customer_base_fit_problem(fit),
                                    'as of the backtest cutoff: ' || @extschema@.customer_base_fit_problem(fit_at_cutoff)),
                          '');
        -- Rank the customers of the cutoff: the likelier to have left
        -- (1 - P(alive)) or the fewer purchases expected, the likelier to
        -- churn.  A fit the data do not identify is not used: its P(alive)
        -- is ranked only to show what it would have scored, and its expected
        -- purchases not at all (drifting towards a degenerate optimum, a and
        -- b of BG/NBD in the millions, they take a series of a million terms
        -- per customer; the FILTER keeps them from being computed).  A model
        -- that cannot score someone (a horizon its series cannot reach) is
        -- not usable.
        BEGIN
            SELECT @extschema@.roc_auc(1 - @extschema@.customer_base_p_alive(fit_at_cutoff, m.frequency, m.recency, m.t),
                                       b.churned),
                   @extschema@.roc_auc(-@extschema@.customer_base_expected_purchases(fit_at_cutoff, horizon, m.frequency,
                                                                                     m.recency, m.t), b.churned)
                       FILTER (WHERE problem IS NULL),
                   count(*)
              INTO auc_alive, auc_expected, n
              FROM pg_temp.retention_rfm_cutoff AS m
              JOIN pg_temp.retention_backtest AS b ON b.user_id = m.user_id;
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
        END;
    END IF;
    RETURN jsonb_build_object('model', kind, 'fit', fit, 'fit_at_cutoff', fit_at_cutoff,
                              'problem', problem, 'failure', failure, 'n', n,
                              'p_alive_auc', round(auc_alive::numeric, 4),
                              'expected_purchases_auc', round(auc_expected::numeric, 4));
END
$$;

COMMENT ON FUNCTION @extschema@.refresh_candidate(text, jsonb, jsonb, float8) IS
'refresh()''s assessment of a customer-base candidate: why its fits are not identified (if so), the error of a customer it cannot score (if any), and the backtest AUCs of 1 - P(alive) and (for an identified fit) of expected purchases at the cutoff, over refresh()''s working tables';

CREATE FUNCTION @extschema@.refresh_withheld(candidates jsonb, auc_key text, min_auc float8)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'published', false,
        'reason', COALESCE(pg_catalog.string_agg(
            pg_catalog.format('%s: %s', c OPERATOR(pg_catalog.->>) 'model',
                CASE WHEN c OPERATOR(pg_catalog.->>) 'problem' IS NOT NULL
                     THEN 'not identified (' OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) 'problem')
                          OPERATOR(pg_catalog.||) ')'
                          OPERATOR(pg_catalog.||) COALESCE(', backtest AUC ' OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) auc_key), '')
                     WHEN c OPERATOR(pg_catalog.->>) 'failure' IS NOT NULL
                     THEN 'cannot score every customer of the backtest cutoff: '
                          OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) 'failure')
                     WHEN c OPERATOR(pg_catalog.->>) auc_key IS NULL THEN 'gives no such score'
                     ELSE pg_catalog.format('backtest AUC %s is below the threshold %s',
                                            c OPERATOR(pg_catalog.->>) auc_key, min_auc) END),
            '; '), 'no candidate model could be fitted'))
      FROM pg_catalog.jsonb_array_elements(candidates) AS c
$$;

COMMENT ON FUNCTION @extschema@.refresh_withheld(jsonb, text, float8) IS
'refresh()''s record of a withheld customer-base score: why each candidate (from refresh_candidate) did not earn it';

CREATE FUNCTION @extschema@.churn_explanation(model @extschema@.logreg_model, features float8[], n integer DEFAULT 3)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'feature', e.feature,
               'contribution', pg_catalog.round(e.contribution::pg_catalog.numeric, 4),
               'direction', e.direction,
               'reads', pg_catalog.format('%s is %s than average, which raises the churn risk',
                                          pg_catalog.replace(pg_catalog.regexp_replace(e.feature, '^log_', ''), '_', ' '),
                                          e.direction))
           ORDER BY e.contribution DESC)
      FROM (SELECT x.feature, x.contribution,
                   CASE WHEN x.value OPERATOR(pg_catalog.>) x.mean THEN 'higher' ELSE 'lower' END AS direction
              FROM @extschema@.churn_explain(model, features) AS x
             WHERE x.contribution OPERATOR(pg_catalog.>) 0
             ORDER BY x.contribution DESC, x.feature
             LIMIT n) AS e
$$;

COMMENT ON FUNCTION @extschema@.churn_explanation(@extschema@.logreg_model, float8[], integer) IS
'the n features pushing a customer''s churn probability up most (churn_explain), each with its contribution to the log-odds, whether the customer''s value is higher or lower than the training average, and a sentence saying so';

-- in C (src/churn/gbdt_explanation.c): as a SQL function over churn_explain
-- each call rebuilt the model's scorer
CREATE FUNCTION @extschema@.churn_explanation(model @extschema@.gbdt_model, features float8[], means float8[],
                                              n integer DEFAULT 3)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'gbdt_churn_explanation'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_explanation(@extschema@.gbdt_model, float8[], float8[], integer) IS
'the n features pushing a customer''s churn probability up most under a tree ensemble (TreeSHAP values of churn_explain), each with its contribution to the log-odds, whether the customer''s value is higher or lower than means (the training averages, given), and a sentence saying so';

-- refresh()'s guard (refresh_guard.c): between its exception blocks a cancel
-- waits for the next block, where it is caught; an error that escapes the
-- procedure releases the pipeline lock.  Only usable inside a procedure.
CREATE FUNCTION @extschema@.refresh_guard_begin(lock_class integer, lock_key integer)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_guard_begin';

COMMENT ON FUNCTION @extschema@.refresh_guard_begin(integer, integer) IS
'internal to refresh(): from an exception block of a procedure, holds query cancels back outside the procedure''s blocks until the procedure ends or calls refresh_guard_end, and releases the advisory lock (lock_class, lock_key) if an error escapes';

CREATE FUNCTION @extschema@.refresh_guard_end()
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_guard_end';

COMMENT ON FUNCTION @extschema@.refresh_guard_end() IS
'internal to refresh(): releases the pipeline lock named to refresh_guard_begin and lets held cancels through; it takes no argument, so no NULL input';
