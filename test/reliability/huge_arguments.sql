-- pgTAP: huge, NaN and infinite horizons, counts and rates given to the
-- customer-base scoring functions return promptly, with a finite value or a
-- class-22 error naming the argument, never after minutes of series terms.
-- Each call runs under a 1 s statement_timeout, so a loop whose length an
-- argument controls fails the test (57014) instead of hanging the suite.
BEGIN;
SELECT plan(28);

CREATE TEMP TABLE mm AS SELECT
 '{"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}'::retention.bgnbd_model AS bg,
 '{"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}'::retention.pareto_nbd_model AS pn,
 '{"p": 6.25, "q": 3.74, "v": 15.44}'::retention.gamma_gamma_model AS gg,
 '{"r": 0.525, "alpha": 6.18, "a": 0.891, "b": 1.61}'::retention.mbgnbd_model AS mb,
 '{"alpha": 1.204, "beta": 0.75, "gamma": 0.657, "delta": 2.783}'::retention.bgbb_model AS bb,
 '{"alpha": 0.704, "beta": 1.182}'::retention.sbg_model AS sb;
SET LOCAL statement_timeout = '1s';

-- BG/NBD and MBG/NBD: a new customer's series at z = 1 (1e308 / (alpha +
-- 1e308) rounds to 1) has terms ~ k^(a-r-1), which never become negligible;
-- it took 10^8 terms (2 s) before failing
SELECT throws_ok($$SELECT retention.bgnbd_expected_purchases(bg, 1e308) FROM mm$$, '22003',
                 'horizon 1e+308 is too long for this model and customer', 'bgnbd: horizon 1e308, new customer');
SELECT throws_ok($$SELECT retention.bgnbd_expected_purchases(bg, 1e7) FROM mm$$, '22003',
                 'horizon 1e+07 is too long for this model and customer', 'bgnbd: horizon 1e7 = 2.3e6 alpha');
SELECT throws_ok($$SELECT retention.mbgnbd_expected_purchases(mb, 1e308) FROM mm$$, '22003',
                 'horizon 1e+308 is too long for this model and customer', 'mbgnbd: horizon 1e308, new customer');
SELECT throws_ok($$SELECT retention.bgnbd_expected_purchases(bg, 'Infinity') FROM mm$$, '22023', NULL,
                 'bgnbd: infinite horizon');
SELECT throws_ok($$SELECT retention.bgnbd_expected_purchases(bg, 'NaN', 2, 30, 38) FROM mm$$, '22023', NULL,
                 'bgnbd: NaN horizon');
-- with x = 2 the terms fall like k^-2.45 and the series converges at z = 1:
-- with a < 1, E grows like horizon^(1 - a) (1e308^0.207 = 10^63.8)
SELECT ok(retention.bgnbd_expected_purchases(bg, 1e308, 2, 30, 38) BETWEEN 1e63 AND 1e65,
          'bgnbd: horizon 1e308 for x = 2 grows like horizon^(1-a)') FROM mm;
SELECT ok(retention.bgnbd_expected_purchases(bg, 1e5) > 0, 'bgnbd: a long horizon within the limit') FROM mm;
-- 1e300 is an integer in double precision: such a buyer bought all there
-- was to buy by t_x = 30 < T = 38, so is surely gone
SELECT is(retention.bgnbd_expected_purchases(bg, 10, 1e300, 30, 38), 0::float8,
          'bgnbd: frequency 1e300') FROM mm;
SELECT is(retention.bgnbd_p_alive(bg, 2, 30, 1e308), 0::float8, 'bgnbd: P(alive) at t 1e308 is 0') FROM mm;

-- Pareto/NBD: quadrature, bounded panels; with s < 1 E grows like horizon^(1 - s)
SELECT ok(retention.pareto_nbd_expected_purchases(pn, 1e308) BETWEEN 1e120 AND 1e122,
          'pareto_nbd: horizon 1e308 grows like horizon^(1-s)') FROM mm;
SELECT is(retention.pareto_nbd_p_alive(pn, 2, 30, 1e308), 0::float8, 'pareto_nbd: P(alive) at t 1e308 is 0') FROM mm;
SELECT throws_ok($$SELECT retention.pareto_nbd_expected_purchases(pn, '-Infinity') FROM mm$$, '22023', NULL,
                 'pareto_nbd: horizon -Infinity');

