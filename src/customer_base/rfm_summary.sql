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
