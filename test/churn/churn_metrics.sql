-- pgTAP: roc_auc, log_loss, classification_report, threshold_max_f1 and
-- threshold_for_recall against hand calculations and scikit-learn 1.2.1
-- (values from /work/refs/issue3/REFERENCES.md, computed on the R glm
-- fitted probabilities of UCLA and on the exact Telco fits).
BEGIN;
SELECT plan(43);
SET client_min_messages = error;

CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;

-- hand calculations
-- scikit-learn's doc example: scores (0.1, 0.4, 0.35, 0.8), labels (0, 0, 1, 1): 3 of 4 pairs ordered
SELECT is(retention.roc_auc(s, l), 0.75::float8, 'AUC of the scikit-learn example is 0.75')
  FROM (VALUES (0.1, false), (0.4, false), (0.35, true), (0.8, true)) v(s, l);
-- positives (0.9, 0.5), negatives (0.5, 0.1): pairs 1 + 1 + 1/2 (tie) + 1 = 3.5 of 4
SELECT is(retention.roc_auc(s, l), 0.875::float8, 'a tie counts one half: 3.5 / 4')
  FROM (VALUES (0.9, true), (0.5, true), (0.5, false), (0.1, false)) v(s, l);
SELECT is(retention.roc_auc(s, l), 0.5::float8, 'all scores tied: 0.5')
  FROM (VALUES (1, true), (1, false), (1, true), (1, false)) v(s, l);
SELECT is(retention.roc_auc(s, l), 0::float8, 'perfectly wrong ranking: 0')
  FROM (VALUES (0.9, false), (0.1, true)) v(s, l);
SELECT is(retention.roc_auc(s, l), 1::float8, 'NULLs are skipped; perfect ranking: 1')
  FROM (VALUES (0.9, true), (0.1, false), (NULL, true), (0.5, NULL)) v(s, l);
SELECT ok(retention.roc_auc(s, l) IS NULL, 'one class only: NULL')
  FROM (VALUES (0.9, true), (0.1, true)) v(s, l);
SELECT ok(retention.roc_auc(s, l) IS NULL, 'no rows: NULL')
  FROM (VALUES (0.9, true)) v(s, l) WHERE false;
SELECT is(retention.roc_auc(s, l), 0.875::float8, 'infinite scores rank like any other')
  FROM (VALUES ('Infinity'::float8, true), (0.5, true), (0.5, false), ('-Infinity', false)) v(s, l);

-- log loss: -(ln 0.9 + ln 0.8) / 2
SELECT cmp_ok(abs(retention.log_loss(p, l) + (ln(0.9::float8) + ln(0.8::float8)) / 2), '<', 1e-16::float8,
              'log loss of (0.9, true), (0.2, false)')
  FROM (VALUES (0.9, true), (0.2, false)) v(p, l);
-- probabilities are clipped to [1e-15, 1 - 1e-15] as in scikit-learn: -ln(1e-15)
SELECT cmp_ok(abs(retention.log_loss(p, l) + ln(1e-15::float8)), '<', 1e-12::float8,
              'p = 0 for a churner costs -ln(1e-15), not infinity')
  FROM (VALUES (0::float8, true)) v(p, l);
SELECT ok(retention.log_loss(p, l) IS NULL, 'log loss of no rows: NULL')
  FROM (VALUES (0.5::float8, true)) v(p, l) WHERE false;

-- classification report; predicted positive when score >= threshold
-- scores (0.9 T, 0.8 F, 0.7 T, 0.6 T, 0.2 F) at 0.7: tp 2, fp 1, tn 1, fn 1
SELECT is(retention.classification_report(s, l, 0.7),
          '{"tp": 2, "fp": 1, "tn": 1, "fn": 1, "accuracy": 0.6, "precision": 0.6666666666666666, "recall": 0.6666666666666666, "f1": 0.6666666666666666}'::jsonb,
          'report at 0.7, hand-counted')
  FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.6, true), (0.2, false)) v(s, l);
SELECT is(retention.classification_report(s, l, 0.95)->'precision', 'null'::jsonb,
          'no predicted positive: precision 0/0 is null')
  FROM (VALUES (0.9, true), (0.8, false)) v(s, l);
-- threshold for a recall target: 3 churners; 0.5 needs 2 -> 0.7; 1 needs 3 -> 0.6; 0.3 needs 1 -> 0.9
SELECT is(retention.threshold_for_recall(s, l, 0.5)->'threshold', '0.7', 'recall 0.5: threshold 0.7')
  FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.6, true), (0.2, false)) v(s, l);
SELECT is(retention.threshold_for_recall(s, l, 1)->'threshold', '0.6', 'recall 1: threshold 0.6')
  FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.6, true), (0.2, false)) v(s, l);
SELECT is(retention.threshold_for_recall(s, l, 0.3)->'threshold', '0.9', 'recall 0.3: threshold 0.9')
  FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.6, true), (0.2, false)) v(s, l);