-- Gamma-Gamma: a weighted mean of p v / (q - 1) and m, so a huge m gives a
-- huge but finite mean (it overflowed in x * m): (p v + p x m) / (p x + q - 1)
SELECT ok(abs(retention.gamma_gamma_expected_spend(gg, 2, 1e308)
              / ((6.25 * 2 / (6.25 * 2 + 3.74 - 1)) * 1e308::float8) - 1) < 1e-12,
          'gamma_gamma: monetary 1e308') FROM mm;
SELECT throws_ok($$SELECT retention.gamma_gamma_expected_spend(gg, 2, 'NaN') FROM mm$$, '22023', NULL,
                 'gamma_gamma: NaN monetary');

-- BG/BB: counts bounded at 10^6 opportunities
SELECT throws_ok($$SELECT retention.bgbb_p_alive(bb, 3, 5, 2147483647) FROM mm$$, '22023',
                 'opportunities must be between 0 and 1000000, not 2147483647', 'bgbb: opportunities 2^31-1');
SELECT throws_ok($$SELECT retention.bgbb_expected_transactions(bb, 2147483647, 3, 5, 6) FROM mm$$, '22023', NULL,
                 'bgbb: horizon 2^31-1');
-- 10^6 terms of digammas: bounded, though not within 1 s on a busy machine
SET LOCAL statement_timeout = '60s';
SELECT lives_ok($$SELECT retention.bgbb_expected_transactions(bb, 1000000, 3, 5, 1000000) FROM mm$$,
                'bgbb: the largest counts allowed');
SET LOCAL statement_timeout = '1s';

-- sBG: DERL's terms fall like k^-alpha / (1+d)^k; it took 10^8 terms before failing
SELECT throws_ok($$SELECT retention.sbg_residual_lifetime(sb, 1e-300) FROM mm$$, '22003',
                 'discount rate 1e-300 is too small for this model', 'sbg: discount rate 1e-300');
SELECT throws_ok($$SELECT retention.sbg_residual_lifetime(sb, 'Infinity') FROM mm$$, '22023', NULL,
                 'sbg: infinite discount rate');
SELECT ok(retention.sbg_residual_lifetime(sb, 0.1, 2147483647) BETWEEN 10.99 AND 11.0,
          'sbg: 2^31-1 renewals: DERL tends to (1 + d) / d') FROM mm;
SELECT ok(retention.sbg_survival(sb, 2147483647) BETWEEN 0 AND 1e-6, 'sbg: survival at period 2^31-1') FROM mm;
SELECT throws_ok($$SELECT count(*) FROM retention.sbg_projection((SELECT sb FROM mm), 2147483647)$$, '22023',
                 'periods must be between 0 and 100000, not 2147483647', 'sbg_projection: 2^31-1 periods (2 billion rows)');
SELECT is((SELECT count(*) FROM retention.sbg_projection((SELECT sb FROM mm), 100000)), 100001::bigint,
          'sbg_projection: 100000 periods');

-- CLV: 10^5 periods, each a series whose length grows with its horizon
SELECT throws_ok($$SELECT retention.customer_lifetime_value(bg, gg, 0, 0, 0, 30, 100000, 2.4, 0.01) FROM mm$$,
                 '22023', '100000 periods of length 2.4 are too many for this model and customer',
                 'clv: 10^5 periods whose series would take half an hour');
SELECT throws_ok($$SELECT retention.customer_lifetime_value(bg, gg, 0, 0, 0, 30, 12, 1e308, 0.01) FROM mm$$,
                 '22023', NULL, 'clv: period 1e308');
SELECT ok(retention.customer_lifetime_value(bg, gg, 2, 30, 38, 30, 12, 1, 1e308) >= 0,
          'clv: discount rate 1e308') FROM mm;
-- the jsonb form loops in PL/pgSQL: the same bound for MBG/NBD (it ran for
-- half an hour); Pareto/NBD's quadrature is fast at any horizon
SELECT throws_ok($$SELECT retention.customer_base_clv(mb::text::jsonb, gg, 0, 0, 0, 30, 100000, 2.4, 0.01) FROM mm$$,
                 '22023', '100000 periods of length 2.4 are too many for this model and customer',
                 'customer_base_clv: MBG/NBD, 10^5 periods');
SET LOCAL statement_timeout = '60s';
SELECT ok(retention.customer_base_clv(pn::text::jsonb, gg, 0, 0, 0, 30, 100000, 2.4, 0.01) > 0,
          'customer_base_clv: Pareto/NBD, 10^5 periods') FROM mm;
SET LOCAL statement_timeout = '1s';

SELECT * FROM finish();
ROLLBACK;
