--------------------------------------------------------------------------
-- The customers at risk, as the last refresh() scored them
--------------------------------------------------------------------------

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