-- max F1 of the same data: t 0.9: 2/(1+3)=0.5; 0.8: 2/(2+3)=0.4; 0.7: 4/(3+3)=0.667; 0.6: 6/(4+3)=0.857; 0.2: 6/(5+3)=0.75
SELECT is(retention.threshold_max_f1(s, l),
          '{"threshold": 0.6, "tp": 3, "fp": 1, "tn": 1, "fn": 0, "accuracy": 0.8, "precision": 0.75, "recall": 1, "f1": 0.8571428571428571}'::jsonb,
          'max F1: threshold 0.6, F1 6/7')
  FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.6, true), (0.2, false)) v(s, l);

-- UCLA: metrics of the glm fit (our fit equals R's to 1e-14, see churn_train)
\i data/ucla_admissions/load.sql
CREATE TABLE ucla_scored AS
SELECT retention.churn_prob(m.model, ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[]) AS p,
       admit = 1 AS y
  FROM ucla,
       (SELECT retention.logreg_train(admit = 1, ARRAY[gre, gpa, (rank = 2)::int, (rank = 3)::int, (rank = 4)::int]::float8[]) AS model
          FROM ucla) m;
SELECT cmp_ok(abs((SELECT retention.roc_auc(p, y) FROM ucla_scored) - 0.692841279455), '<', 1e-12::float8,
              'UCLA AUC 0.692841279455 (scikit-learn roc_auc_score)');
SELECT cmp_ok(abs((SELECT retention.log_loss(p, y) FROM ucla_scored) - 0.573146865595), '<', 1e-12::float8,
              'UCLA log loss 0.573146865595 (scikit-learn log_loss)');
SELECT is((SELECT r - 'precision' - 'recall' - 'f1' FROM (SELECT retention.classification_report(p, y, 0.5) AS r FROM ucla_scored) s),
          '{"tp": 30, "fp": 19, "tn": 254, "fn": 97, "accuracy": 0.71}'::jsonb,
          'UCLA confusion counts and accuracy at 0.5');
SELECT cmp_ok((SELECT abs((r->>'precision')::float8 - 0.612244897959) + abs((r->>'recall')::float8 - 0.236220472441)
                      + abs((r->>'f1')::float8 - 0.340909090909)
                 FROM (SELECT retention.classification_report(p, y, 0.5) AS r FROM ucla_scored) s),
              '<', 1e-11::float8, 'UCLA precision, recall and F1 at 0.5');
SELECT cmp_ok((SELECT abs((r->>'threshold')::float8 - 0.353942189101272) FROM (SELECT retention.threshold_max_f1(p, y) AS r FROM ucla_scored) s),
              '<', 1e-13::float8, 'UCLA F1-maximising threshold 0.353942189101272');
SELECT is((SELECT r->'f1' FROM (SELECT retention.threshold_max_f1(p, y) AS r FROM ucla_scored) s),
          to_jsonb(73 / 135::float8), 'UCLA best F1 = 73/135');
SELECT is((SELECT (r->'tp')::int + (r->'fp')::int FROM (SELECT retention.threshold_max_f1(p, y) AS r FROM ucla_scored) s),
          143, 'UCLA best F1 flags 143 applicants');

-- Telco: holdout metrics of the train-split fit (REFERENCES.md, "Holdout")
\i data/telco_churn/load.sql
CREATE TABLE tf AS
SELECT rn, is_test, churn = 1 AS churn,
       ARRAY[gender_male, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines,
             internet_fiber, internet_none, online_security, online_backup, device_protection,
             tech_support, streaming_tv, streaming_movies, contract_one_year, contract_two_year,
             paperless_billing, pay_credit_card, pay_electronic_check, pay_mailed_check,
             monthly_charges, total_charges]::float8[] AS x
  FROM telco_features;
CREATE TABLE telco_scored AS
SELECT t.is_test, t.churn AS y, retention.churn_prob(m.model, t.x) AS p
  FROM tf t, (SELECT retention.logreg_train(churn, x) AS model FROM tf WHERE NOT is_test) m;
SELECT cmp_ok(abs((SELECT retention.roc_auc(p, y) FROM telco_scored WHERE is_test) - 0.862079525783), '<', 1e-12::float8,
              'Telco holdout AUC 0.862079525783 (one tied pair)');
SELECT cmp_ok(abs((SELECT retention.log_loss(p, y) FROM telco_scored WHERE is_test) - 0.398171984509), '<', 1e-12::float8,
              'Telco holdout log loss 0.398171984509');
SELECT cmp_ok(abs((SELECT retention.roc_auc(p, y) FROM telco_scored WHERE NOT is_test) - 0.8443917436), '<', 1e-10::float8,
              'Telco train AUC 0.8443917436');
SELECT cmp_ok(abs((SELECT retention.log_loss(p, y) FROM telco_scored WHERE NOT is_test) - 0.418756348808), '<', 1e-12::float8,
              'Telco train log loss 0.418756348808');

-- parallel plans give the same metrics
ALTER TABLE telco_scored SET (parallel_workers = 2);
CREATE TABLE serial AS
SELECT retention.roc_auc(p, y) AS auc, retention.log_loss(p, y) AS ll, retention.threshold_max_f1(p, y) AS f1,
       retention.classification_report(p, y, 0.5) AS report
  FROM telco_scored;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT matches(pg_temp.plan('SELECT retention.roc_auc(p, y), retention.log_loss(p, y), retention.threshold_max_f1(p, y), retention.classification_report(p, y, 0.5) FROM telco_scored'),
               'Gather.*Partial Aggregate', 'metrics get a parallel plan');
CREATE TABLE parallel AS
SELECT retention.roc_auc(p, y) AS auc, retention.log_loss(p, y) AS ll, retention.threshold_max_f1(p, y) AS f1,
       retention.classification_report(p, y, 0.5) AS report
  FROM telco_scored;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT ok((SELECT p.auc = s.auc AND p.f1 = s.f1 AND p.report = s.report AND abs(p.ll - s.ll) < 1e-12
             FROM parallel p, serial s),
          'AUC, best threshold and report identical, log loss to 1e-12, with and without workers');

-- the counts form: per-score counts of churners and non-churners, as a
-- distributed GROUP BY would produce them, give the same exact results
SELECT is(retention.roc_auc(s, pos, neg), 0.875::float8, 'counts form: hand example 3.5 / 4')
  FROM (VALUES (0.9, 1, 0), (0.5, 1, 1), (0.1, 0, 1), (0.3, 0, 0), (NULL, 1, 1)) v(s, pos, neg);
SELECT is((SELECT retention.roc_auc(p, pos, neg)
             FROM (SELECT p, count(*) FILTER (WHERE y) AS pos, count(*) FILTER (WHERE NOT y) AS neg
                     FROM telco_scored WHERE is_test GROUP BY p) g),
          (SELECT retention.roc_auc(p, y) FROM telco_scored WHERE is_test),
          'counts form: Telco holdout AUC identical to the row form');
SELECT is((SELECT retention.threshold_max_f1(p, pos, neg)
             FROM (SELECT p, count(*) FILTER (WHERE y) AS pos, count(*) FILTER (WHERE NOT y) AS neg
                     FROM ucla_scored GROUP BY p) g),
          (SELECT retention.threshold_max_f1(p, y) FROM ucla_scored),
          'counts form: UCLA best-F1 threshold identical to the row form');
SELECT is((SELECT retention.threshold_for_recall(p, pos, neg, 0.8)
             FROM (SELECT p, count(*) FILTER (WHERE y) AS pos, count(*) FILTER (WHERE NOT y) AS neg
                     FROM telco_scored GROUP BY p) g),
          (SELECT retention.threshold_for_recall(p, y, 0.8) FROM telco_scored),
          'counts form: Telco threshold for recall 0.8 identical to the row form');
SELECT throws_ok($$SELECT retention.roc_auc(0.5, -1, 2)$$,
                 '22023', 'counts of positives and negatives must not be negative', 'negative count');

-- errors and their SQLSTATEs
SELECT throws_ok($$SELECT retention.roc_auc(s, true) FROM (VALUES ('NaN'::float8)) v(s)$$,
                 '22023', 'score must not be NaN', 'NaN score');
SELECT throws_ok($$SELECT retention.log_loss(1.5, true)$$,
                 '22023', 'probability 1.5 is not between 0 and 1', 'probability above 1');
SELECT throws_ok($$SELECT retention.log_loss('NaN', true)$$,
                 '22023', 'probability NaN is not between 0 and 1', 'NaN probability');
SELECT throws_ok($$SELECT retention.threshold_for_recall(0.5, true, 1.5)$$,
                 '22023', 'target recall must be in (0, 1]', 'target recall above 1');
SELECT throws_ok($$SELECT retention.classification_report(0.5, true, 'NaN')$$,
                 '22023', 'score and threshold must not be NaN', 'NaN threshold');

SELECT throws_ok($$SELECT retention.roc_auc(s, pos, neg) FROM (VALUES (0.5, 9223372036854775807, 0), (0.4, 1, 1)) v(s, pos, neg)$$,
                 '22003', 'counts of positives and negatives overflow bigint', 'counts that overflow');
SELECT throws_ok($$SELECT retention.float8_state_add('{1,2}', '{1}')$$,
                 '2202E', 'cannot add aggregate states of different lengths', 'states of different lengths');

-- declarations
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
            WHERE p.pronamespace = 'retention'::regnamespace
              AND p.proname IN ('roc_auc', 'log_loss', 'classification_report', 'threshold_max_f1', 'threshold_for_recall')
              AND p.proparallel = 's' AND a.aggcombinefn <> 0
              AND (a.aggtranstype <> 'internal'::regtype OR (a.aggserialfn <> 0 AND a.aggdeserialfn <> 0))
              AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
          8, 'metric aggregates (rows and counts forms): PARALLEL SAFE, combinable, serialisable, documented');

SELECT * FROM finish();
ROLLBACK;
