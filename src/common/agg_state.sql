--------------------------------------------------------------------------
-- agg_state: the state type of the aggregates that Citus pushes down
--
-- Citus runs a custom aggregate's partial work on its workers only when the
-- state type is not internal, and ships each worker's state to the
-- coordinator as text.  An agg_state wraps the C state of one of our
-- aggregates (updated in place while the aggregate runs, as an expanded
-- object); its text form is base64 and every value read is validated by
-- the layout it names.  See doc/citus.md.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.agg_state;

CREATE FUNCTION @extschema@.agg_state_in(cstring)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'agg_state_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.agg_state_in(cstring) IS
'input function of agg_state: base64 of the flat state, validated by the layout it names';

CREATE FUNCTION @extschema@.agg_state_out(@extschema@.agg_state)
RETURNS cstring
AS 'MODULE_PATHNAME', 'agg_state_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.agg_state_out(@extschema@.agg_state) IS
'output function of agg_state: base64 of the flat state';

CREATE FUNCTION @extschema@.agg_state_recv(internal)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'agg_state_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.agg_state_recv(internal) IS
'binary input function of agg_state; accepts exactly what agg_state_in accepts';

CREATE FUNCTION @extschema@.agg_state_send(@extschema@.agg_state)
RETURNS bytea
AS 'MODULE_PATHNAME', 'agg_state_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.agg_state_send(@extschema@.agg_state) IS
'binary output function of agg_state';

CREATE TYPE @extschema@.agg_state (
    INPUT = @extschema@.agg_state_in,
    OUTPUT = @extschema@.agg_state_out,
    RECEIVE = @extschema@.agg_state_recv,
    SEND = @extschema@.agg_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.agg_state IS
'state of an aggregate that Citus can push down to its workers: the C state of one layout (retention, rolling retention, logistic regression, scored labels, item-kNN, customer groups, spend groups), updated in place, shipped as base64 and validated when read';

CREATE FUNCTION @extschema@.is_distributed(from_item text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    plan pg_catalog.json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension AS e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('EXPLAIN (FORMAT JSON) SELECT 1 FROM %s', from_item) INTO plan;
    RETURN pg_catalog.strpos(plan::pg_catalog.text, '"Custom Plan Provider": "Citus') OPERATOR(pg_catalog.>) 0;
END
$$;

COMMENT ON FUNCTION @extschema@.is_distributed(text) IS
'whether a FROM item (a table, or a query in parentheses with an alias) reads a Citus distributed table: the wrappers then choose the forms that run on the workers';
