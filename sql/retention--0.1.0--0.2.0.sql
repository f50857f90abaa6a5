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


-- Funnels (issue 15): src/analytics/funnel.sql

--------------------------------------------------------------------------
-- Funnels
--
-- Two stages, so that a funnel over a distributed table runs per user
-- where the user's rows live:
--   stage one, funnel_user(...) grouped by user: how far the user got
--   (a retention.funnel_progress), with the times of the earliest attempt
--   that got there and its first event's breakdown value;
--   stage two, funnel_matrix(reached, seconds) grouped by breakdown: users
--   per step and the exact median time between steps, with a state of its
--   own type (retention.funnel_stats, text I/O) that can be combined.
-- funnel() and funnel_dropoffs() run both over a table.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.breakdown_sql(events regclass, breakdown_by name)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    props regtype;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                WHERE attrelid = events AND attname = breakdown_by AND attnum > 0 AND NOT attisdropped) THEN
        RETURN pg_catalog.format('(%I)::pg_catalog.text', breakdown_by);
    END IF;
    SELECT atttypid::regtype INTO props FROM pg_catalog.pg_attribute
     WHERE attrelid = events AND attname = 'properties' AND attnum > 0 AND NOT attisdropped;
    IF props IN ('jsonb'::regtype, 'json'::regtype) THEN
        RETURN pg_catalog.format('(properties OPERATOR(pg_catalog.->>) %L)', breakdown_by);
    END IF;
    RAISE EXCEPTION 'breakdown "%" is neither a column of % nor a key of a json properties column', breakdown_by, events
        USING ERRCODE = 'undefined_column',
              HINT = 'Name a column of the table, or a key of its properties column (jsonb).';
END
$$;

COMMENT ON FUNCTION @extschema@.breakdown_sql(regclass, name) IS
'the SQL expression (as text) of a breakdown: the column of that name cast to text, else the key of that name in the table''s properties jsonb column';

CREATE TYPE @extschema@.funnel_progress AS (
    reached integer,
    started timestamptz,
    breakdown text,
    seconds float8[]
);

COMMENT ON TYPE @extschema@.funnel_progress IS
'how far one user got in a funnel: the furthest step reached, when its earliest attempt started, that attempt''s breakdown value, and the seconds from each step to the next (element 1 NULL)';

