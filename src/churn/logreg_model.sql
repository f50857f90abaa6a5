--------------------------------------------------------------------------
-- Churn model type: retention.logreg_model
--
-- A logistic regression model in a compact binary form; its text form is
-- JSON (intercept, coef, feature names and the fit statistics), so a model
-- can be written by hand, imported from another tool or kept in
-- retention.models, and it casts to and from jsonb.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.logreg_model;

CREATE FUNCTION @extschema@.logreg_model_in(cstring)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model_in(cstring) IS
'input function of logreg_model: reads a JSON object with at least "intercept" and "coef"';

CREATE FUNCTION @extschema@.logreg_model_out(@extschema@.logreg_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'logreg_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model_out(@extschema@.logreg_model) IS
'output function of logreg_model: the model and its statistics as JSON text';

CREATE FUNCTION @extschema@.logreg_model_recv(internal)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model_recv(internal) IS
'binary input function of logreg_model: a version byte and the JSON text';

CREATE FUNCTION @extschema@.logreg_model_send(@extschema@.logreg_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'logreg_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model_send(@extschema@.logreg_model) IS
'binary output function of logreg_model: a version byte and the JSON text';

CREATE TYPE @extschema@.logreg_model (
    INPUT = @extschema@.logreg_model_in,
    OUTPUT = @extschema@.logreg_model_out,
    RECEIVE = @extschema@.logreg_model_recv,
    SEND = @extschema@.logreg_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.logreg_model IS
'logistic regression (churn) model: intercept, coefficients, feature names, training means and fit statistics; text form is JSON';

CREATE FUNCTION @extschema@.logreg_model_jsonb(@extschema@.logreg_model)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'logreg_model_to_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model_jsonb(@extschema@.logreg_model) IS
'the model as jsonb, with std_err, z, p_value, odds_ratio, log-likelihoods, aic and counts';

CREATE FUNCTION @extschema@.logreg_model(jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_model(jsonb) IS
'a model from its jsonb form (as stored in retention.models, or written by hand)';

CREATE CAST (@extschema@.logreg_model AS jsonb)
    WITH FUNCTION @extschema@.logreg_model_jsonb(@extschema@.logreg_model);
CREATE CAST (jsonb AS @extschema@.logreg_model)
    WITH FUNCTION @extschema@.logreg_model(jsonb);
