--------------------------------------------------------------------------
-- Customer base: model types
--
-- A fitted model is a value whose text form is JSON, so it casts to jsonb
-- for retention.models and back: model::text::retention.bgnbd_model.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.bgnbd_model;

CREATE FUNCTION @extschema@.bgnbd_model_in(cstring)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_in(cstring) IS
'input function of bgnbd_model: JSON with at least r, alpha, a and b';

CREATE FUNCTION @extschema@.bgnbd_model_out(@extschema@.bgnbd_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'bgnbd_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_out(@extschema@.bgnbd_model) IS
'output function of bgnbd_model: JSON';

CREATE TYPE @extschema@.bgnbd_model (
    INPUT = @extschema@.bgnbd_model_in,
    OUTPUT = @extschema@.bgnbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.bgnbd_model IS
'a BG/NBD customer-base model (Fader, Hardie & Lee 2005): r, alpha, a, b and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.bgnbd_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.bgnbd_model) WITH INOUT;

COMMENT ON CAST (@extschema@.bgnbd_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.bgnbd_model) IS 'a model from JSON, e.g. from retention.models';

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.bgnbd_model_recv(internal)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_recv(internal) IS
'binary input function of bgnbd_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.bgnbd_model_send(@extschema@.bgnbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_send(@extschema@.bgnbd_model) IS
'binary output function of bgnbd_model';

ALTER TYPE @extschema@.bgnbd_model SET (RECEIVE = @extschema@.bgnbd_model_recv,
                                          SEND = @extschema@.bgnbd_model_send);

CREATE TYPE @extschema@.gamma_gamma_model;

CREATE FUNCTION @extschema@.gamma_gamma_model_in(cstring)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_in(cstring) IS
'input function of gamma_gamma_model: JSON with at least p, q and v';

CREATE FUNCTION @extschema@.gamma_gamma_model_out(@extschema@.gamma_gamma_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'gamma_gamma_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_out(@extschema@.gamma_gamma_model) IS
'output function of gamma_gamma_model: JSON';

CREATE TYPE @extschema@.gamma_gamma_model (
    INPUT = @extschema@.gamma_gamma_model_in,
    OUTPUT = @extschema@.gamma_gamma_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.gamma_gamma_model IS
'a Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"): p, q, v and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.gamma_gamma_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.gamma_gamma_model) WITH INOUT;

COMMENT ON CAST (@extschema@.gamma_gamma_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.gamma_gamma_model) IS 'a model from JSON, e.g. from retention.models';

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.gamma_gamma_model_recv(internal)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_recv(internal) IS
'binary input function of gamma_gamma_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.gamma_gamma_model_send(@extschema@.gamma_gamma_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_send(@extschema@.gamma_gamma_model) IS
'binary output function of gamma_gamma_model';

ALTER TYPE @extschema@.gamma_gamma_model SET (RECEIVE = @extschema@.gamma_gamma_model_recv,
                                          SEND = @extschema@.gamma_gamma_model_send);