CREATE FUNCTION @extschema@.funnel_user_trans(internal, timestamptz, text, text[], interval, text, text,
                                              timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_trans(internal, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'transition function of funnel_user: keeps the user''s events that matter to the funnel';

CREATE FUNCTION @extschema@.funnel_user_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_combine(internal, internal) IS
'combine function of funnel_user: unites the events of two partial states';

CREATE FUNCTION @extschema@.funnel_user_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_user_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_serialize(internal) IS
'serialisation function of funnel_user';

CREATE FUNCTION @extschema@.funnel_user_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_user_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_deserialize(bytea, internal) IS
'deserialisation function of funnel_user; validates what it reads';

-- STABLE: the window is added to timestamps in the session time zone
CREATE FUNCTION @extschema@.funnel_user_final(internal)
RETURNS @extschema@.funnel_progress
AS 'MODULE_PATHNAME', 'funnel_user_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_user_final(internal) IS
'final function of funnel_user: the furthest step, the earliest attempt that reached it and its breakdown';

CREATE AGGREGATE @extschema@.funnel_user(ts timestamptz, event text, steps text[], conversion_window interval,
                                         mode text, breakdown text, date_from timestamptz, date_to timestamptz) (
    SFUNC = @extschema@.funnel_user_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.funnel_user_final,
    COMBINEFUNC = @extschema@.funnel_user_combine,
    SERIALFUNC = @extschema@.funnel_user_serialize,
    DESERIALFUNC = @extschema@.funnel_user_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_user(timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'stage one of a funnel, grouped by user: how far the user got through steps (mode ''ordered'', ''strict'' or ''unordered'') within conversion_window, starting in [date_from, date_to) (NULL: unbounded), as a retention.funnel_progress';

CREATE TYPE @extschema@.funnel_stats;

CREATE FUNCTION @extschema@.funnel_stats_in(cstring)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_stats_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_in(cstring) IS
'input function of retention.funnel_stats: nsteps|users at furthest step 1,2,...|step:seconds,...';

CREATE FUNCTION @extschema@.funnel_stats_out(@extschema@.funnel_stats)
RETURNS cstring
AS 'MODULE_PATHNAME', 'funnel_stats_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_out(@extschema@.funnel_stats) IS
'output function of retention.funnel_stats';

CREATE FUNCTION @extschema@.funnel_stats_recv(internal)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_stats_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_recv(internal) IS
'binary input function of retention.funnel_stats';

CREATE FUNCTION @extschema@.funnel_stats_send(@extschema@.funnel_stats)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_stats_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_stats_send(@extschema@.funnel_stats) IS
'binary output function of retention.funnel_stats';

CREATE TYPE @extschema@.funnel_stats (
    INPUT = @extschema@.funnel_stats_in,
    OUTPUT = @extschema@.funnel_stats_out,
    RECEIVE = @extschema@.funnel_stats_recv,
    SEND = @extschema@.funnel_stats_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.funnel_stats IS
'partial funnel summary: users per furthest step and every step-to-step duration (for exact medians)';

CREATE FUNCTION @extschema@.funnel_matrix_trans(@extschema@.funnel_stats, integer, float8[])
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_matrix_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_trans(@extschema@.funnel_stats, integer, float8[]) IS
'transition function of funnel_matrix: counts a user at their furthest step and keeps their durations';

CREATE FUNCTION @extschema@.funnel_matrix_combine(@extschema@.funnel_stats, @extschema@.funnel_stats)
RETURNS @extschema@.funnel_stats
AS 'MODULE_PATHNAME', 'funnel_matrix_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_combine(@extschema@.funnel_stats, @extschema@.funnel_stats) IS
'combine function of funnel_matrix: adds the counts and unites the durations';

CREATE FUNCTION @extschema@.funnel_matrix_final(@extschema@.funnel_stats)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'funnel_matrix_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_matrix_final(@extschema@.funnel_stats) IS
'final function of funnel_matrix: per step {users at the step or further, conversion rate, median seconds from the previous step}';

CREATE AGGREGATE @extschema@.funnel_matrix(reached integer, seconds float8[]) (
    SFUNC = @extschema@.funnel_matrix_trans,
    STYPE = @extschema@.funnel_stats,
    FINALFUNC = @extschema@.funnel_matrix_final,
    COMBINEFUNC = @extschema@.funnel_matrix_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_matrix(integer, float8[]) IS
'stage two of a funnel over funnel_user results ((p).reached, (p).seconds): a float8[steps][3] of {users at the step or further, conversion rate from step 1, median seconds from the previous step as percentile_cont(0.5)}; unpack with funnel_rows';

CREATE FUNCTION @extschema@.funnel_rows(matrix float8[], steps text[])
RETURNS TABLE (step integer, event_type text, users bigint, conversion_rate float8,
               median_seconds_from_previous float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT k, steps[k],
           COALESCE(matrix[k][1]::bigint, 0),
           matrix[k][2],
           matrix[k][3]
      FROM pg_catalog.generate_series(1, pg_catalog.cardinality(steps)) AS k
     ORDER BY k
$$;

COMMENT ON FUNCTION @extschema@.funnel_rows(float8[], text[]) IS
'the long format of a funnel_matrix: one row per step (0 users and NULL rates when the matrix is NULL)';

CREATE FUNCTION @extschema@.funnel_progress_sql(
    events regclass, steps text[], conversion_window interval, mode text, breakdown_by name,
    user_column name, time_column name, event_column name, date_from timestamptz, date_to timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conds text[] := ARRAY[pg_catalog.format('%I IS NOT NULL', time_column)];
BEGIN
    IF events IS NULL OR steps IS NULL OR conversion_window IS NULL OR mode IS NULL
       OR user_column IS NULL OR time_column IS NULL OR event_column IS NULL THEN
        RAISE EXCEPTION 'funnel arguments other than breakdown_by, date_from and date_to must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.lower(mode) NOT IN ('ordered', 'strict', 'unordered') THEN
        RAISE EXCEPTION 'unknown funnel mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''ordered'', ''strict'' or ''unordered''.';
    END IF;
    IF pg_catalog.cardinality(steps) NOT BETWEEN 1 AND 32 OR pg_catalog.array_ndims(steps) <> 1
       OR pg_catalog.array_position(steps, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a funnel needs between 1 and 32 steps, none NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF conversion_window < INTERVAL '0' THEN
        RAISE EXCEPTION 'conversion window must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a strict funnel needs every event (any event can break a sequence)
    IF pg_catalog.lower(mode) <> 'strict' THEN
        conds := conds || pg_catalog.format('(%I)::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.text[])',
                                            event_column, steps);
    END IF;
    IF date_from IS NOT NULL THEN
        conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz',
                                            time_column, date_from);
    END IF;
    -- later steps may come up to the window after the last allowed start
    IF date_to IS NOT NULL THEN
        conds := conds || pg_catalog.format(
            '%I OPERATOR(pg_catalog.<=) (%L::pg_catalog.timestamptz OPERATOR(pg_catalog.+) %L::pg_catalog.interval)',
            time_column, date_to, conversion_window);
    END IF;
    RETURN pg_catalog.format(
        'SELECT %1$I AS user_id, @extschema@.funnel_user(%2$I, (%3$I)::pg_catalog.text, %4$L::pg_catalog.text[], '
        '%5$L::pg_catalog.interval, %6$L, %7$s, %8$L::pg_catalog.timestamptz, %9$L::pg_catalog.timestamptz) AS p '
        'FROM %10$s WHERE %11$s GROUP BY %1$I',
        user_column, time_column, event_column, steps, conversion_window, mode,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.breakdown_sql(events, breakdown_by) END,
        date_from, date_to, events, pg_catalog.array_to_string(conds, ' AND '));
END
$$;

COMMENT ON FUNCTION @extschema@.funnel_progress_sql(regclass, text[], interval, text, name, name, name, name, timestamptz, timestamptz) IS
'the query (as text) of stage one of funnel and funnel_dropoffs: one row (user_id, p funnel_progress) per user, validating the arguments';

CREATE FUNCTION @extschema@.funnel(
    events regclass,
    steps text[],
    conversion_window interval,
    mode text DEFAULT 'ordered',
    breakdown_by name DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (breakdown text, step integer, event_type text, users bigint, conversion_rate float8,
               median_seconds_from_previous float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- without a breakdown there is one group, shown even when empty
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH g AS (SELECT (u.p).breakdown AS b, @extschema@.funnel_matrix((u.p).reached, (u.p).seconds) AS m '
        '             FROM (%s) u WHERE (u.p).reached OPERATOR(pg_catalog.>) 0 GROUP BY 1), '
        '     h AS (SELECT * FROM g UNION ALL '
        '           SELECT NULL, NULL WHERE %L AND NOT EXISTS (SELECT 1 FROM g)) '
        'SELECT h.b, r.step, r.event_type, r.users, r.conversion_rate, r.median_seconds_from_previous '
        '  FROM h, @extschema@.funnel_rows(h.m, %L::pg_catalog.text[]) r '
        ' ORDER BY h.b NULLS LAST, r.step',
        @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by, user_column,
                                        time_column, event_column, date_from, date_to),
        breakdown_by IS NULL, steps);
END
$$;

COMMENT ON FUNCTION @extschema@.funnel(regclass, text[], interval, text, name, name, name, name, timestamptz, timestamptz) IS
'conversion funnel over a table of events, read with the caller''s privileges: per breakdown value and step, the users who reached the step or further, the conversion rate from step 1 and the median seconds from the previous step; modes ordered, strict and unordered';

CREATE FUNCTION @extschema@.funnel_dropoffs(
    events regclass,
    steps text[],
    conversion_window interval,
    step integer,
    mode text DEFAULT 'ordered',
    breakdown_by name DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (user_id bigint, breakdown text, started timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF step IS NULL OR step < 2 OR step > pg_catalog.cardinality(steps) THEN
        RAISE EXCEPTION 'drop-off step must be between 2 and the number of steps (%), got %',
                        pg_catalog.cardinality(steps), step
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Step k lists the users who reached step k - 1 but not step k.';
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT (u.user_id)::pg_catalog.int8, (u.p).breakdown, (u.p).started FROM (%s) u '
        ' WHERE (u.p).reached OPERATOR(pg_catalog.=) %s ORDER BY 1',
        @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by, user_column,
                                        time_column, event_column, date_from, date_to),
        step - 1);
END
$$;

COMMENT ON FUNCTION @extschema@.funnel_dropoffs(regclass, text[], interval, integer, text, name, name, name, name, timestamptz, timestamptz) IS
'the users who reached step - 1 of a funnel but not step (the intervention list), with the breakdown value and start of their furthest attempt';

-- User paths (issue 15): src/analytics/paths.sql

--------------------------------------------------------------------------
-- User paths: what users do after (or before) an event
--
-- Each user's events are put in one order (time, then event type in byte
-- order, so ties are broken the same way every run); the anchor is the
-- user's first event of the given type (starting in [date_from, date_to)
-- when given), and the user's path is the next (or previous) `depth` events
-- in that order, nearest first.  Users with fewer events have a shorter
-- path; {} means the anchor was their last (first) event.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.paths(
    events regclass,
    event text,
    direction text DEFAULT 'next',
    depth integer DEFAULT 3,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL)
RETURNS TABLE (path text[], users bigint, share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    anchor_cond text := 'true';
BEGIN
    IF events IS NULL OR event IS NULL OR direction IS NULL OR depth IS NULL
       OR user_column IS NULL OR time_column IS NULL OR event_column IS NULL THEN
        RAISE EXCEPTION 'path arguments other than date_from and date_to must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.lower(direction) NOT IN ('next', 'previous') THEN
        RAISE EXCEPTION 'unknown path direction "%"', direction
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''next'' or ''previous''.';
    END IF;
    IF depth NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'path depth must be between 1 and 100, got %', depth
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF date_from IS NOT NULL THEN
        anchor_cond := pg_catalog.format('e.t OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz', date_from);
    END IF;
    IF date_to IS NOT NULL THEN
        anchor_cond := anchor_cond || pg_catalog.format(' AND e.t OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz',
                                                        date_to);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, (%3$I)::pg_catalog.text AS ev, '
        '                  pg_catalog.row_number() OVER (PARTITION BY %1$I '
        '                      ORDER BY %2$I, (%3$I)::pg_catalog.text COLLATE "C") AS pos '
        '             FROM %4$s WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL), '
        '     a AS (SELECT DISTINCT ON (e.u) e.u, e.pos FROM e '
        '            WHERE e.ev OPERATOR(pg_catalog.=) %5$L AND %6$s ORDER BY e.u, e.pos), '
        '     p AS (SELECT a.u, pg_catalog.array_agg(e.ev ORDER BY e.pos %7$s) AS path '
        '             FROM a JOIN e ON e.u OPERATOR(pg_catalog.=) a.u '
        '              AND e.pos BETWEEN a.pos %8$s AND a.pos %9$s '
        '            GROUP BY a.u) '
        'SELECT COALESCE(p.path, ''{}''::pg_catalog.text[]), pg_catalog.count(*), '
        '       pg_catalog.count(*)::pg_catalog.float8 '
        '       OPERATOR(pg_catalog./) pg_catalog.sum(pg_catalog.count(*)) OVER ()::pg_catalog.float8 '
        '  FROM a LEFT JOIN p ON p.u OPERATOR(pg_catalog.=) a.u '
        ' GROUP BY 1 ORDER BY 2 DESC, 1',
        user_column, time_column, event_column, events, event, anchor_cond,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN 'ASC' ELSE 'DESC' END,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN '+ 1' ELSE pg_catalog.format('- %s', depth) END,
        CASE WHEN pg_catalog.lower(direction) = 'next' THEN pg_catalog.format('+ %s', depth) ELSE '- 1' END);
END
$$;

COMMENT ON FUNCTION @extschema@.paths(regclass, text, text, integer, name, name, name, timestamptz, timestamptz) IS
'user paths: the most frequent sequences of the next (or previous) depth events after (before) each user''s first event of a type, nearest first, with the users who took each and their share';

-- Query shaping (issue 15): src/analytics/shaping.sql, and cohort_table,
-- lifecycle and stickiness with breakdown_by, date_from, date_to, time_zone
-- and a complete column (new result columns: dropped and created again; no
-- view or other object of the extension depends on them)

CREATE FUNCTION @extschema@.first_touch_sql(user_column name, time_column name, breakdown text, is_start text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        'pg_catalog.first_value(%1$s) OVER (PARTITION BY %2$I ORDER BY (%4$s) IS NOT TRUE, %3$I, '
        '(%1$s) COLLATE "C")', breakdown, user_column, time_column, is_start)
$$;

COMMENT ON FUNCTION @extschema@.first_touch_sql(name, name, text, text) IS
'the SQL expression (as text) of a user''s breakdown value: the one on their first event for which is_start holds (ties: the least in byte order, NULL last)';

CREATE FUNCTION @extschema@.range_sql(time_column name, date_from timestamptz, date_to timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.concat_ws(' AND ',
        pg_catalog.format('%I IS NOT NULL', time_column),
        CASE WHEN date_from IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz', time_column, date_from) END,
        CASE WHEN date_to IS NOT NULL
             THEN pg_catalog.format('%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz', time_column, date_to) END)
$$;

COMMENT ON FUNCTION @extschema@.range_sql(name, timestamptz, timestamptz) IS
'the SQL condition (as text) keeping the events of [date_from, date_to) (NULL: unbounded) with a time';

CREATE FUNCTION @extschema@.period_complete(period_start date, period text, data_from timestamptz, data_to timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT period_start::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) data_from
       AND (period_start OPERATOR(pg_catalog.+) ('1 ' OPERATOR(pg_catalog.||) period)::pg_catalog.interval)::pg_catalog.timestamptz
           OPERATOR(pg_catalog.<=) data_to
$$;

COMMENT ON FUNCTION @extschema@.period_complete(date, text, timestamptz, timestamptz) IS
'whether the day, week or month starting at period_start (in the session time zone) lies within [data_from, data_to]';
DROP FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text);
DROP FUNCTION @extschema@.lifecycle(regclass, text, name, name);
DROP FUNCTION @extschema@.stickiness(regclass, text, name, name);

CREATE FUNCTION @extschema@.cohort_table(
    events regclass,
    period text DEFAULT 'week',
    unbounded boolean DEFAULT false,
    recurring boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT NULL,
    start_event text DEFAULT NULL,
    return_event text DEFAULT NULL,
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, cohort_start date, cohort_size bigint, period_number integer, retained bigint,
               rate float8, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_start text := 'true';
    is_return text := 'true';
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    IF start_event IS NOT NULL THEN
        is_start := pg_catalog.format('%I OPERATOR(pg_catalog.=) %L', event_column, start_event);
    END IF;
    IF return_event IS NOT NULL THEN
        is_return := pg_catalog.format('%I OPERATOR(pg_catalog.=) %L', event_column, return_event);
    END IF;
    IF breakdown_by IS NOT NULL THEN
        brk := @extschema@.first_touch_sql(user_column, time_column,
                                            @extschema@.breakdown_sql(events, breakdown_by), is_start);
    END IF;
    -- cohort_matrix censors each group after its own latest event; every
    -- period up to the latest event of all is observable, so the cells a
    -- group lacks before it are filled with 0 retained users
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS s, %4$s AS r, %5$s AS b '
        '             FROM %6$s WHERE %1$I IS NOT NULL AND %7$s), '
        '     bounds AS (SELECT COALESCE(%8$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%9$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi, '
        '                       @extschema@.period_start(pg_catalog.max(e.t), %10$L) AS last FROM e), '
        '     g AS (SELECT e.b, @extschema@.cohort_matrix(e.u, e.t, %10$L, %11$L, e.s, e.r) AS m '
        '             FROM e GROUP BY e.b), '
        '     c AS (SELECT g.b, r.* FROM g, @extschema@.cohort_rows(g.m) r), '
        '     cells AS (SELECT DISTINCT c.b, c.cohort_start, c.cohort_size, '
        '                      (k.n OPERATOR(pg_catalog.-) 1)::pg_catalog.int4 AS period_number, k.p::pg_catalog.date AS p '
        '                 FROM c, bounds, pg_catalog.generate_series(c.cohort_start::pg_catalog.timestamp, '
        '                          bounds.last::pg_catalog.timestamp, (''1 '' OPERATOR(pg_catalog.||) %10$L)::pg_catalog.interval) '
        '                          WITH ORDINALITY AS k(p, n)) '
        'SELECT cells.b, cells.cohort_start, cells.cohort_size, cells.period_number, '
        '       COALESCE(c.retained, 0), '
        '       COALESCE(c.rate, 0::pg_catalog.float8), '
        '       @extschema@.period_complete(cells.p, %10$L, bounds.lo, bounds.hi) '
        '  FROM bounds, cells LEFT JOIN c ON c.b IS NOT DISTINCT FROM cells.b '
        '   AND c.cohort_start OPERATOR(pg_catalog.=) cells.cohort_start '
        '   AND c.period_number OPERATOR(pg_catalog.=) cells.period_number '
        ' ORDER BY cells.b NULLS LAST, cells.cohort_start, cells.period_number',
        user_column, time_column, is_start, is_return, brk, events,
        @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN recurring AND unbounded THEN 'recurring_unbounded'
             WHEN recurring THEN 'recurring'
             WHEN unbounded THEN 'unbounded'
             ELSE 'classic' END);
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_table(regclass, text, boolean, boolean, name, name, name, text, text, name, timestamptz, timestamptz, text) IS
'cohort retention table in long format (breakdown, cohort_start, cohort_size, period_number, retained, rate, complete) over a table of events, read with the caller''s privileges; classic or unbounded, first-time or recurring cohorts, censored after the latest event; optional breakdown (from the user''s first start event), date range and time zone; complete says the period lies within the data';

CREATE FUNCTION @extschema@.lifecycle(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, period_start date, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi FROM e), '
        '     g AS (SELECT e.b, @extschema@.lifecycle_matrix(e.u, e.t, %8$L) AS m FROM e GROUP BY e.b) '
        'SELECT g.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer, '
        '       g.m[i][2], g.m[i][3], g.m[i][4], g.m[i][5], '
        '       @extschema@.period_complete(DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer, '
        '                                   %8$L, bounds.lo, bounds.hi) '
        '  FROM g, bounds, pg_catalog.generate_subscripts(g.m, 1) AS i '
        ' ORDER BY g.b NULLS LAST, i',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period);
END
$$;

COMMENT ON FUNCTION @extschema@.lifecycle(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'users per period by lifecycle stage: new (first seen), returning (active now and in the previous period), resurrecting (active now, not in the previous period, seen before) and dormant (active in the previous period, not now; a negative count); optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';

CREATE FUNCTION @extschema@.stickiness(
    events regclass,
    period text DEFAULT 'week',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    breakdown_by name DEFAULT NULL,
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, period_start date, active_days integer, users bigint, share float8,
               complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- undone when the function returns (its SET clause opens a GUC level)
    IF time_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(e.t)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(e.t)) AS hi FROM e), '
        '     g AS (SELECT e.b, @extschema@.stickiness_matrix(e.u, e.t, %8$L) AS m FROM e GROUP BY e.b), '
        '     s AS (SELECT g.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) g.m[i][1]::integer AS p, '
        '                  k AS d, g.m[i][k OPERATOR(pg_catalog.+) 1] AS n '
        '             FROM g, pg_catalog.generate_subscripts(g.m, 1) AS i, '
        '                  pg_catalog.generate_series(1, pg_catalog.array_length(g.m, 2) OPERATOR(pg_catalog.-) 1) AS k) '
        'SELECT s.b, s.p, s.d, s.n, '
        '       s.n::pg_catalog.float8 OPERATOR(pg_catalog./) '
        '           pg_catalog.sum(s.n) OVER (PARTITION BY s.b, s.p)::pg_catalog.float8, '
        '       @extschema@.period_complete(s.p, %8$L, bounds.lo, bounds.hi) '
        '  FROM s, bounds WHERE s.n OPERATOR(pg_catalog.>) 0 '
        ' ORDER BY s.b NULLS LAST, s.p, s.d',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period);
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'distribution of active days per week or month: for each period and k, the users active on exactly k days of it and their share of the period''s active users; optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';


-- source: src/recommend/item_knn_similarity.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: item-kNN (and user-user) neighbours by Pearson
-- correlation or adjusted cosine
--
-- The same aggregate with a fifth argument naming the similarity; the
-- model is an ordinary item_knn_model (only positive similarities are
-- kept), so recommend() and the registry work unchanged.  With the user
-- and item columns swapped it gives user-user neighbours.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'item_knn_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer, text) IS
'transition function of retention.item_knn with a similarity: collects (user, item, weight) triples';

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer, similarity text) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer, text) IS
'item-kNN model with the given similarity: ''cosine'', ''pearson'' (correlation of the whole item vectors over the users of the input, absent = 0) or ''adjusted_cosine'' (Sarwar et al. 2001: weights minus each user''s mean weight, over the users both items have); only positive similarities are kept';

-- source: src/recommend/als.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: implicit-feedback ALS (matrix factorisation)
--
-- retention.als_model holds a factor vector for every user and item of the
-- training data (8 + 4 * factors bytes each).  Its text form is JSON; the
-- casts to and from jsonb store it in retention.models.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.als_model;

CREATE FUNCTION @extschema@.als_model_in(cstring)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_in(cstring) IS
'reads an als_model from its JSON text form, validating it';

CREATE FUNCTION @extschema@.als_model_out(@extschema@.als_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'als_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_out(@extschema@.als_model) IS
'writes an als_model as JSON: {"kind": "als", "format": 1, "factors": f, ..., "users": [[user_id, [factors]], ...], "items": [[item_id, [factors]], ...]}';

-- Stored out of line but uncompressed: factors compress poorly.
CREATE TYPE @extschema@.als_model (
    INPUT = @extschema@.als_model_in,
    OUTPUT = @extschema@.als_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = external
);

COMMENT ON TYPE @extschema@.als_model IS
'implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008): a float4 factor vector per user and per item, trained by retention.als_train';

CREATE FUNCTION @extschema@.als_model(model pg_catalog.jsonb)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model(pg_catalog.jsonb) IS
'reads an als_model from jsonb, e.g. the model column of retention.models';

CREATE CAST (pg_catalog.jsonb AS @extschema@.als_model)
    WITH FUNCTION @extschema@.als_model(pg_catalog.jsonb);

COMMENT ON CAST (pg_catalog.jsonb AS @extschema@.als_model) IS
'reads an als_model from its JSON form';

CREATE CAST (@extschema@.als_model AS pg_catalog.jsonb) WITH INOUT;

COMMENT ON CAST (@extschema@.als_model AS pg_catalog.jsonb) IS
'the JSON form of an als_model, as stored in retention.models';

--------------------------------------------------------------------------
-- Recommendation: training ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8) IS
'transition function of retention.als_train: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb) IS
'transition function of retention.als_train with options: collects (user, item, weight) triples';

CREATE FUNCTION @extschema@.als_train_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_combinefn(internal, internal) IS
'combine function of retention.als_train: the union of two partial states';

CREATE FUNCTION @extschema@.als_train_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'als_train_serialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_serialfn(internal) IS
'serialisation function of retention.als_train';

CREATE FUNCTION @extschema@.als_train_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'als_train_deserialfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_deserialfn(bytea, internal) IS
'deserialisation function of retention.als_train; checks every field of its input';

CREATE FUNCTION @extschema@.als_train_finalfn(internal)
RETURNS @extschema@.als_model
AS 'MODULE_PATHNAME', 'als_train_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_train_finalfn(internal) IS
'final function of retention.als_train: trains the factors';

-- support functions nobody calls by name
REVOKE EXECUTE ON FUNCTION
    @extschema@.als_train_transfn(internal, bigint, bigint, float8),
    @extschema@.als_train_transfn(internal, bigint, bigint, float8, pg_catalog.jsonb),
    @extschema@.als_train_combinefn(internal, internal),
    @extschema@.als_train_serialfn(internal),
    @extschema@.als_train_deserialfn(bytea, internal),
    @extschema@.als_train_finalfn(internal)
FROM PUBLIC;

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8) IS
'implicit-feedback ALS with the default options (32 factors, regularization 0.01, alpha 1, 15 iterations, 3 conjugate-gradient steps, seed 0); weights of a repeated pair add up; rows with a NULL are skipped';

CREATE AGGREGATE @extschema@.als_train(user_id bigint, item_id bigint, weight float8, options pg_catalog.jsonb) (
    SFUNC = @extschema@.als_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.als_train_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.als_train_combinefn,
    SERIALFUNC = @extschema@.als_train_serialfn,
    DESERIALFUNC = @extschema@.als_train_deserialfn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.als_train(bigint, bigint, float8, pg_catalog.jsonb) IS
'implicit-feedback ALS (Hu, Koren & Volinsky 2008, conjugate-gradient updates): options factors, regularization, alpha (confidence 1 + alpha * weight), iterations, cg_steps, seed; deterministic for a seed';

--------------------------------------------------------------------------
-- Recommendation: using ALS models
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.recommend(model @extschema@.als_model, user_id bigint, seen bigint[], k integer)
RETURNS TABLE (item_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend_als'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION @extschema@.recommend(@extschema@.als_model, bigint, bigint[], integer) IS
'the k items not in seen with the highest x_user . y_item; a user the model does not know (or a NULL user_id) is folded in from the seen items; highest first, ties by item_id; no rows without a known user or a known seen item';

CREATE FUNCTION @extschema@.als_user_vector(model @extschema@.als_model, user_id bigint, seen bigint[] DEFAULT NULL)
RETURNS float4[]
AS 'MODULE_PATHNAME', 'als_user_vector'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_user_vector(@extschema@.als_model, bigint, bigint[]) IS
'a user''s factor vector: the model''s own, or folded in from seen for a user it does not know; NULL when there is neither';

CREATE FUNCTION @extschema@.als_item_factors(model @extschema@.als_model)
RETURNS TABLE (item_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_item_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_item_factors(@extschema@.als_model) IS
'the item factors as rows (item_id, factors float4[]), by item_id; e.g. the embeddings table of nearest_by_embedding';

CREATE FUNCTION @extschema@.als_user_factors(model @extschema@.als_model)
RETURNS TABLE (user_id bigint, factors float4[])
AS 'MODULE_PATHNAME', 'als_user_factors'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION @extschema@.als_user_factors(@extschema@.als_model) IS
'the user factors as rows (user_id, factors float4[]), by user_id';

CREATE FUNCTION @extschema@.als_model_info(model @extschema@.als_model,
    OUT factors integer, OUT users integer, OUT items integer, OUT regularization float8,
    OUT alpha float8, OUT iterations integer, OUT cg_steps integer, OUT seed bigint, OUT bytes bigint)
AS 'MODULE_PATHNAME', 'als_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.als_model_info(@extschema@.als_model) IS
'factors, users, items, training options and size in bytes of an als model';

CREATE FUNCTION @extschema@.recommend_all(model @extschema@.als_model, interactions regclass,
    k integer, user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (user_id bigint, rank integer, item_id bigint, score float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 THEN
        RAISE EXCEPTION 'k must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT u.uid, x.rank::integer, x.item_id, x.score
          FROM (SELECT t.%1$I::bigint AS uid,
                       pg_catalog.array_agg(t.%2$I::bigint) FILTER (WHERE t.%2$I IS NOT NULL) AS seen
                  FROM %3$s t WHERE t.%1$I IS NOT NULL
                 GROUP BY t.%1$I) u
               CROSS JOIN LATERAL @extschema@.recommend($1, u.uid, u.seen, $2)
                   WITH ORDINALITY x(item_id, score, rank)
         ORDER BY u.uid, x.rank
    $query$, user_column, item_column, interactions)
    USING model, k;
END
$$;

COMMENT ON FUNCTION @extschema@.recommend_all(@extschema@.als_model, regclass, integer, name, name) IS
'batch recommendations from an ALS model: for every user of the interactions table, the k best items they have not interacted with (rank 1 first); users the model does not know are folded in from their items';

--------------------------------------------------------------------------
-- Recommendation: ALS models in the registry (retention.models)
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.als_save(name text, model @extschema@.als_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models m
     WHERE m.name = als_save.name AND m.kind <> 'als' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an als model', name, other_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    RETURN @extschema@.save_model(als_save.name, 'als', als_save.model::pg_catalog.jsonb,
                                  als_save.metrics, als_save.training_source);
END
$$;

COMMENT ON FUNCTION @extschema@.als_save(text, @extschema@.als_model, text, pg_catalog.jsonb) IS
'stores an als model in retention.models as the next version of name and returns that version';

CREATE FUNCTION @extschema@.als_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.als_model
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result @extschema@.als_model;
BEGIN
    SELECT m.model::@extschema@.als_model INTO result
      FROM @extschema@.models m
     WHERE m.name = als_load.name AND m.kind = 'als'
       AND (als_load.version IS NULL OR m.version = als_load.version)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'als model "%"%does not exist', name,
            CASE WHEN version IS NULL THEN ' ' ELSE ' version ' || version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.als_load(text, integer) IS
'the als model stored under name in retention.models, its latest version unless version is given; parses JSON, so call it once per query';

-- source: src/recommend/als_evaluation.sql (issue 19)

--------------------------------------------------------------------------
-- Recommendation: ALS, item-kNN, their blend and popularity on one split
--
-- The protocol of evaluate_item_knn (binary purchases, relevant = test items
-- new to a user of both periods), with ALS and a reciprocal-rank blend of
-- ALS and item-kNN (Cormack, Clarke & Buettcher 2009: score = sum over the
-- two lists of 1 / (60 + rank), over each list's top 50).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.evaluate_recommenders(train regclass, test regclass,
    neighbors integer DEFAULT 20, als_options pg_catalog.jsonb DEFAULT '{}', k integer DEFAULT 10,
    user_column name DEFAULT 'user_id', item_column name DEFAULT 'item_id')
RETURNS TABLE (recommender text, users bigint, precision_at_k float8, recall_at_k float8,
               ndcg_at_k float8, map_at_k float8, hit_rate float8, coverage float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF k IS NULL OR k <= 0 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = '22023',
            DETAIL = format('k is %s.', coalesce(k::text, 'null'));
    END IF;
    IF neighbors IS NULL OR neighbors <= 0 THEN
        RAISE EXCEPTION 'neighbors must be greater than zero' USING ERRCODE = '22023',
            DETAIL = format('neighbors is %s.', coalesce(neighbors::text, 'null'));
    END IF;
    IF als_options IS NULL THEN
        RAISE EXCEPTION 'als_options must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY EXECUTE format($query$
        WITH tr AS MATERIALIZED (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %3$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        te AS (
            SELECT DISTINCT t.%1$I::bigint AS u, t.%2$I::bigint AS i FROM %4$s t
             WHERE t.%1$I IS NOT NULL AND t.%2$I IS NOT NULL),
        knn AS MATERIALIZED (SELECT @extschema@.item_knn(tr.u, tr.i, 1.0, $1) AS m FROM tr),
        als AS MATERIALIZED (SELECT @extschema@.als_train(tr.u, tr.i, 1.0, $3) AS m FROM tr),
        popular AS MATERIALIZED (
            SELECT pg_catalog.array_agg(p.i ORDER BY p.n DESC, p.i) AS items
              FROM (SELECT tr.i, pg_catalog.count(*) AS n FROM tr GROUP BY tr.i) p),
        seen AS MATERIALIZED (SELECT tr.u, pg_catalog.array_agg(tr.i ORDER BY tr.i) AS items FROM tr GROUP BY tr.u),
        relevant AS (
            SELECT te.u, pg_catalog.array_agg(te.i ORDER BY te.i) AS items
              FROM te JOIN seen s ON s.u = te.u
             WHERE NOT te.i = ANY (s.items)
             GROUP BY te.u),
        ranked AS MATERIALIZED (
            SELECT r.u, r.items AS relevant, s.items AS seen,
                   ARRAY(SELECT x.item_id FROM knn CROSS JOIN LATERAL
                         @extschema@.recommend(knn.m, s.items, GREATEST($2, 50)) x) AS knn50,
                   ARRAY(SELECT x.item_id FROM als CROSS JOIN LATERAL
                         @extschema@.recommend(als.m, r.u, s.items, GREATEST($2, 50)) x) AS als50
              FROM relevant r JOIN seen s ON s.u = r.u),
        lists AS MATERIALIZED (
            SELECT l.u, l.relevant, l.knn50[1:$2] AS item_knn, l.als50[1:$2] AS als,
                   ARRAY(SELECT b.i FROM (
                             SELECT z.i, pg_catalog.sum(1.0 / (60 + z.rank)) AS s
                               FROM (SELECT a.i, a.rank FROM pg_catalog.unnest(l.knn50) WITH ORDINALITY a(i, rank)
                                     UNION ALL
                                     SELECT a.i, a.rank FROM pg_catalog.unnest(l.als50) WITH ORDINALITY a(i, rank)) z
                              GROUP BY z.i) b
                          ORDER BY b.s DESC, b.i LIMIT $2) AS blend,
                   ARRAY(SELECT x.item_id FROM popular CROSS JOIN LATERAL
                         @extschema@.recommend(NULL::@extschema@.item_knn_model, l.seen, $2, popular.items) x) AS popularity
              FROM ranked l),
        scored AS (
            SELECT v.recommender, l.u, v.list,
                   @extschema@.ranking_metrics(v.list, l.relevant, $2) AS m
              FROM lists l CROSS JOIN LATERAL (VALUES ('als'::text, l.als), ('blend', l.blend),
                                                      ('item_knn', l.item_knn), ('popularity', l.popularity)) v(recommender, list))
        -- averages in user order, so that parallel plans give the same bits
        SELECT s.recommender, pg_catalog.count(*), pg_catalog.avg((s.m).precision_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).recall_at_k ORDER BY s.u), pg_catalog.avg((s.m).ndcg_at_k ORDER BY s.u),
               pg_catalog.avg((s.m).ap_at_k ORDER BY s.u), pg_catalog.avg((s.m).hit_at_k ORDER BY s.u),
               (SELECT pg_catalog.count(DISTINCT x)::float8 FROM scored s2 CROSS JOIN LATERAL pg_catalog.unnest(s2.list) x
                 WHERE s2.recommender = s.recommender)
               / (SELECT pg_catalog.count(DISTINCT tr.i) FROM tr)
          FROM scored s
         GROUP BY s.recommender
         ORDER BY s.recommender
    $query$, user_column, item_column, train, test)
    USING neighbors, k, als_options;
END
$$;

COMMENT ON FUNCTION @extschema@.evaluate_recommenders(regclass, regclass, integer, pg_catalog.jsonb, integer, name, name) IS
'offline evaluation of als (als_train with als_options), item_knn (the given neighbours), their reciprocal-rank blend and popularity on one train/test split, with the protocol and columns of evaluate_item_knn';

-- source: src/loop/interventions.sql (issue 19)

--------------------------------------------------------------------------
-- Interventions: campaigns, randomised control arms and their effect
--
-- A campaign targets the at-risk customers of a pipeline.  Each customer is
-- put in the treatment or the control arm by a keyed hash, so the split is
-- random with respect to everything about the customer, reproducible by
-- anyone holding the key, and unchanged when assignment runs again.  The
-- effect is the difference of retention rates between the arms over a
-- horizon after assignment, with Newcombe's interval (method 10).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.wilson_interval(successes bigint, trials bigint, confidence float8 DEFAULT 0.95,
    OUT estimate float8, OUT lower float8, OUT upper float8)
AS 'MODULE_PATHNAME', 'wilson_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.wilson_interval(bigint, bigint, float8) IS
'a proportion successes / trials with its Wilson score interval (Wilson 1927) at the given confidence';

CREATE FUNCTION @extschema@.newcombe_interval(successes1 bigint, trials1 bigint,
    successes0 bigint, trials0 bigint, confidence float8 DEFAULT 0.95,
    OUT difference float8, OUT lower float8, OUT upper float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'newcombe_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.newcombe_interval(bigint, bigint, bigint, bigint, float8) IS
'the difference p1 - p0 of two independent proportions with Newcombe''s hybrid score interval (Newcombe 1998, method 10) and the two-sided p-value of the pooled z test (prop.test without continuity correction)';

CREATE TABLE @extschema@.campaigns (
    name             text        PRIMARY KEY,
    pipeline         text        NOT NULL DEFAULT 'default',
    control_fraction float8      NOT NULL DEFAULT 0.1
                                 CHECK (control_fraction > 0 AND control_fraction < 1),
    threshold        float8      NOT NULL DEFAULT 0.5
                                 CHECK (threshold >= 0 AND threshold <= 1),
    offer            text,
    assignment_key   bytea       NOT NULL
                                 DEFAULT pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                      OPERATOR(pg_catalog.||) pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                                 CHECK (pg_catalog.length(assignment_key) >= 16),
    auto_assign      boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.campaigns IS
'retention campaigns: which pipeline''s at-risk list (churn probability >= threshold) they target, the share kept as a control arm, the key of the assignment hash, and whether refresh() assigns new at-risk customers every night';

CREATE TABLE @extschema@.interventions (
    campaign    text        NOT NULL REFERENCES @extschema@.campaigns (name) ON UPDATE CASCADE,
    user_id     bigint      NOT NULL,
    arm         text        NOT NULL CHECK (arm IN ('treatment', 'control')),
    assigned_at timestamptz NOT NULL,
    offer       text,
    items       bigint[],
    churn_prob  float8,
    PRIMARY KEY (campaign, user_id)
);

COMMENT ON TABLE @extschema@.interventions IS
'one row per customer of a campaign: the arm (treatment receives the offer, control does not), when they were assigned, what was offered, and their churn probability at assignment';

-- the rows are user data: pg_dump must keep them
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.interventions', '');

CREATE FUNCTION @extschema@.assignment_arm(campaign text, user_id bigint, control_fraction float8, key bytea)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(
                          @extschema@.pseudonymize(campaign OPERATOR(pg_catalog.||) ':'
                                                   OPERATOR(pg_catalog.||) user_id::pg_catalog.text, key), 1, 13)
                     )::pg_catalog.bit(52)::pg_catalog.int8::pg_catalog.float8 / 4503599627370496.0
                     OPERATOR(pg_catalog.<) control_fraction
                THEN 'control' ELSE 'treatment' END
$$;

COMMENT ON FUNCTION @extschema@.assignment_arm(text, bigint, float8, bytea) IS
'the arm of a customer: control when the first 52 bits of HMAC-SHA256(key, campaign || '':'' || user_id), read as a fraction of 2^52, are below control_fraction, else treatment';

CREATE FUNCTION @extschema@.assign_interventions(campaign text, assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (arm text, customers bigint)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.campaigns;
BEGIN
    SELECT * INTO c FROM @extschema@.campaigns WHERE name = assign_interventions.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist', campaign USING ERRCODE = '42704',
            HINT = 'Create it with INSERT INTO retention.campaigns (name, pipeline, control_fraction) VALUES (...).';
    END IF;
    IF assigned_at IS NULL THEN
        RAISE EXCEPTION 'assigned_at must not be null' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    WITH added AS (
        INSERT INTO @extschema@.interventions AS i (campaign, user_id, arm, assigned_at, offer, items, churn_prob)
        SELECT c.name, r.user_id,
               @extschema@.assignment_arm(c.name, r.user_id, c.control_fraction, c.assignment_key),
               assign_interventions.assigned_at, c.offer, r.recommended_items, r.churn_prob
          FROM @extschema@.at_risk(c.threshold, c.pipeline) r
        ON CONFLICT ON CONSTRAINT interventions_pkey DO NOTHING
        RETURNING i.arm)
    SELECT a.arm, count(*) FROM added a GROUP BY a.arm ORDER BY a.arm DESC;
END
$$;

COMMENT ON FUNCTION @extschema@.assign_interventions(text, timestamptz) IS
'adds the campaign''s pipeline''s at-risk customers not yet in the campaign to retention.interventions, each in the arm assignment_arm gives, and returns how many went to each arm; customers already assigned keep their arm';

-- Per-customer outcome over (assigned_at, assigned_at + horizon]: any
-- purchase, and the revenue, from the pipeline's events table.
CREATE FUNCTION @extschema@.intervention_outcomes(campaign text, horizon interval)
RETURNS TABLE (user_id bigint, arm text, churn_prob float8, retained boolean, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.pipelines;
    as_of timestamptz;
BEGIN
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'horizon must be a positive interval' USING ERRCODE = '22023',
            DETAIL = format('horizon is %s.', coalesce(horizon::text, 'null'));
    END IF;
    SELECT pl.* INTO p FROM @extschema@.campaigns c JOIN @extschema@.pipelines pl ON pl.name = c.pipeline
     WHERE c.name = intervention_outcomes.campaign;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist or has no pipeline', campaign USING ERRCODE = '42704';
    END IF;
    as_of := coalesce(p.as_of, now());
    RETURN QUERY EXECUTE format($query$
        SELECT i.user_id, i.arm, i.churn_prob, o.n > 0, coalesce(o.revenue, 0)
          FROM @extschema@.interventions i
               CROSS JOIN LATERAL (
                   SELECT pg_catalog.count(*) AS n, pg_catalog.sum(e.%3$I)::pg_catalog.numeric AS revenue
                     FROM %1$s e
                    WHERE e.%2$I = i.user_id AND e.%4$I = $2
                      AND e.%5$I > i.assigned_at AND e.%5$I <= i.assigned_at + $3) o
         WHERE i.campaign = $1 AND i.assigned_at + $3 <= $4
    $query$, p.events, p.user_column, p.amount_column, p.event_column, p.time_column)
    USING campaign, p.purchase_event, horizon, as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.intervention_outcomes(text, interval) IS
'each customer of a campaign whose horizon has ended (assigned_at + horizon <= the pipeline''s as_of or now): their arm, churn probability at assignment, whether they bought anything in (assigned_at, assigned_at + horizon], and that revenue';

CREATE FUNCTION @extschema@.intervention_effect(campaign text, horizon interval, confidence float8 DEFAULT 0.95)
RETURNS TABLE (arm text, customers bigint, retained bigint, retention_rate float8,
               ci_low float8, ci_high float8, p_value float8,
               revenue numeric, revenue_per_customer float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (SELECT * FROM @extschema@.intervention_outcomes(campaign, horizon)),
    arms AS (
        SELECT a.arm, pg_catalog.count(o.user_id) AS customers,
               pg_catalog.count(o.user_id) FILTER (WHERE o.retained) AS retained,
               coalesce(pg_catalog.sum(o.revenue), 0) AS revenue
          FROM (VALUES ('treatment'), ('control')) a(arm) LEFT JOIN o ON o.arm OPERATOR(pg_catalog.=) a.arm
         GROUP BY a.arm),
    t AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'treatment'),
    c AS (SELECT * FROM arms WHERE arms.arm OPERATOR(pg_catalog.=) 'control'),
    result AS (
    SELECT a.arm, a.customers, a.retained, w.estimate, w.lower, w.upper, NULL::float8, a.revenue,
           CASE WHEN a.customers > 0 THEN (a.revenue / a.customers)::float8 END
      FROM arms a LEFT JOIN LATERAL @extschema@.wilson_interval(a.retained, NULLIF(a.customers, 0), confidence) w ON true
    UNION ALL
    SELECT 'treatment - control', NULL, NULL, n.difference, n.lower, n.upper, n.p_value,
           t.revenue OPERATOR(pg_catalog.-) c.revenue,
           CASE WHEN t.customers > 0 AND c.customers > 0
                THEN (t.revenue / t.customers - c.revenue / c.customers)::float8 END
      FROM t CROSS JOIN c
           LEFT JOIN LATERAL @extschema@.newcombe_interval(t.retained, NULLIF(t.customers, 0),
                                                           c.retained, NULLIF(c.customers, 0), confidence) n ON true)
    SELECT * FROM result r ORDER BY r.arm = 'treatment - control', r.arm = 'control'
$$;

COMMENT ON FUNCTION @extschema@.intervention_effect(text, interval, float8) IS
'the effect of a campaign: per arm the customers whose horizon has ended, how many bought in the horizon after assignment, the retention rate with its Wilson interval, and revenue; then treatment - control: the difference of rates with Newcombe''s hybrid score interval (1998, method 10) and the pooled z test''s p-value, and the differences of revenue';

CREATE FUNCTION @extschema@.intervention_uplift(campaign text, horizon interval, groups integer DEFAULT 10,
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (decile integer, min_churn_prob float8, max_churn_prob float8,
               treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8,
               difference float8, ci_low float8, ci_high float8, p_value float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH o AS (
        SELECT x.*, pg_catalog.ntile(groups) OVER (ORDER BY x.churn_prob, x.user_id) AS g
          FROM @extschema@.intervention_outcomes(campaign, horizon) x
         WHERE x.churn_prob IS NOT NULL),
    s AS (
        SELECT o.g, pg_catalog.min(o.churn_prob) AS lo, pg_catalog.max(o.churn_prob) AS hi,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment') AS nt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control') AS nc,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'treatment' AND o.retained) AS xt,
               pg_catalog.count(*) FILTER (WHERE o.arm OPERATOR(pg_catalog.=) 'control' AND o.retained) AS xc
          FROM o GROUP BY o.g)
    SELECT s.g::integer, s.lo, s.hi, s.nt, s.nc,
           CASE WHEN s.nt > 0 THEN s.xt::float8 / s.nt END,
           CASE WHEN s.nc > 0 THEN s.xc::float8 / s.nc END,
           n.difference, n.lower, n.upper, n.p_value
      FROM s LEFT JOIN LATERAL @extschema@.newcombe_interval(s.xt, NULLIF(s.nt, 0), s.xc, NULLIF(s.nc, 0), confidence) n ON true
     ORDER BY s.g
$$;

COMMENT ON FUNCTION @extschema@.intervention_uplift(text, interval, integer, float8) IS
'the effect of a campaign by churn-probability group (deciles by default, 1 = least at risk): per group the customers and retention rate of each arm and the difference with Newcombe''s interval and p-value; does targeting the riskiest pay most?';

CREATE FUNCTION @extschema@.assign_campaigns(pipeline text DEFAULT 'default',
    assigned_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (campaign text, arm text, customers bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name, a.arm, a.customers
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.assign_interventions(c.name, assign_campaigns.assigned_at) a
     WHERE c.pipeline = assign_campaigns.pipeline AND c.auto_assign
     ORDER BY c.name, a.arm DESC
$$;

COMMENT ON FUNCTION @extschema@.assign_campaigns(text, timestamptz) IS
'the nightly assignment: assign_interventions for every campaign of the pipeline with auto_assign, after refresh() has scored it; returns the customers added per campaign and arm';

CREATE FUNCTION @extschema@.campaign_effects(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days',
    confidence float8 DEFAULT 0.95)
RETURNS TABLE (campaign text, treatment_customers bigint, control_customers bigint,
               treatment_rate float8, control_rate float8, difference float8,
               ci_low float8, ci_high float8, p_value float8, revenue_per_customer_difference float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name,
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.customers) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'control'),
           pg_catalog.max(e.retention_rate) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_low) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.ci_high) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.p_value) FILTER (WHERE e.arm = 'treatment - control'),
           pg_catalog.max(e.revenue_per_customer) FILTER (WHERE e.arm = 'treatment - control')
      FROM @extschema@.campaigns c
           CROSS JOIN LATERAL @extschema@.intervention_effect(c.name, campaign_effects.horizon,
                                                              campaign_effects.confidence) e
     WHERE c.pipeline = campaign_effects.pipeline
     GROUP BY c.name, c.created_at
     ORDER BY c.created_at, c.name
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects(text, interval, float8) IS
'one row per campaign of a pipeline: the customers and retention rates of both arms over the horizon, the difference with Newcombe''s interval and p-value, and the difference of revenue per customer (what a report shows)';

CREATE FUNCTION @extschema@.campaign_effects_html(pipeline text DEFAULT 'default', horizon interval DEFAULT '30 days')
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '<section id="campaigns"><h2>Campaigns: treatment against control over '
        || @extschema@.html_escape(campaign_effects_html.horizon::text) || '</h2>'
        || coalesce(
               '<table class="metrics" id="campaign-effects"><thead><tr><th>campaign</th>'
               || '<th>treatment</th><th>control</th><th>treatment rate</th><th>control rate</th>'
               || '<th>difference (95% CI)</th><th>p-value</th><th>revenue per customer, difference</th></tr></thead><tbody>'
               || string_agg('<tr class="campaign"><td>' || @extschema@.html_escape(e.campaign) || '</td><td>'
                             || e.treatment_customers || '</td><td>' || e.control_customers || '</td><td>'
                             || coalesce(round((100 * e.treatment_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(round((100 * e.control_rate)::numeric, 1) || '%', '&ndash;') || '</td><td>'
                             || coalesce(CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '<b>' ELSE '' END
                                         || to_char(100 * e.difference, 'FMSG990.0') || ' pts ('
                                         || to_char(100 * e.ci_low, 'FMSG990.0') || ' to '
                                         || to_char(100 * e.ci_high, 'FMSG990.0') || ')'
                                         || CASE WHEN e.ci_low > 0 OR e.ci_high < 0 THEN '</b>' ELSE '' END,
                                         '&ndash;') || '</td><td>'
                             || coalesce(round(e.p_value::numeric, 4)::text, '&ndash;') || '</td><td>'
                             || coalesce(round(e.revenue_per_customer_difference::numeric, 2)::text, '&ndash;')
                             || '</td></tr>', '' ORDER BY e.ord)
               || '</tbody></table>',
               '<p>No campaign of this pipeline has customers whose horizon has ended.</p>')
        || '</section>'
      FROM (SELECT x.*, row_number() OVER () AS ord
              FROM @extschema@.campaign_effects(campaign_effects_html.pipeline, campaign_effects_html.horizon) x
             WHERE x.treatment_customers + x.control_customers > 0) e
$$;

COMMENT ON FUNCTION @extschema@.campaign_effects_html(text, interval) IS
'the campaigns of a pipeline as an HTML section for report_html: per campaign the customers and retention rates of both arms, the difference in points with its 95% Newcombe interval (bold when it excludes 0), the p-value and the difference of revenue per customer';

-- source: src/customer_base/mbgnbd.sql (MBG/NBD, issue 18)

--------------------------------------------------------------------------
-- Customer base: MBG/NBD (Batislam, Denizel & Filiztekin 2007)
--
-- The same (x, t_x, T) data as BG/NBD, so the fit shares its transition,
-- combine and serialisation functions; only the final function differs.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.mbgnbd_model;

CREATE FUNCTION @extschema@.mbgnbd_model_in(cstring)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_in(cstring) IS
'input function of mbgnbd_model: JSON with at least r, alpha, a and b';

CREATE FUNCTION @extschema@.mbgnbd_model_out(@extschema@.mbgnbd_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'mbgnbd_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_out(@extschema@.mbgnbd_model) IS
'output function of mbgnbd_model: JSON';

CREATE FUNCTION @extschema@.mbgnbd_model_recv(internal)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_recv(internal) IS
'binary input function of mbgnbd_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.mbgnbd_model_send(@extschema@.mbgnbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mbgnbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_model_send(@extschema@.mbgnbd_model) IS
'binary output function of mbgnbd_model';

CREATE TYPE @extschema@.mbgnbd_model (
    INPUT = @extschema@.mbgnbd_model_in,
    OUTPUT = @extschema@.mbgnbd_model_out,
    RECEIVE = @extschema@.mbgnbd_model_recv,
    SEND = @extschema@.mbgnbd_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.mbgnbd_model IS
'an MBG/NBD customer-base model (Batislam, Denizel & Filiztekin 2007): r, alpha, a, b and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.mbgnbd_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.mbgnbd_model) WITH INOUT;

COMMENT ON CAST (@extschema@.mbgnbd_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.mbgnbd_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.mbgnbd_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.mbgnbd_model
AS 'MODULE_PATHNAME', 'mbgnbd_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_fit_finalfn(@extschema@.agg_state) IS
'final function of mbgnbd_fit: the maximum-likelihood MBG/NBD model';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(float8, float8, float8) IS
'maximum-likelihood MBG/NBD model of customers given as (frequency, recency, t); rows with a NULL are ignored, invalid summaries are errors; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.mbgnbd_fit(frequency float8, recency float8, t float8, customers bigint) (
    SFUNC = @extschema@.bgnbd_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.mbgnbd_fit_finalfn,
    COMBINEFUNC = @extschema@.customer_groups_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.mbgnbd_fit(float8, float8, float8, bigint) IS
'maximum-likelihood MBG/NBD model of groups of customers sharing (frequency, recency, t), the form a distributed (Citus) GROUP BY feeds';

CREATE FUNCTION @extschema@.mbgnbd_p_alive(model @extschema@.mbgnbd_model,
                                           frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_p_alive(@extschema@.mbgnbd_model, float8, float8, float8) IS
'probability that a customer with summary (frequency, recency, t) is still alive at t under an MBG/NBD model; below 1 also for customers without repeat purchases';

CREATE FUNCTION @extschema@.mbgnbd_expected_purchases(model @extschema@.mbgnbd_model, horizon float8,
                                                      frequency float8, recency float8, t float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_expected_purchases(@extschema@.mbgnbd_model, float8, float8, float8, float8) IS
'expected purchases in the next horizon time units of a customer with summary (frequency, recency, t) under an MBG/NBD model';

CREATE FUNCTION @extschema@.mbgnbd_expected_purchases(model @extschema@.mbgnbd_model, horizon float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'mbgnbd_expected_purchases_new'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.mbgnbd_expected_purchases(@extschema@.mbgnbd_model, float8) IS
'unconditional E[X(horizon)]: expected repeat purchases of a new customer in horizon time units after the first purchase under an MBG/NBD model';

-- source: src/customer_base/bgbb.sql (issue 18)

--------------------------------------------------------------------------
-- Customer base: BG/BB, discrete opportunities (Fader, Hardie & Shang 2010)
--
-- bgbb_fit's state collapses customers sharing (x, t_x, n) into counts; a
-- setting with n opportunities has at most (n+1)(n+2)/2 patterns, so the
-- state stays small whatever the number of customers.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.bgbb_model;

CREATE FUNCTION @extschema@.bgbb_model_in(cstring)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_in(cstring) IS
'input function of bgbb_model: JSON with at least alpha, beta, gamma and delta';

CREATE FUNCTION @extschema@.bgbb_model_out(@extschema@.bgbb_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'bgbb_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_out(@extschema@.bgbb_model) IS
'output function of bgbb_model: JSON';

CREATE FUNCTION @extschema@.bgbb_model_recv(internal)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_recv(internal) IS
'binary input function of bgbb_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.bgbb_model_send(@extschema@.bgbb_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgbb_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_model_send(@extschema@.bgbb_model) IS
'binary output function of bgbb_model';

CREATE TYPE @extschema@.bgbb_model (
    INPUT = @extschema@.bgbb_model_in,
    OUTPUT = @extschema@.bgbb_model_out,
    RECEIVE = @extschema@.bgbb_model_recv,
    SEND = @extschema@.bgbb_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = main
);

COMMENT ON TYPE @extschema@.bgbb_model IS
'a BG/BB customer-base model for discrete transaction opportunities (Fader, Hardie & Shang 2010): alpha, beta, gamma and delta and the statistics of its fit; text form JSON';

CREATE CAST (@extschema@.bgbb_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.bgbb_model) WITH INOUT;

COMMENT ON CAST (@extschema@.bgbb_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.bgbb_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgbb_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer) IS
'transition function of bgbb_fit: counts one customer';

CREATE FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer, bigint)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'bgbb_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_transfn(@extschema@.agg_state, integer, integer, integer, bigint) IS
'transition function of bgbb_fit: counts a group of customers';

CREATE FUNCTION @extschema@.bgbb_fit_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'opportunity_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of bgbb_fit: adds the counts of customers sharing a pattern';

CREATE FUNCTION @extschema@.bgbb_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.bgbb_model
AS 'MODULE_PATHNAME', 'bgbb_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_fit_finalfn(@extschema@.agg_state) IS
'final function of bgbb_fit: the maximum-likelihood BG/BB model';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.bgbb_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgbb_fit(integer, integer, integer) IS
'maximum-likelihood BG/BB model of customers given as (frequency, recency, n): transactions, the last opportunity with one (0 if none) and the opportunities observed; NULL with a notice for fewer than 4 customers';

CREATE AGGREGATE @extschema@.bgbb_fit(frequency integer, recency integer, n integer, customers bigint) (
    SFUNC = @extschema@.bgbb_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.bgbb_fit_finalfn,
    COMBINEFUNC = @extschema@.bgbb_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.bgbb_fit(integer, integer, integer, bigint) IS
'maximum-likelihood BG/BB model of groups of customers sharing (frequency, recency, n), e.g. a recency/frequency pattern table';

CREATE FUNCTION @extschema@.bgbb_p_alive(model @extschema@.bgbb_model,
                                         frequency integer, recency integer, n integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgbb_p_alive'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_p_alive(@extschema@.bgbb_model, integer, integer, integer) IS
'probability that a customer with pattern (frequency, recency, n) is alive at opportunity n + 1 (Fader, Hardie & Shang 2010 eq. 11)';

CREATE FUNCTION @extschema@.bgbb_expected_transactions(model @extschema@.bgbb_model, horizon integer,
                                                       frequency integer, recency integer, n integer)
RETURNS float8
AS 'MODULE_PATHNAME', 'bgbb_expected_transactions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgbb_expected_transactions(@extschema@.bgbb_model, integer, integer, integer, integer) IS
'expected transactions in the next horizon opportunities of a customer with pattern (frequency, recency, n) (Fader, Hardie & Shang 2010 eq. 13); pattern (0, 0, 0) gives a new customer''s';

-- source: src/customer_base/sbg.sql (issue 18)

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
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT t, @extschema@.sbg_survival(model, t),
           CASE WHEN t OPERATOR(pg_catalog.>) 0 THEN @extschema@.sbg_retention_rate(model, t) END
      FROM pg_catalog.generate_series(0, periods) AS t
     ORDER BY t;
END;

COMMENT ON FUNCTION @extschema@.sbg_projection(@extschema@.sbg_model, integer) IS
'the projected survival S(t) and retention rate r_t of periods 0 .. periods, one row per period';

-- source: src/customer_base/survival_km.sql (issue 18)

--------------------------------------------------------------------------
-- Survival analysis: Kaplan-Meier curves and the log-rank test
--
-- km_fit's state collapses rows sharing (time, event) into weights, so it
-- holds one entry per distinct time and event flag; parallel workers (and,
-- through km_fit(time, event, weight) over a GROUP BY, Citus workers) merge
-- by adding weights.  The curve is exact: nothing is binned.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.survival_curve;

CREATE FUNCTION @extschema@.survival_curve_in(cstring)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'survival_curve_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_in(cstring) IS
'input function of survival_curve: JSON with arrays time, n_event and n_censor (the rest is derived)';

CREATE FUNCTION @extschema@.survival_curve_out(@extschema@.survival_curve)
RETURNS cstring
AS 'MODULE_PATHNAME', 'survival_curve_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_out(@extschema@.survival_curve) IS
'output function of survival_curve: JSON';

CREATE FUNCTION @extschema@.survival_curve_recv(internal)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'survival_curve_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_recv(internal) IS
'binary input function of survival_curve: magic number, format version, validated (time, events, censored) triples';

CREATE FUNCTION @extschema@.survival_curve_send(@extschema@.survival_curve)
RETURNS bytea
AS 'MODULE_PATHNAME', 'survival_curve_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_curve_send(@extschema@.survival_curve) IS
'binary output function of survival_curve';

CREATE TYPE @extschema@.survival_curve (
    INPUT = @extschema@.survival_curve_in,
    OUTPUT = @extschema@.survival_curve_out,
    RECEIVE = @extschema@.survival_curve_recv,
    SEND = @extschema@.survival_curve_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.survival_curve IS
'a Kaplan-Meier survival curve: per distinct time the subjects at risk, events, censored, survival and Greenwood variance; text form JSON';

CREATE CAST (@extschema@.survival_curve AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.survival_curve) WITH INOUT;

COMMENT ON CAST (@extschema@.survival_curve AS jsonb) IS 'the curve as JSON';
COMMENT ON CAST (jsonb AS @extschema@.survival_curve) IS 'a curve from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'km_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean) IS
'transition function of km_fit: adds one subject';

CREATE FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean, float8)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'km_fit_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_transfn(@extschema@.agg_state, float8, boolean, float8) IS
'transition function of km_fit: adds a weighted subject';

CREATE FUNCTION @extschema@.km_fit_combine(@extschema@.agg_state, @extschema@.agg_state)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'survival_groups_state_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_combine(@extschema@.agg_state, @extschema@.agg_state) IS
'combine function of km_fit: adds the weights of subjects sharing (time, event)';

CREATE FUNCTION @extschema@.km_fit_finalfn(@extschema@.agg_state)
RETURNS @extschema@.survival_curve
AS 'MODULE_PATHNAME', 'km_fit_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.km_fit_finalfn(@extschema@.agg_state) IS
'final function of km_fit: the Kaplan-Meier curve';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.km_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.km_fit(float8, boolean) IS
'Kaplan-Meier curve of subjects given as (time, event): event true for an observed event (churn) at time, false for censoring; rows with a NULL are ignored; NULL without rows';

CREATE AGGREGATE @extschema@.km_fit("time" float8, event boolean, weight float8) (
    SFUNC = @extschema@.km_fit_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.km_fit_finalfn,
    COMBINEFUNC = @extschema@.km_fit_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.km_fit(float8, boolean, float8) IS
'Kaplan-Meier curve of weighted subjects (R survfit case weights), or of pre-counted groups (time, event, count)';

CREATE FUNCTION @extschema@.survival_at(curve @extschema@.survival_curve, "time" float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'survival_at'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_at(@extschema@.survival_curve, float8) IS
'S(time): the Kaplan-Meier estimate at time (right-continuous step function; 1 before the first time, the last value after the last)';

CREATE FUNCTION @extschema@.survival_median(curve @extschema@.survival_curve)
RETURNS float8
AS 'MODULE_PATHNAME', 'survival_median'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.survival_median(@extschema@.survival_curve) IS
'median survival time as R survfit defines it (first time the curve falls below 0.5; the middle of an interval where it equals 0.5); NULL when it never reaches 0.5';

CREATE FUNCTION @extschema@.survival_table(curve @extschema@.survival_curve, conf_level float8 DEFAULT 0.95)
RETURNS TABLE ("time" float8, n_risk float8, n_event float8, n_censor float8,
               survival float8, std_err float8, lower float8, upper float8)
AS 'MODULE_PATHNAME', 'survival_table'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION @extschema@.survival_table(@extschema@.survival_curve, float8) IS
'the curve in long format, one row per distinct time: at risk, events, censored, survival, Greenwood standard error of survival and the log-transformed confidence interval (R conf.type = "log")';

CREATE FUNCTION @extschema@.logrank_test(curves @extschema@.survival_curve[],
                                         OUT chisq float8, OUT df integer, OUT p_value float8)
RETURNS record
AS 'MODULE_PATHNAME', 'logrank_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.logrank_test(@extschema@.survival_curve[]) IS
'log-rank test that the groups whose Kaplan-Meier curves are given share one survival function (R survdiff, rho = 0): chi-square, degrees of freedom, p-value';

-- source: src/customer_base/coxph.sql (issue 18)

--------------------------------------------------------------------------
-- Survival analysis: Cox proportional hazards
--
-- The partial likelihood couples every subject with everyone at risk at
-- each event time, so the exact fit needs every row: coxph_train's state
-- keeps (time, event, features) per row as packed doubles, parallel workers
-- collect rows and the leader fits (the combine function concatenates).
-- The result does not depend on row order or workers: rows are sorted by
-- their whole content before any sum.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.coxph_model;

CREATE FUNCTION @extschema@.coxph_model_in(cstring)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_in(cstring) IS
'input function of coxph_model: JSON with at least "coefficients"';

CREATE FUNCTION @extschema@.coxph_model_out(@extschema@.coxph_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'coxph_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_out(@extschema@.coxph_model) IS
'output function of coxph_model: JSON';

CREATE FUNCTION @extschema@.coxph_model_recv(internal)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_recv(internal) IS
'binary input function of coxph_model: magic number, format version, validated fields';

CREATE FUNCTION @extschema@.coxph_model_send(@extschema@.coxph_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'coxph_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_model_send(@extschema@.coxph_model) IS
'binary output function of coxph_model';

CREATE TYPE @extschema@.coxph_model (
    INPUT = @extschema@.coxph_model_in,
    OUTPUT = @extschema@.coxph_model_out,
    RECEIVE = @extschema@.coxph_model_recv,
    SEND = @extschema@.coxph_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.coxph_model IS
'a Cox proportional hazards model: coefficients, standard errors, log-likelihoods, concordance and the baseline cumulative hazard; text form JSON';

CREATE CAST (@extschema@.coxph_model AS jsonb) WITH INOUT;
CREATE CAST (jsonb AS @extschema@.coxph_model) WITH INOUT;

COMMENT ON CAST (@extschema@.coxph_model AS jsonb) IS 'the model as JSON';
COMMENT ON CAST (jsonb AS @extschema@.coxph_model) IS 'a model from JSON, e.g. from retention.models';

CREATE FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[]) IS
'transition function of coxph_train: keeps one row';

CREATE FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[], jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_transfn(internal, float8, boolean, float8[], jsonb) IS
'transition function of coxph_train with options: keeps one row';

CREATE FUNCTION @extschema@.coxph_train_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_combine(internal, internal) IS
'combine function of coxph_train: appends the other state''s rows';

CREATE FUNCTION @extschema@.coxph_train_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'coxph_train_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_serialize(internal) IS
'serialisation function of coxph_train';

CREATE FUNCTION @extschema@.coxph_train_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'coxph_train_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_deserialize(bytea, internal) IS
'deserialisation function of coxph_train';

CREATE FUNCTION @extschema@.coxph_train_finalfn(internal)
RETURNS @extschema@.coxph_model
AS 'MODULE_PATHNAME', 'coxph_train_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_train_finalfn(internal) IS
'final function of coxph_train: the fitted Cox model';

CREATE AGGREGATE @extschema@.coxph_train("time" float8, event boolean, features float8[]) (
    SFUNC = @extschema@.coxph_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.coxph_train_finalfn,
    COMBINEFUNC = @extschema@.coxph_train_combine,
    SERIALFUNC = @extschema@.coxph_train_serialize,
    DESERIALFUNC = @extschema@.coxph_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.coxph_train(float8, boolean, float8[]) IS
'Cox proportional hazards model of subjects (time, event, features), Efron ties; rows with a NULL are ignored; NULL without rows';

CREATE AGGREGATE @extschema@.coxph_train("time" float8, event boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.coxph_train_transfn,
    STYPE = internal,
    FINALFUNC = @extschema@.coxph_train_finalfn,
    COMBINEFUNC = @extschema@.coxph_train_combine,
    SERIALFUNC = @extschema@.coxph_train_serialize,
    DESERIALFUNC = @extschema@.coxph_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.coxph_train(float8, boolean, float8[], jsonb) IS
'Cox proportional hazards model with options {"ties": "efron" | "breslow", "max_iterations": n} (read from the first row)';

CREATE FUNCTION @extschema@.coxph_relative_hazard(model @extschema@.coxph_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'coxph_relative_hazard'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_relative_hazard(@extschema@.coxph_model, float8[]) IS
'exp(features . coefficients): the hazard relative to a subject whose features are all 0 (R predict(type = "risk", reference = "zero"))';

CREATE FUNCTION @extschema@.coxph_survival(model @extschema@.coxph_model, features float8[], "time" float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'coxph_survival'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.coxph_survival(@extschema@.coxph_model, float8[], float8) IS
'S(time | features) from the baseline cumulative hazard of the fit (Breslow, or Efron-adjusted for Efron fits, as R survfit.coxph)';

CREATE FUNCTION @extschema@.coxph_coefficients(model @extschema@.coxph_model, names text[] DEFAULT NULL)
RETURNS TABLE (term text, coefficient float8, hazard_ratio float8, std_err float8, z float8, p_value float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT COALESCE(names[i.i], 'x' OPERATOR(pg_catalog.||) i.i),
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'coefficients' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'hazard_ratio' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'std_err' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'z' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8,
           ((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'p_value' OPERATOR(pg_catalog.->>) (i.i OPERATOR(pg_catalog.-) 1))::pg_catalog.float8
      FROM pg_catalog.generate_series(1, pg_catalog.jsonb_array_length((model::pg_catalog.jsonb) OPERATOR(pg_catalog.->) 'coefficients')) AS i(i)
     ORDER BY i.i;
END;

COMMENT ON FUNCTION @extschema@.coxph_coefficients(@extschema@.coxph_model, text[]) IS
'one row per coefficient: the name (from names, else x1, x2, ...), coefficient, hazard ratio, standard error, Wald z and two-sided p-value';

-- source: src/customer_base/cohort_projection.sql (issue 18)

--------------------------------------------------------------------------
-- Customer base: cohort retention projected beyond the observed periods
--
-- A cohort matrix of survivor counts (cohort_matrix with unbounded
-- retention: active in period k or later, so counts never rise) is a
-- contractual survivor table per cohort.  One sBG model is fitted to all
-- cohorts together (each contributes its losses per period and its
-- survivors at its last observed period), and each cohort is projected from
-- its own last observed count: retained(k) = retained(L) S(k) / S(L).
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.cohort_projection(matrix bigint[], horizon integer)
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer,
               retained float8, rate float8, projected boolean)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    model @extschema@.sbg_model;
    bad record;
BEGIN
    IF horizon < 0 THEN
        RAISE EXCEPTION 'horizon must not be negative, not %', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT a.cohort_start, a.period_number INTO bad
      FROM @extschema@.cohort_rows(matrix) AS a
      JOIN @extschema@.cohort_rows(matrix) AS b
        ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
     WHERE b.retained > a.retained
     ORDER BY 1, 2 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cohort % retains more customers in period % than in period %',
                        bad.cohort_start, bad.period_number + 1, bad.period_number
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A projection needs survivor counts that never rise.',
                  HINT = 'Build the matrix with unbounded retention (cohort_matrix mode ''unbounded'').';
    END IF;

    -- lost during period t: (t, true); still there after the last period L: (L, false)
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT @extschema@.sbg_fit(g.t, g.churned, g.customers) INTO model
      FROM (SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS customers
              FROM r AS a JOIN r AS b
                ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
            UNION ALL
            SELECT last.period_number, false, last.retained FROM last) AS g
     WHERE g.customers > 0;

    RETURN QUERY
    WITH r AS (SELECT * FROM @extschema@.cohort_rows(matrix)),
         last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC)
    SELECT r.cohort_start, r.cohort_size, r.period_number, r.retained::float8,
           r.retained::float8 / r.cohort_size::float8, false
      FROM r
    UNION ALL
    SELECT last.cohort_start, last.cohort_size, k,
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number),
           last.retained * @extschema@.sbg_survival(model, k)
             / @extschema@.sbg_survival(model, last.period_number) / last.cohort_size::float8,
           true
      FROM last, generate_series(last.period_number + 1, horizon) AS k
     WHERE model IS NOT NULL
     ORDER BY 1, 3;
END
$$;

COMMENT ON FUNCTION @extschema@.cohort_projection(bigint[], integer) IS
'the cohorts of a cohort_matrix of survivor counts (unbounded retention) with periods up to horizon: observed rows as they are, later periods projected by one sBG model fitted to all cohorts (projected = true)';
