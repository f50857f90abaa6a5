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
'period-n retention (period ''hour'', ''day'', ''week'', ''month'' or ''quarter'' in the session time zone): share of users active in period n after their first event''s period, among those whose period n is observable';

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
'final function of cohort_matrix: one row per cohort {start date as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), size, retained at 0, 1, ...}';

CREATE AGGREGATE @extschema@.cohort_matrix(user_id bigint, ts timestamptz, period text, mode text,
                                           is_start boolean, is_return boolean) (
    SFUNC = @extschema@.cohort_matrix_trans,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.cohort_matrix_final,
    COMBINEFUNC = @extschema@.retention_combine,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.cohort_matrix(bigint, timestamptz, text, text, boolean, boolean) IS
'cohort retention matrix in one pass (mode ''classic'', ''unbounded'', ''recurring'' or ''recurring_unbounded''): a bigint[][] with one row {start date as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), size, retained at period 0, 1, ...} per cohort, NULL where censored; see cohort_table';

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
'growth accounting in one pass: a bigint[][] with one row {period start as days since 2000-01-01 (hours since 2000-01-01 00:00 for hour periods), new, returning, resurrecting, -dormant} per period; see lifecycle';

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
'stickiness in one pass: a bigint[][] with one row {period start as days since 2000-01-01, users active on 1 unit, 2 units, ...} per period: hours of a day, days of a week, month or quarter; see stickiness';

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

CREATE TYPE @extschema@.funnel_group AS (
    breakdown text,
    matrix float8[]
);

COMMENT ON TYPE @extschema@.funnel_group IS
'one breakdown value of a funnel_groups result and its funnel_matrix';

CREATE FUNCTION @extschema@.funnel_groups_trans(internal, bigint, timestamptz, text, text[], interval, text, text,
                                                timestamptz, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_trans(internal, bigint, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'transition function of funnel_groups: keeps the events that matter to the funnel, partitioned by user';

CREATE FUNCTION @extschema@.funnel_groups_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_combine(internal, internal) IS
'combine function of funnel_groups: unites the events of two partial states';

CREATE FUNCTION @extschema@.funnel_groups_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'funnel_groups_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_serialize(internal) IS
'serialisation function of funnel_groups';

CREATE FUNCTION @extschema@.funnel_groups_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'funnel_groups_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_deserialize(bytea, internal) IS
'deserialisation function of funnel_groups; validates what it reads';

-- STABLE: the window is added to timestamps in the session time zone
CREATE FUNCTION @extschema@.funnel_groups_final(internal)
RETURNS @extschema@.funnel_group[]
AS 'MODULE_PATHNAME', 'funnel_groups_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.funnel_groups_final(internal) IS
'final function of funnel_groups: each user''s furthest step, counted per breakdown value';

CREATE AGGREGATE @extschema@.funnel_groups(user_id bigint, ts timestamptz, event text, steps text[],
                                           conversion_window interval, mode text, breakdown text,
                                           date_from timestamptz, date_to timestamptz) (
    SFUNC = @extschema@.funnel_groups_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.funnel_groups_final,
    COMBINEFUNC = @extschema@.funnel_groups_combine,
    SERIALFUNC = @extschema@.funnel_groups_serialize,
    DESERIALFUNC = @extschema@.funnel_groups_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.funnel_groups(bigint, timestamptz, text, text[], interval, text, text, timestamptz, timestamptz) IS
'a whole funnel in one pass, without GROUP BY: per breakdown value of the users who reached step 1, the funnel_matrix of their funnel_user outcomes (a retention.funnel_group[] in byte order of the values, NULL last; NULL user ids are one user); keeps the events that matter (24 bytes each) in memory';

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
DECLARE
    -- validates every argument first, whichever form runs
    progress text := @extschema@.funnel_progress_sql(events, steps, conversion_window, mode, breakdown_by,
                                                     user_column, time_column, event_column, date_from, date_to);
    -- without a breakdown there is one group, shown even when empty
    result_sql constant text :=
        'WITH g AS (%s), '
        '     h AS (SELECT * FROM g UNION ALL '
        '           SELECT NULL, NULL WHERE %L AND NOT EXISTS (SELECT 1 FROM g)) '
        'SELECT h.b, r.step, r.event_type, r.users, r.conversion_rate, r.median_seconds_from_previous '
        '  FROM h, @extschema@.funnel_rows(h.m, %L::pg_catalog.text[]) r '
        ' ORDER BY h.b NULLS LAST, r.step';
    groups text := pg_catalog.format(
        'SELECT (u.p).breakdown AS b, @extschema@.funnel_matrix((u.p).reached, (u.p).seconds) AS m '
        '  FROM (%s) u WHERE (u.p).reached OPERATOR(pg_catalog.>) 0 GROUP BY 1', progress);
    conds text[] := '{}';
BEGIN
    -- One pass without GROUP BY (funnel_groups) when the user ids are
    -- integers and the table is not distributed and small enough that its
    -- events fit funnel_groups' memory limit whatever the statistics say (a
    -- heap row takes at least 28 bytes: at most 42 million rows); else per
    -- user, then by breakdown.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
                WHERE c.oid OPERATOR(pg_catalog.=) events AND a.attname OPERATOR(pg_catalog.=) user_column
                  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                  AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                     'pg_catalog.int8'::pg_catalog.regtype)
                  AND c.relkind IN ('r', 'm')
                  AND pg_catalog.pg_relation_size(c.oid) OPERATOR(pg_catalog./) 28 OPERATOR(pg_catalog.<=) 42000000)
       AND NOT @extschema@.is_distributed(events::pg_catalog.text) THEN
        IF date_from IS NOT NULL THEN
            conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.>=) %L::pg_catalog.timestamptz',
                                                time_column, date_from);
        END IF;
        IF date_to IS NOT NULL THEN
            conds := conds || pg_catalog.format(
                '%I OPERATOR(pg_catalog.<=) (%L::pg_catalog.timestamptz OPERATOR(pg_catalog.+) %L::pg_catalog.interval)',
                time_column, date_to, conversion_window);
        END IF;
        groups := pg_catalog.format(
            'SELECT x.breakdown AS b, x.matrix AS m '
            '  FROM (SELECT @extschema@.funnel_groups((%1$I)::pg_catalog.int8, %2$I, (%3$I)::pg_catalog.text, '
            '               %4$L::pg_catalog.text[], %5$L::pg_catalog.interval, %6$L, %7$s, '
            '               %8$L::pg_catalog.timestamptz, %9$L::pg_catalog.timestamptz) AS a FROM %10$s %11$s) s, '
            '       pg_catalog.unnest(s.a) x',
            user_column, time_column, event_column, steps, conversion_window, mode,
            CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
                 ELSE @extschema@.breakdown_sql(events, breakdown_by) END,
            date_from, date_to, events,
            CASE WHEN conds OPERATOR(pg_catalog.=) '{}' THEN ''
                 ELSE 'WHERE ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(conds, ' AND ') END);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(result_sql, groups, breakdown_by IS NULL, steps);
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

CREATE FUNCTION @extschema@.period_start_time(ts timestamptz, period text DEFAULT 'day')
RETURNS timestamp
AS 'MODULE_PATHNAME', 'period_start_time'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_start_time(timestamptz, text) IS
'local start (a timestamp without time zone) of the hour, day, ISO week (Monday), month or quarter containing ts in the session time zone: the period starts of cohort_table and lifecycle';

CREATE FUNCTION @extschema@.period_complete(period_start timestamp, period text, data_from timestamptz, data_to timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT period_start::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) data_from
       AND (period_start OPERATOR(pg_catalog.+)
            (CASE WHEN pg_catalog.lower(period) OPERATOR(pg_catalog.=) 'quarter' THEN '3 months'
                  ELSE '1 ' OPERATOR(pg_catalog.||) period END)::pg_catalog.interval)::pg_catalog.timestamptz
           OPERATOR(pg_catalog.<=) data_to
$$;

COMMENT ON FUNCTION @extschema@.period_complete(timestamp, text, timestamptz, timestamptz) IS
'whether the hour, day, week, month or quarter starting at the local time period_start (in the session time zone) lies within [data_from, data_to]';

CREATE FUNCTION @extschema@.matrix_period_start(key bigint, period text)
RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT TIMESTAMP '2000-01-01' OPERATOR(pg_catalog.+)
           CASE WHEN pg_catalog.lower(period) OPERATOR(pg_catalog.=) 'hour'
                THEN pg_catalog.make_interval(hours => key::pg_catalog.int4)
                ELSE pg_catalog.make_interval(days => key::pg_catalog.int4) END
$$;

COMMENT ON FUNCTION @extschema@.matrix_period_start(bigint, text) IS
'the local start of the period that the first column of a cohort or lifecycle matrix names: days since 2000-01-01, or hours since 2000-01-01 00:00 for hour periods';
-- cohort_rows unpacks the matrix with unnest (a few rows to the planner,
-- where two series of a thousand each made its callers JIT-compile), and
-- takes each cohort's start and size from that stream, not by subscripting
CREATE OR REPLACE FUNCTION @extschema@.cohort_rows(matrix bigint[])
RETURNS TABLE (cohort_start date, cohort_size bigint, period_number integer, retained bigint, rate float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 100
AS $$
    SELECT DATE '2000-01-01' OPERATOR(pg_catalog.+) y.start::integer, y.size, y.k, y.v,
           y.v::float8 OPERATOR(pg_catalog./) y.size::float8
      FROM (SELECT x.v, ((x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%) x.w)::integer OPERATOR(pg_catalog.-) 2 AS k,
                   pg_catalog.first_value(x.v) OVER w AS start, pg_catalog.nth_value(x.v, 2) OVER w AS size
              FROM (SELECT u.v, u.o, n.w
                      FROM (SELECT pg_catalog.array_length(matrix, 2) AS w OFFSET 0) AS n,
                           pg_catalog.unnest(matrix) WITH ORDINALITY AS u(v, o)) AS x
            WINDOW w AS (PARTITION BY (x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) x.w ORDER BY x.o
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) AS y
     WHERE y.k OPERATOR(pg_catalog.>=) 0 AND y.v IS NOT NULL
     ORDER BY 1, 3
$$;

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
RETURNS TABLE (breakdown text, cohort_start timestamp, cohort_size bigint, period_number integer, retained bigint,
               rate float8, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
    is_start text := 'true';
    is_return text := 'true';
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF (start_event IS NOT NULL OR return_event IS NOT NULL) AND event_column IS NULL THEN
        RAISE EXCEPTION 'start_event and return_event need event_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column that holds the event type, e.g. event_column => ''event_type''.';
    END IF;
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
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
    -- group lacks before it are filled with 0 retained users.  The extent
    -- of the data comes from the same scan: a second reference to the
    -- events would make PostgreSQL materialise them.  Without a breakdown
    -- there is nothing to group by.  The matrix is unpacked by unnest, which
    -- the planner expects to give a few rows, not by two series it would
    -- take for a thousand each: that estimate cost more than the scan and
    -- made even a small table's query pay for JIT compilation.  A cohort's
    -- start and size come from its row in that stream (subscripting the
    -- matrix per cell walks its null bitmap each time), and its periods are
    -- generated once per cohort, not once per cell.
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS s, %4$s AS r, %5$s AS b '
        '             FROM %6$s WHERE %1$I IS NOT NULL AND %7$s), '
        '     g AS (SELECT %12$s AS b, @extschema@.cohort_matrix(e.u, e.t, %10$L, %11$L, e.s, e.r) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi '
        '             FROM e %13$s), '
        '     bounds AS (SELECT COALESCE(%8$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%9$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi, '
        '                       @extschema@.period_start_time(pg_catalog.max(g.hi), %10$L) AS last FROM g), '
        '     x AS MATERIALIZED (SELECT g.b, u.v, u.o, n.w FROM g, '
        '                  LATERAL (SELECT pg_catalog.array_length(g.m, 2) AS w OFFSET 0) AS n, '
        '                  pg_catalog.unnest(g.m) WITH ORDINALITY AS u(v, o)), '
        '     y AS (SELECT x.b, x.v, ((x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) x.w)::pg_catalog.int4 '
        '                  OPERATOR(pg_catalog.-) 2 AS k, '
        '                  pg_catalog.first_value(x.v) OVER w AS start, pg_catalog.nth_value(x.v, 2) OVER w AS size '
        '             FROM x WINDOW w AS (PARTITION BY x.b, (x.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) x.w '
        '                                 ORDER BY x.o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)), '
        '     c AS (SELECT y.b, @extschema@.matrix_period_start(y.start, %10$L) AS cohort_start, '
        '                  y.size AS cohort_size, y.k AS period_number, y.v AS retained '
        '             FROM y WHERE y.k OPERATOR(pg_catalog.>=) 0 AND y.v IS NOT NULL), '
        '     cells AS (SELECT co.b, co.cohort_start, co.cohort_size, '
        '                      (k.n OPERATOR(pg_catalog.-) 1)::pg_catalog.int4 AS period_number, k.p '
        '                 FROM (SELECT DISTINCT c.b, c.cohort_start, c.cohort_size FROM c) AS co, bounds, '
        '                      pg_catalog.generate_series(co.cohort_start, bounds.last, '
        '                          (CASE pg_catalog.lower(%10$L) WHEN ''quarter'' THEN ''3 months'' '
        '                           ELSE ''1 '' OPERATOR(pg_catalog.||) %10$L END)::pg_catalog.interval) '
        '                          WITH ORDINALITY AS k(p, n)) '
        'SELECT cells.b, cells.cohort_start, cells.cohort_size, cells.period_number, '
        '       COALESCE(c.retained, 0), '
        '       COALESCE(c.retained, 0)::pg_catalog.float8 OPERATOR(pg_catalog./) cells.cohort_size::pg_catalog.float8, '
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
             ELSE 'classic' END,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
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
RETURNS TABLE (breakdown text, period_start timestamp, new_users bigint, returning_users bigint,
               resurrecting_users bigint, dormant_users bigint, complete boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
BEGIN
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     g AS (SELECT %9$s AS b, @extschema@.lifecycle_matrix(e.u, e.t, %8$L) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi FROM e %10$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi FROM g) '
        'SELECT g.b, @extschema@.matrix_period_start(g.m[i][1], %8$L), '
        '       g.m[i][2], g.m[i][3], g.m[i][4], g.m[i][5], '
        '       @extschema@.period_complete(@extschema@.matrix_period_start(g.m[i][1], %8$L), '
        '                                   %8$L, bounds.lo, bounds.hi) '
        '  FROM g, bounds, pg_catalog.generate_subscripts(g.m, 1) AS i '
        ' ORDER BY g.b NULLS LAST, i',
        user_column, time_column,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text'
             ELSE @extschema@.first_touch_sql(user_column, time_column,
                                              @extschema@.breakdown_sql(events, breakdown_by), 'true') END,
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
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
DECLARE
    caller_zone text;
BEGIN
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    -- the matrix is unpacked by unnest, which the planner expects to give a
    -- few rows (two series would be taken for a thousand each, an estimate
    -- that made even a small table's query pay for JIT compilation)
    RETURN QUERY EXECUTE pg_catalog.format(
        'WITH e AS (SELECT %1$I AS u, %2$I AS t, %3$s AS b FROM %4$s WHERE %1$I IS NOT NULL AND %5$s), '
        '     g AS (SELECT %9$s AS b, @extschema@.stickiness_matrix(e.u, e.t, %8$L) AS m, '
        '                  pg_catalog.min(e.t) AS lo, pg_catalog.max(e.t) AS hi FROM e %10$s), '
        '     bounds AS (SELECT COALESCE(%6$L::pg_catalog.timestamptz, pg_catalog.min(g.lo)) AS lo, '
        '                       COALESCE(%7$L::pg_catalog.timestamptz, pg_catalog.max(g.hi)) AS hi FROM g), '
        '     x AS (SELECT g.b, g.m, u.v AS n, ((u.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) '
        '                  pg_catalog.array_length(g.m, 2))::pg_catalog.int4 OPERATOR(pg_catalog.+) 1 AS i, '
        '                  ((u.o OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) '
        '                  pg_catalog.array_length(g.m, 2))::pg_catalog.int4 AS d '
        '             FROM g, pg_catalog.unnest(g.m) WITH ORDINALITY AS u(v, o)), '
        '     s AS (SELECT x.b, DATE ''2000-01-01'' OPERATOR(pg_catalog.+) x.m[x.i][1]::integer AS p, x.d, x.n '
        '             FROM x WHERE x.d OPERATOR(pg_catalog.>=) 1) '
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
        events, @extschema@.range_sql(time_column, date_from, date_to), date_from, date_to, period,
        CASE WHEN breakdown_by IS NULL THEN 'NULL::pg_catalog.text' ELSE 'e.b' END,
        CASE WHEN breakdown_by IS NULL THEN '' ELSE 'GROUP BY e.b' END);
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.stickiness(regclass, text, name, name, name, timestamptz, timestamptz, text) IS
'distribution of active days per week, month or quarter (active hours per day): for each period and k, the users active on exactly k days (hours) of it and their share of the period''s active users; optional breakdown (from the user''s first event), date range and time zone; complete says the period lies within the data';


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
        -- each model as one query parameter (an InitPlan), not a CTE row read
        -- back per user: a model larger than work_mem would come from a
        -- temporary file every time, where a parameter stays one value in
        -- memory that recommend() recognises and keeps prepared
        ranked AS MATERIALIZED (
            SELECT r.u, r.items AS relevant, s.items AS seen,
                   ARRAY(SELECT x.item_id
                           FROM @extschema@.recommend((SELECT knn.m FROM knn), s.items, GREATEST($2, 50)) x) AS knn50,
                   ARRAY(SELECT x.item_id
                           FROM @extschema@.recommend((SELECT als.m FROM als), r.u, s.items, GREATEST($2, 50)) x) AS als50
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
    -- one join, not a subquery per customer: without an index on the
    -- events' user column that read the whole table once per customer
    RETURN QUERY EXECUTE format($query$
        SELECT i.user_id, i.arm, i.churn_prob, pg_catalog.count(e.%2$I) > 0,
               coalesce(pg_catalog.sum(e.%3$I)::pg_catalog.numeric, 0)
          FROM @extschema@.interventions i
               LEFT JOIN %1$s e
                      ON e.%2$I = i.user_id AND e.%4$I = $2
                     AND e.%5$I > i.assigned_at AND e.%5$I <= i.assigned_at + $3
         WHERE i.campaign = $1 AND i.assigned_at + $3 <= $4
         GROUP BY i.campaign, i.user_id
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


-- churn (issue 16): logreg_train's elastic net
COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda and l1_ratio (elastic-net penalty lambda ((1 - l1_ratio)/2 ||coef||^2 + l1_ratio ||coef||_1), intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';

-- churn (issue 16): src/churn/encoder.sql
--------------------------------------------------------------------------
-- Churn feature encoder: raw rows (to_jsonb(row)) to feature vectors,
-- learned from the training rows and stored inside the model.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.churn_label_expr(label_column text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        $e$(CASE WHEN (src.%1$I)::pg_catalog.text OPERATOR(pg_catalog.~) '^\s*[-+]?[0-9.]+\s*$'
                 THEN (src.%1$I)::pg_catalog.text::pg_catalog.numeric::integer::boolean
                 ELSE (src.%1$I)::pg_catalog.text::boolean END)$e$, label_column)
$$;

COMMENT ON FUNCTION @extschema@.churn_label_expr(text) IS
'the SQL expression (over the FROM item src) that reads a label column as boolean: a number (0/1), a boolean, or text that reads as one (''Yes'', ''no'', ''t'', ''1''); used by train_churn_model and logreg_cv';

CREATE FUNCTION @extschema@.churn_encoder(source text, columns text[], options jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    opts        pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    min_count   pg_catalog.int8;
    max_levels  integer;
    standardize boolean;
    k           pg_catalog.text;
    st          record;
    n_levels    pg_catalog.int8;
    cols        pg_catalog.jsonb := '[]'::pg_catalog.jsonb;
    kept        pg_catalog.text[];
    rare        pg_catalog.text[];
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'source must not be NULL';
    END IF;
    IF columns IS NULL OR pg_catalog.cardinality(columns) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns must name at least one column and hold no NULL';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT c) FROM pg_catalog.unnest(columns) AS c)
       OPERATOR(pg_catalog.<>) pg_catalog.cardinality(columns) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns names a column twice';
    END IF;
    IF pg_catalog.jsonb_typeof(opts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'encoder options must be a JSON object';
    END IF;
    FOR k IN SELECT pg_catalog.jsonb_object_keys(opts) LOOP
        IF k OPERATOR(pg_catalog.<>) ALL (ARRAY['min_level_count', 'max_levels', 'standardize']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('unrecognized encoder option "%s"', k),
                HINT = 'Valid options are min_level_count, max_levels and standardize.';
        END IF;
    END LOOP;
    BEGIN
        min_count := COALESCE((opts OPERATOR(pg_catalog.->>) 'min_level_count')::pg_catalog.int8, 10);
        max_levels := COALESCE((opts OPERATOR(pg_catalog.->>) 'max_levels')::integer, 1000);
        standardize := COALESCE((opts OPERATOR(pg_catalog.->>) 'standardize')::boolean, false);
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count and max_levels are integers, standardize is true or false.';
    END;
    IF min_count OPERATOR(pg_catalog.<) 1 OR max_levels OPERATOR(pg_catalog.<) 1
       OR max_levels OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count must be at least 1 and max_levels between 1 and 1000.';
    END IF;

    -- one scan: every cell of the named columns, typed; per column its
    -- counts, mean and standard deviation, and the level counts of the
    -- columns that hold text
    FOR st IN EXECUTE pg_catalog.format(
        $q$WITH cells AS (
             SELECT u.i, x.t, e.value OPERATOR(pg_catalog.#>>) '{}' AS txt,
                    CASE WHEN x.t OPERATOR(pg_catalog.=) 'bool'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::boolean::integer::pg_catalog.float8
                         WHEN x.t OPERATOR(pg_catalog.=) 'number'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.float8 END AS num
               FROM (SELECT pg_catalog.to_jsonb(src) AS r FROM %s OFFSET 0) AS j
              CROSS JOIN LATERAL pg_catalog.jsonb_each(j.r) AS e
               JOIN pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i) ON u.name OPERATOR(pg_catalog.=) e.key
              CROSS JOIN LATERAL (SELECT CASE
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'null' THEN 'missing'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'boolean' THEN 'bool'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'number' THEN 'number'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.<>) 'string' THEN 'bad'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^\s*$' THEN 'missing'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~)
                             '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' THEN 'number'
                        ELSE 'text' END AS t) AS x),
           stats AS (
             SELECT u.i, u.name,
                    pg_catalog.count(c.t) AS n_present,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'missing') AS n_missing,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'text') AS n_text,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bad') AS n_bad,
                    pg_catalog.count(c.num) AS n_num,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bool') AS n_bool,
                    pg_catalog.avg(c.num) AS mean,
                    pg_catalog.stddev_pop(c.num) AS sd
               FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i)
               LEFT JOIN cells AS c ON c.i OPERATOR(pg_catalog.=) u.i
              GROUP BY u.i, u.name),
           levels AS (
             SELECT l.i, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(l.txt, l.n) ORDER BY l.txt COLLATE "C") AS counts
               FROM (SELECT c.i, c.txt, pg_catalog.count(*) AS n
                       FROM cells AS c
                      WHERE c.t OPERATOR(pg_catalog.<>) 'missing'
                        AND c.i OPERATOR(pg_catalog.=) ANY (SELECT s.i FROM stats AS s WHERE s.n_text OPERATOR(pg_catalog.>) 0)
                      GROUP BY c.i, c.txt) AS l
              GROUP BY l.i)
           SELECT s.*, l.counts FROM stats AS s LEFT JOIN levels AS l ON l.i OPERATOR(pg_catalog.=) s.i ORDER BY s.i$q$,
        @extschema@.source_from_item(source))
        USING columns
    LOOP
        IF st.n_present OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '42703',
                MESSAGE = pg_catalog.format('column "%s" is not in the rows of the source', st.name),
                HINT = 'Name columns of the source (their names are case-sensitive).';
        ELSIF st.n_bad OPERATOR(pg_catalog.>) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" holds arrays or objects', st.name),
                HINT = 'Encode scalar columns: numbers, booleans and text.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 AND st.n_num OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" has no values', st.name),
                HINT = 'Every value is NULL or blank; leave the column out.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 THEN
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'numeric', 'mean', st.mean, 'sd', st.sd,
                -- booleans are indicators, like the one-hot levels: never rescaled
                'standardize', standardize AND st.n_bool OPERATOR(pg_catalog.<) st.n_num,
                'missing_indicator', st.n_missing OPERATOR(pg_catalog.>) 0));
        ELSE
            SELECT pg_catalog.count(*),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.>=) min_count),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.<) min_count)
              INTO n_levels, kept, rare
              FROM pg_catalog.jsonb_array_elements(st.counts) WITH ORDINALITY AS x(e, o);
            IF n_levels OPERATOR(pg_catalog.>) max_levels THEN
                RAISE EXCEPTION USING ERRCODE = '54000',
                    MESSAGE = pg_catalog.format('column "%s" has %s distinct values, more than max_levels (%s)',
                                                st.name, n_levels, max_levels),
                    HINT = 'Leave identifiers out of the feature columns, or raise the max_levels option (at most 1000).';
            END IF;
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'categorical',
                'reference', kept[1],
                'levels', pg_catalog.to_jsonb(COALESCE(kept[2:], '{}'::pg_catalog.text[])),
                'rare', pg_catalog.to_jsonb(COALESCE(rare, '{}'::pg_catalog.text[])),
                'other', rare IS NOT NULL,
                'missing', st.n_missing OPERATOR(pg_catalog.>) 0));
        END IF;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('version', 1, 'standardize', standardize,
                                         'min_level_count', min_count, 'columns', cols);
END
$$;

COMMENT ON FUNCTION @extschema@.churn_encoder(text, text[], jsonb) IS
'learns a feature encoder from the rows of a table, view or query for the named columns: numeric columns (numbers, booleans as 0/1, text that is all numbers) with an optional standardisation and a missing-value indicator, text columns one-hot with the first level in byte order as the reference and levels seen fewer than min_level_count times (default 10) grouped as "(other)"; options min_level_count, max_levels (default 1000), standardize (default false)';

