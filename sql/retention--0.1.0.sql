/* retention--0.1.0.sql: install script for the retention extension */

\echo Use "CREATE EXTENSION retention" to load this file. \quit

--------------------------------------------------------------------------
-- Similarity
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cosine_sim(a float8[], b float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float8'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float8[], float8[]) IS
'cosine similarity of two float8 vectors of equal length, in [-1, 1]; NULL when either is a zero vector';

CREATE FUNCTION @extschema@.cosine_sim(a float4[], b float4[])
RETURNS float8
AS 'MODULE_PATHNAME', 'cosine_sim_float4'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cosine_sim(float4[], float4[]) IS
'cosine similarity of two float4 vectors (embeddings) of equal length, computed in double precision, in [-1, 1]; NULL when either is a zero vector';

--------------------------------------------------------------------------
-- Model registry
--
-- Every trained model (churn, item-kNN, customer-base) is kept here as the
-- JSON text form of its type, one row per version.  JSON survives dumps and
-- future changes of the binary formats; readers convert a version once per
-- query, e.g. (SELECT model::text::retention.logreg_model ...).
--------------------------------------------------------------------------

CREATE TABLE @extschema@.models (
    name            text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    kind            text        NOT NULL,
    model           jsonb       NOT NULL,
    metrics         jsonb,
    feature_names   text[],
    training_source text,
    trained_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    trained_by      name        NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (name, version)
);

COMMENT ON TABLE @extschema@.models IS
'versioned models: one row per (name, version), the model as the JSON text form of its type';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');

--------------------------------------------------------------------------
-- Privacy
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.pseudonymize(id text, key bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'pseudonymize_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pseudonymize(text, bytea) IS
'keyed pseudonym of an identifier: HMAC-SHA256 of its text under key (at least 16 bytes), in hex';

CREATE FUNCTION @extschema@.pseudonymize(id bigint, key bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pseudonymize_bigint'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pseudonymize(bigint, bytea) IS
'keyed pseudonym of a numeric identifier: the first 8 bytes of HMAC-SHA256 of its decimal text under key, as a bigint';

--------------------------------------------------------------------------
-- Customer base: RFM summaries
--
-- rfm_summary reduces one customer's transactions to the (frequency,
-- recency, t, monetary) summary that the customer-base models take, with
-- the definitions of Fader, Hardie & Lee (2005) and the lifetimes library.
-- Calendar days are those of the session's TimeZone, hence STABLE.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.rfm AS (
    frequency integer,
    recency   float8,
    t         float8,
    monetary  float8
);

COMMENT ON TYPE @extschema@.rfm IS
'customer summary: repeat purchase days, time from the first to the last purchase day, time from the first purchase day to the end of the observation period, mean spend of the repeat purchase days';

CREATE FUNCTION @extschema@.rfm_summary_transfn(internal, timestamptz, float8, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rfm_summary_transfn'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_summary_transfn(internal, timestamptz, float8, timestamptz, text) IS
'transition function of rfm_summary: adds one transaction';

CREATE FUNCTION @extschema@.rfm_summary_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rfm_summary_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_summary_combinefn(internal, internal) IS
'combine function of rfm_summary: merges the purchase days of two partial states';

CREATE FUNCTION @extschema@.rfm_summary_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rfm_summary_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_summary_serialize(internal) IS
'serialisation function of rfm_summary';

CREATE FUNCTION @extschema@.rfm_summary_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rfm_summary_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_summary_deserialize(bytea, internal) IS
'deserialisation function of rfm_summary';

CREATE FUNCTION @extschema@.rfm_summary_finalfn(internal)
RETURNS @extschema@.rfm
AS 'MODULE_PATHNAME', 'rfm_summary_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_summary_finalfn(internal) IS
'final function of rfm_summary: the (frequency, recency, t, monetary) summary';

CREATE AGGREGATE @extschema@.rfm_summary(ts timestamptz, amount float8,
                                         observation_end timestamptz, unit text) (
    SFUNC = @extschema@.rfm_summary_transfn,
    STYPE = internal,
    SSPACE = 160,
    FINALFUNC = @extschema@.rfm_summary_finalfn,
    COMBINEFUNC = @extschema@.rfm_summary_combinefn,
    SERIALFUNC = @extschema@.rfm_summary_serialize,
    DESERIALFUNC = @extschema@.rfm_summary_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.rfm_summary(timestamptz, float8, timestamptz, text) IS
'one customer''s transactions as (frequency, recency, t, monetary) in unit ''day'' or ''week'', purchases collapsed per calendar day of the session TimeZone; transactions after observation_end''s day and rows with a NULL are ignored; NULL without purchases';

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

--------------------------------------------------------------------------
-- Customer base: BG/NBD
--
-- bgnbd_fit's state collapses customers sharing (x, t_x, T) into counts.
-- For Citus, whose coordinator cannot merge internal states, the same fit
-- takes pre-counted groups: bgnbd_fit(x, t_x, t, customers) over
-- SELECT x, t_x, t, count(*) ... GROUP BY 1, 2, 3, a query Citus pushes down.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgnbd_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8) IS
'transition function of bgnbd_fit: counts one customer';

CREATE FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgnbd_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8, bigint) IS
'transition function of bgnbd_fit: counts a group of customers';

CREATE FUNCTION @extschema@.customer_groups_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'customer_groups_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_groups_combine(internal, internal) IS
'combine function of the customer-base fits: adds the counts of customers sharing a summary';

CREATE FUNCTION @extschema@.customer_groups_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'customer_groups_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_groups_serialize(internal) IS
'serialisation function of the customer-base fits';

CREATE FUNCTION @extschema@.bgnbd_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'bgnbd_fit_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_deserialize(bytea, internal) IS
'deserialisation function of bgnbd_fit';

CREATE FUNCTION @extschema@.bgnbd_fit_finalfn(internal)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_finalfn(internal) IS
'final function of bgnbd_fit: the maximum-likelihood BG/NBD model';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.bgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8) IS
'maximum-likelihood BG/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.bgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood BG/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.bgnbd_p_alive(model @extschema@.bgnbd_model,
                                          frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgnbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_p_alive(@extschema@.bgnbd_model, float8, float8, float8) IS
'probability that a customer with summary (frequency, recency, t) is still alive at t (FHL 2005 eq. 13)';

CREATE FUNCTION @extschema@.bgnbd_expected_purchases(model @extschema@.bgnbd_model, horizon float8,
                                                     frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgnbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_expected_purchases(@extschema@.bgnbd_model, float8, float8, float8, float8) IS
'expected purchases in the next horizon time units of a customer with summary (frequency, recency, t) (FHL 2005 eq. 10)';

CREATE FUNCTION @extschema@.bgnbd_expected_purchases(model @extschema@.bgnbd_model, horizon float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgnbd_expected_purchases_new'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_expected_purchases(@extschema@.bgnbd_model, float8) IS
'unconditional E[X(horizon)]: expected repeat purchases of a new customer in horizon time units after the first purchase (FHL 2005 eq. 7)';

--------------------------------------------------------------------------
-- Customer base: Gamma-Gamma spend and lifetime value
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8) IS
'transition function of gamma_gamma_fit: counts one customer with repeat purchases';

CREATE FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8, bigint) IS
'transition function of gamma_gamma_fit: counts a group of customers';

CREATE FUNCTION @extschema@.gamma_gamma_fit_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_deserialize(bytea, internal) IS
'deserialisation function of gamma_gamma_fit';

CREATE FUNCTION @extschema@.gamma_gamma_fit_finalfn(internal)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_finalfn(internal) IS
'final function of gamma_gamma_fit: the maximum-likelihood Gamma-Gamma model';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency float8, monetary float8) (
    SFUNC = @extschema@.gamma_gamma_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.gamma_gamma_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.gamma_gamma_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(float8, float8) IS
'maximum-likelihood Gamma-Gamma spend model of customers given as (frequency, monetary); customers without repeat purchases and rows with a NULL are left out; NULL with a notice for fewer than 3 customers';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency float8, monetary float8, customers bigint) (
    SFUNC = @extschema@.gamma_gamma_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.gamma_gamma_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.gamma_gamma_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(float8, float8, bigint) IS
'maximum-likelihood Gamma-Gamma model of groups of customers sharing (frequency, monetary), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.gamma_gamma_expected_spend(model @extschema@.gamma_gamma_model,
                                                       frequency float8, monetary float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'gamma_gamma_expected_spend'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_expected_spend(@extschema@.gamma_gamma_model, float8, float8) IS
'expected spend per transaction of a customer with frequency repeat purchases of mean value monetary; the population mean p v / (q - 1) for frequency 0';

CREATE FUNCTION @extschema@.customer_lifetime_value(
    bgnbd @extschema@.bgnbd_model, spend @extschema@.gamma_gamma_model,
    frequency float8, recency float8, t float8, monetary float8,
    periods integer, period float8, discount_rate float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'customer_lifetime_value'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_lifetime_value(@extschema@.bgnbd_model, @extschema@.gamma_gamma_model, float8, float8, float8, float8, integer, float8, float8) IS
'expected spend of a customer over the next periods periods of length period (model time units), each discounted by (1 + discount_rate) per period';

--------------------------------------------------------------------------
-- Customer base: the customer list
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.customer_base(
    summaries regclass, bgnbd @extschema@.bgnbd_model, spend @extschema@.gamma_gamma_model,
    horizon float8, periods integer, period float8, discount_rate float8)
RETURNS TABLE (customer_id text, frequency float8, recency float8, t float8, monetary float8,
               p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    schema_name name;
    table_name  name;
BEGIN
    SELECT n.nspname, c.relname INTO schema_name, table_name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = summaries;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT s.customer_id::text, s.frequency::float8, s.recency::float8, s.t::float8,'
        '       s.monetary::float8,'
        '       @extschema@.bgnbd_p_alive($1, s.frequency, s.recency, s.t),'
        '       @extschema@.bgnbd_expected_purchases($1, $3, s.frequency, s.recency, s.t),'
        '       @extschema@.gamma_gamma_expected_spend($2, s.frequency, s.monetary),'
        '       @extschema@.customer_lifetime_value($1, $2, s.frequency, s.recency, s.t,'
        '                                           s.monetary, $4, $5, $6)'
        '  FROM %I.%I s', schema_name, table_name)
        USING bgnbd, spend, horizon, periods, period, discount_rate;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base(regclass, @extschema@.bgnbd_model, @extschema@.gamma_gamma_model, float8, integer, float8, float8) IS
'every customer of a table with columns customer_id, frequency, recency, t and monetary, with P(alive), expected purchases within horizon, expected spend per purchase and lifetime value over periods discounted periods; runs with the caller''s privileges';

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

CREATE FUNCTION @extschema@.pareto_nbd_fit_finalfn(internal)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_finalfn(internal) IS
'final function of pareto_nbd_fit: the maximum-likelihood Pareto/NBD model';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8) IS
'maximum-likelihood Pareto/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    SERIALFUNC = @extschema@.customer_groups_serialize,
    DESERIALFUNC = @extschema@.bgnbd_fit_deserialize,
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

--------------------------------------------------------------------------
-- Churn training: logreg_train (one scan, rows kept in memory) and the
-- multi-pass form logreg_step + logreg_train_multipass (one scan per
-- Newton iteration, constant memory, a float8[] state Citus can ship)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'logreg_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[]) IS
'transition function of logreg_train: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[], jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'logreg_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[], jsonb) IS
'transition function of logreg_train with options: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'logreg_train_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_combine(internal, internal) IS
'combine function of logreg_train: concatenates the rows of two partial states';

CREATE FUNCTION @extschema@.logreg_train_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'logreg_train_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_serialize(internal) IS
'serialisation function of logreg_train, for parallel workers';

CREATE FUNCTION @extschema@.logreg_train_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'logreg_train_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_deserialize(bytea, internal) IS
'deserialisation function of logreg_train, for parallel workers';

CREATE FUNCTION @extschema@.logreg_train_final(internal)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_train_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_final(internal) IS
'final function of logreg_train: Newton (IRLS) iterations to the exact optimum';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[]) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    SERIALFUNC = @extschema@.logreg_train_serialize,
    DESERIALFUNC = @extschema@.logreg_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[]) IS
