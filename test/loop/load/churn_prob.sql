-- one churn score with the latest registry model, as an application would ask
\set x random(0, 6)
SELECT retention.churn_prob(m.model::text::retention.logreg_model,
                            array_fill(:x::float8, ARRAY[cardinality(m.feature_names)]))
  FROM retention.models m WHERE m.name = 'default_churn' ORDER BY m.version DESC LIMIT 1;
