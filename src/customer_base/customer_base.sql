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