'maximum-likelihood logistic regression of label on features (intercept implicit), exact Newton solve; rows with NULL or non-finite values are skipped and counted';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    SERIALFUNC = @extschema@.logreg_train_serialize,
    DESERIALFUNC = @extschema@.logreg_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda (L2, intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';

CREATE FUNCTION @extschema@.logreg_step_accum(float8[], boolean, float8[], float8[], jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_accum(float8[], boolean, float8[], float8[], jsonb) IS
'transition function of logreg_step: adds one row to the objective, gradient and Hessian sums';

CREATE FUNCTION @extschema@.logreg_step_combine(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_combine(float8[], float8[]) IS
'combine function of logreg_step: adds two states of sums';

CREATE AGGREGATE @extschema@.logreg_step(label boolean, features float8[], coef float8[], options jsonb) (
    SFUNC = @extschema@.logreg_step_accum,
    STYPE = float8[],
    COMBINEFUNC = @extschema@.logreg_step_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_step(boolean, float8[], float8[], jsonb) IS
'one Newton pass of logistic regression at coef (intercept first): objective, gradient and Hessian sums in a float8[] state that Citus can combine across nodes';

CREATE FUNCTION @extschema@.logreg_step_objective(state float8[], coef float8[], options jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'logreg_step_objective'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_objective(float8[], float8[], jsonb) IS
'penalised negative log-likelihood of a logreg_step state at its coefficients; NULL when the state or the coefficients are NULL (NULL options mean the defaults)';

CREATE FUNCTION @extschema@.logreg_step_direction(state float8[], coef float8[], options jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'logreg_step_direction'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_direction(float8[], float8[], jsonb) IS
'Newton step of a logreg_step state: {objective, convergence criterion, d_1..d_p}, next coef = coef - d; NULL when the Hessian became singular';

CREATE FUNCTION @extschema@.logreg_step_model(state float8[], coef float8[], options jsonb,
                                              iterations integer, converged boolean,
                                              last_step float8 DEFAULT NULL)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_step_model'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_step_model(float8[], float8[], jsonb, integer, boolean, float8) IS
'the model of a finished multi-pass fit, from the logreg_step state at its final coefficients; last_step is the norm of the last step over the norm of the coefficients (NULL: unknown), used to tell separation from an outlying row';

-- A table or view name, or a query, as a FROM item aliased "src".
CREATE FUNCTION @extschema@.source_from_item(source text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    IF source OPERATOR(pg_catalog.~*) '^\s*\(?\s*(select|with|values|table)\s' THEN
        RETURN pg_catalog.format('(%s) AS src', source);
    END IF;
    RETURN pg_catalog.format('%s AS src', source::pg_catalog.regclass);
END
$$;

COMMENT ON FUNCTION @extschema@.source_from_item(text) IS
'a training source (table or view name, or a SELECT query) as a FROM item aliased src; the query runs with the caller''s privileges';

CREATE FUNCTION @extschema@.logreg_train_multipass(source text, label_column text,
                                                   feature_columns text[], options jsonb DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    opts     pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    max_iter integer := COALESCE((opts OPERATOR(pg_catalog.->>) 'max_iter')::integer, 100);
    tol      pg_catalog.float8 := COALESCE((opts OPERATOR(pg_catalog.->>) 'tol')::pg_catalog.float8, 1e-8);
    p        integer;
    pass     pg_catalog.text;
    beta     pg_catalog.float8[];
    cand     pg_catalog.float8[];
    s        pg_catalog.float8[];
    sc       pg_catalog.float8[];
    dir      pg_catalog.float8[];
    f        pg_catalog.float8;
    fc       pg_catalog.float8;
    t        pg_catalog.float8;
    iter     integer := 0;
    last_step pg_catalog.float8 := 0;
    accepted boolean;
    converged boolean := false;
BEGIN
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;
    p := pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.+)
         CASE WHEN COALESCE((opts OPERATOR(pg_catalog.->>) 'fit_intercept')::boolean, true) THEN 1 ELSE 0 END;
    pass := pg_catalog.format(
        'SELECT @extschema@.logreg_step((src.%I)::integer::boolean, ARRAY[%s]::pg_catalog.float8[], $1, $2) FROM %s',
        label_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source));
    beta := pg_catalog.array_fill(0::pg_catalog.float8, ARRAY[p]);

    -- "balanced" class weights need the class counts: one counting pass
    IF opts OPERATOR(pg_catalog.->>) 'class_weight' OPERATOR(pg_catalog.=) 'balanced' THEN
        EXECUTE pass INTO s USING beta, opts OPERATOR(pg_catalog.-) 'class_weight'::pg_catalog.text;
        -- 1-based slots of the state: 4 = usable rows, 6 = positives
        IF s IS NOT NULL AND s[6] OPERATOR(pg_catalog.>) 0 AND s[6] OPERATOR(pg_catalog.<) s[4] THEN
            opts := pg_catalog.jsonb_set(opts, '{class_weight}',
                pg_catalog.jsonb_build_object(
                    '0', s[4] OPERATOR(pg_catalog./) (2 OPERATOR(pg_catalog.*) (s[4] OPERATOR(pg_catalog.-) s[6])),
                    '1', s[4] OPERATOR(pg_catalog./) (2 OPERATOR(pg_catalog.*) s[6])));
        ELSE
            opts := opts OPERATOR(pg_catalog.-) 'class_weight'::pg_catalog.text;
        END IF;
    END IF;

    EXECUTE pass INTO s USING beta, opts;
    -- slot 2 is the feature count, -1 while no row was usable
    IF s IS NULL OR s[2] OPERATOR(pg_catalog.<) 0 OR s[4] OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;
    END IF;
    f := @extschema@.logreg_step_objective(s, beta, opts);
    WHILE iter OPERATOR(pg_catalog.<) max_iter LOOP
        dir := @extschema@.logreg_step_direction(s, beta, opts);
        IF dir IS NULL THEN             -- the curvature vanished: separation
            last_step := 'Infinity';
            EXIT;
        END IF;
        t := 1;
        accepted := false;
        FOR h IN 0 .. 50 LOOP
            -- OPERATOR() syntax has one precedence for all: parenthesise
            SELECT pg_catalog.array_agg(beta[i] OPERATOR(pg_catalog.-)
                                        (t OPERATOR(pg_catalog.*) dir[i OPERATOR(pg_catalog.+) 2]) ORDER BY i)
              INTO cand
              FROM pg_catalog.generate_series(1, p) AS i;
            EXECUTE pass INTO sc USING cand, opts;
            fc := @extschema@.logreg_step_objective(sc, cand, opts);
            IF fc OPERATOR(pg_catalog.<=)
               (f OPERATOR(pg_catalog.+)
                (1e-13::pg_catalog.float8 OPERATOR(pg_catalog.*) (pg_catalog.abs(f) OPERATOR(pg_catalog.+) 1::pg_catalog.float8))) THEN
                accepted := true;
                EXIT;
            END IF;
            t := t OPERATOR(pg_catalog./) 2::pg_catalog.float8;
        END LOOP;
        IF NOT accepted THEN
            converged := dir[2] OPERATOR(pg_catalog.<) tol;
            EXIT;
        END IF;
        -- ||t d|| / ||new coef||, as logreg_train measures it
        SELECT CASE WHEN pg_catalog.sum(c OPERATOR(pg_catalog.*) c) OPERATOR(pg_catalog.=) 0::pg_catalog.float8
                    THEN CASE WHEN pg_catalog.sum(d OPERATOR(pg_catalog.*) d) OPERATOR(pg_catalog.=) 0::pg_catalog.float8
                              THEN 0 ELSE 'Infinity'::pg_catalog.float8 END
                    ELSE pg_catalog.sqrt(pg_catalog.sum(d OPERATOR(pg_catalog.*) d)
                                         OPERATOR(pg_catalog./) pg_catalog.sum(c OPERATOR(pg_catalog.*) c)) END
          INTO last_step
          FROM pg_catalog.generate_series(1, p) AS i,
               LATERAL (SELECT cand[i] AS c, cand[i] OPERATOR(pg_catalog.-) beta[i] AS d) AS v;
        beta := cand;
        s := sc;
        f := fc;
        iter := iter OPERATOR(pg_catalog.+) 1;
        IF dir[2] OPERATOR(pg_catalog.<) tol THEN
            converged := true;
            EXIT;
        END IF;
    END LOOP;
    RETURN @extschema@.logreg_step_model(s, beta, opts, iter, converged, last_step);
END
$$;

COMMENT ON FUNCTION @extschema@.logreg_train_multipass(text, text, text[], jsonb) IS
'logistic regression in constant memory: drives the logreg_step aggregate (one scan of source per Newton iteration) to the same exact optimum as logreg_train; use it for tables larger than memory or distributed with Citus';

--------------------------------------------------------------------------
-- Churn scoring and explanations
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.churn_prob(model @extschema@.logreg_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_prob'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob(@extschema@.logreg_model, float8[]) IS
'churn probability 1 / (1 + exp(-(intercept + coef . features))) of one user';

CREATE FUNCTION @extschema@.churn_logit(model @extschema@.logreg_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit(@extschema@.logreg_model, float8[]) IS
'log-odds of churn, intercept + coef . features, of one user';

CREATE FUNCTION @extschema@.churn_base_logit(model @extschema@.logreg_model)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_base_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_base_logit(@extschema@.logreg_model) IS
'log-odds of the average training user, intercept + coef . training means: the base value of churn_explain';

CREATE FUNCTION @extschema@.churn_explain(model @extschema@.logreg_model, features float8[],
    OUT feature_index integer, OUT feature text, OUT value float8, OUT coefficient float8,
    OUT mean float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'churn_explain'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain(@extschema@.logreg_model, float8[]) IS
'one row per feature with its contribution coefficient * (value - training mean) to the log-odds; the contributions plus churn_base_logit add up to churn_logit';

--------------------------------------------------------------------------
-- Classifier metrics: roc_auc, log_loss, classification_report,
-- threshold_max_f1, threshold_for_recall
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean) IS
'transition function of roc_auc and threshold_max_f1: keeps one (score, label) pair';

CREATE FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean, float8) IS
'transition function of threshold_for_recall: keeps one (score, label) pair and the target';

CREATE FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint) IS
'transition function of roc_auc and threshold_max_f1 over counts: keeps one (score, positives, negatives) triple';

CREATE FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint, float8) IS
'transition function of threshold_for_recall over counts: keeps one triple and the target';

CREATE FUNCTION @extschema@.scored_labels_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_combine(internal, internal) IS
'combine function of the scored-label aggregates: concatenates two states';

CREATE FUNCTION @extschema@.scored_labels_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'scored_labels_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_serialize(internal) IS
'serialisation function of the scored-label aggregates';

CREATE FUNCTION @extschema@.scored_labels_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'scored_labels_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_deserialize(bytea, internal) IS
'deserialisation function of the scored-label aggregates';

CREATE FUNCTION @extschema@.roc_auc_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'roc_auc_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.roc_auc_final(internal) IS
'final function of roc_auc: the Mann-Whitney statistic with average ranks for ties';

CREATE FUNCTION @extschema@.threshold_max_f1_final(internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'threshold_max_f1_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.threshold_max_f1_final(internal) IS
'final function of threshold_max_f1';

CREATE FUNCTION @extschema@.threshold_for_recall_final(internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'threshold_for_recall_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.threshold_for_recall_final(internal) IS
'final function of threshold_for_recall';

CREATE AGGREGATE @extschema@.roc_auc(score float8, label boolean) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.roc_auc_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.roc_auc(float8, boolean) IS
'exact area under the ROC curve (tied scores count one half, as scikit-learn''s roc_auc_score); NULL unless both classes occur';

CREATE AGGREGATE @extschema@.threshold_max_f1(score float8, label boolean) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.threshold_max_f1_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_max_f1(float8, boolean) IS
'the score threshold (positive when score >= threshold) that maximises F1, with its classification report as jsonb';

CREATE AGGREGATE @extschema@.threshold_for_recall(score float8, label boolean, target_recall float8) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.threshold_for_recall_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_for_recall(float8, boolean, float8) IS
'the highest score threshold whose recall reaches target_recall, with its classification report as jsonb';

CREATE AGGREGATE @extschema@.roc_auc(score float8, positives bigint, negatives bigint) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.roc_auc_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.roc_auc(float8, bigint, bigint) IS
'exact area under the ROC curve from counts of positive and negative rows per score (for example a distributed GROUP BY score); equal to roc_auc over the rows';

CREATE AGGREGATE @extschema@.threshold_max_f1(score float8, positives bigint, negatives bigint) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.threshold_max_f1_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_max_f1(float8, bigint, bigint) IS
'the F1-maximising threshold from counts of positive and negative rows per score, with its classification report';

CREATE AGGREGATE @extschema@.threshold_for_recall(score float8, positives bigint, negatives bigint, target_recall float8) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.threshold_for_recall_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    SERIALFUNC = @extschema@.scored_labels_serialize,
    DESERIALFUNC = @extschema@.scored_labels_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_for_recall(float8, bigint, bigint, float8) IS
'the highest threshold reaching target_recall, from counts of positive and negative rows per score, with its classification report';

CREATE FUNCTION @extschema@.float8_state_add(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'float8_state_add'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.float8_state_add(float8[], float8[]) IS
'combine function of classification_report: element-wise sum of two states';

CREATE FUNCTION @extschema@.log_loss_accum(float8[], float8, boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'log_loss_accum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_accum(float8[], float8, boolean) IS
'transition function of log_loss: {rows, the sum of -log likelihoods in fixed point as four base-2^32 limbs of 2^-64}';

CREATE FUNCTION @extschema@.log_loss_combine(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'log_loss_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_combine(float8[], float8[]) IS
'combine function of log_loss: adds two states exactly, so the result does not depend on how rows were split';

CREATE FUNCTION @extschema@.log_loss_final(float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'log_loss_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_final(float8[]) IS
'final function of log_loss: the mean';

CREATE AGGREGATE @extschema@.log_loss(prob float8, label boolean) (
    SFUNC = @extschema@.log_loss_accum,
    STYPE = float8[],
    INITCOND = '{0,0,0,0,0}',
    FINALFUNC = @extschema@.log_loss_final,
    COMBINEFUNC = @extschema@.log_loss_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.log_loss(float8, boolean) IS
'mean negative log-likelihood (natural log) of predicted probabilities, clipped to [1e-15, 1 - 1e-15] as scikit-learn''s log_loss';

CREATE FUNCTION @extschema@.classification_accum(float8[], float8, boolean, float8)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'classification_accum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.classification_accum(float8[], float8, boolean, float8) IS
'transition function of classification_report: confusion counts {tp, fp, tn, fn}';

CREATE FUNCTION @extschema@.classification_final(float8[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'classification_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.classification_final(float8[]) IS
'final function of classification_report';

CREATE AGGREGATE @extschema@.classification_report(score float8, label boolean, threshold float8) (
    SFUNC = @extschema@.classification_accum,
    STYPE = float8[],
    INITCOND = '{0,0,0,0}',
    FINALFUNC = @extschema@.classification_final,
    COMBINEFUNC = @extschema@.float8_state_add,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.classification_report(float8, boolean, float8) IS
'accuracy, precision, recall, F1 and confusion counts as jsonb, a row being positive when score >= threshold; rates of 0/0 are null';

--------------------------------------------------------------------------
-- Churn model registry: train_churn_model stores versions in
-- retention.models; churn_model and churn_models_latest read them back.
-- Everything runs with the caller's privileges, so grants and row-level
-- security on the user's tables (and on retention.models) apply.
--------------------------------------------------------------------------

CREATE PROCEDURE @extschema@.train_churn_model(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    options jsonb DEFAULT NULL,
    holdout_column text DEFAULT NULL,
    holdout_fraction float8 DEFAULT 0.2,
    INOUT version integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    test_expr  pg_catalog.text;
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    model      @extschema@.logreg_model;
    holdout    pg_catalog.jsonb;
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source and label_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF holdout_column IS NULL AND NOT (holdout_fraction OPERATOR(pg_catalog.>=) 0::pg_catalog.float8
                                       AND holdout_fraction OPERATOR(pg_catalog.<) 1::pg_catalog.float8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('holdout_fraction %s is not in [0, 1)', holdout_fraction);
    END IF;
    IF NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;

    from_item := @extschema@.source_from_item(source);
    label_expr := pg_catalog.format('(src.%I)::integer::boolean', label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));
    IF holdout_column IS NOT NULL THEN
        test_expr := pg_catalog.format('COALESCE((src.%I)::boolean, false)', holdout_column);
    ELSE
        -- a deterministic split: a hash of the whole row
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    EXECUTE pg_catalog.format(
        'SELECT @extschema@.logreg_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
        label_expr, feats, from_item, test_expr)
        INTO model USING opts;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, NULL features or non-finite features are skipped.';
    END IF;

    -- holdout metrics on the rows the model has not seen (usable rows only)
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(p, y),
                    'log_loss', @extschema@.log_loss(p, y),
                    'at_0_5', @extschema@.classification_report(p, y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(p, y))
             FROM (SELECT @extschema@.churn_prob($1, f) AS p, y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                    WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                      AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        label_expr, feats, from_item, test_expr)
        INTO holdout USING model;

    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(model_name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) OPERATOR(pg_catalog.+) 1 INTO version
      FROM @extschema@.models AS m WHERE m.name OPERATOR(pg_catalog.=) model_name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (model_name, version, 'logreg', model::pg_catalog.jsonb,
            pg_catalog.jsonb_build_object('holdout', holdout,
                                          'holdout_split', COALESCE(holdout_column,
                                              'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
            feature_columns, source);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_model(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a churn model on a table, view or query (label column, feature columns) except its holdout rows, evaluates it on the holdout (AUC, log loss, report at 0.5, max-F1 threshold) and stores it as the next version in retention.models; returns the version';

CREATE FUNCTION @extschema@.churn_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m.model::pg_catalog.text::@extschema@.logreg_model
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) 'logreg'
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
     ORDER BY m.version DESC
     LIMIT 1
$$;

COMMENT ON FUNCTION @extschema@.churn_model(text, integer) IS
'a stored churn model: the latest version of model_name, or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';

CREATE VIEW @extschema@.churn_models_latest WITH (security_invoker = true) AS
SELECT DISTINCT ON (m.name)
       m.name, m.version, m.model::text::@extschema@.logreg_model AS model,
       m.metrics, m.feature_names, m.trained_at, m.trained_by
  FROM @extschema@.models AS m
 WHERE m.kind = 'logreg'
 ORDER BY m.name, m.version DESC;

COMMENT ON VIEW @extschema@.churn_models_latest IS
'the latest version of every churn (logreg) model, as a logreg_model ready for churn_prob';

CREATE FUNCTION @extschema@.churn_scores(model_name text, source text, id_column text,
                                         model_version integer DEFAULT NULL)
RETURNS TABLE (id text, churn_prob float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    stored record;
BEGIN
    SELECT m.model, m.feature_names INTO stored
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) 'logreg'
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s does not exist', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            HINT = 'Train it with CALL retention.train_churn_model(...).';
    END IF;
    IF stored.feature_names IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churn model %L has no feature names', model_name),
            HINT = 'Score with retention.churn_prob and the features in training order.';
    END IF;
    -- users with a NULL feature get a NULL score; the columns are the model's feature names
    RETURN QUERY EXECUTE pg_catalog.format(
        $q$SELECT s.id, CASE WHEN pg_catalog.array_position(s.f, NULL) IS NULL
                             THEN @extschema@.churn_prob($1, s.f) END
             FROM (SELECT (src.%I)::pg_catalog.text AS id, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s) AS s$q$,
        id_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source))
        USING stored.model::pg_catalog.text::@extschema@.logreg_model;
END
$$;

COMMENT ON FUNCTION @extschema@.churn_scores(text, text, text, integer) IS
'churn probability of every user of a table, view or query, with the latest (or the given) version of a stored churn model, reading the feature columns named in the registry; NULL for users with a NULL feature';

--------------------------------------------------------------------------
-- Recommendation: the item-kNN model type
--
-- retention.item_knn_model holds, for every item, its k most similar items
-- in compressed sparse row form (12 bytes per item and per neighbour).  Its
-- text form is JSON; the casts to and from jsonb store it in
-- retention.models.  Parsing JSON costs about a microsecond per neighbour,
-- so applications keep the binary value: a table column of this type, or
-- one retention.item_knn_load() per query.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.item_knn_model;

CREATE FUNCTION @extschema@.item_knn_model_in(cstring)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_in(cstring) IS
'reads an item_knn_model from its JSON text form, validating it';

CREATE FUNCTION @extschema@.item_knn_model_out(@extschema@.item_knn_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'item_knn_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_out(@extschema@.item_knn_model) IS
'writes an item_knn_model as JSON: {"kind": "item_knn", "format": 1, "k": k, "items": [[item_id, [[neighbor_id, similarity], ...]], ...]}';

-- Stored out of line but uncompressed: similarities compress poorly, and
-- decompressing on every read would cost more than it saves.
CREATE TYPE @extschema@.item_knn_model (
    INPUT = @extschema@.item_knn_model_in,
    OUTPUT = @extschema@.item_knn_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = external
);

COMMENT ON TYPE @extschema@.item_knn_model IS
'item-item collaborative filtering model: the k most similar items of every item, built by retention.item_knn';

CREATE FUNCTION @extschema@.item_knn_model(model pg_catalog.jsonb)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model(pg_catalog.jsonb) IS
'reads an item_knn_model from jsonb, e.g. the model column of retention.models';

CREATE CAST (pg_catalog.jsonb AS @extschema@.item_knn_model)
    WITH FUNCTION @extschema@.item_knn_model(pg_catalog.jsonb);

COMMENT ON CAST (pg_catalog.jsonb AS @extschema@.item_knn_model) IS
'reads an item_knn_model from its JSON form';

CREATE CAST (@extschema@.item_knn_model AS pg_catalog.jsonb) WITH INOUT;

COMMENT ON CAST (@extschema@.item_knn_model AS pg_catalog.jsonb) IS
'the JSON form of an item_knn_model, as stored in retention.models';

--------------------------------------------------------------------------
-- Recommendation: building item-kNN models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer) IS
'transition function of retention.item_knn: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.item_knn_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_combinefn(internal, internal) IS
'combine function of retention.item_knn: the union of two partial states';

CREATE FUNCTION @extschema@.item_knn_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'item_knn_serialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_serialfn(internal) IS
'serialisation function of retention.item_knn';

CREATE FUNCTION @extschema@.item_knn_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'item_knn_deserialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_deserialfn(bytea, internal) IS
'deserialisation function of retention.item_knn; checks the length of its input';

CREATE FUNCTION @extschema@.item_knn_finalfn(internal)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_finalfn(internal) IS
'final function of retention.item_knn: computes the top-k cosine neighbours of every item';

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    SERIALFUNC = @extschema@.item_knn_serialfn,
    DESERIALFUNC = @extschema@.item_knn_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer) IS
'item-kNN model: for every item its k most similar items by cosine similarity of their user vectors; weights of a repeated (user, item) pair add up; rows with a NULL user, item or weight are skipped';

--------------------------------------------------------------------------
-- Recommendation: using item-kNN models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.item_knn_model, seen bigint[], k integer)
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_item_knn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.item_knn_model, bigint[], integer) IS
'the k best items not in seen, scored by the sum of the similarities between each seen item and its neighbours; highest first, ties by item_id';

CREATE FUNCTION @extschema@.item_knn_neighbors(model @extschema@.item_knn_model)
RETURNS TABLE (item_id bigint, neighbor_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'item_knn_neighbors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.item_knn_neighbors(@extschema@.item_knn_model) IS
'the model as rows (item_id, neighbor_id, similarity), by item_id, then similarity descending, then neighbor_id';

CREATE FUNCTION @extschema@.item_knn_neighbors(model @extschema@.item_knn_model, item_id bigint)
RETURNS TABLE (item_id bigint, neighbor_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'item_knn_neighbors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.item_knn_neighbors(@extschema@.item_knn_model, bigint) IS
'the neighbours of one item as rows (item_id, neighbor_id, similarity), most similar first; no rows for an unknown item';

CREATE FUNCTION @extschema@.item_knn_model_info(model @extschema@.item_knn_model,
    OUT k integer, OUT items integer, OUT neighbors bigint, OUT bytes bigint)
AS 'MODULE_PATHNAME', 'item_knn_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_model_info(@extschema@.item_knn_model) IS
'k, number of items, total number of neighbours and size in bytes of an item_knn model';

--------------------------------------------------------------------------
-- Recommendation: item-kNN models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_save(name text, model @extschema@.item_knn_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
    new_version integer;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models m
     WHERE m.name = item_knn_save.name AND m.kind <> 'item_knn' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an item_knn model', name, other_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, training_source)
    SELECT item_knn_save.name, COALESCE(max(m.version), 0) + 1, 'item_knn',
           item_knn_save.model::pg_catalog.jsonb, item_knn_save.metrics,
           item_knn_save.training_source
      FROM @extschema@.models m WHERE m.name = item_knn_save.name
    RETURNING version INTO new_version;
    RETURN new_version;
END
$$;

COMMENT ON FUNCTION @extschema@.item_knn_save(text, @extschema@.item_knn_model, text, pg_catalog.jsonb) IS
'stores an item_knn model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.item_knn_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.item_knn_model
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result @extschema@.item_knn_model;
BEGIN
    SELECT m.model::@extschema@.item_knn_model INTO result
      FROM @extschema@.models m
     WHERE m.name = item_knn_load.name AND m.kind = 'item_knn'
       AND (item_knn_load.version IS NULL OR m.version = item_knn_load.version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item_knn model "%"%does not exist', name,
            CASE WHEN version IS NULL THEN ' ' ELSE ' version ' || version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.item_knn_load(text, integer) IS
'the item_knn model stored under name in retention.models, its latest version unless version is given; parses JSON, so call it once per query';

--------------------------------------------------------------------------
-- Recommendation: offline evaluation
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.ranking_metrics(recommended bigint[], relevant bigint[], k integer,
    OUT precision_at_k float8, OUT recall_at_k float8, OUT ndcg_at_k float8,
    OUT ap_at_k float8, OUT hit_at_k float8)
AS 'MODULE_PATHNAME', 'ranking_metrics'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.ranking_metrics(bigint[], bigint[], integer) IS
'precision@k, recall@k, NDCG@k, average precision@k and hit@k of one user''s ranked list against the set of relevant items (binary relevance); average them over users with avg(); NULLs when nothing is relevant';

--------------------------------------------------------------------------
-- Recommendation: cold start, popularity and evaluation on a train/test split
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.item_knn_model, seen bigint[], k integer, fallback bigint[])
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_item_knn_fallback'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.item_knn_model, bigint[], integer, bigint[]) IS
'recommend(model, seen, k), then, while fewer than k rows, the fallback items (e.g. best-sellers) in their order with score 0, skipping seen and listed ones; a NULL model or seen list means no history (cold start)';

CREATE FUNCTION @extschema@.evaluate_item_knn(train regclass, test regclass,
    neighbors integer DEFAULT 20, k integer DEFAULT 10,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (recommender text, users bigint, precision_at_k float8, recall_at_k float8,
               ndcg_at_k float8, map_at_k float8, hit_rate float8, coverage float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF neighbors IS NULL OR neighbors <= 0 THEN
        RAISE EXCEPTION 'neighbors must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('neighbors is %s.', coalesce(neighbors::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH tr AS MATERIALIZED (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %3$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        te AS (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %4$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        model AS MATERIALIZED (SELECT @extschema@.item_knn(tr.u, tr.i, 1.0, $1) AS m FROM tr),
        popular AS MATERIALIZED (
            SELECT pg_catalog.array_agg(p.i ORDER BY p.n DESC, p.i) AS items
              FROM (SELECT tr.i, pg_catalog.count(*) AS n FROM tr GROUP BY tr.i) p),
        seen AS MATERIALIZED (SELECT tr.u, pg_catalog.array_agg(tr.i ORDER BY tr.i) AS items FROM tr GROUP BY tr.u),
        relevant AS (
            SELECT te.u, pg_catalog.array_agg(te.i ORDER BY te.i) AS items
              FROM te JOIN seen s ON s.u = te.u
             WHERE NOT te.i = ANY (s.items)
             GROUP BY te.u),
        lists AS MATERIALIZED (
            SELECT r.u, r.items AS relevant,
                   ARRAY(SELECT x.item_id FROM model CROSS JOIN LATERAL
                         @extschema@.recommend(model.m, s.items, $2) x) AS item_knn,
                   ARRAY(SELECT x.item_id FROM popular CROSS JOIN LATERAL
                         @extschema@.recommend(NULL::@extschema@.item_knn_model, s.items, $2, popular.items) x) AS popularity
              FROM relevant r JOIN seen s ON s.u = r.u),
        scored AS (
            SELECT 'item_knn'::text AS recommender, l.u,
                   @extschema@.ranking_metrics(l.item_knn, l.relevant, $2) AS m FROM lists l
            UNION ALL
            SELECT 'popularity', l.u, @extschema@.ranking_metrics(l.popularity, l.relevant, $2) FROM lists l)
        -- averages in user order, so that parallel plans give the same bits
        SELECT s.recommender, pg_catalog.count(*), pg_catalog.avg((s.m).precision_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).recall_at_k ORDER BY s.u), pg_catalog.avg((s.m).ndcg_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).ap_at_k ORDER BY s.u), pg_catalog.avg((s.m).hit_at_k ORDER BY s.u),
               (SELECT pg_catalog.count(DISTINCT x)::float8 FROM lists l CROSS JOIN LATERAL
                       pg_catalog.unnest(CASE s.recommender WHEN 'item_knn' THEN l.item_knn ELSE l.popularity END) x)
               / (SELECT pg_catalog.count(DISTINCT tr.i) FROM tr)
          FROM scored s
         GROUP BY s.recommender
         ORDER BY s.recommender
    $query$, user_column, item_column, train, test)
    USING neighbors, k;
END
$$;

COMMENT ON FUNCTION @extschema@.evaluate_item_knn(regclass, regclass, integer, integer, name, name) IS
'offline evaluation: trains item_knn (binary purchases, the given number of neighbours) on train, recommends k unseen items to every user of both tables, counts as relevant the test items new to the user, and reports precision@k, recall@k, NDCG@k, MAP@k, hit rate and catalogue coverage averaged per user, with the popularity baseline computed the same way';

--------------------------------------------------------------------------
-- Recommendation: batch recommendations and user-user collaborative filtering
--
-- A user-user model is an item_knn model with the roles swapped:
-- retention.item_knn(item_id, user_id, weight, k) gives every user the k
-- users whose item vectors have the highest cosine similarity.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend_all(model @extschema@.item_knn_model, interactions regclass,
    k integer, fallback bigint[] DEFAULT NULL,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
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
          FROM (SELECT t.%1$I::bigint AS uid, pg_catalog.array_agg(t.%2$I::bigint) AS seen
                  FROM %3$s t WHERE t.%1$I IS NOT NULL
                 GROUP BY t.%1$I) u
               CROSS JOIN LATERAL @extschema@.recommend($1, u.seen, $2, $3)
                   WITH ORDINALITY x(item_id, score, rank)
         ORDER BY u.uid, x.rank
    $query$, user_column, item_column, interactions)
    USING model, k, fallback;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_all(@extschema@.item_knn_model, regclass, integer, bigint[], name, name) IS
'batch recommendations: for every user of the interactions table, the k best unseen items (rank 1 first), filled up from fallback when given; for nightly campaign tables';

CREATE FUNCTION @extschema@.recommend_from_similar_users(user_model @extschema@.item_knn_model,
    interactions regclass, user_id bigint, k integer,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (item_id bigint, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH neighbors AS (
            SELECT n.neighbor_id, n.similarity
              FROM @extschema@.item_knn_neighbors($1, $2) n),
        theirs AS (
            SELECT DISTINCT t.%1$I::bigint AS uid, t.%2$I::bigint AS item
              FROM %3$s t JOIN neighbors n ON t.%1$I = n.neighbor_id
             WHERE t.%2$I IS NOT NULL)
        SELECT th.item, pg_catalog.sum(n.similarity ORDER BY n.neighbor_id)
          FROM theirs th JOIN neighbors n ON n.neighbor_id = th.uid
         WHERE NOT EXISTS (SELECT 1 FROM %3$s mine WHERE mine.%1$I = $2 AND mine.%2$I = th.item)
         GROUP BY th.item
         ORDER BY 2 DESC, 1
         LIMIT $3
    $query$, user_column, item_column, interactions)
    USING user_model, user_id, k;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_from_similar_users(@extschema@.item_knn_model, regclass, bigint, integer, name, name) IS
'user-user collaborative filtering: the k items the user has not bought, scored by the sum of the similarities of the similar users (from user_model, an item_knn model built with users and items swapped) who bought them; highest first, ties by item_id';

--------------------------------------------------------------------------
-- Recommendation: embeddings (content-based)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.embedding_mean_transfn(float8[], float4[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'embedding_mean_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_transfn(float8[], float4[]) IS
'transition function of retention.embedding_mean: {count, sums, rounding errors}';

CREATE FUNCTION @extschema@.embedding_mean_combinefn(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'embedding_mean_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_combinefn(float8[], float8[]) IS
'combine function of retention.embedding_mean: adds two states';

CREATE FUNCTION @extschema@.embedding_mean_finalfn(float8[])
RETURNS float4[]
AS 'MODULE_PATHNAME', 'embedding_mean_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.embedding_mean_finalfn(float8[]) IS
'final function of retention.embedding_mean: sums divided by the count';

CREATE AGGREGATE @extschema@.embedding_mean(embedding float4[]) (
    SFUNC = @extschema@.embedding_mean_transfn,
    STYPE = float8[],
    FINALFUNC = @extschema@.embedding_mean_finalfn,
    COMBINEFUNC = @extschema@.embedding_mean_combinefn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.embedding_mean(float4[]) IS
'mean of float4[] embeddings of equal length, summed in double precision (e.g. a user profile from the items bought); NULL embeddings are skipped';

CREATE FUNCTION @extschema@.nearest_by_embedding(query float4[], embeddings regclass, k integer,
    exclude bigint[] DEFAULT '{}',
    id_column name DEFAULT 'item_id', embedding_column name DEFAULT 'embedding')
RETURNS TABLE (item_id bigint, similarity float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF query IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT s.id, s.similarity
          FROM (SELECT e.%1$I::bigint AS id, @extschema@.cosine_sim(e.%2$I, $1) AS similarity
                  FROM %3$s e
                 WHERE e.%2$I IS NOT NULL AND e.%1$I IS NOT NULL
                   AND NOT e.%1$I = ANY (pg_catalog.array_remove($2, NULL))) s
         WHERE s.similarity IS NOT NULL
         ORDER BY s.similarity DESC, s.id
         LIMIT $3
    $query$, id_column, embedding_column, embeddings)
    USING query, coalesce(exclude, '{}'), k;
END
$$;

COMMENT ON FUNCTION @extschema@.nearest_by_embedding(float4[], regclass, integer, bigint[], name, name) IS
'the k items of the embeddings table most similar to query by cosine_sim, highest first, ties by id, skipping excluded ids and zero vectors; content-based recommendations that work for items nobody has bought yet';

-- Retention: retention_rate and retention_rate_unbounded
--
-- One aggregate state (internal) shared by every variant: a hash of users,
-- each with the earliest period of a start event and a bitmap of the
-- periods they were active in.  Periods are calendar days, ISO weeks or
-- months in the session time zone, so everything that places a timestamp
-- in a period is STABLE.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer) IS
'transition function of retention_rate(user_id, ts, n) with daily periods';

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text) IS
'transition function of retention_rate(user_id, ts, n, period)';

CREATE FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_rate_filter_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text, boolean, boolean) IS
'transition function of retention_rate(user_id, ts, n, period, is_start, is_return)';

CREATE FUNCTION @extschema@.retention_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_combine(internal, internal) IS
'combine function of the retention aggregates: unites the users of two partial states';

CREATE FUNCTION @extschema@.retention_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'retention_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_serialize(internal) IS
'serialisation function of the retention aggregates';

CREATE FUNCTION @extschema@.retention_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'retention_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_deserialize(bytea, internal) IS
'deserialisation function of the retention aggregates; validates the lengths it reads';

CREATE FUNCTION @extschema@.retention_rate_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_final(internal) IS
'final function of retention_rate: users active in period n over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_rate_unbounded_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_unbounded_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_unbounded_final(internal) IS
'final function of retention_rate_unbounded: users active in period n or later over users whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer) IS
'day-n retention: share of users (starting at their first event''s calendar day) active on day n, among those whose day n is not after the latest event';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text) IS
'period-n retention (period ''day'', ''week'' or ''month'' in the session time zone): share of users active in period n after their first event''s period, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text,
                                            is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text, boolean, boolean) IS
'period-n retention where the cohort starts at the user''s first is_start event and only is_return events count as returning';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer) IS
'unbounded ("on or after") day-n retention: share of users active on day n or later, among those whose day n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text) IS
'unbounded ("on or after") period-n retention: share of users active in period n or later, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text,
                                                      is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text, boolean, boolean) IS
'unbounded period-n retention with a start-event filter (is_start) and a return-event filter (is_return)';

CREATE FUNCTION @extschema@.period_start(ts timestamptz, period text DEFAULT 'day')
RETURNS date
AS 'MODULE_PATHNAME', 'period_start'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_start(timestamptz, text) IS
'first date of the day, ISO week (Monday) or month containing ts in the session time zone: the periods of the retention aggregates';

--------------------------------------------------------------------------
-- Retention, two-stage form for distributed tables (Citus)
--
-- Stage one condenses each user's events into a retention.activity value
-- (grouped by user id, so it runs where the user's rows live); stage two
-- aggregates activities with a bigint[] state that can be shipped as text
-- and combined:
--   SELECT retention.retention_rate(a, 3)
--     FROM (SELECT user_id, retention.user_activity(ts, 'month') AS a
--             FROM events GROUP BY user_id) per_user;
--------------------------------------------------------------------------

CREATE TYPE @extschema@.activity;

CREATE FUNCTION @extschema@.activity_in(cstring)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_in(cstring) IS
'input function of retention.activity: period:first_start:last_event:base:bits';

CREATE FUNCTION @extschema@.activity_out(@extschema@.activity)
RETURNS cstring
AS 'MODULE_PATHNAME', 'activity_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_out(@extschema@.activity) IS
'output function of retention.activity';

CREATE FUNCTION @extschema@.activity_recv(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'activity_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_recv(internal) IS
'binary input function of retention.activity';

CREATE FUNCTION @extschema@.activity_send(@extschema@.activity)
RETURNS bytea
AS 'MODULE_PATHNAME', 'activity_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_send(@extschema@.activity) IS
'binary output function of retention.activity';

CREATE TYPE @extschema@.activity (
    INPUT = @extschema@.activity_in,
    OUTPUT = @extschema@.activity_out,
    RECEIVE = @extschema@.activity_recv,
    SEND = @extschema@.activity_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.activity IS
'one user''s events condensed: period kind, first start period, latest event''s period and a bitmap of active periods';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text) IS
'transition function of user_activity(ts, period)';

CREATE FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_activity_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_trans(internal, timestamptz, text, boolean, boolean) IS
'transition function of user_activity(ts, period, is_start, is_return)';

CREATE FUNCTION @extschema@.user_activity_final(internal)
RETURNS @extschema@.activity
AS 'MODULE_PATHNAME', 'user_activity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_activity_final(internal) IS
'final function of user_activity: the activity of the group''s user';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text) IS
'stage one of distributed retention: one user''s events (GROUP BY user id) as a retention.activity';

CREATE AGGREGATE @extschema@.user_activity(ts timestamptz, period text, is_start boolean, is_return boolean) (
    SFUNC = @extschema@.user_activity_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_activity_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_activity(timestamptz, text, boolean, boolean) IS
'stage one of distributed retention with start and return event filters';

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

--------------------------------------------------------------------------
-- Retention: cohort tables
--
-- cohort_matrix is the one-pass aggregate; cohort_table runs it over a
-- table and returns the long format BI tools chart directly.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_matrix_trans(internal, bigint, timestamptz, text, text, boolean, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'cohort_matrix_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_trans(internal, bigint, timestamptz, text, text, boolean, boolean) IS
'transition function of cohort_matrix';

CREATE FUNCTION @extschema@.cohort_matrix_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'cohort_matrix_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_final(internal) IS
'final function of cohort_matrix: one row per cohort {start date as days since 2000-01-01, size, retained at 0, 1, ...}';

CREATE AGGREGATE @extschema@.cohort_matrix(user_id bigint, ts timestamptz, period text, mode text,
                                           is_start boolean, is_return boolean) (
    SFUNC = @extschema@.cohort_matrix_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.cohort_matrix_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean) IS
'cohort retention matrix in one pass (mode ''classic'', ''unbounded'', ''recurring'' or ''recurring_unbounded''): a bigint[][] with one row {start date as days since 2000-01-01, size, retained at period 0, 1, ...} per cohort, NULL where censored; see cohort_table';

CREATE FUNCTION @extschema@.cohort_rows(matrix bigint[])
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT DATE '2000-01-01' + matrix[i][1]::integer,
           matrix[i][2],
           k,
           matrix[i][k + 3],
           matrix[i][k + 3]::float8 / matrix[i][2]::float8
      FROM pg_catalog.generate_subscripts(matrix, 1) AS i,
           pg_catalog.generate_series(0, pg_catalog.array_length(matrix, 2) - 3) AS k
     WHERE matrix[i][k + 3] IS NOT NULL
     ORDER BY 1, 3
$$;

COMMENT ON FUNCTION @extschema@.cohort_rows(bigint[]) IS
'the long format of a cohort_matrix: one row per cohort and observable period';

CREATE FUNCTION @extschema@.cohort_table(
    events regclass,
    period text DEFAULT 'week',
    unbounded boolean DEFAULT false,
    recurring boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT NULL,
    start_event text DEFAULT NULL,
    return_event text DEFAULT NULL)
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matrix bigint[];
    is_start text := 'true';
    is_return text := 'true';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    IF start_event IS NOT NULL THEN
        is_start := pg_catalog.format('%I = %L', event_column, start_event);
    END IF;
    IF return_event IS NOT NULL THEN
        is_return := pg_catalog.format('%I = %L', event_column, return_event);
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT @extschema@.cohort_matrix(%I, %I, %L, %L, %s, %s) FROM %s',
        user_column, time_column, period,
        CASE WHEN recurring AND unbounded THEN 'recurring_unbounded'
             WHEN recurring THEN 'recurring'
             WHEN unbounded THEN 'unbounded'
             ELSE 'classic' END,
        is_start, is_return, events)
      INTO matrix;
    RETURN QUERY SELECT * FROM @extschema@.cohort_rows(matrix);
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text) IS
'cohort retention table in long format (cohort_start, cohort_size, period_number, retained, rate) over a table of events, read with the caller''s privileges; classic or unbounded, first-time or recurring cohorts, censored after the latest event';

--------------------------------------------------------------------------
-- Retention over rolling windows
--
-- Window k of a user is [start + k * window, start + (k + 1) * window)
-- from the user's exact first event, passed in as "start" (for example
-- min(ts) OVER (PARTITION BY user_id)), so that a user costs one small hash
-- entry whatever the order of the rows.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_trans(internal, bigint, timestamptz, timestamptz, integer, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_trans(internal, bigint, timestamptz, timestamptz, integer, interval) IS
'transition function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_combine(internal, internal) IS
'combine function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rolling_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_serialize(internal) IS
'serialisation function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rolling_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_deserialize(bytea, internal) IS
'deserialisation function of retention_rate_rolling; checks the length against the user count';

CREATE FUNCTION @extschema@.rolling_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_final(internal) IS
'final function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_unbounded_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_unbounded_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_unbounded_final(internal) IS
'final function of retention_rate_rolling_unbounded';

CREATE AGGREGATE @extschema@.retention_rate_rolling(user_id bigint, start timestamptz, ts timestamptz,
                                                    n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.rolling_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    SERIALFUNC = @extschema@.rolling_serialize,
    DESERIALFUNC = @extschema@.rolling_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window retention: share of users with an event in [start + n * window_length, start + (n + 1) * window_length), among users whose window n has begun by the latest event';

CREATE AGGREGATE @extschema@.retention_rate_rolling_unbounded(user_id bigint, start timestamptz, ts timestamptz,
                                                              n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.rolling_unbounded_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    SERIALFUNC = @extschema@.rolling_serialize,
    DESERIALFUNC = @extschema@.rolling_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling_unbounded(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window unbounded retention: share of users with an event at or after start + n * window_length, among users whose window n has begun';

--------------------------------------------------------------------------
-- Lifecycle (growth accounting) and stickiness
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.lifecycle_trans(internal, bigint, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'lifecycle_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_trans(internal, bigint, timestamptz, text) IS
'transition function of lifecycle_matrix';

CREATE FUNCTION @extschema@.lifecycle_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lifecycle_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_final(internal) IS
'final function of lifecycle_matrix';

CREATE AGGREGATE @extschema@.lifecycle_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.lifecycle_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.lifecycle_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(bigint, timestamptz, text) IS
'growth accounting in one pass: a bigint[][] with one row {period start as days since 2000-01-01, new, returning, resurrecting, -dormant} per period; see lifecycle';

CREATE FUNCTION @extschema@.stickiness_trans(internal, bigint, timestamptz, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'stickiness_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_trans(internal, bigint, timestamptz, text) IS
'transition function of stickiness_matrix';

CREATE FUNCTION @extschema@.stickiness_final(internal)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'stickiness_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_final(internal) IS
'final function of stickiness_matrix';

CREATE AGGREGATE @extschema@.stickiness_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.stickiness_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.stickiness_final,
    COMBINEFUNC = @extschema@.retention_combine,
    SERIALFUNC = @extschema@.retention_serialize,
    DESERIALFUNC = @extschema@.retention_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(bigint, timestamptz, text) IS
'stickiness in one pass: a bigint[][] with one row {period start as days since 2000-01-01, users active on 1 day, 2 days, ...} per week or month; see stickiness';

CREATE FUNCTION @extschema@.lifecycle(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (period_start date, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matrix bigint[];
BEGIN
    EXECUTE pg_catalog.format('SELECT @extschema@.lifecycle_matrix(%I, %I, %L) FROM %s',
                              user_column, time_column, period, events)
      INTO matrix;
    RETURN QUERY
        SELECT DATE '2000-01-01' + matrix[i][1]::integer, matrix[i][2], matrix[i][3], matrix[i][4], matrix[i][5]
          FROM pg_catalog.generate_subscripts(matrix, 1) AS i
         ORDER BY i;
END
$$;

COMMENT ON FUNCTION @extschema@.lifecycle(regclass, text, name, name) IS
'users per period by lifecycle stage: new (first seen), returning (active now and in the previous period), resurrecting (active now, not in the previous period, seen before) and dormant (active in the previous period, not now; a negative count)';

CREATE FUNCTION @extschema@.stickiness(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (period_start date, active_days integer, users bigint, share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matrix bigint[];
BEGIN
    EXECUTE pg_catalog.format('SELECT @extschema@.stickiness_matrix(%I, %I, %L) FROM %s',
                              user_column, time_column, period, events)
      INTO matrix;
    RETURN QUERY
        SELECT s.period_start, s.active_days, s.users,
               s.users::float8 / pg_catalog.sum(s.users) OVER (PARTITION BY s.period_start)::float8
          FROM (SELECT DATE '2000-01-01' + matrix[i][1]::integer AS period_start, k AS active_days,
                       matrix[i][k + 1] AS users
                  FROM pg_catalog.generate_subscripts(matrix, 1) AS i,
                       pg_catalog.generate_series(1, pg_catalog.array_length(matrix, 2) - 1) AS k) s
         WHERE s.users > 0
         ORDER BY 1, 2;
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name) IS
'distribution of active days per week or month: for each period and k, the users active on exactly k days of it and their share of the period''s active users';

--------------------------------------------------------------------------
-- Sessions
--
-- A user's events split wherever the time since their previous event
-- exceeds the inactivity gap.  Window functions over the caller's table,
-- read with the caller's privileges.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sessions(
    events regclass,
    gap interval DEFAULT '30 minutes',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (user_id bigint, session_number bigint, session_start timestamptz,
               session_end timestamptz, event_count bigint, duration interval)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF gap IS NULL OR gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format($q$
        SELECT u, sn, pg_catalog.min(t), pg_catalog.max(t), pg_catalog.count(*), pg_catalog.max(t) - pg_catalog.min(t)
          FROM (SELECT u, t, pg_catalog.sum(starts) OVER (PARTITION BY u ORDER BY t ROWS UNBOUNDED PRECEDING) AS sn
                  FROM (SELECT %1$I::bigint AS u, %2$I AS t,
                               CASE WHEN %2$I - pg_catalog.lag(%2$I) OVER (PARTITION BY %1$I ORDER BY %2$I) <= $1
                                    THEN 0 ELSE 1 END AS starts
                          FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL) marked) numbered
         GROUP BY u, sn
         ORDER BY u, sn $q$, user_column, time_column, events)
    USING gap;
END
$$;

COMMENT ON FUNCTION @extschema@.sessions(regclass, interval, name, name) IS
'sessions of every user: a new session starts when more than gap (default 30 minutes) passed since the user''s previous event; number, start, end, event count and duration';

CREATE FUNCTION @extschema@.session_summary(
    events regclass,
    gap interval DEFAULT '30 minutes',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS TABLE (user_id bigint, sessions bigint, total_duration interval,
               avg_duration interval, avg_events_per_session float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.user_id, pg_catalog.count(*), pg_catalog.sum(s.duration), pg_catalog.avg(s.duration),
           pg_catalog.avg(s.event_count)::float8
      FROM @extschema@.sessions(events, gap, user_column, time_column) AS s
     GROUP BY s.user_id
     ORDER BY s.user_id
$$;

COMMENT ON FUNCTION @extschema@.session_summary(regclass, interval, name, name) IS
'per user: number of sessions, total and average session duration, average events per session';

--------------------------------------------------------------------------
-- Per-user behaviour features and churn labels
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.user_feature_names()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['days_since_last_event', 'days_since_last_purchase', 'purchases', 'active_days',
                 'sessions', 'total_spend', 'avg_order_value', 'tenure_days', 'avg_session_minutes',
                 'views', 'clicks', 'carts', 'click_through_rate', 'view_to_purchase_rate',
                 'activity_trend', 'distinct_items', 'mean_days_between_purchases']
$$;

COMMENT ON FUNCTION @extschema@.user_feature_names() IS
'names of the elements of user_features().features, in order';

CREATE FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric,
        timestamptz, interval, interval, text, text, text, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_trans(internal, timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'transition function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_final(internal)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'user_feature_values_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_final(internal) IS
'final function of user_feature_values: local days depend on TimeZone, hence STABLE';

CREATE FUNCTION @extschema@.user_feature_values_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_combine(internal, internal) IS
'combine function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_values_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_serialize(internal) IS
'serialisation function of user_feature_values';

CREATE FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_values_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_values_deserialize(bytea, internal) IS
'deserialisation function of user_feature_values; checks every length';

CREATE AGGREGATE @extschema@.user_feature_values(ts timestamptz, event_type text, item text, amount numeric,
        cutoff timestamptz, horizon interval, session_gap interval, view_event text, click_event text,
        cart_event text, purchase_event text, churn_on text) (
    SFUNC = @extschema@.user_feature_values_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_feature_values_final,
    COMBINEFUNC = @extschema@.user_feature_values_combine,
    SERIALFUNC = @extschema@.user_feature_values_serialize,
    DESERIALFUNC = @extschema@.user_feature_values_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_feature_values(timestamptz, text, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'one user''s features as of cutoff (GROUP BY user): the 17 values of user_feature_names(), NULL where undefined, then the churn label 1 or 0; see user_features';

CREATE FUNCTION @extschema@.user_features(
    events regclass,
    cutoff timestamptz,
    horizon interval DEFAULT '30 days',
    churn_on text DEFAULT 'activity',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    item_column name DEFAULT 'item_id',
    amount_column name DEFAULT 'amount',
    view_event text DEFAULT 'view',
    click_event text DEFAULT 'click',
    cart_event text DEFAULT 'cart',
    purchase_event text DEFAULT 'purchase',
    session_gap interval DEFAULT '30 minutes')
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF churn_on IS NULL OR churn_on NOT IN ('activity', 'purchase') THEN
        RAISE EXCEPTION 'unknown churn definition "%"', churn_on
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use "activity" (no event in the horizon) or "purchase" (no purchase in the horizon).';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'churn horizon "%" must be positive', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF session_gap IS NULL OR session_gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', session_gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('month', horizon) <> 0 OR pg_catalog.date_part('year', horizon) <> 0
       OR pg_catalog.date_part('month', session_gap) <> 0 OR pg_catalog.date_part('year', session_gap) <> 0 THEN
        RAISE EXCEPTION 'churn horizon "%" and session gap "%" must not contain months or years', horizon, session_gap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Months differ in length; use days, e.g. interval ''30 days''.';
    END IF;
    IF cutoff IS NULL OR NOT pg_catalog.isfinite(cutoff) THEN
        RAISE EXCEPTION 'cutoff "%" must be a finite time', cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- one hashed GROUP BY over the events up to the horizon (with a day of
    -- margin: the aggregate measures the horizon exactly)
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH v AS (
        SELECT %1$I::bigint AS u,
               @extschema@.user_feature_values(%2$I, %3$I::text, %4$s, %5$s,
                                               $1, $2, $3, $4, $5, $6, $7, $8) AS x
          FROM %6$s
         WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9
         GROUP BY 1)
    SELECT u,
           ARRAY[x[1], COALESCE(x[2], x[8]), x[3], x[4], x[5], COALESCE(x[6], 0), COALESCE(x[7], 0),
                 x[8], x[9], x[10], x[11], x[12], COALESCE(x[13], 0), COALESCE(x[14], 0), x[15],
                 CASE WHEN %7$s THEN x[16] ELSE 0 END, COALESCE(x[17], x[8])]::float8[],
           x[18] = 1, x[1], x[2], x[3]::bigint, x[4]::bigint, x[5]::bigint, x[6], x[7], x[8], x[9],
           x[10]::bigint, x[11]::bigint, x[12]::bigint, x[13], x[14], x[15],
           CASE WHEN %7$s THEN x[16]::bigint END, x[17]
      FROM v WHERE x IS NOT NULL ORDER BY u $q$,
        user_column, time_column, event_column,
        CASE WHEN item_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
        CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
        events,
        CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
    USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
          cutoff + horizon + interval '1 day';
END
$$;

COMMENT ON FUNCTION @extschema@.user_features(regclass, timestamptz, interval, text, name, name, name, name, name, text, text, text, text, interval) IS
'one row per user with an event at or before cutoff: behaviour features as of cutoff (named columns and, in user_feature_names() order, a float8[] without NULLs for logreg_train) and churned = no event (churn_on => ''activity'') or no purchase (''purchase'') in (cutoff, cutoff + horizon]';

--------------------------------------------------------------------------
-- RFM scores and segments
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rfm_segment(r_score integer, f_score integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN r_score NOT BETWEEN 1 AND 5 OR f_score NOT BETWEEN 1 AND 5 THEN NULL
        WHEN r_score = 5 AND f_score >= 4 THEN 'champions'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'loyal customers'
        WHEN r_score >= 4 AND f_score BETWEEN 2 AND 3 THEN 'potential loyalists'
        WHEN r_score = 5 AND f_score = 1 THEN 'new customers'
        WHEN r_score = 4 AND f_score = 1 THEN 'promising'
        WHEN r_score = 3 AND f_score = 3 THEN 'need attention'
        WHEN r_score = 3 AND f_score <= 2 THEN 'about to sleep'
        WHEN r_score <= 2 AND f_score = 5 THEN 'can''t lose them'
        WHEN r_score <= 2 AND f_score >= 3 THEN 'at risk'
        WHEN r_score = 1 AND f_score = 1 THEN 'lost'
        ELSE 'hibernating'
    END
$$;

COMMENT ON FUNCTION @extschema@.rfm_segment(integer, integer) IS
'the customary RFM segment of a recency and a frequency score (1-5, 5 best): champions, loyal customers, potential loyalists, new customers, promising, need attention, about to sleep, can''t lose them, at risk, hibernating, lost';

CREATE FUNCTION @extschema@.rfm(
    events regclass,
    as_of timestamptz DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    amount_column name DEFAULT 'amount',
    event_column name DEFAULT NULL,
    purchase_event text DEFAULT 'purchase')
RETURNS TABLE (user_id bigint, recency_days float8, frequency bigint, monetary float8,
               r_score integer, f_score integer, m_score integer, rfm_cell text, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH p AS (
        SELECT %1$I::bigint AS u, %2$I AS t, %3$I::float8 AS amount
          FROM %4$s
         WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %5$s
           AND ($1 IS NULL OR %2$I <= $1)),
    ref AS (SELECT COALESCE($1, pg_catalog.max(t)) AS as_of FROM p),
    c AS (
        SELECT u, pg_catalog.date_part('epoch', ref.as_of - pg_catalog.max(t)) / 86400 AS recency_days,
               pg_catalog.count(*) AS frequency, COALESCE(pg_catalog.sum(amount), 0) AS monetary
          FROM p, ref GROUP BY u, ref.as_of),
    s AS (
        SELECT c.*,
               pg_catalog.ntile(5) OVER (ORDER BY recency_days DESC, u)::integer AS r,
               pg_catalog.ntile(5) OVER (ORDER BY frequency, u)::integer AS f,
               pg_catalog.ntile(5) OVER (ORDER BY monetary, u)::integer AS m
          FROM c)
    SELECT u, recency_days, frequency, monetary, r, f, m, r::text || f::text || m::text,
           @extschema@.rfm_segment(r, f)
      FROM s ORDER BY u $q$,
        user_column, time_column, amount_column, events,
        CASE WHEN event_column IS NULL THEN 'true'
             ELSE pg_catalog.format('%I::text = %L', event_column, purchase_event) END)
    USING as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.rfm(regclass, timestamptz, name, name, name, name, text) IS
'RFM per customer as of as_of (default: the latest purchase): recency in days, frequency, monetary total, quintile scores 1-5 (recency reversed, ties broken by user id), the cell ''RFM'' and the segment of rfm_segment(r, f)';

--------------------------------------------------------------------------
-- Cohort tables, two-stage form for distributed tables (Citus)
--
--   SELECT * FROM retention.cohort_rows((
--     SELECT retention.cohort_matrix(a, 'classic')
--       FROM (SELECT user_id, retention.user_activity(ts, 'week') AS a
--               FROM events GROUP BY user_id) per_user));
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.activity_cohort_trans(bigint[], @extschema@.activity, text)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_trans(bigint[], @extschema@.activity, text) IS
'transition function of cohort_matrix(activity, mode): cohort sizes and retained counts per offset';

CREATE FUNCTION @extschema@.activity_cohort_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_combine(bigint[], bigint[]) IS
'combine function of cohort_matrix(activity, mode): adds two matrices';

CREATE FUNCTION @extschema@.activity_cohort_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_cohort_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_cohort_final(bigint[]) IS
'final function of cohort_matrix(activity, mode): the layout of cohort_matrix(user_id, ts, ...)';

CREATE AGGREGATE @extschema@.cohort_matrix(activity @extschema@.activity, mode text) (
    SFUNC = @extschema@.activity_cohort_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_cohort_final,
    COMBINEFUNC = @extschema@.activity_cohort_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(@extschema@.activity, text) IS
'stage two of a distributed cohort table over per-user activities (a bigint[] state sized by periods, not users); same result as cohort_matrix(user_id, ts, period, mode, ...); unpack with cohort_rows';

--------------------------------------------------------------------------
-- Lifecycle, two-stage form for distributed tables (Citus)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.activity_lifecycle_trans(bigint[], @extschema@.activity)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_trans(bigint[], @extschema@.activity) IS
'transition function of lifecycle_matrix(activity): new, returning, resurrecting and dormant counts per period';

CREATE FUNCTION @extschema@.activity_lifecycle_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_combine(bigint[], bigint[]) IS
'combine function of lifecycle_matrix(activity): adds the counts per period';

CREATE FUNCTION @extschema@.activity_lifecycle_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_lifecycle_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_lifecycle_final(bigint[]) IS
'final function of lifecycle_matrix(activity): the layout of lifecycle_matrix(user_id, ts, period)';

CREATE AGGREGATE @extschema@.lifecycle_matrix(activity @extschema@.activity) (
    SFUNC = @extschema@.activity_lifecycle_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_lifecycle_final,
    COMBINEFUNC = @extschema@.activity_lifecycle_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(@extschema@.activity) IS
'stage two of distributed growth accounting over per-user activities (a bigint[] state sized by periods); same result as lifecycle_matrix(user_id, ts, period)';

CREATE FUNCTION @extschema@.activity_stickiness_trans(bigint[], @extschema@.activity, text)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_trans(bigint[], @extschema@.activity, text) IS
'transition function of stickiness_matrix(activity, period): users per number of active days per week or month';

CREATE FUNCTION @extschema@.activity_stickiness_combine(bigint[], bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_combine(bigint[], bigint[]) IS
'combine function of stickiness_matrix(activity, period)';

CREATE FUNCTION @extschema@.activity_stickiness_final(bigint[])
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'activity_stickiness_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.activity_stickiness_final(bigint[]) IS
'final function of stickiness_matrix(activity, period): the layout of stickiness_matrix(user_id, ts, period)';

CREATE AGGREGATE @extschema@.stickiness_matrix(activity @extschema@.activity, period text) (
    SFUNC = @extschema@.activity_stickiness_trans,
    STYPE = bigint[],
    FINALFUNC = @extschema@.activity_stickiness_final,
    COMBINEFUNC = @extschema@.activity_stickiness_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(@extschema@.activity, text) IS
'stage two of distributed stickiness over per-user daily activities (a bigint[] state sized by periods); same result as stickiness_matrix(user_id, ts, period)';

--------------------------------------------------------------------------
-- Rolling-window retention over a table, in a form for distributed tables
--
-- Only standard aggregates grouped by the user column and a join on it, so
-- that Citus runs the per-user stage next to the data; the second stage
-- reads one small row per user.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts')
RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result float8;
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'period number n must not be negative, got %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF window_length IS NULL OR window_length <= interval '0'
       OR pg_catalog.date_part('month', window_length) <> 0 OR pg_catalog.date_part('year', window_length) <> 0 THEN
        RAISE EXCEPTION 'rolling window "%" must be a positive number of days, hours or less', window_length
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- windows are measured in microseconds, a day being 24 hours, exactly
    -- as retention_rate_rolling does
    EXECUTE pg_catalog.format($q$
    WITH firsts AS (
        SELECT %1$I::bigint AS u, pg_catalog.min(%2$I) AS start
          FROM %3$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY 1),
    per_user AS (
        SELECT f.u, f.start, pg_catalog.max(e.%2$I) AS last,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 AND e.%2$I < f.start + $2) AS in_window,
               pg_catalog.bool_or(e.%2$I >= f.start + $1) AS at_or_after
          FROM firsts f JOIN %3$s e ON e.%1$I::bigint = f.u AND e.%2$I IS NOT NULL
         GROUP BY f.u, f.start),
    latest AS (SELECT pg_catalog.max(last) AS m FROM per_user)
    SELECT pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END)::float8
           / NULLIF(pg_catalog.count(*), 0)
      FROM per_user, latest
     WHERE per_user.start + $1 <= latest.m $q$,
        user_column, time_column, events)
      INTO result
     USING (EXTRACT(epoch FROM window_length) * n)::float8 * interval '1 second',
           (EXTRACT(epoch FROM window_length) * (n + 1))::float8 * interval '1 second',
           unbounded;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, boolean, name, name) IS
'rolling-window retention over a table (see retention_rate_rolling) computed with a per-user stage of standard aggregates grouped by the user column, the form Citus distributes';

--------------------------------------------------------------------------
-- The nightly loop: pipelines, run history and scores
--
-- A pipeline names an events table and how to read it; retention.refresh()
-- rebuilds everything of a pipeline from it and records each step in
-- retention.refresh_runs.  Scores and holdout predictions carry no raw
-- events, only per-user results (privacy: pseudonymise user ids upstream).
--------------------------------------------------------------------------

CREATE TABLE @extschema@.pipelines (
    name              text        PRIMARY KEY,
    events            regclass    NOT NULL,
    user_column       name        NOT NULL DEFAULT 'user_id',
    time_column       name        NOT NULL DEFAULT 'ts',
    event_column      name        NOT NULL DEFAULT 'event_type',
    item_column       name        NOT NULL DEFAULT 'item_id',
    amount_column     name        NOT NULL DEFAULT 'amount',
    purchase_event    text        NOT NULL DEFAULT 'purchase',
    churn_on          text        NOT NULL DEFAULT 'purchase'
                                  CHECK (churn_on IN ('activity', 'purchase')),
    churn_horizon     interval    NOT NULL DEFAULT '90 days'
                                  CHECK (churn_horizon > interval '0'),
    churn_options     jsonb       NOT NULL DEFAULT '{"lambda": 1}',
    cohort_period     text        NOT NULL DEFAULT 'month'
                                  CHECK (cohort_period IN ('day', 'week', 'month')),
    neighbors         integer     NOT NULL DEFAULT 20 CHECK (neighbors > 0),
    clv_months        integer     NOT NULL DEFAULT 12 CHECK (clv_months > 0),
    monthly_discount  float8      NOT NULL DEFAULT 0.01
                                  CHECK (monthly_discount >= 0 AND monthly_discount < 1),
    as_of             timestamptz
);

COMMENT ON TABLE @extschema@.pipelines IS
'what retention.refresh(name) rebuilds: the events table, its column names, the churn definition and model options; as_of NULL means now()';

CREATE TABLE @extschema@.refresh_runs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint      NOT NULL,
    pipeline    text        NOT NULL,
    step        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('running', 'ok', 'kept previous', 'failed', 'skipped')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    rows        bigint,
    metrics     jsonb,
    message     text
);

CREATE SEQUENCE @extschema@.refresh_run_ids;

COMMENT ON TABLE @extschema@.refresh_runs IS
'one row per step of every retention.refresh() run: when, how many rows, the metrics, and the error of a failed step';

CREATE TABLE @extschema@.customer_scores (
    pipeline            text        NOT NULL,
    user_id             bigint      NOT NULL,
    churn_prob          float8,
    p_alive             float8,
    expected_purchases  float8,
    predicted_clv       float8,
    value_at_risk       float8,
    top_features        jsonb,
    recommended_items   bigint[],
    churn_model_version integer,
    item_knn_version    integer,
    bgnbd_version       integer,
    scored_at           timestamptz NOT NULL,
    PRIMARY KEY (pipeline, user_id)
);

COMMENT ON TABLE @extschema@.customer_scores IS
'the latest scores of every user of a pipeline: churn probability, P(alive), expected purchases over the churn horizon, lifetime value, value at risk, top churn drivers and recommended items';

CREATE TABLE @extschema@.churn_holdout (
    pipeline      text    NOT NULL,
    model_version integer NOT NULL,
    churn_prob    float8  NOT NULL,
    churned       boolean NOT NULL
);

COMMENT ON TABLE @extschema@.churn_holdout IS
'holdout predictions of each churn model version (probability and outcome, no user ids), for ROC and calibration charts';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_scores', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.churn_holdout', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_run_ids', '');

--------------------------------------------------------------------------
-- The nightly loop: save_model, refresh, at-risk customers
--
-- refresh() commits after every step, so a failed step is logged and the
-- others still run, and readers see each result appear whole: scores are
-- replaced in one transaction, models are new registry rows.  It must be
-- CALLed outside a transaction block (as pg_cron does).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.save_model(name text, kind text, model jsonb,
                                       metrics jsonb DEFAULT NULL, training_source text DEFAULT NULL,
                                       feature_names text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_version integer;
BEGIN
    IF name IS NULL OR kind IS NULL OR model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'name, kind and model must not be NULL';
    END IF;
    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) + 1 INTO new_version
      FROM @extschema@.models AS m WHERE m.name = save_model.name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (save_model.name, new_version, save_model.kind, save_model.model, save_model.metrics,
            save_model.feature_names, save_model.training_source);
    RETURN new_version;
END
$$;

COMMENT ON FUNCTION @extschema@.save_model(text, text, jsonb, jsonb, text, text[]) IS
'stores a model (the jsonb form of any model type) as the next version of name in retention.models and returns the version';

-- refresh()'s working tables live in the session's temporary schema
CREATE FUNCTION @extschema@.drop_refresh_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['retention_training', 'retention_current', 'retention_purchases',
                             'retention_knn_train', 'retention_knn_test', 'retention_rfm'] LOOP
        IF pg_catalog.to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION @extschema@.drop_refresh_tables() IS
'drops the temporary working tables of retention.refresh() in this session, if any';

CREATE PROCEDURE @extschema@.refresh(pipeline text DEFAULT 'default')
LANGUAGE plpgsql
AS $$
DECLARE
    p             @extschema@.pipelines;
    run           bigint := pg_catalog.nextval('@extschema@.refresh_run_ids');
    run_started   timestamptz := pg_catalog.clock_timestamp();
    as_of         timestamptz;
    cutoff        timestamptz;
    is_purchase   text;
    names         text[] := @extschema@.user_feature_names();
    columns       text;
    kept          text[];
    features      text;
    step_id       bigint;
    n             bigint;
    failures      integer := 0;
    err_state     text;
    err_message   text;
    churn_name    text := pipeline || '_churn';
    new_version   integer;
    old_version   integer;
    old_features  text[];
    new_auc       float8;
    old_auc       float8;
    champion      integer;
    churn         @extschema@.logreg_model;
    knn           @extschema@.item_knn_model;
    knn_version   integer;
    knn_metrics   jsonb;
    bg            @extschema@.bgnbd_model;
    spend         @extschema@.gamma_gamma_model;
    bg_version    integer;
    popular       bigint[];
    caller_path   text := pg_catalog.current_setting('search_path');
BEGIN
    -- no object of the caller's schemas may stand in for a built-in below;
    -- a SET clause would forbid the COMMITs, so set it for the session and
    -- give the caller's path back at the end (and before raising)
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);

    SELECT * INTO p FROM @extschema@.pipelines AS x WHERE x.name = pipeline;
    IF NOT FOUND THEN
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('pipeline "%s" does not exist', pipeline),
            HINT = 'Describe the events table with INSERT INTO retention.pipelines (name, events, ...).';
    END IF;
    -- held across the commits below, so two refreshes of one pipeline never interleave
    IF NOT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('retention.refresh'),
                                          pg_catalog.hashtext(pipeline)) THEN
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        RAISE EXCEPTION USING ERRCODE = '55P03',
            MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline);
    END IF;

    PERFORM @extschema@.drop_refresh_tables();

    as_of := COALESCE(p.as_of, pg_catalog.now());
    cutoff := as_of - p.churn_horizon;
    is_purchase := pg_catalog.format('%I = %L', p.event_column, p.purchase_event);
    -- counts, amounts and durations are heavy-tailed: one huge order must not
    -- dominate a linear model, so they enter as log(1 + x); rates stay as they are
    columns := (SELECT pg_catalog.string_agg(
                    CASE WHEN c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                         THEN pg_catalog.format('f.features[%s] AS %I', i, c)
                         ELSE pg_catalog.format('pg_catalog.ln(1 + GREATEST(f.features[%s], 0)) AS %I',
                                                i, 'log_' || c) END,
                    ', ' ORDER BY i)
                  FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
    names := (SELECT pg_catalog.array_agg(
                  CASE WHEN c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                       THEN c ELSE 'log_' || c END ORDER BY i)
                FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));

    ------------------------------------------------------------------
    -- features: as of cutoff with the churn label over (cutoff, as_of]
    -- for training, and as of as_of for scoring
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'features', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_training AS
               SELECT f.user_id, f.churned,
                      (pg_catalog.hashtext(f.user_id::text) & 65535) < 13107 AS holdout, %s
                 FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                purchase_event => $10) AS f$q$, columns)
            USING p.events, cutoff, p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                  p.event_column, p.item_column, p.amount_column, p.purchase_event;
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_current AS
               SELECT f.user_id, %s
                 FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                purchase_event => $10) AS f$q$, columns)
            USING p.events, as_of, p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                  p.event_column, p.item_column, p.amount_column, p.purchase_event;
        EXECUTE pg_catalog.format(
            $q$CREATE TEMP TABLE retention_purchases AS
               SELECT %I::bigint AS user_id, %I::bigint AS item_id, %I AS ts,
                      (%I)::float8 AS amount
                 FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL$q$,
            p.user_column, p.item_column, p.time_column, p.amount_column, p.events, is_purchase,
            p.time_column, p.user_column, p.item_column)
            USING as_of;
        ANALYZE pg_temp.retention_training, pg_temp.retention_current, pg_temp.retention_purchases;

        -- constant features carry no information and make the fit singular
        EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM pg_temp.retention_training',
            (SELECT pg_catalog.string_agg(pg_catalog.format(
                        'CASE WHEN pg_catalog.stddev_pop(%I) > 1e-9 THEN %L END', c, c), ', ')
               FROM pg_catalog.unnest(names) AS c))
            INTO kept;
        kept := pg_catalog.array_remove(kept, NULL);
        features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ')
                       FROM pg_catalog.unnest(kept) AS c);
        SELECT pg_catalog.count(*) INTO n FROM pg_temp.retention_training;
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object(
                   'as_of', as_of, 'cutoff', cutoff,
                   'training_users', n,
                   'churn_rate', (SELECT pg_catalog.avg(churned::integer) FROM pg_temp.retention_training),
                   'scoring_users', (SELECT pg_catalog.count(*) FROM pg_temp.retention_current),
                   'features', kept,
                   'constant_features_dropped',
                   (SELECT pg_catalog.array_agg(c) FROM pg_catalog.unnest(names) AS c
                     WHERE c <> ALL (kept)))
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- churn model: a new version, kept only if it is at least as good as
    -- the current one on the same holdout users
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'churn model', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        SELECT m.version, m.feature_names INTO old_version, old_features
          FROM @extschema@.models AS m
         WHERE m.name = churn_name AND m.kind = 'logreg'
         ORDER BY m.version DESC LIMIT 1;
        CALL @extschema@.train_churn_model(churn_name, 'pg_temp.retention_training', 'churned', kept,
                                           p.churn_options, 'holdout', NULL, new_version);
        EXECUTE pg_catalog.format(
            $q$SELECT @extschema@.roc_auc(@extschema@.churn_prob($1, ARRAY[%s]::float8[]), churned)
                 FROM pg_temp.retention_training WHERE holdout$q$, features)
            INTO new_auc USING @extschema@.churn_model(churn_name, new_version);
        champion := new_version;
        IF old_version IS NOT NULL AND old_features <@ names THEN
            EXECUTE pg_catalog.format(
                $q$SELECT @extschema@.roc_auc(@extschema@.churn_prob($1, ARRAY[%s]::float8[]), churned)
                     FROM pg_temp.retention_training WHERE holdout$q$,
                (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ' ORDER BY i)
                   FROM pg_catalog.unnest(old_features) WITH ORDINALITY AS u(c, i)))
                INTO old_auc USING @extschema@.churn_model(churn_name, old_version);
            IF old_auc > new_auc THEN
                DELETE FROM @extschema@.models WHERE name = churn_name AND version = new_version;
                champion := old_version;
            END IF;
        END IF;
        churn := @extschema@.churn_model(churn_name, champion);

        DELETE FROM @extschema@.churn_holdout WHERE churn_holdout.pipeline = refresh.pipeline;
        EXECUTE pg_catalog.format(
            $q$INSERT INTO @extschema@.churn_holdout (pipeline, model_version, churn_prob, churned)
               SELECT $1, $2, s.prob, s.churned
                 FROM (SELECT @extschema@.churn_prob($3, ARRAY[%s]::float8[]) AS prob, churned
                         FROM pg_temp.retention_training WHERE holdout) AS s
                WHERE s.prob IS NOT NULL$q$,
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest((SELECT m.feature_names FROM @extschema@.models AS m
                                        WHERE m.name = churn_name AND m.version = champion))
                    WITH ORDINALITY AS u(c, i)))
            USING pipeline, champion, churn;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE @extschema@.refresh_runs
           SET status = CASE WHEN champion = new_version THEN 'ok' ELSE 'kept previous' END,
               finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object('version', champion, 'holdout_auc', new_auc,
                                                       'previous_version', old_version,
                                                       'previous_holdout_auc', old_auc),
               message = CASE WHEN champion <> new_version THEN pg_catalog.format(
                   'the new model''s holdout AUC %s is below the AUC %s of version %s on the same users; version %s stays in use',
                   pg_catalog.round(new_auc::numeric, 4), pg_catalog.round(old_auc::numeric, 4),
                   old_version, old_version) END
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- item-kNN: rebuilt on every purchase, evaluated on a split at cutoff
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'item-knn model', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        CREATE TEMP TABLE retention_knn_train AS
            SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases WHERE ts <= cutoff;
        CREATE TEMP TABLE retention_knn_test AS
            SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases WHERE ts > cutoff;
        SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) ORDER BY e.recommender) INTO knn_metrics
          FROM @extschema@.evaluate_item_knn('pg_temp.retention_knn_train', 'pg_temp.retention_knn_test',
                                             p.neighbors, 10) AS e;
        SELECT @extschema@.item_knn(u.user_id, u.item_id, 1.0, p.neighbors) INTO knn
          FROM (SELECT DISTINCT user_id, item_id FROM pg_temp.retention_purchases) AS u;
        knn_version := @extschema@.item_knn_save(pipeline || '_item_knn', knn, p.events::text,
                                                 pg_catalog.jsonb_build_object('evaluation', knn_metrics,
                                                                               'k', 10, 'as_of', as_of,
                                                                               'cutoff', cutoff));
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
               rows = (SELECT i.items FROM @extschema@.item_knn_model_info(knn) AS i),
               metrics = pg_catalog.jsonb_build_object('version', knn_version, 'evaluation', knn_metrics)
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- customer base: BG/NBD and Gamma-Gamma on weekly RFM summaries
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'customer-base models', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        CREATE TEMP TABLE retention_rfm AS
            SELECT user_id, (@extschema@.rfm_summary(ts, amount, as_of, 'week')).*
              FROM pg_temp.retention_purchases GROUP BY user_id;
        SELECT @extschema@.bgnbd_fit(frequency, recency, t) INTO bg FROM pg_temp.retention_rfm;
        SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend
          FROM pg_temp.retention_rfm WHERE frequency > 0 AND monetary > 0;
        IF bg IS NULL OR spend IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'too few customers with purchases to fit the customer-base models';
        END IF;
        IF NOT (bg::jsonb ->> 'converged')::boolean OR NOT (spend::jsonb ->> 'converged')::boolean THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'the BG/NBD or Gamma-Gamma fit did not converge; scores are left without P(alive) and lifetime value',
                DETAIL = pg_catalog.format('BG/NBD: %s; Gamma-Gamma: %s.', bg::text, spend::text);
        END IF;
        bg_version := @extschema@.save_model(pipeline || '_bgnbd', 'bgnbd', bg::jsonb, NULL, p.events::text);
        PERFORM @extschema@.save_model(pipeline || '_spend', 'gamma_gamma', spend::jsonb, NULL, p.events::text);
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
               rows = (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm),
               metrics = pg_catalog.jsonb_build_object('bgnbd', bg::jsonb, 'gamma_gamma', spend::jsonb)
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        -- scores go on without these models (the functions are STRICT)
        bg := NULL;
        spend := NULL;
        bg_version := NULL;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;
    COMMIT;

    ------------------------------------------------------------------
    -- scores: every user, replaced in one transaction
    ------------------------------------------------------------------
    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
    VALUES (run, pipeline, 'scores', 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
    COMMIT;
    BEGIN
        IF churn IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = 'no churn model to score with; see the failed steps of this run';
        END IF;
        SELECT pg_catalog.array_agg(item_id ORDER BY buyers DESC, item_id) INTO popular
          FROM (SELECT item_id, pg_catalog.count(DISTINCT user_id) AS buyers
                  FROM pg_temp.retention_purchases GROUP BY item_id
                 ORDER BY buyers DESC, item_id LIMIT 10) AS top;
        DELETE FROM @extschema@.customer_scores WHERE customer_scores.pipeline = refresh.pipeline;
        EXECUTE pg_catalog.format(
            $q$INSERT INTO @extschema@.customer_scores
               SELECT $1, c.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.clv,
                      s.clv * s.churn_prob,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                  'feature', e.feature, 'contribution', pg_catalog.round(e.contribution::numeric, 4))
                              ORDER BY e.contribution DESC)
                         FROM (SELECT x.feature, x.contribution
                                 FROM @extschema@.churn_explain($2, s.f) AS x
                                WHERE x.contribution > 0
                                ORDER BY x.contribution DESC LIMIT 3) AS e),
                      ARRAY(SELECT r.item_id FROM @extschema@.recommend($3, COALESCE(b.seen, '{}'), 3, $4) AS r),
                      $5, $6, $7, pg_catalog.now()
                 FROM pg_temp.retention_current AS c
                 LEFT JOIN pg_temp.retention_rfm AS m ON m.user_id = c.user_id
                 LEFT JOIN (SELECT user_id, pg_catalog.array_agg(DISTINCT item_id) AS seen
                              FROM pg_temp.retention_purchases GROUP BY user_id) AS b
                        ON b.user_id = c.user_id
                 CROSS JOIN LATERAL (
                     SELECT ARRAY[%s]::float8[] AS f,
                            @extschema@.churn_prob($2, ARRAY[%s]::float8[]) AS churn_prob,
                            @extschema@.bgnbd_p_alive($8, m.frequency, m.recency, m.t) AS p_alive,
                            @extschema@.bgnbd_expected_purchases($8, $9, m.frequency, m.recency, m.t)
                                AS expected_purchases,
                            @extschema@.customer_lifetime_value($8, $10, m.frequency, m.recency, m.t,
                                                                m.monetary, $11, 52.0 / 12, $12) AS clv) AS s$q$,
            features, features)
            USING pipeline, churn, knn, popular, champion, knn_version, bg_version, bg,
                  extract(epoch FROM p.churn_horizon) / (7 * 86400), spend, p.clv_months,
                  p.monthly_discount;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE @extschema@.refresh_runs
           SET status = 'ok', finished_at = pg_catalog.clock_timestamp(), rows = n,
               metrics = pg_catalog.jsonb_build_object(
                   'at_risk', (SELECT pg_catalog.count(*) FROM @extschema@.customer_scores AS cs
                                WHERE cs.pipeline = refresh.pipeline AND cs.churn_prob >= 0.5),
                   'value_at_risk', (SELECT pg_catalog.sum(cs.value_at_risk) FROM @extschema@.customer_scores AS cs
                                      WHERE cs.pipeline = refresh.pipeline))
         WHERE id = step_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        UPDATE @extschema@.refresh_runs
           SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
               message = err_state || ': ' || err_message
         WHERE id = step_id;
        failures := failures + 1;
    END;

    INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, message)
    VALUES (run, pipeline, 'refresh', CASE WHEN failures = 0 THEN 'ok' ELSE 'failed' END,
            run_started, pg_catalog.clock_timestamp(),
            CASE WHEN failures > 0 THEN pg_catalog.format('%s step(s) failed', failures) END);
    COMMIT;
    PERFORM @extschema@.drop_refresh_tables();
    PERFORM pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('retention.refresh'),
                                          pg_catalog.hashtext(pipeline));
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
    COMMIT;
    -- after the commits above, so the run history survives the error that
    -- makes a scheduler (pg_cron) report the night as failed
    IF failures > 0 THEN
        RAISE EXCEPTION 'retention.refresh(%): % step(s) failed', pipeline, failures
            USING HINT = pg_catalog.format('See SELECT * FROM retention.refresh_runs WHERE run_id = %s.', run);
    END IF;
END
$$;

COMMENT ON PROCEDURE @extschema@.refresh(text) IS
'rebuilds a pipeline: behaviour features, a new churn model version (kept only if not worse on the holdout), item-kNN, BG/NBD and Gamma-Gamma, and every user''s scores; each step committed and logged in retention.refresh_runs; CALL it outside a transaction block';

CREATE FUNCTION @extschema@.at_risk(threshold float8 DEFAULT 0.5, pipeline text DEFAULT 'default')
RETURNS TABLE (user_id bigint, churn_prob float8, p_alive float8, expected_purchases float8,
               predicted_clv float8, value_at_risk float8, top_features jsonb,
               recommended_items bigint[], scored_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT s.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.predicted_clv,
           s.value_at_risk, s.top_features, s.recommended_items, s.scored_at
      FROM @extschema@.customer_scores AS s
     WHERE s.pipeline OPERATOR(pg_catalog.=) at_risk.pipeline
       AND s.churn_prob OPERATOR(pg_catalog.>=) at_risk.threshold
     ORDER BY s.value_at_risk DESC NULLS LAST, s.churn_prob DESC, s.user_id
$$;

COMMENT ON FUNCTION @extschema@.at_risk(float8, text) IS
'customers of a pipeline whose churn probability is at least threshold, with P(alive), expected purchases, lifetime value, the features driving their risk and three items to offer them, by value at risk (lifetime value x churn probability)';

CREATE VIEW @extschema@.at_risk_customers WITH (security_invoker = true) AS
SELECT * FROM @extschema@.at_risk();

COMMENT ON VIEW @extschema@.at_risk_customers IS
'the default pipeline''s customers with a churn probability of at least 0.5, by value at risk: the main list for BI tools';


--------------------------------------------------------------------------
-- Report
--
-- report_html(pipeline) draws one self-contained HTML page from what
-- refresh() keeps: cohort retention over the events table, the churn
-- model's holdout predictions, the customer scores and the item-kNN
-- evaluation.  Inline CSS and SVG only: no script, and a Content Security
-- Policy that forbids fetching anything when the page is viewed.  Every
-- chart is an <svg class="chart" id="..."> whose marks carry a class
-- (rect.cell, polyline.curve, rect.bar, ...), so tests can count them.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.html_escape(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
               value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION @extschema@.html_escape(text) IS
'the text with & < > " and '' replaced by HTML character references, safe in element content and quoted attribute values';

CREATE FUNCTION @extschema@.report_html(pipeline text DEFAULT 'default')
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- at most this many cohorts (the latest) and periods (0 ..) in the cohort charts
    max_cohorts   constant integer := 36;
    max_periods   constant integer := 36;
    palette       constant text[] := ARRAY['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                                           '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#7f7f7f'];
    pl            @extschema@.pipelines%ROWTYPE;
    v_name        text;
    v_by_purchase boolean;
    v_unit        text;
    v_error       text;
    c_start       date[];
    c_size        bigint[];
    c_period      integer[];
    c_retained    bigint[];
    c_rate        float8[];
    v_cohorts     integer;
    v_shown       integer;
    v_periods     integer;
    v_scale       float8;
    v_cw          integer;
    v_w           integer;
    v_h           integer;
    v_ymax        float8;
    v_version     integer;
    v_trained     timestamptz;
    v_auc         float8;
    v_pos         bigint;
    v_neg         bigint;
    v_scored      bigint;
    v_at_risk     bigint;
    v_bins        bigint[];
    v_step        bigint;
    v_axis        bigint;
    v_knn_version integer;
    v_metrics     jsonb;
    v_eval        jsonb;
    v_k           text;
    v_run         record;
    v_failed      record;
    s_header      text;
    s_heatmap     text;
    s_curves      text;
    s_roc         text;
    s_calibration text;
    s_risk        text;
    s_drivers     text;
    s_recs        text;
BEGIN
    IF report_html.pipeline IS NULL THEN
        RAISE EXCEPTION 'pipeline must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO pl FROM @extschema@.pipelines AS p WHERE p.name = report_html.pipeline;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', report_html.pipeline
            USING ERRCODE = '42704', HINT = 'Pipelines are the rows of retention.pipelines.';
    END IF;
    v_name := @extschema@.html_escape(pl.name);
    v_by_purchase := pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL;
    v_unit := pl.cohort_period;

    ----------------------------------------------------------------------
    -- (a) cohort retention: one scan of the events table, kept in arrays
    -- for the heatmap and the curves
    ----------------------------------------------------------------------
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.oid = pl.events) THEN
        v_error := 'the table no longer exists';
    ELSE
        BEGIN
            SELECT pg_catalog.array_agg(ct.cohort_start ORDER BY ct.cohort_start, ct.period_number),
                   pg_catalog.array_agg(ct.cohort_size ORDER BY ct.cohort_start, ct.period_number),
                   pg_catalog.array_agg(ct.period_number ORDER BY ct.cohort_start, ct.period_number),
                   pg_catalog.array_agg(ct.retained ORDER BY ct.cohort_start, ct.period_number),
                   pg_catalog.array_agg(ct.rate ORDER BY ct.cohort_start, ct.period_number)
              INTO c_start, c_size, c_period, c_retained, c_rate
              FROM @extschema@.cohort_table(pl.events, pl.cohort_period,
                       user_column => pl.user_column, time_column => pl.time_column,
                       event_column => CASE WHEN v_by_purchase THEN pl.event_column END,
                       start_event => CASE WHEN v_by_purchase THEN pl.purchase_event END,
                       return_event => CASE WHEN v_by_purchase THEN pl.purchase_event END) AS ct;
        EXCEPTION
            WHEN insufficient_privilege OR undefined_column OR undefined_function
                 OR datatype_mismatch OR invalid_parameter_value THEN
                v_error := SQLERRM;
        END;
    END IF;

    SELECT pg_catalog.count(DISTINCT u.s)::integer INTO v_cohorts
      FROM pg_catalog.unnest(c_start) AS u(s);
    v_shown := LEAST(v_cohorts, max_cohorts);

    IF v_error IS NOT NULL OR v_cohorts = 0 THEN
        s_heatmap := pg_catalog.format(
            '<p class="no-data" id="cohort-heatmap-no-data">No data yet: %s.</p>',
            CASE WHEN v_error IS NOT NULL
                 THEN 'cannot read the events table ' || @extschema@.html_escape(pl.events::text)
                      || ': ' || @extschema@.html_escape(v_error)
                 ELSE 'the events table ' || @extschema@.html_escape(pl.events::text)
                      || ' has no ' || CASE WHEN v_by_purchase THEN 'purchases' ELSE 'events' END END);
        s_curves := '<p class="no-data" id="retention-curves-no-data">No data yet: no cohorts.</p>';
    ELSE
        -- cells: the latest max_cohorts cohorts, periods 0 .. max_periods - 1
        WITH cr AS (
            SELECT * FROM ROWS FROM (pg_catalog.unnest(c_start), pg_catalog.unnest(c_size), pg_catalog.unnest(c_period),
                                 pg_catalog.unnest(c_retained), pg_catalog.unnest(c_rate))
                       AS u(cohort_start, cohort_size, period_number, retained, rate)),
        kept AS (
            SELECT k.cohort_start, (pg_catalog.row_number() OVER (ORDER BY k.cohort_start) - 1)::integer AS row_no
              FROM (SELECT DISTINCT cr.cohort_start FROM cr ORDER BY cr.cohort_start DESC LIMIT max_cohorts) AS k)
        SELECT pg_catalog.max(cr.period_number) + 1,
               pg_catalog.max(cr.rate) FILTER (WHERE cr.period_number > 0)
          INTO v_periods, v_scale
          FROM cr JOIN kept USING (cohort_start)
         WHERE cr.period_number < max_periods;
        v_scale := CASE WHEN v_scale > 0 THEN v_scale ELSE 1 END;
        v_cw := LEAST(64, GREATEST(30, 1000 / v_periods));
        v_w := 190 + v_periods * v_cw + 20;
        v_h := 44 + v_shown * 24 + 56;

        WITH cr AS (
            SELECT * FROM ROWS FROM (pg_catalog.unnest(c_start), pg_catalog.unnest(c_size), pg_catalog.unnest(c_period),
                                 pg_catalog.unnest(c_retained), pg_catalog.unnest(c_rate))
                       AS u(cohort_start, cohort_size, period_number, retained, rate)),
        kept AS (
            SELECT k.cohort_start, (pg_catalog.row_number() OVER (ORDER BY k.cohort_start) - 1)::integer AS row_no
              FROM (SELECT DISTINCT cr.cohort_start FROM cr ORDER BY cr.cohort_start DESC LIMIT max_cohorts) AS k),
        cells AS (
            SELECT cr.*, kept.row_no,
                   LEAST(1.0, GREATEST(0.0, cr.rate / v_scale)) AS t
              FROM cr JOIN kept USING (cohort_start)
             WHERE cr.period_number < max_periods)
        SELECT pg_catalog.format('<svg class="chart" id="cohort-heatmap" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %1$s %2$s" role="img" aria-label="cohort retention heatmap">',
                                 v_w, v_h)
            -- column headers: periods since the cohort's start
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                        '<text class="period-label" x="%s" y="36" text-anchor="middle">%s</text>',
                        190 + g * v_cw + v_cw / 2, g), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, v_periods - 1) AS g)
            || pg_catalog.format('<text class="axis-title" x="%s" y="14" text-anchor="middle">%ss since the first %s</text>',
                                 190 + v_periods * v_cw / 2, v_unit,
                                 CASE WHEN v_by_purchase THEN 'purchase' ELSE 'event' END)
            -- row headers: cohort start and size
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                        '<text class="cohort-label" x="182" y="%s" text-anchor="end">%s  (%s)</text>',
                        44 + r.row_no * 24 + 16,
                        pg_catalog.to_char(r.cohort_start, CASE v_unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END),
                        r.cohort_size), '' ORDER BY r.row_no)
                  FROM (SELECT DISTINCT cells.row_no, cells.cohort_start, cells.cohort_size FROM cells) AS r)
            -- one rect.cell and one text.rate per (cohort, period)
            || pg_catalog.string_agg(pg_catalog.format(
                   '<rect class="cell" x="%s" y="%s" width="%s" height="22" fill="%s"><title>cohort %s, %s %s: %s of %s retained (%s%%)</title></rect>'
                   '<text class="rate" x="%s" y="%s" text-anchor="middle" fill="%s">%s%%</text>',
                   190 + cells.period_number * v_cw, 44 + cells.row_no * 24, v_cw - 2,
                   CASE WHEN cells.period_number = 0 THEN '#e2e8f0'
                        ELSE pg_catalog.format('rgb(%s,%s,%s)',
                                 pg_catalog.round(240 - cells.t * 232), pg_catalog.round(249 - cells.t * 201),
                                 pg_catalog.round(255 - cells.t * 148)) END,
                   cells.cohort_start, v_unit, cells.period_number, cells.retained, cells.cohort_size,
                   pg_catalog.round((cells.rate * 100)::numeric, 2),
                   190 + cells.period_number * v_cw + (v_cw - 2) / 2, 44 + cells.row_no * 24 + 15,
                   CASE WHEN cells.period_number > 0 AND cells.t > 0.55 THEN '#ffffff' ELSE '#1e293b' END,
                   pg_catalog.round((cells.rate * 100)::numeric, CASE WHEN v_cw >= 44 THEN 1 ELSE 0 END)),
                   '' ORDER BY cells.row_no, cells.period_number)
            -- legend: the colour scale
            || pg_catalog.format('<text class="legend-title" x="190" y="%s">colour: retention rate, from 0 to the highest after period 0 (%s%%); period 0 is the cohort itself</text>',
                                 v_h - 34, pg_catalog.round((v_scale * 100)::numeric, 1))
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                        '<rect class="legend-swatch" x="%s" y="%s" width="48" height="12" fill="rgb(%s,%s,%s)"/>'
                        '<text class="legend-label" x="%s" y="%s">%s%%</text>',
                        190 + i * 70, v_h - 26,
                        pg_catalog.round(240 - i / 5.0 * 232), pg_catalog.round(249 - i / 5.0 * 201),
                        pg_catalog.round(255 - i / 5.0 * 148),
                        190 + i * 70, v_h - 4, pg_catalog.round((v_scale * i / 5.0 * 100)::numeric, 1)), '' ORDER BY i)
                  FROM pg_catalog.generate_series(0, 5) AS i)
            || '</svg>'
          INTO s_heatmap
          FROM cells;

        s_heatmap := pg_catalog.format(
            '<p class="caption">Share of customers %s again, by %s of first %s (cohort) and %ss since%s.  Hover a cell for its counts.</p>',
            CASE WHEN v_by_purchase THEN 'who purchased' ELSE 'active' END,
            v_unit, CASE WHEN v_by_purchase THEN 'purchase' ELSE 'activity' END, v_unit,
            CASE WHEN v_cohorts > v_shown
                 THEN pg_catalog.format('; the latest %s of %s cohorts', v_shown, v_cohorts) ELSE '' END)
            || s_heatmap;

        -- (b) retention curves: one polyline per cohort over periods 1 .., on
        -- a scale that fits them (period 0 is 100% by definition)
        IF v_periods < 2 THEN
            s_curves := '<p class="no-data" id="retention-curves-no-data">No data yet: no cohort has reached period 1.</p>';
        ELSE
            v_ymax := CASE WHEN v_scale <= 0.5 THEN pg_catalog.ceil(v_scale * 20 - 1e-9) / 20.0
                           ELSE pg_catalog.ceil(v_scale * 10 - 1e-9) / 10.0 END;
            v_ymax := GREATEST(v_ymax, 0.05);
            WITH cr AS (
                SELECT * FROM ROWS FROM (pg_catalog.unnest(c_start), pg_catalog.unnest(c_size), pg_catalog.unnest(c_period),
                                 pg_catalog.unnest(c_retained), pg_catalog.unnest(c_rate))
                           AS u(cohort_start, cohort_size, period_number, retained, rate)),
            kept AS (
                SELECT k.cohort_start, (pg_catalog.row_number() OVER (ORDER BY k.cohort_start) - 1)::integer AS row_no
                  FROM (SELECT DISTINCT cr.cohort_start FROM cr ORDER BY cr.cohort_start DESC LIMIT max_cohorts) AS k),
            pts AS (
                SELECT cr.*, kept.row_no,
                       60 + (cr.period_number - 1) * 640.0 / GREATEST(v_periods - 2, 1) AS x,
                       20 + 300 * (1 - LEAST(cr.rate, v_ymax) / v_ymax) AS y,
                       CASE WHEN kept.row_no < 10 AND v_shown <= 10 THEN palette[kept.row_no + 1]
                            ELSE pg_catalog.format('hsl(%s,60%%,%s%%)',
                                     pg_catalog.round((210 - 190.0 * kept.row_no / GREATEST(v_shown - 1, 1))::numeric),
                                     35 + (kept.row_no % 3) * 10) END AS colour
                  FROM cr JOIN kept USING (cohort_start)
                 WHERE cr.period_number BETWEEN 1 AND max_periods - 1),
            lines AS (
                SELECT pts.row_no, pts.cohort_start, pts.colour,
                       pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(pts.x::numeric, 1),
                                                               pg_catalog.round(pts.y::numeric, 1)),
                                             ' ' ORDER BY pts.period_number) AS points,
                       pg_catalog.string_agg(pg_catalog.format(
                           '<circle class="dot" cx="%s" cy="%s" r="2.5" fill="%s"><title>cohort %s, %s %s: %s%%</title></circle>',
                           pg_catalog.round(pts.x::numeric, 1), pg_catalog.round(pts.y::numeric, 1), pts.colour,
                           pts.cohort_start, v_unit, pts.period_number,
                           pg_catalog.round((pts.rate * 100)::numeric, 2)), '' ORDER BY pts.period_number) AS dots
                  FROM pts
                 GROUP BY pts.row_no, pts.cohort_start, pts.colour)
            SELECT '<svg class="chart" id="retention-curves" xmlns="http://www.w3.org/2000/svg" width="900" height="360" viewBox="0 0 900 360" role="img" aria-label="retention curves">'
                -- horizontal grid and y labels
                || (SELECT pg_catalog.string_agg(pg_catalog.format(
                            '<line class="grid" x1="60" x2="700" y1="%s" y2="%1$s"/><text class="tick" x="54" y="%s" text-anchor="end">%s%%</text>',
                            20 + 300 - g * 60, 20 + 300 - g * 60 + 4, pg_catalog.round((v_ymax * g / 5 * 100)::numeric, 1)),
                            '' ORDER BY g)
                      FROM pg_catalog.generate_series(0, 5) AS g)
                -- x ticks: every period, or about a dozen
                || (SELECT pg_catalog.string_agg(pg_catalog.format(
                            '<text class="tick" x="%s" y="338" text-anchor="middle">%s</text>',
                            pg_catalog.round((60 + (g - 1) * 640.0 / GREATEST(v_periods - 2, 1))::numeric, 1), g),
                            '' ORDER BY g)
                      FROM pg_catalog.generate_series(1, v_periods - 1) AS g
                     WHERE (g - 1) % GREATEST(1, pg_catalog.ceil((v_periods - 1) / 12.0)::integer) = 0)
                || pg_catalog.format('<text class="axis-title" x="380" y="356" text-anchor="middle">%ss since the first %s</text>',
                                     v_unit, CASE WHEN v_by_purchase THEN 'purchase' ELSE 'event' END)
                || pg_catalog.string_agg(pg_catalog.format(
                       '<polyline class="curve" fill="none" stroke="%s" stroke-width="2" points="%s"><title>cohort %s</title></polyline>%s',
                       lines.colour, lines.points, lines.cohort_start, lines.dots), '' ORDER BY lines.row_no)
                -- legend: every cohort when there are few, else the first and the last
                || pg_catalog.string_agg(
                       CASE WHEN v_shown <= 14 OR lines.row_no IN (0, v_shown - 1) THEN
                           pg_catalog.format('<line class="legend-line" x1="720" x2="744" y1="%s" y2="%1$s" stroke="%s" stroke-width="3"/><text class="legend-label" x="750" y="%s">%s</text>',
                                             20 + LEAST(lines.row_no, 14) * 20, lines.colour,
                                             20 + LEAST(lines.row_no, 14) * 20 + 4,
                                             pg_catalog.to_char(lines.cohort_start, CASE v_unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END))
                       ELSE '' END, '' ORDER BY lines.row_no)
                || '</svg>'
              INTO s_curves
              FROM lines;
            s_curves := '<p class="caption">Each line is a cohort: the share of its customers retained in each later '
                        || v_unit || ' (period 0, 100% by definition, is left out so that the scale fits).</p>'
                        || s_curves;
        END IF;
    END IF;

    ----------------------------------------------------------------------
    -- (c, d) the churn model on its holdout: the version that scored the
    -- customers, else the latest version with holdout predictions
    ----------------------------------------------------------------------
    SELECT pg_catalog.max(cs.churn_model_version) INTO v_version
      FROM @extschema@.customer_scores AS cs
     WHERE cs.pipeline = report_html.pipeline
       AND EXISTS (SELECT 1 FROM @extschema@.churn_holdout AS h
                    WHERE h.pipeline = cs.pipeline AND h.model_version = cs.churn_model_version);
    IF v_version IS NULL THEN
        SELECT pg_catalog.max(h.model_version) INTO v_version
          FROM @extschema@.churn_holdout AS h WHERE h.pipeline = report_html.pipeline;
    END IF;
    SELECT m.trained_at INTO v_trained FROM @extschema@.models AS m
     WHERE m.name = report_html.pipeline || '_churn' AND m.kind = 'logreg' AND m.version = v_version;

    -- probabilities outside [0, 1] (and NaN, above every number) are not predictions
    SELECT @extschema@.roc_auc(h.churn_prob, h.churned),
           pg_catalog.count(*) FILTER (WHERE h.churned), pg_catalog.count(*) FILTER (WHERE NOT h.churned)
      INTO v_auc, v_pos, v_neg
      FROM @extschema@.churn_holdout AS h
     WHERE h.pipeline = report_html.pipeline AND h.model_version = v_version
       AND h.churn_prob >= 0 AND h.churn_prob <= 1;

    IF v_version IS NULL OR v_pos + v_neg = 0 THEN
        s_roc := '<p class="no-data" id="roc-curve-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
        s_calibration := '<p class="no-data" id="calibration-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
    ELSE
        IF v_pos = 0 OR v_neg = 0 THEN
            s_roc := pg_catalog.format(
                '<p class="no-data" id="roc-curve-no-data">No data yet: the holdout of model version %s has only %s customers, so there is no ROC curve.</p>',
                v_version, CASE WHEN v_pos = 0 THEN 'retained' ELSE 'churned' END);
        ELSE
            -- one point per distinct score (at most about 500), from the highest down
            WITH h AS (
                SELECT h.churn_prob AS s, h.churned AS y FROM @extschema@.churn_holdout AS h
                 WHERE h.pipeline = report_html.pipeline AND h.model_version = v_version
                   AND h.churn_prob >= 0 AND h.churn_prob <= 1),
            th AS (
                SELECT h.s, pg_catalog.count(*) FILTER (WHERE h.y) AS tp, pg_catalog.count(*) FILTER (WHERE NOT h.y) AS fp
                  FROM h GROUP BY h.s),
            cum AS (
                SELECT pg_catalog.sum(th.tp) OVER w AS ctp, pg_catalog.sum(th.fp) OVER w AS cfp,
                       pg_catalog.row_number() OVER w AS rn, pg_catalog.count(*) OVER () AS n
                  FROM th WINDOW w AS (ORDER BY th.s DESC)),
            pts AS (
                SELECT 0::bigint AS rn, 0::float8 AS fpr, 0::float8 AS tpr
                UNION ALL
                SELECT cum.rn, cum.cfp::float8 / v_neg, cum.ctp::float8 / v_pos FROM cum
                 WHERE cum.rn = cum.n OR cum.rn % GREATEST(1, pg_catalog.ceil(cum.n / 500.0)::bigint) = 0)
            SELECT pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + pts.fpr * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - pts.tpr) * 300)::numeric, 1)), ' ' ORDER BY pts.rn)
              INTO s_roc FROM pts;
            s_roc := pg_catalog.format(
                '<h3>ROC curve (AUC <span class="auc">%s</span>)</h3>', pg_catalog.round(v_auc::numeric, 3))
                || '<svg class="chart" id="roc-curve" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="ROC curve">'
                || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
                || (SELECT pg_catalog.string_agg(pg_catalog.format(
                           '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                           50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                      FROM pg_catalog.generate_series(0, 5) AS g)
                || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
                || pg_catalog.format('<polyline class="roc" fill="none" points="%s"/>', s_roc)
                || '<text class="axis-title" x="200" y="356" text-anchor="middle">false positive rate</text>'
                || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">true positive rate</text>'
                || '</svg>';
        END IF;

        -- calibration: deciles of the predicted probability
        WITH h AS (
            SELECT h.churn_prob AS s, h.churned AS y,
                   pg_catalog.ntile(10) OVER (ORDER BY h.churn_prob) AS decile
              FROM @extschema@.churn_holdout AS h
             WHERE h.pipeline = report_html.pipeline AND h.model_version = v_version
               AND h.churn_prob >= 0 AND h.churn_prob <= 1),
        d AS (
            SELECT h.decile, pg_catalog.avg(h.s) AS predicted,
                   pg_catalog.avg(h.y::integer::float8) AS observed, pg_catalog.count(*) AS n
              FROM h GROUP BY h.decile)
        SELECT '<h3>Calibration (deciles of predicted probability)</h3>'
            || '<svg class="chart" id="calibration" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="calibration plot">'
            || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                       50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
            || pg_catalog.format('<polyline class="calibration" fill="none" points="%s"/>',
                   pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1)), ' ' ORDER BY d.decile))
            || pg_catalog.string_agg(pg_catalog.format(
                   '<circle class="point" cx="%s" cy="%s" r="4.5"><title>decile %s: mean predicted %s, observed %s, %s customers</title></circle>',
                   pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                   pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1),
                   d.decile, pg_catalog.round(d.predicted::numeric, 3), pg_catalog.round(d.observed::numeric, 3), d.n),
                   '' ORDER BY d.decile)
            || '<text class="axis-title" x="200" y="356" text-anchor="middle">mean predicted churn probability</text>'
            || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">observed churn rate</text>'
            || '</svg>'
          INTO s_calibration
          FROM d;
    END IF;

    ----------------------------------------------------------------------
    -- (e) the risk distribution of the scored customers, 20 bins
    ----------------------------------------------------------------------
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE cs.churn_prob >= 0.5)
      INTO v_scored, v_at_risk
      FROM @extschema@.customer_scores AS cs
     WHERE cs.pipeline = report_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1;

    IF v_scored = 0 THEN
        s_risk := '<p class="no-data" id="risk-histogram-no-data">No data yet: no customer has a churn probability.</p>';
    ELSE
        -- bin i holds [i / 20, (i + 1) / 20), and the last bin also 1
        SELECT pg_catalog.array_agg(COALESCE(b.n, 0) ORDER BY g) INTO v_bins
          FROM pg_catalog.generate_series(0, 19) AS g
          LEFT JOIN (SELECT LEAST(pg_catalog.floor(cs.churn_prob * 20)::integer, 19) AS bin, pg_catalog.count(*) AS n
                       FROM @extschema@.customer_scores AS cs
                      WHERE cs.pipeline = report_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1
                      GROUP BY 1) AS b ON b.bin = g;
        -- a y axis in steps of 1, 2 or 5 times a power of ten, about four of them
        v_step := (SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n);
        v_step := GREATEST(1, (SELECT CASE WHEN x.raw / x.mag <= 1 THEN 1 WHEN x.raw / x.mag <= 2 THEN 2
                                           WHEN x.raw / x.mag <= 5 THEN 5 ELSE 10 END * x.mag
                                 FROM (SELECT v_step / 4.0 AS raw,
                                              10 ^ pg_catalog.floor(pg_catalog.log(v_step / 4.0)) AS mag) AS x)::bigint);
        v_axis := pg_catalog.ceil((SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n)::numeric / v_step) * v_step;
        SELECT pg_catalog.format(
                   '<p class="caption">%s customers scored; %s (%s%%) have a churn probability of 0.5 or more.</p>',
                   v_scored, v_at_risk, pg_catalog.round((100.0 * v_at_risk / v_scored)::numeric, 1))
            || '<svg class="chart" id="risk-histogram" xmlns="http://www.w3.org/2000/svg" width="900" height="320" viewBox="0 0 900 320" role="img" aria-label="histogram of churn probabilities">'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<line class="grid" x1="60" x2="860" y1="%1$s" y2="%1$s"/><text class="tick" x="54" y="%2$s" text-anchor="end">%3$s</text>',
                       pg_catalog.round((260 - 240.0 * g * v_step / v_axis)::numeric, 1),
                       pg_catalog.round((264 - 240.0 * g * v_step / v_axis)::numeric, 1), g * v_step), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, (v_axis / v_step)::integer) AS g)
            || pg_catalog.string_agg(pg_catalog.format(
                   '<rect class="bar" x="%s" y="%s" width="38" height="%s" fill="hsl(%s,60%%,50%%)"><title>churn probability %s to %s: %s customers</title></rect>',
                   60 + bins.bin * 40 + 1,
                   pg_catalog.round((260 - 240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round((240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round(120 - 120.0 * bins.bin / 19), (bins.bin / 20.0)::numeric(3, 2),
                   ((bins.bin + 1) / 20.0)::numeric(3, 2), bins.n), '' ORDER BY bins.bin)
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="278" text-anchor="middle">%s</text>', 60 + g * 160, (g / 5.0)::numeric(2, 1)),
                       '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<text class="axis-title" x="460" y="304" text-anchor="middle">churn probability</text>'
            || '<text class="axis-title" x="14" y="140" text-anchor="middle" transform="rotate(-90 14 140)">customers</text>'
            || '</svg>'
          INTO s_risk
          FROM (SELECT (b.i - 1)::integer AS bin, b.n FROM pg_catalog.unnest(v_bins) WITH ORDINALITY AS b(n, i)) AS bins;
    END IF;

    -- what drives the scores: how often each feature is among a customer's
    -- top churn drivers (customer_scores.top_features), ten most frequent
    WITH f AS (
        SELECT e.value ->> 'feature' AS feature,
               CASE WHEN pg_catalog.jsonb_typeof(e.value -> 'contribution') = 'number'
                    THEN (e.value ->> 'contribution')::float8 END AS contribution
          FROM @extschema@.customer_scores AS cs
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(cs.top_features) = 'array' THEN cs.top_features
                        ELSE '[]'::jsonb END) AS e
         WHERE cs.pipeline = report_html.pipeline
           AND pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'feature' IS NOT NULL),
    top AS (
        SELECT f.feature, pg_catalog.count(*) AS n, pg_catalog.avg(f.contribution) AS mean_contribution,
               (pg_catalog.row_number() OVER (ORDER BY pg_catalog.count(*) DESC, f.feature) - 1)::integer AS rank
          FROM f GROUP BY f.feature
         ORDER BY pg_catalog.count(*) DESC, f.feature
         LIMIT 10),
    scaled AS (SELECT top.*, pg_catalog.max(top.n) OVER () AS most FROM top)
    SELECT pg_catalog.format('<svg class="chart" id="churn-drivers" xmlns="http://www.w3.org/2000/svg" width="900" height="%s" viewBox="0 0 900 %1$s" role="img" aria-label="top churn drivers">',
                             20 + pg_catalog.count(*) * 26)
        || pg_catalog.string_agg(pg_catalog.format(
               '<text class="feature-label" x="234" y="%1$s" text-anchor="end">%2$s</text>'
               '<rect class="driver" x="240" y="%3$s" width="%4$s" height="20"><title>%5$s: among the top drivers of %6$s customers, mean contribution %7$s</title></rect>'
               '<text class="driver-value" x="%8$s" y="%1$s">%9$s customers, mean contribution %10$s</text>',
               10 + scaled.rank * 26 + 15, @extschema@.html_escape(pg_catalog.left(scaled.feature, 40)),
               10 + scaled.rank * 26, pg_catalog.round((400.0 * scaled.n / scaled.most)::numeric, 1),
               @extschema@.html_escape(scaled.feature), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?'),
               pg_catalog.round((246 + 400.0 * scaled.n / scaled.most)::numeric, 1), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?')), '' ORDER BY scaled.rank)
        || '</svg>'
      INTO s_drivers
      FROM scaled;
    s_drivers := COALESCE('<p class="caption">How often each feature is among a customer''s top churn drivers (customer_scores.top_features).</p>'
                          || s_drivers,
                          '<p class="no-data" id="churn-drivers-no-data">No data yet: no customer has churn drivers.</p>');

    ----------------------------------------------------------------------
    -- (f) recommendation metrics: the evaluation stored with the latest
    -- item-kNN model, rows as evaluate_item_knn returns them (a JSON array
    -- of rows with "recommender", or an object keyed by recommender,
    -- possibly under "evaluation")
    ----------------------------------------------------------------------
    SELECT m.version, m.metrics INTO v_knn_version, v_metrics
      FROM @extschema@.models AS m
     WHERE m.name = report_html.pipeline || '_item_knn' AND m.kind = 'item_knn'
     ORDER BY m.version DESC LIMIT 1;
    v_eval := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'evaluation') IN ('array', 'object')
                   THEN v_metrics -> 'evaluation' ELSE v_metrics END;
    v_k := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'k') = 'number' THEN v_metrics ->> 'k' END;

    WITH recs AS (
        SELECT e.value ->> 'recommender' AS recommender, e.value AS vals
          FROM pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'array' THEN v_eval ELSE '[]'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'recommender' IS NOT NULL
        UNION ALL
        SELECT e.key, e.value
          FROM pg_catalog.jsonb_each(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'object' THEN v_eval ELSE '{}'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object'),
    cols AS (
        SELECT recs.recommender, recs.vals,
               pg_catalog.row_number() OVER (ORDER BY CASE recs.recommender WHEN 'item_knn' THEN 0
                                                      WHEN 'popularity' THEN 1 ELSE 2 END, recs.recommender) AS ord
          FROM recs
         WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(recs.vals) AS k(key)
                        WHERE k.key IN ('users', 'precision_at_k', 'recall_at_k', 'ndcg_at_k',
                                        'map_at_k', 'hit_rate', 'coverage'))),
    metric AS (
        SELECT * FROM (VALUES (1, 'users', 'users evaluated'), (2, 'precision_at_k', 'precision@k'),
                              (3, 'recall_at_k', 'recall@k'), (4, 'ndcg_at_k', 'NDCG@k'),
                              (5, 'map_at_k', 'MAP@k'), (6, 'hit_rate', 'hit rate'),
                              (7, 'coverage', 'catalogue coverage')) AS v(ord, key, label)),
    cell AS (
        SELECT metric.ord AS row_ord, cols.ord AS col_ord, metric.key, cols.recommender,
               CASE WHEN pg_catalog.jsonb_typeof(cols.vals -> metric.key) = 'number'
                    THEN (cols.vals ->> metric.key)::float8 END AS val
          FROM metric CROSS JOIN cols),
    best AS (
        SELECT cell.row_ord, pg_catalog.max(cell.val) AS top, pg_catalog.count(cell.val) AS n
          FROM cell GROUP BY cell.row_ord)
    SELECT '<table class="metrics" id="recommendation-metrics"><thead><tr><th>metric'
        || COALESCE(' (k = ' || v_k || ')', '') || '</th>'
        || (SELECT pg_catalog.string_agg('<th>' || CASE cols.recommender WHEN 'item_knn' THEN 'item-kNN'
                                                     WHEN 'popularity' THEN 'popularity (baseline)'
                                                     ELSE @extschema@.html_escape(cols.recommender) END || '</th>',
                                         '' ORDER BY cols.ord) FROM cols)
        || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                THEN '<th>item-kNN ÷ popularity</th>' ELSE '' END
        || '</tr></thead><tbody>'
        || (SELECT pg_catalog.string_agg(
                   pg_catalog.format('<tr class="metric" id="metric-%s"><th>%s</th>', metric.key, metric.label)
                   || (SELECT pg_catalog.string_agg(pg_catalog.format('<td%s>%s</td>',
                                  CASE WHEN metric.key <> 'users' AND best.n > 1 AND cell.val = best.top
                                       THEN ' class="best"' ELSE '' END,
                                  CASE WHEN cell.val IS NULL THEN '–'
                                       WHEN metric.key = 'users' THEN pg_catalog.round(cell.val::numeric)::text
                                       ELSE pg_catalog.round(cell.val::numeric, 4)::text END), '' ORDER BY cell.col_ord)
                         FROM cell JOIN best USING (row_ord) WHERE cell.row_ord = metric.ord)
                   || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                           THEN '<td class="ratio">'
                                || COALESCE((SELECT CASE WHEN metric.key = 'users' THEN ''
                                                         WHEN p.val > 0 THEN pg_catalog.round((k.val / p.val)::numeric, 2)::text || '×'
                                                    END
                                               FROM cell AS k, cell AS p
                                              WHERE k.row_ord = metric.ord AND p.row_ord = metric.ord
                                                AND k.recommender = 'item_knn' AND p.recommender = 'popularity'), '–')
                                || '</td>'
                           ELSE '' END
                   || '</tr>', '' ORDER BY metric.ord) FROM metric)
        || '</tbody></table>'
      INTO s_recs
     WHERE EXISTS (SELECT 1 FROM cols);
    s_recs := COALESCE(pg_catalog.format('<p class="caption">Offline evaluation stored with item-kNN model %s version %s: ranking metrics averaged over the test users, against recommending the best-sellers.</p>',
                                         @extschema@.html_escape(report_html.pipeline || '_item_knn'), v_knn_version)
                       || s_recs,
                       '<p class="no-data" id="recommendation-metrics-no-data">No data yet: '
                       || CASE WHEN v_knn_version IS NULL THEN 'no item-kNN model for this pipeline'
                               ELSE 'the item-kNN model has no offline evaluation' END || '.</p>');

    ----------------------------------------------------------------------
    -- header: the pipeline, its latest successful refresh, counts
    ----------------------------------------------------------------------
    SELECT r.run_id, pg_catalog.min(r.started_at) AS started, pg_catalog.max(r.finished_at) AS finished,
           pg_catalog.count(*) AS steps
      INTO v_run
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = report_html.pipeline
     GROUP BY r.run_id
    HAVING pg_catalog.bool_and(r.status IN ('ok', 'kept previous', 'skipped') AND r.finished_at IS NOT NULL)
     ORDER BY pg_catalog.min(r.started_at) DESC, r.run_id DESC
     LIMIT 1;
    SELECT r.run_id, r.step, r.started_at, r.message INTO v_failed
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = report_html.pipeline AND r.status = 'failed'
       AND (v_run.run_id IS NULL OR r.started_at > v_run.finished)
     ORDER BY r.started_at DESC, r.id DESC
     LIMIT 1;

    s_header := '<header><h1>Retention report: <span class="pipeline">' || v_name || '</span></h1><dl class="summary">'
        || '<dt>events</dt><dd>' || @extschema@.html_escape(pl.events::text) || '</dd>'
        || '<dt>latest successful refresh</dt><dd id="latest-refresh">'
        || CASE WHEN v_run.run_id IS NULL THEN '<span class="no-data">none yet</span>'
                ELSE pg_catalog.format('run %s, %s to %s (%s steps, %s s)', v_run.run_id,
                         pg_catalog.to_char(v_run.started, 'YYYY-MM-DD HH24:MI:SSOF'),
                         pg_catalog.to_char(v_run.finished,
                             CASE WHEN v_run.finished::date = v_run.started::date THEN 'HH24:MI:SS'
                                  ELSE 'YYYY-MM-DD HH24:MI:SSOF' END),
                         v_run.steps,
                         pg_catalog.round(pg_catalog.date_part('epoch', v_run.finished - v_run.started)::numeric, 1)) END
        || '</dd>'
        || CASE WHEN v_failed.run_id IS NOT NULL
                THEN pg_catalog.format('<dt>failed since</dt><dd class="failed" id="failed-refresh">run %s, step %s at %s: %s</dd>',
                         v_failed.run_id, @extschema@.html_escape(v_failed.step),
                         pg_catalog.to_char(v_failed.started_at, 'YYYY-MM-DD HH24:MI:SSOF'),
                         @extschema@.html_escape(COALESCE(v_failed.message, 'no message')))
                ELSE '' END
        || pg_catalog.format('<dt>customers in cohorts</dt><dd id="count-customers">%s</dd>',
               COALESCE((SELECT pg_catalog.sum(c.sz) FROM (SELECT DISTINCT u.s, u.sz
                           FROM ROWS FROM (pg_catalog.unnest(c_start), pg_catalog.unnest(c_size)) AS u(s, sz)) AS c), 0))
        || pg_catalog.format('<dt>customers scored</dt><dd id="count-scored">%s</dd>', v_scored)
        || pg_catalog.format('<dt>at risk (churn probability ≥ 0.5)</dt><dd id="count-at-risk">%s</dd>', v_at_risk)
        || pg_catalog.format('<dt>churn model</dt><dd id="churn-model">%s</dd>',
               CASE WHEN v_version IS NULL THEN '<span class="no-data">none yet</span>'
                    ELSE pg_catalog.format('%s version %s%s, %s holdout customers (%s churned)',
                             @extschema@.html_escape(report_html.pipeline || '_churn'), v_version,
                             COALESCE(', trained ' || pg_catalog.to_char(v_trained, 'YYYY-MM-DD HH24:MI'), ''),
                             v_pos + v_neg, v_pos) END)
        || '</dl></header>';

    RETURN '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<meta name="generator" content="retention.report_html">'
        || '<title>Retention report: ' || v_name || '</title>'
        || '<style>'
        || 'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;'
        || 'color:#1e293b;background:#f8fafc;margin:0;padding:24px 32px;max-width:1320px}'
        || 'h1{font-size:24px;margin:0 0 12px}h1 .pipeline{color:#2563eb}h2{font-size:18px;margin:0 0 8px}'
        || 'h3{font-size:15px;margin:4px 0 6px}'
        || 'header,section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin-bottom:18px}'
        || 'dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0;font-size:14px}'
        || 'dt{color:#64748b}dd{margin:0;font-variant-numeric:tabular-nums}dd.failed{color:#b91c1c}'
        || '.caption{color:#475569;font-size:13px;margin:0 0 8px}'
        || '.no-data{color:#64748b;font-style:italic;background:#f1f5f9;border-radius:6px;padding:10px 14px}'
        || 'dd .no-data{padding:0 6px}'
        || '.pair{display:flex;flex-wrap:wrap;gap:24px}.pair>div{flex:0 0 auto}'
        || 'svg.chart{display:block;overflow:visible}'
        || 'svg text{font-size:11px;font-family:inherit}svg text:not([fill]){fill:#334155}'
        || 'svg .axis-title,svg .legend-title{font-size:12px;fill:#475569}'
        || 'svg .rate{font-size:10px;font-variant-numeric:tabular-nums}'
        || 'svg .cohort-label{font-variant-numeric:tabular-nums}'
        || 'svg .grid{stroke:#e2e8f0}svg .frame{stroke:#94a3b8}'
        || 'svg .diagonal{stroke:#94a3b8;stroke-dasharray:5 4}'
        || 'svg .roc{stroke:#1d4ed8;stroke-width:2.5}svg .calibration{stroke:#c2410c;stroke-width:2}'
        || 'svg .point{fill:#c2410c}svg .driver{fill:#7c3aed}'
        || 'table.metrics{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums}'
        || 'table.metrics th,table.metrics td{border-bottom:1px solid #e2e8f0;padding:6px 14px;text-align:right}'
        || 'table.metrics th:first-child{text-align:left}table.metrics thead th{color:#475569}'
        || 'table.metrics td.best{font-weight:700;color:#15803d}table.metrics td.ratio{color:#475569}'
        || 'footer{color:#94a3b8;font-size:12px}'
        || '</style></head><body>'
        || s_header
        || '<section id="cohorts"><h2>Cohort retention</h2>' || s_heatmap || '</section>'
        || '<section id="curves"><h2>Retention curves</h2>' || s_curves || '</section>'
        || '<section id="churn-model-quality"><h2>Churn model on its holdout</h2><div class="pair"><div>'
        || s_roc || '</div><div>' || s_calibration || '</div></div></section>'
        || '<section id="risk"><h2>Risk distribution</h2>' || s_risk || '</section>'
        || '<section id="drivers"><h2>Top churn drivers</h2>' || s_drivers || '</section>'
        || '<section id="recommendations"><h2>Recommendations: item-kNN against popularity</h2>' || s_recs || '</section>'
        || '<footer>retention.report_html(' || @extschema@.html_escape(pg_catalog.quote_literal(pl.name))
        || ') at ' || pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD HH24:MI:SSOF') || '</footer>'
        || '</body></html>' || E'\n';
END
$$;

COMMENT ON FUNCTION @extschema@.report_html(text) IS
'one self-contained HTML page (inline CSS and SVG, no script, nothing fetched when viewed) on a pipeline: cohort retention heatmap and curves, the churn model''s ROC curve and calibration on its holdout, the churn-probability histogram, the top churn drivers and the item-kNN evaluation against popularity; sections without data say so';
