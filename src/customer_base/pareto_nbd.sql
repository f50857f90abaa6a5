--------------------------------------------------------------------------
-- Customer base: Pareto/NBD
--
-- The same (x, t_x, T) data as BG/NBD, so the fit shares its transition,
-- combine and serialisation functions.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.pareto_nbd_model;

CREATE FUNCTION @extschema@.pareto_nbd_model_in(cstring)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_in(cstring) IS
'input function of pareto_nbd_model: JSON with at least r, alpha, s and beta';

CREATE FUNCTION @extschema@.pareto_nbd_model_out(@extschema@.pareto_nbd_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'pareto_nbd_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_out(@extschema@.pareto_nbd_model) IS
'output function of pareto_nbd_model: JSON';

CREATE TYPE @extschema@.pareto_nbd_model (
    INPUT = @extschema@.pareto_nbd_model_in,
    OUTPUT = @extschema@.pareto_nbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.pareto_nbd_model IS
'a Pareto/NBD customer-base model (Schmittlein, Morrison & Colombo 1987): r, alpha, s, beta and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.pareto_nbd_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.pareto_nbd_model) WITH INOUT;

COMMENT ON CAST (@extschema@.pareto_nbd_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.pareto_nbd_model) IS 'a model from JSON, e.g. from retention.models';

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.pareto_nbd_model_recv(internal)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_recv(internal) IS
'binary input function of pareto_nbd_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.pareto_nbd_model_send(@extschema@.pareto_nbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_send(@extschema@.pareto_nbd_model) IS
'binary output function of pareto_nbd_model';

ALTER TYPE @extschema@.pareto_nbd_model SET (RECEIVE = @extschema@.pareto_nbd_model_recv,
                                          SEND = @extschema@.pareto_nbd_model_send);

CREATE FUNCTION @extschema@.pareto_nbd_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_finalfn(@extschema@.agg_state) IS
'final function of pareto_nbd_fit: the maximum-likelihood Pareto/NBD model';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8) IS
'maximum-likelihood Pareto/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood Pareto/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.pareto_nbd_p_alive(model @extschema@.pareto_nbd_model,
                                               frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'pareto_nbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_p_alive(@extschema@.pareto_nbd_model, float8, float8, float8) IS
'probability that a customer with summary (frequency, recency, t) is still alive at t under a Pareto/NBD model';

CREATE FUNCTION @extschema@.pareto_nbd_expected_purchases(model @extschema@.pareto_nbd_model, horizon float8,
                                                          frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'pareto_nbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_expected_purchases(@extschema@.pareto_nbd_model, float8, float8, float8, float8) IS
'expected purchases in the next horizon time units of a customer with summary (frequency, recency, t) under a Pareto/NBD model';

CREATE FUNCTION @extschema@.pareto_nbd_expected_purchases(model @extschema@.pareto_nbd_model, horizon float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'pareto_nbd_expected_purchases_new'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_expected_purchases(@extschema@.pareto_nbd_model, float8) IS
'unconditional E[X(horizon)] of a new customer under a Pareto/NBD model';