CREATE FUNCTION @extschema@.churn_encode(encoder jsonb, "row" jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'churn_encode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encode(jsonb, jsonb) IS
'the feature vector of a raw row (to_jsonb(row)) under an encoder from churn_encoder; a level never seen in training encodes as the reference level';

CREATE FUNCTION @extschema@.churn_encoder_features(encoder jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_encoder_features'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encoder_features(jsonb) IS
'the readable names of the features an encoder makes, in order (for example "Contract=Two year", "TotalCharges (missing)")';

CREATE FUNCTION @extschema@.churn_model_with_encoder(model @extschema@.logreg_model, encoder jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'churn_model_with_encoder'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_model_with_encoder(@extschema@.logreg_model, jsonb) IS
'the model with the encoder its features were made by stored inside it, so that churn_prob_row, churn_logit_row and churn_explain_row take raw rows; feature names from the encoder';

CREATE FUNCTION @extschema@.churn_prob_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_prob_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob_row(@extschema@.logreg_model, jsonb) IS
'churn probability of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_logit_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_logit_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit_row(@extschema@.logreg_model, jsonb) IS
'log-odds of churn of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_explain_row(model @extschema@.logreg_model, "row" jsonb,
    OUT feature_index integer, OUT feature text, OUT value float8, OUT coefficient float8,
    OUT mean float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'churn_explain_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain_row(@extschema@.logreg_model, jsonb) IS
'churn_explain of one raw row (to_jsonb(row)), encoded by the encoder stored in the model: one row per encoded feature';

CREATE FUNCTION @extschema@.churn_unseen(model @extschema@.logreg_model, "row" jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_unseen'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_unseen(@extschema@.logreg_model, jsonb) IS
'the values of a raw row that the model''s encoder never saw in training ("column=value"), which score as the reference level; empty when none';

-- churn (issue 16): src/churn/calibration.sql
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

-- churn (issue 16): src/churn/cv.sql
--------------------------------------------------------------------------
-- Churn model selection: k-fold cross-validation of logreg_train over a
-- path of penalties, as R's cv.glmnet reports it.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.logreg_cv(source text, label_column text, feature_columns text[],
                                      key_column text, options jsonb DEFAULT NULL)
RETURNS TABLE (l1_ratio float8, lambda float8, mean float8, std_err float8,
               n_nonzero integer, selected text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    opts       pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    train_opts pg_catalog.jsonb;
    k          integer;
    metric     pg_catalog.text;
    n_lambda   integer;
    min_ratio  pg_catalog.float8;
    lambdas    pg_catalog.float8[];
    rhos       pg_catalog.float8[];
    rho        pg_catalog.float8;
    lam        pg_catalog.float8;
    lam_max    pg_catalog.float8;
    f          integer;
    m          @extschema@.logreg_model;
    from_item  pg_catalog.text;
    label_expr pg_catalog.text;
    feats      pg_catalog.text;
    n_rows     pg_catalog.int8;
    n_pos      pg_catalog.int8;
    key        pg_catalog.text;
    fold_train pg_catalog.int8[];
BEGIN
    IF source IS NULL OR label_column IS NULL OR key_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'source, label_column and key_column must not be NULL';
    END IF;
    IF feature_columns IS NULL OR pg_catalog.cardinality(feature_columns) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'feature_columns must name at least one column';
    END IF;
    IF pg_catalog.jsonb_typeof(opts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'logreg_cv options must be a JSON object';
    END IF;
    -- the options of cross-validation; the others go to logreg_train, which checks them
    FOR key IN SELECT pg_catalog.jsonb_object_keys(opts) LOOP
        IF key OPERATOR(pg_catalog.=) ANY (ARRAY['feature_names', 'lambda']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('logreg_cv does not take the option "%s"', key),
                HINT = 'Give the penalties to try as "lambdas", or let logreg_cv make a path of "n_lambda" of them.';
        END IF;
    END LOOP;
    BEGIN
        k := COALESCE((opts OPERATOR(pg_catalog.->>) 'folds')::integer, 5);
        metric := COALESCE(opts OPERATOR(pg_catalog.->>) 'metric', 'deviance');
        n_lambda := COALESCE((opts OPERATOR(pg_catalog.->>) 'n_lambda')::integer, 20);
        min_ratio := COALESCE((opts OPERATOR(pg_catalog.->>) 'lambda_min_ratio')::pg_catalog.float8, 1e-4);
        lambdas := (SELECT pg_catalog.array_agg(e::pg_catalog.float8 ORDER BY e::pg_catalog.float8 DESC)
                      FROM pg_catalog.jsonb_array_elements_text(opts OPERATOR(pg_catalog.->) 'lambdas') AS e);
        rhos := CASE
                    WHEN pg_catalog.jsonb_typeof(opts OPERATOR(pg_catalog.->) 'l1_ratio') OPERATOR(pg_catalog.=) 'array'
                    THEN (SELECT pg_catalog.array_agg(e::pg_catalog.float8 ORDER BY o)
                            FROM pg_catalog.jsonb_array_elements_text(opts OPERATOR(pg_catalog.->) 'l1_ratio')
                                 WITH ORDINALITY AS u(e, o))
                    WHEN pg_catalog.jsonb_typeof(opts OPERATOR(pg_catalog.->) 'l1_ratio') OPERATOR(pg_catalog.=) 'number'
                    THEN ARRAY[(opts OPERATOR(pg_catalog.->>) 'l1_ratio')::pg_catalog.float8]
                    ELSE ARRAY[0::pg_catalog.float8] END;
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR invalid_parameter_value THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid logreg_cv option value',
            DETAIL = 'folds and n_lambda are integers, lambda_min_ratio a number, lambdas an array of numbers, l1_ratio a number or an array of numbers.';
    END;
    IF k OPERATOR(pg_catalog.<) 2 OR k OPERATOR(pg_catalog.>) 100
       OR n_lambda OPERATOR(pg_catalog.<) 1 OR n_lambda OPERATOR(pg_catalog.>) 1000
       OR NOT (min_ratio OPERATOR(pg_catalog.>) 0 AND min_ratio OPERATOR(pg_catalog.<) 1)
       OR metric OPERATOR(pg_catalog.<>) ALL (ARRAY['deviance', 'auc'])
       OR EXISTS (SELECT FROM pg_catalog.unnest(lambdas) AS l
                   WHERE NOT (l OPERATOR(pg_catalog.>=) 0 AND l OPERATOR(pg_catalog.<) 'Infinity'))
       OR EXISTS (SELECT FROM pg_catalog.unnest(rhos) AS r
                   WHERE r IS NULL OR NOT (r OPERATOR(pg_catalog.>=) 0 AND r OPERATOR(pg_catalog.<=) 1)) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid logreg_cv option value',
            DETAIL = 'folds is 2 to 100, n_lambda 1 to 1000, lambda_min_ratio in (0, 1), metric "deviance" or "auc", lambdas zero or positive, l1_ratio in [0, 1].';
    END IF;
    train_opts := opts OPERATOR(pg_catalog.-) ARRAY['folds', 'metric', 'n_lambda', 'lambda_min_ratio', 'lambdas', 'l1_ratio'];

    from_item := @extschema@.source_from_item(source);
    label_expr := @extschema@.churn_label_expr(label_column);
    feats := (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
                FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i));

    -- the usable rows, each in a fold: within each class, rows in the order
    -- of a hash of the key are dealt to the folds in turn (stratified and
    -- deterministic: the same key is in the same fold on every run)
    IF pg_catalog.to_regclass('pg_temp.logreg_cv_rows') IS NULL THEN
        CREATE TEMP TABLE logreg_cv_rows (y boolean, x pg_catalog.float8[], fold pg_catalog.int8);
        CREATE TEMP TABLE logreg_cv_scores
            (l1_ratio pg_catalog.float8, lambda pg_catalog.float8, fold integer, n pg_catalog.int8,
             score pg_catalog.float8, n_nonzero integer);
    END IF;
    TRUNCATE pg_temp.logreg_cv_rows, pg_temp.logreg_cv_scores;
    EXECUTE pg_catalog.format(
        $q$INSERT INTO pg_temp.logreg_cv_rows
           SELECT s.y, s.x,
                  ((pg_catalog.row_number() OVER (PARTITION BY s.y ORDER BY pg_catalog.hashtext(s.key), s.key COLLATE "C"))
                    OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%%) %s AS fold
             FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS x, (src.%I)::pg_catalog.text AS key
                     FROM %s) AS s
            WHERE s.y IS NOT NULL AND pg_catalog.array_position(s.x, NULL) IS NULL
              AND NOT (s.x OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])$q$,
        k, label_expr, feats, key_column, from_item);
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE r.y) INTO n_rows, n_pos
      FROM pg_temp.logreg_cv_rows AS r;
    IF n_pos OPERATOR(pg_catalog.<) k OR n_rows OPERATOR(pg_catalog.-) n_pos OPERATOR(pg_catalog.<) k THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('%s-fold cross-validation needs at least %s rows of each class', k, k),
            DETAIL = pg_catalog.format('The usable rows hold %s positive and %s negative labels.', n_pos, n_rows OPERATOR(pg_catalog.-) n_pos);
    END IF;

    fold_train := (SELECT pg_catalog.array_agg(n_rows OPERATOR(pg_catalog.-) c.n ORDER BY c.fold)
                     FROM (SELECT r.fold, pg_catalog.count(*) AS n FROM pg_temp.logreg_cv_rows AS r GROUP BY r.fold) AS c);

    FOREACH rho IN ARRAY rhos LOOP
        IF lambdas IS NULL THEN
            -- glmnet's path: from the smallest penalty that zeroes every
            -- coefficient, max_j |x_j'(y - mean y)| / rho (rho at least
            -- 0.001, as glmnet for ridge), down to lambda_min_ratio of it
            -- (unnest: the planner expects a few elements per array, where
            -- generate_subscripts' thousand made the query JIT-compile)
            SELECT pg_catalog.max(pg_catalog.abs(t.g)) OPERATOR(pg_catalog./) GREATEST(rho, 0.001)
              INTO lam_max
              FROM (SELECT u.j, pg_catalog.sum(u.v OPERATOR(pg_catalog.*)
                              (r.y::integer OPERATOR(pg_catalog.-) (n_pos::pg_catalog.float8 OPERATOR(pg_catalog./) n_rows))) AS g
                      FROM pg_temp.logreg_cv_rows AS r, pg_catalog.unnest(r.x) WITH ORDINALITY AS u(v, j)
                     GROUP BY u.j) AS t;
        END IF;
        FOR lam IN
            SELECT l FROM pg_catalog.unnest(COALESCE(lambdas,
                (SELECT pg_catalog.array_agg(lam_max OPERATOR(pg_catalog.*)
                            (min_ratio OPERATOR(pg_catalog.^) (i::pg_catalog.float8 OPERATOR(pg_catalog./) GREATEST(n_lambda OPERATOR(pg_catalog.-) 1, 1)))
                            ORDER BY i)
                   FROM pg_catalog.generate_series(0, n_lambda OPERATOR(pg_catalog.-) 1) AS i))) AS l
        LOOP
            FOR f IN 0 .. k OPERATOR(pg_catalog.-) 1 LOOP
                -- lambda is on the scale of a sum over the rows: a fold's fit
                -- on n_train rows takes lambda n_train / n, the same penalty
                -- per row (cv.glmnet keeps its per-row lambda across folds)
                SELECT @extschema@.logreg_train(r.y, r.x, train_opts OPERATOR(pg_catalog.||)
                           pg_catalog.jsonb_build_object('lambda',
                               lam OPERATOR(pg_catalog.*) (fold_train[f OPERATOR(pg_catalog.+) 1]::pg_catalog.float8 OPERATOR(pg_catalog./) n_rows),
                               'l1_ratio', rho))
                  INTO m FROM pg_temp.logreg_cv_rows AS r WHERE r.fold OPERATOR(pg_catalog.<>) f;
                INSERT INTO pg_temp.logreg_cv_scores
                SELECT rho, lam, f, pg_catalog.count(*),
                       CASE WHEN metric OPERATOR(pg_catalog.=) 'auc' THEN @extschema@.roc_auc(@extschema@.churn_prob(m, r.x), r.y)
                            -- binomial deviance per row, -2 log-likelihood, as cv.glmnet
                            ELSE 2 OPERATOR(pg_catalog.*) @extschema@.log_loss(@extschema@.churn_prob(m, r.x), r.y) END,
                       NULL
                  FROM pg_temp.logreg_cv_rows AS r WHERE r.fold OPERATOR(pg_catalog.=) f;
            END LOOP;
            -- the non-zero coefficients of the fit on all rows, as cv.glmnet's nzero
            SELECT @extschema@.logreg_train(r.y, r.x, train_opts OPERATOR(pg_catalog.||)
                       pg_catalog.jsonb_build_object('lambda', lam, 'l1_ratio', rho))
              INTO m FROM pg_temp.logreg_cv_rows AS r;
            UPDATE pg_temp.logreg_cv_scores AS s
               SET n_nonzero = (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements_text(m::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'coef') AS c
                                 WHERE c::pg_catalog.float8 OPERATOR(pg_catalog.<>) 0)
             WHERE s.l1_ratio OPERATOR(pg_catalog.=) rho AND s.lambda OPERATOR(pg_catalog.=) lam;
        END LOOP;
    END LOOP;

    -- mean over the folds weighted by their sizes, and its standard error
    -- sqrt(weighted mean of squared deviations / (k - 1)), as cv.glmnet
    RETURN QUERY
    WITH path AS (
        SELECT s.l1_ratio, s.lambda,
               pg_catalog.sum(s.n OPERATOR(pg_catalog.*) s.score) OPERATOR(pg_catalog./) pg_catalog.sum(s.n) AS mean,
               pg_catalog.max(s.n_nonzero) AS n_nonzero
          FROM pg_temp.logreg_cv_scores AS s GROUP BY s.l1_ratio, s.lambda),
    se AS (
        SELECT p.l1_ratio, p.lambda, p.mean, p.n_nonzero,
               pg_catalog.sqrt(pg_catalog.sum(s.n OPERATOR(pg_catalog.*) ((s.score OPERATOR(pg_catalog.-) p.mean) OPERATOR(pg_catalog.^) 2))
                               OPERATOR(pg_catalog./) pg_catalog.sum(s.n) OPERATOR(pg_catalog./) (k OPERATOR(pg_catalog.-) 1)) AS std_err
          FROM path AS p JOIN pg_temp.logreg_cv_scores AS s
            ON s.l1_ratio OPERATOR(pg_catalog.=) p.l1_ratio AND s.lambda OPERATOR(pg_catalog.=) p.lambda
         GROUP BY p.l1_ratio, p.lambda, p.mean, p.n_nonzero),
    signed AS (   -- lower is better
        SELECT e.*, CASE WHEN metric OPERATOR(pg_catalog.=) 'auc' THEN OPERATOR(pg_catalog.-) e.mean ELSE e.mean END AS loss
          FROM se AS e),
    best AS (
        SELECT DISTINCT ON (g.l1_ratio) g.l1_ratio, g.lambda AS lambda_min, g.loss OPERATOR(pg_catalog.+) g.std_err AS bound
          FROM signed AS g ORDER BY g.l1_ratio, g.loss, g.lambda DESC),
    one_se AS (
        SELECT b.l1_ratio, pg_catalog.max(g.lambda) AS lambda_1se
          FROM best AS b JOIN signed AS g ON g.l1_ratio OPERATOR(pg_catalog.=) b.l1_ratio
         WHERE g.loss OPERATOR(pg_catalog.<=) b.bound
         GROUP BY b.l1_ratio)
    SELECT g.l1_ratio, g.lambda, g.mean, g.std_err, g.n_nonzero::integer,
           CASE WHEN g.lambda OPERATOR(pg_catalog.=) b.lambda_min OR g.lambda OPERATOR(pg_catalog.=) o.lambda_1se
                THEN pg_catalog.concat_ws(', ',
                         CASE WHEN g.lambda OPERATOR(pg_catalog.=) b.lambda_min THEN 'lambda_min' END,
                         CASE WHEN g.lambda OPERATOR(pg_catalog.=) o.lambda_1se THEN 'lambda_1se' END) END
      FROM signed AS g
      JOIN best AS b ON b.l1_ratio OPERATOR(pg_catalog.=) g.l1_ratio
      JOIN one_se AS o ON o.l1_ratio OPERATOR(pg_catalog.=) g.l1_ratio
     ORDER BY pg_catalog.array_position(rhos, g.l1_ratio), g.lambda DESC;
END
$$;

COMMENT ON FUNCTION @extschema@.logreg_cv(text, text, text[], text, jsonb) IS
'k-fold cross-validation of logreg_train over a path of penalties, as R''s cv.glmnet: folds by a hash of key_column, stratified by the label; one row per (l1_ratio, lambda) with the mean and standard error of the fold scores (deviance or AUC), the non-zero coefficients of the fit on all rows, and selected = lambda_min / lambda_1se; options folds (5), metric, lambdas or n_lambda (20) and lambda_min_ratio (1e-4), l1_ratio (a number or an array), and any logreg_train option';

-- churn (issue 16): train_churn_model learns an encoder for text columns and
-- calibrates; churn_scores scores raw rows with the encoder


-- train_churn_model as merged: the encoder (issue 16) for text columns, the
-- multi-pass fit (issue 14) for a distributed training table

-- BEGIN loop (issue 12): the nightly loop survives operations

-- Model ownership (src/common/registry.sql): each model name has an owner role

CREATE TABLE @extschema@.model_owners (
    name       text        PRIMARY KEY,
    owner      name        NOT NULL DEFAULT CURRENT_USER,
    claimed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.model_owners IS
'the role owning each model name of retention.models: only its members add versions';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_owners', '');

-- who owns a name is no secret, and every reader of models checks it; a
-- role may claim a name only for itself (or a role it belongs to) and only
-- if it may write models (the policy below)
GRANT SELECT, INSERT ON @extschema@.model_owners TO PUBLIC;

CREATE FUNCTION @extschema@.role_is_member(member name, owner name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- false, not an error, when either role no longer exists
    SELECT COALESCE((SELECT pg_catalog.pg_has_role(m.oid, o.oid, 'MEMBER')
                       FROM pg_catalog.pg_roles AS m, pg_catalog.pg_roles AS o
                      WHERE m.rolname OPERATOR(pg_catalog.=) member
                        AND o.rolname OPERATOR(pg_catalog.=) owner), false)
$$;

COMMENT ON FUNCTION @extschema@.role_is_member(name, name) IS
'whether role member is owner or a member of it (false when either role does not exist)';

CREATE FUNCTION @extschema@.model_trusted(model_name text, trained_by name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT COALESCE((SELECT @extschema@.role_is_member(trained_by, o.owner)
                       FROM @extschema@.model_owners AS o
                      WHERE o.name OPERATOR(pg_catalog.=) model_name), false)
$$;

COMMENT ON FUNCTION @extschema@.model_trusted(text, name) IS
'whether a version of model_name written by trained_by is trusted: model_name has an owner and trained_by is a member of it';

CREATE FUNCTION @extschema@.trusted_model(model_name text, model_kind text, model_version integer DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m.model
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name AND m.kind OPERATOR(pg_catalog.=) model_kind
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC
     LIMIT 1
$$;

COMMENT ON FUNCTION @extschema@.trusted_model(text, text, integer) IS
'the JSON of a stored model of the given kind: the latest trusted version of model_name, or the given version if it is trusted; NULL when there is none. Every typed reader goes through it';


CREATE FUNCTION @extschema@.load_model(model_name text, model_kind text, model_version integer)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stored pg_catalog.jsonb := @extschema@.trusted_model(model_name, model_kind, model_version);
BEGIN
    IF stored IS NULL THEN
        RAISE EXCEPTION '% model "%"%does not exist', model_kind, model_name,
            CASE WHEN model_version IS NULL THEN ' ' ELSE ' version ' || model_version || ' ' END
            USING ERRCODE = '42704';
    END IF;
    RETURN stored;
END
$$;

COMMENT ON FUNCTION @extschema@.load_model(text, text, integer) IS
'trusted_model, or error 42704 when there is no such trusted version: the loaders of the recommendation models';


CREATE FUNCTION @extschema@.save_model_of_kind(model_name text, model_kind text, model pg_catalog.jsonb,
                                               training_source text, metrics pg_catalog.jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other_kind text;
BEGIN
    IF model_name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'name and model must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT m.kind INTO other_kind FROM @extschema@.models AS m
     WHERE m.name = model_name AND m.kind <> model_kind LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'model "%" is a % model, not an % model', model_name, other_kind, model_kind
            USING ERRCODE = '42809', HINT = 'Choose another name.';
    END IF;
    RETURN @extschema@.save_model(model_name, model_kind, model, metrics, training_source);
END
$$;

COMMENT ON FUNCTION @extschema@.save_model_of_kind(text, text, pg_catalog.jsonb, text, pg_catalog.jsonb) IS
'save_model for a name that holds models of one kind only (42809 otherwise): the savers of the recommendation models';


CREATE FUNCTION @extschema@.claim_model(model_name text)
RETURNS name
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_owner name;
BEGIN
    IF model_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'model name must not be NULL';
    END IF;
    INSERT INTO @extschema@.model_owners (name, owner) VALUES (model_name, CURRENT_USER)
    ON CONFLICT (name) DO NOTHING;
    SELECT o.owner INTO current_owner FROM @extschema@.model_owners AS o WHERE o.name = model_name;
    IF NOT @extschema@.role_is_member(CURRENT_USER, current_owner) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format('permission denied to add a version to model "%s"', model_name),
            DETAIL = pg_catalog.format('Model "%s" belongs to role "%s", and role "%s" is not a member of it.',
                                       model_name, current_owner, CURRENT_USER),
            HINT = 'Choose another model name, or ask the owner to grant you membership in its role.';
    END IF;
    RETURN current_owner;
END
$$;

COMMENT ON FUNCTION @extschema@.claim_model(text) IS
'makes the current role the owner of model_name if it has none, and raises 42501 unless the current role is a member of its owner; returns the owner';

ALTER TABLE @extschema@.model_owners ENABLE ROW LEVEL SECURITY;
CREATE POLICY model_owners_read ON @extschema@.model_owners FOR SELECT USING (true);
CREATE POLICY model_owners_claim ON @extschema@.model_owners FOR INSERT
    WITH CHECK (@extschema@.role_is_member(CURRENT_USER, owner)
                AND pg_catalog.has_table_privilege('@extschema@.models', 'INSERT'));
CREATE POLICY model_owners_change ON @extschema@.model_owners FOR UPDATE
    USING (@extschema@.role_is_member(CURRENT_USER, owner))
    WITH CHECK (@extschema@.role_is_member(CURRENT_USER, owner));
CREATE POLICY model_owners_release ON @extschema@.model_owners FOR DELETE
    USING (@extschema@.role_is_member(CURRENT_USER, owner));

ALTER TABLE @extschema@.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON @extschema@.models FOR SELECT USING (true);
CREATE POLICY models_add ON @extschema@.models FOR INSERT
    WITH CHECK (trained_by OPERATOR(pg_catalog.=) CURRENT_USER
                AND @extschema@.model_trusted(name, trained_by));
CREATE POLICY models_change ON @extschema@.models FOR UPDATE
    USING (@extschema@.model_trusted(name, CURRENT_USER))
    WITH CHECK (trained_by OPERATOR(pg_catalog.=) CURRENT_USER
                AND @extschema@.model_trusted(name, trained_by));
CREATE POLICY models_delete ON @extschema@.models FOR DELETE
    USING (@extschema@.model_trusted(name, CURRENT_USER));


-- the names saved under 0.1.0 belong to the role that saved their first version
INSERT INTO @extschema@.model_owners (name, owner)
SELECT DISTINCT ON (m.name) m.name, m.trained_by
  FROM @extschema@.models AS m
 ORDER BY m.name, m.version;


-- Pipelines, runs and scores (src/loop/pipelines.sql)
ALTER TABLE @extschema@.pipelines
    ADD COLUMN order_column name,
    ADD COLUMN min_backtest_auc float8 NOT NULL DEFAULT 0.6
        CHECK (min_backtest_auc >= 0.5 AND min_backtest_auc <= 1);
ALTER TABLE @extschema@.refresh_runs DROP CONSTRAINT refresh_runs_status_check;
ALTER TABLE @extschema@.refresh_runs ADD CONSTRAINT refresh_runs_status_check
    CHECK (status IN ('running', 'ok', 'kept previous', 'failed', 'skipped', 'cancelled'));
ALTER TABLE @extschema@.customer_scores ADD COLUMN customer_base_model text;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs_id_seq', '');

COMMENT ON TABLE @extschema@.pipelines IS
'what retention.refresh(name) rebuilds: the events table, its column names (order_column: the order or invoice id, so purchases count orders), the churn definition, model options and the backtest AUC a score needs to be published; as_of NULL means now()';

COMMENT ON TABLE @extschema@.customer_scores IS
'the latest scores of every user of a pipeline: churn probability, P(alive), expected purchases over the churn horizon, lifetime value, value at risk, top churn drivers and recommended items; NULL where a step failed or the score did not earn its place on the backtest (retention.refresh_runs says why)';


-- The customer-base candidates of the loop (src/customer_base/candidates.sql)

CREATE FUNCTION @extschema@.customer_base_fit_problem(fit jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    est float8;
    se float8;
    no_se text[] := '{}';
    wide text[] := '{}';
    dropout float8;
    problems text[] := '{}';
BEGIN
    IF fit ->> 'kind' = 'nbd' THEN
        -- the purchase process alone: r and alpha must be positive and finite
        IF NOT COALESCE((fit ->> 'r')::float8 > 0 AND (fit ->> 'alpha')::float8 > 0
                        AND (fit ->> 'r')::float8 < 'Infinity' AND (fit ->> 'alpha')::float8 < 'Infinity', false) THEN
            RETURN 'r and alpha are not positive and finite';
        END IF;
        RETURN NULL;
    END IF;
    IF NOT COALESCE((fit ->> 'converged')::boolean, false) THEN
        problems := problems || 'not converged'::text;
    END IF;
    FOR k IN SELECT jsonb_object_keys(COALESCE(fit -> 'std_err', '{}')) ORDER BY 1 LOOP
        est := (fit ->> k)::float8;
        se := (fit -> 'std_err' ->> k)::float8;
        IF se IS NULL OR se = 'NaN'::float8 THEN
            no_se := no_se || k;
        ELSIF se > abs(est) THEN
            wide := wide || format('%s %s ± %s', k, round(est::numeric, 4), round(se::numeric, 4));
        END IF;
    END LOOP;
    IF cardinality(no_se) > 0 THEN
        problems := problems || ('no standard error for ' || array_to_string(no_se, ', '));
    END IF;
    IF cardinality(wide) > 0 THEN
        problems := problems || ('standard error above the estimate: ' || array_to_string(wide, ', '));
    END IF;
    -- a dropout process that vanishes leaves P(alive) = 1 for everyone
    IF fit ->> 'kind' IN ('bgnbd', 'mbgnbd') THEN
        dropout := (fit ->> 'a')::float8 / ((fit ->> 'a')::float8 + (fit ->> 'b')::float8);
        IF dropout < 1e-3 THEN
            problems := problems || format('mean dropout a/(a+b) = %s, near 0', btrim(to_char(dropout, '9.9EEEE')));
        END IF;
    ELSIF fit ->> 'kind' = 'pareto_nbd' THEN
        dropout := (fit ->> 's')::float8 / (fit ->> 'beta')::float8;
        IF dropout < 1e-4 THEN
            problems := problems || format('mean dropout rate s/beta = %s per period, near 0',
                                           btrim(to_char(dropout, '9.9EEEE')));
        END IF;
    END IF;
    IF cardinality(problems) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN array_to_string(problems, ', ');
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_fit_problem(jsonb) IS
'why the data do not identify a customer-base fit (jsonb of bgnbd_model, mbgnbd_model, pareto_nbd_model, gamma_gamma_model or an nbd model): not converged, a standard error missing or above its estimate, or a mean dropout near 0; NULL when the fit is usable';

CREATE FUNCTION @extschema@.customer_base_p_alive(model jsonb, frequency float8, recency float8, t float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.bgnbd_p_alive(model::text::@extschema@.bgnbd_model, frequency, recency, t);
    WHEN 'mbgnbd' THEN
        RETURN @extschema@.mbgnbd_p_alive(model::text::@extschema@.mbgnbd_model, frequency, recency, t);
    WHEN 'pareto_nbd' THEN
        RETURN @extschema@.pareto_nbd_p_alive(model::text::@extschema@.pareto_nbd_model, frequency, recency, t);
    ELSE
        -- nbd (and any kind without a dropout process)
        RETURN NULL;
    END CASE;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_p_alive(jsonb, float8, float8, float8) IS
'P(alive) of a customer under a customer-base model given as jsonb (kind bgnbd, mbgnbd or pareto_nbd); NULL for other kinds (nbd has no dropout process)';

CREATE FUNCTION @extschema@.customer_base_expected_purchases(model jsonb, horizon float8,
                                                            frequency float8, recency float8, t float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r float8;
    alpha float8;
BEGIN
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.bgnbd_expected_purchases(model::text::@extschema@.bgnbd_model, horizon, frequency, recency, t);
    WHEN 'pareto_nbd' THEN
        RETURN @extschema@.pareto_nbd_expected_purchases(model::text::@extschema@.pareto_nbd_model, horizon,
                                                         frequency, recency, t);
    WHEN 'mbgnbd' THEN
        RETURN @extschema@.mbgnbd_expected_purchases(model::text::@extschema@.mbgnbd_model, horizon,
                                                     frequency, recency, t);
    WHEN 'nbd' THEN
        -- gamma-mixed Poisson purchases without dropout: the posterior mean
        -- rate (r + x) / (alpha + T) times the horizon
        r := (model ->> 'r')::float8;
        alpha := (model ->> 'alpha')::float8;
        IF NOT COALESCE(r > 0 AND r < 'Infinity' AND alpha > 0 AND alpha < 'Infinity', false) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('nbd model parameters r = %s and alpha = %s must be positive and finite',
                                 COALESCE(r::text, 'missing'), COALESCE(alpha::text, 'missing'));
        END IF;
        IF NOT (horizon >= 0 AND horizon < 'Infinity' AND frequency >= 0 AND frequency < 'Infinity'
                AND t >= 0 AND t < 'Infinity') THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('horizon %s, frequency %s and t %s must be non-negative and finite', horizon, frequency, t);
        END IF;
        RETURN horizon * (r + frequency) / (alpha + t);
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown customer-base model kind "%s"', model ->> 'kind'),
            HINT = 'Use the jsonb of a bgnbd_model, an mbgnbd_model, a pareto_nbd_model or {"kind": "nbd", "r": ..., "alpha": ...}.';
    END CASE;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_expected_purchases(jsonb, float8, float8, float8, float8) IS
'expected repeat purchases of a customer in the next horizon periods under a customer-base model given as jsonb (kind bgnbd, mbgnbd, pareto_nbd or nbd)';

CREATE FUNCTION @extschema@.customer_base_clv(model jsonb, spend @extschema@.gamma_gamma_model,
                                             frequency float8, recency float8, t float8, monetary float8,
                                             periods integer, period float8, discount_rate float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rate float8;
    previous float8 := 0;
    cumulative float8;
    total float8 := 0;
BEGIN
    IF periods < 1 OR periods > 100000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('periods must be between 1 and 100000, not %s', periods);
    END IF;
    IF NOT (period > 0 AND period < 'Infinity') OR NOT (discount_rate >= 0 AND discount_rate < 'Infinity') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('period must be positive and discount_rate non-negative, both finite, not %s and %s',
                             period, discount_rate);
    END IF;
    -- expected spend per purchase times the purchases expected in each
    -- period, each period discounted by (1 + discount_rate) at its end
    CASE model ->> 'kind'
    WHEN 'bgnbd' THEN
        RETURN @extschema@.customer_lifetime_value(model::text::@extschema@.bgnbd_model, spend, frequency,
                                                   recency, t, monetary, periods, period, discount_rate);
    WHEN 'nbd' THEN
        -- a constant expected rate (r + x) / (alpha + T) per unit of time
        rate := @extschema@.customer_base_expected_purchases(model, 1, frequency, recency, t);
        FOR i IN 1 .. periods LOOP
            -- past e^700 the discount overflows soon, and what is left is
            -- below 1e-300 of each period's share
            EXIT WHEN i * ln(1 + discount_rate) > 700;
            total := total + rate * period / (1 + discount_rate) ^ i;
        END LOOP;
    WHEN 'pareto_nbd', 'mbgnbd' THEN
        -- MBG/NBD sums a series per period, of about 40 h / (alpha + T) terms
        -- when frequency <= a - r (bgnbd.c): refuse at once periods that
        -- would take more than 1e8 terms in all, as customer_lifetime_value
        -- does for BG/NBD, rather than run for minutes
        IF model ->> 'kind' = 'mbgnbd'
           AND frequency <= (model ->> 'a')::float8 - (model ->> 'r')::float8
           AND 20.0 * periods * periods * period / ((model ->> 'alpha')::float8 + t) > 1e8 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('%s periods of length %s are too many for this model and customer',
                                 periods, period),
                HINT = 'Use fewer or shorter periods.';
        END IF;
        FOR i IN 1 .. periods LOOP
            EXIT WHEN i * ln(1 + discount_rate) > 700;
            cumulative := @extschema@.customer_base_expected_purchases(model, i * period, frequency, recency, t);
            total := total + (cumulative - previous) / (1 + discount_rate) ^ i;
            previous := cumulative;
        END LOOP;
    ELSE
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown customer-base model kind "%s"', model ->> 'kind'),
            HINT = 'Use the jsonb of a bgnbd_model, an mbgnbd_model, a pareto_nbd_model or {"kind": "nbd", "r": ..., "alpha": ...}.';
    END CASE;
    RETURN @extschema@.gamma_gamma_expected_spend(spend, frequency, monetary) * total;
END
$$;

COMMENT ON FUNCTION @extschema@.customer_base_clv(jsonb, @extschema@.gamma_gamma_model, float8, float8, float8, float8, integer, float8, float8) IS
'expected spend of a customer over the next periods periods of length period under a customer-base model given as jsonb (kind bgnbd, mbgnbd, pareto_nbd or nbd) and a Gamma-Gamma spend model, each period discounted by (1 + discount_rate)';


-- Registry readers use trusted versions, writers claim the name (src/churn/registry.sql)



CREATE OR REPLACE FUNCTION @extschema@.churn_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.logreg_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.trusted_model(model_name, 'logreg', model_version)::pg_catalog.text::@extschema@.logreg_model
$$;

COMMENT ON FUNCTION @extschema@.churn_model(text, integer) IS
'a stored churn model: the latest trusted version of model_name (written by a member of its owner), or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';




CREATE OR REPLACE VIEW @extschema@.churn_models_latest WITH (security_invoker = true) AS
SELECT DISTINCT ON (m.name)
       m.name, m.version, m.model::text::@extschema@.logreg_model AS model,
       m.metrics, m.feature_names, m.trained_at, m.trained_by
  FROM @extschema@.models AS m
 WHERE m.kind = 'logreg' AND @extschema@.model_trusted(m.name, m.trained_by)
 ORDER BY m.name, m.version DESC;


COMMENT ON VIEW @extschema@.churn_models_latest IS
'the latest trusted version (written by a member of its owner) of every churn (logreg) model, as a logreg_model ready for churn_prob';


-- (src/recommend/registry.sql)

CREATE OR REPLACE FUNCTION @extschema@.item_knn_save(name text, model @extschema@.item_knn_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
    SELECT @extschema@.save_model_of_kind($1, 'item_knn', $2::pg_catalog.jsonb, $3, $4)
$$;

COMMENT ON FUNCTION @extschema@.item_knn_save(text, @extschema@.item_knn_model, text, pg_catalog.jsonb) IS
'stores an item_knn model in retention.models as the next version of name and returns that version';


CREATE OR REPLACE FUNCTION @extschema@.item_knn_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.item_knn_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.load_model($1, 'item_knn', $2)::@extschema@.item_knn_model
$$;

COMMENT ON FUNCTION @extschema@.item_knn_load(text, integer) IS
'the item_knn model stored under name in retention.models: its latest trusted version (written by a member of the name''s owner), or the given version if trusted; parses JSON, so call it once per query';

-- ALS models in the registry (src/recommend/als.sql): after the shared
-- readers and savers they call

CREATE FUNCTION @extschema@.als_save(name text, model @extschema@.als_model,
    training_source text DEFAULT NULL, metrics pg_catalog.jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
    SELECT @extschema@.save_model_of_kind($1, 'als', $2::pg_catalog.jsonb, $3, $4)
$$;

COMMENT ON FUNCTION @extschema@.als_save(text, @extschema@.als_model, text, pg_catalog.jsonb) IS
'stores an als model in retention.models as the next version of name and returns that version';


CREATE FUNCTION @extschema@.als_load(name text, version integer DEFAULT NULL)
RETURNS @extschema@.als_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.load_model($1, 'als', $2)::@extschema@.als_model
$$;

COMMENT ON FUNCTION @extschema@.als_load(text, integer) IS
'the als model stored under name in retention.models: its latest trusted version (written by a member of the name''s owner), or the given version if trusted; parses JSON, so call it once per query';



-- The nightly loop (src/loop/refresh.sql)

CREATE OR REPLACE FUNCTION @extschema@.save_model(name text, kind text, model jsonb,
                                       metrics jsonb DEFAULT NULL, training_source text DEFAULT NULL,
                                       feature_names text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_version integer;
BEGIN
    IF name IS NULL OR kind IS NULL OR model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'name, kind and model must not be NULL';
    END IF;
    -- only members of the name's owner add versions (the first saver owns it)
    PERFORM @extschema@.claim_model(name);
    -- one writer per model name at a time picks the next version
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('retention.models'),
                                             pg_catalog.hashtext(name));
    SELECT COALESCE(pg_catalog.max(m.version), 0) + 1 INTO new_version
      FROM @extschema@.models AS m WHERE m.name = save_model.name;
    INSERT INTO @extschema@.models (name, version, kind, model, metrics, feature_names, training_source)
    VALUES (save_model.name, new_version, save_model.kind, save_model.model, save_model.metrics,
            save_model.feature_names, save_model.training_source);
    RETURN new_version;
END
$$;


COMMENT ON FUNCTION @extschema@.save_model(text, text, jsonb, jsonb, text, text[]) IS
'stores a model (the jsonb form of any model type) as the next version of name in retention.models and returns the version; the first saver of a name owns it, later versions need membership in the owner (42501 otherwise)';


CREATE OR REPLACE FUNCTION @extschema@.drop_refresh_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['retention_training', 'retention_current', 'retention_purchased_items', 'retention_customers',
                             'retention_knn_train', 'retention_knn_test', 'retention_rfm',
                             'retention_rfm_cutoff', 'retention_backtest'] LOOP
        IF pg_catalog.to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION @extschema@.drop_refresh_tables() IS
'drops the temporary working tables of retention.refresh() in this session, if any';


CREATE FUNCTION @extschema@.refresh_backtest_entry(auc float8, n bigint, min_auc float8, scored text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'auc', pg_catalog.round(auc::pg_catalog.numeric, 4),
        'n', n,
        'scored', scored,
        'published', COALESCE(auc OPERATOR(pg_catalog.>=) min_auc, false),
        'reason', CASE WHEN auc IS NULL THEN 'no backtest was possible (no churner or no survivor scored)'
                       WHEN auc OPERATOR(pg_catalog.<) min_auc
                       THEN pg_catalog.format('its backtest AUC %s is below the threshold %s',
                                              pg_catalog.round(auc::pg_catalog.numeric, 4), min_auc) END))
$$;


COMMENT ON FUNCTION @extschema@.refresh_backtest_entry(float8, bigint, float8, text) IS
'refresh()''s record of one score''s backtest: its ROC AUC against who churned, the users scored, and whether it reaches min_auc and is published (with the reason when not)';


CREATE FUNCTION @extschema@.refresh_candidate(kind text, fit jsonb, fit_at_cutoff jsonb, horizon float8)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    auc_alive float8;
    auc_expected float8;
    n bigint;
    failure text;
BEGIN
    IF fit IS NULL OR fit_at_cutoff IS NULL THEN
        problem := 'too few customers to fit';
    ELSE
        problem := NULLIF(concat_ws('; ',
                                    'as of as_of: ' || @extschema@.customer_base_fit_problem(fit),
                                    'as of the backtest cutoff: ' || @extschema@.customer_base_fit_problem(fit_at_cutoff)),
                          '');
        -- Rank the customers of the cutoff: the likelier to have left
        -- (1 - P(alive)) or the fewer purchases expected, the likelier to
        -- churn.  A fit the data do not identify is not used: its P(alive)
        -- is ranked only to show what it would have scored, and its expected
        -- purchases not at all (drifting towards a degenerate optimum, a and
        -- b of BG/NBD in the millions, they take a series of a million terms
        -- per customer; the FILTER keeps them from being computed).  A model
        -- that cannot score someone (a horizon its series cannot reach) is
        -- not usable.
        BEGIN
            SELECT @extschema@.roc_auc(1 - @extschema@.customer_base_p_alive(fit_at_cutoff, m.frequency, m.recency, m.t),
                                       b.churned),
                   @extschema@.roc_auc(-@extschema@.customer_base_expected_purchases(fit_at_cutoff, horizon, m.frequency,
                                                                                     m.recency, m.t), b.churned)
                       FILTER (WHERE problem IS NULL),
                   count(*)
              INTO auc_alive, auc_expected, n
              FROM pg_temp.retention_rfm_cutoff AS m
              JOIN pg_temp.retention_backtest AS b ON b.user_id = m.user_id;
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
        END;
    END IF;
    RETURN jsonb_build_object('model', kind, 'fit', fit, 'fit_at_cutoff', fit_at_cutoff,
                              'problem', problem, 'failure', failure, 'n', n,
                              'p_alive_auc', round(auc_alive::numeric, 4),
                              'expected_purchases_auc', round(auc_expected::numeric, 4));
END
$$;

COMMENT ON FUNCTION @extschema@.refresh_candidate(text, jsonb, jsonb, float8) IS
'refresh()''s assessment of a customer-base candidate: why its fits are not identified (if so), the error of a customer it cannot score (if any), and the backtest AUCs of 1 - P(alive) and (for an identified fit) of expected purchases at the cutoff, over refresh()''s working tables';


CREATE FUNCTION @extschema@.refresh_withheld(candidates jsonb, auc_key text, min_auc float8)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'published', false,
        'reason', COALESCE(pg_catalog.string_agg(
            pg_catalog.format('%s: %s', c OPERATOR(pg_catalog.->>) 'model',
                CASE WHEN c OPERATOR(pg_catalog.->>) 'problem' IS NOT NULL
                     THEN 'not identified (' OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) 'problem')
                          OPERATOR(pg_catalog.||) ')'
                          OPERATOR(pg_catalog.||) COALESCE(', backtest AUC ' OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) auc_key), '')
                     WHEN c OPERATOR(pg_catalog.->>) 'failure' IS NOT NULL
                     THEN 'cannot score every customer of the backtest cutoff: '
                          OPERATOR(pg_catalog.||) (c OPERATOR(pg_catalog.->>) 'failure')
                     WHEN c OPERATOR(pg_catalog.->>) auc_key IS NULL THEN 'gives no such score'
                     ELSE pg_catalog.format('backtest AUC %s is below the threshold %s',
                                            c OPERATOR(pg_catalog.->>) auc_key, min_auc) END),
            '; '), 'no candidate model could be fitted'))
      FROM pg_catalog.jsonb_array_elements(candidates) AS c
$$;

COMMENT ON FUNCTION @extschema@.refresh_withheld(jsonb, text, float8) IS
'refresh()''s record of a withheld customer-base score: why each candidate (from refresh_candidate) did not earn it';


CREATE FUNCTION @extschema@.churn_explanation(model @extschema@.logreg_model, features float8[], n integer DEFAULT 3)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'feature', e.feature,
               'contribution', pg_catalog.round(e.contribution::pg_catalog.numeric, 4),
               'direction', e.direction,
               'reads', pg_catalog.format('%s is %s than average, which raises the churn risk',
                                          pg_catalog.replace(pg_catalog.regexp_replace(e.feature, '^log_', ''), '_', ' '),
                                          e.direction))
           ORDER BY e.contribution DESC)
      FROM (SELECT x.feature, x.contribution,
                   CASE WHEN x.value OPERATOR(pg_catalog.>) x.mean THEN 'higher' ELSE 'lower' END AS direction
              FROM @extschema@.churn_explain(model, features) AS x
             WHERE x.contribution OPERATOR(pg_catalog.>) 0
             ORDER BY x.contribution DESC, x.feature
             LIMIT n) AS e
$$;


COMMENT ON FUNCTION @extschema@.churn_explanation(@extschema@.logreg_model, float8[], integer) IS
'the n features pushing a customer''s churn probability up most (churn_explain), each with its contribution to the log-odds, whether the customer''s value is higher or lower than the training average, and a sentence saying so';




-- The report shows the backtest (src/loop/report.sql)



-- END loop (issue 12)

-- After every branch of 0.2.0: the final bodies of the functions that several
-- changed (issue 12 ownership, issue 14 distributed fit, issue 16 encoder)

CREATE OR REPLACE FUNCTION @extschema@.churn_scores(model_name text, source text, id_column text,
                                         model_version integer DEFAULT NULL)
RETURNS TABLE (id text, churn_prob float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    stored record;
BEGIN
    -- the latest churn model of either kind (the loop's champion may be a
    -- tree ensemble), or the given version
    SELECT m.version, m.kind, m.model, m.feature_names INTO stored
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])
       AND (model_version IS NULL OR m.version OPERATOR(pg_catalog.=) model_version)
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC
     LIMIT 1;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM @extschema@.models AS m
                              WHERE m.name OPERATOR(pg_catalog.=) model_name
                                AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])) THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s has no trusted version', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            DETAIL = 'Only versions written by a member of the role owning the name (retention.model_owners) are used.',
            HINT = 'Save it with save_model or train_churn_model, or claim the name first with retention.claim_model.';
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704',
            MESSAGE = pg_catalog.format('churn model %L%s does not exist', model_name,
                                        COALESCE(' version ' OPERATOR(pg_catalog.||) model_version::pg_catalog.text, '')),
            HINT = 'Train it with CALL retention.train_churn_model(...).';
    END IF;
    -- which model scored, so a silent switch of versions cannot mislead
    RAISE NOTICE USING MESSAGE = pg_catalog.format('churn_scores: churn model %L version %s (%s)',
                                                   model_name, stored.version, stored.kind);
    IF stored.kind OPERATOR(pg_catalog.=) 'logreg' AND stored.model OPERATOR(pg_catalog.?) 'encoder' THEN
        -- a model with an encoder scores the raw rows
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$SELECT (src.%I)::pg_catalog.text, @extschema@.churn_prob_row($1, pg_catalog.to_jsonb(src)) FROM %s$q$,
            id_column, @extschema@.source_from_item(source))
            USING stored.model::pg_catalog.text::@extschema@.logreg_model;
        RETURN;
    END IF;
    IF stored.feature_names IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churn model %L has no feature names', model_name),
            HINT = 'Score with retention.churn_prob and the features in training order.';
    END IF;
    IF stored.kind OPERATOR(pg_catalog.=) 'gbdt' THEN
        -- trees take NULL features as missing values
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$SELECT (src.%I)::pg_catalog.text, @extschema@.churn_prob($1, ARRAY[%s]::pg_catalog.float8[]) FROM %s$q$,
            id_column,
            (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
            @extschema@.source_from_item(source))
            USING stored.model::pg_catalog.text::@extschema@.gbdt_model;
        RETURN;
    END IF;
    -- users with a NULL feature get a NULL score; the columns are the model's feature names
    RETURN QUERY EXECUTE pg_catalog.format(
        $q$SELECT s.id, CASE WHEN pg_catalog.array_position(s.f, NULL) IS NULL
                             THEN @extschema@.churn_prob($1, s.f) END
             FROM (SELECT (src.%I)::pg_catalog.text AS id, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s) AS s$q$,
        id_column,
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(stored.feature_names) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source))
        USING stored.model::pg_catalog.text::@extschema@.logreg_model;
