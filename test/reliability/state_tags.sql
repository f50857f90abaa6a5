-- pgTAP: the float8[] states carry a tag (layout and version, as the
-- bigint[] ones): a state of another layout, of a future version or
-- untagged is a 22023 error naming the aggregate, never misread; the
-- aggregates' untagged INITCONDs (which ALTER AGGREGATE cannot change) still
-- read as empty states.  And the scored-labels final functions called by
-- name on a state of their layout that lacks their field (the fuzzer's 21
-- internal errors) raise 22023.
BEGIN;
SELECT plan(20);

CREATE ROLE state_tags_role;
GRANT USAGE ON SCHEMA retention TO state_tags_role;
CREATE SCHEMA state_tags AUTHORIZATION state_tags_role;
SET ROLE state_tags_role;

-- raw states, from twins of the aggregates without a final function
CREATE AGGREGATE state_tags.raw_scored(float8, boolean) (
    SFUNC = retention.scored_labels_accum, STYPE = retention.agg_state);
CREATE AGGREGATE state_tags.raw_log_loss(float8, boolean) (
    SFUNC = retention.log_loss_accum, STYPE = float8[], INITCOND = '{0,0,0,0,0}');
CREATE AGGREGATE state_tags.raw_report(float8, boolean, float8) (
    SFUNC = retention.classification_accum, STYPE = float8[], INITCOND = '{0,0,0,0}');
CREATE TEMP TABLE rows AS
SELECT i / 10.0 AS p, i % 3 = 0 AS y FROM generate_series(1, 9) i;
CREATE TEMP TABLE raw AS
SELECT (SELECT state_tags.raw_scored(p, y) FROM rows) AS scored,
       (SELECT state_tags.raw_log_loss(p, y) FROM rows) AS ll,
       (SELECT state_tags.raw_report(p, y, 0.5) FROM rows) AS report;

-- threshold_for_recall_final on a roc_auc state (same layout, no target)
SELECT throws_ok($$SELECT retention.threshold_for_recall_final(scored) FROM raw$$, '22023',
                 'aggregate state holds no target recall', 'threshold_for_recall_final on a roc_auc state');
SELECT ok(retention.roc_auc_final(scored) BETWEEN 0 AND 1, 'roc_auc_final reads its own state') FROM raw;

-- log_loss: {tag, n, four limbs}
SELECT is(ll[1], 90516435828737::float8, 'log_loss state: tag, layout 1, version 1') FROM raw;
SELECT is(retention.log_loss_final(ll), (SELECT retention.log_loss(p, y) FROM rows), 'log_loss_final of a raw state') FROM raw;
SELECT is(retention.log_loss_final('{0,0,0,0,0}'), NULL, 'log_loss: the untagged INITCOND is the empty state');
SELECT is(retention.log_loss_final(retention.log_loss_combine('{0,0,0,0,0}', ll)), retention.log_loss_final(ll),
          'log_loss: INITCOND combined with a state') FROM raw;
SELECT throws_ok($$SELECT retention.log_loss_final('{9,1,0,0,0}')$$, '22023',
                 'invalid log_loss state: the first element is not the tag of this state''s layout and version',
                 'log_loss: an untagged state other than the INITCOND');
SELECT throws_ok($$SELECT retention.log_loss_final(ll[1:1] || 9007199254740994::float8 || ll[3:]) FROM raw$$, '22023', NULL,
                 'log_loss: a count above 2^53');
SELECT throws_ok($$SELECT retention.log_loss_final((ll[1] + 1) || ll[2:]) FROM raw$$, '22023', NULL,
                 'log_loss: version 2');
SELECT throws_ok($$SELECT retention.log_loss_final(report) FROM raw$$, '22023', NULL,
                 'log_loss: a classification_report state');

-- classification_report: {tag, tp, fp, tn, fn}
SELECT is(report, ARRAY[90516435894273, 2, 3, 3, 1]::float8[],
          'classification_report state: tag, then tp fp tn fn (p = i/10 >= 0.5 for i = 5..9, positive for 3, 6, 9)') FROM raw;
SELECT is(retention.classification_final(retention.float8_state_add(report, '{0,0,0,0}')),
          retention.classification_final(report), 'classification_report: a state plus the INITCOND') FROM raw;
SELECT is(retention.classification_final('{0,0,0,0}'), NULL, 'classification_report: the INITCOND is empty');
SELECT throws_ok($$SELECT retention.classification_final('{1,2,3,4}')$$, '22023', NULL,
                 'classification_report: an untagged state');
SELECT throws_ok($$SELECT retention.classification_final(ARRAY[90516435894273, 1, -4, 4, 0]::float8[])$$, '22023',
                 'invalid classification_report state: element 3 is -4; the state holds the counts of rows tp, fp, tn and fn',
                 'classification_report: a negative count');
SELECT is(retention.float8_state_add('{1,2}', '{3,4}'), '{4,6}'::float8[], 'float8_state_add: other arrays add element-wise');

-- embedding_mean and logreg_step states exist only inside their aggregates'
-- calls, or come back from them tagged
SELECT is((SELECT retention.logreg_step(y, ARRAY[p], '{0,0}', NULL) FROM rows)[1], 90516436025345::float8,
          'logreg_step state: tag, layout 4, version 1');

-- the 0.1.0 model types got a binary form, with magic "RTBY" and version 1
SELECT is(substr(retention.bgnbd_model_send('{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}'), 1, 12),
          '\x525442590000000100000001'::bytea, 'bgnbd_model_send: magic, version 1, kind 1');
SELECT is(substr(retention.gamma_gamma_model_send('{"p": 6.25, "q": 3.74, "v": 15.44}'), 1, 12),
          '\x525442590000000100000002'::bytea, 'gamma_gamma_model_send: magic, version 1, kind 2');
SELECT is(substr(retention.pareto_nbd_model_send('{"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}'), 1, 12),
          '\x525442590000000100000003'::bytea, 'pareto_nbd_model_send: magic, version 1, kind 3');

SELECT * FROM finish();
ROLLBACK;
