/* retention--0.1.0--0.2.0.sql: update a 0.1.0 installation to 0.2.0.
 *
 * Every change to the extension's SQL made for 0.2.0 is here too, in the
 * commit that makes it; test/upgrade/upgrade.sh checks that an updated
 * database holds exactly the objects of a fresh 0.2.0 install. */

\echo Use "ALTER EXTENSION retention UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Issue 14: the aggregates whose state was internal get the state type
-- agg_state, which Citus can push down to its workers.  ALTER AGGREGATE
-- cannot change a state type, so each is dropped and created again (no view
-- or function of the extension depends on them), and their internal-state
-- support functions, which 0.2.0 no longer declares, are dropped.
-- ---------------------------------------------------------------------------

DROP AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer);
DROP AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text);
DROP AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text, boolean, boolean);
DROP AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer);
DROP AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text);
DROP AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text, boolean, boolean);
DROP AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean);
DROP AGGREGATE @extschema@.retention_rate_rolling(bigint, timestamptz, timestamptz, integer, interval);
DROP AGGREGATE @extschema@.retention_rate_rolling_unbounded(bigint, timestamptz, timestamptz, integer, interval);
DROP AGGREGATE @extschema@.lifecycle_matrix(bigint, timestamptz, text);
DROP AGGREGATE @extschema@.stickiness_matrix(bigint, timestamptz, text);
DROP AGGREGATE @extschema@.logreg_train(boolean, float8[]);
DROP AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb);
DROP AGGREGATE @extschema@.roc_auc(float8, boolean);
DROP AGGREGATE @extschema@.threshold_max_f1(float8, boolean);
DROP AGGREGATE @extschema@.threshold_for_recall(float8, boolean, float8);
DROP AGGREGATE @extschema@.roc_auc(float8, bigint, bigint);
DROP AGGREGATE @extschema@.threshold_max_f1(float8, bigint, bigint);
DROP AGGREGATE @extschema@.threshold_for_recall(float8, bigint, bigint, float8);
DROP AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer);
DROP AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8);
DROP AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8, bigint);
DROP AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8);
DROP AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8, bigint);
DROP AGGREGATE @extschema@.gamma_gamma_fit(float8, float8);
DROP AGGREGATE @extschema@.gamma_gamma_fit(float8, float8, bigint);

