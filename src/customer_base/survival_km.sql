--------------------------------------------------------------------------
-- Survival analysis: Kaplan-Meier curves and the log-rank test
--
-- km_fit's state collapses rows sharing (time, event) into weights, so it
-- holds one entry per distinct time and event flag; parallel workers (and,
-- through km_fit(time, event, weight) over a GROUP BY, Citus workers) merge
-- by adding weights.  The curve is exact: nothing is binned.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.survival_curve;

CREATE FUNCTION @extschema@.survival_curve_in(cstring)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'survival_curve_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_in(cstring) IS
'input function of survival_curve: JSON with arrays time, n_event and n_censor (the rest is derived)';

CREATE FUNCTION @extschema@.survival_curve_out(@extschema@.survival_curve)
RETURNS cstring
AS 'MODULE_PATHNAME', 'survival_curve_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_out(@extschema@.survival_curve) IS
'output function of survival_curve: JSON';

CREATE FUNCTION @extschema@.survival_curve_recv(internal)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'survival_curve_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_recv(internal) IS
'binary input function of survival_curve: magic number, format version, validated (time, events, censored) triples';

CREATE FUNCTION @extschema@.survival_curve_send(@extschema@.survival_curve)
RETURNS bytea
AS 'MODULE_PATHNAME', 'survival_curve_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_send(@extschema@.survival_curve) IS
'binary output function of survival_curve';

CREATE TYPE @extschema@.survival_curve (
    INPUT = @extschema@.survival_curve_in,
    OUTPUT = @extschema@.survival_curve_out,
    RECEIVE = @extschema@.survival_curve_recv,
    SEND = @extschema@.survival_curve_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.survival_curve IS
'a Kaplan-Meier survival curve: per distinct time the subjects at risk, events, censored, survival and Greenwood variance; text form JSON';

CREATE CAST (@extschema@.survival_curve AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.survival_curve) WITH INOUT;

COMMENT ON CAST (@extschema@.survival_curve AS jsonb) IS 'the curve as JSON';
COMMENT ON CAST (jsonb AS @extschema@.survival_curve) IS 'a curve from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'km_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean) IS
'transition function of km_fit: adds one subject';

CREATE FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'km_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean, float8) IS
'transition function of km_fit: adds a weighted subject';

CREATE FUNCTION @extschema@.km_fit_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'survival_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of km_fit: adds the weights of subjects sharing (time, event)';

CREATE FUNCTION @extschema@.km_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'km_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_finalfn(@extschema@.agg_state) IS
'final function of km_fit: the Kaplan-Meier curve';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.km_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.km_fit(float8, boolean) IS
'Kaplan-Meier curve of subjects given as (time, event): event true for an observed event (churn) at time, false for censoring; rows with a NULL are ignored; NULL without rows';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean, weight float8) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.km_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.km_fit(float8, boolean, float8) IS
'Kaplan-Meier curve of weighted subjects (R survfit case weights), or of pre-counted groups (time, event, count)';

CREATE FUNCTION @extschema@.survival_at(curve @extschema@.survival_curve, "time" float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'survival_at'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_at(@extschema@.survival_curve, float8) IS
'S(time): the Kaplan-Meier estimate at time (right-continuous step function; 1 before the first time, the last value after the last)';

CREATE FUNCTION @extschema@.survival_median(curve @extschema@.survival_curve)
RETURNS float8
AS 'MODULE_PATHNAME', 'survival_median'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_median(@extschema@.survival_curve) IS
'median survival time as R survfit defines it (first time the curve falls below 0.5; the middle of an interval where it equals 0.5); NULL when it never reaches 0.5';

CREATE FUNCTION @extschema@.survival_table(curve @extschema@.survival_curve, conf_level float8 DEFAULT 0.95)
RETURNS TABLE ("time" float8, n_risk float8, n_event float8, n_censor float8,
               survival float8, std_err float8, lower float8, upper float8)
AS 'MODULE_PATHNAME', 'survival_table'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION @extschema@.survival_table(@extschema@.survival_curve, float8) IS
'the curve in long format, one row per distinct time: at risk, events, censored, survival, Greenwood standard error of survival and the log-transformed confidence interval (R conf.type = "log")';

CREATE FUNCTION @extschema@.logrank_test(curves @extschema@.survival_curve[],
                                         OUT chisq float8, OUT df integer, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'logrank_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logrank_test(@extschema@.survival_curve[]) IS
'log-rank test that the groups whose Kaplan-Meier curves are given share one survival function (R survdiff, rho = 0): chi-square, degrees of freedom, p-value';
