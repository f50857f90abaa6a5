--------------------------------------------------------------------------
-- The nightly loop: pipelines, run history and scores
--
-- A pipeline names an events table and how to read it; retention.refresh()
-- rebuilds everything of a pipeline from it and records each step in
-- retention.refresh_runs.  Scores and holdout predictions carry no raw
-- events, only per-user results (privacy: pseudonymise user ids upstream).
--------------------------------------------------------------------------

CREATE TABLE @extschema@.pipelines (
    name              text        PRIMARY KEY,
    events            regclass    NOT NULL,
    user_column       name        NOT NULL DEFAULT 'user_id',
    time_column       name        NOT NULL DEFAULT 'ts',
    event_column      name        NOT NULL DEFAULT 'event_type',
    item_column       name        NOT NULL DEFAULT 'item_id',
    amount_column     name        NOT NULL DEFAULT 'amount',
    purchase_event    text        NOT NULL DEFAULT 'purchase',
    churn_on          text        NOT NULL DEFAULT 'purchase'
                                  CHECK (churn_on IN ('activity', 'purchase')),
    churn_horizon     interval    NOT NULL DEFAULT '90 days'
                                  CHECK (churn_horizon > interval '0'),
    churn_options     jsonb       NOT NULL DEFAULT '{"lambda": 1}',
    cohort_period     text        NOT NULL DEFAULT 'month'
                                  CHECK (cohort_period IN ('day', 'week', 'month')),
    neighbors         integer     NOT NULL DEFAULT 20 CHECK (neighbors > 0),
    clv_months        integer     NOT NULL DEFAULT 12 CHECK (clv_months > 0),
    monthly_discount  float8      NOT NULL DEFAULT 0.01
                                  CHECK (monthly_discount >= 0 AND monthly_discount < 1),
    as_of             timestamptz,
    order_column      name,
    min_backtest_auc  float8      NOT NULL DEFAULT 0.6
                                  CHECK (min_backtest_auc >= 0.5 AND min_backtest_auc <= 1),
    churn_candidates  text[]      NOT NULL DEFAULT '{logreg,elastic_net,gbdt}'
                                  CHECK (cardinality(churn_candidates) > 0
                                         AND churn_candidates <@ '{logreg,elastic_net,gbdt}')
);

COMMENT ON TABLE @extschema@.pipelines IS
'what retention.refresh(name) rebuilds: the events table, its column names (order_column: the order or invoice id, so purchases count orders), the churn definition, model options, the churn model candidates compared on the holdout (logreg, elastic_net, gbdt) and the backtest AUC a score needs to be published; as_of NULL means now()';

CREATE TABLE @extschema@.refresh_runs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint      NOT NULL,
    pipeline    text        NOT NULL,
    step        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('running', 'ok', 'kept previous', 'failed', 'skipped', 'cancelled')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    rows        bigint,
    metrics     jsonb,
    message     text
);

CREATE SEQUENCE @extschema@.refresh_run_ids;

COMMENT ON TABLE @extschema@.refresh_runs IS
'one row per step of every retention.refresh() run: when, how many rows, the metrics, and the error of a failed step';

CREATE TABLE @extschema@.customer_scores (
    pipeline            text        NOT NULL,
    user_id             bigint      NOT NULL,
    churn_prob          float8,
    p_alive             float8,
    expected_purchases  float8,
    predicted_clv       float8,
    value_at_risk       float8,
    top_features        jsonb,
    recommended_items   bigint[],
    churn_model_version integer,
    item_knn_version    integer,
    bgnbd_version       integer,
    scored_at           timestamptz NOT NULL,
    customer_base_model text,
    PRIMARY KEY (pipeline, user_id)
);

COMMENT ON TABLE @extschema@.customer_scores IS
'the latest scores of every user of a pipeline: churn probability, P(alive), expected purchases over the churn horizon, lifetime value, value at risk, top churn drivers and recommended items; NULL where a step failed or the score did not earn its place on the backtest (retention.refresh_runs says why)';

CREATE TABLE @extschema@.churn_holdout (
    pipeline      text    NOT NULL,
    model_version integer NOT NULL,
    churn_prob    float8  NOT NULL,
    churned       boolean NOT NULL
);

COMMENT ON TABLE @extschema@.churn_holdout IS
'holdout predictions of each churn model version (probability and outcome, no user ids), for ROC and calibration charts';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_scores', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.churn_holdout', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_run_ids', '');
-- the identity behind refresh_runs.id too, or a restored database would
-- number its next steps from 1 again
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs_id_seq', '');