DROP FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8);
DROP FUNCTION @extschema@.bgnbd_fit_transfn(internal, float8, float8, float8, bigint);
DROP FUNCTION @extschema@.customer_groups_combine(internal, internal);
DROP FUNCTION @extschema@.customer_groups_serialize(internal);
DROP FUNCTION @extschema@.bgnbd_fit_deserialize(bytea, internal);
DROP FUNCTION @extschema@.bgnbd_fit_finalfn(internal);
DROP FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8);
DROP FUNCTION @extschema@.gamma_gamma_fit_transfn(internal, float8, float8, bigint);
DROP FUNCTION @extschema@.gamma_gamma_fit_deserialize(bytea, internal);
DROP FUNCTION @extschema@.gamma_gamma_fit_finalfn(internal);
DROP FUNCTION @extschema@.pareto_nbd_fit_finalfn(internal);
DROP FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[]);
DROP FUNCTION @extschema@.logreg_train_accum(internal, boolean, float8[], jsonb);
DROP FUNCTION @extschema@.logreg_train_combine(internal, internal);
DROP FUNCTION @extschema@.logreg_train_serialize(internal);
DROP FUNCTION @extschema@.logreg_train_deserialize(bytea, internal);
DROP FUNCTION @extschema@.logreg_train_final(internal);
DROP FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean);
DROP FUNCTION @extschema@.scored_labels_accum(internal, float8, boolean, float8);
DROP FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint);
DROP FUNCTION @extschema@.scored_labels_accum(internal, float8, bigint, bigint, float8);
DROP FUNCTION @extschema@.scored_labels_combine(internal, internal);
DROP FUNCTION @extschema@.scored_labels_serialize(internal);
DROP FUNCTION @extschema@.scored_labels_deserialize(bytea, internal);
DROP FUNCTION @extschema@.roc_auc_final(internal);
DROP FUNCTION @extschema@.threshold_max_f1_final(internal);
DROP FUNCTION @extschema@.threshold_for_recall_final(internal);
DROP FUNCTION @extschema@.item_knn_transfn(internal, bigint, bigint, float8, integer);
DROP FUNCTION @extschema@.item_knn_combinefn(internal, internal);
DROP FUNCTION @extschema@.item_knn_serialfn(internal);
DROP FUNCTION @extschema@.item_knn_deserialfn(bytea, internal);
DROP FUNCTION @extschema@.item_knn_finalfn(internal);
DROP FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer);
DROP FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text);
DROP FUNCTION @extschema@.retention_rate_trans(internal, bigint, timestamptz, integer, text, boolean, boolean);
DROP FUNCTION @extschema@.retention_rate_final(internal);
DROP FUNCTION @extschema@.retention_rate_unbounded_final(internal);
DROP FUNCTION @extschema@.cohort_matrix_trans(internal, bigint, timestamptz, text, text, boolean, boolean);
DROP FUNCTION @extschema@.cohort_matrix_final(internal);
DROP FUNCTION @extschema@.rolling_trans(internal, bigint, timestamptz, timestamptz, integer, interval);
DROP FUNCTION @extschema@.rolling_combine(internal, internal);
DROP FUNCTION @extschema@.rolling_serialize(internal);
DROP FUNCTION @extschema@.rolling_deserialize(bytea, internal);
DROP FUNCTION @extschema@.rolling_final(internal);
DROP FUNCTION @extschema@.rolling_unbounded_final(internal);
DROP FUNCTION @extschema@.lifecycle_trans(internal, bigint, timestamptz, text);
DROP FUNCTION @extschema@.lifecycle_final(internal);
DROP FUNCTION @extschema@.stickiness_trans(internal, bigint, timestamptz, text);
DROP FUNCTION @extschema@.stickiness_final(internal);

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

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer) IS
'transition function of retention_rate(user_id, ts, n) with daily periods';

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text) IS
'transition function of retention_rate(user_id, ts, n, period)';

CREATE FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text, boolean, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_rate_filter_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_trans(@extschema@.agg_state, bigint, timestamptz, integer, text, boolean, boolean) IS
'transition function of retention_rate(user_id, ts, n, period, is_start, is_return)';

CREATE FUNCTION @extschema@.retention_rate_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_final(@extschema@.agg_state) IS
'final function of retention_rate: users active in period n over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_rate_unbounded_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'retention_rate_unbounded_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_rate_unbounded_final(@extschema@.agg_state) IS
'final function of retention_rate_unbounded: users active in period n or later over users whose period n is observable';

CREATE FUNCTION @extschema@.retention_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'retention_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.retention_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of the retention aggregates over agg_state (retention_rate, cohort_matrix, lifecycle_matrix, stickiness_matrix): merges the users of two states';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer) IS
'day-n retention: share of users (starting at their first event''s calendar day) active on day n, among those whose day n is not after the latest event';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text) IS
'period-n retention (period ''day'', ''week'' or ''month'' in the session time zone): share of users active in period n after their first event''s period, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate(user_id bigint, ts timestamptz, n integer, period text,
                                            is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate(bigint, timestamptz, integer, text, boolean, boolean) IS
'period-n retention where the cohort starts at the user''s first is_start event and only is_return events count as returning';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer) IS
'unbounded ("on or after") day-n retention: share of users active on day n or later, among those whose day n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text) IS
'unbounded ("on or after") period-n retention: share of users active in period n or later, among those whose period n is observable';