END
$$;

COMMENT ON FUNCTION @extschema@.churn_scores(text, text, text, integer) IS
'churn probability of every user of a table, view or query, with the latest (or the given) version of a stored churn model (logistic or tree ensemble), reading the feature columns named in the registry; a NOTICE names the version used; NULL for users with a NULL feature (a logistic model)';

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
    encoder    pg_catalog.jsonb;
    enc_opts   pg_catalog.jsonb;
    scored     pg_catalog.text;
    cal_method pg_catalog.text;
    calibration pg_catalog.jsonb;
    cal_before pg_catalog.jsonb;
    shift      pg_catalog.float8;
    uncalibrated @extschema@.logreg_model;
    types      pg_catalog.text[];
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
    from_item := @extschema@.source_from_item(source);
    IF opts OPERATOR(pg_catalog.?) 'calibration' THEN
        cal_method := opts OPERATOR(pg_catalog.->>) 'calibration';
        opts := opts OPERATOR(pg_catalog.-) 'calibration';
    END IF;

    -- the encoder: asked for with the "encoder" option (true or the options
    -- of churn_encoder), and always used when a feature column is not a number
    IF opts OPERATOR(pg_catalog.?) 'encoder' THEN
        enc_opts := opts OPERATOR(pg_catalog.->) 'encoder';
        opts := opts OPERATOR(pg_catalog.-) 'encoder';
        IF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.=) 'boolean' THEN
            enc_opts := CASE WHEN enc_opts::pg_catalog.text::boolean THEN '{}'::pg_catalog.jsonb END;
        ELSIF pg_catalog.jsonb_typeof(enc_opts) OPERATOR(pg_catalog.<>) 'object' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'the "encoder" option must be true, false or an object of churn_encoder options';
        END IF;
    ELSE
        EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM %s LIMIT 1',
            (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.pg_typeof(src.%I)::pg_catalog.text', c), ', ' ORDER BY i)
               FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
            from_item)
            INTO types;
        IF EXISTS (SELECT FROM pg_catalog.unnest(types) AS t
                    WHERE t OPERATOR(pg_catalog.<>) ALL (ARRAY['smallint', 'integer', 'bigint', 'real',
                                                             'double precision', 'numeric'])) THEN
            enc_opts := '{}'::pg_catalog.jsonb;
        END IF;
    END IF;

    IF enc_opts IS NULL AND NOT opts OPERATOR(pg_catalog.?) 'feature_names' THEN
        opts := opts OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('feature_names', pg_catalog.to_jsonb(feature_columns));
    END IF;
    label_expr := @extschema@.churn_label_expr(label_column);
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

    IF enc_opts IS NOT NULL THEN
        -- learned on the training rows only, like the coefficients
        encoder := @extschema@.churn_encoder(
            pg_catalog.format('SELECT src.* FROM %s WHERE NOT (%s)', from_item, test_expr),
            feature_columns, enc_opts);
        opts := opts OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('feature_names',
                pg_catalog.to_jsonb(@extschema@.churn_encoder_features(encoder)));
        feats := pg_catalog.format('@extschema@.churn_encode(%L::pg_catalog.jsonb, pg_catalog.to_jsonb(src))', encoder);
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.logreg_train(%s, %s, $1) FROM %s WHERE NOT (%s)',
            label_expr, feats, from_item, test_expr)
            INTO model USING opts;
        model := @extschema@.churn_model_with_encoder(model, encoder);
    ELSIF @extschema@.is_distributed(from_item) THEN
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

    -- the holdout rows the model has not seen, scored by $1: (p, y, u), u the
    -- unseen levels of a raw row; with an encoder the raw rows, missing values
    -- encoded, else the rows with usable features
    IF enc_opts IS NOT NULL THEN
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob_row($1, r) AS p, y, @extschema@.churn_unseen($1, r) AS u
                 FROM (SELECT %s AS y, pg_catalog.to_jsonb(src) AS r FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL$q$,
            label_expr, from_item, test_expr);
    ELSE
        scored := pg_catalog.format(
            $q$SELECT @extschema@.churn_prob($1, f) AS p, y, '{}'::pg_catalog.text[] AS u
                 FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                WHERE y IS NOT NULL AND pg_catalog.array_position(f, NULL) IS NULL
                  AND NOT (f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])$q$,
            label_expr, feats, from_item, test_expr);
    END IF;

    -- calibration: "platt" or "isotonic" fitted on the holdout, "shift" (the
    -- prior correction of class weights, the default for a model trained
    -- with them) or "none"
    cal_method := COALESCE(cal_method, CASE WHEN opts OPERATOR(pg_catalog.?) 'class_weight' THEN 'shift' ELSE 'none' END);
    IF cal_method OPERATOR(pg_catalog.=) 'shift' THEN
        IF NOT opts OPERATOR(pg_catalog.?) 'class_weight' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'calibration "shift" corrects for class weights, and the options give none';
        END IF;
        IF opts OPERATOR(pg_catalog.->>) 'class_weight' OPERATOR(pg_catalog.=) 'balanced' THEN
            -- balanced weights n / (2 n_class): log(w0 / w1) = log(n1 / n0) on the training rows
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.ln(pg_catalog.count(*) FILTER (WHERE y)::pg_catalog.float8
                                      OPERATOR(pg_catalog./) pg_catalog.count(*) FILTER (WHERE NOT y))
                   FROM (SELECT %s AS y FROM %s WHERE NOT (%s)) AS t',
                label_expr, from_item, test_expr)
                INTO shift;
        ELSE
            shift := pg_catalog.ln(
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,0}', opts OPERATOR(pg_catalog.#>>) '{class_weight,false}', '1')::pg_catalog.float8
                OPERATOR(pg_catalog./)
                COALESCE(opts OPERATOR(pg_catalog.#>>) '{class_weight,1}', opts OPERATOR(pg_catalog.#>>) '{class_weight,true}', '1')::pg_catalog.float8);
        END IF;
        calibration := pg_catalog.jsonb_build_object('method', 'shift', 'shift', shift);
    ELSIF cal_method OPERATOR(pg_catalog.=) ANY (ARRAY['platt', 'isotonic']) THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_fit(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y), %L) FROM (%s) AS s',
            cal_method, scored)
            INTO calibration USING model;
        IF calibration IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '22000',
                MESSAGE = pg_catalog.format('calibration "%s" needs holdout rows, and there are none', cal_method);
        END IF;
    ELSIF cal_method OPERATOR(pg_catalog.<>) 'none' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('unknown calibration "%s"', cal_method),
            HINT = 'Use "platt", "isotonic", "shift" or "none".';
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        RAISE WARNING USING ERRCODE = '01000',
            MESSAGE = pg_catalog.format('churn model %L is trained with class weights and not calibrated: its probabilities overstate the weighted class', model_name),
            DETAIL = 'Class weights multiply the odds the model learns by w1/w0; the holdout metrics record "uncalibrated_class_weights".',
            HINT = 'Leave out "calibration": "none" to correct the odds back to the base rate (the default), or calibrate with "platt" or "isotonic" on the holdout.';
    END IF;
    IF calibration IS NOT NULL THEN
        uncalibrated := model;
        model := @extschema@.churn_model_with_calibration(model, calibration);
    END IF;

    -- holdout metrics of the final model; with a calibration fitted on the
    -- holdout (platt, isotonic) they are in-sample for the calibration
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'n_unseen', pg_catalog.count(*) FILTER (WHERE pg_catalog.cardinality(s.u) OPERATOR(pg_catalog.>) 0),
                    'roc_auc', @extschema@.roc_auc(s.p, s.y),
                    'log_loss', @extschema@.log_loss(s.p, s.y),
                    'at_0_5', @extschema@.classification_report(s.p, s.y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(s.p, s.y),
                    'calibration', @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)))
             FROM (%s) AS s$q$, scored)
        INTO holdout USING model;
    holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_method', cal_method);
    IF uncalibrated IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.calibration_metrics(pg_catalog.array_agg(s.p), pg_catalog.array_agg(s.y)) FROM (%s) AS s', scored)
            INTO cal_before USING uncalibrated;
        holdout := holdout OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('calibration_before', cal_before);
    ELSIF opts OPERATOR(pg_catalog.?) 'class_weight' THEN
        holdout := holdout OPERATOR(pg_catalog.||) '{"uncalibrated_class_weights": true}'::pg_catalog.jsonb;
    END IF;

    -- the next version; the first saver of a name owns it (save_model)
    version := @extschema@.save_model(model_name, 'logreg', model::pg_catalog.jsonb,
        pg_catalog.jsonb_build_object('holdout', holdout,
                                      'holdout_split', COALESCE(holdout_column,
                                          'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
        source, feature_columns);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_model(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a churn model on a table, view or query (label column, feature columns) except its holdout rows, evaluates it on the holdout (AUC, log loss, report at 0.5, max-F1 threshold) and stores it as the next version in retention.models; returns the version';

-- source: src/churn/gbdt.sql (issue 17)

--------------------------------------------------------------------------
-- Tree ensembles for churn: retention.gbdt_model, the gbdt_train
-- aggregates (histogram gradient boosting with logistic loss, or a random
-- forest), scoring and exact TreeSHAP explanations, and the registry entry
-- point train_churn_gbdt.
--
-- The text form of a model is JSON (trees, bins, options, training
-- metrics); its binary wire form is a magic number, a format version and
-- that JSON.  Every input is validated by one reader (gbdt_model.c).
--------------------------------------------------------------------------

CREATE TYPE @extschema@.gbdt_model;

CREATE FUNCTION @extschema@.gbdt_model_in(cstring)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_in(cstring) IS
'input function of gbdt_model: reads and validates the JSON form (kind, format, n_features, base_score, bins, trees)';

CREATE FUNCTION @extschema@.gbdt_model_out(@extschema@.gbdt_model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'gbdt_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_out(@extschema@.gbdt_model) IS
'output function of gbdt_model: trees, bins, importance, options and training metrics as JSON';

CREATE FUNCTION @extschema@.gbdt_model_recv(internal)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_recv(internal) IS
'binary input function of gbdt_model: magic number, format version and the JSON text, validated as the text input';

CREATE FUNCTION @extschema@.gbdt_model_send(@extschema@.gbdt_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gbdt_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_send(@extschema@.gbdt_model) IS
'binary output function of gbdt_model: magic number, format version and the JSON text';

CREATE TYPE @extschema@.gbdt_model (
    INPUT = @extschema@.gbdt_model_in,
    OUTPUT = @extschema@.gbdt_model_out,
    RECEIVE = @extschema@.gbdt_model_recv,
    SEND = @extschema@.gbdt_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE @extschema@.gbdt_model IS
'tree ensemble (gradient-boosted trees with logistic loss, or a random forest) for churn; text form is JSON';

CREATE FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'gbdt_model_to_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model) IS
'the model as jsonb: trees, bins, importance, options and training metrics';

CREATE FUNCTION @extschema@.gbdt_model(jsonb)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_model_from_jsonb'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_model(jsonb) IS
'a model from its jsonb form (as stored in retention.models), validated';

CREATE CAST (@extschema@.gbdt_model AS jsonb)
    WITH FUNCTION @extschema@.gbdt_model_jsonb(@extschema@.gbdt_model);
CREATE CAST (jsonb AS @extschema@.gbdt_model)
    WITH FUNCTION @extschema@.gbdt_model(jsonb);

CREATE FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[]) IS
'transition function of gbdt_train: keeps one row (NULL elements are missing values), counts a skipped one';

CREATE FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[], jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_accum(internal, boolean, float8[], jsonb) IS
'transition function of gbdt_train with options: keeps one row, counts a skipped one';

CREATE FUNCTION @extschema@.gbdt_train_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_combine(internal, internal) IS
'combine function of gbdt_train: concatenates the rows of two partial states';

CREATE FUNCTION @extschema@.gbdt_train_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gbdt_train_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_serialize(internal) IS
'serialisation function of gbdt_train, for parallel workers';

CREATE FUNCTION @extschema@.gbdt_train_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'gbdt_train_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_deserialize(bytea, internal) IS
'deserialisation function of gbdt_train, for parallel workers; checks every length';

CREATE FUNCTION @extschema@.gbdt_train_final(internal)
RETURNS @extschema@.gbdt_model
AS 'MODULE_PATHNAME', 'gbdt_train_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gbdt_train_final(internal) IS
'final function of gbdt_train: bins the rows, puts them in canonical order and grows the trees';

CREATE AGGREGATE @extschema@.gbdt_train(label boolean, features float8[]) (
    SFUNC = @extschema@.gbdt_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.gbdt_train_final,
    COMBINEFUNC = @extschema@.gbdt_train_combine,
    SERIALFUNC = @extschema@.gbdt_train_serialize,
    DESERIALFUNC = @extschema@.gbdt_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gbdt_train(boolean, float8[]) IS
'gradient-boosted trees with logistic loss (100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf, 255 quantile bins); NULL and NaN features are missing values with learned default directions; the same model with and without parallel workers';

CREATE AGGREGATE @extschema@.gbdt_train(label boolean, features float8[], options jsonb) (
    SFUNC = @extschema@.gbdt_train_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.gbdt_train_final,
    COMBINEFUNC = @extschema@.gbdt_train_combine,
    SERIALFUNC = @extschema@.gbdt_train_serialize,
    DESERIALFUNC = @extschema@.gbdt_train_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.gbdt_train(boolean, float8[], jsonb) IS
'gradient-boosted trees or a random forest ({"model": "random_forest"}) with options: max_iter, learning_rate, max_leaf_nodes, max_depth, min_samples_leaf, l2_regularization, max_bins, subsample, bootstrap, feature_fraction, seed, class_weight, early_stopping, validation_fraction, n_iter_no_change, tol, feature_names';

CREATE FUNCTION @extschema@.churn_prob(model @extschema@.gbdt_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_prob'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob(@extschema@.gbdt_model, float8[]) IS
'churn probability of one user under a tree ensemble: the sigmoid of the boosted log-odds, or a forest''s mean of tree probabilities; NULL elements are missing values';

CREATE FUNCTION @extschema@.churn_logit(model @extschema@.gbdt_model, features float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit(@extschema@.gbdt_model, float8[]) IS
'log-odds of churn of one user under a tree ensemble (for a forest, the logit of its probability)';

CREATE FUNCTION @extschema@.churn_base_logit(model @extschema@.gbdt_model)
RETURNS float8
AS 'MODULE_PATHNAME', 'gbdt_churn_base_logit'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_base_logit(@extschema@.gbdt_model) IS
'base value of churn_explain for a tree ensemble: the expected raw score over the training rows'' paths (log-odds; a forest''s probability)';

CREATE FUNCTION @extschema@.churn_explain(model @extschema@.gbdt_model, features float8[],
    OUT feature_index integer, OUT feature text, OUT value float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gbdt_churn_explain'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain(@extschema@.gbdt_model, float8[]) IS
'exact path-dependent TreeSHAP value of every feature (Lundberg et al. 2018, Algorithm 2); with churn_base_logit they add up to the raw score (log-odds; a forest''s probability)';

CREATE FUNCTION @extschema@.gbdt_importance(model @extschema@.gbdt_model,
    OUT feature_index integer, OUT feature text, OUT splits bigint, OUT gain float8,
    OUT gain_share float8, OUT mean_abs_shap float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'gbdt_importance'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.gbdt_importance(@extschema@.gbdt_model) IS
'global feature importance of a tree ensemble: splits, total split gain and its share, and the mean |SHAP| over a sample of up to 1000 training rows';

CREATE PROCEDURE @extschema@.train_churn_gbdt(
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
    model      @extschema@.gbdt_model;
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
        -- a deterministic split: a hash of the whole row, as train_churn_model
        test_expr := pg_catalog.format(
            '(pg_catalog.hashtext(src::pg_catalog.text) OPERATOR(pg_catalog.&) 65535) OPERATOR(pg_catalog.<) %s',
            pg_catalog.floor(holdout_fraction OPERATOR(pg_catalog.*) 65536::pg_catalog.float8)::integer);
    END IF;

    EXECUTE pg_catalog.format(
        'SELECT @extschema@.gbdt_train(%s, ARRAY[%s]::pg_catalog.float8[], $1) FROM %s WHERE NOT (%s)',
        label_expr, feats, from_item, test_expr)
        INTO model USING opts;
    IF model IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000',
            MESSAGE = pg_catalog.format('no usable training rows in %s', source),
            HINT = 'Rows with a NULL label, a NULL feature array or an infinite feature are skipped.';
    END IF;

    -- holdout metrics on the rows the model has not seen (missing values allowed)
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(p, y),
                    'log_loss', @extschema@.log_loss(p, y),
                    'at_0_5', @extschema@.classification_report(p, y, 0.5),
                    'max_f1', @extschema@.threshold_max_f1(p, y))
             FROM (SELECT @extschema@.churn_prob($1, f) AS p, y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f FROM %s WHERE %s) AS t
                    WHERE y IS NOT NULL
                      AND NOT (f OPERATOR(pg_catalog.&&) '{Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        label_expr, feats, from_item, test_expr)
        INTO holdout USING model;

    -- the next version; the first saver of a name owns it (save_model)
    version := @extschema@.save_model(model_name, 'gbdt', model::pg_catalog.jsonb,
        pg_catalog.jsonb_build_object('holdout', holdout,
                                      'holdout_split', COALESCE(holdout_column,
                                          'hash ' OPERATOR(pg_catalog.||) holdout_fraction::pg_catalog.text)),
        source, feature_columns);
END
$$;

COMMENT ON PROCEDURE @extschema@.train_churn_gbdt(text, text, text, text[], jsonb, text, float8, integer) IS
'trains a tree-ensemble churn model (gbdt_train) on a table, view or query except its holdout rows, evaluates it on the holdout and stores it as the next version in retention.models (kind gbdt); returns the version';

CREATE FUNCTION @extschema@.churn_gbdt_model(model_name text, model_version integer DEFAULT NULL)
RETURNS @extschema@.gbdt_model
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT @extschema@.trusted_model(model_name, 'gbdt', model_version)::pg_catalog.text::@extschema@.gbdt_model
$$;

COMMENT ON FUNCTION @extschema@.churn_gbdt_model(text, integer) IS
'a stored tree-ensemble churn model: the latest trusted version of model_name (written by a member of its owner), or the given version; NULL when there is none. Call it once per query, e.g. in a scalar subquery';


-- The nightly loop assigns campaigns (issue 19): refresh() gains the step
-- "campaigns" and report_html() the campaigns section

-- refresh()'s guard (refresh_guard.c): between its exception blocks a cancel
-- waits for the next block, where it is caught; an error that escapes the
-- procedure releases the pipeline lock.  Only usable inside a procedure.
CREATE FUNCTION @extschema@.refresh_guard_begin(lock_class integer, lock_key integer)
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_guard_begin';

COMMENT ON FUNCTION @extschema@.refresh_guard_begin(integer, integer) IS
'internal to refresh(): from an exception block of a procedure, holds query cancels back outside the procedure''s blocks until the procedure ends or calls refresh_guard_end, and releases the advisory lock (lock_class, lock_key) if an error escapes';

CREATE FUNCTION @extschema@.refresh_guard_end()
RETURNS void
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'refresh_guard_end';

COMMENT ON FUNCTION @extschema@.refresh_guard_end() IS
'internal to refresh(): releases the pipeline lock named to refresh_guard_begin and lets held cancels through; it takes no argument, so no NULL input';

CREATE OR REPLACE PROCEDURE @extschema@.refresh(pipeline text DEFAULT 'default')
LANGUAGE plpgsql
AS $$
DECLARE
    steps         constant text[] := ARRAY['customer summaries', 'features', 'churn model', 'item-knn model',
                                           'customer-base models', 'scores', 'campaigns'];
    p             @extschema@.pipelines;
    run           bigint;
    run_started   timestamptz := pg_catalog.clock_timestamp();
    as_of         timestamptz;
    cutoff        timestamptz;
    horizon       float8;                  -- the churn horizon in weeks, the customer-base models' unit
    is_purchase   text;
    order_expr    text;
    names         text[] := @extschema@.user_feature_names();
    columns       text;
    kept          text[];
    nonconstant   text[];
    features      text;
    dropped       jsonb;
    corr          jsonb;
    partner       text;
    c             text;
    step          text;
    step_id       bigint;
    step_status   text;
    step_rows     bigint;
    step_metrics  jsonb;
    step_message  text;
    failures      integer := 0;
    interrupted   boolean := false;
    final_error   boolean := false;
    locked        boolean := false;
    holder_pid    integer;
    holder_state  text;
    err_state     text;
    err_message   text;
    lock_class    constant integer := pg_catalog.hashtext('retention.refresh');
    lock_key      constant integer := pg_catalog.hashtext(pipeline);
    churn_name    text := pipeline || '_churn';
    new_auc       float8;
    champion      integer;
    contest       jsonb;                   -- train_churn_candidates: the candidates and the version in use
    churn_stored  record;
    churn         @extschema@.logreg_model;  -- the churn model in use: logistic,
    churn_trees   @extschema@.gbdt_model;    -- or a tree ensemble (the other is NULL)
    churn_means   float8[];                -- its features' training means, for the trees' explanations
    knn           @extschema@.item_knn_model;
    knn_version   integer;
    knn_metrics   jsonb;
    candidate     text;
    fit_now       jsonb;
    fit_cut       jsonb;
    candidates    jsonb;
    best          jsonb;
    base          jsonb;                   -- the customer-base model in use (fitted at as_of), or NULL
    base_cut      jsonb;                   -- the same kind fitted at cutoff, for the backtests
    base_version  integer;
    spend         @extschema@.gamma_gamma_model;
    spend_cut     @extschema@.gamma_gamma_model;
    min_auc       float8;
    backtest      jsonb := '{}';           -- per score: auc, n, published, reason
    popular       bigint[];
BEGIN
    -- COMMIT here fails at once inside a transaction block, before anything is locked
    COMMIT;
    BEGIN
        -- no object of the caller's schemas may stand in for a built-in below.
        -- A procedure that COMMITs cannot carry a SET clause, so the path is set
        -- for the current transaction only, again after every COMMIT: a commit,
        -- an error or a cancel gives the caller's path back by itself.
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- from here on a cancel is let through only inside these blocks, where
        -- it is caught; an error that escapes still releases the lock
        PERFORM @extschema@.refresh_guard_begin(lock_class, lock_key);
        SELECT * INTO p FROM @extschema@.pipelines AS x WHERE x.name = pipeline;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('pipeline "%s" does not exist', pipeline),
                HINT = 'Describe the events table with INSERT INTO retention.pipelines (name, events, ...).';
        END IF;
        -- held across the commits below, so two refreshes of one pipeline never
        -- interleave; released on every way out (a cancel included).  A lock this
        -- session still holds is left from an interrupted run here: not taken twice.
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid()
                          AND l.classid = pg_catalog.oid(lock_class::bigint & 4294967295)
                          AND l.objid = pg_catalog.oid(lock_key::bigint & 4294967295)
                          AND l.objsubid = 2 AND l.granted)
           AND NOT pg_catalog.pg_try_advisory_lock(lock_class, lock_key) THEN
            SELECT a.pid, a.state INTO holder_pid, holder_state
              FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.classid = pg_catalog.oid(lock_class::bigint & 4294967295)
               AND l.objid = pg_catalog.oid(lock_key::bigint & 4294967295) AND l.objsubid = 2
             LIMIT 1;
            IF holder_state <> 'active' THEN
                RAISE EXCEPTION USING ERRCODE = '55P03',
                    MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline),
                    DETAIL = pg_catalog.format('Session %s (%s) holds the pipeline''s lock.', holder_pid, holder_state),
                    HINT = 'That session is not running anything: a refresh interrupted between two steps left the lock. Its next CALL retention.refresh() takes it over and releases it; pg_terminate_backend ends it.';
            END IF;
            RAISE EXCEPTION USING ERRCODE = '55P03',
                MESSAGE = pg_catalog.format('a refresh of pipeline "%s" is already running', pipeline),
                DETAIL = pg_catalog.format('Session %s holds the pipeline''s lock.', COALESCE(holder_pid::text, '(gone)'));
        END IF;
        locked := true;
    EXCEPTION WHEN query_canceled THEN
        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
        interrupted := true;
    END;
    IF interrupted THEN
        -- the lock may have been taken just before the cancel
        PERFORM @extschema@.refresh_guard_end();
        RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = err_message;
    END IF;

    BEGIN
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        run := pg_catalog.nextval('@extschema@.refresh_run_ids');
        -- nobody else refreshes this pipeline: a step still "running" belongs to
        -- a run that was interrupted (cancel, crash, lost connection)
        UPDATE @extschema@.refresh_runs AS r
           SET status = 'failed', finished_at = COALESCE(r.finished_at, pg_catalog.clock_timestamp()),
               message = 'interrupted before it finished (cancelled, or the session ended); marked when the next run started'
         WHERE r.pipeline = p.name AND r.status = 'running';
        -- and such a run, like one cancelled while recording its end, has no row of its own
        INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, message)
        SELECT r.run_id, p.name, 'refresh', 'failed', pg_catalog.min(r.started_at), pg_catalog.max(r.finished_at),
               'interrupted before it finished (cancelled, or the session ended); marked when the next run started'
          FROM @extschema@.refresh_runs AS r
         WHERE r.pipeline = p.name
         GROUP BY r.run_id
        HAVING NOT pg_catalog.bool_or(r.step = 'refresh');
        PERFORM @extschema@.drop_refresh_tables();
        as_of := COALESCE(p.as_of, pg_catalog.now());
        cutoff := as_of - p.churn_horizon;
        horizon := extract(epoch FROM p.churn_horizon) / (7 * 86400);
        min_auc := p.min_backtest_auc;
        is_purchase := pg_catalog.format('%I = %L', p.event_column, p.purchase_event);
        order_expr := CASE WHEN p.order_column IS NULL THEN 'NULL::text'
                         ELSE pg_catalog.format('(%I)::text', p.order_column) END;
        -- counts, amounts and durations are heavy-tailed: one huge order must not
        -- dominate a linear model, so they enter as log(1 + x); rates stay as they
        -- are.  With an order column, purchases count distinct orders and the
        -- average order value divides by them.
        columns := (SELECT pg_catalog.string_agg(pg_catalog.format(
                        CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                             THEN '%s AS %I' ELSE 'pg_catalog.ln(1 + GREATEST(%s, 0)) AS %I' END,
                        CASE WHEN p.order_column IS NOT NULL AND u.c = 'purchases'
                             THEN 'COALESCE(o.orders, 0)::float8'
                             WHEN p.order_column IS NOT NULL AND u.c = 'avg_order_value'
                             THEN pg_catalog.format('COALESCE(f.features[%s] / NULLIF(o.orders, 0), 0)',
                                                    pg_catalog.array_position(names, 'total_spend'))
                             ELSE pg_catalog.format('f.features[%s]', u.i) END,
                        CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                             THEN u.c ELSE 'log_' || u.c END),
                        ', ' ORDER BY u.i)
                      FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
        names := (SELECT pg_catalog.array_agg(
                      CASE WHEN u.c IN ('click_through_rate', 'view_to_purchase_rate', 'activity_trend')
                           THEN u.c ELSE 'log_' || u.c END ORDER BY u.i)
                    FROM pg_catalog.unnest(names) WITH ORDINALITY AS u(c, i));
    EXCEPTION WHEN query_canceled THEN
        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
        interrupted := true;
    END;

    FOREACH step IN ARRAY steps LOOP
        EXIT WHEN interrupted;
        BEGIN
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at)
            VALUES (run, pipeline, step, 'running', pg_catalog.clock_timestamp()) RETURNING id INTO step_id;
        EXCEPTION WHEN query_canceled THEN
            GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
            interrupted := true;
        END;
        EXIT WHEN interrupted;
        COMMIT;
        -- each step in its own subtransaction: its failure rolls back only its
        -- own work, and is logged; query_canceled is not among OTHERS, so a
        -- cancel is caught by name, and handled after the loop
        BEGIN
            step_status := 'ok';
            step_rows := NULL;
            step_metrics := NULL;
            step_message := NULL;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            -- test-only switch: make one step fail (see test/loop/operations.sh)
            IF pg_catalog.current_setting('retention.test_fail_step', true) = step THEN
                RAISE EXCEPTION USING ERRCODE = 'XX000',
                    MESSAGE = pg_catalog.format('step "%s" failed on purpose (retention.test_fail_step)', step);
            END IF;
            CASE step
            ------------------------------------------------------------------
            -- customer summaries: each customer's weekly recency-frequency-
            -- monetary summary at as_of and at cutoff, and the items each bought.
            -- Both are grouped by the user id as they are read, so on a table
            -- distributed by it (Citus) the workers summarise and the
            -- coordinator receives one row per customer and per customer and
            -- item, never the purchase events.
            ------------------------------------------------------------------
            WHEN 'customer summaries' THEN
                EXECUTE pg_catalog.format(
                    $q$CREATE TEMP TABLE retention_customers AS
                       SELECT %I::bigint AS user_id,
                              @extschema@.rfm_summary(%I, (%I)::float8, $1, 'week') AS at_as_of,
                              @extschema@.rfm_summary(%I, (%I)::float8, $2, 'week') FILTER (WHERE %I <= $2) AS at_cutoff,
                              pg_catalog.min(%I) <= $2 AS known_at_cutoff,
                              pg_catalog.bool_and(%I <= $2) AS churned,
                              pg_catalog.count(*) AS purchases,
                              pg_catalog.count(DISTINCT %s)
                                  OPERATOR(pg_catalog.+) pg_catalog.bool_or(%s IS NULL)::integer AS orders
                         FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL
                        GROUP BY %I$q$,
                    p.user_column, p.time_column, p.amount_column, p.time_column, p.amount_column, p.time_column,
                    p.time_column, p.time_column, order_expr, order_expr,
                    p.events, is_purchase, p.time_column, p.user_column, p.item_column, p.user_column)
                    USING as_of, cutoff;
                EXECUTE pg_catalog.format(
                    $q$CREATE TEMP TABLE retention_purchased_items AS
                       SELECT %I::bigint AS user_id, %I::bigint AS item_id,
                              pg_catalog.min(%I) <= $2 AS by_cutoff, pg_catalog.max(%I) > $2 AS after_cutoff
                         FROM %s WHERE %s AND %I <= $1 AND %I IS NOT NULL AND %I IS NOT NULL
                        GROUP BY %I, %I$q$,
                    p.user_column, p.item_column, p.time_column, p.time_column,
                    p.events, is_purchase, p.time_column, p.user_column, p.item_column,
                    p.user_column, p.item_column)
                    USING as_of, cutoff;
                CREATE TEMP TABLE retention_rfm AS
                    SELECT user_id, (at_as_of).* FROM pg_temp.retention_customers;
                CREATE TEMP TABLE retention_rfm_cutoff AS
                    SELECT user_id, (at_cutoff).* FROM pg_temp.retention_customers WHERE known_at_cutoff;
                -- who actually stopped buying: customers of the cutoff without a
                -- purchase in (cutoff, as_of], the outcome the backtests rank
                CREATE TEMP TABLE retention_backtest AS
                    SELECT user_id, churned FROM pg_temp.retention_customers WHERE known_at_cutoff;
                ANALYZE pg_temp.retention_purchased_items, pg_temp.retention_rfm, pg_temp.retention_rfm_cutoff,
                        pg_temp.retention_backtest;
                SELECT pg_catalog.count(*) INTO step_rows FROM pg_temp.retention_rfm;
                step_metrics := pg_catalog.jsonb_build_object(
                    'purchases', (SELECT COALESCE(pg_catalog.sum(c.purchases), 0) FROM pg_temp.retention_customers AS c),
                    'orders', CASE WHEN p.order_column IS NOT NULL THEN
                                  (SELECT COALESCE(pg_catalog.sum(c.orders), 0) FROM pg_temp.retention_customers AS c) END,
                    'customers', step_rows,
                    'customers_at_cutoff', (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm_cutoff));

            ------------------------------------------------------------------
            -- features: as of cutoff with the churn label over (cutoff, as_of]
            -- for training, and as of as_of for scoring
            ------------------------------------------------------------------
            WHEN 'features' THEN
                -- the training set at the cutoff (with the label and a holdout
                -- fifth by a hash of the user id), the customers to score at as_of
                FOREACH c IN ARRAY ARRAY['retention_training', 'retention_current'] LOOP
                    EXECUTE pg_catalog.format(
                        $q$CREATE TEMP TABLE %I AS
                           SELECT f.user_id, %s %s
                             FROM @extschema@.user_features($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                                            purchase_event => $10) AS f
                             LEFT JOIN (SELECT %I::bigint AS user_id, pg_catalog.count(DISTINCT %s) AS orders
                                          FROM %s WHERE %s AND %I <= $2 GROUP BY 1) AS o ON o.user_id = f.user_id$q$,
                        c, CASE WHEN c = 'retention_training'
                                THEN 'f.churned, (pg_catalog.hashtext(f.user_id::text) & 65535) < 13107 AS holdout,'
                                ELSE '' END,
                        columns, p.user_column, order_expr, p.events, is_purchase, p.time_column)
                        USING p.events, CASE WHEN c = 'retention_training' THEN cutoff ELSE as_of END,
                              p.churn_horizon, p.churn_on, p.user_column, p.time_column,
                              p.event_column, p.item_column, p.amount_column, p.purchase_event;
                END LOOP;
                ANALYZE pg_temp.retention_training, pg_temp.retention_current;

                -- constant features carry no information and make the fit singular
                EXECUTE pg_catalog.format('SELECT ARRAY[%s] FROM pg_temp.retention_training',
                    (SELECT pg_catalog.string_agg(pg_catalog.format(
                                'CASE WHEN pg_catalog.stddev_pop(%I) > 1e-9 THEN %L END', u.c, u.c), ', ')
                       FROM pg_catalog.unnest(names) AS u(c)))
                    INTO kept;
                kept := pg_catalog.array_remove(kept, NULL);
                -- the rule for duplicates and near-collinear pairs: walking the
                -- features in user_feature_names() order, a feature whose Pearson
                -- correlation with an already kept one is 0.9 or more in absolute
                -- value (on the training rows, after log(1 + x)) is dropped.  Their
                -- coefficients would split one effect between them, with signs
                -- that mislead an explanation.
                IF pg_catalog.cardinality(kept) > 1 THEN
                    EXECUTE pg_catalog.format('SELECT %s FROM pg_temp.retention_training',
                        (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.jsonb_build_object(%L, pg_catalog.corr(%I, %I))',
                                                                        a.c || '|' || b.c, a.c, b.c), ' || ')
                           FROM pg_catalog.unnest(kept) WITH ORDINALITY AS a(c, i)
                           JOIN pg_catalog.unnest(kept) WITH ORDINALITY AS b(c, i) ON a.i < b.i))
                        INTO corr;
                END IF;
                dropped := '[]';
                nonconstant := kept;
                kept := '{}';
                FOREACH c IN ARRAY nonconstant LOOP
                    SELECT k INTO partner FROM pg_catalog.unnest(kept) AS k
                     WHERE abs((corr ->> (k || '|' || c))::float8) >= 0.9
                     ORDER BY abs((corr ->> (k || '|' || c))::float8) DESC LIMIT 1;
                    IF partner IS NULL THEN
                        kept := kept || c;
                    ELSE
                        dropped := dropped || pg_catalog.jsonb_build_object(
                            'feature', c, 'correlated_with', partner,
                            'r', pg_catalog.round((corr ->> (partner || '|' || c))::numeric, 4));
                    END IF;
                END LOOP;
                features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', k), ', ' ORDER BY i)
                               FROM pg_catalog.unnest(kept) WITH ORDINALITY AS u(k, i));
                SELECT pg_catalog.count(*) INTO step_rows FROM pg_temp.retention_training;
                step_metrics := pg_catalog.jsonb_build_object(
                    'as_of', as_of, 'cutoff', cutoff,
                    'training_users', step_rows,
                    'churn_rate', (SELECT pg_catalog.avg(churned::integer) FROM pg_temp.retention_training),
                    'scoring_users', (SELECT pg_catalog.count(*) FROM pg_temp.retention_current),
                    'purchases_count', CASE WHEN p.order_column IS NULL THEN 'purchase events' ELSE 'orders' END,
                    'features', kept,
                    'constant_features_dropped',
                    (SELECT pg_catalog.array_agg(u.c) FROM pg_catalog.unnest(names) AS u(c)
                      WHERE u.c <> ALL (nonconstant)),
                    'collinear_features_dropped', dropped);

            ------------------------------------------------------------------
            -- churn model: the pipeline's candidates (logistic, elastic net with
            -- lambda by cross-validation, gradient-boosted trees) trained on the
            -- same users and compared on the same holdout users; the best by
            -- ROC AUC becomes the new version only if it is at least as good as
            -- the current one there.  The holdout is the churn probability's
            -- backtest: users no candidate was trained on, scored at cutoff,
            -- against who churned in the horizon that followed.
            ------------------------------------------------------------------
            WHEN 'churn model' THEN
                IF features IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no features to train on; see the features step of this run';
                END IF;
                contest := @extschema@.train_churn_candidates(churn_name, 'pg_temp.retention_training', 'churned', kept,
                                                              'holdout', 'user_id', p.churn_candidates, p.churn_options);
                champion := (contest ->> 'version')::integer;
                IF champion IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no churn model candidate could be trained',
                        DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', e ->> 'candidate', e ->> 'error'), '; ')
                                    FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e);
                END IF;
                SELECT m.kind, m.model, m.feature_names INTO churn_stored
                  FROM @extschema@.models AS m WHERE m.name = churn_name AND m.version = champion;
                IF churn_stored.kind = 'gbdt' THEN
                    churn_trees := churn_stored.model::text::@extschema@.gbdt_model;
                ELSE
                    churn := churn_stored.model::text::@extschema@.logreg_model;
                END IF;
                features := (SELECT pg_catalog.string_agg(pg_catalog.format('%I', u.c), ', ' ORDER BY u.i)
                               FROM pg_catalog.unnest(churn_stored.feature_names) WITH ORDINALITY AS u(c, i));
                -- the training users' means, for the direction an explanation of the trees reads
                EXECUTE pg_catalog.format('SELECT ARRAY[%s]::float8[] FROM pg_temp.retention_training WHERE NOT holdout',
                    (SELECT pg_catalog.string_agg(pg_catalog.format('pg_catalog.avg(%I)', u.c), ', ' ORDER BY u.i)
                       FROM pg_catalog.unnest(churn_stored.feature_names) WITH ORDINALITY AS u(c, i)))
                    INTO churn_means;

                DELETE FROM @extschema@.churn_holdout WHERE churn_holdout.pipeline = refresh.pipeline;
                EXECUTE pg_catalog.format(
                    $q$INSERT INTO @extschema@.churn_holdout (pipeline, model_version, churn_prob, churned)
                       SELECT $1, $2, s.prob, s.churned
                         FROM (SELECT COALESCE(@extschema@.churn_prob($3, ARRAY[%s]::float8[]),
                                               @extschema@.churn_prob($4, ARRAY[%s]::float8[])) AS prob, churned
                                 FROM pg_temp.retention_training WHERE holdout) AS s
                        WHERE s.prob IS NOT NULL$q$, features, features)
                    USING pipeline, champion, churn, churn_trees;
                GET DIAGNOSTICS step_rows = ROW_COUNT;
                new_auc := COALESCE((SELECT (e #>> '{holdout,roc_auc}')::float8
                                       FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e
                                      WHERE (e ->> 'chosen')::boolean),
                                    (contest #>> '{previous,holdout,roc_auc}')::float8);
                backtest := backtest || pg_catalog.jsonb_build_object('churn_prob',
                    @extschema@.refresh_backtest_entry(new_auc, step_rows, min_auc,
                                                       'holdout users of the churn model'));
                IF NOT (backtest -> 'churn_prob' ->> 'published')::boolean THEN
                    churn := NULL;
                    churn_trees := NULL;
                END IF;
                step_status := CASE WHEN (contest ->> 'kept_previous')::boolean THEN 'kept previous' ELSE 'ok' END;
                step_metrics := pg_catalog.jsonb_build_object(
                    'version', champion, 'kind', churn_stored.kind, 'candidate', contest ->> 'candidate',
                    'holdout_auc', new_auc,
                    'previous_version', contest #> '{previous,version}',
                    'previous_holdout_auc', contest #> '{previous,holdout,roc_auc}',
                    'candidates', (SELECT pg_catalog.jsonb_agg(e - 'model')
                                     FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e),
                    'backtest', backtest -> 'churn_prob');
                step_message := CASE WHEN (contest ->> 'kept_previous')::boolean THEN pg_catalog.format(
                    'the best candidate (%s) has holdout AUC %s, below the AUC %s of version %s on the same users; version %s stays in use',
                    COALESCE(contest ->> 'best', 'none trained'),
                    COALESCE((SELECT pg_catalog.round((e #>> '{holdout,roc_auc}')::numeric, 4)::text
                                FROM pg_catalog.jsonb_array_elements(contest -> 'candidates') AS e
                               WHERE e ->> 'candidate' = contest ->> 'best'), '-'),
                    pg_catalog.round((contest #>> '{previous,holdout,roc_auc}')::numeric, 4),
                    champion, champion) END;

            ------------------------------------------------------------------
            -- item-kNN: rebuilt on every purchase, evaluated on a split at cutoff
            ------------------------------------------------------------------
            WHEN 'item-knn model' THEN
                CREATE TEMP TABLE retention_knn_train AS
                    SELECT user_id, item_id FROM pg_temp.retention_purchased_items WHERE by_cutoff;
                CREATE TEMP TABLE retention_knn_test AS
                    SELECT user_id, item_id FROM pg_temp.retention_purchased_items WHERE after_cutoff;
                SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e) ORDER BY e.recommender) INTO knn_metrics
                  FROM @extschema@.evaluate_item_knn('pg_temp.retention_knn_train', 'pg_temp.retention_knn_test',
                                                     p.neighbors, 10) AS e;
                SELECT @extschema@.item_knn(u.user_id, u.item_id, 1.0, p.neighbors) INTO knn
                  FROM pg_temp.retention_purchased_items AS u;
                knn_version := @extschema@.item_knn_save(pipeline || '_item_knn', knn, p.events::text,
                                                         pg_catalog.jsonb_build_object('evaluation', knn_metrics,
                                                                                       'k', 10, 'as_of', as_of,
                                                                                       'cutoff', cutoff));
                step_rows := (SELECT i.items FROM @extschema@.item_knn_model_info(knn) AS i);
                step_metrics := pg_catalog.jsonb_build_object('version', knn_version, 'evaluation', knn_metrics);

            ------------------------------------------------------------------
            -- customer base: every candidate fitted at as_of (to publish) and at
            -- cutoff (to backtest).  A candidate is used only if the data
            -- identify its parameters at both times; P(alive) and expected
            -- purchases are published only where their backtest AUC reaches
            -- min_backtest_auc.  Where the dropout of BG/NBD vanishes, what is
            -- left of it is the NBD purchase model (r, alpha): expected
            -- purchases without P(alive).
            ------------------------------------------------------------------
            WHEN 'customer-base models' THEN
                candidates := '[]';
                FOREACH candidate IN ARRAY ARRAY['bgnbd', 'mbgnbd', 'pareto_nbd'] LOOP
                    -- a model type this build does not have is no candidate
                    CONTINUE WHEN pg_catalog.to_regprocedure(pg_catalog.format(
                        '@extschema@.%I(float8, float8, float8)', candidate || '_fit')) IS NULL;
                    EXECUTE pg_catalog.format('SELECT @extschema@.%I(frequency, recency, t)::jsonb FROM pg_temp.retention_rfm',
                                              candidate || '_fit') INTO fit_now;
                    EXECUTE pg_catalog.format('SELECT @extschema@.%I(frequency, recency, t)::jsonb FROM pg_temp.retention_rfm_cutoff',
                                              candidate || '_fit') INTO fit_cut;
                    candidates := candidates || @extschema@.refresh_candidate(candidate, fit_now, fit_cut, horizon);
                    -- the NBD limit of a BG/NBD whose dropout vanished
                    IF candidate = 'bgnbd' AND fit_now IS NOT NULL AND fit_cut IS NOT NULL
                       AND (fit_now ->> 'a')::float8 / ((fit_now ->> 'a')::float8 + (fit_now ->> 'b')::float8) < 1e-3
                       AND (fit_cut ->> 'a')::float8 / ((fit_cut ->> 'a')::float8 + (fit_cut ->> 'b')::float8) < 1e-3 THEN
                        candidates := candidates || @extschema@.refresh_candidate('nbd',
                            pg_catalog.jsonb_build_object('kind', 'nbd', 'r', fit_now -> 'r', 'alpha', fit_now -> 'alpha',
                                                          'n', fit_now -> 'n', 'from', 'bgnbd with a/(a+b) near 0'),
                            pg_catalog.jsonb_build_object('kind', 'nbd', 'r', fit_cut -> 'r', 'alpha', fit_cut -> 'alpha',
                                                          'n', fit_cut -> 'n', 'from', 'bgnbd with a/(a+b) near 0'),
                            horizon);
                    END IF;
                END LOOP;
                -- the best usable candidate: by the backtest AUC of P(alive) where it
                -- is published, else by that of expected purchases
                SELECT x INTO best FROM pg_catalog.jsonb_array_elements(candidates) AS x
                 WHERE x ->> 'problem' IS NULL
                   AND (x ->> 'expected_purchases_auc')::float8 >= min_auc
                 ORDER BY (x ->> 'p_alive_auc')::float8 >= min_auc DESC NULLS LAST,
                          (x ->> 'p_alive_auc')::float8 DESC NULLS LAST,
                          (x ->> 'expected_purchases_auc')::float8 DESC
                 LIMIT 1;
                base := best -> 'fit';
                base_cut := best -> 'fit_at_cutoff';
                backtest := backtest || pg_catalog.jsonb_build_object(
                    'p_alive', CASE WHEN best IS NULL OR best ->> 'p_alive_auc' IS NULL
                                    THEN @extschema@.refresh_withheld(candidates, 'p_alive_auc', min_auc)
                                    ELSE @extschema@.refresh_backtest_entry((best ->> 'p_alive_auc')::float8,
                                             (best ->> 'n')::bigint, min_auc, best ->> 'model') END,
                    'expected_purchases', CASE WHEN best IS NULL
                                    THEN @extschema@.refresh_withheld(candidates, 'expected_purchases_auc', min_auc)
                                    ELSE @extschema@.refresh_backtest_entry((best ->> 'expected_purchases_auc')::float8,
                                             (best ->> 'n')::bigint, min_auc, best ->> 'model') END);
                -- spend per purchase, for the lifetime value
                SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend
                  FROM pg_temp.retention_rfm WHERE frequency > 0 AND monetary > 0;
                SELECT @extschema@.gamma_gamma_fit(frequency, monetary) INTO spend_cut
                  FROM pg_temp.retention_rfm_cutoff WHERE frequency > 0 AND monetary > 0;
                IF @extschema@.customer_base_fit_problem(spend::jsonb) IS NOT NULL
                   OR @extschema@.customer_base_fit_problem(spend_cut::jsonb) IS NOT NULL THEN
                    backtest := backtest || pg_catalog.jsonb_build_object('predicted_clv', pg_catalog.jsonb_build_object(
                        'published', false,
                        'reason', 'Gamma-Gamma spend model: ' || COALESCE(
                            @extschema@.customer_base_fit_problem(spend::jsonb),
                            'at the backtest cutoff, ' || @extschema@.customer_base_fit_problem(spend_cut::jsonb),
                            'too few repeat customers to fit')));
                    spend := NULL;
                    spend_cut := NULL;
                END IF;
                IF base IS NOT NULL THEN
                    base_version := @extschema@.save_model(pipeline || '_' || (base ->> 'kind'), base ->> 'kind', base,
                                                           pg_catalog.jsonb_build_object('backtest', best - 'fit' - 'fit_at_cutoff'),
                                                           p.events::text);
                END IF;
                IF spend IS NOT NULL THEN
                    PERFORM @extschema@.save_model(pipeline || '_spend', 'gamma_gamma', spend::jsonb, NULL, p.events::text);
                END IF;
                step_rows := (SELECT pg_catalog.count(*) FROM pg_temp.retention_rfm);
                step_metrics := pg_catalog.jsonb_build_object(
                    'model', base ->> 'kind', 'version', base_version,
                    'candidates', candidates, 'gamma_gamma', spend::jsonb,
                    'backtest', pg_catalog.jsonb_build_object('p_alive', backtest -> 'p_alive',
                                                              'expected_purchases', backtest -> 'expected_purchases'));
                IF base IS NULL THEN
                    step_message := 'no customer-base model earns its place; P(alive), expected purchases and lifetime value are withheld: '
                                    || (backtest -> 'expected_purchases' ->> 'reason');
                ELSIF NOT (backtest -> 'p_alive' ->> 'published')::boolean THEN
                    step_message := 'P(alive) withheld: ' || (backtest -> 'p_alive' ->> 'reason');
                END IF;

            ------------------------------------------------------------------
            -- scores: every customer, replaced in one transaction; NULL where a
            -- step failed or a score did not earn its place
            ------------------------------------------------------------------
            WHEN 'scores' THEN
                IF pg_catalog.to_regclass('pg_temp.retention_current') IS NULL
                   AND pg_catalog.to_regclass('pg_temp.retention_rfm') IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no customers to score: the customer summaries and features steps failed';
                END IF;
                -- what a failed step did not make stands empty
                IF pg_catalog.to_regclass('pg_temp.retention_current') IS NULL THEN
                    CREATE TEMP TABLE retention_current (user_id bigint);
                END IF;
                IF pg_catalog.to_regclass('pg_temp.retention_rfm') IS NULL THEN
                    CREATE TEMP TABLE retention_rfm (user_id bigint, frequency float8, recency float8,
                                                     t float8, monetary float8);
                END IF;
                IF pg_catalog.to_regclass('pg_temp.retention_purchased_items') IS NULL THEN
                    CREATE TEMP TABLE retention_purchased_items (user_id bigint, item_id bigint);
                END IF;
                IF (churn IS NULL AND churn_trees IS NULL) OR features IS NULL THEN
                    churn := NULL;
                    churn_trees := NULL;
                    features := 'NULL';
                END IF;
                -- every customer's customer-base scores, apart: a model that cannot
                -- score someone (a horizon its series cannot reach) withholds
                -- them, with the error, and the other scores still land
                CREATE TEMP TABLE retention_base_scores (user_id bigint, p_alive float8,
                                                         expected_purchases float8, clv float8);
                IF base IS NOT NULL THEN
                    BEGIN
                        INSERT INTO pg_temp.retention_base_scores
                        SELECT m.user_id,
                               CASE WHEN (backtest -> 'p_alive' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_p_alive(base, m.frequency, m.recency, m.t) END,
                               CASE WHEN (backtest -> 'expected_purchases' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_expected_purchases(base, horizon, m.frequency,
                                                                                      m.recency, m.t) END,
                               CASE WHEN (backtest -> 'expected_purchases' ->> 'published')::boolean
                                    THEN @extschema@.customer_base_clv(base, spend, m.frequency, m.recency, m.t,
                                                                       m.monetary, p.clv_months, 52.0 / 12,
                                                                       p.monthly_discount) END
                          FROM pg_temp.retention_rfm AS m;
                    EXCEPTION WHEN data_exception THEN
                        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                        backtest := backtest || pg_catalog.jsonb_build_object(
                            'p_alive', pg_catalog.jsonb_build_object('published', false,
                                'reason', (base ->> 'kind') || ' cannot score every customer: ' || err_message),
                            'expected_purchases', pg_catalog.jsonb_build_object('published', false,
                                'reason', (base ->> 'kind') || ' cannot score every customer: ' || err_message));
                    END;
                END IF;
                -- value at risk, backtested like the rest: lifetime value at cutoff
                -- times the churn probability of the holdout users
                IF (churn IS NOT NULL OR churn_trees IS NOT NULL) AND spend IS NOT NULL
                   AND (backtest -> 'expected_purchases' ->> 'published')::boolean THEN
                    BEGIN
                        EXECUTE pg_catalog.format(
                            $q$SELECT @extschema@.roc_auc(s.v, s.churned), pg_catalog.count(s.v)
                                 FROM (SELECT tr.churned,
                                              COALESCE(@extschema@.churn_prob($1, ARRAY[%s]::float8[]),
                                                       @extschema@.churn_prob($6, ARRAY[%s]::float8[]))
                                              * @extschema@.customer_base_clv($2, $3, m.frequency, m.recency, m.t,
                                                                              m.monetary, $4, 52.0 / 12, $5) AS v
                                         FROM pg_temp.retention_training AS tr
                                         JOIN pg_temp.retention_rfm_cutoff AS m ON m.user_id = tr.user_id
                                        WHERE tr.holdout) AS s$q$, features, features)
                            INTO new_auc, step_rows
                            USING churn, base_cut, spend_cut, p.clv_months, p.monthly_discount, churn_trees;
                        backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk',
                            @extschema@.refresh_backtest_entry(new_auc, step_rows, min_auc,
                                'holdout users: churn probability times lifetime value at cutoff'));
                    EXCEPTION WHEN data_exception THEN
                        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                        backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk', pg_catalog.jsonb_build_object(
                            'published', false,
                            'reason', 'the lifetime value at cutoff cannot be computed for every holdout user: '
                                      || err_message));
                    END;
                ELSE
                    backtest := backtest || pg_catalog.jsonb_build_object('value_at_risk', pg_catalog.jsonb_build_object(
                        'published', false,
                        'reason', 'needs a published churn probability, expected purchases and spend model'));
                END IF;
                SELECT pg_catalog.array_agg(item_id ORDER BY buyers DESC, item_id) INTO popular
                  FROM (SELECT item_id, pg_catalog.count(*) AS buyers
                          FROM pg_temp.retention_purchased_items GROUP BY item_id
                         ORDER BY buyers DESC, item_id LIMIT 10) AS top;
                DELETE FROM @extschema@.customer_scores WHERE customer_scores.pipeline = refresh.pipeline;
                EXECUTE pg_catalog.format(
                    $q$INSERT INTO @extschema@.customer_scores
                           (pipeline, user_id, churn_prob, p_alive, expected_purchases, predicted_clv,
                            value_at_risk, top_features, recommended_items, churn_model_version,
                            item_knn_version, bgnbd_version, scored_at, customer_base_model)
                       SELECT $1, u.user_id, s.churn_prob, s.p_alive, s.expected_purchases, s.clv,
                              CASE WHEN $9 THEN s.clv * s.churn_prob END,
                              COALESCE(@extschema@.churn_explanation($2, s.f),
                                       @extschema@.churn_explanation($10, s.f, $11)),
                              ARRAY(SELECT r.item_id FROM @extschema@.recommend($3, COALESCE(b.seen, '{}'), 3, $4) AS r),
                              $5, $6, $7, pg_catalog.now(), $8 ->> 'kind'
                         FROM (SELECT user_id FROM pg_temp.retention_current
                               UNION SELECT user_id FROM pg_temp.retention_rfm) AS u
                         LEFT JOIN pg_temp.retention_current AS c ON c.user_id = u.user_id
                         LEFT JOIN pg_temp.retention_base_scores AS bs ON bs.user_id = u.user_id
                         LEFT JOIN (SELECT user_id, pg_catalog.array_agg(DISTINCT item_id) AS seen
                                      FROM pg_temp.retention_purchased_items GROUP BY user_id) AS b
                                ON b.user_id = u.user_id
                         CROSS JOIN LATERAL (
                             SELECT ARRAY[%s]::float8[] AS f,
                                    COALESCE(@extschema@.churn_prob($2, ARRAY[%s]::float8[]),
                                             @extschema@.churn_prob($10, ARRAY[%s]::float8[])) AS churn_prob,
                                    bs.p_alive, bs.expected_purchases, bs.clv) AS s$q$,
                    features, features, features)
                    USING pipeline, churn, knn, popular, champion, knn_version, base_version, base,
                          COALESCE((backtest -> 'value_at_risk' ->> 'published')::boolean, false),
                          churn_trees, churn_means;
                GET DIAGNOSTICS step_rows = ROW_COUNT;
                DROP TABLE pg_temp.retention_base_scores;
                step_metrics := pg_catalog.jsonb_build_object(
                    'at_risk', (SELECT pg_catalog.count(*) FROM @extschema@.customer_scores AS cs
                                 WHERE cs.pipeline = refresh.pipeline AND cs.churn_prob >= 0.5),
                    'value_at_risk', (SELECT pg_catalog.sum(cs.value_at_risk) FROM @extschema@.customer_scores AS cs
                                       WHERE cs.pipeline = refresh.pipeline),
                    'with_churn_prob', (SELECT pg_catalog.count(cs.churn_prob) FROM @extschema@.customer_scores AS cs
                                         WHERE cs.pipeline = refresh.pipeline),
                    'backtest', backtest,
                    'withheld', (SELECT pg_catalog.jsonb_object_agg(e.key, e.value -> 'reason')
                                   FROM pg_catalog.jsonb_each(backtest) AS e
                                  WHERE NOT (e.value ->> 'published')::boolean));
                IF churn IS NULL AND churn_trees IS NULL THEN
                    step_message := 'scored without churn probabilities: '
                                    || COALESCE(backtest -> 'churn_prob' ->> 'reason', 'the churn model step failed');
                END IF;

            ------------------------------------------------------------------
            -- campaigns: the pipeline's auto-assigned campaigns take the new
            -- at-risk customers into their treatment and control arms
            ------------------------------------------------------------------
            WHEN 'campaigns' THEN
                IF EXISTS (SELECT FROM @extschema@.refresh_runs r
                            WHERE r.run_id = run AND r.step = 'scores' AND r.status <> 'ok') THEN
                    RAISE EXCEPTION USING ERRCODE = '22000',
                        MESSAGE = 'no assignment: the scores step of this run failed';
                END IF;
                SELECT COALESCE(pg_catalog.sum(a.customers), 0)::bigint,
                       COALESCE(pg_catalog.jsonb_object_agg(a.campaign || ' ' || a.arm, a.customers), '{}')
                  INTO step_rows, step_metrics
                  FROM @extschema@.assign_campaigns(pipeline, as_of) a;
            END CASE;
            UPDATE @extschema@.refresh_runs
               SET status = step_status, finished_at = pg_catalog.clock_timestamp(), rows = step_rows,
                   metrics = step_metrics, message = step_message
             WHERE id = step_id;
        EXCEPTION
            WHEN query_canceled THEN
                GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                interrupted := true;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
                step_status := 'failed';
                step_metrics := NULL;
                step_message := err_state || ': ' || err_message;
        END;
        EXIT WHEN interrupted;
        -- the failure's bookkeeping, protected like the rest: between the blocks
        -- only EXIT and COMMIT run, so a cancel almost always lands in a handler
        BEGIN
            IF step_status = 'failed' THEN
                -- the step's work was rolled back; what it would have given is NULL
                failures := failures + 1;
                CASE step
                    WHEN 'features' THEN features := NULL;
                    WHEN 'churn model' THEN churn := NULL; churn_trees := NULL; champion := NULL;
                    WHEN 'item-knn model' THEN knn := NULL; knn_version := NULL;
                    WHEN 'customer-base models' THEN base := NULL; base_cut := NULL; base_version := NULL;
                                                     spend := NULL; spend_cut := NULL;
                    ELSE NULL;
                END CASE;
                UPDATE @extschema@.refresh_runs
                   SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), message = step_message
                 WHERE id = step_id;
            END IF;
        EXCEPTION WHEN query_canceled THEN
            GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
            interrupted := true;
        END;
        EXIT WHEN interrupted;
        COMMIT;
    END LOOP;

    -- the run's own row, then the working tables and the lock, on every way out
    FOR attempt IN 1..2 LOOP
        BEGIN
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            IF run IS NOT NULL THEN
                IF interrupted THEN
                    UPDATE @extschema@.refresh_runs AS r
                       SET status = 'cancelled', finished_at = pg_catalog.clock_timestamp(),
                           message = COALESCE(err_message, 'canceling statement due to user request')
                     WHERE r.run_id = run AND r.status = 'running';
                END IF;
                INSERT INTO @extschema@.refresh_runs (run_id, pipeline, step, status, started_at, finished_at, metrics, message)
                VALUES (run, pipeline, 'refresh',
                        CASE WHEN interrupted THEN 'cancelled' WHEN failures = 0 THEN 'ok' ELSE 'failed' END,
                        run_started, pg_catalog.clock_timestamp(),
                        pg_catalog.jsonb_build_object('as_of', as_of, 'backtest_cutoff', cutoff,
                                                      'min_backtest_auc', min_auc, 'backtest', backtest),
                        CASE WHEN interrupted THEN 'cancelled: ' || COALESCE(err_message, 'canceling statement due to user request')
                             WHEN failures > 0 THEN pg_catalog.format('%s step(s) failed', failures) END);
            END IF;
            PERFORM @extschema@.drop_refresh_tables();
        EXCEPTION
            WHEN query_canceled THEN
                -- cancelled while recording the end: once more, as cancelled (the
                -- cancel is spent, so this attempt runs through)
                IF NOT interrupted THEN
                    GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                END IF;
                interrupted := true;
                CONTINUE;
            WHEN OTHERS THEN
                -- raised below, once the lock is released
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
                final_error := true;
        END;
        EXIT;
    END LOOP;
    COMMIT;
    PERFORM @extschema@.refresh_guard_end();   -- releases the lock
    IF final_error THEN
        RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message,
            DETAIL = pg_catalog.format('Refresh run %s of pipeline "%s" could not record its end.', run, pipeline);
    END IF;
    IF interrupted THEN
        RAISE EXCEPTION USING ERRCODE = 'query_canceled',
            MESSAGE = COALESCE(err_message, 'canceling statement due to user request'),
            DETAIL = pg_catalog.format('Refresh run %s of pipeline "%s" was cancelled and is marked so in retention.refresh_runs.', run, pipeline);
    END IF;
    -- after the commits above, so the run history survives the error that
    -- makes a scheduler (pg_cron) report the night as failed
    IF failures > 0 THEN
        RAISE EXCEPTION 'retention.refresh(%): % step(s) failed', pipeline, failures
            USING HINT = pg_catalog.format('See SELECT * FROM retention.refresh_runs WHERE run_id = %s.', run);
    END IF;
END
$$;

COMMENT ON PROCEDURE @extschema@.refresh(text) IS
'rebuilds a pipeline: customer summaries, behaviour features, a new churn model version (the best of the pipeline''s churn_candidates on the holdout, kept only if not worse there than the version in use), item-kNN, the customer-base model that fits and earns its place on a backtest, every customer''s scores (NULL where a step failed or a score did not beat its backtest threshold), and the new at-risk customers of auto-assigned campaigns in their arms; each step committed and logged in retention.refresh_runs; CALL it outside a transaction block';

CREATE OR REPLACE FUNCTION @extschema@.report_html(pipeline text DEFAULT 'default')
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- at most this many cohorts (the latest) and periods (0 ..) in the cohort charts
    max_cohorts   constant integer := 36;
    max_periods   constant integer := 36;
    -- how far the survival chart projects beyond the data
    extra_periods constant integer := 12;
    pl            @extschema@.pipelines%ROWTYPE;
    v_name        text;
    v_by_purchase boolean;
    v_unit        text;
    co            record;
    v_incomplete  text;
    q             record;
    r             record;
    s_header      text;
    s_heatmap     text;
    s_curves      text;
    s_survival    text;
    s_drivers     text;
    s_recs        text;
    s_backtest    text;
BEGIN
    IF report_html.pipeline IS NULL THEN
        RAISE EXCEPTION 'pipeline must not be null' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO pl FROM @extschema@.pipelines AS p WHERE p.name = report_html.pipeline;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', report_html.pipeline
            USING ERRCODE = '42704', HINT = 'Pipelines are the rows of retention.pipelines.';
    END IF;
    v_name := @extschema@.html_escape(pl.name);
    v_by_purchase := pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL;
    v_unit := pl.cohort_period;

    -- (a, b) cohort retention: heatmap, curves, survival with its projection
    SELECT * INTO co FROM @extschema@.report_cohorts(pl, max_cohorts, max_periods);
    IF co.error IS NOT NULL OR co.cohorts = 0 THEN
        s_heatmap := pg_catalog.format(
            '<p class="no-data" id="cohort-heatmap-no-data">No data yet: %s.</p>',
            CASE WHEN co.error IS NOT NULL
                 THEN 'cannot read the events table ' || @extschema@.html_escape(pl.events::text)
                      || ': ' || @extschema@.html_escape(co.error)
                 ELSE 'the events table ' || @extschema@.html_escape(pl.events::text)
                      || ' has no ' || CASE WHEN v_by_purchase THEN 'purchases' ELSE 'events' END END);
        s_curves := '<p class="no-data" id="retention-curves-no-data">No data yet: no cohorts.</p>';
        s_survival := '<p class="no-data" id="survival-curves-no-data">No data yet: no cohorts.</p>';
    ELSE
        v_incomplete := @extschema@.report_incomplete_note(co.cells, v_unit, co.data_from, co.data_to);
        s_heatmap := @extschema@.report_heatmap_html(co.cells, co.cohorts, v_unit, v_by_purchase, v_incomplete);
        s_curves := @extschema@.report_curves_html(co.cells, v_unit, v_by_purchase, v_incomplete);
        s_survival := @extschema@.report_survival_html(pl, max_cohorts, max_periods, extra_periods);
    END IF;

    SELECT * INTO q FROM @extschema@.report_churn_quality_html(pl.name);     -- (c, d)
    SELECT * INTO r FROM @extschema@.report_risk_html(pl.name);              -- (e)
    s_drivers := @extschema@.report_drivers_html(pl.name);
    s_backtest := @extschema@.report_backtest_html(pl.name);         -- (e2)
    s_recs := @extschema@.report_recommendations_html(pl.name);      -- (f)
    s_header := @extschema@.report_header_html(pl, co.customers, r.scored, r.at_risk,
                                               q.model_version, q.trained_at, q.churned, q.retained);

    RETURN '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || '<meta name="generator" content="retention.report_html">'
        || '<title>Retention report: ' || v_name || '</title>'
        || '<style>'
        || 'body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;'
        || 'color:#1e293b;background:#f8fafc;margin:0;padding:24px 32px;max-width:1320px}'
        || 'h1{font-size:24px;margin:0 0 12px}h1 .pipeline{color:#2563eb}h2{font-size:18px;margin:0 0 8px}'
        || 'h3{font-size:15px;margin:4px 0 6px}'
        || 'header,section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin-bottom:18px}'
        || 'dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0;font-size:14px}'
        || 'dt{color:#64748b}dd{margin:0;font-variant-numeric:tabular-nums}dd.failed{color:#b91c1c}'
        || '.caption{color:#475569;font-size:13px;margin:0 0 8px}'
        || '.no-data{color:#64748b;font-style:italic;background:#f1f5f9;border-radius:6px;padding:10px 14px}'
        || 'dd .no-data{padding:0 6px}'
        || '.pair{display:flex;flex-wrap:wrap;gap:24px}.pair>div{flex:0 0 auto}'
        || 'svg.chart{display:block;overflow:visible}'
        || 'svg text{font-size:11px;font-family:inherit}svg text:not([fill]){fill:#334155}'
        || 'svg .axis-title,svg .legend-title{font-size:12px;fill:#475569}'
        || 'svg .rate{font-size:10px;font-variant-numeric:tabular-nums}'
        || 'svg .cohort-label{font-variant-numeric:tabular-nums}'
        || 'svg .grid{stroke:#e2e8f0}svg .frame{stroke:#94a3b8}'
        || 'svg .diagonal{stroke:#94a3b8;stroke-dasharray:5 4}'
        || 'svg .roc{stroke:#1d4ed8;stroke-width:2.5}svg .calibration{stroke:#c2410c;stroke-width:2}'
        || 'svg .point{fill:#c2410c}svg .driver{fill:#7c3aed}'
        || 'table.metrics{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums}'
        || 'table.metrics th,table.metrics td{border-bottom:1px solid #e2e8f0;padding:6px 14px;text-align:right}'
        || 'table.metrics th:first-child{text-align:left}table.metrics thead th{color:#475569}'
        || 'table.metrics td.best{font-weight:700;color:#15803d}table.metrics td.ratio{color:#475569}'
        || 'footer{color:#94a3b8;font-size:12px}'
        || '.incomplete-legend{color:#475569;font-size:13px;margin:6px 0 0}'
        || '.swatch-incomplete{display:inline-block;width:28px;height:12px;margin-right:6px;vertical-align:middle;'
        || 'background:rgba(37,99,235,.3);border:1px dashed #475569}'
        || '.dot-incomplete{display:inline-block;width:6px;height:6px;margin:0 8px 0 4px;vertical-align:middle;'
        || 'border:1.5px solid #4e79a7;border-radius:50%;background:#fff}'
        || 'svg .data-end{stroke:#94a3b8;stroke-dasharray:2 3}'
        || '</style></head><body>'
        || s_header
        || '<section id="cohorts"><h2>Cohort retention</h2>' || s_heatmap || '</section>'
        || '<section id="curves"><h2>Retention curves</h2>' || s_curves || '</section>'
        || '<section id="survival"><h2>Survival and projection</h2>' || s_survival || '</section>'
        || '<section id="churn-model-quality"><h2>Churn model on its holdout</h2><div class="pair"><div>'
        || q.roc_html || '</div><div>' || q.calibration_html || '</div></div></section>'
        || '<section id="backtest-section"><h2>Backtest: which scores earn their place</h2>' || s_backtest || '</section>'
        || '<section id="risk"><h2>Risk distribution</h2>' || r.html || '</section>'
        || '<section id="drivers"><h2>Top churn drivers</h2>' || s_drivers || '</section>'
        || '<section id="recommendations"><h2>Recommendations: item-kNN against popularity</h2>' || s_recs || '</section>'
        || @extschema@.campaign_effects_html(pl.name)
        || '<footer>retention.report_html(' || @extschema@.html_escape(pg_catalog.quote_literal(pl.name))
        || ') at ' || pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD HH24:MI:SSOF') || '</footer>'
        || '</body></html>' || E'\n';
END
$$;

COMMENT ON FUNCTION @extschema@.report_html(text) IS
'one self-contained HTML page (inline CSS and SVG, no script, nothing fetched when viewed) on a pipeline: cohort retention heatmap and curves (incomplete periods marked), survival by cohort with its sBG projection dashed, the churn model''s ROC curve and calibration on its holdout, the backtest of every score (and why one is withheld), the churn-probability histogram, the top churn drivers, the item-kNN evaluation against popularity and each campaign''s effect against its control arm; sections without data say so';

--------------------------------------------------------------------------
-- report_html's parts.  Each phase of the page is a function of its own,
-- internal to report_html (they read with the caller's privileges, as
-- report_html does): the cohort rows, the heatmap, the curves, the survival
-- chart with its projection, the churn model's quality, the risk histogram,
-- the drivers, the backtest, the recommendation metrics and the header.
--------------------------------------------------------------------------

CREATE TYPE @extschema@.report_cell AS (
    cohort_start  date,
    cohort_size   bigint,
    period_number integer,
    retained      bigint,
    rate          float8,
    complete      boolean,
    row_no        integer
);

COMMENT ON TYPE @extschema@.report_cell IS
'one cell of report_html''s cohort charts: a row of cohort_table and the chart row of its cohort (0 the oldest shown)';

-- (a) one scan of the events table for cohort_table (and a min/max of its
-- time column for the incomplete periods); errors a caller can cause by
-- dropping, altering or hiding the table come back as text
CREATE FUNCTION @extschema@.report_cohorts(pl @extschema@.pipelines, max_cohorts integer, max_periods integer,
                                            OUT cells @extschema@.report_cell[], OUT cohorts integer,
                                            OUT customers bigint, OUT data_from timestamptz,
                                            OUT data_to timestamptz, OUT error text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    by_purchase boolean := pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL;
BEGIN
    cohorts := 0;
    customers := 0;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.oid = pl.events) THEN
        error := 'the table no longer exists';
        RETURN;
    END IF;
    BEGIN
        -- the latest max_cohorts cohorts, periods 0 .. max_periods - 1; row 0 the oldest of them
        WITH ct AS (
            -- pipelines take day, week or month periods: their starts are dates
            SELECT ct.cohort_start::pg_catalog.date AS cohort_start, ct.cohort_size, ct.period_number, ct.retained,
                   ct.rate, ct.complete
              FROM @extschema@.cohort_table(pl.events, pl.cohort_period,
                       user_column => pl.user_column, time_column => pl.time_column,
                       event_column => CASE WHEN by_purchase THEN pl.event_column END,
                       start_event => CASE WHEN by_purchase THEN pl.purchase_event END,
                       return_event => CASE WHEN by_purchase THEN pl.purchase_event END) AS ct),
        coh AS (
            SELECT d.cohort_start, d.cohort_size,
                   pg_catalog.row_number() OVER (ORDER BY d.cohort_start DESC) AS back
              FROM (SELECT DISTINCT ct.cohort_start, ct.cohort_size FROM ct) AS d),
        n AS (
            SELECT pg_catalog.count(*)::integer AS cohorts, COALESCE(pg_catalog.sum(coh.cohort_size), 0)::bigint AS customers
              FROM coh)
        SELECT n.cohorts, n.customers,
               (SELECT pg_catalog.array_agg(ROW(ct.cohort_start, ct.cohort_size, ct.period_number, ct.retained, ct.rate,
                                                ct.complete, (LEAST(n.cohorts, max_cohorts) - coh.back)::integer
                                               )::@extschema@.report_cell ORDER BY ct.cohort_start, ct.period_number)
                  FROM ct JOIN coh USING (cohort_start)
                 WHERE coh.back <= max_cohorts AND ct.period_number < max_periods)
          INTO cohorts, customers, cells
          FROM n;
        -- the extent of the data, as cohort_table's complete flag sees it
        EXECUTE pg_catalog.format('SELECT pg_catalog.min(%2$I), pg_catalog.max(%2$I) FROM %3$s '
                                  'WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL',
                                  pl.user_column, pl.time_column, pl.events)
           INTO data_from, data_to;
    EXCEPTION
        WHEN insufficient_privilege OR undefined_column OR undefined_function
             OR datatype_mismatch OR invalid_parameter_value THEN
            error := SQLERRM;
    END;
END
$$;

COMMENT ON FUNCTION @extschema@.report_cohorts(@extschema@.pipelines, integer, integer) IS
'internal to report_html: the pipeline''s cohort_table as report cells (the latest max_cohorts cohorts, periods below max_periods), the number of cohorts and customers, the first and latest event time, or the error that kept the events table from being read';

-- the incomplete periods among the cells: "8.5 of 30 days (2024-09)", ...
CREATE FUNCTION @extschema@.report_incomplete_note(cohort_cells @extschema@.report_cell[], unit text,
                                                    data_from timestamptz, data_to timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s of %s %s (%s)',
               pg_catalog.round((GREATEST(0, pg_catalog.date_part('epoch',
                   LEAST(b.hi, report_incomplete_note.data_to) OPERATOR(pg_catalog.-)
                   GREATEST(b.lo, report_incomplete_note.data_from))) / b.secs)::numeric, 1),
               pg_catalog.round((pg_catalog.date_part('epoch', b.hi OPERATOR(pg_catalog.-) b.lo) / b.secs)::numeric),
               CASE WHEN unit = 'day' THEN 'hours' ELSE 'days' END,
               CASE unit WHEN 'month' THEN pg_catalog.to_char(b.ps, 'YYYY-MM')
                         WHEN 'week' THEN 'week of ' || pg_catalog.to_char(b.ps, 'YYYY-MM-DD')
                         ELSE pg_catalog.to_char(b.ps, 'YYYY-MM-DD') END),
               '; ' ORDER BY b.ps)
      FROM (SELECT p.ps, p.ps::pg_catalog.timestamptz AS lo,
                   (p.ps OPERATOR(pg_catalog.+) ('1 ' OPERATOR(pg_catalog.||) unit)::pg_catalog.interval)::pg_catalog.timestamptz AS hi,
                   CASE WHEN unit = 'day' THEN 3600.0 ELSE 86400.0 END AS secs
              FROM (SELECT DISTINCT (c.cohort_start OPERATOR(pg_catalog.+)
                                     (c.period_number::text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) unit)::pg_catalog.interval
                                    )::pg_catalog.date AS ps
                      FROM pg_catalog.unnest(cohort_cells) AS c
                     WHERE NOT c.complete) AS p) AS b
$$;

COMMENT ON FUNCTION @extschema@.report_incomplete_note(@extschema@.report_cell[], text, timestamptz, timestamptz) IS
'internal to report_html: the calendar periods of the incomplete cells, each as "N of M days (period)" (hours for daily periods), or NULL when every cell is complete';

-- (a) the heatmap: a rect.cell and a text.rate per cell; incomplete cells lighter, with a dashed border
CREATE FUNCTION @extschema@.report_heatmap_html(cohort_cells @extschema@.report_cell[], cohorts integer, unit text,
                                                 by_purchase boolean, incomplete text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shown   integer;
    v_periods integer;
    v_scale   float8;
    v_cw      integer;
    v_w       integer;
    v_h       integer;
    s_heatmap text;
BEGIN
    SELECT pg_catalog.count(DISTINCT c.row_no)::integer, pg_catalog.max(c.period_number) + 1,
           pg_catalog.max(c.rate) FILTER (WHERE c.period_number > 0)
      INTO v_shown, v_periods, v_scale
      FROM pg_catalog.unnest(cohort_cells) AS c;
    v_scale := CASE WHEN v_scale > 0 THEN v_scale ELSE 1 END;
    v_cw := LEAST(64, GREATEST(30, 1000 / v_periods));
    v_w := 190 + v_periods * v_cw + 20;
    v_h := 44 + v_shown * 24 + 56;

    WITH cells AS (
        SELECT c.*, LEAST(1.0, GREATEST(0.0, c.rate / v_scale)) AS t
          FROM pg_catalog.unnest(cohort_cells) AS c)
    SELECT pg_catalog.format('<svg class="chart" id="cohort-heatmap" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %1$s %2$s" role="img" aria-label="cohort retention heatmap">',
                             v_w, v_h)
        -- column headers: periods since the cohort's start
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="period-label" x="%s" y="36" text-anchor="middle">%s</text>',
                    190 + g * v_cw + v_cw / 2, g), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, v_periods - 1) AS g)
        || pg_catalog.format('<text class="axis-title" x="%s" y="14" text-anchor="middle">%ss since the first %s</text>',
                             190 + v_periods * v_cw / 2, unit,
                             CASE WHEN by_purchase THEN 'purchase' ELSE 'event' END)
        -- row headers: cohort start and size
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="cohort-label" x="182" y="%s" text-anchor="end">%s  (%s)</text>',
                    44 + r.row_no * 24 + 16,
                    pg_catalog.to_char(r.cohort_start, CASE unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END),
                    r.cohort_size), '' ORDER BY r.row_no)
              FROM (SELECT DISTINCT cells.row_no, cells.cohort_start, cells.cohort_size FROM cells) AS r)
        -- one rect.cell and one text.rate per (cohort, period)
        || pg_catalog.string_agg(pg_catalog.format(
               '<rect class="cell" x="%s" y="%s" width="%s" height="22" fill="%s"%s><title>cohort %s, %s %s: %s of %s retained (%s%%)%s</title></rect>'
               '<text class="rate" x="%s" y="%s" text-anchor="middle" fill="%s">%s%%</text>',
               190 + cells.period_number * v_cw, 44 + cells.row_no * 24, v_cw - 2,
               CASE WHEN cells.period_number = 0 THEN '#e2e8f0'
                    ELSE pg_catalog.format('rgb(%s,%s,%s)',
                             pg_catalog.round(240 - cells.t * 232), pg_catalog.round(249 - cells.t * 201),
                             pg_catalog.round(255 - cells.t * 148)) END,
               CASE WHEN cells.complete THEN ''
                    ELSE ' fill-opacity="0.45" stroke="#475569" stroke-dasharray="3 2" data-complete="false"' END,
               cells.cohort_start, unit, cells.period_number, cells.retained, cells.cohort_size,
               pg_catalog.round((cells.rate * 100)::numeric, 2),
               CASE WHEN cells.complete THEN '' ELSE '; incomplete period, so far' END,
               190 + cells.period_number * v_cw + (v_cw - 2) / 2, 44 + cells.row_no * 24 + 15,
               CASE WHEN cells.period_number > 0 AND cells.t > 0.55 AND cells.complete THEN '#ffffff' ELSE '#1e293b' END,
               pg_catalog.round((cells.rate * 100)::numeric, CASE WHEN v_cw >= 44 THEN 1 ELSE 0 END)),
               '' ORDER BY cells.row_no, cells.period_number)
        -- legend: the colour scale
        || pg_catalog.format('<text class="legend-title" x="190" y="%s">colour: retention rate, from 0 to the highest after period 0 (%s%%); period 0 is the cohort itself</text>',
                             v_h - 34, pg_catalog.round((v_scale * 100)::numeric, 1))
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<rect class="legend-swatch" x="%s" y="%s" width="48" height="12" fill="rgb(%s,%s,%s)"/>'
                    '<text class="legend-label" x="%s" y="%s">%s%%</text>',
                    190 + i * 70, v_h - 26,
                    pg_catalog.round(240 - i / 5.0 * 232), pg_catalog.round(249 - i / 5.0 * 201),
                    pg_catalog.round(255 - i / 5.0 * 148),
                    190 + i * 70, v_h - 4, pg_catalog.round((v_scale * i / 5.0 * 100)::numeric, 1)), '' ORDER BY i)
              FROM pg_catalog.generate_series(0, 5) AS i)
        || '</svg>'
      INTO s_heatmap
      FROM cells;

    RETURN pg_catalog.format(
        '<p class="caption">Share of customers %s again, by %s of first %s (cohort) and %ss since%s.  Hover a cell for its counts.</p>',
        CASE WHEN by_purchase THEN 'who purchased' ELSE 'active' END,
        unit, CASE WHEN by_purchase THEN 'purchase' ELSE 'activity' END, unit,
        CASE WHEN cohorts > v_shown
             THEN pg_catalog.format('; the latest %s of %s cohorts', v_shown, cohorts) ELSE '' END)
        || s_heatmap
        || COALESCE('<p class="incomplete-legend" id="cohort-heatmap-incomplete"><span class="swatch-incomplete"></span>'
                    || 'lighter cells with a dashed border: incomplete: ' || incomplete
                    || '; their rates count only the days so far.</p>', '');
