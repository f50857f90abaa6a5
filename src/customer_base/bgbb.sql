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

CREATE FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgbb_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer) IS
'transition function of bgbb_fit: counts one customer';

CREATE FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgbb_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer, bigint) IS
'transition function of bgbb_fit: counts a group of customers';

CREATE FUNCTION @extschema@.bgbb_fit_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'opportunity_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of bgbb_fit: adds the counts of customers sharing a pattern';

CREATE FUNCTION @extschema@.bgbb_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_finalfn(@extschema@.agg_state) IS
'final function of bgbb_fit: the maximum-likelihood BG/BB model';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.bgbb_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgbb_fit(integer, integer, integer) IS
'maximum-likelihood BG/BB model of customers given as (frequency, recency, n): transactions, the last opportunity with one (0 if none) and the opportunities observed; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer, customers bigint) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.bgbb_fit_combine,
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
