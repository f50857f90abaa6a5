--------------------------------------------------------------------------
-- Query shaping shared by the table functions: breakdowns, date ranges,
-- complete periods
--
-- A breakdown is a column of the events table (cast to text) or, when the
-- table has no such column, a key of its properties json(b) column.  For
-- retention, lifecycle and stickiness a user's value is the one on their
-- first (start) event; ties in time go to the least value in byte order,
-- NULL after every value.  A period is complete when it lies within the
-- data: from date_from (or the earliest event) to date_to (or the latest).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.breakdown_sql(events regclass, breakdown_by name)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    props regtype;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                WHERE attrelid = events AND attname = breakdown_by AND attnum > 0 AND NOT attisdropped) THEN
        RETURN pg_catalog.format('(%I)::pg_catalog.text', breakdown_by);
    END IF;
    SELECT atttypid::regtype INTO props FROM pg_catalog.pg_attribute
     WHERE attrelid = events AND attname = 'properties' AND attnum > 0 AND NOT attisdropped;
    IF props IN ('jsonb'::regtype, 'json'::regtype) THEN
        RETURN pg_catalog.format('(properties OPERATOR(pg_catalog.->>) %L)', breakdown_by);
    END IF;
    RAISE EXCEPTION 'breakdown "%" is neither a column of % nor a key of a json properties column', breakdown_by, events
        USING ERRCODE = 'undefined_column',
              HINT = 'Name a column of the table, or a key of its properties column (jsonb).';
END
$$;

COMMENT ON FUNCTION @extschema@.breakdown_sql(regclass, name) IS
'the SQL expression (as text) of a breakdown: the column of that name cast to text, else the key of that name in the table''s properties jsonb column';

CREATE FUNCTION @extschema@.first_touch_sql(user_column name, time_column name, breakdown text, is_start text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        'pg_catalog.first_value(%1$s) OVER (PARTITION BY %2$I ORDER BY (%4$s) IS NOT TRUE, %3$I, '
        '(%1$s) COLLATE "C")', breakdown, user_column, time_column, is_start)
$$;

COMMENT ON FUNCTION @extschema@.first_touch_sql(name, name, text, text) IS
'the SQL expression (as text) of a user''s breakdown value: the one on their first event for which is_start holds (ties: the least in byte order, NULL last)';

CREATE FUNCTION @extschema@.range_sql(time_column name, date_from timestamptz, date_to timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.concat_ws(' AND ',
        pg_catalog.format('%I IS NOT NULL', time_column),
        CASE WHEN date_from IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz', time_column, date_from) END,
        CASE WHEN date_to IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz', time_column, date_to) END)
$$;

COMMENT ON FUNCTION @extschema@.range_sql(name, timestamptz, timestamptz) IS
'the SQL condition (as text) keeping the events of [date_from, date_to) (NULL: unbounded) with a time';

CREATE FUNCTION @extschema@.period_complete(period_start timestamp, period text, data_from timestamptz, data_to timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT period_start::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) data_from
       AND (period_start OPERATOR(pg_catalog.+)
            (CASE WHEN pg_catalog.lower(period) OPERATOR(pg_catalog.=) 'quarter' THEN '3 months'
                  ELSE '1 ' OPERATOR(pg_catalog.||) period END)::pg_catalog.interval)::pg_catalog.timestamptz
           OPERATOR(pg_catalog.<=) data_to
$$;

COMMENT ON FUNCTION @extschema@.period_complete(timestamp, text, timestamptz, timestamptz) IS
'whether the hour, day, week, month or quarter starting at the local time period_start (in the session time zone) lies within [data_from, data_to]';

CREATE FUNCTION @extschema@.matrix_period_start(key bigint, period text)
RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT TIMESTAMP '2000-01-01' OPERATOR(pg_catalog.+)
           CASE WHEN pg_catalog.lower(period) OPERATOR(pg_catalog.=) 'hour'
                THEN pg_catalog.make_interval(hours => key::pg_catalog.int4)
                ELSE pg_catalog.make_interval(days => key::pg_catalog.int4) END
$$;

COMMENT ON FUNCTION @extschema@.matrix_period_start(bigint, text) IS
'the local start of the period that the first column of a cohort or lifecycle matrix names: days since 2000-01-01, or hours since 2000-01-01 00:00 for hour periods';