CREATE AGGREGATE @extschema@.retention_rate_unbounded(user_id bigint, ts timestamptz, n integer, period text,
                                                      is_start boolean, is_return boolean) (
    SFUNC = @extschema@.retention_rate_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.retention_rate_unbounded_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_unbounded(bigint, timestamptz, integer, text, boolean, boolean) IS
'unbounded period-n retention with a start-event filter (is_start) and a return-event filter (is_return)';

CREATE FUNCTION @extschema@.cohort_matrix_trans(@extschema@.agg_state, bigint, timestamptz, text, text, boolean, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'cohort_matrix_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_trans(@extschema@.agg_state, bigint, timestamptz, text, text, boolean, boolean) IS
'transition function of cohort_matrix';

CREATE FUNCTION @extschema@.cohort_matrix_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'cohort_matrix_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cohort_matrix_final(@extschema@.agg_state) IS
'final function of cohort_matrix: one row per cohort {start date as days since 2000-01-01, size, retained at 0, 1, ...}';

CREATE AGGREGATE @extschema@.cohort_matrix(user_id bigint, ts timestamptz, period text, mode text,
                                           is_start boolean, is_return boolean) (
    SFUNC = @extschema@.cohort_matrix_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.cohort_matrix_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean) IS
'cohort retention matrix in one pass (mode ''classic'', ''unbounded'', ''recurring'' or ''recurring_unbounded''): a bigint[][] with one row {start date as days since 2000-01-01, size, retained at period 0, 1, ...} per cohort, NULL where censored; see cohort_table';

CREATE FUNCTION @extschema@.rolling_trans(@extschema@.agg_state, bigint, timestamptz, timestamptz, integer, interval)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'rolling_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_trans(@extschema@.agg_state, bigint, timestamptz, timestamptz, integer, interval) IS
'transition function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'rolling_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_final(@extschema@.agg_state) IS
'final function of retention_rate_rolling';

CREATE FUNCTION @extschema@.rolling_unbounded_final(@extschema@.agg_state)
RETURNS float8
AS 'MODULE_PATHNAME', 'rolling_unbounded_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rolling_unbounded_final(@extschema@.agg_state) IS
'final function of retention_rate_rolling_unbounded';

CREATE AGGREGATE @extschema@.retention_rate_rolling(user_id bigint, start timestamptz, ts timestamptz,
                                                    n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.rolling_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window retention: share of users with an event in [start + n * window_length, start + (n + 1) * window_length), among users whose window n has begun by the latest event';

CREATE AGGREGATE @extschema@.retention_rate_rolling_unbounded(user_id bigint, start timestamptz, ts timestamptz,
                                                              n integer, window_length interval) (
    SFUNC = @extschema@.rolling_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.rolling_unbounded_final,
    COMBINEFUNC = @extschema@.rolling_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.retention_rate_rolling_unbounded(bigint, timestamptz, timestamptz, integer, interval) IS
'rolling-window unbounded retention: share of users with an event at or after start + n * window_length, among users whose window n has begun';

CREATE FUNCTION @extschema@.lifecycle_trans(@extschema@.agg_state, bigint, timestamptz, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'lifecycle_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_trans(@extschema@.agg_state, bigint, timestamptz, text) IS
'transition function of lifecycle_matrix';

CREATE FUNCTION @extschema@.lifecycle_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'lifecycle_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.lifecycle_final(@extschema@.agg_state) IS
'final function of lifecycle_matrix';

CREATE AGGREGATE @extschema@.lifecycle_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.lifecycle_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.lifecycle_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.lifecycle_matrix(bigint, timestamptz, text) IS
'growth accounting in one pass: a bigint[][] with one row {period start as days since 2000-01-01, new, returning, resurrecting, -dormant} per period; see lifecycle';

CREATE FUNCTION @extschema@.stickiness_trans(@extschema@.agg_state, bigint, timestamptz, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'stickiness_state_trans'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_trans(@extschema@.agg_state, bigint, timestamptz, text) IS
'transition function of stickiness_matrix';

CREATE FUNCTION @extschema@.stickiness_final(@extschema@.agg_state)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'stickiness_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.stickiness_final(@extschema@.agg_state) IS
'final function of stickiness_matrix';

CREATE AGGREGATE @extschema@.stickiness_matrix(user_id bigint, ts timestamptz, period text) (
    SFUNC = @extschema@.stickiness_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.stickiness_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.stickiness_matrix(bigint, timestamptz, text) IS
'stickiness in one pass: a bigint[][] with one row {period start as days since 2000-01-01, users active on 1 day, 2 days, ...} per week or month; see stickiness';

CREATE FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[])
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[]) IS
'transition function of logreg_train: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[], jsonb)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_accum(@extschema@.agg_state, boolean, float8[], jsonb) IS
'transition function of logreg_train with options: keeps one valid row, counts a skipped one';

CREATE FUNCTION @extschema@.logreg_train_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'logreg_train_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of logreg_train: concatenates the rows of two partial states';

CREATE FUNCTION @extschema@.logreg_train_final(@extschema@.agg_state)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'logreg_train_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logreg_train_final(@extschema@.agg_state) IS
'final function of logreg_train: Newton (IRLS) iterations to the exact optimum';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[]) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[]) IS
'maximum-likelihood logistic regression of label on features (intercept implicit), exact Newton solve; rows with NULL or non-finite values are skipped and counted';

CREATE AGGREGATE @extschema@.logreg_train(label boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.logreg_train_accum,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.logreg_train_final,
    COMBINEFUNC = @extschema@.logreg_train_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda (L2, intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';

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

CREATE FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'item_knn_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer) IS
'transition function of retention.item_knn: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.item_knn_combinefn(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'item_knn_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_combinefn(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of retention.item_knn: the union of two partial states';

CREATE FUNCTION @extschema@.item_knn_finalfn(@extschema@.agg_state)
RETURNS @extschema@.item_knn_model
AS 'MODULE_PATHNAME', 'item_knn_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_finalfn(@extschema@.agg_state) IS
'final function of retention.item_knn: computes the top-k cosine neighbours of every item';

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer) IS
'item-kNN model: for every item its k most similar items by cosine similarity of their user vectors; weights of a repeated (user, item) pair add up; rows with a NULL user, item or weight are skipped';

CREATE FUNCTION @extschema@.bgnbd_fit_transfn(@extschema@.agg_state, float8, float8, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgnbd_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_transfn(@extschema@.agg_state, float8, float8, float8) IS
'transition function of bgnbd_fit: counts one customer';

CREATE FUNCTION @extschema@.bgnbd_fit_transfn(@extschema@.agg_state, float8, float8, float8, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgnbd_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_transfn(@extschema@.agg_state, float8, float8, float8, bigint) IS
'transition function of bgnbd_fit: counts a group of customers';

CREATE FUNCTION @extschema@.customer_groups_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'customer_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.customer_groups_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of the customer-base fits: adds the counts of customers sharing a summary';

CREATE FUNCTION @extschema@.bgnbd_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_fit_finalfn(@extschema@.agg_state) IS
'final function of bgnbd_fit: the maximum-likelihood BG/NBD model';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8) IS
'maximum-likelihood BG/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.bgnbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgnbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood BG/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.pareto_nbd_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_fit_finalfn(@extschema@.agg_state) IS
'final function of pareto_nbd_fit: the maximum-likelihood Pareto/NBD model';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8) IS
'maximum-likelihood Pareto/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.pareto_nbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.pareto_nbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.pareto_nbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood Pareto/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.gamma_gamma_fit_transfn(@extschema@.agg_state, float8, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_transfn(@extschema@.agg_state, float8, float8) IS
'transition function of gamma_gamma_fit: counts one customer with repeat purchases';

CREATE FUNCTION @extschema@.gamma_gamma_fit_transfn(@extschema@.agg_state, float8, float8, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_transfn(@extschema@.agg_state, float8, float8, bigint) IS
'transition function of gamma_gamma_fit: counts a group of customers';

CREATE FUNCTION @extschema@.gamma_gamma_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_fit_finalfn(@extschema@.agg_state) IS
'final function of gamma_gamma_fit: the maximum-likelihood Gamma-Gamma model';

CREATE FUNCTION @extschema@.spend_groups_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'spend_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.spend_groups_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of gamma_gamma_fit: adds the customers of two states';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency float8, monetary float8) (
    SFUNC = @extschema@.gamma_gamma_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.gamma_gamma_fit_finalfn,
    COMBINEFUNC = @extschema@.spend_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(float8, float8) IS
'maximum-likelihood Gamma-Gamma spend model of customers given as (frequency, monetary); customers without repeat purchases and rows with a NULL are left out; NULL with a notice for fewer than 3 customers';

CREATE AGGREGATE @extschema@.gamma_gamma_fit(frequency float8, monetary float8, customers bigint) (
    SFUNC = @extschema@.gamma_gamma_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.gamma_gamma_fit_finalfn,
    COMBINEFUNC = @extschema@.spend_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gamma_gamma_fit(float8, float8, bigint) IS
'maximum-likelihood Gamma-Gamma model of groups of customers sharing (frequency, monetary), the form a distributed (Citus) GROUP BY feeds';

-- Issue 14: train_churn_model fits a distributed training table with the
-- multi-pass form (logreg_step), which Citus pushes down.
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

CREATE OR REPLACE PROCEDURE @extschema@.train_churn_model(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    options jsonb DEFAULT NULL,
    holdout_column text DEFAULT NULL,
    holdout_fraction float8 DEFAULT 0.2,
    INOUT version integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    test_expr  pg_catalog.text;
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    model      @extschema@.logreg_model;
    holdout    pg_catalog.jsonb;
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source and label_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF holdout_column IS NULL AND NOT (holdout_fraction OPERATOR(pg_catalog.>=) 0::pg_catalog.float8
                                       AND holdout_fraction OPERATOR(pg_catalog.<) 1::pg_catalog.float8) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('holdout_fraction %s is not in [0, 1)', holdout_fraction);
    END IF;
    IF NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;

    from_item := @extschema@.source_from_item(source);
    label_expr := pg_catalog.format('(src.%I)::integer::boolean', label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));
    IF holdout_column IS NOT NULL THEN
        test_expr := pg_catalog.format('COALESCE((src.%I)::boolean, false)', holdout_column);
    ELSE
        -- a deterministic split: a hash of the whole row
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    IF @extschema@.is_distributed(from_item) THEN
        -- on Citus: one pushed-down Newton pass per iteration, each shard
        -- sending a state of fixed size, where logreg_train would send every
        -- training row to the coordinator; the same model (to 1e-9)
        model := @extschema@.logreg_train_multipass(
            pg_catalog.format('SELECT %s AS retention_label, %s FROM %s WHERE NOT (%s)',
                label_expr,
                (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8 AS %I', c, c), ', ' ORDER BY i)
                   FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
                from_item, test_expr),
            'retention_label', feature_columns, opts);
    ELSE
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
    END IF;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, NULL features or non-finite features are skipped.';
    END IF;

    -- holdout metrics on the rows the model has not seen (usable rows only)
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(p, y),
                    'log_loss', @extschema@.log_loss(p, y),
                    'at_0_5', @extschema@.classification_report(p, y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(p, y))
             FROM (SELECT @extschema@.churn_prob($1, f) AS p, y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                    WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                      AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        label_expr, feats, from_item, test_expr)
        INTO holdout USING model;

    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(model_name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) OPERATOR(pg_catalog.+) 1 INTO version
      FROM @extschema@.models AS m WHERE m.name OPERATOR(pg_catalog.=) model_name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (model_name, version, 'logreg', model::pg_catalog.jsonb,
            pg_catalog.jsonb_build_object('holdout', holdout,
                                          'holdout_split', COALESCE(holdout_column,
                                              'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
            feature_columns, source);
END
$$;
