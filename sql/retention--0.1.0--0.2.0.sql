/* retention--0.1.0--0.2.0.sql: update a 0.1.0 installation to 0.2.0.
 *
 * Every change to the extension's SQL made for 0.2.0 is here too, in the
 * commit that makes it; test/upgrade/upgrade.sh checks that an updated
 * database holds exactly the objects of a fresh 0.2.0 install. */

\echo Use "ALTER EXTENSION retention UPDATE TO '0.2.0'" to load this file. \quit

-- source: src/customer_base/mbgnbd.sql (MBG/NBD, issue 18)

--------------------------------------------------------------------------
-- Customer base: MBG/NBD (Batislam, Denizel & Filiztekin 2007)
--
-- The same (x, t_x, T) data as BG/NBD, so the fit shares its transition,
-- combine and serialisation functions; only the final function differs.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.mbgnbd_model;

CREATE FUNCTION @extschema@.mbgnbd_model_in(cstring)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_in(cstring) IS
'input function of mbgnbd_model: JSON with at least r, alpha, a and b';

CREATE FUNCTION @extschema@.mbgnbd_model_out(@extschema@.mbgnbd_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'mbgnbd_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_out(@extschema@.mbgnbd_model) IS
'output function of mbgnbd_model: JSON';

CREATE FUNCTION @extschema@.mbgnbd_model_recv(internal)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_recv(internal) IS
'binary input function of mbgnbd_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.mbgnbd_model_send(@extschema@.mbgnbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_send(@extschema@.mbgnbd_model) IS
'binary output function of mbgnbd_model';

CREATE TYPE @extschema@.mbgnbd_model (
    INPUT = @extschema@.mbgnbd_model_in,
    OUTPUT = @extschema@.mbgnbd_model_out,
    RECEIVE = @extschema@.mbgnbd_model_recv,
    SEND = @extschema@.mbgnbd_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.mbgnbd_model IS
'an MBG/NBD customer-base model (Batislam, Denizel & Filiztekin 2007): r, alpha, a, b and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.mbgnbd_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.mbgnbd_model) WITH INOUT;

COMMENT ON CAST (@extschema@.mbgnbd_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.mbgnbd_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.mbgnbd_fit_finalfn(internal)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_finalfn(internal) IS
'final function of mbgnbd_fit: the maximum-likelihood MBG/NBD model';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(float8, float8, float8) IS
'maximum-likelihood MBG/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood MBG/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.mbgnbd_p_alive(model @extschema@.mbgnbd_model,
                                           frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_p_alive(@extschema@.mbgnbd_model, float8, float8, float8) IS
'probability that a customer with summary (frequency, recency, t) is still alive at t under an MBG/NBD model; below 1 also for customers without repeat purchases';

CREATE FUNCTION @extschema@.mbgnbd_expected_purchases(model @extschema@.mbgnbd_model, horizon float8,
                                                      frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_expected_purchases(@extschema@.mbgnbd_model, float8, float8, float8, float8) IS
'expected purchases in the next horizon time units of a customer with summary (frequency, recency, t) under an MBG/NBD model';

CREATE FUNCTION @extschema@.mbgnbd_expected_purchases(model @extschema@.mbgnbd_model, horizon float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases_new'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_expected_purchases(@extschema@.mbgnbd_model, float8) IS
'unconditional E[X(horizon)]: expected repeat purchases of a new customer in horizon time units after the first purchase under an MBG/NBD model';

-- source: src/customer_base/bgbb.sql (issue 18)

--------------------------------------------------------------------------
-- Customer base: BG/BB, discrete opportunities (Fader, Hardie & Shang 2010)
--
-- bgbb_fit's state collapses customers sharing (x, t_x, n) into counts; a
-- setting with n opportunities has at most (n+1)(n+2)/2 patterns, so the
-- state stays small whatever the number of customers.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.bgbb_model;

CREATE FUNCTION @extschema@.bgbb_model_in(cstring)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_in(cstring) IS
'input function of bgbb_model: JSON with at least alpha, beta, gamma and delta';

CREATE FUNCTION @extschema@.bgbb_model_out(@extschema@.bgbb_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'bgbb_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_out(@extschema@.bgbb_model) IS
'output function of bgbb_model: JSON';

CREATE FUNCTION @extschema@.bgbb_model_recv(internal)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_recv(internal) IS
'binary input function of bgbb_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.bgbb_model_send(@extschema@.bgbb_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgbb_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_send(@extschema@.bgbb_model) IS
'binary output function of bgbb_model';

CREATE TYPE @extschema@.bgbb_model (
    INPUT = @extschema@.bgbb_model_in,
    OUTPUT = @extschema@.bgbb_model_out,
    RECEIVE = @extschema@.bgbb_model_recv,
    SEND = @extschema@.bgbb_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.bgbb_model IS
'a BG/BB customer-base model for discrete transaction opportunities (Fader, Hardie & Shang 2010): alpha, beta, gamma and delta and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.bgbb_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.bgbb_model) WITH INOUT;

COMMENT ON CAST (@extschema@.bgbb_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.bgbb_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.bgbb_fit_transfn(internal, integer, integer, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgbb_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(internal, integer, integer, integer) IS
'transition function of bgbb_fit: counts one customer';

CREATE FUNCTION @extschema@.bgbb_fit_transfn(internal, integer, integer, integer, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgbb_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(internal, integer, integer, integer, bigint) IS
'transition function of bgbb_fit: counts a group of customers';

CREATE FUNCTION @extschema@.bgbb_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgbb_fit_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_deserialize(bytea, internal) IS
'deserialisation function of bgbb_fit';

CREATE FUNCTION @extschema@.bgbb_fit_finalfn(internal)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_finalfn(internal) IS
'final function of bgbb_fit: the maximum-likelihood BG/BB model';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgbb_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgbb_fit(integer, integer, integer) IS
'maximum-likelihood BG/BB model of customers given as (frequency, recency, n): transactions, the last opportunity with one (0 if none) and the opportunities observed; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer, customers bigint) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgbb_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgbb_fit(integer, integer, integer, bigint) IS
'maximum-likelihood BG/BB model of groups of customers sharing (frequency, recency, n), e.g. a recency/frequency pattern table';

CREATE FUNCTION @extschema@.bgbb_p_alive(model @extschema@.bgbb_model,
                                         frequency integer, recency integer, n integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgbb_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_p_alive(@extschema@.bgbb_model, integer, integer, integer) IS
'probability that a customer with pattern (frequency, recency, n) is alive at opportunity n + 1 (Fader, Hardie & Shang 2010 eq. 11)';

CREATE FUNCTION @extschema@.bgbb_expected_transactions(model @extschema@.bgbb_model, horizon integer,
                                                       frequency integer, recency integer, n integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgbb_expected_transactions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_expected_transactions(@extschema@.bgbb_model, integer, integer, integer, integer) IS
'expected transactions in the next horizon opportunities of a customer with pattern (frequency, recency, n) (Fader, Hardie & Shang 2010 eq. 13); pattern (0, 0, 0) gives a new customer''s';

-- source: src/customer_base/sbg.sql (issue 18)

--------------------------------------------------------------------------
-- Customer base: sBG, contractual retention (Fader & Hardie 2007)
--
-- sbg_fit's state collapses customers sharing (periods, churned) into
-- counts: a cohort of any size is a few dozen groups, and parallel workers
-- merge by adding counts.  sbg_fit(periods, churned, customers) takes
-- pre-counted groups (the survivor table of a cohort, or a Citus GROUP BY).
--------------------------------------------------------------------------

CREATE TYPE @extschema@.sbg_model;

CREATE FUNCTION @extschema@.sbg_model_in(cstring)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_in(cstring) IS
'input function of sbg_model: JSON with at least alpha and beta';

CREATE FUNCTION @extschema@.sbg_model_out(@extschema@.sbg_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'sbg_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_out(@extschema@.sbg_model) IS
'output function of sbg_model: JSON';

CREATE FUNCTION @extschema@.sbg_model_recv(internal)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_recv(internal) IS
'binary input function of sbg_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.sbg_model_send(@extschema@.sbg_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sbg_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_send(@extschema@.sbg_model) IS
'binary output function of sbg_model';

CREATE TYPE @extschema@.sbg_model (
    INPUT = @extschema@.sbg_model_in,
    OUTPUT = @extschema@.sbg_model_out,
    RECEIVE = @extschema@.sbg_model_recv,
    SEND = @extschema@.sbg_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.sbg_model IS
'a shifted-beta-geometric contractual retention model (Fader & Hardie 2007): alpha and beta and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.sbg_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.sbg_model) WITH INOUT;

COMMENT ON CAST (@extschema@.sbg_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.sbg_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.sbg_fit_transfn(internal, integer, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'sbg_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_transfn(internal, integer, boolean) IS
'transition function of sbg_fit: counts one customer';

CREATE FUNCTION @extschema@.sbg_fit_transfn(internal, integer, boolean, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'sbg_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_transfn(internal, integer, boolean, bigint) IS
'transition function of sbg_fit: counts a group of customers';

CREATE FUNCTION @extschema@.sbg_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'sbg_fit_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_deserialize(bytea, internal) IS
'deserialisation function of sbg_fit';

CREATE FUNCTION @extschema@.sbg_fit_finalfn(internal)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_finalfn(internal) IS
'final function of sbg_fit: the maximum-likelihood sBG model';

CREATE AGGREGATE @extschema@.sbg_fit(periods integer, churned boolean) (
    SFUNC = @extschema@.sbg_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.sbg_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.sbg_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.sbg_fit(integer, boolean) IS
'maximum-likelihood sBG model of customers given as (periods, churned): (t, true) for a customer lost in period t, (t, false) for one still active after t periods; NULL with a notice when nobody churned or nobody renewed';

CREATE AGGREGATE @extschema@.sbg_fit(periods integer, churned boolean, customers bigint) (
    SFUNC = @extschema@.sbg_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.sbg_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.sbg_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.sbg_fit(integer, boolean, bigint) IS
'maximum-likelihood sBG model of groups of customers sharing (periods, churned), e.g. a cohort''s survivor table';

CREATE FUNCTION @extschema@.sbg_survival(model @extschema@.sbg_model, period integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_survival'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_survival(@extschema@.sbg_model, integer) IS
'S(t): the share of a cohort still active after t periods (Fader & Hardie 2007 eq. 3)';

CREATE FUNCTION @extschema@.sbg_retention_rate(model @extschema@.sbg_model, period integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_retention_rate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_retention_rate(@extschema@.sbg_model, integer) IS
'r_t = S(t)/S(t-1): the share of customers active in period t - 1 who renew for period t (Fader & Hardie 2007 eq. 4); rises with t';

CREATE FUNCTION @extschema@.sbg_residual_lifetime(model @extschema@.sbg_model, discount_rate float8,
                                                  renewals integer DEFAULT 0)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_residual_lifetime'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_residual_lifetime(@extschema@.sbg_model, float8, integer) IS
'DERL: discounted expected residual lifetime in periods of a customer who has renewed renewals times and is about to decide on the next renewal (Fader & Hardie 2010 eq. 6)';

CREATE FUNCTION @extschema@.sbg_projection(model @extschema@.sbg_model, periods integer)
RETURNS TABLE (period integer, survival float8, retention_rate float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT t, @extschema@.sbg_survival(model, t),
           CASE WHEN t OPERATOR(pg_catalog.>) 0 THEN @extschema@.sbg_retention_rate(model, t) END
      FROM pg_catalog.generate_series(0, periods) AS t
     ORDER BY t;
END;

COMMENT ON FUNCTION @extschema@.sbg_projection(@extschema@.sbg_model, integer) IS
'the projected survival S(t) and retention rate r_t of periods 0 .. periods, one row per period';

-- source: src/customer_base/survival_km.sql (issue 18)

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

CREATE FUNCTION @extschema@.km_fit_transfn(internal, float8, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'km_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(internal, float8, boolean) IS
'transition function of km_fit: adds one subject';

CREATE FUNCTION @extschema@.km_fit_transfn(internal, float8, boolean, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'km_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(internal, float8, boolean, float8) IS
'transition function of km_fit: adds a weighted subject';

CREATE FUNCTION @extschema@.km_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'km_fit_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_deserialize(bytea, internal) IS
'deserialisation function of km_fit';

CREATE FUNCTION @extschema@.km_fit_finalfn(internal)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'km_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_finalfn(internal) IS
'final function of km_fit: the Kaplan-Meier curve';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.km_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.km_fit(float8, boolean) IS
'Kaplan-Meier curve of subjects given as (time, event): event true for an observed event (churn) at time, false for censoring; rows with a NULL are ignored; NULL without rows';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean, weight float8) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.km_fit_deserialize,
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

-- source: src/customer_base/coxph.sql (issue 18)

--------------------------------------------------------------------------
-- Survival analysis: Cox proportional hazards
--
-- The partial likelihood couples every subject with everyone at risk at
-- each event time, so the exact fit needs every row: coxph_train's state
-- keeps (time, event, features) per row as packed doubles, parallel workers
-- collect rows and the leader fits (the combine function concatenates).
-- The result does not depend on row order or workers: rows are sorted by
-- their whole content before any sum.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.coxph_model;

CREATE FUNCTION @extschema@.coxph_model_in(cstring)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_in(cstring) IS
'input function of coxph_model: JSON with at least "coefficients"';

CREATE FUNCTION @extschema@.coxph_model_out(@extschema@.coxph_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'coxph_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_out(@extschema@.coxph_model) IS
'output function of coxph_model: JSON';

CREATE FUNCTION @extschema@.coxph_model_recv(internal)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_recv(internal) IS
'binary input function of coxph_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.coxph_model_send(@extschema@.coxph_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'coxph_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_send(@extschema@.coxph_model) IS
'binary output function of coxph_model';

CREATE TYPE @extschema@.coxph_model (
    INPUT = @extschema@.coxph_model_in,
    OUTPUT = @extschema@.coxph_model_out,
    RECEIVE = @extschema@.coxph_model_recv,
    SEND = @extschema@.coxph_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.coxph_model IS
'a Cox proportional hazards model: coefficients, standard errors, log-likelihoods, concordance and the baseline cumulative hazard; text form JSON';

CREATE CAST (@extschema@.coxph_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.coxph_model) WITH INOUT;

COMMENT ON CAST (@extschema@.coxph_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.coxph_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[]) IS
'transition function of coxph_train: keeps one row';

CREATE FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[], jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[], jsonb) IS
'transition function of coxph_train with options: keeps one row';

CREATE FUNCTION @extschema@.coxph_train_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_combine(internal, internal) IS
'combine function of coxph_train: appends the other state''s rows';

CREATE FUNCTION @extschema@.coxph_train_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'coxph_train_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_serialize(internal) IS
'serialisation function of coxph_train';

CREATE FUNCTION @extschema@.coxph_train_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_deserialize(bytea, internal) IS
'deserialisation function of coxph_train';

CREATE FUNCTION @extschema@.coxph_train_finalfn(internal)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_train_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_finalfn(internal) IS
'final function of coxph_train: the fitted Cox model';

CREATE AGGREGATE @extschema@.coxph_train("time" float8, event boolean, features float8[]) (
    SFUNC = @extschema@.coxph_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.coxph_train_finalfn,
    COMBINEFUNC = @extschema@.coxph_train_combine,
    SERIALFUNC = @extschema@.coxph_train_serialize,
    DESERIALFUNC = @extschema@.coxph_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.coxph_train(float8, boolean, float8[]) IS
'Cox proportional hazards model of subjects (time, event, features), Efron ties; rows with a NULL are ignored; NULL without rows';

CREATE AGGREGATE @extschema@.coxph_train("time" float8, event boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.coxph_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.coxph_train_finalfn,
    COMBINEFUNC = @extschema@.coxph_train_combine,
    SERIALFUNC = @extschema@.coxph_train_serialize,
    DESERIALFUNC = @extschema@.coxph_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.coxph_train(float8, boolean, float8[], jsonb) IS
'Cox proportional hazards model with options {"ties": "efron" | "breslow", "max_iterations": n} (read from the first row)';

CREATE FUNCTION @extschema@.coxph_relative_hazard(model @extschema@.coxph_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'coxph_relative_hazard'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_relative_hazard(@extschema@.coxph_model, float8[]) IS
'exp(features . coefficients): the hazard relative to a subject whose features are all 0 (R predict(type = "risk", reference = "zero"))';

CREATE FUNCTION @extschema@.coxph_survival(model @extschema@.coxph_model, features float8[], "time" float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'coxph_survival'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_survival(@extschema@.coxph_model, float8[], float8) IS
'S(time | features) from the baseline cumulative hazard of the fit (Breslow, or Efron-adjusted for Efron fits, as R survfit.coxph)';

CREATE FUNCTION @extschema@.coxph_coefficients(model @extschema@.coxph_model, names text[] DEFAULT NULL)
RETURNS TABLE (term text, coefficient float8, hazard_ratio float8, std_err float8, z float8, p_value float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT COALESCE(names[i.i], 'x' OPERATOR(pg_catalog.||) i.i),
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'coefficients' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'hazard_ratio' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'std_err' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'z' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'p_value' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8
      FROM pg_catalog.generate_series(1, pg_catalog.jsonb_array_length((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'coefficients')) AS i(i)
     ORDER BY i.i;
END;

COMMENT ON FUNCTION @extschema@.coxph_coefficients(@extschema@.coxph_model, text[]) IS
'one row per coefficient: the name (from names, else x1, x2, ...), coefficient, hazard ratio, standard error, Wald z and two-sided p-value';

-- source: src/customer_base/cohort_projection.sql (issue 18)

--------------------------------------------------------------------------
-- Customer base: cohort retention projected beyond the observed periods
--
-- A cohort matrix of survivor counts (cohort_matrix with unbounded
-- retention: active in period k or later, so counts never rise) is a
-- contractual survivor table per cohort.  One sBG model is fitted to all
-- cohorts together (each contributes its losses per period and its
-- survivors at its last observed period), and each cohort is projected from
-- its own last observed count: retained(k) = retained(L) S(k) / S(L).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_projection(matrix bigint[], horizon integer)
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer,
               retained float8, rate float8, projected boolean)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    model @extschema@.sbg_model;
    bad record;
BEGIN
    IF horizon < 0 THEN
        RAISE EXCEPTION 'horizon must not be negative, not %', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT a.cohort_start, a.period_number INTO bad
      FROM @extschema@.cohort_rows(matrix) AS a
      JOIN @extschema@.cohort_rows(matrix) AS b
        ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
     WHERE b.retained > a.retained
     ORDER BY 1, 2 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cohort % retains more customers in period % than in period %',
                        bad.cohort_start, bad.period_number + 1, bad.period_number
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A projection needs survivor counts that never rise.',
                  HINT = 'Build the matrix with unbounded retention (cohort_matrix mode ''unbounded'').';
    END IF;

    -- lost during period t: (t, true); still there after the last period L: (L, false)
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT @extschema@.sbg_fit(g.t, g.churned, g.customers) INTO model
      FROM (SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS customers
              FROM r AS a JOIN r AS b
                ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
            UNION ALL
            SELECT last.period_number, false, last.retained FROM last) AS g
     WHERE g.customers > 0;

    RETURN QUERY
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT r.cohort_start, r.cohort_size, r.period_number, r.retained::float8,
           r.retained::float8 / r.cohort_size::float8, false
      FROM r
    UNION ALL
    SELECT last.cohort_start, last.cohort_size, k,
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number),
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number) / last.cohort_size::float8,
           true
      FROM last, generate_series(last.period_number + 1, horizon) AS k
     WHERE model IS NOT NULL
     ORDER BY 1, 3;
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_projection(bigint[], integer) IS
'the cohorts of a cohort_matrix of survivor counts (unbounded retention) with periods up to horizon: observed rows as they are, later periods projected by one sBG model fitted to all cohorts (projected = true)';
-- source: src/recommend/item_knn_similarity.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: item-kNN (and user-user) neighbours by Pearson
-- correlation or adjusted cosine
--
-- The same aggregate with a fifth argument naming the similarity; the
-- model is an ordinary item_knn_model (only positive similarities are
-- kept), so recommend() and the registry work unchanged.  With the user
-- and item columns swapped it gives user-user neighbours.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer, text) IS
'transition function of retention.item_knn with a similarity: collects (user, item, weight) triples';

REVOKE EXECUTE ON FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer, text) FROM PUBLIC;

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer, similarity text) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    SERIALFUNC = @extschema@.item_knn_serialfn,
    DESERIALFUNC = @extschema@.item_knn_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer, text) IS
'item-kNN model with the given similarity: ''cosine'', ''pearson'' (correlation of the whole item vectors over the users of the input, absent = 0) or ''adjusted_cosine'' (Sarwar et al. 2001: weights minus each user''s mean weight, over the users both items have); only positive similarities are kept';

-- source: src/recommend/als.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: implicit-feedback ALS (matrix factorisation)
--
-- retention.als_model holds a factor vector for every user and item of the
-- training data (8 + 4 * factors bytes each).  Its text form is JSON; the
-- casts to and from jsonb store it in retention.models.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.als_model;

CREATE FUNCTION @extschema@.als_model_in(cstring)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_in(cstring) IS
'reads an als_model from its JSON text form, validating it';

CREATE FUNCTION @extschema@.als_model_out(@extschema@.als_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'als_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_out(@extschema@.als_model) IS
'writes an als_model as JSON: {"kind": "als", "format": 1, "factors": f, ..., "users": [[user_id, [factors]], ...], "items": [[item_id, [factors]], ...]}';

-- Stored out of line but uncompressed: factors compress poorly.
CREATE TYPE @extschema@.als_model (
    INPUT = @extschema@.als_model_in,
    OUTPUT = @extschema@.als_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = external
);

COMMENT ON TYPE @extschema@.als_model IS
'implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008): a float4 factor vector per user and per item, trained by retention.als_train';

CREATE FUNCTION @extschema@.als_model(model pg_catalog.jsonb)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model(pg_catalog.jsonb) IS
'reads an als_model from jsonb, e.g. the model column of retention.models';

CREATE CAST (pg_catalog.jsonb AS @extschema@.als_model)
    WITH FUNCTION @extschema@.als_model(pg_catalog.jsonb);

COMMENT ON CAST (pg_catalog.jsonb AS @extschema@.als_model) IS
'reads an als_model from its JSON form';

CREATE CAST (@extschema@.als_model AS pg_catalog.jsonb) WITH INOUT;

COMMENT ON CAST (@extschema@.als_model AS pg_catalog.jsonb) IS
'the JSON form of an als_model, as stored in retention.models';

--------------------------------------------------------------------------
-- Recommendation: training ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8) IS
'transition function of retention.als_train: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb) IS
'transition function of retention.als_train with options: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_combinefn(internal, internal) IS
'combine function of retention.als_train: the union of two partial states';

CREATE FUNCTION @extschema@.als_train_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'als_train_serialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_serialfn(internal) IS
'serialisation function of retention.als_train';

CREATE FUNCTION @extschema@.als_train_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_deserialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_deserialfn(bytea, internal) IS
'deserialisation function of retention.als_train; checks every field of its input';

CREATE FUNCTION @extschema@.als_train_finalfn(internal)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_train_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_finalfn(internal) IS
'final function of retention.als_train: trains the factors';

-- support functions nobody calls by name
REVOKE EXECUTE ON FUNCTION
    @extschema@.als_train_transfn(internal, bigint, bigint, float8),
    @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb),
    @extschema@.als_train_combinefn(internal, internal),
    @extschema@.als_train_serialfn(internal),
    @extschema@.als_train_deserialfn(bytea, internal),
    @extschema@.als_train_finalfn(internal)
FROM PUBLIC;

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8) IS
'implicit-feedback ALS with the default options (32 factors, regularization 0.01, alpha 1, 15 iterations, 3 conjugate-gradient steps, seed 0); weights of a repeated pair add up; rows with a NULL are skipped';

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8, options pg_catalog.jsonb) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8, pg_catalog.jsonb) IS
'implicit-feedback ALS (Hu, Koren & Volinsky 2008, conjugate-gradient updates): options factors, regularization, alpha (confidence 1 + alpha * weight), iterations, cg_steps, seed; deterministic for a seed';

--------------------------------------------------------------------------
-- Recommendation: using ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.als_model, user_id bigint, seen bigint[], k integer)
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_als'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.als_model, bigint, bigint[], integer) IS
'the k items not in seen with the highest x_user . y_item; a user the model does not know (or a NULL user_id) is folded in from the seen items; highest first, ties by item_id; no rows without a known user or a known seen item';

CREATE FUNCTION @extschema@.als_user_vector(model @extschema@.als_model, user_id bigint, seen bigint[] DEFAULT NULL)
RETURNS float4[]
AS 'MODULE_PATHNAME', 'als_user_vector'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_user_vector(@extschema@.als_model, bigint, bigint[]) IS
'a user''s factor vector: the model''s own, or folded in from seen for a user it does not know; NULL when there is neither';

CREATE FUNCTION @extschema@.als_item_factors(model @extschema@.als_model)
RETURNS TABLE (item_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_item_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_item_factors(@extschema@.als_model) IS
'the item factors as rows (item_id, factors float4[]), by item_id; e.g. the embeddings table of nearest_by_embedding';

CREATE FUNCTION @extschema@.als_user_factors(model @extschema@.als_model)
RETURNS TABLE (user_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_user_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_user_factors(@extschema@.als_model) IS
'the user factors as rows (user_id, factors float4[]), by user_id';

CREATE FUNCTION @extschema@.als_model_info(model @extschema@.als_model,
    OUT factors integer, OUT users integer, OUT items integer, OUT regularization float8,
    OUT alpha float8, OUT iterations integer, OUT cg_steps integer, OUT seed bigint, OUT bytes bigint)
AS 'MODULE_PATHNAME', 'als_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_info(@extschema@.als_model) IS
'factors, users, items, training options and size in bytes of an als model';

CREATE FUNCTION @extschema@.recommend_all(model @extschema@.als_model, interactions regclass,
    k integer, user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (user_id bigint, rank integer, item_id bigint, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT u.uid, x.rank::integer, x.item_id, x.score
          FROM (SELECT t.%1$I::bigint AS uid,
                       pg_catalog.array_agg(t.%2$I::bigint) FILTER (WHERE t.%2$I IS NOT NULL) AS seen
                  FROM %3$s t WHERE t.%1$I IS NOT NULL
                 GROUP BY t.%1$I) u
               CROSS JOIN LATERAL @extschema@.recommend($1, u.uid, u.seen, $2)
                   WITH ORDINALITY x(item_id, score, rank)
         ORDER BY u.uid, x.rank
    $query$, user_column, item_column, interactions)
    USING model, k;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_all(@extschema@.als_model, regclass, integer, name, name) IS
'batch recommendations from an ALS model: for every user of the interactions table, the k best items they have not interacted with (rank 1 first); users the model does not know are folded in from their items';

--------------------------------------------------------------------------
-- Recommendation: ALS models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_save(name text, model @extschema@.als_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models m
     WHERE m.name = als_save.name AND m.kind <> 'als' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an als model', name, other_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    RETURN @extschema@.save_model(als_save.name, 'als', als_save.model::pg_catalog.jsonb,
                                  als_save.metrics, als_save.training_source);
END
$$;

COMMENT ON FUNCTION @extschema@.als_save(text, @extschema@.als_model, text, pg_catalog.jsonb) IS
'stores an als model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.als_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.als_model
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result @extschema@.als_model;
BEGIN
    SELECT m.model::@extschema@.als_model INTO result
      FROM @extschema@.models m
     WHERE m.name = als_load.name AND m.kind = 'als'
       AND (als_load.version IS NULL OR m.version = als_load.version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'als model "%"%does not exist', name,
            CASE WHEN version IS NULL THEN ' ' ELSE ' version ' || version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.als_load(text, integer) IS
'the als model stored under name in retention.models, its latest version unless version is given; parses JSON, so call it once per query';

-- source: src/recommend/als_evaluation.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: ALS, item-kNN, their blend and popularity on one split
--
-- The protocol of evaluate_item_knn (binary purchases, relevant = test items
-- new to a user of both periods), with ALS and a reciprocal-rank blend of
-- ALS and item-kNN (Cormack, Clarke & Buettcher 2009: score = sum over the
-- two lists of 1 / (60 + rank), over each list's top 50).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.evaluate_recommenders(train regclass, test regclass,
    neighbors integer DEFAULT 20, als_options pg_catalog.jsonb DEFAULT '{}', k integer DEFAULT 10,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (recommender text, users bigint, precision_at_k float8, recall_at_k float8,
               ndcg_at_k float8, map_at_k float8, hit_rate float8, coverage float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF neighbors IS NULL OR neighbors <= 0 THEN
        RAISE EXCEPTION 'neighbors must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('neighbors is %s.', coalesce(neighbors::text, 'null'));
    END IF;
    IF als_options IS NULL THEN
        RAISE EXCEPTION 'als_options must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH tr AS MATERIALIZED (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %3$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        te AS (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %4$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        knn AS MATERIALIZED (SELECT @extschema@.item_knn(tr.u, tr.i, 1.0, $1) AS m FROM tr),
        als AS MATERIALIZED (SELECT @extschema@.als_train(tr.u, tr.i, 1.0, $3) AS m FROM tr),
        popular AS MATERIALIZED (
            SELECT pg_catalog.array_agg(p.i ORDER BY p.n DESC, p.i) AS items
              FROM (SELECT tr.i, pg_catalog.count(*) AS n FROM tr GROUP BY tr.i) p),
        seen AS MATERIALIZED (SELECT tr.u, pg_catalog.array_agg(tr.i ORDER BY tr.i) AS items FROM tr GROUP BY tr.u),
        relevant AS (
            SELECT te.u, pg_catalog.array_agg(te.i ORDER BY te.i) AS items
              FROM te JOIN seen s ON s.u = te.u
             WHERE NOT te.i = ANY (s.items)
             GROUP BY te.u),
        ranked AS MATERIALIZED (
            SELECT r.u, r.items AS relevant, s.items AS seen,
                   ARRAY(SELECT x.item_id FROM knn CROSS JOIN LATERAL
                         @extschema@.recommend(knn.m, s.items, GREATEST($2, 50)) x) AS knn50,
                   ARRAY(SELECT x.item_id FROM als CROSS JOIN LATERAL
                         @extschema@.recommend(als.m, r.u, s.items, GREATEST($2, 50)) x) AS als50
              FROM relevant r JOIN seen s ON s.u = r.u),
        lists AS MATERIALIZED (
            SELECT l.u, l.relevant, l.knn50[1:$2] AS item_knn, l.als50[1:$2] AS als,
                   ARRAY(SELECT b.i FROM (
                             SELECT z.i, pg_catalog.sum(1.0 / (60 + z.rank)) AS s
                               FROM (SELECT a.i, a.rank FROM pg_catalog.unnest(l.knn50) WITH ORDINALITY a(i, rank)
                                     UNION ALL
                                     SELECT a.i, a.rank FROM pg_catalog.unnest(l.als50) WITH ORDINALITY a(i, rank)) z
                              GROUP BY z.i) b
                          ORDER BY b.s DESC, b.i LIMIT $2) AS blend,
                   ARRAY(SELECT x.item_id FROM popular CROSS JOIN LATERAL
                         @extschema@.recommend(NULL::@extschema@.item_knn_model, l.seen, $2, popular.items) x) AS popularity
              FROM ranked l),
        scored AS (
            SELECT v.recommender, l.u, v.list,
                   @extschema@.ranking_metrics(v.list, l.relevant, $2) AS m
              FROM lists l CROSS JOIN LATERAL (VALUES ('als'::text, l.als), ('blend', l.blend),
                                                      ('item_knn', l.item_knn), ('popularity', l.popularity)) v(recommender, list))
        -- averages in user order, so that parallel plans give the same bits
        SELECT s.recommender, pg_catalog.count(*), pg_catalog.avg((s.m).precision_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).recall_at_k ORDER BY s.u), pg_catalog.avg((s.m).ndcg_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).ap_at_k ORDER BY s.u), pg_catalog.avg((s.m).hit_at_k ORDER BY s.u),
               (SELECT pg_catalog.count(DISTINCT x)::float8 FROM scored s2 CROSS JOIN LATERAL pg_catalog.unnest(s2.list) x
                 WHERE s2.recommender = s.recommender)
               / (SELECT pg_catalog.count(DISTINCT tr.i) FROM tr)
          FROM scored s
         GROUP BY s.recommender
         ORDER BY s.recommender
    $query$, user_column, item_column, train, test)
    USING neighbors, k, als_options;
END
$$;

COMMENT ON FUNCTION @extschema@.evaluate_recommenders(regclass, regclass, integer, pg_catalog.jsonb, integer, name, name) IS
'offline evaluation of als (als_train with als_options), item_knn (the given neighbours), their reciprocal-rank blend and popularity on one train/test split, with the protocol and columns of evaluate_item_knn';

-- source: src/loop/interventions.sql (issue 19)

--------------------------------------------------------------------------
-- Interventions: campaigns, randomised control arms and their effect
--
-- A campaign targets the at-risk customers of a pipeline.  Each customer is
-- put in the treatment or the control arm by a keyed hash, so the split is
-- random with respect to everything about the customer, reproducible by
-- anyone holding the key, and unchanged when assignment runs again.  The
-- effect is the difference of retention rates between the arms over a
-- horizon after assignment, with Newcombe's interval (method 10).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.wilson_interval(successes bigint, trials bigint, confidence float8 DEFAULT 0.95,
    OUT estimate float8, OUT lower float8, OUT upper float8)
AS 'MODULE_PATHNAME', 'wilson_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.wilson_interval(bigint, bigint, float8) IS
'a proportion successes / trials with its Wilson score interval (Wilson 1927) at the given confidence';

CREATE FUNCTION @extschema@.newcombe_interval(successes1 bigint, trials1 bigint,
    successes0 bigint, trials0 bigint, confidence float8 DEFAULT 0.95,
    OUT difference float8, OUT lower float8, OUT upper float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'newcombe_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.newcombe_interval(bigint, bigint, bigint, bigint, float8) IS
'the difference p1 - p0 of two independent proportions with Newcombe''s hybrid score interval (Newcombe 1998, method 10) and the two-sided p-value of the pooled z test (prop.test without continuity correction)';

CREATE TABLE @extschema@.campaigns (
    name             text        PRIMARY KEY,
    pipeline         text        NOT NULL DEFAULT 'default',
    control_fraction float8      NOT NULL DEFAULT 0.1
                                 CHECK (control_fraction > 0 AND control_fraction < 1),
    threshold        float8      NOT NULL DEFAULT 0.5
                                 CHECK (threshold >= 0 AND threshold <= 1),
    offer            text,
    assignment_key   bytea       NOT NULL
                                 DEFAULT pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                      OPERATOR(pg_catalog.||) pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                 CHECK (pg_catalog.length(assignment_key) >= 16),
    auto_assign      boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.campaigns IS
'retention campaigns: which pipeline''s at-risk list (churn probability >= threshold) they target, the share kept as a control arm, the key of the assignment hash, and whether refresh() assigns new at-risk customers every night';

CREATE TABLE @extschema@.interventions (
    campaign    text        NOT NULL REFERENCES @extschema@.campaigns (name) ON UPDATE CASCADE,
    user_id     bigint      NOT NULL,
    arm         text        NOT NULL CHECK (arm IN ('treatment', 'control')),
    assigned_at timestamptz NOT NULL,
    offer       text,
    items       bigint[],
    churn_prob  float8,
    PRIMARY KEY (campaign, user_id)
);

COMMENT ON TABLE @extschema@.interventions IS
'one row per customer of a campaign: the arm (treatment receives the offer, control does not), when they were assigned, what was offered, and their churn probability at assignment';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.interventions', '');

CREATE FUNCTION @extschema@.assignment_arm(campaign text, user_id bigint, control_fraction float8, key bytea)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(
                          @extschema@.pseudonymize(campaign OPERATOR(pg_catalog.||) ':'
                                                   OPERATOR(pg_catalog.||) user_id::pg_catalog.text, key), 1, 13)
                     )::pg_catalog.bit(52)::pg_catalog.int8::pg_catalog.float8 / 4503599627370496.0
                     OPERATOR(pg_catalog.<) control_fraction
                THEN 'control' ELSE 'treatment' END
$$;

COMMENT ON FUNCTION @extschema@.assignment_arm(text, bigint, float8, bytea) IS
'the arm of a customer: control when the first 52 bits of HMAC-SHA256(key, campaign || '':'' || user_id), read as a fraction of 2^52, are below control_fraction, else treatment';

CREATE FUNCTION @extschema@.assign_interventions(campaign text, assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (arm text, customers bigint)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.campaigns;
BEGIN
    SELECT * INTO c FROM @extschema@.campaigns WHERE name = assign_interventions.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist', campaign USING ERRCODE = '42704',
            HINT = 'Create it with INSERT INTO retention.campaigns (name, pipeline, control_fraction) VALUES (...).';
    END IF;
    IF assigned_at IS NULL THEN
        RAISE EXCEPTION 'assigned_at must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    WITH added AS (
        INSERT INTO @extschema@.interventions AS i (campaign, user_id, arm, assigned_at, offer, items, churn_prob)
        SELECT c.name, r.user_id,
               @extschema@.assignment_arm(c.name, r.user_id, c.control_fraction, c.assignment_key),
               assign_interventions.assigned_at, c.offer, r.recommended_items, r.churn_prob
          FROM @extschema@.at_risk(c.threshold, c.pipeline) r
        ON CONFLICT ON CONSTRAINT interventions_pkey DO NOTHING
        RETURNING i.arm)
    SELECT a.arm, count(*) FROM added a GROUP BY a.arm ORDER BY a.arm DESC;
END
$$;

COMMENT ON FUNCTION @extschema@.assign_interventions(text, timestamptz) IS
'adds the campaign''s pipeline''s at-risk customers not yet in the campaign to retention.interventions, each in the arm assignment_arm gives, and returns how many went to each arm; customers already assigned keep their arm';

-- Per-customer outcome over (assigned_at, assigned_at + horizon]: any
-- purchase, and the revenue, from the pipeline's events table.
CREATE FUNCTION @extschema@.intervention_outcomes(campaign text, horizon interval)
RETURNS TABLE (user_id bigint, arm text, churn_prob float8, retained boolean, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.pipelines;
    as_of timestamptz;
BEGIN
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'horizon must be a positive interval' USING ERRCODE = '22023',
            DETAIL = format('horizon is %s.', coalesce(horizon::text, 'null'));
    END IF;
    SELECT pl.* INTO p FROM @extschema@.campaigns c JOIN @extschema@.pipelines pl ON pl.name = c.pipeline
     WHERE c.name = intervention_outcomes.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist or has no pipeline', campaign USING ERRCODE = '42704';
    END IF;
    as_of := coalesce(p.as_of, now());
    RETURN QUERY EXECUTE format($query$
        SELECT i.user_id, i.arm, i.churn_prob, o.n > 0, coalesce(o.revenue, 0)
          FROM @extschema@.interventions i
               CROSS JOIN LATERAL (
                   SELECT pg_catalog.count(*) AS n, pg_catalog.sum(e.%3$I)::pg_catalog.numeric AS revenue
                     FROM %1$s e
                    WHERE e.%2$I = i.user_id AND e.%4$I = $2
                      AND e.%5$I > i.assigned_at AND e.%5$I <= i.assigned_at + $3) o
         WHERE i.campaign = $1 AND i.assigned_at + $3 <= $4
    $query$, p.events, p.user_column, p.amount_column, p.event_column, p.time_column)
    USING campaign, p.purchase_event, horizon, as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.intervention_outcomes(text, interval) IS
'each customer of a campaign whose horizon has ended (assigned_at + horizon <= the pipeline''s as_of or now): their arm, churn probability at assignment, whether they bought anything in (assigned_at, assigned_at + horizon], and that revenue';

CREATE FUNCTION @extschema@.intervention_effect(campaign text, horizon interval, confidence float8 DEFAULT 0.95)
RETURNS TABLE (arm text, customers bigint, retained bigint, retention_rate float8,
               ci_low float8, ci_high float8, p_value float8,
               revenue numeric, revenue_per_customer float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (SELECT * FROM @extschema@.intervention_outcomes(campaign, horizon)),
    arms AS (
        SELECT a.arm, pg_catalog.count(o.user_id) AS customers,
               pg_catalog.count(o.user_id) FILTER (WHERE o.retained) AS retained,
               coalesce(pg_catalog.sum(o.revenue), 0) AS revenue
          FROM (VALUES ('treatment'), ('control')) a(arm) LEFT JOIN o ON o.arm OPERATOR(pg_catalog.=) a.arm
         GROUP BY a.arm),
    t AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'treatment'),
    c AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'control'),
    result AS (
    SELECT a.arm, a.customers, a.retained, w.estimate, w.lower, w.upper, NULL::float8, a.revenue,
           CASE WHEN a.customers > 0 THEN (a.revenue / a.customers)::float8 END
      FROM arms a LEFT JOIN LATERAL @extschema@.wilson_interval(a.retained, NULLIF(a.customers, 0), confidence) w ON true
    UNION ALL
    SELECT 'treatment - control', NULL, NULL, n.difference, n.lower, n.upper, n.p_value,
           t.revenue OPERATOR(pg_catalog.-) c.revenue,
           CASE WHEN t.customers > 0 AND c.customers > 0
                THEN (t.revenue / t.customers - c.revenue / c.customers)::float8 END
      FROM t CROSS JOIN c
           LEFT JOIN LATERAL @extschema@.newcombe_interval(t.retained, NULLIF(t.customers, 0),
                                                           c.retained, NULLIF(c.customers, 0), confidence) n ON true)
    SELECT * FROM result r ORDER BY r.arm = 'treatment - control', r.arm = 'control'
$$;

COMMENT ON FUNCTION @extschema@.intervention_effect(text, interval, float8) IS
'the effect of a campaign: per arm the customers whose horizon has ended, how many bought in the horizon after assignment, the retention rate with its Wilson interval, and revenue; then treatment - control: the difference of rates with Newcombe''s hybrid score interval (1998, method 10) and the pooled z test''s p-value, and the differences of revenue';

CREATE FUNCTION @extschema@.intervention_uplift(campaign text, horizon interval, groups integer DEFAULT 10,
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (decile integer, min_churn_prob float8, max_churn_prob float8,
               treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8,
               difference float8, ci_low float8, ci_high float8, p_value float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (
        SELECT x.*, pg_catalog.ntile(groups) OVER (ORDER BY x.churn_prob, x.user_id) AS g
          FROM @extschema@.intervention_outcomes(campaign, horizon) x
         WHERE x.churn_prob IS NOT NULL),
    s AS (
        SELECT o.g, pg_catalog.min(o.churn_prob) AS lo, pg_catalog.max(o.churn_prob) AS hi,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment') AS nt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control') AS nc,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment' AND o.retained) AS xt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control' AND o.retained) AS xc
          FROM o GROUP BY o.g)
    SELECT s.g::integer, s.lo, s.hi, s.nt, s.nc,
           CASE WHEN s.nt > 0 THEN s.xt::float8 / s.nt END,
           CASE WHEN s.nc > 0 THEN s.xc::float8 / s.nc END,
           n.difference, n.lower, n.upper, n.p_value
      FROM s LEFT JOIN LATERAL @extschema@.newcombe_interval(s.xt, NULLIF(s.nt, 0), s.xc, NULLIF(s.nc, 0), confidence) n ON true
     ORDER BY s.g
$$;

COMMENT ON FUNCTION @extschema@.intervention_uplift(text, interval, integer, float8) IS
'the effect of a campaign by churn-probability group (deciles by default, 1 = least at risk): per group the customers and retention rate of each arm and the difference with Newcombe''s interval and p-value; does targeting the riskiest pay most?';

CREATE FUNCTION @extschema@.assign_campaigns(pipeline text DEFAULT 'default',
    assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (campaign text, arm text, customers bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name, a.arm, a.customers
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.assign_interventions(c.name, assign_campaigns.assigned_at) a
     WHERE c.pipeline = assign_campaigns.pipeline AND c.auto_assign
     ORDER BY c.name, a.arm DESC
$$;

COMMENT ON FUNCTION @extschema@.assign_campaigns(text, timestamptz) IS
'the nightly assignment: assign_interventions for every campaign of the pipeline with auto_assign, after refresh() has scored it; returns the customers added per campaign and arm';

CREATE FUNCTION @extschema@.campaign_effects(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days',
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (campaign text, treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8, difference float8,
               ci_low float8, ci_high float8, p_value float8, revenue_per_customer_difference float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name,
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_low) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_high) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.p_value) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.revenue_per_customer) FILTER (WHERE e.arm = 'treatment - control')
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.intervention_effect(c.name, campaign_effects.horizon,
                                                              campaign_effects.confidence) e
     WHERE c.pipeline = campaign_effects.pipeline
     GROUP BY c.name, c.created_at
     ORDER BY c.created_at, c.name
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects(text, interval, float8) IS
'one row per campaign of a pipeline: the customers and retention rates of both arms over the horizon, the difference with Newcombe''s interval and p-value, and the difference of revenue per customer (what a report shows)';

CREATE FUNCTION @extschema@.campaign_effects_html(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days')
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '<section id="campaigns"><h2>Campaigns: treatment against control over '
        || @extschema@.html_escape(campaign_effects_html.horizon::text) || '</h2>'
        || coalesce(
               '<table class="metrics" id="campaign-effects"><thead><tr><th>campaign</th>'
               || '<th>treatment</th><th>control</th><th>treatment rate</th><th>control rate</th>'
               || '<th>difference (95% CI)</th><th>p-value</th><th>revenue per customer, difference</th></tr></thead><tbody>'
               || string_agg('<tr class="campaign"><td>' || @extschema@.html_escape(e.campaign) || '</td><td>'
                             || e.treatment_customers || '</td><td>' || e.control_customers || '</td><td>'
                             || coalesce(round((100 * e.treatment_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(round((100 * e.control_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '<b>' ELSE '' END
                                         || to_char(100 * e.difference, 'FMSG990.0') || ' pts ('
                                         || to_char(100 * e.ci_low, 'FMSG990.0') || ' to '
                                         || to_char(100 * e.ci_high, 'FMSG990.0') || ')'
                                         || CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '</b>' ELSE '' END,
                                         '&ndash;') || '</td><td>'
                             || coalesce(round(e.p_value::numeric, 4)::text, '&ndash;') || '</td><td>'
                             || coalesce(round(e.revenue_per_customer_difference::numeric, 2)::text, '&ndash;')
                             || '</td></tr>', '' ORDER BY e.ord)
               || '</tbody></table>',
               '<p>No campaign of this pipeline has customers whose horizon has ended.</p>')
        || '</section>'
      FROM (SELECT x.*, row_number() OVER () AS ord
              FROM @extschema@.campaign_effects(campaign_effects_html.pipeline, campaign_effects_html.horizon) x
             WHERE x.treatment_customers + x.control_customers > 0) e
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects_html(text, interval) IS
'the campaigns of a pipeline as an HTML section for report_html: per campaign the customers and retention rates of both arms, the difference in points with its 95% Newcombe interval (bold when it excludes 0), the p-value and the difference of revenue per customer';