END
$$;

COMMENT ON FUNCTION @extschema@.report_heatmap_html(@extschema@.report_cell[], integer, text, boolean, text) IS
'internal to report_html: the cohort heatmap (caption, svg#cohort-heatmap, and the legend of incomplete periods when there are any)';

-- the colour of cohort row_no of shown: ten distinct colours for up to ten
-- cohorts, else a sweep of hues from blue to red in three lightnesses
CREATE FUNCTION @extschema@.report_cohort_colour(row_no integer, shown integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN row_no < 10 AND shown <= 10
                THEN (ARRAY['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                            '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#7f7f7f'])[row_no + 1]
                ELSE pg_catalog.format('hsl(%s,60%%,%s%%)',
                         pg_catalog.round((210 - 190.0 * row_no / GREATEST(shown - 1, 1))::numeric),
                         35 + (row_no % 3) * 10) END
$$;

COMMENT ON FUNCTION @extschema@.report_cohort_colour(integer, integer) IS
'internal to report_html: the line colour of cohort row_no when shown cohorts are drawn';

-- (b) retention curves: one polyline per cohort over periods 1 .., on a
-- scale that fits them (period 0 is 100% by definition); incomplete points hollow
CREATE FUNCTION @extschema@.report_curves_html(cohort_cells @extschema@.report_cell[], unit text,
                                                by_purchase boolean, incomplete text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_shown   integer;
    v_periods integer;
    v_scale   float8;
    v_ymax    float8;
    s_curves  text;
BEGIN
    SELECT pg_catalog.count(DISTINCT c.row_no)::integer, pg_catalog.max(c.period_number) + 1,
           pg_catalog.max(c.rate) FILTER (WHERE c.period_number > 0)
      INTO v_shown, v_periods, v_scale
      FROM pg_catalog.unnest(cohort_cells) AS c;
    IF v_periods < 2 THEN
        RETURN '<p class="no-data" id="retention-curves-no-data">No data yet: no cohort has reached period 1.</p>';
    END IF;
    v_scale := CASE WHEN v_scale > 0 THEN v_scale ELSE 1 END;
    v_ymax := CASE WHEN v_scale <= 0.5 THEN pg_catalog.ceil(v_scale * 20 - 1e-9) / 20.0
                   ELSE pg_catalog.ceil(v_scale * 10 - 1e-9) / 10.0 END;
    v_ymax := GREATEST(v_ymax, 0.05);
    WITH pts AS (
        SELECT c.*,
               60 + (c.period_number - 1) * 640.0 / GREATEST(v_periods - 2, 1) AS x,
               20 + 300 * (1 - LEAST(c.rate, v_ymax) / v_ymax) AS y,
               @extschema@.report_cohort_colour(c.row_no, v_shown) AS colour
          FROM pg_catalog.unnest(cohort_cells) AS c
         WHERE c.period_number >= 1),
    lines AS (
        SELECT pts.row_no, pts.cohort_start, pts.colour,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(pts.x::numeric, 1),
                                                       pg_catalog.round(pts.y::numeric, 1)),
                                     ' ' ORDER BY pts.period_number) AS points,
               pg_catalog.string_agg(pg_catalog.format(
                   '<circle class="dot" cx="%s" cy="%s" r="2.5" fill="%s"%s><title>cohort %s, %s %s: %s%%%s</title></circle>',
                   pg_catalog.round(pts.x::numeric, 1), pg_catalog.round(pts.y::numeric, 1),
                   CASE WHEN pts.complete THEN pts.colour ELSE '#ffffff' END,
                   CASE WHEN pts.complete THEN ''
                        ELSE pg_catalog.format(' stroke="%s" stroke-width="1.5" data-complete="false"', pts.colour) END,
                   pts.cohort_start, unit, pts.period_number,
                   pg_catalog.round((pts.rate * 100)::numeric, 2),
                   CASE WHEN pts.complete THEN '' ELSE ', incomplete period, so far' END),
                   '' ORDER BY pts.period_number) AS dots
          FROM pts
         GROUP BY pts.row_no, pts.cohort_start, pts.colour)
    SELECT '<svg class="chart" id="retention-curves" xmlns="http://www.w3.org/2000/svg" width="900" height="360" viewBox="0 0 900 360" role="img" aria-label="retention curves">'
        -- horizontal grid and y labels
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<line class="grid" x1="60" x2="700" y1="%s" y2="%1$s"/><text class="tick" x="54" y="%s" text-anchor="end">%s%%</text>',
                    20 + 300 - g * 60, 20 + 300 - g * 60 + 4, pg_catalog.round((v_ymax * g / 5 * 100)::numeric, 1)),
                    '' ORDER BY g)
              FROM pg_catalog.generate_series(0, 5) AS g)
        -- x ticks: every period, or about a dozen
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="tick" x="%s" y="338" text-anchor="middle">%s</text>',
                    pg_catalog.round((60 + (g - 1) * 640.0 / GREATEST(v_periods - 2, 1))::numeric, 1), g),
                    '' ORDER BY g)
              FROM pg_catalog.generate_series(1, v_periods - 1) AS g
             WHERE (g - 1) % GREATEST(1, pg_catalog.ceil((v_periods - 1) / 12.0)::integer) = 0)
        || pg_catalog.format('<text class="axis-title" x="380" y="356" text-anchor="middle">%ss since the first %s</text>',
                             unit, CASE WHEN by_purchase THEN 'purchase' ELSE 'event' END)
        || pg_catalog.string_agg(pg_catalog.format(
               '<polyline class="curve" fill="none" stroke="%s" stroke-width="2" points="%s"><title>cohort %s</title></polyline>%s',
               lines.colour, lines.points, lines.cohort_start, lines.dots), '' ORDER BY lines.row_no)
        -- legend: every cohort when there are few, else the first and the last
        || pg_catalog.string_agg(
               CASE WHEN v_shown <= 14 OR lines.row_no IN (0, v_shown - 1) THEN
                   pg_catalog.format('<line class="legend-line" x1="720" x2="744" y1="%s" y2="%1$s" stroke="%s" stroke-width="3"/><text class="legend-label" x="750" y="%s">%s</text>',
                                     20 + LEAST(lines.row_no, 14) * 20, lines.colour,
                                     20 + LEAST(lines.row_no, 14) * 20 + 4,
                                     pg_catalog.to_char(lines.cohort_start, CASE unit WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY-MM-DD' END))
               ELSE '' END, '' ORDER BY lines.row_no)
        || '</svg>'
      INTO s_curves
      FROM lines;
    RETURN '<p class="caption">Each line is a cohort: the share of its customers retained in each later '
           || unit || ' (period 0, 100% by definition, is left out so that the scale fits).</p>'
           || s_curves
           || COALESCE('<p class="incomplete-legend" id="retention-curves-incomplete"><span class="dot-incomplete"></span>'
                       || 'hollow dots: incomplete: ' || incomplete || '; their rates count only the days so far.</p>', '');
END
$$;

COMMENT ON FUNCTION @extschema@.report_curves_html(@extschema@.report_cell[], text, boolean, text) IS
'internal to report_html: the retention curves (caption, svg#retention-curves, and the legend of incomplete periods when there are any)';

-- (b2) the survivor matrix for the projection: unbounded retention (active
-- in period k or later, so counts never rise), each cohort's incomplete last
-- period censored (left NULL): a part of a period is not its survivors
CREATE FUNCTION @extschema@.report_survivor_matrix(pl @extschema@.pipelines)
RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ct AS (
        SELECT ct.cohort_start::pg_catalog.date AS cohort_start, ct.cohort_size, ct.period_number, ct.retained, ct.complete
          FROM @extschema@.cohort_table(pl.events, pl.cohort_period, unbounded => true,
                   user_column => pl.user_column, time_column => pl.time_column,
                   event_column => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.event_column END,
                   start_event => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.purchase_event END,
                   return_event => CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL THEN pl.purchase_event END) AS ct),
    obs AS (
        SELECT ct.cohort_start, ct.cohort_size,
               pg_catalog.array_agg(ct.retained ORDER BY ct.period_number)
                   FILTER (WHERE ct.complete OR ct.period_number = 0) AS r
          FROM ct GROUP BY ct.cohort_start, ct.cohort_size),
    w AS (SELECT pg_catalog.max(pg_catalog.cardinality(obs.r)) AS width FROM obs)
    SELECT pg_catalog.array_agg(ARRAY[(obs.cohort_start OPERATOR(pg_catalog.-) DATE '2000-01-01')::bigint, obs.cohort_size]
                                OPERATOR(pg_catalog.||) obs.r
                                OPERATOR(pg_catalog.||) pg_catalog.array_fill(NULL::bigint,
                                                            ARRAY[w.width OPERATOR(pg_catalog.-) pg_catalog.cardinality(obs.r)])
                                ORDER BY obs.cohort_start)
      FROM obs, w
$$;

COMMENT ON FUNCTION @extschema@.report_survivor_matrix(@extschema@.pipelines) IS
'internal to report_html: the pipeline''s cohorts as a cohort_matrix of survivor counts (unbounded retention), each cohort''s incomplete last period left out (NULL), for cohort_projection';

-- (b2) survival: per cohort its observed survivors (solid) and the sBG
-- projection of cohort_projection (dashed, from its last complete period to
-- the horizon); over all cohorts the Kaplan-Meier curve and its sBG projection
CREATE FUNCTION @extschema@.report_survival_html(pl @extschema@.pipelines, max_cohorts integer, max_periods integer,
                                                  extra_periods integer)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
-- the caption says what sbg_fit would warn about (no model, no convergence)
SET client_min_messages = error
AS $$
DECLARE
    v_matrix  bigint[];
    v_km      @extschema@.survival_curve;
    v_sbg     @extschema@.sbg_model;
    v_last    integer;
    v_horizon integer;
    v_shown   integer;
    v_error   text;
    s_chart   text;
BEGIN
    BEGIN
        v_matrix := @extschema@.report_survivor_matrix(pl);
        -- lost during period t: (t, true); still there after the last period L: (L, false)
        WITH r AS (SELECT * FROM @extschema@.cohort_rows(v_matrix)),
             last AS (SELECT DISTINCT ON (r.cohort_start) r.* FROM r ORDER BY r.cohort_start, r.period_number DESC),
             g AS (SELECT b.period_number AS t, true AS churned, a.retained - b.retained AS customers
                     FROM r AS a JOIN r AS b
                       ON b.cohort_start = a.cohort_start AND b.period_number = a.period_number + 1
                   UNION ALL
                   SELECT last.period_number, false, last.retained FROM last)
        SELECT @extschema@.km_fit(g.t::float8, g.churned, g.customers::float8) FILTER (WHERE g.customers > 0),
               @extschema@.sbg_fit(g.t, g.churned, g.customers) FILTER (WHERE g.customers > 0),
               pg_catalog.max(g.t)
          INTO v_km, v_sbg, v_last
          FROM g;
    EXCEPTION
        WHEN insufficient_privilege OR undefined_column OR undefined_function
             OR datatype_mismatch OR invalid_parameter_value OR numeric_value_out_of_range THEN
            v_error := SQLERRM;
    END;
    IF v_error IS NOT NULL THEN
        RETURN '<p class="no-data" id="survival-curves-no-data">No data yet: cannot project the cohorts: '
               || @extschema@.html_escape(v_error) || '.</p>';
    ELSIF v_km IS NULL OR v_last IS NULL OR v_last < 1 THEN
        RETURN '<p class="no-data" id="survival-curves-no-data">No data yet: no cohort has a complete period after period 0.</p>';
    END IF;
    v_horizon := v_last + extra_periods;
    v_shown := LEAST(pg_catalog.array_length(v_matrix, 1), max_cohorts);

    WITH proj AS (
        SELECT p.*, (v_shown - pg_catalog.dense_rank() OVER (ORDER BY p.cohort_start DESC))::integer AS row_no
          FROM @extschema@.cohort_projection(v_matrix, v_horizon) AS p),
    pts AS (
        SELECT proj.*,
               60 + proj.period_number * 640.0 / v_horizon AS x,
               20 + 300 * (1 - LEAST(GREATEST(proj.rate, 0), 1)) AS y,
               @extschema@.report_cohort_colour(proj.row_no, v_shown) AS colour
          FROM proj
         WHERE proj.row_no >= 0 AND proj.period_number <= v_horizon),
    -- each cohort's projection starts at its last observed point
    seg AS (
        SELECT pts.*, pts.period_number = pg_catalog.max(pts.period_number) FILTER (WHERE NOT pts.projected)
                                            OVER (PARTITION BY pts.cohort_start) AS last_observed
          FROM pts),
    lines AS (
        SELECT seg.row_no, seg.cohort_start, seg.colour,
               pg_catalog.max(seg.period_number) FILTER (WHERE seg.last_observed) AS from_period,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(seg.x::numeric, 1), pg_catalog.round(seg.y::numeric, 1)),
                                     ' ' ORDER BY seg.period_number) FILTER (WHERE NOT seg.projected) AS observed,
               pg_catalog.string_agg(pg_catalog.round(seg.rate::numeric, 4)::text, ' ' ORDER BY seg.period_number)
                   FILTER (WHERE NOT seg.projected) AS observed_rates,
               pg_catalog.string_agg(pg_catalog.format('%s,%s', pg_catalog.round(seg.x::numeric, 1), pg_catalog.round(seg.y::numeric, 1)),
                                     ' ' ORDER BY seg.period_number) FILTER (WHERE seg.projected OR seg.last_observed) AS projected,
               pg_catalog.string_agg(pg_catalog.round(seg.rate::numeric, 4)::text, ' ' ORDER BY seg.period_number)
                   FILTER (WHERE seg.projected OR seg.last_observed) AS projected_rates,
               pg_catalog.bool_or(seg.projected) AS has_projection
          FROM seg
         GROUP BY seg.row_no, seg.cohort_start, seg.colour),
    -- all cohorts: Kaplan-Meier up to the last complete period, then the sBG model from there
    km AS (
        SELECT k, CASE WHEN k <= v_last THEN @extschema@.survival_at(v_km, k)
                       ELSE @extschema@.survival_at(v_km, v_last) * @extschema@.sbg_survival(v_sbg, k)
                            / @extschema@.sbg_survival(v_sbg, v_last) END AS s
          FROM pg_catalog.generate_series(0, v_horizon) AS k
         WHERE k <= v_last OR v_sbg IS NOT NULL),
    kmp AS (
        SELECT km.k, km.s, pg_catalog.format('%s,%s', pg_catalog.round((60 + km.k * 640.0 / v_horizon)::numeric, 1),
                                             pg_catalog.round((20 + 300 * (1 - km.s))::numeric, 1)) AS xy
          FROM km)
    SELECT pg_catalog.format('<svg class="chart" id="survival-curves" xmlns="http://www.w3.org/2000/svg" width="900" height="360" viewBox="0 0 900 360" role="img" aria-label="%s">',
                             'survival curves: observed survivors solid, the sBG model''s projection dashed')
        || '<title>Survival by cohort: observed (solid) and projected by the sBG model (dashed)</title>'
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<line class="grid" x1="60" x2="700" y1="%s" y2="%1$s"/><text class="tick" x="54" y="%s" text-anchor="end">%s%%</text>',
                    20 + 300 - g * 60, 20 + 300 - g * 60 + 4, g * 20), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, 5) AS g)
        || (SELECT pg_catalog.string_agg(pg_catalog.format(
                    '<text class="tick" x="%s" y="338" text-anchor="middle">%s</text>',
                    pg_catalog.round((60 + g * 640.0 / v_horizon)::numeric, 1), g), '' ORDER BY g)
              FROM pg_catalog.generate_series(0, v_horizon) AS g
             WHERE g % GREATEST(1, pg_catalog.ceil(v_horizon / 12.0)::integer) = 0)
        || pg_catalog.format('<line class="data-end" x1="%s" x2="%1$s" y1="20" y2="320"/><text class="tick" x="%1$s" y="14" text-anchor="middle">data end</text>',
                             pg_catalog.round((60 + v_last * 640.0 / v_horizon)::numeric, 1))
        || pg_catalog.format('<text class="axis-title" x="380" y="356" text-anchor="middle">%ss since the first %s</text>',
                             pl.cohort_period, CASE WHEN pl.churn_on = 'purchase' AND pl.event_column IS NOT NULL
                                                    THEN 'purchase' ELSE 'event' END)
        || pg_catalog.string_agg(pg_catalog.format(
               '<polyline class="survival" data-cohort="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-opacity="0.75" points="%s" data-rates="%s"><title>cohort %s: observed survivors, periods 0 to %s</title></polyline>',
               lines.cohort_start, lines.colour, lines.observed, lines.observed_rates, lines.cohort_start, lines.from_period)
               || CASE WHEN lines.has_projection THEN pg_catalog.format(
               '<polyline class="projection" data-cohort="%s" data-from-period="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4" points="%s" data-rates="%s"><title>cohort %s: projected by the sBG model from period %s to %s</title></polyline>',
               lines.cohort_start, lines.from_period, lines.colour, lines.projected, lines.projected_rates,
               lines.cohort_start, lines.from_period, v_horizon) ELSE '' END,
               '' ORDER BY lines.row_no)
        || (SELECT pg_catalog.format(
                   '<polyline class="km" fill="none" stroke="#be185d" stroke-width="3" points="%s" data-survival="%s"><title>all cohorts: Kaplan–Meier survival, periods 0 to %s</title></polyline>',
                   pg_catalog.string_agg(kmp.xy, ' ' ORDER BY kmp.k),
                   pg_catalog.string_agg(pg_catalog.round(kmp.s::numeric, 4)::text, ' ' ORDER BY kmp.k), v_last)
              FROM kmp WHERE kmp.k <= v_last)
        || COALESCE((SELECT pg_catalog.format(
                   '<polyline class="km-projection" data-from-period="%s" fill="none" stroke="#be185d" stroke-width="3" stroke-dasharray="9 5" points="%s" data-survival="%s"><title>all cohorts: projected by the sBG model from period %1$s to %4$s</title></polyline>',
                   v_last, pg_catalog.string_agg(kmp.xy, ' ' ORDER BY kmp.k),
                   pg_catalog.string_agg(pg_catalog.round(kmp.s::numeric, 4)::text, ' ' ORDER BY kmp.k), v_horizon)
              FROM kmp WHERE kmp.k >= v_last HAVING pg_catalog.count(*) > 1), '')
        -- legend
        || '<line class="legend-line" x1="720" x2="744" y1="24" y2="24" stroke="#be185d" stroke-width="3"/><text class="legend-label" x="750" y="28">Kaplan–Meier, all cohorts</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="44" y2="44" stroke="#be185d" stroke-width="3" stroke-dasharray="9 5"/><text class="legend-label" x="750" y="48">sBG projection</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="64" y2="64" stroke="#64748b" stroke-width="1.5"/><text class="legend-label" x="750" y="68">a cohort, observed</text>'
        || '<line class="legend-line" x1="720" x2="744" y1="84" y2="84" stroke="#64748b" stroke-width="1.5" stroke-dasharray="6 4"/><text class="legend-label" x="750" y="88">a cohort, projected</text>'
        || '</svg>'
      INTO s_chart
      FROM lines;

    RETURN pg_catalog.format(
        '<p class="caption">Share of each cohort still active in a %s or later (solid), and where the data ends, the sBG model fitted to all cohorts carrying it on for %s %ss (dashed)%s; the thick line pools the cohorts (Kaplan–Meier).  A cohort''s incomplete last %s is left out: its survivors are not counted yet.</p>',
        pl.cohort_period, extra_periods, pl.cohort_period,
        CASE WHEN v_sbg IS NULL THEN ' — no projection: nobody was lost, so there is no sBG model'
             ELSE pg_catalog.format(' (α = %s, β = %s)', pg_catalog.round(((v_sbg::jsonb) ->> 'alpha')::numeric, 3),
                                   pg_catalog.round(((v_sbg::jsonb) ->> 'beta')::numeric, 3))
                  || CASE WHEN ((v_sbg::jsonb) ->> 'converged')::boolean THEN ''
                          ELSE ', a fit that did not converge: read the projection with care' END END,
        pl.cohort_period)
        || s_chart;
