-- pgTAP: the customer-base candidates of the nightly loop (src/customer_base/
-- candidates.sql): identification checks, the NBD limit, lifetime value, and
-- their errors, also as a role with only USAGE on schema retention.
--
-- Independent values:
--   [NBD]   the gamma-Poisson (NBD) posterior mean: after x purchases in T
--           weeks, rate (r + x) / (alpha + T); r = 0.5, alpha = 10, x = 2,
--           T = 20 expects 13 * 2.5 / 30 = 1.0833333 purchases in 13 weeks.
--           BG/NBD tends to it as its dropout a/(a+b) -> 0 (Fader, Hardie &
--           Lee 2005, eq. 10 with p -> 0), so BG/NBD with a = 1e-9 gives it
--           to 1e-8.
--   [CLV]   by hand: Gamma-Gamma p = 2, q = 3, v = 100 expects p v/(q - 1) =
--           100 per purchase for a customer without repeat purchases; NBD
--           r = 1, alpha = 9 and x = 0, T = 1 buys 0.1 a week; two periods of
--           one week discounted by 10% each: 100 * 0.1 * (1/1.1 + 1/1.21) =
--           17.3553719008.
--   [FHL05] BG/NBD on CDNOW, r = 0.243, alpha = 4.414, a = 0.793, b = 2.426
--           with standard errors well below the estimates: identified.
--   [OR]    the BG/NBD fit the 0.1.0 loop published on Online Retail as of
--           2011-12-10 (issue 12): a = 0.0036 +- 0.0109, b = 7.16 +- 23.9.
BEGIN;
SELECT plan(28);
SET LOCAL client_min_messages = error;

SELECT ok(abs(retention.customer_base_expected_purchases('{"kind": "nbd", "r": 0.5, "alpha": 10}', 13, 2, 15, 20)
              - 13 * 2.5 / 30) < 1e-12, 'NBD expected purchases: the posterior mean rate times the horizon [NBD]');
SELECT ok(abs(retention.customer_base_expected_purchases('{"kind": "bgnbd", "r": 0.5, "alpha": 10, "a": 1e-9, "b": 1}', 13, 2, 15, 20)
              - 13 * 2.5 / 30) < 1e-8, 'BG/NBD with a vanishing dropout gives the NBD expectation [NBD]');
