--------------------------------------------------------------------------
-- Per-user behaviour features and churn labels
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.user_feature_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['days_since_last_event', 'days_since_last_purchase', 'purchases', 'active_days',
                 'sessions', 'total_spend', 'avg_order_value', 'tenure_days', 'avg_session_minutes',
                 'views', 'clicks', 'carts', 'click_through_rate', 'view_to_purchase_rate',
                 'activity_trend', 'distinct_items', 'mean_days_between_purchases']
$$;

COMMENT ON FUNCTION @extschema@.user_feature_names() IS
'names of the elements of user_features().features, in order';

CREATE FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric,
        timestamptz, interval, interval, text, text, text, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'transition function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_final(internal)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'user_feature_values_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_final(internal) IS
'final function of user_feature_values: local days depend on TimeZone, hence STABLE';

CREATE FUNCTION @extschema@.user_feature_values_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_combine(internal, internal) IS
'combine function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_values_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_serialize(internal) IS
'serialisation function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal) IS
'deserialisation function of user_feature_values; checks every length';

CREATE AGGREGATE @extschema@.user_feature_values(ts timestamptz, event_type text, item text, amount numeric,
        cutoff timestamptz, horizon interval, session_gap interval, view_event text, click_event text,
        cart_event text, purchase_event text, churn_on text) (
    SFUNC = @extschema@.user_feature_values_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_feature_values_final,
    COMBINEFUNC = @extschema@.user_feature_values_combine,
    SERIALFUNC = @extschema@.user_feature_values_serialize,
    DESERIALFUNC = @extschema@.user_feature_values_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_feature_values(timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'one user''s features as of cutoff (GROUP BY user): the 17 values of user_feature_names(), NULL where undefined, then the churn label 1 or 0; see user_features';

CREATE FUNCTION @extschema@.user_feature_table_trans(internal, bigint, timestamptz, text, bigint, text,
        numeric, timestamptz, interval, interval, text, text, text, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_trans(internal, bigint, timestamptz, text, bigint, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'transition function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_final(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_table_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_final(internal) IS
'final function of user_feature_table: local days depend on TimeZone, hence STABLE';

CREATE FUNCTION @extschema@.user_feature_table_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_combine(internal, internal) IS
'combine function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_table_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_serialize(internal) IS
'serialisation function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_deserialize(bytea, internal) IS
'deserialisation function of user_feature_table; checks every field';

CREATE AGGREGATE @extschema@.user_feature_table(user_id bigint, ts timestamptz, event_type text,
        item_id bigint, item text, amount numeric, cutoff timestamptz, horizon interval,
        session_gap interval, view_event text, click_event text, cart_event text,
        purchase_event text, churn_on text) (
    SFUNC = @extschema@.user_feature_table_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_feature_table_final,
    COMBINEFUNC = @extschema@.user_feature_table_combine,
    SERIALFUNC = @extschema@.user_feature_table_serialize,
    DESERIALFUNC = @extschema@.user_feature_table_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_feature_table(bigint, timestamptz, text, bigint, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'every user''s user_feature_values in one pass without GROUP BY (distinct items: the integer item_id and the text item counted apart), as a bytea for user_feature_rows; see user_features';

CREATE FUNCTION @extschema@.user_feature_rows(features bytea, with_items boolean)
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
AS 'MODULE_PATHNAME', 'user_feature_rows'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100000;

COMMENT ON FUNCTION @extschema@.user_feature_rows(bytea, boolean) IS
'the rows of user_features from a user_feature_table result, by user id; distinct_items only with_items';

CREATE FUNCTION @extschema@.user_features(
    events regclass,
    cutoff timestamptz,
    horizon interval DEFAULT '30 days',
    churn_on text DEFAULT 'activity',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    item_column name DEFAULT 'item_id',
    amount_column name DEFAULT 'amount',
    view_event text DEFAULT 'view',
    click_event text DEFAULT 'click',
    cart_event text DEFAULT 'cart',
    purchase_event text DEFAULT 'purchase',
    session_gap interval DEFAULT '30 minutes')
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- Serial on purpose: sessions, active days and distinct items need every
-- event's time and item, so the states of a parallel plan carry every event
-- to the leader, which then merges what one process would have kept (on 10
-- million events, 4.3-4.7 s with two workers against 3.2-3.5 s alone)
SET max_parallel_workers_per_gather = 0
AS $$
BEGIN
    IF churn_on IS NULL OR churn_on NOT IN ('activity', 'purchase') THEN
        RAISE EXCEPTION 'unknown churn definition "%"', churn_on
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use "activity" (no event in the horizon) or "purchase" (no purchase in the horizon).';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'churn horizon "%" must be positive', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF session_gap IS NULL OR session_gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', session_gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('month', horizon) <> 0 OR pg_catalog.date_part('year', horizon) <> 0
       OR pg_catalog.date_part('month', session_gap) <> 0 OR pg_catalog.date_part('year', session_gap) <> 0 THEN
        RAISE EXCEPTION 'churn horizon "%" and session gap "%" must not contain months or years', horizon, session_gap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Months differ in length; use days, e.g. interval ''30 days''.';
    END IF;
    IF cutoff IS NULL OR NOT pg_catalog.isfinite(cutoff) THEN
        RAISE EXCEPTION 'cutoff "%" must be a finite time', cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DECLARE
        integer_items boolean := false;
        grouped boolean := false;
    BEGIN
        IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
            EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1)'
               INTO grouped USING events;
        END IF;
        -- grouped by user (per-user states spill to disk) unless the events
        -- surely fit user_feature_table's memory: a plain or partitioned table
        -- whose heap, at 28 bytes a row at the least, holds at most 40
        -- million rows whatever the statistics say
        IF NOT grouped THEN
            SELECT NOT (c.relkind IN ('r', 'm', 'p')
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(c.oid) AS t
                                          JOIN pg_catalog.pg_class AS l ON l.oid = t.relid
                                         WHERE l.relkind NOT IN ('r', 'm', 'p'))
                        AND (SELECT pg_catalog.sum(pg_catalog.pg_relation_size(t.relid))
                               FROM pg_catalog.pg_partition_tree(c.oid) AS t) / 28 <= 40000000)
              INTO grouped
              FROM pg_catalog.pg_class AS c WHERE c.oid = events;
        END IF;
        IF grouped THEN
            -- distributed by Citus, or large: grouped by user, which Citus
            -- workers aggregate whole
            RETURN QUERY EXECUTE pg_catalog.format($q$
            WITH v AS (
                SELECT %1$I::bigint AS u,
                       @extschema@.user_feature_values(%2$I, %3$I::text, %4$s, %5$s,
                                                       $1, $2, $3, $4, $5, $6, $7, $8) AS x
                  FROM %6$s
                 WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9
                 GROUP BY 1)
            SELECT u,
                   ARRAY[x[1], COALESCE(x[2], x[8]), x[3], x[4], x[5], COALESCE(x[6], 0), COALESCE(x[7], 0),
                         x[8], x[9], x[10], x[11], x[12], COALESCE(x[13], 0), COALESCE(x[14], 0), x[15],
                         CASE WHEN %7$s THEN x[16] ELSE 0 END, COALESCE(x[17], x[8])]::float8[],
                   x[18] = 1, x[1], x[2], x[3]::bigint, x[4]::bigint, x[5]::bigint, x[6], x[7], x[8], x[9],
                   x[10]::bigint, x[11]::bigint, x[12]::bigint, x[13], x[14], x[15],
                   CASE WHEN %7$s THEN x[16]::bigint END, x[17]
              FROM v WHERE x IS NOT NULL ORDER BY u $q$,
                user_column, time_column, event_column,
                CASE WHEN item_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
                CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
                events,
                CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
            USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
                  cutoff + horizon + interval '1 day';
            RETURN;
        END IF;
        IF item_column IS NOT NULL THEN
            SELECT a.atttypid IN (20, 21, 23) INTO integer_items
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = events AND a.attname = item_column AND a.attnum > 0 AND NOT a.attisdropped;
        END IF;
        -- one pass over the events up to the horizon (with a day of margin: the
        -- aggregate measures the horizon exactly), integer items as integers
        RETURN QUERY EXECUTE pg_catalog.format($q$
        SELECT r.*
          FROM (SELECT @extschema@.user_feature_table(%1$I::bigint, %2$I, %3$I::text, %4$s, %5$s, %6$s,
                                                      $1, $2, $3, $4, $5, $6, $7, $8) AS t
                  FROM %7$s
                 WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9) a,
               LATERAL @extschema@.user_feature_rows(a.t, %8$s) r $q$,
            user_column, time_column, event_column,
            CASE WHEN integer_items THEN pg_catalog.format('%I::bigint', item_column) ELSE 'NULL::bigint' END,
            CASE WHEN item_column IS NULL OR integer_items THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
            CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
            events,
            CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
        USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
              cutoff + horizon + interval '1 day';
    END;
END
$$;

COMMENT ON FUNCTION @extschema@.user_features(regclass, timestamptz, interval, text, name, name, name, name, name, text, text, text, text, interval) IS
'one row per user with an event at or before cutoff: behaviour features as of cutoff (named columns and, in user_feature_names() order, a float8[] without NULLs for logreg_train) and churned = no event (churn_on => ''activity'') or no purchase (''purchase'') in (cutoff, cutoff + horizon]';