END
$$;

COMMENT ON FUNCTION @extschema@.report_survival_html(@extschema@.pipelines, integer, integer, integer) IS
'internal to report_html: svg#survival-curves, each cohort''s observed survivors (unbounded retention) and its cohort_projection beyond them dashed, the Kaplan-Meier curve of all cohorts and its sBG projection dashed';

-- (c, d) the churn model on its holdout
CREATE FUNCTION @extschema@.report_churn_quality_html(pipeline text,
                                                       OUT roc_html text, OUT calibration_html text,
                                                       OUT model_version integer, OUT trained_at timestamptz,
                                                       OUT churned bigint, OUT retained bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_version     integer;
    v_trained     timestamptz;
    v_auc         float8;
    v_pos         bigint;
    v_neg         bigint;
    s_roc         text;
    s_calibration text;
BEGIN
    ----------------------------------------------------------------------
    -- (c, d) the churn model on its holdout: the version that scored the
    -- customers, else the latest version with holdout predictions
    ----------------------------------------------------------------------
    -- the few versions first, then the holdout: a semi join per customer
    -- scanned the holdout for each when the statistics said it was small
    SELECT pg_catalog.max(v.churn_model_version) INTO v_version
      FROM (SELECT DISTINCT cs.churn_model_version FROM @extschema@.customer_scores AS cs
             WHERE cs.pipeline = report_churn_quality_html.pipeline) AS v
     WHERE EXISTS (SELECT 1 FROM @extschema@.churn_holdout AS h
                    WHERE h.pipeline = report_churn_quality_html.pipeline
                      AND h.model_version = v.churn_model_version);
    IF v_version IS NULL THEN
        SELECT pg_catalog.max(h.model_version) INTO v_version
          FROM @extschema@.churn_holdout AS h WHERE h.pipeline = report_churn_quality_html.pipeline;
    END IF;
    SELECT m.trained_at INTO v_trained FROM @extschema@.models AS m
     WHERE m.name = report_churn_quality_html.pipeline || '_churn' AND m.version = v_version;

    -- probabilities outside [0, 1] (and NaN, above every number) are not predictions
    SELECT @extschema@.roc_auc(h.churn_prob, h.churned),
           pg_catalog.count(*) FILTER (WHERE h.churned), pg_catalog.count(*) FILTER (WHERE NOT h.churned)
      INTO v_auc, v_pos, v_neg
      FROM @extschema@.churn_holdout AS h
     WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
       AND h.churn_prob >= 0 AND h.churn_prob <= 1;

    IF v_version IS NULL OR v_pos + v_neg = 0 THEN
        s_roc := '<p class="no-data" id="roc-curve-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
        s_calibration := '<p class="no-data" id="calibration-no-data">No data yet: no churn model has holdout predictions for this pipeline.</p>';
    ELSE
        IF v_pos = 0 OR v_neg = 0 THEN
            s_roc := pg_catalog.format(
                '<p class="no-data" id="roc-curve-no-data">No data yet: the holdout of model version %s has only %s customers, so there is no ROC curve.</p>',
                v_version, CASE WHEN v_pos = 0 THEN 'retained' ELSE 'churned' END);
        ELSE
            -- one point per distinct score (at most about 500), from the highest down
            WITH h AS (
                SELECT h.churn_prob AS s, h.churned AS y FROM @extschema@.churn_holdout AS h
                 WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
                   AND h.churn_prob >= 0 AND h.churn_prob <= 1),
            th AS (
                SELECT h.s, pg_catalog.count(*) FILTER (WHERE h.y) AS tp, pg_catalog.count(*) FILTER (WHERE NOT h.y) AS fp
                  FROM h GROUP BY h.s),
            cum AS (
                SELECT pg_catalog.sum(th.tp) OVER w AS ctp, pg_catalog.sum(th.fp) OVER w AS cfp,
                       pg_catalog.row_number() OVER w AS rn, pg_catalog.count(*) OVER () AS n
                  FROM th WINDOW w AS (ORDER BY th.s DESC)),
            pts AS (
                SELECT 0::bigint AS rn, 0::float8 AS fpr, 0::float8 AS tpr
                UNION ALL
                SELECT cum.rn, cum.cfp::float8 / v_neg, cum.ctp::float8 / v_pos FROM cum
                 WHERE cum.rn = cum.n OR cum.rn % GREATEST(1, pg_catalog.ceil(cum.n / 500.0)::bigint) = 0)
            SELECT pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + pts.fpr * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - pts.tpr) * 300)::numeric, 1)), ' ' ORDER BY pts.rn)
              INTO s_roc FROM pts;
            s_roc := pg_catalog.format(
                '<h3>ROC curve (AUC <span class="auc">%s</span>)</h3>', pg_catalog.round(v_auc::numeric, 3))
                || '<svg class="chart" id="roc-curve" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="ROC curve">'
                || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
                || (SELECT pg_catalog.string_agg(pg_catalog.format(
                           '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                           50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                      FROM pg_catalog.generate_series(0, 5) AS g)
                || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
                || pg_catalog.format('<polyline class="roc" fill="none" points="%s"/>', s_roc)
                || '<text class="axis-title" x="200" y="356" text-anchor="middle">false positive rate</text>'
                || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">true positive rate</text>'
                || '</svg>';
        END IF;

        -- calibration: deciles of the predicted probability
        WITH h AS (
            SELECT h.churn_prob AS s, h.churned AS y,
                   pg_catalog.ntile(10) OVER (ORDER BY h.churn_prob) AS decile
              FROM @extschema@.churn_holdout AS h
             WHERE h.pipeline = report_churn_quality_html.pipeline AND h.model_version = v_version
               AND h.churn_prob >= 0 AND h.churn_prob <= 1),
        d AS (
            SELECT h.decile, pg_catalog.avg(h.s) AS predicted,
                   pg_catalog.avg(h.y::integer::float8) AS observed, pg_catalog.count(*) AS n
              FROM h GROUP BY h.decile)
        SELECT '<h3>Calibration (deciles of predicted probability)</h3>'
            || '<svg class="chart" id="calibration" xmlns="http://www.w3.org/2000/svg" width="380" height="370" viewBox="0 0 380 370" role="img" aria-label="calibration plot">'
            || '<rect class="frame" x="50" y="20" width="300" height="300" fill="none"/>'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="336" text-anchor="middle">%s</text><text class="tick" x="44" y="%s" text-anchor="end">%2$s</text>',
                       50 + g * 60, (g / 5.0)::numeric(2, 1), 20 + 300 - g * 60 + 4), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<line class="diagonal" x1="50" y1="320" x2="350" y2="20"/>'
            || pg_catalog.format('<polyline class="calibration" fill="none" points="%s"/>',
                   pg_catalog.string_agg(pg_catalog.format('%s,%s',
                       pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                       pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1)), ' ' ORDER BY d.decile))
            || pg_catalog.string_agg(pg_catalog.format(
                   '<circle class="point" cx="%s" cy="%s" r="4.5"><title>decile %s: mean predicted %s, observed %s, %s customers</title></circle>',
                   pg_catalog.round((50 + d.predicted * 300)::numeric, 1),
                   pg_catalog.round((20 + (1 - d.observed) * 300)::numeric, 1),
                   d.decile, pg_catalog.round(d.predicted::numeric, 3), pg_catalog.round(d.observed::numeric, 3), d.n),
                   '' ORDER BY d.decile)
            || '<text class="axis-title" x="200" y="356" text-anchor="middle">mean predicted churn probability</text>'
            || '<text class="axis-title" x="14" y="170" text-anchor="middle" transform="rotate(-90 14 170)">observed churn rate</text>'
            || '</svg>'
          INTO s_calibration
          FROM d;
    END IF;
    roc_html := s_roc;
    calibration_html := s_calibration;
    model_version := v_version;
    trained_at := v_trained;
    churned := v_pos;
    retained := v_neg;
END
$$;

COMMENT ON FUNCTION @extschema@.report_churn_quality_html(text) IS
'internal to report_html: the ROC curve and calibration of the churn model on its holdout, the model version shown, when it was trained and its holdout counts';

-- (e) the risk distribution
CREATE FUNCTION @extschema@.report_risk_html(pipeline text, OUT html text, OUT scored bigint, OUT at_risk bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_scored  bigint;
    v_at_risk bigint;
    v_bins    bigint[];
    v_step    bigint;
    v_axis    bigint;
    s_risk    text;
BEGIN
    ----------------------------------------------------------------------
    -- (e) the risk distribution of the scored customers, 20 bins
    ----------------------------------------------------------------------
    SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE cs.churn_prob >= 0.5)
      INTO v_scored, v_at_risk
      FROM @extschema@.customer_scores AS cs
     WHERE cs.pipeline = report_risk_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1;

    IF v_scored = 0 THEN
        s_risk := '<p class="no-data" id="risk-histogram-no-data">No data yet: no customer has a churn probability.</p>';
    ELSE
        -- bin i holds [i / 20, (i + 1) / 20), and the last bin also 1
        SELECT pg_catalog.array_agg(COALESCE(b.n, 0) ORDER BY g) INTO v_bins
          FROM pg_catalog.generate_series(0, 19) AS g
          LEFT JOIN (SELECT LEAST(pg_catalog.floor(cs.churn_prob * 20)::integer, 19) AS bin, pg_catalog.count(*) AS n
                       FROM @extschema@.customer_scores AS cs
                      WHERE cs.pipeline = report_risk_html.pipeline AND cs.churn_prob >= 0 AND cs.churn_prob <= 1
                      GROUP BY 1) AS b ON b.bin = g;
        -- a y axis in steps of 1, 2 or 5 times a power of ten, about four of them
        v_step := (SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n);
        v_step := GREATEST(1, (SELECT CASE WHEN x.raw / x.mag <= 1 THEN 1 WHEN x.raw / x.mag <= 2 THEN 2
                                           WHEN x.raw / x.mag <= 5 THEN 5 ELSE 10 END * x.mag
                                 FROM (SELECT v_step / 4.0 AS raw,
                                              10 ^ pg_catalog.floor(pg_catalog.log(v_step / 4.0)) AS mag) AS x)::bigint);
        v_axis := pg_catalog.ceil((SELECT pg_catalog.max(n) FROM pg_catalog.unnest(v_bins) AS n)::numeric / v_step) * v_step;
        SELECT pg_catalog.format(
                   '<p class="caption">%s customers scored; %s (%s%%) have a churn probability of 0.5 or more.</p>',
                   v_scored, v_at_risk, pg_catalog.round((100.0 * v_at_risk / v_scored)::numeric, 1))
            || '<svg class="chart" id="risk-histogram" xmlns="http://www.w3.org/2000/svg" width="900" height="320" viewBox="0 0 900 320" role="img" aria-label="histogram of churn probabilities">'
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<line class="grid" x1="60" x2="860" y1="%1$s" y2="%1$s"/><text class="tick" x="54" y="%2$s" text-anchor="end">%3$s</text>',
                       pg_catalog.round((260 - 240.0 * g * v_step / v_axis)::numeric, 1),
                       pg_catalog.round((264 - 240.0 * g * v_step / v_axis)::numeric, 1), g * v_step), '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, (v_axis / v_step)::integer) AS g)
            || pg_catalog.string_agg(pg_catalog.format(
                   '<rect class="bar" x="%s" y="%s" width="38" height="%s" fill="hsl(%s,60%%,50%%)"><title>churn probability %s to %s: %s customers</title></rect>',
                   60 + bins.bin * 40 + 1,
                   pg_catalog.round((260 - 240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round((240.0 * bins.n / v_axis)::numeric, 1),
                   pg_catalog.round(120 - 120.0 * bins.bin / 19), (bins.bin / 20.0)::numeric(3, 2),
                   ((bins.bin + 1) / 20.0)::numeric(3, 2), bins.n), '' ORDER BY bins.bin)
            || (SELECT pg_catalog.string_agg(pg_catalog.format(
                       '<text class="tick" x="%s" y="278" text-anchor="middle">%s</text>', 60 + g * 160, (g / 5.0)::numeric(2, 1)),
                       '' ORDER BY g)
                  FROM pg_catalog.generate_series(0, 5) AS g)
            || '<text class="axis-title" x="460" y="304" text-anchor="middle">churn probability</text>'
            || '<text class="axis-title" x="14" y="140" text-anchor="middle" transform="rotate(-90 14 140)">customers</text>'
            || '</svg>'
          INTO s_risk
          FROM (SELECT (b.i - 1)::integer AS bin, b.n FROM pg_catalog.unnest(v_bins) WITH ORDINALITY AS b(n, i)) AS bins;
    END IF;
    html := s_risk;
    scored := v_scored;
    at_risk := v_at_risk;
END
$$;

COMMENT ON FUNCTION @extschema@.report_risk_html(text) IS
'internal to report_html: the histogram of the customers'' churn probabilities, with the numbers of customers scored and at risk';

CREATE FUNCTION @extschema@.report_drivers_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s_drivers text;
BEGIN
    -- what drives the scores: how often each feature is among a customer's
    -- top churn drivers (customer_scores.top_features), ten most frequent
    WITH f AS (
        SELECT e.value ->> 'feature' AS feature,
               CASE WHEN pg_catalog.jsonb_typeof(e.value -> 'contribution') = 'number'
                    THEN (e.value ->> 'contribution')::float8 END AS contribution
          FROM @extschema@.customer_scores AS cs
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(cs.top_features) = 'array' THEN cs.top_features
                        ELSE '[]'::jsonb END) AS e
         WHERE cs.pipeline = report_drivers_html.pipeline
           AND pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'feature' IS NOT NULL),
    top AS (
        SELECT f.feature, pg_catalog.count(*) AS n, pg_catalog.avg(f.contribution) AS mean_contribution,
               (pg_catalog.row_number() OVER (ORDER BY pg_catalog.count(*) DESC, f.feature) - 1)::integer AS rank
          FROM f GROUP BY f.feature
         ORDER BY pg_catalog.count(*) DESC, f.feature
         LIMIT 10),
    scaled AS (SELECT top.*, pg_catalog.max(top.n) OVER () AS most FROM top)
    SELECT pg_catalog.format('<svg class="chart" id="churn-drivers" xmlns="http://www.w3.org/2000/svg" width="900" height="%s" viewBox="0 0 900 %1$s" role="img" aria-label="top churn drivers">',
                             20 + pg_catalog.count(*) * 26)
        || pg_catalog.string_agg(pg_catalog.format(
               '<text class="feature-label" x="234" y="%1$s" text-anchor="end">%2$s</text>'
               '<rect class="driver" x="240" y="%3$s" width="%4$s" height="20"><title>%5$s: among the top drivers of %6$s customers, mean contribution %7$s</title></rect>'
               '<text class="driver-value" x="%8$s" y="%1$s">%9$s customers, mean contribution %10$s</text>',
               10 + scaled.rank * 26 + 15, @extschema@.html_escape(pg_catalog.left(scaled.feature, 40)),
               10 + scaled.rank * 26, pg_catalog.round((400.0 * scaled.n / scaled.most)::numeric, 1),
               @extschema@.html_escape(scaled.feature), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?'),
               pg_catalog.round((246 + 400.0 * scaled.n / scaled.most)::numeric, 1), scaled.n,
               COALESCE(pg_catalog.round(scaled.mean_contribution::numeric, 3)::text, '?')), '' ORDER BY scaled.rank)
        || '</svg>'
      INTO s_drivers
      FROM scaled;
    s_drivers := COALESCE('<p class="caption">How often each feature is among a customer''s top churn drivers (customer_scores.top_features).</p>'
                          || s_drivers,
                          '<p class="no-data" id="churn-drivers-no-data">No data yet: no customer has churn drivers.</p>');
    RETURN s_drivers;
END
$$;

COMMENT ON FUNCTION @extschema@.report_drivers_html(text) IS
'internal to report_html: the ten features most often among the customers'' top churn drivers';

CREATE FUNCTION @extschema@.report_backtest_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s_backtest text;
BEGIN
    ----------------------------------------------------------------------
    -- (e2) the backtest of the latest finished run: how each score ranked
    -- the customers who churned after as_of - horizon, and what was withheld
    ----------------------------------------------------------------------
    SELECT '<p class="caption">Each score computed as of ' || @extschema@.html_escape(r.metrics ->> 'backtest_cutoff')
           || ' and ranked against who churned in the horizon that followed (ROC AUC, 0.5 = a coin).'
           || ' A score is published only when its AUC reaches ' || @extschema@.html_escape(r.metrics ->> 'min_backtest_auc')
           || '.</p><table class="metrics" id="backtest"><thead><tr><th>score</th><th>backtest AUC</th><th>customers</th>'
           || '<th>published</th><th>why not</th></tr></thead><tbody>'
           || pg_catalog.string_agg(pg_catalog.format(
                  '<tr class="%s"><th>%s</th><td>%s</td><td>%s</td><td>%s</td><td class="reason" style="text-align:left">%s</td></tr>',
                  CASE WHEN (b.value ->> 'published')::boolean THEN 'published' ELSE 'withheld' END,
                  @extschema@.html_escape(b.key), COALESCE(@extschema@.html_escape(b.value ->> 'auc'), '–'),
                  COALESCE(@extschema@.html_escape(b.value ->> 'n'), '–'),
                  CASE WHEN (b.value ->> 'published')::boolean THEN 'yes' ELSE 'withheld' END,
                  COALESCE(@extschema@.html_escape(b.value ->> 'reason'), '')),
              '' ORDER BY b.key)
           || '</tbody></table>'
      INTO s_backtest
      FROM (SELECT x.metrics FROM @extschema@.refresh_runs AS x
             WHERE x.pipeline = report_backtest_html.pipeline AND x.step = 'refresh'
               AND x.status IN ('ok', 'failed') AND x.metrics ? 'backtest'
             ORDER BY x.id DESC LIMIT 1) AS r,
           pg_catalog.jsonb_each(r.metrics -> 'backtest') AS b
     GROUP BY r.metrics;
    s_backtest := COALESCE(s_backtest, '<p class="no-data" id="backtest-no-data">No data yet: no refresh has run a backtest.</p>');
    RETURN s_backtest;
END
$$;

COMMENT ON FUNCTION @extschema@.report_backtest_html(text) IS
'internal to report_html: the backtest of every score in the latest finished refresh, and why a score was withheld';

CREATE FUNCTION @extschema@.report_recommendations_html(pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_knn_version integer;
    v_metrics     jsonb;
    v_eval        jsonb;
    v_k           text;
    s_recs        text;
BEGIN
    ----------------------------------------------------------------------
    -- (f) recommendation metrics: the evaluation stored with the latest
    -- item-kNN model, rows as evaluate_item_knn returns them (a JSON array
    -- of rows with "recommender", or an object keyed by recommender,
    -- possibly under "evaluation")
    ----------------------------------------------------------------------
    SELECT m.version, m.metrics INTO v_knn_version, v_metrics
      FROM @extschema@.models AS m
     WHERE m.name = report_recommendations_html.pipeline || '_item_knn' AND m.kind = 'item_knn'
     ORDER BY m.version DESC LIMIT 1;
    v_eval := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'evaluation') IN ('array', 'object')
                   THEN v_metrics -> 'evaluation' ELSE v_metrics END;
    v_k := CASE WHEN pg_catalog.jsonb_typeof(v_metrics -> 'k') = 'number' THEN v_metrics ->> 'k' END;

    WITH recs AS (
        SELECT e.value ->> 'recommender' AS recommender, e.value AS vals
          FROM pg_catalog.jsonb_array_elements(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'array' THEN v_eval ELSE '[]'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object' AND e.value ->> 'recommender' IS NOT NULL
        UNION ALL
        SELECT e.key, e.value
          FROM pg_catalog.jsonb_each(
                   CASE WHEN pg_catalog.jsonb_typeof(v_eval) = 'object' THEN v_eval ELSE '{}'::jsonb END) AS e
         WHERE pg_catalog.jsonb_typeof(e.value) = 'object'),
    cols AS (
        SELECT recs.recommender, recs.vals,
               pg_catalog.row_number() OVER (ORDER BY CASE recs.recommender WHEN 'item_knn' THEN 0
                                                      WHEN 'popularity' THEN 1 ELSE 2 END, recs.recommender) AS ord
          FROM recs
         WHERE EXISTS (SELECT 1 FROM pg_catalog.jsonb_object_keys(recs.vals) AS k(key)
                        WHERE k.key IN ('users', 'precision_at_k', 'recall_at_k', 'ndcg_at_k',
                                        'map_at_k', 'hit_rate', 'coverage'))),
    metric AS (
        SELECT * FROM (VALUES (1, 'users', 'users evaluated'), (2, 'precision_at_k', 'precision@k'),
                              (3, 'recall_at_k', 'recall@k'), (4, 'ndcg_at_k', 'NDCG@k'),
                              (5, 'map_at_k', 'MAP@k'), (6, 'hit_rate', 'hit rate'),
                              (7, 'coverage', 'catalogue coverage')) AS v(ord, key, label)),
    cell AS (
        SELECT metric.ord AS row_ord, cols.ord AS col_ord, metric.key, cols.recommender,
               CASE WHEN pg_catalog.jsonb_typeof(cols.vals -> metric.key) = 'number'
                    THEN (cols.vals ->> metric.key)::float8 END AS val
          FROM metric CROSS JOIN cols),
    best AS (
        SELECT cell.row_ord, pg_catalog.max(cell.val) AS top, pg_catalog.count(cell.val) AS n
          FROM cell GROUP BY cell.row_ord)
    SELECT '<table class="metrics" id="recommendation-metrics"><thead><tr><th>metric'
        || COALESCE(' (k = ' || v_k || ')', '') || '</th>'
        || (SELECT pg_catalog.string_agg('<th>' || CASE cols.recommender WHEN 'item_knn' THEN 'item-kNN'
                                                     WHEN 'popularity' THEN 'popularity (baseline)'
                                                     ELSE @extschema@.html_escape(cols.recommender) END || '</th>',
                                         '' ORDER BY cols.ord) FROM cols)
        || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                THEN '<th>item-kNN ÷ popularity</th>' ELSE '' END
        || '</tr></thead><tbody>'
        || (SELECT pg_catalog.string_agg(
                   pg_catalog.format('<tr class="metric" id="metric-%s"><th>%s</th>', metric.key, metric.label)
                   || (SELECT pg_catalog.string_agg(pg_catalog.format('<td%s>%s</td>',
                                  CASE WHEN metric.key <> 'users' AND best.n > 1 AND cell.val = best.top
                                       THEN ' class="best"' ELSE '' END,
                                  CASE WHEN cell.val IS NULL THEN '–'
                                       WHEN metric.key = 'users' THEN pg_catalog.round(cell.val::numeric)::text
                                       ELSE pg_catalog.round(cell.val::numeric, 4)::text END), '' ORDER BY cell.col_ord)
                         FROM cell JOIN best USING (row_ord) WHERE cell.row_ord = metric.ord)
                   || CASE WHEN (SELECT pg_catalog.count(*) FROM cols WHERE cols.recommender IN ('item_knn', 'popularity')) = 2
                           THEN '<td class="ratio">'
                                || COALESCE((SELECT CASE WHEN metric.key = 'users' THEN ''
                                                         WHEN p.val > 0 THEN pg_catalog.round((k.val / p.val)::numeric, 2)::text || '×'
                                                    END
                                               FROM cell AS k, cell AS p
                                              WHERE k.row_ord = metric.ord AND p.row_ord = metric.ord
                                                AND k.recommender = 'item_knn' AND p.recommender = 'popularity'), '–')
                                || '</td>'
                           ELSE '' END
                   || '</tr>', '' ORDER BY metric.ord) FROM metric)
        || '</tbody></table>'
      INTO s_recs
     WHERE EXISTS (SELECT 1 FROM cols);
    s_recs := COALESCE(pg_catalog.format('<p class="caption">Offline evaluation stored with item-kNN model %s version %s: ranking metrics averaged over the test users, against recommending the best-sellers.</p>',
                                         @extschema@.html_escape(report_recommendations_html.pipeline || '_item_knn'), v_knn_version)
                       || s_recs,
                       '<p class="no-data" id="recommendation-metrics-no-data">No data yet: '
                       || CASE WHEN v_knn_version IS NULL THEN 'no item-kNN model for this pipeline'
                               ELSE 'the item-kNN model has no offline evaluation' END || '.</p>');
    RETURN s_recs;
END
$$;

COMMENT ON FUNCTION @extschema@.report_recommendations_html(text) IS
'internal to report_html: the offline evaluation stored with the latest item-kNN model, against popularity';

CREATE FUNCTION @extschema@.report_header_html(pl @extschema@.pipelines, customers bigint, scored bigint, at_risk bigint,
                                                model_version integer, trained_at timestamptz, churned bigint, retained bigint)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name    text := @extschema@.html_escape(pl.name);
    v_scored  bigint := scored;
    v_at_risk bigint := at_risk;
    v_version integer := model_version;
    v_trained timestamptz := trained_at;
    v_pos     bigint := churned;
    v_neg     bigint := retained;
    v_run     record;
    v_failed  record;
    s_header  text;
BEGIN
    ----------------------------------------------------------------------
    -- header: the pipeline, its latest successful refresh, counts
    ----------------------------------------------------------------------
    SELECT r.run_id, pg_catalog.min(r.started_at) AS started, pg_catalog.max(r.finished_at) AS finished,
           pg_catalog.count(*) AS steps
      INTO v_run
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = pl.name
     GROUP BY r.run_id
    HAVING pg_catalog.bool_and(r.status IN ('ok', 'kept previous', 'skipped') AND r.finished_at IS NOT NULL)
     ORDER BY pg_catalog.min(r.started_at) DESC, r.run_id DESC
     LIMIT 1;
    SELECT r.run_id, r.step, r.started_at, r.message INTO v_failed
      FROM @extschema@.refresh_runs AS r
     WHERE r.pipeline = pl.name AND r.status = 'failed'
       AND (v_run.run_id IS NULL OR r.started_at > v_run.finished)
     ORDER BY r.started_at DESC, r.id DESC
     LIMIT 1;

    s_header := '<header><h1>Retention report: <span class="pipeline">' || v_name || '</span></h1><dl class="summary">'
        || '<dt>events</dt><dd>' || @extschema@.html_escape(pl.events::text) || '</dd>'
        || '<dt>latest successful refresh</dt><dd id="latest-refresh">'
        || CASE WHEN v_run.run_id IS NULL THEN '<span class="no-data">none yet</span>'
                ELSE pg_catalog.format('run %s, %s to %s (%s steps, %s s)', v_run.run_id,
                         pg_catalog.to_char(v_run.started, 'YYYY-MM-DD HH24:MI:SSOF'),
                         pg_catalog.to_char(v_run.finished,
                             CASE WHEN v_run.finished::date = v_run.started::date THEN 'HH24:MI:SS'
                                  ELSE 'YYYY-MM-DD HH24:MI:SSOF' END),
                         v_run.steps,
                         pg_catalog.round(pg_catalog.date_part('epoch', v_run.finished - v_run.started)::numeric, 1)) END
        || '</dd>'
        || CASE WHEN v_failed.run_id IS NOT NULL
                THEN pg_catalog.format('<dt>failed since</dt><dd class="failed" id="failed-refresh">run %s, step %s at %s: %s</dd>',
                         v_failed.run_id, @extschema@.html_escape(v_failed.step),
                         pg_catalog.to_char(v_failed.started_at, 'YYYY-MM-DD HH24:MI:SSOF'),
                         @extschema@.html_escape(COALESCE(v_failed.message, 'no message')))
                ELSE '' END
        || pg_catalog.format('<dt>customers in cohorts</dt><dd id="count-customers">%s</dd>',
               customers)
        || pg_catalog.format('<dt>customers scored</dt><dd id="count-scored">%s</dd>', v_scored)
        || pg_catalog.format('<dt>at risk (churn probability ≥ 0.5)</dt><dd id="count-at-risk">%s</dd>', v_at_risk)
        || pg_catalog.format('<dt>churn model</dt><dd id="churn-model">%s</dd>',
               CASE WHEN v_version IS NULL THEN '<span class="no-data">none yet</span>'
                    ELSE pg_catalog.format('%s version %s%s, %s holdout customers (%s churned)',
                             @extschema@.html_escape(pl.name || '_churn'), v_version,
                             COALESCE(', trained ' || pg_catalog.to_char(v_trained, 'YYYY-MM-DD HH24:MI'), ''),
                             v_pos + v_neg, v_pos) END)
        || '</dl></header>';
    RETURN s_header;
END
$$;

COMMENT ON FUNCTION @extschema@.report_header_html(@extschema@.pipelines, bigint, bigint, bigint, integer, timestamptz, bigint, bigint) IS
'internal to report_html: the page header, the pipeline, its latest successful refresh and the failed run after it, and the counts';

--------------------------------------------------------------------------
-- Churn model candidates in the loop (issues 16 and 17): refresh() trains
-- the pipeline's churn_candidates (logistic, elastic net with lambda by
-- cross-validation, gradient-boosted trees) and keeps the best on the
-- holdout; churn_scores scores either kind and names the version it used
--------------------------------------------------------------------------

ALTER TABLE @extschema@.pipelines
    ADD COLUMN churn_candidates text[] NOT NULL DEFAULT '{logreg,elastic_net,gbdt}'
                                  CHECK (cardinality(churn_candidates) > 0
                                         AND churn_candidates <@ '{logreg,elastic_net,gbdt}');

COMMENT ON TABLE @extschema@.pipelines IS
'what retention.refresh(name) rebuilds: the events table, its column names (order_column: the order or invoice id, so purchases count orders), the churn definition, model options, the churn model candidates compared on the holdout (logreg, elastic_net, gbdt) and the backtest AUC a score needs to be published; as_of NULL means now()';

CREATE FUNCTION @extschema@.churn_holdout_metrics(model anyelement, source text, label_column text,
                                                  feature_columns text[], holdout_column text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    result pg_catalog.jsonb;
BEGIN
    -- the holdout rows with a label and every feature finite: the rows every
    -- candidate (logistic or trees) scores, so their metrics compare
    EXECUTE pg_catalog.format(
        $q$SELECT pg_catalog.jsonb_build_object(
                    'n_rows', pg_catalog.count(*),
                    'roc_auc', @extschema@.roc_auc(s.p, s.y),
                    'log_loss', @extschema@.log_loss(s.p, s.y),
                    'brier', pg_catalog.avg((s.p OPERATOR(pg_catalog.-) s.y::integer) OPERATOR(pg_catalog.^) 2))
             FROM (SELECT @extschema@.churn_prob($1, t.f) AS p, t.y
                     FROM (SELECT %s AS y, ARRAY[%s]::pg_catalog.float8[] AS f
                             FROM %s WHERE COALESCE((src.%I)::boolean, false)) AS t
                    WHERE t.y IS NOT NULL AND pg_catalog.array_position(t.f, NULL) IS NULL
                      AND NOT (t.f OPERATOR(pg_catalog.&&) '{NaN,Infinity,-Infinity}'::pg_catalog.float8[])) AS s$q$,
        @extschema@.churn_label_expr(label_column),
        (SELECT pg_catalog.string_agg(pg_catalog.format('(src.%I)::pg_catalog.float8', c), ', ' ORDER BY i)
           FROM pg_catalog.unnest(feature_columns) WITH ORDINALITY AS u(c, i)),
        @extschema@.source_from_item(source), holdout_column)
        INTO result USING model;
    RETURN result;
END
$$;

COMMENT ON FUNCTION @extschema@.churn_holdout_metrics(anyelement, text, text, text[], text) IS
'holdout metrics of a churn model (logreg_model or gbdt_model) on the rows of source where holdout_column is true, with a label and every feature finite: n_rows, roc_auc, log_loss and brier';

CREATE FUNCTION @extschema@.train_churn_candidates(
    model_name text,
    source text,
    label_column text,
    feature_columns text[],
    holdout_column text,
    key_column text,
    candidates text[] DEFAULT ARRAY['logreg', 'elastic_net', 'gbdt'],
    logreg_options jsonb DEFAULT NULL,
    gbdt_options jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    lopts      pg_catalog.jsonb := COALESCE(logreg_options, '{}'::pg_catalog.jsonb);
    cv_opts    pg_catalog.jsonb;
    opts       pg_catalog.jsonb;
    cand       pg_catalog.text;
    kind       pg_catalog.text;
    entry      pg_catalog.jsonb;
    entries    pg_catalog.jsonb := '[]';
    best       pg_catalog.jsonb;
    previous   pg_catalog.jsonb;
    old        record;
    lam        pg_catalog.float8;
    v          integer;
    lr         @extschema@.logreg_model;
    trees      @extschema@.gbdt_model;
    err        pg_catalog.text;
    keep_new   boolean;
BEGIN
    IF model_name IS NULL OR source IS NULL OR label_column IS NULL OR holdout_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'model_name, source, label_column and holdout_column must not be NULL';
    END IF;
    IF candidates IS NULL OR pg_catalog.cardinality(candidates) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(candidates, NULL) IS NOT NULL
       OR EXISTS (SELECT FROM pg_catalog.unnest(candidates) AS c
                   WHERE c OPERATOR(pg_catalog.<>) ALL (ARRAY['logreg', 'elastic_net', 'gbdt'])) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = pg_catalog.format('candidates %s must name at least one of logreg, elastic_net and gbdt', candidates);
    END IF;
    IF pg_catalog.jsonb_typeof(lopts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'logreg_options must be a JSON object';
    END IF;
    PERFORM @extschema@.claim_model(model_name);

    -- the champion: the latest trusted version of either kind, scored on
    -- the same holdout rows if the source still has its feature columns
    SELECT m.version, m.kind, m.model, m.feature_names INTO old
      FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.kind OPERATOR(pg_catalog.=) ANY (ARRAY['logreg', 'gbdt'])
       AND @extschema@.model_trusted(m.name, m.trained_by)
     ORDER BY m.version DESC LIMIT 1;
    IF FOUND THEN
        BEGIN
            IF old.kind OPERATOR(pg_catalog.=) 'gbdt' THEN
                previous := @extschema@.churn_holdout_metrics(old.model::pg_catalog.text::@extschema@.gbdt_model,
                                                              source, label_column, old.feature_names, holdout_column);
            ELSE
                previous := @extschema@.churn_holdout_metrics(old.model::pg_catalog.text::@extschema@.logreg_model,
                                                              source, label_column, old.feature_names, holdout_column);
            END IF;
            previous := pg_catalog.jsonb_build_object('version', old.version, 'kind', old.kind, 'holdout', previous);
        EXCEPTION WHEN undefined_column OR invalid_text_representation OR data_exception THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            previous := pg_catalog.jsonb_build_object('version', old.version, 'kind', old.kind,
                                                      'not_comparable', err);
        END;
    END IF;

    -- every candidate on the same training rows, each in a block of its own:
    -- one that fails is recorded with its error and the others still run
    FOREACH cand IN ARRAY candidates LOOP
        entry := pg_catalog.jsonb_build_object('candidate', cand);
        BEGIN
            v := NULL;
            IF cand OPERATOR(pg_catalog.=) 'gbdt' THEN
                kind := 'gbdt';
                opts := COALESCE(gbdt_options, '{}'::pg_catalog.jsonb);
                CALL @extschema@.train_churn_gbdt(model_name, source, label_column, feature_columns,
                                                  opts, holdout_column, NULL, v);
                trees := @extschema@.churn_gbdt_model(model_name, v);
                entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                    'holdout', @extschema@.churn_holdout_metrics(trees, source, label_column, feature_columns, holdout_column),
                    'model', trees::pg_catalog.jsonb);
            ELSE
                kind := 'logreg';
                opts := lopts;
                IF cand OPERATOR(pg_catalog.=) 'elastic_net' THEN
                    -- lambda by 5-fold cross-validation on the training rows
                    -- (minimum deviance), half lasso half ridge unless told
                    cv_opts := pg_catalog.jsonb_build_object('l1_ratio', COALESCE(lopts OPERATOR(pg_catalog.->) 'l1_ratio', '0.5'),
                                                             'folds', 5, 'n_lambda', 10)
                               OPERATOR(pg_catalog.||) (lopts OPERATOR(pg_catalog.-) ARRAY['lambda', 'l1_ratio', 'calibration', 'encoder', 'feature_names']);
                    SELECT c.lambda INTO lam
                      FROM @extschema@.logreg_cv(
                               pg_catalog.format('SELECT * FROM %s WHERE NOT COALESCE((src.%I)::boolean, false)',
                                                 @extschema@.source_from_item(source), holdout_column),
                               label_column, feature_columns, key_column, cv_opts) AS c
                     WHERE c.selected OPERATOR(pg_catalog.~~) '%lambda_min%' LIMIT 1;
                    opts := lopts OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('lambda', lam,
                                                                                        'l1_ratio', cv_opts OPERATOR(pg_catalog.->) 'l1_ratio');
                END IF;
                CALL @extschema@.train_churn_model(model_name, source, label_column, feature_columns,
                                                   opts, holdout_column, NULL, v);
                lr := @extschema@.churn_model(model_name, v);
                entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                    'holdout', @extschema@.churn_holdout_metrics(lr, source, label_column, feature_columns, holdout_column),
                    'model', lr::pg_catalog.jsonb);
            END IF;
            entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('kind', kind, 'version', v, 'options', opts);
        EXCEPTION WHEN OTHERS THEN
            -- query_canceled is not among OTHERS: a cancel ends the whole call
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            entry := entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('kind', kind, 'error', err);
        END;
        entries := entries OPERATOR(pg_catalog.||) entry;
    END LOOP;

    -- the best by holdout ROC AUC, then log loss, then the order given
    SELECT e INTO best
      FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS x(e, i)
     WHERE e OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}' IS NOT NULL
     ORDER BY (e OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8 DESC,
              (e OPERATOR(pg_catalog.#>>) '{holdout,log_loss}')::pg_catalog.float8, x.i
     LIMIT 1;
    -- a new version replaces the champion only if its AUC is not below the
    -- champion's on the same rows
    keep_new := best IS NOT NULL AND NOT COALESCE(
        (previous OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8
            OPERATOR(pg_catalog.>) (best OPERATOR(pg_catalog.#>>) '{holdout,roc_auc}')::pg_catalog.float8, false);
    DELETE FROM @extschema@.models AS m
     WHERE m.name OPERATOR(pg_catalog.=) model_name
       AND m.version OPERATOR(pg_catalog.=) ANY (
           SELECT (e OPERATOR(pg_catalog.->>) 'version')::integer FROM pg_catalog.jsonb_array_elements(entries) AS e)
       AND NOT (keep_new AND m.version OPERATOR(pg_catalog.=) (best OPERATOR(pg_catalog.->>) 'version')::integer);
    entries := (SELECT pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                           'chosen', keep_new AND e OPERATOR(pg_catalog.=) best)
                           OPERATOR(pg_catalog.-) CASE WHEN keep_new AND e OPERATOR(pg_catalog.=) best THEN '' ELSE 'version' END
                       ORDER BY x.i)
                  FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS x(e, i));
    IF keep_new THEN
        -- the registry keeps what the new champion beat
        UPDATE @extschema@.models AS m
           SET metrics = COALESCE(m.metrics, '{}'::pg_catalog.jsonb) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
                   'candidate', best OPERATOR(pg_catalog.->>) 'candidate',
                   'candidates', (SELECT pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.-) 'model')
                                    FROM pg_catalog.jsonb_array_elements(entries) AS e),
                   'previous', previous)
         WHERE m.name OPERATOR(pg_catalog.=) model_name
           AND m.version OPERATOR(pg_catalog.=) (best OPERATOR(pg_catalog.->>) 'version')::integer;
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'name', model_name,
        'version', CASE WHEN keep_new THEN (best OPERATOR(pg_catalog.->>) 'version')::integer ELSE old.version END,
        'kind', CASE WHEN keep_new THEN best OPERATOR(pg_catalog.->>) 'kind' ELSE old.kind END,
        'candidate', CASE WHEN keep_new THEN best OPERATOR(pg_catalog.->>) 'candidate' END,
        'kept_previous', NOT keep_new AND previous IS NOT NULL,
        'best', best OPERATOR(pg_catalog.->>) 'candidate',
        'previous', previous,
        'candidates', entries);
END
$$;

COMMENT ON FUNCTION @extschema@.train_churn_candidates(text, text, text, text[], text, text, text[], jsonb, jsonb) IS
'trains the candidate churn models (logreg: logreg_options as given; elastic_net: lambda by 5-fold logreg_cv, l1_ratio 0.5; gbdt: gbdt_train) on the same training rows of source, scores them on the same holdout rows (ROC AUC, log loss, Brier), and keeps the best by AUC as the next version of model_name only if its AUC is not below the current version''s on those rows; the others are deleted. Returns the version in use and every candidate''s metrics (and model)';

CREATE FUNCTION @extschema@.churn_explanation(model @extschema@.gbdt_model, features float8[], means float8[],
                                              n integer DEFAULT 3)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'gbdt_churn_explanation'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_explanation(@extschema@.gbdt_model, float8[], float8[], integer) IS
'the n features pushing a customer''s churn probability up most under a tree ensemble (TreeSHAP values of churn_explain), each with its contribution to the log-odds, whether the customer''s value is higher or lower than means (the training averages, given), and a sentence saying so';

-- rolling_retention: windows in calendar months, a breakdown form, date range and time zone
DROP FUNCTION @extschema@.rolling_retention(regclass, integer, interval, boolean, name, name);

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    breakdown_by name,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (breakdown text, users bigint, retained bigint, rate float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_zone text;
    months integer;
    secs numeric;
    brk text := 'NULL::pg_catalog.text';
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'period number n must not be negative, got %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    months := pg_catalog.date_part('year', window_length) * 12 OPERATOR(pg_catalog.+) pg_catalog.date_part('month', window_length);
    secs := EXTRACT(epoch FROM window_length OPERATOR(pg_catalog.-) pg_catalog.make_interval(months => months));
    IF window_length IS NULL OR months < 0 OR secs < 0 OR (months = 0 AND secs = 0) THEN
        RAISE EXCEPTION 'rolling window "%" must be positive', window_length
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a local setting would last to the end of the caller's transaction
    -- (the SET clause covers search_path only): the caller's zone is put
    -- back once the query has run
    IF time_zone IS NOT NULL THEN
        caller_zone := pg_catalog.current_setting('TimeZone');
        PERFORM pg_catalog.set_config('TimeZone', time_zone, true);
    END IF;
    IF breakdown_by IS NOT NULL THEN
        -- the value on the user's first event (ties: least in byte order, NULL last)
        brk := pg_catalog.format('(pg_catalog.array_agg(%1$s ORDER BY %2$I, (%1$s) COLLATE "C"))[1]',
                                 @extschema@.breakdown_sql(events, breakdown_by), time_column);
    END IF;
    -- as retention_rate_rolling does: the months are calendar months in the
    -- session time zone, added first; the rest is measured in microseconds,
    -- a day being 24 hours
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH firsts AS (
        SELECT %1$I::bigint AS u, pg_catalog.min(%2$I) AS start, %4$s AS b
          FROM %3$s WHERE %1$I IS NOT NULL AND %5$s GROUP BY 1),
    per_user AS (
        SELECT f.u, f.b, f.start, pg_catalog.max(e.%2$I) AS last,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 + $4 AND e.%2$I < f.start + $2 + $5) AS in_window,
               pg_catalog.bool_or(e.%2$I >= f.start + $1 + $4) AS at_or_after
          FROM firsts f JOIN %3$s e ON e.%1$I::bigint = f.u AND e.%2$I IS NOT NULL
               AND ($6::pg_catalog.timestamptz IS NULL OR e.%2$I >= $6)
               AND ($7::pg_catalog.timestamptz IS NULL OR e.%2$I < $7)
         GROUP BY f.u, f.b, f.start),
    latest AS (SELECT pg_catalog.max(last) AS m FROM per_user)
    SELECT per_user.b, pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END),
           pg_catalog.count(*) FILTER (WHERE CASE WHEN $3 THEN at_or_after ELSE in_window END)::float8
           / pg_catalog.count(*)
      FROM per_user, latest
     WHERE per_user.start + $1 + $4 <= latest.m
     GROUP BY per_user.b
     ORDER BY per_user.b NULLS LAST $q$,
        user_column, time_column, events, brk, @extschema@.range_sql(time_column, date_from, date_to))
     USING pg_catalog.make_interval(months => months * n),
           pg_catalog.make_interval(months => months * (n + 1)),
           unbounded,
           (secs * n)::float8 * interval '1 second',
           (secs * (n + 1))::float8 * interval '1 second',
           date_from, date_to;
    IF caller_zone IS NOT NULL THEN
        PERFORM pg_catalog.set_config('TimeZone', caller_zone, true);
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, name, boolean, name, name, timestamptz, timestamptz, text) IS
'rolling-window retention over a table per breakdown value (from the user''s first event; NULL, or no breakdown_by, is a group of its own): users whose window n has begun by the latest event, those retained and their share; optional date range and time zone (where calendar months of the window begin)';

