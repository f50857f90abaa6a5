--------------------------------------------------------------------------
-- Churn probability calibration: Platt scaling and isotonic regression
-- fitted on a holdout and stored in the model; Brier score, expected
-- calibration error and the reliability curve.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.calibration_fit(probs float8[], labels boolean[], method text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'calibration_fit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.calibration_fit(float8[], boolean[], text) IS
'a calibration of probabilities fitted to labels (pairs with a NULL skipped): method platt (logistic regression of the labels on the log-odds) or isotonic (pool-adjacent-violators, interpolated linearly and clipped as scikit-learn); store it with churn_model_with_calibration';

CREATE FUNCTION @extschema@.churn_model_with_calibration(model @extschema@.logreg_model, calibration jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'churn_model_with_calibration'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_model_with_calibration(@extschema@.logreg_model, jsonb) IS
'the model with a calibration (from calibration_fit, or {"method": "shift", "shift": s}) stored in it, applied by churn_prob and churn_prob_row; a NULL calibration removes it';

CREATE FUNCTION @extschema@.calibration_metrics(probs float8[], labels boolean[], bins integer DEFAULT 10)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'calibration_metrics'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.calibration_metrics(float8[], boolean[], integer) IS
'calibration of probabilities against labels: n_rows, base_rate, mean_prob, Brier score, expected calibration error (ece) and maximum calibration error (mce) over equal-width bins';

CREATE FUNCTION @extschema@.calibration_curve(probs float8[], labels boolean[], bins integer DEFAULT 10,
    OUT bin integer, OUT lower float8, OUT upper float8, OUT n_rows bigint,
    OUT mean_prob float8, OUT fraction_positive float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'calibration_curve'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.calibration_curve(float8[], boolean[], integer) IS
'the reliability curve: per non-empty equal-width bin of probability its rows, mean probability and fraction of positive labels (scikit-learn calibration_curve, strategy uniform)';
