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

CREATE FUNCTION @extschema@.mbgnbd_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_finalfn(@extschema@.agg_state) IS
'final function of mbgnbd_fit: the maximum-likelihood MBG/NBD model';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(float8, float8, float8) IS
'maximum-likelihood MBG/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
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
