--------------------------------------------------------------------------
-- Customer base: sBG, contractual retention (Fader & Hardie 2007)
--
-- sbg_fit's state collapses customers sharing (periods, churned) into
-- counts: a cohort of any size is a few dozen groups, and parallel workers
-- merge by adding counts.  sbg_fit(periods, churned, customers) takes
-- pre-counted groups (the survivor table of a cohort, or a Citus GROUP BY).
--------------------------------------------------------------------------

CREATE TYPE @extschema@.sbg_model;

CREATE FUNCTION @extschema@.sbg_model_in(cstring)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_in(cstring) IS
'input function of sbg_model: JSON with at least alpha and beta';

CREATE FUNCTION @extschema@.sbg_model_out(@extschema@.sbg_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'sbg_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_out(@extschema@.sbg_model) IS
'output function of sbg_model: JSON';

CREATE FUNCTION @extschema@.sbg_model_recv(internal)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_recv(internal) IS
'binary input function of sbg_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.sbg_model_send(@extschema@.sbg_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sbg_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_model_send(@extschema@.sbg_model) IS
'binary output function of sbg_model';

CREATE TYPE @extschema@.sbg_model (
    INPUT = @extschema@.sbg_model_in,
    OUTPUT = @extschema@.sbg_model_out,
    RECEIVE = @extschema@.sbg_model_recv,
    SEND = @extschema@.sbg_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.sbg_model IS
'a shifted-beta-geometric contractual retention model (Fader & Hardie 2007): alpha and beta and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.sbg_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.sbg_model) WITH INOUT;

COMMENT ON CAST (@extschema@.sbg_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.sbg_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.sbg_fit_transfn(@extschema@.agg_state, integer, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'sbg_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_transfn(@extschema@.agg_state, integer, boolean) IS
'transition function of sbg_fit: counts one customer';

CREATE FUNCTION @extschema@.sbg_fit_transfn(@extschema@.agg_state, integer, boolean, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'sbg_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_transfn(@extschema@.agg_state, integer, boolean, bigint) IS
'transition function of sbg_fit: counts a group of customers';

CREATE FUNCTION @extschema@.sbg_fit_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'renewal_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of sbg_fit: adds the counts of customers sharing (periods, churned)';

CREATE FUNCTION @extschema@.sbg_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.sbg_model
AS 'MODULE_PATHNAME', 'sbg_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_fit_finalfn(@extschema@.agg_state) IS
'final function of sbg_fit: the maximum-likelihood sBG model';

CREATE AGGREGATE @extschema@.sbg_fit(periods integer, churned boolean) (
    SFUNC = @extschema@.sbg_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.sbg_fit_finalfn,
    COMBINEFUNC = @extschema@.sbg_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.sbg_fit(integer, boolean) IS
'maximum-likelihood sBG model of customers given as (periods, churned): (t, true) for a customer lost in period t, (t, false) for one still active after t periods; NULL with a notice when nobody churned or nobody renewed';

CREATE AGGREGATE @extschema@.sbg_fit(periods integer, churned boolean, customers bigint) (
    SFUNC = @extschema@.sbg_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.sbg_fit_finalfn,
    COMBINEFUNC = @extschema@.sbg_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.sbg_fit(integer, boolean, bigint) IS
'maximum-likelihood sBG model of groups of customers sharing (periods, churned), e.g. a cohort''s survivor table';

CREATE FUNCTION @extschema@.sbg_survival(model @extschema@.sbg_model, period integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_survival'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_survival(@extschema@.sbg_model, integer) IS
'S(t): the share of a cohort still active after t periods (Fader & Hardie 2007 eq. 3)';

CREATE FUNCTION @extschema@.sbg_retention_rate(model @extschema@.sbg_model, period integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_retention_rate'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_retention_rate(@extschema@.sbg_model, integer) IS
'r_t = S(t)/S(t-1): the share of customers active in period t - 1 who renew for period t (Fader & Hardie 2007 eq. 4); rises with t';

CREATE FUNCTION @extschema@.sbg_residual_lifetime(model @extschema@.sbg_model, discount_rate float8,
                                                  renewals integer DEFAULT 0)
RETURNS float8
AS 'MODULE_PATHNAME', 'sbg_residual_lifetime'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.sbg_residual_lifetime(@extschema@.sbg_model, float8, integer) IS
'DERL: discounted expected residual lifetime in periods of a customer who has renewed renewals times and is about to decide on the next renewal (Fader & Hardie 2010 eq. 6)';

CREATE FUNCTION @extschema@.sbg_projection(model @extschema@.sbg_model, periods integer)
RETURNS TABLE (period integer, survival float8, retention_rate float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    -- a bound, so that no argument makes a call run for minutes
    IF periods OPERATOR(pg_catalog.<) 0 OR periods OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('periods must be between 0 and 100000, not %s', periods);
    END IF;
    RETURN QUERY
    SELECT t, @extschema@.sbg_survival(model, t),
           CASE WHEN t OPERATOR(pg_catalog.>) 0 THEN @extschema@.sbg_retention_rate(model, t) END
      FROM pg_catalog.generate_series(0, periods) AS t
     ORDER BY t;
END
$$;

COMMENT ON FUNCTION @extschema@.sbg_projection(@extschema@.sbg_model, integer) IS
'the projected survival S(t) and retention rate r_t of periods 0 .. periods, one row per period';
