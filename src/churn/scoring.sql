--------------------------------------------------------------------------
-- Churn scoring and explanations
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.churn_prob(model @extschema@.logreg_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_prob'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob(@extschema@.logreg_model, float8[]) IS
'churn probability 1 / (1 + exp(-(intercept + coef . features))) of one user';

CREATE FUNCTION @extschema@.churn_logit(model @extschema@.logreg_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit(@extschema@.logreg_model, float8[]) IS
'log-odds of churn, intercept + coef . features, of one user';

CREATE FUNCTION @extschema@.churn_base_logit(model @extschema@.logreg_model)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_base_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_base_logit(@extschema@.logreg_model) IS
'log-odds of the average training user, intercept + coef . training means: the base value of churn_explain';

CREATE FUNCTION @extschema@.churn_explain(model @extschema@.logreg_model, features float8[],
    OUT feature_index integer, OUT feature text, OUT value float8, OUT coefficient float8,
    OUT mean float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'churn_explain'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain(@extschema@.logreg_model, float8[]) IS
'one row per feature with its contribution coefficient * (value - training mean) to the log-odds; the contributions plus churn_base_logit add up to churn_logit';
