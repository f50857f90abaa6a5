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
