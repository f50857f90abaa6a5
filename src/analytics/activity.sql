--------------------------------------------------------------------------
-- Retention, two-stage form for distributed tables (Citus)
--
-- Stage one condenses each user's events into a retention.activity value
-- (grouped by user id, so it runs where the user's rows live); stage two
-- aggregates activities with a bigint[] state that can be shipped as text
-- and combined:
--   SELECT retention.retention_rate(a, 3)
--     FROM (SELECT user_id, retention.user_activity(ts, 'month') AS a
--             FROM events GROUP BY user_id) per_user;
--------------------------------------------------------------------------

CREATE TYPE @extschema@.activity;

CREATE FUNCTION @extschema@.activity_in(cstring)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_in(cstring) IS
'input function of retention.activity: period:first_start:last_event:base:bits';

CREATE FUNCTION @extschema@.activity_out(@extschema@.activity)
RETURNS cstring
AS 'MODULE_PATHNAME', 'activity_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_out(@extschema@.activity) IS
'output function of retention.activity';

CREATE FUNCTION @extschema@.activity_recv(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_recv(internal) IS
'binary input function of retention.activity';

CREATE FUNCTION @extschema@.activity_send(@extschema@.activity)
RETURNS bytea
AS 'MODULE_PATHNAME', 'activity_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_send(@extschema@.activity) IS
'binary output function of retention.activity';

CREATE TYPE @extschema@.activity (
    INPUT = @extschema@.activity_in,
    OUTPUT = @extschema@.activity_out,
    RECEIVE = @extschema@.activity_recv,
    SEND = @extschema@.activity_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.activity IS
'one user''s events condensed: period kind, first start period, latest event''s period and a bitmap of active periods';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text) IS
'transition function of user_activity(ts, period)';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean) IS
'transition function of user_activity(ts, period, is_start, is_return)';

CREATE FUNCTION @extschema@.user_activity_final(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'user_activity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_final(internal) IS
'final function of user_activity: the activity of the group''s user';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text) IS
'stage one of distributed retention: one user''s events (GROUP BY user id) as a retention.activity';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text, is_start boolean, is_return boolean) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text, boolean, boolean) IS
'stage one of distributed retention with start and return event filters';
