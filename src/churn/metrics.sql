--------------------------------------------------------------------------
-- Classifier metrics: roc_auc, log_loss, classification_report,
-- threshold_max_f1, threshold_for_recall
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'scored_labels_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, boolean) IS
'transition function of roc_auc and threshold_max_f1: keeps one (score, label) pair';

CREATE FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, boolean, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'scored_labels_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, boolean, float8) IS
'transition function of threshold_for_recall: keeps one (score, label) pair and the target';

CREATE FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, bigint, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'scored_counts_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, bigint, bigint) IS
'transition function of roc_auc and threshold_max_f1 over counts: keeps one (score, positives, negatives) triple';

CREATE FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, bigint, bigint, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'scored_counts_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_accum(@extschema@.agg_state, float8, bigint, bigint, float8) IS
'transition function of threshold_for_recall over counts: keeps one triple and the target';

CREATE FUNCTION @extschema@.scored_labels_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'scored_labels_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.scored_labels_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of the scored-label aggregates: concatenates two states';

CREATE FUNCTION @extschema@.roc_auc_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'roc_auc_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.roc_auc_final(@extschema@.agg_state) IS
'final function of roc_auc: the Mann-Whitney statistic with average ranks for ties';

CREATE FUNCTION @extschema@.threshold_max_f1_final(@extschema@.agg_state)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'threshold_max_f1_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.threshold_max_f1_final(@extschema@.agg_state) IS
'final function of threshold_max_f1';

CREATE FUNCTION @extschema@.threshold_for_recall_final(@extschema@.agg_state)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'threshold_for_recall_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.threshold_for_recall_final(@extschema@.agg_state) IS
'final function of threshold_for_recall';

CREATE AGGREGATE @extschema@.roc_auc(score float8, label boolean) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.roc_auc_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.roc_auc(float8, boolean) IS
'exact area under the ROC curve (tied scores count one half, as scikit-learn''s roc_auc_score); NULL unless both classes occur';

CREATE AGGREGATE @extschema@.threshold_max_f1(score float8, label boolean) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.threshold_max_f1_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_max_f1(float8, boolean) IS
'the score threshold (positive when score >= threshold) that maximises F1, with its classification report as jsonb';

CREATE AGGREGATE @extschema@.threshold_for_recall(score float8, label boolean, target_recall float8) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.threshold_for_recall_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_for_recall(float8, boolean, float8) IS
'the highest score threshold whose recall reaches target_recall, with its classification report as jsonb';

CREATE AGGREGATE @extschema@.roc_auc(score float8, positives bigint, negatives bigint) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.roc_auc_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.roc_auc(float8, bigint, bigint) IS
'exact area under the ROC curve from counts of positive and negative rows per score (for example a distributed GROUP BY score); equal to roc_auc over the rows';

CREATE AGGREGATE @extschema@.threshold_max_f1(score float8, positives bigint, negatives bigint) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.threshold_max_f1_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_max_f1(float8, bigint, bigint) IS
'the F1-maximising threshold from counts of positive and negative rows per score, with its classification report';

CREATE AGGREGATE @extschema@.threshold_for_recall(score float8, positives bigint, negatives bigint, target_recall float8) (
    SFUNC = @extschema@.scored_labels_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.threshold_for_recall_final,
    COMBINEFUNC = @extschema@.scored_labels_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.threshold_for_recall(float8, bigint, bigint, float8) IS
'the highest threshold reaching target_recall, from counts of positive and negative rows per score, with its classification report';

CREATE FUNCTION @extschema@.float8_state_add(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'float8_state_add'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.float8_state_add(float8[], float8[]) IS
'combine function of classification_report: element-wise sum of two states';

CREATE FUNCTION @extschema@.log_loss_accum(float8[], float8, boolean)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'log_loss_accum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_accum(float8[], float8, boolean) IS
'transition function of log_loss: {rows, the sum of -log likelihoods in fixed point as four base-2^32 limbs of 2^-64}';

CREATE FUNCTION @extschema@.log_loss_combine(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'log_loss_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_combine(float8[], float8[]) IS
'combine function of log_loss: adds two states exactly, so the result does not depend on how rows were split';

CREATE FUNCTION @extschema@.log_loss_final(float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'log_loss_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.log_loss_final(float8[]) IS
'final function of log_loss: the mean';

CREATE AGGREGATE @extschema@.log_loss(prob float8, label boolean) (
    SFUNC = @extschema@.log_loss_accum,
    STYPE = float8[],
    INITCOND = '{0,0,0,0,0}',
    FINALFUNC = @extschema@.log_loss_final,
    COMBINEFUNC = @extschema@.log_loss_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.log_loss(float8, boolean) IS
'mean negative log-likelihood (natural log) of predicted probabilities, clipped to [1e-15, 1 - 1e-15] as scikit-learn''s log_loss';

CREATE FUNCTION @extschema@.classification_accum(float8[], float8, boolean, float8)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'classification_accum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.classification_accum(float8[], float8, boolean, float8) IS
'transition function of classification_report: confusion counts {tp, fp, tn, fn}';

CREATE FUNCTION @extschema@.classification_final(float8[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'classification_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.classification_final(float8[]) IS
'final function of classification_report';

CREATE AGGREGATE @extschema@.classification_report(score float8, label boolean, threshold float8) (
    SFUNC = @extschema@.classification_accum,
    STYPE = float8[],
    INITCOND = '{0,0,0,0}',
    FINALFUNC = @extschema@.classification_final,
    COMBINEFUNC = @extschema@.float8_state_add,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.classification_report(float8, boolean, float8) IS
'accuracy, precision, recall, F1 and confusion counts as jsonb, a row being positive when score >= threshold; rates of 0/0 are null';