SELECT ok(abs(retention.customer_base_expected_purchases(m::jsonb, 39, 2, 30.43, 38.86) - 1.226) < 0.001,
          'BG/NBD through the jsonb dispatch: CDNOW customer 1 expects 1.226 purchases in 39 weeks [FHL05]')
  FROM (SELECT '{"kind": "bgnbd", "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model AS m) s;
SELECT is(retention.customer_base_p_alive('{"kind": "nbd", "r": 0.5, "alpha": 10}', 2, 15, 20), NULL,
          'an NBD model gives no P(alive)');
SELECT ok(retention.customer_base_p_alive('{"kind": "bgnbd", "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}', 0, 0, 30) = 1,
          'BG/NBD: a customer without repeat purchases has P(alive) 1 (the flaw the loop''s backtest catches)');
SELECT ok(abs(retention.customer_base_clv('{"kind": "nbd", "r": 1, "alpha": 9}', '{"kind": "gamma_gamma", "p": 2, "q": 3, "v": 100}',
                                          0, 0, 1, 0, 2, 1, 0.1) - 17.3553719008) < 1e-9, 'NBD lifetime value by hand [CLV]');
SELECT ok(abs(retention.customer_base_clv(b::jsonb, g, 2, 30.43, 38.86, 35, 13, 4, 0.01)
              - retention.customer_lifetime_value(b, g, 2, 30.43, 38.86, 35, 13, 4, 0.01)) < 1e-12,
          'BG/NBD lifetime value equals customer_lifetime_value')
  FROM (SELECT '{"kind": "bgnbd", "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model AS b,
               '{"kind": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.44}'::retention.gamma_gamma_model AS g) s;
-- Pareto/NBD: the discounted sum of the expected purchases of each period,
-- written out here from pareto_nbd_expected_purchases
SELECT ok(abs(retention.customer_base_clv(p::jsonb, g, 2, 30.43, 38.86, 35, 3, 4, 0.01)
              - retention.gamma_gamma_expected_spend(g, 2, 35)
                * ((retention.pareto_nbd_expected_purchases(p, 4, 2, 30.43, 38.86)) / 1.01
                   + (retention.pareto_nbd_expected_purchases(p, 8, 2, 30.43, 38.86)
                      - retention.pareto_nbd_expected_purchases(p, 4, 2, 30.43, 38.86)) / 1.01 ^ 2
                   + (retention.pareto_nbd_expected_purchases(p, 12, 2, 30.43, 38.86)
                      - retention.pareto_nbd_expected_purchases(p, 8, 2, 30.43, 38.86)) / 1.01 ^ 3)) < 1e-9,
          'Pareto/NBD lifetime value: discounted expected purchases per period')
  FROM (SELECT '{"kind": "pareto_nbd", "r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}'::retention.pareto_nbd_model AS p,
               '{"kind": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.44}'::retention.gamma_gamma_model AS g) s;

-- the loop's assessment of a candidate (refresh_candidate, over refresh()'s
-- working tables): an identified fit whose expected purchases cannot be
-- computed for a customer is recorded as failed, not an error of the step;
-- an unidentified fit's expected purchases are not computed at all (drifting
-- to a degenerate optimum they can take a million series terms a customer)
CREATE TEMP TABLE retention_rfm_cutoff AS
SELECT i AS user_id, (i % 5)::float8 AS frequency, (i % 5) * 3.0 AS recency, 20.0 AS t
  FROM generate_series(1, 40) AS i;
CREATE TEMP TABLE retention_backtest AS SELECT i AS user_id, i % 5 < 2 AS churned FROM generate_series(1, 40) AS i;
CREATE TEMP TABLE assessed AS
SELECT retention.refresh_candidate('bgnbd', f, f, 1e300) AS identified,
       retention.refresh_candidate('bgnbd', f || '{"converged": false}', f, 1e300) AS unidentified
  FROM (SELECT '{"kind": "bgnbd", "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
                 "std_err": {"r": 0.013, "alpha": 0.38, "a": 0.19, "b": 0.7}, "converged": true}'::jsonb AS f) AS s;
SELECT is(identified ->> 'failure', 'horizon 1e+300 is too long for this model and customer',
          'an identified fit that cannot score a customer over the horizon fails, with the error') FROM assessed;
SELECT ok(identified ->> 'p_alive_auc' IS NULL AND identified ->> 'expected_purchases_auc' IS NULL,
          'a failed candidate has no backtest AUC, so refresh() cannot choose it') FROM assessed;
SELECT is(retention.refresh_withheld(jsonb_build_array(identified), 'expected_purchases_auc', 0.6) ->> 'reason',
          'bgnbd: cannot score every customer of the backtest cutoff: horizon 1e+300 is too long for this model and customer',
          'the withheld score names the failure') FROM assessed;
SELECT ok(unidentified ->> 'failure' IS NULL AND unidentified ->> 'expected_purchases_auc' IS NULL
          AND (unidentified ->> 'p_alive_auc')::float8 BETWEEN 0 AND 1 AND unidentified ->> 'problem' LIKE 'as of as_of: not converged%',
          'an unidentified fit: P(alive) ranked for the record, expected purchases not computed') FROM assessed;

-- identification
SELECT is(retention.customer_base_fit_problem('{"kind": "bgnbd", "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
                                                "std_err": {"r": 0.013, "alpha": 0.38, "a": 0.19, "b": 0.7}, "converged": true}'),
          NULL, 'an identified BG/NBD fit has no problem [FHL05]');
