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
