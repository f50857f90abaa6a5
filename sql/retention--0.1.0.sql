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
