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
