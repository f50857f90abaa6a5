-- pgTAP: models and metrics at the edges of the double range answer right
-- or raise an error; never a silently wrong number (the adversarial review
-- of 2026-12-03 found each of these answering wrong).
BEGIN;
SELECT plan(9);

-- counts whose sums pass 64 bits: ranked as 2^63 - 1 each, roc_auc came out -3.25e-19
SELECT throws_ok($$SELECT retention.roc_auc(s, p, n)
                     FROM (VALUES (0.9::float8, 9223372036854775807::bigint, 0::bigint),
                                  (0.1, 0, 9223372036854775807)) v(s, p, n)$$,
                 '22003', 'cannot rank more than 2^61 positives and negatives in all',
                 'roc_auc refuses counts whose sums could overflow');
SELECT is((SELECT retention.roc_auc(s, p, n)
             FROM (VALUES (0.9::float8, 2305843009213693951::bigint, 0::bigint), (0.1, 0, 1)) v(s, p, n)),
          1::float8, 'roc_auc of 2^61 rows in all is still exact');
-- r_t = (beta + t - 1) / (alpha + beta + t - 1): a tiny beta was absorbed by t - 1
SELECT is(ARRAY[retention.sbg_retention_rate('{"alpha": 1e-20, "beta": 1e-20}', 1),
                retention.sbg_retention_rate('{"alpha": 1, "beta": 1e-20}', 1)],
          ARRAY[0.5, 1e-20 / (1 + 1e-20)]::float8[], 'sBG retention rate with beta = 1e-20');
-- S(1) = beta / (alpha + beta) = 1 - 1e-16: the difference of two log-Betas near 1.7e9 gave 1.00000024
SELECT is(retention.sbg_survival('{"alpha": 1e-8, "beta": 1e8}', 1), 1e8::float8 / (1e8::float8 + 1e-8::float8),
          'sBG survival with beta = 1e8 is beta / (alpha + beta)');
SELECT cmp_ok(retention.bgbb_p_alive('{"alpha": 1, "beta": 1e-8, "gamma": 1e-8, "delta": 1}', 1, 1, 1),
              '<=', 1::float8, 'BG/BB P(alive) is never above 1');
-- BG/NBD's expectation is b times a cancelling difference: 111 for 0.5 at b = 1e18
SELECT throws_ok($$SELECT retention.bgnbd_expected_purchases('{"r": 1, "alpha": 2, "a": 1, "b": 1e18}', 1)$$,
                 '22003', 'expected purchases cannot be computed accurately for b = 1e+18',
                 'BG/NBD expected purchases refuse b past 1e10');
-- finite coefficients and features whose products are +Infinity and -Infinity
SELECT throws_ok($$SELECT retention.churn_prob('{"intercept": 0, "coef": [1e308, -1e308], "fit_intercept": true}'::retention.logreg_model,
                                              '{1e308,1e308}')$$,
                 '22003', 'the log-odds of these features are out of range', 'churn_prob of inf - inf is an error, not NaN');
-- a likelihood not finite at the start: the starting point came back as the model
SELECT throws_ok($$SELECT retention.gamma_gamma_fit(f, m)
                     FROM (VALUES (4::float8, 1e308::float8), (1, 5), (2, 5), (3, 7)) v(f, m)$$,
                 '22003', 'gamma_gamma_fit cannot evaluate the likelihood of these data',
                 'gamma_gamma_fit refuses data whose likelihood overflows');
SET LOCAL client_min_messages = error;
SELECT ok((SELECT (retention.gamma_gamma_fit(f, m)::jsonb ->> 'p') IS NOT NULL
             FROM (VALUES (4::float8, 20::float8), (1, 5), (2, 5), (3, 7)) v(f, m)),
          'gamma_gamma_fit of ordinary data still fits');

SELECT * FROM finish();
ROLLBACK;
