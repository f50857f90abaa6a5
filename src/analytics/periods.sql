--------------------------------------------------------------------------
-- Periods and the per-user state
--
-- period_start places a timestamp in its period (calendar day, ISO week or
-- month in the session time zone, hence STABLE).  The one-stage retention,
-- cohort, lifecycle and stickiness aggregates and user_activity share one
-- internal state, a hash of users with a bitmap of their active periods;
-- these are its combine, serialise and deserialise functions.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.period_start(ts timestamptz, period text DEFAULT 'day')
RETURNS date
AS 'MODULE_PATHNAME', 'period_start'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_start(timestamptz, text) IS
'first date of the day, ISO week (Monday), month or quarter containing ts in the session time zone: the periods of the retention aggregates (hours have no first date: an error)';

CREATE FUNCTION @extschema@.period_start_time(ts timestamptz, period text DEFAULT 'day')
RETURNS timestamp
AS 'MODULE_PATHNAME', 'period_start_time'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_start_time(timestamptz, text) IS
'local start (a timestamp without time zone) of the hour, day, ISO week (Monday), month or quarter containing ts in the session time zone: the period starts of cohort_table and lifecycle';

CREATE FUNCTION @extschema@.retention_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_combine(internal, internal) IS
'combine function of the retention aggregates: unites the users of two partial states';

CREATE FUNCTION @extschema@.retention_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'retention_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_serialize(internal) IS
'serialisation function of the retention aggregates';

CREATE FUNCTION @extschema@.retention_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_deserialize(bytea, internal) IS
'deserialisation function of the retention aggregates; validates the lengths it reads';
