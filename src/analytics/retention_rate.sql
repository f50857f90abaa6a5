--------------------------------------------------------------------------
-- Retention: retention_rate and retention_rate_unbounded
--
-- One aggregate state (agg_state, layout retention) shared by every variant: a hash of users,
-- each with the earliest period of a start event and a bitmap of the
-- periods they were active in.  Periods are calendar days, ISO weeks or
-- months in the session time zone, so everything that places a timestamp
-- in a period is STABLE.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer) IS
'transition function of retention_rate(user_id, ts, n) with daily periods';

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text) IS
'transition function of retention_rate(user_id, ts, n, period)';

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text, boolean, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_filter_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text, boolean, boolean) IS
'transition function of retention_rate(user_id, ts, n, period, is_start, is_return)';

CREATE FUNCTION @extschema@.retention_rate_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_final(@extschema@.agg_state) IS
'final function of retention_rate: users active in period n over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_rate_unbounded_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_unbounded_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_unbounded_final(@extschema@.agg_state) IS
'final function of retention_rate_unbounded: users active in period n or later over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of the retention aggregates over agg_state (retention_rate, cohort_matrix, lifecycle_matrix, stickiness_matrix): merges the users of two states';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer) IS
'day-n retention: share of users (starting at their first event''s calendar day) active on day n, among those whose day n is not after the latest event';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text) IS
'period-n retention (period ''hour'', ''day'', ''week'', ''month'' or ''quarter'' in the session time zone): share of users active in period n after their first event''s period, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text,
                                            is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text, boolean, boolean) IS
'period-n retention where the cohort starts at the user''s first is_start event and only is_return events count as returning';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer) IS
'unbounded ("on or after") day-n retention: share of users active on day n or later, among those whose day n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text) IS
'unbounded ("on or after") period-n retention: share of users active in period n or later, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text,
                                                      is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text, boolean, boolean) IS
'unbounded period-n retention with a start-event filter (is_start) and a return-event filter (is_return)';

CREATE FUNCTION @extschema@.activity_rate_trans(bigint[], @extschema@.activity, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_trans(bigint[], @extschema@.activity, integer) IS
'transition function of retention_rate(activity, n): users and retained users per start period';

CREATE FUNCTION @extschema@.activity_rate_unbounded_trans(bigint[], @extschema@.activity, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_unbounded_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_unbounded_trans(bigint[], @extschema@.activity, integer) IS
'transition function of retention_rate_unbounded(activity, n)';

CREATE FUNCTION @extschema@.activity_rate_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_rate_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_combine(bigint[], bigint[]) IS
'combine function of retention_rate(activity, n): adds the counts per start period';

CREATE FUNCTION @extschema@.activity_rate_final(bigint[])
RETURNS float8
AS 'MODULE_PATHNAME', 'activity_rate_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_rate_final(bigint[]) IS
'final function of retention_rate(activity, n): retained over observable users';

CREATE AGGREGATE @extschema@.retention_rate(activity @extschema@.activity, n integer) (
    SFUNC = @extschema@.activity_rate_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_rate_final,
    COMBINEFUNC = @extschema@.activity_rate_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(@extschema@.activity, integer) IS
'stage two of distributed retention: period-n retention over per-user activities, same answer as retention_rate(user_id, ts, n, period)';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(activity @extschema@.activity, n integer) (
    SFUNC = @extschema@.activity_rate_unbounded_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_rate_final,
    COMBINEFUNC = @extschema@.activity_rate_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(@extschema@.activity, integer) IS
'stage two of distributed retention: unbounded period-n retention over per-user activities';