CREATE FUNCTION @extschema@.rolling_retention(
    events regclass,
    n integer,
    window_length interval,
    unbounded boolean DEFAULT false,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    date_from timestamptz DEFAULT NULL,
    date_to timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS float8
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT r.rate
      FROM @extschema@.rolling_retention(events, n, window_length, NULL::pg_catalog.name, unbounded,
                                          user_column, time_column, date_from, date_to, time_zone) r
$$;

COMMENT ON FUNCTION @extschema@.rolling_retention(regclass, integer, interval, boolean, name, name, timestamptz, timestamptz, text) IS
'rolling-window retention over a table (see retention_rate_rolling) computed with a per-user stage of standard aggregates grouped by the user column, the form Citus distributes; optional date range and time zone';

-- periods of an hour and a quarter

COMMENT ON FUNCTION @extschema@.activity_stickiness_trans(bigint[], @extschema@.activity, text) IS
'transition function of stickiness_matrix(activity, period): users per number of active days per week, month or quarter (hours per day, from activities by hour)';

COMMENT ON FUNCTION @extschema@.period_start(timestamptz, text) IS
'first date of the day, ISO week (Monday), month or quarter containing ts in the session time zone: the periods of the retention aggregates (hours have no first date: an error)';

-- source: src/customer_base/models.sql, src/customer_base/pareto_nbd.sql (issue 11)

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.bgnbd_model_recv(internal)
RETURNS @extschema@.bgnbd_model
AS 'MODULE_PATHNAME', 'bgnbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_recv(internal) IS
'binary input function of bgnbd_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.bgnbd_model_send(@extschema@.bgnbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'bgnbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.bgnbd_model_send(@extschema@.bgnbd_model) IS
'binary output function of bgnbd_model';

ALTER TYPE @extschema@.bgnbd_model SET (RECEIVE = @extschema@.bgnbd_model_recv,
                                          SEND = @extschema@.bgnbd_model_send);

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.gamma_gamma_model_recv(internal)
RETURNS @extschema@.gamma_gamma_model
AS 'MODULE_PATHNAME', 'gamma_gamma_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_recv(internal) IS
'binary input function of gamma_gamma_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.gamma_gamma_model_send(@extschema@.gamma_gamma_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'gamma_gamma_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.gamma_gamma_model_send(@extschema@.gamma_gamma_model) IS
'binary output function of gamma_gamma_model';

ALTER TYPE @extschema@.gamma_gamma_model SET (RECEIVE = @extschema@.gamma_gamma_model_recv,
                                          SEND = @extschema@.gamma_gamma_model_send);

-- binary I/O (0.1.0 had none): magic, version, kind, then the numbers;
-- recv accepts exactly what the text input accepts
CREATE FUNCTION @extschema@.pareto_nbd_model_recv(internal)
RETURNS @extschema@.pareto_nbd_model
AS 'MODULE_PATHNAME', 'pareto_nbd_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_recv(internal) IS
'binary input function of pareto_nbd_model: magic, format version, kind, flags, iterations, then the numbers';

CREATE FUNCTION @extschema@.pareto_nbd_model_send(@extschema@.pareto_nbd_model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pareto_nbd_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.pareto_nbd_model_send(@extschema@.pareto_nbd_model) IS
'binary output function of pareto_nbd_model';

ALTER TYPE @extschema@.pareto_nbd_model SET (RECEIVE = @extschema@.pareto_nbd_model_recv,
                                          SEND = @extschema@.pareto_nbd_model_send);


-- ---------------------------------------------------------------------------
-- Issue 15 (item 6): user_features in one pass over the events, through the
-- aggregate user_feature_table (its own table of users, no GROUP BY) and
-- user_feature_rows; integer item columns are read as integers.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.user_feature_table_trans(internal, bigint, timestamptz, text, bigint, text,
        numeric, timestamptz, interval, interval, text, text, text, text, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_trans(internal, bigint, timestamptz, text, bigint, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'transition function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_final(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_table_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_final(internal) IS
'final function of user_feature_table: local days depend on TimeZone, hence STABLE';

CREATE FUNCTION @extschema@.user_feature_table_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_combine(internal, internal) IS
'combine function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'user_feature_table_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_serialize(internal) IS
'serialisation function of user_feature_table';

CREATE FUNCTION @extschema@.user_feature_table_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'user_feature_table_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.user_feature_table_deserialize(bytea, internal) IS
'deserialisation function of user_feature_table; checks every field';

CREATE AGGREGATE @extschema@.user_feature_table(user_id bigint, ts timestamptz, event_type text,
        item_id bigint, item text, amount numeric, cutoff timestamptz, horizon interval,
        session_gap interval, view_event text, click_event text, cart_event text,
        purchase_event text, churn_on text) (
    SFUNC = @extschema@.user_feature_table_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.user_feature_table_final,
    COMBINEFUNC = @extschema@.user_feature_table_combine,
    SERIALFUNC = @extschema@.user_feature_table_serialize,
    DESERIALFUNC = @extschema@.user_feature_table_deserialize,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.user_feature_table(bigint, timestamptz, text, bigint, text, numeric, timestamptz, interval, interval, text, text, text, text, text) IS
'every user''s user_feature_values in one pass without GROUP BY (distinct items: the integer item_id and the text item counted apart), as a bytea for user_feature_rows; see user_features';

CREATE FUNCTION @extschema@.user_feature_rows(features bytea, with_items boolean)
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
AS 'MODULE_PATHNAME', 'user_feature_rows'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100000;

COMMENT ON FUNCTION @extschema@.user_feature_rows(bytea, boolean) IS
'the rows of user_features from a user_feature_table result, by user id; distinct_items only with_items';

CREATE OR REPLACE FUNCTION @extschema@.user_features(
    events regclass,
    cutoff timestamptz,
    horizon interval DEFAULT '30 days',
    churn_on text DEFAULT 'activity',
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    event_column name DEFAULT 'event_type',
    item_column name DEFAULT 'item_id',
    amount_column name DEFAULT 'amount',
    view_event text DEFAULT 'view',
    click_event text DEFAULT 'click',
    cart_event text DEFAULT 'cart',
    purchase_event text DEFAULT 'purchase',
    session_gap interval DEFAULT '30 minutes')
RETURNS TABLE (user_id bigint, features float8[], churned boolean,
               days_since_last_event float8, days_since_last_purchase float8,
               purchases bigint, active_days bigint, sessions bigint,
               total_spend float8, avg_order_value float8, tenure_days float8,
               avg_session_minutes float8, views bigint, clicks bigint, carts bigint,
               click_through_rate float8, view_to_purchase_rate float8,
               activity_trend float8, distinct_items bigint,
               mean_days_between_purchases float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- Serial on purpose: sessions, active days and distinct items need every
-- event's time and item, so the states of a parallel plan carry every event
-- to the leader, which then merges what one process would have kept (on 10
-- million events, 4.3-4.7 s with two workers against 3.2-3.5 s alone)
SET max_parallel_workers_per_gather = 0
AS $$
BEGIN
    IF churn_on IS NULL OR churn_on NOT IN ('activity', 'purchase') THEN
        RAISE EXCEPTION 'unknown churn definition "%"', churn_on
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use "activity" (no event in the horizon) or "purchase" (no purchase in the horizon).';
    END IF;
    IF horizon IS NULL OR horizon <= interval '0' THEN
        RAISE EXCEPTION 'churn horizon "%" must be positive', horizon
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF session_gap IS NULL OR session_gap <= interval '0' THEN
        RAISE EXCEPTION 'session gap "%" must be positive', session_gap
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.date_part('month', horizon) <> 0 OR pg_catalog.date_part('year', horizon) <> 0
       OR pg_catalog.date_part('month', session_gap) <> 0 OR pg_catalog.date_part('year', session_gap) <> 0 THEN
        RAISE EXCEPTION 'churn horizon "%" and session gap "%" must not contain months or years', horizon, session_gap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Months differ in length; use days, e.g. interval ''30 days''.';
    END IF;
    IF cutoff IS NULL OR NOT pg_catalog.isfinite(cutoff) THEN
        RAISE EXCEPTION 'cutoff "%" must be a finite time', cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DECLARE
        integer_items boolean := false;
        grouped boolean := false;
    BEGIN
        IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
            EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1)'
               INTO grouped USING events;
        END IF;
        -- grouped by user (per-user states spill to disk) unless the events
        -- surely fit user_feature_table's memory: a plain or partitioned table
        -- whose heap, at 28 bytes a row at the least, holds at most 40
        -- million rows whatever the statistics say
        IF NOT grouped THEN
            SELECT NOT (c.relkind IN ('r', 'm', 'p')
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(c.oid) AS t
                                          JOIN pg_catalog.pg_class AS l ON l.oid = t.relid
                                         WHERE l.relkind NOT IN ('r', 'm', 'p'))
                        AND (SELECT pg_catalog.sum(pg_catalog.pg_relation_size(t.relid))
                               FROM pg_catalog.pg_partition_tree(c.oid) AS t) / 28 <= 40000000)
              INTO grouped
              FROM pg_catalog.pg_class AS c WHERE c.oid = events;
        END IF;
        IF grouped THEN
            -- distributed by Citus, or large: grouped by user, which Citus
            -- workers aggregate whole
            RETURN QUERY EXECUTE pg_catalog.format($q$
            WITH v AS (
                SELECT %1$I::bigint AS u,
                       @extschema@.user_feature_values(%2$I, %3$I::text, %4$s, %5$s,
                                                       $1, $2, $3, $4, $5, $6, $7, $8) AS x
                  FROM %6$s
                 WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9
                 GROUP BY 1)
            SELECT u,
                   ARRAY[x[1], COALESCE(x[2], x[8]), x[3], x[4], x[5], COALESCE(x[6], 0), COALESCE(x[7], 0),
                         x[8], x[9], x[10], x[11], x[12], COALESCE(x[13], 0), COALESCE(x[14], 0), x[15],
                         CASE WHEN %7$s THEN x[16] ELSE 0 END, COALESCE(x[17], x[8])]::float8[],
                   x[18] = 1, x[1], x[2], x[3]::bigint, x[4]::bigint, x[5]::bigint, x[6], x[7], x[8], x[9],
                   x[10]::bigint, x[11]::bigint, x[12]::bigint, x[13], x[14], x[15],
                   CASE WHEN %7$s THEN x[16]::bigint END, x[17]
              FROM v WHERE x IS NOT NULL ORDER BY u $q$,
                user_column, time_column, event_column,
                CASE WHEN item_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
                CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
                events,
                CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
            USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
                  cutoff + horizon + interval '1 day';
            RETURN;
        END IF;
        IF item_column IS NOT NULL THEN
            SELECT a.atttypid IN (20, 21, 23) INTO integer_items
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = events AND a.attname = item_column AND a.attnum > 0 AND NOT a.attisdropped;
        END IF;
        -- one pass over the events up to the horizon (with a day of margin: the
        -- aggregate measures the horizon exactly), integer items as integers
        RETURN QUERY EXECUTE pg_catalog.format($q$
        SELECT r.*
          FROM (SELECT @extschema@.user_feature_table(%1$I::bigint, %2$I, %3$I::text, %4$s, %5$s, %6$s,
                                                      $1, $2, $3, $4, $5, $6, $7, $8) AS t
                  FROM %7$s
                 WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %2$I <= $9) a,
               LATERAL @extschema@.user_feature_rows(a.t, %8$s) r $q$,
            user_column, time_column, event_column,
            CASE WHEN integer_items THEN pg_catalog.format('%I::bigint', item_column) ELSE 'NULL::bigint' END,
            CASE WHEN item_column IS NULL OR integer_items THEN 'NULL::text' ELSE pg_catalog.format('%I::text', item_column) END,
            CASE WHEN amount_column IS NULL THEN 'NULL::numeric' ELSE pg_catalog.format('%I::numeric', amount_column) END,
            events,
            CASE WHEN item_column IS NULL THEN 'false' ELSE 'true' END)
        USING cutoff, horizon, session_gap, view_event, click_event, cart_event, purchase_event, churn_on,
              cutoff + horizon + interval '1 day';
    END;
END
$$;
