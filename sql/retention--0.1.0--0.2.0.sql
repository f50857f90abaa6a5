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
