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