SELECT is(retention.customer_base_fit_problem('{"kind": "bgnbd", "r": 0.82, "alpha": 9.9, "a": 0.0036, "b": 7.16,
                                                "std_err": {"r": 0.027, "alpha": 0.38, "a": 0.0109, "b": 23.9}, "converged": true}'),
          'standard error above the estimate: a 0.0036 ± 0.0109, b 7.1600 ± 23.9000, mean dropout a/(a+b) = 5.0e-04, near 0',
          'the BG/NBD fit 0.1.0 published on Online Retail is not identified [OR]');
SELECT is(retention.customer_base_fit_problem('{"kind": "pareto_nbd", "r": 0.7, "alpha": 9, "s": 3e-11, "beta": 7000,
                                                "std_err": {"r": null, "alpha": null, "s": null, "beta": null}, "converged": false}'),
          'not converged, no standard error for alpha, beta, r, s, mean dropout rate s/beta = 4.3e-15 per period, near 0',
          'a Pareto/NBD fit at the boundary: every reason');
SELECT is(retention.customer_base_fit_problem('{"kind": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.44,
                                                "std_err": {"p": 1.2, "q": 0.3, "v": 2.1}, "converged": true}'),
          NULL, 'an identified Gamma-Gamma fit has no problem');
SELECT is(retention.customer_base_fit_problem('{"kind": "nbd", "r": 0.7, "alpha": 9}'), NULL, 'a positive NBD is usable');
SELECT is(retention.customer_base_fit_problem('{"kind": "nbd", "r": 0}'), 'r and alpha are not positive and finite',
          'an NBD without alpha is not');
SELECT is(retention.customer_base_fit_problem('{}'), 'not converged', 'an empty fit is not usable');

-- errors
SELECT throws_ok($$SELECT retention.customer_base_expected_purchases('{"kind": "nbd", "r": 1}', 13, 2, 15, 20)$$, '22023',
                 'nbd model parameters r = 1 and alpha = missing must be positive and finite', 'an NBD without alpha');
SELECT throws_ok($$SELECT retention.customer_base_expected_purchases('{"kind": "nbd", "r": 1, "alpha": 2}', 13, -2, 15, 20)$$, '22023',
                 NULL, 'a negative frequency');
SELECT throws_ok($$SELECT retention.customer_base_expected_purchases('{"kind": "weibull"}', 13, 2, 15, 20)$$, '22023',
                 'unknown customer-base model kind "weibull"', 'an unknown kind');
SELECT throws_ok($$SELECT retention.customer_base_clv('{"kind": "nbd", "r": 1, "alpha": 9}', '{"kind": "gamma_gamma", "p": 2, "q": 3, "v": 100}', 0, 0, 1, 0, 0, 1, 0.1)$$,
                 '22023', 'periods must be between 1 and 100000, not 0', 'zero periods');
SELECT throws_ok($$SELECT retention.customer_base_expected_purchases('{"kind": "bgnbd", "r": 1}', 13, 2, 15, 20)$$, '22P02',
                 NULL, 'an incomplete BG/NBD is rejected by the type''s input');

-- a role with only USAGE on the schema, hostile but well-formed input
CREATE ROLE retention_candidates_user NOLOGIN;
GRANT USAGE ON SCHEMA retention TO retention_candidates_user;
SET LOCAL ROLE retention_candidates_user;
SELECT throws_ok($$SELECT retention.customer_base_fit_problem('{"kind": "bgnbd", "a": "1e400"}')$$, '22003', NULL,
                 'USAGE only: an out-of-range parameter is an error, not a crash');
SELECT throws_ok($$SELECT retention.customer_base_expected_purchases('{"kind": "nbd", "r": 1e300, "alpha": 1e-300}', 1e300, 1e300, 0, 0)$$,
                 '22003', NULL, 'USAGE only: an NBD expectation beyond float8 is an overflow error, not a crash');
SELECT is(retention.model_trusted('no such model', 'no such role'), false, 'USAGE only: unknown names are not trusted');
SELECT is(retention.role_is_member('no such role', 'retention_candidates_user'), false,
          'USAGE only: a role that does not exist is nobody''s member');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
