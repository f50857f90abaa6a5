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
